#include "stream_monitor.hpp"

#include <gtest/gtest.h>

namespace vs::feed {
namespace {

constexpr std::int64_t s = 1'000'000'000;
const std::vector<std::string> default_streams{"!ticker@arr", "!markPrice@arr@1s", "!forceOrder@arr"};

TEST(StreamMonitorTest, DefaultThresholdsFollowTheStreamKind)
{
    stream_monitor sut{default_streams, stream_thresholds{}, 1};
    ASSERT_EQ(sut.streams().size(), 3u);
    EXPECT_EQ(sut.streams()[0].stale_after_ns, 30 * s);
    EXPECT_EQ(sut.streams()[1].stale_after_ns, 10 * s);
    EXPECT_EQ(sut.streams()[2].stale_after_ns, 0);
}

TEST(StreamMonitorTest, SplitStreamsDropsEmptyParts)
{
    EXPECT_EQ(split_streams("a//b/"), (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(split_streams("").empty());
}

TEST(StreamMonitorTest, MatchesEnvelopeNamesAndRawImpliedNames)
{
    stream_monitor sut{default_streams, stream_thresholds{}, 1};
    EXPECT_EQ(sut.match("!markPrice@arr@1s"), 1);
    EXPECT_EQ(sut.match("!markPrice@arr"), 1);
    EXPECT_EQ(sut.match("!ticker@arr"), 0);
    EXPECT_EQ(sut.match("btcusdt@aggTrade"), -1);
    EXPECT_EQ(sut.match(""), -1);
    stream_monitor single{{"btcusdt@markPrice@1s"}, stream_thresholds{}, 1};
    EXPECT_EQ(single.match(""), 0);
}

TEST(StreamMonitorTest, SilentMarkStreamTurnsStaleAndAsksForReconnect)
{
    const std::int64_t t0 = 1000 * s;
    stream_monitor sut{default_streams, stream_thresholds{}, t0};
    sut.on_connection_open(t0);
    sut.on_frame(0, 77, t0 + 1 * s);
    sut.on_frame(1, 78, t0 + 1 * s);
    auto v = sut.evaluate(t0 + 5 * s);
    EXPECT_FALSE(v.reconnect);
    EXPECT_TRUE(sut.price_streams_fresh());
    EXPECT_TRUE(sut.data_flowing());

    sut.on_frame(0, 79, t0 + 10 * s);   // ticker keeps flowing, mark goes silent
    v = sut.evaluate(t0 + 11 * s + 1);
    ASSERT_EQ(v.became_stale.size(), 1u);
    EXPECT_EQ(v.became_stale[0], 1u);
    EXPECT_TRUE(v.reconnect);
    EXPECT_EQ(v.silent_stream, 1u);
    EXPECT_TRUE(sut.streams()[1].stale);
    EXPECT_FALSE(sut.price_streams_fresh());
}

TEST(StreamMonitorTest, QuietLiquidationStreamNeverTurnsStale)
{
    const std::int64_t t0 = 1000 * s;
    stream_monitor sut{default_streams, stream_thresholds{}, t0};
    sut.on_connection_open(t0);
    for (int i = 1; i <= 100; ++i) {
        sut.on_frame(0, 1, t0 + i * s);
        sut.on_frame(1, 1, t0 + i * s);
        const auto v = sut.evaluate(t0 + i * s);
        EXPECT_FALSE(v.reconnect);
    }
    EXPECT_FALSE(sut.streams()[2].stale);
    EXPECT_TRUE(sut.price_streams_fresh());
}

TEST(StreamMonitorTest, ConnectedButSilentIsNeverDataFlowing)
{
    // The 2026-04-23 re-routing: the old URL connects, acknowledges, and sends nothing.
    const std::int64_t t0 = 1000 * s;
    stream_monitor sut{default_streams, stream_thresholds{}, t0};
    sut.on_connection_open(t0);
    EXPECT_FALSE(sut.data_flowing());
    auto v = sut.evaluate(t0 + 9 * s);
    EXPECT_FALSE(v.reconnect);
    EXPECT_FALSE(sut.data_flowing());
    v = sut.evaluate(t0 + 10 * s + 1);
    EXPECT_TRUE(v.reconnect);
    EXPECT_EQ(v.silent_stream, 1u);
    EXPECT_TRUE(sut.streams()[1].stale);
}

TEST(StreamMonitorTest, ReconnectGetsAFullThresholdBeforeTheNextReconnect)
{
    const std::int64_t t0 = 1000 * s;
    stream_monitor sut{default_streams, stream_thresholds{}, t0};
    sut.on_connection_open(t0);
    sut.on_frame(1, 1, t0);
    ASSERT_TRUE(sut.evaluate(t0 + 11 * s).reconnect);
    sut.on_connection_closed();
    EXPECT_FALSE(sut.evaluate(t0 + 12 * s).reconnect);   // not connected: nothing to replace
    sut.on_connection_open(t0 + 13 * s);
    auto v = sut.evaluate(t0 + 20 * s);
    EXPECT_FALSE(v.reconnect);
    EXPECT_TRUE(sut.streams()[1].stale);   // still honest: no mark price for 20 s
    v = sut.evaluate(t0 + 23 * s + 1);
    EXPECT_TRUE(v.reconnect);
}

TEST(StreamMonitorTest, StaleStreamTurnsFreshOnItsNextFrame)
{
    const std::int64_t t0 = 1000 * s;
    stream_monitor sut{default_streams, stream_thresholds{}, t0};
    sut.on_connection_open(t0);
    ASSERT_EQ(sut.evaluate(t0 + 31 * s).became_stale.size(), 2u);
    sut.on_frame(0, 1, t0 + 32 * s);
    sut.on_frame(1, 1, t0 + 32 * s);
    const auto v = sut.evaluate(t0 + 32 * s);
    EXPECT_EQ(v.became_fresh.size(), 2u);
    EXPECT_TRUE(sut.price_streams_fresh());
}

}  // namespace
}  // namespace vs::feed
