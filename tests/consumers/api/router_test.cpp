#include "vs/api/router.hpp"

#include <optional>
#include <set>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "live_market.hpp"
#include "test_env.hpp"
#include "vs/api/bus_source.hpp"
#include "vs/api/memory_source.hpp"

namespace {

namespace json = boost::json;
using vs::api::bench::publish;
using vs::test::mark_price_fields;

constexpr const char* chinese = "\xe5\xb8\x81\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9fUSDT";   // 币安人生USDT

struct reply {
    unsigned status = 0;
    std::string content_type;
    std::string body;
    json::value json() const { return json::parse(body); }
};

std::set<std::string> keys_of(const json::object& o)
{
    std::set<std::string> k;
    for (const auto& kv : o) {
        k.insert(std::string{kv.key()});
    }
    return k;
}

class RouterTest : public ::testing::Test {
protected:
    RouterTest()
        : market_(env_.prefix(), "market"), source_(env_.prefix(), "market", "oi"), sut_(config(), source_)
    {
        publish_market(vs::realtime_ns());
    }

    static vs::api::router_config config()
    {
        vs::api::router_config c;
        c.started_ns = vs::realtime_ns() - 42'000'000'000;
        return c;
    }

    void publish_market(std::int64_t now)
    {
        market_.run([&](vs::bus::writer& w) {
            const mark_price_fields btc{.symbol = "BTCUSDT",
                                        .recv_time_ns = now,
                                        .mark_price = 65000.5,
                                        .index_price = 65000.25,
                                        .funding_rate = 0.0001};
            publish(w, btc);
            mark_price_fields eth = btc;
            eth.symbol = "ETHUSDT";
            eth.mark_price = 3500.25;
            eth.funding_interval_hours = 4;
            publish(w, eth);
            mark_price_fields other = btc;
            other.symbol = chinese;
            publish(w, other);
            other.symbol = "STALEUSDT";
            other.recv_time_ns = now - 200'000'000'000;   // 200 s old
            publish(w, other);
            mark_price_fields coin = btc;
            coin.symbol = "BTCUSD_PERP";
            coin.market = vs::schema::MarketType::CoinM;
            publish(w, coin);
            coin.market = vs::schema::MarketType::Unknown;
            coin.symbol = "ETHUSD_PERP";
            publish(w, coin);
            coin.symbol = "ETHUSD_250627";
            publish(w, coin);
            publish(w, vs::test::ticker_around("BTCUSDT", 65001.0, 12e9, now));
            publish(w, vs::test::ticker_around("BTCUSD_PERP", 65001.0, 1e5, now, vs::schema::MarketType::CoinM));
            publish(w, vs::test::healthy_feed_status(4, now));
        });
    }

    reply get(std::string_view target, std::string_view method = "GET")
    {
        vs::api::response res;
        sut_.handle({method, target}, res);
        return {res.status, std::string{res.content_type}, std::string{res.payload()}};
    }

    vs::test::test_env env_;
    vs::api::test::live_channel market_;
    vs::api::bus_source source_;
    vs::api::router sut_;
};

TEST_F(RouterTest, SingleSymbolHasTheOldFieldNamesAndValues)
{
    const auto r = get("/funding/BTCUSDT");
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    const auto o = r.json().as_object();
    EXPECT_EQ(keys_of(o), (std::set<std::string>{"symbol", "markPrice", "fundingRate", "nextFundingTime", "indexPrice",
                                                  "updatedAt", "ageSeconds", "fundingIntervalHours"}));
    EXPECT_EQ(o.at("symbol").as_string(), "BTCUSDT");
    EXPECT_DOUBLE_EQ(o.at("markPrice").to_number<double>(), 65000.5);
    EXPECT_DOUBLE_EQ(o.at("indexPrice").to_number<double>(), 65000.25);
    EXPECT_DOUBLE_EQ(o.at("fundingRate").to_number<double>(), 0.0001);
    EXPECT_EQ(o.at("nextFundingTime").to_number<std::int64_t>(), 1702656000000);
    EXPECT_EQ(o.at("fundingIntervalHours").to_number<int>(), 8);
    const double updated = o.at("updatedAt").to_number<double>();
    EXPECT_NEAR(updated, static_cast<double>(vs::realtime_ns()) * 1e-9, 5.0);   // seconds, float
    EXPECT_GE(o.at("ageSeconds").to_number<double>(), 0.0);
    EXPECT_LT(o.at("ageSeconds").to_number<double>(), 5.0);
}

TEST_F(RouterTest, SymbolIsCaseInsensitiveAndUtf8UrlEncoded)
{
    EXPECT_EQ(get("/funding/btcusdt").json().at("symbol").as_string(), "BTCUSDT");
    const auto r = get("/funding/%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9Fusdt");
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.json().at("symbol").as_string(), chinese);
}

TEST_F(RouterTest, UnknownSymbolIs404WithTheOldBody)
{
    const auto r = get("/funding/NOPEUSDT");
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.json(), json::parse(R"({"error":"Symbol not found","symbol":"NOPEUSDT"})"));
}

TEST_F(RouterTest, MalformedSymbolIs400)
{
    for (const char* t : {"/funding/%ZZ", "/funding/A%22B", "/funding/%FFUSDT", "/funding/A%00B", "/funding/BTC%20USDT",
                          "/funding/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAUSDT", "/funding/%E5%B8"}) {
        const auto r = get(t);
        EXPECT_EQ(r.status, 400u) << t;
        EXPECT_EQ(r.json().at("error").as_string(), "Malformed symbol") << t;
    }
}

TEST_F(RouterTest, StaleRecordIs503WithItsFields)
{
    const auto r = get("/funding/STALEUSDT");
    EXPECT_EQ(r.status, 503u);
    EXPECT_EQ(r.json().at("error").as_string(), "Data stale");
    EXPECT_GT(r.json().at("ageSeconds").to_number<double>(), 180.0);
}

TEST_F(RouterTest, DeadWriterMakesRecordsAndHealth503)
{
    market_.kill();
    // Liveness is refreshed every 100 ms per reader.
    auto r = get("/funding/BTCUSDT");
    for (int i = 0; i < 50 && r.status != 503; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
        r = get("/funding/BTCUSDT");
    }
    EXPECT_EQ(r.status, 503u) << r.body;
    EXPECT_EQ(r.json().at("error").as_string(), "Feed writer not alive");
    EXPECT_DOUBLE_EQ(r.json().at("markPrice").to_number<double>(), 65000.5);   // last value still shown
    const auto h = get("/funding/health");
    EXPECT_EQ(h.status, 503u);
    EXPECT_EQ(h.json().at("writerAlive").as_bool(), false);
    EXPECT_NE(std::string{h.json().at("reason").as_string()}.find("feed writer not alive"), std::string::npos);
}

TEST_F(RouterTest, CoinMRowsStayOutOfUsdMEndpoints)
{
    EXPECT_EQ(get("/funding/BTCUSD_PERP").status, 404u);
    EXPECT_EQ(get("/funding/ETHUSD_PERP").status, 404u);     // Unknown market, COIN-M name
    EXPECT_EQ(get("/funding/ETHUSD_250627").status, 404u);
    EXPECT_EQ(get("/tickers/BTCUSD_PERP").status, 404u);
    const auto all = get("/funding").json();
    EXPECT_FALSE(all.at("data").as_object().contains("BTCUSD_PERP"));
    EXPECT_FALSE(all.at("data").as_object().contains("ETHUSD_PERP"));
    EXPECT_EQ(all.at("count").to_number<int>(), 4);   // BTC, ETH, 币安人生, STALE
    const auto b = get("/funding/batch?symbols=BTCUSD_PERP,BTCUSDT").json();
    EXPECT_EQ(b.at("missing"), json::parse(R"(["BTCUSD_PERP"])"));
}

TEST_F(RouterTest, BatchReturnsDataMissingAndStale)
{
    const auto r = get("/funding/batch?symbols=BTCUSDT,ethusdt,NOPEUSDT,STALEUSDT,BTCUSDT,,");
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto o = r.json().as_object();
    EXPECT_EQ(keys_of(o.at("data").as_object()), (std::set<std::string>{"BTCUSDT", "ETHUSDT", "STALEUSDT"}));
    EXPECT_EQ(o.at("missing"), json::parse(R"(["NOPEUSDT"])"));
    EXPECT_EQ(o.at("stale"), json::parse(R"(["STALEUSDT"])"));
    EXPECT_DOUBLE_EQ(o.at("data").at("ETHUSDT").at("markPrice").to_number<double>(), 3500.25);
    EXPECT_EQ(keys_of(o.at("data").at("BTCUSDT").as_object()), keys_of(get("/funding/BTCUSDT").json().as_object()));
}

TEST_F(RouterTest, BatchAcceptsUpTo1000SymbolsAndRejectsEmptyOrMore)
{
    std::string list;
    for (int i = 0; i < 1000; ++i) {
        list += (i ? "," : "") + vs::test::state_symbol(static_cast<std::size_t>(i));
    }
    const auto ok = get("/funding/batch?symbols=" + list);
    ASSERT_EQ(ok.status, 200u);
    EXPECT_EQ(ok.json().at("missing").as_array().size(), 998u);   // all but BTCUSDT, ETHUSDT
    EXPECT_EQ(get("/funding/batch?symbols=" + list + ",EXTRAUSDT").status, 400u);
    EXPECT_EQ(get("/funding/batch?symbols=").status, 400u);
    EXPECT_EQ(get("/funding/batch?symbols=,,").status, 400u);
    EXPECT_EQ(get("/funding/batch").status, 400u);
    EXPECT_EQ(get("/funding/batch?symbols=BTC%ZZ").status, 400u);
    EXPECT_EQ(get("/funding/batch?symbols=BTC%22USDT").json().at("symbol").as_string(), "BTC\"USDT");
}

TEST_F(RouterTest, BatchIsNotShadowedBySymbolRoute)
{
    const auto r = get("/funding/batch?symbols=BTCUSDT");
    ASSERT_EQ(r.status, 200u);
    EXPECT_TRUE(r.json().as_object().contains("data"));
}

TEST_F(RouterTest, AllFundingListsEveryUsdMSymbolAndMarksStale)
{
    const auto r = get("/funding");
    ASSERT_EQ(r.status, 200u);
    const auto o = r.json().as_object();
    EXPECT_EQ(keys_of(o.at("data").as_object()), (std::set<std::string>{"BTCUSDT", "ETHUSDT", "STALEUSDT", chinese}));
    EXPECT_EQ(o.at("stale"), json::parse(R"(["STALEUSDT"])"));
    EXPECT_TRUE(o.at("writerAlive").as_bool());
}

TEST_F(RouterTest, HealthHasTheOldFieldsWhenHealthy)
{
    const auto r = get("/funding/health");
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto o = r.json().as_object();
    for (const char* k : {"status", "websocketConnected", "symbolCount", "uptimeSeconds", "lastConnectedTime",
                          "messagesReceived", "reconnectAttempts", "oldestDataAgeSeconds", "newestDataAgeSeconds",
                          "writerAlive", "streams"}) {
        EXPECT_TRUE(o.contains(k)) << k;
    }
    EXPECT_EQ(o.at("status").as_string(), "healthy");
    EXPECT_TRUE(o.at("websocketConnected").as_bool());
    EXPECT_EQ(o.at("symbolCount").to_number<int>(), 4);
    EXPECT_NEAR(o.at("uptimeSeconds").to_number<double>(), 42.0, 5.0);
    EXPECT_EQ(o.at("messagesReceived").to_number<int>(), 36624);
    EXPECT_EQ(o.at("reconnectAttempts").to_number<int>(), 0);
    EXPECT_GT(o.at("oldestDataAgeSeconds").to_number<double>(), 180.0);   // STALEUSDT
    EXPECT_LT(o.at("newestDataAgeSeconds").to_number<double>(), 5.0);
    EXPECT_NEAR(o.at("lastConnectedTime").to_number<double>(), static_cast<double>(vs::realtime_ns()) * 1e-9 - 60, 5);
    EXPECT_EQ(o.at("streams").as_array().size(), 3u);
    EXPECT_TRUE(o.at("reason").is_null());
}

TEST_F(RouterTest, HealthIs503WhenAPriceStreamIsSilentThoughConnected)
{
    const auto now = vs::realtime_ns();
    market_.run([&](vs::bus::writer& w) {
        auto f = vs::test::healthy_feed_status(4, now);
        f.streams[0] = vs::test::feed_stream("!markPrice@arr@1s", now - 60'000'000'000, now);   // silent for 60 s
        publish(w, f);
    });
    const auto r = get("/funding/health");
    EXPECT_EQ(r.status, 503u);
    const auto o = r.json().as_object();
    EXPECT_EQ(o.at("status").as_string(), "unhealthy");
    EXPECT_TRUE(o.at("websocketConnected").as_bool());
    EXPECT_NE(std::string{o.at("reason").as_string()}.find("!markPrice@arr@1s"), std::string::npos);
    EXPECT_TRUE(o.at("streams").at(0).at("stale").as_bool());
}

TEST_F(RouterTest, HealthIs503WhenDisconnected)
{
    market_.run([&](vs::bus::writer& w) {
        auto f = vs::test::healthy_feed_status(4, vs::realtime_ns());
        f.connected = false;
        f.healthy = false;
        f.reason = "connect refused";
        publish(w, f);
    });
    const auto r = get("/funding/health");
    EXPECT_EQ(r.status, 503u);
    EXPECT_FALSE(r.json().at("websocketConnected").as_bool());
    EXPECT_EQ(r.json().at("reason").as_string(), "websocket disconnected: connect refused");
}

TEST_F(RouterTest, HealthIs503WithoutAnyBus)
{
    vs::api::bus_source nothing{env_.prefix() + "x", "market", "oi"};
    vs::api::router sut{config(), nothing};
    vs::api::response res;
    sut.handle({"GET", "/funding/health"}, res);
    EXPECT_EQ(res.status, 503u);
    sut.handle({"GET", "/funding/BTCUSDT"}, res);
    EXPECT_EQ(res.status, 503u);
    sut.handle({"GET", "/funding"}, res);
    EXPECT_EQ(res.status, 503u);
}

TEST_F(RouterTest, TickersServeOneAndAll)
{
    const auto one = get("/tickers/btcusdt");
    ASSERT_EQ(one.status, 200u) << one.body;
    EXPECT_DOUBLE_EQ(one.json().at("lastPrice").to_number<double>(), 65001.0);
    EXPECT_DOUBLE_EQ(one.json().at("quoteVolume").to_number<double>(), 12e9);
    EXPECT_EQ(get("/tickers/ETHUSDT").status, 404u);
    const auto all = get("/tickers").json();
    EXPECT_EQ(keys_of(all.at("data").as_object()), (std::set<std::string>{"BTCUSDT"}));
}

TEST_F(RouterTest, OpenInterestAndUniverseComeFromTheOiChannel)
{
    EXPECT_EQ(get("/oi/BTCUSDT").status, 503u);   // no oi channel yet
    vs::api::test::live_channel oi{env_.prefix(), "oi"};
    const auto now = vs::realtime_ns();
    oi.run([&](vs::bus::writer& w) {
        publish(w, vs::test::open_interest_fields{
                       .symbol = "BTCUSDT", .recv_time_ns = now, .open_interest = 1234.5, .mark_price = 65000.0});
        const std::vector<std::string_view> syms{"BTCUSDT", "ETHUSDT"};
        publish(w, vs::test::universe_fields{
                       .recv_time_ns = now, .symbols = syms, .added = syms, .removed = std::vector<std::string_view>{}});
    });
    // The reader re-tries attaching a missing channel every 50 ms.
    auto r = get("/oi/btcusdt");
    for (int i = 0; i < 100 && r.status != 200; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
        r = get("/oi/btcusdt");
    }
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_DOUBLE_EQ(r.json().at("openInterest").to_number<double>(), 1234.5);
    EXPECT_EQ(get("/oi").json().at("count").to_number<int>(), 1);
    const auto u = get("/universe");
    ASSERT_EQ(u.status, 200u) << u.body;
    EXPECT_EQ(u.json().at("symbols"), json::parse(R"(["BTCUSDT","ETHUSDT"])"));
}

// vs-oi's last alert per timeframe rides on the OpenInterest record (its durable state), so
// /oi/{symbol} shows it however far the oi ring has lapped: null for a timeframe that never fired.
TEST_F(RouterTest, OiSymbolShowsTheLastAlertPerTimeframe)
{
    vs::api::test::live_channel oi{env_.prefix(), "oi"};
    const auto now = vs::realtime_ns();
    oi.run([&](vs::bus::writer& w) {
        flatbuffers::FlatBufferBuilder fbb;
        std::vector<flatbuffers::Offset<vs::schema::OiLastAlert>> last{
            vs::schema::CreateOiLastAlertDirect(fbb, "5m", 1, 0.0412, 1'700'000'000'123, "0001a2b3c4d5e6f7"),
            vs::schema::CreateOiLastAlertDirect(fbb, "1h", -1, -0.125, 1'700'000'100'000, "")};
        const auto lv = fbb.CreateVector(last);
        fbb.Finish(vs::schema::CreateOpenInterest(fbb, fbb.CreateString("DOGEUSDT"), now / 1'000'000, now,
                                                  vs::schema::MarketType::UsdM, 2.5e9, 0.1, 2.5e8, lv));
        w.publish(static_cast<vs::bus::record_type>(vs::schema::RecordType::OpenInterest), "DOGEUSDT",
                  {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()}, now);
        publish(w, vs::test::open_interest_fields{
                       .symbol = "BTCUSDT", .recv_time_ns = now, .open_interest = 1234.5, .mark_price = 65000.0});
    });
    auto r = get("/oi/dogeusdt");
    for (int i = 0; i < 100 && r.status != 200; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
        r = get("/oi/dogeusdt");
    }
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto j = r.json();
    const auto& la = j.at("lastAlerts").as_object();
    ASSERT_EQ(keys_of(la), (std::set<std::string>{"5m", "15m", "1h"})) << r.body;
    const auto& five = la.at("5m").as_object();
    EXPECT_EQ(five.at("direction").as_string(), "UP");
    EXPECT_DOUBLE_EQ(five.at("pctChange").to_number<double>(), 0.0412);
    EXPECT_EQ(five.at("time").to_number<std::int64_t>(), 1'700'000'000'123);
    EXPECT_EQ(five.at("alertId").as_string(), "0001a2b3c4d5e6f7");
    EXPECT_TRUE(la.at("15m").is_null()) << r.body;
    EXPECT_EQ(la.at("1h").as_object().at("direction").as_string(), "DOWN");
    EXPECT_DOUBLE_EQ(la.at("1h").as_object().at("pctChange").to_number<double>(), -0.125);
    // A symbol that never alerted: every timeframe null; the /oi list carries the same member.
    const auto btc = get("/oi/BTCUSDT").json();
    for (const auto* tf : {"5m", "15m", "1h"}) {
        EXPECT_TRUE(btc.at("lastAlerts").at(tf).is_null()) << tf;
    }
    EXPECT_EQ(get("/oi").json().at("data").at("DOGEUSDT").at("lastAlerts").at("5m").at("alertId").as_string(),
              "0001a2b3c4d5e6f7");
}

TEST_F(RouterTest, RootListsNameVersionAndEndpoints)
{
    const auto r = get("/");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json().at("name").as_string(), "vs-api");
    EXPECT_EQ(r.json().at("version").as_string(), VS_VERSION);
    EXPECT_TRUE(r.json().at("endpoints").as_object().contains("/funding/batch?symbols=A,B"));
}

TEST_F(RouterTest, MetricsArePrometheusText)
{
    const auto r = get("/metrics");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.content_type.rfind("text/plain; version=0.0.4", 0), 0u);
    EXPECT_NE(r.body.find("vs_bus_writer_alive{channel=\"market\"} 1\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("vs_bus_records_published_total{channel=\"market\"} "), std::string::npos);
    EXPECT_NE(r.body.find("vs_bus_reader_laps_total{channel=\"market\"} "), std::string::npos);
    EXPECT_NE(r.body.find("vs_bus_writer_generation{channel=\"market\"} "), std::string::npos);
    EXPECT_NE(r.body.find("vs_feed_connected 1\n"), std::string::npos);
    EXPECT_NE(r.body.find("vs_feed_stream_stale{stream=\"!markPrice@arr@1s\"} 0\n"), std::string::npos);
}

TEST_F(RouterTest, JunkGetsJson4xx)
{
    const auto m = get("/funding/BTCUSDT", "DELETE");
    EXPECT_EQ(m.status, 405u);
    EXPECT_EQ(m.json().at("error").as_string(), "Method not allowed");
    const auto p = get("/funding/BTCUSDT/extra");
    EXPECT_EQ(p.status, 404u);
    EXPECT_EQ(p.json().at("error").as_string(), "Not found");
    EXPECT_EQ(get("http://example.com/funding").status, 400u);
    EXPECT_EQ(get("*").status, 400u);
    EXPECT_EQ(get("").status, 400u);
    EXPECT_EQ(get("/nope?%%%").status, 404u);
    const auto q = get("/funding/%22%3E%3Cscript%3E");
    EXPECT_EQ(q.status, 400u);
    EXPECT_NO_THROW((void)q.json());
}

TEST_F(RouterTest, HeadIsAnsweredLikeGet)
{
    vs::api::response res;
    sut_.handle({"HEAD", "/funding/BTCUSDT"}, res);
    EXPECT_EQ(res.status, 200u);
    EXPECT_TRUE(res.head);
}

TEST_F(RouterTest, EventsRouteValidatesItsFilter)
{
    EXPECT_EQ(get("/events").status, 200u);
    EXPECT_EQ(get("/events").content_type, "text/event-stream");
    EXPECT_EQ(get("/events?symbols=btcusdt,ETHUSDT").status, 200u);
    EXPECT_EQ(sut_.last_symbols(), (std::vector<std::string>{"BTCUSDT", "ETHUSDT"}));
    EXPECT_EQ(get("/events?symbols=%ZZ").status, 400u);
}

TEST_F(RouterTest, DashboardIsEmbeddedHtml)
{
    const auto r = get("/dashboard");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    EXPECT_NE(r.body.find("EventSource(\"/events\")"), std::string::npos);
}

TEST_F(RouterTest, RecordFailingVerificationOnTheBusIs503)
{
    const std::byte junk[] = {std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
                              std::byte{0x01}, std::byte{0x02}, std::byte{0x03}, std::byte{0x04}};
    market_.run([&](vs::bus::writer& w) {
        w.publish(static_cast<vs::bus::record_type>(vs::schema::RecordType::MarkPrice), "BADUSDT", junk,
                  vs::realtime_ns());
    });
    const auto r = get("/funding/badusdt");
    EXPECT_EQ(r.status, 503u) << r.body;
    EXPECT_EQ(r.json(), json::parse(R"({"error":"Record failed verification","symbol":"badusdt"})"));
}

// Every single-record route against every condition, on an in-memory source that can also
// give the read results the bus gives only under races (not attached, a slot mid-write).

namespace route_conditions {

using vs::api::channel_id;
using vs::bus::read_status;
using vs::bus::record_type;

constexpr auto mark_type = static_cast<record_type>(vs::schema::RecordType::MarkPrice);
constexpr auto ticker_type = static_cast<record_type>(vs::schema::RecordType::Ticker24h);
constexpr auto oi_type = static_cast<record_type>(vs::schema::RecordType::OpenInterest);
constexpr auto universe_type = static_cast<record_type>(vs::schema::RecordType::LiquidUniverse);

// A memory_source whose single-record reads can be forced to one result.
class scripted_source final : public vs::api::data_source {
public:
    vs::api::memory_source records;
    std::optional<read_status> forced;

    read_status latest(channel_id ch, record_type type, std::string_view symbol, vs::api::record_fn fn) override
    {
        return forced ? *forced : records.latest(ch, type, symbol, fn);
    }
    std::size_t for_each_latest(channel_id ch, record_type type, vs::api::record_fn fn) override
    {
        return records.for_each_latest(ch, type, fn);
    }
    vs::bus::channel_status status(channel_id ch) override { return records.status(ch); }
    std::string_view name(channel_id ch) const override { return records.name(ch); }
};

struct route_case {
    const char* name;
    const char* target;          // the served record, symbol in lower case
    channel_id channel;
    record_type type;
    const char* key;             // table key of the served record
    bool keyed;                  // the error bodies name the symbol
    bool usd_m_only;
    bool ages;
    const char* not_found;
    const char* channel_missing;
    const char* writer_dead;
    std::set<std::string> members;   // of a served record
};

const route_case cases[] = {
    {"Funding", "/funding/btcusdt", channel_id::market, mark_type, "BTCUSDT", true, true, true, "Symbol not found",
     "Market channel not available", "Feed writer not alive",
     {"symbol", "markPrice", "fundingRate", "nextFundingTime", "indexPrice", "updatedAt", "ageSeconds",
      "fundingIntervalHours"}},
    {"Tickers", "/tickers/btcusdt", channel_id::market, ticker_type, "BTCUSDT", true, true, true, "Symbol not found",
     "Market channel not available", "Feed writer not alive",
     {"symbol", "lastPrice", "priceChange", "priceChangePercent", "weightedAvgPrice", "openPrice", "highPrice",
      "lowPrice", "volume", "quoteVolume", "openTime", "closeTime", "count", "updatedAt", "ageSeconds"}},
    {"OpenInterest", "/oi/btcusdt", channel_id::oi, oi_type, "BTCUSDT", true, false, true, "Symbol not found",
     "OI channel not available", "OI writer not alive",
     {"symbol", "openInterest", "markPrice", "openInterestUsd", "time", "updatedAt", "ageSeconds", "lastAlerts"}},
    {"Universe", "/universe", channel_id::oi, universe_type, "", false, false, false,
     "No liquid universe published yet", "OI channel not available", "OI writer not alive",
     {"symbols", "added", "removed", "enterQuoteVolumeUsd", "exitQuoteVolumeUsd", "updatedAt", "ageSeconds"}},
};

// The record of `type` for `symbol`, received at recv_ns, in `market`.
std::vector<std::byte> build(record_type type, const char* symbol, std::int64_t recv_ns, vs::schema::MarketType market)
{
    const std::int64_t ms = recv_ns / 1'000'000;
    if (type == mark_type) {
        return vs::test::encode(vs::test::mark_price_fields{.symbol = symbol,
                                                            .recv_time_ns = recv_ns,
                                                            .market = market,
                                                            .mark_price = 65000.5,
                                                            .index_price = 65000.25,
                                                            .estimated_settle_price = 65000.0,
                                                            .funding_rate = 0.0001});
    }
    if (type == ticker_type) {
        return vs::test::encode(vs::test::ticker_fields{.symbol = symbol,
                                                        .recv_time_ns = recv_ns,
                                                        .market = market,
                                                        .pair = symbol,
                                                        .price_change = 650.0,
                                                        .price_change_percent = 1.0,
                                                        .weighted_avg_price = 64800.0,
                                                        .last_price = 65001.0,
                                                        .last_qty = 0.1,
                                                        .open_price = 64351.0,
                                                        .high_price = 66301.0,
                                                        .low_price = 63701.0,
                                                        .volume = 184615.0,
                                                        .quote_volume = 12e9,
                                                        .open_time_ms = ms - 86'400'000,
                                                        .close_time_ms = ms,
                                                        .first_trade_id = 1,
                                                        .last_trade_id = 1000,
                                                        .trade_count = 1000});
    }
    if (type == oi_type) {
        return vs::test::encode(vs::test::open_interest_fields{
            .symbol = symbol, .recv_time_ns = recv_ns, .market = market, .open_interest = 1234.5, .mark_price = 65000.0});
    }
    const std::vector<std::string_view> syms{"BTCUSDT"};
    return vs::test::encode(vs::test::universe_fields{.symbol = symbol,
                                                      .recv_time_ns = recv_ns,
                                                      .market = market,
                                                      .symbols = syms,
                                                      .added = syms,
                                                      .removed = std::vector<std::string_view>{}});
}

struct answer {
    unsigned status = 0;
    unsigned retry_after = 0;
    json::object body;
};

class SingleRecordRouteTest : public ::testing::TestWithParam<route_case> {
protected:
    SingleRecordRouteTest()
    {
        const auto now = vs::realtime_ns();
        for (const auto& c : cases) {
            put(c.channel, c.type, c.key, now, vs::schema::MarketType::UsdM);
        }
        set_writer_alive(channel_id::market, true);
        set_writer_alive(channel_id::oi, true);
    }

    void put(channel_id ch, record_type type, const char* key, std::int64_t recv_ns, vs::schema::MarketType market)
    {
        const auto b = build(type, key, recv_ns, market);
        src_.records.put(ch, type, key, b, recv_ns);
    }
    void set_writer_alive(channel_id ch, bool alive)
    {
        vs::bus::channel_status st;
        st.attached = true;
        st.writer_alive = alive;
        st.generation = 1;
        src_.records.set_status(ch, st);
    }

    answer get(std::string_view target, std::string_view method = "GET")
    {
        vs::api::response res;
        sut_.handle({method, target}, res);
        return {res.status, res.retry_after, json::parse(res.payload()).as_object()};
    }
    // The error body of a symbol route names the symbol as requested (lower case here).
    json::object error_body(const char* message) const
    {
        json::object o{{"error", message}};
        const auto& c = GetParam();
        if (c.keyed) {
            const std::string_view t{c.target};
            o["symbol"] = t.substr(t.rfind('/') + 1);
        }
        return o;
    }
    // Reads with `forced` as the source's result; expects the whole error answer.
    void expect_error(std::optional<read_status> forced, unsigned status, const char* message, unsigned retry_after)
    {
        src_.forced = forced;
        const auto a = get(GetParam().target);
        EXPECT_EQ(a.status, status);
        EXPECT_EQ(a.body, error_body(message));
        EXPECT_EQ(a.retry_after, retry_after);
    }

    scripted_source src_;
    vs::api::router sut_{vs::api::router_config{}, src_};
};

TEST_P(SingleRecordRouteTest, FreshRecordIs200WithItsFields)
{
    const auto a = get(GetParam().target);
    EXPECT_EQ(a.status, 200u) << json::serialize(a.body);
    EXPECT_EQ(keys_of(a.body), GetParam().members);
    EXPECT_EQ(a.retry_after, 0u);
}

TEST_P(SingleRecordRouteTest, ChannelNotAttachedIs503WithTheReason)
{
    expect_error(read_status::not_ready, 503, GetParam().channel_missing, 0);
}

TEST_P(SingleRecordRouteTest, MissingRecordIs404)
{
    expect_error(read_status::missing, 404, GetParam().not_found, 0);
}

TEST_P(SingleRecordRouteTest, SlotBeingWrittenIs503WithRetryAfter)
{
    expect_error(read_status::unavailable, 503, "Record unavailable, retry", 1);
}

TEST_P(SingleRecordRouteTest, RecordFailingVerificationIs503)
{
    const auto& c = GetParam();
    const std::byte junk[] = {std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}};
    src_.records.put(c.channel, c.type, c.key, junk, vs::realtime_ns());
    expect_error(std::nullopt, 503, "Record failed verification", 0);
}

TEST_P(SingleRecordRouteTest, RecordPastTheStaleThresholdIs503WithItsFieldsUnlessTheRouteHasNoAge)
{
    const auto& c = GetParam();
    put(c.channel, c.type, c.key, vs::realtime_ns() - 200'000'000'000, vs::schema::MarketType::UsdM);   // 200 s
    const auto a = get(c.target);
    if (!c.ages) {
        EXPECT_EQ(a.status, 200u) << json::serialize(a.body);
        EXPECT_EQ(keys_of(a.body), c.members);
        return;
    }
    EXPECT_EQ(a.status, 503u);
    EXPECT_EQ(a.body.at("error").as_string(), "Data stale");
    auto members = c.members;
    members.insert("error");
    EXPECT_EQ(keys_of(a.body), members);
    EXPECT_GT(a.body.at("ageSeconds").to_number<double>(), 180.0);
    EXPECT_EQ(a.retry_after, 0u);
}

TEST_P(SingleRecordRouteTest, DeadWriterIs503WithTheLastFields)
{
    const auto& c = GetParam();
    set_writer_alive(c.channel, false);
    const auto a = get(c.target);
    EXPECT_EQ(a.status, 503u);
    EXPECT_EQ(a.body.at("error").as_string(), c.writer_dead);
    auto members = c.members;
    members.insert("error");
    EXPECT_EQ(keys_of(a.body), members);
    EXPECT_EQ(a.retry_after, 0u);
}

TEST_P(SingleRecordRouteTest, CoinMRecordIs404OnUsdMRoutes)
{
    const auto& c = GetParam();
    put(c.channel, c.type, c.key, vs::realtime_ns(), vs::schema::MarketType::CoinM);
    if (c.usd_m_only) {
        expect_error(std::nullopt, 404, c.not_found, 0);
    } else {
        EXPECT_EQ(get(c.target).status, 200u);
    }
}

TEST(SingleRecordRoutes, MalformedSymbolIs400BeforeAnyRead)
{
    scripted_source src;
    src.forced = read_status::not_ready;   // the symbol is judged before the bus is read
    vs::api::router sut{vs::api::router_config{}, src};
    for (const auto& c : cases) {
        if (!c.keyed) {
            continue;
        }
        const std::string_view t{c.target};
        const auto target = std::string{t.substr(0, t.rfind('/') + 1)} + "A%22B";
        vs::api::response res;
        sut.handle({"GET", target}, res);
        EXPECT_EQ(res.status, 400u) << target;
        EXPECT_EQ(json::parse(res.payload()), json::parse(R"({"error":"Malformed symbol","symbol":"A\"B"})"))
            << target;
    }
}

TEST_P(SingleRecordRouteTest, HeadIsAnsweredLikeGet)
{
    src_.forced = read_status::unavailable;
    vs::api::response res;
    sut_.handle({"HEAD", GetParam().target}, res);
    EXPECT_EQ(res.status, 503u);
    EXPECT_EQ(res.retry_after, 1u);
    EXPECT_TRUE(res.head);
}

INSTANTIATE_TEST_SUITE_P(EveryRoute, SingleRecordRouteTest, ::testing::ValuesIn(cases),
                         [](const ::testing::TestParamInfo<route_case>& i) { return std::string{i.param.name}; });

}  // namespace route_conditions

}  // namespace
