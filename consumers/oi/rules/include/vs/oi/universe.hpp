#pragma once
// The liquid universe (old `oi_liquid_universe_job.py`, CONTRACTS 3.2) as a pure function,
// with the two things the old job got wrong fixed: a member is never dropped because its
// data is missing, and an empty universe is never offered for posting.
//
//   eligible: USDT-quoted, PERPETUAL, TRADING (exchangeInfo) and the ticker a USDⓈ-M row (st 1)
//   not a member: enters when quote volume 24 h >= cfg.enter_quote_24h (enteredAt = now)
//   member:       stays while >= cfg.exit_quote_24h (quote volume and lastSeenAt updated),
//                 leaves below it
//   missing data: no ticker (or a stale one: the caller's lookup returns nullopt), NaN volume,
//                 or no exchangeInfo at all (empty `contracts`): a member is kept unchanged,
//                 a non-member does not enter
//   exchangeInfo lists the member as not eligible any more, or no longer lists it while it
//                 lists others (delisted): it leaves (that is data, not missing data)
//
// Threads: pure. Errors: none.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vs/oi/rules.hpp"

namespace vs::oi {

/// One exchangeInfo symbol.
struct contract {
    std::string symbol;
    std::string quote_asset;     ///< "USDT"
    std::string contract_type;   ///< "PERPETUAL"
    std::string status;          ///< "TRADING"
};
bool eligible(const contract& c) noexcept;

/// A 24 h ticker as the market channel has it.
struct ticker {
    double quote_volume = 0;   ///< USDT for st 1 rows
    int market = 1;            ///< the `st` of the row / MarketType: 1 USDⓈ-M, 2 COIN-M (never counts)
};

struct member {
    std::string symbol;
    double quote_volume_24h = 0;
    std::int64_t entered_at_ms = 0;
    std::int64_t last_seen_at_ms = 0;
    friend bool operator==(const member&, const member&) = default;
};

struct universe_update {
    std::vector<member> members;        ///< sorted by symbol
    std::vector<std::string> added;     ///< sorted
    std::vector<std::string> removed;   ///< sorted
    std::size_t eligible = 0;           ///< eligible contracts in exchangeInfo
    std::size_t with_ticker = 0;        ///< of those, with a usable ticker (coverage)
    bool changed() const noexcept { return !added.empty() || !removed.empty(); }
    /// False when `members` is empty: never post it (it would wipe the backend's table).
    bool postable() const noexcept { return !members.empty(); }
};

using ticker_lookup = std::function<std::optional<ticker>(std::string_view symbol)>;

/// The next universe from the current one (any order), exchangeInfo and the tickers.
universe_update update_universe(const config& cfg, std::span<const member> current,
                                std::span<const contract> contracts, const ticker_lookup& tickers,
                                std::int64_t now_ms);

/// The backend body: {"symbols":[{"symbol","quoteVolume24h","enteredAt","lastSeenAt"}],"updatedAt"}.
std::string universe_json(std::span<const member> members, std::int64_t now_ms);

/// The members to and from bytes for LMDB ("VSOU", version 1, count, then per member
/// symbol (len u8 + bytes), f64 volume, i64 enteredAt, i64 lastSeenAt, crc32). decode throws
/// std::invalid_argument("oi universe: <what> at byte <n>") on anything malformed.
std::string encode_universe(std::span<const member> members);
std::vector<member> decode_universe(std::string_view bytes);

}  // namespace vs::oi
