#pragma once
// Request counters and the latency histogram. Each worker thread updates its own shard
// (no shared cache line on the request path); /metrics sums the shards. Every counter is a
// relaxed atomic: each is an independent monotonic count, nothing is published through it.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vs::api {

/// Every route the router knows, plus the outcomes that are not routes.
enum class route : std::uint8_t {
    root,
    health,
    funding_one,
    funding_batch,
    funding_all,
    tickers_one,
    tickers_all,
    oi_one,
    oi_all,
    universe,
    alerts,
    news,
    host_health,   ///< /health (the whole host)
    metrics,
    events,
    dashboard,
    history,
    not_found,
    bad_request,   ///< unparseable request (limits, syntax, target form)
    count_,
};
inline constexpr std::size_t route_count = static_cast<std::size_t>(route::count_);
std::string_view route_name(route r) noexcept;

/// The status codes counted one by one; anything else counts as "other".
inline constexpr std::array<unsigned, 11> counted_statuses{200, 400, 404, 405, 408, 413, 414, 431, 500, 503, 0};
std::size_t status_index(unsigned status) noexcept;

/// Upper bounds (seconds) of the latency histogram buckets; +Inf is implicit.
inline constexpr std::array<double, 12> latency_bounds{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                       0.005,   0.01,   0.025,   0.05,   0.1,   1.0};

struct alignas(64) worker_metrics {
    std::array<std::array<std::atomic<std::uint64_t>, counted_statuses.size()>, route_count> requests{};
    std::array<std::atomic<std::uint64_t>, latency_bounds.size() + 1> latency_buckets{};
    std::atomic<std::uint64_t> latency_sum_ns{0};
    std::atomic<std::uint64_t> latency_count{0};

    /// Worker thread only.
    void observe(route r, unsigned status, std::int64_t latency_ns) noexcept;
};

class metrics_registry {
public:
    explicit metrics_registry(std::size_t workers);
    worker_metrics& worker(std::size_t i) noexcept { return *workers_[i]; }
    std::size_t workers() const noexcept { return workers_.size(); }

    std::atomic<std::int64_t> connections_open{0};
    std::atomic<std::uint64_t> connections_accepted{0};
    std::atomic<std::uint64_t> connections_rejected{0};   ///< 503 at --max-connections (no idle one to close)
    std::atomic<std::uint64_t> connections_evicted{0};    ///< idle ones closed at --max-connections for a new one
    std::atomic<std::int64_t> events_clients{0};
    std::atomic<std::uint64_t> events_batches{0};          ///< batches queued to clients
    std::atomic<std::uint64_t> events_resyncs{0};          ///< slow clients resynchronised

    /// Appends the HTTP part of the Prometheus text (requests, latency, connections, SSE).
    void render(std::string& out) const;

private:
    std::vector<std::unique_ptr<worker_metrics>> workers_;
};

/// A ProcessStatus metric's name in Prometheus conventions: "vs_process_" + its name in
/// snake_case (camelCase split, other characters as '_'), with abbreviated or non-base time
/// and size units spelled as base units ("snapshot_age_s" -> "..._age_seconds",
/// "last_cycle_ms" -> "..._cycle_seconds" with `scale` 0.001, "kb" -> "bytes" with 1024),
/// without the words counter/gauge, and "_total" at the end of a counter (never of a gauge).
std::string process_metric_name(std::string_view raw, bool counter, double& scale);

/// One process's ProcessStatus, as /metrics shows it.
struct process_metrics_row {
    std::string process, channel;
    bool healthy = false, ready = false, alive = false;
    double status_age_seconds = 0;
    double start_time_seconds = 0;
    struct metric {
        std::string name;
        double value = 0;
        bool gauge = false;
    };
    std::vector<metric> metrics;
};

/// Appends the process families: vs_process_up, vs_process_healthy, vs_process_ready,
/// vs_process_status_age_seconds, vs_process_start_time_seconds, then one family per
/// published metric name (process_metric_name), each with # HELP and # TYPE, labels
/// process= and channel=.
void render_process_metrics(const std::vector<process_metrics_row>& rows, std::string& out);

}  // namespace vs::api
