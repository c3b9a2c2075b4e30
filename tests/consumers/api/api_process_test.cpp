// vs-api as a process: command line contract, environment, serving, SIGTERM.
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http.hpp"
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
    vs::test::test_env env_;
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
    child_process p{{exe(), "--listen", "nonsense"}, logged_to(out("bad"))};
    EXPECT_EQ(p.wait(std::chrono::seconds{10}), 2);
    child_process q{{exe(), "--listen", "0.0.0.0:0"}, logged_to(out("remote"))};
    EXPECT_EQ(q.wait(std::chrono::seconds{10}), 2);
    EXPECT_NE(q.output().find("--allow-remote"), std::string::npos) << q.output();
}

TEST_F(ApiProcessTest, ServesFromTheEnvironmentsAddressAndStopsOnSigterm)
{
    vs::api::test::live_channel market{env_.prefix(), "market"};
    const auto now = vs::realtime_ns();
    market.run([&](vs::bus::writer& w) {
        vs::api::bench::publish(w, vs::test::mark_price_fields{.symbol = "BTCUSDT", .recv_time_ns = now, .mark_price = 42.5});
        vs::api::bench::publish(w, vs::test::healthy_feed_status(1, now));
    });
    const auto port = vs::test::free_port();
    child_process p{{exe(), "--threads", "2"},
                    logged_to(out("serve"),
                              {{"VS_API_LISTEN", "127.0.0.1:" + std::to_string(port)}, {"VS_BUS_PREFIX", env_.prefix()}})};
    // Poll until it listens.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    int status = 0;
    std::string body;
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            const auto r = vs::api::test::http_get(port, "/funding/BTCUSDT");
            status = r.result_int();
            body = r.body();
            break;
        } catch (const std::exception&) {
            std::this_thread::sleep_for(std::chrono::milliseconds{50});
        }
    }
    ASSERT_EQ(status, 200) << p.output();
    EXPECT_DOUBLE_EQ(boost::json::parse(body).at("markPrice").to_number<double>(), 42.5);
    EXPECT_EQ(vs::api::test::http_get(port, "/funding/health").result_int(), 200);
    EXPECT_EQ(p.terminate(std::chrono::seconds{5}), 0) << p.output();
}

}  // namespace
