#pragma once
// One spdlog logger per process, named after the executable, writing to stderr. Under
// systemd (JOURNAL_STREAM set) the journal adds time and unit, so the pattern drops them.
#include <string_view>

namespace vs::log {

/// Parses a level name (trace, debug, info, warn, error, critical, off); false if unknown.
bool valid_level(std::string_view level) noexcept;

/// Creates the process logger and makes it spdlog's default. Call once from main.
/// Throws std::invalid_argument for an unknown level name.
void init(std::string_view process_name, std::string_view level);

}  // namespace vs::log
