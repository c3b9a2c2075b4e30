#include "vs/replay/rest.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

namespace vs::replay {

namespace {

constexpr std::int64_t minute_ms = 60'000;

std::optional<long long> to_int(const std::string& s)
{
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) {
        return std::nullopt;
    }
    return v;
}

http_reply json_reply(std::string body)
{
    http_reply r;
    r.body = std::move(body);
    return r;
}

http_reply mandatory(std::string_view name)
{
    return binance_error(400, -1102,
                         fmt::format("Mandatory parameter '{}' was not sent, was empty/null, or malformed.", name));
}

std::optional<std::int64_t> interval_ms(std::string_view i)
{
    static const std::pair<std::string_view, std::int64_t> table[] = {
        {"1m", 60'000},        {"3m", 180'000},       {"5m", 300'000},         {"15m", 900'000},
        {"30m", 1'800'000},    {"1h", 3'600'000},     {"2h", 7'200'000},       {"4h", 14'400'000},
        {"6h", 21'600'000},    {"8h", 28'800'000},    {"12h", 43'200'000},     {"1d", 86'400'000},
    };
    for (const auto& [name, ms] : table) {
        if (name == i) {
            return ms;
        }
    }
    return std::nullopt;
}

}  // namespace

http_reply binance_error(unsigned status, int code, std::string_view msg)
{
    http_reply r;
    r.status = status;
    r.body = fmt::format("{{\"code\":{},\"msg\":{}}}", code,
                         boost::json::serialize(boost::json::string(msg.begin(), msg.end())));
    return r;
}

request_target parse_target(std::string_view target)
{
    request_target t;
    auto u = boost::urls::parse_origin_form(target);
    if (!u) {
        return t;
    }
    t.path = std::string(u->encoded_path().decode());
    for (auto p : u->params()) {
        t.params[std::string(p.key)] = std::string(p.value);
    }
    t.ok = true;
    return t;
}

weight_limiter::decision weight_limiter::admit(const std::string& ip, int weight, std::int64_t now_ms)
{
    ip_state& s = ips_[ip];
    const std::int64_t minute = now_ms / minute_ms;
    if (s.minute != minute) {
        s.minute = minute;
        s.used = 0;
        s.rejections = 0;
    }
    decision d;
    if (now_ms < s.banned_until_ms) {
        ++stats_.http_418;
        d.result = verdict::banned;
        d.used = s.used;
        d.banned_until_ms = s.banned_until_ms;
        d.retry_after_s = static_cast<int>((s.banned_until_ms - now_ms + 999) / 1000);
        return d;
    }
    s.used += weight;
    d.used = s.used;
    if (s.used <= cfg_.limit) {
        return d;
    }
    ++s.rejections;
    if (s.rejections > 1 + cfg_.tolerated_429s) {
        s.banned_until_ms = now_ms + static_cast<std::int64_t>(cfg_.ban_seconds) * 1000;
        ++stats_.bans;
        ++stats_.http_418;
        d.result = verdict::banned;
        d.banned_until_ms = s.banned_until_ms;
        d.retry_after_s = std::max(cfg_.ban_seconds, 1);
        return d;
    }
    ++stats_.http_429;
    d.result = verdict::too_many;
    d.retry_after_s = static_cast<int>(std::max<std::int64_t>(1, ((minute + 1) * minute_ms - now_ms + 999) / 1000));
    return d;
}

int weight_limiter::used(const std::string& ip, std::int64_t now_ms) const
{
    auto it = ips_.find(ip);
    if (it == ips_.end() || it->second.minute != now_ms / minute_ms) {
        return 0;
    }
    return it->second.used;
}

int weight_limiter::used_total(std::int64_t now_ms) const
{
    int total = 0;
    for (const auto& [ip, s] : ips_) {
        if (s.minute == now_ms / minute_ms) {
            total += s.used;
        }
    }
    return total;
}

int route_weight(const request_target& t)
{
    const bool has_symbol = t.param("symbol") != nullptr;
    const std::string& p = t.path;
    if (p == "/fapi/v1/ping" || p == "/fapi/v1/time" || p == "/fapi/v1/exchangeInfo" || p == "/fapi/v1/openInterest") {
        return 1;
    }
    if (p == "/fapi/v1/klines") {
        long long limit = 500;
        if (const auto* l = t.param("limit")) {
            limit = to_int(*l).value_or(500);
        }
        return limit < 100 ? 1 : limit < 500 ? 2 : limit <= 1000 ? 5 : 10;
    }
    if (p == "/fapi/v1/ticker/24hr") {
        return has_symbol ? 1 : 40;
    }
    if (p == "/fapi/v1/ticker/price") {
        return has_symbol ? 1 : 2;
    }
    if (p == "/fapi/v1/premiumIndex") {
        return has_symbol ? 1 : 10;
    }
    if (p == "/fapi/v1/fundingInfo") {
        return 0;  // Binance: its own 500 / 5 min limit, no request weight
    }
    if (p == "/futures/data/openInterestHist") {
        return 0;  // Binance: its own 1,000 / 5 min limit, no request weight
    }
    return -1;
}

http_reply rest_api::handle(const request_target& t, const std::string& ip, std::int64_t now_ms)
{
    const int weight = route_weight(t);
    http_reply r;
    if (weight < 0) {
        r = binance_error(404, -5000, fmt::format("Path {}, Method GET is invalid", t.path));
        r.headers.emplace_back("X-MBX-USED-WEIGHT-1M", std::to_string(limiter_.used(ip, now_ms)));
        return r;
    }
    auto d = limiter_.admit(ip, weight, now_ms);
    switch (d.result) {
    case weight_limiter::verdict::ok:
        r = route(t, now_ms);
        break;
    case weight_limiter::verdict::too_many:
        r = binance_error(429, -1003,
                          fmt::format("Too many requests; current limit of IP({}) is {} requests per minute. Please "
                                      "use the websocket for live updates to avoid polling the API.",
                                      ip, limiter_.config().limit));
        r.headers.emplace_back("Retry-After", std::to_string(d.retry_after_s));
        break;
    case weight_limiter::verdict::banned:
        r = binance_error(418, -1003,
                          fmt::format("Way too many requests; IP({}) banned until {}. Please use the websocket for "
                                      "live updates to avoid bans.",
                                      ip, d.banned_until_ms));
        r.headers.emplace_back("Retry-After", std::to_string(d.retry_after_s));
        break;
    }
    r.headers.emplace_back("X-MBX-USED-WEIGHT-1M", std::to_string(d.used));
    return r;
}

http_reply rest_api::route(const request_target& t, std::int64_t now_ms)
{
    const std::string& p = t.path;
    if (p == "/fapi/v1/ping") {
        return json_reply("{}");
    }
    if (p == "/fapi/v1/time") {
        return json_reply(fmt::format("{{\"serverTime\":{}}}", now_ms));
    }
    if (p == "/fapi/v1/exchangeInfo") {
        return json_reply(market_.exchange_info(now_ms));
    }
    if (p == "/fapi/v1/fundingInfo") {
        return json_reply(market_.funding_info());
    }
    // Every other route takes an optional or mandatory USDⓈ-M symbol; COIN-M rows live on
    // another host, so they are invalid here.
    std::optional<std::size_t> idx;
    if (const auto* sym = t.param("symbol")) {
        if (sym->empty()) {
            return mandatory("symbol");
        }
        idx = market_.find(*sym);
        if (!idx || market_.symbols()[*idx].st != 1) {
            return binance_error(400, -1121, "Invalid symbol.");
        }
    }
    if (p == "/fapi/v1/openInterest") {
        if (!idx) {
            return mandatory("symbol");
        }
        return json_reply(market_.open_interest(*idx, now_ms));
    }
    if (p == "/fapi/v1/premiumIndex") {
        return json_reply(market_.premium_index(idx, now_ms));
    }
    if (p == "/fapi/v1/ticker/24hr") {
        return json_reply(market_.ticker_24hr(idx, now_ms));
    }
    if (p == "/fapi/v1/ticker/price") {
        return json_reply(market_.ticker_price(idx, now_ms));
    }
    if (p == "/fapi/v1/klines") {
        if (!idx) {
            return mandatory("symbol");
        }
        const auto* iv = t.param("interval");
        if (iv == nullptr || iv->empty()) {
            return mandatory("interval");
        }
        auto ims = interval_ms(*iv);
        if (!ims) {
            return binance_error(400, -1120, "Invalid interval.");
        }
        long long limit = 500;
        if (const auto* l = t.param("limit")) {
            auto v = to_int(*l);
            if (!v || *v < 1 || *v > 1500) {
                return binance_error(400, -1130, "Data sent for parameter 'limit' is not valid.");
            }
            limit = *v;
        }
        std::optional<std::int64_t> start, end;
        if (const auto* s = t.param("startTime")) {
            start = to_int(*s);
            if (!start) {
                return binance_error(400, -1100, "Illegal characters found in parameter 'startTime'.");
            }
        }
        if (const auto* e = t.param("endTime")) {
            end = to_int(*e);
            if (!end) {
                return binance_error(400, -1100, "Illegal characters found in parameter 'endTime'.");
            }
        }
        return json_reply(market_.klines(*idx, *ims, start, end, static_cast<int>(limit), now_ms));
    }
    if (p == "/futures/data/openInterestHist") {
        if (!idx) {
            return mandatory("symbol");
        }
        const auto* per = t.param("period");
        if (per == nullptr || per->empty()) {
            return mandatory("period");
        }
        auto pms = interval_ms(*per);
        if (!pms || *pms < 300'000) {
            return binance_error(400, -1120, "Invalid period.");
        }
        long long limit = 30;
        if (const auto* l = t.param("limit")) {
            auto v = to_int(*l);
            if (!v || *v < 1 || *v > 500) {
                return binance_error(400, -1130, "Data sent for parameter 'limit' is not valid.");
            }
            limit = *v;
        }
        std::optional<std::int64_t> start, end;
        if (const auto* s = t.param("startTime")) {
            start = to_int(*s);
        }
        if (const auto* e = t.param("endTime")) {
            end = to_int(*e);
        }
        return json_reply(market_.open_interest_hist(*idx, *pms, start, end, static_cast<int>(limit), now_ms));
    }
    return binance_error(404, -5000, fmt::format("Path {}, Method GET is invalid", p));
}

}  // namespace vs::replay
