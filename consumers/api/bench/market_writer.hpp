#pragma once
// Builds the market records vs-api reads (MarkPrice, Ticker24h, FeedStatus) and publishes
// them on a bus writer. Shared by vs-api-bench-writer and the vs-api tests.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "schemas/common_generated.h"
#include "schemas/feed_status_generated.h"
#include "schemas/market_data_generated.h"
#include "vs/bus/channel.hpp"

namespace vs::api::bench {

inline std::span<const std::byte> bytes_of(const flatbuffers::FlatBufferBuilder& b)
{
    return {reinterpret_cast<const std::byte*>(b.GetBufferPointer()), b.GetSize()};
}

struct mark_values {
    double mark_price = 0;
    double index_price = 0;
    double funding_rate = 0;
    std::int64_t next_funding_time_ms = 1702656000000;
    std::uint8_t funding_interval_hours = 8;
    schema::MarketType market = schema::MarketType::UsdM;
};

inline bus::publish_status publish_mark(bus::writer& w, std::string_view symbol, const mark_values& v,
                                        std::int64_t recv_ns)
{
    flatbuffers::FlatBufferBuilder b{256};
    const auto sym = b.CreateString(symbol.data(), symbol.size());
    schema::MarkPriceBuilder mb{b};
    mb.add_symbol(sym);
    mb.add_event_time_ms(recv_ns / 1'000'000);
    mb.add_recv_time_ns(recv_ns);
    mb.add_market(v.market);
    mb.add_mark_price(v.mark_price);
    mb.add_index_price(v.index_price);
    mb.add_funding_rate(v.funding_rate);
    mb.add_next_funding_time_ms(v.next_funding_time_ms);
    mb.add_funding_interval_hours(v.funding_interval_hours);
    b.Finish(mb.Finish());
    return w.publish(static_cast<bus::record_type>(schema::RecordType::MarkPrice), symbol, bytes_of(b), recv_ns);
}

inline bus::publish_status publish_ticker(bus::writer& w, std::string_view symbol, double last_price,
                                          double quote_volume, std::int64_t recv_ns,
                                          schema::MarketType market = schema::MarketType::UsdM)
{
    flatbuffers::FlatBufferBuilder b{256};
    const auto sym = b.CreateString(symbol.data(), symbol.size());
    schema::Ticker24hBuilder tb{b};
    tb.add_symbol(sym);
    tb.add_event_time_ms(recv_ns / 1'000'000);
    tb.add_recv_time_ns(recv_ns);
    tb.add_market(market);
    tb.add_last_price(last_price);
    tb.add_price_change(last_price * 0.01);
    tb.add_price_change_percent(1.0);
    tb.add_open_price(last_price * 0.99);
    tb.add_high_price(last_price * 1.02);
    tb.add_low_price(last_price * 0.98);
    tb.add_volume(quote_volume / last_price);
    tb.add_quote_volume(quote_volume);
    tb.add_trade_count(1000);
    b.Finish(tb.Finish());
    return w.publish(static_cast<bus::record_type>(schema::RecordType::Ticker24h), symbol, bytes_of(b), recv_ns);
}

struct feed_values {
    bool connected = true;
    bool healthy = true;
    std::string reason;
    std::int64_t started_ns = 0;
    std::int64_t last_connected_ns = 0;
    std::uint64_t messages_received = 125000;
    std::uint64_t reconnect_attempts = 0;
    std::uint32_t symbol_count = 0;
    /// Price streams: name and last frame time (stale_after 30 s); 0 = never.
    std::vector<std::pair<std::string, std::int64_t>> streams;
};

inline bus::publish_status publish_feed_status(bus::writer& w, const feed_values& v, std::int64_t now_ns)
{
    flatbuffers::FlatBufferBuilder b{512};
    std::vector<flatbuffers::Offset<schema::StreamStatus>> streams;
    for (const auto& [name, last] : v.streams) {
        const auto n = b.CreateString(name);
        // Liquidations may be quiet for long: no freshness rule for them, as in vs-feed.
        const std::int64_t stale_after = name.find("forceOrder") != std::string::npos ? 0 : 30'000;
        const bool stale = stale_after > 0 && (last == 0 || now_ns - last > stale_after * 1'000'000);
        streams.push_back(schema::CreateStreamStatus(b, n, last, 1000, stale_after, stale));
    }
    const auto sv = b.CreateVector(streams);
    const auto sym = b.CreateString("");
    const auto url = b.CreateString("wss://fstream.binance.com/market/stream");
    const auto reason = b.CreateString(v.reason);
    schema::FeedStatusBuilder fb{b};
    fb.add_symbol(sym);
    fb.add_event_time_ms(now_ns / 1'000'000);
    fb.add_recv_time_ns(now_ns);
    fb.add_market(schema::MarketType::UsdM);
    fb.add_connected(v.connected);
    fb.add_healthy(v.healthy);
    fb.add_url(url);
    fb.add_started_ns(v.started_ns);
    fb.add_last_connected_ns(v.last_connected_ns);
    fb.add_reconnect_attempts(v.reconnect_attempts);
    fb.add_messages_received(v.messages_received);
    fb.add_symbol_count(v.symbol_count);
    fb.add_streams(sv);
    fb.add_reason(reason);
    b.Finish(fb.Finish());
    return w.publish(static_cast<bus::record_type>(schema::RecordType::FeedStatus), "", bytes_of(b), now_ns);
}

/// make_state.py's symbol names: BTCUSDT, ETHUSDT, SOLUSDT, SYM003USDT, SYM004USDT, ...
inline std::string bench_symbol(std::size_t i)
{
    static const char* first[] = {"BTCUSDT", "ETHUSDT", "SOLUSDT"};
    if (i < 3) {
        return first[i];
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "SYM%03zuUSDT", i);
    return buf;
}

}  // namespace vs::api::bench
