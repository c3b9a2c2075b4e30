#pragma once
// Environment variables, including the old `.volspike.env` names.
#include <initializer_list>
#include <optional>
#include <string>

namespace vs::env {

/// The value of the first of `names` that is set and non-empty.
std::optional<std::string> first(std::initializer_list<const char*> names);

/// `first(names)` or `fallback`.
std::string get_or(std::initializer_list<const char*> names, std::string fallback);

}  // namespace vs::env
