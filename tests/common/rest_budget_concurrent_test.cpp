// Several real processes share one weight budget (the helper executable, fork + exec),
// against the tests' own HTTP server, which plays Binance: it counts the weight per window
// by arrival time, answers X-MBX-USED-WEIGHT-1M, and 429/418 on cue.
#include <algorithm>
#include <cstdio>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "http_test_server.hpp"
#include "process.hpp"
#include "test_env.hpp"
#include "vs/common/clock.hpp"

namespace {

using vs::test::http_test_server;
using vs::test::received_request;
using vs::test::test_reply;

/// A poller helper process; its tally goes to `out_path` (stdout).
struct poller {
    std::string out_path;
    vs::test::child_process process;
};

poller spawn_poller(const vs::test::test_env& env, const std::string& url, int ceiling, int window_ms, int guard_ms,
                    int duration_ms, int interval_ms, int n)
{
    const char* helper = std::getenv("VS_REST_POLLER_HELPER");
    if (helper == nullptr) {
        throw std::runtime_error("VS_REST_POLLER_HELPER is not set (run through meson test)");
    }
    const auto out_path = (env.state_dir() / ("poller" + std::to_string(n) + ".out")).string();
    return {out_path,
            vs::test::child_process{{helper, url, env.prefix(), std::to_string(ceiling), std::to_string(window_ms),
                                     std::to_string(guard_ms), std::to_string(duration_ms), std::to_string(interval_ms)},
                                    {.out = vs::test::sink::file(out_path, false)}}};
}

std::map<std::string, int> wait_for(poller& c)
{
    const auto code = c.process.wait(std::chrono::seconds{30});
    EXPECT_EQ(code, 0) << "poller exited with " << code.value_or(-1);
    std::map<std::string, int> tally;
    std::ifstream in{c.out_path};
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos) {
            tally[line.substr(0, eq)] = std::stoi(line.substr(eq + 1));
        }
    }
    return tally;
}

// Binance look-alike: weight per window by arrival; the handler adds a fault on cue.
class fake_binance {
public:
    explicit fake_binance(int window_ms) : window_ms_(window_ms)
    {
        server_ = std::make_unique<http_test_server>([this](const received_request& r) { return handle(r); });
    }
    std::function<std::optional<test_reply>(const received_request&, int nth)> fault;
    int external_weight = 0;   ///< weight other clients of the same IP use in every window
    std::string url() const { return server_->url(); }
    std::vector<received_request> requests() const { return server_->requests(); }

private:
    test_reply handle(const received_request& r)
    {
        int used = 0;
        int nth = 0;
        {
            std::lock_guard lock{mu_};
            used = (weight_[r.at_ms / window_ms_] += 1) + external_weight;
            nth = ++n_;
        }
        if (fault) {
            if (auto f = fault(r, nth)) {
                return *f;
            }
        }
        return test_reply{200, {{"X-MBX-USED-WEIGHT-1M", std::to_string(used)}},
                          R"({"openInterest":"10659.509","symbol":"BTCUSDT","time":1})"};
    }
    int window_ms_;
    std::mutex mu_;
    std::map<std::int64_t, int> weight_;
    int n_ = 0;
    std::unique_ptr<http_test_server> server_;
};

TEST(RestBudgetConcurrentTest, TwoProcessesNeverExceedTheCeilingInAnyWindow)
{
    vs::test::test_env env;
    constexpr int window = 1'000;
    constexpr int ceiling = 25;
    fake_binance binance{window};
    auto a = spawn_poller(env, binance.url(), ceiling, window, 250, 3'500, 0, 1);
    auto b = spawn_poller(env, binance.url(), ceiling, window, 250, 3'500, 0, 2);
    auto ta = wait_for(a);
    auto tb = wait_for(b);

    std::map<std::int64_t, int> per_window;
    for (const auto& r : binance.requests()) {
        ++per_window[r.at_ms / window];
    }
    int busiest = 0;
    for (const auto& [w, n] : per_window) {
        EXPECT_LE(n, ceiling) << "window " << w;
        busiest = std::max(busiest, n);
    }
    EXPECT_GT(ta["ok"], 0);
    EXPECT_GT(tb["ok"], 0);
    // Both hammered without pause: the budget, not idleness, is what limited them.
    EXPECT_GE(busiest, ceiling - 5);
    std::string counts;
    for (const auto& [w, n] : per_window) {
        counts += " " + std::to_string(n);
    }
    std::printf("measured: weight per %d ms window (ceiling %d):%s; requests answered: A %d, B %d\n",
                window, ceiling, counts.c_str(), ta["ok"], tb["ok"]);
    RecordProperty("busiest_window_weight", busiest);
    RecordProperty("windows", static_cast<int>(per_window.size()));
}

TEST(RestBudgetConcurrentTest, ServerReportedWeightOfOtherClientsShrinksWhatBothSend)
{
    vs::test::test_env env;
    constexpr int window = 1'000;
    constexpr int ceiling = 25;
    fake_binance binance{window};
    binance.external_weight = 15;   // someone else on the IP: only X-MBX-USED-WEIGHT-1M tells
    auto a = spawn_poller(env, binance.url(), ceiling, window, 250, 3'500, 0, 1);
    auto b = spawn_poller(env, binance.url(), ceiling, window, 250, 3'500, 0, 2);
    wait_for(a);
    wait_for(b);
    std::map<std::int64_t, int> per_window;
    for (const auto& r : binance.requests()) {
        ++per_window[r.at_ms / window];
    }
    std::string counts;
    for (const auto& [w, n] : per_window) {
        counts += " " + std::to_string(n);
        // The first reply of a window teaches the external use; until it arrives each
        // process may have one request in flight.
        EXPECT_LE(n + binance.external_weight, ceiling + 2) << "window " << w;
    }
    std::printf("measured: with 15 external weight reported, ours per window (ceiling 25):%s\n", counts.c_str());
}

TEST(RestBudgetConcurrentTest, RateLimitOfOneProcessPausesBoth)
{
    vs::test::test_env env;
    fake_binance binance{60'000};
    std::atomic<std::int64_t> limited_at{0};
    binance.fault = [&](const received_request& r, int nth) -> std::optional<test_reply> {
        if (nth == 40) {
            limited_at = r.at_ms;
            return test_reply{429, {{"Retry-After", "1"}}, R"({"code":-1003,"msg":"Too many requests."})"};
        }
        return std::nullopt;
    };
    auto a = spawn_poller(env, binance.url(), 2'000, 60'000, 1'000, 2'500, 5, 1);
    auto b = spawn_poller(env, binance.url(), 2'000, 60'000, 1'000, 2'500, 5, 2);
    auto ta = wait_for(a);
    auto tb = wait_for(b);
    ASSERT_GT(limited_at.load(), 0) << "the 40th request never came";
    const auto t = limited_at.load();
    std::set<std::uint64_t> after;
    int during = 0;
    for (const auto& r : binance.requests()) {
        // Each process has at most one request in flight: the other one's, reserved before
        // the 429 was seen, may still arrive (late, under load); nothing else may.
        if (r.at_ms > t && r.at_ms < t + 950) {
            ++during;
        }
        if (r.at_ms >= t + 1'000) {
            after.insert(r.connection);
        }
    }
    EXPECT_LE(during, 1) << "requests arrived during the 429 pause";
    std::printf("measured: 429 at +0 ms; requests in (0, +950) ms: %d (at most the other process's in-flight one); connections resuming after +1000 ms: %zu\n",
                during, after.size());
    EXPECT_GE(after.size(), 2u) << "both processes resume after Retry-After";
    EXPECT_EQ(ta["rate_limited"] + tb["rate_limited"], 1);
}

TEST(RestBudgetConcurrentTest, BanOfOneProcessStopsBothUntilItEnds)
{
    vs::test::test_env env;
    fake_binance binance{60'000};
    std::atomic<std::int64_t> banned_at{0};
    std::atomic<std::int64_t> ban_end{0};
    binance.fault = [&](const received_request& r, int nth) -> std::optional<test_reply> {
        if (nth == 40) {
            banned_at = r.at_ms;
            ban_end = r.at_ms + 1'500;
            return test_reply{418, {},
                              R"({"code":-1003,"msg":"Way too many requests; IP(127.0.0.1) banned until )" +
                                  std::to_string(ban_end.load()) + R"(. Please use the websocket."})"};
        }
        return std::nullopt;
    };
    auto a = spawn_poller(env, binance.url(), 2'000, 60'000, 1'000, 3'000, 5, 1);
    auto b = spawn_poller(env, binance.url(), 2'000, 60'000, 1'000, 3'000, 5, 2);
    auto ta = wait_for(a);
    auto tb = wait_for(b);
    ASSERT_GT(banned_at.load(), 0);
    std::set<std::uint64_t> after;
    int inside = 0;
    for (const auto& r : binance.requests()) {
        if (r.at_ms > banned_at && r.at_ms < ban_end) {   // see the 429 case: <= 1 in flight
            ++inside;
        }
        if (r.at_ms >= ban_end) {
            after.insert(r.connection);
        }
    }
    EXPECT_LE(inside, 1) << "a request was sent into the active ban";
    std::printf("measured: 418 ban of 1500 ms; requests inside the ban: %d (at most the other process's in-flight one); connections resuming after: %zu\n",
                inside, after.size());
    EXPECT_GE(after.size(), 2u) << "both processes resume after the ban";
    EXPECT_EQ(ta["banned"] + tb["banned"], 1);
}

}  // namespace
