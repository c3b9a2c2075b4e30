#pragma once
// A small market for the fuzz target (no bus needed): a few USD-M and COIN-M mark prices,
// tickers, a feed status, OI and a universe.
#include <flatbuffers/flatbuffers.h>

#include "schemas/feed_status_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/open_interest_generated.h"
#include "schemas/universe_generated.h"
#include "vs/api/memory_source.hpp"

namespace vs::api::fuzz {

inline std::span<const std::byte> fb_bytes(const flatbuffers::FlatBufferBuilder& b)
{
    return {reinterpret_cast<const std::byte*>(b.GetBufferPointer()), b.GetSize()};
}

inline void fill_market(memory_source& s)
{
    constexpr std::int64_t now = 1'702'652'400'000'000'000;
    const char* syms[] = {"BTCUSDT", "ETHUSDT", "BTCUSD_PERP", "\xe5\xb8\x81\xe5\xae\x89USDT", "A\"B"};
    int i = 0;
    for (const char* sym : syms) {
        flatbuffers::FlatBufferBuilder b;
        const auto market = i == 2 ? schema::MarketType::CoinM : schema::MarketType::UsdM;
        b.Finish(schema::CreateMarkPriceDirect(b, sym, now / 1'000'000, now, market, 100.0 + i, 99.0, 99.5, 0.0001,
                                               1702656000000, 8));
        s.put(channel_id::market, static_cast<bus::record_type>(schema::RecordType::MarkPrice), sym, fb_bytes(b), now);
        flatbuffers::FlatBufferBuilder t;
        t.Finish(schema::CreateTicker24hDirect(t, sym, now / 1'000'000, now, market, "X", 1.0, 1.0, 1.0, 100.0));
        s.put(channel_id::market, static_cast<bus::record_type>(schema::RecordType::Ticker24h), sym, fb_bytes(t), now);
        flatbuffers::FlatBufferBuilder o;
        o.Finish(schema::CreateOpenInterestDirect(o, sym, now / 1'000'000, now, market, 1000.0, 100.0, 100000.0));
        s.put(channel_id::oi, static_cast<bus::record_type>(schema::RecordType::OpenInterest), sym, fb_bytes(o), now);
        ++i;
    }
    flatbuffers::FlatBufferBuilder f;
    std::vector<flatbuffers::Offset<schema::StreamStatus>> streams{
        schema::CreateStreamStatusDirect(f, "!markPrice@arr@1s", now, 10, 30000, false),
        schema::CreateStreamStatusDirect(f, "!forceOrder@arr", 0, 0, 0, false)};
    f.Finish(schema::CreateFeedStatusDirect(f, "", now / 1'000'000, now, schema::MarketType::UsdM, true, true, "wss://x",
                                            now, now, 0, 5, 0, 0, 5, &streams, ""));
    s.put(channel_id::market, static_cast<bus::record_type>(schema::RecordType::FeedStatus), "", fb_bytes(f), now);
    flatbuffers::FlatBufferBuilder u;
    u.Finish(schema::CreateLiquidUniverseDirect(u, "", now / 1'000'000, now, schema::MarketType::UsdM,
                                                nullptr, nullptr, nullptr, 4e6, 2e6));
    s.put(channel_id::oi, static_cast<bus::record_type>(schema::RecordType::LiquidUniverse), "", fb_bytes(u), now);
    bus::channel_status st;
    st.attached = true;
    st.writer_alive = true;
    st.generation = 1;
    st.heartbeat_age_ns = 1000;
    s.set_status(channel_id::market, st);
    s.set_status(channel_id::oi, st);
}

}  // namespace vs::api::fuzz
