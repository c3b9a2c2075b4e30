#include "vs/replay/market.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <numbers>
#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

namespace vs::replay {

namespace {

constexpr std::int64_t hour_ms = 3'600'000;
constexpr std::int64_t day_ms = 24 * hour_ms;
// Binance's deliveryDate for perpetuals (2100-12-25).
constexpr std::int64_t perpetual_delivery_ms = 4'133'404'800'000;

struct known_symbol {
    const char* base;
    double price;
    double daily_musd;  // typical 24 h quote volume in millions of USDT
};

// Real USDⓈ-M listings with plausible late-2026 prices and volumes; the rest of the
// universe is generated. Order matters: `--symbols 20` takes the first ones.
constexpr known_symbol known_symbols[] = {
    {"BTC", 83100, 14000}, {"ETH", 3050, 8000}, {"SOL", 145, 2500}, {"BNB", 610, 600},
    {"XRP", 2.1, 1800}, {"DOGE", 0.17, 1200}, {"ADA", 0.68, 500}, {"TRX", 0.24, 150},
    {"AVAX", 21.5, 350}, {"LINK", 14.2, 400}, {"DOT", 4.1, 180}, {"TON", 3.2, 120},
    {"1000SHIB", 0.0131, 150}, {"LTC", 88, 300}, {"BCH", 420, 250}, {"NEAR", 2.6, 200},
    {"UNI", 7.9, 220}, {"APT", 5.2, 160}, {"ICP", 5.4, 90}, {"ETC", 17.5, 110},
    {"FIL", 2.9, 120}, {"ATOM", 4.4, 80}, {"ARB", 0.38, 160}, {"OP", 0.72, 140},
    {"INJ", 11.8, 130}, {"SUI", 3.3, 900}, {"SEI", 0.21, 110}, {"TIA", 2.4, 100},
    {"STX", 0.66, 40}, {"IMX", 0.52, 35}, {"RENDER", 3.9, 90}, {"HBAR", 0.19, 140},
    {"VET", 0.024, 40}, {"GRT", 0.095, 35}, {"AAVE", 240, 300}, {"ALGO", 0.21, 45},
    {"SAND", 0.27, 40}, {"MANA", 0.28, 25}, {"AXS", 2.4, 30}, {"THETA", 0.8, 20},
    {"EGLD", 14.5, 18}, {"XLM", 0.27, 90}, {"XMR", 310, 60}, {"EOS", 0.55, 30},
    {"FLOW", 0.38, 12}, {"CHZ", 0.041, 35}, {"CRV", 0.62, 110}, {"LDO", 0.92, 70},
    {"SNX", 0.71, 25}, {"RUNE", 1.3, 45}, {"KAVA", 0.41, 10}, {"ZEC", 48, 40},
    {"DASH", 23, 20}, {"NEO", 6.1, 15}, {"QTUM", 2.3, 8}, {"IOTA", 0.18, 9},
    {"ONT", 0.14, 6}, {"ZIL", 0.012, 9}, {"ENJ", 0.07, 8}, {"BAT", 0.14, 6},
    {"COMP", 42, 30}, {"YFI", 5200, 12}, {"SUSHI", 0.64, 25}, {"1INCH", 0.19, 12},
    {"KSM", 15, 7}, {"ZRX", 0.25, 6}, {"BAND", 0.62, 5}, {"STORJ", 0.25, 7},
    {"ANKR", 0.017, 8}, {"CELO", 0.31, 7}, {"RSR", 0.0071, 14}, {"LRC", 0.09, 6},
    {"SKL", 0.021, 5}, {"GALA", 0.015, 45}, {"ENS", 19, 40}, {"DYDX", 0.58, 30},
    {"GMT", 0.047, 14}, {"APE", 0.52, 30}, {"WOO", 0.072, 7}, {"JASMY", 0.014, 25},
    {"CFX", 0.075, 18}, {"FET", 0.66, 120}, {"ID", 0.17, 9}, {"ARKM", 0.48, 20},
    {"WLD", 0.95, 180}, {"PENDLE", 3.6, 50}, {"JUP", 0.46, 60}, {"PYTH", 0.13, 25},
    {"WIF", 0.72, 220}, {"1000BONK", 0.016, 90}, {"1000PEPE", 0.0094, 650},
    {"1000FLOKI", 0.082, 60}, {"ORDI", 8.4, 70}, {"1000SATS", 0.000041, 20}, {"BOME", 0.0016, 30},
    {"ENA", 0.36, 220}, {"ETHFI", 0.89, 40}, {"W", 0.083, 15}, {"TNSR", 0.15, 8},
    {"NOT", 0.0021, 20}, {"IO", 0.71, 12}, {"ZK", 0.058, 25}, {"ZRO", 2.2, 30},
    {"LISTA", 0.22, 6}, {"POPCAT", 0.31, 45}, {"TURBO", 0.0041, 35}, {"NEIRO", 0.00041, 30},
    {"EIGEN", 1.25, 45}, {"HMSTR", 0.0012, 9}, {"CATI", 0.11, 6}, {"PNUT", 0.23, 70},
    {"ACT", 0.051, 30}, {"MOVE", 0.19, 40}, {"ME", 0.92, 15}, {"VIRTUAL", 1.6, 260},
    {"TRUMP", 8.9, 300}, {"BERA", 2.1, 50}, {"IP", 4.1, 40}, {"KAITO", 1.4, 60},
    {"LAYER", 0.78, 25}, {"ONDO", 0.86, 90}, {"AERO", 0.62, 35}, {"HYPE", 38, 500},
    {"S", 0.42, 60}, {"PUMP", 0.0041, 150}, {"ASTER", 1.3, 400}, {"XPL", 0.8, 200},
    {"MORPHO", 1.9, 30}, {"AVNT", 0.9, 60}, {"LINEA", 0.024, 45}, {"WLFI", 0.18, 300},
};

struct special_symbol {
    const char* name;
    const char* base;
    double price;
    double daily_musd;
    bool tradfi;
    int price_precision;
    int quantity_precision;
};

// Rows every realistic universe has in 2026: TradFi perpetuals (pushed in their own
// markPrice frame) and one non-ASCII symbol.
constexpr special_symbol special_symbols[] = {
    {"XAUUSDT", "XAU", 4102.86, 2240, true, 2, 3},
    {"XAGUSDT", "XAG", 59.63, 310, true, 2, 2},
    {"XPTUSDT", "XPT", 1632.48, 12.3, true, 4, 3},
    {"币安人生USDT", "币安人生", 0.4762, 3.43, false, 7, 0},
};

int price_precision_for(double price)
{
    int digits = static_cast<int>(std::floor(std::log10(price))) + 1;
    return std::clamp(7 - digits, 2, 8);
}

int quantity_precision_for(double price)
{
    if (price > 10'000) {
        return 3;
    }
    if (price > 100) {
        return 2;
    }
    if (price > 1) {
        return 1;
    }
    return 0;
}

double round_to(double v, int decimals)
{
    double scale = std::pow(10.0, decimals);
    return std::round(v * scale) / scale;
}

std::int64_t next_funding_after(std::int64_t now_ms, int interval_h)
{
    std::int64_t period = interval_h * hour_ms;
    return (now_ms / period + 1) * period;
}

std::int64_t floor_to(std::int64_t t, std::int64_t unit) { return t - t % unit; }

using out_it = std::back_insert_iterator<std::string>;

// Appends `"key":"<v with decimals>"`.
void put_num(std::string& out, const char* key, double v, int decimals)
{
    fmt::format_to(out_it(out), "\"{}\":\"{:.{}f}\"", key, v, decimals);
}

// A cheap deterministic hash for sub-hour kline shapes.
double hash_unit(std::uint64_t a, std::uint64_t b)
{
    std::uint64_t x = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL);
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29;
    return static_cast<double>(x >> 11) / static_cast<double>(1ULL << 53);
}

}  // namespace

std::string fixed(double v, int decimals) { return fmt::format("{:.{}f}", v, decimals); }

std::string stream_symbol(std::string_view symbol)
{
    std::string s{symbol};
    for (auto& c : s) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return s;
}

market::market(const market_config& cfg, std::int64_t now_ms)
    : rng_(cfg.seed), now_ms_(now_ms), history_hours_(cfg.history_hours)
{
    build_universe(cfg, now_ms);
}

void market::build_universe(const market_config& cfg, std::int64_t now_ms)
{
    std::set<std::string> used;
    auto add = [&](std::string name, std::string base, double price, double daily_usd, bool tradfi,
                   int pp, int qp) -> symbol_state& {
        symbol_state s;
        s.name = name;
        s.lower = stream_symbol(name);
        s.pair = name;
        s.base = std::move(base);
        s.quote = "USDT";
        s.tradfi = tradfi;
        s.price_precision = pp;
        s.quantity_precision = qp;
        s.daily_quote_volume = daily_usd;
        s.mark = price;
        used.insert(name);
        symbols_.push_back(std::move(s));
        return symbols_.back();
    };

    const std::size_t n = std::max<std::size_t>(cfg.symbols, 1);
    const std::size_t n_special = n >= 8 ? std::size(special_symbols) : 0;
    const std::size_t n_known = std::min(n - n_special, std::size(known_symbols));
    for (std::size_t k = 0; k < n_known; ++k) {
        const auto& ks = known_symbols[k];
        add(std::string{ks.base} + "USDT", ks.base, ks.price, ks.daily_musd * 1e6, false,
            price_precision_for(ks.price), quantity_precision_for(ks.price));
    }
    for (std::size_t k = 0; k < n_special; ++k) {
        const auto& sp = special_symbols[k];
        add(sp.name, sp.base, sp.price, sp.daily_musd * 1e6, sp.tradfi, sp.price_precision,
            sp.quantity_precision);
    }
    // Generated listings: pronounceable names, log-uniform prices, log-normal volumes with a
    // median near $4M so that roughly half the universe is "liquid" (the OI job's $4M bar).
    static constexpr std::string_view consonants = "BCDFGHJKLMNPRSTVWXZ";
    static constexpr std::string_view vowels = "AEIOUY";
    while (symbols_.size() < n) {
        std::string base;
        int syllables = 1 + static_cast<int>(uniform() * 3);
        for (int k = 0; k < syllables; ++k) {
            base += consonants[static_cast<std::size_t>(uniform() * consonants.size())];
            base += vowels[static_cast<std::size_t>(uniform() * vowels.size())];
            if (uniform() < 0.3) {
                base += consonants[static_cast<std::size_t>(uniform() * consonants.size())];
            }
        }
        if (base.size() < 3) {
            base += "X";
        }
        double price = std::exp(std::log(0.0005) + uniform() * (std::log(60.0) - std::log(0.0005)));
        if (price < 0.002 && uniform() < 0.5) {
            base = "1000" + base;
            price *= 1000;
        }
        std::string name = base + "USDT";
        if (used.count(name) != 0) {
            continue;
        }
        double daily = std::clamp(4e6 * std::exp(1.4 * normal()), 2e5, 2e9);
        add(name, base, price, daily, false, price_precision_for(price), quantity_precision_for(price));
    }

    // Two COIN-M rows mixed into the streams (not in exchangeInfo, as on the real fapi host).
    auto add_coinm = [&](const char* name, const char* base, const char* pair, double price, double daily,
                         double contract) {
        symbol_state s;
        s.name = name;
        s.lower = stream_symbol(name);
        s.pair = pair;
        s.base = base;
        s.quote = "USD";
        s.st = 2;
        s.price_precision = 1;
        s.quantity_precision = 0;
        s.contract_usd = contract;
        s.daily_quote_volume = daily;
        s.mark = price;
        symbols_.push_back(std::move(s));
    };
    add_coinm("BTCUSD_PERP", "BTC", "BTCUSD", 83050.5, 900e6, 100);
    add_coinm("ETHUSD_PERP", "ETH", "ETHUSD", 3049.2, 400e6, 10);

    // Liquidity rank decides how often a symbol shows up in `!ticker@arr` (30-70 %).
    std::vector<double> volumes;
    for (const auto& s : symbols_) {
        volumes.push_back(s.daily_quote_volume);
    }
    std::sort(volumes.begin(), volumes.end());
    for (std::size_t k = 0; k < symbols_.size(); ++k) {
        auto& s = symbols_[k];
        auto rank = static_cast<double>(std::lower_bound(volumes.begin(), volumes.end(), s.daily_quote_volume) -
                                        volumes.begin());
        double liquidity = rank / static_cast<double>(std::max<std::size_t>(volumes.size() - 1, 1));
        s.change_probability = 0.3 + 0.4 * liquidity;
        s.sigma = (k < 2 ? 0.00012 : 0.0002 + 0.0003 * (1.0 - liquidity));
        if (s.tradfi) {
            s.sigma = 0.00008;
        }
        // Majors and TradFi settle every 8 h; the rest mostly 4 h or 8 h, some 1 h / 2 h.
        if (k < 20 || s.tradfi || s.st == 2) {
            s.funding_interval_h = 8;
        } else {
            double u = uniform();
            s.funding_interval_h = u < 0.55 ? 8 : u < 0.88 ? 4 : u < 0.94 ? 2 : 1;
        }
        double base_rate = 0.0001 * s.funding_interval_h / 8.0;
        s.funding = base_rate + 0.00005 * normal();
        s.next_funding_ms = next_funding_after(now_ms, s.funding_interval_h);
        s.basis = 0.0004 * normal();
        s.index = s.mark * (1.0 - s.basis);
        s.last = s.mark;
        s.open_interest = s.daily_quote_volume * (0.3 + 0.9 * uniform()) / s.mark;
        if (s.st == 2) {
            s.open_interest = s.daily_quote_volume * 0.5 / s.contract_usd;  // contracts
        }
        s.next_trade_id = static_cast<std::int64_t>(1e7 + uniform() * 5e9);
        s.next_agg_id = s.next_trade_id / 3;
        build_history(s, history_hours_, now_ms);
        by_name_.emplace(s.name, k);
        by_lower_.emplace(s.lower, k);
    }
}

void market::build_history(symbol_state& s, std::size_t hours, std::int64_t now_ms)
{
    const std::int64_t hour_start = floor_to(now_ms, hour_ms);
    const double hourly_sigma = s.sigma * 60.0;  // sqrt(3600 s)
    // Walk backwards from today's price: closes[k] is the close of the k-th hour ago.
    std::vector<candle> past(hours);
    double price = s.mark * std::exp(-hourly_sigma * normal() * std::sqrt(
                                          static_cast<double>(now_ms - hour_start) / static_cast<double>(hour_ms)));
    const double current_open = price;
    for (std::size_t k = 0; k < hours; ++k) {
        candle& c = past[hours - 1 - k];
        c.open_ms = hour_start - static_cast<std::int64_t>(k + 1) * hour_ms;
        c.close = price;
        price = price * std::exp(-hourly_sigma * normal());
        c.open = price;
        c.high = std::max(c.open, c.close) * (1.0 + std::abs(normal()) * hourly_sigma * 0.5);
        c.low = std::min(c.open, c.close) * (1.0 - std::abs(normal()) * hourly_sigma * 0.5);
        // Diurnal shape (busier in the US/EU overlap) and log-normal noise, sigma 0.25: a
        // 3x hour-over-hour jump happens rarely on its own.
        double hour_of_day = static_cast<double>((c.open_ms / hour_ms) % 24);
        double diurnal = 1.0 + 0.3 * std::sin((hour_of_day - 9.0) / 24.0 * 2.0 * std::numbers::pi);
        double quote = s.daily_quote_volume / 24.0 * diurnal * std::exp(0.25 * normal() - 0.03);
        double mid = (c.open + c.close) / 2.0;
        if (s.st == 2) {
            c.volume = std::round(quote / s.contract_usd);
            c.quote_volume = quote / mid;
        } else {
            c.volume = quote / mid;
            c.quote_volume = quote;
        }
        c.taker_volume = c.volume * (0.45 + 0.1 * uniform());
        c.taker_quote_volume = c.quote_volume * c.taker_volume / std::max(c.volume, 1e-12);
        c.trades = std::max<std::int64_t>(1, static_cast<std::int64_t>(quote / (400.0 + 1600.0 * uniform())));
    }
    std::int64_t id = s.next_trade_id;
    for (auto& c : past) {
        c.first_trade_id = id;
        id += c.trades;
        c.last_trade_id = id - 1;
    }
    s.hours.assign(past.begin(), past.end());
    s.current = candle{};
    s.current.open_ms = hour_start;
    s.current.open = s.current.high = s.current.low = s.current.close = current_open;
    s.current.first_trade_id = id;
    s.current.last_trade_id = id - 1;
    s.next_trade_id = id;
    s.mark = current_open;
    s.last = current_open;
    s.index = s.mark * (1.0 - s.basis);
    // The open hour so far.
    double elapsed_s = static_cast<double>(now_ms - hour_start) / 1000.0;
    now_ms_ = now_ms;
    for (double t = 0; t < elapsed_s; t += 60.0) {
        accrue(s, std::min(60.0, elapsed_s - t), now_ms);
    }
    s.current.high = std::max(s.current.high, s.mark);
    s.current.low = std::min(s.current.low, s.mark);
    s.current.close = s.mark;
}

void market::accrue(symbol_state& s, double dt_s, std::int64_t /*now_ms*/)
{
    double quote_usd = s.daily_quote_volume / 86400.0 * dt_s * std::exp(0.5 * normal() - 0.125) * s.volume_factor;
    double price = s.last > 0 ? s.last : s.mark;
    candle& c = s.current;
    double base = quote_usd / price;
    if (s.st == 2) {
        double contracts = quote_usd / s.contract_usd;
        c.volume += contracts;
        c.quote_volume += base;
        c.taker_volume += contracts * (0.45 + 0.1 * uniform());
        c.taker_quote_volume += base * 0.5;
    } else {
        c.volume += base;
        c.quote_volume += quote_usd;
        double taker = 0.45 + 0.1 * uniform();
        c.taker_volume += base * taker;
        c.taker_quote_volume += quote_usd * taker;
    }
    auto trades = static_cast<std::int64_t>(quote_usd / 900.0 + uniform());
    c.trades += trades;
    s.next_trade_id += trades;
    c.last_trade_id = s.next_trade_id - 1;
    s.last_qty = round_to(std::max(std::pow(10.0, -s.quantity_precision), 300.0 * std::exp(normal()) / price),
                          s.quantity_precision);
}

void market::step(std::int64_t now_ms)
{
    if (now_ms <= now_ms_) {
        return;
    }
    // A long pause (suspended process) is not simulated second by second.
    double dt = std::min(static_cast<double>(now_ms - now_ms_) / 1000.0, 60.0);
    const std::int64_t hour_start = floor_to(now_ms, hour_ms);
    for (auto& s : symbols_) {
        s.just_closed.reset();
        if (s.current.open_ms < hour_start) {
            s.just_closed = s.current;
            s.hours.push_back(s.current);
            while (s.hours.size() > history_hours_) {
                s.hours.pop_front();
            }
            candle next;
            next.open_ms = hour_start;
            next.open = next.high = next.low = next.close = s.last;
            next.first_trade_id = s.next_trade_id;
            next.last_trade_id = s.next_trade_id - 1;
            s.current = next;
            s.volume_factor = 1.0;
        }
        if (!s.price_pinned) {
            s.mark *= std::exp(s.sigma * std::sqrt(dt) * normal());
            s.basis = s.basis * 0.97 + 0.00008 * normal();
            s.index = s.mark * (1.0 - s.basis);
            s.last = round_to(s.mark * (1.0 + 0.0001 * normal()), s.price_precision);
        }
        if (!s.funding_pinned) {
            double base_rate = 0.0001 * s.funding_interval_h / 8.0;
            s.funding += (base_rate - s.funding) * 0.002 * dt + 0.000002 * std::sqrt(dt) * normal();
            s.funding = std::clamp(s.funding, -0.003, 0.003);
        }
        if (now_ms >= s.next_funding_ms) {
            s.next_funding_ms = next_funding_after(now_ms, s.funding_interval_h);
        }
        if (s.oi_ramping) {
            double span = static_cast<double>(std::max<std::int64_t>(s.ramp_end_ms - s.ramp_start_ms, 1));
            double t = std::clamp(static_cast<double>(now_ms - s.ramp_start_ms) / span, 0.0, 1.0);
            s.open_interest = s.ramp_from + (s.ramp_to - s.ramp_from) * t;
            if (t >= 1.0) {
                s.oi_ramping = false;
                s.oi_pinned = true;
            }
        } else if (!s.oi_pinned) {
            s.open_interest *= std::exp(0.00015 * std::sqrt(dt) * normal());
        }
        if (const std::int64_t b = floor_to(now_ms, 300'000); s.oi_5m.empty() || s.oi_5m.back().first < b) {
            s.oi_5m.emplace_back(b, s.open_interest);
            while (s.oi_5m.size() > 30 * 288) {
                s.oi_5m.pop_front();
            }
        }
        accrue(s, dt, now_ms);
        s.current.close = s.last;
        s.current.high = std::max(s.current.high, s.last);
        s.current.low = std::min(s.current.low, s.last);
    }
    now_ms_ = now_ms;
}

void market::append_mark_row(std::string& out, symbol_state& s, std::int64_t e, bool record) const
{
    double mark = s.price_pinned ? s.mark : round_to(s.mark, s.price_precision);
    std::string p = s.bad_mark.empty() ? fixed(mark, 8) : s.bad_mark;
    std::string i = fixed(s.index, 8);
    std::string r = fixed(s.funding, 8);
    double settle = s.index * (1.0 + 0.5 * s.basis);
    fmt::format_to(out_it(out),
                   "{{\"e\":\"markPriceUpdate\",\"E\":{},\"s\":\"{}\",\"p\":\"{}\",\"ap\":\"{}\","
                   "\"P\":\"{:.8f}\",\"i\":\"{}\",\"r\":\"{}\",\"T\":{},\"st\":{}}}",
                   e, s.name, p, p, settle, i, r, s.next_funding_ms, s.st);
    if (record) {
        s.pushed.mark = std::move(p);
        s.pushed.index = std::move(i);
        s.pushed.funding = std::move(r);
        s.pushed.next_funding_ms = s.next_funding_ms;
        s.pushed.push_ms = e;
    }
}

std::vector<std::string> market::mark_price_frames(std::int64_t now_ms)
{
    std::vector<std::string> frames(2);
    frames[0].reserve(symbols_.size() * 200);
    frames[0] += '[';
    frames[1] += '[';
    // TradFi rows carry their own event time, a few ms off, as in the captures.
    const std::int64_t tradfi_e = now_ms - 316;
    for (auto& s : symbols_) {
        std::string& out = s.tradfi ? frames[1] : frames[0];
        if (out.size() > 1) {
            out += ',';
        }
        append_mark_row(out, s, s.tradfi ? tradfi_e : now_ms, true);
    }
    frames[0] += ']';
    frames[1] += ']';
    if (frames[1].size() <= 2) {
        frames.pop_back();
    }
    return frames;
}

std::string market::mark_price_payload(std::size_t k, std::int64_t now_ms)
{
    std::string out;
    append_mark_row(out, symbols_[k], now_ms, false);
    return out;
}

candle market::stats_24h(std::size_t idx, std::int64_t now_ms) const
{
    const auto& s = symbols_[idx];
    const std::int64_t from = now_ms - day_ms;
    candle out = s.current;
    out.open = s.current.open;
    out.first_trade_id = s.current.first_trade_id;
    for (auto it = s.hours.rbegin(); it != s.hours.rend(); ++it) {
        const candle& c = *it;
        if (c.open_ms + hour_ms <= from) {
            break;
        }
        double frac = 1.0;
        if (c.open_ms < from) {
            frac = static_cast<double>(c.open_ms + hour_ms - from) / static_cast<double>(hour_ms);
        }
        out.volume += c.volume * frac;
        out.quote_volume += c.quote_volume * frac;
        out.taker_volume += c.taker_volume * frac;
        out.taker_quote_volume += c.taker_quote_volume * frac;
        out.trades += static_cast<std::int64_t>(static_cast<double>(c.trades) * frac);
        out.high = std::max(out.high, c.high);
        out.low = std::min(out.low, c.low);
        out.open = c.open;
        out.first_trade_id = c.last_trade_id - static_cast<std::int64_t>(static_cast<double>(c.trades) * frac) + 1;
    }
    out.close = s.last;
    out.last_trade_id = s.current.last_trade_id;
    if (s.pinned_quote_volume_24h >= 0) {
        out.quote_volume = s.pinned_quote_volume_24h;
        out.volume = s.last > 0 ? s.pinned_quote_volume_24h / s.last : out.volume;
    }
    return out;
}

void market::set_quote_volume_24h(std::size_t k, double quote_volume)
{
    auto& s = symbols_[k];
    s.pinned_quote_volume_24h = quote_volume;
    s.pushed.quote_volume.clear();
    s.ticker_dirty = true;
}

std::string market::open_interest_hist(std::size_t k, std::int64_t period_ms, std::optional<std::int64_t> start_ms,
                                       std::optional<std::int64_t> end_ms, int limit, std::int64_t now_ms) const
{
    const auto& s = symbols_[k];
    const std::int64_t last = floor_to(std::min(end_ms.value_or(now_ms), now_ms), period_ms);
    std::int64_t first = last - static_cast<std::int64_t>(limit - 1) * period_ms;
    if (start_ms) {
        first = std::max(first, floor_to(*start_ms + period_ms - 1, period_ms));
    }
    first = std::max(first, floor_to(now_ms - 30 * day_ms, period_ms));
    std::string out = "[";
    for (std::int64_t t = first; t <= last; t += period_ms) {
        // The value at t: the newest 5-minute point at or before t (the first one before the run).
        double oi = s.open_interest;
        if (!s.oi_5m.empty()) {
            oi = s.oi_5m.front().second;
            auto it = std::upper_bound(s.oi_5m.begin(), s.oi_5m.end(), t,
                                       [](std::int64_t v, const auto& p) { return v < p.first; });
            if (it != s.oi_5m.begin()) {
                oi = std::prev(it)->second;
            }
        }
        if (out.size() > 1) {
            out += ',';
        }
        fmt::format_to(out_it(out),
                       "{{\"symbol\":\"{}\",\"sumOpenInterest\":\"{:.8f}\",\"sumOpenInterestValue\":\"{:.8f}\","
                       "\"timestamp\":{}}}",
                       s.name, oi, oi * s.mark, t);
    }
    out += ']';
    return out;
}

void market::append_ticker_row(std::string& out, std::size_t k, std::int64_t now_ms, bool record)
{
    auto& s = symbols_[k];
    candle d = stats_24h(k, now_ms);
    const int pp = s.price_precision;
    const int qp = s.quantity_precision;
    double change = d.close - d.open;
    double pct = d.open > 0 ? change / d.open * 100.0 : 0.0;
    double wavg = s.st == 2 ? (d.quote_volume > 0 ? d.volume * s.contract_usd / d.quote_volume : d.close)
                            : (d.volume > 0 ? d.quote_volume / d.volume : d.close);
    std::string q = fixed(d.quote_volume, s.st == 2 ? 8 : pp);
    fmt::format_to(out_it(out), "{{\"e\":\"24hrTicker\",\"E\":{},\"s\":\"{}\",\"ps\":\"{}\",", now_ms, s.name,
                   s.pair);
    put_num(out, "p", change, pp);
    out += ',';
    put_num(out, "P", pct, 3);
    out += ',';
    put_num(out, "w", wavg, pp);
    out += ',';
    put_num(out, "c", d.close, pp);
    out += ',';
    put_num(out, "Q", s.st == 2 ? std::max(1.0, std::round(s.last_qty * s.last / s.contract_usd)) : s.last_qty, qp);
    out += ',';
    put_num(out, "o", d.open, pp);
    out += ',';
    put_num(out, "h", d.high, pp);
    out += ',';
    put_num(out, "l", d.low, pp);
    out += ',';
    put_num(out, "v", d.volume, qp);
    fmt::format_to(out_it(out), ",\"q\":\"{}\",\"O\":{},\"C\":{},\"F\":{},\"L\":{},\"n\":{},\"st\":{}}}", q,
                   floor_to(now_ms - day_ms, 60'000), now_ms, d.first_trade_id, d.last_trade_id,
                   d.last_trade_id - d.first_trade_id + 1, s.st);
    if (record) {
        s.pushed.quote_volume = std::move(q);
    }
}

std::string market::ticker_frame(std::int64_t now_ms)
{
    std::string out;
    out.reserve(symbols_.size() * 180);
    out += '[';
    for (std::size_t k = 0; k < symbols_.size(); ++k) {
        auto& s = symbols_[k];
        if (!s.ticker_dirty && uniform() >= s.change_probability) {
            continue;
        }
        s.ticker_dirty = false;
        if (out.size() > 1) {
            out += ',';
        }
        append_ticker_row(out, k, now_ms, true);
    }
    out += ']';
    if (out.size() <= 2) {
        return {};
    }
    return out;
}

std::string market::ticker_payload(std::size_t k, std::int64_t now_ms)
{
    std::string out;
    append_ticker_row(out, k, now_ms, false);
    return out;
}

std::optional<std::string> market::maybe_force_order(std::int64_t now_ms, double dt_s)
{
    // About three liquidations a minute across the market, biased towards the majors.
    if (uniform() >= 0.05 * dt_s) {
        return std::nullopt;
    }
    const std::size_t n = usdm_count();
    auto k = std::min(n - 1, static_cast<std::size_t>(std::pow(uniform(), 3.0) * static_cast<double>(n)));
    const auto& s = symbols_[k];
    double usd = 1000.0 * std::exp(2.2 * std::abs(normal()));
    bool sell = uniform() < 0.5;  // SELL: a long was liquidated
    double step = std::pow(10.0, -s.quantity_precision);
    double qty = std::max(step, round_to(usd / s.mark, s.quantity_precision));
    return force_order(k, now_ms, sell, qty, std::nullopt);
}

std::string market::force_order(std::size_t k, std::int64_t now_ms, bool sell, double qty,
                                 std::optional<double> avg_price, std::optional<double> filled) const
{
    const auto& s = symbols_[k];
    double avg = avg_price.value_or(round_to(s.mark * (sell ? 0.999 : 1.001), s.price_precision));
    double price = round_to(avg * (sell ? 0.995 : 1.005), s.price_precision);
    std::string q = fixed(qty, s.quantity_precision);
    std::string z = fixed(filled.value_or(qty), s.quantity_precision);
    return fmt::format(
        "{{\"e\":\"forceOrder\",\"E\":{},\"o\":{{\"s\":\"{}\",\"S\":\"{}\",\"o\":\"LIMIT\",\"f\":\"IOC\","
        "\"q\":\"{}\",\"p\":\"{:.{}f}\",\"ap\":\"{:.{}f}\",\"X\":\"FILLED\",\"l\":\"{}\",\"z\":\"{}\",\"T\":{},"
        "\"ps\":\"{}\",\"st\":{}}}}}",
        now_ms, s.name, sell ? "SELL" : "BUY", q, price, s.price_precision, avg, s.price_precision, z, z,
        now_ms - 7, s.pair, s.st);
}

std::optional<std::string> market::agg_trade(std::size_t k, std::int64_t now_ms)
{
    auto& s = symbols_[k];
    if (uniform() >= 0.3 + s.change_probability) {
        return std::nullopt;
    }
    // Mostly small prints, now and then a whale (TELEGLAS alerts on those).
    double usd = 150.0 * std::exp(1.8 * std::abs(normal()));
    if (uniform() < 0.01) {
        usd = 500'000 + uniform() * 2'000'000;
    }
    double step = std::pow(10.0, -s.quantity_precision);
    double qty = s.st == 2 ? std::max(1.0, std::round(usd / s.contract_usd))
                           : std::max(step, round_to(usd / s.last, s.quantity_precision));
    return trade(k, now_ms, qty, std::nullopt, uniform() < 0.5);
}

std::string market::trade(std::size_t k, std::int64_t now_ms, double qty, std::optional<double> price,
                          bool buyer_maker)
{
    auto& s = symbols_[k];
    auto trades = 1 + static_cast<std::int64_t>(uniform() * 3);
    std::int64_t first = s.next_trade_id;
    s.next_trade_id += trades;
    s.current.trades += trades;
    s.current.last_trade_id = s.next_trade_id - 1;
    std::string q = fixed(qty, s.quantity_precision);
    return fmt::format(
        "{{\"e\":\"aggTrade\",\"E\":{},\"a\":{},\"s\":\"{}\",\"p\":\"{:.{}f}\",\"q\":\"{}\",\"nq\":\"{}\","
        "\"f\":{},\"l\":{},\"T\":{},\"m\":{},\"st\":{}}}",
        now_ms, s.next_agg_id++, s.name, price.value_or(s.last), s.price_precision, q, q, first, first + trades - 1,
        now_ms - 150, buyer_maker ? "true" : "false", s.st);
}

std::string market::kline_1h(std::size_t k, std::int64_t now_ms, const candle* closed) const
{
    const auto& s = symbols_[k];
    const candle& c = closed != nullptr ? *closed : s.current;
    const int pp = s.price_precision;
    const int qp = s.quantity_precision;
    const int qvp = s.st == 2 ? 8 : 5;
    return fmt::format(
        "{{\"e\":\"kline\",\"E\":{},\"s\":\"{}\",\"k\":{{\"t\":{},\"T\":{},\"s\":\"{}\",\"i\":\"1h\",\"f\":{},"
        "\"L\":{},\"o\":\"{:.{}f}\",\"c\":\"{:.{}f}\",\"h\":\"{:.{}f}\",\"l\":\"{:.{}f}\",\"v\":\"{:.{}f}\","
        "\"n\":{},\"x\":{},\"q\":\"{:.{}f}\",\"V\":\"{:.{}f}\",\"Q\":\"{:.{}f}\",\"B\":\"0\"}}}}",
        now_ms, s.name, c.open_ms, c.open_ms + hour_ms - 1, s.name, c.first_trade_id, c.last_trade_id, c.open, pp,
        c.close, pp, c.high, pp, c.low, pp, c.volume, qp, c.trades, closed != nullptr ? "true" : "false",
        c.quote_volume, qvp, c.taker_volume, qp, c.taker_quote_volume, qvp);
}

std::size_t market::usdm_count() const noexcept
{
    return static_cast<std::size_t>(
        std::count_if(symbols_.begin(), symbols_.end(), [](const symbol_state& s) { return s.st == 1; }));
}

std::optional<std::size_t> market::find(std::string_view name) const
{
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? std::nullopt : std::optional<std::size_t>(it->second);
}

std::optional<std::size_t> market::find_stream_symbol(std::string_view lower) const
{
    auto it = by_lower_.find(std::string(lower));
    return it == by_lower_.end() ? std::nullopt : std::optional<std::size_t>(it->second);
}

// ---------------------------------------------------------------------------------------------
// REST bodies

std::string market::exchange_info(std::int64_t now_ms) const
{
    std::string out;
    out.reserve(symbols_.size() * 1400);
    fmt::format_to(out_it(out),
                   "{{\"timezone\":\"UTC\",\"serverTime\":{},\"futuresType\":\"U_MARGINED\",\"rateLimits\":["
                   "{{\"rateLimitType\":\"REQUEST_WEIGHT\",\"interval\":\"MINUTE\",\"intervalNum\":1,\"limit\":2400}},"
                   "{{\"rateLimitType\":\"ORDERS\",\"interval\":\"MINUTE\",\"intervalNum\":1,\"limit\":1200}},"
                   "{{\"rateLimitType\":\"ORDERS\",\"interval\":\"SECOND\",\"intervalNum\":10,\"limit\":300}}],"
                   "\"exchangeFilters\":[],\"assets\":[{{\"asset\":\"USDT\",\"marginAvailable\":true,"
                   "\"autoAssetExchange\":\"-10000\"}},{{\"asset\":\"BTC\",\"marginAvailable\":true,"
                   "\"autoAssetExchange\":\"-0.10000000\"}}],\"symbols\":[",
                   now_ms);
    bool first = true;
    for (const auto& s : symbols_) {
        if (s.st != 1 || s.exchange_status.empty()) {
            continue;
        }
        if (!first) {
            out += ',';
        }
        first = false;
        const int pp = s.price_precision;
        const int qp = s.quantity_precision;
        fmt::format_to(
            out_it(out),
            "{{\"symbol\":\"{}\",\"pair\":\"{}\",\"contractType\":\"{}\",\"deliveryDate\":{},"
            "\"onboardDate\":1569398400000,\"status\":\"{}\",\"maintMarginPercent\":\"2.5000\","
            "\"requiredMarginPercent\":\"5.0000\",\"baseAsset\":\"{}\",\"quoteAsset\":\"USDT\","
            "\"marginAsset\":\"USDT\",\"pricePrecision\":{},\"quantityPrecision\":{},\"baseAssetPrecision\":8,"
            "\"quotePrecision\":8,\"underlyingType\":\"{}\",\"underlyingSubType\":[],\"triggerProtect\":\"0.0500\","
            "\"liquidationFee\":\"0.012500\",\"marketTakeBound\":\"0.05\",\"maxMoveOrderLimit\":10000,\"filters\":["
            "{{\"maxPrice\":\"{:.{}f}\",\"tickSize\":\"{:.{}f}\",\"filterType\":\"PRICE_FILTER\",\"minPrice\":\"{:.{}f}\"}},"
            "{{\"stepSize\":\"{:.{}f}\",\"minQty\":\"{:.{}f}\",\"maxQty\":\"1000000\",\"filterType\":\"LOT_SIZE\"}},"
            "{{\"minQty\":\"{:.{}f}\",\"maxQty\":\"100000\",\"filterType\":\"MARKET_LOT_SIZE\",\"stepSize\":\"{:.{}f}\"}},"
            "{{\"filterType\":\"MAX_NUM_ORDERS\",\"limit\":200}},{{\"notional\":\"5\",\"filterType\":\"MIN_NOTIONAL\"}},"
            "{{\"multiplierDown\":\"0.9500\",\"multiplierUp\":\"1.0500\",\"multiplierDecimal\":\"4\","
            "\"filterType\":\"PERCENT_PRICE\"}}],\"orderTypes\":[\"LIMIT\",\"MARKET\",\"STOP\",\"STOP_MARKET\","
            "\"TAKE_PROFIT\",\"TAKE_PROFIT_MARKET\",\"TRAILING_STOP_MARKET\"],\"timeInForce\":[\"GTC\",\"IOC\","
            "\"FOK\",\"GTX\",\"GTD\"]}}",
            s.name, s.pair, s.tradfi ? "TRADIFI_PERPETUAL" : "PERPETUAL", perpetual_delivery_ms, s.exchange_status,
            s.base, pp, qp,
            s.tradfi ? "COMMODITY" : "COIN", s.mark * 50, pp, std::pow(10.0, -pp), pp, s.mark / 50, pp,
            std::pow(10.0, -qp), qp, std::pow(10.0, -qp), qp, std::pow(10.0, -qp), qp, std::pow(10.0, -qp), qp);
    }
    out += "]}";
    return out;
}

std::string market::premium_index(std::optional<std::size_t> idx, std::int64_t now_ms) const
{
    std::string out;
    auto row = [&](const symbol_state& s) {
        double mark = s.price_pinned ? s.mark : round_to(s.mark, s.price_precision);
        fmt::format_to(out_it(out),
                       "{{\"symbol\":\"{}\",\"markPrice\":\"{:.8f}\",\"indexPrice\":\"{:.8f}\","
                       "\"estimatedSettlePrice\":\"{:.8f}\",\"lastFundingRate\":\"{:.8f}\",\"interestRate\":\"{}\","
                       "\"nextFundingTime\":{},\"time\":{}}}",
                       s.name, mark, s.index, s.index * (1.0 + 0.5 * s.basis), s.funding,
                       s.tradfi ? "0.00000000" : "0.00010000", s.next_funding_ms, now_ms);
    };
    if (idx) {
        row(symbols_[*idx]);
        return out;
    }
    out += '[';
    for (const auto& s : symbols_) {
        if (s.st != 1) {
            continue;
        }
        if (out.size() > 1) {
            out += ',';
        }
        row(s);
    }
    out += ']';
    return out;
}

std::string market::ticker_24hr(std::optional<std::size_t> idx, std::int64_t now_ms) const
{
    std::string out;
    auto row = [&](std::size_t k) {
        const auto& s = symbols_[k];
        candle d = stats_24h(k, now_ms);
        const int pp = s.price_precision;
        const int qp = s.quantity_precision;
        double change = d.close - d.open;
        fmt::format_to(out_it(out),
                       "{{\"symbol\":\"{}\",\"priceChange\":\"{:.{}f}\",\"priceChangePercent\":\"{:.3f}\","
                       "\"weightedAvgPrice\":\"{:.{}f}\",\"lastPrice\":\"{:.{}f}\",\"lastQty\":\"{:.{}f}\","
                       "\"openPrice\":\"{:.{}f}\",\"highPrice\":\"{:.{}f}\",\"lowPrice\":\"{:.{}f}\","
                       "\"volume\":\"{:.{}f}\",\"quoteVolume\":\"{:.{}f}\",\"openTime\":{},\"closeTime\":{},"
                       "\"firstId\":{},\"lastId\":{},\"count\":{}}}",
                       s.name, change, pp, d.open > 0 ? change / d.open * 100.0 : 0.0,
                       d.volume > 0 ? d.quote_volume / d.volume : d.close, pp, d.close, pp, s.last_qty, qp, d.open,
                       pp, d.high, pp, d.low, pp, d.volume, qp, d.quote_volume, pp,
                       floor_to(now_ms - day_ms, 60'000), now_ms, d.first_trade_id, d.last_trade_id,
                       d.last_trade_id - d.first_trade_id + 1);
    };
    if (idx) {
        row(*idx);
        return out;
    }
    out += '[';
    for (std::size_t k = 0; k < symbols_.size(); ++k) {
        if (symbols_[k].st != 1) {
            continue;
        }
        if (out.size() > 1) {
            out += ',';
        }
        row(k);
    }
    out += ']';
    return out;
}

std::string market::ticker_price(std::optional<std::size_t> idx, std::int64_t now_ms) const
{
    std::string out;
    auto row = [&](const symbol_state& s) {
        fmt::format_to(out_it(out), "{{\"symbol\":\"{}\",\"price\":\"{:.{}f}\",\"time\":{}}}", s.name, s.last,
                       s.price_precision, now_ms);
    };
    if (idx) {
        row(symbols_[*idx]);
        return out;
    }
    out += '[';
    for (const auto& s : symbols_) {
        if (s.st != 1) {
            continue;
        }
        if (out.size() > 1) {
            out += ',';
        }
        row(s);
    }
    out += ']';
    return out;
}

std::string market::open_interest(std::size_t k, std::int64_t now_ms) const
{
    const auto& s = symbols_[k];
    return fmt::format("{{\"symbol\":\"{}\",\"openInterest\":\"{:.{}f}\",\"time\":{}}}", s.name, s.open_interest,
                       s.quantity_precision, now_ms);
}

std::string market::klines(std::size_t k, std::int64_t interval_ms, std::optional<std::int64_t> start_ms,
                           std::optional<std::int64_t> end_ms, int limit, std::int64_t now_ms) const
{
    const auto& s = symbols_[k];
    std::vector<candle> hourly(s.hours.begin(), s.hours.end());
    hourly.push_back(s.current);
    std::vector<candle> rows;
    if (interval_ms >= hour_ms) {
        // Aggregate whole hours into buckets aligned on the epoch (2h, 4h, ..., 1d).
        for (const auto& c : hourly) {
            std::int64_t bucket = floor_to(c.open_ms, interval_ms);
            if (rows.empty() || rows.back().open_ms != bucket) {
                candle b = c;
                b.open_ms = bucket;
                rows.push_back(b);
                continue;
            }
            candle& b = rows.back();
            b.high = std::max(b.high, c.high);
            b.low = std::min(b.low, c.low);
            b.close = c.close;
            b.volume += c.volume;
            b.quote_volume += c.quote_volume;
            b.taker_volume += c.taker_volume;
            b.taker_quote_volume += c.taker_quote_volume;
            b.trades += c.trades;
            b.last_trade_id = c.last_trade_id;
        }
    } else {
        // Split each hour into equal parts with a deterministic shape; the open hour only up
        // to now.
        const std::int64_t parts = hour_ms / interval_ms;
        for (const auto& c : hourly) {
            double prev = c.open;
            for (std::int64_t j = 0; j < parts; ++j) {
                std::int64_t t = c.open_ms + j * interval_ms;
                if (t > now_ms) {
                    break;
                }
                auto h = static_cast<std::uint64_t>(t / interval_ms);
                double share = 1.0 / static_cast<double>(parts);
                double frac = static_cast<double>(j + 1) / static_cast<double>(parts);
                candle p;
                p.open_ms = t;
                p.open = prev;
                p.close = j + 1 == parts ? c.close
                                         : c.open + (c.close - c.open) * frac +
                                               (hash_unit(k, h) - 0.5) * (c.high - c.low) * 0.3;
                p.close = std::clamp(p.close, c.low, c.high);
                p.high = std::min(c.high, std::max(p.open, p.close) * (1.0 + 0.0005 * hash_unit(h, k)));
                p.low = std::max(c.low, std::min(p.open, p.close) * (1.0 - 0.0005 * hash_unit(h, k + 1)));
                p.volume = c.volume * share;
                p.quote_volume = c.quote_volume * share;
                p.taker_volume = c.taker_volume * share;
                p.taker_quote_volume = c.taker_quote_volume * share;
                p.trades = c.trades / parts;
                prev = p.close;
                rows.push_back(p);
            }
        }
    }
    std::vector<const candle*> picked;
    for (const auto& r : rows) {
        if (start_ms && r.open_ms + interval_ms - 1 < *start_ms) {
            continue;
        }
        if (end_ms && r.open_ms > *end_ms) {
            continue;
        }
        picked.push_back(&r);
    }
    auto n = std::min<std::size_t>(picked.size(), static_cast<std::size_t>(std::max(limit, 0)));
    std::size_t from = start_ms ? 0 : picked.size() - n;
    const int pp = s.price_precision;
    const int qp = s.quantity_precision;
    const int qvp = s.st == 2 ? 8 : 5;
    std::string out = "[";
    for (std::size_t j = from; j < from + n; ++j) {
        const candle& c = *picked[j];
        if (out.size() > 1) {
            out += ',';
        }
        fmt::format_to(out_it(out),
                       "[{},\"{:.{}f}\",\"{:.{}f}\",\"{:.{}f}\",\"{:.{}f}\",\"{:.{}f}\",{},\"{:.{}f}\",{},"
                       "\"{:.{}f}\",\"{:.{}f}\",\"0\"]",
                       c.open_ms, c.open, pp, c.high, pp, c.low, pp, c.close, pp, c.volume, qp,
                       c.open_ms + interval_ms - 1, c.quote_volume, qvp, c.trades, c.taker_volume, qp,
                       c.taker_quote_volume, qvp);
    }
    out += ']';
    return out;
}

// ---------------------------------------------------------------------------------------------
// control

void market::set_price(std::size_t k, double price)
{
    auto& s = symbols_[k];
    s.mark = price;
    s.index = price;
    s.basis = 0;
    s.last = price;
    s.price_pinned = true;
    s.ticker_dirty = true;
    s.current.close = price;
    s.current.high = std::max(s.current.high, price);
    s.current.low = std::min(s.current.low, price);
}

void market::set_exchange_status(std::size_t k, std::string status) { symbols_[k].exchange_status = std::move(status); }

void market::set_bad_mark(std::size_t k, std::string text) { symbols_[k].bad_mark = std::move(text); }

void market::set_funding(std::size_t k, double rate)
{
    symbols_[k].funding = rate;
    symbols_[k].funding_pinned = true;
}

void market::set_open_interest(std::size_t k, double oi)
{
    auto& s = symbols_[k];
    s.open_interest = oi;
    s.oi_pinned = true;
    s.oi_ramping = false;
}

void market::ramp_open_interest(std::size_t k, double pct, double seconds, std::int64_t now_ms)
{
    auto& s = symbols_[k];
    s.ramp_from = s.open_interest;
    s.ramp_to = s.open_interest * (1.0 + pct / 100.0);
    s.ramp_start_ms = now_ms;
    s.ramp_end_ms = now_ms + static_cast<std::int64_t>(seconds * 1000.0);
    s.oi_ramping = true;
    if (seconds <= 0) {
        s.open_interest = s.ramp_to;
        s.oi_ramping = false;
        s.oi_pinned = true;
    }
}

void market::scale_hour_volume(std::size_t k, double factor)
{
    auto& s = symbols_[k];
    candle& c = s.current;
    const candle* prev = s.hours.empty() ? nullptr : &s.hours.back();
    double ref_volume = prev != nullptr ? prev->volume : c.volume;
    double ref_quote = prev != nullptr ? prev->quote_volume : c.quote_volume;
    double ref_taker = prev != nullptr ? prev->taker_volume : c.taker_volume;
    double ref_taker_quote = prev != nullptr ? prev->taker_quote_volume : c.taker_quote_volume;
    std::int64_t ref_trades = prev != nullptr ? prev->trades : c.trades;
    // Never lower what was traded already.
    c.volume = std::max(c.volume, ref_volume * factor);
    c.quote_volume = std::max(c.quote_volume, ref_quote * factor);
    c.taker_volume = std::max(c.taker_volume, ref_taker * factor);
    c.taker_quote_volume = std::max(c.taker_quote_volume, ref_taker_quote * factor);
    auto trades = std::max(c.trades, static_cast<std::int64_t>(static_cast<double>(ref_trades) * factor));
    s.next_trade_id += trades - c.trades;
    c.trades = trades;
    c.last_trade_id = s.next_trade_id - 1;
    s.volume_factor = std::max(factor, 0.0);
    s.ticker_dirty = true;
}

std::size_t market::apply_recorded(std::string_view stream, std::string_view data)
{
    const bool mark = stream.rfind("!markPrice@arr", 0) == 0;
    const bool ticker = stream == "!ticker@arr";
    if (!mark && !ticker) {
        return 0;
    }
    boost::json::error_code ec;
    auto v = boost::json::parse(data, ec);
    if (ec || !v.is_array()) {
        return 0;
    }
    auto text = [](const boost::json::object& o, const char* key) -> std::optional<std::string> {
        const auto* f = o.if_contains(key);
        if (f == nullptr || !f->is_string()) {
            return std::nullopt;
        }
        return std::string(f->get_string());
    };
    auto number = [](const std::string& t) -> std::optional<double> {
        char* end = nullptr;
        double x = std::strtod(t.c_str(), &end);
        if (end == t.c_str() || *end != '\0' || !std::isfinite(x)) {
            return std::nullopt;
        }
        return x;
    };
    std::size_t matched = 0;
    for (const auto& row : v.get_array()) {
        const auto* o = row.if_object();
        if (o == nullptr) {
            continue;
        }
        auto name = text(*o, "s");
        auto k = name ? find(*name) : std::nullopt;
        if (!k) {
            continue;
        }
        auto& s = symbols_[*k];
        ++matched;
        if (ticker) {
            if (auto q = text(*o, "q"); q && number(*q)) {
                s.pushed.quote_volume = *q;
            }
            if (auto c = text(*o, "c")) {
                if (auto x = number(*c); x && *x > 0) {
                    s.last = *x;
                }
            }
            continue;
        }
        auto p = text(*o, "p");
        auto i = text(*o, "i");
        auto r = text(*o, "r");
        auto pv = p ? number(*p) : std::nullopt;
        if (!pv || *pv <= 0) {
            continue;
        }
        s.mark = *pv;
        s.pushed.mark = *p;
        if (auto iv = i ? number(*i) : std::nullopt) {
            s.index = *iv;
            s.pushed.index = *i;
        }
        if (auto rv = r ? number(*r) : std::nullopt) {
            s.funding = *rv;
            s.pushed.funding = *r;
        }
        if (const auto* t = o->if_contains("T"); t != nullptr && t->is_int64()) {
            s.next_funding_ms = t->get_int64();
            s.pushed.next_funding_ms = s.next_funding_ms;
        }
        if (const auto* e = o->if_contains("E"); e != nullptr && e->is_int64()) {
            s.pushed.push_ms = e->get_int64();
        }
        // The recording drives this symbol now; the random walk must not move it.
        s.price_pinned = true;
        s.funding_pinned = true;
    }
    return matched;
}

std::string market::funding_info() const
{
    std::string out = "[";
    for (const auto& s : symbols_) {
        if (s.st != 1 || s.funding_interval_h == 8) {
            continue;
        }
        if (out.size() > 1) {
            out += ',';
        }
        fmt::format_to(out_it(out),
                       "{{\"symbol\":\"{}\",\"adjustedFundingRateCap\":\"0.02000000\","
                       "\"adjustedFundingRateFloor\":\"-0.02000000\",\"fundingIntervalHours\":{},\"disclaimer\":false}}",
                       s.name, s.funding_interval_h);
    }
    out += ']';
    return out;
}

std::string market::state_json(std::size_t k) const
{
    const auto& s = symbols_[k];
    auto num_or_null = [](const std::string& v) { return v.empty() ? std::string{"null"} : v; };
    std::string quote_volume =
        s.pushed.quote_volume.empty() ? fixed(stats_24h(k, now_ms_).quote_volume, s.st == 2 ? 8 : s.price_precision)
                                      : s.pushed.quote_volume;
    return fmt::format(
        "{{\"ok\":true,\"symbol\":\"{}\",\"markPrice\":{},\"indexPrice\":{},\"fundingRate\":{},"
        "\"nextFundingTime\":{},\"fundingIntervalHours\":{},\"openInterest\":{:.{}f},\"quoteVolume\":{},"
        "\"hourQuoteVolume\":{:.5f},\"previousHourQuoteVolume\":{:.5f},\"st\":{},\"lastPushMs\":{}}}",
        s.name, num_or_null(s.pushed.mark), num_or_null(s.pushed.index), num_or_null(s.pushed.funding),
        s.pushed.next_funding_ms != 0 ? s.pushed.next_funding_ms : s.next_funding_ms, s.funding_interval_h,
        s.open_interest, s.quantity_precision, quote_volume, s.current.quote_volume,
        s.hours.empty() ? 0.0 : s.hours.back().quote_volume, s.st, s.pushed.push_ms);
}

}  // namespace vs::replay
