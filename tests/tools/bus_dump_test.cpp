// vs-bus-dump as operators and tests use it: a real process reading a real channel.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "bus_channel.hpp"
#include "process.hpp"
#include "records.hpp"
#include "test_env.hpp"
#include "vs/bus/channel.hpp"
#include "vs/common/clock.hpp"

namespace {

using namespace std::chrono_literals;
using vs::test::child_process;
namespace json = boost::json;

constexpr vs::bus::record_type mark_price_type = 1;

class BusDumpTest : public ::testing::Test {
protected:
    vs::bus::channel_config config() { return vs::test::channel(env, "market", 1u << 20, 1024); }
    std::vector<std::string> dump(std::vector<std::string> args)
    {
        args.insert(args.begin(), {VS_BUS_DUMP, "--bus-prefix", env.prefix()});
        return args;
    }
    std::vector<json::object> run_json(std::vector<std::string> args, int expected_exit = 0)
    {
        child_process p{dump(std::move(args))};
        std::vector<json::object> out;
        while (auto line = p.read_line(10s)) {
            out.push_back(json::parse(*line).as_object());
        }
        EXPECT_EQ(p.wait(10s), std::optional<int>{expected_exit});
        return out;
    }
    vs::test::test_env env;
};

TEST_F(BusDumpTest, TablePrintsOneJsonObjectPerRecordWithDecodedFields)
{
    vs::bus::writer w{config()};
    w.publish(mark_price_type, "BTCUSDT", vs::test::mark_price("BTCUSDT", 67000.5), 100);
    w.publish(mark_price_type, "ETHUSDT", vs::test::mark_price("ETHUSDT", 3500.25), 100);
    w.publish(mark_price_type, "币安人生USDT", vs::test::mark_price("币安人生USDT", 0.0123), 100);
    w.heartbeat();
    auto lines = run_json({"--table", "--once", "--json"});
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0].at("type").as_string(), "MarkPrice");
    EXPECT_EQ(lines[0].at("symbol").as_string(), "BTCUSDT");
    EXPECT_DOUBLE_EQ(lines[0].at("record").as_object().at("mark_price").to_number<double>(), 67000.5);
    EXPECT_EQ(lines[2].at("symbol").as_string(), "币安人生USDT");
    EXPECT_TRUE(lines[0].at("stale").as_bool());  // published at t=100 ns: ancient
}

TEST_F(BusDumpTest, FiltersBySymbolAndType)
{
    vs::bus::writer w{config()};
    w.publish(mark_price_type, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1), vs::realtime_ns());
    w.publish(mark_price_type, "ETHUSDT", vs::test::mark_price("ETHUSDT", 2), vs::realtime_ns());
    w.publish(2, "BTCUSDT", vs::test::mark_price("BTCUSDT", 3), vs::realtime_ns());  // bytes only matter for decode
    auto lines = run_json({"--table", "--once", "--json", "--symbol", "ETHUSDT", "--type", "MarkPrice"});
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].at("symbol").as_string(), "ETHUSDT");
    EXPECT_FALSE(lines[0].at("stale").as_bool());
    lines = run_json({"--table", "--once", "--json", "--type", "markprice"});
    EXPECT_EQ(lines.size(), 2u);
}

TEST_F(BusDumpTest, FollowPrintsRecordsPublishedAfterItStarts)
{
    vs::bus::writer w{config()};
    child_process p{dump({"--follow", "--json", "--count", "3", "--symbol", "BTCUSDT", "--timeout", "20"})};
    std::thread publisher([&] {
        for (int i = 0; i < 200; ++i) {
            w.publish(mark_price_type, "ETHUSDT", vs::test::mark_price("ETHUSDT", i), vs::realtime_ns());
            w.publish(mark_price_type, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1000 + i), vs::realtime_ns());
            w.notify();
            w.heartbeat();
            std::this_thread::sleep_for(20ms);
            if (::kill(p.pid(), 0) != 0) {
                break;
            }
        }
    });
    std::vector<double> prices;
    while (auto line = p.read_line(15s)) {
        auto o = json::parse(*line).as_object();
        EXPECT_EQ(o.at("symbol").as_string(), "BTCUSDT");
        prices.push_back(o.at("record").as_object().at("mark_price").to_number<double>());
    }
    EXPECT_EQ(p.wait(15s), std::optional<int>{0});
    publisher.join();
    ASSERT_EQ(prices.size(), 3u);
    EXPECT_EQ(prices[1], prices[0] + 1);
    EXPECT_EQ(prices[2], prices[1] + 1);
}

TEST_F(BusDumpTest, StatusShowsWriterFactsAndListsChannels)
{
    auto w = std::make_unique<vs::bus::writer>(config());
    w->publish(mark_price_type, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1), 1);
    w->heartbeat();
    auto lines = run_json({"--status", "--once", "--json"});
    ASSERT_GE(lines.size(), 1u);
    EXPECT_TRUE(lines[0].at("writer_alive").as_bool());
    EXPECT_EQ(lines[0].at("generation").to_number<std::uint64_t>(), 1u);
    EXPECT_EQ(lines[0].at("records_published").to_number<std::uint64_t>(), 1u);
    lines = run_json({"--json"});
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].at("channel").as_string(), "market");
    w.reset();
    lines = run_json({"--status", "--once", "--json"});
    ASSERT_GE(lines.size(), 1u);
    EXPECT_FALSE(lines[0].at("writer_alive").as_bool());
}

TEST_F(BusDumpTest, MissingChannelExitsOneWithAMessage)
{
    child_process p{dump({"--table", "--once", "--channel", "nothing"})};
    EXPECT_EQ(p.wait(10s), std::optional<int>{1});
}

TEST_F(BusDumpTest, UsageErrorsExitTwoAndHelpExitsZero)
{
    child_process bad{dump({"--frobnicate"})};
    EXPECT_EQ(bad.wait(10s), std::optional<int>{2});
    child_process bad_type{dump({"--table", "--type", "NoSuchType"})};
    EXPECT_EQ(bad_type.wait(10s), std::optional<int>{2});
    child_process two_modes{dump({"--table", "--follow"})};
    EXPECT_EQ(two_modes.wait(10s), std::optional<int>{2});
    child_process help{dump({"--help"})};
    auto first = help.read_line(10s);
    ASSERT_TRUE(first);
    EXPECT_NE(first->find("vs-bus-dump"), std::string::npos);
    EXPECT_EQ(help.wait(10s), std::optional<int>{0});
}

}  // namespace
