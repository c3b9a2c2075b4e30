// A child process for the concurrency tests: polls openInterest through binance_rest for a
// while, sharing the weight budget of --prefix with its siblings, then prints its tallies.
//   rest_poller_helper URL PREFIX CEILING WINDOW_MS GUARD_MS DURATION_MS INTERVAL_MS
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "vs/net/binance_rest.hpp"
#include "vs/common/clock.hpp"

int main(int argc, char** argv)
{
    if (argc != 8) {
        std::fprintf(stderr, "usage: %s URL PREFIX CEILING WINDOW_MS GUARD_MS DURATION_MS INTERVAL_MS\n", argv[0]);
        return 2;
    }
    vs::net::rest_options o;
    o.base_url = argv[1];
    o.budget.prefix = argv[2];
    o.budget.ceiling = std::atoi(argv[3]);
    o.budget.window_ms = std::atoi(argv[4]);
    o.budget.guard_ms = std::atoi(argv[5]);
    const long long duration = std::atoll(argv[6]);
    const int interval = std::atoi(argv[7]);
    o.max_wait = std::chrono::milliseconds{duration};
    try {
        vs::net::binance_rest rest{o};
        std::map<std::string, int> tally;
        const auto end = vs::realtime_ms() + duration;
        for (auto now = vs::realtime_ms(); now < end; now = vs::realtime_ms()) {
            auto r = rest.open_interest("BTCUSDT");
            ++tally[std::string{vs::net::to_string(r.status)}];
            if (interval > 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds{interval});
            }
        }
        for (const auto& [k, v] : tally) {
            std::printf("%s=%d\n", k.c_str(), v);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rest_poller_helper: %s\n", e.what());
        return 1;
    }
    return 0;
}
