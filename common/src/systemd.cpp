#include "vs/common/systemd.hpp"

#include <string>

#include <systemd/sd-daemon.h>

namespace vs::sd {

void notify_ready() noexcept { ::sd_notify(0, "READY=1"); }
void notify_stopping() noexcept { ::sd_notify(0, "STOPPING=1"); }
void notify_watchdog() noexcept { ::sd_notify(0, "WATCHDOG=1"); }

void notify_status(std::string_view status) noexcept
{
    try {
        std::string line = "STATUS=";
        line.append(status);
        ::sd_notify(0, line.c_str());
    } catch (...) {
        // Allocation failure: the status line is informative only.
    }
}

std::chrono::microseconds watchdog_interval() noexcept
{
    std::uint64_t usec = 0;
    if (::sd_watchdog_enabled(0, &usec) > 0) {
        return std::chrono::microseconds{usec};
    }
    return std::chrono::microseconds{0};
}

}  // namespace vs::sd
