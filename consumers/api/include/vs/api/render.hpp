#pragma once
// JSON renderings of bus records, shared by the HTTP routes and the /events stream, with the
// old API's field names (markPrice, fundingRate, nextFundingTime, indexPrice, updatedAt,
// ageSeconds). Times: updatedAt in seconds since the epoch (float), *Time in ms.
#include <cstdint>
#include <span>
#include <string_view>

#include "schemas/feed_status_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/open_interest_generated.h"
#include "schemas/universe_generated.h"
#include "vs/api/json_writer.hpp"
#include "vs/api/source.hpp"

namespace vs::api {

/// Verifies the FlatBuffer of a record as root table T.
template <class T>
const T* verified_as(std::span<const std::byte> data) noexcept
{
    if (data.empty()) {
        return nullptr;
    }
    flatbuffers::Verifier v{reinterpret_cast<const std::uint8_t*>(data.data()), data.size()};
    if (!v.VerifyBuffer<T>(nullptr)) {
        return nullptr;
    }
    return flatbuffers::GetRoot<T>(data.data());
}

/// USDⓈ-M unless marked COIN-M, or Unknown with a COIN-M looking symbol (BTCUSD_PERP,
/// BTCUSD_240628).
bool is_usd_m(schema::MarketType market, std::string_view symbol) noexcept;

/// Receive time of a record in ns (its recv_time_ns, else the table's publish time).
inline std::int64_t updated_ns(std::int64_t recv_time_ns, std::int64_t publish_ns) noexcept
{
    return recv_time_ns > 0 ? recv_time_ns : publish_ns;
}

inline double age_seconds(std::int64_t now_ns, std::int64_t then_ns) noexcept
{
    return static_cast<double>(now_ns - then_ns) * 1e-9;
}

/// Members of /funding/{symbol} (no braces): symbol, markPrice, fundingRate, nextFundingTime,
/// indexPrice, updatedAt, ageSeconds, and fundingIntervalHours when known.
void write_funding_members(json_writer& w, std::string_view symbol, const schema::MarkPrice& m,
                           std::int64_t publish_ns, std::int64_t now_ns);

/// Members of /tickers/{symbol} (no braces), with Binance's REST names.
void write_ticker_members(json_writer& w, std::string_view symbol, const schema::Ticker24h& t,
                          std::int64_t publish_ns, std::int64_t now_ns);

/// Members of /oi/{symbol} (no braces).
void write_oi_members(json_writer& w, std::string_view symbol, const schema::OpenInterest& o,
                      std::int64_t publish_ns, std::int64_t now_ns);

/// Members of /oi/{symbol} and the rows of /oi: write_oi_members plus "lastAlerts" {"5m", "15m",
/// "1h": {direction, pctChange, time, alertId} or null} (OpenInterest.last_alerts).
void write_oi_symbol_members(json_writer& w, std::string_view symbol, const schema::OpenInterest& o,
                             std::int64_t publish_ns, std::int64_t now_ns);

/// The outcome of the health rules, with the old fields' inputs.
struct health_report {
    bool healthy = false;
    std::string_view reason_static;    ///< reason when it needs no formatting
    char reason_buf[160] = {};          ///< formatted reason (when reason_static is empty)
    std::string_view reason() const noexcept
    {
        return reason_static.empty() ? std::string_view{reason_buf} : reason_static;
    }
};

/// The whole /funding/health object. Returns the report (healthy -> 200).
health_report write_health(json_writer& w, data_source& src, std::int64_t now_ns, std::int64_t started_ns,
                           double stale_seconds);

}  // namespace vs::api
