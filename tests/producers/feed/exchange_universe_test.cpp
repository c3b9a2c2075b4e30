#include "exchange_universe.hpp"

#include <gtest/gtest.h>

namespace vs::feed {
namespace {

TEST(ExchangeUniverseTest, KeepsTradingUsdtPerpetualsOnlySortedAndUnique)
{
    const std::string body = R"({"timezone":"UTC","symbols":[
        {"symbol":"ETHUSDT","contractType":"PERPETUAL","quoteAsset":"USDT","status":"TRADING"},
        {"symbol":"BTCUSDT","contractType":"PERPETUAL","quoteAsset":"USDT","status":"TRADING"},
        {"symbol":"BTCUSDT","contractType":"PERPETUAL","quoteAsset":"USDT","status":"TRADING"},
        {"symbol":"BTCUSDC","contractType":"PERPETUAL","quoteAsset":"USDC","status":"TRADING"},
        {"symbol":"BTCUSDT_260327","contractType":"CURRENT_QUARTER","quoteAsset":"USDT","status":"TRADING"},
        {"symbol":"XAUUSDT","contractType":"TRADIFI_PERPETUAL","quoteAsset":"USDT","status":"TRADING"},
        {"symbol":"OLDUSDT","contractType":"PERPETUAL","quoteAsset":"USDT","status":"SETTLING"},
        {"symbol":"币安人生USDT","contractType":"PERPETUAL","quoteAsset":"USDT","status":"TRADING"},
        42, {"contractType":"PERPETUAL","quoteAsset":"USDT","status":"TRADING"}]})";
    std::string error;
    const auto sut = parse_trading_usdt_perpetuals(body, error);
    ASSERT_TRUE(sut) << error;
    EXPECT_EQ(*sut, (std::vector<std::string>{"BTCUSDT", "ETHUSDT", "币安人生USDT"}));
}

TEST(ExchangeUniverseTest, RefusesBodiesWithoutASymbolsArray)
{
    std::string error;
    EXPECT_FALSE(parse_trading_usdt_perpetuals("{\"code\":-1003,\"msg\":\"Too many requests\"}", error));
    EXPECT_NE(error.find("symbols"), std::string::npos);
    EXPECT_FALSE(parse_trading_usdt_perpetuals("<html>", error));
    EXPECT_NE(error.find("not JSON"), std::string::npos);
}

TEST(ExchangeUniverseTest, DiffNamesListingsAndDelistings)
{
    std::vector<std::string> added, removed;
    diff_sorted({"AUSDT", "BUSDT", "CUSDT"}, {"BUSDT", "CUSDT", "DUSDT"}, added, removed);
    EXPECT_EQ(added, (std::vector<std::string>{"DUSDT"}));
    EXPECT_EQ(removed, (std::vector<std::string>{"AUSDT"}));
    diff_sorted({}, {"AUSDT"}, added, removed);
    EXPECT_EQ(added, (std::vector<std::string>{"AUSDT"}));
    EXPECT_TRUE(removed.empty());
}

TEST(ExchangeUniverseTest, RestKlinesGiveQuoteVolumeFromField7)
{
    const std::string body =
        R"([[1764842400000,"100.0","110.0","95.0","105.5","1000.0",1764845999999,"104000.25",512,"500.0","52000.1","0"],)"
        R"([1764846000000,"105.5","106.0","105.0","105.8","10.0",1764849599999,"1057.0",9,"5.0","528.5","0"]])";
    std::string error;
    const auto sut = parse_rest_klines(body, error);
    ASSERT_TRUE(sut) << error;
    ASSERT_EQ(sut->size(), 2u);
    EXPECT_EQ((*sut)[0].open_ms, 1764842400000);
    EXPECT_EQ((*sut)[0].close_ms, 1764845999999);
    EXPECT_DOUBLE_EQ((*sut)[0].open, 100.0);
    EXPECT_DOUBLE_EQ((*sut)[0].close, 105.5);
    EXPECT_DOUBLE_EQ((*sut)[0].quote_volume, 104000.25);
    EXPECT_EQ((*sut)[0].trades, 512);
    EXPECT_DOUBLE_EQ((*sut)[1].quote_volume, 1057.0);
    EXPECT_FALSE(parse_rest_klines(R"([[1,"x"]])", error));
    EXPECT_FALSE(parse_rest_klines(R"({"code":-1121,"msg":"Invalid symbol."})", error));
}

// fundingInfo (issue 18). No recorded reply is in /work/shared/data/binance: this fixture is
// written from Binance's documented shape (USDⓈ-M "Get Funding Rate Info",
// GET /fapi/v1/fundingInfo: an array of {"symbol","adjustedFundingRateCap",
// "adjustedFundingRateFloor","fundingIntervalHours","disclaimer"}, only for symbols with
// adjusted funding parameters; the documentation's own example is BLZUSDT at 8 h).
constexpr const char* funding_info_body = R"([
    {"symbol":"BLZUSDT","adjustedFundingRateCap":"0.02500000","adjustedFundingRateFloor":"-0.02500000",
     "fundingIntervalHours":8,"disclaimer":false},
    {"symbol":"ZROUSDT","adjustedFundingRateCap":"0.02000000","adjustedFundingRateFloor":"-0.02000000",
     "fundingIntervalHours":4,"disclaimer":false},
    {"symbol":"币安人生USDT","adjustedFundingRateCap":"0.03000000","adjustedFundingRateFloor":"-0.03000000",
     "fundingIntervalHours":1,"disclaimer":true}
])";

TEST(FundingInfoTest, ReadsTheDocumentedShapeSortedBySymbol)
{
    std::string error, detail;
    std::size_t bad = 7;
    const auto sut = parse_funding_info(funding_info_body, error, bad, detail);
    ASSERT_TRUE(sut) << error;
    EXPECT_EQ(bad, 0u);
    EXPECT_EQ(*sut, (std::vector<std::pair<std::string, std::uint8_t>>{
                        {"BLZUSDT", 8}, {"ZROUSDT", 4}, {"币安人生USDT", 1}}));
    // An empty list is a valid reply: every perpetual has the default interval.
    const auto none = parse_funding_info("[]", error, bad, detail);
    ASSERT_TRUE(none) << error;
    EXPECT_TRUE(none->empty());
}

TEST(FundingInfoTest, SkipsAndCountsEntriesWithAnIntervalNoScheduleHas)
{
    const std::string body = R"([
        {"symbol":"AUSDT","fundingIntervalHours":4},
        {"symbol":"ZEROUSDT","fundingIntervalHours":0},
        {"symbol":"NEGUSDT","fundingIntervalHours":-8},
        {"symbol":"HUGEUSDT","fundingIntervalHours":18446744073709551615},
        {"symbol":"DAYSUSDT","fundingIntervalHours":25},
        {"symbol":"HALFUSDT","fundingIntervalHours":0.5},
        {"symbol":"TEXTUSDT","fundingIntervalHours":"often"},
        {"symbol":"NULLUSDT","fundingIntervalHours":null},
        {"symbol":"NOFIELDUSDT"},
        {"fundingIntervalHours":2},
        {"symbol":"","fundingIntervalHours":2},
        42,
        {"symbol":"QUOTEDUSDT","fundingIntervalHours":"2"},
        {"symbol":"AUSDT","fundingIntervalHours":1}
    ])";
    std::string error, detail;
    std::size_t bad = 0;
    const auto sut = parse_funding_info(body, error, bad, detail);
    ASSERT_TRUE(sut) << error;
    // A number as a JSON string is a REST number like any other; a symbol listed twice keeps
    // its first entry.
    EXPECT_EQ(*sut, (std::vector<std::pair<std::string, std::uint8_t>>{{"AUSDT", 4}, {"QUOTEDUSDT", 2}}));
    EXPECT_EQ(bad, 11u);
    EXPECT_NE(detail.find("ZEROUSDT"), std::string::npos) << detail;
}

TEST(FundingInfoTest, RefusesBodiesThatAreNotAnArray)
{
    std::string error, detail;
    std::size_t bad = 0;
    EXPECT_FALSE(parse_funding_info(R"({"code":-1003,"msg":"Too many requests"})", error, bad, detail));
    EXPECT_NE(error.find("not an array"), std::string::npos) << error;
    EXPECT_FALSE(parse_funding_info("[{\"symbol\":", error, bad, detail));
    EXPECT_NE(error.find("not JSON"), std::string::npos) << error;
    EXPECT_FALSE(parse_funding_info("", error, bad, detail));
}

TEST(FundingInfoTest, PerpetualsAreEveryPerpetualContractOfExchangeInfo)
{
    const std::string body = R"({"symbols":[
        {"symbol":"ETHUSDT","contractType":"PERPETUAL","quoteAsset":"USDT","status":"TRADING"},
        {"symbol":"BTCUSDC","contractType":"PERPETUAL","quoteAsset":"USDC","status":"TRADING"},
        {"symbol":"BTCUSDT_260327","contractType":"CURRENT_QUARTER","quoteAsset":"USDT","status":"TRADING"},
        {"symbol":"XAUUSDT","contractType":"TRADIFI_PERPETUAL","quoteAsset":"USDT","status":"TRADING"},
        {"symbol":"OLDUSDT","contractType":"PERPETUAL","quoteAsset":"USDT","status":"SETTLING"},
        {"symbol":"NOTYPEUSDT","quoteAsset":"USDT","status":"TRADING"}, 7]})";
    std::string error;
    const auto sut = parse_perpetuals(body, error);
    ASSERT_TRUE(sut) << error;
    EXPECT_EQ(*sut, (std::vector<std::string>{"BTCUSDC", "ETHUSDT", "OLDUSDT", "XAUUSDT"}));
    EXPECT_FALSE(parse_perpetuals("[]", error));
}

TEST(FundingInfoTest, ComposedTableGivesEveryPerpetualEightHoursUnlessAdjusted)
{
    const auto sut = compose_funding_intervals({"AUSDT", "BTCUSDT", "ETHUSDT", "ZUSDT"},
                                               {{"BTCUSDT", 4}, {"ETHUSDT", 8}, {"NEWUSDT", 1}});
    EXPECT_EQ(sut, (std::vector<std::pair<std::string, std::uint8_t>>{
                       {"AUSDT", 8}, {"BTCUSDT", 4}, {"ETHUSDT", 8}, {"NEWUSDT", 1}, {"ZUSDT", 8}}));
    EXPECT_EQ(compose_funding_intervals({}, {{"AUSDT", 2}}),
              (std::vector<std::pair<std::string, std::uint8_t>>{{"AUSDT", 2}}));
    EXPECT_EQ(compose_funding_intervals({"AUSDT"}, {}),
              (std::vector<std::pair<std::string, std::uint8_t>>{{"AUSDT", 8}}));
}

}  // namespace
}  // namespace vs::feed
