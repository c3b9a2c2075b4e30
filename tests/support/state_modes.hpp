#pragma once
// The modes a state directory must have whatever the umask: the directory and each LMDB
// environment 0750, their data.mdb and lock.mdb 0640 (vs/common/files.hpp).
#include <filesystem>
#include <initializer_list>

#include <gtest/gtest.h>

namespace vs::test {

inline void expect_private_state(const std::filesystem::path& state, std::initializer_list<const char*> environments)
{
    const auto mode = [](const std::filesystem::path& f) {
        return static_cast<unsigned>(std::filesystem::status(f).permissions());
    };
    EXPECT_EQ(mode(state), 0750u);
    for (const char* env : environments) {
        EXPECT_EQ(mode(state / env), 0750u) << env;
        EXPECT_EQ(mode(state / env / "data.mdb"), 0640u) << env;
        EXPECT_EQ(mode(state / env / "lock.mdb"), 0640u) << env;
    }
}

}  // namespace vs::test
