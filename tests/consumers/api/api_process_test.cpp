// vs-api as a process: command line contract, environment, serving, SIGTERM.
#include <optional>
#include <string>
#include <utility>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http.hpp"
#include "schemas/process_status_generated.h"
#include "vs/bus/records.hpp"
#include "http_client.hpp"
#include "live_market.hpp"
#include "process.hpp"
#include "test_env.hpp"

namespace {

using vs::test::child_process;
using vs::test::logged_to;

std::string exe() { return VS_API_EXE; }

class ApiProcessTest : public ::testing::Test {
protected:
    std::string out(const char* name) const { return (env_.state_dir() / name).string(); }
    /// BTCUSDT at 42.5 and a healthy feed on the test's market channel.
    void publish_market()
    {
        const auto now = vs::realtime_ns();
        market_.run([&](vs::bus::writer& w) {
            vs::api::bench::publish(w, vs::test::mark_price_fields{.symbol = "BTCUSDT", .recv_time_ns = now, .mark_price = 42.5});
            vs::api::bench::publish(w, vs::test::healthy_feed_status(1, now));
        });
    }
    /// Polls `target` until vs-api answers it; the answer, or nullopt after 10 s.
    static std::optional<std::pair<int, std::string>> first_answer(std::uint16_t port, const std::string& target)
    {
        std::optional<std::pair<int, std::string>> answer;
        vs::test::eventually([&] {
            try {
                const auto r = vs::api::test::http_get(port, target);
                answer.emplace(r.result_int(), r.body());
                return true;
            } catch (const std::exception&) {
                return false;
            }
        }, std::chrono::seconds{10}, std::chrono::milliseconds{50});
        return answer;
    }
    vs::test::test_env env_;
    vs::api::test::live_channel market_{env_.prefix(), "market"};
};

TEST_F(ApiProcessTest, HelpListsFlagsDefaultsAndVariables)
{
    child_process p{{exe(), "--help"}, logged_to(out("help"))};
    EXPECT_EQ(p.wait(std::chrono::seconds{10}), 0);
    const auto text = p.output();
    for (const char* s : {"--listen", "VS_API_LISTEN", "127.0.0.1:8888", "--allow-remote", "--threads",
                          "--stale-seconds", "180", "--channel", "--oi-channel", "--max-connections", "1024",
                          "--bus-prefix"}) {
        EXPECT_NE(text.find(s), std::string::npos) << s;
    }
    child_process v{{exe(), "--version"}, logged_to(out("version"))};
    EXPECT_EQ(v.wait(std::chrono::seconds{10}), 0);
    EXPECT_NE(v.output().find(VS_VERSION), std::string::npos);
}

TEST_F(ApiProcessTest, BadListenAddressIsAUsageError)
{
    // Found after the status channel exists: its own prefix and state, never a real install's.
    child_process p{{exe(), "--listen", "nonsense", "--bus-prefix", env_.prefix(), "--state-dir",
                     env_.state_dir().string()},
                    logged_to(out("bad"))};
    EXPECT_EQ(p.wait(std::chrono::seconds{10}), 2);
    child_process q{{exe(), "--listen", "0.0.0.0:0", "--bus-prefix", env_.prefix(), "--state-dir",
                     env_.state_dir().string()},
                    logged_to(out("remote"))};
    EXPECT_EQ(q.wait(std::chrono::seconds{10}), 2);
    EXPECT_NE(q.output().find("--allow-remote"), std::string::npos) << q.output();
}

TEST_F(ApiProcessTest, ServesFromTheEnvironmentsAddressAndStopsOnSigterm)
{
    publish_market();
    const auto port = vs::test::free_port();
    child_process p{{exe(), "--threads", "2"},
                    logged_to(out("serve"),
                              {{"VS_API_LISTEN", "127.0.0.1:" + std::to_string(port)}, {"VS_BUS_PREFIX", env_.prefix()}})};
    const auto answer = first_answer(port, "/funding/BTCUSDT");
    ASSERT_TRUE(answer) << p.output();
    ASSERT_EQ(answer->first, 200) << p.output();
    EXPECT_DOUBLE_EQ(boost::json::parse(answer->second).at("markPrice").to_number<double>(), 42.5);
    EXPECT_EQ(vs::api::test::http_get(port, "/funding/health").result_int(), 200);
    EXPECT_EQ(p.terminate(std::chrono::seconds{5}), 0) << p.output();
}

TEST_F(ApiProcessTest, PublishesItsProcessStatusAndDrainsOnSigterm)
{
    publish_market();
    const auto port = vs::test::free_port();
    child_process p{{exe(), "--threads", "2", "--status-interval-ms", "100", "--listen",
                     "127.0.0.1:" + std::to_string(port), "--bus-prefix", env_.prefix()},
                    logged_to(out("drain"))};
    const auto answer = first_answer(port, "/funding/BTCUSDT");
    ASSERT_TRUE(answer && answer->first == 200) << p.output();

    // Its own status, in its own channel, shown by /metrics with every other process's.
    std::string metrics;
    ASSERT_TRUE(vs::test::eventually([&] {
        metrics = vs::api::test::http_get(port, "/metrics").body();
        return metrics.find("vs_process_healthy{process=\"vs-api\",channel=\"api\"} 1") != std::string::npos;
    }, std::chrono::seconds{5})) << metrics;
    EXPECT_NE(metrics.find("vs_process_connections_open{process=\"vs-api\",channel=\"api\"}"), std::string::npos);

    // An idle keep-alive client, one that sent half a request and an open /events stream do
    // not hold the stop up (the drain waits for requests in hand only).
    vs::api::test::http_connection idle{port};
    EXPECT_EQ(idle.get("/funding/BTCUSDT").result_int(), 200);
    vs::api::test::http_connection half{port};
    half.send("GET /funding/BTCUSDT HTTP/1.1\r\nHo");
    vs::api::test::http_connection events{port};
    events.send("GET /events?symbols=BTCUSDT HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    std::string stream;
    ASSERT_TRUE(events.read_until(stream, [](const std::string& all) { return all.find("\r\n\r\n") != std::string::npos; },
                                  std::chrono::seconds{5})) << stream;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(p.terminate(std::chrono::seconds{10}), 0) << p.output();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds{3}) << p.output();
    EXPECT_TRUE(idle.closed_by_peer());
    EXPECT_NE(p.output().find("draining"), std::string::npos) << p.output();

    vs::bus::channel_config api;
    api.prefix = env_.prefix();
    api.name = "api";
    vs::bus::reader r{api, vs::bus::reader_options{false, "api_process_test"}};
    ASSERT_EQ(r.attach(), vs::bus::attach_state::ready);
    bool stopping = false;
    r.latest(static_cast<vs::bus::record_type>(vs::schema::RecordType::ProcessStatus), "vs-api",
             [&](const vs::bus::record_view& v) {
                 ASSERT_TRUE(vs::bus::verify_record(v.type, v.data));
                 stopping = vs::bus::record_as<vs::schema::ProcessStatus>(v.data)->stopping();
             });
    EXPECT_TRUE(stopping) << "the last status says the process stopped";
}

TEST_F(ApiProcessTest, ASecondApiOnTheSameBusNeedsItsOwnStatusChannel)
{
    publish_market();
    const auto port1 = vs::test::free_port();
    child_process first{{exe(), "--listen", "127.0.0.1:" + std::to_string(port1), "--bus-prefix", env_.prefix()},
                        logged_to(out("first"))};
    ASSERT_TRUE(first_answer(port1, "/funding/BTCUSDT")) << first.output();
    const auto port2 = vs::test::free_port();
    child_process clash{{exe(), "--listen", "127.0.0.1:" + std::to_string(port2), "--bus-prefix", env_.prefix()},
                        logged_to(out("clash"))};
    EXPECT_EQ(clash.wait(std::chrono::seconds{10}), 1);
    EXPECT_NE(clash.output().find("already has a writer"), std::string::npos) << clash.output();
    child_process second{{exe(), "--listen", "127.0.0.1:" + std::to_string(port2), "--bus-prefix", env_.prefix(),
                          "--status-channel", "api-2"},
                         logged_to(out("second"))};
    const auto answer = first_answer(port2, "/funding/BTCUSDT");
    ASSERT_TRUE(answer && answer->first == 200) << second.output();
    EXPECT_EQ(second.terminate(std::chrono::seconds{10}), 0);
    EXPECT_EQ(first.terminate(std::chrono::seconds{10}), 0);
}

}  // namespace
