#pragma once
// The HTTP/1.1 server: Boost.Beast with keep-alive, one io_context and one thread per worker
// (each with its own bus readers and router), one acceptor that hands connections to the
// workers in turn, the /events hub, and the limits that keep junk from stalling it (header and
// body caps, a per-request timeout against slowloris, a maximum connection count at which the
// connections idle longest make room for a new one).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vs/api/metrics.hpp"

namespace vs::api {

struct server_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8888;                ///< 0: any free port (tests), see server::port()
    bool allow_remote = false;                ///< required to listen on a non-loopback address
    std::size_t threads = 0;                  ///< 0: one per core
    std::size_t max_connections = 1024;
    /// At max_connections, a new connection closes the one that has waited longest for (the
    /// rest of) a request, if it has waited at least this long, instead of being refused with
    /// 503. Connections being answered and /events streams are never closed. The minimum keeps
    /// a burst of fresh connections from closing each other before they could send a request.
    std::chrono::milliseconds evict_idle_after{1000};
    double stale_seconds = 180.0;
    std::size_t max_batch = 1000;
    std::string bus_prefix = "volspike";
    std::string market_channel = "market";
    std::string oi_channel = "oi";
    /// /alerts, /news and the alert/news events: the channels followed (missing ones skipped)
    /// and the state directory whose outbox.lmdb gives delivery states (empty: none).
    std::vector<std::string> alert_channels{"volume", "oi", "user_alerts", "liquidations"};
    std::string news_channel = "news";
    std::string state_dir;
    std::chrono::milliseconds request_timeout{15000};   ///< whole request, incl. keep-alive idle
    std::chrono::milliseconds write_timeout{10000};
    std::size_t header_limit = 64 * 1024;     ///< request line + headers (1,000 symbols fit)
    std::size_t body_limit = 4 * 1024;
    std::size_t events_queue_bytes = 1u << 20;   ///< per /events client before a resync (~3 s of a full market)
    std::chrono::milliseconds events_interval{1000};
    /// /history (the dashboard's charts): the tables are read every sample interval, one point
    /// per step and series is kept over the window (0: no history, /history answers 503).
    std::chrono::milliseconds history_sample_interval{1000};
    std::chrono::milliseconds history_step{30000};
    std::chrono::milliseconds history_window{3 * 3600 * 1000};
    /// The history's seed: vs-oi's stored OI histories, read from state_dir's outbox (the
    /// state of process `oi_program`) at start and every seed interval (0: at start only).
    std::string oi_program = "vs-oi";
    std::chrono::milliseconds history_seed_interval{5 * 60 * 1000};
};

class server {
public:
    /// Binds and listens (throws std::runtime_error with the cause: bad address, non-loopback
    /// without allow_remote, port in use). Does not serve until start().
    explicit server(server_config config);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// The bound port (useful with port 0).
    std::uint16_t port() const noexcept;
    /// Starts the worker threads and the event hub.
    void start();
    /// Stops accepting, answers the requests already read until `drain_until` (keep-alive
    /// connections close after their answer), then stops the hub and the workers and joins.
    /// Idempotent. The default stops at once. `while_draining` runs every few milliseconds of
    /// the drain (the daemon's heartbeat and status).
    void stop(std::chrono::steady_clock::time_point drain_until = {}, const std::function<void()>& while_draining = {});
    /// False when a probe posted to a worker thread more than `max_lag` ago has not run yet
    /// (the worker is stuck); posts the next probe to each worker whose last one ran. Call it
    /// periodically, at any rate. False before start().
    bool responsive(std::chrono::milliseconds max_lag);

    metrics_registry& metrics() noexcept;
    /// Points the history merged from vs-oi's stored states, and states that did not decode.
    std::uint64_t history_seeded_points() const noexcept;
    std::uint64_t history_seed_broken() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace vs::api
