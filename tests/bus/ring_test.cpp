// The ring of a channel: publish order, wrap-around, padding, oversize frames, laps.
#include "vs/bus/channel.hpp"

#include <cstring>
#include <numeric>
#include <vector>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <gtest/gtest.h>

#include "bus_channel.hpp"
#include "test_env.hpp"
#include "vs/bus/layout.hpp"

namespace {

using vs::bus::channel_config;
using vs::bus::publish_status;
using vs::bus::reader;
using vs::bus::record_view;
using vs::bus::writer;

std::vector<std::byte> payload(std::uint64_t seq, std::size_t size)
{
    std::vector<std::byte> p(size);
    for (std::size_t i = 0; i < size; ++i) {
        p[i] = static_cast<std::byte>((seq * 31 + i) & 0xff);
    }
    std::memcpy(p.data(), &seq, sizeof seq);
    return p;
}

std::uint64_t seq_of(const record_view& r)
{
    std::uint64_t s = 0;
    std::memcpy(&s, r.data.data(), sizeof s);
    return s;
}

bool intact(const record_view& r)
{
    const auto expected = payload(seq_of(r), r.data.size());
    return std::memcmp(expected.data(), r.data.data(), r.data.size()) == 0;
}

class RingTest : public ::testing::Test {
protected:
    channel_config config(std::uint32_t ring_bytes = 64u << 10)
    {
        return vs::test::channel(env, "ring", ring_bytes, 64, 256);
    }
    vs::test::test_env env;
};

TEST_F(RingTest, ReaderReceivesRecordsInPublishOrder)
{
    writer sut{config()};
    reader r{config()};
    ASSERT_EQ(r.attach(), vs::bus::attach_state::ready);
    for (std::uint64_t i = 0; i < 100; ++i) {
        auto p = payload(i, 40 + i);
        ASSERT_EQ(sut.publish(7, "BTCUSDT", p, 1000 + static_cast<std::int64_t>(i), vs::bus::to_ring), publish_status::ok);
    }
    std::vector<std::uint64_t> seen;
    r.poll([&](const record_view& rec) {
        EXPECT_EQ(rec.type, 7);
        EXPECT_TRUE(intact(rec));
        EXPECT_EQ(rec.publish_ns, 1000 + static_cast<std::int64_t>(seq_of(rec)));
        seen.push_back(seq_of(rec));
    });
    std::vector<std::uint64_t> expected(100);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(seen, expected);
    EXPECT_EQ(r.laps(), 0u);
}

TEST_F(RingTest, WrapsAroundWithPaddingAndNeverSplitsAFrame)
{
    writer sut{config()};
    reader r{config()};
    ASSERT_EQ(r.attach(), vs::bus::attach_state::ready);
    std::uint64_t next = 0;
    std::uint64_t expected = 0;
    // 64 KiB ring, ~300-byte frames of varying length: many wraps, each with padding.
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 40; ++i, ++next) {
            auto p = payload(next, 200 + (next * 7) % 113);
            ASSERT_EQ(sut.publish(1, "X", p, 0, vs::bus::to_ring), publish_status::ok);
        }
        r.poll([&](const record_view& rec) {
            EXPECT_TRUE(intact(rec));
            EXPECT_EQ(seq_of(rec), expected);
            expected = seq_of(rec) + 1;
        });
    }
    EXPECT_EQ(expected, next);
    EXPECT_EQ(r.laps(), 0u);
}

TEST_F(RingTest, LappedReaderCountsALapAndResynchronisesToTheNewest)
{
    writer sut{config()};
    reader r{config()};
    ASSERT_EQ(r.attach(), vs::bus::attach_state::ready);
    // Far more than 64 KiB without reading: the reader's position is overwritten.
    for (std::uint64_t i = 0; i < 2000; ++i) {
        auto p = payload(i, 256);
        ASSERT_EQ(sut.publish(1, "X", p, 0, vs::bus::to_ring), publish_status::ok);
    }
    std::vector<std::uint64_t> seen;
    r.poll([&](const record_view& rec) {
        EXPECT_TRUE(intact(rec));
        seen.push_back(seq_of(rec));
    });
    EXPECT_GE(r.laps(), 1u);
    EXPECT_GE(r.records_lost(), 1u);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back(), 1999u);  // resynchronised to the newest record
    for (std::size_t i = 1; i < seen.size(); ++i) {
        EXPECT_EQ(seen[i], seen[i - 1] + 1);
    }
}

TEST_F(RingTest, OversizeFrameIsRejectedAndCounted)
{
    writer sut{config()};
    reader r{config()};
    const std::size_t too_big = (64u << 10) / 8;  // max frame is an eighth of the ring
    auto p = payload(1, too_big);
    EXPECT_EQ(sut.publish(1, "X", p, 0, vs::bus::to_ring), publish_status::too_large);
    EXPECT_EQ(sut.status().records_dropped, 1u);
    auto ok = payload(2, too_big - 16);
    EXPECT_EQ(sut.publish(1, "X", ok, 0, vs::bus::to_ring), publish_status::ok);
    std::size_t n = r.poll([&](const record_view& rec) { EXPECT_TRUE(intact(rec)); });
    EXPECT_EQ(n, 1u);
}

TEST_F(RingTest, ReaderAttachingLateStartsAtTheTail)
{
    writer sut{config()};
    for (std::uint64_t i = 0; i < 10; ++i) {
        auto p = payload(i, 64);
        sut.publish(1, "X", p, 0, vs::bus::to_ring);
    }
    reader r{config()};
    EXPECT_EQ(r.poll([](const record_view&) {}), 0u);
    auto p = payload(10, 64);
    sut.publish(1, "X", p, 0, vs::bus::to_ring);
    std::uint64_t got = 0;
    EXPECT_EQ(r.poll([&](const record_view& rec) { got = seq_of(rec); }), 1u);
    EXPECT_EQ(got, 10u);
}

TEST_F(RingTest, PollHonoursItsMaximum)
{
    writer sut{config()};
    reader r{config()};
    for (std::uint64_t i = 0; i < 10; ++i) {
        auto p = payload(i, 64);
        sut.publish(1, "X", p, 0, vs::bus::to_ring);
    }
    EXPECT_EQ(r.poll([](const record_view&) {}, 3), 3u);
    EXPECT_EQ(r.poll([](const record_view&) {}), 7u);
}

TEST_F(RingTest, ReaderContinuesAcrossAWriterRestart)
{
    auto w = std::make_unique<writer>(config());
    reader r{config()};
    auto p0 = payload(0, 64);
    w->publish(1, "X", p0, 0, vs::bus::to_ring);
    const auto g1 = w->generation();
    w.reset();
    w = std::make_unique<writer>(config());
    EXPECT_EQ(w->generation(), g1 + 1);
    auto p1 = payload(1, 64);
    w->publish(1, "X", p1, 0, vs::bus::to_ring);
    std::vector<std::uint64_t> seen;
    r.poll([&](const record_view& rec) { seen.push_back(seq_of(rec)); });
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 1}));
    EXPECT_EQ(r.generation(), g1 + 1);
}

TEST_F(RingTest, PublishInterruptedByAWriterDeathIsSkippedByTheNextWriter)
{
    auto c = config();
    auto w = std::make_unique<writer>(c);
    reader r{c};
    auto p0 = payload(0, 64);
    w->publish(1, "X", p0, 0, vs::bus::to_ring);
    w.reset();
    {
        // What SIGKILL between W1 and W4 leaves: intent ahead of tail, garbage in between.
        namespace bip = boost::interprocess;
        bip::shared_memory_object shm(bip::open_only, (c.prefix + "." + c.name).c_str(), bip::read_write);
        bip::mapped_region region(shm, bip::read_write);
        auto* base = static_cast<std::byte*>(region.get_address());
        auto* h = reinterpret_cast<vs::bus::layout::segment_header*>(base);
        std::memset(base + h->ring_offset + (h->tail & (h->ring_bytes - 1)), 0xab, 512);
        h->tail_intent = h->tail + 512;
    }
    w = std::make_unique<writer>(c);
    auto p1 = payload(1, 64);
    w->publish(1, "X", p1, 0, vs::bus::to_ring);
    std::vector<std::uint64_t> seen;
    r.poll([&](const record_view& rec) {
        EXPECT_TRUE(intact(rec));
        seen.push_back(seq_of(rec));
    });
    EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 1}));
    EXPECT_EQ(r.laps(), 0u);
}

}  // namespace
