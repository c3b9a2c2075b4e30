#pragma once
// Reconnect pacing of vs-feed: jittered exponential backoff between a minimum and a maximum
// delay (1 s -> 60 s by default), reset once a connection has stayed up for a stable period
// (a minute), and never more than one new connection per min_attempt_interval (1 s), so a
// flapping exchange or a bug can never turn the feed into a connection storm (Binance limits
// new connections per IP and bans abusers).
//
// Pure logic over caller-supplied monotonic times (ns), so tests drive it with a fake clock.
// Threads: one owner thread.
#include <chrono>
#include <cstdint>
#include <random>

namespace vs::feed {

struct backoff_config {
    std::chrono::milliseconds min_delay{1000};
    std::chrono::milliseconds max_delay{60000};
    /// A connection up for this long resets the delay to min_delay.
    std::chrono::milliseconds stable_after{60000};
    /// No two connection attempts start closer than this.
    std::chrono::milliseconds min_attempt_interval{1000};
};

class backoff {
public:
    explicit backoff(backoff_config config, std::uint64_t seed = std::random_device{}());

    /// A connection was lost or failed at `now_ns`: returns the monotonic time at which the
    /// next attempt may start. The delay is drawn from [base, 1.5 * base] capped at
    /// max_delay, where base = min_delay * 2^failures; a connection that had stayed up for
    /// stable_after first resets failures to zero.
    std::int64_t next_attempt_at(std::int64_t now_ns);

    /// The earliest time an attempt that is not a retry (e.g. a proactive renewal) may start.
    std::int64_t earliest_attempt_at(std::int64_t now_ns) const noexcept;

    /// A connection attempt starts now.
    void on_attempt(std::int64_t now_ns) noexcept;
    /// The attempt succeeded (the WebSocket is open).
    void on_connected(std::int64_t now_ns) noexcept;

    /// Consecutive failures counted since the last stable connection.
    unsigned failures() const noexcept { return failures_; }
    const backoff_config& config() const noexcept { return config_; }

private:
    backoff_config config_;
    std::mt19937_64 rng_;
    unsigned failures_ = 0;
    std::int64_t connected_since_ns_ = -1;   // -1: no live connection
    std::int64_t last_attempt_ns_ = INT64_MIN / 2;
};

}  // namespace vs::feed
