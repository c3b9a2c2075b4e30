// vs-api-bench-writer: publishes a synthetic market (make_state.py's symbols) on a bus
// channel and keeps it live (heartbeat, FeedStatus, periodic mark price updates), for the
// vs-api benchmark and manual checks of the dashboard.
#include <chrono>
#include <cstdio>
#include <random>

#include <spdlog/spdlog.h>

#include "market_writer.hpp"
#include "vs/common/cli.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/shutdown.hpp"

int main(int argc, char** argv)
{
    vs::cli::parser cli{"vs-api-bench-writer",
                        "Publishes N synthetic USD-M symbols (MarkPrice, Ticker24h) and a healthy FeedStatus on a "
                        "bus channel, heartbeating until SIGTERM.",
                        "vs-api-bench-writer --bus-prefix bench --symbols 648"};
    vs::cli::add_common_options(cli);
    cli.option("channel", "NAME", "market", "channel to write");
    cli.option("symbols", "N", "648", "number of symbols");
    cli.option("update-ms", "MS", "1000", "re-publish every mark price this often (0 = never)");
    return vs::cli::run(cli, argc, argv, [&] {
        vs::bus::channel_config c;
        c.prefix = cli.get("bus-prefix");
        c.name = cli.get("channel");
        const auto n = static_cast<std::size_t>(cli.get_int("symbols", 1, 5000));
        const auto update_ms = cli.get_int("update-ms", 0, 3'600'000);
        vs::shutdown::install_handlers();
        vs::bus::writer w{c};
        std::mt19937_64 rng{1};
        std::uniform_real_distribution<double> price{0.001, 90000.0};
        std::uniform_real_distribution<double> rate{-0.001, 0.001};
        std::vector<vs::api::bench::mark_values> marks(n);
        for (auto& m : marks) {
            m.mark_price = price(rng);
            m.index_price = m.mark_price * 0.9999;
            m.funding_rate = rate(rng);
        }
        const auto started = vs::realtime_ns();
        vs::api::bench::feed_values feed;
        feed.started_ns = started;
        feed.last_connected_ns = started;
        feed.symbol_count = static_cast<std::uint32_t>(n);
        const auto publish_all = [&] {
            const auto now = vs::realtime_ns();
            for (std::size_t i = 0; i < n; ++i) {
                const auto sym = vs::api::bench::bench_symbol(i);
                vs::api::bench::publish_mark(w, sym, marks[i], now);
                vs::api::bench::publish_ticker(w, sym, marks[i].mark_price, 1e6 * static_cast<double>(n - i), now);
            }
            feed.streams = {{"!markPrice@arr@1s", now}, {"!ticker@arr", now}, {"!forceOrder@arr", 0}};
        };
        publish_all();
        auto last_update = std::chrono::steady_clock::now();
        auto last_status = std::chrono::steady_clock::time_point{};
        spdlog::info("publishing {} symbols on {}", n, w.path());
        while (!vs::shutdown::wait_for(std::chrono::milliseconds{100})) {
            const auto now = std::chrono::steady_clock::now();
            if (update_ms > 0 && now - last_update >= std::chrono::milliseconds{update_ms}) {
                for (auto& m : marks) {
                    m.mark_price *= 1.0 + (rate(rng) * 0.1);
                }
                publish_all();
                last_update = now;
            }
            if (now - last_status >= std::chrono::seconds{1}) {
                feed.messages_received += 2;
                const auto t = vs::realtime_ns();
                feed.streams = {{"!markPrice@arr@1s", t}, {"!ticker@arr", t}, {"!forceOrder@arr", 0}};
                vs::api::bench::publish_feed_status(w, feed, vs::realtime_ns());
                last_status = now;
            }
            w.notify();
            w.heartbeat();
        }
        return vs::cli::exit_ok;
    });
}
