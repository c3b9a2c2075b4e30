// The volume spike rules (CONTRACTS 3.3) with a controllable clock: every time below is a
// value the test chooses, never the wall clock.
#include "rules.hpp"

#include <gtest/gtest.h>

namespace vs::volume {
namespace {

// 2026-12-04T13:00:00Z
constexpr std::int64_t h13 = 1'796'389'200'000;
constexpr std::int64_t h12 = h13 - hour_ms;
constexpr std::int64_t h14 = h13 + hour_ms;

std::int64_t at(std::int64_t hour, int minute, int second = 0)
{
    return hour + minute * minute_ms + second * 1000;
}

candle closed_candle(std::int64_t open, double qv)
{
    return candle{open, 100.0, 101.0, qv, true};
}

candle open_candle(std::int64_t open, double qv, double close = 102.0)
{
    return candle{open, 100.0, close, qv, false};
}

/// A symbol with a closed 12:00 candle of $2M, then a 13:00 candle that reaches `qv` at
/// `first`; the clock then runs second by second to 14:05, the candle closing at 14:00.
struct run_result {
    std::vector<decision> all;
    std::vector<alert_type> types() const
    {
        std::vector<alert_type> t;
        for (const auto& d : all) {
            t.push_back(d.type);
        }
        return t;
    }
};

run_result run_hour(std::int64_t first, double qv = 8'000'000, rule_config cfg = {})
{
    engine sut{cfg};
    run_result r;
    sut.on_candle("SOLUSDT", closed_candle(h12, 2'000'000), at(h13, 0), r.all);
    sut.on_candle("SOLUSDT", open_candle(h13, 1'000'000), at(h13, 0, 5), r.all);
    bool spiked = false;
    for (std::int64_t t = at(h13, 0, 10); t <= at(h14, 5); t += 1000) {
        if (!spiked && t >= first) {
            sut.on_candle("SOLUSDT", open_candle(h13, qv), t, r.all);
            spiked = true;
        }
        if (t == h14 + 1000) {   // the hour's final push, a second after the close
            sut.on_candle("SOLUSDT", candle{h13, 100.0, 103.0, qv * 1.1, true}, t, r.all);
        }
        sut.on_time(t, r.all);
    }
    return r;
}

TEST(VolumeRulesTest, FirstAlertAtTenGivesSpikeHalfAndFull)
{
    const auto r = run_hour(at(h13, 10));
    ASSERT_EQ(r.types(), (std::vector<alert_type>{alert_type::spike, alert_type::half_update, alert_type::full_update}));
    EXPECT_EQ(r.all[0].detect_ms, at(h13, 10));
    EXPECT_EQ(r.all[0].hour_ms, h13);
    EXPECT_DOUBLE_EQ(r.all[0].ratio, 4.0);
    EXPECT_DOUBLE_EQ(r.all[0].prev_volume, 2'000'000);
    EXPECT_EQ(r.all[1].detect_ms, at(h13, 30));   // HALF at :30 sharp
    EXPECT_EQ(r.all[1].hour_ms, h13);
    // FULL on the just-closed candle (its final push), for the hour that closed.
    EXPECT_EQ(r.all[2].detect_ms, at(h14, 0, 1));
    EXPECT_EQ(r.all[2].hour_ms, h13);
    EXPECT_TRUE(r.all[2].curr.closed);
    EXPECT_DOUBLE_EQ(r.all[2].curr.quote_volume, 8'800'000);
    EXPECT_DOUBLE_EQ(r.all[2].ratio, 4.4);   // recomputed, thresholds not re-checked
}

TEST(VolumeRulesTest, FirstAlertAtTwentyStillGetsTheHalfUpdate)
{
    EXPECT_EQ(run_hour(at(h13, 20, 59)).types(),
              (std::vector<alert_type>{alert_type::spike, alert_type::half_update, alert_type::full_update}));
    EXPECT_EQ(run_hour(at(h13, 21)).types(), (std::vector<alert_type>{alert_type::spike, alert_type::full_update}));
}

TEST(VolumeRulesTest, FirstAlertAtFortyGivesSpikeAndFull)
{
    const auto r = run_hour(at(h13, 40));
    ASSERT_EQ(r.types(), (std::vector<alert_type>{alert_type::spike, alert_type::full_update}));
    EXPECT_EQ(r.all[0].detect_ms, at(h13, 40));
}

TEST(VolumeRulesTest, FirstAlertAtFiftyFiveGivesTheSpikeOnly)
{
    EXPECT_EQ(run_hour(at(h13, 55)).types(), (std::vector<alert_type>{alert_type::spike}));
    EXPECT_EQ(run_hour(at(h13, 59, 30)).types(), (std::vector<alert_type>{alert_type::spike}));
    EXPECT_EQ(run_hour(at(h13, 54, 59)).types(), (std::vector<alert_type>{alert_type::spike, alert_type::full_update}));
}

TEST(VolumeRulesTest, ThresholdsAreInclusiveAndBothRequired)
{
    // ratio exactly 3 and exactly $3M: a spike
    auto r = run_hour(at(h13, 40), 6'000'000, rule_config{3.0, 6'000'000});
    EXPECT_EQ(r.types().front(), alert_type::spike);
    // ratio 2: nothing at all
    EXPECT_TRUE(run_hour(at(h13, 10), 4'000'000).all.empty());
    // ratio 4 under the minimum volume: nothing
    EXPECT_TRUE(run_hour(at(h13, 10), 8'000'000, rule_config{3.0, 9'000'000}).all.empty());
}

TEST(VolumeRulesTest, OneSpikePerSymbolPerHour)
{
    engine sut{rule_config{}};
    std::vector<decision> out;
    sut.on_candle("BTCUSDT", closed_candle(h12, 2'000'000), at(h13, 1), out);
    for (int m = 5; m < 30; ++m) {
        sut.on_candle("BTCUSDT", open_candle(h13, 6'000'000 + m * 1e6), at(h13, m), out);
    }
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].detect_ms, at(h13, 5));
    // A different symbol is independent.
    sut.on_candle("ETHUSDT", closed_candle(h12, 1'000'000), at(h13, 6), out);
    sut.on_candle("ETHUSDT", open_candle(h13, 3'000'000), at(h13, 7), out);
    EXPECT_EQ(out.size(), 2u);
}

TEST(VolumeRulesTest, NoPreviousClosedCandleNoJudgement)
{
    engine sut{rule_config{}};
    std::vector<decision> out;
    sut.on_candle("XUSDT", open_candle(h12, 1'000'000), at(h12, 50), out);   // not closed
    sut.on_candle("XUSDT", open_candle(h13, 50'000'000), at(h13, 10), out);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(sut.symbols_without_previous(at(h13, 10)), 1u);
    sut.on_candle("XUSDT", closed_candle(h12, 1'000'000), at(h13, 11), out);   // REST bootstrap
    EXPECT_EQ(sut.symbols_without_previous(at(h13, 11)), 0u);
    sut.on_candle("XUSDT", open_candle(h13, 50'000'000), at(h13, 11, 1), out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].detect_ms, at(h13, 11, 1));
}

TEST(VolumeRulesTest, SpikeSeenOnlyOnTheClosedCandleGetsNoUpdates)
{
    engine sut{rule_config{}};
    std::vector<decision> out;
    sut.on_candle("SOLUSDT", closed_candle(h12, 2'000'000), at(h13, 0), out);
    sut.on_candle("SOLUSDT", open_candle(h13, 5'000'000), at(h13, 59, 59), out);
    EXPECT_TRUE(out.empty());
    sut.on_candle("SOLUSDT", candle{h13, 100, 101, 6'500'000, true}, at(h14, 0, 1), out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].hour_ms, h13);
    EXPECT_GE(sut.states_of("SOLUSDT").at(0).first_minute, 60);
    for (std::int64_t t = at(h14, 0, 1); t < at(h14, 40); t += 1000) {
        sut.on_time(t, out);
    }
    EXPECT_EQ(out.size(), 1u);
}

TEST(VolumeRulesTest, RestartInsideTheHourResendsNoSpikeAndKeepsTheUpdates)
{
    std::vector<decision> out;
    std::string saved;
    {
        engine first{rule_config{}};
        first.on_candle("SOLUSDT", closed_candle(h12, 2'000'000), at(h13, 9), out);
        first.on_candle("SOLUSDT", open_candle(h13, 8'000'000), at(h13, 10), out);
        ASSERT_EQ(out.size(), 1u);
        saved = encode_states(first.states_of("SOLUSDT"));
    }
    // kill -9; the new process reads its state and the bus table again.
    out.clear();
    engine second{rule_config{}};
    const auto states = decode_states(saved);
    ASSERT_TRUE(states);
    second.restore("SOLUSDT", *states);
    second.on_candle("SOLUSDT", closed_candle(h12, 2'000'000), at(h13, 12), out);
    second.on_candle("SOLUSDT", open_candle(h13, 9'000'000), at(h13, 12), out);
    for (std::int64_t t = at(h13, 12); t <= at(h14, 1); t += 1000) {
        if (t == at(h14, 0, 1)) {
            second.on_candle("SOLUSDT", candle{h13, 100, 103, 9'500'000, true}, t, out);
        }
        second.on_time(t, out);
    }
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].type, alert_type::half_update);
    EXPECT_EQ(out[1].type, alert_type::full_update);
    // ... and a restart after the HALF does not send it again.
    engine third{rule_config{}};
    third.restore("SOLUSDT", second.states_of("SOLUSDT"));
    third.on_candle("SOLUSDT", closed_candle(h12, 2'000'000), at(h13, 45), out);
    third.on_candle("SOLUSDT", open_candle(h13, 9'000'000), at(h13, 45), out);
    for (std::int64_t t = at(h13, 45); t <= at(h14, 2); t += 1000) {
        third.on_time(t, out);
    }
    EXPECT_EQ(out.size(), 2u);
}

TEST(VolumeRulesTest, FullUpdateWaitsForTheClosedCandleThenTheGrace)
{
    engine sut{rule_config{}};
    std::vector<decision> out;
    sut.on_candle("SOLUSDT", closed_candle(h12, 2'000'000), at(h13, 0), out);
    sut.on_candle("SOLUSDT", open_candle(h13, 8'000'000), at(h13, 40), out);
    out.clear();
    for (std::int64_t t = at(h14, 0); t < at(h14, 0, 10); t += 100) {
        sut.on_time(t, out);
    }
    EXPECT_TRUE(out.empty());   // the final push did not come yet
    sut.on_time(at(h14, 0, 10), out);
    ASSERT_EQ(out.size(), 1u);  // the grace passed: the last push seen
    EXPECT_EQ(out[0].type, alert_type::full_update);
}

TEST(VolumeRulesTest, StatesRoundTripAndRefuseGarbage)
{
    const std::vector<hour_state> s{{h12, 10, true, true}, {h13, 55, false, false}};
    EXPECT_EQ(encode_states(s), "1796385600000,10,1,1;1796389200000,55,0,0");
    EXPECT_EQ(decode_states(encode_states(s)), s);
    EXPECT_EQ(decode_states(""), std::vector<hour_state>{});
    EXPECT_FALSE(decode_states("12,x,0,0"));
    EXPECT_FALSE(decode_states("12,1,0"));
}

// --- --scan clock: the old script's cadence --------------------------------------------------

TEST(VolumeRulesTest, ClockScanRunsAtStartAndEveryFiveMinuteMark)
{
    engine sut{rule_config{3.0, 3'000'000, scan_mode::clock}};
    std::vector<decision> out;
    std::vector<std::int64_t> scans;
    std::uint64_t seen = 0;
    for (std::int64_t t = at(h13, 2, 17); t <= at(h14, 11); t += 1000) {
        sut.on_time(t, out);
        if (sut.scans() != seen) {
            seen = sut.scans();
            scans.push_back(sut.last_scan_ms());
        }
    }
    std::vector<std::int64_t> expected{at(h13, 2, 17)};
    for (std::int64_t m = at(h13, 5); m <= at(h14, 10); m += 5 * minute_ms) {
        expected.push_back(m);
    }
    EXPECT_EQ(scans, expected);
}

TEST(VolumeRulesTest, ClockScanAlertsAtTheOldMinutes)
{
    // The candle meets the rule at 13:07:30: the old script saw it at its 13:10 scan.
    engine sut{rule_config{3.0, 3'000'000, scan_mode::clock}};
    std::vector<decision> out;
    sut.on_candle("SOLUSDT", closed_candle(h12, 2'000'000), at(h13, 0), out);
    sut.on_candle("SOLUSDT", open_candle(h13, 1'000'000), at(h13, 0, 1), out);
    for (std::int64_t t = at(h13, 1); t <= at(h14, 1); t += 1000) {
        if (t == at(h13, 7, 30)) {
            sut.on_candle("SOLUSDT", open_candle(h13, 8'000'000), t, out);
        }
        if (t == at(h14, 0, 2)) {
            sut.on_candle("SOLUSDT", candle{h13, 100, 103, 9'000'000, true}, t, out);
            sut.on_candle("SOLUSDT", open_candle(h14, 100'000), t, out);
        }
        sut.on_time(t, out);
    }
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].type, alert_type::spike);
    EXPECT_EQ(out[0].detect_ms, at(h13, 10));
    EXPECT_EQ(sut.states_of("SOLUSDT").at(0).first_minute, 10);
    EXPECT_EQ(out[1].type, alert_type::half_update);
    EXPECT_EQ(out[1].detect_ms, at(h13, 30));
    // :00 waits for the closed candle (pushed at 14:00:02), then scans as of the mark.
    EXPECT_EQ(out[2].type, alert_type::full_update);
    EXPECT_EQ(out[2].detect_ms, h14);
    EXPECT_EQ(out[2].hour_ms, h13);
    EXPECT_DOUBLE_EQ(out[2].curr.quote_volume, 9'000'000);
}

TEST(VolumeRulesTest, ClockScanFirstSeenAtFiftyFiveOrOnTheClosedCandle)
{
    {
        engine sut{rule_config{3.0, 3'000'000, scan_mode::clock}};
        std::vector<decision> out;
        sut.on_candle("SOLUSDT", closed_candle(h12, 2'000'000), at(h13, 0), out);
        sut.on_candle("SOLUSDT", open_candle(h13, 1'000'000), at(h13, 0, 1), out);
        for (std::int64_t t = at(h13, 1); t <= at(h14, 31); t += 1000) {
            if (t == at(h13, 52)) {
                sut.on_candle("SOLUSDT", open_candle(h13, 8'000'000), t, out);
            }
            if (t == at(h14, 0, 1)) {
                sut.on_candle("SOLUSDT", candle{h13, 100, 103, 9'000'000, true}, t, out);
            }
            sut.on_time(t, out);
        }
        ASSERT_EQ(out.size(), 1u);   // :55 -> SPIKE only
        EXPECT_EQ(out[0].detect_ms, at(h13, 55));
    }
    {
        engine sut{rule_config{3.0, 3'000'000, scan_mode::clock}};
        std::vector<decision> out;
        sut.on_candle("SOLUSDT", closed_candle(h12, 2'000'000), at(h13, 0), out);
        sut.on_candle("SOLUSDT", open_candle(h13, 1'000'000), at(h13, 0, 1), out);
        for (std::int64_t t = at(h13, 1); t <= at(h14, 31); t += 1000) {
            if (t == at(h13, 59, 30)) {
                sut.on_candle("SOLUSDT", open_candle(h13, 8'000'000), t, out);
            }
            if (t == at(h14, 0, 1)) {
                sut.on_candle("SOLUSDT", candle{h13, 100, 103, 9'000'000, true}, t, out);
            }
            sut.on_time(t, out);
        }
        ASSERT_EQ(out.size(), 1u);   // seen at the :00 scan on the closed candle: no updates
        EXPECT_EQ(out[0].detect_ms, h14);
        EXPECT_EQ(out[0].hour_ms, h13);
    }
}

}  // namespace
}  // namespace vs::volume
