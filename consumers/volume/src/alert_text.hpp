#pragma once
// What vs-volume sends, byte for byte as the old hourly_volume_alert_dual_env.py did
// (CONTRACTS 3.3): the Telegram text and the POST /api/volume-alerts/ingest body.
//
//   Telegram (plain text):  [prefix]<asset> hourly volume <v> (<ratio 2 decimals>× prev) — VOLUME SPIKE!
//     prefix "" (SPIKE), "HALF-UPDATE: ", "UPDATE: " (FULL_UPDATE); × U+00D7, — U+2014;
//     <v> as the old fmt(): 1,234.57B / 150.00M / 12.50K / 999 (thousands separators).
//   Payload, in this order: symbol, asset, currentVolume, previousVolume, volumeRatio, price,
//     fundingRate (absent when unknown: never null, never a made-up 0), candleDirection,
//     message, timestamp, detectionTime (minute floored to 5, seconds 0), hourTimestamp,
//     isUpdate, alertType, then priceChange and oiChange when known. Times are
//     "%Y-%m-%dT%H:%M:%SZ"; numbers are written as Python's repr of the float (the backend
//     reads JSON numbers: the same values and types the old script sent).
//
// Threads: pure functions. Errors: none (non-finite numbers are left out or written as 0).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rules.hpp"

namespace vs::volume {

/// The symbol without "USDT" (every occurrence, as Python's str.replace).
std::string asset_of(std::string_view symbol);
/// The old fmt(vol).
std::string format_volume(double vol);
/// Python's repr() of a float: shortest round-trip digits, "150000000.0", "1e-05", "1.5e+16".
std::string python_float(double v);
/// "2026-12-04T13:05:07Z" (seconds truncated).
std::string iso_utc(std::int64_t ms);
/// The minute floored to a multiple of 5, seconds 0.
std::int64_t detection_floor(std::int64_t ms) noexcept;

std::string telegram_text(const decision& d);

struct enhanced_fields {
    std::optional<double> funding_rate;   ///< MarkPrice.funding_rate from the market table
    std::optional<double> oi_change;      ///< OI now vs the sample nearest the hour's start
};

/// The ingest body; `text` is telegram_text(d).
std::string payload_json(const decision& d, std::string_view text, const enhanced_fields& extra);

}  // namespace vs::volume
