#pragma once
// Per-test isolation: a unique shared-memory prefix and a private state directory, so every
// test can run in parallel with every other (and with a production install on the host).
// Segments under the prefix and the directory are removed when the object is destroyed.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

namespace vs::test {

class test_env {
public:
    test_env()
    {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = info != nullptr ? std::string{info->test_suite_name()} + "_" + info->name() : "vs";
        for (auto& c : name) {
            if (!std::isalnum(static_cast<unsigned char>(c))) {
                c = '_';
            }
        }
        static std::atomic<int> counter{0};
        prefix_ = "vstest_" + name.substr(0, 40) + "_" + std::to_string(::getpid()) + "_" +
                  std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
        const char* tmp = std::getenv("TMPDIR");
        state_dir_ = std::filesystem::path{tmp != nullptr ? tmp : "/tmp"} / (prefix_ + "_state");
        std::filesystem::create_directories(state_dir_);
    }
    ~test_env()
    {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator{"/dev/shm", ec}) {
            if (e.path().filename().string().rfind(prefix_ + ".", 0) == 0) {
                std::filesystem::remove(e.path(), ec);
            }
        }
        std::filesystem::remove_all(state_dir_, ec);
    }
    test_env(const test_env&) = delete;
    test_env& operator=(const test_env&) = delete;

    /// Unique bus prefix: segments are /dev/shm/<prefix>.<channel>.
    const std::string& prefix() const noexcept { return prefix_; }
    /// Private, existing state directory (LMDB environments go here).
    const std::filesystem::path& state_dir() const noexcept { return state_dir_; }

private:
    std::string prefix_;
    std::filesystem::path state_dir_;
};

}  // namespace vs::test
