#include "vs/common/env.hpp"

#include <cstdlib>

namespace vs::env {

std::optional<std::string> first(std::initializer_list<const char*> names)
{
    for (const char* name : names) {
        if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
            return std::string{v};
        }
    }
    return std::nullopt;
}

std::string get_or(std::initializer_list<const char*> names, std::string fallback)
{
    auto v = first(names);
    return v ? *v : std::move(fallback);
}

}  // namespace vs::env
