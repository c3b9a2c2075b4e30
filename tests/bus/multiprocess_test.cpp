// Real processes on one channel: writers killed with SIGKILL at random points while reader
// processes verify every record; readers killed; a second writer refused.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "bus_channel.hpp"
#include "process.hpp"
#include "test_env.hpp"
#include "vs/bus/channel.hpp"

namespace {

using namespace std::chrono_literals;
using vs::test::child_process;

std::string peer() { return VS_STRESS_PEER; }

int kill_iterations()
{
    if (const char* v = std::getenv("VS_KILL_ITERATIONS")) {
        return std::atoi(v);
    }
    return 200;
}

std::uint64_t field(const std::string& report, const std::string& name)
{
    auto pos = report.find(name + "=");
    if (pos == std::string::npos) {
        return ~0ull;
    }
    return std::strtoull(report.c_str() + pos + name.size() + 1, nullptr, 10);
}

/// The channel stress_peer uses.
vs::bus::channel_config config(const std::string& prefix) { return vs::test::channel(prefix, "stress", 256u << 10, 64, 320); }

TEST(BusMultiProcessTest, WriterKilledAtRandomPointsNeverTearsOrHangsAReader)
{
    vs::test::test_env env;
    const int iterations = kill_iterations();
    child_process reader_a({peer(), "reader", env.prefix(), "stress"});
    child_process reader_b({peer(), "reader", env.prefix(), "stress"});
    vs::bus::reader probe{config(env.prefix())};
    std::mt19937 rng{12345};
    std::chrono::nanoseconds worst_dead{0};
    std::chrono::nanoseconds worst_pickup{0};
    std::uint64_t last_generation = 0;
    for (int i = 0; i < iterations; ++i) {
        const auto started = std::chrono::steady_clock::now();
        child_process w({peer(), "writer", env.prefix(), "stress"});
        auto ready = w.wait_for_line("ready ", 5s);
        ASSERT_TRUE(ready) << "writer " << i << " did not start";
        last_generation = std::strtoull(ready->c_str() + 6, nullptr, 10);
        // Every 20th restart: the running reader processes must pick the writer up within 2 s.
        if (i % 20 == 0) {
            const std::string want = "gen " + std::to_string(last_generation);
            auto a = reader_a.wait_for_line(want, 2s);
            auto b = reader_b.wait_for_line(want, 2s);
            ASSERT_TRUE(a && b) << "readers did not pick up generation " << last_generation << " within 2 s";
            worst_pickup = std::max<std::chrono::nanoseconds>(worst_pickup, std::chrono::steady_clock::now() - started);
        }
        std::this_thread::sleep_for(std::chrono::microseconds{rng() % 15000});
        w.signal(SIGKILL);
        ASSERT_TRUE(w.wait(5s));
        const auto killed = std::chrono::steady_clock::now();
        while (probe.status().writer_alive) {
            ASSERT_LT(std::chrono::steady_clock::now() - killed, 1s) << "writer death not seen within 1 s";
            std::this_thread::sleep_for(1ms);
        }
        worst_dead = std::max<std::chrono::nanoseconds>(worst_dead, std::chrono::steady_clock::now() - killed);
    }
    // Readers must still be responsive (not hung) and must never have seen a torn record.
    for (auto* r : {&reader_a, &reader_b}) {
        r->signal(SIGTERM);
        auto report = r->wait_for_line("report ", 5s);
        ASSERT_TRUE(report) << "a reader process hung";
        EXPECT_EQ(field(*report, "torn"), 0u) << *report;
        EXPECT_EQ(field(*report, "backwards"), 0u) << *report;
        EXPECT_EQ(field(*report, "table_torn"), 0u) << *report;
        EXPECT_GT(field(*report, "records"), 0u) << *report;
        EXPECT_GT(field(*report, "table_reads"), 0u) << *report;
        EXPECT_EQ(r->wait(5s), std::optional<int>{0});
        std::printf("%s\n", report->c_str());
    }
    std::printf("kills=%d worst writer-death detection=%.3f ms worst restart pick-up=%.3f ms last generation=%llu\n",
                iterations, std::chrono::duration<double, std::milli>(worst_dead).count(),
                std::chrono::duration<double, std::milli>(worst_pickup).count(),
                static_cast<unsigned long long>(last_generation));
    EXPECT_LT(worst_dead, 1s);
    EXPECT_LT(worst_pickup, 2s);
}

TEST(BusMultiProcessTest, KilledReaderLeavesWriterAndOtherReadersUnaffected)
{
    vs::test::test_env env;
    child_process w({peer(), "writer", env.prefix(), "stress"});
    ASSERT_TRUE(w.wait_for_line("ready ", 5s));
    child_process victim({peer(), "reader", env.prefix(), "stress"});
    child_process survivor({peer(), "reader", env.prefix(), "stress"});
    ASSERT_TRUE(victim.wait_for_line("gen ", 5s));
    ASSERT_TRUE(survivor.wait_for_line("gen ", 5s));
    vs::bus::reader probe{config(env.prefix()), vs::bus::reader_options{false, "probe", 1000ms}};
    const auto before = probe.status();
    EXPECT_EQ(before.readers, 2u);
    victim.signal(SIGKILL);
    ASSERT_TRUE(victim.wait(5s));
    // The writer keeps publishing and sweeps the dead reader's registry slot.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    vs::bus::channel_status after;
    do {
        std::this_thread::sleep_for(50ms);
        after = probe.status();
    } while (after.readers != 1 && std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(after.readers, 1u);
    EXPECT_TRUE(after.writer_alive);
    EXPECT_GT(after.records_published, before.records_published);
    survivor.signal(SIGTERM);
    auto report = survivor.wait_for_line("report ", 5s);
    ASSERT_TRUE(report);
    EXPECT_EQ(field(*report, "torn"), 0u);
    EXPECT_GT(field(*report, "records"), 0u);
}

TEST(BusMultiProcessTest, SecondWriterProcessExitsWithAClearError)
{
    vs::test::test_env env;
    child_process first({peer(), "writer", env.prefix(), "stress"});
    ASSERT_TRUE(first.wait_for_line("ready ", 5s));
    child_process second({peer(), "writer", env.prefix(), "stress"});
    EXPECT_EQ(second.wait(5s), std::optional<int>{1});
    EXPECT_TRUE(first.wait(100ms) == std::nullopt) << "the first writer must keep running";
}

}  // namespace
