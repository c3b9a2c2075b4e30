#include "vs/oi/universe.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>


#include "codec_util.hpp"

namespace vs::oi {

bool eligible(const contract& c) noexcept
{
    return c.contract_type == "PERPETUAL" && c.quote_asset == "USDT" && c.status == "TRADING";
}

universe_update update_universe(const config& cfg, std::span<const member> current,
                                std::span<const contract> contracts, const ticker_lookup& tickers,
                                std::int64_t now_ms)
{
    universe_update u;
    std::unordered_map<std::string_view, const member*> members;
    members.reserve(current.size());
    for (const auto& m : current) {
        members.emplace(m.symbol, &m);
    }
    std::unordered_map<std::string_view, const contract*> listed;
    listed.reserve(contracts.size());
    for (const auto& c : contracts) {
        listed.emplace(c.symbol, &c);
    }
    const bool have_info = !contracts.empty();

    for (const auto& c : contracts) {
        if (!eligible(c)) {
            continue;
        }
        ++u.eligible;
        std::optional<ticker> t = tickers ? tickers(c.symbol) : std::nullopt;
        const bool usable = t && t->market == 1 && std::isfinite(t->quote_volume);
        if (usable) {
            ++u.with_ticker;
        }
        const auto it = members.find(c.symbol);
        if (it != members.end()) {
            if (!usable) {
                u.members.push_back(*it->second);   // missing data: kept as it was
            } else if (t->quote_volume >= cfg.exit_quote_24h) {
                member m = *it->second;
                m.quote_volume_24h = t->quote_volume;
                m.last_seen_at_ms = now_ms;
                u.members.push_back(std::move(m));
            } else {
                u.removed.push_back(c.symbol);
            }
        } else if (usable && t->quote_volume >= cfg.enter_quote_24h) {
            u.members.push_back(member{c.symbol, t->quote_volume, now_ms, now_ms});
            u.added.push_back(c.symbol);
        }
    }
    // Members that are not eligible contracts: without exchangeInfo nothing is known (kept);
    // with it, a member it lists as not eligible, or no longer lists, has left.
    for (const auto& m : current) {
        const auto it = listed.find(m.symbol);
        if (it != listed.end() && eligible(*it->second)) {
            continue;   // handled above
        }
        if (!have_info) {
            u.members.push_back(m);
        } else {
            u.removed.push_back(m.symbol);
        }
    }
    const auto by_symbol = [](const member& a, const member& b) { return a.symbol < b.symbol; };
    std::sort(u.members.begin(), u.members.end(), by_symbol);
    // A symbol listed twice (exchangeInfo or current) counts once.
    u.members.erase(std::unique(u.members.begin(), u.members.end(),
                                [](const member& a, const member& b) { return a.symbol == b.symbol; }),
                    u.members.end());
    for (auto* v : {&u.added, &u.removed}) {
        std::sort(v->begin(), v->end());
        v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    return u;
}

namespace {
constexpr char universe_magic[4] = {'V', 'S', 'O', 'U'};
}

std::string encode_universe(std::span<const member> members)
{
    detail::writer w;
    w.bytes(universe_magic, 4);
    w.u8(1);
    w.varint(members.size());
    for (const auto& m : members) {
        const std::size_t n = std::min<std::size_t>(m.symbol.size(), 255);
        w.u8(static_cast<std::uint8_t>(n));
        w.bytes(m.symbol.data(), n);
        w.f64(m.quote_volume_24h);
        w.i64(m.entered_at_ms);
        w.i64(m.last_seen_at_ms);
    }
    w.seal();
    return std::move(w.out);
}

std::vector<member> decode_universe(std::string_view bytes)
{
    detail::reader r{bytes, "oi universe"};
    r.open_frame(universe_magic, 4 + 1 + 1 + 4);
    if (const auto v = r.u8(); v != 1) {
        r.pos -= 1;
        r.fail("unknown version " + std::to_string(v));
    }
    const std::uint64_t count = r.varint();
    if (count > (r.end - r.pos) / 26) {   // each member takes at least 26 bytes
        r.fail("member count " + std::to_string(count) + " too large");
    }
    std::vector<member> out;
    out.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::size_t at = r.pos;
        const std::size_t n = r.u8();
        const auto sym = r.str(n);
        if (n == 0) {
            r.pos = at;
            r.fail("empty symbol");
        }
        member m;
        m.symbol.assign(sym);
        m.quote_volume_24h = r.f64();
        m.entered_at_ms = r.i64();
        m.last_seen_at_ms = r.i64();
        if (!std::isfinite(m.quote_volume_24h) || m.quote_volume_24h < 0 || m.entered_at_ms < 0 || m.last_seen_at_ms < 0) {
            r.pos = at;
            r.fail("bad member " + m.symbol);
        }
        out.push_back(std::move(m));
    }
    if (r.pos != r.end) {
        r.fail(std::to_string(r.end - r.pos) + " trailing bytes");
    }
    return out;
}

}  // namespace vs::oi
