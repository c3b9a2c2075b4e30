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

}  // namespace
}  // namespace vs::feed
