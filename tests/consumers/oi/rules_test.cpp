// The OI spike rule (vs/oi/rules.hpp) against the old oi_realtime_poller.py: its own test cases
// (CONTRACTS 3.1, last bullet; test_oi_alert_logic.py), the baseline tolerance, the cooldown
// that delays rather than drops, the poll-interval formula (test_oi_poller_interval.py) and
// the configuration's environment names. The clock is the samples' time: fully controlled.
#include <algorithm>
#include <bit>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "vs/oi/rules.hpp"

namespace {

using vs::oi::config;
using vs::oi::direction;
using vs::oi::evaluate;
using vs::oi::sample;
using vs::oi::symbol_state;

constexpr std::int64_t t0 = 1'764'849'900'000;   // 2025-12-04T12:05:00Z, the controllable clock
constexpr std::int64_t s = 1000;

// The old test's history: `n` samples 10 s apart at a constant OI, the newest 10 s before t0.
symbol_state constant_history(const config& cfg, double oi, int n = 200, double mark = 0)
{
    symbol_state st{cfg};
    for (int i = 0; i < n; ++i) {
        st.hist.add(sample{t0 - (n - i) * 10 * s, oi, mark});
    }
    return st;
}

std::vector<std::string> labels(const vs::oi::evaluation& r)
{
    std::vector<std::string> out;
    for (const auto& a : r.alerts) {
        out.push_back(std::string{to_string(a.dir)} + " " + a.timeframe_label);
    }
    return out;
}

using strings = std::vector<std::string>;

// ---- the old seed's own cases ---------------------------------------------------------------

TEST(OiRuleOldCases, SpikeOf15000On100000AlertsUpOn5And15MinNotOn1HourWithoutThatMuchHistory)
{
    const config cfg;
    auto st = constant_history(cfg, 100'000);
    const auto r = evaluate(cfg, "TESTUSDT", st, {t0, 115'000, 0});
    EXPECT_EQ(labels(r), (strings{"UP 5 min", "UP 15 min"}));
    ASSERT_EQ(r.alerts.size(), 2u);
    const auto& a = r.alerts[0];
    EXPECT_EQ(a.symbol, "TESTUSDT");
    EXPECT_EQ(a.baseline, 100'000.0);
    EXPECT_EQ(a.current, 115'000.0);
    EXPECT_DOUBLE_EQ(a.pct_change, 0.15);
    EXPECT_EQ(a.abs_change, 15'000.0);
    EXPECT_EQ(a.time_ms, t0);
    EXPECT_FALSE(a.price_change.has_value());
    EXPECT_TRUE(st.outside[0] && st.outside[1] && !st.outside[2]);
    EXPECT_TRUE(r.state_changed);
}

TEST(OiRuleOldCases, DumpOf20000On200000AlertsDownOn5And15Min)
{
    const config cfg;
    auto st = constant_history(cfg, 200'000);
    const auto r = evaluate(cfg, "TESTUSDT2", st, {t0, 180'000, 0});
    EXPECT_EQ(labels(r), (strings{"DOWN 5 min", "DOWN 15 min"}));
    EXPECT_EQ(r.alerts.at(0).abs_change, -20'000.0);
    EXPECT_DOUBLE_EQ(r.alerts.at(1).pct_change, -0.1);
}

TEST(OiRuleOldCases, SmallChangeOf1000IsNothing)
{
    const config cfg;
    auto st = constant_history(cfg, 100'000);
    const auto r = evaluate(cfg, "TESTUSDT3", st, {t0, 101'000, 0});
    EXPECT_TRUE(r.alerts.empty());
    EXPECT_FALSE(r.state_changed);
    EXPECT_FALSE(st.outside[0]);
}

TEST(OiRuleOldCases, TheSameSpikeRepeatedIsNothingWhileOutside)
{
    const config cfg;
    auto st = constant_history(cfg, 100'000);
    ASSERT_EQ(evaluate(cfg, "TESTUSDT", st, {t0, 115'000, 0}).alerts.size(), 2u);
    const auto again = evaluate(cfg, "TESTUSDT", st, {t0 + 10 * s, 115'000, 0});
    EXPECT_TRUE(again.alerts.empty());
    EXPECT_FALSE(again.state_changed);
    EXPECT_TRUE(st.outside[0] && st.outside[1]);
}

TEST(OiRuleOldCases, ExactlyThreePercentAndSixThousandContractsIsAnUpAlertThresholdsInclusive)
{
    const config cfg;
    auto st = constant_history(cfg, 200'000);
    const auto r = evaluate(cfg, "TESTUSDT", st, {t0, 206'000, 0});
    EXPECT_EQ(labels(r), (strings{"UP 5 min"}));
    EXPECT_EQ(r.alerts.at(0).pct_change, 0.03);
}

TEST(OiRuleOldCases, ThreePercentWithOnly3000ContractsIsNothingAndStaysInsideSoItCanFireLater)
{
    const config cfg;
    auto st = constant_history(cfg, 100'000);
    const auto r = evaluate(cfg, "TESTUSDT", st, {t0, 103'000, 0});
    EXPECT_TRUE(r.alerts.empty());
    EXPECT_FALSE(st.outside[0]);
    // The same move grows to 5,000 contracts: the alert fires now (it was not used up).
    const auto later = evaluate(cfg, "TESTUSDT", st, {t0 + 10 * s, 105'000, 0});
    EXPECT_EQ(labels(later), (strings{"UP 5 min"}));
}

TEST(OiRuleOldCases, MinimumContractsAlsoGuardsDown)
{
    const config cfg;
    auto st = constant_history(cfg, 100'000);
    EXPECT_TRUE(evaluate(cfg, "X", st, {t0, 96'000, 0}).alerts.empty());   // -4 %, -4,000
    EXPECT_FALSE(st.outside[0]);
}

// ---- baseline lookup --------------------------------------------------------------------------

TEST(OiRuleBaseline, ToleranceIs30sFor5Min90sFor15Min120sFor1HourAndInclusive)
{
    const config cfg;
    EXPECT_EQ(cfg.timeframes[0].tolerance_s(), 30);
    EXPECT_EQ(cfg.timeframes[1].tolerance_s(), 90);
    EXPECT_EQ(cfg.timeframes[2].tolerance_s(), 120);
    vs::oi::timeframe_config tf{"x", 0.1, 100, 0};
    EXPECT_EQ(tf.tolerance_s(), 30);   // max(30, 10)
    tf.lookback_s = 905;
    EXPECT_EQ(tf.tolerance_s(), 90);   // integer division, as lookback_sec // 10
}

TEST(OiRuleBaseline, ASampleExactly30sFromTheTargetIsTheBaselineOne31sAwayIsNot)
{
    const config cfg;
    {
        symbol_state st{cfg};
        st.hist.add({t0 - 330 * s, 100'000, 0});   // |dt| = 30 s from now - 300 s
        EXPECT_EQ(labels(evaluate(cfg, "A", st, {t0, 110'000, 0})), (strings{"UP 5 min"}));
    }
    {
        symbol_state st{cfg};
        st.hist.add({t0 - 331 * s, 100'000, 0});
        EXPECT_TRUE(evaluate(cfg, "A", st, {t0, 110'000, 0}).alerts.empty());
    }
    {
        symbol_state st{cfg};
        st.hist.add({t0 - 270 * s, 100'000, 0});   // 30 s on the newer side
        EXPECT_EQ(labels(evaluate(cfg, "A", st, {t0, 110'000, 0})), (strings{"UP 5 min"}));
    }
}

TEST(OiRuleBaseline, TheNearestSampleWinsAndOnATieTheOlderOne)
{
    const config cfg;
    symbol_state st{cfg};
    st.hist.add({t0 - 310 * s, 100'000, 0});   // 10 s older than the target
    st.hist.add({t0 - 290 * s, 50'000, 0});    // 10 s newer: a tie, the older wins
    auto r = evaluate(cfg, "A", st, {t0, 110'000, 0});
    ASSERT_EQ(r.alerts.size(), 1u);
    EXPECT_EQ(r.alerts[0].baseline, 100'000.0);

    symbol_state st2{cfg};
    st2.hist.add({t0 - 310 * s, 100'000, 0});
    st2.hist.add({t0 - 295 * s, 50'000, 0});   // 5 s away: nearer
    r = evaluate(cfg, "A", st2, {t0, 110'000, 0});
    ASSERT_EQ(r.alerts.size(), 1u);
    EXPECT_EQ(r.alerts[0].baseline, 50'000.0);
}

TEST(OiRuleBaseline, NoBaselineOrAZeroBaselineMeansInside)
{
    const config cfg;
    symbol_state st{cfg};
    st.outside = {true, true, true};
    EXPECT_TRUE(evaluate(cfg, "A", st, {t0, 110'000, 0}).alerts.empty());   // a single sample
    EXPECT_EQ(st.outside, (std::array<bool, 3>{false, false, false}));
}

TEST(OiRuleBaseline, OneHourFiresWithAnHourOfHistory)
{
    const config cfg;
    auto st = constant_history(cfg, 100'000, 400);   // 4,000 s back
    const auto r = evaluate(cfg, "A", st, {t0, 113'000, 0});
    EXPECT_EQ(labels(r), (strings{"UP 5 min", "UP 15 min", "UP 1 hour"}));
}

// The binary search gives exactly what the old linear scan gave, on random histories with
// repeated times (the scan: first sample with the smallest |dt| <= tolerance).
TEST(OiRuleBaseline, BinarySearchEqualsTheOldLinearScan)
{
    std::mt19937_64 rng{12};
    for (int round = 0; round < 1000; ++round) {
        vs::oi::history h{30LL * 24 * 3600 * s};   // keeps every sample: the scan sees them all
        std::vector<sample> ref;
        std::int64_t t = t0;
        const int n = 1 + static_cast<int>(rng() % 400);
        for (int i = 0; i < n; ++i) {
            t += static_cast<std::int64_t>(rng() % 4) * 5 * s + static_cast<std::int64_t>(rng() % 3) * 7;
            if (rng() % 40 == 0) {
                t += static_cast<std::int64_t>(rng() % 900) * s;   // an outage: irregular spacing
            }
            const sample smp{t, static_cast<double>(i + 1), 0};
            ASSERT_TRUE(h.add(smp));
            ref.push_back(smp);
        }
        for (int q = 0; q < 50; ++q) {
            const std::int64_t target = t0 - 60 * s + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(t - t0 + 120 * s));
            const std::int64_t tol = static_cast<std::int64_t>(rng() % 40) * s;
            std::optional<double> want;
            double best = INFINITY;
            for (const auto& x : ref) {
                const double diff = std::fabs(static_cast<double>(x.time_ms - target));
                if (diff < best && diff <= static_cast<double>(tol)) {
                    best = diff;
                    want = x.oi;
                }
            }
            const auto got = h.nearest(target, tol);
            ASSERT_EQ(got.has_value(), want.has_value()) << "round " << round << " target " << target;
            if (want) {
                ASSERT_EQ(got->oi, *want) << "round " << round << " target " << target;
            }
        }
    }
}

// ---- cooldown: delays, does not drop ----------------------------------------------------------

TEST(OiRuleCooldown, AMoveInsideTheCooldownFiresAtTheFirstSampleAfterItIfStillOutside)
{
    const config cfg;   // 5 min: 3 %, 300 s back, 600 s cooldown
    auto st = constant_history(cfg, 100'000, 120);
    // A ramp of 20 contracts/s from t0, a plateau from t0 + 250 s (the 5 min change falls back
    // inside by t0 + 400 s), a second, steeper ramp from t0 + 560 s.
    const auto oi_at = [](std::int64_t t) {
        const double x = static_cast<double>(t - t0) / s;
        if (x <= 250) {
            return 100'000 + 20 * x;
        }
        if (x <= 560) {
            return 105'000.0;
        }
        return 105'000 + 40 * (x - 560);
    };
    std::vector<std::int64_t> fired;
    bool silent_while_outside = false;
    for (std::int64_t t = t0; t <= t0 + 900 * s; t += 10 * s) {
        const auto r = evaluate(cfg, "A", st, {t, oi_at(t), 0});
        for (const auto& a : r.alerts) {
            if (a.timeframe == 0) {
                EXPECT_EQ(a.dir, direction::up);
                fired.push_back((a.time_ms - t0) / s);
            }
        }
        if (t == t0 + 700 * s) {
            // Outside again (105,000 -> 110,600: +5.3 %), but inside UP's cooldown: nothing,
            // and the state stays INSIDE so the alert is only delayed.
            EXPECT_TRUE(r.alerts.empty() || r.alerts[0].timeframe != 0);
            EXPECT_FALSE(st.outside[0]);
            silent_while_outside = true;
        }
    }
    EXPECT_TRUE(silent_while_outside);
    // The first at +5,000 contracts (t0 + 250 s); the second at the first sample whose time
    // since the first is not < 600 s: t0 + 850 s.
    EXPECT_EQ(fired, (std::vector<std::int64_t>{250, 850}));
    EXPECT_EQ(st.last_alert_ms[0][0], t0 + 850 * s);
}

TEST(OiRuleCooldown, IsPerDirection)
{
    const config cfg;
    auto st = constant_history(cfg, 100'000, 60);
    ASSERT_EQ(labels(evaluate(cfg, "A", st, {t0, 110'000, 0})), (strings{"UP 5 min"}));
    // Force the 5 min state back to INSIDE and dump: DOWN is not in UP's cooldown.
    symbol_state st2 = constant_history(cfg, 100'000, 60);
    st2.last_alert_ms = st.last_alert_ms;
    EXPECT_EQ(labels(evaluate(cfg, "A", st2, {t0 + 10 * s, 90'000, 0})), (strings{"DOWN 5 min"}));
}

// ---- the rest of the old function -------------------------------------------------------------

TEST(OiRule, UsdcUsdtIsStoredButNeverAlerted)
{
    const config cfg;
    auto st = constant_history(cfg, 100'000);
    const auto r = evaluate(cfg, "USDCUSDT", st, {t0, 200'000, 0});
    EXPECT_TRUE(r.alerts.empty());
    EXPECT_FALSE(r.skipped);
    EXPECT_EQ(st.hist.newest().oi, 200'000.0);
    EXPECT_TRUE(evaluate(cfg, "BTCUSDT", st, {t0 + 1, 200'000, 0}).alerts.size() == 2);
}

TEST(OiRule, ZeroNegativeOrNanOiIsSkippedAndNotStored)
{
    const config cfg;
    auto st = constant_history(cfg, 100'000);
    for (double bad : {0.0, -5.0, std::nan(""), HUGE_VAL}) {
        const auto r = evaluate(cfg, "A", st, {t0, bad, 1});
        EXPECT_TRUE(r.skipped);
        EXPECT_TRUE(r.alerts.empty());
        EXPECT_EQ(st.hist.size(), 200u);
    }
}

TEST(OiRule, PriceChangeOnlyWhenBothMarksArePositiveAndFundingIsCopied)
{
    const config cfg;
    auto st = constant_history(cfg, 100'000, 200, 50.0);
    auto r = evaluate(cfg, "A", st, {t0, 110'000, 51.0}, 0.0001);
    ASSERT_EQ(r.alerts.size(), 2u);
    ASSERT_TRUE(r.alerts[0].price_change.has_value());
    EXPECT_DOUBLE_EQ(*r.alerts[0].price_change, 0.02);
    EXPECT_EQ(r.alerts[0].funding_rate, std::optional<double>{0.0001});
    EXPECT_EQ(r.alerts[0].mark, 51.0);

    auto st2 = constant_history(cfg, 100'000, 200, 50.0);
    r = evaluate(cfg, "A", st2, {t0, 110'000, 0});   // no mark now
    ASSERT_EQ(r.alerts.size(), 2u);
    EXPECT_FALSE(r.alerts[0].price_change.has_value());
    EXPECT_FALSE(r.alerts[0].funding_rate.has_value());
}

TEST(OiRule, ShortLookbacksFromTheEnvironmentWork)
{
    const auto cfg = config::from_lookup([](const char* n) -> std::optional<std::string> {
        if (std::string{n} == "OI_LOOKBACK_WINDOW_5MIN") {
            return "60";
        }
        return std::nullopt;
    });
    symbol_state st{cfg};
    for (int i = 0; i <= 12; ++i) {
        st.hist.add({t0 - 120 * s + i * 10 * s, 100'000, 0});
    }
    EXPECT_EQ(labels(evaluate(cfg, "A", st, {t0 + 10 * s, 106'000, 0})), (strings{"UP 5 min"}));
}

// ---- history ------------------------------------------------------------------------------------

TEST(OiHistory, KeepsTheWindowBackFromTheNewestSampleAndStaysCompact)
{
    vs::oi::history h{3 * 3600 * s};
    for (int i = 0; i < 3 * 720 * 2; ++i) {   // 6 h at 5 s
        h.add({t0 + i * 5 * s, 1000.0 + i, 2.5});
    }
    EXPECT_EQ(h.size(), 2161u);   // 3 h at 5 s, both ends included
    EXPECT_EQ(h.at(0).time_ms, h.newest().time_ms - 3 * 3600 * s);
    EXPECT_LE(h.memory_bytes(), 2161u * 12u * 110u / 100u);   // 8 B + a mark: sized to the window, not doubled
    EXPECT_EQ(h.at(5).mark, 2.5);
}

TEST(OiHistory, BackFilledSamplesGoInTimeOrderAndTooOldOnesAreIgnored)
{
    vs::oi::history h{3600 * s};
    h.add({t0, 1, 0});
    h.add({t0 + 300 * s, 3, 0});
    EXPECT_TRUE(h.add({t0 + 100 * s, 2, 0}));
    EXPECT_FALSE(h.add({t0 + 300 * s - 3601 * s, 9, 0}));
    ASSERT_EQ(h.size(), 3u);
    EXPECT_EQ(h.at(0).oi, 1);
    EXPECT_EQ(h.at(1).oi, 2);
    EXPECT_EQ(h.at(2).oi, 3);
    EXPECT_EQ(h.at(1).time_ms, t0 + 100 * s);
}

TEST(OiHistory, SurvivesGapsLongerThanItsOffsetRange)
{
    vs::oi::history h{3600 * s};
    h.add({t0, 1, 0});
    h.add({t0 + 60LL * 24 * 3600 * s, 2, 0});   // 60 days later (beyond 32-bit ms offsets)
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h.newest().time_ms, t0 + 60LL * 24 * 3600 * s);
    h.add({t0 + 60LL * 24 * 3600 * s + 5 * s, 3, 0});
    EXPECT_EQ(h.newest().time_ms, t0 + 60LL * 24 * 3600 * s + 5 * s);
    EXPECT_EQ(h.at(0).oi, 2);
}

// The compact history (8 bytes a sample) against a plain list of samples: every stored OI comes
// back bit for bit whatever its decimals and size (codes re-scaled, re-centred, or kept on the
// side list), back-filled samples included, and the mark is kept for exactly the samples
// younger than the mark window.
TEST(OiHistory, CompactStorageGivesBackEveryValueExactly)
{
    std::mt19937_64 rng{11};
    for (int variant = 0; variant < 6; ++variant) {
        const std::int64_t window = 3600 * s, mark_window = 900 * s;
        vs::oi::history h{window, mark_window};
        std::vector<sample> model;   // time order, equal times in arrival order
        double level = variant == 0 ? 81'234.567 : variant == 1 ? 1.3e10 : variant == 2 ? 5e8 : 2e6;
        std::int64_t t = t0;
        for (int i = 0; i < 3000; ++i) {
            t += 4000 + static_cast<std::int64_t>(rng() % 2000);
            level *= 1.0 + (static_cast<double>(rng() % 2001) - 1000.0) * 2e-6;
            double oi;
            switch ((variant == 5 ? static_cast<int>(rng() % 6) : variant == 4 ? static_cast<int>(rng() % 4) : 0)) {
            case 0: oi = std::round(level * 1000) / 1000; break;   // 3 decimals (Binance's strings)
            case 1: oi = std::round(level); break;                  // whole contracts
            case 2: oi = std::round(level * 10) / 10; break;
            case 3: oi = level + 1.0 / 3.0; break;                  // no finite decimals: side list
            case 4: oi = std::round(level * 1000) / 1000 * 1e4; break;   // a jump out of the 32-bit range
            default: oi = std::round(level / 100) * 100; break;
            }
            if (variant == 1) {
                oi = std::round(level);   // 1000PEPE-like: 1.3e10 whole contracts
            }
            const float mark = static_cast<float>(100.0 + static_cast<double>(rng() % 1000) / 7.0);
            sample smp{t, oi, mark};
            if (i > 10 && rng() % 10 == 0) {
                smp.time_ms = t - static_cast<std::int64_t>(rng() % (1800 * s));   // back-fill
            }
            const bool kept = h.add(smp);
            const std::int64_t newest = std::max(model.empty() ? smp.time_ms : model.back().time_ms, smp.time_ms);
            EXPECT_EQ(kept, smp.time_ms >= newest - window) << variant << " " << i;
            if (kept) {
                auto pos = std::upper_bound(model.begin(), model.end(), smp.time_ms,
                                            [](std::int64_t v, const sample& x) { return v < x.time_ms; });
                model.insert(pos, smp);
                model.erase(model.begin(), std::lower_bound(model.begin(), model.end(), newest - window,
                                                            [](const sample& x, std::int64_t v) { return x.time_ms < v; }));
            }
            if (i % 97 == 0 || i > 2990) {
                ASSERT_EQ(h.size(), model.size()) << variant << " " << i;
                for (std::size_t k = 0; k < model.size(); ++k) {
                    const auto got = h.at(k);
                    ASSERT_EQ(got.time_ms, model[k].time_ms) << variant << " " << i << " " << k;
                    ASSERT_EQ(std::bit_cast<std::uint64_t>(got.oi), std::bit_cast<std::uint64_t>(model[k].oi))
                        << variant << " " << i << " " << k << " " << got.oi << " vs " << model[k].oi;
                    const double want_mark = model[k].time_ms >= newest - mark_window ? model[k].mark : 0.0;
                    ASSERT_EQ(got.mark, want_mark) << variant << " " << i << " " << k;
                }
            }
        }
        if (variant <= 1) {
            // Realistic values (variant 2 walks 5e8 contracts in milli steps out of any 32-bit
            // range: the side list): 8 bytes a sample plus the marks of 15 of 60 min.
            EXPECT_LE(h.memory_bytes(), h.size() * 8 * 115 / 100 + h.size() * 4 * 115 / 100 / 4 + 256) << variant;
        }
    }
}

// ---- poll interval (old test_oi_poller_interval.py + CONTRACTS 3.1 examples) --------------------

TEST(OiPollInterval, TheOldFormulaWithRoundHalfToEven)
{
    const config cfg;
    const std::map<long long, int> want{{100, 5}, {200, 6}, {300, 9}, {350, 10}, {400, 12}, {500, 15},
                                        {550, 16}, {650, 20}, {1000, 20}, {0, 20}, {-1, 20}};
    for (const auto& [n, w] : want) {
        EXPECT_EQ(vs::oi::poll_interval_s(cfg, n), w) << "N=" << n;
    }
    // Half to even where the clamp does not hide it (Python round(): 1.5->2, 4.5->4, 7.5->8, 22.5->22).
    config wide;
    wide.min_interval_s = 1;
    wide.max_interval_s = 100;
    const std::map<long long, int> halves{{50, 2}, {150, 4}, {250, 8}, {450, 14}, {750, 22}, {850, 26}, {1050, 32}};
    for (const auto& [n, w] : halves) {
        EXPECT_EQ(vs::oi::poll_interval_s(wide, n), w) << "N=" << n;
    }
}

// ---- configuration --------------------------------------------------------------------------------

TEST(OiConfig, OldDefaults)
{
    const auto c = config::from_lookup([](const char*) { return std::nullopt; });
    EXPECT_EQ(c.timeframes[0].label, "5 min");
    EXPECT_EQ(c.timeframes[0].threshold, 0.03);
    EXPECT_EQ(c.timeframes[0].lookback_s, 300);
    EXPECT_EQ(c.timeframes[0].cooldown_s, 600);
    EXPECT_EQ(c.timeframes[1].label, "15 min");
    EXPECT_EQ(c.timeframes[1].threshold, 0.07);
    EXPECT_EQ(c.timeframes[1].lookback_s, 900);
    EXPECT_EQ(c.timeframes[1].cooldown_s, 900);
    EXPECT_EQ(c.timeframes[2].label, "1 hour");
    EXPECT_EQ(c.timeframes[2].threshold, 0.12);
    EXPECT_EQ(c.timeframes[2].lookback_s, 3600);
    EXPECT_EQ(c.timeframes[2].cooldown_s, 3600);
    EXPECT_EQ(c.min_delta_contracts, 5000);
    EXPECT_EQ(c.excluded_symbols, (strings{"USDCUSDT"}));
    EXPECT_EQ(c.history_window_s, 3 * 3600);
    EXPECT_EQ(c.max_req_per_min, 2000);
    EXPECT_EQ(c.min_interval_s, 5);
    EXPECT_EQ(c.max_interval_s, 20);
    EXPECT_EQ(c.enter_quote_24h, 4'000'000);
    EXPECT_EQ(c.exit_quote_24h, 2'000'000);
}

TEST(OiConfig, EveryOldNameIsRead)
{
    const std::map<std::string, std::string> env{
        {"OI_SPIKE_THRESHOLD_PCT_5MIN", "0.04"}, {"OI_LOOKBACK_WINDOW_5MIN", " 120 "},
        {"OI_ALERT_COOLDOWN_5MIN", "60"},        {"OI_SPIKE_THRESHOLD_PCT_15MIN", "8e-2"},
        {"OI_LOOKBACK_WINDOW_15MIN", "600"},     {"OI_ALERT_COOLDOWN_15MIN", "1_200"},
        {"OI_SPIKE_THRESHOLD_PCT_60MIN", "0.2"}, {"OI_LOOKBACK_WINDOW_60MIN", "1800"},
        {"OI_ALERT_COOLDOWN_60MIN", "0"},        {"OI_MIN_DELTA_CONTRACTS", "100"},
        {"OI_MAX_REQ_PER_MIN", "1000"},          {"OI_MIN_INTERVAL_SEC", "2"},
        {"OI_MAX_INTERVAL_SEC", "30"},           {"OI_LIQUID_ENTER_QUOTE_24H", "5000000"},
        {"OI_LIQUID_EXIT_QUOTE_24H", "1e6"},     {"OI_EXCLUDED_SYMBOLS", "USDCUSDT, FDUSDUSDT"},
        {"OI_HISTORY_WINDOW_SEC", "600"},
    };
    const auto c = config::from_lookup([&](const char* n) -> std::optional<std::string> {
        const auto it = env.find(n);
        return it == env.end() ? std::nullopt : std::optional<std::string>{it->second};
    });
    EXPECT_EQ(c.timeframes[0].threshold, 0.04);
    EXPECT_EQ(c.timeframes[0].lookback_s, 120);
    EXPECT_EQ(c.timeframes[0].cooldown_s, 60);
    EXPECT_EQ(c.timeframes[1].threshold, 0.08);
    EXPECT_EQ(c.timeframes[1].lookback_s, 600);
    EXPECT_EQ(c.timeframes[1].cooldown_s, 1200);
    EXPECT_EQ(c.timeframes[2].threshold, 0.2);
    EXPECT_EQ(c.timeframes[2].lookback_s, 1800);
    EXPECT_EQ(c.timeframes[2].cooldown_s, 0);
    EXPECT_EQ(c.min_delta_contracts, 100);
    EXPECT_EQ(c.max_req_per_min, 1000);
    EXPECT_EQ(c.min_interval_s, 2);
    EXPECT_EQ(c.max_interval_s, 30);
    EXPECT_EQ(c.enter_quote_24h, 5e6);
    EXPECT_EQ(c.exit_quote_24h, 1e6);
    EXPECT_EQ(c.excluded_symbols, (strings{"USDCUSDT", "FDUSDUSDT"}));
    EXPECT_EQ(c.history_window_s, 1800 + 120);   // stretched to reach the longest baseline
}

TEST(OiConfig, MalformedValuesAreRejectedNamingTheVariable)
{
    const auto with = [](std::string name, std::string value) {
        return [=](const char* n) -> std::optional<std::string> {
            return name == n ? std::optional<std::string>{value} : std::nullopt;
        };
    };
    const std::vector<std::pair<std::string, std::string>> bad{
        {"OI_LOOKBACK_WINDOW_5MIN", "5m"},   {"OI_LOOKBACK_WINDOW_5MIN", "300.0"},
        {"OI_LOOKBACK_WINDOW_5MIN", "0"},    {"OI_SPIKE_THRESHOLD_PCT_15MIN", "abc"},
        {"OI_SPIKE_THRESHOLD_PCT_15MIN", "-0.1"}, {"OI_SPIKE_THRESHOLD_PCT_60MIN", "nan"},
        {"OI_ALERT_COOLDOWN_60MIN", "-1"},   {"OI_MAX_REQ_PER_MIN", "0"},
        {"OI_MIN_INTERVAL_SEC", "30"},       {"OI_MIN_DELTA_CONTRACTS", "1e400"},
        {"OI_MAX_INTERVAL_SEC", "99999999999"},
    };
    for (const auto& [name, value] : bad) {
        try {
            (void)config::from_lookup(with(name, value));
            ADD_FAILURE() << name << "=" << value << " accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string{e.what()}.find(name), std::string::npos) << e.what();
        }
    }
}

}  // namespace
