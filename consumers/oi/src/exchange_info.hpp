#pragma once
// exchangeInfo's symbols as the universe rule takes them (vs::oi::contract).
#include <optional>
#include <string_view>
#include <vector>

#include "vs/oi/universe.hpp"

namespace vs::oi {

/// Every symbol of an exchangeInfo body; nullopt when it does not parse or lists none.
std::optional<std::vector<contract>> parse_exchange_info(std::string_view json);

}  // namespace vs::oi
