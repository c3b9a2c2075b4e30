#pragma once
// The fields of one JSON row, collected in one pass before the row's type is known: the
// same key means different things in different events ("p" is the mark price of a
// markPriceUpdate, the price change of a 24hrTicker and the price of an aggTrade; "i" is an
// index price or a kline interval), so values are kept as text and converted once the
// event type is decided.
#include <array>
#include <cstdint>
#include <string_view>

namespace vs::feed::detail {

/// Every key the parser reads. Unlisted keys are ignored.
enum class key : std::uint8_t {
    // Binance's one-letter keys (case matters: "p" and "P" differ).
    e, E, s, p, P, i, r, R, T, c, Q, o, h, l, v, q, w, O, C, F, L, n, a, f, m, t, x, k, V, S,
    X, z,
    // Newer short keys.
    ap, st, ps, fr,
    // Aliases the old Python daemon accepted, and the REST (premiumIndex, ticker/24hr) names.
    lastFundingRate, fundingRate, estimatedSettlePriceRate, markPrice, lastPrice, symbol,
    indexPrice, estimatedSettlePrice, nextFundingTime, time, priceChange, priceChangePercent,
    weightedAvgPrice, lastQty, openPrice, highPrice, lowPrice, volume, quoteVolume, openTime,
    closeTime, firstId, lastId, count, pair,
    // Envelope, subscription reply and error keys (top level only).
    stream, data, result, id, code, msg, error,
    count_,
    none = 0xff,
};
inline constexpr std::size_t key_count = static_cast<std::size_t>(key::count_);
static_assert(key_count <= 128, "presence is a 128-bit mask");

/// Maps a JSON key of two or more letters to its id; key::none for keys not read.
key long_key_of(std::string_view name) noexcept;

/// Binance's one-letter keys, indexed by the letter.
extern const std::array<key, 128> single_letter_keys;

/// Maps a JSON key to its id; key::none for keys the parser does not read. Inline: it runs
/// for every field of every row, and nearly all keys are one letter.
inline key key_of(std::string_view name) noexcept
{
    if (name.size() == 1) {
        const auto c = static_cast<unsigned char>(name[0]);
        return c < 128 ? single_letter_keys[c] : key::none;
    }
    if (name.size() == 2) {
        // "ap", "st", "ps", "fr", "id" without a table scan.
        const char a = name[0];
        const char b = name[1];
        if (a == 'a' && b == 'p') {
            return key::ap;
        }
        if (a == 's' && b == 't') {
            return key::st;
        }
        if (a == 'p' && b == 's') {
            return key::ps;
        }
        if (a == 'f' && b == 'r') {
            return key::fr;
        }
        if (a == 'i' && b == 'd') {
            return key::id;
        }
        return key::none;
    }
    return long_key_of(name);
}

enum class value_kind : std::uint8_t {
    string,   ///< text is the unescaped string (Binance sends prices as strings)
    number,   ///< a JSON number: `number`, and `integer` when `integral`
    boolean,  ///< text is "true" or "false"
    null,
    other,    ///< object or array where a scalar was expected
};

struct raw_value {
    std::string_view text;
    double number = 0;
    std::int64_t integer = 0;
    value_kind kind = value_kind::null;
    bool integral = false;
};

/// Values of one JSON object level. Presence is a bit mask so that resetting a row costs two
/// stores, not a clear of every slot (650 rows per frame).
struct row_fields {
    std::array<raw_value, key_count> values;
    std::uint64_t present[2] = {0, 0};

    void clear() noexcept { present[0] = present[1] = 0; }
    bool has(key k) const noexcept
    {
        const auto i = static_cast<unsigned>(k);
        return (present[i >> 6] >> (i & 63u) & 1u) != 0;
    }
    void set(key k, raw_value v) noexcept
    {
        const auto i = static_cast<unsigned>(k);
        present[i >> 6] |= std::uint64_t{1} << (i & 63u);
        values[i] = v;
    }
    /// Marks `k` present and returns its slot to fill in place.
    raw_value& slot(key k) noexcept
    {
        const auto i = static_cast<unsigned>(k);
        present[i >> 6] |= std::uint64_t{1} << (i & 63u);
        return values[i];
    }
    const raw_value& get(key k) const noexcept { return values[static_cast<unsigned>(k)]; }
    bool empty() const noexcept { return (present[0] | present[1]) == 0; }
};

/// One row: its own fields and those of its nested object ("o" of forceOrder, "k" of kline).
struct row {
    row_fields outer;
    row_fields inner;
    bool has_inner = false;

    void clear() noexcept
    {
        outer.clear();
        inner.clear();
        has_inner = false;
    }
};

}  // namespace vs::feed::detail
