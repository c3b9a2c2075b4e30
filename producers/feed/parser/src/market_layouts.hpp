#pragma once
// The fixed FlatBuffers layouts (flat_table.hpp) of the five market_data.fbs tables: field
// indexes in schema order and each field's size. Every field is checked against the generated
// code (vtable slot VT_* and accessor type size), so reordering a field or changing its type
// in market_data.fbs fails to compile here; a field appended to a table is not written (reads
// as its default) until it is added to its list below.
#include <cstddef>
#include <type_traits>
#include <utility>

#include "flat_table.hpp"
#include "schemas/market_data_generated.h"

namespace vs::feed::detail {

/// Bytes of a field in the table: strings are 4-byte offsets.
template <class T>
constexpr std::size_t flat_size()
{
    if constexpr (std::is_same_v<T, const flatbuffers::String*>) {
        return 4;
    } else {
        return sizeof(T);
    }
}

#define VS_FLAT_FIELD(Table, fields, layout, name, vt)                                               \
    static_assert(Table::vt == 4 + 2 * fields::name, #Table "." #name ": vtable slot");             \
    static_assert(flat_size<decltype(std::declval<const Table&>().name())>() == layout.sizes[fields::name], \
                  #Table "." #name ": size")

namespace mark_price_field {
enum : std::size_t {
    symbol, event_time_ms, recv_time_ns, market, mark_price, index_price, estimated_settle_price,
    funding_rate, next_funding_time_ms, funding_interval_hours, count
};
}
constexpr auto mark_price_layout = make_flat_layout<mark_price_field::count>({4, 8, 8, 1, 8, 8, 8, 8, 8, 1});
using vs::schema::MarkPrice;
VS_FLAT_FIELD(MarkPrice, mark_price_field, mark_price_layout, symbol, VT_SYMBOL);
VS_FLAT_FIELD(MarkPrice, mark_price_field, mark_price_layout, event_time_ms, VT_EVENT_TIME_MS);
VS_FLAT_FIELD(MarkPrice, mark_price_field, mark_price_layout, recv_time_ns, VT_RECV_TIME_NS);
VS_FLAT_FIELD(MarkPrice, mark_price_field, mark_price_layout, market, VT_MARKET);
VS_FLAT_FIELD(MarkPrice, mark_price_field, mark_price_layout, mark_price, VT_MARK_PRICE);
VS_FLAT_FIELD(MarkPrice, mark_price_field, mark_price_layout, index_price, VT_INDEX_PRICE);
VS_FLAT_FIELD(MarkPrice, mark_price_field, mark_price_layout, estimated_settle_price, VT_ESTIMATED_SETTLE_PRICE);
VS_FLAT_FIELD(MarkPrice, mark_price_field, mark_price_layout, funding_rate, VT_FUNDING_RATE);
VS_FLAT_FIELD(MarkPrice, mark_price_field, mark_price_layout, next_funding_time_ms, VT_NEXT_FUNDING_TIME_MS);
VS_FLAT_FIELD(MarkPrice, mark_price_field, mark_price_layout, funding_interval_hours, VT_FUNDING_INTERVAL_HOURS);

namespace ticker_field {
enum : std::size_t {
    symbol, event_time_ms, recv_time_ns, market, pair, price_change, price_change_percent,
    weighted_avg_price, last_price, last_qty, open_price, high_price, low_price, volume, quote_volume,
    open_time_ms, close_time_ms, first_trade_id, last_trade_id, trade_count, count
};
}
constexpr auto ticker_layout =
    make_flat_layout<ticker_field::count>({4, 8, 8, 1, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8});
using vs::schema::Ticker24h;
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, symbol, VT_SYMBOL);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, event_time_ms, VT_EVENT_TIME_MS);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, recv_time_ns, VT_RECV_TIME_NS);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, market, VT_MARKET);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, pair, VT_PAIR);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, price_change, VT_PRICE_CHANGE);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, price_change_percent, VT_PRICE_CHANGE_PERCENT);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, weighted_avg_price, VT_WEIGHTED_AVG_PRICE);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, last_price, VT_LAST_PRICE);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, last_qty, VT_LAST_QTY);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, open_price, VT_OPEN_PRICE);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, high_price, VT_HIGH_PRICE);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, low_price, VT_LOW_PRICE);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, volume, VT_VOLUME);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, quote_volume, VT_QUOTE_VOLUME);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, open_time_ms, VT_OPEN_TIME_MS);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, close_time_ms, VT_CLOSE_TIME_MS);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, first_trade_id, VT_FIRST_TRADE_ID);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, last_trade_id, VT_LAST_TRADE_ID);
VS_FLAT_FIELD(Ticker24h, ticker_field, ticker_layout, trade_count, VT_TRADE_COUNT);

namespace liquidation_field {
enum : std::size_t {
    symbol, event_time_ms, recv_time_ns, market, side, order_type, time_in_force, order_status, orig_qty,
    price, avg_price, last_filled_qty, filled_qty, trade_time_ms, count
};
}
constexpr auto liquidation_layout =
    make_flat_layout<liquidation_field::count>({4, 8, 8, 1, 1, 4, 4, 4, 8, 8, 8, 8, 8, 8});
using vs::schema::Liquidation;
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, symbol, VT_SYMBOL);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, event_time_ms, VT_EVENT_TIME_MS);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, recv_time_ns, VT_RECV_TIME_NS);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, market, VT_MARKET);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, side, VT_SIDE);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, order_type, VT_ORDER_TYPE);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, time_in_force, VT_TIME_IN_FORCE);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, order_status, VT_ORDER_STATUS);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, orig_qty, VT_ORIG_QTY);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, price, VT_PRICE);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, avg_price, VT_AVG_PRICE);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, last_filled_qty, VT_LAST_FILLED_QTY);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, filled_qty, VT_FILLED_QTY);
VS_FLAT_FIELD(Liquidation, liquidation_field, liquidation_layout, trade_time_ms, VT_TRADE_TIME_MS);

namespace agg_trade_field {
enum : std::size_t {
    symbol, event_time_ms, recv_time_ns, market, agg_trade_id, price, qty, first_trade_id, last_trade_id,
    trade_time_ms, buyer_is_maker, count
};
}
constexpr auto agg_trade_layout = make_flat_layout<agg_trade_field::count>({4, 8, 8, 1, 8, 8, 8, 8, 8, 8, 1});
using vs::schema::AggTrade;
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, symbol, VT_SYMBOL);
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, event_time_ms, VT_EVENT_TIME_MS);
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, recv_time_ns, VT_RECV_TIME_NS);
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, market, VT_MARKET);
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, agg_trade_id, VT_AGG_TRADE_ID);
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, price, VT_PRICE);
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, qty, VT_QTY);
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, first_trade_id, VT_FIRST_TRADE_ID);
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, last_trade_id, VT_LAST_TRADE_ID);
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, trade_time_ms, VT_TRADE_TIME_MS);
VS_FLAT_FIELD(AggTrade, agg_trade_field, agg_trade_layout, buyer_is_maker, VT_BUYER_IS_MAKER);

namespace kline_field {
enum : std::size_t {
    symbol, event_time_ms, recv_time_ns, market, interval, open_time_ms, close_time_ms, open, high, low,
    close, volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume, closed, count
};
}
constexpr auto kline_layout =
    make_flat_layout<kline_field::count>({4, 8, 8, 1, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 1});
using vs::schema::Kline;
VS_FLAT_FIELD(Kline, kline_field, kline_layout, symbol, VT_SYMBOL);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, event_time_ms, VT_EVENT_TIME_MS);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, recv_time_ns, VT_RECV_TIME_NS);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, market, VT_MARKET);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, interval, VT_INTERVAL);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, open_time_ms, VT_OPEN_TIME_MS);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, close_time_ms, VT_CLOSE_TIME_MS);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, open, VT_OPEN);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, high, VT_HIGH);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, low, VT_LOW);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, close, VT_CLOSE);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, volume, VT_VOLUME);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, quote_volume, VT_QUOTE_VOLUME);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, trade_count, VT_TRADE_COUNT);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, taker_buy_volume, VT_TAKER_BUY_VOLUME);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, taker_buy_quote_volume, VT_TAKER_BUY_QUOTE_VOLUME);
VS_FLAT_FIELD(Kline, kline_field, kline_layout, closed, VT_CLOSED);

#undef VS_FLAT_FIELD

}  // namespace vs::feed::detail
