// The history store (history.hpp): points per symbol and series, pure (no bus).
#include "vs/api/history.hpp"

#include <algorithm>
#include <cmath>

namespace vs::api {

void history_store::add(series_id s, std::string_view symbol, std::int64_t t_ms, double v, std::int64_t now_ms)
{
    if (!std::isfinite(v) || t_ms <= 0 || symbol.empty()) {
        return;
    }
    std::int64_t expected = 0;
    since_ms_.compare_exchange_strong(expected, t_ms, std::memory_order_relaxed);
    std::unique_lock lock{mu_};
    auto it = by_symbol_.find(symbol);
    if (it == by_symbol_.end()) {
        it = by_symbol_.emplace(std::string{symbol}, entry{}).first;
    }
    auto& d = it->second.s[static_cast<std::size_t>(s)];
    if (!d.empty()) {
        auto& last = d.back();
        if (t_ms < last.t_ms) {
            return;
        }
        if (t_ms / step_ms_ == last.t_ms / step_ms_) {
            last = {t_ms, v};
        } else {
            d.push_back({t_ms, v});
        }
    } else {
        d.push_back({t_ms, v});
    }
    const auto cutoff = now_ms - window_ms_;
    while (!d.empty() && d.front().t_ms < cutoff) {
        d.pop_front();
    }
}

std::size_t history_store::merge(series_id s, std::string_view symbol, const std::vector<history_point>& pts,
                                 std::int64_t now_ms)
{
    const auto cutoff = now_ms - window_ms_;
    // One point per step, the newest of each, inside the window.
    std::vector<history_point> in;
    in.reserve(pts.size() / 2 + 1);
    for (const auto& p : pts) {
        if (!std::isfinite(p.v) || p.t_ms <= 0 || p.t_ms < cutoff || p.t_ms > now_ms + window_ms_) {
            continue;
        }
        if (!in.empty() && p.t_ms < in.back().t_ms) {
            continue;   // out of order: not a history this store can trust
        }
        if (!in.empty() && p.t_ms / step_ms_ == in.back().t_ms / step_ms_) {
            in.back() = p;
        } else {
            in.push_back(p);
        }
    }
    if (in.empty() || symbol.empty()) {
        return 0;
    }
    std::unique_lock lock{mu_};
    auto it = by_symbol_.find(symbol);
    if (it == by_symbol_.end()) {
        it = by_symbol_.emplace(std::string{symbol}, entry{}).first;
    }
    auto& d = it->second.s[static_cast<std::size_t>(s)];
    std::deque<history_point> out;
    std::size_t added = 0;
    auto a = d.begin();
    auto b = in.begin();
    while (a != d.end() || b != in.end()) {
        if (b == in.end() || (a != d.end() && a->t_ms / step_ms_ < b->t_ms / step_ms_)) {
            out.push_back(*a++);
        } else if (a == d.end() || b->t_ms / step_ms_ < a->t_ms / step_ms_) {
            out.push_back(*b++);
            ++added;
        } else {
            ++b;   // the same step: the point recorded here wins
        }
    }
    while (!out.empty() && out.front().t_ms < cutoff) {
        out.pop_front();
    }
    d.swap(out);
    if (added > 0) {
        // The history now starts at the oldest point merged, if that is older.
        auto cur = since_ms_.load(std::memory_order_relaxed);
        const auto first = in.front().t_ms;
        while ((cur == 0 || first < cur) && !since_ms_.compare_exchange_weak(cur, first, std::memory_order_relaxed)) {
        }
    }
    return added;
}

bool history_store::read(std::string_view symbol, std::int64_t since_ms,
                         std::vector<history_point> (&out)[series_count]) const
{
    for (auto& o : out) {
        o.clear();
    }
    std::shared_lock lock{mu_};
    const auto it = by_symbol_.find(symbol);
    if (it == by_symbol_.end()) {
        return false;
    }
    for (std::size_t i = 0; i < series_count; ++i) {
        const auto& d = it->second.s[i];
        auto from = std::lower_bound(d.begin(), d.end(), since_ms,
                                     [](const history_point& p, std::int64_t t) { return p.t_ms < t; });
        out[i].assign(from, d.end());
    }
    return true;
}

void history_store::changes(series_id s, std::int64_t lookback_ms,
                            const std::function<void(std::string_view, const history_point&, const history_point&)>& fn) const
{
    std::shared_lock lock{mu_};
    for (const auto& [symbol, e] : by_symbol_) {
        const auto& d = e.s[static_cast<std::size_t>(s)];
        if (d.size() < 2) {
            continue;
        }
        const auto& to = d.back();
        const auto target = to.t_ms - lookback_ms;
        // The newest point at or before the target.
        auto after = std::upper_bound(d.begin(), d.end(), target,
                                      [](std::int64_t t, const history_point& p) { return t < p.t_ms; });
        if (after == d.begin()) {
            continue;   // the history does not reach back that far
        }
        const auto& from = *std::prev(after);
        // A baseline more than one step older than asked for is from before a gap.
        if (target - from.t_ms > std::max(step_ms_, lookback_ms / 10)) {
            continue;
        }
        fn(symbol, from, to);
    }
}

std::size_t history_store::symbols() const
{
    std::shared_lock lock{mu_};
    return by_symbol_.size();
}

}  // namespace vs::api
