// A separate process for the multi-process bus tests.
//   stress_peer writer PREFIX CHANNEL   publish self-checking records until killed;
//                                       prints "ready <generation>" once the channel is taken
//   stress_peer reader PREFIX CHANNEL   verify every ring record and table slot until SIGTERM;
//                                       prints "gen <g>" for every writer generation it reads
//                                       from, and a final "report ..." line
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "stress_record.hpp"
#include "vs/bus/channel.hpp"

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_term(int) { g_stop.store(true, std::memory_order_relaxed); }

vs::bus::channel_config config(const char* prefix, const char* channel)
{
    vs::bus::channel_config c;
    c.prefix = prefix;
    c.name = channel;
    c.ring_bytes = 256u << 10;  // small: readers get lapped, which is part of the test
    c.table_slots = 64;
    c.slot_bytes = 320;
    return c;
}

int run_writer(const vs::bus::channel_config& c)
{
    try {
        vs::bus::writer w{c};
        const std::uint64_t gen = w.generation();
        std::printf("ready %llu\n", static_cast<unsigned long long>(gen));
        std::fflush(stdout);
        std::vector<std::byte> buf(320);
        std::vector<std::string> symbols;
        for (int i = 0; i < 32; ++i) {
            symbols.push_back("SYM" + std::to_string(i));
        }
        std::uint64_t seq = 0;
        while (!g_stop.load(std::memory_order_relaxed)) {
            for (int i = 0; i < 64; ++i) {
                ++seq;
                const std::size_t size = 200 + 8 * (seq % 13);
                vs::test::make_stress_record(gen, seq, std::span<std::byte>{buf.data(), size});
                w.publish(1, symbols[seq % 32], std::span<const std::byte>{buf.data(), size},
                          static_cast<std::int64_t>(seq));
            }
            w.notify();
            w.heartbeat();
            // Mostly busy, so that SIGKILL usually lands inside a publish; a short pause now
            // and then leaves the readers (same 2 cores) some time.
            if (seq % 4096 == 0) {
                std::this_thread::sleep_for(std::chrono::microseconds{200});
            }
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stress_peer writer: %s\n", e.what());
        return 1;
    }
}

int run_reader(const vs::bus::channel_config& c)
{
    vs::bus::reader r{c, vs::bus::reader_options{true, "stress_reader", std::chrono::milliseconds{1000}}};
    std::uint64_t records = 0, torn = 0, backwards = 0, table_reads = 0, table_torn = 0;
    std::uint64_t last_gen = 0, last_seq = 0, gens = 0;
    std::uint64_t reported_gen = 0;
    while (!g_stop.load(std::memory_order_relaxed)) {
        std::size_t n = r.poll([&](const vs::bus::record_view& rec) {
            vs::test::stress_header h;
            if (!vs::test::check_stress_record(rec.data, h)) {
                ++torn;
                return;
            }
            ++records;
            if (h.gen == last_gen && h.seq <= last_seq) {
                ++backwards;
            }
            if (h.gen != last_gen) {
                ++gens;
            }
            last_gen = h.gen;
            last_seq = h.seq;
        });
        if (last_gen != reported_gen) {
            reported_gen = last_gen;
            std::printf("gen %llu\n", static_cast<unsigned long long>(last_gen));
            std::fflush(stdout);
        }
        r.for_each_latest(1, [&](const vs::bus::record_view& rec) {
            vs::test::stress_header h;
            ++table_reads;
            if (!vs::test::check_stress_record(rec.data, h)) {
                ++table_torn;
            }
        });
        if (n == 0) {
            r.wait(std::chrono::milliseconds{20});
        }
    }
    std::printf("report records=%llu torn=%llu backwards=%llu table_reads=%llu table_torn=%llu gens=%llu laps=%llu\n",
                static_cast<unsigned long long>(records), static_cast<unsigned long long>(torn),
                static_cast<unsigned long long>(backwards), static_cast<unsigned long long>(table_reads),
                static_cast<unsigned long long>(table_torn), static_cast<unsigned long long>(gens),
                static_cast<unsigned long long>(r.laps()));
    std::fflush(stdout);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: stress_peer writer|reader PREFIX CHANNEL\n");
        return 2;
    }
    struct sigaction sa{};
    sa.sa_handler = on_term;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    spdlog::set_default_logger(spdlog::stderr_color_mt("stress_peer"));  // stdout is the protocol
    const auto c = config(argv[2], argv[3]);
    if (std::strcmp(argv[1], "writer") == 0) {
        return run_writer(c);
    }
    if (std::strcmp(argv[1], "reader") == 0) {
        return run_reader(c);
    }
    return 2;
}
