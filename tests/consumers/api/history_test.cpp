// The dashboard's history (history.hpp) and its routes: one point per step (the newest),
// trimmed to the window, the 1 h change from the newest point at or before an hour ago, and
// /history, /history/{symbol}?hours= through the router (no bus: a memory source).
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "vs/api/history.hpp"
#include "vs/api/memory_source.hpp"
#include "vs/api/router.hpp"
#include "vs/common/clock.hpp"

namespace {

namespace json = boost::json;
using vs::api::history_point;
using vs::api::history_store;
using vs::api::series_id;
using namespace std::chrono_literals;

constexpr std::int64_t min_ms = 60'000;

TEST(HistoryStore, KeepsTheNewestPointOfEachStepAndTrimsToTheWindow)
{
    history_store h{30s, 60min};
    const std::int64_t t0 = 1'700'000'000'000 - 1'700'000'000'000 % 30'000;
    h.add(series_id::mark_price, "BTCUSDT", t0 + 1'000, 100.0, t0);
    h.add(series_id::mark_price, "BTCUSDT", t0 + 20'000, 101.0, t0);   // same step: replaces
    h.add(series_id::mark_price, "BTCUSDT", t0 + 10'000, 99.0, t0);    // older than the last: dropped
    h.add(series_id::mark_price, "BTCUSDT", t0 + 31'000, 102.0, t0);   // next step
    h.add(series_id::mark_price, "BTCUSDT", t0 + 40'000, std::nan(""), t0);   // not finite: dropped
    std::vector<history_point> out[vs::api::series_count];
    ASSERT_TRUE(h.read("BTCUSDT", 0, out));
    ASSERT_EQ(out[0].size(), 2u);
    EXPECT_EQ(out[0][0].t_ms, t0 + 20'000);
    EXPECT_EQ(out[0][0].v, 101.0);
    EXPECT_EQ(out[0][1].t_ms, t0 + 31'000);
    EXPECT_TRUE(out[1].empty());
    EXPECT_FALSE(h.read("ETHUSDT", 0, out));
    // An hour later the first two points are out of the window.
    h.add(series_id::mark_price, "BTCUSDT", t0 + 61 * min_ms, 103.0, t0 + 61 * min_ms);
    ASSERT_TRUE(h.read("BTCUSDT", 0, out));
    ASSERT_EQ(out[0].size(), 1u);
    EXPECT_EQ(out[0][0].v, 103.0);
    // since_ms filters.
    ASSERT_TRUE(h.read("BTCUSDT", t0 + 62 * min_ms, out));
    EXPECT_TRUE(out[0].empty());
}

TEST(HistoryStore, OneHourChangeFromTheNewestPointAtOrBeforeAnHourAgo)
{
    history_store h{30s, 3h};
    const std::int64_t now = 1'700'000'000'000;
    h.add(series_id::open_interest, "BTCUSDT", now - 70 * min_ms, 900.0, now);
    h.add(series_id::open_interest, "BTCUSDT", now - 62 * min_ms, 1000.0, now);
    h.add(series_id::open_interest, "BTCUSDT", now - 30 * min_ms, 1100.0, now);
    h.add(series_id::open_interest, "BTCUSDT", now, 1050.0, now);
    h.add(series_id::open_interest, "ETHUSDT", now - 30 * min_ms, 10.0, now);   // too short
    h.add(series_id::open_interest, "ETHUSDT", now, 11.0, now);
    h.add(series_id::open_interest, "XRPUSDT", now - 150 * min_ms, 10.0, now);   // a gap: baseline too old
    h.add(series_id::open_interest, "XRPUSDT", now, 11.0, now);
    std::string seen;
    h.changes(series_id::open_interest, 60 * min_ms, [&](std::string_view s, const history_point& from, const history_point& to) {
        seen += std::string{s} + ":" + std::to_string(from.v) + "->" + std::to_string(to.v) + ";";
    });
    EXPECT_EQ(seen, "BTCUSDT:1000.000000->1050.000000;");
}

class HistoryRoutes : public ::testing::Test {
protected:
    vs::api::response get(vs::api::router& r, const std::string& target)
    {
        vs::api::response res;
        r.handle({"GET", target}, res);
        return res;
    }
    vs::api::memory_source src_;
    history_store store_{1s, 3h};
};

TEST_F(HistoryRoutes, SymbolSeriesAndChanges)
{
    const auto now = vs::realtime_ns() / 1'000'000;
    store_.add(series_id::mark_price, "BTCUSDT", now - 2 * 60 * min_ms, 64000.0, now);
    store_.add(series_id::mark_price, "BTCUSDT", now - 1000, 65000.5, now);
    store_.add(series_id::open_interest, "BTCUSDT", now - 61 * min_ms, 1000.0, now);
    store_.add(series_id::open_interest, "BTCUSDT", now - 1000, 1100.0, now);
    store_.add(series_id::open_interest_usd, "BTCUSDT", now - 1000, 7.15e7, now);
    vs::api::router_config c;
    c.history = &store_;
    vs::api::router r{c, src_};

    auto res = get(r, "/history/btcusdt?hours=1");
    ASSERT_EQ(res.status, 200u) << res.payload();
    auto v = json::parse(res.payload()).as_object();
    EXPECT_EQ(v.at("symbol").as_string(), "BTCUSDT");
    EXPECT_EQ(v.at("hours").to_number<double>(), 1.0);
    ASSERT_EQ(v.at("markPrice").as_array().size(), 1u);   // the 2 h old point is outside the hour
    EXPECT_EQ(v.at("markPrice").as_array()[0].as_array()[1].to_number<double>(), 65000.5);
    EXPECT_EQ(v.at("markPrice").as_array()[0].as_array()[0].to_number<std::int64_t>(), now - 1000);
    EXPECT_EQ(v.at("openInterestUsd").as_array().size(), 1u);

    res = get(r, "/history/BTCUSDT");   // the whole window
    v = json::parse(res.payload()).as_object();
    EXPECT_EQ(v.at("markPrice").as_array().size(), 2u);
    EXPECT_EQ(v.at("openInterest").as_array().size(), 2u);

    res = get(r, "/history/NEWUSDT");   // not seen yet: empty series
    ASSERT_EQ(res.status, 200u);
    EXPECT_TRUE(json::parse(res.payload()).at("markPrice").as_array().empty());

    res = get(r, "/history");
    ASSERT_EQ(res.status, 200u);
    v = json::parse(res.payload()).as_object();
    EXPECT_NEAR(v.at("oiChange1h").at("BTCUSDT").at("pct").to_number<double>(), 10.0, 1e-9);
    EXPECT_TRUE(v.at("oiUsdChange1h").as_object().empty());

    for (const char* bad : {"/history/BTCUSDT?hours=0", "/history/BTCUSDT?hours=abc", "/history/BTCUSDT?hours=-1",
                            "/history/BTCUSDT?hours="}) {
        EXPECT_EQ(get(r, bad).status, 400u) << bad;
    }
    EXPECT_EQ(get(r, "/history/A%22B").status, 400u);
}

TEST_F(HistoryRoutes, WithoutAHistoryIs503AndChartJsIsServedCached)
{
    vs::api::router r{vs::api::router_config{}, src_};
    EXPECT_EQ(get(r, "/history").status, 503u);
    EXPECT_EQ(get(r, "/history/BTCUSDT").status, 503u);
    const auto res = get(r, "/dashboard/chart.js");
    EXPECT_EQ(res.status, 200u);
    EXPECT_EQ(res.content_type, "text/javascript; charset=utf-8");
    EXPECT_EQ(res.cache_control, "public, max-age=86400, immutable");
    EXPECT_NE(res.payload().find("Chart.js v3"), std::string_view::npos);
    EXPECT_EQ(get(r, "/dashboard").cache_control, "no-store");
}

}  // namespace
