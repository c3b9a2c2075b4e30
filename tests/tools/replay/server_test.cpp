// vs-replay's server in-process on a port-0 loopback socket: REST weights and errors, the
// routed and legacy WebSocket paths, the live-subscription protocol, the control API and
// file replay.
#include "vs/replay/server.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "replay_client.hpp"
#include "test_env.hpp"

namespace {

using namespace std::chrono_literals;
using vs::test::http_post;
using vs::test::http_request;
using vs::test::ws_client;
namespace json = boost::json;

class ReplayServerTest : public ::testing::Test {
protected:
    void start(vs::replay::server_config cfg = {})
    {
        cfg.listen = "127.0.0.1:0";
        if (cfg.symbols == 650) {
            cfg.symbols = 60;
        }
        if (cfg.mark_interval_ms == 1000) {
            cfg.mark_interval_ms = 200;
        }
        if (cfg.ticker_interval_ms == 1000) {
            cfg.ticker_interval_ms = 200;
        }
        sut_ = std::make_unique<vs::replay::server>(cfg);
        port_ = sut_->start();
        io_ = std::thread([this] { sut_->run(); });
    }
    void TearDown() override
    {
        if (sut_) {
            sut_->stop();
            io_.join();
        }
    }
    std::string weight_of(const vs::test::http_result& r) { return r.header("X-MBX-USED-WEIGHT-1M"); }
    json::value stats() { return http_request(port_, "/_control/stats").json(); }

    std::unique_ptr<vs::replay::server> sut_;
    std::thread io_;
    unsigned short port_ = 0;
    vs::test::test_env env_;
};

bool is_envelope_of(const json::value& v, std::string_view stream)
{
    const auto* o = v.if_object();
    if (o == nullptr) {
        return false;
    }
    const auto* s = o->if_contains("stream");
    return s != nullptr && s->is_string() && s->get_string() == stream && o->contains("data");
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(50ms);
    }
    return pred();
}

const json::object* find_row(const json::array& rows, std::string_view symbol)
{
    for (const auto& r : rows) {
        if (r.is_object() && r.at("s").as_string() == symbol) {
            return &r.get_object();
        }
    }
    return nullptr;
}

// ---------------------------------------------------------------------------------------------
// REST

TEST_F(ReplayServerTest, UsedWeightHeaderGrowsByTheRouteWeight)
{
    start();
    vs::test::avoid_minute_boundary();
    auto ping = http_request(port_, "/fapi/v1/ping");
    ASSERT_EQ(ping.status, 200U);
    EXPECT_EQ(ping.body, "{}");
    int base = std::stoi(weight_of(ping));
    struct step {
        const char* target;
        int weight;
    };
    const step steps[] = {
        {"/fapi/v1/time", 1},
        {"/fapi/v1/openInterest?symbol=BTCUSDT", 1},
        {"/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=2", 1},
        {"/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=100", 2},
        {"/fapi/v1/klines?symbol=BTCUSDT&interval=1h", 5},
        {"/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=1500", 10},
        {"/fapi/v1/ticker/24hr?symbol=BTCUSDT", 1},
        {"/fapi/v1/ticker/24hr", 40},
        {"/fapi/v1/ticker/price?symbol=BTCUSDT", 1},
        {"/fapi/v1/ticker/price", 2},
        {"/fapi/v1/premiumIndex?symbol=BTCUSDT", 1},
        {"/fapi/v1/premiumIndex", 10},
        {"/fapi/v1/exchangeInfo", 1},
    };
    int expected = base;
    for (const auto& s : steps) {
        auto r = http_request(port_, s.target);
        expected += s.weight;
        ASSERT_EQ(r.status, 200U) << s.target << ": " << r.body;
        EXPECT_EQ(weight_of(r), std::to_string(expected)) << s.target;
        EXPECT_EQ(r.header("Content-Type"), "application/json");
    }
}

TEST_F(ReplayServerTest, Answers429WithRetryAfterPastTheWeightLimit)
{
    vs::replay::server_config cfg;
    cfg.weight_limit = 10;
    start(cfg);
    vs::test::avoid_minute_boundary();
    for (int k = 0; k < 10; ++k) {
        ASSERT_EQ(http_request(port_, "/fapi/v1/ping").status, 200U) << k;
    }
    auto r = http_request(port_, "/fapi/v1/ping");
    ASSERT_EQ(r.status, 429U);
    int retry = std::stoi(r.header("Retry-After"));
    EXPECT_GE(retry, 1);
    EXPECT_LE(retry, 60);
    EXPECT_EQ(r.json().at("code").as_int64(), -1003);
    EXPECT_NE(r.body.find("current limit of IP(127.0.0.1) is 10 requests per minute"), std::string::npos) << r.body;
    EXPECT_FALSE(weight_of(r).empty());
    EXPECT_EQ(stats().at("http_429").as_int64(), 1);
}

TEST_F(ReplayServerTest, Answers418AndBansAfterIgnoring429s)
{
    vs::replay::server_config cfg;
    cfg.weight_limit = 3;
    cfg.ban_seconds = 77;
    cfg.tolerated_429s = 5;
    start(cfg);
    vs::test::avoid_minute_boundary();
    for (int k = 0; k < 3; ++k) {
        ASSERT_EQ(http_request(port_, "/fapi/v1/ping").status, 200U);
    }
    for (int k = 0; k < 6; ++k) {
        ASSERT_EQ(http_request(port_, "/fapi/v1/ping").status, 429U) << "429 number " << k + 1;
    }
    auto banned = http_request(port_, "/fapi/v1/ping");
    ASSERT_EQ(banned.status, 418U);
    EXPECT_EQ(banned.header("Retry-After"), "77");
    EXPECT_EQ(banned.json().at("code").as_int64(), -1003);
    EXPECT_NE(banned.body.find("Way too many requests; IP(127.0.0.1) banned until "), std::string::npos);
    EXPECT_FALSE(weight_of(banned).empty());
    // The ban holds even for a cheap request in a new minute.
    EXPECT_EQ(http_request(port_, "/fapi/v1/time").status, 418U);
    auto s = stats();
    EXPECT_EQ(s.at("bans").as_int64(), 1);
    EXPECT_EQ(s.at("http_418").as_int64(), 2);
    EXPECT_EQ(s.at("http_429").as_int64(), 6);
}

TEST_F(ReplayServerTest, UnknownSymbolIsInvalidSymbol)
{
    start();
    auto r = http_request(port_, "/fapi/v1/openInterest?symbol=NOPEUSDT");
    EXPECT_EQ(r.status, 400U);
    EXPECT_EQ(r.body, R"({"code":-1121,"msg":"Invalid symbol."})");
    EXPECT_EQ(weight_of(r), "1");  // an invalid symbol still costs the route's weight
    // COIN-M rows live on another host.
    EXPECT_EQ(http_request(port_, "/fapi/v1/premiumIndex?symbol=BTCUSD_PERP").body, R"({"code":-1121,"msg":"Invalid symbol."})");
    auto missing = http_request(port_, "/fapi/v1/openInterest");
    EXPECT_EQ(missing.status, 400U);
    EXPECT_EQ(missing.json().at("code").as_int64(), -1102);
    EXPECT_EQ(http_request(port_, "/fapi/v1/klines?symbol=BTCUSDT&interval=7h").json().at("code").as_int64(), -1120);
    EXPECT_EQ(http_request(port_, "/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=1501").json().at("code").as_int64(),
              -1130);
}

TEST_F(ReplayServerTest, ExchangeInfoListsTheUsdmSymbols)
{
    start();
    auto r = http_request(port_, "/fapi/v1/exchangeInfo");
    ASSERT_EQ(r.status, 200U);
    auto v = r.json();
    const auto& syms = v.at("symbols").as_array();
    EXPECT_EQ(syms.size(), 60U);
    std::set<std::string> names;
    for (const auto& s : syms) {
        names.insert(std::string(s.at("symbol").as_string()));
        if (s.at("symbol").as_string() == "XAUUSDT") {
            EXPECT_EQ(s.at("contractType").as_string(), "TRADIFI_PERPETUAL");
        }
    }
    EXPECT_EQ(names.count("BTCUSDT"), 1U);
    EXPECT_EQ(names.count("币安人生USDT"), 1U);
    EXPECT_EQ(names.count("BTCUSD_PERP"), 0U);
    EXPECT_EQ(v.at("rateLimits").as_array()[0].at("limit").as_int64(), 2400);
}

TEST_F(ReplayServerTest, RestServesTheNonAsciiSymbol)
{
    start();
    // 币安人生USDT, percent-encoded as clients send it.
    auto r = http_request(port_, "/fapi/v1/premiumIndex?symbol=%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9FUSDT");
    ASSERT_EQ(r.status, 200U) << r.body;
    EXPECT_EQ(r.json().at("symbol").as_string(), "币安人生USDT");
    auto k = http_request(port_, "/fapi/v1/klines?symbol=ETHUSDT&interval=1h&limit=3").json().as_array();
    ASSERT_EQ(k.size(), 3U);
    EXPECT_LT(k[0].as_array()[0].as_int64(), k[2].as_array()[0].as_int64());
    EXPECT_EQ(k[2].as_array().size(), 12U);
}

// ---------------------------------------------------------------------------------------------
// WebSocket

TEST_F(ReplayServerTest, CombinedStreamDeliversMarkPriceEnvelopesWithCoinMAndTradFiFrames)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=!markPrice@arr@1s"));
    bool saw_coinm = false, saw_tradfi_frame = false;
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while ((!saw_coinm || !saw_tradfi_frame) && std::chrono::steady_clock::now() < deadline) {
        auto v = c.read_until([](const json::value& f) { return is_envelope_of(f, "!markPrice@arr@1s"); }, 2s);
        ASSERT_TRUE(v) << "no !markPrice@arr@1s envelope within 2 s";
        const auto& rows = v->at("data").as_array();
        ASSERT_FALSE(rows.empty());
        bool tradfi_only = true;
        for (const auto& r : rows) {
            const auto& sym = r.at("s").as_string();
            EXPECT_EQ(r.at("e").as_string(), "markPriceUpdate");
            EXPECT_TRUE(r.at("p").is_string());
            EXPECT_EQ(r.at("ap"), r.at("p"));
            if (sym == "BTCUSD_PERP" || sym == "ETHUSD_PERP") {
                EXPECT_EQ(r.at("st").as_int64(), 2);
                saw_coinm = true;
            } else if (r.at("st").as_int64() != 1) {
                ADD_FAILURE() << "st " << r.at("st") << " for " << sym;
            }
            tradfi_only = tradfi_only && (sym == "XAUUSDT" || sym == "XAGUSDT" || sym == "XPTUSDT");
        }
        if (tradfi_only) {
            saw_tradfi_frame = true;
            EXPECT_NE(find_row(rows, "XAUUSDT"), nullptr);
        } else {
            EXPECT_EQ(find_row(rows, "XAUUSDT"), nullptr) << "TradFi rows belong in their own frame";
            EXPECT_NE(find_row(rows, "币安人生USDT"), nullptr);
        }
    }
    EXPECT_TRUE(saw_coinm);
    EXPECT_TRUE(saw_tradfi_frame);
}

TEST_F(ReplayServerTest, RawPathDeliversBarePayloads)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/ws/!ticker@arr"));
    auto f = c.read(2s);
    ASSERT_TRUE(f);
    auto v = json::parse(*f);
    ASSERT_TRUE(v.is_array()) << *f;
    const auto& rows = v.as_array();
    EXPECT_EQ(rows[0].at("e").as_string(), "24hrTicker");
    EXPECT_TRUE(rows[0].as_object().contains("ps"));
    // Only the symbols that changed: never the whole universe (62 rows with COIN-M).
    EXPECT_LT(rows.size(), 62U);
}

TEST_F(ReplayServerTest, SubscribeAndListSubscriptionsFollowBinance)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/ws"));
    c.write(R"({"method":"SUBSCRIBE","params":["!markPrice@arr@1s","btcusdt@aggTrade"],"id":1})");
    auto ack = c.read_until([](const json::value& v) { return v.is_object() && v.as_object().contains("id"); }, 2s);
    ASSERT_TRUE(ack);
    EXPECT_EQ(json::serialize(*ack), R"({"result":null,"id":1})");
    c.write(R"({"method":"LIST_SUBSCRIPTIONS","id":2})");
    auto list = c.read_until(
        [](const json::value& v) { return v.is_object() && v.as_object().contains("id") && v.at("id").as_int64() == 2; },
        2s);
    ASSERT_TRUE(list);
    const auto& result = list->at("result").as_array();
    EXPECT_EQ(result.size(), 2U);
    auto frame = c.read_until([](const json::value& v) { return v.is_array(); }, 2s);
    ASSERT_TRUE(frame) << "subscribed raw markPrice array";
    EXPECT_EQ(frame->as_array()[0].at("e").as_string(), "markPriceUpdate");
    c.write(R"({"method":"UNSUBSCRIBE","params":["!markPrice@arr@1s"],"id":3})");
    auto unsub = c.read_until(
        [](const json::value& v) { return v.is_object() && v.as_object().contains("id") && v.at("id").as_int64() == 3; },
        2s);
    ASSERT_TRUE(unsub);
    EXPECT_TRUE(unsub->at("result").is_null());
}

TEST_F(ReplayServerTest, AggTradeAndKlineStreamsPerSymbol)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=btcusdt@aggTrade/ethusdt@kline_1h"));
    auto trade = c.read_until([](const json::value& v) { return is_envelope_of(v, "btcusdt@aggTrade"); }, 3s);
    ASSERT_TRUE(trade);
    EXPECT_EQ(trade->at("data").at("s").as_string(), "BTCUSDT");
    EXPECT_EQ(trade->at("data").at("st").as_int64(), 1);
    EXPECT_TRUE(trade->at("data").at("q").is_string());
    auto kline = c.read_until([](const json::value& v) { return is_envelope_of(v, "ethusdt@kline_1h"); }, 3s);
    ASSERT_TRUE(kline);
    const auto& k = kline->at("data").at("k");
    EXPECT_EQ(k.at("i").as_string(), "1h");
    EXPECT_FALSE(k.at("x").as_bool());
    EXPECT_EQ(k.at("T").as_int64() - k.at("t").as_int64(), 3'599'999);
}

TEST_F(ReplayServerTest, PerSymbolMarkPriceAndTickerStreams)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=btcusdt@markPrice@1s/ethusdt@ticker"));
    auto mark = c.read_until([](const json::value& v) { return is_envelope_of(v, "btcusdt@markPrice@1s"); }, 3s);
    ASSERT_TRUE(mark);
    EXPECT_EQ(mark->at("data").at("e").as_string(), "markPriceUpdate");
    EXPECT_EQ(mark->at("data").at("s").as_string(), "BTCUSDT");
    auto ticker = c.read_until([](const json::value& v) { return is_envelope_of(v, "ethusdt@ticker"); }, 3s);
    ASSERT_TRUE(ticker);
    EXPECT_EQ(ticker->at("data").at("e").as_string(), "24hrTicker");
    EXPECT_EQ(ticker->at("data").at("ps").as_string(), "ETHUSDT");
}

TEST_F(ReplayServerTest, FundingInfoListsTheNonEightHourSymbolsAtNoWeight)
{
    vs::replay::server_config cfg;
    cfg.symbols = 650;
    start(cfg);
    vs::test::avoid_minute_boundary();
    auto before = std::stoi(weight_of(http_request(port_, "/fapi/v1/ping")));
    auto r = http_request(port_, "/fapi/v1/fundingInfo");
    ASSERT_EQ(r.status, 200U);
    EXPECT_EQ(weight_of(r), std::to_string(before));
    auto v = r.json();
    const auto& rows = v.as_array();
    ASSERT_FALSE(rows.empty());
    for (const auto& row : rows) {
        auto h = row.at("fundingIntervalHours").as_int64();
        EXPECT_TRUE(h == 1 || h == 2 || h == 4) << h;
    }
    // MarketTest checks every symbol's schedule; here the REST view of one of them.
    const auto& first = rows[0];
    auto pi = http_request(port_, "/fapi/v1/premiumIndex?symbol=" + std::string(first.at("symbol").as_string())).json();
    EXPECT_EQ(pi.at("nextFundingTime").as_int64() % (first.at("fundingIntervalHours").as_int64() * 3'600'000), 0);
}

TEST_F(ReplayServerTest, ControlInjectsLiquidationsAndWhaleTrades)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=!forceOrder@arr/solusdt@aggTrade"));
    ASSERT_EQ(http_post(port_, "/_control/liquidation?symbol=SOLUSDT&side=SELL&qty=2500&price=140.5").status, 200U);
    auto liq = c.read_until(
        [](const json::value& v) {
            return is_envelope_of(v, "!forceOrder@arr") && v.at("data").at("o").at("s").as_string() == "SOLUSDT";
        },
        2s);
    ASSERT_TRUE(liq);
    const auto& o = liq->at("data").at("o");
    EXPECT_EQ(o.at("S").as_string(), "SELL");
    EXPECT_EQ(std::stod(std::string(o.at("z").as_string())), 2500.0);
    EXPECT_EQ(std::stod(std::string(o.at("ap").as_string())), 140.5);
    ASSERT_EQ(http_post(port_, "/_control/trade?symbol=SOLUSDT&side=BUY&qty=9000&price=141").status, 200U);
    auto whale = c.read_until(
        [](const json::value& v) {
            return is_envelope_of(v, "solusdt@aggTrade") &&
                   std::stod(std::string(v.at("data").at("q").as_string())) == 9000.0;
        },
        2s);
    ASSERT_TRUE(whale);
    EXPECT_FALSE(whale->at("data").at("m").as_bool());  // a taker BUY
    EXPECT_EQ(http_post(port_, "/_control/trade?symbol=SOLUSDT&qty=-1").status, 400U);
}

TEST_F(ReplayServerTest, LegacyPathAcknowledgesButDeliversNothing)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/stream?streams=!markPrice@arr@1s/!ticker@arr"));
    c.write(R"({"method":"SUBSCRIBE","params":["!forceOrder@arr"],"id":7})");
    auto ack = c.read(2s);
    ASSERT_TRUE(ack);
    EXPECT_EQ(*ack, R"({"result":null,"id":7})");
    auto nothing = c.read(3s);
    EXPECT_FALSE(nothing) << "legacy path sent: " << *nothing;
    EXPECT_FALSE(c.closed());
    EXPECT_EQ(stats().at("connections").at("legacy").as_int64(), 1);
}

TEST_F(ReplayServerTest, LegacyControlSilencesRoutedPaths)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=!markPrice@arr@1s"));
    ASSERT_TRUE(c.read(2s));
    ASSERT_EQ(http_post(port_, "/_control/legacy?on=1").status, 200U);
    c.drain(300ms);  // frames already on the wire
    EXPECT_FALSE(c.read(1500ms));
    ASSERT_EQ(http_post(port_, "/_control/legacy?on=0").status, 200U);
    EXPECT_TRUE(c.read(2s));
}

TEST_F(ReplayServerTest, SetPriceAppearsInTheNextFrameAndInState)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=!markPrice@arr@1s"));
    ASSERT_TRUE(c.read(2s));
    auto r = http_post(port_, "/_control/set?symbol=ETHUSDT&price=1234.5&funding=-0.00123&oi=4242");
    ASSERT_EQ(r.status, 200U) << r.body;
    auto frame = c.read_until(
        [](const json::value& v) {
            if (!is_envelope_of(v, "!markPrice@arr@1s")) {
                return false;
            }
            const auto* row = find_row(v.at("data").as_array(), "ETHUSDT");
            return row != nullptr && row->at("p").as_string() == "1234.50000000";
        },
        2s);
    ASSERT_TRUE(frame) << "no frame with the set price";
    const auto* row = find_row(frame->at("data").as_array(), "ETHUSDT");
    EXPECT_EQ(row->at("r").as_string(), "-0.00123000");
    auto state = http_request(port_, "/_control/state?symbol=ETHUSDT").json();
    EXPECT_EQ(state.at("markPrice").to_number<double>(), 1234.5);
    EXPECT_EQ(state.at("fundingRate").to_number<double>(), -0.00123);
    EXPECT_EQ(state.at("openInterest").to_number<double>(), 4242.0);
    EXPECT_EQ(state.at("nextFundingTime").as_int64(), row->at("T").as_int64());
    auto oi = http_request(port_, "/fapi/v1/openInterest?symbol=ETHUSDT").json();
    EXPECT_EQ(std::stod(std::string(oi.at("openInterest").as_string())), 4242.0);
    EXPECT_EQ(http_post(port_, "/_control/set?symbol=NOPE&price=1").status, 404U);
    EXPECT_EQ(http_request(port_, "/_control/set?symbol=ETHUSDT&price=1").status, 405U);
}

TEST_F(ReplayServerTest, StateMatchesTheLastPushedRow)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=!markPrice@arr@1s"));
    std::optional<json::value> last;
    auto first = c.read(2s);
    ASSERT_TRUE(first);
    last = json::parse(*first);
    ASSERT_EQ(http_post(port_, "/_control/stall?streams=!markPrice@arr@1s&seconds=0").status, 200U);
    // Drain what was in flight, then the last row we received is the last one pushed.
    while (auto f = c.read(600ms)) {
        auto v = json::parse(*f);
        if (find_row(v.at("data").as_array(), "SOLUSDT") != nullptr) {
            last = v;
        }
    }
    ASSERT_TRUE(last);
    const auto* row = find_row(last->at("data").as_array(), "SOLUSDT");
    auto state = http_request(port_, "/_control/state?symbol=SOLUSDT").json();
    EXPECT_EQ(state.at("markPrice").to_number<double>(), std::stod(std::string(row->at("p").as_string())));
    EXPECT_EQ(state.at("indexPrice").to_number<double>(), std::stod(std::string(row->at("i").as_string())));
    EXPECT_EQ(state.at("fundingRate").to_number<double>(), std::stod(std::string(row->at("r").as_string())));
    EXPECT_EQ(state.at("lastPushMs").as_int64(), row->at("E").as_int64());
}

TEST_F(ReplayServerTest, OiRampAndVolumeFactorShowInRestAndState)
{
    start();
    ASSERT_EQ(http_post(port_, "/_control/set?symbol=BTCUSDT&oi=1000").status, 200U);
    ASSERT_EQ(http_post(port_, "/_control/oi_ramp?symbol=BTCUSDT&pct=10&seconds=0.5").status, 200U);
    double oi = 0;
    EXPECT_TRUE(eventually([&] {
        auto v = http_request(port_, "/fapi/v1/openInterest?symbol=BTCUSDT").json();
        oi = std::stod(std::string(v.at("openInterest").as_string()));
        return std::abs(oi - 1100.0) < 0.01;
    }, 3s)) << "open interest stayed at " << oi;
    auto before = http_request(port_, "/_control/state?symbol=BTCUSDT").json();
    auto r = http_post(port_, "/_control/volume?symbol=BTCUSDT&factor=5");
    ASSERT_EQ(r.status, 200U) << r.body;
    auto after = http_request(port_, "/_control/state?symbol=BTCUSDT").json();
    EXPECT_GE(after.at("hourQuoteVolume").to_number<double>(),
              5.0 * before.at("previousHourQuoteVolume").to_number<double>() * 0.999);
    auto k = http_request(port_, "/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=2").json().as_array();
    double prev_q = std::stod(std::string(k[0].as_array()[7].as_string()));
    double cur_q = std::stod(std::string(k[1].as_array()[7].as_string()));
    EXPECT_GE(cur_q, 4.99 * prev_q);
}

TEST_F(ReplayServerTest, DropClosesEveryWebSocket)
{
    start();
    ws_client routed, legacy;
    ASSERT_TRUE(routed.connect(port_, "/market/stream?streams=!markPrice@arr@1s"));
    ASSERT_TRUE(legacy.connect(port_, "/ws/!ticker@arr"));
    ASSERT_TRUE(routed.read(2s));
    auto r = http_post(port_, "/_control/drop");
    ASSERT_EQ(r.status, 200U);
    EXPECT_EQ(r.json().at("dropped").as_int64(), 2);
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (!routed.closed() && std::chrono::steady_clock::now() < deadline) {
        routed.read(100ms);
    }
    legacy.read(1s);
    EXPECT_TRUE(routed.closed());
    EXPECT_TRUE(legacy.closed());
    // The server keeps accepting.
    ws_client again;
    ASSERT_TRUE(again.connect(port_, "/market/stream?streams=!markPrice@arr@1s"));
    EXPECT_TRUE(again.read(2s));
}

TEST_F(ReplayServerTest, StallSilencesOnlyTheNamedStreamUntilResume)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=!markPrice@arr@1s/!ticker@arr"));
    ASSERT_TRUE(c.read_until([](const json::value& v) { return is_envelope_of(v, "!ticker@arr"); }, 2s));
    ASSERT_EQ(http_post(port_, "/_control/stall?streams=!ticker@arr&seconds=0").status, 200U);
    c.drain(300ms);
    int marks = 0, tickers = 0;
    auto deadline = std::chrono::steady_clock::now() + 1500ms;
    while (std::chrono::steady_clock::now() < deadline) {
        if (auto f = c.read(100ms)) {
            auto v = json::parse(*f);
            marks += is_envelope_of(v, "!markPrice@arr@1s") ? 1 : 0;
            tickers += is_envelope_of(v, "!ticker@arr") ? 1 : 0;
        }
    }
    EXPECT_EQ(tickers, 0);
    EXPECT_GE(marks, 3);
    EXPECT_FALSE(c.closed());
    ASSERT_EQ(http_post(port_, "/_control/resume").status, 200U);
    EXPECT_TRUE(c.read_until([](const json::value& v) { return is_envelope_of(v, "!ticker@arr"); }, 2s));
}

TEST_F(ReplayServerTest, StallWithSecondsEndsByItself)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/ws/!markPrice@arr@1s"));
    ASSERT_TRUE(c.read(2s));
    ASSERT_EQ(http_post(port_, "/_control/stall?streams=!markPrice@arr@1s&seconds=1").status, 200U);
    c.drain(300ms);
    EXPECT_FALSE(c.read(500ms));
    EXPECT_TRUE(c.read(2s)) << "the stall should end after 1 s";
}

TEST_F(ReplayServerTest, MalformedSendsBrokenFramesThenValidOnes)
{
    start();
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=!markPrice@arr@1s"));
    ASSERT_TRUE(c.read(2s));
    c.drain(50ms);
    auto r = http_post(port_, "/_control/malformed?count=5");
    ASSERT_EQ(r.status, 200U);
    EXPECT_EQ(r.json().at("connections").as_int64(), 1);
    // A valid frame already on its way may arrive first; then exactly 5 broken ones.
    int unparsable = 0, odd = 0, valid_before = 0;
    for (int k = 0; k < 8 && unparsable + odd < 5; ++k) {
        auto f = c.read(2s);
        ASSERT_TRUE(f) << k;
        json::error_code ec;
        auto v = json::parse(*f, ec);
        if (ec) {
            ++unparsable;
            continue;
        }
        const auto& data = v.at("data");
        if (!data.is_array()) {
            ++odd;  // {"stream":...,"data":42}
            continue;
        }
        const auto& row = data.as_array()[0];
        const auto& p = row.at("p").as_string();
        const auto& s = row.at("s").as_string();
        if (p == "NaN" || (!p.empty() && p[0] == '-') || s.size() >= 100) {
            ++odd;
        } else {
            EXPECT_EQ(unparsable + odd, 0) << "a valid frame between malformed ones";
            ++valid_before;
        }
    }
    EXPECT_EQ(unparsable + odd, 5);
    EXPECT_GE(unparsable, 1);
    EXPECT_GE(odd, 3);
    EXPECT_LE(valid_before, 2);
    auto good = c.read(2s);
    ASSERT_TRUE(good);
    auto v = json::parse(*good);
    EXPECT_TRUE(v.at("data").is_array());
    EXPECT_EQ(stats().at("malformed_sent").as_int64(), 5);
}

TEST_F(ReplayServerTest, ServerSendsPings)
{
    vs::replay::server_config cfg;
    cfg.ping_interval_s = 1;
    start(cfg);
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/ws"));  // a silent connection: only control frames arrive
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while (c.pings() == 0 && std::chrono::steady_clock::now() < deadline) {
        c.read(100ms);
    }
    EXPECT_GE(c.pings(), 1);
    EXPECT_FALSE(c.closed());
}

TEST_F(ReplayServerTest, ClosesConnectionsThatNeverPong)
{
    vs::replay::server_config cfg;
    cfg.ping_interval_s = 1;
    cfg.pong_timeout_s = 1;
    start(cfg);
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/ws"));
    std::this_thread::sleep_for(2500ms);  // not reading: pings go unanswered
    c.read(2s);
    EXPECT_TRUE(c.closed());
}

TEST_F(ReplayServerTest, ClosesConnectionsAtTheirMaximumAge)
{
    vs::replay::server_config cfg;
    cfg.max_connection_s = 1;
    start(cfg);
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=!markPrice@arr@1s"));
    ASSERT_TRUE(c.read(1s));
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while (!c.closed() && std::chrono::steady_clock::now() < deadline) {
        c.read(100ms);
    }
    EXPECT_TRUE(c.closed());
}

TEST_F(ReplayServerTest, UnknownWebSocketPathIsRefused)
{
    start();
    ws_client c;
    EXPECT_FALSE(c.connect(port_, "/nowhere"));
    EXPECT_EQ(c.handshake_status(), 404U);
}

// ---------------------------------------------------------------------------------------------
// Recorded files and scenarios

TEST_F(ReplayServerTest, ReplaysARecordedFileToSubscribersOfEachStream)
{
    auto path = env_.state_dir() / "recorded.txt";
    const std::string mark = R"({"stream":"!markPrice@arr@1s","data":[{"e":"markPriceUpdate","E":1791382992684,"s":"XAUUSDT","p":"4103.92233180","ap":"4103.92233180","P":"4098.72755326","i":"4100.14187735","r":"0.00019799","T":1791388800000,"st":1}]})";
    const std::string ticker = R"({"stream":"!ticker@arr","data":[{"e":"24hrTicker","E":1791382992307,"s":"XPTUSDT","ps":"XPTUSDT","p":"-54.1500","P":"-3.211","w":"1664.1148","c":"1632.4800","Q":"0.006","o":"1686.6300","h":"1716.8500","l":"1613.6200","v":"7406.798","q":"12325762.2149","O":1791296580000,"C":1791382992306,"F":19210546,"L":19266957,"n":56401,"st":1}]})";
    const std::string other = R"({"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT"}})";
    {
        std::ofstream out(path);
        std::int64_t t = 1'791'382'992'000'000'000;
        for (int k = 0; k < 3; ++k) {
            out << t << '\t' << mark << '\n';
            t += 100'000'000;
            out << "garbage line without a tab\n";
            out << t << '\t' << other << '\n';
            t += 100'000'000;
            out << t << '\t' << ticker << '\n';
            t += 100'000'000;
        }
    }
    vs::replay::server_config cfg;
    cfg.file = path.string();
    cfg.loop = true;
    cfg.speed = 2.0;
    start(cfg);
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/stream?streams=!markPrice@arr@1s/!ticker@arr"));
    std::set<std::string> got;
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while (got.size() < 2 && std::chrono::steady_clock::now() < deadline) {
        if (auto f = c.read(200ms)) {
            EXPECT_TRUE(*f == mark || *f == ticker) << "not a recorded frame verbatim: " << *f;
            got.insert(*f);
        }
    }
    EXPECT_EQ(got.size(), 2U);
    auto s = stats();
    EXPECT_GE(s.at("file_skipped_lines").as_int64(), 1);
    EXPECT_GE(s.at("file_frames").as_int64(), 2);
    EXPECT_EQ(s.at("frames_sent").as_object().count("btcusdt@aggTrade"), 0U);
    // State and REST follow the recording for the symbols it carries.
    auto state = http_request(port_, "/_control/state?symbol=XAUUSDT").json();
    EXPECT_EQ(state.at("markPrice").to_number<double>(), 4103.92233180);
    EXPECT_EQ(state.at("fundingRate").to_number<double>(), 0.00019799);
    EXPECT_EQ(state.at("nextFundingTime").as_int64(), 1791388800000);
    auto pi = http_request(port_, "/fapi/v1/premiumIndex?symbol=XAUUSDT").json();
    EXPECT_EQ(pi.at("markPrice").as_string(), "4103.92233180");
}

TEST_F(ReplayServerTest, RecordedFrameGapsAreDividedBySpeed)
{
    auto path = env_.state_dir() / "gaps.txt";
    const std::string frame = R"({"stream":"!ticker@arr","data":[]})";
    {
        std::ofstream out(path);
        // Two frames 2 s apart: at 4x they arrive 0.5 s apart.
        out << 1'000'000'000'000 << '\t' << frame << '\n';
        out << 1'002'000'000'000 << '\t' << frame << '\n';
    }
    vs::replay::server_config cfg;
    cfg.file = path.string();
    cfg.loop = true;
    cfg.speed = 4.0;
    start(cfg);
    ws_client c;
    ASSERT_TRUE(c.connect(port_, "/market/ws/!ticker@arr"));
    ASSERT_TRUE(c.read(3s));
    // The loop restarts at once after the second frame, so gaps alternate ~0 and ~0.5 s.
    auto last = std::chrono::steady_clock::now();
    long long max_gap = 0;
    for (int k = 0; k < 4; ++k) {
        ASSERT_TRUE(c.read(3s)) << k;
        auto now = std::chrono::steady_clock::now();
        max_gap = std::max<long long>(max_gap, std::chrono::duration_cast<std::chrono::milliseconds>(now - last).count());
        last = now;
    }
    EXPECT_GE(max_gap, 350);
    EXPECT_LE(max_gap, 1500);  // 2000 without the speed-up
}

TEST_F(ReplayServerTest, ScenarioFileRunsControlActions)
{
    auto path = env_.state_dir() / "scenario.jsonl";
    {
        std::ofstream out(path);
        out << R"({"at_s":0.1,"action":"set","symbol":"BTCUSDT","price":"99999.5"})" << '\n';
        out << "# comments and blank lines are skipped\n\n";
        out << R"({"at_s":0.2,"action":"stall","streams":"!ticker@arr","seconds":30})" << '\n';
    }
    vs::replay::server_config cfg;
    cfg.scenario_file = path.string();
    start(cfg);
    EXPECT_TRUE(eventually([&] {
        auto state = http_request(port_, "/_control/state?symbol=BTCUSDT").json();
        return state.at("markPrice").is_number() && state.at("markPrice").to_number<double>() == 99999.5;
    }, 3s));
    ASSERT_TRUE(eventually([&] { return stats().at("stalled").as_array().size() == 1; }, 3s));
    auto stalled = stats().at("stalled").as_array();
    ASSERT_EQ(stalled.size(), 1U);
    EXPECT_EQ(stalled[0].as_string(), "!ticker@arr");
}

TEST(ReplayServerConfigTest, ShippedDemoScenarioIsValid)
{
    const char* dir = std::getenv("VS_REPLAY_SCENARIOS");
    if (dir == nullptr) {
        GTEST_SKIP() << "VS_REPLAY_SCENARIOS not set";
    }
    vs::replay::server_config cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.symbols = 60;
    cfg.scenario_file = std::string(dir) + "/demo.jsonl";
    EXPECT_NO_THROW(vs::replay::server{cfg});
}

TEST(ReplayServerConfigTest, BadScenarioLineFailsAtConstruction)
{
    vs::test::test_env env;
    auto path = env.state_dir() / "bad.jsonl";
    std::ofstream(path) << "{\"action\":\"drop\"}\n";  // no at_s
    vs::replay::server_config cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.symbols = 10;
    cfg.scenario_file = path.string();
    EXPECT_THROW(vs::replay::server{cfg}, std::runtime_error);
}

TEST(ReplayServerConfigTest, MissingFileFailsAtConstruction)
{
    vs::replay::server_config cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.symbols = 10;
    cfg.file = "/nonexistent/recording.txt";
    EXPECT_THROW(vs::replay::server{cfg}, std::runtime_error);
}

}  // namespace
