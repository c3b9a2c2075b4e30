#include "symbol_health.hpp"

namespace vs::feed {

void symbol_health::on_rejected(std::string_view symbol, const char* why, std::int64_t now_ns)
{
    auto it = pending_.find(symbol);
    if (it == pending_.end()) {
        it = pending_.emplace(std::string{symbol}, state{now_ns, {}, false}).first;
    }
    if (why != nullptr && it->second.reason != why) {
        it->second.reason = why;
    }
}

bool symbol_health::forget(std::string_view symbol)
{
    const auto it = pending_.find(symbol);
    if (it == pending_.end()) {
        return false;
    }
    const bool was_listed = it->second.listed;
    listed_count_ -= was_listed ? 1 : 0;
    pending_.erase(it);
    return was_listed;
}

std::vector<std::string> symbol_health::newly_listed(std::int64_t now_ns)
{
    std::vector<std::string> out;
    for (auto& [symbol, st] : pending_) {
        if (!st.listed && now_ns - st.since_ns > invalid_after_ns_) {
            st.listed = true;
            ++listed_count_;
            out.push_back(symbol);
        }
    }
    return out;
}

const symbol_health::state* symbol_health::find(std::string_view symbol) const
{
    const auto it = pending_.find(symbol);
    return it == pending_.end() ? nullptr : &it->second;
}

std::vector<std::string> symbol_health::listed(std::size_t max) const
{
    std::vector<std::string> out;
    for (const auto& [symbol, st] : pending_) {
        if (out.size() >= max) {
            break;
        }
        if (st.listed) {
            out.push_back(symbol);
        }
    }
    return out;
}

}  // namespace vs::feed
