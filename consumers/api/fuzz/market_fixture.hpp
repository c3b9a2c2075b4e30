#pragma once
// A small market for the fuzz target (no bus needed): a few USD-M and COIN-M mark prices,
// tickers, a feed status, OI and a universe, from the one record factory
// (tests/support/records.hpp).
#include <string>

#include "tests/support/records.hpp"
#include "vs/api/memory_source.hpp"

namespace vs::api::fuzz {

inline void fill_market(memory_source& s)
{
    constexpr std::int64_t now = 1'702'652'400'000'000'000;
    const auto put = [&](channel_id ch, const auto& f) { s.put(ch, f.type, std::string{f.symbol}, test::encode(f), now); };
    const char* syms[] = {"BTCUSDT", "ETHUSDT", "BTCUSD_PERP", "\xe5\xb8\x81\xe5\xae\x89USDT", "A\"B"};
    int i = 0;
    for (const char* sym : syms) {
        const auto market = i == 2 ? schema::MarketType::CoinM : schema::MarketType::UsdM;
        put(channel_id::market, test::mark_price_fields{.symbol = sym,
                                                        .recv_time_ns = now,
                                                        .market = market,
                                                        .mark_price = 100.0 + i,
                                                        .index_price = 99.0,
                                                        .estimated_settle_price = 99.5,
                                                        .funding_rate = 0.0001});
        put(channel_id::market, test::ticker_fields{.symbol = sym,
                                                    .recv_time_ns = now,
                                                    .market = market,
                                                    .pair = "X",
                                                    .price_change = 1.0,
                                                    .price_change_percent = 1.0,
                                                    .weighted_avg_price = 1.0,
                                                    .last_price = 100.0});
        put(channel_id::oi, test::open_interest_fields{.symbol = sym,
                                                       .recv_time_ns = now,
                                                       .market = market,
                                                       .open_interest = 1000.0,
                                                       .mark_price = 100.0,
                                                       .open_interest_usd = 100000.0});
        ++i;
    }
    put(channel_id::market, test::feed_status_fields{.recv_time_ns = now,
                                                     .url = "wss://x",
                                                     .started_ns = now,
                                                     .last_connected_ns = now,
                                                     .messages_received = 5,
                                                     .symbol_count = 5,
                                                     .streams = {{"!markPrice@arr@1s", now, 10, 30000, false},
                                                                 {"!forceOrder@arr", 0, 0, 0, false}}});
    put(channel_id::oi, test::universe_fields{.recv_time_ns = now});
    bus::channel_status st;
    st.attached = true;
    st.writer_alive = true;
    st.generation = 1;
    st.heartbeat_age_ns = 1000;
    s.set_status(channel_id::market, st);
    s.set_status(channel_id::oi, st);
}

}  // namespace vs::api::fuzz
