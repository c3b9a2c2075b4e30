#pragma once
// One way for every daemon to stop: SIGINT/SIGTERM set a flag the main loop polls (or an
// asio::signal_set in asio programs); the loop stops accepting work, drains with a bounded
// timeout and exits 0.
#include <chrono>
#include <cstdint>

namespace vs::shutdown {

/// Installs SIGINT/SIGTERM handlers that request a stop, and ignores SIGPIPE. Call once.
void install_handlers();

/// True once SIGINT or SIGTERM arrived (async-signal-safe flag, acquire load).
bool requested() noexcept;

/// The signal that requested the stop, or 0.
int signal_number() noexcept;

/// CLOCK_MONOTONIC ns at which the first stop was requested; 0 while none was.
std::int64_t requested_at_ns() noexcept;

/// Sleeps up to `d`, returning early (true) when a stop is requested.
bool wait_for(std::chrono::nanoseconds d) noexcept;

/// Requests a stop from inside the process (tests, fatal errors in a worker thread).
void request() noexcept;

}  // namespace vs::shutdown
