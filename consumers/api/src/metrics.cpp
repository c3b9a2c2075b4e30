#include "vs/api/metrics.hpp"

#include <fmt/format.h>

namespace vs::api {

std::string_view route_name(route r) noexcept
{
    switch (r) {
    case route::root: return "/";
    case route::health: return "/funding/health";
    case route::funding_one: return "/funding/{symbol}";
    case route::funding_batch: return "/funding/batch";
    case route::funding_all: return "/funding";
    case route::tickers_one: return "/tickers/{symbol}";
    case route::tickers_all: return "/tickers";
    case route::oi_one: return "/oi/{symbol}";
    case route::oi_all: return "/oi";
    case route::universe: return "/universe";
    case route::alerts: return "/alerts";
    case route::news: return "/news";
    case route::host_health: return "/health";
    case route::metrics: return "/metrics";
    case route::events: return "/events";
    case route::dashboard: return "/dashboard";
    case route::not_found: return "unknown";
    case route::bad_request: return "malformed";
    case route::count_: break;
    }
    return "?";
}

std::size_t status_index(unsigned status) noexcept
{
    for (std::size_t i = 0; i + 1 < counted_statuses.size(); ++i) {
        if (counted_statuses[i] == status) {
            return i;
        }
    }
    return counted_statuses.size() - 1;
}

void worker_metrics::observe(route r, unsigned status, std::int64_t latency_ns) noexcept
{
    // Relaxed: independent counters, read only for reporting.
    requests[static_cast<std::size_t>(r)][status_index(status)].fetch_add(1, std::memory_order_relaxed);
    const double s = static_cast<double>(latency_ns) * 1e-9;
    std::size_t b = 0;
    while (b < latency_bounds.size() && s > latency_bounds[b]) {
        ++b;
    }
    latency_buckets[b].fetch_add(1, std::memory_order_relaxed);
    latency_sum_ns.fetch_add(static_cast<std::uint64_t>(latency_ns < 0 ? 0 : latency_ns), std::memory_order_relaxed);
    latency_count.fetch_add(1, std::memory_order_relaxed);
}

metrics_registry::metrics_registry(std::size_t workers)
{
    for (std::size_t i = 0; i < workers; ++i) {
        workers_.push_back(std::make_unique<worker_metrics>());
    }
}

void metrics_registry::render(std::string& out) const
{
    auto it = std::back_inserter(out);
    out.append("# HELP vs_api_http_requests_total HTTP requests by route and status.\n"
               "# TYPE vs_api_http_requests_total counter\n");
    for (std::size_t r = 0; r < route_count; ++r) {
        for (std::size_t s = 0; s < counted_statuses.size(); ++s) {
            std::uint64_t n = 0;
            for (const auto& w : workers_) {
                n += w->requests[r][s].load(std::memory_order_relaxed);   // relaxed: reporting only
            }
            if (n == 0) {
                continue;
            }
            const auto status = counted_statuses[s];
            fmt::format_to(it, "vs_api_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                           route_name(static_cast<route>(r)),
                           status == 0 ? std::string{"other"} : std::to_string(status), n);
        }
    }
    out.append("# HELP vs_api_http_request_duration_seconds Time from a parsed request to its written response.\n"
               "# TYPE vs_api_http_request_duration_seconds histogram\n");
    std::uint64_t cumulative = 0;
    std::uint64_t sum_ns = 0;
    std::uint64_t count = 0;
    for (std::size_t b = 0; b <= latency_bounds.size(); ++b) {
        for (const auto& w : workers_) {
            cumulative += w->latency_buckets[b].load(std::memory_order_relaxed);   // relaxed: reporting only
        }
        if (b < latency_bounds.size()) {
            fmt::format_to(it, "vs_api_http_request_duration_seconds_bucket{{le=\"{}\"}} {}\n", latency_bounds[b],
                           cumulative);
        } else {
            fmt::format_to(it, "vs_api_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
        }
    }
    for (const auto& w : workers_) {
        sum_ns += w->latency_sum_ns.load(std::memory_order_relaxed);   // relaxed: reporting only
        count += w->latency_count.load(std::memory_order_relaxed);
    }
    fmt::format_to(it, "vs_api_http_request_duration_seconds_sum {}\n", static_cast<double>(sum_ns) * 1e-9);
    fmt::format_to(it, "vs_api_http_request_duration_seconds_count {}\n", count);

    // Relaxed loads below: each value is an independent gauge or counter.
    fmt::format_to(it,
                   "# HELP vs_api_connections_open Open HTTP connections.\n"
                   "# TYPE vs_api_connections_open gauge\n"
                   "vs_api_connections_open {}\n"
                   "# HELP vs_api_connections_accepted_total Accepted connections.\n"
                   "# TYPE vs_api_connections_accepted_total counter\n"
                   "vs_api_connections_accepted_total {}\n"
                   "# HELP vs_api_connections_rejected_total Connections refused with 503 at --max-connections "
                   "(no connection idle long enough to close).\n"
                   "# TYPE vs_api_connections_rejected_total counter\n"
                   "vs_api_connections_rejected_total {}\n"
                   "# HELP vs_api_connections_evicted_total Connections waiting for a request closed at "
                   "--max-connections to make room for a new one.\n"
                   "# TYPE vs_api_connections_evicted_total counter\n"
                   "vs_api_connections_evicted_total {}\n"
                   "# HELP vs_api_events_clients Connected /events clients.\n"
                   "# TYPE vs_api_events_clients gauge\n"
                   "vs_api_events_clients {}\n"
                   "# HELP vs_api_events_batches_total Event batches queued to clients.\n"
                   "# TYPE vs_api_events_batches_total counter\n"
                   "vs_api_events_batches_total {}\n"
                   "# HELP vs_api_events_resyncs_total Slow /events clients whose buffer overflowed.\n"
                   "# TYPE vs_api_events_resyncs_total counter\n"
                   "vs_api_events_resyncs_total {}\n",
                   connections_open.load(std::memory_order_relaxed),
                   connections_accepted.load(std::memory_order_relaxed),
                   connections_rejected.load(std::memory_order_relaxed),
                   connections_evicted.load(std::memory_order_relaxed),
                   events_clients.load(std::memory_order_relaxed), events_batches.load(std::memory_order_relaxed),
                   events_resyncs.load(std::memory_order_relaxed));
}

}  // namespace vs::api
