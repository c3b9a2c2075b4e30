#pragma once
// Current values for vs-user-alerts, read from the bus without a copy into objects of ours:
// the FlatBuffer in the latest-table slot is verified and its field read in place.
//   PRICE_CROSS   = Ticker24h.last_price           (market channel)
//   FUNDING_CROSS = MarkPrice.funding_rate         (market channel)
//   OI_CROSS      = OpenInterest.open_interest × Ticker24h.last_price, in USD: the `oi` channel
//                   (vs-oi) when its record is fresh, else this process's own poll (oi_cache).
// A value older than its maximum age is `stale`, none at all is `missing`: never compared.
//
// Threads: bus_values belongs to the check thread (its readers are that thread's);
// oi_cache is shared with the OI poller (mutex).
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core.hpp"
#include "vs/bus/channel.hpp"

namespace vs::user_alerts {

/// Open interest polled by this process (contracts, and when, realtime ms).
class oi_cache {
public:
    struct sample {
        double open_interest = 0;
        std::int64_t time_ms = 0;
    };
    void put(const std::string& symbol, sample s);
    std::optional<sample> get(std::string_view symbol) const;

private:
    mutable std::mutex mu_;
    std::unordered_map<std::string, sample> m_;
};

struct value_ages {
    std::chrono::milliseconds price{60'000};
    std::chrono::milliseconds funding{60'000};
    std::chrono::milliseconds oi{90'000};
};

/// An OpenInterest record of the `oi` channel fresh at `now_ms` (contracts), or nothing.
std::optional<double> fresh_channel_oi(vs::bus::reader& oi, std::string_view symbol, std::int64_t now_ms,
                                       std::chrono::milliseconds max_age);

class bus_values : public value_lookup {
public:
    /// `oi` and `polled` may be null (no OI source).
    bus_values(vs::bus::reader& market, vs::bus::reader* oi, const oi_cache* polled, value_ages ages);

    /// The realtime clock of the next lookups (set once per check).
    void set_now(std::int64_t now_ms) noexcept { now_ms_ = now_ms; }
    value get(alert_type type, std::string_view symbol) override;

    /// Lookups of OI values that came from this process's own poll, from the `oi` channel.
    std::uint64_t oi_from_poll() const noexcept { return oi_from_poll_; }
    std::uint64_t oi_from_channel() const noexcept { return oi_from_channel_; }
    /// Symbols looked up since the last call without any market record (not on the bus).
    std::vector<std::string> take_missing_symbols() { return std::exchange(missing_, {}); }

private:
    value last_price(std::string_view symbol);
    value funding_rate(std::string_view symbol);
    value open_interest_usd(std::string_view symbol);

    vs::bus::reader& market_;
    vs::bus::reader* oi_;
    const oi_cache* polled_;
    value_ages ages_;
    std::int64_t now_ms_ = 0;
    std::uint64_t oi_from_poll_ = 0, oi_from_channel_ = 0;
    std::vector<std::string> missing_;
};

}  // namespace vs::user_alerts
