// vs-api-bench-writer: publishes a synthetic market (make_state.py's symbols) on a bus
// channel and keeps it live (heartbeat, FeedStatus, periodic mark price updates), for the
// vs-api benchmark and manual checks of the dashboard.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

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
        std::vector<vs::test::mark_price_fields> marks(n);
        std::vector<std::string> symbols(n);
        for (std::size_t i = 0; i < n; ++i) {
            symbols[i] = vs::test::state_symbol(i);
            marks[i].symbol = symbols[i];
            marks[i].mark_price = price(rng);
            marks[i].index_price = marks[i].mark_price * 0.9999;
            marks[i].funding_rate = rate(rng);
        }
        const auto started = vs::realtime_ns();
        vs::test::feed_status_fields feed;
        feed.started_ns = started;
        feed.last_connected_ns = started;
        feed.messages_received = 125000;
        feed.symbol_count = static_cast<std::uint32_t>(n);
        const auto publish_all = [&] {
            const auto now = vs::realtime_ns();
            for (std::size_t i = 0; i < n; ++i) {
                marks[i].recv_time_ns = now;
                vs::api::bench::publish(w, marks[i]);
                vs::api::bench::publish(
                    w, vs::test::ticker_around(symbols[i], marks[i].mark_price, 1e6 * static_cast<double>(n - i), now));
            }
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
                feed.recv_time_ns = t;
                feed.streams = vs::test::feed_streams(t, t);
                vs::api::bench::publish(w, feed);
                last_status = now;
            }
            w.notify();
            w.heartbeat();
        }
        return vs::cli::exit_ok;
    });
}
