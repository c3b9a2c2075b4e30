// Schema compatibility per channel: a channel (and its snapshot) is checked against the
// schemas of exactly the record types it carries. A reader in another process refuses a
// segment written with another schema of those types, naming the channel and both hashes;
// writers publish only their declared types. (The hashes themselves, from edited schema
// copies: tests/bus/schema_hash_test.py.)
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "records.hpp"
#include "schemas/common_generated.h"
#include "schemas/schema_info.hpp"
#include "test_env.hpp"
#include "vs/bus/channel.hpp"
#include "vs/bus/layout.hpp"
#include "vs/bus/snapshot.hpp"
#include "vs/lmdb/lmdb.hpp"

namespace {

namespace bus = vs::bus;
using bus::record_type_set;
using vs::schema::RecordType;

constexpr bus::record_type mark_price = static_cast<bus::record_type>(RecordType::MarkPrice);
constexpr bus::record_type ticker = static_cast<bus::record_type>(RecordType::Ticker24h);
constexpr bus::record_type feed_status = static_cast<bus::record_type>(RecordType::FeedStatus);
constexpr bus::record_type process_status = static_cast<bus::record_type>(RecordType::ProcessStatus);

record_type_set set_of(std::initializer_list<bus::record_type> types)
{
    record_type_set s;
    for (auto t : types) {
        s.insert(t);
    }
    return s;
}

std::string hex(std::uint64_t h) { return fmt::format("0x{:016x}", h); }

/// Runs `fn` on the mapped header of the channel's segment (what another build would have written).
template <class F>
void patch_header(const bus::channel_config& c, F&& fn)
{
    namespace bip = boost::interprocess;
    bip::shared_memory_object shm(bip::open_only, (c.prefix + "." + c.name).c_str(), bip::read_write);
    bip::mapped_region region(shm, bip::read_write);
    fn(*static_cast<bus::layout::segment_header*>(region.get_address()));
}

class SchemaCompatTest : public ::testing::Test {
protected:
    bus::channel_config config(std::vector<bus::record_type> types = {})
    {
        return {.prefix = env.prefix(), .name = "market", .ring_bytes = 64u << 10, .table_slots = 64,
                .slot_bytes = 256, .record_types = std::move(types)};
    }
    vs::test::test_env env;
};

TEST_F(SchemaCompatTest, TheHashOfASetCoversExactlyItsTypes)
{
    const auto known = bus::known_record_types();
    const auto news_post = static_cast<bus::record_type>(RecordType::NewsPost);
    for (bus::record_type t = 1; t <= news_post; ++t) {
        EXPECT_TRUE(known.contains(t)) << t;   // ProcessStatus (14) and NewsPost (15) included
    }
    EXPECT_FALSE(known.contains(0));
    EXPECT_FALSE(known.contains(news_post + 1));
    EXPECT_EQ(bus::record_schema_hash(known), vs::schema_info::known_types_hash);

    const auto market = set_of({mark_price, ticker, feed_status, process_status});
    EXPECT_NE(bus::record_schema_hash(market), 0u);
    EXPECT_EQ(bus::record_schema_hash(market),
              bus::record_schema_hash(set_of({process_status, feed_status, ticker, mark_price})));
    EXPECT_NE(bus::record_schema_hash(market), bus::record_schema_hash(set_of({mark_price})));
    EXPECT_EQ(bus::record_schema_hash(set_of({mark_price, 200})), 0u);   // unknown to this build
    EXPECT_EQ(bus::describe(set_of({mark_price, feed_status, 200})), "MarkPrice, FeedStatus, 200");
    EXPECT_EQ(bus::record_type_list(RecordType::MarkPrice, RecordType::ProcessStatus),
              (std::vector<bus::record_type>{mark_price, process_status}));
}

TEST_F(SchemaCompatTest, ReaderInAnotherProcessRefusesASegmentOfAnotherSchemaNamingChannelAndHashes)
{
    const auto c = config(bus::record_type_list(RecordType::MarkPrice, RecordType::FeedStatus));
    const std::uint64_t ours = bus::record_schema_hash(set_of({mark_price, feed_status}));
    const std::uint64_t theirs = ours ^ 0x00ff00ff00ff00ffULL;   // a build with another MarkPrice
    int ready[2];
    int stop[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(stop), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // The writer process: its header says it was built from other schemas of its types.
        ::close(ready[0]);
        ::close(stop[1]);
        int rc = 1;
        try {
            bus::writer w{c};
            patch_header(c, [&](bus::layout::segment_header& h) { h.schema_hash = theirs; });
            rc = ::write(ready[1], "r", 1) == 1 ? 0 : 1;
            char b;
            while (::read(stop[0], &b, 1) > 0) {
            }
        } catch (...) {
        }
        ::_exit(rc);
    }
    ::close(ready[1]);
    ::close(stop[0]);
    char b = 0;
    ASSERT_EQ(::read(ready[0], &b, 1), 1) << "the writer process did not start";
    bus::reader r{c};
    EXPECT_EQ(r.attach(), bus::attach_state::incompatible);
    const std::string& e = r.error();
    EXPECT_NE(e.find("channel 'market'"), std::string::npos) << e;
    EXPECT_NE(e.find(hex(theirs)), std::string::npos) << e;
    EXPECT_NE(e.find(hex(ours)), std::string::npos) << e;
    EXPECT_NE(e.find("MarkPrice, FeedStatus"), std::string::npos) << e;
    EXPECT_NE(e.find("schema hash"), std::string::npos) << e;
    EXPECT_FALSE(r.status().attached);
    ::close(stop[1]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ::close(ready[0]);
}

TEST_F(SchemaCompatTest, ARecordTypeUnknownToTheReadersBuildIsIncompatible)
{
    const auto c = config();
    bus::writer w{c};
    patch_header(c, [](bus::layout::segment_header& h) { h.record_types[200 / 64] |= 1ULL << (200 % 64); });
    bus::reader r{c};
    EXPECT_EQ(r.attach(), bus::attach_state::incompatible);
    EXPECT_NE(r.error().find("channel 'market' carries record type 200"), std::string::npos) << r.error();
}

TEST_F(SchemaCompatTest, ReadersSeeTheTypesAndHashTheWriterStored)
{
    const auto c = config(bus::record_type_list(RecordType::MarkPrice, RecordType::ProcessStatus));
    bus::writer w{c};
    bus::reader r{c};
    ASSERT_EQ(r.attach(), bus::attach_state::ready) << r.error();
    const auto st = r.status();
    EXPECT_EQ(st.record_types, set_of({mark_price, process_status}));
    EXPECT_EQ(st.schema_hash, bus::record_schema_hash(set_of({mark_price, process_status})));
    EXPECT_EQ(w.status().record_types, st.record_types);
    // The default is every type this build knows.
    auto every = config();
    every.name = "every";
    bus::writer all{every};
    EXPECT_EQ(all.status().record_types, bus::known_record_types());
}

TEST_F(SchemaCompatTest, AWriterPublishesOnlyItsDeclaredTypes)
{
    bus::writer w{config(bus::record_type_list(RecordType::MarkPrice))};
    EXPECT_EQ(w.publish(mark_price, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1), 1), bus::publish_status::ok);
    EXPECT_EQ(w.publish(ticker, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1), 1), bus::publish_status::bad_type);
    EXPECT_EQ(w.publish(0, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1), 1), bus::publish_status::bad_type);
    EXPECT_EQ(w.status().records_dropped, 2u);
}

TEST_F(SchemaCompatTest, AWriterRefusesTypesItsBuildDoesNotKnow)
{
    try {
        bus::writer w{config({mark_price, 99})};
        FAIL() << "a writer declared an unknown record type";
    } catch (const bus::bus_error& e) {
        EXPECT_NE(std::string{e.what()}.find("record type 99"), std::string::npos) << e.what();
    }
}

TEST_F(SchemaCompatTest, AWriterWithAnotherTypeSetRecreatesTheSegment)
{
    auto w = std::make_unique<bus::writer>(config(bus::record_type_list(RecordType::MarkPrice)));
    w->publish(mark_price, "BTCUSDT", vs::test::mark_price("BTCUSDT", 1), 1);
    w.reset();
    // Same capacities, one more type: a new segment (generation 1, empty), not a re-use.
    w = std::make_unique<bus::writer>(config(bus::record_type_list(RecordType::MarkPrice, RecordType::FeedStatus)));
    bus::reader r{config()};
    ASSERT_EQ(r.attach(), bus::attach_state::ready) << r.error();
    const auto st = r.status();
    EXPECT_EQ(st.record_types, set_of({mark_price, feed_status}));
    EXPECT_EQ(st.generation, 1u);
    EXPECT_EQ(st.table_used, 0u);
}

class SnapshotCompatTest : public SchemaCompatTest {
protected:
    /// Saves a snapshot of a channel carrying `types` that holds one MarkPrice.
    std::unique_ptr<bus::writer> saved(std::vector<bus::record_type> types = {})
    {
        auto w = std::make_unique<bus::writer>(config(std::move(types)));
        w->publish(mark_price, "BTCUSDT", vs::test::mark_price("BTCUSDT", 67000), 7);
        bus::snapshot_store s{env.state_dir(), "market"};
        EXPECT_EQ(s.save(*w), 1u);
        return w;
    }
    /// Rewrites one "meta" value of the channel's snapshot.
    void put_meta(std::string_view key, const void* data, std::size_t size)
    {
        vs::lmdb::env e{env.state_dir() / "market.lmdb", {.label = "snapshot", .max_dbs = 4}};
        vs::lmdb::txn t{e, vs::lmdb::txn::write};
        t.put(*t.open_dbi("meta", false), vs::lmdb::val(key), vs::lmdb::val(data, size));
        t.commit();
    }
    /// Why restoring the snapshot into `w` is refused ("" when it is not), after checking
    /// that info() says the same.
    std::string refusal(bus::writer& w)
    {
        bus::snapshot_store s{env.state_dir(), "market"};
        const bool matches = s.info().schema_matches;
        try {
            s.restore(w);
            EXPECT_TRUE(matches);
            return {};
        } catch (const bus::bus_error& e) {
            EXPECT_FALSE(matches);
            return e.what();
        }
    }
};

TEST_F(SnapshotCompatTest, ASnapshotKeepsTheChannelsTypesAndTheirHash)
{
    const auto types = bus::record_type_list(RecordType::MarkPrice, RecordType::FeedStatus);
    saved(types).reset();
    {
        bus::snapshot_store s{env.state_dir(), "market"};
        const auto i = s.info();
        EXPECT_EQ(i.record_types, set_of({mark_price, feed_status}));
        EXPECT_EQ(i.schema_hash, bus::record_schema_hash(i.record_types));
        EXPECT_TRUE(i.schema_matches);
    }
    const std::string shm = "/dev/shm/" + config().prefix + ".market";
    std::filesystem::remove(shm);
    {
        bus::writer w{config(types)};
        bus::snapshot_store s{env.state_dir(), "market"};
        EXPECT_EQ(s.restore(w), 1u);
    }
    std::filesystem::remove(shm);
    // A channel that no longer carries MarkPrice restores none of it.
    bus::writer w{config(bus::record_type_list(RecordType::FeedStatus))};
    EXPECT_EQ(refusal(w), "");
    EXPECT_EQ(w.status().table_used, 0u);
}

TEST_F(SnapshotCompatTest, ASnapshotOfAnotherSchemaOfItsTypesIsRefusedNamingBothHashes)
{
    auto w = saved(bus::record_type_list(RecordType::MarkPrice, RecordType::FeedStatus));
    const std::uint64_t ours = bus::record_schema_hash(set_of({mark_price, feed_status}));
    const std::uint64_t theirs = ours ^ 0x5a5a;
    put_meta("schema_hash", &theirs, 8);   // little endian on every supported host
    const std::string m = refusal(*w);
    EXPECT_NE(m.find("schema hash " + hex(theirs)), std::string::npos) << m;
    EXPECT_NE(m.find(hex(ours)), std::string::npos) << m;
    EXPECT_NE(m.find("MarkPrice, FeedStatus"), std::string::npos) << m;
}

TEST_F(SnapshotCompatTest, ASnapshotWithATypeUnknownToThisBuildIsRefused)
{
    auto w = saved();
    auto types = bus::known_record_types();
    types.insert(200);
    put_meta("record_types", types.words.data(), sizeof types.words);
    const std::string m = refusal(*w);
    EXPECT_NE(m.find("does not know"), std::string::npos) << m;
}

}  // namespace
