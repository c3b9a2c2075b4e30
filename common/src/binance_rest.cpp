#include "vs/net/binance_rest.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vs/common/cli.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/shutdown.hpp"

namespace vs::net {
namespace {

std::optional<long long> to_number(std::string_view s) noexcept
{
    while (!s.empty() && s.front() == ' ') {
        s.remove_prefix(1);
    }
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p == s.data()) {
        return std::nullopt;
    }
    return v;
}

std::string url_encode(std::string_view s)
{
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

std::optional<std::string_view> param(const query_params& params, std::string_view name) noexcept
{
    for (const auto& [k, v] : params) {
        if (k == name) {
            return std::string_view{v};
        }
    }
    return std::nullopt;
}

// Binance's error body: {"code":-1121,"msg":"Invalid symbol."}
void parse_error_body(const std::string& body, rest_result& r)
{
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) {
        r.message = body.substr(0, 200);
        return;
    }
    const auto& o = v.as_object();
    if (auto* c = o.if_contains("code"); c != nullptr && c->is_int64()) {
        r.binance_code = static_cast<int>(c->as_int64());
    }
    if (auto* m = o.if_contains("msg"); m != nullptr && m->is_string()) {
        r.message = std::string{m->as_string()};
    }
}

// The end of a ban: Retry-After (seconds) or "banned until 1700000000000" in the message.
std::int64_t ban_end_ms(const http_response& res, const rest_result& r, std::int64_t now_ms)
{
    std::int64_t until = 0;
    if (auto pos = r.message.find("banned until "); pos != std::string::npos) {
        if (auto ms = to_number(std::string_view{r.message}.substr(pos + 13))) {
            until = *ms;
        }
    }
    if (auto ra = res.header_value("Retry-After")) {
        if (auto s = to_number(*ra)) {
            until = std::max<std::int64_t>(until, now_ms + *s * 1000);
        }
    }
    return until;
}

}  // namespace

std::string_view to_string(rest_status s) noexcept
{
    switch (s) {
    case rest_status::ok: return "ok";
    case rest_status::bad_request: return "bad_request";
    case rest_status::rate_limited: return "rate_limited";
    case rest_status::banned: return "banned";
    case rest_status::restricted: return "restricted";
    case rest_status::no_budget: return "no_budget";
    case rest_status::http_error: return "http_error";
    case rest_status::network: return "network";
    case rest_status::stopped: return "stopped";
    }
    return "unknown";
}

int binance_rest::request_weight(std::string_view path, const query_params& params) noexcept
{
    auto ends_with = [&](std::string_view tail) {
        return path.size() >= tail.size() && path.substr(path.size() - tail.size()) == tail;
    };
    const bool has_symbol = param(params, "symbol").has_value();
    if (ends_with("/klines") || ends_with("/continuousKlines") || ends_with("/indexPriceKlines") ||
        ends_with("/markPriceKlines") || ends_with("/premiumIndexKlines")) {
        long long limit = 500;  // Binance's default
        if (auto l = param(params, "limit")) {
            limit = to_number(*l).value_or(500);
        }
        if (limit < 100) {
            return 1;
        }
        if (limit < 500) {
            return 2;
        }
        return limit <= 1000 ? 5 : 10;
    }
    if (ends_with("/ticker/24hr")) {
        return has_symbol ? 1 : 40;
    }
    if (ends_with("/ticker/price")) {
        return has_symbol ? 1 : 2;
    }
    if (ends_with("/premiumIndex")) {
        return has_symbol ? 1 : 10;
    }
    return 1;  // openInterest, exchangeInfo, time, ping
}

binance_rest::binance_rest(rest_options options)
    : options_(std::move(options)), budget_(options_.budget), http_(options_.http)
{
    while (!options_.base_url.empty() && options_.base_url.back() == '/') {
        options_.base_url.pop_back();
    }
}

rest_result binance_rest::get(std::string_view path, const query_params& params)
{
    rest_result r;
    r.weight = request_weight(path, params);
    const std::int64_t give_up_at = realtime_ms() + options_.max_wait.count();
    reservation granted;
    for (;;) {
        if (shutdown::requested()) {
            r.status = rest_status::stopped;
            r.message = "stop requested while waiting for the weight budget";
            return r;
        }
        const std::int64_t now = realtime_ms();
        granted = budget_.try_reserve(r.weight, now);
        if (granted.ok()) {
            break;
        }
        if (granted.refusal == budget_refusal::too_heavy || granted.retry_at_ms > give_up_at) {
            r.status = rest_status::no_budget;
            r.message = fmt::format("no weight budget for {} (weight {}, ceiling {}) within {} ms",
                                    path, r.weight, budget_.ceiling(), options_.max_wait.count());
            return r;
        }
        shutdown::wait_for(std::chrono::milliseconds{std::clamp<std::int64_t>(granted.retry_at_ms - now, 1, 250)});
    }

    std::string url = options_.base_url + std::string{path};
    char sep = '?';
    for (const auto& [k, v] : params) {
        url += sep;
        url += url_encode(k) + "=" + url_encode(v);
        sep = '&';
    }
    http_result h = http_.perform(http_request{"GET", url, {}, {}, {}});
    const std::int64_t now = realtime_ms();
    if (!h.ok()) {
        r.status = rest_status::network;
        r.message = h.error_message;
        return r;
    }
    r.http_status = h.res.status;
    if (auto used = h.res.header_value("X-MBX-USED-WEIGHT-1M")) {
        if (auto n = to_number(*used); n && *n >= 0 && *n < (1LL << 30)) {
            r.used_weight = static_cast<int>(*n);
            // Only when the reply came in the window the request was counted in: the
            // server's figure is for its current minute.
            if (budget_.window_of(now) == granted.window) {
                budget_.observe_used(granted.window, *r.used_weight);
            }
        }
    }
    const int st = h.res.status;
    if (st >= 200 && st < 300) {
        r.status = rest_status::ok;
        r.body = std::move(h.res.body);
        return r;
    }
    r.body = h.res.body;
    parse_error_body(h.res.body, r);
    if (st == 429) {
        std::int64_t until = budget_.window_start_ms(budget_.window_of(now) + 1);
        if (options_.default_rate_limit_pause.count() > 0) {
            until = now + options_.default_rate_limit_pause.count();
        }
        if (auto ra = h.res.header_value("Retry-After")) {
            if (auto s = to_number(*ra)) {
                until = now + *s * 1000;
            }
        }
        budget_.pause_until(until);
        r.status = rest_status::rate_limited;
        spdlog::warn("binance 429 on {}: every process pauses for {} ms ({})", path, until - now, r.message);
        return r;
    }
    if (st == 418) {
        std::int64_t until = ban_end_ms(h.res, r, now);
        if (until <= now) {
            until = now + 2 * 60'000;  // Binance bans last 2 minutes at least
        }
        budget_.ban_until(until);
        r.status = rest_status::banned;
        spdlog::error("binance 418 (IP banned) on {}: every process stops sending for {} ms ({})", path,
                      until - now, r.message);
        return r;
    }
    if (st == 403 || st == 451) {
        budget_.restrict_until(now + options_.restriction_pause.count());
        r.status = rest_status::restricted;
        spdlog::error("binance {} on {}: access restricted ({}); every process pauses for {} ms", st, path,
                      r.message.empty() ? "no detail" : r.message, options_.restriction_pause.count());
        return r;
    }
    if (st >= 400 && st < 500) {
        r.status = rest_status::bad_request;
        return r;
    }
    r.status = rest_status::http_error;
    return r;
}

rest_result binance_rest::open_interest(std::string_view symbol)
{
    return get("/fapi/v1/openInterest", {{"symbol", std::string{symbol}}});
}

rest_result binance_rest::klines(std::string_view symbol, std::string_view interval, int limit,
                                 std::optional<long long> start_ms, std::optional<long long> end_ms)
{
    query_params p{{"symbol", std::string{symbol}}, {"interval", std::string{interval}},
                   {"limit", std::to_string(limit)}};
    if (start_ms) {
        p.emplace_back("startTime", std::to_string(*start_ms));
    }
    if (end_ms) {
        p.emplace_back("endTime", std::to_string(*end_ms));
    }
    return get("/fapi/v1/klines", p);
}

rest_result binance_rest::ticker_24hr(std::optional<std::string_view> symbol)
{
    return get("/fapi/v1/ticker/24hr", symbol ? query_params{{"symbol", std::string{*symbol}}} : query_params{});
}

rest_result binance_rest::ticker_price(std::optional<std::string_view> symbol)
{
    return get("/fapi/v1/ticker/price", symbol ? query_params{{"symbol", std::string{*symbol}}} : query_params{});
}

rest_result binance_rest::premium_index(std::optional<std::string_view> symbol)
{
    return get("/fapi/v1/premiumIndex", symbol ? query_params{{"symbol", std::string{*symbol}}} : query_params{});
}

rest_result binance_rest::exchange_info() { return get("/fapi/v1/exchangeInfo"); }

void add_rest_options(cli::parser& p)
{
    p.option("rest-url", "URL", "https://fapi.binance.com", "Binance USD-M futures REST base URL",
             {"VS_BINANCE_REST_URL", "BINANCE_PROXY_URL"});
    p.option("rest-weight-ceiling", "N", "2000",
             "request weight per minute all processes together stay under (Binance allows 2400)",
             {"VS_REST_WEIGHT_CEILING"});
    p.option("rest-max-wait-ms", "MS", "90000", "longest wait for the weight budget per request",
             {"VS_REST_MAX_WAIT_MS"});
}

rest_options rest_options_from(const cli::parser& p)
{
    rest_options o;
    o.base_url = p.get("rest-url");
    o.budget.prefix = p.get("bus-prefix");
    o.budget.ceiling = static_cast<int>(p.get_int("rest-weight-ceiling", 1, 6000));
    o.max_wait = std::chrono::milliseconds{p.get_int("rest-max-wait-ms", 0, 3'600'000)};
    return o;
}

}  // namespace vs::net
