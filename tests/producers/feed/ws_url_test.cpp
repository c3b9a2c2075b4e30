#include "ws_url.hpp"

#include <gtest/gtest.h>

namespace vs::feed {
namespace {

constexpr std::string_view default_streams = "!ticker@arr/!markPrice@arr@1s/!forceOrder@arr";

TEST(WsUrlTest, BinanceMarketUrlGetsTheStreamsUnencoded)
{
    std::string err;
    const auto sut = make_endpoint("wss://fstream.binance.com/market/stream", default_streams, err);
    ASSERT_TRUE(sut) << err;
    EXPECT_TRUE(sut->tls);
    EXPECT_EQ(sut->host, "fstream.binance.com");
    EXPECT_EQ(sut->port, "443");
    EXPECT_EQ(sut->host_header, "fstream.binance.com");
    EXPECT_EQ(sut->target, "/market/stream?streams=!ticker@arr/!markPrice@arr@1s/!forceOrder@arr");
    EXPECT_EQ(sut->url(), "wss://fstream.binance.com/market/stream?streams=!ticker@arr/!markPrice@arr@1s/!forceOrder@arr");
}

TEST(WsUrlTest, PlainLoopbackUrlKeepsItsPort)
{
    std::string err;
    const auto sut = make_endpoint("ws://127.0.0.1:9443/market/stream", "a@b", err);
    ASSERT_TRUE(sut) << err;
    EXPECT_FALSE(sut->tls);
    EXPECT_EQ(sut->port, "9443");
    EXPECT_EQ(sut->host_header, "127.0.0.1:9443");
    EXPECT_EQ(sut->target, "/market/stream?streams=a@b");
    EXPECT_EQ(sut->url(), "ws://127.0.0.1:9443/market/stream?streams=a@b");
}

TEST(WsUrlTest, RawWsPathAppendsStreamsToThePath)
{
    std::string err;
    const auto sut = make_endpoint("ws://localhost/market/ws", "btcusdt@markPrice@1s", err);
    ASSERT_TRUE(sut) << err;
    EXPECT_EQ(sut->target, "/market/ws/btcusdt@markPrice@1s");
}

TEST(WsUrlTest, UrlThatNamesItsStreamsIsKept)
{
    std::string err;
    auto sut = make_endpoint("ws://h:1/market/stream?streams=x@y", default_streams, err);
    ASSERT_TRUE(sut) << err;
    EXPECT_EQ(sut->target, "/market/stream?streams=x@y");
    sut = make_endpoint("ws://h:1/market/ws/btcusdt@aggTrade", default_streams, err);
    ASSERT_TRUE(sut) << err;
    EXPECT_EQ(sut->target, "/market/ws/btcusdt@aggTrade");
}

TEST(WsUrlTest, Ipv6LiteralIsBracketedInTheHostHeader)
{
    std::string err;
    const auto sut = make_endpoint("ws://[::1]:8080/stream", "a", err);
    ASSERT_TRUE(sut) << err;
    EXPECT_EQ(sut->host, "::1");
    EXPECT_EQ(sut->host_header, "[::1]:8080");
}

TEST(WsUrlTest, RejectsOtherSchemesBadPortsAndBadStreams)
{
    std::string err;
    EXPECT_FALSE(make_endpoint("https://fstream.binance.com/market/stream", "a", err));
    EXPECT_NE(err.find("ws://"), std::string::npos);
    EXPECT_FALSE(make_endpoint("ws://h:99999/x", "a", err));
    EXPECT_FALSE(make_endpoint("ws://h:0/x", "a", err));
    EXPECT_FALSE(make_endpoint("ws:///x", "a", err));
    EXPECT_FALSE(make_endpoint("ws://h/x", "a b", err));
    EXPECT_FALSE(make_endpoint("ws://h/x", "a//b", err));
    EXPECT_FALSE(make_endpoint("ws://h/x", "a&b", err));
}

}  // namespace
}  // namespace vs::feed
