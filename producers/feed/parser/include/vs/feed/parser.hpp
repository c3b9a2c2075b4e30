#pragma once
// The Binance USDⓈ-M market-stream frame parser of vs-feed: one WebSocket text frame in,
// one finished FlatBuffer record (schemas/market_data.fbs) per accepted row out.
//
// Accepted frame shapes:
//   - a combined-stream envelope {"stream":"<name>","data":<object or array>}
//     (`/market/stream?streams=...`);
//   - a raw payload, object or array (`/market/ws/<stream>`);
//   - a subscription reply {"result":null,"id":1} and an exchange error
//     {"code":-1121,"msg":"..."} (or {"error":{...},"id":1}): reported, no rows.
// Rows: markPriceUpdate, 24hrTicker, forceOrder (nested "o"), aggTrade, kline (nested "k"),
// typed by "e", else by the stream name, else (REST replies such as premiumIndex fed as-is)
// by their keys. Every field alias the old Python daemon accepted is accepted: funding rate
// r, R, fr, lastFundingRate, fundingRate, estimatedSettlePriceRate; mark price p, markPrice,
// c, lastPrice (the first alias present is the value). Numbers may be JSON strings or
// numbers; "" and null mean absent; unknown keys are ignored.
//
// Validation: a row is rejected (skipped, counted, its neighbours kept) for a missing,
// non-numeric, NaN, infinite, zero or negative price, an absurd mark price (>= 1e9), a
// non-finite rate, a non-integer time,
// an empty, over-long or invalid symbol (1..max_symbol_bytes bytes of UTF-8; ASCII limited to
// letters, digits, '_', '-', '.'), an unknown event type or a row that is not an object. A
// frame is rejected whole, before any row is delivered, when it is malformed JSON (invalid
// UTF-8 included), larger than max_frame_bytes, or of an unexpected shape.
//
// Market type: `st` 1 -> UsdM, 2 -> CoinM; without `st`, a symbol with "USD_" (BTCUSD_PERP)
// is CoinM, anything else Unknown. COIN-M rows are delivered, marked, and counted; the
// caller decides whether to keep them. Funding interval is not in the frames: it is looked up
// by symbol in the table set_funding_intervals() gives (REST fundingInfo + exchangeInfo, see
// vs-feed's exchange_universe.hpp), 0 (unknown) for a symbol it lacks or without a table.
//
// Two paths, one behaviour: the usual shapes (an envelope of "stream" then "data", or a raw
// array, whose rows are objects of scalars with "o"/"k" the only nesting) are read with
// simdjson On-Demand, every value validated and every record kept back until the frame has
// been read to its end; the first thing outside those shapes (or any error) sends the whole
// frame to the DOM path, which decides everything else, rejections included.
//
// Threads: a frame_parser belongs to one thread. Errors: parse() never throws on any input
// and never allocates per frame once its buffers have grown to the largest frame seen.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "schemas/common_generated.h"
#include "vs/bus/channel.hpp"
#include "vs/common/function_ref.hpp"

namespace vs::feed {

/// Readable bytes parse_in_place() needs after a frame (simdjson's padding).
inline constexpr std::size_t frame_padding = 64;

struct parser_options {
    std::size_t max_frame_bytes = 8u << 20;   ///< larger frames are rejected whole (counted)
    std::size_t max_symbol_bytes = 32;        ///< longer symbols: row rejected (counted)
    /// Read the frame's usual shapes with simdjson On-Demand first (no DOM is built), falling
    /// back to the DOM path for anything else. Both give the same rows, errors and counters
    /// for every frame (the tests hold them to it); false: always the DOM path.
    bool on_demand = true;
};

/// One accepted row, handed to the sink. Views are valid until the sink returns.
struct parsed_record {
    vs::bus::record_type type = 0;            ///< vs::schema::RecordType value
    std::string_view symbol;                  ///< validated UTF-8, 1..max_symbol_bytes bytes
    vs::schema::MarketType market = vs::schema::MarketType::Unknown;  ///< from `st` (or the symbol)
    std::span<const std::byte> bytes;         ///< the finished FlatBuffer
};

/// What parse() hands each accepted row to: any callable taking `const parsed_record&`.
using record_sink = vs::function_ref<void(const parsed_record&)>;

enum class frame_kind : std::uint8_t {
    data,                ///< market data (rows_accepted may still be 0 if every row was bad)
    subscription_reply,  ///< {"result":...,"id":...}
    exchange_error,      ///< {"code":..,"msg":..} or {"error":..}
    rejected,            ///< malformed, oversized or of an unexpected shape (see error)
};

/// What one parse() saw.
struct frame_result {
    frame_kind kind = frame_kind::rejected;
    /// The envelope's "stream", or the stream the raw payload's "e" implies
    /// ("!markPrice@arr", "btcusdt@aggTrade", ...); empty when unknown. Valid until the next
    /// parse().
    std::string_view stream;
    std::size_t rows_accepted = 0;
    std::size_t rows_rejected = 0;
    /// Static string naming why the frame or the last rejected row was rejected; nullptr
    /// when nothing was rejected.
    const char* error = nullptr;
    /// The exchange's own text for exchange_error ("msg"), empty otherwise. Valid until the
    /// next parse().
    std::string_view detail;
};

/// A row rejected for its values whose symbol is usable (the rejected-row sink's argument).
struct rejected_row {
    vs::bus::record_type type = 0;   ///< the record the row would have made (MarkPrice, ...)
    std::string_view symbol;         ///< valid until the sink returns
    const char* error = nullptr;     ///< why (static string)
};
using rejected_row_sink = std::function<void(const rejected_row&)>;

/// Cumulative counters since construction, for the feed's status record.
struct parser_counters {
    std::uint64_t frames = 0;             ///< every parse() call
    std::uint64_t frames_rejected = 0;    ///< kind == rejected (oversized included)
    std::uint64_t rows_accepted = 0;
    std::uint64_t rows_rejected = 0;      ///< bad rows (unknown events included)
    std::uint64_t rows_coin_m = 0;        ///< accepted rows marked CoinM
    std::uint64_t oversized_frames = 0;   ///< frames above max_frame_bytes
    std::uint64_t unknown_event_rows = 0; ///< rows whose "e"/stream is not a known event
    std::uint64_t frames_on_demand = 0;   ///< frames read whole by the On-Demand path (the rest: DOM)
};

/// std::hash of a string_view, for heterogeneous lookups (find(string_view), no allocation).
struct symbol_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// Funding interval in hours by symbol, written into every MarkPrice record built.
using funding_interval_map = std::unordered_map<std::string, std::uint8_t, symbol_hash, std::equal_to<>>;

class frame_parser {
public:
    explicit frame_parser(parser_options options = {});
    ~frame_parser();
    frame_parser(frame_parser&&) noexcept;
    frame_parser& operator=(frame_parser&&) noexcept;
    frame_parser(const frame_parser&) = delete;
    frame_parser& operator=(const frame_parser&) = delete;

    /// Parses one WebSocket text frame and calls sink(const parsed_record&) once per accepted
    /// row, in frame order. Each record carries event_time_ms from "E" and
    /// recv_time_ns = recv_ns. Never throws on input; an exception thrown by the sink itself
    /// propagates.
    frame_result parse(std::string_view frame, std::int64_t recv_ns, record_sink sink);

    /// parse() without copying the frame first: the caller promises that the frame_padding
    /// bytes after frame.data() + frame.size() are readable memory of its own (their values do
    /// not matter) and that the frame does not change until this returns. vs-feed's WebSocket
    /// connections keep that much room after every message they read.
    frame_result parse_in_place(std::string_view frame, std::int64_t recv_ns, record_sink sink);

    /// Called during parse() for every rejected row whose symbol is usable (a NaN, negative
    /// or absurd price of a known-looking symbol), after the counters moved: vs-feed lists
    /// symbols whose values stay invalid. Empty: none.
    void on_rejected_row(rejected_row_sink sink);

    /// The table MarkPrice records take funding_interval_hours from (one hash look-up per
    /// MarkPrice row, no allocation); a symbol absent from it, or no table (nullptr, the
    /// default), gets 0 = unknown. Kept until replaced; call between parse() calls.
    void set_funding_intervals(std::shared_ptr<const funding_interval_map> table) noexcept;

    const parser_counters& counters() const noexcept;
    const parser_options& options() const noexcept;

    class impl;

private:
    std::unique_ptr<impl> impl_;
};

/// "data", "subscription_reply", "exchange_error", "rejected".
const char* to_string(frame_kind k) noexcept;

}  // namespace vs::feed
