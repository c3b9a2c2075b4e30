#pragma once
// The JSON bodies vs-oi posts, with the values the old scripts' json.dumps printed (numbers
// in Python repr form: 115000.0, 0.15, 1e-05; fields in the old order; compact separators):
//
//   alert (POST /api/open-interest-alerts/ingest, CONTRACTS 3.1):
//     {"symbol":"BTCUSDT","direction":"UP","baseline":100000.0,"current":115000.0,
//      "pctChange":0.15,"absChange":15000.0,"timestamp":"2026-12-04T13:05:00Z",
//      "source":"oi_realtime_poller","timeframe":"5 min","priceChange":0.01,"fundingRate":0.0001}
//     (priceChange / fundingRate only when known, never null; timestamp = the sample's
//     second, truncated, with Z)
//   OI batch (POST /api/market/open-interest/ingest), one body per chunk of 100 rows:
//     {"data":[{"symbol":"BTCUSDT","openInterest":1234.5,"openInterestUsd":119746500.0,
//      "markPrice":97000.0}],"timestamp":"2026-12-04T13:05:00Z","totalSymbols":1,"source":"realtime"}
//   universe (POST /api/market/open-interest/liquid-universe/update):
//     {"symbols":[{"symbol","quoteVolume24h","enteredAt","lastSeenAt"}],"updatedAt"}
//     (times as Python's isoformat() + "Z": "2026-12-04T13:05:00.123000Z")
//
// Threads: pure functions. Errors: none (a non-finite number prints as null, which the
// caller avoids: the rule never produces one).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vs/oi/rules.hpp"

namespace vs::oi {

inline constexpr std::string_view alert_path = "/api/open-interest-alerts/ingest";
inline constexpr std::string_view batch_path = "/api/market/open-interest/ingest";
inline constexpr std::string_view universe_path = "/api/market/open-interest/liquid-universe/update";

/// The alert's backend body.
std::string alert_json(const alert& a);

/// Appends one OI batch row to `out` (no separator). `mark` must be > 0 (a row without a
/// fresh mark is skipped by the caller, never sent with 0); openInterestUsd = oi * mark.
void append_batch_row(std::string& out, std::string_view symbol, double oi, double mark);

struct batch_row {
    std::string symbol;
    double oi = 0;     ///< contracts
    double mark = 0;   ///< > 0 (the caller skips a symbol without a fresh mark)
};
/// The bodies of one cycle's OI batch, in chunks of `chunk` rows (the old script: 100):
/// {"data":[rows],"timestamp":"<time_ms, seconds>Z","totalSymbols":<rows in the chunk>,
/// "source":"realtime"}. No rows: no bodies.
std::vector<std::string> batch_bodies(const std::vector<batch_row>& rows, std::int64_t time_ms,
                                      std::size_t chunk = 100);

/// "2026-12-04T13:05:00Z" (seconds truncated, as strftime('%Y-%m-%dT%H:%M:%SZ')).
std::string utc_seconds(std::int64_t time_ms);
/// "2026-12-04T13:05:00.123000Z" (Python datetime.isoformat() + "Z"; no fraction when the
/// microseconds are 0, as isoformat()).
std::string utc_isoformat(std::int64_t time_ms);

}  // namespace vs::oi
