#pragma once
// vs-replay's REST side: Binance's `/fapi/v1/...` routes over the synthetic market, with the
// IP's request weight counted per UTC minute as Binance does (X-MBX-USED-WEIGHT-1M on every
// reply, 429 + Retry-After past the limit, 418 + ban for clients that ignore 429s).
//
// Thread rule: not thread-safe; called from vs-replay's I/O thread only.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vs/replay/market.hpp"

namespace vs::replay {

/// A reply independent of the HTTP library.
struct http_reply {
    unsigned status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

/// A request target split into its decoded path and query parameters.
struct request_target {
    bool ok = false;
    std::string path;
    std::map<std::string, std::string> params;

    const std::string* param(const std::string& name) const
    {
        auto it = params.find(name);
        return it == params.end() ? nullptr : &it->second;
    }
};

/// Splits and percent-decodes "/fapi/v1/klines?symbol=BTCUSDT&limit=2".
request_target parse_target(std::string_view target);

struct weight_config {
    int limit = 2400;              ///< weight per UTC minute and IP
    int ban_seconds = 120;         ///< length of an IP ban (418)
    int tolerated_429s = 5;        ///< 429s answered after the first before banning
};

/// Binance's per-IP request-weight accounting for one UTC minute.
class weight_limiter {
public:
    enum class verdict { ok, too_many, banned };
    struct decision {
        verdict result = verdict::ok;
        int used = 0;                    ///< weight used this minute, after this request
        int retry_after_s = 0;           ///< for too_many / banned
        std::int64_t banned_until_ms = 0;
    };
    struct counters {
        long long http_429 = 0, http_418 = 0, bans = 0;
    };

    explicit weight_limiter(weight_config cfg) : cfg_(cfg) {}

    /// Counts `weight` for `ip` at `now_ms` (rejected requests count too, as on Binance)
    /// and says whether to serve it.
    decision admit(const std::string& ip, int weight, std::int64_t now_ms);
    /// Weight `ip` used in the current minute.
    int used(const std::string& ip, std::int64_t now_ms) const;
    /// Total weight of every IP this minute.
    int used_total(std::int64_t now_ms) const;
    const counters& stats() const noexcept { return stats_; }
    const weight_config& config() const noexcept { return cfg_; }

private:
    struct ip_state {
        std::int64_t minute = -1;
        int used = 0;
        int rejections = 0;             // 429s this minute
        std::int64_t banned_until_ms = 0;
    };
    weight_config cfg_;
    std::map<std::string, ip_state> ips_;
    counters stats_;
};

/// Binance's weight of a `/fapi/v1/...` route for these parameters; -1 for unknown routes.
/// openInterest 1; klines 1/2/5/10 by limit (<100, <500, <=1000, more; default 500);
/// ticker/24hr 1 with symbol, 40 without; ticker/price 1 / 2; premiumIndex 1 / 10;
/// exchangeInfo, ping, time 1; fundingInfo 0.
int route_weight(const request_target& t);

/// The `/fapi/v1/...` routes over a market.
class rest_api {
public:
    rest_api(market& m, weight_limiter& limiter) : market_(m), limiter_(limiter) {}

    /// Answers a request from `ip` at `now_ms`.
    http_reply handle(const request_target& t, const std::string& ip, std::int64_t now_ms);

private:
    http_reply route(const request_target& t, std::int64_t now_ms);
    market& market_;
    weight_limiter& limiter_;
};

/// Binance's error body `{"code":-1121,"msg":"Invalid symbol."}` with an HTTP status.
http_reply binance_error(unsigned status, int code, std::string_view msg);

}  // namespace vs::replay
