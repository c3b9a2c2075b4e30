#include "status.hpp"

#include "schemas/feed_status_generated.h"

namespace vs::feed {

std::span<const std::byte> build_status(flatbuffers::FlatBufferBuilder& fbb, const status_fields& f)
{
    namespace s = vs::schema;
    fbb.Clear();
    std::vector<flatbuffers::Offset<s::StreamStatus>> streams;
    if (f.streams != nullptr) {
        streams.reserve(f.streams->size());
        for (const auto& st : *f.streams) {
            streams.push_back(s::CreateStreamStatus(fbb, fbb.CreateString(st.name), st.last_frame_ns,
                                                    st.frames, st.stale_after_ns / 1'000'000, st.stale));
        }
    }
    const auto symbol = fbb.CreateString("");
    const auto url = fbb.CreateString(f.url.data(), f.url.size());
    const auto stream_vec = fbb.CreateVector(streams);
    const auto reason = fbb.CreateString(f.reason.data(), f.reason.size());
    const auto names = [&](const std::vector<std::string>* v) {
        return v != nullptr ? fbb.CreateVectorOfStrings(*v) : flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>>{};
    };
    const auto invalid = names(f.invalid_symbols);
    const auto delisted = names(f.delisted_symbols);
    s::FeedStatusBuilder b{fbb};
    b.add_symbol(symbol);
    b.add_event_time_ms(f.now_ns / 1'000'000);
    b.add_recv_time_ns(f.now_ns);
    b.add_market(s::MarketType::UsdM);
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
    b.add_streams(stream_vec);
    b.add_reason(reason);
    if (f.invalid_symbols != nullptr) {
        b.add_invalid_symbols(invalid);
    }
    b.add_invalid_symbol_count(f.invalid_symbol_count);
    if (f.delisted_symbols != nullptr) {
        b.add_delisted_symbols(delisted);
    }
    b.add_delisted_symbol_count(f.delisted_symbol_count);
    fbb.Finish(b.Finish());
    return {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

}  // namespace vs::feed
