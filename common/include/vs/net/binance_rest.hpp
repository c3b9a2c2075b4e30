#pragma once
// The one Binance USDⓈ-M REST client of every process. Each request reserves its weight in
// the host-wide budget (rest_weight.hpp) before it is sent, waits (bounded, interruptible by
// SIGTERM) when the budget of the minute is spent or every process is paused, and feeds the
// reply back into the shared state:
//
//   X-MBX-USED-WEIGHT-1M      raises the shared count of the minute to the server's figure
//   429                       every process pauses until Retry-After (else the next minute)
//   418                       every process pauses until the ban ends (Retry-After or the
//                             "banned until <ms>" of the body); nothing is sent into a ban
//   400 + {"code":-1121,..}   an error of that request only (binance_code, message)
//   403 / 451                 logged as a restriction; every process pauses (restriction_pause)
//
//   vs::net::binance_rest rest{vs::net::rest_options_from(cli)};
//   auto r = rest.open_interest("BTCUSDT");
//   if (r.ok()) { parse r.body }
//
// Thread rule: one binance_rest per thread (it owns an http_client); any number of them, in
// any number of processes, share the budget of one bus prefix.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vs/net/http_client.hpp"
#include "vs/net/rest_weight.hpp"

namespace vs::cli {
class parser;
}

namespace vs::net {

struct rest_options {
    std::string base_url = "https://fapi.binance.com";
    weight_budget_options budget;                          ///< prefix, ceiling, window, guard
    std::chrono::milliseconds max_wait{90'000};            ///< longest wait for budget/pause per request
    std::chrono::milliseconds restriction_pause{60'000};   ///< pause after 403/451
    std::chrono::milliseconds default_rate_limit_pause{0}; ///< 429 without Retry-After: 0 = until next window
    http_client_options http;
};

enum class rest_status {
    ok,            ///< 2xx, body holds the JSON
    bad_request,   ///< 4xx with Binance's error body: this request only (see binance_code)
    rate_limited,  ///< 429: every process paused
    banned,        ///< 418: every process paused until the ban ends
    restricted,    ///< 403/451 (WAF or region): every process paused for restriction_pause
    no_budget,     ///< could not reserve the weight within max_wait (or the request is too heavy)
    http_error,    ///< any other status (5xx ...)
    network,       ///< transport failure (see message)
    stopped,       ///< shutdown requested while waiting
};

std::string_view to_string(rest_status s) noexcept;

struct rest_result {
    rest_status status = rest_status::network;
    int http_status = 0;
    std::string body;
    int binance_code = 0;           ///< Binance's "code" for errors (e.g. -1121)
    std::string message;            ///< Binance's "msg" or the transport error
    int weight = 0;                 ///< weight reserved for this request
    std::optional<int> used_weight; ///< X-MBX-USED-WEIGHT-1M of the reply
    bool ok() const noexcept { return status == rest_status::ok; }
};

using query_params = std::vector<std::pair<std::string, std::string>>;

class binance_rest {
public:
    /// Throws std::runtime_error when the budget segment cannot be attached or TLS set up.
    explicit binance_rest(rest_options options);

    /// GET `path` (e.g. "/fapi/v1/openInterest") with `params`, weight from request_weight().
    rest_result get(std::string_view path, const query_params& params = {});

    rest_result open_interest(std::string_view symbol);
    rest_result klines(std::string_view symbol, std::string_view interval, int limit,
                       std::optional<long long> start_ms = {}, std::optional<long long> end_ms = {});
    rest_result ticker_24hr(std::optional<std::string_view> symbol = {});
    rest_result ticker_price(std::optional<std::string_view> symbol = {});
    rest_result premium_index(std::optional<std::string_view> symbol = {});
    rest_result exchange_info();

    /// Binance's request weight of a futures endpoint (1 for an unknown one).
    static int request_weight(std::string_view path, const query_params& params) noexcept;

    weight_budget& budget() noexcept { return budget_; }
    const rest_options& options() const noexcept { return options_; }

private:
    rest_options options_;
    weight_budget budget_;
    http_client http_;
};

/// Adds --rest-url (VS_BINANCE_REST_URL, BINANCE_PROXY_URL), --rest-weight-ceiling
/// (VS_REST_WEIGHT_CEILING, default 2000) and --rest-max-wait-ms to a parser that already
/// has the common options (--bus-prefix).
void add_rest_options(cli::parser& p);

/// Reads the options added by add_rest_options (and --bus-prefix). Throws usage_error.
rest_options rest_options_from(const cli::parser& p);

}  // namespace vs::net
