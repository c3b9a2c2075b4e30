// The history's seed from vs-oi's stored OI histories (history.hpp): decoded with vs-oi's own
// codec (vs_oi_rules), merged into the store at its step.
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "vs/api/history.hpp"
#include "vs/oi/rules.hpp"
#include "vs/oi/state_codec.hpp"

namespace vs::api {

seed_result seed_oi_history(history_store& store, const oi_state_reader& read, std::int64_t now_ms)
{
    seed_result r;
    if (!read) {
        return r;
    }
    vs::oi::config cfg;   // the defaults; only the window matters to the decoder
    cfg.history_window_s = std::max<std::int64_t>(1, (store.window_ms() + 999) / 1000);
    std::vector<history_point> oi, mark, usd;
    r.outbox = read([&](std::string_view key, std::string_view value) {
        if (key.size() <= 2 || key.substr(0, 2) != "s/") {
            return;   // vs-oi's other keys: universe, last alerts
        }
        const auto symbol = key.substr(2);
        ++r.states;
        vs::oi::symbol_state st;
        try {
            st = vs::oi::decode_state(cfg, value);
        } catch (const std::exception& e) {
            ++r.broken;
            if (r.first_error.empty()) {
                r.first_error = std::string{symbol} + ": " + e.what();
            }
            return;
        }
        const auto& h = st.hist;
        oi.clear();
        mark.clear();
        usd.clear();
        oi.reserve(h.size());
        for (std::size_t i = 0; i < h.size(); ++i) {
            const auto s = h.at(i);
            oi.push_back({s.time_ms, s.oi});
            if (s.mark > 0) {   // vs-oi keeps marks for its younger samples only
                mark.push_back({s.time_ms, s.mark});
                usd.push_back({s.time_ms, s.oi * s.mark});
            }
        }
        r.points += store.merge(series_id::open_interest, symbol, oi, now_ms);
        r.points += store.merge(series_id::mark_price, symbol, mark, now_ms);
        r.points += store.merge(series_id::open_interest_usd, symbol, usd, now_ms);
    });
    return r;
}

}  // namespace vs::api
