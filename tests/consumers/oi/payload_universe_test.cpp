// The backend bodies (vs/oi/payload.hpp) as CONTRACTS 3.1 and section 1 have them, and the
// liquid universe (vs/oi/universe.hpp): hysteresis, eligibility, enteredAt kept, and never a
// member dropped or an empty universe offered because data is missing.
#include <map>
#include <optional>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "vs/oi/payload.hpp"
#include "vs/oi/universe.hpp"

namespace {

using vs::oi::config;
using vs::oi::contract;
using vs::oi::member;
using vs::oi::ticker;

constexpr std::int64_t t0 = 1'764'849'900'000;   // 2025-12-04T12:05:00Z

// ---- payloads -----------------------------------------------------------------------------------

TEST(OiPayload, AlertBodyHasTheOldFieldsInOrderWithPythonNumbersAndAZTimestamp)
{
    vs::oi::alert a;
    a.symbol = "BTCUSDT";
    a.dir = vs::oi::direction::up;
    a.timeframe_label = "5 min";
    a.baseline = 100'000;
    a.current = 115'000;
    a.pct_change = 0.15;
    a.abs_change = 15'000;
    a.time_ms = t0 + 999;   // seconds truncated
    a.price_change = 0.0123;
    a.funding_rate = 0.00001;
    EXPECT_EQ(vs::oi::alert_json(a),
              R"({"symbol":"BTCUSDT","direction":"UP","baseline":100000.0,"current":115000.0,"pctChange":0.15,)"
              R"("absChange":15000.0,"timestamp":"2025-12-04T12:05:00Z","source":"oi_realtime_poller",)"
              R"("timeframe":"5 min","priceChange":0.0123,"fundingRate":1e-05})");
    a.dir = vs::oi::direction::down;
    a.abs_change = -20'000.5;
    a.price_change.reset();
    a.funding_rate.reset();
    a.timeframe_label = "1 hour";
    const auto v = boost::json::parse(vs::oi::alert_json(a)).as_object();
    EXPECT_EQ(v.at("direction").as_string(), "DOWN");
    EXPECT_EQ(v.at("absChange").as_double(), -20'000.5);
    EXPECT_EQ(v.at("timeframe").as_string(), "1 hour");
    EXPECT_FALSE(v.contains("priceChange"));   // absent, never null
    EXPECT_FALSE(v.contains("fundingRate"));
    EXPECT_EQ(v.size(), 9u);
}

TEST(OiPayload, BatchBodiesInChunksOf100WithTheirOwnCountsAndOneTimestamp)
{
    std::vector<vs::oi::batch_row> rows;
    for (int i = 0; i < 250; ++i) {
        rows.push_back({"S" + std::to_string(i) + "USDT", 1000.5 + i, 2.0});
    }
    const auto bodies = vs::oi::batch_bodies(rows, t0 + 123);
    ASSERT_EQ(bodies.size(), 3u);
    std::size_t seen = 0;
    for (std::size_t b = 0; b < bodies.size(); ++b) {
        const auto o = boost::json::parse(bodies[b]).as_object();
        const auto& data = o.at("data").as_array();
        EXPECT_EQ(data.size(), b < 2 ? 100u : 50u);
        EXPECT_EQ(o.at("totalSymbols").as_int64(), static_cast<std::int64_t>(data.size()));
        EXPECT_EQ(o.at("timestamp").as_string(), "2025-12-04T12:05:00Z");
        EXPECT_EQ(o.at("source").as_string(), "realtime");
        for (const auto& r : data) {
            const auto& row = r.as_object();
            EXPECT_EQ(row.at("symbol").as_string(), "S" + std::to_string(seen) + "USDT");
            EXPECT_EQ(row.at("openInterest").as_double(), 1000.5 + static_cast<double>(seen));
            EXPECT_EQ(row.at("openInterestUsd").as_double(), (1000.5 + static_cast<double>(seen)) * 2.0);
            EXPECT_EQ(row.at("markPrice").as_double(), 2.0);
            ++seen;
        }
    }
    EXPECT_EQ(seen, 250u);
    const std::string first_row =
        R"({"data":[{"symbol":"S200USDT","openInterest":1200.5,"openInterestUsd":2401.0,"markPrice":2.0},{")";
    EXPECT_EQ(bodies[2].substr(0, first_row.size()), first_row);
    const std::string tail = R"("markPrice":2.0}],"timestamp":"2025-12-04T12:05:00Z","totalSymbols":50,"source":"realtime"})";
    ASSERT_GT(bodies[2].size(), tail.size());
    EXPECT_EQ(bodies[2].substr(bodies[2].size() - tail.size()), tail);
    EXPECT_TRUE(vs::oi::batch_bodies({}, t0).empty());
}

TEST(OiPayload, TimeFormats)
{
    EXPECT_EQ(vs::oi::utc_seconds(t0), "2025-12-04T12:05:00Z");
    EXPECT_EQ(vs::oi::utc_isoformat(t0), "2025-12-04T12:05:00Z");   // isoformat: no fraction at .0
    EXPECT_EQ(vs::oi::utc_isoformat(t0 + 7), "2025-12-04T12:05:00.007000Z");
}

// ---- universe -----------------------------------------------------------------------------------

struct market {
    std::vector<contract> contracts{
        {"AAAUSDT", "USDT", "PERPETUAL", "TRADING"},
        {"BBBUSDT", "USDT", "PERPETUAL", "TRADING"},
        {"CCCUSDT", "USDT", "PERPETUAL", "TRADING"},
        {"USDCOIN", "USDC", "PERPETUAL", "TRADING"},          // not USDT-quoted
        {"QTRUSDT_261225", "USDT", "CURRENT_QUARTER", "TRADING"},  // not perpetual
        {"SETUSDT", "USDT", "PERPETUAL", "SETTLING"},         // not trading
    };
    std::map<std::string, ticker> tickers;
    vs::oi::ticker_lookup lookup() const
    {
        return [this](std::string_view s) -> std::optional<ticker> {
            const auto it = tickers.find(std::string{s});
            return it == tickers.end() ? std::nullopt : std::optional<ticker>{it->second};
        };
    }
};

std::vector<std::string> symbols(const std::vector<member>& ms)
{
    std::vector<std::string> out;
    for (const auto& m : ms) {
        out.push_back(m.symbol);
    }
    return out;
}

using strings = std::vector<std::string>;

TEST(OiUniverse, EntersAt4MStaysAt3MLeavesAt1_9M)
{
    const config cfg;
    market m;
    m.tickers["AAAUSDT"] = {3'999'999.99, 1};
    auto u = vs::oi::update_universe(cfg, {}, m.contracts, m.lookup(), t0);
    EXPECT_TRUE(u.members.empty());
    EXPECT_FALSE(u.postable());

    m.tickers["AAAUSDT"] = {4'000'000, 1};   // inclusive
    u = vs::oi::update_universe(cfg, {}, m.contracts, m.lookup(), t0);
    ASSERT_EQ(symbols(u.members), (strings{"AAAUSDT"}));
    EXPECT_EQ(u.added, (strings{"AAAUSDT"}));
    EXPECT_EQ(u.members[0].entered_at_ms, t0);
    EXPECT_TRUE(u.changed());
    EXPECT_TRUE(u.postable());

    m.tickers["AAAUSDT"] = {3'000'000, 1};   // below enter, above exit: stays, enteredAt kept
    auto u2 = vs::oi::update_universe(cfg, u.members, m.contracts, m.lookup(), t0 + 300'000);
    ASSERT_EQ(symbols(u2.members), (strings{"AAAUSDT"}));
    EXPECT_FALSE(u2.changed());
    EXPECT_EQ(u2.members[0].entered_at_ms, t0);
    EXPECT_EQ(u2.members[0].last_seen_at_ms, t0 + 300'000);
    EXPECT_EQ(u2.members[0].quote_volume_24h, 3'000'000);

    m.tickers["AAAUSDT"] = {2'000'000, 1};   // exactly the exit threshold: stays
    u2 = vs::oi::update_universe(cfg, u2.members, m.contracts, m.lookup(), t0 + 600'000);
    EXPECT_EQ(symbols(u2.members), (strings{"AAAUSDT"}));

    m.tickers["AAAUSDT"] = {1'900'000, 1};   // below: leaves
    const auto u3 = vs::oi::update_universe(cfg, u2.members, m.contracts, m.lookup(), t0 + 900'000);
    EXPECT_TRUE(u3.members.empty());
    EXPECT_EQ(u3.removed, (strings{"AAAUSDT"}));
    EXPECT_FALSE(u3.postable());
}

TEST(OiUniverse, MissingDataKeepsMembersAndLetsNobodyIn)
{
    const config cfg;
    market m;
    const std::vector<member> current{{"AAAUSDT", 5e6, t0 - 1000, t0 - 1000}, {"BBBUSDT", 6e6, t0 - 2000, t0 - 2000}};
    m.tickers["BBBUSDT"] = {ticker{std::nan(""), 1}};   // a NaN volume is no data
    // No ticker for either: both kept unchanged, dates and volumes included.
    auto u = vs::oi::update_universe(cfg, current, m.contracts, m.lookup(), t0);
    EXPECT_EQ(u.members, current);
    EXPECT_FALSE(u.changed());
    EXPECT_EQ(u.eligible, 3u);
    EXPECT_EQ(u.with_ticker, 0u);
    // No exchangeInfo at all (not fetched yet): every member kept.
    m.tickers["AAAUSDT"] = {1e6, 1};
    u = vs::oi::update_universe(cfg, current, {}, m.lookup(), t0);
    EXPECT_EQ(u.members, current);
    // No lookup at all.
    u = vs::oi::update_universe(cfg, current, m.contracts, nullptr, t0);
    EXPECT_EQ(u.members, current);
}

TEST(OiUniverse, OnlyUsdtPerpetualTradingUsdmRowsCount)
{
    const config cfg;
    market m;
    for (const auto* s : {"USDCOIN", "QTRUSDT_261225", "SETUSDT"}) {
        m.tickers[s] = {1e9, 1};
    }
    m.tickers["CCCUSDT"] = {1e9, 2};   // a COIN-M row (st 2): its base-coin volume never counts
    const auto u = vs::oi::update_universe(cfg, {}, m.contracts, m.lookup(), t0);
    EXPECT_TRUE(u.members.empty());
    EXPECT_TRUE(vs::oi::eligible({"X", "USDT", "PERPETUAL", "TRADING"}));
    EXPECT_FALSE(vs::oi::eligible({"X", "USDT", "PERPETUAL", "BREAK"}));
}

TEST(OiUniverse, AMemberNoLongerEligibleOrNoLongerListedLeaves)
{
    const config cfg;
    market m;
    m.tickers["SETUSDT"] = {9e9, 1};
    m.tickers["AAAUSDT"] = {9e9, 1};
    const std::vector<member> current{{"SETUSDT", 5e6, t0, t0}, {"GONEUSDT", 5e6, t0, t0}, {"AAAUSDT", 5e6, t0, t0}};
    const auto u = vs::oi::update_universe(cfg, current, m.contracts, m.lookup(), t0 + 1);
    EXPECT_EQ(symbols(u.members), (strings{"AAAUSDT"}));
    EXPECT_EQ(u.removed, (strings{"GONEUSDT", "SETUSDT"}));
}

TEST(OiUniverse, ThresholdsComeFromTheConfig)
{
    const auto cfg = config::from_lookup([](const char* n) -> std::optional<std::string> {
        if (std::string{n} == "OI_LIQUID_ENTER_QUOTE_24H") {
            return "100";
        }
        if (std::string{n} == "OI_LIQUID_EXIT_QUOTE_24H") {
            return "50";
        }
        return std::nullopt;
    });
    market m;
    m.tickers["AAAUSDT"] = {100, 1};
    m.tickers["BBBUSDT"] = {99, 1};
    const auto u = vs::oi::update_universe(cfg, {}, m.contracts, m.lookup(), t0);
    EXPECT_EQ(symbols(u.members), (strings{"AAAUSDT"}));
}

TEST(OiUniverse, PostBodyAsTheOldJob)
{
    const std::vector<member> ms{{"AAAUSDT", 4'500'000.5, t0 - 86'400'000 + 250, t0}};
    EXPECT_EQ(vs::oi::universe_json(ms, t0 + 1),
              R"({"symbols":[{"symbol":"AAAUSDT","quoteVolume24h":4500000.5,)"
              R"("enteredAt":"2025-12-03T12:05:00.250000Z","lastSeenAt":"2025-12-04T12:05:00Z"}],)"
              R"("updatedAt":"2025-12-04T12:05:00.001000Z"})");
}

// ---- the old backend's own tests of the same rules (openInterest.liquidUniverse.test.ts) ------

namespace backend_cases {

std::vector<contract> perps(std::initializer_list<const char*> names)
{
    std::vector<contract> out;
    for (const char* n : names) {
        out.push_back({n, "USDT", "PERPETUAL", "TRADING"});
    }
    return out;
}

std::vector<member> in_set(std::initializer_list<const char*> names)
{
    std::vector<member> out;
    for (const char* n : names) {
        out.push_back({n, 5e6, t0 - 3'600'000, t0 - 300'000});
    }
    return out;
}

vs::oi::ticker_lookup volumes(std::map<std::string, double> v)
{
    return [v = std::move(v)](std::string_view s) -> std::optional<ticker> {
        const auto it = v.find(std::string{s});
        return it == v.end() ? std::nullopt : std::optional<ticker>{ticker{it->second, 1}};
    };
}

TEST(OiUniverseBackendCases, FilterUsdtPerps)
{
    const std::vector<contract> info{{"BTCUSDT", "USDT", "PERPETUAL", "TRADING"},
                                     {"ETHUSDT", "USDT", "PERPETUAL", "TRADING"},
                                     {"BTCUSD", "USD", "PERPETUAL", "TRADING"},
                                     {"BTCUSDT", "USDT", "CURRENT_QUARTER", "TRADING"},
                                     {"SOLUSDT", "USDT", "PERPETUAL", "BREAK"}};
    strings eligible;
    for (const auto& c : info) {
        if (vs::oi::eligible(c)) {
            eligible.push_back(c.symbol);
        }
    }
    EXPECT_EQ(eligible, (strings{"BTCUSDT", "ETHUSDT"}));
}

TEST(OiUniverseBackendCases, AddsSymbolsAboveTheEnterThreshold)
{
    const auto u = vs::oi::update_universe(config{}, {}, perps({"BTCUSDT", "ETHUSDT", "SOLUSDT"}),
                                           volumes({{"BTCUSDT", 5e6}, {"ETHUSDT", 4.5e6}, {"SOLUSDT", 1e6}}), t0);
    EXPECT_EQ(symbols(u.members), (strings{"BTCUSDT", "ETHUSDT"}));
    EXPECT_EQ(u.members[0].quote_volume_24h, 5e6);
    EXPECT_EQ(u.members[1].quote_volume_24h, 4.5e6);
}

TEST(OiUniverseBackendCases, RemovesMembersBelowTheExitThreshold)
{
    const auto u = vs::oi::update_universe(config{}, in_set({"BTCUSDT", "ETHUSDT"}), perps({"BTCUSDT", "ETHUSDT"}),
                                           volumes({{"BTCUSDT", 5e6}, {"ETHUSDT", 1.5e6}}), t0);
    EXPECT_EQ(symbols(u.members), (strings{"BTCUSDT"}));
    EXPECT_EQ(u.removed, (strings{"ETHUSDT"}));
}

TEST(OiUniverseBackendCases, KeepsMembersBetweenExitAndEnter)
{
    const auto u = vs::oi::update_universe(config{}, in_set({"BTCUSDT", "ETHUSDT"}), perps({"BTCUSDT", "ETHUSDT"}),
                                           volumes({{"BTCUSDT", 5e6}, {"ETHUSDT", 3e6}}), t0);
    EXPECT_EQ(symbols(u.members), (strings{"BTCUSDT", "ETHUSDT"}));
    EXPECT_FALSE(u.changed());
}

TEST(OiUniverseBackendCases, DoesNotAddNonMembersBetweenExitAndEnter)
{
    const auto u = vs::oi::update_universe(config{}, in_set({"BTCUSDT"}), perps({"BTCUSDT", "ETHUSDT"}),
                                           volumes({{"BTCUSDT", 5e6}, {"ETHUSDT", 3e6}}), t0);
    EXPECT_EQ(symbols(u.members), (strings{"BTCUSDT"}));
}

TEST(OiUniverseBackendCases, SkipsSymbolsWithoutTickerStats)
{
    const auto u = vs::oi::update_universe(config{}, {}, perps({"BTCUSDT", "ETHUSDT", "SOLUSDT"}),
                                           volumes({{"BTCUSDT", 5e6}, {"SOLUSDT", 4.5e6}}), t0);
    EXPECT_EQ(symbols(u.members), (strings{"BTCUSDT", "SOLUSDT"}));
}

TEST(OiUniverseBackendCases, EstimatePollingIntervalWithCustomParameters)
{
    config c;
    c.max_req_per_min = 1000;
    c.min_interval_s = 10;
    c.max_interval_s = 30;
    EXPECT_EQ(vs::oi::poll_interval_s(c, 100), 10);   // 6 s, clamped to the minimum
    EXPECT_EQ(vs::oi::poll_interval_s(c, 0), 30);
}

}  // namespace backend_cases
}  // namespace
