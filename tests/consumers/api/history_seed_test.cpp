// The history's seed from vs-oi's stored OI histories (history.hpp): the store's merge (the
// points vs-api recorded win, one point per step), the seed pass over encoded vs-oi states
// (a broken state is counted and skipped), and a real vs-api started on a state dir whose
// outbox LMDB holds vs-oi's state of a symbol with 3 h of samples: /history/{symbol} reaches
// back ~3 h right after start and /history's 1 h change is computed from those points.
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http.hpp"
#include "http_client.hpp"
#include "process.hpp"
#include "test_env.hpp"
#include "vs/api/history.hpp"
#include "vs/common/clock.hpp"
#include "vs/oi/rules.hpp"
#include "vs/oi/state_codec.hpp"
#include "vs/outbox/outbox.hpp"

namespace {

namespace json = boost::json;
using vs::api::history_point;
using vs::api::history_store;
using vs::api::series_id;
using namespace std::chrono_literals;

constexpr std::int64_t min_ms = 60'000;
constexpr std::int64_t hour_ms = 3'600'000;
constexpr std::int64_t step_ms = 30'000;

/// vs-oi's state of a symbol polled every 5 s for ~3 h up to `newest_ms`: OI 100000 + i
/// contracts and mark 50000 + i / 2 at sample i (vs-oi keeps the marks of its last ~hour).
struct oi_samples {
    std::int64_t first_ms = 0;
    std::int64_t newest_ms = 0;
    std::string bytes;
    static constexpr std::int64_t every_ms = 5'000;
    double oi_at(std::int64_t t) const { return 100000.0 + static_cast<double>((t - first_ms) / every_ms); }
    double mark_at(std::int64_t t) const { return 50000.0 + static_cast<double>((t - first_ms) / every_ms) / 2; }
};

oi_samples make_state(std::int64_t newest_ms)
{
    oi_samples s;
    s.newest_ms = newest_ms;
    const std::int64_t n = 3 * hour_ms / oi_samples::every_ms - 1;   // inside vs-oi's 3 h window
    s.first_ms = newest_ms - (n - 1) * oi_samples::every_ms;
    vs::oi::config cfg;
    vs::oi::symbol_state st{cfg};
    for (std::int64_t i = 0; i < n; ++i) {
        const auto t = s.first_ms + i * oi_samples::every_ms;
        EXPECT_TRUE(st.hist.add({t, s.oi_at(t), s.mark_at(t)}));
    }
    s.bytes = vs::oi::encode_state(st);
    return s;
}

TEST(HistorySeed, MergeFillsEmptyStepsAndKeepsWhatWasRecorded)
{
    history_store h{30s, 3h};
    const std::int64_t now = 1'700'000'000'000 - 1'700'000'000'000 % step_ms;
    h.add(series_id::open_interest, "BTCUSDT", now - 2 * step_ms + 1'000, 7.0, now);   // recorded by vs-api
    std::vector<history_point> seed;
    for (std::int64_t t = now - 4 * hour_ms; t <= now; t += 5'000) {
        seed.push_back({t, static_cast<double>(t / 1000)});
    }
    const auto added = h.merge(series_id::open_interest, "BTCUSDT", seed, now);
    std::vector<history_point> out[vs::api::series_count];
    ASSERT_TRUE(h.read("BTCUSDT", 0, out));
    const auto& oi = out[1];
    // 3 h at 30 s plus the step at `now`, the recorded step kept.
    ASSERT_EQ(oi.size(), static_cast<std::size_t>(3 * hour_ms / step_ms + 1));
    EXPECT_EQ(added, oi.size() - 1);
    EXPECT_GE(oi.front().t_ms, now - 3 * hour_ms);
    for (std::size_t i = 1; i < oi.size(); ++i) {
        ASSERT_LT(oi[i - 1].t_ms / step_ms, oi[i].t_ms / step_ms) << i;
    }
    for (const auto& p : oi) {
        if (p.t_ms / step_ms == (now - 2 * step_ms) / step_ms) {
            EXPECT_EQ(p.v, 7.0);   // vs-api's own point wins its step
            EXPECT_EQ(p.t_ms, now - 2 * step_ms + 1'000);
        } else {
            EXPECT_EQ(p.v, static_cast<double>(p.t_ms / 1000));
            EXPECT_EQ(p.t_ms % step_ms, p.t_ms == now ? 0 : 25'000);   // the newest sample of its step
        }
    }
    EXPECT_EQ(h.since_ms(), oi.front().t_ms);
    // A second merge of the same points adds nothing.
    EXPECT_EQ(h.merge(series_id::open_interest, "BTCUSDT", seed, now), 0u);
}

TEST(HistorySeed, SeedsFromVsOiStatesAndSkipsABrokenOne)
{
    const auto now = vs::realtime_ns() / 1'000'000;
    const auto s = make_state(now - 2'000);
    history_store h{30s, 3h};
    std::map<std::string, std::string> kv{{"s/BTCUSDT", s.bytes}, {"s/ETHUSDT", "not a state"}, {"universe", "x"}};
    const auto r = vs::api::seed_oi_history(h, [&](const auto& fn) {
        for (const auto& [k, v] : kv) {
            fn(k, v);
        }
        return true;
    }, now);
    EXPECT_TRUE(r.outbox);
    EXPECT_EQ(r.states, 2u);
    EXPECT_EQ(r.broken, 1u);
    EXPECT_NE(r.first_error.find("ETHUSDT"), std::string::npos) << r.first_error;
    EXPECT_GT(r.points, 360u);
    std::vector<history_point> out[vs::api::series_count];
    ASSERT_TRUE(h.read("BTCUSDT", 0, out));
    EXPECT_FALSE(h.read("ETHUSDT", 0, out));
    ASSERT_TRUE(h.read("BTCUSDT", 0, out));
    const auto& oi = out[1];
    ASSERT_GE(oi.size(), 355u);
    EXPECT_LE(oi.front().t_ms, now - 3 * hour_ms + 2 * step_ms);
    for (const auto& p : oi) {
        EXPECT_EQ(p.v, s.oi_at(p.t_ms)) << p.t_ms;
    }
    // Marks (and OI in USD) where vs-oi keeps them: its last hour and a bit.
    const auto& mark = out[0];
    ASSERT_FALSE(mark.empty());
    EXPECT_LE(mark.front().t_ms, now - hour_ms);
    EXPECT_GE(mark.front().t_ms, now - 2 * hour_ms);
    for (const auto& p : mark) {
        EXPECT_EQ(p.v, s.mark_at(p.t_ms)) << p.t_ms;
    }
    ASSERT_EQ(out[2].size(), mark.size());
    EXPECT_DOUBLE_EQ(out[2].back().v, s.oi_at(out[2].back().t_ms) * s.mark_at(out[2].back().t_ms));
    // No outbox: nothing, no error.
    history_store empty{30s, 3h};
    const auto none = vs::api::seed_oi_history(empty, [](const auto&) { return false; }, now);
    EXPECT_FALSE(none.outbox);
    EXPECT_EQ(empty.symbols(), 0u);
}

class HistorySeedProcess : public ::testing::Test {
protected:
    vs::test::test_env env_;
};

TEST_F(HistorySeedProcess, HistoryReachesBackThreeHoursRightAfterStart)
{
    const auto now = vs::realtime_ns() / 1'000'000;
    const auto s = make_state(now - 2'000);
    {
        vs::outbox::outbox_options o;
        o.targets = vs::outbox::target_set{};
        auto ob = vs::outbox::outbox::open(env_.state_dir(), o);
        ob->commit("vs-oi", {}, {{"s/BTCUSDT", s.bytes}, {"s/ETHUSDT", std::string{"VSOI broken"}}});
    }
    const auto port = vs::test::free_port();
    vs::test::child_process p{{VS_API_EXE, "--threads", "1", "--listen", "127.0.0.1:" + std::to_string(port),
                               "--bus-prefix", env_.prefix(), "--state-dir", env_.state_dir().string(),
                               "--status-interval-ms", "100"},
                              vs::test::logged_to((env_.state_dir() / "api.log").string())};
    json::value hist;
    ASSERT_TRUE(vs::test::eventually([&] {
        try {
            const auto r = vs::api::test::http_get(port, "/history/BTCUSDT");
            if (r.result_int() != 200) {
                return false;
            }
            hist = json::parse(r.body());
            return !hist.at("openInterest").as_array().empty();
        } catch (const std::exception&) {
            return false;
        }
    }, 10s, 50ms)) << p.output();
    const auto& oi = hist.at("openInterest").as_array();
    ASSERT_GE(oi.size(), 355u) << p.output();
    const auto t_first = oi.front().as_array().at(0).to_number<std::int64_t>();
    EXPECT_LE(t_first, now - 3 * hour_ms + 2 * step_ms);   // ~3 h back, right after start
    std::int64_t prev = 0;
    for (const auto& pt : oi) {
        const auto t = pt.as_array().at(0).to_number<std::int64_t>();
        EXPECT_EQ(pt.as_array().at(1).to_number<double>(), s.oi_at(t)) << t;
        EXPECT_GT(t / step_ms, prev / step_ms);   // at vs-api's step
        prev = t;
    }
    EXPECT_EQ(prev, s.newest_ms);
    const auto& mark = hist.at("markPrice").as_array();
    ASSERT_FALSE(mark.empty());
    EXPECT_LE(mark.front().as_array().at(0).to_number<std::int64_t>(), now - hour_ms);

    // /history's 1 h change: from the newest point at or before an hour before the newest.
    const auto all = json::parse(vs::api::test::http_get(port, "/history").body());
    const auto& ch = all.at("oiChange1h").at("BTCUSDT");
    const auto to_t = ch.at("toTime").to_number<std::int64_t>();
    const auto from_t = ch.at("fromTime").to_number<std::int64_t>();
    EXPECT_EQ(to_t, s.newest_ms);
    EXPECT_LE(from_t, to_t - hour_ms);
    EXPECT_GT(from_t, to_t - hour_ms - step_ms);
    const double from = s.oi_at(from_t), to = s.oi_at(to_t);
    EXPECT_EQ(ch.at("from").to_number<double>(), from);
    EXPECT_EQ(ch.at("to").to_number<double>(), to);
    EXPECT_NEAR(ch.at("pct").to_number<double>(), (to - from) / from * 100.0, 1e-9);
    EXPECT_TRUE(all.at("oiUsdChange1h").as_object().contains("BTCUSDT"));
    EXPECT_FALSE(all.at("oiChange1h").as_object().contains("ETHUSDT"));

    // The broken state is counted (and vs-api serves on).
    std::string metrics;
    EXPECT_TRUE(vs::test::eventually([&] {
        metrics = vs::api::test::http_get(port, "/metrics").body();
        std::size_t at = 0;
        while (at < metrics.size()) {
            auto end = metrics.find('\n', at);
            end = end == std::string::npos ? metrics.size() : end;
            const auto line = metrics.substr(at, end - at);
            at = end + 1;
            if (line.rfind('#', 0) != 0 && line.find("history_seed_broken") != std::string::npos &&
                line.find("vs-api") != std::string::npos) {
                return line.size() > 2 && line.substr(line.size() - 2) == " 1";
            }
        }
        return false;
    }, 5s)) << metrics;
    EXPECT_NE(p.output().find("do not decode"), std::string::npos) << p.output();
    EXPECT_EQ(p.terminate(5s), 0) << p.output();
}

TEST_F(HistorySeedProcess, NoOutboxServesAnEmptyHistory)
{
    const auto port = vs::test::free_port();
    vs::test::child_process p{{VS_API_EXE, "--threads", "1", "--listen", "127.0.0.1:" + std::to_string(port),
                               "--bus-prefix", env_.prefix(), "--state-dir", env_.state_dir().string()},
                              vs::test::logged_to((env_.state_dir() / "api.log").string())};
    std::optional<int> status;
    ASSERT_TRUE(vs::test::eventually([&] {
        try {
            status = vs::api::test::http_get(port, "/history/BTCUSDT").result_int();
            return true;
        } catch (const std::exception&) {
            return false;
        }
    }, 10s, 50ms)) << p.output();
    EXPECT_EQ(*status, 200);
    EXPECT_TRUE(vs::test::eventually(
        [&] { return p.output().find("the charts start with what vs-api records") != std::string::npos; }, 5s))
        << p.output();
    EXPECT_EQ(p.terminate(5s), 0) << p.output();
}

}  // namespace
