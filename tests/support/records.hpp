#pragma once
// The one factory of FlatBuffer records for tests, benchmarks and fuzzers: MarkPrice,
// Ticker24h, OpenInterest, LiquidUniverse and FeedStatus from plain structs with defaults,
// so that a caller names only what it cares about (designated initializers):
//
//   const vs::test::mark_price_fields m{.symbol = "BTCUSDT", .recv_time_ns = now, .mark_price = 42.5};
//   w.publish(m.type, m.symbol, vs::test::encode(m), m.recv_time_ns);       // a bus writer
//   vs::test::build(fbb, m);                                                 // a reused builder
//
// No bus dependency (flatbuffers and the generated schemas only), so that the bus-free fuzz
// target can use it. Tests include it as "records.hpp"; the vs-api bench writer, the fuzz
// target and vs-bus-bench as "tests/support/records.hpp" (the source root is on their path).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "schemas/common_generated.h"
#include "schemas/feed_status_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/open_interest_generated.h"
#include "schemas/universe_generated.h"

namespace vs::test {

/// A fixed, plausible receive time (2023-11-14): records whose time does not matter.
inline constexpr std::int64_t fixed_time_ns = 1'700'000'000'000'000'000;
inline constexpr double absent = std::numeric_limits<double>::quiet_NaN();   ///< a price left out

constexpr std::uint16_t record_type_of(schema::RecordType t) { return static_cast<std::uint16_t>(t); }

/// The finished buffer of `fbb`, in place.
inline std::span<const std::byte> bytes_of(const flatbuffers::FlatBufferBuilder& fbb)
{
    return {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

/// A copy of the finished buffer of `fbb`.
inline std::vector<std::byte> finish(const flatbuffers::FlatBufferBuilder& fbb)
{
    const auto b = bytes_of(fbb);
    return {b.begin(), b.end()};
}

namespace records_detail {
inline flatbuffers::Offset<flatbuffers::String> string(flatbuffers::FlatBufferBuilder& fbb, std::string_view s)
{
    return fbb.CreateString(s.data(), s.size());
}
/// The fields every record starts with: symbol, event time (as given, or -1: the receive
/// time in ms), receive time, market.
template <class Builder, class Fields>
void add_head(Builder& b, flatbuffers::Offset<flatbuffers::String> symbol, const Fields& f)
{
    b.add_symbol(symbol);
    b.add_event_time_ms(f.event_time_ms >= 0 ? f.event_time_ms : f.recv_time_ns / 1'000'000);
    b.add_recv_time_ns(f.recv_time_ns);
    b.add_market(f.market);
}
}  // namespace records_detail

// ---- MarkPrice ---------------------------------------------------------------------------

struct mark_price_fields {
    static constexpr std::uint16_t type = record_type_of(schema::RecordType::MarkPrice);
    std::string_view symbol = "BTCUSDT";
    std::int64_t recv_time_ns = fixed_time_ns;
    std::int64_t event_time_ms = -1;   ///< -1: recv_time_ns in ms
    schema::MarketType market = schema::MarketType::UsdM;
    double mark_price = 0;
    double index_price = 0;
    double estimated_settle_price = absent;
    double funding_rate = 0;
    std::int64_t next_funding_time_ms = 1'702'656'000'000;
    std::uint8_t funding_interval_hours = 8;
};

/// Builds `f` into `fbb` (cleared first: a builder can be reused); the bytes stay in `fbb`.
inline std::span<const std::byte> build(flatbuffers::FlatBufferBuilder& fbb, const mark_price_fields& f)
{
    fbb.Clear();
    const auto sym = records_detail::string(fbb, f.symbol);
    schema::MarkPriceBuilder b{fbb};
    records_detail::add_head(b, sym, f);
    b.add_mark_price(f.mark_price);
    b.add_index_price(f.index_price);
    b.add_estimated_settle_price(f.estimated_settle_price);
    b.add_funding_rate(f.funding_rate);
    b.add_next_funding_time_ms(f.next_funding_time_ms);
    b.add_funding_interval_hours(f.funding_interval_hours);
    fbb.Finish(b.Finish());
    return bytes_of(fbb);
}

/// The short form most tests use: a USD-M mark price with an index 0.01 % below it and the
/// next funding an hour after the event.
inline std::vector<std::byte> mark_price(std::string_view symbol, double price, std::int64_t event_ms = 1'700'000'000'000,
                                         double funding = 0.0001, std::int64_t recv_ns = fixed_time_ns);

// ---- Ticker24h ---------------------------------------------------------------------------

struct ticker_fields {
    static constexpr std::uint16_t type = record_type_of(schema::RecordType::Ticker24h);
    std::string_view symbol = "BTCUSDT";
    std::int64_t recv_time_ns = fixed_time_ns;
    std::int64_t event_time_ms = -1;   ///< -1: recv_time_ns in ms
    schema::MarketType market = schema::MarketType::UsdM;
    std::string_view pair = {};        ///< empty: left out
    double price_change = absent;
    double price_change_percent = absent;
    double weighted_avg_price = absent;
    double last_price = absent;
    double last_qty = absent;
    double open_price = absent;
    double high_price = absent;
    double low_price = absent;
    double volume = absent;
    double quote_volume = absent;
    std::int64_t open_time_ms = 0;
    std::int64_t close_time_ms = 0;
    std::int64_t first_trade_id = 0;
    std::int64_t last_trade_id = 0;
    std::int64_t trade_count = 0;
};

inline std::span<const std::byte> build(flatbuffers::FlatBufferBuilder& fbb, const ticker_fields& f)
{
    fbb.Clear();
    const auto sym = records_detail::string(fbb, f.symbol);
    const auto pair = f.pair.empty() ? flatbuffers::Offset<flatbuffers::String>{} : records_detail::string(fbb, f.pair);
    schema::Ticker24hBuilder b{fbb};
    records_detail::add_head(b, sym, f);
    if (!f.pair.empty()) {
        b.add_pair(pair);
    }
    b.add_price_change(f.price_change);
    b.add_price_change_percent(f.price_change_percent);
    b.add_weighted_avg_price(f.weighted_avg_price);
    b.add_last_price(f.last_price);
    b.add_last_qty(f.last_qty);
    b.add_open_price(f.open_price);
    b.add_high_price(f.high_price);
    b.add_low_price(f.low_price);
    b.add_volume(f.volume);
    b.add_quote_volume(f.quote_volume);
    b.add_open_time_ms(f.open_time_ms);
    b.add_close_time_ms(f.close_time_ms);
    b.add_first_trade_id(f.first_trade_id);
    b.add_last_trade_id(f.last_trade_id);
    b.add_trade_count(f.trade_count);
    fbb.Finish(b.Finish());
    return bytes_of(fbb);
}

/// A 24 h ticker around `last_price`: up 1 % on the day (open 1 % below), high and low 2 %
/// either side, `quote_volume` over 1000 trades.
inline ticker_fields ticker_around(std::string_view symbol, double last_price, double quote_volume,
                                   std::int64_t recv_ns = fixed_time_ns,
                                   schema::MarketType market = schema::MarketType::UsdM)
{
    ticker_fields t;
    t.symbol = symbol;
    t.recv_time_ns = recv_ns;
    t.market = market;
    t.last_price = last_price;
    t.price_change = last_price * 0.01;
    t.price_change_percent = 1.0;
    t.open_price = last_price * 0.99;
    t.high_price = last_price * 1.02;
    t.low_price = last_price * 0.98;
    t.volume = quote_volume / last_price;
    t.quote_volume = quote_volume;
    t.trade_count = 1000;
    return t;
}

// ---- OpenInterest ------------------------------------------------------------------------

struct open_interest_fields {
    static constexpr std::uint16_t type = record_type_of(schema::RecordType::OpenInterest);
    std::string_view symbol = "BTCUSDT";
    std::int64_t recv_time_ns = fixed_time_ns;
    std::int64_t event_time_ms = -1;   ///< -1: recv_time_ns in ms
    schema::MarketType market = schema::MarketType::UsdM;
    double open_interest = absent;
    double mark_price = absent;
    double open_interest_usd = absent;   ///< absent: open_interest * mark_price
};

inline std::span<const std::byte> build(flatbuffers::FlatBufferBuilder& fbb, const open_interest_fields& f)
{
    fbb.Clear();
    const auto sym = records_detail::string(fbb, f.symbol);
    schema::OpenInterestBuilder b{fbb};
    records_detail::add_head(b, sym, f);
    b.add_open_interest(f.open_interest);
    b.add_mark_price(f.mark_price);
    b.add_open_interest_usd(std::isnan(f.open_interest_usd) ? f.open_interest * f.mark_price : f.open_interest_usd);
    fbb.Finish(b.Finish());
    return bytes_of(fbb);
}

// ---- LiquidUniverse ----------------------------------------------------------------------

struct universe_fields {
    static constexpr std::uint16_t type = record_type_of(schema::RecordType::LiquidUniverse);
    std::string_view symbol = "";   ///< always "": one universe per channel
    std::int64_t recv_time_ns = fixed_time_ns;
    std::int64_t event_time_ms = -1;   ///< -1: recv_time_ns in ms
    schema::MarketType market = schema::MarketType::UsdM;
    /// nullopt: the vector is left out (as opposed to present and empty).
    std::optional<std::vector<std::string_view>> symbols{};
    std::optional<std::vector<std::string_view>> added{};
    std::optional<std::vector<std::string_view>> removed{};
    double enter_quote_volume_usd = 4e6;
    double exit_quote_volume_usd = 2e6;
};

inline std::span<const std::byte> build(flatbuffers::FlatBufferBuilder& fbb, const universe_fields& f)
{
    fbb.Clear();
    const auto list = [&](const std::optional<std::vector<std::string_view>>& v) {
        if (!v) {
            return flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>>{};
        }
        std::vector<flatbuffers::Offset<flatbuffers::String>> s;
        for (const auto sv : *v) {
            s.push_back(records_detail::string(fbb, sv));
        }
        return fbb.CreateVector(s);
    };
    const auto sym = records_detail::string(fbb, f.symbol);
    const auto symbols = list(f.symbols);
    const auto added = list(f.added);
    const auto removed = list(f.removed);
    schema::LiquidUniverseBuilder b{fbb};
    records_detail::add_head(b, sym, f);
    b.add_symbols(symbols);
    b.add_added(added);
    b.add_removed(removed);
    b.add_enter_quote_volume_usd(f.enter_quote_volume_usd);
    b.add_exit_quote_volume_usd(f.exit_quote_volume_usd);
    fbb.Finish(b.Finish());
    return bytes_of(fbb);
}

// ---- FeedStatus --------------------------------------------------------------------------

struct stream_fields {
    std::string_view name{};
    std::int64_t last_frame_ns = 0;   ///< 0: never
    std::uint64_t frames = 0;
    std::int64_t stale_after_ms = 0;  ///< 0: no freshness rule
    bool stale = false;
};

struct feed_status_fields {
    static constexpr std::uint16_t type = record_type_of(schema::RecordType::FeedStatus);
    std::string_view symbol = "";   ///< always ""
    std::int64_t recv_time_ns = fixed_time_ns;
    std::int64_t event_time_ms = -1;   ///< -1: recv_time_ns in ms
    schema::MarketType market = schema::MarketType::UsdM;
    bool connected = true;
    bool healthy = true;
    std::string_view url = "wss://fstream.binance.com/market/stream";
    std::int64_t started_ns = 0;
    std::int64_t last_connected_ns = 0;
    std::uint64_t reconnect_attempts = 0;
    std::uint64_t messages_received = 0;
    std::uint64_t frames_rejected = 0;
    std::uint64_t rows_rejected = 0;
    std::uint32_t symbol_count = 0;
    std::vector<stream_fields> streams{};
    std::string_view reason = "";
};

inline std::span<const std::byte> build(flatbuffers::FlatBufferBuilder& fbb, const feed_status_fields& f)
{
    fbb.Clear();
    std::vector<flatbuffers::Offset<schema::StreamStatus>> streams;
    for (const auto& s : f.streams) {
        const auto name = records_detail::string(fbb, s.name);
        streams.push_back(schema::CreateStreamStatus(fbb, name, s.last_frame_ns, s.frames, s.stale_after_ms, s.stale));
    }
    const auto sv = fbb.CreateVector(streams);
    const auto sym = records_detail::string(fbb, f.symbol);
    const auto url = records_detail::string(fbb, f.url);
    const auto reason = records_detail::string(fbb, f.reason);
    schema::FeedStatusBuilder b{fbb};
    records_detail::add_head(b, sym, f);
    b.add_connected(f.connected);
    b.add_healthy(f.healthy);
    b.add_url(url);
    b.add_started_ns(f.started_ns);
    b.add_last_connected_ns(f.last_connected_ns);
    b.add_reconnect_attempts(f.reconnect_attempts);
    b.add_messages_received(f.messages_received);
    b.add_frames_rejected(f.frames_rejected);
    b.add_rows_rejected(f.rows_rejected);
    b.add_symbol_count(f.symbol_count);
    b.add_streams(sv);
    b.add_reason(reason);
    fbb.Finish(b.Finish());
    return bytes_of(fbb);
}

/// A stream as vs-feed reports it at `now_ns`: 1000 frames, stale 30 s after its last frame
/// (0 = never), except liquidations, which may be quiet for long and have no freshness rule.
inline stream_fields feed_stream(std::string_view name, std::int64_t last_frame_ns, std::int64_t now_ns)
{
    const std::int64_t stale_after_ms = name.find("forceOrder") != std::string_view::npos ? 0 : 30'000;
    const bool stale = stale_after_ms > 0 && (last_frame_ns == 0 || now_ns - last_frame_ns > stale_after_ms * 1'000'000);
    return {name, last_frame_ns, 1000, stale_after_ms, stale};
}

/// vs-feed's default streams at `now_ns`, the price streams' last frames at `prices_at_ns`
/// and no liquidation yet.
inline std::vector<stream_fields> feed_streams(std::int64_t now_ns, std::int64_t prices_at_ns)
{
    return {feed_stream("!markPrice@arr@1s", prices_at_ns, now_ns), feed_stream("!ticker@arr", prices_at_ns, now_ns),
            feed_stream("!forceOrder@arr", 0, now_ns)};
}

/// A healthy vs-feed status at `now_ns` with fresh price streams: up an hour, connected for
/// a minute, `symbols` symbols.
inline feed_status_fields healthy_feed_status(std::uint32_t symbols, std::int64_t now_ns)
{
    feed_status_fields f;
    f.recv_time_ns = now_ns;
    f.started_ns = now_ns - 3'600'000'000'000;
    f.last_connected_ns = now_ns - 60'000'000'000;
    f.messages_received = 36624;
    f.symbol_count = symbols;
    f.streams = feed_streams(now_ns, now_ns);
    return f;
}

// ---- any record --------------------------------------------------------------------------

/// A copy of `f`'s record bytes.
template <class Fields>
std::vector<std::byte> encode(const Fields& f)
{
    flatbuffers::FlatBufferBuilder fbb{512};
    build(fbb, f);
    return finish(fbb);
}

inline std::vector<std::byte> mark_price(std::string_view symbol, double price, std::int64_t event_ms, double funding,
                                         std::int64_t recv_ns)
{
    mark_price_fields f;
    f.symbol = symbol;
    f.recv_time_ns = recv_ns;
    f.event_time_ms = event_ms;
    f.mark_price = price;
    f.index_price = price * 0.9999;
    f.funding_rate = funding;
    f.next_funding_time_ms = event_ms + 3'600'000;
    return encode(f);
}

/// make_state.py's symbol names (the old state file the benchmarks compare with): BTCUSDT,
/// ETHUSDT, SOLUSDT, then SYM003USDT, SYM004USDT, ...
inline std::string state_symbol(std::size_t i)
{
    static const char* const first[] = {"BTCUSDT", "ETHUSDT", "SOLUSDT"};
    if (i < 3) {
        return first[i];
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "SYM%03zuUSDT", i);
    return buf;
}

}  // namespace vs::test
