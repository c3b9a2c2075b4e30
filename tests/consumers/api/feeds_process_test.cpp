// vs-api's host-wide views (issue 18) as a real process on real shared memory, a real outbox
// (LMDB) and loopback sockets: /alerts with delivery states, filters and limit; /news; the
// alert and news events of /events; /health; and one /metrics scrape of a host with vs-feed,
// vs-deliver and vs-api running, checked by `promtool check metrics`.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <tuple>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http.hpp"
#include "http_client.hpp"
#include "live_market.hpp"
#include "process.hpp"
#include "replay_process.hpp"
#include "schemas/alerts_generated.h"
#include "schemas/news_generated.h"
#include "schemas/process_status_generated.h"
#include "test_env.hpp"
#include "vs/outbox/outbox.hpp"

namespace {

using namespace std::chrono_literals;
using vs::test::child_process;
using vs::test::logged_to;
namespace json = boost::json;
using vs::schema::RecordType;

constexpr auto type_of(RecordType t) { return static_cast<vs::bus::record_type>(t); }

std::span<const std::byte> bytes(const flatbuffers::FlatBufferBuilder& fbb)
{
    return {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

class FeedsProcessTest : public ::testing::Test {
protected:
    void TearDown() override
    {
        if (HasFailure() && api_) {
            std::cerr << "---- vs-api ----\n" << vs::test::tail_of(env_.state_dir() / "api.log") << "\n";
        }
    }

    void start_api(std::vector<std::string> extra = {})
    {
        port_ = vs::test::free_port();
        std::vector<std::string> argv{VS_API_EXE,           "--listen",     "127.0.0.1:" + std::to_string(port_),
                                      "--bus-prefix",       env_.prefix(),  "--state-dir",
                                      env_.state_dir().string(), "--threads", "2",
                                      "--status-interval-ms", "100"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        api_.emplace(argv, logged_to(env_.state_dir() / "api.log"));
        ASSERT_TRUE(vs::test::eventually([&] {
            try {
                return vs::api::test::http_get(port_, "/").result_int() == 200;
            } catch (const std::exception&) {
                return false;
            }
        }, 10s)) << api_->output();
    }

    std::pair<int, json::value> get(const std::string& target)
    {
        const auto r = vs::api::test::http_get(port_, target);
        return {r.result_int(), json::parse(r.body())};
    }

    /// The outbox of the test's state directory with prod, dev and telegram configured.
    vs::outbox::outbox& outbox()
    {
        if (!outbox_) {
            vs::outbox::outbox_options o;
            vs::outbox::target_set t;
            t.add(vs::outbox::target::prod);
            t.add(vs::outbox::target::dev);
            t.add(vs::outbox::target::telegram);
            o.targets = t;
            outbox_ = vs::outbox::outbox::open(env_.state_dir(), o);
        }
        return *outbox_;
    }
    std::string enqueue(const std::string& kind)
    {
        vs::outbox::alert a;
        a.kind = kind;
        a.backend = vs::outbox::backend_call{"/api/test/ingest", "{}"};
        a.text = kind + " alert";
        return outbox().enqueue(a);
    }

    static void oi_alert(vs::bus::writer& w, const std::string& symbol, const std::string& id, std::int64_t ms)
    {
        flatbuffers::FlatBufferBuilder fbb;
        fbb.Finish(vs::schema::CreateOiSpikeAlertDirect(fbb, symbol.c_str(), ms, ms * 1'000'000,
                                                        vs::schema::MarketType::UsdM, id.c_str(), "5m", 1, 1000.0,
                                                        1100.0, 0.1, 100.0, 42.0, 46200.0));
        w.publish(type_of(RecordType::OiSpikeAlert), symbol, bytes(fbb), vs::realtime_ns(), vs::bus::to_ring);
    }
    static void liquidation_alert(vs::bus::writer& w, const std::string& symbol, const std::string& id, std::int64_t ms)
    {
        flatbuffers::FlatBufferBuilder fbb;
        fbb.Finish(vs::schema::CreateLiquidationAlertDirect(fbb, symbol.c_str(), ms, ms * 1'000'000,
                                                            vs::schema::MarketType::UsdM, id.c_str(),
                                                            vs::schema::Side::Sell, 2000.0, 600.0, 1'200'000.0, 3));
        w.publish(type_of(RecordType::LiquidationAlert), symbol, bytes(fbb), vs::realtime_ns());
    }
    static void whale_alert(vs::bus::writer& w, const std::string& symbol, const std::string& id, std::int64_t ms)
    {
        flatbuffers::FlatBufferBuilder fbb;
        fbb.Finish(vs::schema::CreateWhaleTradeAlertDirect(fbb, symbol.c_str(), ms, ms * 1'000'000,
                                                           vs::schema::MarketType::UsdM, id.c_str(),
                                                           vs::schema::Side::Buy, 50000.0, 40.0, 2'000'000.0));
        w.publish(type_of(RecordType::WhaleTradeAlert), symbol, bytes(fbb), vs::realtime_ns());
    }
    static void volume_alert(vs::bus::writer& w, const std::string& symbol, std::int64_t ms)
    {
        flatbuffers::FlatBufferBuilder fbb;
        fbb.Finish(vs::schema::CreateVolumeSpikeAlertDirect(fbb, symbol.c_str(), ms, ms * 1'000'000,
                                                            vs::schema::MarketType::UsdM, nullptr, "spike", ms,
                                                            150e6, 45e6, 3.33, 2.5, 0.0001, true));
        w.publish(type_of(RecordType::VolumeSpikeAlert), symbol, bytes(fbb), vs::realtime_ns());
    }
    static void news_post(vs::bus::writer& w, const std::string& channel, std::int64_t id, std::int64_t ms,
                          const std::string& text, bool edited = false)
    {
        flatbuffers::FlatBufferBuilder fbb;
        std::vector<flatbuffers::Offset<flatbuffers::String>> links{fbb.CreateString("https://example.com/" + std::to_string(id))};
        const auto url = "https://t.me/" + channel + "/" + std::to_string(id);
        fbb.Finish(vs::schema::CreateNewsPostDirect(fbb, channel.c_str(), ms, ms * 1'000'000,
                                                    vs::schema::MarketType::Unknown, id, -1001234, "Market Feed",
                                                    "macro", text.c_str(), 1200, nullptr, &links, nullptr, edited,
                                                    url.c_str()));
        w.publish(type_of(RecordType::NewsPost), channel, bytes(fbb), vs::realtime_ns());
    }

    vs::test::test_env env_;
    std::uint16_t port_ = 0;
    std::optional<child_process> api_;
    std::unique_ptr<vs::outbox::outbox> outbox_;
};

TEST_F(FeedsProcessTest, HelpNamesTheNewRoutesAndOptions)
{
    child_process p{{VS_API_EXE, "--help"}, logged_to(env_.state_dir() / "help")};
    EXPECT_EQ(p.wait(10s), 0);
    const auto text = p.output();
    for (const char* s : {"/alerts", "/news", "/health", "--alert-channels", "VS_API_ALERT_CHANNELS",
                          "volume,oi,user_alerts,liquidations", "--news-channel", "VS_API_NEWS_CHANNEL", "--state-dir",
                          "read-only"}) {
        EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
    }
}

TEST_F(FeedsProcessTest, AlertsFromEveryChannelNewestFirstWithDeliveryStatesFiltersAndLimit)
{
    // Delivery states in the real outbox: id1 prod delivered, dev pending, telegram dead;
    // id2 delivered everywhere; id3 pending everywhere.
    const auto id1 = enqueue("oi");
    const auto id2 = enqueue("liquidation");
    const auto id3 = enqueue("whale");
    ASSERT_EQ(id1.size(), 16u);
    const auto now_ms = vs::realtime_ns() / 1'000'000;
    outbox().mark_delivered(vs::outbox::target::prod, {id1}, now_ms);
    outbox().mark_dead(vs::outbox::target::telegram, id1, "400 chat not found", now_ms);
    for (auto t : {vs::outbox::target::prod, vs::outbox::target::dev, vs::outbox::target::telegram}) {
        outbox().mark_delivered(t, {id2}, now_ms);
    }

    vs::api::test::live_channel volume{env_.prefix(), "volume"};
    vs::api::test::live_channel oi{env_.prefix(), "oi"};
    vs::api::test::live_channel liq{env_.prefix(), "liquidations"};
    // Published before vs-api starts: found in the volume channel's latest table.
    volume.run([&](vs::bus::writer& w) { volume_alert(w, "SOLUSDT", now_ms - 5000); });
    start_api();   // user_alerts does not exist: skipped

    oi.run([&](vs::bus::writer& w) { oi_alert(w, "BTCUSDT", id1, now_ms - 3000); });
    liq.run([&](vs::bus::writer& w) { liquidation_alert(w, "ETHUSDT", id2, now_ms - 2000); });
    liq.run([&](vs::bus::writer& w) { whale_alert(w, "BTCUSDT", id3, now_ms - 1000); });

    json::array alerts;
    ASSERT_TRUE(vs::test::eventually([&] {
        alerts = get("/alerts").second.at("alerts").as_array();
        return alerts.size() == 4;
    }, 5s)) << json::serialize(alerts);

    // Newest first.
    EXPECT_EQ(alerts[0].at("id"), json::value(id3));
    EXPECT_EQ(alerts[0].at("type"), "WhaleTradeAlert");
    EXPECT_EQ(alerts[0].at("channel"), "liquidations");
    EXPECT_EQ(alerts[0].at("symbol"), "BTCUSDT");
    EXPECT_EQ(alerts[0].at("time_ms").to_number<std::int64_t>(), now_ms - 1000);
    EXPECT_EQ(alerts[0].at("summary"), "BTCUSDT whale BUY $2.00M at 50000");
    EXPECT_EQ(alerts[0].at("delivery"), (json::object{{"prod", "pending"}, {"dev", "pending"}, {"telegram", "pending"}}));

    EXPECT_EQ(alerts[1].at("id"), json::value(id2));
    EXPECT_EQ(alerts[1].at("type"), "LiquidationAlert");
    EXPECT_EQ(alerts[1].at("fields").at("side"), "SELL");
    EXPECT_EQ(alerts[1].at("fields").at("count").to_number<int>(), 3);
    EXPECT_EQ(alerts[1].at("fields").at("notional_usd").to_number<double>(), 1'200'000.0);
    EXPECT_EQ(alerts[1].at("summary"), "ETHUSDT LONG liquidation $1.20M (3 orders) at 2000");
    EXPECT_EQ(alerts[1].at("delivery"),
              (json::object{{"prod", "delivered"}, {"dev", "delivered"}, {"telegram", "delivered"}}));

    EXPECT_EQ(alerts[2].at("id"), json::value(id1));
    EXPECT_EQ(alerts[2].at("type"), "OiSpikeAlert");
    EXPECT_EQ(alerts[2].at("channel"), "oi");
    EXPECT_EQ(alerts[2].at("fields").at("timeframe"), "5m");
    EXPECT_EQ(alerts[2].at("fields").at("current_oi").to_number<double>(), 1100.0);
    EXPECT_EQ(alerts[2].at("delivery"), (json::object{{"prod", "delivered"}, {"dev", "pending"}, {"telegram", "dead"}}));

    // The seeded volume alert: no alert_id, so no outbox entry and no delivery member.
    EXPECT_EQ(alerts[3].at("type"), "VolumeSpikeAlert");
    EXPECT_EQ(alerts[3].at("symbol"), "SOLUSDT");
    EXPECT_EQ(alerts[3].at("fields").at("volume_ratio").to_number<double>(), 3.33);
    EXPECT_FALSE(alerts[3].as_object().contains("delivery"));

    // The states are read at request time: dev delivers id1.
    outbox().mark_delivered(vs::outbox::target::dev, {id1}, now_ms);
    EXPECT_EQ(get("/alerts?type=oi").second.at("alerts").at(0).at("delivery").at("dev"), "delivered");

    // Filters: the RecordType name or the short kind, case-insensitively; symbol; limit.
    const auto ids = [&](const std::string& target) {
        std::vector<std::string> out;
        const auto body = get(target).second;
        for (const auto& a : body.at("alerts").as_array()) {
            out.emplace_back(a.at("id").as_string());
        }
        return out;
    };
    EXPECT_EQ(ids("/alerts?type=oispikealert"), std::vector<std::string>{id1});
    EXPECT_EQ(ids("/alerts?type=OI"), std::vector<std::string>{id1});
    EXPECT_EQ(ids("/alerts?type=whale"), std::vector<std::string>{id3});
    EXPECT_EQ(ids("/alerts?type=LiquidationAlert"), std::vector<std::string>{id2});
    EXPECT_EQ(ids("/alerts?symbol=btcusdt"), (std::vector<std::string>{id3, id1}));
    EXPECT_EQ(ids("/alerts?symbol=BTCUSDT&type=oi"), std::vector<std::string>{id1});
    EXPECT_EQ(ids("/alerts?limit=2"), (std::vector<std::string>{id3, id2}));
    EXPECT_EQ(ids("/alerts?type=user").size(), 0u);
    EXPECT_EQ(get("/alerts?limit=5000").second.at("alerts").as_array().size(), 4u);   // capped at 1000
    EXPECT_EQ(get("/alerts?type=nonsense").first, 400);
    EXPECT_EQ(get("/alerts?limit=abc").first, 400);
    EXPECT_EQ(get("/alerts?limit=0").first, 400);
    EXPECT_EQ(get("/alerts?symbol=%ZZ").first, 400);
    EXPECT_EQ(api_->terminate(10s), 0);
}

TEST_F(FeedsProcessTest, AlertsPublishedBeforeTheApiStartedComeFromTheOutbox)
{
    // An OI alert (ring-only on the bus) committed with its bus record before vs-api runs.
    vs::outbox::alert a;
    a.kind = "oi";
    a.backend = vs::outbox::backend_call{"/api/oi-alerts/ingest", "{}"};
    const auto ms = vs::realtime_ns() / 1'000'000 - 60'000;
    a.bus = vs::outbox::bus_record{};
    a.bus->channel = "oi";
    a.bus->type = type_of(RecordType::OiSpikeAlert);
    a.bus->symbol = "XRPUSDT";
    a.bus->build = [&](std::string_view id) {
        flatbuffers::FlatBufferBuilder fbb;
        fbb.Finish(vs::schema::CreateOiSpikeAlertDirect(fbb, "XRPUSDT", ms, 0, vs::schema::MarketType::UsdM,
                                                        std::string{id}.c_str(), "1h", 1, 100, 150, 0.5, 50));
        return std::string{reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()};
    };
    const auto id = outbox().commit("vs-oi", {a}, {}).at(0);
    ASSERT_EQ(id.size(), 16u);
    outbox().mark_delivered(vs::outbox::target::prod, {id}, ms);
    vs::api::test::live_channel oi{env_.prefix(), "oi"};   // empty: the alert is in the outbox only
    start_api();
    json::array alerts;
    ASSERT_TRUE(vs::test::eventually([&] {
        alerts = get("/alerts").second.at("alerts").as_array();
        return alerts.size() == 1;
    }, 5s)) << json::serialize(alerts);
    EXPECT_EQ(alerts[0].at("id"), json::value(id));
    EXPECT_EQ(alerts[0].at("symbol"), "XRPUSDT");
    EXPECT_EQ(alerts[0].at("time_ms").to_number<std::int64_t>(), ms);
    EXPECT_EQ(alerts[0].at("summary"), "XRPUSDT open interest up 50.00% in 1h (now 150)");
    EXPECT_EQ(alerts[0].at("delivery").at("prod"), "delivered");
    // The same alert on the ring later is not listed twice.
    oi.run([&](vs::bus::writer& w) { oi_alert(w, "XRPUSDT", id, ms); });
    oi.run([&](vs::bus::writer& w) { oi_alert(w, "XRPUSDT", "", ms + 1); });
    ASSERT_TRUE(vs::test::eventually([&] { return get("/alerts").second.at("alerts").as_array().size() == 2; }, 5s));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(get("/alerts").second.at("alerts").as_array().size(), 2u);
}

TEST_F(FeedsProcessTest, AlertsWithoutAnOutboxHaveNoDeliveryStates)
{
    vs::api::test::live_channel oi{env_.prefix(), "oi"};
    start_api();
    const auto now_ms = vs::realtime_ns() / 1'000'000;
    oi.run([&](vs::bus::writer& w) { oi_alert(w, "BTCUSDT", "0123456789abcdef", now_ms); });
    json::array alerts;
    ASSERT_TRUE(vs::test::eventually([&] {
        const auto [status, body] = get("/alerts");
        alerts = body.at("alerts").as_array();
        return status == 200 && alerts.size() == 1;
    }, 5s));
    EXPECT_EQ(alerts[0].at("id"), "0123456789abcdef");
    EXPECT_FALSE(alerts[0].as_object().contains("delivery"));
    EXPECT_FALSE(std::filesystem::exists(env_.state_dir() / "outbox.lmdb")) << "vs-api never creates the outbox";
}

TEST_F(FeedsProcessTest, NewsLatestPostsPerChannelNewestFirst)
{
    vs::api::test::live_channel news{env_.prefix(), "news"};
    const auto t = vs::realtime_ns() / 1'000'000 - 60'000;
    news.run([&](vs::bus::writer& w) { news_post(w, "marketfeed", 101, t, "first"); });   // before vs-api: table seed
    start_api();
    news.run([&](vs::bus::writer& w) {
        news_post(w, "marketfeed", 102, t + 1000, "second");
        news_post(w, "wublockchain", 7, t + 1500, "other channel");
        news_post(w, "marketfeed", 103, t + 2000, "third");
        news_post(w, "marketfeed", 102, t + 1000, "second, edited", true);
    });
    json::array channels;
    ASSERT_TRUE(vs::test::eventually([&] {
        channels = get("/news").second.at("channels").as_array();
        return channels.size() == 2 && channels[0].at("posts").as_array().size() == 3 &&
               channels[0].at("posts").at(1).at("text") == "second, edited";
    }, 5s)) << json::serialize(channels);
    EXPECT_EQ(channels[0].at("channel"), "marketfeed");
    const auto& posts = channels[0].at("posts").as_array();
    EXPECT_EQ(posts[0].at("id").to_number<std::int64_t>(), 103);
    EXPECT_EQ(posts[0].at("text"), "third");
    EXPECT_EQ(posts[0].at("time_ms").to_number<std::int64_t>(), t + 2000);
    EXPECT_EQ(posts[0].at("url"), "https://t.me/marketfeed/103");
    EXPECT_EQ(posts[0].at("links"), (json::array{"https://example.com/103"}));
    EXPECT_EQ(posts[1].at("id").to_number<std::int64_t>(), 102);
    EXPECT_EQ(posts[1].at("edited"), true);
    EXPECT_EQ(posts[2].at("id").to_number<std::int64_t>(), 101);
    EXPECT_EQ(channels[1].at("channel"), "wublockchain");
    EXPECT_EQ(channels[1].at("posts").as_array().size(), 1u);

    const auto limited = get("/news?limit=1").second.at("channels").as_array();
    EXPECT_EQ(limited[0].at("posts").as_array().size(), 1u);
    EXPECT_EQ(limited[0].at("posts").at(0).at("id").to_number<std::int64_t>(), 103);
    EXPECT_EQ(get("/news?limit=x").first, 400);
}

TEST_F(FeedsProcessTest, EventsCarryAlertsAndNewsAsTheyArePublished)
{
    const auto id = enqueue("oi");
    vs::api::test::live_channel oi{env_.prefix(), "oi"};
    vs::api::test::live_channel news{env_.prefix(), "news"};
    start_api();
    vs::api::test::http_connection events{port_};
    events.send("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    std::string stream;
    ASSERT_TRUE(events.read_until(stream, [](const std::string& all) { return all.find("event: snapshot") != std::string::npos; },
                                  5s)) << stream;
    const auto now_ms = vs::realtime_ns() / 1'000'000;
    const auto t0 = std::chrono::steady_clock::now();
    oi.run([&](vs::bus::writer& w) { oi_alert(w, "BTCUSDT", id, now_ms); });
    news.run([&](vs::bus::writer& w) { news_post(w, "marketfeed", 555, now_ms, "breaking"); });
    ASSERT_TRUE(events.read_until(stream, [](const std::string& all) {
        return all.find("event: alert\n") != std::string::npos && all.find("event: news\n") != std::string::npos;
    }, 5s)) << stream;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    const auto data_of = [&](const std::string& event) {
        const auto at = stream.find("event: " + event + "\ndata: ");
        const auto begin = at + event.size() + 14;
        return json::parse(stream.substr(begin, stream.find('\n', begin) - begin));
    };
    const auto alert = data_of("alert");
    EXPECT_EQ(alert.at("id"), json::value(id));
    EXPECT_EQ(alert.at("type"), "OiSpikeAlert");
    EXPECT_EQ(alert.at("symbol"), "BTCUSDT");
    EXPECT_EQ(alert.at("delivery").at("prod"), "pending");
    EXPECT_EQ(alert, get("/alerts").second.at("alerts").at(0)) << "the same object as /alerts";
    const auto post = data_of("news");
    EXPECT_EQ(post.at("id").to_number<std::int64_t>(), 555);
    EXPECT_EQ(post.at("text"), "breaking");
    EXPECT_EQ(post, get("/news").second.at("channels").at(0).at("posts").at(0));

    // A client filtering symbols gets the alerts of those symbols only.
    vs::api::test::http_connection eth{port_};
    eth.send("GET /events?symbols=ETHUSDT HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    std::string eth_stream;
    ASSERT_TRUE(eth.read_until(eth_stream, [](const std::string& all) { return all.find("event: snapshot") != std::string::npos; },
                               5s));
    oi.run([&](vs::bus::writer& w) {
        oi_alert(w, "BTCUSDT", "", now_ms + 1);
        oi_alert(w, "ETHUSDT", "", now_ms + 2);
    });
    ASSERT_TRUE(eth.read_until(eth_stream, [](const std::string& all) { return all.find("event: alert\n") != std::string::npos; },
                               5s)) << eth_stream;
    EXPECT_NE(eth_stream.find("\"symbol\":\"ETHUSDT\""), std::string::npos);
    EXPECT_EQ(eth_stream.find("\"symbol\":\"BTCUSDT\""), std::string::npos) << eth_stream;
}

TEST_F(FeedsProcessTest, HealthListsEveryProcessAnd503WhenOneIsUnhealthyOrGone)
{
    start_api();
    // Another process's status on its own channel (the skeleton's record, published here).
    vs::api::test::live_channel other{env_.prefix(), "worker"};
    const auto publish_status = [&](bool healthy, const std::string& reason) {
        other.run([&](vs::bus::writer& w) {
            flatbuffers::FlatBufferBuilder fbb;
            const auto now = vs::realtime_ns();
            fbb.Finish(vs::schema::CreateProcessStatusDirect(fbb, "vs-worker", now / 1'000'000, now,
                                                             vs::schema::MarketType::Unknown, 4242, "1.0",
                                                             now - 1'000'000'000, true, healthy, reason.c_str(),
                                                             nullptr, false, 1000));
            w.publish(type_of(RecordType::ProcessStatus), "vs-worker", bytes(fbb), now, vs::bus::to_table);
        });
    };
    publish_status(true, "");
    json::value body;
    int status = 0;
    ASSERT_TRUE(vs::test::eventually([&] {
        std::tie(status, body) = get("/health");
        return body.at("processes").as_array().size() == 2;
    }, 5s)) << json::serialize(body);
    EXPECT_EQ(status, 200) << json::serialize(body);
    EXPECT_EQ(body.at("healthy"), true);
    const auto& api = body.at("processes").at(0);
    EXPECT_EQ(api.at("name"), "vs-api");
    EXPECT_EQ(api.at("alive"), true);
    EXPECT_EQ(api.at("pid").to_number<std::int64_t>(), api_->pid());
    const auto& worker = body.at("processes").at(1);
    EXPECT_EQ(worker.at("name"), "vs-worker");
    EXPECT_EQ(worker.at("channel"), "worker");
    EXPECT_EQ(worker.at("pid").to_number<std::int64_t>(), 4242);
    EXPECT_GT(worker.at("updated_ms").to_number<std::int64_t>(), 0);

    publish_status(false, "outbox commit failed: disk full");
    std::tie(status, body) = get("/health");
    EXPECT_EQ(status, 503);
    EXPECT_EQ(body.at("healthy"), false);
    EXPECT_EQ(body.at("processes").at(1).at("healthy"), false);
    EXPECT_EQ(body.at("processes").at(1).at("alive"), true);
    EXPECT_EQ(body.at("processes").at(1).at("reason"), "outbox commit failed: disk full");

    publish_status(true, "");
    EXPECT_EQ(get("/health").first, 200);
    other.kill();   // the writer is gone: not running
    ASSERT_TRUE(vs::test::eventually([&] {
        std::tie(status, body) = get("/health");
        return status == 503;
    }, 5s)) << json::serialize(body);
    EXPECT_EQ(body.at("processes").at(1).at("alive"), false);
    EXPECT_NE(std::string{body.at("processes").at(1).at("reason").as_string()}.find("not running"), std::string::npos);
    // /funding/health keeps its own shape.
    const auto fh = vs::api::test::http_get(port_, "/funding/health");
    EXPECT_TRUE(json::parse(fh.body()).as_object().contains("status")) << fh.body();
}

TEST_F(FeedsProcessTest, MetricsOfAHostPassPromtool)
{
    if (std::string{VS_PROMTOOL}.empty()) {
        GTEST_SKIP() << "promtool not installed (Debian package prometheus, scripts/setup.sh)";
    }
    vs::test::replay_process replay{VS_REPLAY_EXE, {"--symbols", "20", "--log-level", "warn"},
                                    vs::test::process_options{.err = vs::test::sink::file(env_.state_dir() / "replay.log")},
                                    10s};
    ASSERT_NE(replay.port(), 0);
    std::filesystem::create_directories(env_.state_dir() / "feed");
    child_process feed{{VS_FEED_EXE, "--ws-url", replay.ws_url(), "--rest-url", replay.http_url(), "--bus-prefix",
                        env_.prefix(), "--state-dir", (env_.state_dir() / "feed").string(), "--klines", "off",
                        "--status-interval-ms", "200"},
                       logged_to(env_.state_dir() / "feed.log")};
    child_process deliver{{VS_DELIVER_EXE, "--bus-prefix", env_.prefix(), "--state-dir", env_.state_dir().string(),
                           "--status-interval-ms", "200"},
                          logged_to(env_.state_dir() / "deliver.log",
                                    {{"VOLSPIKE_API_URL", replay.http_url()}, {"VOLSPIKE_API_KEY", "test-key"}})};
    start_api();
    std::string scrape;
    ASSERT_TRUE(vs::test::eventually([&] {
        scrape = vs::api::test::http_get(port_, "/metrics").body();
        return scrape.find("vs_process_healthy{process=\"vs-feed\",channel=\"market\"} 1") != std::string::npos &&
               scrape.find("vs_process_messages_received_total{process=\"vs-feed\"") != std::string::npos &&
               scrape.find("vs_process_up{process=\"vs-deliver\"") != std::string::npos &&
               scrape.find("vs_feed_connected 1") != std::string::npos;
    }, 20s)) << scrape << vs::test::tail_of(env_.state_dir() / "feed.log") << vs::test::tail_of(env_.state_dir() / "deliver.log");
    // Every channel's header facts, every process's counters as their own families.
    EXPECT_NE(scrape.find("vs_bus_writer_alive{channel=\"deliver\"} 1"), std::string::npos);
    EXPECT_NE(scrape.find("vs_bus_ring_bytes{channel=\"api\"}"), std::string::npos);
    EXPECT_NE(scrape.find("# TYPE vs_process_messages_received_total counter"), std::string::npos) << scrape;
    EXPECT_NE(scrape.find("vs_process_connections_open{process=\"vs-api\",channel=\"api\"}"), std::string::npos);

    const auto file = env_.state_dir() / "metrics.txt";
    {
        std::ofstream f{file};
        f << scrape;
    }
    child_process check{{"/bin/sh", "-c", std::string{VS_PROMTOOL} + " check metrics < " + file.string() + " 2>&1"},
                        vs::test::process_options{}};
    const auto rc = check.wait(30s);
    const auto report = check.output();
    EXPECT_EQ(rc, 0) << report << "\n" << scrape;
    EXPECT_EQ(report, "") << "promtool lint problems:\n" << report;
    EXPECT_EQ(feed.terminate(10s), 0);
    EXPECT_EQ(deliver.terminate(10s), 0);
    EXPECT_EQ(api_->terminate(10s), 0);
}

}  // namespace
