// The latest-value table: newest record per (type, symbol), bounded retries, repair.
#include "vs/bus/channel.hpp"

#include <sys/mman.h>

#include <cstring>
#include <string>
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
using vs::bus::read_status;
using vs::bus::reader;
using vs::bus::record_view;
using vs::bus::writer;

std::vector<std::byte> bytes_of(const std::string& s)
{
    std::vector<std::byte> b(s.size());
    std::memcpy(b.data(), s.data(), s.size());
    return b;
}

std::string text_of(const record_view& r) { return std::string{reinterpret_cast<const char*>(r.data.data()), r.data.size()}; }

class LatestTableTest : public ::testing::Test {
protected:
    channel_config config(std::uint32_t slots = 64) { return vs::test::channel(env, "table", 64u << 10, slots, 128); }
    std::string read(reader& r, std::uint16_t type, std::string_view symbol, read_status* status = nullptr)
    {
        std::string out;
        auto st = r.latest(type, symbol, [&](const record_view& rec) { out = text_of(rec); });
        if (status != nullptr) {
            *status = st;
        }
        return out;
    }
    vs::test::test_env env;
};

TEST_F(LatestTableTest, LookupReturnsTheNewestRecordPerTypeAndSymbol)
{
    writer sut{config()};
    reader r{config()};
    sut.publish(1, "BTCUSDT", bytes_of("btc-1"), 10, vs::bus::to_table);
    sut.publish(1, "ETHUSDT", bytes_of("eth-1"), 11, vs::bus::to_table);
    sut.publish(2, "BTCUSDT", bytes_of("btc-ticker"), 12, vs::bus::to_table);
    sut.publish(1, "BTCUSDT", bytes_of("btc-2"), 13, vs::bus::to_table);
    EXPECT_EQ(read(r, 1, "BTCUSDT"), "btc-2");
    EXPECT_EQ(read(r, 1, "ETHUSDT"), "eth-1");
    EXPECT_EQ(read(r, 2, "BTCUSDT"), "btc-ticker");
    std::int64_t t = 0;
    r.latest(1, "BTCUSDT", [&](const record_view& rec) { t = rec.publish_ns; });
    EXPECT_EQ(t, 13);
    EXPECT_EQ(sut.status().table_used, 3u);
}

TEST_F(LatestTableTest, UnknownKeyIsMissing)
{
    writer sut{config()};
    reader r{config()};
    sut.publish(1, "BTCUSDT", bytes_of("x"), 1, vs::bus::to_table);
    read_status st{};
    read(r, 1, "NOPEUSDT", &st);
    EXPECT_EQ(st, read_status::missing);
    read(r, 3, "BTCUSDT", &st);
    EXPECT_EQ(st, read_status::missing);
}

TEST_F(LatestTableTest, NonAsciiUtf8SymbolsAreKeys)
{
    writer sut{config()};
    reader r{config()};
    const std::string sym = "币安人生USDT";
    ASSERT_EQ(sym.size(), 16u);
    sut.publish(1, sym, bytes_of("binance-life"), 1, vs::bus::to_table);
    EXPECT_EQ(read(r, 1, sym), "binance-life");
    std::string seen;
    r.for_each_latest(1, [&](const record_view& rec) { seen = std::string{rec.symbol}; });
    EXPECT_EQ(seen, sym);
}

TEST_F(LatestTableTest, OverlongSymbolIsRejected)
{
    writer sut{config()};
    EXPECT_EQ(sut.publish(1, std::string(33, 'A'), bytes_of("x"), 1, vs::bus::to_table), publish_status::bad_symbol);
    EXPECT_EQ(sut.publish(1, std::string(32, 'A'), bytes_of("x"), 1, vs::bus::to_table), publish_status::ok);
}

TEST_F(LatestTableTest, RecordLargerThanASlotIsRejected)
{
    writer sut{config()};
    EXPECT_EQ(sut.publish(1, "X", std::vector<std::byte>(129), 1, vs::bus::to_table), publish_status::too_large);
    EXPECT_EQ(sut.publish(1, "X", std::vector<std::byte>(128), 1, vs::bus::to_table), publish_status::ok);
}

TEST_F(LatestTableTest, FullTableRefusesNewKeysButUpdatesExistingOnes)
{
    writer sut{config(16)};
    for (int i = 0; i < 16; ++i) {
        ASSERT_EQ(sut.publish(1, "S" + std::to_string(i), bytes_of("v"), 1, vs::bus::to_table), publish_status::ok);
    }
    EXPECT_EQ(sut.publish(1, "S16", bytes_of("v"), 1, vs::bus::to_table), publish_status::table_full);
    EXPECT_EQ(sut.publish(1, "S3", bytes_of("updated"), 2, vs::bus::to_table), publish_status::ok);
    reader r{config(16)};
    EXPECT_EQ(read(r, 1, "S3"), "updated");
}

TEST_F(LatestTableTest, HoldsTwoThousandSymbolsTimesThreeTypes)
{
    channel_config c = config(8192);
    writer sut{c};
    reader r{c};
    for (int i = 0; i < 2048; ++i) {
        for (std::uint16_t t = 1; t <= 3; ++t) {
            ASSERT_EQ(sut.publish(t, "SYM" + std::to_string(i) + "USDT", bytes_of(std::to_string(i * 10 + t)), i,
                                  vs::bus::to_table),
                      publish_status::ok);
        }
    }
    for (int i = 0; i < 2048; i += 97) {
        EXPECT_EQ(read(r, 2, "SYM" + std::to_string(i) + "USDT"), std::to_string(i * 10 + 2));
    }
    EXPECT_EQ(r.for_each_latest(1, [](const record_view&) {}), 2048u);
    EXPECT_EQ(r.for_each_latest(0, [](const record_view&) {}), 3u * 2048u);
}

// Simulates a writer killed in the middle of a slot update: the slot's seq is left odd.
void corrupt_seq_of_first_slot(const std::string& shm_name)
{
    namespace bip = boost::interprocess;
    bip::shared_memory_object shm(bip::open_only, shm_name.c_str(), bip::read_write);
    bip::mapped_region region(shm, bip::read_write);
    auto* base = static_cast<std::byte*>(region.get_address());
    auto* h = reinterpret_cast<vs::bus::layout::segment_header*>(base);
    auto* slot = reinterpret_cast<vs::bus::layout::slot_header*>(base + h->table_offset);
    slot->seq |= 1;
}

TEST_F(LatestTableTest, HalfWrittenSlotIsUnavailableWithinBoundedTimeAndRepairedByTheNextWriter)
{
    auto c = config();
    auto w = std::make_unique<writer>(c);
    w->publish(1, "BTCUSDT", bytes_of("good"), 1, vs::bus::to_table);
    w->publish(1, "ETHUSDT", bytes_of("eth"), 1, vs::bus::to_table);
    w.reset();  // the writer is gone...
    corrupt_seq_of_first_slot(c.prefix + "." + c.name);  // ...having died mid-update
    reader r{c};
    read_status st{};
    const auto start = std::chrono::steady_clock::now();
    read(r, 1, "BTCUSDT", &st);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(st, read_status::unavailable);
    EXPECT_LT(took, std::chrono::milliseconds{100});
    EXPECT_EQ(r.unavailable_slots(), 1u);
    EXPECT_EQ(read(r, 1, "ETHUSDT"), "eth");  // other slots unaffected

    writer next{c};  // repairs: the torn slot is emptied, not served
    read(r, 1, "BTCUSDT", &st);
    EXPECT_EQ(st, read_status::missing);
    next.publish(1, "BTCUSDT", bytes_of("fresh"), 2, vs::bus::to_table);
    EXPECT_EQ(read(r, 1, "BTCUSDT"), "fresh");
}

TEST_F(LatestTableTest, ForEachFiltersByType)
{
    writer sut{config()};
    reader r{config()};
    sut.publish(1, "A", bytes_of("a1"), 1, vs::bus::to_table);
    sut.publish(2, "A", bytes_of("a2"), 1, vs::bus::to_table);
    sut.publish(1, "B", bytes_of("b1"), 1, vs::bus::to_table);
    std::vector<std::string> got;
    r.for_each_latest(1, [&](const record_view& rec) { got.push_back(std::string{rec.symbol} + "=" + text_of(rec)); });
    EXPECT_EQ(got, (std::vector<std::string>{"A=a1", "B=b1"}));
}

}  // namespace
