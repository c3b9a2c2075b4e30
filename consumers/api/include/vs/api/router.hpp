#pragma once
// The HTTP API as a pure function: request (method, target) -> response (status, content
// type, body), reading the bus through a data_source. No sockets here, so tests and the
// fuzz target drive it directly. Every error is a JSON object {"error": ...}.
//
// Threads: one router per worker thread (it owns scratch buffers and its source).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vs/api/metrics.hpp"
#include "vs/api/source.hpp"

namespace vs::api {

class json_writer;
class feed_source;
class history_store;
template <class Table>
struct record_route;   // router.cpp: one single-record route (channel, record type, rendering)

struct router_config {
    double stale_seconds = 180.0;
    std::size_t max_batch = 1000;
    std::int64_t started_ns = 0;   ///< server start, for uptimeSeconds
    feed_source* feeds = nullptr;  ///< /alerts, /news (none: empty lists)
    const history_store* history = nullptr;   ///< /history (none: 503)
};

struct request_view {
    std::string_view method;   ///< "GET", "HEAD", ...
    std::string_view target;   ///< origin-form, e.g. "/funding/batch?symbols=BTCUSDT"
};

struct response {
    unsigned status = 200;
    route matched = route::not_found;
    std::string_view content_type = "application/json";
    std::string_view allow;          ///< Allow header value (405)
    unsigned retry_after = 0;        ///< Retry-After header in seconds (0: none)
    std::string_view static_body;    ///< used instead of body when not empty (embedded page)
    std::string_view cache_control = "no-store";   ///< Cache-Control header value
    std::string body;                ///< reused between requests: clear() keeps its capacity
    bool head = false;               ///< HEAD request: send headers only

    void reset() noexcept
    {
        status = 200;
        matched = route::not_found;
        content_type = "application/json";
        allow = {};
        retry_after = 0;
        static_body = {};
        cache_control = "no-store";
        body.clear();
        head = false;
    }
    std::string_view payload() const noexcept { return static_body.empty() ? std::string_view{body} : static_body; }
};

/// Percent-decodes, validates (1..32 bytes of UTF-8; ASCII letters, digits, '_', '-', '.',
/// or non-ASCII code points) and upper-cases (ASCII) a symbol. False when malformed.
bool normalize_symbol(std::string_view raw, std::string& out);
/// As normalize_symbol, for an already percent-decoded symbol.
bool normalize_decoded_symbol(std::string_view decoded, std::string& out);
/// Percent-decodes `raw` into `out` ('+' stays '+'); false on a bad escape.
bool percent_decode(std::string_view raw, std::string& out);

/// The value of query parameter `name` (raw, not decoded), or nullopt-like {false, {}}.
std::pair<bool, std::string_view> query_param(std::string_view query, std::string_view name) noexcept;

/// Percent-decodes a raw query value into `decoded`, splits it at commas (empty items are
/// skipped) and normalizes each symbol into `symbols` (deduplicated, request order).
/// Returns {true, {}} when all are fine, {false, item} for the first malformed item (a view
/// into `raw` or `decoded`); sets too_many (and returns true) past max_items.
std::pair<bool, std::string_view> parse_symbol_list(std::string_view raw, std::string& decoded,
                                                    std::vector<std::string>& symbols, std::size_t max_items,
                                                    bool& too_many);

/// The embedded dashboard page (dashboard.html).
std::string_view dashboard_html() noexcept;
/// The embedded Chart.js (Debian's libjs-chart.js chart.min.js), served at /dashboard/chart.js.
std::string_view chartjs() noexcept;

class router {
public:
    router(router_config config, data_source& source, const metrics_registry* metrics = nullptr);

    /// Fills `out` (after out.reset()) for the request. Never throws for any input except
    /// std::bad_alloc.
    void handle(const request_view& req, response& out);

    const router_config& config() const noexcept { return config_; }
    data_source& source() noexcept { return source_; }

private:
    void root(response& out);
    void health(response& out);
    void funding_batch(std::string_view query, response& out);
    void funding_all(response& out);
    void tickers_all(response& out);
    template <class Table>
    void market_table(response& out, bus::record_type type,
                      void (*write_members)(json_writer&, std::string_view, const Table&, std::int64_t, std::int64_t));
    /// /funding/{symbol}, /tickers/{symbol}, /oi/{symbol} and /universe: one answer per
    /// condition (README.md, "Single-record routes").
    template <class Table>
    void single_record(const record_route<Table>& spec, std::string_view raw_symbol, response& out);
    void oi_all(response& out);
    void metrics(response& out);
    void events(std::string_view query, response& out);
    // router_feeds.cpp
    void alerts(std::string_view query, response& out);
    void news(std::string_view query, response& out);
    void host_health(response& out);
    /// /history/{symbol}?hours= (one symbol's points) and /history (every symbol's OI change).
    void history(std::string_view symbol_raw, std::string_view query, response& out);

public:
    /// Symbols of the last /events request's filter (empty: all).
    const std::vector<std::string>& last_symbols() const noexcept { return symbols_; }

private:

    router_config config_;
    data_source& source_;
    const metrics_registry* metrics_;
    std::string symbol_;                  // scratch: one normalized symbol
    std::vector<std::string> symbols_;    // scratch: batch symbols (strings keep capacity)
    std::vector<std::size_t> missing_, stale_;
    std::string scratch_;
    std::string decoded_;
};

/// Writes {"error": message, extra_key: extra_value} into out with `status`.
void error_response(response& out, unsigned status, std::string_view message, std::string_view extra_key = {},
                    std::string_view extra_value = {});

}  // namespace vs::api
