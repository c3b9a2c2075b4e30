#pragma once
// sd_notify wrappers. Every call is a no-op when the process does not run under systemd
// (NOTIFY_SOCKET unset), so daemons call them unconditionally.
#include <chrono>
#include <string_view>

namespace vs::sd {

void notify_ready() noexcept;
void notify_stopping() noexcept;
void notify_watchdog() noexcept;
/// STATUS= line shown by `systemctl status`.
void notify_status(std::string_view status) noexcept;
/// The watchdog period systemd expects pets within (WatchdogSec), zero when disabled.
std::chrono::microseconds watchdog_interval() noexcept;

}  // namespace vs::sd
