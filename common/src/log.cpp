#include "vs/common/log.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace vs::log {

bool valid_level(std::string_view level) noexcept
{
    for (std::string_view name : {"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}) {
        if (level == name) {
            return true;
        }
    }
    return false;
}

void init(std::string_view process_name, std::string_view level)
{
    if (!valid_level(level)) {
        throw std::invalid_argument("unknown log level '" + std::string{level} +
                                    "' (trace, debug, info, warn, error, critical, off)");
    }
    std::string name{process_name};
    spdlog::drop(name);
    auto logger = spdlog::stderr_color_mt(name);
    // The journal stamps time, unit and pid itself.
    if (std::getenv("JOURNAL_STREAM") != nullptr) {
        logger->set_pattern("<%l> %v");
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %n[%P] %^%l%$: %v");
    }
    logger->set_level(spdlog::level::from_str(level == "warning" ? "warn" : std::string{level}));
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace vs::log
