// vs-snapshot: list, info, get and export of a real LMDB snapshot.
#include <chrono>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "bus_channel.hpp"
#include "process.hpp"
#include "records.hpp"
#include "test_env.hpp"
#include "vs/bus/snapshot.hpp"

namespace {

using namespace std::chrono_literals;
using vs::test::child_process;
namespace json = boost::json;

class SnapshotToolTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        vs::bus::writer w{vs::test::channel(env, "market", 1u << 20, 1024)};
        w.publish(1, "BTCUSDT", vs::test::mark_price("BTCUSDT", 67000.5), 111);
        w.publish(1, "ETHUSDT", vs::test::mark_price("ETHUSDT", 3500), 222);
        vs::bus::snapshot_store s{env.state_dir(), "market"};
        s.save(w);
    }
    std::vector<std::string> lines(std::vector<std::string> args, int expected_exit)
    {
        args.insert(args.begin(), {VS_SNAPSHOT, "--state-dir", env.state_dir().string()});
        child_process p{args};
        std::vector<std::string> out;
        while (auto l = p.read_line(10s)) {
            out.push_back(*l);
        }
        EXPECT_EQ(p.wait(10s), std::optional<int>{expected_exit});
        return out;
    }
    vs::test::test_env env;
};

TEST_F(SnapshotToolTest, ExportPrintsEveryRecordWithItsOriginalTime)
{
    auto out = lines({"export", "--channel", "market"}, 0);
    ASSERT_EQ(out.size(), 2u);
    auto o = json::parse(out[0]).as_object();
    EXPECT_EQ(o.at("symbol").as_string(), "BTCUSDT");
    EXPECT_EQ(o.at("publish_ns").to_number<std::int64_t>(), 111);
    EXPECT_DOUBLE_EQ(o.at("record").as_object().at("mark_price").to_number<double>(), 67000.5);
}

TEST_F(SnapshotToolTest, GetFindsOneSymbolAndFailsForAnUnknownOne)
{
    auto out = lines({"get", "--symbol", "ETHUSDT"}, 0);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(json::parse(out[0]).as_object().at("publish_ns").to_number<std::int64_t>(), 222);
    lines({"get", "--symbol", "NOPEUSDT"}, 1);
}

TEST_F(SnapshotToolTest, ListAndInfoShowCountAndSchemaMatch)
{
    auto out = lines({"list", "--json"}, 0);
    ASSERT_EQ(out.size(), 1u);
    auto o = json::parse(out[0]).as_object();
    EXPECT_EQ(o.at("channel").as_string(), "market");
    EXPECT_EQ(o.at("records").to_number<std::uint64_t>(), 2u);
    EXPECT_TRUE(o.at("schema_matches").as_bool());
    out = lines({"info", "--json"}, 0);
    ASSERT_EQ(out.size(), 1u);
}

TEST_F(SnapshotToolTest, MissingSnapshotFailsAndBadCommandIsUsage)
{
    lines({"info", "--channel", "nothing"}, 1);
    lines({"frobnicate"}, 2);
    lines({}, 2);
}

}  // namespace
