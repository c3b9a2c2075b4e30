#include "record_builder.hpp"

#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <cmath>
#include <limits>
#include <system_error>

#include "market_layouts.hpp"
#include "schemas/market_data_generated.h"

namespace vs::feed::detail {

namespace {

using vs::schema::MarketType;

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t max_text_bytes = 32;
/// Mark prices from this up are rejected as absurd (issue 19): the dearest contract trades
/// near 1e5 USDT.
constexpr double absurd_mark_price = 1e9;



/// What a numeric field may hold. Prices that must exist are `positive`; volumes, index and
/// settle prices (0 for delisted symbols in REST) are `non_negative`; changes and funding
/// rates are `any`.
enum class rule : std::uint8_t { any, non_negative, positive };

const raw_value* pick(const row_fields& f, key k) noexcept
{
    return f.has(k) ? &f.get(k) : nullptr;
}

/// The first present key in alias order: the first alias present is the value, even if a
/// later one would parse (a bad "p" is a bad row, not a cue to look at "c").
template <class... Keys>
const raw_value* pick(const row_fields& f, key first, Keys... rest) noexcept
{
    if (f.has(first)) {
        return &f.get(first);
    }
    return pick(f, rest...);
}

bool absent(const raw_value* v) noexcept
{
    // Binance sends "" for fields that do not apply (delivery contracts' "r"): absent, not bad.
    return v == nullptr || v->kind == value_kind::null ||
           (v->kind == value_kind::string && v->text.empty());
}

bool eight_digits(std::uint64_t v) noexcept
{
    return (((v & 0xF0F0F0F0F0F0F0F0u) | (((v + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) >> 4)) ==
            0x3333333333333333u);
}

/// Eight ASCII digits (little-endian load) to their value, in a few multiplications
/// (the SWAR trick of fast_float and simdjson).
std::uint32_t eight_digits_value(std::uint64_t v) noexcept
{
    constexpr std::uint64_t mask = 0x000000FF000000FFu;
    constexpr std::uint64_t mul1 = 0x000F424000000064u;  // 100 + (1000000ULL << 32)
    constexpr std::uint64_t mul2 = 0x0000271000000001u;  // 1 + (10000ULL << 32)
    v -= 0x3030303030303030u;
    v = (v * 10) + (v >> 8);
    v = (((v & mask) * mul1) + (((v >> 16) & mask) * mul2)) >> 32;
    return static_cast<std::uint32_t>(v);
}

/// Appends the digits at p to m, eight at a time while possible.
[[gnu::always_inline]] inline const char* take_digits(const char* p, const char* end, std::uint64_t& m) noexcept
{
    while (end - p >= 8) {
        std::uint64_t v = 0;
        std::memcpy(&v, p, 8);
        if (!eight_digits(v)) {
            break;
        }
        m = m * 100000000u + eight_digits_value(v);
        p += 8;
    }
    while (p != end && static_cast<unsigned>(*p - '0') < 10u) {
        m = m * 10 + static_cast<unsigned>(*p - '0');
        ++p;
    }
    return p;
}

/// Binance's decimal strings ("83084.30000000"): digits, an optional point, digits. When
/// the digits form an integer m <= 2^53 and there are k <= 22 decimals, m and 10^k are exact
/// doubles and one IEEE division rounds correctly (Clinger's fast path), so the result
/// equals a full decimal-to-double conversion. False (not an error) for anything else.
[[gnu::always_inline]] inline bool decimal_fast(std::string_view s, double& out) noexcept
{
    static_assert(std::endian::native == std::endian::little, "eight_digits_value reads little-endian");
    static constexpr double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char* p = s.data();
    const char* const end = p + s.size();
    const bool negative = p != end && *p == '-';
    p += negative ? 1 : 0;
    const char* const start = p;
    std::uint64_t m = 0;
    p = take_digits(p, end, m);
    const auto integer_digits = p - start;
    std::ptrdiff_t decimals = 0;
    if (p != end && *p == '.') {
        const char* const fraction = ++p;
        p = take_digits(p, end, m);
        decimals = p - fraction;
    }
    // More than 19 digits may have wrapped m; the general parser takes those.
    if (p != end || integer_digits + decimals == 0 || integer_digits + decimals > 19 ||
        m > (std::uint64_t{1} << 53) || decimals > 22) {
        return false;
    }
    const double d = static_cast<double>(m) / pow10[decimals];
    out = negative ? -d : d;
    return true;
}

/// Any other decimal text. libstdc++ 12's from_chars is exact (fast_float); it also reads
/// "nan" and "inf", which the callers' finiteness checks turn away.
bool decimal_general(std::string_view s, double& out) noexcept
{
    const char* first = s.data();
    const char* last = first + s.size();
    const auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc{} && ptr == last;
}

/// Converts with a sticky first error, so that each builder reads as a list of fields.
class converter {
public:
    double number(const raw_value* v, rule r, const char* bad, const char* missing = nullptr) noexcept
    {
        if (absent(v)) {
            if (missing != nullptr) {
                fail(missing);
            }
            return nan_value;
        }
        double d = 0;
        if (v->kind == value_kind::number) {
            d = v->number;
        } else if (v->kind == value_kind::string) {
            if (!decimal_fast(v->text, d) && !decimal_general(v->text, d)) {
                fail(bad);
                return nan_value;
            }
        } else {
            fail(bad);
            return nan_value;
        }
        if (!std::isfinite(d) || (r == rule::positive && !(d > 0)) || (r == rule::non_negative && d < 0)) {
            fail(bad);
            return nan_value;
        }
        return d;
    }

    std::int64_t integer(const raw_value* v, const char* bad) noexcept
    {
        if (absent(v)) {
            return 0;
        }
        if (v->kind == value_kind::number) {
            if (!v->integral) {
                fail(bad);
                return 0;
            }
            return v->integer;
        }
        if (v->kind != value_kind::string) {
            fail(bad);
            return 0;
        }
        std::int64_t i = 0;
        const char* first = v->text.data();
        const char* last = first + v->text.size();
        const auto [ptr, ec] = std::from_chars(first, last, i);
        if (ec != std::errc{} || ptr != last) {
            fail(bad);
            return 0;
        }
        return i;
    }

    bool boolean(const raw_value* v, const char* bad) noexcept
    {
        if (absent(v)) {
            return false;
        }
        if ((v->kind == value_kind::boolean || v->kind == value_kind::string) &&
            (v->text == "true" || v->text == "false")) {
            return v->text == "true";
        }
        fail(bad);
        return false;
    }

    /// A string field other than the symbol (pair, interval, order type...): absent unless
    /// a string; longer than max_text_bytes (keeps every record far below the bus's largest
    /// table slot) or with a control character is a bad row.
    std::string_view short_text(const raw_value* v, const char* bad) noexcept
    {
        const std::string_view s = text(v);
        if (s.size() > max_text_bytes) {
            fail(bad);
            return {};
        }
        for (const char c : s) {
            // Control characters: flatbuffers' JSON output would print them unescaped ("\0").
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                fail(bad);
                return {};
            }
        }
        return s;
    }

    /// A string field; anything else is absent.
    static std::string_view text(const raw_value* v) noexcept
    {
        if (v == nullptr || v->kind != value_kind::string) {
            return {};
        }
        return v->text;
    }

    const char* error() const noexcept { return error_; }
    void fail(const char* e) noexcept
    {
        if (error_ == nullptr) {
            error_ = e;
        }
    }

private:
    const char* error_ = nullptr;
};

constexpr bool symbol_ascii_ok(unsigned char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/// Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0 when invalid:
/// no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629 table 4).
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept
{
    const auto b = [&](std::size_t j) { return static_cast<unsigned char>(s[j]); };
    const auto cont = [&](std::size_t j) { return j < s.size() && (b(j) & 0xC0u) == 0x80u; };
    const unsigned char c = b(i);
    if (c >= 0xC2 && c <= 0xDF) {
        return cont(i + 1) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(i + 1) || !cont(i + 2)) {
            return 0;
        }
        const unsigned char c1 = b(i + 1);
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) {
            return 0;
        }
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) {
            return 0;
        }
        const unsigned char c1 = b(i + 1);
        if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) {
            return 0;
        }
        return 4;
    }
    return 0;
}

/// The market of a row: `st` when present and meaningful, else guessed from the symbol.
MarketType market_of_st(const raw_value* st, std::string_view symbol) noexcept
{
    if (!absent(st)) {
        const bool number = st->kind == value_kind::number && st->integral;
        if ((number && st->integer == 1) || (st->kind == value_kind::string && st->text == "1")) {
            return MarketType::UsdM;
        }
        if ((number && st->integer == 2) || (st->kind == value_kind::string && st->text == "2")) {
            return MarketType::CoinM;
        }
        return MarketType::Unknown;
    }
    // Frames that predate `st`: COIN-M contracts are <BASE>USD_<PERP|yymmdd>; USDⓈ-M
    // quarterlies are BTCUSDT_261225, which "USD_" does not match.
    return symbol.find("USD_") != std::string_view::npos ? MarketType::CoinM : MarketType::Unknown;
}

}  // namespace

event event_of_name(std::string_view e) noexcept
{
    if (e == "markPriceUpdate") {
        return event::mark_price;
    }
    if (e == "24hrTicker") {
        return event::ticker;
    }
    if (e == "forceOrder") {
        return event::force_order;
    }
    if (e == "aggTrade") {
        return event::agg_trade;
    }
    if (e == "kline") {
        return event::kline;
    }
    return event::unknown;
}

event event_of_stream(std::string_view stream) noexcept
{
    // "<symbol>@<name>[@<options>]" or "!<name>@arr[@<options>]".
    std::string_view name;
    if (!stream.empty() && stream.front() == '!') {
        name = stream.substr(1, stream.find('@') == std::string_view::npos ? std::string_view::npos
                                                                            : stream.find('@') - 1);
    } else {
        const auto at = stream.find('@');
        if (at == std::string_view::npos) {
            return event::unknown;
        }
        name = stream.substr(at + 1);
        name = name.substr(0, name.find('@'));
    }
    if (name == "markPrice") {
        return event::mark_price;
    }
    if (name == "ticker") {
        return event::ticker;
    }
    if (name == "forceOrder") {
        return event::force_order;
    }
    if (name == "aggTrade") {
        return event::agg_trade;
    }
    if (name.substr(0, 6) == "kline_") {
        return event::kline;
    }
    return event::unknown;
}

const char* check_symbol(std::string_view s, std::size_t max_bytes) noexcept
{
    if (s.empty()) {
        return "missing symbol";
    }
    if (s.size() > max_bytes) {
        return "symbol too long";
    }
    // Symbols are nearly always plain ASCII: one table look-up per byte.
    static constexpr auto ascii_ok = [] {
        std::array<bool, 128> t{};
        for (unsigned c = 0; c < 128; ++c) {
            t[c] = symbol_ascii_ok(static_cast<unsigned char>(c));
        }
        return t;
    }();
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (!ascii_ok[c]) {
                return "symbol has a character other than letters, digits, '_', '-', '.'";
            }
            ++i;
            continue;
        }
        const std::size_t n = utf8_sequence(s, i);
        if (n == 0) {
            return "symbol is not valid UTF-8";
        }
        i += n;
    }
    return nullptr;
}

MarketType market_of(const row_fields* st_source, std::string_view symbol) noexcept
{
    return market_of_st(st_source != nullptr ? pick(*st_source, key::st) : nullptr, symbol);
}

record_builder::record_builder(std::size_t max_symbol_bytes)
    : max_symbol_bytes_(max_symbol_bytes)
{
}

const char* record_builder::build(event ev, const row& r, std::int64_t recv_ns, parsed_record& out)
{
    last_symbol_ = {};
    switch (ev) {
    case event::mark_price: return mark_price(r, recv_ns, out);
    case event::ticker: return ticker(r, recv_ns, out);
    case event::force_order: return force_order(r, recv_ns, out);
    case event::agg_trade: return agg_trade(r, recv_ns, out);
    case event::kline: return kline(r, recv_ns, out);
    case event::unknown: break;
    }
    return "unknown event type";
}

void record_builder::finish(std::uint16_t type, std::string_view symbol, MarketType market,
                            parsed_record& out)
{
    out.type = type;
    out.symbol = symbol;
    out.market = market;
    out.bytes = out_.finish();
}

const char* record_builder::mark_price(const row& r, std::int64_t recv_ns, parsed_record& out)
{
    const row_fields& f = r.outer;
    const std::string_view symbol = converter::text(pick(f, key::s, key::symbol));
    last_symbol_ = symbol;
    if (const char* e = check_symbol(symbol, max_symbol_bytes_)) {
        return e;
    }
    converter cv;
    // Aliases in the old daemon's order (frontend parseFundingRate); "ap" last: it equals "p"
    // in every 2026 frame seen.
    const double mark = cv.number(pick(f, key::p, key::markPrice, key::c, key::lastPrice, key::ap), rule::positive,
                                  "mark price is not a positive finite number", "missing mark price");
    const double index = cv.number(pick(f, key::i, key::indexPrice), rule::non_negative,
                                   "index price is not a non-negative finite number");
    const double settle = cv.number(pick(f, key::P, key::estimatedSettlePrice), rule::non_negative,
                                    "estimated settle price is not a non-negative finite number");
    const double funding = cv.number(pick(f, key::r, key::R, key::fr, key::lastFundingRate, key::fundingRate,
                                          key::estimatedSettlePriceRate),
                                     rule::any, "funding rate is not a finite number");
    const std::int64_t event_time = cv.integer(pick(f, key::E, key::time), "event time is not an integer");
    const std::int64_t next_funding = cv.integer(pick(f, key::T, key::nextFundingTime),
                                                 "next funding time is not an integer");
    if (cv.error() != nullptr) {
        return cv.error();
    }
    // Values no listed contract has ever had (issue 19): an exchange glitch, not a price.
    if (mark >= absurd_mark_price) {
        return "mark price is absurd (1e9 or more)";
    }
    const MarketType market = market_of(&f, symbol);

    namespace f_ = mark_price_field;
    out_.begin(mark_price_layout);
    out_.string(f_::symbol, symbol);
    out_.scalar(f_::event_time_ms, event_time);
    out_.scalar(f_::recv_time_ns, recv_ns);
    out_.scalar(f_::market, market);
    out_.number(f_::mark_price, mark);
    out_.number(f_::index_price, index);
    out_.number(f_::estimated_settle_price, settle);
    out_.number(f_::funding_rate, funding);
    out_.scalar(f_::next_funding_time_ms, next_funding);
    // Not in the frame: vs-feed's table from REST fundingInfo + exchangeInfo (0 = unknown).
    std::uint8_t interval_hours = 0;
    if (funding_intervals_ != nullptr) {
        if (const auto it = funding_intervals_->find(symbol); it != funding_intervals_->end()) {
            interval_hours = it->second;
        }
    }
    out_.scalar(f_::funding_interval_hours, interval_hours);
    finish(static_cast<std::uint16_t>(vs::schema::RecordType::MarkPrice), symbol, market, out);
    return nullptr;
}

const char* record_builder::ticker(const row& r, std::int64_t recv_ns, parsed_record& out)
{
    const row_fields& f = r.outer;
    const std::string_view symbol = converter::text(pick(f, key::s, key::symbol));
    last_symbol_ = symbol;
    if (const char* e = check_symbol(symbol, max_symbol_bytes_)) {
        return e;
    }
    converter cv;
    const double change = cv.number(pick(f, key::p, key::priceChange), rule::any, "price change is not a finite number");
    const double change_pct = cv.number(pick(f, key::P, key::priceChangePercent), rule::any,
                                        "price change percent is not a finite number");
    const double wavg = cv.number(pick(f, key::w, key::weightedAvgPrice), rule::non_negative,
                                  "weighted average price is not a non-negative finite number");
    const double last = cv.number(pick(f, key::c, key::lastPrice), rule::positive,
                                  "last price is not a positive finite number", "missing last price");
    const double last_qty = cv.number(pick(f, key::Q, key::lastQty), rule::non_negative,
                                      "last quantity is not a non-negative finite number");
    const double open = cv.number(pick(f, key::o, key::openPrice), rule::non_negative,
                                  "open price is not a non-negative finite number");
    const double high = cv.number(pick(f, key::h, key::highPrice), rule::non_negative,
                                  "high price is not a non-negative finite number");
    const double low = cv.number(pick(f, key::l, key::lowPrice), rule::non_negative,
                                 "low price is not a non-negative finite number");
    const double volume = cv.number(pick(f, key::v, key::volume), rule::non_negative,
                                    "volume is not a non-negative finite number");
    const double quote_volume = cv.number(pick(f, key::q, key::quoteVolume), rule::non_negative,
                                          "quote volume is not a non-negative finite number");
    const std::int64_t event_time = cv.integer(pick(f, key::E, key::time), "event time is not an integer");
    const std::int64_t open_time = cv.integer(pick(f, key::O, key::openTime), "open time is not an integer");
    const std::int64_t close_time = cv.integer(pick(f, key::C, key::closeTime), "close time is not an integer");
    const std::int64_t first_id = cv.integer(pick(f, key::F, key::firstId), "first trade id is not an integer");
    const std::int64_t last_id = cv.integer(pick(f, key::L, key::lastId), "last trade id is not an integer");
    const std::int64_t trades = cv.integer(pick(f, key::n, key::count), "trade count is not an integer");
    const std::string_view pair = cv.short_text(pick(f, key::ps, key::pair), "pair too long or has control characters");
    if (cv.error() != nullptr) {
        return cv.error();
    }
    const MarketType market = market_of(&f, symbol);

    namespace f_ = ticker_field;
    out_.begin(ticker_layout);
    out_.string(f_::symbol, symbol);
    out_.scalar(f_::event_time_ms, event_time);
    out_.scalar(f_::recv_time_ns, recv_ns);
    out_.scalar(f_::market, market);
    if (pair.empty()) {
        out_.absent(f_::pair);
    } else {
        out_.string(f_::pair, pair);
    }
    out_.number(f_::price_change, change);
    out_.number(f_::price_change_percent, change_pct);
    out_.number(f_::weighted_avg_price, wavg);
    out_.number(f_::last_price, last);
    out_.number(f_::last_qty, last_qty);
    out_.number(f_::open_price, open);
    out_.number(f_::high_price, high);
    out_.number(f_::low_price, low);
    out_.number(f_::volume, volume);
    out_.number(f_::quote_volume, quote_volume);
    out_.scalar(f_::open_time_ms, open_time);
    out_.scalar(f_::close_time_ms, close_time);
    out_.scalar(f_::first_trade_id, first_id);
    out_.scalar(f_::last_trade_id, last_id);
    out_.scalar(f_::trade_count, trades);
    finish(static_cast<std::uint16_t>(vs::schema::RecordType::Ticker24h), symbol, market, out);
    return nullptr;
}

const char* record_builder::force_order(const row& r, std::int64_t recv_ns, parsed_record& out)
{
    if (!r.has_inner) {
        return "forceOrder without an \"o\" object";
    }
    const row_fields& o = r.inner;
    std::string_view symbol = converter::text(pick(o, key::s));
    if (symbol.empty()) {
        symbol = converter::text(pick(r.outer, key::s, key::symbol));
    }
    last_symbol_ = symbol;
    if (const char* e = check_symbol(symbol, max_symbol_bytes_)) {
        return e;
    }
    converter cv;
    const std::string_view side_text = converter::text(pick(o, key::S));
    vs::schema::Side side = vs::schema::Side::Unknown;
    if (side_text == "BUY") {
        side = vs::schema::Side::Buy;
    } else if (side_text == "SELL") {
        side = vs::schema::Side::Sell;
    }
    const double orig_qty = cv.number(pick(o, key::q), rule::non_negative,
                                      "original quantity is not a non-negative finite number");
    const double price = cv.number(pick(o, key::p), rule::positive, "liquidation price is not a positive finite number",
                                   "missing liquidation price");
    const double avg_price = cv.number(pick(o, key::ap), rule::non_negative,
                                       "average price is not a non-negative finite number");
    const double last_filled = cv.number(pick(o, key::l), rule::non_negative,
                                         "last filled quantity is not a non-negative finite number");
    const double filled = cv.number(pick(o, key::z), rule::non_negative,
                                    "filled quantity is not a non-negative finite number");
    const std::int64_t trade_time = cv.integer(pick(o, key::T), "trade time is not an integer");
    const std::int64_t event_time = cv.integer(pick(r.outer, key::E, key::time), "event time is not an integer");
    const std::string_view order_type = cv.short_text(pick(o, key::o), "order type too long or has control characters");
    const std::string_view tif = cv.short_text(pick(o, key::f), "time in force too long or has control characters");
    const std::string_view status = cv.short_text(pick(o, key::X), "order status too long or has control characters");
    if (cv.error() != nullptr) {
        return cv.error();
    }
    const MarketType market = market_of(o.has(key::st) ? &o : &r.outer, symbol);

    namespace f_ = liquidation_field;
    out_.begin(liquidation_layout);
    out_.string(f_::symbol, symbol);
    out_.scalar(f_::event_time_ms, event_time);
    out_.scalar(f_::recv_time_ns, recv_ns);
    out_.scalar(f_::market, market);
    out_.scalar(f_::side, side);
    out_.optional_string(f_::order_type, order_type);
    out_.optional_string(f_::time_in_force, tif);
    out_.optional_string(f_::order_status, status);
    out_.number(f_::orig_qty, orig_qty);
    out_.number(f_::price, price);
    out_.number(f_::avg_price, avg_price);
    out_.number(f_::last_filled_qty, last_filled);
    out_.number(f_::filled_qty, filled);
    out_.scalar(f_::trade_time_ms, trade_time);
    finish(static_cast<std::uint16_t>(vs::schema::RecordType::Liquidation), symbol, market, out);
    return nullptr;
}

const char* record_builder::agg_trade(const row& r, std::int64_t recv_ns, parsed_record& out)
{
    const row_fields& f = r.outer;
    const std::string_view symbol = converter::text(pick(f, key::s, key::symbol));
    last_symbol_ = symbol;
    if (const char* e = check_symbol(symbol, max_symbol_bytes_)) {
        return e;
    }
    converter cv;
    const std::int64_t id = cv.integer(pick(f, key::a), "aggregate trade id is not an integer");
    const double price = cv.number(pick(f, key::p), rule::positive, "trade price is not a positive finite number",
                                   "missing trade price");
    const double qty = cv.number(pick(f, key::q), rule::non_negative,
                                 "trade quantity is not a non-negative finite number");
    const std::int64_t first_id = cv.integer(pick(f, key::f), "first trade id is not an integer");
    const std::int64_t last_id = cv.integer(pick(f, key::l), "last trade id is not an integer");
    const std::int64_t trade_time = cv.integer(pick(f, key::T), "trade time is not an integer");
    const std::int64_t event_time = cv.integer(pick(f, key::E, key::time), "event time is not an integer");
    const bool maker = cv.boolean(pick(f, key::m), "buyer-is-maker is not a boolean");
    if (cv.error() != nullptr) {
        return cv.error();
    }
    const MarketType market = market_of(&f, symbol);

    namespace f_ = agg_trade_field;
    out_.begin(agg_trade_layout);
    out_.string(f_::symbol, symbol);
    out_.scalar(f_::event_time_ms, event_time);
    out_.scalar(f_::recv_time_ns, recv_ns);
    out_.scalar(f_::market, market);
    out_.scalar(f_::agg_trade_id, id);
    out_.number(f_::price, price);
    out_.number(f_::qty, qty);
    out_.scalar(f_::first_trade_id, first_id);
    out_.scalar(f_::last_trade_id, last_id);
    out_.scalar(f_::trade_time_ms, trade_time);
    out_.scalar(f_::buyer_is_maker, static_cast<std::uint8_t>(maker ? 1 : 0));
    finish(static_cast<std::uint16_t>(vs::schema::RecordType::AggTrade), symbol, market, out);
    return nullptr;
}

const char* record_builder::kline(const row& r, std::int64_t recv_ns, parsed_record& out)
{
    if (!r.has_inner) {
        return "kline without a \"k\" object";
    }
    const row_fields& k = r.inner;
    std::string_view symbol = converter::text(pick(k, key::s));
    if (symbol.empty()) {
        symbol = converter::text(pick(r.outer, key::s, key::symbol));
    }
    last_symbol_ = symbol;
    if (const char* e = check_symbol(symbol, max_symbol_bytes_)) {
        return e;
    }
    converter cv;
    const std::int64_t open_time = cv.integer(pick(k, key::t), "kline open time is not an integer");
    const std::int64_t close_time = cv.integer(pick(k, key::T), "kline close time is not an integer");
    const double open = cv.number(pick(k, key::o), rule::positive, "kline open is not a positive finite number",
                                  "missing kline open");
    const double high = cv.number(pick(k, key::h), rule::positive, "kline high is not a positive finite number",
                                  "missing kline high");
    const double low = cv.number(pick(k, key::l), rule::positive, "kline low is not a positive finite number",
                                 "missing kline low");
    const double close = cv.number(pick(k, key::c), rule::positive, "kline close is not a positive finite number",
                                   "missing kline close");
    const double volume = cv.number(pick(k, key::v), rule::non_negative,
                                    "kline volume is not a non-negative finite number");
    const double quote_volume = cv.number(pick(k, key::q), rule::non_negative,
                                          "kline quote volume is not a non-negative finite number");
    const double taker_volume = cv.number(pick(k, key::V), rule::non_negative,
                                          "kline taker buy volume is not a non-negative finite number");
    const double taker_quote = cv.number(pick(k, key::Q), rule::non_negative,
                                         "kline taker buy quote volume is not a non-negative finite number");
    const std::int64_t trades = cv.integer(pick(k, key::n), "kline trade count is not an integer");
    const bool closed = cv.boolean(pick(k, key::x), "kline closed flag is not a boolean");
    const std::int64_t event_time = cv.integer(pick(r.outer, key::E, key::time), "event time is not an integer");
    const std::string_view interval = cv.short_text(pick(k, key::i), "kline interval too long or has control characters");
    if (cv.error() != nullptr) {
        return cv.error();
    }
    const MarketType market = market_of(r.outer.has(key::st) ? &r.outer : &k, symbol);

    namespace f_ = kline_field;
    out_.begin(kline_layout);
    out_.string(f_::symbol, symbol);
    out_.scalar(f_::event_time_ms, event_time);
    out_.scalar(f_::recv_time_ns, recv_ns);
    out_.scalar(f_::market, market);
    out_.optional_string(f_::interval, interval);
    out_.scalar(f_::open_time_ms, open_time);
    out_.scalar(f_::close_time_ms, close_time);
    out_.number(f_::open, open);
    out_.number(f_::high, high);
    out_.number(f_::low, low);
    out_.number(f_::close, close);
    out_.number(f_::volume, volume);
    out_.number(f_::quote_volume, quote_volume);
    out_.scalar(f_::trade_count, trades);
    out_.number(f_::taker_buy_volume, taker_volume);
    out_.number(f_::taker_buy_quote_volume, taker_quote);
    out_.scalar(f_::closed, static_cast<std::uint8_t>(closed ? 1 : 0));
    finish(static_cast<std::uint16_t>(vs::schema::RecordType::Kline), symbol, market, out);
    return nullptr;
}

}  // namespace vs::feed::detail
