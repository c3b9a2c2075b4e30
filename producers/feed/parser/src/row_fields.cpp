#include "row_fields.hpp"

#include <array>

namespace vs::feed::detail {

namespace {

struct named_key {
    std::string_view name;
    key id;
};

// Multi-letter keys, sorted by length so that a lookup compares only keys of its length.
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

constexpr std::size_t max_long_key = 24;  // "estimatedSettlePriceRate"

constexpr bool sorted_by_length()
{
    for (std::size_t i = 1; i < std::size(long_keys); ++i) {
        if (long_keys[i - 1].name.size() > long_keys[i].name.size() || long_keys[i].name.size() > max_long_key) {
            return false;
        }
    }
    return true;
}
static_assert(sorted_by_length(), "long_keys must stay sorted by length, none above max_long_key");

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
    // long_keys is sorted by length: compare only the keys of this length.
    static constexpr auto first_of_length = [] {
        std::array<std::size_t, max_long_key + 2> first{};
        std::size_t i = 0;
        for (std::size_t len = 0; len < first.size(); ++len) {
            while (i < std::size(long_keys) && long_keys[i].name.size() < len) {
                ++i;
            }
            first[len] = i;
        }
        return first;
    }();
    if (name.size() > max_long_key) {
        return key::none;
    }
    for (std::size_t i = first_of_length[name.size()]; i < first_of_length[name.size() + 1]; ++i) {
        if (long_keys[i].name == name) {
            return long_keys[i].id;
        }
    }
    return key::none;
}

}  // namespace vs::feed::detail
