#pragma once
// Retry pacing: exponential backoff with jitter between a minimum and a maximum delay, for
// every process that retries something (vs-feed's reconnects, vs-deliver's sends).
//
//   delay(n) = min(max_delay, min_delay * 2^n * U[jitter_min, jitter_max]),   n failures so far
//
// where the doubled part is capped at max_delay before the jitter factor. The defaults
// (factor in [1, 1.5]) spread a retry up to half again; {0.5, 1} is "equal jitter" (half fixed,
// half random). Jitter spreads the retries of many clients after a shared outage.
//
// Two ways to use it:
//  - delay(failures): the delay alone, where the caller keeps the failure count (vs-deliver
//    keeps it with each alert in the outbox);
//  - next_attempt_at / on_attempt / on_connected: a reconnect loop (vs-feed) whose count is kept
//    here and reset once a connection stayed up for stable_after, and whose attempts never start
//    closer than min_attempt_interval, so a flapping peer or a bug never becomes a connection
//    storm (Binance limits new connections per IP and bans abusers).
//
// Pure logic over caller-supplied monotonic times (ns), so tests drive it with a fake clock;
// the random source is injectable. Threads: one owner thread per object.
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>

namespace vs {

struct backoff_config {
    std::chrono::milliseconds min_delay{1000};
    std::chrono::milliseconds max_delay{60000};   ///< raised to min_delay when below it
    /// The doubled delay is multiplied by a factor drawn uniformly from [jitter_min, jitter_max].
    double jitter_min = 1.0;
    double jitter_max = 1.5;
    /// A connection up for this long resets the failure count (next_attempt_at only).
    std::chrono::milliseconds stable_after{60000};
    /// No two attempts start closer than this (next_attempt_at / earliest_attempt_at only).
    std::chrono::milliseconds min_attempt_interval{1000};
};

class backoff {
public:
    /// A number drawn uniformly from [0, 1).
    using random_source = std::function<double()>;

    /// Jitter from a std::mt19937_64 seeded with `seed` (tests pass a fixed one).
    explicit backoff(backoff_config config, std::uint64_t seed = std::random_device{}());
    /// Jitter from `random` (tests script the draws).
    backoff(backoff_config config, random_source random);

    /// The delay before the next try after `failures` consecutive failures (0: the first
    /// retry), jittered as described above.
    std::chrono::nanoseconds delay(unsigned failures);

    /// A connection was lost or failed at `now_ns`: counts a failure (after resetting the
    /// count when the connection had stayed up for stable_after) and returns the monotonic
    /// time at which the next attempt may start: now_ns + delay(failures so far), and not
    /// before earliest_attempt_at(now_ns).
    std::int64_t next_attempt_at(std::int64_t now_ns);
    /// The earliest time an attempt that is not a retry (e.g. a proactive renewal) may start.
    std::int64_t earliest_attempt_at(std::int64_t now_ns) const noexcept;
    /// A connection attempt starts now.
    void on_attempt(std::int64_t now_ns) noexcept;
    /// The attempt succeeded (the connection is open).
    void on_connected(std::int64_t now_ns) noexcept;

    /// Consecutive failures counted by next_attempt_at since the last stable connection.
    unsigned failures() const noexcept { return failures_; }
    const backoff_config& config() const noexcept { return config_; }

private:
    backoff_config config_;
    random_source random_;
    unsigned failures_ = 0;
    std::int64_t connected_since_ns_ = -1;   // -1: no live connection
    std::int64_t last_attempt_ns_ = INT64_MIN / 2;
};

}  // namespace vs
