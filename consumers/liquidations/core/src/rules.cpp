#include "vs/liquidations/rules.hpp"

#include <cmath>
#include <ctime>
#include <stdexcept>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace vs::liquidations {
namespace {

std::string trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return std::string{s};
}

std::string group_thousands(std::string digits)
{
    std::string out;
    const std::size_t n = digits.size();
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n) {
            out += ',';
        }
    }
    return out;
}

}  // namespace

double thresholds::for_symbol(std::string_view symbol) const
{
    auto it = per_symbol.find(symbol);
    return it == per_symbol.end() ? default_usd : it->second;
}

thresholds thresholds::parse(double default_usd, std::string_view overrides)
{
    if (!(default_usd > 0) || !std::isfinite(default_usd)) {
        throw std::invalid_argument("a threshold must be a positive number of USD");
    }
    thresholds t;
    t.default_usd = default_usd;
    std::size_t start = 0;
    while (start <= overrides.size()) {
        const auto end = overrides.find(',', start);
        const auto item = trim(overrides.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (!item.empty()) {
            const auto colon = item.find(':');
            double v = 0;
            bool ok = colon != std::string::npos && colon > 0;
            if (ok) {
                try {
                    std::size_t used = 0;
                    const auto number = trim(std::string_view{item}.substr(colon + 1));
                    v = std::stod(number, &used);
                    ok = used == number.size() && v > 0 && std::isfinite(v);
                } catch (const std::exception&) {
                    ok = false;
                }
            }
            if (!ok) {
                throw std::invalid_argument("threshold override '" + item + "' is not SYMBOL:USD with USD > 0");
            }
            std::string symbol = trim(std::string_view{item}.substr(0, colon));
            for (auto& c : symbol) {
                c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);   // "btcusdt" means BTCUSDT
            }
            t.per_symbol[symbol] = v;
        }
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    return t;
}

std::string_view liquidated_position(bool order_is_sell) noexcept { return order_is_sell ? "LONG" : "SHORT"; }

std::string_view taker_side(bool buyer_is_maker) noexcept { return buyer_is_maker ? "SELL" : "BUY"; }

std::string window::encode() const
{
    boost::json::object o{{"v", 1},
                          {"kind", acc.k == kind::liquidation ? "liquidation" : "whale"},
                          {"symbol", acc.symbol},
                          {"side", acc.side},
                          {"count", acc.count},
                          {"total_usd", acc.total_usd},
                          {"largest_usd", acc.largest_usd},
                          {"price", acc.price},
                          {"qty", acc.qty},
                          {"first_ms", acc.first_ms},
                          {"last_ms", acc.last_ms},
                          {"closes_at_ms", closes_at_ms}};
    return boost::json::serialize(o);
}

std::optional<window> window::decode(std::string_view bytes, std::string* error)
{
    auto fail = [&](const char* why) -> std::optional<window> {
        if (error != nullptr) {
            *error = why;
        }
        return std::nullopt;
    };
    boost::system::error_code ec;
    auto v = boost::json::parse(bytes, ec);
    if (ec || !v.is_object()) {
        return fail("not a JSON object");
    }
    const auto& o = v.as_object();
    try {
        if (o.at("v").as_int64() != 1) {
            return fail("unknown version");
        }
        window w;
        w.acc.k = o.at("kind").as_string() == "whale" ? kind::whale : kind::liquidation;
        w.acc.symbol = std::string{o.at("symbol").as_string()};
        w.acc.side = std::string{o.at("side").as_string()};
        w.acc.count = static_cast<std::uint32_t>(o.at("count").to_number<std::uint64_t>());
        w.acc.total_usd = o.at("total_usd").to_number<double>();
        w.acc.largest_usd = o.at("largest_usd").to_number<double>();
        w.acc.price = o.at("price").to_number<double>();
        w.acc.qty = o.at("qty").to_number<double>();
        w.acc.first_ms = o.at("first_ms").as_int64();
        w.acc.last_ms = o.at("last_ms").as_int64();
        w.closes_at_ms = o.at("closes_at_ms").as_int64();
        if (w.acc.symbol.empty() || w.acc.count == 0) {
            return fail("empty window");
        }
        return w;
    } catch (const std::exception&) {
        return fail("missing or mistyped field");
    }
}

std::string debouncer::add(const event& e, std::int64_t now_ms)
{
    std::string key = e.symbol + "/" + e.side;
    auto [it, fresh] = open_.try_emplace(key);
    auto& w = it->second;
    if (fresh) {
        w.acc.k = e.k;
        w.acc.symbol = e.symbol;
        w.acc.side = e.side;
        w.acc.first_ms = e.time_ms;
        w.closes_at_ms = now_ms + window_.count();
    }
    w.acc.count += 1;
    w.acc.total_usd += e.notional;
    w.acc.last_ms = std::max(w.acc.last_ms, e.time_ms);
    w.acc.first_ms = std::min(w.acc.first_ms, e.time_ms);
    if (e.notional > w.acc.largest_usd) {
        w.acc.largest_usd = e.notional;
        w.acc.price = e.price;
        w.acc.qty = e.qty;
    }
    return key;
}

std::vector<std::pair<std::string, alert>> debouncer::due(std::int64_t now_ms)
{
    std::vector<std::pair<std::string, alert>> out;
    for (auto it = open_.begin(); it != open_.end();) {
        if (it->second.closes_at_ms <= now_ms) {
            out.emplace_back(it->first, it->second.acc);
            it = open_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

std::string usd(double amount)
{
    const double rounded = std::round(std::fabs(amount));
    if (!std::isfinite(rounded) || rounded >= 1e18) {
        return "$?";
    }
    return std::string{amount < 0 ? "-$" : "$"} + group_thousands(fmt::format("{:.0f}", rounded));
}

std::string price(double p)
{
    if (!std::isfinite(p) || p <= 0 || p >= 1e15) {
        return "$?";
    }
    if (p < 1) {
        // Four significant digits: "$0.001234".
        const int decimals = std::min(12, 3 - static_cast<int>(std::floor(std::log10(p))));
        return fmt::format("${:.{}f}", p, decimals);
    }
    const auto cents = static_cast<long long>(std::llround(p * 100));
    return "$" + group_thousands(std::to_string(cents / 100)) + fmt::format(".{:02d}", cents % 100);
}

std::string utc_time(std::int64_t ms)
{
    const std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:02d}:{:02d}:{:02d} UTC", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string text(const alert& a)
{
    if (a.k == kind::whale) {
        return fmt::format("🐋 WHALE TRADE ALERT\n📍 Exchange: Binance\n📊 Symbol: {}\n💰 Price: {}\n{} Side: {}\n"
                           "💵 Size: {}\n⏰ Time: {}",
                           a.symbol, price(a.price), a.side == "BUY" ? "📈" : "📉", a.side, usd(a.total_usd),
                           utc_time(a.last_ms));
    }
    if (a.count <= 1) {
        return fmt::format("🔥 LIQUIDATION ALERT\n📍 Exchange: Binance\n📊 Symbol: {}\n💰 Price: {}\n📉 Side: {}\n"
                           "💵 Size: {}\n⏰ Time: {}",
                           a.symbol, price(a.price), a.side, usd(a.total_usd), utc_time(a.last_ms));
    }
    const auto first = utc_time(a.first_ms);
    return fmt::format("🔥 LIQUIDATION ALERT: at least {} liquidations\n📍 Exchange: Binance\n📊 Symbol: {}\n"
                       "💰 Price: {} (largest)\n📉 Side: {}\n💵 Size: {} total, largest {}\n⏰ Time: {} to {}\n"
                       "Binance reports at most one liquidation per symbol per second: the count is a minimum.",
                       a.count, a.symbol, price(a.price), a.side, usd(a.total_usd), usd(a.largest_usd),
                       first.substr(0, 8), utc_time(a.last_ms));
}

}  // namespace vs::liquidations
