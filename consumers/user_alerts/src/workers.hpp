#pragma once
// vs-user-alerts' I/O threads around the pure core:
//   - backend_fetcher: GET /api/user-alerts-trigger/active?apiKey= every refresh interval,
//     parsed on its own thread as the body arrives (never held whole); the check thread
//     takes the newest outcome when it wants it;
//   - update_sender: POST /update-checked, latest value per alert wins, `concurrency` threads
//     each on its own kept-alive connection (not through the outbox: a lost update is
//     replaced by the next check's);
//   - oi_poller: openInterest for OI_CROSS symbols without a fresh record in the `oi`
//     channel, at their tier's cadence, through the host-wide REST weight budget.
// Every class stops and joins its threads in its destructor (or stop()).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bus_values.hpp"
#include "core.hpp"
#include "vs/net/binance_rest.hpp"
#include "vs/net/http_client.hpp"

namespace vs::user_alerts {

using counter_ref = std::atomic<std::uint64_t>*;

/// The backend's base URL and the key its user-alert routes take as `apiKey`.
struct backend_config {
    std::string base_url;
    std::string api_key;
    vs::net::http_client_options http;
};

struct fetch_outcome {
    std::optional<parse_result> parsed;   ///< a 200 answer, parsed (its own error when refused)
    std::string error;                    ///< transport or HTTP failure ("HTTP 401: ..."), redacted
    int http_status = 0;
    std::size_t bytes = 0;
    std::chrono::milliseconds took{0};
};

class backend_fetcher {
public:
    backend_fetcher(backend_config cfg, std::chrono::milliseconds every, parse_limits limits);
    ~backend_fetcher();
    backend_fetcher(const backend_fetcher&) = delete;
    backend_fetcher& operator=(const backend_fetcher&) = delete;

    /// The newest outcome not taken yet.
    std::optional<fetch_outcome> take();
    /// Steady ms of the last finished attempt (0: none yet).
    std::int64_t last_attempt_ms() const noexcept { return last_attempt_.load(std::memory_order_relaxed); }
    void stop();

private:
    void run();
    fetch_outcome fetch_once(vs::net::http_client& http);

    backend_config cfg_;
    std::chrono::milliseconds every_;
    parse_limits limits_;
    std::size_t last_count_ = 0;   // alerts of the last good answer (fetcher thread only)
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::optional<fetch_outcome> ready_;
    std::atomic<std::int64_t> last_attempt_{0};
    std::thread thread_;
};

struct update_counters {
    counter_ref sent = nullptr, failed = nullptr, replaced = nullptr;
};

class update_sender {
public:
    update_sender(backend_config cfg, int concurrency, update_counters counters);
    ~update_sender();
    update_sender(const update_sender&) = delete;
    update_sender& operator=(const update_sender&) = delete;

    /// A new list: what is pending for the old one is dropped (the next check posts again).
    void set_list(std::shared_ptr<const id_table> ids);
    /// Queues lastCheckedValue = v for alert `index` of the current list; a value still
    /// queued for it is replaced (latest wins). 12 bytes an alert at most.
    void post(std::uint32_t index, double v);
    std::size_t pending() const;
    void stop();

private:
    void run();

    backend_config cfg_;
    update_counters counters_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::shared_ptr<const id_table> ids_;
    std::vector<double> latest_;          // NaN: nothing queued
    std::deque<std::uint32_t> order_;     // each queued index once, oldest first
    std::vector<std::thread> threads_;
    std::atomic<std::uint64_t> failures_logged_{0};
};

struct oi_poll_counters {
    counter_ref calls = nullptr, failures = nullptr, skipped_fresh = nullptr;
};

class oi_poller {
public:
    /// `rest` is built on the poller's thread at its first poll (no budget segment, no
    /// connection while no OI_CROSS alert needs one).
    oi_poller(vs::net::rest_options rest, vs::bus::channel_config oi_channel, oi_cache& cache,
              std::chrono::milliseconds oi_max_age, oi_poll_counters counters);
    ~oi_poller();
    oi_poller(const oi_poller&) = delete;
    oi_poller& operator=(const oi_poller&) = delete;

    /// The symbols to poll and each one's interval (the shortest among its alerts' tiers).
    void set_wanted(std::vector<std::pair<std::string, std::chrono::milliseconds>> wanted);
    void stop();

private:
    void run();

    vs::net::rest_options rest_opts_;
    vs::bus::channel_config oi_channel_;
    oi_cache& cache_;
    std::chrono::milliseconds oi_max_age_;
    oi_poll_counters counters_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool changed_ = false;
    std::vector<std::pair<std::string, std::chrono::milliseconds>> wanted_;
    std::thread thread_;
};

}  // namespace vs::user_alerts
