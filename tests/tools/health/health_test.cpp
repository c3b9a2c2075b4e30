// vs-health against real processes: a vs-replay (local Binance look-alike) and a vs-feed
// writing a unique bus prefix. Healthy is exit 0; a stalled mark stream, a killed feed, a
// missing channel or too few symbols are exit 1 with the reason; a bad flag is exit 2.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "bus_channel.hpp"
#include "http.hpp"
#include "records.hpp"
#include "replay_process.hpp"
#include "service_process.hpp"
#include "test_env.hpp"
#include "vs/bus/channel.hpp"
#include "vs/common/clock.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

using vs::test::read_file;

struct health_result {
    int exit_code = -1;
    std::string out;
    json::value report;   // with --json
};

class HealthTest : public ::testing::Test {
protected:
    void SetUp() override { fs::create_directories(env_.state_dir() / "state"); }

    /// vs-replay on 127.0.0.1:<any> and vs-feed on this test's prefix, fed by it.
    void start_market(std::vector<std::string> feed_args = {})
    {
        replay_ = std::make_unique<vs::test::replay_process>(
            VS_REPLAY, std::vector<std::string>{"--symbols", "600"}, vs::test::as_unit(base_env(), env_.state_dir() / "replay.log"));
        ASSERT_NE(replay_->port(), 0) << read_file(env_.state_dir() / "replay.log");
        port_ = replay_->port();
        std::vector<std::string> argv{VS_FEED,      "--bus-prefix", env_.prefix(), "--state-dir",
                                      (env_.state_dir() / "state").string(), "--ws-url", replay_->ws_url()};
        argv.insert(argv.end(), feed_args.begin(), feed_args.end());
        feed_ = std::make_unique<vs::test::child_process>(argv, vs::test::as_unit(base_env(), env_.state_dir() / "feed.log"));
    }

    vs::test::env_map base_env() const { return {{"PATH", "/usr/bin:/bin"}, {"VS_LOG_LEVEL", "info"}}; }

    health_result health(std::vector<std::string> args)
    {
        std::vector<std::string> argv{VS_HEALTH};
        argv.insert(argv.end(), args.begin(), args.end());
        // The environment of the test (no VS_* of a production install leaks in: every
        // setting that matters is a flag).
        auto r = vs::test::run(argv, {{"VS_BUS_PREFIX", env_.prefix()}}, 30s);
        health_result h{r.exit_code, r.out, {}};
        if (std::find(args.begin(), args.end(), "--json") != args.end() && r.exit_code != 2) {
            boost::system::error_code ec;
            h.report = json::parse(r.out, ec);
            EXPECT_FALSE(ec) << "not JSON: " << r.out << r.err;
        }
        return h;
    }

    /// Runs vs-health until it exits with `code` or the deadline passes; the last result.
    health_result health_until(int code, std::vector<std::string> args, std::chrono::seconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto h = health(args);
            if (h.exit_code == code || std::chrono::steady_clock::now() >= deadline) {
                return h;
            }
            std::this_thread::sleep_for(200ms);
        }
    }

    std::string logs() const
    {
        return "--- feed.log\n" + read_file(env_.state_dir() / "feed.log") + "--- replay.log\n" +
               read_file(env_.state_dir() / "replay.log");
    }

    static std::string problems(const health_result& h)
    {
        if (!h.report.is_object() || !h.report.as_object().contains("problems")) {
            return h.out;
        }
        return json::serialize(h.report.at("problems"));
    }

    vs::test::test_env env_;
    std::unique_ptr<vs::test::replay_process> replay_;
    std::unique_ptr<vs::test::child_process> feed_;
    unsigned short port_ = 0;
};

TEST_F(HealthTest, HealthyWithALiveReplayAndFeed)
{
    start_market();
    // Healthy as soon as the feed has the whole market (600 symbols >= 500) and fresh streams.
    auto h = health_until(0, {"--json", "--units", ""}, 30s);
    ASSERT_EQ(h.exit_code, 0) << h.out << logs();
    const auto& o = h.report.as_object();
    EXPECT_TRUE(o.at("healthy").as_bool());
    EXPECT_TRUE(o.at("problems").as_array().empty());
    EXPECT_GE(o.at("market").at("symbols").as_int64(), 500);
    EXPECT_EQ(o.at("market").at("invalid").as_int64(), 0);
    EXPECT_TRUE(o.at("feed").at("connected").as_bool());
    EXPECT_TRUE(o.at("feed").at("healthy").as_bool());
    ASSERT_FALSE(o.at("channels").as_array().empty());
    const auto& market = o.at("channels").as_array().at(0).as_object();
    EXPECT_EQ(market.at("channel").as_string(), "market");
    EXPECT_TRUE(market.at("writer_alive").as_bool());
    EXPECT_EQ(market.at("writer_pid").as_int64(), feed_->pid());
    EXPECT_GE(market.at("generation").to_number<std::uint64_t>(), 1u);

    // Human output: first line says healthy, every check line says ok.
    auto text = health({"--units", ""});
    EXPECT_EQ(text.exit_code, 0);
    EXPECT_EQ(text.out.rfind("vs-health: healthy", 0), 0u) << text.out;
    EXPECT_EQ(text.out.find("FAIL"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("channel market: writer pid " + std::to_string(feed_->pid()) + " alive"),
              std::string::npos)
        << text.out;
}

TEST_F(HealthTest, StalledMarkStreamIsUnhealthyWithTheStreamNamed)
{
    start_market({"--stale-mark-s", "2"});
    ASSERT_EQ(health_until(0, {"--json", "--units", ""}, 30s).exit_code, 0) << logs();

    // The socket stays connected; only the mark price stream falls silent (as after
    // Binance's 2026-04-23 re-routing on the old URL).
    ASSERT_EQ(vs::test::loopback_http(port_, "POST",
                                      "/_control/stall?streams=" + vs::test::url_encode("!markPrice@arr@1s") + "&seconds=0")
                  .status,
              200);
    // The feed marks the stream stale after 2 s (and replaces the connection, which stays
    // as silent): unhealthy, with the silent stream named.
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    health_result h;
    do {
        h = health({"--json", "--units", ""});
    } while ((h.exit_code != 1 || problems(h).find("stream !markPrice@arr@1s: STALE") == std::string::npos) &&
             std::chrono::steady_clock::now() < deadline && (std::this_thread::sleep_for(200ms), true));
    ASSERT_EQ(h.exit_code, 1) << h.out << logs();
    EXPECT_FALSE(h.report.at("healthy").as_bool());
    EXPECT_FALSE(h.report.at("feed").at("healthy").as_bool());
    const std::string p = problems(h);
    EXPECT_NE(p.find("stream !markPrice@arr@1s: STALE"), std::string::npos) << p << logs();
    EXPECT_NE(p.find("feed healthy"), std::string::npos) << p;
    // The writer itself is alive: the channel check passes.
    EXPECT_EQ(p.find("channel market"), std::string::npos) << p;

    // And it recovers when the stream resumes.
    ASSERT_EQ(
        vs::test::loopback_http(port_, "POST", "/_control/resume?streams=" + vs::test::url_encode("!markPrice@arr@1s")).status,
        200);
    EXPECT_EQ(health_until(0, {"--json", "--units", ""}, 20s).exit_code, 0) << logs();
}

TEST_F(HealthTest, KilledFeedIsUnhealthy)
{
    start_market();
    ASSERT_EQ(health_until(0, {"--json", "--units", ""}, 30s).exit_code, 0) << logs();
    const auto pid = feed_->pid();
    feed_->kill();

    auto h = health_until(1, {"--json", "--units", "", "--max-heartbeat-age-s", "1"}, 10s);
    ASSERT_EQ(h.exit_code, 1) << h.out;
    const auto& market = h.report.at("channels").as_array().at(0).as_object();
    EXPECT_FALSE(market.at("writer_alive").as_bool());
    EXPECT_EQ(market.at("writer_pid").as_int64(), pid);
    const std::string p = problems(h);
    EXPECT_NE(p.find("channel market: writer (pid " + std::to_string(pid)), std::string::npos) << p;
    EXPECT_NE(p.find("DEAD"), std::string::npos) << p;
    // The dead feed's last status (connected, healthy) is not taken for the truth.
    EXPECT_NE(p.find("feed status: the feed is not running"), std::string::npos) << p;
    EXPECT_FALSE(h.report.at("feed").at("running").as_bool());

    auto text = health({"--units", "", "--max-heartbeat-age-s", "1"});
    EXPECT_EQ(text.exit_code, 1);
    EXPECT_EQ(text.out.rfind("vs-health: UNHEALTHY", 0), 0u) << text.out;
}

TEST_F(HealthTest, TooFewSymbolsIsUnhealthy)
{
    start_market();
    ASSERT_EQ(health_until(0, {"--json", "--units", ""}, 30s).exit_code, 0) << logs();
    auto h = health({"--json", "--units", "", "--min-symbols", "5000"});
    EXPECT_EQ(h.exit_code, 1);
    EXPECT_NE(problems(h).find("symbols: 600 USDⓈ-M symbols with a mark price (minimum 5000)"), std::string::npos)
        << problems(h);
}

TEST_F(HealthTest, MissingMarketChannelIsUnhealthy)
{
    // No writer ever started under this prefix; a non-bus segment of the prefix (the REST
    // weight budget) is not mistaken for a channel.
    const fs::path weight = "/dev/shm/" + env_.prefix() + ".rest-weight";
    std::ofstream{weight} << "not a channel";
    auto h = health({"--json", "--units", ""});
    EXPECT_EQ(h.exit_code, 1) << h.out;
    ASSERT_EQ(h.report.at("channels").as_array().size(), 1u) << h.out;
    EXPECT_NE(problems(h).find("channel market: no segment /dev/shm/" + env_.prefix() + ".market"), std::string::npos)
        << problems(h);
    fs::remove(weight);
}

TEST_F(HealthTest, BadFlagsAreUsageErrors)
{
    for (const auto& args : std::vector<std::vector<std::string>>{{"--no-such-flag"},
                                                                  {"--min-symbols", "many"},
                                                                  {"--stale-seconds", "-1"},
                                                                  {"--json=yes"},
                                                                  {"stray-argument"},
                                                                  {"--max-heartbeat-age-s"}}) {
        auto h = health(args);
        EXPECT_EQ(h.exit_code, 2) << args.front();
    }
    auto help = health({"--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.out.find("--min-symbols"), std::string::npos);
    EXPECT_NE(help.out.find("VS_HEALTH_MIN_SYMBOLS"), std::string::npos);
}

TEST_F(HealthTest, InvalidAndStaleMarkPricesAreUnhealthyBeyondTheirAllowance)
{
    // A writer of our own: 600 good symbols, 3 without a mark price, 1 without a funding
    // rate, 12 not updated for 5 minutes (as a delisted symbol restored from a snapshot).
    std::atomic<bool> published{false}, stop{false};
    std::thread writer_thread([&] {
        // A writer belongs to one thread: all of its calls are here.
        vs::bus::writer w{vs::test::channel(env_, "market", 1u << 20, 1024, 1024)};
        const std::int64_t now = vs::realtime_ns();
        const auto mark = static_cast<vs::bus::record_type>(vs::schema::RecordType::MarkPrice);
        for (int i = 0; i < 600; ++i) {
            const auto sym = "GOOD" + std::to_string(i) + "USDT";
            w.publish(mark, sym, vs::test::mark_price(sym, 100.0 + i), now);
        }
        for (int i = 0; i < 3; ++i) {
            const auto sym = "NOMARK" + std::to_string(i) + "USDT";
            w.publish(mark, sym, vs::test::mark_price(sym, std::nan("")), now);
        }
        w.publish(mark, "NOFUNDINGUSDT", vs::test::mark_price("NOFUNDINGUSDT", 5.0, 1'700'000'000'000, std::nan("")), now);
        for (int i = 0; i < 12; ++i) {
            const auto sym = "OLD" + std::to_string(i) + "USDT";
            w.publish(mark, sym, vs::test::mark_price(sym, 1.0), now - 300'000'000'000LL);
        }
        // A FeedStatus as vs-feed writes it: connected, healthy, one fresh stream.
        const vs::test::feed_status_fields status{.recv_time_ns = now,
                                                  .url = "ws://127.0.0.1:1/market/stream",
                                                  .symbol_count = 616,
                                                  .streams = {{"!markPrice@arr@1s", now, 100, 10'000, false}}};
        w.publish(status.type, status.symbol, vs::test::encode(status), now);
        published.store(true, std::memory_order_release);   // pairs with the test's acquire load
        while (!stop.load(std::memory_order_relaxed)) {      // relaxed: a stop request, no data
            w.heartbeat();
            std::this_thread::sleep_for(50ms);
        }
    });
    while (!published.load(std::memory_order_acquire)) {
        std::this_thread::sleep_for(5ms);
    }

    auto h = health({"--json", "--units", ""});
    EXPECT_EQ(h.exit_code, 1) << h.out;
    const std::string p = problems(h);
    EXPECT_NE(p.find("invalid values: 4 records without a valid mark price or funding rate"), std::string::npos) << p;
    EXPECT_NE(p.find("NOMARK0USDT"), std::string::npos) << p;
    EXPECT_NE(p.find("fresh mark prices: 12 not updated for more than 180 s"), std::string::npos) << p;
    EXPECT_EQ(p.find("channel market"), std::string::npos) << p;
    EXPECT_EQ(h.report.at("market").at("symbols").as_int64(), 613);   // the 3 without a mark price left out
    EXPECT_EQ(h.report.at("market").at("rows").as_int64(), 616);
    EXPECT_EQ(h.report.at("market").at("invalid").as_int64(), 4);
    EXPECT_EQ(h.report.at("market").at("stale").as_int64(), 12);

    // Within the allowances (and a shorter stale time that still spares the fresh ones) it
    // is healthy; one more stale record than allowed is not.
    EXPECT_EQ(health({"--json", "--units", "", "--max-invalid", "4", "--max-stale", "12"}).exit_code, 0);
    EXPECT_EQ(health({"--json", "--units", "", "--max-invalid", "4", "--max-stale", "11"}).exit_code, 1);
    EXPECT_EQ(health({"--json", "--units", "", "--max-invalid", "4", "--max-stale", "12", "--stale-seconds", "400"})
                  .report.at("market").at("stale").as_int64(),
              0);

    stop.store(true, std::memory_order_relaxed);
    writer_thread.join();
}

/// A systemctl stand-in: `show` answers from a states file ("unit load active sub result"
/// lines), every call is appended to a log.
fs::path fake_systemctl(const fs::path& dir)
{
    const fs::path script = dir / "systemctl";
    std::ofstream{script} << R"(#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_DIR/calls"
[ "$1" = show ] || exit 0
shift
first=1
for u in "$@"; do
  case "$u" in --*) continue ;; esac
  [ $first = 1 ] || echo
  first=0
  line=$(grep "^$u " "$FAKE_SYSTEMCTL_DIR/states")
  set -- $line
  echo "Id=$u"
  echo "LoadState=${2:-not-found}"
  echo "ActiveState=${3:-inactive}"
  echo "SubState=${4:-dead}"
  echo "Result=${5:-success}"
done
)";
    fs::permissions(script, fs::perms::owner_all);
    return script;
}

TEST_F(HealthTest, RestartResetsAndRestartsOnlyTheUnitsThatAreDown)
{
    const fs::path dir = env_.state_dir();
    const auto systemctl = fake_systemctl(dir);
    std::ofstream{dir / "states"} << "vs-feed.service loaded failed failed start-limit-hit\n"
                                     "vs-api.service loaded active running success\n"
                                     "vs-deliver.service loaded inactive dead success\n";
    const std::string units = "vs-feed.service,vs-api.service,vs-deliver.service,vs-nope.service";
    auto run = [&](bool restart) {
        std::vector<std::string> argv{VS_HEALTH, "--json", "--systemctl", systemctl.string(), "--units", units};
        if (restart) {
            argv.push_back("--restart");
        }
        auto r = vs::test::run(argv, {{"VS_BUS_PREFIX", env_.prefix()}, {"FAKE_SYSTEMCTL_DIR", dir.string()}});
        EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
        return json::parse(r.out);
    };

    // Without --restart: states reported, nothing restarted.
    auto report = run(false);
    std::map<std::string, bool> ok;
    for (const auto& c : report.at("checks").as_array()) {
        ok[std::string{c.at("name").as_string()}] = c.at("ok").as_bool();
    }
    EXPECT_FALSE(ok.at("unit vs-feed.service"));
    EXPECT_TRUE(ok.at("unit vs-api.service"));
    EXPECT_FALSE(ok.at("unit vs-deliver.service"));
    EXPECT_FALSE(ok.at("unit vs-nope.service"));
    EXPECT_NE(problems(health_result{1, "", report}).find("unit vs-nope.service: not installed (not-found)"),
              std::string::npos);
    EXPECT_EQ(read_file(dir / "calls").find("restart"), std::string::npos) << read_file(dir / "calls");

    // With --restart: the failed unit is reset (its start limit) and restarted, the inactive
    // one restarted, the active and the missing ones left alone.
    fs::remove(dir / "calls");
    report = run(true);
    EXPECT_EQ(json::serialize(report.at("restarted")), R"(["vs-feed.service","vs-deliver.service"])");
    const std::string calls = read_file(dir / "calls");
    EXPECT_NE(calls.find("reset-failed vs-feed.service\nrestart --no-block vs-feed.service\n"), std::string::npos)
        << calls;
    EXPECT_NE(calls.find("restart --no-block vs-deliver.service"), std::string::npos) << calls;
    EXPECT_EQ(calls.find("restart --no-block vs-api.service"), std::string::npos) << calls;
    EXPECT_EQ(calls.find("restart --no-block vs-nope.service"), std::string::npos) << calls;
}

TEST_F(HealthTest, UnitChecksAreSkippedWithANoteWhenSystemdIsNotRunning)
{
    if (fs::exists("/run/systemd/system")) {
        GTEST_SKIP() << "systemd runs here: unit states are real";
    }
    auto h = health({"--json", "--restart"});
    ASSERT_TRUE(h.report.is_object()) << h.out;
    EXPECT_TRUE(h.report.at("units").as_array().empty());
    EXPECT_TRUE(h.report.at("restarted").as_array().empty());
    EXPECT_NE(json::serialize(h.report.at("notes")).find("systemd is not running"), std::string::npos);
}

}  // namespace
