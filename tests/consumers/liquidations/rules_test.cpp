// vs-liquidations's decisions (vs/liquidations/rules.hpp): thresholds, the debounce window per
// symbol and side with a controlled clock, durable windows, and TELEGLAS's texts.
#include "vs/liquidations/rules.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

namespace liq = vs::liquidations;

namespace {

constexpr std::int64_t t0 = 1'796'400'000'000;   // 2026-12-04T16:00:00Z

liq::event liquidation(std::string symbol, bool sell, double ap, double z, std::int64_t at)
{
    liq::event e;
    e.k = liq::kind::liquidation;
    e.symbol = std::move(symbol);
    e.side = std::string{liq::liquidated_position(sell)};
    e.price = ap;
    e.qty = z;
    e.notional = ap * z;
    e.time_ms = at;
    return e;
}

}  // namespace

TEST(LiquidationRules, ThresholdsHaveADefaultAndPerSymbolOverrides)
{
    const auto t = liq::thresholds::parse(100'000, "BTCUSDT:1000000, ETHUSDT:500000.5");
    EXPECT_EQ(t.for_symbol("BTCUSDT"), 1'000'000);
    EXPECT_EQ(t.for_symbol("ETHUSDT"), 500'000.5);
    EXPECT_EQ(t.for_symbol("SOLUSDT"), 100'000);
    EXPECT_EQ(liq::thresholds::parse(100'000, "btcusdt:2000000").for_symbol("BTCUSDT"), 2'000'000);
    EXPECT_THROW(liq::thresholds::parse(100'000, "BTCUSDT"), std::invalid_argument);
    EXPECT_THROW(liq::thresholds::parse(100'000, "BTCUSDT:-5"), std::invalid_argument);
    EXPECT_THROW(liq::thresholds::parse(100'000, "BTCUSDT:1e6x"), std::invalid_argument);
    EXPECT_THROW(liq::thresholds::parse(0, ""), std::invalid_argument);
}

TEST(LiquidationRules, ASellOrderLiquidatesALongAndTheTakerSideOfATradeIsTheBuyerUnlessHeMade)
{
    EXPECT_EQ(liq::liquidated_position(true), "LONG");
    EXPECT_EQ(liq::liquidated_position(false), "SHORT");
    EXPECT_EQ(liq::taker_side(false), "BUY");
    EXPECT_EQ(liq::taker_side(true), "SELL");
}

TEST(LiquidationRules, OneLiquidationIsOneAlertWhenItsWindowCloses)
{
    liq::debouncer d{std::chrono::milliseconds{10'000}};
    d.add(liquidation("BTCUSDT", true, 56'738, 22.0, t0), t0);
    EXPECT_TRUE(d.due(t0 + 9'999).empty());
    const auto out = d.due(t0 + 10'000);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].first, "BTCUSDT/LONG");
    EXPECT_EQ(out[0].second.count, 1u);
    EXPECT_DOUBLE_EQ(out[0].second.total_usd, 56'738 * 22.0);
    EXPECT_TRUE(d.open().empty());
}

TEST(LiquidationRules, AWindowGathersItsSymbolAndSideOnly)
{
    liq::debouncer d{std::chrono::milliseconds{10'000}};
    d.add(liquidation("BTCUSDT", true, 50'000, 2, t0), t0);
    d.add(liquidation("BTCUSDT", true, 50'100, 5, t0 + 1000), t0 + 1000);     // the largest
    d.add(liquidation("BTCUSDT", true, 49'900, 3, t0 + 9000), t0 + 9000);
    d.add(liquidation("BTCUSDT", false, 50'000, 4, t0 + 2000), t0 + 2000);   // a SHORT: its own window
    d.add(liquidation("ETHUSDT", true, 3'000, 100, t0 + 3000), t0 + 3000);
    auto out = d.due(t0 + 10'000);
    ASSERT_EQ(out.size(), 1u);
    const auto& a = out[0].second;
    EXPECT_EQ(a.symbol, "BTCUSDT");
    EXPECT_EQ(a.side, "LONG");
    EXPECT_EQ(a.count, 3u);
    EXPECT_DOUBLE_EQ(a.total_usd, 100'000 + 250'500 + 149'700);
    EXPECT_DOUBLE_EQ(a.largest_usd, 250'500);
    EXPECT_DOUBLE_EQ(a.price, 50'100);
    EXPECT_EQ(a.first_ms, t0);
    EXPECT_EQ(a.last_ms, t0 + 9000);
    out = d.due(t0 + 13'000);
    ASSERT_EQ(out.size(), 2u);   // the SHORT window (opened at +2 s) and ETHUSDT (+3 s)
    // After a window closed, the next liquidation opens a new one.
    d.add(liquidation("BTCUSDT", true, 50'000, 2, t0 + 20'000), t0 + 20'000);
    EXPECT_EQ(d.open().size(), 1u);
}

TEST(LiquidationRules, AZeroWindowMakesEveryLiquidationItsOwnAlert)
{
    liq::debouncer d{std::chrono::milliseconds{0}};
    d.add(liquidation("BTCUSDT", true, 50'000, 2, t0), t0);
    EXPECT_EQ(d.due(t0).size(), 1u);
}

TEST(LiquidationRules, AnOpenWindowSurvivesARestartThroughItsState)
{
    liq::debouncer d{std::chrono::milliseconds{10'000}};
    const auto key = d.add(liquidation("SOLUSDT", false, 187.25, 1000, t0), t0);
    d.add(liquidation("SOLUSDT", false, 187.5, 3000, t0 + 500), t0 + 500);
    const auto bytes = d.open().at(key).encode();
    liq::debouncer after{std::chrono::milliseconds{10'000}};
    auto w = liq::window::decode(bytes);
    ASSERT_TRUE(w);
    after.restore(key, *w);
    after.add(liquidation("SOLUSDT", false, 188, 1000, t0 + 2000), t0 + 2000);
    const auto out = after.due(t0 + 10'000);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].second.count, 3u);
    EXPECT_DOUBLE_EQ(out[0].second.largest_usd, 187.5 * 3000);
    std::string why;
    EXPECT_FALSE(liq::window::decode("{\"v\":1}", &why));
    EXPECT_EQ(why, "missing or mistyped field");
    EXPECT_FALSE(liq::window::decode("garbage", &why));
}

TEST(LiquidationRules, MoneyAndTimeAsTeleglasWritesThem)
{
    EXPECT_EQ(liq::usd(1'250'000), "$1,250,000");
    EXPECT_EQ(liq::usd(999.6), "$1,000");
    EXPECT_EQ(liq::usd(12), "$12");
    EXPECT_EQ(liq::price(56'738), "$56,738.00");
    EXPECT_EQ(liq::price(187.255), "$187.26");
    EXPECT_EQ(liq::price(0.001234), "$0.001234");
    EXPECT_EQ(liq::price(0.5), "$0.5000");
    EXPECT_EQ(liq::utc_time(t0 + 19 * 3'600'000 - 16 * 3'600'000 + 30 * 60'000 + 45'000), "19:30:45 UTC");
}

TEST(LiquidationRules, TextsInTeleglasShapes)
{
    liq::alert one;
    one.k = liq::kind::liquidation;
    one.symbol = "BTCUSDT";
    one.side = "SHORT";
    one.count = 1;
    one.total_usd = one.largest_usd = 1'250'000;
    one.price = 56'738;
    one.first_ms = one.last_ms = t0 + 3 * 3'600'000 + 30 * 60'000 + 45'000;   // 19:30:45
    EXPECT_EQ(liq::text(one),
              "🔥 LIQUIDATION ALERT\n📍 Exchange: Binance\n📊 Symbol: BTCUSDT\n💰 Price: $56,738.00\n📉 Side: SHORT\n"
              "💵 Size: $1,250,000\n⏰ Time: 19:30:45 UTC");

    auto whale = one;
    whale.k = liq::kind::whale;
    whale.side = "BUY";
    whale.price = 56'750;
    whale.total_usd = 2'500'000;
    whale.last_ms = t0 + 3 * 3'600'000 + 31 * 60'000 + 12'000;
    EXPECT_EQ(liq::text(whale),
              "🐋 WHALE TRADE ALERT\n📍 Exchange: Binance\n📊 Symbol: BTCUSDT\n💰 Price: $56,750.00\n📈 Side: BUY\n"
              "💵 Size: $2,500,000\n⏰ Time: 19:31:12 UTC");
    whale.side = "SELL";
    EXPECT_NE(liq::text(whale).find("📉 Side: SELL"), std::string::npos);

    auto burst = one;
    burst.side = "LONG";
    burst.count = 7;
    burst.total_usd = 8'400'000;
    burst.last_ms = one.first_ms + 9000;
    const auto t = liq::text(burst);
    EXPECT_EQ(t.rfind("🔥 LIQUIDATION ALERT: at least 7 liquidations\n", 0), 0u) << t;
    EXPECT_NE(t.find("💵 Size: $8,400,000 total, largest $1,250,000"), std::string::npos) << t;
    EXPECT_NE(t.find("⏰ Time: 19:30:45 to 19:30:54 UTC"), std::string::npos) << t;
    EXPECT_NE(t.find("at most one liquidation per symbol per second"), std::string::npos) << t;
}
