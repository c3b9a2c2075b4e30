#pragma once
// Recent history for the dashboard's charts (/history/{symbol}, /history): the mark price and
// the open interest of every symbol over the last hours, as vs-api saw them on the bus.
//
// Where it comes from: a recorder thread reads the latest tables of the market channel
// (MarkPrice) and of the oi channel (OpenInterest, vs-oi's poll samples) every
// `sample_interval` and keeps, per symbol and series, at most one point per `step` (the newest
// value of each step; the record's own receive time, not the time it was read) over `window`.
// No REST call. The rings themselves hold minutes, not hours (an 8 MiB market ring is ~2 min
// of mark prices), and a reader cannot start at their oldest frame, so what vs-api records
// itself begins when it starts. The hours before come from vs-oi's stored histories (seed):
// at start, and then every `seed_interval`, the recorder thread reads vs-oi's per-symbol
// states `s/<SYMBOL>` from the outbox LMDB (read-only, the environment vs-api already opens
// for /alerts), decodes them with vs-oi's own codec (vs::oi::decode_state) and merges their
// samples (OI in contracts; mark price, and OI x mark in USD, for the samples vs-oi still
// keeps a mark for, ~the last hour) into the step buckets it has no point in yet: what vs-api
// recorded itself wins. A missing outbox or vs-oi state seeds nothing; a state that does not
// decode is logged once, counted (seed_broken) and skipped.
//
// Memory: 3 series x (window / step) points x 16 bytes per symbol: 3 h at 30 s, 700 symbols
// ~12 MB at most.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace vs::api {

struct history_config {
    std::string bus_prefix = "volspike";
    std::string market_channel = "market";
    std::string oi_channel = "oi";
    std::chrono::milliseconds sample_interval{1000};   ///< how often the tables are read
    std::chrono::milliseconds step{30000};             ///< one point per step and series
    std::chrono::milliseconds window{3 * 3600 * 1000};  ///< how far back points are kept
    /// Re-read vs-oi's stored histories this often after the first seed (0: at start only;
    /// a pass that found no outbox or no vs-oi state is retried at this period too).
    std::chrono::milliseconds seed_interval{5 * 60 * 1000};
};

/// Calls fn(key, value) for every key of vs-oi's state in the outbox; false when there is
/// no outbox (yet). Throws on an LMDB error.
using oi_state_reader =
    std::function<bool(const std::function<void(std::string_view key, std::string_view value)>& fn)>;

enum class series_id : std::uint8_t { mark_price = 0, open_interest = 1, open_interest_usd = 2 };
inline constexpr std::size_t series_count = 3;

struct history_point {
    std::int64_t t_ms = 0;
    double v = 0;
};

/// The points of every symbol; any thread reads, the recorder (or a test) writes.
class history_store {
public:
    explicit history_store(std::chrono::milliseconds step, std::chrono::milliseconds window)
        : step_ms_(step.count() > 0 ? step.count() : 1), window_ms_(window.count())
    {
    }

    /// Adds a point: replaces the last one when both fall in the same step, appends otherwise
    /// (a point older than the last is dropped), and trims points older than `window` before
    /// `now_ms`. Not finite values are dropped.
    void add(series_id s, std::string_view symbol, std::int64_t t_ms, double v, std::int64_t now_ms);

    /// Merges older points (a seed): `pts`, in time order, are kept at one per step (the
    /// newest of each) and go into the steps the series has no point in; the points already
    /// there win. Points older than `window` before `now_ms`, or not finite, are dropped.
    /// Returns how many were added.
    std::size_t merge(series_id s, std::string_view symbol, const std::vector<history_point>& pts, std::int64_t now_ms);

    /// Copies the symbol's points since `since_ms`; false when the symbol has none at all.
    bool read(std::string_view symbol, std::int64_t since_ms,
              std::vector<history_point> (&out)[series_count]) const;

    /// The relative change of series `s` over `lookback_ms` for every symbol: fn(symbol, from,
    /// to) with `from` the newest point at or before (newest - lookback) and `to` the newest;
    /// symbols whose history is shorter are left out.
    void changes(series_id s, std::int64_t lookback_ms,
                 const std::function<void(std::string_view, const history_point&, const history_point&)>& fn) const;

    std::size_t symbols() const;
    std::int64_t step_ms() const noexcept { return step_ms_; }
    std::int64_t window_ms() const noexcept { return window_ms_; }
    /// Time of the first point ever added (0: none yet).
    std::int64_t since_ms() const noexcept { return since_ms_.load(std::memory_order_relaxed); }

private:
    struct entry {
        std::deque<history_point> s[series_count];
    };
    std::int64_t step_ms_;
    std::int64_t window_ms_;
    std::atomic<std::int64_t> since_ms_{0};
    mutable std::shared_mutex mu_;
    std::map<std::string, entry, std::less<>> by_symbol_;   // guarded by mu_
};

/// What one seed pass found (seed_oi_history).
struct seed_result {
    bool outbox = false;          ///< an outbox was there to read
    std::size_t states = 0;       ///< vs-oi symbol states read (s/<SYMBOL>)
    std::size_t broken = 0;       ///< of those, states that did not decode
    std::size_t points = 0;       ///< points merged into the store
    std::string first_error;      ///< "<SYMBOL>: <what>" of the first broken state
};

/// One seed pass: every vs-oi symbol state `read` gives, decoded with vs::oi::decode_state
/// (its history windowed by the store's window), merged into `store`. Throws what `read` throws.
seed_result seed_oi_history(history_store& store, const oi_state_reader& read, std::int64_t now_ms);

/// The thread that fills a history_store from the bus (and seeds it from vs-oi's states).
class history_recorder {
public:
    explicit history_recorder(history_config config);
    ~history_recorder();
    history_recorder(const history_recorder&) = delete;
    history_recorder& operator=(const history_recorder&) = delete;

    void start();
    void stop();
    /// Reads the tables once (the thread's loop body; tests call it directly).
    void sample_once();
    /// Where vs-oi's stored states come from (before start(); none: no seed).
    void set_oi_states(oi_state_reader read) { oi_states_ = std::move(read); }
    /// One seed pass now (the thread runs it at start and every seed_interval); logs what it
    /// found, a broken state once per process.
    void seed_once();
    /// Points merged from vs-oi's states, and states that did not decode, since start.
    std::uint64_t seeded_points() const noexcept { return seeded_points_.load(std::memory_order_relaxed); }
    std::uint64_t seed_broken() const noexcept { return seed_broken_.load(std::memory_order_relaxed); }

    history_store& store() noexcept { return store_; }
    const history_store& store() const noexcept { return store_; }

private:
    history_config config_;
    history_store store_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;   // guarded by mu_
    std::thread thread_;
    struct readers;
    std::unique_ptr<readers> readers_;   // the recorder thread's (or sample_once caller's)
    oi_state_reader oi_states_;
    std::atomic<std::uint64_t> seeded_points_{0};
    std::atomic<std::uint64_t> seed_broken_{0};
    bool seed_logged_broken_ = false;    // the seeding thread's
    bool seed_logged_missing_ = false;   // the seeding thread's
};

}  // namespace vs::api
