// The real vs-replay as the backend and Telegram of a real vs-deliver (what scripts/run-demo.sh
// does): `vs-outbox test` enqueues one message per configured target, vs-deliver sends them
// to the stand-in, and /_control/received shows exactly what arrived, with the API key and
// the bot token checked and an injected Telegram 429 retried.
#include <chrono>
#include <cstdlib>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http.hpp"
#include "process.hpp"
#include "replay_process.hpp"
#include "test_env.hpp"

namespace {

using namespace std::chrono_literals;

std::string bin(const char* var, const char* fallback)
{
    const char* p = std::getenv(var);
    return p != nullptr ? p : fallback;
}

boost::json::array received(std::uint16_t port, const std::string& query)
{
    auto r = vs::test::loopback_http(port, "GET", "/_control/received?" + query);
    if (r.status != 200) {
        return {};
    }
    return boost::json::parse(r.body).at("received").as_array();
}

}  // namespace

TEST(ReplayStandIn, VsDeliverSendsToTheStandInBackendAndTelegram)
{
    vs::test::test_env env;
    vs::test::replay_process replay{bin("VS_REPLAY_BIN", "vs-replay"),
                                    {"--symbols", "20", "--backend-api-key", "k-test", "--telegram-bot-token",
                                     "42:test-token", "--log-level", "warn"}};
    ASSERT_NE(replay.port(), 0) << "vs-replay did not announce its port";
    const auto port = replay.port();
    const vs::test::env_map targets{{"VS_BUS_PREFIX", env.prefix()},
                                    {"VS_STATE_DIR", env.state_dir().string()},
                                    {"VOLSPIKE_API_URL", replay.http_url()},
                                    {"VOLSPIKE_API_KEY", "k-test"},
                                    {"VS_TELEGRAM_API_URL", replay.http_url()},
                                    {"TELEGRAM_TOKEN", "42:test-token"},
                                    {"CHAT_ID", "-1001"},
                                    {"VS_DELIVER_BACKOFF_BASE_MS", "100"}};
    // The first Telegram send is refused with 429 (retry_after 1 s): vs-deliver must retry.
    ASSERT_EQ(vs::test::loopback_http(port, "POST", "/_control/fail?target=telegram&status=429&count=1").status, 200);

    auto enqueue = vs::test::run({bin("VS_OUTBOX_BIN", "vs-outbox"), "test", "--text", "hello from the stand-in test"},
                                 targets);
    ASSERT_EQ(enqueue.exit_code, 0) << enqueue.err;
    vs::test::child_process deliver{{bin("VS_DELIVER_BIN", "vs-deliver"), "--poll-ms", "20"},
                                    {.err = vs::test::sink::null(), .env = targets}};

    ASSERT_TRUE(vs::test::eventually([&] { return received(port, "since=0&target=telegram").size() >= 2; }, 15s));
    ASSERT_TRUE(vs::test::eventually([&] { return !received(port, "since=0&target=backend").empty(); }, 15s));
    const auto tg = received(port, "since=0&target=telegram");
    ASSERT_EQ(tg.size(), 2u);   // the refused send and its retry, nothing more
    EXPECT_EQ(tg[0].at("status"), 429);
    EXPECT_EQ(tg[1].at("status"), 200);
    EXPECT_GE(tg[1].at("time_ms").as_int64() - tg[0].at("time_ms").as_int64(), 900);   // retry_after honoured
    EXPECT_EQ(tg[1].at("path"), "/bot<token>/sendMessage");
    EXPECT_EQ(tg[1].at("body").at("text"), "hello from the stand-in test");
    EXPECT_EQ(tg[1].at("body").at("chat_id"), "-1001");
    const auto be = received(port, "since=0&target=backend");
    ASSERT_EQ(be.size(), 1u);
    EXPECT_EQ(be[0].at("method"), "GET");
    EXPECT_EQ(be[0].at("path"), "/health");
    EXPECT_EQ(be[0].at("status"), 200);   // the key matched
    EXPECT_FALSE(be[0].at("idempotency_key").as_string().empty());
    const auto st = boost::json::parse(vs::test::loopback_http(port, "GET", "/_control/status").body);
    EXPECT_EQ(st.at("receiver").at("telegram"), 2);
    EXPECT_EQ(st.at("receiver").at("backend"), 1);
    EXPECT_EQ(deliver.terminate(25s), std::optional<int>(0));
}
