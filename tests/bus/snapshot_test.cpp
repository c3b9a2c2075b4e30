// LMDB snapshots: round trip with original times, schema guard, stale readers, full map.
#include "vs/bus/snapshot.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <lmdb.h>

#include "bus_channel.hpp"
#include "process.hpp"
#include "records.hpp"
#include "schemas/market_data_generated.h"
#include "test_env.hpp"
#include "vs/bus/records.hpp"

namespace {

using vs::bus::channel_config;
using vs::bus::record_view;
using vs::bus::snapshot_store;
using vs::bus::writer;

class SnapshotTest : public ::testing::Test {
protected:
    channel_config config() { return vs::test::channel(env, "market", 64u << 10, 1024); }
    vs::test::test_env env;
};

TEST_F(SnapshotTest, RoundTripRestoresEveryRecordWithItsOriginalTime)
{
    auto c = config();
    {
        writer w{c};
        for (int i = 0; i < 650; ++i) {
            auto rec = vs::test::mark_price("SYM" + std::to_string(i) + "USDT", 100.0 + i);
            ASSERT_EQ(w.publish(1, "SYM" + std::to_string(i) + "USDT", rec, 1'000'000 + i), vs::bus::publish_status::ok);
        }
        auto btc = vs::test::mark_price("币安人生USDT", 0.5);
        w.publish(1, "币安人生USDT", btc, 42);
        snapshot_store s{env.state_dir(), "market"};
        EXPECT_EQ(s.save(w), 651u);
        EXPECT_EQ(s.info().count, 651u);
    }
    // The shared memory is gone (a reboot): only the snapshot remains.
    std::filesystem::remove("/dev/shm/" + c.prefix + ".market");
    writer w{c};
    snapshot_store s{env.state_dir(), "market"};
    EXPECT_EQ(s.restore(w), 651u);
    vs::bus::reader r{c};
    std::int64_t t = 0;
    double price = 0;
    ASSERT_EQ(r.latest(1, "SYM7USDT", [&](const record_view& rec) {
        t = rec.publish_ns;
        price = vs::bus::record_as<vs::schema::MarkPrice>(rec.data)->mark_price();
    }), vs::bus::read_status::ok);
    EXPECT_EQ(t, 1'000'007);
    EXPECT_DOUBLE_EQ(price, 107.0);
    ASSERT_EQ(r.latest(1, "币安人生USDT", [&](const record_view& rec) { t = rec.publish_ns; }), vs::bus::read_status::ok);
    EXPECT_EQ(t, 42);
}

TEST_F(SnapshotTest, RestoreWithAFilterPublishesOnlyTheRecordsItKeeps)
{
    auto c = config();
    {
        writer w{c};
        w.publish(1, "BTCUSDT", vs::test::mark_price("BTCUSDT", 67000), 10);
        w.publish(1, "ETHUSDT", vs::test::mark_price("ETHUSDT", 3500), 20);
        w.publish(1, "SOLUSDT", vs::test::mark_price("SOLUSDT", 150), 30);
        snapshot_store s{env.state_dir(), "market"};
        ASSERT_EQ(s.save(w), 3u);
    }
    std::filesystem::remove("/dev/shm/" + c.prefix + ".market");
    writer w{c};
    snapshot_store s{env.state_dir(), "market"};
    std::vector<std::string> offered;
    EXPECT_EQ(s.restore(w, [&](const record_view& r) {
        offered.emplace_back(r.symbol);
        return r.symbol != "ETHUSDT";
    }), 2u);
    EXPECT_EQ(offered, (std::vector<std::string>{"BTCUSDT", "ETHUSDT", "SOLUSDT"}));
    EXPECT_EQ(w.status().table_used, 2u);
    vs::bus::reader r{c};
    auto ignore = [](const record_view&) {};
    EXPECT_EQ(r.latest(1, "BTCUSDT", ignore), vs::bus::read_status::ok);
    EXPECT_EQ(r.latest(1, "ETHUSDT", ignore), vs::bus::read_status::missing);
    EXPECT_EQ(r.latest(1, "SOLUSDT", ignore), vs::bus::read_status::ok);
}

TEST_F(SnapshotTest, SaveFromAReaderOnAnotherThreadKeepsOriginalTimes)
{
    // vs-feed commits snapshots (and their fsync) on a thread of their own, through a reader.
    auto c = config();
    {
        writer w{c};
        for (int i = 0; i < 100; ++i) {
            const std::string sym = "SYM" + std::to_string(i) + "USDT";
            ASSERT_EQ(w.publish(1, sym, vs::test::mark_price(sym, 1.0 + i), 5'000 + i), vs::bus::publish_status::ok);
        }
        std::size_t saved = 0;
        std::thread saver{[&] {
            vs::bus::reader r{c, vs::bus::reader_options{false, "snapshot"}};
            snapshot_store s{env.state_dir(), "market"};
            saved = s.save(r);
        }};
        saver.join();
        EXPECT_EQ(saved, 100u);
    }
    std::filesystem::remove("/dev/shm/" + c.prefix + ".market");
    writer fresh{c};
    snapshot_store s{env.state_dir(), "market"};
    EXPECT_EQ(s.restore(fresh), 100u);
    vs::bus::reader r{c};
    std::int64_t t = 0;
    ASSERT_EQ(r.latest(1, "SYM42USDT", [&](const record_view& rec) { t = rec.publish_ns; }), vs::bus::read_status::ok);
    EXPECT_EQ(t, 5'042);
}

TEST_F(SnapshotTest, SnapshotOfAnotherSchemaIsRefused)
{
    auto c = config();
    writer w{c};
    w.publish(1, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1), 1);
    {
        snapshot_store s{env.state_dir(), "market"};
        s.save(w);
    }
    // Rewrite the stored hash with mdb tools' view of the file: simplest is through LMDB itself.
    {
        MDB_env* e = nullptr;
        ASSERT_EQ(mdb_env_create(&e), 0);
        mdb_env_set_maxdbs(e, 4);
        ASSERT_EQ(mdb_env_open(e, (env.state_dir() / "market.lmdb").c_str(), 0, 0640), 0);
        MDB_txn* txn = nullptr;
        ASSERT_EQ(mdb_txn_begin(e, nullptr, 0, &txn), 0);
        MDB_dbi meta;
        ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
        std::uint64_t bogus = 0x1234;
        MDB_val k{11, const_cast<char*>("schema_hash")};
        MDB_val v{8, &bogus};
        ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), 0);
        ASSERT_EQ(mdb_txn_commit(txn), 0);
        mdb_env_close(e);
    }
    snapshot_store s{env.state_dir(), "market"};
    try {
        s.restore(w);
        FAIL() << "restored a snapshot of another schema";
    } catch (const vs::bus::bus_error& e) {
        EXPECT_NE(std::string{e.what()}.find("schema hash"), std::string::npos) << e.what();
    }
}

TEST_F(SnapshotTest, ReaderSlotOfAKilledProcessIsClearedBeforeTheNextSave)
{
    auto c = config();
    writer w{c};
    w.publish(1, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1), 1);
    snapshot_store s{env.state_dir(), "market"};
    s.save(w);
    // A process that opens a read transaction and dies without closing it (kill -9 of a reader).
    auto reader = vs::test::child_process::fork([&] {
        MDB_env* e = nullptr;
        mdb_env_create(&e);
        mdb_env_set_maxdbs(e, 4);
        mdb_env_open(e, (env.state_dir() / "market.lmdb").c_str(), MDB_RDONLY, 0640);
        MDB_txn* txn = nullptr;
        mdb_txn_begin(e, nullptr, MDB_RDONLY, &txn);
        return 0;
    });
    ASSERT_EQ(reader.wait(std::chrono::seconds{10}), 0);
    s.save(w);  // runs mdb_reader_check first
    EXPECT_EQ(s.stale_readers_cleared(), 1);
}

TEST_F(SnapshotTest, FailedSaveKeepsThePreviousSnapshot)
{
    auto c = config();
    c.slot_bytes = 4096;
    writer w{c};
    w.publish(1, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1), 1);
    snapshot_store s{env.state_dir(), "market", false, 64 * 1024};  // a 64 KiB map: fills fast
    EXPECT_EQ(s.save(w), 1u);
    for (int i = 0; i < 200; ++i) {
        w.publish(2, "SYM" + std::to_string(i), std::vector<std::byte>(4000), 2, vs::bus::to_table);
    }
    EXPECT_THROW(s.save(w), vs::bus::bus_error);
    std::size_t n = 0;
    s.for_each([&](const record_view&) { ++n; });
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(s.info().count, 1u);
}

TEST_F(SnapshotTest, ReadOnlyOpenOfAMissingSnapshotFailsClearly)
{
    try {
        snapshot_store s{env.state_dir(), "nothing", true};
        FAIL();
    } catch (const vs::bus::bus_error& e) {
        EXPECT_NE(std::string{e.what()}.find("no snapshot"), std::string::npos);
    }
}

TEST_F(SnapshotTest, MdbStatAndMdbDumpReadTheFile)
{
    if (std::system("command -v mdb_stat >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "lmdb-utils not installed";
    }
    auto c = config();
    writer w{c};
    w.publish(1, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1), 1);
    snapshot_store s{env.state_dir(), "market"};
    s.save(w);
    const std::string dir = (env.state_dir() / "market.lmdb").string();
    EXPECT_EQ(std::system(("mdb_stat -a " + dir + " >/dev/null").c_str()), 0);
    EXPECT_EQ(std::system(("mdb_dump -s latest " + dir + " >/dev/null").c_str()), 0);
}

}  // namespace
