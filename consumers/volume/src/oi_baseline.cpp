#include "oi_baseline.hpp"

#include <cmath>
#include <cstdlib>

#include "rules.hpp"

namespace vs::volume {

void oi_baseline::on_sample(const std::string& symbol, std::int64_t t_ms, double open_interest)
{
    if (!std::isfinite(open_interest) || open_interest <= 0 || t_ms <= 0) {
        return;
    }
    auto& s = symbols_[symbol];
    if (t_ms >= s.latest.t_ms) {
        s.latest = {t_ms, open_interest};
    }
    const auto hour = t_ms / hour_ms * hour_ms;
    for (const auto h : {hour, hour + hour_ms}) {
        const auto d = std::llabs(t_ms - h);
        if (d > tolerance_ms_) {
            continue;
        }
        auto it = s.nearest.find(h);
        // On a tie the older sample, as the OI rules choose baselines.
        if (it == s.nearest.end() || d < std::llabs(it->second.t_ms - h) ||
            (d == std::llabs(it->second.t_ms - h) && t_ms < it->second.t_ms)) {
            s.nearest[h] = {t_ms, open_interest};
        }
    }
    while (s.nearest.size() > 4) {
        s.nearest.erase(s.nearest.begin());
    }
}

std::optional<double> oi_baseline::change(std::string_view symbol, std::int64_t hour) const
{
    const auto it = symbols_.find(symbol);
    if (it == symbols_.end()) {
        return std::nullopt;
    }
    const auto n = it->second.nearest.find(hour);
    if (n == it->second.nearest.end() || n->second.oi <= 0) {
        return std::nullopt;
    }
    return (it->second.latest.oi - n->second.oi) / n->second.oi;
}

}  // namespace vs::volume
