#pragma once
// The hourly volume spike rules of the old hourly_volume_alert_dual_env.py (CONTRACTS 3.3),
// as pure logic over caller-supplied candles and times (ms since the epoch, UTC), so unit
// tests drive it with a controllable clock. vs-volume feeds it the Kline records of the bus.
//
//   spike     curr quote volume >= volume_multiple x prev (ratio = curr/prev, 0 when prev is 0)
//             and curr >= min_quote_volume, once per symbol per hour (the candle's open hour);
//             the minute of that first alert is kept (durable, committed with the alert).
//   updates   only for an hour already alerted, without re-checking the thresholds:
//             HALF_UPDATE at :30 when the first alert came at minute <= 20;
//             FULL_UPDATE at :00 on the just-closed candle unless it came at :55.
//
// Two modes:
//   continuous (default) a SPIKE fires on the first candle push that meets the rule; its
//             minute is the minute it fired. HALF goes out at hh:30:00, FULL as soon as the
//             hour's closed candle is there (at the latest full_grace_ms after the hour, with
//             the last push seen). "Came at :55" reads "came in the hour's last five minutes"
//             (minute >= 55): what the old scan would have reported at :55. A spike first
//             seen on the closed candle (after the hour) gets no updates, as in the old.
//   clock     the old cadence exactly: a scan at start and at every 5-minute mark (UTC); at
//             minute 0 the last two closed candles (the scan waits up to top_grace_ms for
//             the closed candles), otherwise the open candle against the last closed one.
//
// Both modes never send an update twice for one hour (flags kept with the hour's state), so
// a restart inside the hour resends nothing and still sends what is due.
//
// Threads: one owner thread. Errors: none (bad candles are the caller's to refuse).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::volume {

inline constexpr std::int64_t minute_ms = 60'000;
inline constexpr std::int64_t hour_ms = 3'600'000;

/// One hourly candle (quote volumes: kline field 7).
struct candle {
    std::int64_t open_ms = 0;
    double open = 0;
    double close = 0;
    double quote_volume = 0;
    bool closed = false;
};

enum class alert_type : std::uint8_t { spike, half_update, full_update };
/// "SPIKE", "HALF_UPDATE", "FULL_UPDATE" (the payload's alertType).
std::string_view to_string(alert_type t) noexcept;

enum class scan_mode : std::uint8_t { continuous, clock };

struct rule_config {
    double volume_multiple = 3.0;          ///< VS_VOLUME_MULTIPLE (old VOLUME_MULTIPLE)
    double min_quote_volume = 3'000'000;   ///< VS_VOLUME_MIN_QUOTE (old MIN_QUOTE_VOL)
    scan_mode mode = scan_mode::continuous;
    std::int64_t full_grace_ms = 10'000;   ///< continuous: FULL waits this long for the closed candle
    std::int64_t top_grace_ms = 10'000;    ///< clock: the :00 scan waits this long for closed candles
};

/// The durable state of one alerted (symbol, hour).
struct hour_state {
    std::int64_t hour_ms = 0;      ///< the candle's open hour (hourTimestamp)
    int first_minute = 0;          ///< minute of the first alert after hour_ms (>= 60: after the close)
    bool half_sent = false;
    bool full_sent = false;
    bool operator==(const hour_state&) const = default;
};

/// "<hour_ms>,<minute>,<half 0/1>,<full 0/1>;..." and back (the LMDB value of a symbol).
std::string encode_states(const std::vector<hour_state>& states);
std::optional<std::vector<hour_state>> decode_states(std::string_view text);

/// One alert to send.
struct decision {
    std::string symbol;
    alert_type type = alert_type::spike;
    std::int64_t hour_ms = 0;       ///< hourTimestamp: curr's open hour
    std::int64_t detect_ms = 0;     ///< timestamp (detectionTime is it floored to 5 minutes)
    candle curr;
    double prev_volume = 0;
    double ratio = 0;
};

class engine {
public:
    explicit engine(rule_config config);

    /// At start: the durable state of a symbol.
    void restore(const std::string& symbol, std::vector<hour_state> states);

    /// A candle push (stream, REST bootstrap or the table at start). Continuous mode: appends
    /// a SPIKE to `out` when this push meets the rule first in its hour.
    void on_candle(const std::string& symbol, const candle& c, std::int64_t now_ms, std::vector<decision>& out);

    /// Time passes (call often, e.g. every 100 ms): updates that are due (continuous), the
    /// 5-minute scans (clock). Appends to `out`.
    void on_time(std::int64_t now_ms, std::vector<decision>& out);

    /// The durable state of `symbol` (after decisions changed it), for the commit.
    std::vector<hour_state> states_of(const std::string& symbol) const;

    std::size_t symbols() const noexcept { return symbols_.size(); }
    /// Symbols with a candle of the current hour (at now_ms) but no closed candle of the
    /// previous one: they cannot be judged.
    std::size_t symbols_without_previous(std::int64_t now_ms) const;
    std::uint64_t scans() const noexcept { return scans_; }
    std::int64_t last_scan_ms() const noexcept { return last_scan_ms_; }
    const rule_config& config() const noexcept { return config_; }

private:
    struct symbol_data {
        std::map<std::int64_t, candle> candles;   ///< by open time, the last few hours
        std::vector<hour_state> hours;            ///< alerted hours, the last few
    };

    const candle* find(const symbol_data& d, std::int64_t open_ms) const;
    hour_state* state(symbol_data& d, std::int64_t hour) const;
    bool meets(double curr, double prev, double& ratio) const;
    decision make(const std::string& symbol, alert_type t, std::int64_t hour, std::int64_t now_ms, const candle& curr,
                  const candle* prev) const;
    void due_updates(std::int64_t now_ms, std::vector<decision>& out);
    void scan(std::int64_t t_ms, std::vector<decision>& out);
    void prune(symbol_data& d, std::int64_t now_ms) const;

    rule_config config_;
    std::map<std::string, symbol_data, std::less<>> symbols_;
    std::int64_t next_scan_ms_ = 0;   ///< clock mode: 0 before the start scan
    std::uint64_t scans_ = 0;
    std::int64_t last_scan_ms_ = 0;
    std::int64_t last_prune_ms_ = 0;
};

}  // namespace vs::volume
