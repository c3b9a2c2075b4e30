#pragma once
// vs-liquidations's decisions, without bus, LMDB or clock (unit tests drive them): thresholds,
// the debounce window per symbol and side, and the Telegram texts in TELEGLAS's shapes
// (CONTRACTS 3.6, legacy/teleglas-ws-alert-bot.md).
//
// Liquidations (`!forceOrder@arr`): notional = average price x filled quantity (`ap` x `z`,
// never `q`); `S` SELL means a LONG position was liquidated. Those at or above the symbol's
// threshold open a window of `window` (10 s) for their symbol and side; every qualifying
// liquidation of that symbol and side within it joins, and the window becomes one alert when
// it closes: the single shape for one liquidation, the burst shape (count, total, largest) for
// several. Binance pushes at most one liquidation per symbol per second (the latest), so a
// count is "at least" and the text says so.
//
// Whale trades (`<symbol>@aggTrade`): notional = price x quantity, side of the taker (BUY when
// the buyer was the taker, i.e. not the maker); one alert per trade at or above the threshold.
//
// A window's content is durable state (window::encode): the daemon commits it on every change
// and the closing alert with its removal, so kill -9 neither loses nor repeats a liquidation.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::liquidations {

/// A default USD threshold with per-symbol overrides ("BTCUSDT:1000000,ETHUSDT:500000").
struct thresholds {
    double default_usd = 0;
    std::map<std::string, double, std::less<>> per_symbol;

    double for_symbol(std::string_view symbol) const;
    /// Throws std::invalid_argument naming the bad item (not SYMBOL:NUMBER, a number <= 0).
    static thresholds parse(double default_usd, std::string_view overrides);
};

enum class kind : std::uint8_t { liquidation, whale };

/// One liquidation or trade as the rules see it.
struct event {
    kind k = kind::liquidation;
    std::string symbol;
    /// Liquidation: "LONG" or "SHORT" (the liquidated position). Whale: "BUY" or "SELL" (the taker).
    std::string side;
    double price = 0;        ///< liquidation: average price; whale: trade price
    double qty = 0;          ///< liquidation: filled quantity; whale: quantity
    double notional = 0;     ///< price x qty
    std::int64_t time_ms = 0;   ///< the exchange's event time
};

/// What an alert says (one event, or a liquidation window of several).
struct alert {
    kind k = kind::liquidation;
    std::string symbol;
    std::string side;
    std::uint32_t count = 0;
    double total_usd = 0;
    double largest_usd = 0;
    double price = 0;            ///< the largest one's
    double qty = 0;              ///< the largest one's
    std::int64_t first_ms = 0;
    std::int64_t last_ms = 0;
};

/// An open liquidation window of one symbol and side.
struct window {
    alert acc;
    std::int64_t closes_at_ms = 0;   ///< local clock (the caller's now + window)

    std::string encode() const;
    static std::optional<window> decode(std::string_view bytes, std::string* error = nullptr);
};

/// Liquidation side from Binance's order side: SELL -> "LONG", BUY -> "SHORT".
std::string_view liquidated_position(bool order_is_sell) noexcept;
/// Whale side: "BUY" when the buyer was the taker (buyer_is_maker false).
std::string_view taker_side(bool buyer_is_maker) noexcept;

/// Windows per (symbol, side), keyed "SYMBOL/SIDE".
class debouncer {
public:
    explicit debouncer(std::chrono::milliseconds window) : window_(window) {}

    /// Adds a qualifying liquidation at local time `now_ms`; returns the key of the window it
    /// joined (opened or extended), whose new content the caller commits. A window of 0 ms
    /// closes at once (every liquidation its own alert).
    std::string add(const event& e, std::int64_t now_ms);
    /// Windows that closed by `now_ms` (removed; the caller commits their alerts).
    std::vector<std::pair<std::string, alert>> due(std::int64_t now_ms);
    /// Puts back a window read from the state (restart).
    void restore(std::string key, window w) { open_[std::move(key)] = std::move(w); }
    const std::map<std::string, window>& open() const noexcept { return open_; }

private:
    std::chrono::milliseconds window_;
    std::map<std::string, window> open_;
};

/// "$1,250,000" (whole dollars, thousands separated).
std::string usd(double amount);
/// "$56,738.00" (cents; more decimals for prices under $1: "$0.001234").
std::string price(double p);
/// "19:30:45 UTC".
std::string utc_time(std::int64_t ms);

/// The Telegram text: TELEGLAS's lines for one event, the burst shape for a window of several.
std::string text(const alert& a);

}  // namespace vs::liquidations
