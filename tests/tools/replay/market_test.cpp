// The synthetic market: universe, funding schedule, payload shapes (checked against real
// Binance captures when /work/shared/data/binance is present), control effects, klines.
#include "vs/replay/market.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

namespace {

namespace json = boost::json;
using vs::replay::market;
using vs::replay::market_config;

constexpr std::int64_t t0 = 1'791'382'992'000;  // 2026-10-07 14:23:12 UTC
constexpr std::int64_t hour_ms = 3'600'000;

std::size_t index_of(const market& m, const char* name)
{
    auto k = m.find(name);
    EXPECT_TRUE(k) << name;
    return k.value_or(0);
}

std::vector<std::string> keys_of(const json::object& o)
{
    std::vector<std::string> keys;
    for (const auto& kv : o) {
        keys.emplace_back(kv.key());
    }
    return keys;
}

TEST(MarketTest, UniverseHasTheRequestedUsdmSymbolsPlusTwoCoinMRows)
{
    market sut{market_config{650, 1}, t0};
    EXPECT_EQ(sut.usdm_count(), 650U);
    EXPECT_EQ(sut.symbols().size(), 652U);
    std::set<std::string> names;
    for (const auto& s : sut.symbols()) {
        EXPECT_TRUE(names.insert(s.name).second) << "duplicate " << s.name;
    }
    for (const char* n : {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XAUUSDT", "XAGUSDT", "币安人生USDT", "BTCUSD_PERP", "ETHUSD_PERP"}) {
        EXPECT_EQ(names.count(n), 1U) << n;
    }
    EXPECT_EQ(sut.symbols()[index_of(sut, "BTCUSD_PERP")].st, 2);
    EXPECT_EQ(sut.symbols()[index_of(sut, "BTCUSD_PERP")].pair, "BTCUSD");
    EXPECT_TRUE(sut.symbols()[index_of(sut, "XAUUSDT")].tradfi);
    EXPECT_EQ(sut.symbols()[index_of(sut, "币安人生USDT")].lower, "币安人生usdt");
}

TEST(MarketTest, SameSeedGivesTheSameUniverse)
{
    market a{market_config{200, 7}, t0};
    market b{market_config{200, 7}, t0};
    market c{market_config{200, 8}, t0};
    ASSERT_EQ(a.symbols().size(), b.symbols().size());
    bool differs = false;
    for (std::size_t k = 0; k < a.symbols().size(); ++k) {
        EXPECT_EQ(a.symbols()[k].name, b.symbols()[k].name);
        differs = differs || a.symbols()[k].name != c.symbols()[k].name;
    }
    EXPECT_TRUE(differs) << "another seed should generate other names";
}

TEST(MarketTest, FundingIntervalsAreConsistentWithNextFundingTime)
{
    market sut{market_config{650, 1}, t0};
    std::set<int> intervals;
    for (const auto& s : sut.symbols()) {
        const std::int64_t period = s.funding_interval_h * hour_ms;
        intervals.insert(s.funding_interval_h);
        EXPECT_EQ(s.next_funding_ms % period, 0) << s.name;
        EXPECT_GT(s.next_funding_ms, t0);
        EXPECT_LE(s.next_funding_ms - t0, period);
        EXPECT_LT(std::abs(s.funding), 0.003);
    }
    EXPECT_EQ(intervals, (std::set<int>{1, 2, 4, 8}));
}

TEST(MarketTest, MarkPriceFramesPutTradFiRowsInTheirOwnFrame)
{
    market sut{market_config{650, 1}, t0};
    sut.step(t0 + 1000);
    auto frames = sut.mark_price_frames(t0 + 1000);
    ASSERT_EQ(frames.size(), 2U);
    auto main = json::parse(frames[0]).as_array();
    auto tradfi = json::parse(frames[1]).as_array();
    EXPECT_EQ(main.size() + tradfi.size(), 652U);
    for (const auto& r : tradfi) {
        std::string s{r.at("s").as_string()};
        EXPECT_TRUE(s == "XAUUSDT" || s == "XAGUSDT" || s == "XPTUSDT") << s;
    }
    int coinm = 0;
    for (const auto& r : main) {
        EXPECT_TRUE(r.at("p").is_string());
        EXPECT_EQ(r.at("p"), r.at("ap"));
        EXPECT_GT(std::stod(std::string(r.at("p").as_string())), 0.0);
        coinm += r.at("st").as_int64() == 2 ? 1 : 0;
    }
    EXPECT_EQ(coinm, 2);
}

TEST(MarketTest, TickerPushesHoldOnlyAChangingSubset)
{
    market sut{market_config{650, 1}, t0};
    for (int k = 1; k <= 10; ++k) {
        sut.step(t0 + k * 1000);
        auto rows = json::parse(sut.ticker_frame(t0 + k * 1000)).as_array();
        EXPECT_GT(rows.size(), 652U * 25 / 100) << k;
        EXPECT_LT(rows.size(), 652U * 75 / 100) << k;
    }
}

TEST(MarketTest, LiquidationsArriveAtAFewPerMinute)
{
    market sut{market_config{100, 1}, t0};
    int n = 0;
    for (int k = 0; k < 600; ++k) {  // ten simulated minutes at 1 s
        if (auto f = sut.maybe_force_order(t0 + k * 1000, 1.0)) {
            ++n;
            auto v = json::parse(*f);
            EXPECT_EQ(v.at("e").as_string(), "forceOrder");
            EXPECT_TRUE(v.at("o").at("S").as_string() == "SELL" || v.at("o").at("S").as_string() == "BUY");
        }
    }
    EXPECT_GE(n, 10);
    EXPECT_LE(n, 60);
}

TEST(MarketTest, SetPriceIsPushedVerbatimAndStateAgrees)
{
    market sut{market_config{50, 1}, t0};
    auto k = index_of(sut, "BTCUSDT");
    sut.set_price(k, 12345.678);
    sut.set_funding(k, 0.0005);
    sut.step(t0 + 1000);
    auto rows = json::parse(sut.mark_price_frames(t0 + 1000)[0]).as_array();
    const json::object* row = nullptr;
    for (const auto& r : rows) {
        if (r.at("s").as_string() == "BTCUSDT") {
            row = &r.as_object();
        }
    }
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(row->at("p").as_string(), "12345.67800000");
    EXPECT_EQ(row->at("r").as_string(), "0.00050000");
    auto state = json::parse(sut.state_json(k));
    EXPECT_EQ(state.at("markPrice").to_number<double>(), 12345.678);
    EXPECT_EQ(state.at("lastPushMs").as_int64(), t0 + 1000);
    // Pinned: the price does not walk away afterwards.
    sut.step(t0 + 2000);
    auto again = json::parse(sut.mark_price_frames(t0 + 2000)[0]).as_array();
    for (const auto& r : again) {
        if (r.at("s").as_string() == "BTCUSDT") {
            EXPECT_EQ(r.at("p").as_string(), "12345.67800000");
        }
    }
}

TEST(MarketTest, OiRampMovesLinearlyAndHoldsTheTarget)
{
    market sut{market_config{50, 1}, t0};
    auto k = index_of(sut, "ETHUSDT");
    sut.set_open_interest(k, 1000);
    sut.ramp_open_interest(k, 10, 10, t0);
    sut.step(t0 + 5000);
    EXPECT_NEAR(sut.symbols()[k].open_interest, 1050, 1e-6);
    sut.step(t0 + 11000);
    EXPECT_NEAR(sut.symbols()[k].open_interest, 1100, 1e-6);
    sut.step(t0 + 20000);
    EXPECT_NEAR(sut.symbols()[k].open_interest, 1100, 1e-6);
    auto oi = json::parse(sut.open_interest(k, t0 + 20000));
    EXPECT_EQ(oi.at("openInterest").as_string(), "1100.00");
}

TEST(MarketTest, VolumeFactorMakesTheHourAMultipleOfThePreviousOne)
{
    market sut{market_config{50, 1}, t0};
    auto k = index_of(sut, "SOLUSDT");
    double prev = sut.symbols()[k].hours.back().quote_volume;
    sut.scale_hour_volume(k, 4);
    EXPECT_GE(sut.symbols()[k].current.quote_volume, 4 * prev);
    double before = sut.symbols()[k].current.quote_volume;
    sut.step(t0 + 1000);
    EXPECT_GT(sut.symbols()[k].current.quote_volume, before);
    // The next hour starts over at the normal rate.
    sut.step(t0 + hour_ms);
    EXPECT_EQ(sut.symbols()[k].volume_factor, 1.0);
    EXPECT_TRUE(sut.symbols()[k].just_closed);
}

TEST(MarketTest, KlinesReturnTheLatestRowsOldestFirst)
{
    market sut{market_config{50, 1}, t0};
    auto k = index_of(sut, "BTCUSDT");
    auto rows = json::parse(sut.klines(k, hour_ms, std::nullopt, std::nullopt, 3, t0)).as_array();
    ASSERT_EQ(rows.size(), 3U);
    EXPECT_EQ(rows[2].as_array()[0].as_int64(), t0 - t0 % hour_ms);
    EXPECT_EQ(rows[1].as_array()[0].as_int64(), t0 - t0 % hour_ms - hour_ms);
    EXPECT_EQ(rows[2].as_array()[6].as_int64(), t0 - t0 % hour_ms + hour_ms - 1);
    auto five = json::parse(sut.klines(k, 300'000, std::nullopt, std::nullopt, 4, t0)).as_array();
    ASSERT_EQ(five.size(), 4U);
    EXPECT_EQ(five[3].as_array()[0].as_int64(), t0 - t0 % 300'000);
    auto from = json::parse(sut.klines(k, hour_ms, t0 - 5 * hour_ms, std::nullopt, 2, t0)).as_array();
    ASSERT_EQ(from.size(), 2U);
    EXPECT_EQ(from[0].as_array()[0].as_int64(), t0 - t0 % hour_ms - 5 * hour_ms);
    auto daily = json::parse(sut.klines(k, 24 * hour_ms, std::nullopt, std::nullopt, 2, t0)).as_array();
    EXPECT_EQ(daily.size(), 2U);
}

TEST(MarketTest, HourlyVolumesMatchTheDailyScale)
{
    market sut{market_config{650, 1}, t0};
    auto k = index_of(sut, "BTCUSDT");
    auto d = sut.stats_24h(k, t0);
    // BTC trades about $14 bn a day.
    EXPECT_GT(d.quote_volume, 8e9);
    EXPECT_LT(d.quote_volume, 25e9);
    int liquid = 0;
    for (std::size_t j = 0; j < sut.symbols().size(); ++j) {
        liquid += sut.symbols()[j].st == 1 && sut.stats_24h(j, t0).quote_volume >= 4e6 ? 1 : 0;
    }
    EXPECT_GT(liquid, 250);
    EXPECT_LT(liquid, 500);
}

// ---------------------------------------------------------------------------------------------
// Same keys, same order as Binance's 2026 frames.

class PayloadShapeTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        const char* dir = std::getenv("VS_BINANCE_SAMPLES");
        if (dir == nullptr || !std::filesystem::is_directory(dir)) {
            GTEST_SKIP() << "Binance samples not available (VS_BINANCE_SAMPLES)";
        }
        dir_ = dir;
    }
    json::value sample(const char* name)
    {
        std::ifstream in(dir_ / name);
        std::stringstream ss;
        ss << in.rdbuf();
        return json::parse(ss.str());
    }
    std::filesystem::path dir_;
    market sut_{market_config{50, 1}, t0};
};

TEST_F(PayloadShapeTest, MarkPriceRowsHaveTheKeysOf2026Frames)
{
    auto real = sample("ws_markPrice_arr_1s_envelope_trimmed2_2026-10-07.json").at("data").as_array()[0].as_object();
    sut_.step(t0 + 1000);
    auto ours = json::parse(sut_.mark_price_frames(t0 + 1000)[0]).as_array()[0].as_object();
    EXPECT_EQ(keys_of(ours), keys_of(real));
}

TEST_F(PayloadShapeTest, TickerRowsHaveTheKeysOf2026Frames)
{
    auto real = sample("ws_ticker_arr_envelope_trimmed2_with_coinm_row_2026-10-07.json").at("data").as_array()[0].as_object();
    sut_.step(t0 + 1000);
    auto ours = json::parse(sut_.ticker_frame(t0 + 1000)).as_array()[0].as_object();
    EXPECT_EQ(keys_of(ours), keys_of(real));
}

TEST_F(PayloadShapeTest, AggTradeAndKlineHaveTheKeysOf2026Frames)
{
    auto real_trade = sample("ws_aggTrade_btcusdt_envelope_2026-10-07.json").at("data").as_object();
    auto real_kline = sample("ws_kline_1m_btcusdt_envelope_2026-10-07.json").at("data").as_object();
    auto k = index_of(sut_, "BTCUSDT");
    std::optional<std::string> trade;
    for (int j = 0; j < 100 && !trade; ++j) {
        trade = sut_.agg_trade(k, t0 + j);
    }
    ASSERT_TRUE(trade);
    EXPECT_EQ(keys_of(json::parse(*trade).as_object()), keys_of(real_trade));
    auto kline = json::parse(sut_.kline_1h(k, t0)).as_object();
    EXPECT_EQ(keys_of(kline), keys_of(real_kline));
    EXPECT_EQ(keys_of(kline.at("k").as_object()), keys_of(real_kline.at("k").as_object()));
}

TEST_F(PayloadShapeTest, RestBodiesHaveTheKeysOfBinanceReplies)
{
    auto k = index_of(sut_, "BTCUSDT");
    auto real_pi = sample("rest_fapi_v1_premiumIndex_trimmed3_2026-10-07.json").as_array()[0].as_object();
    EXPECT_EQ(keys_of(json::parse(sut_.premium_index(k, t0)).as_object()), keys_of(real_pi));
    auto real_oi = sample("rest_fapi_v1_openInterest_btcusdt_2026-10-07.json").as_object();
    EXPECT_EQ(keys_of(json::parse(sut_.open_interest(k, t0)).as_object()), keys_of(real_oi));
    auto real_kl = sample("rest_fapi_v1_klines_btcusdt_1m_limit2_2026-10-07.json").as_array()[0].as_array();
    auto ours_kl = json::parse(sut_.klines(k, 60'000, std::nullopt, std::nullopt, 2, t0)).as_array()[0].as_array();
    ASSERT_EQ(ours_kl.size(), real_kl.size());
    for (std::size_t j = 0; j < real_kl.size(); ++j) {
        EXPECT_EQ(ours_kl[j].kind(), real_kl[j].kind()) << "column " << j;
    }
    auto real_t = sample("rest_fapi_v1_ticker_24hr_trimmed3_2026-10-07.json").as_array()[0].as_object();
    auto ours_t = json::parse(sut_.ticker_24hr(k, t0)).as_object();
    auto a = keys_of(ours_t);
    auto b = keys_of(real_t);
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);
}

}  // namespace
