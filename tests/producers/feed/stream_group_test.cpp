#include "stream_group.hpp"

#include <boost/asio/io_context.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace vs::feed {
namespace {

TEST(StreamGroupTest, StreamNamesLowercaseAsciiOnly)
{
    EXPECT_EQ(group_stream_name("BTCUSDT", "@kline_1h"), "btcusdt@kline_1h");
    EXPECT_EQ(group_stream_name("1000PEPEUSDT", "@aggTrade"), "1000pepeusdt@aggTrade");
    EXPECT_EQ(group_stream_name("\xE5\xB8\x81\xE5\xAE\x89\xE4\xBA\xBA\xE7\x94\x9FUSDT", "@kline_1h"),
              "\xE5\xB8\x81\xE5\xAE\x89\xE4\xBA\xBA\xE7\x94\x9Fusdt@kline_1h");
}

TEST(StreamGroupTest, ControlMessagesAreBinancesShape)
{
    EXPECT_EQ(control_message("SUBSCRIBE", {"btcusdt@kline_1h", "ethusdt@kline_1h"}, 7),
              R"({"method":"SUBSCRIBE","params":["btcusdt@kline_1h","ethusdt@kline_1h"],"id":7})");
    EXPECT_EQ(control_message("UNSUBSCRIBE", {"x@kline_1h"}, 18446744073709551615ull),
              R"({"method":"UNSUBSCRIBE","params":["x@kline_1h"],"id":18446744073709551615})");
    // The group's size bound: 64 bytes of envelope (the longest method and id) plus 3 per name.
    std::vector<std::string> names;
    std::size_t bytes = 64;
    for (int i = 0;; ++i) {
        auto name = fmt::format("sym{:08d}usdt@kline_1h", i);
        if (bytes + name.size() + 3 > 4000) {   // the rule stream_group::tick() packs by
            break;
        }
        bytes += name.size() + 3;
        names.push_back(std::move(name));
    }
    EXPECT_GT(names.size(), 140u);
    EXPECT_LT(control_message("UNSUBSCRIBE", names, 18446744073709551615ull).size(), 4000u);
}

std::vector<std::string> symbols(int from, int to)
{
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) {
        out.push_back(fmt::format("S{:04d}USDT", i));
    }
    return out;
}

TEST(StreamGroupTest, ListingsFillConnectionsUpToTheLimitAndDelistingsLeave)
{
    boost::asio::io_context io;
    std::string error;
    const auto base = make_endpoint("ws://127.0.0.1:9/market/stream", "", error);
    ASSERT_TRUE(base) << error;
    group_options o;
    o.max_streams_per_connection = 512;
    stream_group sut{io, nullptr, *base, {}, {}, o, [](std::string_view, std::int64_t) {}};
    sut.set_symbols(symbols(0, 1100));
    EXPECT_EQ(sut.stream_count(), 1100u);
    EXPECT_EQ(sut.connection_count(), 3u);   // 512 + 512 + 76: never more than the limit
    std::vector<stream_state> st;
    sut.append_status(st);
    ASSERT_EQ(st.size(), 3u);
    EXPECT_EQ(st[0].name, "kline_1h[1] 512 streams (disconnected)");
    EXPECT_EQ(st[1].name, "kline_1h[2] 512 streams (disconnected)");
    EXPECT_EQ(st[2].name, "kline_1h[3] 76 streams (disconnected)");
    EXPECT_FALSE(sut.fresh());
    // 600 delisted (the first ones), 10 new listings: each goes to the connection with the
    // fewest streams.
    auto next = symbols(600, 1100);
    const auto listed = symbols(2000, 2010);
    next.insert(next.end(), listed.begin(), listed.end());
    sut.set_symbols(next);
    EXPECT_EQ(sut.stream_count(), 510u);
    st.clear();
    sut.append_status(st);
    ASSERT_EQ(st.size(), 3u);
    EXPECT_EQ(st[0].name, "kline_1h[1] 10 streams (disconnected)");   // emptied, then the listings
    EXPECT_EQ(st[1].name, "kline_1h[2] 424 streams (disconnected)");
    EXPECT_EQ(st[2].name, "kline_1h[3] 76 streams (disconnected)");
    // The same set again changes nothing; an empty set leaves no stream.
    sut.set_symbols(next);
    EXPECT_EQ(sut.stream_count(), 510u);
    sut.set_symbols({});
    EXPECT_EQ(sut.stream_count(), 0u);
    EXPECT_EQ(sut.connection_count(), 0u);
    EXPECT_TRUE(sut.fresh());
}

}  // namespace
}  // namespace vs::feed
