#include "vs/net/binance_rest.hpp"

#include <gtest/gtest.h>

#include "http_test_server.hpp"
#include "test_env.hpp"
#include "vs/common/cli.hpp"
#include "vs/common/clock.hpp"

namespace {

using vs::net::binance_rest;
using vs::net::rest_status;
using vs::test::http_test_server;
using vs::test::received_request;
using vs::test::test_reply;

vs::net::rest_options options_for(const vs::test::test_env& env, const http_test_server& server)
{
    vs::net::rest_options o;
    o.base_url = server.url();
    o.budget.prefix = env.prefix();
    o.max_wait = std::chrono::milliseconds{5'000};
    return o;
}

TEST(BinanceRestTest, WeighsEachEndpointAsBinanceDoes)
{
    auto w = [](std::string_view path, vs::net::query_params p) { return binance_rest::request_weight(path, p); };
    EXPECT_EQ(w("/fapi/v1/openInterest", {{"symbol", "BTCUSDT"}}), 1);
    EXPECT_EQ(w("/fapi/v1/klines", {{"symbol", "X"}, {"limit", "99"}}), 1);
    EXPECT_EQ(w("/fapi/v1/klines", {{"symbol", "X"}, {"limit", "100"}}), 2);
    EXPECT_EQ(w("/fapi/v1/klines", {{"symbol", "X"}, {"limit", "499"}}), 2);
    EXPECT_EQ(w("/fapi/v1/klines", {{"symbol", "X"}, {"limit", "500"}}), 5);
    EXPECT_EQ(w("/fapi/v1/klines", {{"symbol", "X"}, {"limit", "1000"}}), 5);
    EXPECT_EQ(w("/fapi/v1/klines", {{"symbol", "X"}, {"limit", "1500"}}), 10);
    EXPECT_EQ(w("/fapi/v1/klines", {{"symbol", "X"}}), 5);  // default limit 500
    EXPECT_EQ(w("/fapi/v1/ticker/24hr", {{"symbol", "X"}}), 1);
    EXPECT_EQ(w("/fapi/v1/ticker/24hr", {}), 40);
    EXPECT_EQ(w("/fapi/v1/ticker/price", {{"symbol", "X"}}), 1);
    EXPECT_EQ(w("/fapi/v1/ticker/price", {}), 2);
    EXPECT_EQ(w("/fapi/v1/premiumIndex", {{"symbol", "X"}}), 1);
    EXPECT_EQ(w("/fapi/v1/premiumIndex", {}), 10);
    EXPECT_EQ(w("/fapi/v1/exchangeInfo", {}), 1);
}

TEST(BinanceRestTest, SendsQueryAndReturnsBody)
{
    vs::test::test_env env;
    http_test_server server{[](const received_request&) {
        return test_reply{200, {{"X-MBX-USED-WEIGHT-1M", "7"}}, R"({"openInterest":"10659.509","symbol":"BTCUSDT"})"};
    }};
    binance_rest sut{options_for(env, server)};
    auto r = sut.open_interest("BTCUSDT");
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_NE(r.body.find("10659.509"), std::string::npos);
    EXPECT_EQ(server.requests().at(0).target, "/fapi/v1/openInterest?symbol=BTCUSDT");
    EXPECT_EQ(r.used_weight.value_or(-1), 7);
}

TEST(BinanceRestTest, ServerUsedWeightCorrectsSharedCount)
{
    vs::test::test_env env;
    http_test_server server{[](const received_request&) {
        return test_reply{200, {{"X-MBX-USED-WEIGHT-1M", "1500"}}, "[]"};
    }};
    binance_rest sut{options_for(env, server)};
    for (int attempt = 0; attempt < 3; ++attempt) {
        const auto before = sut.budget().window_of(vs::realtime_ms());
        ASSERT_TRUE(sut.klines("BTCUSDT", "1h", 2).ok());
        const auto now = vs::realtime_ms();
        if (sut.budget().window_of(now) != before) {
            continue;  // the minute turned during the request: the figure was not applied
        }
        EXPECT_EQ(sut.budget().status(now).used, 1500);
        return;
    }
    FAIL() << "the minute turned during each of three requests";
}

TEST(BinanceRestTest, InvalidSymbolIsAnErrorOfThatRequestOnly)
{
    vs::test::test_env env;
    http_test_server server{[](const received_request& r) {
        if (r.target.find("NOPE") != std::string::npos) {
            return test_reply{400, {}, R"({"code":-1121,"msg":"Invalid symbol."})"};
        }
        return test_reply{200, {}, R"({"openInterest":"1"})"};
    }};
    binance_rest sut{options_for(env, server)};
    auto bad = sut.open_interest("NOPE");
    EXPECT_EQ(bad.status, rest_status::bad_request);
    EXPECT_EQ(bad.binance_code, -1121);
    EXPECT_EQ(bad.message, "Invalid symbol.");
    EXPECT_TRUE(sut.open_interest("BTCUSDT").ok());
}

TEST(BinanceRestTest, RateLimitPausesUntilRetryAfter)
{
    vs::test::test_env env;
    http_test_server server{[](const received_request&) {
        return test_reply{429, {{"Retry-After", "1"}}, R"({"code":-1003,"msg":"Too many requests."})"};
    }};
    binance_rest sut{options_for(env, server)};
    const auto before = vs::realtime_ms();
    EXPECT_EQ(sut.open_interest("BTCUSDT").status, rest_status::rate_limited);
    const auto st = sut.budget().status(vs::realtime_ms());
    EXPECT_GE(st.pause_until_ms, before + 1'000);
    server.set_handler([](const received_request&) { return test_reply{200, {}, "{}"}; });
    auto t0 = vs::realtime_ms();
    EXPECT_TRUE(sut.open_interest("BTCUSDT").ok());  // waits for the pause, then sends
    EXPECT_GE(vs::realtime_ms(), st.pause_until_ms);
    EXPECT_GE(vs::realtime_ms() - t0, 500);
}

TEST(BinanceRestTest, BanReadFromBodyBlocksEverySendUntilItEnds)
{
    vs::test::test_env env;
    const auto until = vs::realtime_ms() + 1'500;
    http_test_server server{[until](const received_request&) {
        return test_reply{418, {},
                          R"({"code":-1003,"msg":"Way too many requests; IP(127.0.0.1) banned until )" +
                              std::to_string(until) + R"(. Please use the websocket for live updates to avoid bans."})"};
    }};
    auto o = options_for(env, server);
    o.max_wait = std::chrono::milliseconds{100};
    binance_rest sut{o};
    EXPECT_EQ(sut.open_interest("BTCUSDT").status, rest_status::banned);
    EXPECT_EQ(sut.budget().status(vs::realtime_ms()).ban_until_ms, until);
    // With a short max wait, a request inside the ban is refused without reaching the server.
    EXPECT_EQ(sut.open_interest("BTCUSDT").status, rest_status::no_budget);
    EXPECT_EQ(server.request_count(), 1u);
}

TEST(BinanceRestTest, RestrictionIsReportedAndPausesWithoutRetryStorm)
{
    vs::test::test_env env;
    http_test_server server{[](const received_request&) { return test_reply{403, {}, "<html>WAF</html>"}; }};
    auto o = options_for(env, server);
    o.max_wait = std::chrono::milliseconds{50};
    binance_rest sut{o};
    EXPECT_EQ(sut.open_interest("BTCUSDT").status, rest_status::restricted);
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(sut.open_interest("BTCUSDT").status, rest_status::no_budget);
    }
    EXPECT_EQ(server.request_count(), 1u);
}

}  // namespace

namespace {

vs::net::rest_options parse_rest(std::vector<std::string> args)
{
    vs::cli::parser p{"t", "t", ""};
    vs::cli::add_common_options(p);
    vs::net::add_rest_options(p);
    std::vector<char*> argv{const_cast<char*>("t")};
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    EXPECT_FALSE(p.parse(static_cast<int>(argv.size()), argv.data()).has_value());
    return vs::net::rest_options_from(p);
}

TEST(BinanceRestOptionsTest, BaseUrlFromNewVariableThenOldProxyVariableThenDefault)
{
    ::unsetenv("VS_BINANCE_REST_URL");
    ::unsetenv("BINANCE_PROXY_URL");
    EXPECT_EQ(parse_rest({}).base_url, "https://fapi.binance.com");
    ::setenv("BINANCE_PROXY_URL", "http://127.0.0.1:8081", 1);
    EXPECT_EQ(parse_rest({}).base_url, "http://127.0.0.1:8081");
    ::setenv("VS_BINANCE_REST_URL", "http://127.0.0.1:9090", 1);
    EXPECT_EQ(parse_rest({}).base_url, "http://127.0.0.1:9090");
    EXPECT_EQ(parse_rest({"--rest-url", "http://127.0.0.1:1"}).base_url, "http://127.0.0.1:1");
    ::unsetenv("VS_BINANCE_REST_URL");
    ::unsetenv("BINANCE_PROXY_URL");
}

TEST(BinanceRestOptionsTest, CeilingDefaultsTo2000AndPrefixFollowsBusPrefix)
{
    auto o = parse_rest({"--bus-prefix", "vsx"});
    EXPECT_EQ(o.budget.ceiling, 2000);
    EXPECT_EQ(o.budget.prefix, "vsx");
    EXPECT_EQ(parse_rest({"--rest-weight-ceiling", "1200"}).budget.ceiling, 1200);
}

}  // namespace
