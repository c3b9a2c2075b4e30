#pragma once
// vs-user-alerts' pure core: no bus, no HTTP, no LMDB, no clock of its own. The daemon
// (main.cpp) feeds it the backend's answer, values and the steady time; tests do the same.
//
//   auto parsed = parse_active(body, limits);          // per-alert validation, bad ones listed
//   book b;  b.replace(std::move(parsed.alerts), seed);  // prev / fired kept for known ids
//   cadence c{intervals, now};                           // Pro/Elite 30 s, Free 5 min, ...
//   check_output out;
//   check(b, c.due(now), values, out);                   // CONTRACTS 3.4 on every due alert
//   // out.triggers -> outbox + state "fired" in one commit; out.updates -> update-checked
//
// Threads: none of these objects is shared; each belongs to the thread that uses it.
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vs::user_alerts {

enum class alert_type : std::uint8_t { price_cross = 0, funding_cross = 1, oi_cross = 2 };
inline constexpr std::size_t alert_type_count = 3;
/// "PRICE_CROSS", "FUNDING_CROSS", "OI_CROSS" (the backend's names).
std::string_view to_string(alert_type t) noexcept;
std::optional<alert_type> alert_type_from(std::string_view s) noexcept;
/// "price", "funding", "oi": metric names.
std::string_view short_name(alert_type t) noexcept;

/// The user's tier. `other` is any tier the contract does not name: never checked, counted.
enum class tier : std::uint8_t { free = 0, pro = 1, elite = 2, other = 3 };
inline constexpr std::size_t tier_count = 4;
std::string_view to_string(tier t) noexcept;   ///< "free", "pro", "elite", "other"
/// Case-insensitive; anything else is `other`.
tier tier_from(std::string_view s) noexcept;

/// A set of tiers (bit i = tier i).
struct tier_set {
    std::uint8_t bits = 0;
    bool has(tier t) const noexcept { return ((bits >> static_cast<int>(t)) & 1u) != 0; }
    void add(tier t) noexcept { bits = static_cast<std::uint8_t>(bits | (1u << static_cast<int>(t))); }
    bool empty() const noexcept { return bits == 0; }
};

/// One active alert as the backend lists it (GET /api/user-alerts-trigger/active).
struct user_alert {
    std::string id;
    std::string symbol;
    alert_type type = alert_type::price_cross;
    tier user_tier = tier::free;
    double threshold = 0;
    /// The backend's lastCheckedValue (null: nullopt): the seed of `prev` the first time.
    std::optional<double> last_checked;
};

// ---- the backend's answer ------------------------------------------------------------------

struct parse_limits {
    std::size_t max_alerts = 250'000;          ///< alerts accepted in all
    std::size_t max_per_symbol = 10'000;       ///< alerts accepted for one symbol
    std::size_t max_id_bytes = 128;
    std::size_t max_symbol_bytes = 32;         ///< the bus's key limit
};

struct rejected_alert {
    std::string id;       ///< "" when it had none; "#<index>" placeholder then
    std::string reason;   ///< "unknown alertType 'VOLUME_CROSS'"
};

struct parse_result {
    /// Set when the whole answer is refused (invalid JSON, no "alerts" array): keep the last list.
    std::optional<std::string> error;
    std::vector<user_alert> alerts;             ///< accepted, in the backend's order
    std::size_t rejected = 0;                   ///< items skipped for bad fields
    std::vector<rejected_alert> rejected_sample;   ///< the first few, for the log
    std::size_t over_symbol_limit = 0;          ///< skipped: too many for their symbol
    std::size_t over_total_limit = 0;           ///< skipped: past max_alerts
    std::size_t duplicates = 0;                 ///< skipped: an id already listed
};

/// Parses the /active answer `{"alerts":[...]}` with per-alert validation: an item with a
/// missing or mistyped id/symbol/alertType/threshold, an unknown alertType or a threshold that
/// is not a finite positive number is skipped (counted, sampled) and the rest kept.
/// `userTier` missing: free (as the old script). `lastCheckedValue` null, missing or not a
/// number: no seed. A streaming parse: memory beyond the result is one item, whatever the size.
parse_result parse_active(std::string_view body, const parse_limits& limits = {});

/// parse_active fed in pieces as they arrive (the HTTP body, chunk by chunk: the answer is
/// never held whole). Any split gives the same result as parse_active of the whole.
///   active_parser p{limits, expected_alerts};
///   for (chunk : body) if (!p.write(chunk)) break;   // false: the answer is refused already
///   parse_result r = p.finish();
class active_parser {
public:
    /// `expected_alerts`: reserved at once (e.g. the previous list's size); 0: grown as needed.
    explicit active_parser(const parse_limits& limits = {}, std::size_t expected_alerts = 0);
    ~active_parser();
    active_parser(active_parser&&) noexcept;
    active_parser& operator=(active_parser&&) noexcept;

    /// The next piece of the answer. False once it is refused (invalid JSON, "alerts" not an
    /// array): later writes are ignored and finish() says why.
    bool write(std::string_view chunk);
    /// Alerts accepted so far (before the duplicate and per-symbol limits of finish()).
    std::size_t alerts_so_far() const noexcept;
    /// The end of the answer: the result as parse_active gives it. Call once.
    parse_result finish();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// The accepted list in the backend's own format (without lastCheckedValue, which changes
/// at every check): what the daemon keeps in LMDB and reads back with parse_active.
std::string serialize_kept(const std::vector<user_alert>& alerts);
/// A hash of what serialize_kept writes, without writing it (is the kept list still current?).
std::uint64_t kept_hash(const std::vector<user_alert>& alerts) noexcept;

// ---- the rule ---------------------------------------------------------------------------------

enum class cross : std::uint8_t { none, up, down };

/// CONTRACTS 3.4: up when prev < thr <= cur, down when prev > thr >= cur; prev absent (NaN):
/// none. A NaN `cur` never crosses.
inline cross check_cross(double prev, double cur, double thr) noexcept
{
    if (std::isnan(prev) || std::isnan(cur)) {
        return cross::none;
    }
    if (prev < thr && thr <= cur) {
        return cross::up;
    }
    if (prev > thr && thr >= cur) {
        return cross::down;
    }
    return cross::none;
}

/// Where `v` lies relative to `thr`: -1 below, 0 on it, +1 above, 2 unknown (NaN).
inline int side_of(double v, double thr) noexcept
{
    if (std::isnan(v)) {
        return 2;
    }
    return v < thr ? -1 : (v > thr ? 1 : 0);
}

// ---- cadence ----------------------------------------------------------------------------------

using steady_time = std::chrono::steady_clock::time_point;

/// Check interval per tier: nullopt = never checked; 0 = at every bus update of the symbol.
struct tier_intervals {
    std::array<std::optional<std::chrono::milliseconds>, tier_count> every{
        std::chrono::milliseconds{300'000}, std::chrono::milliseconds{30'000}, std::chrono::milliseconds{30'000},
        std::nullopt};
};

/// A fixed grid per tier on a steady clock: tier t is due at start, start + i, start + 2i, ...
/// (not "i after the last check ended"); ticks missed while the caller was busy are skipped
/// and counted, never run twice.
class cadence {
public:
    cadence(const tier_intervals& intervals, steady_time start);
    /// Tiers with a positive interval due at `now`; their next tick moves past `now`.
    tier_set due(steady_time now);
    /// The earliest next tick of a timed tier (time_point::max() when none is timed).
    steady_time next() const noexcept;
    /// Tiers evaluated at every bus update (interval 0).
    tier_set on_update() const noexcept { return on_update_; }
    /// Tiers never checked.
    tier_set unchecked() const noexcept { return unchecked_; }
    std::uint64_t missed_ticks() const noexcept { return missed_; }

private:
    tier_intervals intervals_;
    std::array<steady_time, tier_count> next_{};
    tier_set on_update_, unchecked_;
    std::uint64_t missed_ = 0;
};

// ---- values -----------------------------------------------------------------------------------

enum class value_status : std::uint8_t { ok, missing, stale };

struct value {
    value_status status = value_status::missing;
    double v = std::numeric_limits<double>::quiet_NaN();
};

/// Where current values come from (the daemon: the bus and its own OI polls; tests: a map).
class value_lookup {
public:
    virtual ~value_lookup() = default;
    virtual value get(alert_type type, std::string_view symbol) = 0;
};

// ---- the alert book -----------------------------------------------------------------------------

/// What the daemon stored for an alert: its last checked value (NaN: null) and whether it fired.
struct stored_state {
    double prev = std::numeric_limits<double>::quiet_NaN();
    bool fired = false;
};

/// The ids of one list, packed (one string, an end offset per alert): shared read-only with
/// the update sender, which outlives a list replacement by a few requests.
struct id_table {
    std::string text;
    std::vector<std::uint32_t> ends;   ///< id i = text[ends[i-1], ends[i])
    std::string_view id(std::uint32_t i) const noexcept
    {
        const std::uint32_t b = i == 0 ? 0 : ends[i - 1];
        return std::string_view{text}.substr(b, ends[i] - b);
    }
    std::size_t size() const noexcept { return ends.size(); }
};

/// The active alerts with their per-alert state, grouped by symbol. About 60 bytes an alert
/// (100,000 alerts: ~6 MB), ids and symbols stored once.
class book {
public:
    struct entry {
        double threshold = 0;
        double prev = std::numeric_limits<double>::quiet_NaN();        ///< last checked value
        double persisted = std::numeric_limits<double>::quiet_NaN();   ///< prev as LMDB (or the backend) has it
        std::uint32_t group = 0;                                       ///< index in groups()
        alert_type type = alert_type::price_cross;
        tier user_tier = tier::free;
        bool has_persisted = false;
        bool fired = false;   ///< triggered: never checked again
        bool dirty = false;   ///< prev differs from persisted
    };
    struct symbol_group {
        std::string symbol;
        std::array<std::vector<std::uint32_t>, alert_type_count> by_type;   ///< entry indexes
    };

    /// Takes a new list. Alerts already in the book keep prev and fired; new ones take
    /// `stored(id)` when it has something, else prev = the backend's lastCheckedValue.
    /// Returns the ids that left the book (their stored state can go).
    std::vector<std::string> replace(std::vector<user_alert> alerts,
                                     const std::function<std::optional<stored_state>(const std::string&)>& stored);

    std::vector<entry>& entries() noexcept { return entries_; }
    const std::vector<entry>& entries() const noexcept { return entries_; }
    std::string_view id(std::uint32_t i) const noexcept { return ids_->id(i); }
    const std::string& symbol(std::uint32_t i) const noexcept { return groups_[entries_[i].group].symbol; }
    /// The ids of the current list (kept alive by whoever holds the pointer).
    std::shared_ptr<const id_table> ids() const noexcept { return ids_; }
    const std::vector<symbol_group>& groups() const noexcept { return groups_; }
    /// The group of `symbol`, or nullptr.
    const symbol_group* group(std::string_view symbol) const noexcept;
    std::optional<std::uint32_t> index_of(std::string_view id) const;
    std::size_t size() const noexcept { return entries_.size(); }

    /// Alerts per tier and type (fired ones included until the backend drops them).
    std::array<std::array<std::size_t, alert_type_count>, tier_count> counts() const;

private:
    std::vector<entry> entries_;
    std::shared_ptr<const id_table> ids_ = std::make_shared<id_table>();
    std::vector<std::uint32_t> by_id_;   // entry indexes sorted by id (binary search)
    std::vector<symbol_group> groups_;
    std::unordered_map<std::string_view, std::uint32_t> group_index_;   // keys view groups_[i].symbol
};

// ---- one check --------------------------------------------------------------------------------

struct trigger_event {
    std::uint32_t index = 0;
    double current = 0;
    double previous = 0;
    bool crossed_up = false;
};

struct update_event {
    std::uint32_t index = 0;
    double current = 0;
};

struct check_output {
    std::vector<trigger_event> triggers;
    std::vector<update_event> updates;
    /// Alerts whose prev moved to another side of their threshold without a trigger (from
    /// exactly on it): their prev must reach LMDB in this check's commit (see README).
    std::vector<std::uint32_t> must_persist;
    std::uint64_t checked = 0;           ///< alerts compared
    std::uint64_t skipped_stale = 0;     ///< value too old: not compared
    std::uint64_t skipped_missing = 0;   ///< no value at all (symbol not on the bus yet, no OI)
    void clear()
    {
        triggers.clear();
        updates.clear();
        must_persist.clear();
        checked = skipped_stale = skipped_missing = 0;
    }
};

/// Checks every alert of `tiers` (not fired) in the book: one value lookup per symbol and
/// type, the cross rule, prev updated in the book; triggered alerts are marked fired.
void check(book& b, tier_set tiers, value_lookup& values, check_output& out);
/// The same for the alerts of one symbol only (interval-0 tiers on a bus update).
void check_symbol(book& b, const book::symbol_group& g, tier_set tiers, value_lookup& values, check_output& out);

}  // namespace vs::user_alerts
