// The shared-memory layout is fixed at compile time (static_asserts in layout.hpp); these
// check the run-time geometry derived from a configuration.
#include "vs/bus/layout.hpp"

#include <gtest/gtest.h>

#include "bus_channel.hpp"
#include "test_env.hpp"
#include "vs/bus/channel.hpp"

namespace {

using namespace vs::bus::layout;

static_assert(sizeof(segment_header) == 9 * cache_line);
static_assert(alignof(segment_header) == cache_line);
static_assert(pack_frame_word(300, 7, 0) == (300ull | (7ull << 32)));
static_assert(frame_length(pack_frame_word(300, 7, 0)) == 300);
static_assert(frame_type(pack_frame_word(300, 7, 0)) == 7);
static_assert(align_frame(17) == 24 && align_frame(16) == 16);

TEST(LayoutTest, SegmentSizeCoversHeaderRingIndexAndTable)
{
    vs::test::test_env env;
    const auto c = vs::test::channel(env, "geo", 1u << 20, 100, 200);   // slots rounded up to 256 B
    vs::bus::writer w{c};
    auto st = w.status();
    EXPECT_EQ(st.ring_bytes, 1u << 20);
    EXPECT_EQ(st.table_slots, 100u);
    EXPECT_EQ(st.slot_bytes, 256u);
    EXPECT_EQ(w.max_record_bytes(), 256u);
    auto size = std::filesystem::file_size(w.path());
    EXPECT_GE(size, header_bytes + (1u << 20) + 256 * 4 + 100 * (64 + 256));
    EXPECT_EQ(size % 4096, 0u);
}

}  // namespace
