// vs-feed-bench: how long vs-feed takes for one full `!markPrice@arr@1s` frame (650 rows),
// parsed into FlatBuffers and published into a real bus channel, against what the old
// Python daemon spent on the same frame (json.loads + dict update), measured in one run.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <boost/json.hpp>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "vs/common/cli.hpp"
#include "vs/common/subprocess.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/shutdown.hpp"
#include "vs/feed/parser.hpp"

#include "vs/bus/channel.hpp"


namespace {

constexpr double target_median_us = 150.0;

/// A frame shaped like the 2026 capture (compact, as Binance sends it): every row has
/// e, E, s, p, ap, P, i, r, T, st; prices spread over nine decades with 8 decimals.
std::string make_mark_price_frame(std::size_t rows)
{
    static const char* const bases[] = {
        "BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "ADA", "TRX", "AVAX", "LINK", "DOT", "LTC", "BCH",
        "NEAR", "APT", "ARB", "OP", "SUI", "SEI", "TIA", "INJ", "FIL", "ATOM", "ETC", "XLM", "HBAR",
        "1000PEPE", "1000SHIB", "1000BONK", "WIF", "ORDI", "XAU", "XAG", "XPT", "币安人生", "ENA", "TAO",
        "WLD", "JUP", "PYTH", "STRK", "AAVE", "UNI", "MKR", "CRV", "LDO", "RUNE", "GALA", "SAND", "MANA"};
    std::mt19937_64 rng(650);
    std::uniform_real_distribution<double> decade(-4.0, 5.0);
    std::uniform_real_distribution<double> jitter(-0.002, 0.002);
    std::uniform_real_distribution<double> funding(-0.0005, 0.0005);
    std::string f = R"({"stream":"!markPrice@arr@1s","data":[)";
    char buf[512];
    for (std::size_t i = 0; i < rows; ++i) {
        std::string symbol = bases[i % std::size(bases)];
        if (i >= std::size(bases)) {
            symbol += std::to_string(i / std::size(bases));
        }
        symbol += "USDT";
        const double mark = std::pow(10.0, decade(rng));
        const int n = std::snprintf(
            buf, sizeof buf,
            R"(%s{"e":"markPriceUpdate","E":%lld,"s":"%s","p":"%.8f","ap":"%.8f","P":"%.8f","i":"%.8f",)"
            R"("r":"%.8f","T":1791388800000,"st":1})",
            i == 0 ? "" : ",", 1791382992684LL + static_cast<long long>(i % 3), symbol.c_str(), mark, mark,
            mark * (1 + jitter(rng)), mark * (1 + jitter(rng)), funding(rng));
        f.append(buf, static_cast<std::size_t>(n));
    }
    f += "]}";
    return f;
}

struct stats {
    double median_us = 0, p90_us = 0, min_us = 0, max_us = 0;
    std::vector<double> run_medians_us;
};

double median_of(std::vector<double> v)
{
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 != 0 ? v[m] : (v[m - 1] + v[m]) / 2;
}

stats summarize(const std::vector<std::vector<double>>& runs)
{
    stats s;
    std::vector<double> all;
    for (const auto& r : runs) {
        s.run_medians_us.push_back(median_of(r));
        all.insert(all.end(), r.begin(), r.end());
    }
    std::sort(all.begin(), all.end());
    if (!all.empty()) {
        s.median_us = median_of(all);
        s.p90_us = all[std::min(all.size() - 1, all.size() * 9 / 10)];
        s.min_us = all.front();
        s.max_us = all.back();
    }
    return s;
}

/// Times `runs` x `iterations` calls of fn(); returns microseconds per call, per run.
template <class F>
std::vector<std::vector<double>> time_runs(long long runs, long long iterations, F&& fn)
{
    std::vector<std::vector<double>> out;
    for (long long r = 0; r < runs && !vs::shutdown::requested(); ++r) {
        std::vector<double> samples;
        samples.reserve(static_cast<std::size_t>(iterations));
        for (long long i = 0; i < iterations; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            fn();
            const auto t1 = std::chrono::steady_clock::now();
            samples.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
        out.push_back(std::move(samples));
    }
    return out;
}

/// Runs `argv` and returns its stdout, or nullopt (with a log line) if it did not exit 0.
std::optional<std::string> capture(const std::vector<std::string>& argv)
{
    auto r = vs::run_command(argv);
    if (r.exit_code != 0) {
        if (r.error.empty()) {
            spdlog::warn("{} failed (status {})", argv[0], r.exit_code);
        } else {
            spdlog::warn("{}", r.error);
        }
        return std::nullopt;
    }
    return std::move(r.out);
}

/// The 1-minute load average: the figures mean little on a busy machine.
double load_average()
{
    double l = -1;
    std::ifstream in("/proc/loadavg");
    in >> l;
    return l;
}

boost::json::object to_json(const stats& s, std::size_t frame_bytes)
{
    boost::json::array medians;
    for (double m : s.run_medians_us) {
        medians.push_back(m);
    }
    return boost::json::object{
        {"median_us", s.median_us},
        {"p90_us", s.p90_us},
        {"min_us", s.min_us},
        {"max_us", s.max_us},
        {"run_medians_us", medians},
        {"mb_per_s", s.median_us > 0 ? static_cast<double>(frame_bytes) / s.median_us : 0.0},
    };
}

/// Removes /dev/shm/<prefix>.* (the bench's channel, its lock and reader registry).
void remove_segments(const std::string& prefix)
{
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator{"/dev/shm", ec}) {
        if (e.path().filename().string().rfind(prefix + ".", 0) == 0) {
            std::filesystem::remove(e.path(), ec);
        }
    }
}

int bench(const vs::cli::parser& cli)
{
    auto rows = static_cast<std::size_t>(cli.get_int("rows", 1, 100000));
    const long long runs = cli.get_int("runs", 5, 1000);
    const long long iterations = cli.get_int("iterations", 1, 1000000);
    const bool json_out = cli.is_set("json");
    const long nproc = ::sysconf(_SC_NPROCESSORS_ONLN);

    std::string frame;
    std::string source = "generated !markPrice@arr@1s frame";
    if (cli.given("frame")) {
        // A recorded frame (vs-feed's recorder, a capture): timed as is.
        std::ifstream in(cli.get("frame"), std::ios::binary);
        frame.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof()) {
            throw vs::cli::usage_error("cannot read --frame " + cli.get("frame"));
        }
        source = cli.get("frame");
        vs::feed::frame_parser probe;
        rows = probe.parse(frame, 0, [](const vs::feed::parsed_record&) {}).rows_accepted;
        if (rows == 0) {
            spdlog::error("{} has no row the parser accepts", source);
            return vs::cli::exit_failure;
        }
    } else {
        frame = make_mark_price_frame(rows);
    }
    if (cli.given("write-frame")) {
        std::ofstream out(cli.get("write-frame"), std::ios::binary);
        out << frame;
        if (!out) {
            spdlog::error("cannot write {}", cli.get("write-frame"));
            return vs::cli::exit_failure;
        }
    }
    vs::feed::frame_parser parser;

    // Parse only (parse(): the frame is copied first, as for any caller): the sink copies each
    // record, as a consumer of the parser at least must.
    std::vector<std::byte> scratch(1u << 20);
    std::size_t copied = 0;
    std::size_t accepted = 0;
    const auto parse_only = [&] {
        std::size_t at = 0;
        const auto r = parser.parse(frame, vs::realtime_ns(), [&](const vs::feed::parsed_record& rec) {
            if (at + rec.bytes.size() <= scratch.size()) {
                std::memcpy(scratch.data() + at, rec.bytes.data(), rec.bytes.size());
                at += rec.bytes.size();
            }
        });
        copied = at;
        accepted = r.rows_accepted;
    };
    for (int i = 0; i < 20; ++i) {
        parse_only();
    }
    if (accepted != rows) {
        spdlog::error("the generated frame parsed to {} rows of {}", accepted, rows);
        return vs::cli::exit_failure;
    }
    const auto frames_before = parser.counters().frames;
    const auto on_demand_before = parser.counters().frames_on_demand;
    const stats parse_stats = summarize(time_runs(runs, iterations, parse_only));
    // Which path read the timed frames (the On-Demand one for this shape; 1.0 expected).
    const double on_demand_share =
        static_cast<double>(parser.counters().frames_on_demand - on_demand_before) /
        static_cast<double>(std::max<std::uint64_t>(1, parser.counters().frames - frames_before));
    spdlog::debug("parse only: {} bytes of records per frame", copied);

    // The floor: simdjson's DOM parse alone of the same frame (no rows read, no records).
    simdjson::dom::parser bare;
    const simdjson::padded_string padded(frame);
    const stats dom_stats = summarize(time_runs(runs, iterations, [&] {
        simdjson::dom::element doc;
        if (bare.parse(padded).get(doc) != simdjson::SUCCESS) {
            std::abort();
        }
    }));

    std::optional<stats> publish_stats;
    std::uint64_t publish_failures = 0;
    std::string bus_note;
    if (!cli.is_set("no-bus")) {
        const std::string prefix = cli.get("bus-prefix") + "-" + std::to_string(::getpid());
        struct cleanup {
            std::string prefix;
            ~cleanup() { remove_segments(prefix); }
        } guard{prefix};
        vs::bus::channel_config config;
        config.prefix = prefix;
        config.name = "bench";
        vs::bus::writer writer(config);
        // As vs-feed does: its WebSocket reads leave vs::feed::frame_padding readable bytes
        // after each frame, which the parser then reads in place, without a copy.
        std::vector<char> padded_frame(frame.begin(), frame.end());
        padded_frame.resize(frame.size() + vs::feed::frame_padding);
        const std::string_view in_place(padded_frame.data(), frame.size());
        const auto parse_publish = [&] {
            // As vs-feed does: one receive time per frame, kept as every record's publish time.
            const std::int64_t recv_ns = vs::realtime_ns();
            parser.parse_in_place(in_place, recv_ns, [&](const vs::feed::parsed_record& rec) {
                if (writer.publish(rec.type, rec.symbol, rec.bytes, recv_ns) != vs::bus::publish_status::ok) {
                    ++publish_failures;
                }
            });
            writer.notify();
        };
        for (int i = 0; i < 20; ++i) {
            parse_publish();
        }
        writer.heartbeat();
        publish_stats = summarize(time_runs(runs, iterations, parse_publish));
        bus_note = writer.path();
    } else {
        bus_note = "disabled by --no-bus";
    }

    std::optional<boost::json::object> python;
    if (!cli.is_set("no-python") && !vs::shutdown::requested()) {
        const auto dir = std::filesystem::temp_directory_path();
        const auto frame_path = dir / ("vs-feed-bench-" + std::to_string(::getpid()) + ".json");
        {
            std::ofstream out(frame_path, std::ios::binary);
            out << frame;
        }
        const auto output = capture({cli.get("python"), cli.get("python-script"), frame_path.string(),
                                     std::to_string(cli.get_int("python-iterations", 5, 100000))});
        std::error_code ec;
        std::filesystem::remove(frame_path, ec);
        if (output) {
            boost::system::error_code jec;
            auto v = boost::json::parse(*output, jec);
            if (!jec && v.is_object()) {
                python = v.as_object();
            } else {
                spdlog::warn("unexpected output of the Python baseline: {}", *output);
            }
        }
    }

    const stats& main_stats = publish_stats ? *publish_stats : parse_stats;
    const double python_median = python ? python->at("median_us").to_number<double>() : 0.0;

    boost::json::object report{
        {"nproc", nproc},
        {"simdjson_implementation", simdjson::get_active_implementation()->name()},
        {"frame", source},
        {"rows", rows},
        {"frame_bytes", frame.size()},
        {"runs", runs},
        {"iterations_per_run", iterations},
        {"load_average_1m", load_average()},
        {"on_demand_share", on_demand_share},
        {"simdjson_dom_parse_only", to_json(dom_stats, frame.size())},
        {"parse_only", to_json(parse_stats, frame.size())},
        {"parse_publish", publish_stats ? boost::json::value(to_json(*publish_stats, frame.size())) : nullptr},
        {"publish_failures", publish_failures},
        {"bus", bus_note},
        {"python", python ? boost::json::value(*python) : nullptr},
        {"ratio_python_to_parse_only", python ? boost::json::value(python_median / parse_stats.median_us) : nullptr},
        {"ratio_python_to_parse_publish",
         python && publish_stats ? boost::json::value(python_median / publish_stats->median_us) : nullptr},
        {"target_median_us", target_median_us},
        {"target_met", main_stats.median_us <= target_median_us},
    };

    if (json_out) {
        std::cout << boost::json::serialize(report) << '\n';
    } else {
        std::printf("vs-feed-bench: %s, %zu rows, %zu bytes; nproc %ld; simdjson %s\n", source.c_str(), rows,
                    frame.size(), nproc, simdjson::get_active_implementation()->name().c_str());
        std::printf("%lld runs x %lld iterations\n", runs, iterations);
        const auto line = [&](const char* name, const stats& s) {
            std::printf("  %-28s median %8.1f us  p90 %8.1f us  min %8.1f us  %7.1f MB/s\n", name, s.median_us,
                        s.p90_us, s.min_us, static_cast<double>(frame.size()) / s.median_us);
        };
        std::printf("load average (1 min) %.2f; frames read by the On-Demand path: %.0f %%\n", load_average(),
                    on_demand_share * 100);
        line("simdjson DOM parse alone", dom_stats);
        line("parse (sink copies)", parse_stats);
        if (publish_stats) {
            line("parse in place + publish", *publish_stats);
            std::printf("  bus channel %s, publish failures %llu\n", bus_note.c_str(),
                        static_cast<unsigned long long>(publish_failures));
        } else {
            std::printf("  parse + bus publish: not measured (%s)\n", bus_note.c_str());
        }
        if (python) {
            std::printf("  %-28s median %8.1f us  (Python %s)\n", "python json.loads + dict", python_median,
                        python->at("python").as_string().c_str());
            std::printf("  Python / vs-feed: %.1fx\n", python_median / main_stats.median_us);
        } else {
            std::printf("  Python baseline: not measured\n");
        }
        std::printf("  target median <= %.0f us: %s\n", target_median_us,
                    main_stats.median_us <= target_median_us ? "met" : "NOT met");
    }
    return vs::cli::exit_ok;
}

}  // namespace

int main(int argc, char** argv)
{
    vs::cli::parser cli{"vs-feed-bench",
                        "Time vs-feed's frame parser (and bus publish) on one full !markPrice@arr@1s frame, "
                        "side by side with the old daemon's Python json.loads + dict update.",
                        "vs-feed-bench --runs 7 --json"};
    cli.option("rows", "N", "650", "rows in the generated frame");
    cli.option("frame", "FILE", "", "time this frame (one WebSocket text frame) instead of a generated one");
    cli.option("runs", "N", "7", "timed runs (at least 5); the median is over every iteration of every run");
    cli.option("iterations", "N", "200", "frames per run");
    cli.option("bus-prefix", "PREFIX", "vsbench",
               "shared-memory prefix of the throw-away channel (the pid is appended; removed at exit)");
    cli.option("python", "PATH", "/usr/bin/python3", "interpreter of the baseline");
    cli.option("python-script", "PATH", VS_FEED_BENCH_BASELINE, "the baseline script");
    cli.option("python-iterations", "N", "200", "frames the baseline times");
    cli.option("log-level", "LEVEL", "info", "trace, debug, info, warn, error, critical or off", {"VS_LOG_LEVEL"});
    cli.option("write-frame", "FILE", "", "also write the generated frame to FILE (for other tools)");
    cli.flag("json", "print one JSON object with every figure");
    cli.flag("no-bus", "parse only, do not publish into a bus channel");
    cli.flag("no-python", "skip the Python baseline");
    return vs::cli::run(cli, argc, argv, [&] {
        vs::shutdown::install_handlers();
        return bench(cli);
    });
}
