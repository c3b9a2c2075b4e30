#pragma once
// Clocks used across processes. Monotonic time is comparable between processes on one host
// (CLOCK_MONOTONIC is system-wide), so heartbeats use it; realtime is what records carry.
#include <cstdint>
#include <ctime>
#include <string>

namespace vs {

/// Nanoseconds of CLOCK_REALTIME (since the Unix epoch). Thread-safe, never fails.
inline std::int64_t realtime_ns() noexcept
{
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// Nanoseconds of CLOCK_MONOTONIC, comparable between processes of one host.
inline std::int64_t monotonic_ns() noexcept
{
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// Milliseconds of CLOCK_REALTIME, the unit of Binance's event times.
inline std::int64_t realtime_ms() noexcept { return realtime_ns() / 1'000'000; }

/// "2026-11-21T08:00:00Z" for a time in ns since the epoch; "-" for 0 or negative (unset).
inline std::string utc_iso8601(std::int64_t ns)
{
    if (ns <= 0) {
        return "-";
    }
    const std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace vs
