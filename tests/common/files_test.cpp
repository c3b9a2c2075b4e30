// State directories and files have fixed modes, whatever the umask: 0750 and 0640.
#include "vs/common/files.hpp"

#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "state_modes.hpp"
#include "test_env.hpp"
#include "vs/bus/snapshot.hpp"
#include "vs/outbox/outbox.hpp"

namespace {

namespace fs = std::filesystem;

unsigned mode_of(const fs::path& p)
{
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

/// Runs the test body under umask 000 (the worst case) and restores the umask after.
class UnderUmask000 : public ::testing::Test {
protected:
    void SetUp() override { old_ = ::umask(0); }
    void TearDown() override { ::umask(old_); }
    vs::test::test_env env_;
    mode_t old_ = 022;
};

TEST_F(UnderUmask000, CreatedStateDirectoriesAre0750AndExistingOnesKeepTheirMode)
{
    const auto root = env_.state_dir();
    fs::permissions(root, static_cast<fs::perms>(0711));
    const auto dir = root / "a" / "b" / "c";
    EXPECT_FALSE(vs::files::create_state_directories(dir));
    EXPECT_EQ(mode_of(root / "a"), 0750u);
    EXPECT_EQ(mode_of(root / "a" / "b"), 0750u);
    EXPECT_EQ(mode_of(dir), 0750u);
    EXPECT_EQ(mode_of(root), 0711u) << "an existing directory is not changed";
    EXPECT_FALSE(vs::files::create_state_directories(dir)) << "existing: not an error";
}

TEST_F(UnderUmask000, AFileInThePlaceOfADirectoryIsAnError)
{
    const auto blocker = env_.state_dir() / "file";
    { std::FILE* f = std::fopen(blocker.c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
    EXPECT_TRUE(vs::files::create_state_directories(blocker / "sub"));
}

TEST_F(UnderUmask000, TheOutboxAndSnapshotEnvironmentsAre0750With0640Files)
{
    const auto state = env_.state_dir() / "state";
    {
        vs::outbox::outbox_options o;
        o.targets = vs::outbox::target_set{};
        auto ob = vs::outbox::outbox::open(state, o);
        vs::bus::snapshot_store snap{state, "market"};
    }
    vs::test::expect_private_state(state, {"outbox.lmdb", "market.lmdb"});
}

}  // namespace
