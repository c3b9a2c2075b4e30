// vs-oi-bench: one poll cycle of the OI spike rule for every symbol (650 x 3 timeframes, 3 h of
// history each at a 5 s interval) with vs-oi's rules library, against the old poller's rule
// (a linear scan of the whole history per lookup) in Python: the same data (written to a file
// the Python baseline reads), the same cycles, in the same run. Both sides must decide the
// same alerts (the bench fails otherwise); it reports both medians, their ratio, the core
// count, and what the histories take in memory. Not a test: the figures are read by people.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <boost/json.hpp>

#include "vs/api/json_writer.hpp"
#include "vs/common/cli.hpp"
#include "vs/common/subprocess.hpp"
#include "vs/oi/rules.hpp"


namespace {

using clock_type = std::chrono::steady_clock;

struct dataset {
    std::size_t symbols = 0, history = 0, cycles = 0;
    std::int64_t window_ms = 0;
    std::vector<std::int64_t> times;   // [symbol][history + cycles]
    std::vector<double> oi, mark;
    std::size_t per() const { return history + cycles; }
    std::size_t at(std::size_t sym, std::size_t j) const { return sym * per() + j; }
};

// Polls spread over the interval (a per-symbol offset) with +-300 ms of jitter, OI random walks
// in whole milli-contracts (as Binance's strings), marks random walks; every 40th symbol ramps
// up 2 % a cycle (and every 40th + 20 down) over the timed cycles, so the rule fires (5 min from
// the second cycle, 15 min from the fourth, 1 hour from the seventh) and holds OUTSIDE.
dataset make_data(std::size_t symbols, std::int64_t interval_ms, std::int64_t window_ms, std::size_t cycles)
{
    dataset d;
    d.symbols = symbols;
    d.window_ms = window_ms;
    d.history = static_cast<std::size_t>(window_ms / interval_ms);
    d.cycles = cycles;
    const std::size_t n = symbols * d.per();
    d.times.resize(n);
    d.oi.resize(n);
    d.mark.resize(n);
    std::mt19937_64 rng{20261204};
    const std::int64_t t0 = 1'764'849'900'000 - static_cast<std::int64_t>(d.history) * interval_ms;
    for (std::size_t s = 0; s < symbols; ++s) {
        const std::int64_t offset = static_cast<std::int64_t>(s) * interval_ms / static_cast<std::int64_t>(symbols);
        std::int64_t milli = 1'000'000 + static_cast<std::int64_t>(rng() % 200'000'000'000ULL);   // 1e3 .. 2e8 contracts
        double mark = 0.001 + static_cast<double>(rng() % 100'000'000) / 1000.0;
        for (std::size_t j = 0; j < d.per(); ++j) {
            const std::int64_t jitter = static_cast<std::int64_t>(rng() % 601) - 300;
            const std::size_t k = d.at(s, j);
            d.times[k] = t0 + static_cast<std::int64_t>(j) * interval_ms + offset + jitter;
            // +-0.02 % a step
            const std::int64_t step = milli / 5000;
            milli += step == 0 ? 0 : static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(2 * step + 1)) - step;
            if (j >= d.history) {
                if (s % 40 == 0) {
                    milli += milli / 50;   // +2 % a cycle
                } else if (s % 40 == 20) {
                    milli -= milli / 50;
                }
            }
            milli = std::max<std::int64_t>(milli, 1000);
            mark *= 1.0 + (static_cast<double>(rng() % 2001) - 1000.0) * 1e-7;
            d.oi[k] = static_cast<double>(milli) / 1000.0;
            d.mark[k] = mark;
        }
    }
    return d;
}

void write_data(const dataset& d, const std::filesystem::path& path)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    const auto put = [&](const void* p, std::size_t n) { out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n)); };
    put("VSOB", 4);
    const std::uint32_t hdr[3] = {static_cast<std::uint32_t>(d.symbols), static_cast<std::uint32_t>(d.history),
                                  static_cast<std::uint32_t>(d.cycles)};
    put(hdr, sizeof hdr);
    put(&d.window_ms, 8);
    put(d.times.data(), d.times.size() * 8);
    put(d.oi.data(), d.oi.size() * 8);
    put(d.mark.data(), d.mark.size() * 8);
    if (!out) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

std::optional<std::string> capture(const std::vector<std::string>& argv)
{
    auto r = vs::run_command(argv);
    if (r.exit_code != 0) {
        std::fprintf(stderr, "vs-oi-bench: %s\n",
                     r.error.empty() ? (argv[0] + " failed (status " + std::to_string(r.exit_code) + ")").c_str()
                                     : r.error.c_str());
        return std::nullopt;
    }
    return std::move(r.out);
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : (v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
}

long rss_kb()
{
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}

std::string number(double d)
{
    std::string s;
    vs::api::append_json_number(s, d);
    return s;
}

int bench(const vs::cli::parser& cli)
{
    const auto symbols = static_cast<std::size_t>(cli.get_int("symbols", 1, 100000));
    const auto cycles = static_cast<std::size_t>(cli.get_int("cycles", 1, 1000));
    const std::int64_t interval_ms = cli.get_int("interval-ms", 100, 600000);
    const bool json_out = cli.is_set("json");
    const vs::oi::config cfg;   // the old defaults: 3 % / 7 % / 12 %, 300 / 900 / 3600 s, 3 h
    const std::int64_t window_ms = cfg.history_window_s * 1000;

    const long rss_before = rss_kb();
    const dataset d = make_data(symbols, interval_ms, window_ms, cycles);
    std::vector<std::string> names(symbols);
    for (std::size_t s = 0; s < symbols; ++s) {
        names[s] = "SYM" + std::to_string(s) + "USDT";
    }

    // Histories as vs-oi keeps them (reserved for the window, as the daemon does).
    const long rss_data = rss_kb();
    std::vector<vs::oi::symbol_state> states;
    states.reserve(symbols);
    for (std::size_t s = 0; s < symbols; ++s) {
        states.emplace_back(cfg);
        states.back().hist.reserve(d.history + 8);
        for (std::size_t j = 0; j < d.history; ++j) {
            const std::size_t k = d.at(s, j);
            states.back().hist.add({d.times[k], d.oi[k], d.mark[k]});
        }
    }
    const long rss_states = rss_kb();
    std::size_t history_bytes = 0;
    for (const auto& st : states) {
        history_bytes += st.hist.memory_bytes();
    }

    // The old algorithm's lookups alone in C++ (a linear scan per lookup, the scan's own
    // comparisons), to tell the algorithm's share of the ratio from the language's.
    std::vector<double> cpp_scan_us;
    {
        volatile double sink = 0;
        for (int rep = 0; rep < 3; ++rep) {
            const auto a = clock_type::now();
            for (std::size_t s = 0; s < symbols; ++s) {
                const auto& h = states[s].hist;
                const std::int64_t now = h.newest().time_ms;
                for (const auto& tf : cfg.timeframes) {
                    const std::int64_t target = now - tf.lookback_s * 1000, tol = tf.tolerance_s() * 1000;
                    std::int64_t best = INT64_MAX;
                    double oi = 0;
                    for (std::size_t i = 0; i < h.size(); ++i) {
                        const auto x = h.at(i);
                        const std::int64_t diff = std::llabs(x.time_ms - target);
                        if (diff < best && diff <= tol) {
                            best = diff;
                            oi = x.oi;
                        }
                    }
                    sink = sink + oi;
                }
            }
            cpp_scan_us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - a).count());
        }
    }

    // The timed cycles: every symbol gets its next sample, every timeframe is evaluated.
    std::vector<double> cycle_us;
    std::vector<std::string> alerts;
    for (std::size_t c = 0; c < cycles; ++c) {
        std::size_t fired = 0;
        std::vector<vs::oi::evaluation> results(symbols);
        const auto a = clock_type::now();
        for (std::size_t s = 0; s < symbols; ++s) {
            const std::size_t k = d.at(s, d.history + c);
            results[s] = vs::oi::evaluate(cfg, names[s], states[s], {d.times[k], d.oi[k], d.mark[k]});
        }
        cycle_us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - a).count());
        for (const auto& r : results) {
            for (const auto& al : r.alerts) {
                ++fired;
                alerts.push_back(std::to_string(c) + " " + al.symbol + " " + al.timeframe_label + " " +
                                 std::string{to_string(al.dir)} + " " + number(al.baseline) + " " + number(al.current));
            }
        }
        (void)fired;
    }
    const double cpp_median = median(cycle_us);

    // The Python baseline on the same data.
    std::optional<boost::json::object> python;
    std::optional<bool> same;
    if (!cli.is_set("no-python")) {
        const std::filesystem::path path =
            std::filesystem::path{cli.get("data-dir")} / ("vs-oi-bench-" + std::to_string(::getpid()) + ".bin");
        write_data(d, path);
        const auto out = capture({cli.get("python"), cli.get("python-script"), path.string()});
        std::error_code ec;
        std::filesystem::remove(path, ec);
        if (!out) {
            std::fprintf(stderr, "vs-oi-bench: the Python baseline did not run\n");
            return vs::cli::exit_failure;
        }
        boost::system::error_code jec;
        auto v = boost::json::parse(*out, jec);
        if (jec || !v.is_object()) {
            std::fprintf(stderr, "vs-oi-bench: unexpected output of the Python baseline: %s\n", out->c_str());
            return vs::cli::exit_failure;
        }
        python = v.as_object();
        std::vector<std::string> py_alerts;
        for (const auto& x : python->at("alerts").as_array()) {
            py_alerts.emplace_back(x.as_string());
        }
        same = py_alerts == alerts;
        if (!*same) {
            std::fprintf(stderr, "vs-oi-bench: the rules disagree: %zu alerts in C++, %zu in Python\n", alerts.size(),
                         py_alerts.size());
            for (std::size_t i = 0; i < std::max(alerts.size(), py_alerts.size()) && i < 10; ++i) {
                std::fprintf(stderr, "  c++ %-50s py %s\n", i < alerts.size() ? alerts[i].c_str() : "-",
                             i < py_alerts.size() ? py_alerts[i].c_str() : "-");
            }
        }
    }
    const double py_median = python ? python->at("median_us").to_number<double>() : 0.0;
    const unsigned cores = std::thread::hardware_concurrency();
    boost::json::array cyc, pycyc;
    for (double x : cycle_us) {
        cyc.push_back(x);
    }
    boost::json::object report{
        {"cores", cores},
        {"symbols", symbols},
        {"timeframes", vs::oi::timeframe_count},
        {"interval_ms", interval_ms},
        {"history_samples_per_symbol", d.history},
        {"cycles", cycles},
        {"alerts", alerts.size()},
        {"cpp_cycle_median_us", cpp_median},
        {"cpp_cycle_us", cyc},
        {"cpp_linear_scan_lookups_median_us", median(cpp_scan_us)},
        {"python", python ? boost::json::value(python->at("python")) : nullptr},
        {"python_cycle_median_us", python ? boost::json::value(py_median) : nullptr},
        {"python_cycle_us", python ? boost::json::value(python->at("cycle_us")) : nullptr},
        {"ratio_python_to_cpp", python && cpp_median > 0 ? boost::json::value(py_median / cpp_median) : nullptr},
        {"goal_ratio", 100},
        {"goal_met", python ? boost::json::value(py_median / cpp_median >= 100) : nullptr},
        {"same_alerts", same ? boost::json::value(*same) : nullptr},
        {"history_bytes", history_bytes},
        {"history_bytes_per_sample", static_cast<double>(history_bytes) / static_cast<double>(symbols * d.history)},
        {"rss_kb_start", rss_before},
        {"rss_kb_histories_delta", rss_states - rss_data},
    };
    if (json_out) {
        std::cout << boost::json::serialize(report) << '\n';
    } else {
        std::printf("vs-oi-bench: %zu symbols x 3 timeframes, %zu samples (3 h at %lld ms) per symbol, %zu cycles; %u cores\n",
                    symbols, d.history, static_cast<long long>(interval_ms), cycles, cores);
        std::printf("  vs-oi rules (search, O(log n))   median %10.1f us a cycle\n", cpp_median);
        std::printf("  C++ linear scans alone           median %10.1f us a cycle (lookups only)\n", median(cpp_scan_us));
        if (python) {
            std::printf("  old rule in Python %-13s median %10.1f us a cycle\n",
                        std::string(python->at("python").as_string()).c_str(), py_median);
            std::printf("  ratio Python / vs-oi             %10.0fx (goal >= 100x: %s)\n", py_median / cpp_median,
                        py_median / cpp_median >= 100 ? "met" : "NOT met");
            std::printf("  same alerts on both sides        %s (%zu alerts)\n", *same ? "yes" : "NO", alerts.size());
        }
        std::printf("  histories: %.1f MB (%.1f bytes a sample), RSS +%.1f MB\n", static_cast<double>(history_bytes) / 1e6,
                    static_cast<double>(history_bytes) / static_cast<double>(symbols * d.history),
                    static_cast<double>(rss_states - rss_data) / 1024.0);
    }
    return same.value_or(true) ? vs::cli::exit_ok : vs::cli::exit_failure;
}

}  // namespace

int main(int argc, char** argv)
{
    vs::cli::parser cli{"vs-oi-bench",
                        "One OI poll cycle of every rule (symbols x 3 timeframes, 3 h of history each) with vs-oi's "
                        "rules library against the old poller's rule in Python, same data, same run.",
                        "vs-oi-bench --symbols 650 --cycles 7"};
    cli.option("symbols", "N", "650", "symbols in the universe");
    cli.option("cycles", "N", "7", "timed poll cycles (the median is reported)");
    cli.option("interval-ms", "MS", "5000", "poll interval of the history (3 h of it per symbol)");
    cli.option("python", "PROGRAM", "python3", "the Python interpreter");
    cli.option("python-script", "FILE", VS_OI_BENCH_BASELINE, "the old rule in Python");
    cli.option("data-dir", "DIR", std::filesystem::temp_directory_path().string(), "where the shared data file goes");
    cli.flag("no-python", "skip the Python baseline");
    cli.flag("json", "print one JSON object");
    return vs::cli::run(cli, argc, argv, [&] { return bench(cli); });
}
