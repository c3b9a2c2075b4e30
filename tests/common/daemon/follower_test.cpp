// vs::daemon::follower on real shared memory: ring records in publish order, a resync
// whenever records were skipped (the first attach, a lap, a new writer generation), and the
// channel's latest table. The writer is in this process; readers of other processes are
// covered by the bus's own multi-process tests.
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bus_channel.hpp"
#include "process.hpp"
#include "records.hpp"
#include "test_env.hpp"
#include "vs/bus/records.hpp"
#include "vs/daemon/daemon.hpp"

namespace {

constexpr auto mark_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::MarkPrice);

void publish(vs::bus::writer& w, const std::string& symbol, double price)
{
    const auto bytes = vs::test::mark_price(symbol, price);
    ASSERT_EQ(w.publish(mark_type, symbol, bytes, vs::test::fixed_time_ns), vs::bus::publish_status::ok);
}

struct follow_log {
    std::vector<std::string> symbols;
    int resyncs = 0;
    std::size_t poll(vs::daemon::follower& f)
    {
        return f.poll([&](const vs::bus::record_view& r) { symbols.emplace_back(vs::bus::record_symbol(r.data)); },
                      [&] { ++resyncs; });
    }
};

TEST(FollowerTest, HandsRingRecordsInOrderAfterOneResyncAtTheFirstAttach)
{
    vs::test::test_env env;
    vs::bus::writer w{vs::test::channel(env, "market")};
    vs::daemon::follower f{vs::test::channel(env, "market"), "follower_test"};
    follow_log log;
    EXPECT_EQ(log.poll(f), 0u);
    EXPECT_EQ(log.resyncs, 1) << "the first attach: the caller reads the table first";
    publish(w, "BTCUSDT", 1);
    publish(w, "ETHUSDT", 2);
    w.notify();
    EXPECT_TRUE(f.wait(std::chrono::milliseconds{500}));
    EXPECT_EQ(log.poll(f), 2u);
    EXPECT_EQ(log.symbols, (std::vector<std::string>{"BTCUSDT", "ETHUSDT"}));
    EXPECT_EQ(log.resyncs, 1) << "nothing was skipped";
    EXPECT_EQ(f.table().latest(mark_type, "ETHUSDT", [](const vs::bus::record_view&) {}), vs::bus::read_status::ok);
    EXPECT_TRUE(f.writer_alive());
}

TEST(FollowerTest, ALapMeansAResyncAndTheRecordsGoOnFromTheNewest)
{
    vs::test::test_env env;
    vs::bus::writer w{vs::test::channel(env, "market")};   // a 64 KiB ring
    vs::daemon::follower f{vs::test::channel(env, "market"), "follower_test"};
    follow_log log;
    log.poll(f);
    ASSERT_EQ(log.resyncs, 1);
    for (int i = 0; i < 2000; ++i) {   // about 4 rings' worth of ~150-byte records
        publish(w, "S" + std::to_string(i % 50), i);   // 50 keys: the 64-slot table never fills
    }
    w.notify();
    log.poll(f);
    EXPECT_EQ(log.resyncs, 2) << "lapped once: one resync";
    EXPECT_GE(f.laps(), 1u);
    EXPECT_EQ(f.resyncs(), 2u);
    ASSERT_FALSE(log.symbols.empty());
    EXPECT_EQ(log.symbols.back(), "S49") << "after the lap the newest records follow";
    EXPECT_LT(log.symbols.size(), 2000u) << "the lapped records were skipped, not handed over torn";
}

TEST(FollowerTest, ARecordHandedOverAfterAResyncIsIntactThoughTheResyncReadTheTable)
{
    // The resync reads the table through the same reader (its copy buffer): the ring record
    // that triggered it must still be handed over as it was published.
    vs::test::test_env env;
    std::optional<vs::bus::writer> w;
    w.emplace(vs::test::channel(env, "market"));
    vs::daemon::follower f{vs::test::channel(env, "market"), "follower_test"};
    f.poll([](const vs::bus::record_view&) {});
    w.reset();
    w.emplace(vs::test::channel(env, "market"));   // a new generation: the next record resyncs
    publish(*w, "AAAUSDT", 7);
    publish(*w, "ZZZZZZZZZZUSDT", 9);   // the table's last slot: a different size and content
    w->notify();
    std::vector<std::pair<std::string, double>> got;
    int resyncs_in_poll = 0;
    EXPECT_TRUE(vs::test::eventually([&] {
        f.poll(
            [&](const vs::bus::record_view& r) {
                ASSERT_TRUE(vs::bus::verify_record(r.type, r.data));
                const auto* m = vs::bus::record_as<vs::schema::MarkPrice>(r.data);
                got.emplace_back(m->symbol()->str(), m->mark_price());
            },
            [&] {
                ++resyncs_in_poll;
                f.table().for_each_latest(mark_type, [](const vs::bus::record_view&) {});
            });
        return got.size() == 2;
    }, std::chrono::seconds{3}));
    EXPECT_GE(resyncs_in_poll, 1);
    EXPECT_EQ(got, (std::vector<std::pair<std::string, double>>{{"AAAUSDT", 7}, {"ZZZZZZZZZZUSDT", 9}}));
}

TEST(FollowerTest, ANewWriterGenerationMeansAResync)
{
    vs::test::test_env env;
    follow_log log;
    std::optional<vs::bus::writer> w;
    w.emplace(vs::test::channel(env, "market"));
    vs::daemon::follower f{vs::test::channel(env, "market"), "follower_test"};
    log.poll(f);
    ASSERT_EQ(log.resyncs, 1);
    w.reset();                                   // the writer stops...
    w.emplace(vs::test::channel(env, "market"));   // ...and a new one starts: generation + 1
    publish(*w, "BTCUSDT", 3);
    w->notify();
    EXPECT_TRUE(vs::test::eventually([&] {
        log.poll(f);
        return log.resyncs == 2;
    }, std::chrono::seconds{3}));
    EXPECT_TRUE(vs::test::eventually([&] {
        log.poll(f);
        return !log.symbols.empty() && log.symbols.back() == "BTCUSDT";
    }, std::chrono::seconds{3}));
    EXPECT_EQ(log.resyncs, 2);
}

}  // namespace
