#pragma once
// Clocks used across processes. Monotonic time is comparable between processes on one host
// (CLOCK_MONOTONIC is system-wide), so heartbeats use it; realtime is what records carry.
#include <cstdint>
#include <ctime>

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

}  // namespace vs
