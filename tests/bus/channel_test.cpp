// Channel lifecycle: attach states, exclusivity, liveness, permissions, compatibility.
#include "vs/bus/channel.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <gtest/gtest.h>

#include "bus_channel.hpp"
#include "test_env.hpp"
#include "vs/bus/layout.hpp"

namespace {

using vs::bus::attach_state;
using vs::bus::channel_config;
using vs::bus::reader;
using vs::bus::writer;

class ChannelTest : public ::testing::Test {
protected:
    channel_config config() { return vs::test::channel(env, "market", 64u << 10, 64, 128); }
    vs::test::test_env env;
};

TEST_F(ChannelTest, ReaderStartsMissingAndBecomesReadyWhenAWriterAppears)
{
    reader r{config()};
    EXPECT_EQ(r.attach(), attach_state::missing);
    EXPECT_FALSE(r.status().attached);
    writer w{config()};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
    while (r.attach() != attach_state::ready && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    EXPECT_EQ(r.state(), attach_state::ready);
    EXPECT_TRUE(r.status().writer_alive);
}

TEST_F(ChannelTest, SecondWriterFailsWithAClearError)
{
    writer first{config()};
    try {
        writer second{config()};
        FAIL() << "a second writer was allowed";
    } catch (const vs::bus::bus_error& e) {
        EXPECT_NE(std::string{e.what()}.find("already has a writer"), std::string::npos) << e.what();
    }
}

TEST_F(ChannelTest, SegmentIsOwnerReadWriteGroupReadOnly)
{
    writer w{config()};
    struct stat st{};
    ASSERT_EQ(::stat(w.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    ASSERT_EQ(::stat((w.path() + ".lock").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(ChannelTest, ReaderSeesWriterDeathThenItsRestartAsANewGeneration)
{
    auto c = config();
    auto w = std::make_unique<writer>(c);
    w->publish(1, "BTCUSDT", std::vector<std::byte>(8), 1, vs::bus::to_table);
    reader r{c};
    auto st = r.status();
    ASSERT_TRUE(st.writer_alive);
    const auto g1 = st.generation;
    w.reset();  // lock released
    st = r.status();
    EXPECT_FALSE(st.writer_alive);
    // The last values keep being served while the writer is away.
    EXPECT_EQ(r.latest(1, "BTCUSDT", [](const vs::bus::record_view&) {}), vs::bus::read_status::ok);
    w = std::make_unique<writer>(c);
    st = r.status();
    EXPECT_TRUE(st.writer_alive);
    EXPECT_EQ(st.generation, g1 + 1);
}

TEST_F(ChannelTest, StaleHeartbeatMeansDeadEvenWhileTheLockIsHeld)
{
    auto c = config();
    writer w{c};
    vs::bus::reader_options o;
    o.heartbeat_timeout = std::chrono::milliseconds{50};
    reader r{c, o};
    EXPECT_TRUE(r.status().writer_alive);
    std::this_thread::sleep_for(std::chrono::milliseconds{80});
    EXPECT_FALSE(r.status().writer_alive);  // a stuck writer loop looks dead
    w.heartbeat();
    EXPECT_TRUE(r.status().writer_alive);
}

TEST_F(ChannelTest, SchemaHashMismatchIsRefusedWithAClearMessage)
{
    auto c = config();
    writer w{c};
    {
        namespace bip = boost::interprocess;
        bip::shared_memory_object shm(bip::open_only, (c.prefix + "." + c.name).c_str(), bip::read_write);
        bip::mapped_region region(shm, bip::read_write);
        auto* h = static_cast<vs::bus::layout::segment_header*>(region.get_address());
        h->schema_hash ^= 0x1;
    }
    reader r{c};
    EXPECT_EQ(r.attach(), attach_state::incompatible);
    EXPECT_NE(r.error().find("schema hash"), std::string::npos) << r.error();
}

TEST_F(ChannelTest, LayoutVersionMismatchIsRefused)
{
    auto c = config();
    writer w{c};
    {
        namespace bip = boost::interprocess;
        bip::shared_memory_object shm(bip::open_only, (c.prefix + "." + c.name).c_str(), bip::read_write);
        bip::mapped_region region(shm, bip::read_write);
        static_cast<vs::bus::layout::segment_header*>(region.get_address())->layout_version = 99;
    }
    reader r{c};
    EXPECT_EQ(r.attach(), attach_state::incompatible);
    EXPECT_NE(r.error().find("layout version 99"), std::string::npos) << r.error();
}

TEST_F(ChannelTest, WriterWithOtherCapacitiesRecreatesTheSegmentAndReadersFollow)
{
    auto c = config();
    auto w = std::make_unique<writer>(c);
    reader r{c};
    ASSERT_EQ(r.attach(), attach_state::ready);
    w.reset();
    c.table_slots = 128;
    w = std::make_unique<writer>(c);
    w->publish(1, "BTCUSDT", std::vector<std::byte>(8), 1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
    std::size_t got = 0;
    while (got == 0 && std::chrono::steady_clock::now() < deadline) {
        got = r.poll([](const vs::bus::record_view&) {});
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    EXPECT_EQ(got, 1u);
    EXPECT_EQ(r.status().table_slots, 128u);
}

TEST_F(ChannelTest, InvalidNamesAreRejected)
{
    auto c = config();
    c.name = "../etc";
    EXPECT_THROW(writer{c}, vs::bus::bus_error);
    c.name = "market";
    c.prefix = "a/b";
    EXPECT_THROW(writer{c}, vs::bus::bus_error);
}

TEST_F(ChannelTest, RingSizeMustBeAPowerOfTwo)
{
    auto c = config();
    c.ring_bytes = 100000;
    EXPECT_THROW(writer{c}, vs::bus::bus_error);
}

TEST_F(ChannelTest, BlockingWaitWakesOnNotifyAndTimesOutOtherwise)
{
    auto c = config();
    writer w{c};
    reader r{c};
    ASSERT_EQ(r.attach(), attach_state::ready);
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(r.wait(std::chrono::milliseconds{50}));
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds{40});
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
        w.publish(1, "X", std::vector<std::byte>(8), 1, vs::bus::to_ring);
        w.notify();
    });
    start = std::chrono::steady_clock::now();
    EXPECT_TRUE(r.wait(std::chrono::seconds{5}));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds{2});
    t.join();
}

TEST_F(ChannelTest, StatusCountsRegisteredReadersAndTheirLaps)
{
    auto c = config();
    writer w{c};
    reader r1{c};
    reader r2{c};
    for (int i = 0; i < 1000; ++i) {
        w.publish(1, "X", std::vector<std::byte>(200), 1, vs::bus::to_ring);
    }
    r1.poll([](const vs::bus::record_view&) {});
    EXPECT_GE(r1.laps(), 1u);
    auto st = w.status();
    EXPECT_EQ(st.readers, 2u);
    EXPECT_EQ(st.reader_laps, r1.laps());
    EXPECT_EQ(st.records_published, 1000u);
}

TEST(ChannelListTest, ListsChannelsUnderAPrefixOnly)
{
    vs::test::test_env env;
    channel_config a;
    a.prefix = env.prefix();
    a.name = "market";
    a.ring_bytes = 64u << 10;
    a.table_slots = 16;
    channel_config b = a;
    b.name = "oi";
    writer wa{a};
    writer wb{b};
    // Another shared-memory object under the prefix (the REST weight budget) is no channel.
    std::FILE* f = std::fopen(("/dev/shm/" + env.prefix() + ".rest-weight").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
    EXPECT_EQ(vs::bus::list_channels(env.prefix()), (std::vector<std::string>{"market", "oi"}));
}

}  // namespace
