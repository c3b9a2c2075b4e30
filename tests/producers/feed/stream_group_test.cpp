#include "stream_group.hpp"

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

}  // namespace
}  // namespace vs::feed
