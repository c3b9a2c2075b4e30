#include "vs/api/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <map>

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
    case route::history: return "/history";
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

namespace vs::api {
namespace {

// Prometheus label value escaping: backslash, quote, newline.
void append_label(std::string& out, std::string_view v)
{
    for (const char c : v) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
            out.push_back(c);
        } else if (c == '\n') {
            out.append("\\n");
        } else {
            out.push_back(c);
        }
    }
}

struct unit_word {
    std::string_view word;
    std::string_view base;
    double scale;
};
// Abbreviated and non-base units promtool's lint rejects, with their base unit.
constexpr unit_word unit_words[] = {
    {"s", "seconds", 1},         {"sec", "seconds", 1},       {"secs", "seconds", 1},
    {"second", "seconds", 1},    {"ms", "seconds", 1e-3},     {"msec", "seconds", 1e-3},
    {"millis", "seconds", 1e-3}, {"milliseconds", "seconds", 1e-3},
    {"us", "seconds", 1e-6},     {"microseconds", "seconds", 1e-6},
    {"ns", "seconds", 1e-9},     {"nanoseconds", "seconds", 1e-9},
    {"m", "seconds", 60},        {"min", "seconds", 60},      {"mins", "seconds", 60},
    {"minute", "seconds", 60},   {"minutes", "seconds", 60},  {"h", "seconds", 3600},
    {"hour", "seconds", 3600},   {"hours", "seconds", 3600},  {"d", "seconds", 86400},
    {"day", "seconds", 86400},   {"days", "seconds", 86400},  {"b", "bytes", 1},
    {"byte", "bytes", 1},        {"kb", "bytes", 1024},       {"kilobytes", "bytes", 1024},
    {"mb", "bytes", 1048576},    {"megabytes", "bytes", 1048576}, {"gb", "bytes", 1073741824.0},
    {"gigabytes", "bytes", 1073741824.0},
};

}  // namespace

std::string process_metric_name(std::string_view raw, bool counter, double& scale)
{
    scale = 1;
    // Words: split at non-alphanumerics and at lower->upper case changes, lower-cased.
    std::vector<std::string> words;
    std::string cur;
    char prev = 0;
    for (const char c : raw) {
        const bool upper = c >= 'A' && c <= 'Z';
        const bool alnum = upper || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum || (upper && prev >= 'a' && prev <= 'z')) {
            if (!cur.empty()) {
                words.push_back(std::move(cur));
                cur.clear();
            }
        }
        if (alnum) {
            cur.push_back(upper ? static_cast<char>(c - 'A' + 'a') : c);
        }
        prev = c;
    }
    if (!cur.empty()) {
        words.push_back(std::move(cur));
    }
    std::string name = "vs_process";
    bool unit_seen = false;
    for (std::size_t i = 0; i < words.size(); ++i) {
        auto w = std::string_view{words[i]};
        if (w == "counter" || w == "gauge" || w == "histogram" || w == "summary" ||
            (w == "total" && i + 1 == words.size())) {
            continue;   // the type is not part of a name; _total is added for counters below
        }
        for (const auto& u : unit_words) {
            if (w == u.word && !unit_seen) {
                w = u.base;
                scale = u.scale;
                unit_seen = true;
                break;
            }
        }
        name.push_back('_');
        name.append(w);
    }
    if (name == "vs_process") {
        name.append("_unnamed");
    }
    if (counter) {
        name.append("_total");
    }
    return name;
}

void render_process_metrics(const std::vector<process_metrics_row>& rows, std::string& out)
{
    if (rows.empty()) {
        return;
    }
    auto it = std::back_inserter(out);
    const auto labels = [&](const process_metrics_row& p) {
        out.append("{process=\"");
        append_label(out, p.process);
        out.append("\",channel=\"");
        append_label(out, p.channel);
        out.append("\"}");
    };
    struct fixed {
        const char* name;
        const char* help;
        double (*value)(const process_metrics_row&);
    };
    static constexpr fixed fixed_families[] = {
        {"vs_process_up", "1 when the process's channel writer is alive (the process runs).",
         [](const process_metrics_row& p) { return p.alive ? 1.0 : 0.0; }},
        {"vs_process_healthy", "1 when the process is ready and its own health probe holds.",
         [](const process_metrics_row& p) { return p.healthy ? 1.0 : 0.0; }},
        {"vs_process_ready", "1 once the process restored its state and serves.",
         [](const process_metrics_row& p) { return p.ready ? 1.0 : 0.0; }},
        {"vs_process_status_age_seconds", "Age of the process's last status record.",
         [](const process_metrics_row& p) { return p.status_age_seconds; }},
        {"vs_process_start_time_seconds", "Start time of the process since the Unix epoch.",
         [](const process_metrics_row& p) { return p.start_time_seconds; }},
    };
    for (const auto& f : fixed_families) {
        fmt::format_to(it, "# HELP {} {}\n# TYPE {} gauge\n", f.name, f.help, f.name);
        for (const auto& p : rows) {
            out.append(f.name);
            labels(p);
            fmt::format_to(it, " {}\n", f.value(p));
        }
    }
    // One family per published name; a name that would clash with a fixed family or with
    // another type gets "_reported" (never seen so far; keeps the scrape valid).
    struct sample {
        const process_metrics_row* p;
        double value;
    };
    struct family {
        bool counter = false;
        std::vector<std::string> raw_names;
        std::vector<sample> samples;
    };
    std::map<std::string, family> families;
    for (const auto& p : rows) {
        for (const auto& m : p.metrics) {
            double scale = 1;
            auto name = process_metric_name(m.name, !m.gauge, scale);
            const bool reserved = std::any_of(std::begin(fixed_families), std::end(fixed_families),
                                              [&](const fixed& f) { return name == f.name; });
            auto found = families.find(name);
            if (reserved || (found != families.end() && found->second.counter != !m.gauge)) {
                // Keep _total last on a counter.
                name = m.gauge ? name + "_reported" : name.substr(0, name.size() - 6) + "_reported_total";
            }
            auto& fam = families[name];
            fam.counter = !m.gauge;
            if (std::find(fam.raw_names.begin(), fam.raw_names.end(), m.name) == fam.raw_names.end()) {
                fam.raw_names.push_back(m.name);
            }
            fam.samples.push_back({&p, std::isfinite(m.value) ? m.value * scale : m.value});
        }
    }
    for (const auto& [name, fam] : families) {
        fmt::format_to(it, "# HELP {} {} \"", name, fam.counter ? "Counter" : "Gauge");
        for (std::size_t i = 0; i < fam.raw_names.size(); ++i) {
            if (i > 0) {
                out.append("\", \"");
            }
            for (const char c : fam.raw_names[i]) {   // HELP escaping: backslash and newline
                if (c == '\\') {
                    out.append("\\\\");
                } else if (c == '\n') {
                    out.append("\\n");
                } else {
                    out.push_back(c);
                }
            }
        }
        fmt::format_to(it, "\" that processes publish in their status (base units).\n# TYPE {} {}\n", name,
                       fam.counter ? "counter" : "gauge");
        for (const auto& s : fam.samples) {
            out.append(name);
            labels(*s.p);
            if (std::isnan(s.value)) {
                out.append(" NaN\n");
            } else if (std::isinf(s.value)) {
                out.append(s.value > 0 ? " +Inf\n" : " -Inf\n");
            } else {
                fmt::format_to(it, " {}\n", s.value);
            }
        }
    }
}

}  // namespace vs::api
