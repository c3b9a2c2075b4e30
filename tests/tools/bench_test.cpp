// vs-bus-bench: a short run (1 run, few samples) prints one JSON object holding every figure the
// bus issue asks for, each of them measured (finite, positive, percentiles in order). The
// figures themselves are checked by people and scripts against full runs, never here: this
// machine is shared, so a timed assertion would only measure the neighbours.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "process.hpp"
#include "test_env.hpp"

namespace {

using namespace std::chrono_literals;
using vs::test::child_process;
namespace json = boost::json;

double number(const json::object& o, const char* key)
{
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_number()) {
        ADD_FAILURE() << "missing figure " << key;
        return NAN;
    }
    return v->to_number<double>();
}

void expect_latency(const json::object& o, const char* key, double samples)
{
    SCOPED_TRACE(key);
    const auto* v = o.if_contains(key);
    ASSERT_TRUE(v != nullptr && v->is_object()) << "missing " << key;
    const auto& l = v->as_object();
    const double p50 = number(l, "p50"), p99 = number(l, "p99"), p999 = number(l, "p999"), max = number(l, "max");
    EXPECT_GT(p50, 0);
    EXPECT_LE(p50, p99);
    EXPECT_LE(p99, p999);
    EXPECT_LE(p999, max);
    EXPECT_EQ(number(l, "samples_per_run"), samples);
}

TEST(BusBenchTest, ShortRunPrintsEveryFigureAsOneJsonObject)
{
    vs::test::test_env env;
    const std::filesystem::path baseline = VS_BASELINE_DIR;
    child_process p{{VS_BUS_BENCH, "--bus-prefix", env.prefix(), "--state-dir", env.state_dir().string(), "--runs",
                     "1", "--samples", "1000", "--records", "100000", "--baseline-dir", baseline.string(), "--json",
                     "--log-level", "warn"}};
    std::string text;
    while (auto l = p.read_line(300s)) {
        text += *l;
    }
    ASSERT_EQ(p.wait(300s), std::optional<int>{0});
    const auto o = json::parse(text).as_object();
    EXPECT_EQ(number(o, "cores"), static_cast<double>(std::thread::hardware_concurrency()));
    expect_latency(o, "latency_spin_1_reader_ns", 1000);
    expect_latency(o, "latency_block_4_readers_ns", 1000);
    expect_latency(o, "latency_block_4_futex_floor_ns", 1000);
    EXPECT_GT(number(o, "ratio_block_p50_over_futex_floor"), 0);
    ASSERT_TRUE(o.contains("latency_spin_cache_line_floor_ns"));
    const auto& floor = o.at("latency_spin_cache_line_floor_ns").as_object();
    EXPECT_GT(number(floor, "p50"), 0);
    EXPECT_LE(number(floor, "p50"), number(floor, "p99"));
    EXPECT_GT(number(o, "ratio_spin_p50_over_cache_line_floor"), 0);
    // Every spinning run is reported with its own floor and the time the host took.
    const auto& spin = o.at("latency_spin_1_reader_ns").as_object();
    ASSERT_EQ(spin.at("runs").as_array().size(), 1u);
    const auto& run = spin.at("runs").as_array()[0].as_object();
    for (const char* k : {"p50", "p99", "floor_p50"}) {
        EXPECT_GT(number(run, k), 0) << k;
    }
    for (const char* k : {"reader_stalled_share", "writer_stalled_share"}) {
        EXPECT_GE(number(run, k), 0) << k;
        EXPECT_LT(number(run, k), 1) << k;
    }
    for (const char* k : {"ring_publish_per_s_1mib_ring", "ring_publish_per_s_8mib_ring", "encode_publish_per_s",
                          "writer_cpu_ns_per_publish_0_readers", "writer_cpu_ns_per_publish_8_polling_readers",
                          "read_all_marks_bus_us"}) {
        EXPECT_GT(number(o, k), 0) << k;
    }
    EXPECT_GE(number(o, "writer_cost_pairs"), 9);
    EXPECT_TRUE(std::isfinite(number(o, "writer_cost_change_8_polling_readers")));
    if (std::filesystem::exists(baseline / "make_state.py")) {
        // The old design, measured in the same run: 648 symbols in .funding_state.json.
        EXPECT_GT(number(o, "state_file_bytes"), 100'000);
        EXPECT_GT(number(o, "ratio_simdjson_file_over_bus"), 0);
        EXPECT_GT(number(o, "ratio_python_json_file_over_bus"), 0);
    } else {
        EXPECT_EQ(o.if_contains("ratio_simdjson_file_over_bus"), nullptr);
    }
}

TEST(BusBenchTest, BadArgumentsAreUsageErrors)
{
    vs::test::test_env env;
    for (std::vector<std::string> args : {std::vector<std::string>{"--runs", "0"}, {"--role", "nonsense"}, {"--frobnicate"}}) {
        args.insert(args.begin(), {VS_BUS_BENCH, "--bus-prefix", env.prefix()});
        child_process p{args};
        while (p.read_line(10s)) {
        }
        EXPECT_EQ(p.wait(10s), std::optional<int>{2}) << args.back();
    }
}

}  // namespace
