#include "exchange_info.hpp"

#include <boost/json.hpp>

namespace vs::oi {

std::optional<std::vector<contract>> parse_exchange_info(std::string_view json)
{
    boost::system::error_code ec;
    auto v = boost::json::parse(json, ec);
    if (ec || !v.is_object()) {
        return std::nullopt;
    }
    const auto* syms = v.as_object().if_contains("symbols");
    if (syms == nullptr || !syms->is_array() || syms->as_array().empty()) {
        return std::nullopt;
    }
    auto str = [](const boost::json::object& o, std::string_view k) -> std::string {
        const auto* p = o.if_contains(k);
        return p != nullptr && p->is_string() ? std::string{p->as_string()} : std::string{};
    };
    std::vector<contract> out;
    out.reserve(syms->as_array().size());
    for (const auto& e : syms->as_array()) {
        if (const auto* o = e.if_object(); o != nullptr && !str(*o, "symbol").empty()) {
            out.push_back(contract{str(*o, "symbol"), str(*o, "quoteAsset"), str(*o, "contractType"), str(*o, "status")});
        }
    }
    if (out.empty()) {
        return std::nullopt;
    }
    return out;
}

}  // namespace vs::oi
