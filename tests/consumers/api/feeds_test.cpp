// Unit tests of issue 18's vs-api pieces without processes: Prometheus names of ProcessStatus
// metrics (promtool's conventions) and the rendering of alert and news records.
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "schemas/alerts_generated.h"
#include "schemas/news_generated.h"
#include "vs/api/alert_log.hpp"
#include "vs/api/metrics.hpp"

namespace {

namespace json = boost::json;
using vs::api::process_metric_name;

std::string name_of(std::string_view raw, bool counter, double expected_scale = 1)
{
    double scale = 0;
    auto n = process_metric_name(raw, counter, scale);
    EXPECT_DOUBLE_EQ(scale, expected_scale) << raw;
    return n;
}

TEST(ProcessMetricName, SnakeCaseBaseUnitsAndTotalOnCountersOnly)
{
    EXPECT_EQ(name_of("messages_received", true), "vs_process_messages_received_total");
    EXPECT_EQ(name_of("requests_total", true), "vs_process_requests_total");
    EXPECT_EQ(name_of("requests_total", false), "vs_process_requests");
    EXPECT_EQ(name_of("connections_open", false), "vs_process_connections_open");
    EXPECT_EQ(name_of("snapshot_age_s", false), "vs_process_snapshot_age_seconds");
    EXPECT_EQ(name_of("last_cycle_ms", false, 1e-3), "vs_process_last_cycle_seconds");
    EXPECT_EQ(name_of("liquidation_stream_down_s", true), "vs_process_liquidation_stream_down_seconds_total");
    EXPECT_EQ(name_of("last_post_age_s_marketfeed", false), "vs_process_last_post_age_seconds_marketfeed");
    EXPECT_EQ(name_of("interval_s", false), "vs_process_interval_seconds");
    EXPECT_EQ(name_of("window_minutes", false, 60), "vs_process_window_seconds");
    EXPECT_EQ(name_of("cache_kb", false, 1024), "vs_process_cache_bytes");
    EXPECT_EQ(name_of("queueLength", false), "vs_process_queue_length");
    EXPECT_EQ(name_of("errors_counter", true), "vs_process_errors_total");
    EXPECT_EQ(name_of("depth_gauge", false), "vs_process_depth");
    EXPECT_EQ(name_of("foo.bar-baz", false), "vs_process_foo_bar_baz");
    EXPECT_EQ(name_of("", true), "vs_process_unnamed_total");
}

TEST(ProcessMetrics, OneFamilyPerNameWithHelpTypeAndLabels)
{
    std::vector<vs::api::process_metrics_row> rows(2);
    rows[0].process = "vs-oi";
    rows[0].channel = "oi";
    rows[0].alive = rows[0].healthy = rows[0].ready = true;
    rows[0].metrics = {{"cycles", 5, false}, {"last_cycle_ms", 1500, true}, {"up", 1, true}};
    rows[1].process = "vs-\"odd\"";
    rows[1].channel = "x";
    rows[1].metrics = {{"cycles", 7, false}};
    std::string out;
    vs::api::render_process_metrics(rows, out);
    EXPECT_NE(out.find("# TYPE vs_process_cycles_total counter\n"
                       "vs_process_cycles_total{process=\"vs-oi\",channel=\"oi\"} 5\n"
                       "vs_process_cycles_total{process=\"vs-\\\"odd\\\"\",channel=\"x\"} 7\n"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("# HELP vs_process_last_cycle_seconds Gauge \"last_cycle_ms\""), std::string::npos) << out;
    EXPECT_NE(out.find("vs_process_last_cycle_seconds{process=\"vs-oi\",channel=\"oi\"} 1.5\n"), std::string::npos);
    // A published "up" would clash with the fixed family: it is renamed, not merged.
    EXPECT_NE(out.find("vs_process_up_reported{process=\"vs-oi\",channel=\"oi\"} 1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("vs_process_up{process=\"vs-oi\",channel=\"oi\"} 1\n"), std::string::npos);
    EXPECT_NE(out.find("vs_process_up{process=\"vs-\\\"odd\\\"\",channel=\"x\"} 0\n"), std::string::npos);
}

template <class Build>
std::optional<vs::api::alert_item> render(vs::schema::RecordType type, Build build)
{
    flatbuffers::FlatBufferBuilder fbb;
    build(fbb);
    vs::bus::record_view r;
    r.type = static_cast<vs::bus::record_type>(type);
    r.publish_ns = 1'700'000'000'123'000'000;
    r.data = {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()};
    return vs::api::render_alert("chan", r);
}

json::value object_of(const vs::api::alert_item& a) { return json::parse(a.json_open + "}"); }

TEST(RenderAlert, EveryAlertTypeWithItsSummaryAndFields)
{
    using namespace vs::schema;
    const auto volume = render(RecordType::VolumeSpikeAlert, [](auto& fbb) {
        fbb.Finish(CreateVolumeSpikeAlertDirect(fbb, "BTCUSDT", 1'700'000'000'000, 0, MarketType::UsdM, "00000000000000aa",
                                                "spike", 0, 150e6, 45e6, 3.3333, 2.5, 0.0001, true));
    });
    ASSERT_TRUE(volume);
    EXPECT_EQ(volume->id, "00000000000000aa");
    EXPECT_EQ(volume->kind, "volume");
    EXPECT_EQ(volume->time_ms, 1'700'000'000'000);
    EXPECT_EQ(object_of(*volume).at("summary"), "BTCUSDT hourly volume $150.00M (3.33x prev), price +2.50% - VOLUME SPIKE");

    const auto oi = render(RecordType::OiSpikeAlert, [](auto& fbb) {
        fbb.Finish(CreateOiSpikeAlertDirect(fbb, "ETHUSDT", 0, 0, MarketType::UsdM, nullptr, "15m", -1, 2000, 1800, -0.1,
                                            -200));
    });
    ASSERT_TRUE(oi);
    EXPECT_EQ(oi->id, "chan:1700000000123000000") << "no alert_id: channel and publish time";
    EXPECT_EQ(oi->time_ms, 1'700'000'000'123) << "no event time: the publish time";
    const auto o = object_of(*oi);
    EXPECT_EQ(o.at("summary"), "ETHUSDT open interest down 10.00% in 15m (now 1800)");
    EXPECT_TRUE(o.at("fields").at("mark_price").is_null()) << "NaN as null";
    EXPECT_EQ(o.at("type"), "OiSpikeAlert");
    EXPECT_EQ(o.at("channel"), "chan");

    const auto user = render(RecordType::UserAlertTrigger, [](auto& fbb) {
        fbb.Finish(CreateUserAlertTriggerDirect(fbb, "SOLUSDT", 5, 0, MarketType::UsdM, "u1", "ua-9", "PRICE_CROSS",
                                                "above", 150, 149.5, 150.2));
    });
    ASSERT_TRUE(user);
    EXPECT_EQ(user->kind, "user");
    EXPECT_EQ(object_of(*user).at("summary"), "SOLUSDT PRICE_CROSS above 150 (now 150.2)");
    EXPECT_EQ(object_of(*user).at("fields").at("user_alert_id"), "ua-9");

    const auto whale = render(RecordType::WhaleTradeAlert, [](auto& fbb) {
        fbb.Finish(CreateWhaleTradeAlertDirect(fbb, "BTCUSDT", 5, 0, MarketType::UsdM, "w", Side::Sell, 50000, 10, 500000));
    });
    ASSERT_TRUE(whale);
    EXPECT_EQ(object_of(*whale).at("summary"), "BTCUSDT whale SELL $500.0K at 50000");

    // Not an alert, or not a valid buffer: nothing.
    EXPECT_FALSE(render(RecordType::NewsPost, [](auto& fbb) {
        fbb.Finish(CreateNewsPostDirect(fbb, "marketfeed"));
    }));
    vs::bus::record_view junk;
    junk.type = static_cast<vs::bus::record_type>(RecordType::OiSpikeAlert);
    const std::byte bytes[8]{};
    junk.data = bytes;
    EXPECT_FALSE(vs::api::render_alert("oi", junk));
}

TEST(RenderAlert, TypeFilterTakesTheRecordTypeOrTheShortKindInAnyCase)
{
    vs::api::alert_item a;
    a.type = "LiquidationAlert";
    a.kind = "liquidation";
    EXPECT_TRUE(vs::api::alert_type_matches(a, ""));
    EXPECT_TRUE(vs::api::alert_type_matches(a, "liquidationalert"));
    EXPECT_TRUE(vs::api::alert_type_matches(a, "LIQUIDATION"));
    EXPECT_FALSE(vs::api::alert_type_matches(a, "whale"));
    EXPECT_FALSE(vs::api::alert_type_matches(a, "liquidations"));
}

}  // namespace
