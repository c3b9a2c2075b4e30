#pragma once
// Turns the collected fields of one row into a finished FlatBuffer of
// schemas/market_data.fbs, validating as it converts.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "flat_table.hpp"
#include "row_fields.hpp"
#include "vs/feed/parser.hpp"

namespace vs::feed::detail {

enum class event : std::uint8_t { unknown, mark_price, ticker, force_order, agg_trade, kline };

/// The event of an "e" value ("markPriceUpdate", "24hrTicker", ...).
event event_of_name(std::string_view e) noexcept;

/// The event a stream name carries: "!markPrice@arr@1s", "btcusdt@markPrice",
/// "!ticker@arr", "!forceOrder@arr", "btcusdt@aggTrade", "btcusdt@kline_1m", ...
event event_of_stream(std::string_view stream) noexcept;

/// Nullptr when `s` is a usable symbol; otherwise why not. A symbol is 1..max_bytes bytes of
/// valid UTF-8 whose ASCII characters are letters, digits, '_', '-' or '.'.
const char* check_symbol(std::string_view s, std::size_t max_bytes) noexcept;

/// `st` when present (1 UsdM, 2 CoinM), else CoinM for a "USD_" symbol (BTCUSD_PERP,
/// BTCUSD_250627), else Unknown.
vs::schema::MarketType market_of(const row_fields* st_source, std::string_view symbol) noexcept;

class record_builder {
public:
    explicit record_builder(std::size_t max_symbol_bytes);

    /// Builds the record of `ev` from `r`. On success returns nullptr and fills `out` (its
    /// views point into this builder until the next build()); otherwise returns why the
    /// row was rejected.
    const char* build(event ev, const row& r, std::int64_t recv_ns, parsed_record& out);

    /// Staging (see flat_writer): keeps the record of the last successful build() and
    /// returns its offset; kept() gives it back; restart() forgets every kept record.
    std::size_t keep() noexcept { return out_.keep(); }
    std::span<const std::byte> kept(std::size_t offset, std::size_t size) const noexcept
    {
        return out_.kept(offset, size);
    }
    void restart() noexcept { out_.restart(); }

    /// The table MarkPrice records take funding_interval_hours from (nullptr: 0 for all);
    /// the caller keeps it alive while it is set.
    void set_funding_intervals(const funding_interval_map* table) noexcept { funding_intervals_ = table; }

    /// The symbol of the last row handed to build(), accepted or not (for stream names).
    std::string_view last_symbol() const noexcept { return last_symbol_; }

private:
    const char* mark_price(const row& r, std::int64_t recv_ns, parsed_record& out);
    const char* ticker(const row& r, std::int64_t recv_ns, parsed_record& out);
    const char* force_order(const row& r, std::int64_t recv_ns, parsed_record& out);
    const char* agg_trade(const row& r, std::int64_t recv_ns, parsed_record& out);
    const char* kline(const row& r, std::int64_t recv_ns, parsed_record& out);
    void finish(std::uint16_t type, std::string_view symbol, vs::schema::MarketType market,
                parsed_record& out);

    std::size_t max_symbol_bytes_;
    std::string_view last_symbol_;
    const funding_interval_map* funding_intervals_ = nullptr;
    flat_writer out_;
};

}  // namespace vs::feed::detail
