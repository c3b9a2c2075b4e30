// The shared LMDB layer (vs/lmdb/lmdb.hpp) that snapshots and the outbox use: one message
// format naming the operation, the environment and the cause (ENOSPC and a full map said
// plainly), transactions aborted unless committed, cursors, absent keys.
#include "vs/lmdb/lmdb.hpp"

#include <cerrno>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_env.hpp"

namespace {

TEST(LmdbTest, MessagesNameTheOperationTheEnvironmentAndTheCause)
{
    const std::string full = vs::lmdb::message("commit", "snapshot /var/lib/volspike/market.lmdb", ENOSPC);
    EXPECT_EQ(full.rfind("cannot commit snapshot /var/lib/volspike/market.lmdb: No space left on device (ENOSPC", 0),
              0u)
        << full;
    const std::string map = vs::lmdb::message("write to", "the outbox /x", MDB_MAP_FULL);
    EXPECT_NE(map.find("MDB_MAP_FULL"), std::string::npos) << map;
    EXPECT_NE(map.find("map is full"), std::string::npos) << map;
    const vs::lmdb::error e{"open", "/nowhere", ENOENT};
    EXPECT_EQ(e.code(), ENOENT);
    EXPECT_EQ(std::string{e.what()}, "cannot open /nowhere: No such file or directory");
}


// Issue 19: a full disk is named with the directory and the free bytes statvfs gives, also
// when LMDB reports the short write of a filling disk as EIO; an EIO with room to spare is
// not called a full disk.
TEST(LmdbTest, AFullDiskIsNamedWithItsPathAndFreeBytes)
{
    vs::test::test_env env;
    const auto dir = env.state_dir();
    const auto free = vs::lmdb::free_bytes(dir);
    ASSERT_GT(free, 0);
    const std::string enospc = vs::lmdb::message("commit", "snapshot " + dir.string(), ENOSPC, &dir);
    EXPECT_NE(enospc.find("No space left on device (ENOSPC: no space left on " + dir.string() + " ("),
              std::string::npos)
        << enospc;
    EXPECT_NE(enospc.find(" bytes free)"), std::string::npos) << enospc;
    const std::string eio = vs::lmdb::message("commit", "snapshot " + dir.string(), EIO, &dir);
    if (free < vs::lmdb::eio_full_disk_bytes) {
        EXPECT_NE(eio.find("no space left on " + dir.string()), std::string::npos) << eio;
    } else {
        EXPECT_NE(eio.find("not a full disk"), std::string::npos) << eio;
        EXPECT_EQ(eio.find("no space left"), std::string::npos) << eio;
    }
    const std::string fsize = vs::lmdb::message("commit", "x", EFBIG, &dir);
    EXPECT_NE(fsize.find("RLIMIT_FSIZE"), std::string::npos) << fsize;
}
TEST(LmdbTest, OpeningAMissingEnvironmentFailsWithItsPath)
{
    vs::test::test_env env;
    const auto dir = env.state_dir() / "missing.lmdb";
    try {
        vs::lmdb::env e{dir, {.label = "snapshot", .read_only = true}};
        FAIL() << "opened a missing environment";
    } catch (const vs::lmdb::error& e) {
        EXPECT_EQ(std::string{e.what()}.rfind("cannot open snapshot " + dir.string() + ": ", 0), 0u) << e.what();
    }
}

TEST(LmdbTest, UncommittedWritesAreAbortedAndCursorsWalkInKeyOrder)
{
    vs::test::test_env env;
    vs::lmdb::env e{env.state_dir(), {.label = "test", .max_dbs = 2}};
    MDB_dbi db = 0;
    {
        vs::lmdb::txn t{e, vs::lmdb::txn::write};
        db = *t.open_dbi("d", true);
        t.put(db, vs::lmdb::val(std::string_view{"b"}), vs::lmdb::val(std::string_view{"2"}));
        t.put(db, vs::lmdb::val(std::string_view{"a"}), vs::lmdb::val(std::string_view{"1"}));
        t.commit();
    }
    {
        vs::lmdb::txn t{e, vs::lmdb::txn::write};
        t.put(db, vs::lmdb::val(std::string_view{"c"}), vs::lmdb::val(std::string_view{"3"}));
        EXPECT_TRUE(t.del(db, vs::lmdb::val(std::string_view{"a"})));
        EXPECT_FALSE(t.del(db, vs::lmdb::val(std::string_view{"zz"})));
        // destroyed without commit: aborted
    }
    vs::lmdb::txn t{e, vs::lmdb::txn::read};
    EXPECT_FALSE(t.open_dbi("absent", false).has_value());
    ASSERT_TRUE(t.get(db, vs::lmdb::val(std::string_view{"a"})).has_value());
    EXPECT_FALSE(t.get(db, vs::lmdb::val(std::string_view{"c"})).has_value());
    std::vector<std::string> seen;
    {
        vs::lmdb::cursor c{t, db};
        MDB_val k{};
        MDB_val v{};
        for (bool more = c.get(k, v, MDB_FIRST); more; more = c.get(k, v, MDB_NEXT)) {
            seen.emplace_back(std::string{vs::lmdb::view(k)} + "=" + std::string{vs::lmdb::view(v)});
        }
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"a=1", "b=2"}));
}

TEST(LmdbTest, AFullMapFailsThePutAndKeepsTheLastCommit)
{
    vs::test::test_env env;
    vs::lmdb::env e{env.state_dir(), {.label = "test", .map_size = 64 * 1024, .max_dbs = 2}};
    MDB_dbi db = 0;
    {
        vs::lmdb::txn t{e, vs::lmdb::txn::write};
        db = *t.open_dbi("d", true);
        t.put(db, vs::lmdb::val(std::string_view{"kept"}), vs::lmdb::val(std::string_view{"1"}));
        t.commit();
    }
    try {
        vs::lmdb::txn t{e, vs::lmdb::txn::write};
        const std::string big(4000, 'x');
        for (int i = 0; i < 100; ++i) {
            t.put(db, vs::lmdb::val(std::to_string(i)), vs::lmdb::val(big), "write a record to");
        }
        FAIL() << "a 64 KiB map took 400 KB";
    } catch (const vs::lmdb::error& err) {
        EXPECT_EQ(err.code(), MDB_MAP_FULL);
        EXPECT_EQ(std::string{err.what()}.rfind("cannot write a record to test " + env.state_dir().string(), 0), 0u)
            << err.what();
    }
    vs::lmdb::txn t{e, vs::lmdb::txn::read};
    EXPECT_TRUE(t.get(db, vs::lmdb::val(std::string_view{"kept"})).has_value());
    EXPECT_FALSE(t.get(db, vs::lmdb::val(std::string_view{"0"})).has_value());
}

}  // namespace
