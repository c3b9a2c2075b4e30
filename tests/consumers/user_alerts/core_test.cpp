// vs-user-alerts' pure core: parsing with per-alert validation, the cross rule of
// CONTRACTS 3.4, the tier cadence on a steady clock given by the test, and checks over a map
// of values.
#include "core.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using namespace vs::user_alerts;

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

struct map_values : value_lookup {
    std::map<std::pair<alert_type, std::string>, value> m;
    int lookups = 0;
    value get(alert_type t, std::string_view symbol) override
    {
        ++lookups;
        auto it = m.find({t, std::string{symbol}});
        return it == m.end() ? value{} : it->second;
    }
    void set(alert_type t, const std::string& s, double v) { m[{t, s}] = value{value_status::ok, v}; }
};

user_alert make(std::string id, std::string symbol, alert_type t, double thr, std::optional<double> last = {},
                tier tr = tier::pro)
{
    return user_alert{std::move(id), std::move(symbol), t, tr, thr, last};
}

tier_set all_checked()
{
    tier_set s;
    s.add(tier::free);
    s.add(tier::pro);
    s.add(tier::elite);
    return s;
}

// ---- cross rule -----------------------------------------------------------------------------

TEST(CrossRule, UpWhenPrevBelowAndCurrentReachesThreshold)
{
    EXPECT_EQ(check_cross(99, 100, 100), cross::up);
    EXPECT_EQ(check_cross(99, 101, 100), cross::up);
}

TEST(CrossRule, DownWhenPrevAboveAndCurrentReachesThreshold)
{
    EXPECT_EQ(check_cross(101, 100, 100), cross::down);
    EXPECT_EQ(check_cross(101, 50, 100), cross::down);
}

TEST(CrossRule, PrevEqualToThresholdNeverTriggers)
{
    EXPECT_EQ(check_cross(100, 150, 100), cross::none);
    EXPECT_EQ(check_cross(100, 50, 100), cross::none);
    EXPECT_EQ(check_cross(100, 100, 100), cross::none);
}

TEST(CrossRule, NullPrevOrSameSideDoesNotTrigger)
{
    EXPECT_EQ(check_cross(nan_v, 150, 100), cross::none);
    EXPECT_EQ(check_cross(90, 99.999, 100), cross::none);
    EXPECT_EQ(check_cross(110, 100.001, 100), cross::none);
    EXPECT_EQ(check_cross(90, nan_v, 100), cross::none);
}

// ---- parsing --------------------------------------------------------------------------------

TEST(ParseActive, ReadsTheBackendsFields)
{
    std::string body = R"({"alerts":[
      {"id":"a1","userId":"u","symbol":"BTCUSDT","alertType":"PRICE_CROSS","threshold":65000.5,
       "lastCheckedValue":64000,"lastCheckedAt":"2026-12-04T13:05:00.000Z","deliveryMethod":"EMAIL","userTier":"pro"},
      {"id":"a2","symbol":"ETHUSDT","alertType":"FUNDING_CROSS","threshold":"0.0005","lastCheckedValue":null,"userTier":"ELITE"},
      {"id":"a3","symbol":"SOLUSDT","alertType":"OI_CROSS","threshold":1e9}
    ]})";
    const auto r = parse_active(body);
    ASSERT_FALSE(r.error) << *r.error;
    ASSERT_EQ(r.alerts.size(), 3u);
    EXPECT_EQ(r.alerts[0].id, "a1");
    EXPECT_EQ(r.alerts[0].symbol, "BTCUSDT");
    EXPECT_EQ(r.alerts[0].type, alert_type::price_cross);
    EXPECT_EQ(r.alerts[0].user_tier, tier::pro);
    EXPECT_DOUBLE_EQ(r.alerts[0].threshold, 65000.5);
    EXPECT_EQ(r.alerts[0].last_checked, 64000.0);
    EXPECT_EQ(r.alerts[1].type, alert_type::funding_cross);
    EXPECT_EQ(r.alerts[1].user_tier, tier::elite);
    EXPECT_DOUBLE_EQ(r.alerts[1].threshold, 0.0005);
    EXPECT_FALSE(r.alerts[1].last_checked);
    EXPECT_EQ(r.alerts[2].user_tier, tier::free);   // missing tier: free, as the old script
    EXPECT_EQ(r.rejected, 0u);
}

TEST(ParseActive, SkipsEachBadAlertAndKeepsTheRest)
{
    std::string body = R"({"alerts":[
      {"id":"ok1","symbol":"BTCUSDT","alertType":"PRICE_CROSS","threshold":1,"userTier":"pro"},
      {"symbol":"BTCUSDT","alertType":"PRICE_CROSS","threshold":1},
      {"id":"t","symbol":"BTCUSDT","alertType":"VOLUME_CROSS","threshold":1},
      {"id":"z","symbol":"BTCUSDT","alertType":"PRICE_CROSS","threshold":0},
      {"id":"n","symbol":"BTCUSDT","alertType":"PRICE_CROSS","threshold":-5},
      {"id":"s","symbol":"BTCUSDT","alertType":"PRICE_CROSS","threshold":"abc"},
      {"id":"m","symbol":"BTCUSDT","alertType":"PRICE_CROSS"},
      {"id":7,"symbol":"BTCUSDT","alertType":"PRICE_CROSS","threshold":1},
      {"id":"nosym","alertType":"PRICE_CROSS","threshold":1},
      {"id":"longsym","symbol":"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX","alertType":"PRICE_CROSS","threshold":1},
      42,
      {"id":"ok1","symbol":"ETHUSDT","alertType":"PRICE_CROSS","threshold":1},
      {"id":"ok2","symbol":"ETHUSDT","alertType":"OI_CROSS","threshold":5,"userTier":"gold"}
    ]})";
    const auto r = parse_active(body);
    ASSERT_FALSE(r.error) << *r.error;
    ASSERT_EQ(r.alerts.size(), 2u);
    EXPECT_EQ(r.alerts[0].id, "ok1");
    EXPECT_EQ(r.alerts[1].id, "ok2");
    EXPECT_EQ(r.alerts[1].user_tier, tier::other);
    EXPECT_EQ(r.rejected, 10u);
    EXPECT_EQ(r.duplicates, 1u);
    ASSERT_GE(r.rejected_sample.size(), 3u);
    EXPECT_EQ(r.rejected_sample[0].reason, "missing id");
    EXPECT_EQ(r.rejected_sample[1].id, "t");
    EXPECT_EQ(r.rejected_sample[1].reason, "unknown alertType 'VOLUME_CROSS'");
    EXPECT_EQ(r.rejected_sample[2].reason, "threshold is not a positive number");
}

TEST(ParseActive, RefusesInvalidJsonWhole)
{
    for (std::string body : {std::string{"{\"alerts\":[{\"id\":\"a\",\"symbol\""}, std::string{"<html>502</html>"},
                             std::string{""}, std::string{"{\"error\":\"Unauthorized\"}"},
                             std::string{"{\"alerts\":{}}"}}) {
        const auto r = parse_active(body);
        EXPECT_TRUE(r.error) << body;
        EXPECT_TRUE(r.alerts.empty()) << body;
    }
}

TEST(ParseActive, ChunkedParseEqualsWholeParseAtEverySplit)
{
    // What the daemon does with the HTTP body: write() every chunk as it arrives. Any split
    // (inside strings, escapes, keys, numbers, UTF-8) gives what the whole answer gives.
    std::string body = R"({"alerts":[
      {"id":"a\"1","symbol":"BTCUSDT","alertType":"PRICE_CROSS","threshold":65000.123456789,"lastCheckedValue":-1.5e-3,"userTier":"pro"},
      {"id":"a2","symbol":"币安人生USDT","alertType":"FUNDING_CROSS","threshold":"0.0005","lastCheckedValue":null,"userTier":"ELITE","x":{"y":[1,2,{"z":true}]}},
      {"id":"bad","symbol":"ETHUSDT","alertType":"VOLUME_CROSS","threshold":1},
      {"id":"a2","symbol":"ETHUSDT","alertType":"OI_CROSS","threshold":12345678901234567890}
    ],"total":3})";
    const auto whole = parse_active(body);
    ASSERT_FALSE(whole.error) << *whole.error;
    ASSERT_EQ(whole.alerts.size(), 2u);
    for (std::size_t step : {1u, 2u, 3u, 7u, 64u}) {
        active_parser p{parse_limits{}, 0};
        for (std::size_t i = 0; i < body.size(); i += step) {
            ASSERT_TRUE(p.write(std::string_view{body}.substr(i, step))) << "step " << step << " at " << i;
        }
        const auto r = p.finish();
        ASSERT_FALSE(r.error) << *r.error;
        ASSERT_EQ(r.alerts.size(), whole.alerts.size()) << "step " << step;
        for (std::size_t k = 0; k < r.alerts.size(); ++k) {
            EXPECT_EQ(r.alerts[k].id, whole.alerts[k].id);
            EXPECT_EQ(r.alerts[k].symbol, whole.alerts[k].symbol);
            EXPECT_EQ(r.alerts[k].type, whole.alerts[k].type);
            EXPECT_EQ(r.alerts[k].user_tier, whole.alerts[k].user_tier);
            EXPECT_EQ(r.alerts[k].threshold, whole.alerts[k].threshold);
            EXPECT_EQ(r.alerts[k].last_checked, whole.alerts[k].last_checked);
        }
        EXPECT_EQ(r.alerts[0].id, "a\"1");
        EXPECT_EQ(r.alerts[0].last_checked, -1.5e-3);
        EXPECT_EQ(r.alerts[1].symbol, "币安人生USDT");
        EXPECT_EQ(r.rejected, 1u);
        EXPECT_EQ(r.duplicates, 1u);
    }
}

TEST(ParseActive, ChunkedParseRefusesBadOrTruncatedAnswer)
{
    {
        active_parser p;
        EXPECT_TRUE(p.write("{\"alerts\":[{\"id\":\"a\",\"sym"));
        const auto r = p.finish();   // the body ended mid-item
        ASSERT_TRUE(r.error);
        EXPECT_NE(r.error->find("invalid JSON"), std::string::npos) << *r.error;
        EXPECT_TRUE(r.alerts.empty());
    }
    {
        active_parser p;
        EXPECT_FALSE(p.write("<htm"));   // '<' is refused at once
        EXPECT_FALSE(p.write("l>502</html>"));   // and the rest ignored
        const auto r = p.finish();
        ASSERT_TRUE(r.error);
        EXPECT_TRUE(r.alerts.empty());
    }
    {
        active_parser p;
        EXPECT_FALSE(p.write("{\"alerts\":{}}"));
        const auto r = p.finish();
        ASSERT_TRUE(r.error);
        EXPECT_EQ(*r.error, "no \"alerts\" array in the answer");
    }
    {
        active_parser p;
        const auto r = p.finish();
        ASSERT_TRUE(r.error);
        EXPECT_EQ(*r.error, "invalid JSON: empty answer");
    }
}

TEST(ParseActive, CapsAlertsPerSymbolAndInAll)
{
    std::string body = R"({"alerts":[)";
    for (int i = 0; i < 50; ++i) {
        body += (i ? "," : "") + std::string{R"({"id":"b)"} + std::to_string(i) +
                R"(","symbol":"BTCUSDT","alertType":"PRICE_CROSS","threshold":1})";
    }
    body += R"(,{"id":"e","symbol":"ETHUSDT","alertType":"PRICE_CROSS","threshold":1}]})";
    parse_limits lim;
    lim.max_per_symbol = 10;
    auto r = parse_active(body, lim);
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.alerts.size(), 11u);
    EXPECT_EQ(r.over_symbol_limit, 40u);
    EXPECT_EQ(r.alerts.back().id, "e");
    lim.max_alerts = 5;
    r = parse_active(body, lim);
    EXPECT_EQ(r.alerts.size(), 5u);
    EXPECT_EQ(r.over_total_limit, 46u);
}

TEST(ParseActive, KeptListIsSizedExactly)
{
    // 100,000 alerts: ~12 MB; a string that outgrew its reserve held 11 + 22 MB at once.
    std::vector<user_alert> in;
    for (int i = 0; i < 2000; ++i) {
        in.push_back(make("cm" + std::to_string(1000000000 + i) + (i % 7 == 0 ? std::string{"\"\\"} : ""),
                          i % 3 ? "SYM001USDT" : "BTCUSDT", static_cast<alert_type>(i % 3), 0.000123456789 * (i + 1),
                          {}, static_cast<tier>(i % 4)));
    }
    const auto text = serialize_kept(in);
    EXPECT_EQ(text.capacity(), text.size());
    const auto r = parse_active(text, parse_limits{.max_alerts = SIZE_MAX, .max_per_symbol = SIZE_MAX});
    ASSERT_FALSE(r.error) << *r.error;
    ASSERT_EQ(r.alerts.size(), in.size());
    for (std::size_t k = 0; k < in.size(); ++k) {
        ASSERT_EQ(r.alerts[k].id, in[k].id);
        ASSERT_DOUBLE_EQ(r.alerts[k].threshold, in[k].threshold);   // Boost 1.81 parses doubles to within an ulp
        ASSERT_EQ(r.alerts[k].user_tier, in[k].user_tier);
    }
}

TEST(ParseActive, KeptListReadsBackTheSame)
{
    std::vector<user_alert> in{make("a\"1", "BTCUSDT", alert_type::price_cross, 65000.123456789, 1.0, tier::elite),
                               make("a2", "币安人生USDT", alert_type::oi_cross, 1e9, {}, tier::other)};
    auto text = serialize_kept(in);
    const auto r = parse_active(text);
    ASSERT_FALSE(r.error) << *r.error;
    ASSERT_EQ(r.alerts.size(), 2u);
    EXPECT_EQ(r.alerts[0].id, "a\"1");
    EXPECT_EQ(r.alerts[0].threshold, 65000.123456789);
    EXPECT_EQ(r.alerts[0].user_tier, tier::elite);
    EXPECT_FALSE(r.alerts[0].last_checked);   // not kept: it changes at every check
    EXPECT_EQ(r.alerts[1].symbol, "币安人生USDT");
    EXPECT_EQ(r.alerts[1].user_tier, tier::other);
}

// ---- cadence --------------------------------------------------------------------------------

TEST(Cadence, TiersRunOnAFixedGridFromTheStart)
{
    const steady_time t0{std::chrono::seconds{1000}};
    cadence sut{tier_intervals{}, t0};
    auto d = sut.due(t0);
    EXPECT_TRUE(d.has(tier::free) && d.has(tier::pro) && d.has(tier::elite));
    EXPECT_FALSE(d.has(tier::other));
    EXPECT_EQ(sut.next(), t0 + 30s);
    EXPECT_TRUE(sut.due(t0 + 29s).empty());
    // A check that ran long does not shift the grid: the 30 s tick is still at 30 s, 60 s.
    d = sut.due(t0 + 31s);
    EXPECT_TRUE(d.has(tier::pro) && d.has(tier::elite));
    EXPECT_FALSE(d.has(tier::free));
    EXPECT_EQ(sut.next(), t0 + 60s);
    EXPECT_TRUE(sut.due(t0 + 299s).has(tier::pro));
    EXPECT_FALSE(sut.due(t0 + 299s).has(tier::free));
    EXPECT_TRUE(sut.due(t0 + 300s).has(tier::free));
    EXPECT_TRUE(sut.unchecked().has(tier::other));
}

TEST(Cadence, MissedTicksAreSkippedNotRepeated)
{
    const steady_time t0{};
    cadence sut{tier_intervals{}, t0};
    (void)sut.due(t0);
    EXPECT_TRUE(sut.due(t0 + 125s).has(tier::pro));   // ticks at 30, 60, 90, 120: one run
    EXPECT_EQ(sut.missed_ticks(), 6u);   // three each for Pro and Elite
    EXPECT_TRUE(sut.due(t0 + 140s).empty());
    EXPECT_EQ(sut.next(), t0 + 150s);
}

TEST(Cadence, IntervalZeroMeansOnUpdateAndIsNeverTimed)
{
    tier_intervals iv;
    iv.every[static_cast<std::size_t>(tier::pro)] = 0ms;
    iv.every[static_cast<std::size_t>(tier::free)] = std::nullopt;
    const steady_time t0{};
    cadence sut{iv, t0};
    EXPECT_TRUE(sut.on_update().has(tier::pro));
    EXPECT_TRUE(sut.unchecked().has(tier::free));
    const auto d = sut.due(t0);
    EXPECT_FALSE(d.has(tier::pro));
    EXPECT_TRUE(d.has(tier::elite));
}

// ---- book and check -------------------------------------------------------------------------

TEST(Check, TriggersOnceUpAndDownAndUpdatesOtherwise)
{
    book b;
    b.replace({make("up", "BTCUSDT", alert_type::price_cross, 100, 95.0),
               make("down", "BTCUSDT", alert_type::price_cross, 90, 95.0),
               make("fund", "ETHUSDT", alert_type::funding_cross, 0.001, 0.0001)},
              {});
    map_values v;
    v.set(alert_type::price_cross, "BTCUSDT", 99);
    v.set(alert_type::funding_cross, "ETHUSDT", 0.0002);
    check_output out;
    check(b, all_checked(), v, out);
    EXPECT_TRUE(out.triggers.empty());
    EXPECT_EQ(out.updates.size(), 3u);
    EXPECT_EQ(out.checked, 3u);

    v.set(alert_type::price_cross, "BTCUSDT", 100);   // up touches its threshold
    out.clear();
    check(b, all_checked(), v, out);
    ASSERT_EQ(out.triggers.size(), 1u);
    EXPECT_EQ(b.id(out.triggers[0].index), "up");
    EXPECT_TRUE(out.triggers[0].crossed_up);
    EXPECT_EQ(out.triggers[0].previous, 99);
    EXPECT_EQ(out.triggers[0].current, 100);

    v.set(alert_type::price_cross, "BTCUSDT", 80);
    v.set(alert_type::funding_cross, "ETHUSDT", 0.0015);
    out.clear();
    check(b, all_checked(), v, out);
    ASSERT_EQ(out.triggers.size(), 2u);   // "up" fired already: not checked again
    EXPECT_EQ(b.id(out.triggers[0].index), "down");
    EXPECT_FALSE(out.triggers[0].crossed_up);
    EXPECT_EQ(out.triggers[0].previous, 100);
    EXPECT_EQ(b.id(out.triggers[1].index), "fund");
    EXPECT_TRUE(out.triggers[1].crossed_up);
    EXPECT_EQ(out.checked, 2u);
}

TEST(Check, PrevEqualToThresholdThenAwayDoesNotTrigger)
{
    book b;
    b.replace({make("a", "BTCUSDT", alert_type::price_cross, 100, 100.0)}, {});
    map_values v;
    v.set(alert_type::price_cross, "BTCUSDT", 120);
    check_output out;
    check(b, all_checked(), v, out);
    EXPECT_TRUE(out.triggers.empty());
    // Leaving the threshold changes prev's side without a trigger: it must be persisted now.
    ASSERT_EQ(out.must_persist.size(), 1u);
}

TEST(Check, BackendSeedIsWrittenByTheFirstCheckEvenWithoutAChange)
{
    // A restart after kill -9 checks the alerts kept in LMDB before the backend answers: the
    // backend's lastCheckedValue must be in LMDB by then, or a cross made meanwhile is lost.
    book b;
    b.replace({make("a", "BTCUSDT", alert_type::price_cross, 100, 90.0),
               make("b", "ETHUSDT", alert_type::price_cross, 100, 90.0)},
              {});
    map_values v;
    v.set(alert_type::price_cross, "BTCUSDT", 90);   // the seed itself
    v.set(alert_type::price_cross, "ETHUSDT", 95);   // same side as the seed
    check_output out;
    check(b, all_checked(), v, out);
    EXPECT_TRUE(out.triggers.empty());
    ASSERT_EQ(out.must_persist.size(), 2u);
    for (const auto i : out.must_persist) {   // what finish_check does after the commit
        b.entries()[i].persisted = b.entries()[i].prev;
        b.entries()[i].has_persisted = true;
    }
    v.set(alert_type::price_cross, "ETHUSDT", 96);   // same side again: nothing more to write
    out.clear();
    check(b, all_checked(), v, out);
    EXPECT_TRUE(out.must_persist.empty());
}

TEST(Check, NullSeedOnlyRecordsTheFirstValue)
{
    book b;
    b.replace({make("a", "BTCUSDT", alert_type::price_cross, 100)}, {});
    map_values v;
    v.set(alert_type::price_cross, "BTCUSDT", 150);
    check_output out;
    check(b, all_checked(), v, out);
    EXPECT_TRUE(out.triggers.empty());
    v.set(alert_type::price_cross, "BTCUSDT", 50);
    out.clear();
    check(b, all_checked(), v, out);
    EXPECT_EQ(out.triggers.size(), 1u);
}

TEST(Check, StaleAndMissingValuesAreCountedNeverCompared)
{
    book b;
    b.replace({make("a", "BTCUSDT", alert_type::price_cross, 100, 90.0),
               make("b", "NOPEUSDT", alert_type::price_cross, 100, 90.0)},
              {});
    map_values v;
    v.m[{alert_type::price_cross, "BTCUSDT"}] = value{value_status::stale, 150};
    check_output out;
    check(b, all_checked(), v, out);
    EXPECT_TRUE(out.triggers.empty());
    EXPECT_TRUE(out.updates.empty());
    EXPECT_EQ(out.skipped_stale, 1u);
    EXPECT_EQ(out.skipped_missing, 1u);
    EXPECT_EQ(out.checked, 0u);
    EXPECT_EQ(b.entries()[0].prev, 90);   // unchanged
}

TEST(Check, OnlyTheGivenTiersAndOneLookupPerSymbolAndType)
{
    book b;
    std::vector<user_alert> list;
    for (int i = 0; i < 10; ++i) {
        list.push_back(make("p" + std::to_string(i), "BTCUSDT", alert_type::price_cross, 100, 90.0, tier::pro));
    }
    list.push_back(make("f", "BTCUSDT", alert_type::price_cross, 100, 90.0, tier::free));
    list.push_back(make("o", "BTCUSDT", alert_type::price_cross, 100, 90.0, tier::other));
    b.replace(list, {});
    map_values v;
    v.set(alert_type::price_cross, "BTCUSDT", 101);
    tier_set pro;
    pro.add(tier::pro);
    check_output out;
    check(b, pro, v, out);
    EXPECT_EQ(out.triggers.size(), 10u);
    EXPECT_EQ(v.lookups, 1);
    EXPECT_FALSE(b.entries()[10].fired);
    EXPECT_FALSE(b.entries()[11].fired);
    const auto c = b.counts();
    EXPECT_EQ(c[static_cast<std::size_t>(tier::pro)][0], 10u);
    EXPECT_EQ(c[static_cast<std::size_t>(tier::other)][0], 1u);
}

TEST(Book, ReplaceKeepsStateOfKnownIdsAndSeedsNewOnesFromStoreThenBackend)
{
    book b;
    b.replace({make("a", "BTCUSDT", alert_type::price_cross, 100, 90.0)}, {});
    map_values v;
    v.set(alert_type::price_cross, "BTCUSDT", 95);
    check_output out;
    check(b, all_checked(), v, out);
    const auto gone = b.replace({make("a", "BTCUSDT", alert_type::price_cross, 100, 10.0),
                                 make("s", "ETHUSDT", alert_type::price_cross, 100, 10.0),
                                 make("n", "ETHUSDT", alert_type::price_cross, 100, 10.0)},
                                [](const std::string& id) -> std::optional<stored_state> {
                                    if (id == "s") {
                                        return stored_state{120, true};
                                    }
                                    return std::nullopt;
                                });
    EXPECT_TRUE(gone.empty());
    EXPECT_EQ(b.entries()[0].prev, 95);   // known: its own prev, not the backend's
    EXPECT_EQ(b.entries()[1].prev, 120);
    EXPECT_TRUE(b.entries()[1].fired);
    EXPECT_EQ(b.entries()[2].prev, 10);
    ASSERT_NE(b.group("ETHUSDT"), nullptr);
    EXPECT_EQ(b.group("ETHUSDT")->by_type[0].size(), 2u);
    const auto gone2 = b.replace({make("n", "ETHUSDT", alert_type::price_cross, 100)}, {});
    EXPECT_EQ(gone2, (std::vector<std::string>{"a", "s"}));
    EXPECT_EQ(b.group("BTCUSDT"), nullptr);
}

}  // namespace
