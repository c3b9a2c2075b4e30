#pragma once
// The OI spike rule of the old `oi_realtime_poller.py` (CONTRACTS 3.1), as pure code with the
// clock passed in: configuration from the old environment names, a compact per-symbol OI
// history with a binary-searched baseline lookup, INSIDE/OUTSIDE state per (symbol, timeframe)
// and a cooldown per (symbol, direction, timeframe), and the poll-interval formula.
//
//   vs::oi::config cfg = vs::oi::config::from_env();      // throws on a malformed value
//   vs::oi::symbol_state st;                              // one per symbol (or decode_state())
//   auto r = vs::oi::evaluate(cfg, "BTCUSDT", st, {now_ms, oi, mark}, funding);
//   for (const auto& a : r.alerts) { ... alert_json(a) ... }   // payload.hpp
//
// Exactly the old script, step by step (evaluate):
//   - OI <= 0 or not finite: skipped (not stored, nothing evaluated; r.skipped).
//   - the sample is appended to the history first (so it is its own history's newest sample);
//     samples older than newest - history_window are dropped;
//   - excluded symbols (USDCUSDT) stop here: stored, never alerted, no state;
//   - per timeframe (lookback L s, threshold thr, cooldown C s): baseline = the stored sample
//     nearest to time - L within tol = min(120, max(30, L / 10)) s (integer division), the
//     older on a tie; none (or fewer than 2 samples stored), or baseline OI 0: state INSIDE;
//     pct = (cur - base) / base, abs = cur - base, outside = |pct| >= thr;
//     outside and INSIDE: UP when pct >= thr and abs >= min_delta, DOWN when pct <= -thr and
//     abs <= -min_delta; a (symbol, direction, timeframe) alerted less than C s ago: nothing,
//     state stays INSIDE (the alert is delayed to the first sample after the cooldown, not
//     dropped); too few contracts: nothing, INSIDE; an alert: state OUTSIDE, cooldown starts.
//     Outside and OUTSIDE: nothing. Not outside: INSIDE.
//   - priceChange = (mark - base mark) / base mark when both marks > 0.
// The time of a sample is the rule's only clock ("now"); nothing here reads a clock.
//
// Memory: a stored sample is 8 bytes (time as a 32-bit ms offset from a per-symbol base, OI
// as a 32-bit code that decodes to the exact double, see history), plus a float mark price for
// the samples young enough to be a baseline (the mark has 7 significant digits, so
// priceChange may differ from the old script's in the 8th decimal; the backend keeps 6).
// 650 symbols x 3 h at 5 s: 2,272 x 8 B + ~810 x 4 B (5 % room) = ~21.4 KB a symbol, 13.9 MB.
//
// Threads: a config is immutable after construction; a symbol_state belongs to one thread.
// Errors: config::from_env throws std::invalid_argument naming the variable; the rest does
// not throw except std::bad_alloc.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::oi {

inline constexpr std::size_t timeframe_count = 3;   ///< 5 min, 15 min, 1 hour

struct timeframe_config {
    std::string label;            ///< "5 min", "15 min", "1 hour" (payload `timeframe`)
    double threshold = 0;         ///< fraction: 0.03 = 3 % (inclusive)
    std::int64_t lookback_s = 0;  ///< baseline at now - lookback
    std::int64_t cooldown_s = 0;  ///< per (symbol, direction, timeframe)
    /// min(120, max(30, lookback_s / 10)) s, the old script's baseline tolerance.
    std::int64_t tolerance_s() const noexcept;
};

struct config {
    /// Env OI_SPIKE_THRESHOLD_PCT_5MIN (0.03), OI_LOOKBACK_WINDOW_5MIN (300),
    /// OI_ALERT_COOLDOWN_5MIN (600); _15MIN: 0.07, 900, 900; _60MIN: 0.12, 3600, 3600.
    std::array<timeframe_config, timeframe_count> timeframes;
    double min_delta_contracts = 5000;                  ///< OI_MIN_DELTA_CONTRACTS
    std::vector<std::string> excluded_symbols{"USDCUSDT"};  ///< never alerted
    std::int64_t history_window_s = 3 * 3600;           ///< OI_HISTORY_WINDOW_SEC (ours)
    int max_req_per_min = 2000;                         ///< OI_MAX_REQ_PER_MIN
    int min_interval_s = 5;                             ///< OI_MIN_INTERVAL_SEC
    int max_interval_s = 20;                            ///< OI_MAX_INTERVAL_SEC
    double enter_quote_24h = 4'000'000;                 ///< OI_LIQUID_ENTER_QUOTE_24H
    double exit_quote_24h = 2'000'000;                  ///< OI_LIQUID_EXIT_QUOTE_24H

    config();   ///< the old defaults
    /// The old defaults overridden by the environment (empty values ignored). Integers must
    /// be integers ("300", as Python's int()), fractions any number; throws
    /// std::invalid_argument("OI_LOOKBACK_WINDOW_5MIN: not an integer: '5m'") otherwise, and
    /// for values the rule cannot use (lookback <= 0, thresholds <= 0, window > 30 days,
    /// min interval > max interval, ...).
    static config from_env();
    /// The same reading names through `get` (tests): nullopt = unset.
    static config from_lookup(const std::function<std::optional<std::string>(const char* name)>& get);

    bool excluded(std::string_view symbol) const noexcept;
};

/// The old poll interval: clamp(round_half_even(60 * n / max_req_per_min), min, max) s;
/// n <= 0 gives the max. n = 100 -> 5, 200 -> 6, 350 -> 10, 550 -> 16 (16.5 rounds to even).
int poll_interval_s(const config& cfg, long long universe_size) noexcept;

/// One OI sample as the caller gives it.
struct sample {
    std::int64_t time_ms = 0;   ///< Unix ms: the rule's clock
    double oi = 0;              ///< open interest in contracts
    double mark = 0;            ///< mark price at that moment; 0 = unknown
};

/// A time-ordered ring of compact samples covering `window` back from the newest one.
///
/// 8 bytes a sample: the time as a 32-bit ms offset from a per-history base, and the OI as a
/// 32-bit offset from a per-history base in units of 10^-k contracts (k = 0..3 decimals, the
/// most any stored value needs: Binance's strings have at most 3). Every value is checked to
/// come back bit for bit ((base + q) / 10^k is the double strtod gives for that decimal);
/// one that does not (more decimals, or outside the 32-bit range even after re-centring) is
/// kept exactly in a small side list. The mark price (a float) is kept only for the samples
/// younger than `mark_window` (the longest lookback + tolerance + a margin: older samples are
/// never a baseline, the only use of a stored mark); older ones read back as 0 (unknown).
class history {
public:
    /// `mark_window_ms` < 0: marks kept for the whole window.
    explicit history(std::int64_t window_ms = 3 * 3600 * 1000LL, std::int64_t mark_window_ms = -1)
        : window_ms_(window_ms), mark_window_ms_(mark_window_ms < 0 || mark_window_ms > window_ms ? window_ms : mark_window_ms)
    {
    }

    /// Adds `s`: appended when not older than the newest sample (the normal case, O(1)
    /// amortised), else inserted in time order (back-fill, O(n)); then samples older than
    /// newest - window are dropped. A sample already older than that is ignored (false).
    bool add(const sample& s);
    /// The stored sample nearest to `target_ms` if it lies within `tolerance_ms` (|dt| <=
    /// tolerance), the older on a tie. O(log n): an interpolated first guess (samples come
    /// at a nearly regular interval), a gallop to bracket the answer, a bisection of the bracket.
    std::optional<sample> nearest(std::int64_t target_ms, std::int64_t tolerance_ms) const noexcept;

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// i-th oldest sample (i < size()); the mark comes back rounded to float, 0 past the mark window.
    sample at(std::size_t i) const noexcept;
    sample newest() const noexcept { return at(size_ - 1); }
    void clear() noexcept;
    /// Room for n samples without reallocation (the daemon: window / interval + a few).
    void reserve(std::size_t n);
    /// Heap bytes held.
    std::size_t memory_bytes() const noexcept
    {
        return ring_.capacity() * sizeof(packed) + marks_.capacity() * sizeof(float) +
               exact_.capacity() * sizeof(exact_value);
    }
    std::int64_t window_ms() const noexcept { return window_ms_; }
    std::int64_t mark_window_ms() const noexcept { return mark_window_ms_; }

    struct packed {
        std::uint32_t dt_ms;   ///< time - base_ms_
        std::int32_t q;        ///< OI: (oi_base_ + q) / 10^k_; `side` = in exact_
    };
    static_assert(sizeof(packed) == 8);
    static constexpr std::int32_t side = std::numeric_limits<std::int32_t>::min();

private:
    struct exact_value {
        std::int64_t time_ms;
        double oi;
    };
    std::size_t index(std::size_t i) const noexcept
    {
        std::size_t k = head_ + i;
        return k >= ring_.size() ? k - ring_.size() : k;
    }
    const packed& slot(std::size_t i) const noexcept { return ring_[index(i)]; }
    packed& slot(std::size_t i) noexcept { return ring_[index(i)]; }
    std::int64_t time_at(std::size_t i) const noexcept { return base_ms_ + slot(i).dt_ms; }
    double oi_at(std::size_t i) const noexcept;
    float mark_at(std::size_t i) const noexcept;
    std::size_t lower_bound(std::int64_t t) const noexcept;   // first i with time >= t
    void grow();
    void rebase(std::int64_t new_base_ms) noexcept;
    /// The 32-bit code of `oi`, re-scaling or re-centring the stored codes if needed; `side`
    /// when it must be kept exactly in exact_.
    std::int32_t encode_oi(double oi);
    void drop_front(std::size_t n) noexcept;
    void trim_marks() noexcept;

    std::vector<packed> ring_;
    std::size_t head_ = 0, size_ = 0;
    std::int64_t base_ms_ = 0;
    std::int64_t oi_base_ = 0;   ///< in 10^-k_ contracts
    int k_ = -1;                 ///< decimals of the codes; -1: none stored yet
    std::size_t codes_ = 0;      ///< samples stored as a code (not in exact_)
    std::vector<exact_value> exact_;   ///< the `side` samples, in slot order
    std::vector<float> marks_;   ///< ring: the marks of the newest mark_count_ samples
    std::size_t mark_head_ = 0, mark_count_ = 0;
    std::int64_t window_ms_;
    std::int64_t mark_window_ms_;
};

/// The mark window symbol_state uses: the longest lookback + its tolerance + 2 min (a late
/// sample's baseline), within the history window.
std::int64_t mark_window_ms(const struct config& cfg) noexcept;

enum class direction : std::uint8_t { up = 0, down = 1 };
std::string_view to_string(direction d) noexcept;   ///< "UP" / "DOWN"

/// What the rule keeps per symbol: history, INSIDE/OUTSIDE per timeframe, last alert time
/// per (direction, timeframe). Serialised by encode_state()/decode_state() (state_codec.hpp).
struct symbol_state {
    history hist;
    std::array<bool, timeframe_count> outside{};   ///< false = INSIDE (the default)
    /// Unix ms of the last alert per [timeframe][direction]; 0 = never.
    std::array<std::array<std::int64_t, 2>, timeframe_count> last_alert_ms{};

    symbol_state() = default;
    explicit symbol_state(const config& cfg) : hist(cfg.history_window_s * 1000, mark_window_ms(cfg)) {}
};

/// One alert, everything the payload (payload.hpp) and the OiSpikeAlert record need.
struct alert {
    std::string symbol;
    direction dir = direction::up;
    std::size_t timeframe = 0;          ///< index into config::timeframes
    std::string timeframe_label;        ///< "5 min"
    double baseline = 0, current = 0;   ///< contracts
    double pct_change = 0;              ///< fraction
    double abs_change = 0;              ///< signed contracts
    std::int64_t time_ms = 0;           ///< the sample's time
    double mark = 0;                    ///< the sample's mark price (0 = unknown)
    std::optional<double> price_change; ///< fraction, when both marks > 0
    std::optional<double> funding_rate;
};

struct evaluation {
    std::vector<alert> alerts;   ///< 0..3, in timeframe order
    bool skipped = false;        ///< OI <= 0 or not finite: not stored, not evaluated
    /// INSIDE/OUTSIDE or a cooldown changed (the history always changes unless skipped).
    bool state_changed = false;
};

/// The rule for one new sample of `symbol` (see the top of this file). `funding` is the
/// funding rate at that moment, if known (copied into alerts).
evaluation evaluate(const config& cfg, std::string_view symbol, symbol_state& st, const sample& s,
                    std::optional<double> funding = std::nullopt);

}  // namespace vs::oi
