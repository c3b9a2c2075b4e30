#include "status.hpp"

#include <gtest/gtest.h>

#include "schemas/feed_status_generated.h"

namespace vs::feed {
namespace {

TEST(FeedStatusTest, RecordCarriesEveryFieldAndVerifies)
{
    stream_monitor mon{{"!ticker@arr", "!markPrice@arr@1s", "!forceOrder@arr"}, stream_thresholds{}, 1};
    mon.on_frame(1, 1'700'000'000'000'000'000, 5);
    flatbuffers::FlatBufferBuilder fbb;
    status_fields f;
    f.now_ns = 1'700'000'001'000'000'000;
    f.connected = true;
    f.healthy = false;
    f.url = "ws://127.0.0.1:1/market/stream";
    f.reason = "stream !ticker@arr silent for 31 s";
    f.started_ns = 11;
    f.last_connected_ns = 12;
    f.reconnect_attempts = 3;
    f.messages_received = 1000;
    f.frames_rejected = 4;
    f.rows_rejected = 5;
    f.symbol_count = 650;
    f.streams = &mon.streams();

    const auto bytes = build_status(fbb, f);

    flatbuffers::Verifier verifier{reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()};
    ASSERT_TRUE(verifier.VerifyBuffer<vs::schema::FeedStatus>(nullptr));
    const auto* sut = flatbuffers::GetRoot<vs::schema::FeedStatus>(bytes.data());
    EXPECT_EQ(sut->symbol()->str(), "");
    EXPECT_EQ(sut->event_time_ms(), 1'700'000'001'000);
    EXPECT_TRUE(sut->connected());
    EXPECT_FALSE(sut->healthy());
    EXPECT_EQ(sut->url()->str(), "ws://127.0.0.1:1/market/stream");
    EXPECT_EQ(sut->reason()->str(), "stream !ticker@arr silent for 31 s");
    EXPECT_EQ(sut->reconnect_attempts(), 3u);
    EXPECT_EQ(sut->messages_received(), 1000u);
    EXPECT_EQ(sut->frames_rejected(), 4u);
    EXPECT_EQ(sut->rows_rejected(), 5u);
    EXPECT_EQ(sut->symbol_count(), 650u);
    ASSERT_EQ(sut->streams()->size(), 3u);
    const auto* mark = sut->streams()->Get(1);
    EXPECT_EQ(mark->name()->str(), "!markPrice@arr@1s");
    EXPECT_EQ(mark->last_frame_ns(), 1'700'000'000'000'000'000);
    EXPECT_EQ(mark->frames(), 1u);
    EXPECT_EQ(mark->stale_after_ms(), 10'000);
    EXPECT_EQ(sut->streams()->Get(2)->stale_after_ms(), 0);
}

}  // namespace
}  // namespace vs::feed
