#include "exchange_universe.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <malloc.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vs/common/clock.hpp"
#include "vs/common/shutdown.hpp"

namespace vs::feed {

namespace {

namespace json = boost::json;

std::string_view str_of(const json::object& o, std::string_view key) noexcept
{
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) {
        return {};
    }
    const auto& s = v->get_string();
    return {s.data(), s.size()};
}

/// A REST number: a JSON string of a decimal ("0.0123") or a JSON number.
std::optional<double> number_of(const json::value& v) noexcept
{
    if (v.is_double()) {
        return v.get_double();
    }
    if (v.is_int64()) {
        return static_cast<double>(v.get_int64());
    }
    if (v.is_uint64()) {
        return static_cast<double>(v.get_uint64());
    }
    if (v.is_string()) {
        const auto& s = v.get_string();
        double d = 0;
        const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec == std::errc{} && p == s.data() + s.size() && std::isfinite(d)) {
            return d;
        }
    }
    return std::nullopt;
}

std::optional<std::int64_t> integer_of(const json::value& v) noexcept
{
    if (v.is_int64()) {
        return v.get_int64();
    }
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        return static_cast<std::int64_t>(v.get_uint64());
    }
    return std::nullopt;
}

}  // namespace

namespace {

/// The sorted, distinct symbols of exchangeInfo's "symbols" rows for which keep(row) holds;
/// nullopt with `error` set when the body is not an exchangeInfo reply.
template <class Keep>
std::optional<std::vector<std::string>> symbols_where(std::string_view body, std::string& error, Keep keep)
{
    boost::system::error_code ec;
    const auto v = json::parse(json::string_view{body.data(), body.size()}, ec);
    if (ec) {
        error = "exchangeInfo is not JSON: " + ec.message();
        return std::nullopt;
    }
    const auto* root = v.if_object();
    const auto* list = root ? root->if_contains("symbols") : nullptr;
    if (list == nullptr || !list->is_array()) {
        error = "exchangeInfo has no \"symbols\" array";
        return std::nullopt;
    }
    std::vector<std::string> out;
    for (const auto& item : list->get_array()) {
        if (const auto* o = item.if_object()) {
            if (const auto sym = str_of(*o, "symbol"); !sym.empty() && keep(*o)) {
                out.emplace_back(sym);
            }
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace

std::optional<std::vector<std::string>> parse_trading_usdt_perpetuals(std::string_view body, std::string& error)
{
    return symbols_where(body, error, [](const json::object& o) {
        return str_of(o, "contractType") == "PERPETUAL" && str_of(o, "quoteAsset") == "USDT" &&
               str_of(o, "status") == "TRADING";
    });
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_symbol_statuses(std::string_view body,
                                                                                        std::string& error)
{
    boost::system::error_code ec;
    const auto v = json::parse(json::string_view{body.data(), body.size()}, ec);
    if (ec) {
        error = "exchangeInfo is not JSON: " + ec.message();
        return std::nullopt;
    }
    const auto* root = v.if_object();
    const auto* list = root ? root->if_contains("symbols") : nullptr;
    if (list == nullptr || !list->is_array()) {
        error = "exchangeInfo has no \"symbols\" array";
        return std::nullopt;
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& item : list->get_array()) {
        if (const auto* o = item.if_object()) {
            if (const auto sym = str_of(*o, "symbol"); !sym.empty()) {
                out.emplace_back(sym, str_of(*o, "status"));
            }
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<std::vector<std::string>> parse_perpetuals(std::string_view body, std::string& error)
{
    // PERPETUAL, TRADIFI_PERPETUAL, PERPETUAL_DELIVERING: funded; quarterlies are not.
    return symbols_where(body, error, [](const json::object& o) {
        return str_of(o, "contractType").find("PERPETUAL") != std::string_view::npos;
    });
}

std::optional<std::vector<std::pair<std::string, std::uint8_t>>> parse_funding_info(std::string_view body,
                                                                                      std::string& error,
                                                                                      std::size_t& bad,
                                                                                      std::string& bad_detail)
{
    bad = 0;
    bad_detail.clear();
    boost::system::error_code ec;
    const auto v = json::parse(json::string_view{body.data(), body.size()}, ec);
    if (ec) {
        error = "fundingInfo is not JSON: " + ec.message();
        return std::nullopt;
    }
    if (!v.is_array()) {
        error = "fundingInfo is not an array";
        return std::nullopt;
    }
    std::vector<std::pair<std::string, std::uint8_t>> out;
    const auto skip = [&](std::string why) {
        if (bad++ == 0) {
            bad_detail = std::move(why);
        }
    };
    for (const auto& item : v.get_array()) {
        const auto* o = item.if_object();
        if (o == nullptr) {
            skip("an entry is not an object");
            continue;
        }
        const auto sym = str_of(*o, "symbol");
        if (sym.empty() || sym.size() > 64) {
            skip("an entry has no usable symbol");
            continue;
        }
        const auto* h = o->if_contains("fundingIntervalHours");
        const auto hours = h != nullptr ? number_of(*h) : std::optional<double>{};
        // Binance uses 1, 2, 4 and 8; a day is the most any funding schedule could mean.
        if (!hours || *hours < 1 || *hours > 24 || *hours != std::floor(*hours)) {
            skip(fmt::format("{}: fundingIntervalHours {} is not a whole number of hours in 1..24", sym,
                             h != nullptr ? json::serialize(*h).substr(0, 40) : std::string{"missing"}));
            continue;
        }
        out.emplace_back(sym, static_cast<std::uint8_t>(*hours));
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    // A symbol listed twice: its first entry.
    out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
              out.end());
    return out;
}

std::vector<std::pair<std::string, std::uint8_t>> compose_funding_intervals(
    const std::vector<std::string>& perpetuals, const std::vector<std::pair<std::string, std::uint8_t>>& adjusted)
{
    std::vector<std::pair<std::string, std::uint8_t>> out;
    out.reserve(perpetuals.size() + adjusted.size());
    auto p = perpetuals.begin();
    auto a = adjusted.begin();
    while (p != perpetuals.end() || a != adjusted.end()) {
        if (a == adjusted.end() || (p != perpetuals.end() && *p < a->first)) {
            out.emplace_back(*p++, default_funding_interval_hours);
        } else {
            if (p != perpetuals.end() && *p == a->first) {
                ++p;
            }
            out.push_back(*a++);
        }
    }
    return out;
}

void diff_sorted(const std::vector<std::string>& before, const std::vector<std::string>& after,
                 std::vector<std::string>& added, std::vector<std::string>& removed)
{
    added.clear();
    removed.clear();
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(added));
    std::set_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(removed));
}

std::optional<std::vector<rest_kline>> parse_rest_klines(std::string_view body, std::string& error)
{
    boost::system::error_code ec;
    const auto v = json::parse(json::string_view{body.data(), body.size()}, ec);
    if (ec || !v.is_array()) {
        error = ec ? "klines reply is not JSON: " + ec.message() : "klines reply is not an array";
        return std::nullopt;
    }
    std::vector<rest_kline> out;
    for (const auto& row : v.get_array()) {
        const auto* a = row.if_array();
        if (a == nullptr || a->size() < 11) {
            error = "a klines row is not an array of at least 11 fields";
            return std::nullopt;
        }
        const auto& r = *a;
        rest_kline k;
        const auto open_ms = integer_of(r[0]);
        const auto close_ms = integer_of(r[6]);
        const auto trades = integer_of(r[8]);
        const auto o = number_of(r[1]), h = number_of(r[2]), l = number_of(r[3]), c = number_of(r[4]);
        const auto vol = number_of(r[5]), q = number_of(r[7]), tv = number_of(r[9]), tq = number_of(r[10]);
        if (!open_ms || !close_ms || !o || !h || !l || !c || !vol || !q || *o <= 0 || *c <= 0 || *q < 0) {
            error = "a klines row has a missing or invalid time, price or volume";
            return std::nullopt;
        }
        k.open_ms = *open_ms;
        k.close_ms = *close_ms;
        k.open = *o;
        k.high = *h;
        k.low = *l;
        k.close = *c;
        k.volume = *vol;
        k.quote_volume = *q;
        k.trades = trades.value_or(0);
        k.taker_buy_volume = tv.value_or(0);
        k.taker_buy_quote_volume = tq.value_or(0);
        out.push_back(k);
    }
    return out;
}

universe_refresher::universe_refresher(boost::asio::io_context& io, vs::net::rest_options rest,
                                       universe_options options, universe_fn on_universe, klines_fn on_klines)
    : io_(io),
      rest_options_(std::move(rest)),
      options_(std::move(options)),
      on_universe_(std::move(on_universe)),
      on_klines_(std::move(on_klines)),
      rest_(std::make_unique<vs::net::binance_rest>(rest_options_))
{
}

universe_refresher::~universe_refresher()
{
    stop();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void universe_refresher::start()
{
    if (!thread_.joinable()) {
        thread_ = std::thread([this] { run(); });
    }
}

void universe_refresher::stop() noexcept
{
    {
        std::lock_guard lock{mu_};
        stop_ = true;
    }
    cv_.notify_all();
}

void universe_refresher::request_klines(const std::vector<std::string>& symbols)
{
    {
        std::lock_guard lock{mu_};
        for (const auto& s : symbols) {
            if (std::find(queue_.begin(), queue_.end(), s) == queue_.end()) {
                queue_.push_back(s);
            }
        }
    }
    cv_.notify_all();
}

std::size_t universe_refresher::klines_queued() const
{
    std::lock_guard lock{mu_};
    return queue_.size();
}

bool universe_refresher::refresh()
{
    const auto r = rest_->exchange_info();
    if (!r.ok()) {
        ++counters_.refresh_failures;
        spdlog::warn("exchangeInfo refresh failed: {} (HTTP {}) {}; keeping the last set of {} symbols",
                     vs::net::to_string(r.status), r.http_status, r.message, last_.size());
        return false;
    }
    std::string error;
    auto symbols = parse_trading_usdt_perpetuals(r.body, error);
    if (!symbols || symbols->empty()) {
        ++counters_.refresh_failures;
        spdlog::warn("exchangeInfo refresh unusable: {}; keeping the last set of {} symbols",
                     symbols ? std::string{"no trading USDT perpetual"} : error, last_.size());
        return false;
    }
    ++counters_.refreshes;
    universe_update u;
    u.fetched_ms = vs::realtime_ms();
    u.first = !have_last_;
    diff_sorted(last_, *symbols, u.added, u.removed);
    u.symbols = std::move(*symbols);
    if (auto statuses = parse_symbol_statuses(r.body, error)) {
        u.statuses = std::move(*statuses);
    }
    if (on_funding_) {
        if (auto perps = parse_perpetuals(r.body, error)) {
            perpetuals_ = std::move(*perps);
        }
    }
    last_ = u.symbols;
    have_last_ = true;
    if (u.first || !u.added.empty() || !u.removed.empty()) {
        spdlog::info("exchangeInfo: {} trading USDT perpetuals ({} added, {} removed)", u.symbols.size(),
                     u.added.size(), u.removed.size());
    }
    boost::asio::post(io_, [fn = on_universe_, u = std::move(u)] {
        if (fn) {
            fn(u);
        }
    });
    return true;
}

bool universe_refresher::refresh_funding()
{
    const auto r = rest_->get("/fapi/v1/fundingInfo");
    if (!r.ok()) {
        ++counters_.funding_failures;
        spdlog::warn("fundingInfo failed: {} (HTTP {}) {}; keeping the last funding intervals ({})",
                     vs::net::to_string(r.status), r.http_status, r.message,
                     adjusted_ ? fmt::format("{} adjusted symbols", adjusted_->size()) : std::string{"none yet"});
        return false;
    }
    std::string error, bad_detail;
    std::size_t bad = 0;
    auto adjusted = parse_funding_info(r.body, error, bad, bad_detail);
    if (!adjusted) {
        ++counters_.funding_failures;
        spdlog::warn("fundingInfo unusable: {}; keeping the last funding intervals ({})", error,
                     adjusted_ ? fmt::format("{} adjusted symbols", adjusted_->size()) : std::string{"none yet"});
        return false;
    }
    if (bad > 0) {
        counters_.funding_bad_entries += bad;
        spdlog::warn("fundingInfo: {} entries skipped ({}{})", bad, bad_detail, bad > 1 ? ", ..." : "");
    }
    ++counters_.funding_refreshes;
    if (!adjusted_ || adjusted_->size() != adjusted->size()) {
        spdlog::info("fundingInfo: {} symbols with an interval other than Binance's default {} h", adjusted->size(),
                     default_funding_interval_hours);
    }
    adjusted_ = std::move(*adjusted);
    return true;
}

void universe_refresher::post_funding_if_changed()
{
    if (!on_funding_ || !adjusted_) {
        return;   // before the first fundingInfo: every interval stays unknown (0)
    }
    auto table = compose_funding_intervals(perpetuals_, *adjusted_);
    if (have_posted_ && table == posted_) {
        return;
    }
    posted_ = table;
    have_posted_ = true;
    boost::asio::post(io_, [fn = on_funding_, t = std::move(table)] { fn(t); });
}

void universe_refresher::run()
{
    using clock = std::chrono::steady_clock;
    auto next_refresh = clock::now();
    auto next_funding = clock::time_point::max();   ///< a fundingInfo retry between refreshes
    const auto gap = std::chrono::duration_cast<clock::duration>(
        std::chrono::duration<double>(1.0 / std::max(options_.klines_per_second, 0.01)));
    auto next_kline = clock::now();
    for (;;) {
        {
            std::lock_guard lock{mu_};
            if (stop_) {
                return;
            }
        }
        if (vs::shutdown::requested()) {
            return;
        }
        const auto now = clock::now();
        if (now >= next_refresh) {
            next_refresh = now + (refresh() ? options_.period : options_.retry);
            if (on_funding_) {
                // With every exchangeInfo; a failure is retried on its own after `retry`.
                next_funding = refresh_funding() ? clock::time_point::max() : now + options_.retry;
                post_funding_if_changed();
            }
            // The ~1 MB body and its DOM were freed into this thread's malloc arena, which
            // glibc keeps resident: give the pages back (vs-feed's RSS budget is 32 MB).
            ::malloc_trim(0);
            continue;
        }
        if (now >= next_funding) {
            next_funding = refresh_funding() ? clock::time_point::max() : now + options_.retry;
            post_funding_if_changed();
            continue;
        }
        std::optional<std::string> symbol;
        {
            std::lock_guard lock{mu_};
            if (!queue_.empty() && now >= next_kline) {
                symbol = std::move(queue_.front());
                queue_.pop_front();
            }
        }
        if (symbol) {
            next_kline = now + gap;
            ++counters_.kline_requests;
            const auto r = rest_->klines(*symbol, options_.kline_interval, options_.kline_limit);
            std::vector<rest_kline> rows;
            if (r.ok()) {
                std::string error;
                if (auto parsed = parse_rest_klines(r.body, error)) {
                    rows = std::move(*parsed);
                } else {
                    ++counters_.kline_failures;
                    spdlog::warn("klines {}: {}", *symbol, error);
                }
            } else {
                ++counters_.kline_failures;
                spdlog::warn("klines {} failed: {} (HTTP {}) {}", *symbol, vs::net::to_string(r.status),
                             r.http_status, r.message);
            }
            boost::asio::post(io_, [fn = on_klines_, s = std::move(*symbol), rows = std::move(rows),
                                    at = vs::realtime_ms()] {
                if (fn) {
                    fn(s, rows, at);
                }
            });
            continue;
        }
        auto wake = std::min(next_refresh, next_funding);
        {
            std::lock_guard lock{mu_};
            if (!queue_.empty()) {
                wake = std::min(wake, next_kline);
            }
        }
        // Bounded so that a SIGTERM (which does not notify cv_) is seen within 200 ms.
        wake = std::min(wake, clock::now() + std::chrono::milliseconds{200});
        std::unique_lock lock{mu_};
        cv_.wait_until(lock, wake, [&] { return stop_ || (!queue_.empty() && clock::now() >= next_kline); });
    }
}

}  // namespace vs::feed
