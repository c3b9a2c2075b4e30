// Binance's request-weight rules and the frame helpers, without sockets.
#include "vs/replay/rest.hpp"

#include <string>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "vs/replay/frames.hpp"

namespace {

using vs::replay::parse_target;
using vs::replay::route_weight;
using vs::replay::weight_config;
using vs::replay::weight_limiter;
using verdict = weight_limiter::verdict;

constexpr std::int64_t minute_start = 1'791'382'980'000;  // a UTC minute boundary

int weight(const char* target) { return route_weight(parse_target(target)); }

TEST(RouteWeightTest, MatchesBinancesTable)
{
    EXPECT_EQ(weight("/fapi/v1/ping"), 1);
    EXPECT_EQ(weight("/fapi/v1/time"), 1);
    EXPECT_EQ(weight("/fapi/v1/exchangeInfo"), 1);
    EXPECT_EQ(weight("/fapi/v1/openInterest?symbol=BTCUSDT"), 1);
    EXPECT_EQ(weight("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=99"), 1);
    EXPECT_EQ(weight("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=100"), 2);
    EXPECT_EQ(weight("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=499"), 2);
    EXPECT_EQ(weight("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=500"), 5);
    EXPECT_EQ(weight("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=1000"), 5);
    EXPECT_EQ(weight("/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=1001"), 10);
    EXPECT_EQ(weight("/fapi/v1/klines?symbol=BTCUSDT&interval=1h"), 5);
    EXPECT_EQ(weight("/fapi/v1/ticker/24hr?symbol=BTCUSDT"), 1);
    EXPECT_EQ(weight("/fapi/v1/ticker/24hr"), 40);
    EXPECT_EQ(weight("/fapi/v1/ticker/price?symbol=BTCUSDT"), 1);
    EXPECT_EQ(weight("/fapi/v1/ticker/price"), 2);
    EXPECT_EQ(weight("/fapi/v1/premiumIndex?symbol=BTCUSDT"), 1);
    EXPECT_EQ(weight("/fapi/v1/premiumIndex"), 10);
    EXPECT_EQ(weight("/fapi/v1/fundingInfo"), 0);
    EXPECT_EQ(weight("/fapi/v1/unknown"), -1);
}

TEST(WeightLimiterTest, CountsWeightPerUtcMinute)
{
    weight_limiter sut{weight_config{2400, 120, 5}};
    EXPECT_EQ(sut.admit("127.0.0.1", 5, minute_start + 10).used, 5);
    EXPECT_EQ(sut.admit("127.0.0.1", 40, minute_start + 59'999).used, 45);
    EXPECT_EQ(sut.used("127.0.0.1", minute_start + 59'999), 45);
    EXPECT_EQ(sut.admit("127.0.0.1", 1, minute_start + 60'000).used, 1);
    EXPECT_EQ(sut.used("10.0.0.1", minute_start + 60'000), 0);
}

TEST(WeightLimiterTest, TooManyPastTheLimitWithRetryAfterTheNextMinute)
{
    weight_limiter sut{weight_config{10, 120, 5}};
    EXPECT_EQ(sut.admit("127.0.0.1", 10, minute_start + 1000).result, verdict::ok);
    auto d = sut.admit("127.0.0.1", 1, minute_start + 45'500);
    EXPECT_EQ(d.result, verdict::too_many);
    EXPECT_EQ(d.retry_after_s, 15);
    EXPECT_EQ(sut.stats().http_429, 1);
    EXPECT_EQ(sut.admit("127.0.0.1", 1, minute_start + 60'000).result, verdict::ok);
}

TEST(WeightLimiterTest, BansAClientThatIgnores429s)
{
    weight_limiter sut{weight_config{1, 30, 2}};
    const std::int64_t t = minute_start + 1000;
    EXPECT_EQ(sut.admit("ip", 1, t).result, verdict::ok);
    EXPECT_EQ(sut.admit("ip", 1, t).result, verdict::too_many);  // the first 429
    EXPECT_EQ(sut.admit("ip", 1, t).result, verdict::too_many);  // tolerated
    EXPECT_EQ(sut.admit("ip", 1, t).result, verdict::too_many);  // tolerated
    auto d = sut.admit("ip", 1, t + 5);
    EXPECT_EQ(d.result, verdict::banned);
    EXPECT_EQ(d.banned_until_ms, t + 5 + 30'000);
    EXPECT_EQ(d.retry_after_s, 30);
    // Still banned in the next minute, free after the ban.
    EXPECT_EQ(sut.admit("ip", 1, t + 29'000).result, verdict::banned);
    EXPECT_EQ(sut.admit("ip", 1, t + 60'000).result, verdict::ok);
    EXPECT_EQ(sut.stats().bans, 1);
    EXPECT_EQ(sut.stats().http_418, 2);
}

TEST(ParseTargetTest, DecodesPathAndParameters)
{
    auto t = parse_target("/fapi/v1/premiumIndex?symbol=%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9FUSDT&x=1");
    ASSERT_TRUE(t.ok);
    EXPECT_EQ(t.path, "/fapi/v1/premiumIndex");
    ASSERT_NE(t.param("symbol"), nullptr);
    EXPECT_EQ(*t.param("symbol"), "币安人生USDT");
    EXPECT_EQ(t.param("nope"), nullptr);
}

TEST(BinanceErrorTest, HasBinancesBody)
{
    auto r = vs::replay::binance_error(400, -1121, "Invalid symbol.");
    EXPECT_EQ(r.status, 400U);
    EXPECT_EQ(r.body, R"({"code":-1121,"msg":"Invalid symbol."})");
}

TEST(FramesTest, MalformedVariantsAreAllBroken)
{
    const std::string frame = vs::replay::envelope(
        "!markPrice@arr@1s", R"([{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"83084.30000000","ap":"83084.30000000"}])");
    for (int kind = 0; kind < vs::replay::malformed_kinds; ++kind) {
        auto bad = vs::replay::malformed_frame(kind, "!markPrice@arr@1s", frame, true);
        EXPECT_NE(bad, frame) << kind;
        boost::json::error_code ec;
        auto v = boost::json::parse(bad, ec);
        if (ec) {
            continue;  // truncated
        }
        if (!v.at("data").is_array()) {
            EXPECT_EQ(v.at("data").as_int64(), 42);
            continue;
        }
        const auto& row = v.at("data").as_array()[0];
        const auto& p = row.at("p").as_string();
        EXPECT_TRUE(p == "NaN" || p[0] == '-' || row.at("s").as_string().size() == 100) << bad;
    }
    EXPECT_EQ(vs::replay::malformed_frame(4, "x", "[1]", false), "42");
}

TEST(FramesTest, MalformedTickerFramesBreakTheLastPriceNotTheChange)
{
    const std::string frame = vs::replay::envelope(
        "!ticker@arr", R"([{"e":"24hrTicker","E":1,"s":"BTCUSDT","ps":"BTCUSDT","p":"-3058.40","P":"-3.550","c":"83091.60"}])");
    auto nan = boost::json::parse(vs::replay::malformed_frame(1, "!ticker@arr", frame, true));
    EXPECT_EQ(nan.at("data").as_array()[0].at("c").as_string(), "NaN");
    EXPECT_EQ(nan.at("data").as_array()[0].at("p").as_string(), "-3058.40");
    auto negative = boost::json::parse(vs::replay::malformed_frame(2, "!ticker@arr", frame, true));
    EXPECT_EQ(negative.at("data").as_array()[0].at("c").as_string(), "-83091.60");
}

TEST(FramesTest, ParsesRecordedLines)
{
    auto f = vs::replay::parse_recorded_line("1791382992000000000\t{\"stream\":\"!ticker@arr\",\"data\":[]}\r");
    ASSERT_TRUE(f);
    EXPECT_EQ(f->recv_ns, 1791382992000000000LL);
    EXPECT_EQ(f->stream, "!ticker@arr");
    EXPECT_EQ(f->text, "{\"stream\":\"!ticker@arr\",\"data\":[]}");
    EXPECT_EQ(f->data, "[]");
    EXPECT_FALSE(vs::replay::parse_recorded_line("no tab here"));
    EXPECT_FALSE(vs::replay::parse_recorded_line("12x\t{}"));
    EXPECT_FALSE(vs::replay::parse_recorded_line("12\t{\"data\":1}"));
    EXPECT_FALSE(vs::replay::parse_recorded_line("12\t{\"stream\":\"a\",\"data\":"));
}

}  // namespace
