#pragma once
// Builders of real FlatBuffer records for tests.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "schemas/feed_status_generated.h"
#include "schemas/market_data_generated.h"

namespace vs::test {

inline std::vector<std::byte> finish(flatbuffers::FlatBufferBuilder& fbb)
{
    std::vector<std::byte> out(fbb.GetSize());
    std::memcpy(out.data(), fbb.GetBufferPointer(), fbb.GetSize());
    return out;
}

inline std::vector<std::byte> mark_price(const std::string& symbol, double price, std::int64_t event_ms = 1'700'000'000'000,
                                         double funding = 0.0001, std::int64_t recv_ns = 1'700'000'000'000'000'000)
{
    flatbuffers::FlatBufferBuilder fbb{256};
    auto sym = fbb.CreateString(symbol);
    vs::schema::MarkPriceBuilder b{fbb};
    b.add_symbol(sym);
    b.add_event_time_ms(event_ms);
    b.add_recv_time_ns(recv_ns);
    b.add_market(vs::schema::MarketType::UsdM);
    b.add_mark_price(price);
    b.add_index_price(price * 0.9999);
    b.add_funding_rate(funding);
    b.add_next_funding_time_ms(event_ms + 3'600'000);
    b.add_funding_interval_hours(8);
    fbb.Finish(b.Finish());
    return finish(fbb);
}

}  // namespace vs::test
