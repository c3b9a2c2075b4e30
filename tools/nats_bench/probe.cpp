// vs-nats-bench-probe: the measuring end of tools/nats_bench/run_bench.sh (issue 17). It is
// the market channel's writer on bus A (the configuration vs-feed uses), and
//   throughput: publishes N MarkPrice records as fast as vs-nats carries them (at most
//     --window records ahead of what a plain NATS subscriber of volspike.market.MarkPrice.>
//     has received, so the 8 MiB ring never laps) and reports records/s from the first
//     publish to the N-th arrival;
//   latency: publishes --rate records/s evenly for --seconds, each stamped with its bus-A
//     publish time (recv_time_ns), and reads bus B's market ring (written by vs-nats --mirror):
//     latency = arrival on bus B - publish time on bus A; p50, p99, max.
// Prints one JSON object on stdout.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <fmt/format.h>
#include <nats/nats.h>

#include "channels.hpp"
#include "schemas/market_data_generated.h"
#include "vs/bus/channel.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
constexpr auto mark_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::MarkPrice);

std::int64_t wall_ns()
{
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void usage()
{
    std::fprintf(stderr,
                 "usage: vs-nats-bench-probe throughput PREFIX_A NATS_URL RECORDS WINDOW\n"
                 "       vs-nats-bench-probe latency PREFIX_A PREFIX_B RATE SECONDS\n");
    std::exit(2);
}

std::vector<std::string> symbols(int n)
{
    std::vector<std::string> out{"BTCUSDT", "ETHUSDT", "SOLUSDT"};
    for (int i = 3; i < n; ++i) {
        out.push_back(fmt::format("SYM{:03d}USDT", i));
    }
    return out;
}

class market_writer {
public:
    explicit market_writer(const std::string& prefix)
        : w_(vs::nats_process::config_of(*vs::nats_process::find_channel("market"), prefix)), syms_(symbols(650))
    {
    }
    /// One MarkPrice (a round-robin symbol) stamped with its publish time; `marker` in funding.
    void publish(double marker)
    {
        const auto now = wall_ns();
        const auto& s = syms_[next_++ % syms_.size()];
        fbb_.Clear();
        fbb_.Finish(vs::schema::CreateMarkPriceDirect(fbb_, s.c_str(), now / 1'000'000, now, vs::schema::MarketType::UsdM,
                                                      50'000.0 + static_cast<double>(next_ % 1000), 50'000.0, 50'000.0,
                                                      marker, now / 1'000'000 + 3'600'000, 8));
        w_.publish(mark_type, s,
                   {reinterpret_cast<const std::byte*>(fbb_.GetBufferPointer()), fbb_.GetSize()}, now, vs::bus::to_both);
    }
    void notify() { w_.notify(); }
    void heartbeat() { w_.heartbeat(); }
    vs::bus::channel_status status() const { return w_.status(); }

private:
    vs::bus::writer w_;
    std::vector<std::string> syms_;
    std::size_t next_ = 0;
    flatbuffers::FlatBufferBuilder fbb_{512};
};

/// Waits until a registered reader (vs-nats) follows the channel.
bool wait_reader(market_writer& w, std::chrono::seconds limit)
{
    const auto end = steady::now() + limit;
    while (steady::now() < end) {
        w.heartbeat();
        if (w.status().readers > 0) {
            return true;
        }
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

void on_msg(natsConnection*, natsSubscription*, natsMsg* m, void* closure)
{
    static_cast<std::atomic<std::uint64_t>*>(closure)->fetch_add(1, std::memory_order_relaxed);
    natsMsg_Destroy(m);
}

int throughput(const std::string& prefix, const std::string& url, std::uint64_t n, std::uint64_t window)
{
    market_writer w{prefix};
    natsConnection* nc = nullptr;
    natsSubscription* sub = nullptr;
    std::atomic<std::uint64_t> got{0};
    if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK ||
        natsConnection_Subscribe(&sub, nc, "volspike.market.MarkPrice.>", on_msg, &got) != NATS_OK) {
        std::fprintf(stderr, "probe: cannot subscribe at %s\n", url.c_str());
        return 1;
    }
    natsSubscription_SetPendingLimits(sub, -1, -1);
    if (!wait_reader(w, 30s)) {
        std::fprintf(stderr, "probe: vs-nats never followed the market channel\n");
        return 1;
    }
    // Warm-up: vs-nats's first attach (its table snapshot) and the streams are behind us once
    // a record made it through.
    for (int i = 0; got.load() == 0; ++i) {
        if (i % 100 == 0) {
            w.publish(0);
            w.notify();
        }
        if (i > 3000) {
            std::fprintf(stderr, "probe: no record came through vs-nats in 30 s\n");
            return 1;
        }
        std::this_thread::sleep_for(10ms);
        w.heartbeat();
    }
    std::this_thread::sleep_for(500ms);
    const std::uint64_t base = got.load();
    const auto t0 = steady::now();
    std::uint64_t sent = 0;
    auto last_beat = t0;
    while (got.load(std::memory_order_relaxed) - base < n) {
        const auto now = steady::now();
        if (now - t0 > 120s) {
            std::fprintf(stderr, "probe: only %llu of %llu records arrived in 120 s\n",
                         static_cast<unsigned long long>(got.load() - base), static_cast<unsigned long long>(n));
            return 1;
        }
        if (now - last_beat > 100ms) {
            w.heartbeat();
            last_beat = now;
        }
        if (sent < n && sent - (got.load(std::memory_order_relaxed) - base) < window) {
            for (int i = 0; i < 64 && sent < n; ++i, ++sent) {
                w.publish(1);
            }
            w.notify();
        } else {
            std::this_thread::sleep_for(100us);
        }
    }
    const double secs = std::chrono::duration<double>(steady::now() - t0).count();
    std::printf("{\"mode\":\"throughput\",\"records\":%llu,\"seconds\":%.3f,\"records_per_s\":%.0f,\"laps\":%llu}\n",
                static_cast<unsigned long long>(n), secs, static_cast<double>(n) / secs,
                static_cast<unsigned long long>(w.status().reader_laps));
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return 0;
}

int latency(const std::string& prefix_a, const std::string& prefix_b, int rate, int seconds)
{
    market_writer w{prefix_a};
    if (!wait_reader(w, 30s)) {
        std::fprintf(stderr, "probe: vs-nats never followed the market channel\n");
        return 1;
    }
    vs::bus::channel_config cb;
    cb.prefix = prefix_b;
    cb.name = "market";
    vs::bus::reader r{cb, {.register_reader = true, .name = "vs-nats-bench-probe"}};
    std::vector<double> lat_us;
    std::atomic<bool> done{false};
    std::atomic<bool> attached{false};
    std::atomic<bool> seen{false};
    const double marker = 7.0 + static_cast<double>(wall_ns() % 1000);   // this run's records only
    std::thread reader{[&] {
        while (!done.load()) {
            if (r.state() != vs::bus::attach_state::ready && r.attach() != vs::bus::attach_state::ready) {
                std::this_thread::sleep_for(20ms);
                continue;
            }
            attached.store(true);
            r.wait(20ms);
            r.poll([&](const vs::bus::record_view& v) {
                const auto now = wall_ns();
                if (v.type != mark_type) {
                    return;
                }
                const auto* mp = flatbuffers::GetRoot<vs::schema::MarkPrice>(v.data.data());
                if (mp->funding_rate() == marker && now > 0) {
                    seen.store(true);
                }
            });
        }
    }};
    // Until the mirror writes bus B and a record of this run came through.
    const auto ready_by = steady::now() + 60s;
    while (!seen.load() && steady::now() < ready_by) {
        w.publish(marker);
        w.notify();
        std::this_thread::sleep_for(100ms);
    }
    done.store(true);
    reader.join();
    if (!seen.load()) {
        std::fprintf(stderr, "probe: nothing reached bus B (attached: %d)\n", attached.load() ? 1 : 0);
        return 1;
    }
    std::this_thread::sleep_for(500ms);   // the warm-up's tail
    done.store(false);
    std::thread reader2{[&] {
        while (!done.load()) {
            r.wait(20ms);
            r.poll([&](const vs::bus::record_view& v) {
                const auto now = wall_ns();
                if (v.type != mark_type) {
                    return;
                }
                const auto* mp = flatbuffers::GetRoot<vs::schema::MarkPrice>(v.data.data());
                if (mp->funding_rate() == marker + 1) {
                    lat_us.push_back(static_cast<double>(now - mp->recv_time_ns()) / 1000.0);
                }
            });
        }
    }};
    const auto period = std::chrono::nanoseconds{1'000'000'000 / std::max(rate, 1)};
    const auto t0 = steady::now();
    const std::int64_t total = static_cast<std::int64_t>(rate) * seconds;
    for (std::int64_t i = 0; i < total; ++i) {
        std::this_thread::sleep_until(t0 + period * i);
        w.publish(marker + 1);
        w.notify();
        if (i % 100 == 0) {
            w.heartbeat();
        }
    }
    std::this_thread::sleep_for(1s);
    done.store(true);
    reader2.join();
    if (lat_us.empty()) {
        std::fprintf(stderr, "probe: no measured record reached bus B\n");
        return 1;
    }
    std::sort(lat_us.begin(), lat_us.end());
    const auto pct = [&](double p) {
        return lat_us[std::min(lat_us.size() - 1, static_cast<std::size_t>(p * static_cast<double>(lat_us.size())))];
    };
    std::printf("{\"mode\":\"latency\",\"sent\":%lld,\"received\":%zu,\"rate\":%d,\"p50_us\":%.0f,\"p99_us\":%.0f,"
                "\"max_us\":%.0f}\n",
                static_cast<long long>(total), lat_us.size(), rate, pct(0.50), pct(0.99), lat_us.back());
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 6) {
        usage();
    }
    const std::string mode = argv[1];
    try {
        if (mode == "throughput") {
            return throughput(argv[2], argv[3], std::strtoull(argv[4], nullptr, 10), std::strtoull(argv[5], nullptr, 10));
        }
        if (mode == "latency") {
            return latency(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "probe: %s\n", e.what());
        return 1;
    }
    usage();
}
