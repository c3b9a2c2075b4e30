// vs-user-alerts-bench: one check of N active alerts over M symbols with the values read from
// the bus (the daemon's own code: parse_active, book, bus_values, check), median of several
// runs, next to the Binance REST weight per minute the old checker would have needed for the
// same alerts. Also the helper of run_bench.sh's process run: --write-list writes the /active
// answer, --serve-s keeps a market and an oi channel fresh under --bus-prefix.
//
//   vs-user-alerts-bench [--alerts 100000] [--symbols 650] [--runs 15]
//   vs-user-alerts-bench --write-list /tmp/active.json
//   vs-user-alerts-bench --bus-prefix P --serve-s 60
//
// Prints a table and one JSON line (prefix "RESULT ").
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <malloc.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <flatbuffers/flatbuffers.h>

#include "bus_values.hpp"
#include "core.hpp"
#include "tests/support/records.hpp"
#include "vs/bus/channel.hpp"
#include "vs/common/clock.hpp"

namespace {

using namespace vs::user_alerts;

struct options {
    int alerts = 100'000;
    int symbols = 650;
    int runs = 15;
    std::string prefix;
    std::string write_list;
    int serve_s = 0;
};

std::string arg_value(int& i, int argc, char** argv)
{
    if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", argv[i]);
        std::exit(2);
    }
    return argv[++i];
}

std::string symbol_name(int i) { return i == 0 ? "BTCUSDT" : fmt::format("SYM{:03d}USDT", i); }
double base_price(int i) { return 0.01 * std::pow(1.02, i % 500) + i; }

/// VmRSS and VmHWM of this process, kB.
std::pair<long, long> rss_kb()
{
    std::ifstream in{"/proc/self/status"};
    std::string line;
    long rss = 0, hwm = 0;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            rss = std::atol(line.c_str() + 6);
        } else if (line.rfind("VmHWM:", 0) == 0) {
            hwm = std::atol(line.c_str() + 6);
        }
    }
    return {rss, hwm};
}

struct mix {
    alert_type type;
    tier t;
};

/// Alert i's type and tier: 60 % price, 25 % funding, 15 % OI; 70 % free, 20 % pro, 10 % elite.
mix mix_of(int i)
{
    const int a = i % 20, b = (i / 20) % 10;
    const alert_type type = a < 12 ? alert_type::price_cross : a < 17 ? alert_type::funding_cross : alert_type::oi_cross;
    const tier t = b < 7 ? tier::free : b < 9 ? tier::pro : tier::elite;
    return {type, t};
}

/// The /active answer as the backend writes it (every field, ~230 bytes an alert).
std::string active_list(const options& o)
{
    std::string out = "{\"alerts\":[";
    std::mt19937_64 rng{42};
    std::uniform_real_distribution<double> u{0.5, 1.5};
    for (int i = 0; i < o.alerts; ++i) {
        const int s = i % o.symbols;
        const auto m = mix_of(i);
        double thr = 0, last = 0;
        switch (m.type) {
        case alert_type::price_cross: thr = base_price(s) * u(rng); last = base_price(s); break;
        case alert_type::funding_cross: thr = 0.0001 * u(rng) * 5; last = 0.0001; break;
        case alert_type::oi_cross: thr = 1e6 * base_price(s) * u(rng); last = 1e6 * base_price(s); break;
        }
        if (i > 0) {
            out += ',';
        }
        out += fmt::format(
            R"({{"id":"cm{:022d}","userId":"cmu{:021d}","symbol":"{}","alertType":"{}","threshold":{},)"
            R"("lastCheckedValue":{},"lastCheckedAt":"2026-12-04T13:05:00.000Z","deliveryMethod":"EMAIL","userTier":"{}"}})",
            i, i % 20'000, symbol_name(s), to_string(m.type), thr, last, to_string(m.t));
    }
    out += "]}";
    return out;
}

vs::bus::channel_config channel(const std::string& prefix, const std::string& name)
{
    vs::bus::channel_config c;
    c.prefix = prefix;
    c.name = name;
    return c;
}

/// Publishes every symbol's ticker, mark price and OI, prices moved by `step` (a small walk).
void publish_market(vs::bus::writer& market, vs::bus::writer& oi, int symbols, int step)
{
    flatbuffers::FlatBufferBuilder fbb{512};
    const auto now = vs::realtime_ns();
    for (int i = 0; i < symbols; ++i) {
        const auto sym = symbol_name(i);
        const double p = base_price(i) * (1.0 + 0.0003 * ((step * 7 + i) % 11 - 5));
        vs::test::ticker_fields t;
        t.symbol = sym;
        t.recv_time_ns = now;
        t.last_price = p;
        market.publish(t.type, sym, vs::test::build(fbb, t), now);
        vs::test::mark_price_fields m;
        m.symbol = sym;
        m.recv_time_ns = now;
        m.mark_price = p;
        m.funding_rate = 0.0001 * (1.0 + 0.01 * ((step + i) % 5));
        market.publish(m.type, sym, vs::test::build(fbb, m), now);
        vs::test::open_interest_fields f;
        f.symbol = sym;
        f.recv_time_ns = now;
        f.open_interest = 1e6 * (1.0 + 0.0002 * (step % 3));
        f.mark_price = p;
        oi.publish(f.type, sym, vs::test::build(fbb, f), now);
    }
    market.notify();
    oi.notify();
}

}  // namespace

int main(int argc, char** argv)
{
    ::mallopt(M_MMAP_THRESHOLD, 1 << 20);   // as vs-user-alerts does
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--alerts") {
            o.alerts = std::stoi(arg_value(i, argc, argv));
        } else if (a == "--symbols") {
            o.symbols = std::stoi(arg_value(i, argc, argv));
        } else if (a == "--runs") {
            o.runs = std::max(1, std::stoi(arg_value(i, argc, argv)));
        } else if (a == "--bus-prefix") {
            o.prefix = arg_value(i, argc, argv);
        } else if (a == "--write-list") {
            o.write_list = arg_value(i, argc, argv);
        } else if (a == "--serve-s") {
            o.serve_s = std::stoi(arg_value(i, argc, argv));
        } else {
            std::fprintf(stderr,
                         "usage: vs-user-alerts-bench [--alerts N] [--symbols M] [--runs R] [--bus-prefix P]\n"
                         "       [--write-list FILE] [--serve-s S]\n");
            return a == "--help" ? 0 : 2;
        }
    }
    if (!o.write_list.empty()) {
        std::ofstream out{o.write_list};
        out << active_list(o);
        return out ? 0 : 1;
    }
    const std::string prefix = o.prefix.empty() ? fmt::format("vsuabench{}", ::getpid()) : o.prefix;
    vs::bus::writer market{channel(prefix, "market")};
    vs::bus::writer oi_w{channel(prefix, "oi")};
    publish_market(market, oi_w, o.symbols, 0);
    if (o.serve_s > 0) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds{o.serve_s};
        for (int step = 1; std::chrono::steady_clock::now() < end; ++step) {
            for (int k = 0; k < 10; ++k) {
                market.heartbeat();
                oi_w.heartbeat();
                std::this_thread::sleep_for(std::chrono::milliseconds{100});
            }
            publish_market(market, oi_w, o.symbols, step);
        }
        return 0;
    }

    const auto rss0 = rss_kb();
    std::string text = active_list(o);
    const auto t_parse = std::chrono::steady_clock::now();
    auto parsed = parse_active(text);
    const double parse_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_parse).count();
    if (parsed.error || static_cast<int>(parsed.alerts.size()) != o.alerts) {
        std::fprintf(stderr, "parse failed: %s (%zu alerts)\n", parsed.error.value_or("").c_str(), parsed.alerts.size());
        return 1;
    }
    const std::size_t list_bytes = text.size();
    std::string{}.swap(text);
    book b;
    b.replace(std::move(parsed.alerts), {});
    parsed = parse_result{};
    ::malloc_trim(0);
    const auto rss_loaded = rss_kb();

    vs::bus::reader market_r{channel(prefix, "market"), vs::bus::reader_options{false, "ua-bench"}};
    vs::bus::reader oi_r{channel(prefix, "oi"), vs::bus::reader_options{false, "ua-bench"}};
    market_r.attach();
    oi_r.attach();
    oi_cache polled;
    bus_values values{market_r, &oi_r, &polled, value_ages{}};
    tier_set all;
    all.add(tier::free);
    all.add(tier::pro);
    all.add(tier::elite);
    check_output out;
    values.set_now(vs::realtime_ms());
    check(b, all, values, out);   // warm-up: caches, first updates
    std::vector<double> ms;
    std::uint64_t compared = 0, triggers = 0, updates = 0;
    for (int r = 0; r < o.runs; ++r) {
        publish_market(market, oi_w, o.symbols, r + 1);
        out.clear();
        values.set_now(vs::realtime_ms());
        const auto t0 = std::chrono::steady_clock::now();
        check(b, all, values, out);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        compared = out.checked;
        triggers += out.triggers.size();
        updates = out.updates.size();
        if (out.skipped_missing + out.skipped_stale > 0) {
            std::fprintf(stderr, "unexpected skips: %llu missing, %llu stale\n",
                         static_cast<unsigned long long>(out.skipped_missing),
                         static_cast<unsigned long long>(out.skipped_stale));
            return 1;
        }
    }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    const auto rss_end = rss_kb();

    // The old checker: one REST call per alert per check (PRICE ticker/price 1; FUNDING
    // premiumIndex 1 when its local funding API did not answer, else an HTTP call of weight 0;
    // OI openInterest 1 + ticker/price 1), Pro/Elite twice a minute, Free every 5 minutes.
    double weight_min = 0, weight_min_ws = 0, calls_min = 0;
    for (const auto& e : b.entries()) {
        const double per_min = e.user_tier == tier::free ? 0.2 : 2.0;
        const double w = e.type == alert_type::oi_cross ? 2 : 1;
        weight_min += w * per_min;
        weight_min_ws += (e.type == alert_type::funding_cross ? 0 : w) * per_min;
        calls_min += w * per_min;
    }
    const auto counts = b.counts();
    const unsigned cores = std::thread::hardware_concurrency();
    std::printf("vs-user-alerts check bench: %d alerts over %d symbols, %u cores\n", o.alerts, o.symbols, cores);
    std::printf("  alerts: free %zu/%zu/%zu, pro %zu/%zu/%zu, elite %zu/%zu/%zu (price/funding/oi)\n", counts[0][0],
                counts[0][1], counts[0][2], counts[1][0], counts[1][1], counts[1][2], counts[2][0], counts[2][1],
                counts[2][2]);
    std::printf("  /active answer: %.1f MB parsed in %.1f ms\n", list_bytes / 1e6, parse_ms);
    std::printf("  one check of every alert (values from the bus): median %.2f ms, min %.2f, max %.2f over %d runs "
                "(%llu compared, %llu updates, %llu triggers)\n",
                median, sorted.front(), sorted.back(), o.runs, static_cast<unsigned long long>(compared),
                static_cast<unsigned long long>(updates), static_cast<unsigned long long>(triggers));
    std::printf("  RSS: %ld kB before, %ld kB with the alerts loaded, %ld kB after the checks (peak %ld kB; this "
                "bench also maps the market and oi writers)\n",
                rss0.first, rss_loaded.first, rss_end.first, rss_end.second);
    std::printf("  old design for the same alerts: %.0f REST weight per minute (%.0f with its local funding API "
                "up), %.0f calls per minute; Binance allows 2400 per IP\n",
                weight_min, weight_min_ws, calls_min);
    std::printf("RESULT {\"alerts\":%d,\"symbols\":%d,\"cores\":%u,\"check_median_ms\":%.3f,\"check_min_ms\":%.3f,"
                "\"check_max_ms\":%.3f,\"runs\":%d,\"parse_ms\":%.1f,\"list_mb\":%.1f,\"rss_loaded_kb\":%ld,"
                "\"rss_end_kb\":%ld,\"hwm_kb\":%ld,\"old_weight_per_min\":%.0f,\"old_weight_per_min_ws_funding\":%.0f,"
                "\"goal_ms\":10,\"met\":%s}\n",
                o.alerts, o.symbols, cores, median, sorted.front(), sorted.back(), o.runs, parse_ms, list_bytes / 1e6,
                rss_loaded.first, rss_end.first, rss_end.second, weight_min, weight_min_ws,
                median <= 10.0 ? "true" : "false");
    vs::bus::channel_status st = market.status();
    (void)st;
    return 0;
}
