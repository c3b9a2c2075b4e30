#include "vs/outbox/outbox.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "process.hpp"
#include "test_env.hpp"
#include "vs/common/clock.hpp"

namespace {

using namespace vs::outbox;

target_set all_four()
{
    target_set s;
    for (auto t : all_targets) {
        s.add(t);
    }
    return s;
}

alert make_alert(const std::string& text, bool backend = true)
{
    alert a;
    a.kind = "volume";
    if (backend) {
        a.backend = backend_call{"/api/volume-alerts/ingest", R"({"symbol":"BTCUSDT"})"};
    }
    a.text = text;
    return a;
}

std::unique_ptr<outbox> open_all(const vs::test::test_env& env)
{
    outbox_options o;
    o.targets = all_four();
    return outbox::open(env.state_dir(), o);
}

TEST(OutboxTest, EnqueueRecordsEveryTargetWithAPayloadAsPending)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    auto id = sut->enqueue(make_alert("hello"));
    ASSERT_EQ(id.size(), 16u);
    auto e = sut->get(id);
    ASSERT_TRUE(e);
    // every target but nats has a payload for a text + backend call (nats takes bus records only)
    EXPECT_EQ(e->targets.size(), all_targets.size() - 1);
    EXPECT_EQ(e->find(target::nats), nullptr);
    for (const auto& s : e->targets) {
        EXPECT_EQ(s.st, state::pending);
    }
    auto backend_only = sut->enqueue(make_alert(""));
    EXPECT_EQ(sut->get(backend_only)->targets.size(), 2u);
    EXPECT_EQ(sut->queue_length(target::prod), 2u);
    EXPECT_EQ(sut->queue_length(target::telegram), 1u);
}

TEST(OutboxTest, RecentListsTheNewestFirstWithABoundReadOnly)
{
    vs::test::test_env env;
    std::vector<std::string> ids;
    {
        auto sut = open_all(env);
        EXPECT_TRUE(sut->recent(10).empty());
        for (int i = 0; i < 5; ++i) {
            ids.push_back(sut->enqueue(make_alert("alert " + std::to_string(i))));
        }
    }
    outbox_options ro;
    ro.read_only = true;
    auto reader = outbox::open(env.state_dir(), ro);   // as vs-api opens it
    const auto three = reader->recent(3);
    ASSERT_EQ(three.size(), 3u);
    EXPECT_EQ(three[0].id, ids[4]);
    EXPECT_EQ(three[1].id, ids[3]);
    EXPECT_EQ(three[2].id, ids[2]);
    EXPECT_EQ(three[0].a.text, "alert 4");
    EXPECT_EQ(reader->recent(100).size(), 5u);
    EXPECT_TRUE(reader->recent(0).empty());
}

TEST(OutboxTest, NothingIsStoredWithoutAnApplicableTarget)
{
    vs::test::test_env env;
    outbox_options o;
    o.targets = target_set{};
    auto sut = outbox::open(env.state_dir(), o);
    EXPECT_TRUE(sut->enqueue(make_alert("x")).empty());
    EXPECT_TRUE(sut->list({}).empty());
}

TEST(OutboxTest, TargetsFollowTheEnvironment)
{
    ::setenv("VOLSPIKE_API_URL", "http://127.0.0.1:1", 1);
    ::unsetenv("VOLSPIKE_API_URL_DEV");
    ::setenv("TELEGRAM_BOT_TOKEN", "t", 1);
    ::setenv("TELEGRAM_CHANNEL_ID", "-100", 1);
    ::unsetenv("VS_DISCORD_WEBHOOK_URL");
    auto s = target_set::from_env();
    EXPECT_TRUE(s.has(target::prod));
    EXPECT_FALSE(s.has(target::dev));
    EXPECT_TRUE(s.has(target::telegram));
    EXPECT_FALSE(s.has(target::discord));
    ::unsetenv("VOLSPIKE_API_URL");
    ::unsetenv("TELEGRAM_BOT_TOKEN");
    ::unsetenv("TELEGRAM_CHANNEL_ID");
}

TEST(OutboxTest, LiquidationsGoToTheAlertBotWhenItIsConfiguredElseToTheMainBot)
{
    ::unsetenv("VOLSPIKE_API_URL");
    ::unsetenv("VS_DISCORD_WEBHOOK_URL");
    ::unsetenv("TELEGRAM_ALERT_CHAT_ID");
    ::setenv("TELEGRAM_TOKEN", "main", 1);
    ::setenv("CHAT_ID", "-100", 1);
    ::setenv("TELEGRAM_ALERT_TOKEN", "alerts", 1);
    auto bot = target_set::alert_bot_from_env();
    EXPECT_TRUE(bot.has(target::telegram_alerts));   // its chat falls back to CHAT_ID
    EXPECT_FALSE(bot.has(target::telegram));
    // Other alerts' texts never go to the alert bot.
    EXPECT_FALSE(target_set::from_env().has(target::telegram_alerts));
    ::unsetenv("TELEGRAM_ALERT_TOKEN");
    bot = target_set::alert_bot_from_env();
    EXPECT_FALSE(bot.has(target::telegram_alerts));
    EXPECT_TRUE(bot.has(target::telegram));
    EXPECT_EQ(to_string(target::telegram_alerts), "telegram_alerts");
    EXPECT_EQ(vs::outbox::target_from_string("telegram_alerts"), target::telegram_alerts);
    ::unsetenv("TELEGRAM_TOKEN");
    ::unsetenv("CHAT_ID");
}

TEST(OutboxTest, QueueIsInIdOrderAndDeliveredEntriesLeaveIt)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        ids.push_back(sut->enqueue(make_alert("m" + std::to_string(i))));
    }
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    auto q = sut->queue(target::prod, 10);
    ASSERT_EQ(q.size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(q[i].id, ids[i]);
    }
    sut->mark_delivered(target::prod, {ids[0], ids[1]}, vs::realtime_ms());
    q = sut->queue(target::prod, 10);
    ASSERT_EQ(q.size(), 3u);
    EXPECT_EQ(q[0].id, ids[2]);
    EXPECT_EQ(sut->get(ids[0])->find(target::prod)->st, state::delivered);
    EXPECT_EQ(sut->get(ids[0])->find(target::telegram)->st, state::pending);
    EXPECT_EQ(sut->counters(target::prod).sent, 2u);
}

TEST(OutboxTest, FailedAttemptKeepsEntryQueuedWithNextAttemptAndError)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    auto id = sut->enqueue(make_alert("x"));
    sut->mark_failed(target::prod, id, "HTTP 503", 12345);
    auto s = *sut->get(id)->find(target::prod);
    EXPECT_EQ(s.st, state::pending);
    EXPECT_EQ(s.attempts, 1);
    EXPECT_EQ(s.next_attempt_ms, 12345);
    EXPECT_EQ(s.last_error, "HTTP 503");
    EXPECT_EQ(sut->queue_length(target::prod), 1u);
}

TEST(OutboxTest, DeadEntriesAreListedRetriedAndPurged)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    auto id = sut->enqueue(make_alert(""));
    sut->mark_dead(target::prod, id, "expired", vs::realtime_ms());
    EXPECT_EQ(sut->queue_length(target::prod), 0u);
    EXPECT_EQ(sut->list(list_filter{target::prod, state::dead, 100}).size(), 1u);
    EXPECT_EQ(sut->counters(target::prod).dead, 1u);

    EXPECT_EQ(sut->retry(target::prod, {}), 1u);
    EXPECT_EQ(sut->queue_length(target::prod), 1u);
    EXPECT_EQ(sut->get(id)->find(target::prod)->st, state::pending);

    sut->mark_delivered(target::prod, {id}, vs::realtime_ms());
    sut->mark_delivered(target::dev, {id}, vs::realtime_ms());
    EXPECT_EQ(sut->purge(std::nullopt, vs::realtime_ms() - 60'000), 0u);  // too recent
    EXPECT_EQ(sut->purge(std::nullopt, vs::realtime_ms() + 1), 1u);
    EXPECT_FALSE(sut->get(id));
}

TEST(OutboxTest, PurgeNeverDeletesUnfinishedAlertsUnlessNamed)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    auto id = sut->enqueue(make_alert("x"));
    EXPECT_EQ(sut->purge(std::nullopt, vs::realtime_ms() + 1'000), 0u);
    EXPECT_EQ(sut->purge(std::nullopt, 0, id), 1u);
    EXPECT_EQ(sut->queue_length(target::telegram), 0u);
}

TEST(OutboxTest, RowsAreChunkedByAtMostOneHundred)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    boost::json::array rows;
    for (int i = 0; i < 250; ++i) {
        rows.push_back(boost::json::object{{"symbol", "S" + std::to_string(i)}, {"openInterest", i}});
    }
    auto ids = sut->enqueue_rows("oi_batch", "/api/market/open-interest/ingest", "data",
                                 boost::json::serialize(rows), R"({"source":"vs-oi"})");
    ASSERT_EQ(ids.size(), 3u);
    std::size_t total = 0;
    for (const auto& id : ids) {
        auto e = sut->get(id);
        ASSERT_TRUE(e && e->a.backend);
        EXPECT_EQ(e->targets.size(), 2u);  // backend targets only
        auto body = boost::json::parse(e->a.backend->body).as_object();
        EXPECT_EQ(body.at("source").as_string(), "vs-oi");
        EXPECT_LE(body.at("data").as_array().size(), 100u);
        total += body.at("data").as_array().size();
    }
    EXPECT_EQ(total, 250u);
}

TEST(OutboxTest, EnqueueManyCommitsABurstInOrderInOneTransaction)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    std::vector<alert> burst;
    for (int i = 0; i < 50; ++i) {
        burst.push_back(make_alert("liq " + std::to_string(i), i % 2 == 0));
    }
    burst.push_back(alert{});   // no payload at all: no target, empty id
    auto ids = sut->enqueue_many(burst);
    ASSERT_EQ(ids.size(), 51u);
    EXPECT_TRUE(ids.back().empty());
    ids.pop_back();
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    auto q = sut->queue(target::telegram, 100);
    ASSERT_EQ(q.size(), 50u);
    EXPECT_EQ(q[7].a.text, "liq 7");
    EXPECT_EQ(sut->queue_length(target::prod), 25u);
    EXPECT_EQ(sut->counters(target::telegram).enqueued, 50u);
    EXPECT_EQ(sut->counters(target::prod).enqueued, 25u);
}

TEST(OutboxTest, RowBatchesAreDeletedOnceEveryTargetAcknowledged)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    auto ids = sut->enqueue_rows("oi_batch", "/api/market/open-interest/ingest", "data", R"([{"s":1}])", "{}", 100,
                                 std::chrono::minutes{10});
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(sut->get(ids[0])->a.dead_after, std::chrono::minutes{10});
    sut->mark_delivered(target::prod, ids, vs::realtime_ms());
    EXPECT_TRUE(sut->get(ids[0])) << "DEV has not acknowledged yet";
    sut->mark_delivered(target::dev, ids, vs::realtime_ms());
    EXPECT_FALSE(sut->get(ids[0]));
    EXPECT_EQ(sut->counters(target::dev).sent, 1u);
    auto stale = sut->enqueue_rows("oi_batch", "/api/market/open-interest/ingest", "data", R"([{"s":2}])");
    sut->mark_dead(target::prod, stale[0], "expired", vs::realtime_ms());
    sut->mark_delivered(target::dev, stale, vs::realtime_ms());
    EXPECT_FALSE(sut->get(stale[0]));
    EXPECT_EQ(sut->counters(target::prod).dead, 1u);
    // Alerts are kept (for vs-outbox list) until purged.
    auto id = sut->enqueue(make_alert(""));
    sut->mark_delivered(target::prod, {id}, vs::realtime_ms());
    sut->mark_delivered(target::dev, {id}, vs::realtime_ms());
    EXPECT_TRUE(sut->get(id));
}

TEST(OutboxTest, ProcessesEnqueueingConcurrentlyGetUniqueOrderedIds)
{
    vs::test::test_env env;
    constexpr int children = 3;
    constexpr int per_child = 50;
    std::vector<vs::test::child_process> producers;
    for (int c = 0; c < children; ++c) {
        producers.push_back(vs::test::child_process::fork([&] {
            int code = 0;
            try {
                auto ob = open_all(env);
                for (int i = 0; i < per_child; ++i) {
                    if (ob->enqueue(make_alert("c" + std::to_string(c) + "-" + std::to_string(i))).empty()) {
                        code = 1;
                    }
                }
            } catch (...) {
                code = 2;
            }
            return code;
        }));
    }
    for (auto& p : producers) {
        EXPECT_EQ(p.wait(std::chrono::seconds{30}), 0);
    }
    auto sut = open_all(env);
    auto all = sut->list(list_filter{std::nullopt, std::nullopt, 100'000});
    ASSERT_EQ(all.size(), static_cast<std::size_t>(children * per_child));
    std::set<std::string> ids;
    std::map<std::string, int> last_of_child;
    for (const auto& e : all) {
        ids.insert(e.id);
        // Per producer, the order of enqueue is the order of ids.
        auto child = e.a.text.substr(0, e.a.text.find('-'));
        int n = std::stoi(e.a.text.substr(e.a.text.find('-') + 1));
        if (last_of_child.count(child) != 0) {
            EXPECT_GT(n, last_of_child[child]);
        }
        last_of_child[child] = n;
    }
    EXPECT_EQ(ids.size(), all.size());
    EXPECT_EQ(sut->counters(target::prod).enqueued, static_cast<std::uint64_t>(children * per_child));
}

}  // namespace

namespace {

TEST(OutboxTest, EnqueueCommitsFastEnoughForAlertBursts)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    constexpr int n = 300;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        ASSERT_FALSE(sut->enqueue(make_alert("burst " + std::to_string(i))).empty());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("measured: %d durable enqueues (4 targets each, fsync per commit) in %.3f s = %.0f/s\n", n, secs,
                n / secs);
    EXPECT_LT(secs, 30.0);   // ≥ 10 alerts/s even on a slow disk; alerts come in tens per minute
    EXPECT_EQ(sut->queue_length(target::telegram), static_cast<std::size_t>(n));
}

}  // namespace

// A process's own state and the alerts decided from it: one transaction, both or neither.
TEST(OutboxStateTest, CommitWritesTheAlertsAndTheStateTogether)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    alert a;
    a.kind = "volume";
    a.backend = backend_call{"/api/volume-alerts/ingest", R"({"symbol":"BTCUSDT"})"};
    const auto ids = sut->commit("vs-volume", {a}, {{"BTCUSDT", "candle 1700000000000"}, {"ETHUSDT", "x"}});
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_TRUE(sut->get(ids[0]).has_value());
    EXPECT_EQ(sut->state_get("vs-volume", "BTCUSDT"), "candle 1700000000000");
    EXPECT_EQ(sut->state_get("vs-oi", "BTCUSDT"), std::nullopt) << "each process has its own state";

    // Erasing a key, and reading them all in key order.
    sut->commit("vs-volume", {}, {{"ETHUSDT", std::nullopt}, {"ADAUSDT", "y"}});
    std::vector<std::pair<std::string, std::string>> all;
    sut->state_for_each("vs-volume", [&](std::string_view k, std::string_view v) { all.emplace_back(k, v); });
    EXPECT_EQ(all, (std::vector<std::pair<std::string, std::string>>{{"ADAUSDT", "y"},
                                                                     {"BTCUSDT", "candle 1700000000000"}}));
}

TEST(OutboxStateTest, AFailedCommitKeepsNeitherTheAlertsNorTheState)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    alert a;
    a.kind = "volume";
    a.backend = backend_call{"/api/volume-alerts/ingest", "{}"};
    // LMDB refuses keys over 511 bytes: the state write fails after the alert was written
    // in the same transaction, which is then aborted.
    const std::string too_long(600, 'k');
    EXPECT_THROW(sut->commit("vs-volume", {a}, {{too_long, "v"}}), std::runtime_error);
    EXPECT_EQ(sut->queue_length(vs::outbox::target::prod), 0u) << "the alert must not survive its state";
    EXPECT_TRUE(sut->list({}).empty());
    EXPECT_THROW(sut->commit("", {a}, {}), std::invalid_argument);
}

// Issue 19: every write of alerts, by whichever call, reports its outcome to the write
// observer (the daemon skeleton turns the process unhealthy on a failure).
TEST(OutboxStateTest, EveryWriteOfAlertsReportsItsOutcomeToTheObserver)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    std::vector<std::pair<std::size_t, std::string>> seen;   // alerts, error ("" = success)
    sut->set_write_observer([&](std::size_t n, const std::exception* e) {
        seen.emplace_back(n, e != nullptr ? e->what() : "");
    });
    alert a;
    a.kind = "volume";
    a.backend = backend_call{"/api/volume-alerts/ingest", "{}"};
    sut->enqueue(a);
    sut->enqueue_many({a, a});
    sut->commit("vs-volume", {a}, {{"k", "v"}});
    EXPECT_THROW(sut->commit("vs-volume", {a}, {{std::string(600, 'k'), "v"}}), std::runtime_error);
    sut->enqueue_rows("oi", "/api/oi", "rows", R"([{"s":"A"}])", "{}", 100, std::chrono::milliseconds{0});
    ASSERT_EQ(seen.size(), 5u);
    EXPECT_EQ(seen[0], (std::pair<std::size_t, std::string>{1, ""}));
    EXPECT_EQ(seen[1], (std::pair<std::size_t, std::string>{2, ""}));
    EXPECT_EQ(seen[2], (std::pair<std::size_t, std::string>{1, ""}));
    EXPECT_EQ(seen[3].first, 1u);
    EXPECT_NE(seen[3].second.find("cannot"), std::string::npos) << seen[3].second;
    EXPECT_EQ(seen[4], (std::pair<std::size_t, std::string>{1, ""}));
}

// ---- the bus record (NATS target, issue 17) ---------------------------------------------
namespace {

alert with_bus(std::string symbol, std::vector<std::string>* built_ids = nullptr)
{
    alert a = make_alert("", false);
    bus_record r;
    r.channel = "oi";
    r.type = 10;   // OiSpikeAlert
    r.symbol = symbol;
    r.schema_hash = 0xfedcba9876543210ull;
    // Bytes with NUL, high bytes and '"', and a length that is not a multiple of 3.
    r.build = [symbol, built_ids](std::string_view id) {
        if (built_ids != nullptr) {
            built_ids->emplace_back(id);
        }
        return "rec:" + std::string{id} + ":" + symbol + ":" + std::string{"\0\xff\x80\"q", 5};
    };
    a.bus = std::move(r);
    return a;
}

TEST(OutboxBusRecordTest, IsBuiltWithTheIdInsideCommitStoredAndHandedBack)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    std::vector<std::string> built;
    std::vector<alert> alerts{with_bus("BTCUSDT", &built), with_bus("币安人生USDT", &built)};
    const auto ids = sut->commit("vs-oi", alerts, {{"k", "v"}});
    ASSERT_EQ(ids.size(), 2u);
    ASSERT_EQ(built, ids);   // built once each, with the assigned id
    for (std::size_t i = 0; i < 2; ++i) {
        const std::string sym = i == 0 ? "BTCUSDT" : "币安人生USDT";
        const std::string expected = "rec:" + ids[i] + ":" + sym + ":" + std::string{"\0\xff\x80\"q", 5};
        EXPECT_EQ(alerts[i].bus->bytes, expected);   // what the caller publishes on its channel
        auto e = sut->get(ids[i]);
        ASSERT_TRUE(e);
        ASSERT_TRUE(e->a.bus);
        EXPECT_EQ(e->a.bus->bytes, expected);         // what vs-deliver publishes to NATS
        EXPECT_EQ(e->a.bus->channel, "oi");
        EXPECT_EQ(e->a.bus->type, 10);
        EXPECT_EQ(e->a.bus->symbol, sym);
        EXPECT_EQ(e->a.bus->schema_hash, 0xfedcba9876543210ull);
        // A bus record alone goes to nats only.
        ASSERT_EQ(e->targets.size(), 1u);
        EXPECT_EQ(e->targets[0].t, target::nats);
    }
    EXPECT_EQ(sut->queue_length(target::nats), 2u);
    EXPECT_EQ(sut->queue_length(target::prod), 0u);
    EXPECT_EQ(sut->state_get("vs-oi", "k"), "v");
    EXPECT_EQ(to_string(target::nats), "nats");
    EXPECT_EQ(target_from_string("nats"), target::nats);
}

TEST(OutboxBusRecordTest, IsBuiltForTheChannelEvenWithoutATarget)
{
    vs::test::test_env env;
    outbox_options o;
    o.targets = target_set{};
    auto sut = outbox::open(env.state_dir(), o);
    std::vector<std::string> built;
    std::vector<alert> alerts{with_bus("ETHUSDT", &built)};
    const auto ids = sut->commit("vs-oi", alerts, {});
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_TRUE(ids[0].empty());
    ASSERT_EQ(built.size(), 1u);
    EXPECT_TRUE(built[0].empty());
    EXPECT_EQ(alerts[0].bus->bytes.substr(0, 6), "rec::E");
    EXPECT_TRUE(sut->list({}).empty());
}

TEST(OutboxBusRecordTest, ABuilderThatThrowsAbortsTheWholeCommit)
{
    vs::test::test_env env;
    auto sut = open_all(env);
    alert a = with_bus("BTCUSDT");
    a.bus->build = [](std::string_view) -> std::string { throw std::runtime_error("no"); };
    EXPECT_THROW(sut->commit("vs-oi", {make_alert("t"), a}, {{"k", "v"}}), std::runtime_error);
    EXPECT_TRUE(sut->list({}).empty());
    EXPECT_FALSE(sut->state_get("vs-oi", "k"));
}

TEST(OutboxBusRecordTest, EntriesWithoutOneReadAsBefore)
{
    // An entry as written before the bus record existed: its JSON has no "bus" field.
    vs::test::test_env env;
    auto sut = open_all(env);
    const auto id = sut->enqueue(make_alert("old"));
    auto e = sut->get(id);
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->a.bus);
    EXPECT_EQ(e->a.text, "old");
    sut->mark_delivered(target::prod, {id}, vs::realtime_ms());
    EXPECT_EQ(sut->get(id)->find(target::prod)->st, state::delivered);
    EXPECT_FALSE(sut->get(id)->a.bus);
    // A bus record given as bytes (no builder) is kept as given.
    alert b = make_alert("", false);
    b.bus = bus_record{"news", 15, "", 1, {}, std::string{"\x01\x02", 2}};
    const auto bid = sut->enqueue(b);
    EXPECT_EQ(sut->get(bid)->a.bus->bytes, std::string("\x01\x02", 2));
}

TEST(OutboxBusRecordTest, NatsFollowsVsNatsUrlAndTheAlertBotIncludesIt)
{
    ::unsetenv("TELEGRAM_ALERT_TOKEN");
    ::unsetenv("TELEGRAM_TOKEN");
    ::setenv("VS_NATS_URL", "nats://127.0.0.1:4222", 1);
    EXPECT_TRUE(target_set::from_env().has(target::nats));
    EXPECT_TRUE(target_set::alert_bot_from_env().has(target::nats));
    ::unsetenv("VS_NATS_URL");
    EXPECT_FALSE(target_set::from_env().has(target::nats));
    EXPECT_FALSE(target_set::alert_bot_from_env().has(target::nats));
}

}  // namespace
