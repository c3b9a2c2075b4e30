#include "rules.hpp"

#include <algorithm>
#include <charconv>

namespace vs::volume {

namespace {

constexpr std::int64_t five_minutes_ms = 5 * minute_ms;

std::int64_t floor_to(std::int64_t t, std::int64_t step) noexcept
{
    return (t >= 0 ? t / step : (t - step + 1) / step) * step;
}

}  // namespace

std::string_view to_string(alert_type t) noexcept
{
    switch (t) {
    case alert_type::spike: return "SPIKE";
    case alert_type::half_update: return "HALF_UPDATE";
    case alert_type::full_update: return "FULL_UPDATE";
    }
    return "SPIKE";
}

std::string encode_states(const std::vector<hour_state>& states)
{
    std::string out;
    for (const auto& s : states) {
        if (!out.empty()) {
            out += ';';
        }
        out += std::to_string(s.hour_ms) + ',' + std::to_string(s.first_minute) + ',' + (s.half_sent ? '1' : '0') +
               ',' + (s.full_sent ? '1' : '0');
    }
    return out;
}

std::optional<std::vector<hour_state>> decode_states(std::string_view text)
{
    std::vector<hour_state> out;
    while (!text.empty()) {
        const auto end = text.find(';');
        const auto item = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        hour_state s;
        int half = 0, full = 0;
        const char* p = item.data();
        const char* e = item.data() + item.size();
        auto next = [&](auto& v) {
            const auto r = std::from_chars(p, e, v);
            if (r.ec != std::errc{}) {
                return false;
            }
            p = r.ptr;
            if (p != e && *p == ',') {
                ++p;
            }
            return true;
        };
        if (!next(s.hour_ms) || !next(s.first_minute) || !next(half) || !next(full) || p != e) {
            return std::nullopt;
        }
        s.half_sent = half != 0;
        s.full_sent = full != 0;
        out.push_back(s);
    }
    return out;
}

engine::engine(rule_config config) : config_(config) {}

void engine::restore(const std::string& symbol, std::vector<hour_state> states)
{
    symbols_[symbol].hours = std::move(states);
}

const candle* engine::find(const symbol_data& d, std::int64_t open_ms) const
{
    const auto it = d.candles.find(open_ms);
    return it == d.candles.end() ? nullptr : &it->second;
}

hour_state* engine::state(symbol_data& d, std::int64_t hour) const
{
    for (auto& h : d.hours) {
        if (h.hour_ms == hour) {
            return &h;
        }
    }
    return nullptr;
}

bool engine::meets(double curr, double prev, double& ratio) const
{
    ratio = prev != 0 ? curr / prev : 0;
    return ratio >= config_.volume_multiple && curr >= config_.min_quote_volume;
}

decision engine::make(const std::string& symbol, alert_type t, std::int64_t hour, std::int64_t now_ms,
                      const candle& curr, const candle* prev) const
{
    decision d;
    d.symbol = symbol;
    d.type = t;
    d.hour_ms = hour;
    d.detect_ms = now_ms;
    d.curr = curr;
    d.prev_volume = prev != nullptr ? prev->quote_volume : 0;
    meets(curr.quote_volume, d.prev_volume, d.ratio);
    return d;
}

void engine::on_candle(const std::string& symbol, const candle& c, std::int64_t now_ms, std::vector<decision>& out)
{
    auto& d = symbols_[symbol];
    auto& slot = d.candles[c.open_ms];
    // A closed candle is final: a late open push of the same hour never replaces it.
    if (slot.open_ms == 0 || !(slot.closed && !c.closed)) {
        slot = c;
    }
    if (config_.mode != scan_mode::continuous) {
        return;
    }
    const auto hour = c.open_ms;
    // Only the open hour, or the hour that just closed (its final push), is judged: candles
    // of older hours (a restored table) are history.
    if (now_ms >= hour + hour_ms + five_minutes_ms || state(d, hour) != nullptr) {
        return;
    }
    const candle* prev = find(d, hour - hour_ms);
    if (prev == nullptr || !prev->closed) {
        return;
    }
    double ratio = 0;
    if (!meets(slot.quote_volume, prev->quote_volume, ratio)) {
        return;
    }
    hour_state s;
    s.hour_ms = hour;
    s.first_minute = static_cast<int>(std::max<std::int64_t>(0, now_ms - hour) / minute_ms);
    d.hours.push_back(s);
    out.push_back(make(symbol, alert_type::spike, hour, now_ms, slot, prev));
}

void engine::due_updates(std::int64_t now_ms, std::vector<decision>& out)
{
    for (auto& [symbol, d] : symbols_) {
        for (auto& h : d.hours) {
            const candle* curr = find(d, h.hour_ms);
            if (curr == nullptr) {
                continue;
            }
            const candle* prev = find(d, h.hour_ms - hour_ms);
            if (!h.half_sent && h.first_minute <= 20 && now_ms >= h.hour_ms + 30 * minute_ms &&
                now_ms < h.hour_ms + hour_ms) {
                h.half_sent = true;
                out.push_back(make(symbol, alert_type::half_update, h.hour_ms, now_ms, *curr, prev));
            }
            if (!h.full_sent && h.first_minute < 55 && now_ms >= h.hour_ms + hour_ms &&
                (curr->closed || now_ms >= h.hour_ms + hour_ms + config_.full_grace_ms) &&
                now_ms < h.hour_ms + hour_ms + 30 * minute_ms) {
                h.full_sent = true;
                out.push_back(make(symbol, alert_type::full_update, h.hour_ms, now_ms, *curr, prev));
            }
        }
    }
}

void engine::scan(std::int64_t t, std::vector<decision>& out)
{
    ++scans_;
    last_scan_ms_ = t;
    const int minute = static_cast<int>((t - floor_to(t, hour_ms)) / minute_ms);
    const bool top = minute == 0;
    const bool middle = minute == 30;
    const auto this_hour = floor_to(t, hour_ms);
    const auto curr_hour = top ? this_hour - hour_ms : this_hour;
    for (auto& [symbol, d] : symbols_) {
        const candle* curr = find(d, curr_hour);
        const candle* prev = find(d, curr_hour - hour_ms);
        if (curr == nullptr || prev == nullptr) {
            continue;   // the old scan skipped a symbol whose klines failed
        }
        double ratio = 0;
        const bool hit = meets(curr->quote_volume, prev->quote_volume, ratio);
        if (auto* h = state(d, curr_hour)) {
            if (middle && h->first_minute <= 20 && !h->half_sent) {
                h->half_sent = true;
                out.push_back(make(symbol, alert_type::half_update, curr_hour, t, *curr, prev));
            } else if (top && h->first_minute != 55 && !h->full_sent) {
                h->full_sent = true;
                out.push_back(make(symbol, alert_type::full_update, curr_hour, t, *curr, prev));
            }
            continue;
        }
        if (hit) {
            hour_state s;
            s.hour_ms = curr_hour;
            s.first_minute = minute;
            d.hours.push_back(s);
            out.push_back(make(symbol, alert_type::spike, curr_hour, t, *curr, prev));
        }
    }
}

void engine::on_time(std::int64_t now_ms, std::vector<decision>& out)
{
    if (config_.mode == scan_mode::continuous) {
        due_updates(now_ms, out);
    } else {
        if (next_scan_ms_ == 0) {
            // The old script scanned once at start, whatever the minute.
            scan(now_ms, out);
            next_scan_ms_ = floor_to(now_ms, five_minutes_ms) + five_minutes_ms;
        } else if (now_ms >= next_scan_ms_) {
            const auto mark = next_scan_ms_;
            bool ready = true;
            if (mark % hour_ms == 0 && now_ms < mark + config_.top_grace_ms) {
                // At :00 the old scan read the last two closed candles from REST: wait for the
                // stream's final pushes (closed) of the hour that just ended.
                for (const auto& [symbol, d] : symbols_) {
                    const candle* c = find(d, mark - hour_ms);
                    if (c != nullptr && !c->closed) {
                        ready = false;
                        break;
                    }
                }
            }
            if (ready) {
                scan(mark, out);
                next_scan_ms_ = floor_to(now_ms, five_minutes_ms) + five_minutes_ms;
            }
        }
    }
    if (now_ms - last_prune_ms_ >= minute_ms) {
        last_prune_ms_ = now_ms;
        for (auto& [symbol, d] : symbols_) {
            prune(d, now_ms);
        }
    }
}

void engine::prune(symbol_data& d, std::int64_t now_ms) const
{
    const auto keep_from = floor_to(now_ms, hour_ms) - 3 * hour_ms;
    while (!d.candles.empty() && d.candles.begin()->first < keep_from) {
        d.candles.erase(d.candles.begin());
    }
    std::erase_if(d.hours, [&](const hour_state& h) { return h.hour_ms < keep_from; });
}

std::vector<hour_state> engine::states_of(const std::string& symbol) const
{
    const auto it = symbols_.find(symbol);
    return it == symbols_.end() ? std::vector<hour_state>{} : it->second.hours;
}

std::size_t engine::symbols_without_previous(std::int64_t now_ms) const
{
    const auto hour = floor_to(now_ms, hour_ms);
    std::size_t n = 0;
    for (const auto& [symbol, d] : symbols_) {
        if (find(d, hour) != nullptr) {
            const candle* p = find(d, hour - hour_ms);
            n += (p == nullptr || !p->closed) ? 1 : 0;
        }
    }
    return n;
}

}  // namespace vs::volume
