// Record helpers: names, verification, symbol key, JSON decoding.
#include "vs/bus/records.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "records.hpp"

namespace {

TEST(RecordsTest, TypeNamesRoundTrip)
{
    EXPECT_EQ(vs::bus::record_type_name(1), "MarkPrice");
    EXPECT_EQ(vs::bus::parse_record_type("markprice"), std::optional<vs::bus::record_type>{1});
    EXPECT_EQ(vs::bus::parse_record_type("FeedStatus"), std::optional<vs::bus::record_type>{8});
    EXPECT_EQ(vs::bus::parse_record_type("2"), std::optional<vs::bus::record_type>{2});
    EXPECT_FALSE(vs::bus::parse_record_type("nope"));
    EXPECT_FALSE(vs::bus::parse_record_type("999"));
    EXPECT_EQ(vs::bus::record_type_name(999), "");
}

TEST(RecordsTest, VerifierRejectsGarbageAndAcceptsRecords)
{
    auto rec = vs::test::mark_price("BTCUSDT", 67000.5);
    EXPECT_TRUE(vs::bus::verify_record(1, rec));
    std::vector<std::byte> junk(64, std::byte{0xff});
    EXPECT_FALSE(vs::bus::verify_record(1, junk));
    EXPECT_EQ(vs::bus::record_symbol(rec), "BTCUSDT");
}

TEST(RecordsTest, JsonDecoderProducesStrictJsonWithUtf8Symbols)
{
    vs::bus::json_decoder sut;
    auto rec = vs::test::mark_price("币安人生\"USDT", 0.125, 1'700'000'000'123);
    auto json = sut.decode(1, rec);
    ASSERT_TRUE(json);
    auto v = boost::json::parse(*json).as_object();
    EXPECT_EQ(v.at("symbol").as_string(), "币安人生\"USDT");
    EXPECT_DOUBLE_EQ(v.at("mark_price").to_number<double>(), 0.125);
    EXPECT_EQ(v.at("event_time_ms").to_number<std::int64_t>(), 1'700'000'000'123);
    EXPECT_EQ(v.at("market").as_string(), "UsdM");
    EXPECT_EQ(json->find('\n'), std::string::npos);
}

TEST(RecordsTest, AbsentPricesAreOmittedNotNan)
{
    flatbuffers::FlatBufferBuilder fbb;
    auto sym = fbb.CreateString("BTCUSDT");
    vs::schema::MarkPriceBuilder b{fbb};
    b.add_symbol(sym);
    b.add_mark_price(1.0);
    b.add_index_price(std::numeric_limits<double>::quiet_NaN());
    fbb.Finish(b.Finish());
    auto rec = vs::test::finish(fbb);
    vs::bus::json_decoder sut;
    auto json = sut.decode(1, rec);
    ASSERT_TRUE(json);
    auto v = boost::json::parse(*json).as_object();
    EXPECT_FALSE(v.contains("index_price"));
    EXPECT_TRUE(std::isnan(vs::bus::record_as<vs::schema::MarkPrice>(rec)->index_price()));
}

TEST(RecordsTest, DecoderRefusesUnverifiableBytes)
{
    vs::bus::json_decoder sut;
    std::vector<std::byte> junk(32, std::byte{0x7f});
    EXPECT_FALSE(sut.decode(1, junk));
    EXPECT_FALSE(sut.decode(999, junk));
}

}  // namespace
