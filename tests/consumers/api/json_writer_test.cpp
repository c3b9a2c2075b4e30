#include "vs/api/json_writer.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace {

TEST(JsonWriterTest, WritesNestedObjectsThatParse)
{
    std::string out;
    vs::api::json_writer sut{out};
    sut.begin_object();
    sut.member("symbol", "BTCUSDT");
    sut.member("markPrice", 65000.5);
    sut.member("nextFundingTime", std::int64_t{1702656000000});
    sut.key("list");
    sut.begin_array();
    sut.value("a");
    sut.null();
    sut.value(true);
    sut.begin_object();
    sut.end_object();
    sut.end_array();
    sut.end_object();
    EXPECT_EQ(out, R"({"symbol":"BTCUSDT","markPrice":65000.5,"nextFundingTime":1702656000000,"list":["a",null,true,{}]})");
    EXPECT_NO_THROW((void)boost::json::parse(out));
}

TEST(JsonWriterTest, EscapesQuotesControlCharactersAndHtml)
{
    std::string out;
    vs::api::append_json_string(out, std::string_view{"a\"b\\c\n\x01<script>&", 16});
    EXPECT_EQ(out, R"("a\"b\\c\n\u0001\u003cscript\u003e\u0026")");
    EXPECT_EQ(boost::json::parse(out).as_string(), std::string_view("a\"b\\c\n\x01<script>&", 16));
}

TEST(JsonWriterTest, KeepsValidUtf8AndReplacesInvalidBytes)
{
    std::string out;
    vs::api::append_json_string(out, "\xe5\xb8\x81\xe5\xae\x89USDT");
    EXPECT_EQ(out, "\"\xe5\xb8\x81\xe5\xae\x89USDT\"");
    out.clear();
    vs::api::append_json_string(out, "A\xff\xc0\x80\xed\xa0\x80Z");   // stray byte, overlong, surrogate
    EXPECT_NO_THROW((void)boost::json::parse(out));
    EXPECT_EQ(out.find('\xff'), std::string::npos);
    EXPECT_FALSE(vs::api::valid_utf8("\xed\xa0\x80"));
    EXPECT_TRUE(vs::api::valid_utf8("\xf0\x9f\x9a\x80"));
}

TEST(JsonWriterTest, PrintsShortestRoundTripNumbersAndNullForNaN)
{
    std::string out;
    vs::api::append_json_number(out, 0.0001);
    out.push_back(' ');
    vs::api::append_json_number(out, std::numeric_limits<double>::quiet_NaN());
    out.push_back(' ');
    vs::api::append_json_number(out, 1702652400.123);
    out.push_back(' ');
    vs::api::append_json_number(out, -std::numeric_limits<double>::infinity());
    EXPECT_EQ(out, "0.0001 null 1702652400.123 null");
    // Python's repr, as the old server's json.dumps printed floats.
    for (const auto& [d, want] : std::vector<std::pair<double, std::string>>{
             {65000.0, "65000.0"}, {1e-05, "1e-05"}, {1.5e-07, "1.5e-07"}, {1e16, "1e+16"}, {123456789012345.6, "123456789012345.6"},
             {-0.00012, "-0.00012"}, {0.0, "0.0"}, {2.5, "2.5"}, {1.0e22, "1e+22"}}) {
        std::string s;
        vs::api::append_json_number(s, d);
        EXPECT_EQ(s, want) << d;
    }
}

}  // namespace

namespace {

TEST(JsonWriterTest, PrintsNanosecondTimesAsSecondsWithMicroseconds)
{
    const auto sec = [](std::int64_t ns) {
        std::string s;
        vs::api::append_json_seconds(s, ns);
        return s;
    };
    EXPECT_EQ(sec(1'702'652'400'123'456'789), "1702652400.123457");
    EXPECT_EQ(sec(1'702'652'400'000'000'000), "1702652400.0");
    EXPECT_EQ(sec(1'500'000), "0.0015");
    EXPECT_EQ(sec(-1'250'000'000), "-1.25");
    EXPECT_EQ(sec(0), "0.0");
}

}  // namespace
