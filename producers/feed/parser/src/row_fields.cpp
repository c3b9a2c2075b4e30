#include "row_fields.hpp"

#include <array>

namespace vs::feed::detail {

namespace {

struct named_key {
    std::string_view name;
    key id;
};

// Multi-letter keys, grouped by length so that a lookup compares few strings.
constexpr named_key long_keys[] = {
    {"msg", key::msg},
    {"data", key::data}, {"code", key::code}, {"time", key::time}, {"pair", key::pair},
    {"count", key::count}, {"error", key::error},
    {"stream", key::stream}, {"result", key::result}, {"symbol", key::symbol}, {"volume", key::volume},
    {"lastId", key::lastId},
    {"firstId", key::firstId}, {"lastQty", key::lastQty},
    {"openTime", key::openTime}, {"lowPrice", key::lowPrice},
    {"markPrice", key::markPrice}, {"lastPrice", key::lastPrice}, {"openPrice", key::openPrice},
    {"highPrice", key::highPrice}, {"closeTime", key::closeTime},
    {"indexPrice", key::indexPrice},
    {"fundingRate", key::fundingRate}, {"priceChange", key::priceChange}, {"quoteVolume", key::quoteVolume},
    {"lastFundingRate", key::lastFundingRate}, {"nextFundingTime", key::nextFundingTime},
    {"weightedAvgPrice", key::weightedAvgPrice},
    {"priceChangePercent", key::priceChangePercent},
    {"estimatedSettlePrice", key::estimatedSettlePrice},
    {"estimatedSettlePriceRate", key::estimatedSettlePriceRate},
};

constexpr std::array<key, 128> make_single_letter_table()
{
    std::array<key, 128> t{};
    for (auto& k : t) {
        k = key::none;
    }
    t['e'] = key::e; t['E'] = key::E; t['s'] = key::s; t['p'] = key::p; t['P'] = key::P;
    t['i'] = key::i; t['r'] = key::r; t['R'] = key::R; t['T'] = key::T; t['c'] = key::c;
    t['Q'] = key::Q; t['o'] = key::o; t['h'] = key::h; t['l'] = key::l; t['v'] = key::v;
    t['q'] = key::q; t['w'] = key::w; t['O'] = key::O; t['C'] = key::C; t['F'] = key::F;
    t['L'] = key::L; t['n'] = key::n; t['a'] = key::a; t['f'] = key::f; t['m'] = key::m;
    t['t'] = key::t; t['x'] = key::x; t['k'] = key::k; t['V'] = key::V; t['S'] = key::S;
    t['X'] = key::X; t['z'] = key::z;
    return t;
}

}  // namespace

const std::array<key, 128> single_letter_keys = make_single_letter_table();

key long_key_of(std::string_view name) noexcept
{
    for (const auto& k : long_keys) {
        if (k.name.size() == name.size() && k.name == name) {
            return k.id;
        }
    }
    return key::none;
}

}  // namespace vs::feed::detail
