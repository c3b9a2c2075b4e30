// vs-deliver as a real process, against the tests' own HTTP server playing the backend
// (PROD under /, DEV under /dev) and the Telegram Bot API (/bot<token>/sendMessage).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http_test_server.hpp"
#include "process.hpp"
#include "test_env.hpp"
#include "schemas/common_generated.h"
#include "schemas/process_status_generated.h"
#include "vs/bus/channel.hpp"
#include "vs/bus/records.hpp"
#include "vs/common/clock.hpp"
#include "vs/outbox/outbox.hpp"
#include "vs/net/rest_weight.hpp"

namespace {

using namespace std::chrono_literals;
using vs::outbox::target;
using vs::test::http_test_server;
using vs::test::received_request;
using vs::test::test_reply;

using vs::test::eventually;

/// vs-deliver as its unit runs it: a clean environment (no operator's VOLSPIKE_* leaking in),
/// stderr appended to the log.
vs::test::child_process start_deliver_process(const std::string& exe, const std::vector<std::string>& args,
                                              const std::string& log_path)
{
    std::vector<std::string> argv{exe};
    argv.insert(argv.end(), args.begin(), args.end());
    return vs::test::child_process{argv,
                                   {.out = vs::test::sink::inherit(),
                                    .err = vs::test::sink::file(log_path),
                                    .env = {{"PATH", "/usr/bin:/bin"}, {"VS_LOG_LEVEL", "info"}},
                                    .clean_env = true}};
}

std::string exe(const char* var)
{
    const char* p = std::getenv(var);
    if (p == nullptr) {
        throw std::runtime_error(std::string{var} + " is not set (run through meson test)");
    }
    return p;
}

/// vs-outbox with `args` (stdout and stderr captured), in the test's environment or, with
/// `only_env`, in exactly that one (env -i).
vs::test::command_output outbox_tool(std::vector<std::string> args, std::optional<vs::test::env_map> only_env = {});

// The fake backend + Telegram: records every request, and the decisions it made.
struct fake_world {
    std::mutex mu;
    std::condition_variable cv;
    bool backend_down = false;
    bool hold_first = false;      // hold the first PROD request until released
    bool held = false;
    bool released = false;
    bool hold_telegram = false;   // hold the first sendMessage until released
    int telegram_429s = 0;        // answer the next N sendMessage calls with 429
    std::vector<std::string> discord_contents;
    int retry_after_s = 1;
    std::map<std::string, std::vector<std::string>> accepted_keys;  // per "prod"/"dev": keys answered 2xx
    std::vector<std::string> telegram_texts;
    std::vector<std::int64_t> telegram_times;
    std::int64_t last_429_ms = 0;

    test_reply handle(const received_request& r)
    {
        if (r.target == "/discord/hook") {
            std::lock_guard lock{mu};
            discord_contents.emplace_back(boost::json::parse(r.body).as_object().at("content").as_string());
            return test_reply{204, {}, ""};
        }
        if (r.target.rfind("/bot", 0) == 0) {
            std::unique_lock lock{mu};
            if (hold_telegram && !held) {
                held = true;
                cv.notify_all();
                cv.wait(lock, [&] { return released; });
            }
            if (telegram_429s > 0) {
                --telegram_429s;
                last_429_ms = vs::realtime_ms();
                return test_reply{429, {},
                                  R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after )" +
                                      std::to_string(retry_after_s) + R"(","parameters":{"retry_after":)" +
                                      std::to_string(retry_after_s) + "}}"};
            }
            auto body = boost::json::parse(r.body).as_object();
            telegram_texts.emplace_back(body.at("text").as_string());
            telegram_times.push_back(r.at_ms);
            return test_reply{200, {}, R"({"ok":true,"result":{"message_id":1}})"};
        }
        const std::string env = r.target.rfind("/dev/", 0) == 0 ? "dev" : "prod";
        std::unique_lock lock{mu};
        if (backend_down) {
            // Half the failures are refused connections, half 503s.
            if (r.connection % 2 == 0) {
                return test_reply{503, {{"Retry-After", "0"}}, R"({"error":"down"})", false};
            }
            return test_reply{0, {}, {}, true};
        }
        if (env == "prod" && hold_first && !held) {
            held = true;
            cv.notify_all();
            cv.wait(lock, [&] { return released; });
        }
        accepted_keys[env].push_back(r.header("Idempotency-Key").value_or("?"));
        return test_reply{200, {}, R"({"success":true})"};
    }
};

class DeliverTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        server_ = std::make_unique<http_test_server>([this](const received_request& r) { return world_.handle(r); });
        vs::outbox::outbox_options o;
        vs::outbox::target_set ts;
        ts.add(target::prod);
        ts.add(target::dev);
        ts.add(target::telegram);
        o.targets = ts;
        outbox_ = vs::outbox::outbox::open(env_.state_dir(), o);
        log_path_ = (env_.state_dir() / "deliver.log").string();
    }
    void TearDown() override
    {
        {
            std::lock_guard lock{world_.mu};
            world_.released = true;
        }
        world_.cv.notify_all();
        deliver_.reset();
        server_->stop();
        if (HasFailure()) {
            std::ifstream in{log_path_};
            std::cerr << "---- vs-deliver log ----\n" << in.rdbuf() << "\n";
        }
    }

    std::vector<std::string> deliver_args(std::vector<std::string> extra = {})
    {
        std::vector<std::string> a{"--state-dir",      env_.state_dir().string(),
                                   "--bus-prefix",     env_.prefix(),
                                   "--prod-url",       server_->url(),
                                   "--prod-key",       "prod-key-1",
                                   "--dev-url",        server_->url() + "/dev",
                                   "--dev-key",        "dev-key-1",
                                   "--telegram-api-url", server_->url(),
                                   "--telegram-token", "123:ABC",
                                   "--chat-id",        "-1001",
                                   "--backoff-base-ms", "20",
                                   "--backoff-max-ms", "200",
                                   "--poll-ms",        "20",
                                   "--request-timeout-ms", "3000"};
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }
    void start_deliver(std::vector<std::string> extra = {})
    {
        deliver_ = std::make_unique<vs::test::child_process>(
            start_deliver_process(exe("VS_DELIVER_EXE"), deliver_args(std::move(extra)), log_path_));
    }
    std::string enqueue_backend(int i)
    {
        vs::outbox::alert a;
        a.kind = "volume";
        a.backend = vs::outbox::backend_call{"/api/volume-alerts/ingest",
                                             R"({"symbol":"S)" + std::to_string(i) + R"(USDT","volumeRatio":3.3})"};
        return outbox_->enqueue(a);
    }
    bool drained(target t, std::chrono::milliseconds timeout)
    {
        return eventually([&] { return outbox_->queue_length(t) == 0; }, timeout);
    }

    vs::test::test_env env_;
    fake_world world_;
    std::unique_ptr<http_test_server> server_;
    std::unique_ptr<vs::outbox::outbox> outbox_;
    std::unique_ptr<vs::test::child_process> deliver_;
    std::string log_path_;
};

TEST_F(DeliverTest, BackendOutageLosesNothingAndDeliversEachOnceInOrderPerTarget)
{
    world_.backend_down = true;
    start_deliver();
    std::vector<std::string> ids;
    for (int i = 0; i < 40; ++i) {
        ids.push_back(enqueue_backend(i));
    }
    // The outage lasts through many retry rounds (backoff 20 ms doubling to 200 ms).
    ASSERT_TRUE(eventually([&] { return server_->request_count() >= 30; }, 10s));
    std::this_thread::sleep_for(1500ms);  // the outage itself: a span of time, not a sync
    for (int i = 40; i < 60; ++i) {
        ids.push_back(enqueue_backend(i));
        if (i % 5 == 0) {
            // Another alerting process enqueues too (vs-outbox test is one, with its own LMDB handle).
            const auto r = outbox_tool({"--state-dir", env_.state_dir().string(), "test"},
                                       vs::test::env_map{{"VOLSPIKE_API_URL", server_->url()},
                                                         {"VOLSPIKE_API_URL_DEV", server_->url() + "/dev"}});
            ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
            ids.push_back(r.out.substr(std::string{"enqueued test "}.size(), 16));
        }
    }
    const auto attempts_during_outage = server_->request_count();
    {
        std::lock_guard lock{world_.mu};
        world_.backend_down = false;
    }
    const auto recovered = std::chrono::steady_clock::now();
    ASSERT_TRUE(drained(target::prod, 20s));
    ASSERT_TRUE(drained(target::dev, 20s));
    const auto drain_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                                recovered).count();

    std::lock_guard lock{world_.mu};
    for (std::string env : {"prod", "dev"}) {
        std::vector<std::string> expected;
        for (const auto& id : ids) {
            expected.push_back(id + ":" + env);
        }
        // Exactly once each, in enqueue order (across both producing processes).
        EXPECT_EQ(world_.accepted_keys[env], expected) << env;
        EXPECT_EQ(expected.size(), 64u);
    }
    for (const auto& r : server_->requests()) {
        if (r.target.rfind("/dev/", 0) == 0) {
            EXPECT_EQ(r.header("X-API-Key").value_or(""), "dev-key-1");
        } else {
            EXPECT_EQ(r.header("X-API-Key").value_or(""), "prod-key-1");
        }
        if (r.method == "POST") {
            EXPECT_TRUE(r.target == "/api/volume-alerts/ingest" || r.target == "/dev/api/volume-alerts/ingest");
            EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
        } else {
            EXPECT_TRUE(r.target == "/health" || r.target == "/dev/health") << r.target;
        }
    }
    std::printf("measured: 64 alerts from 2 processes x 2 targets through a %.1f s outage: %zu failed attempts "
                "during it, 128 accepted within %lld ms of recovery, 0 lost, 0 duplicated, in order\n",
                1.5, attempts_during_outage, static_cast<long long>(drain_ms));
    EXPECT_EQ(deliver_->terminate(10s), 0);
}

TEST_F(DeliverTest, KilledBetweenSendAndAckResendsTheSameKeyAndNothingElse)
{
    world_.hold_first = true;
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        ids.push_back(enqueue_backend(i));
    }
    start_deliver();
    {
        std::unique_lock lock{world_.mu};
        ASSERT_TRUE(world_.cv.wait_for(lock, 10s, [&] { return world_.held; }));
    }
    // The request reached the backend; the acknowledgement never reaches vs-deliver.
    deliver_->kill();
    {
        std::lock_guard lock{world_.mu};
        world_.released = true;   // the backend processes it (counts it) after all
    }
    world_.cv.notify_all();
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock{world_.mu};
        return world_.accepted_keys["prod"].size() == 1;
    }, 5s));
    EXPECT_EQ(outbox_->queue_length(target::prod), 5u);  // nothing was acknowledged

    start_deliver();   // the restart resumes the pending sends
    ASSERT_TRUE(drained(target::prod, 20s));
    ASSERT_TRUE(drained(target::dev, 20s));
    std::lock_guard lock{world_.mu};
    const auto& seen = world_.accepted_keys["prod"];
    ASSERT_EQ(seen.size(), 6u);
    EXPECT_EQ(seen[0], ids[0] + ":prod");
    EXPECT_EQ(seen[1], ids[0] + ":prod") << "the resend carries the same idempotency key";
    for (int i = 1; i < 5; ++i) {
        EXPECT_EQ(seen[static_cast<std::size_t>(i) + 1], ids[static_cast<std::size_t>(i)] + ":prod");
    }
    // DEV ran freely and may also have been cut between a send and its acknowledgement:
    // then it, too, repeats that one key and nothing else.
    auto dev = world_.accepted_keys["dev"];
    EXPECT_LE(dev.size(), 6u);
    dev.erase(std::unique(dev.begin(), dev.end()), dev.end());
    std::vector<std::string> expected_dev;
    for (const auto& id : ids) {
        expected_dev.push_back(id + ":dev");
    }
    EXPECT_EQ(dev, expected_dev);
}

TEST_F(DeliverTest, TelegramRetryAfterIsHonoured)
{
    world_.telegram_429s = 1;
    world_.retry_after_s = 1;
    vs::outbox::alert a;
    a.kind = "liquidation";
    a.text = "BTCUSDT long liquidated $1.2M";
    outbox_->enqueue(a);
    start_deliver();
    ASSERT_TRUE(drained(target::telegram, 10s));
    std::lock_guard lock{world_.mu};
    ASSERT_EQ(world_.telegram_texts.size(), 1u);
    EXPECT_EQ(world_.telegram_texts[0], "BTCUSDT long liquidated $1.2M");
    const auto waited = world_.telegram_times[0] - world_.last_429_ms;
    EXPECT_GE(waited, 990) << "sent again before retry_after";
    std::printf("measured: Telegram 429 retry_after=1 s; next send came %lld ms later\n",
                static_cast<long long>(waited));
    const auto tg = server_->requests();
    EXPECT_EQ(tg.front().target, "/bot123:ABC/sendMessage");
    auto body = boost::json::parse(tg.front().body).as_object();
    EXPECT_EQ(body.at("chat_id").as_string(), "-1001");
}

TEST_F(DeliverTest, TelegramBurstOfHundredBecomesAtMostTwentyMessagesLosingNothing)
{
    start_deliver();   // real 20 messages per 60 s window
    for (int i = 0; i < 100; ++i) {
        vs::outbox::alert a;
        a.kind = "liquidation";
        a.label = "liquidations";
        a.amount_usd = 84'000.0 + i;
        a.text = "LIQ#" + std::to_string(i) + " BTCUSDT long $84K @ 97,000";
        outbox_->enqueue(a);
    }
    ASSERT_TRUE(drained(target::telegram, 40s));
    std::lock_guard lock{world_.mu};
    const auto& msgs = world_.telegram_texts;
    EXPECT_LE(msgs.size(), 20u);
    ASSERT_FALSE(msgs.empty());
    EXPECT_LE(world_.telegram_times.back() - world_.telegram_times.front(), 60'000);
    std::string all;
    for (const auto& m : msgs) {
        all += m + "\n";
    }
    for (int i = 0; i < 100; ++i) {
        const std::string needle = "LIQ#" + std::to_string(i) + " BTCUSDT long $84K @ 97,000\n";
        auto first = all.find(needle);
        EXPECT_NE(first, std::string::npos) << "lost alert " << i;
        EXPECT_EQ(all.find(needle, first + 1), std::string::npos) << "duplicated alert " << i;
    }
    bool summary = false;
    for (const auto& m : msgs) {
        if (m.find(" liquidations, $") != std::string::npos && m.find(" total:") != std::string::npos) {
            summary = true;
        }
    }
    EXPECT_TRUE(summary) << "a coalesced message starts with 'N liquidations, $X total:'";
    std::printf("measured: burst of 100 alerts -> %zu Telegram messages in %lld ms; 100/100 texts present once\n",
                msgs.size(), static_cast<long long>(world_.telegram_times.back() - world_.telegram_times.front()));
}

TEST_F(DeliverTest, TelegramMessageInterruptedByACrashIsSentAgainAndCountedUncertain)
{
    world_.hold_telegram = true;
    vs::outbox::alert a;
    a.kind = "liquidation";
    a.text = "ETHUSDT short liquidated $450K";
    auto id = outbox_->enqueue(a);
    start_deliver();
    {
        std::unique_lock lock{world_.mu};
        ASSERT_TRUE(world_.cv.wait_for(lock, 10s, [&] { return world_.held; }));
    }
    deliver_->kill();
    EXPECT_EQ(outbox_->get(id)->find(target::telegram)->st, vs::outbox::state::sending);
    {
        std::lock_guard lock{world_.mu};
        world_.released = true;
    }
    world_.cv.notify_all();
    start_deliver();   // default --uncertain resend: at-least-once
    ASSERT_TRUE(drained(target::telegram, 10s));
    std::lock_guard lock{world_.mu};
    ASSERT_EQ(world_.telegram_texts.size(), 2u);
    EXPECT_EQ(world_.telegram_texts[1], "ETHUSDT short liquidated $450K");
    EXPECT_EQ(outbox_->counters(target::telegram).uncertain, 1u);
}

TEST_F(DeliverTest, DiscordWebhookGetsTheTextAsContent)
{
    vs::outbox::alert a;
    a.kind = "volume";
    a.text = "SOL hourly volume $12M (4.1x prev)";
    vs::outbox::target_set ts;
    ts.add(target::discord);
    outbox_->enqueue(a, ts);
    start_deliver({"--discord-webhook", server_->url() + "/discord/hook"});
    ASSERT_TRUE(drained(target::discord, 10s));
    std::lock_guard lock{world_.mu};
    ASSERT_EQ(world_.discord_contents.size(), 1u);
    EXPECT_EQ(world_.discord_contents[0], "SOL hourly volume $12M (4.1x prev)");
}

TEST_F(DeliverTest, AlertOlderThanDeadAfterIsDeadLetteredAndCanBeRetried)
{
    world_.backend_down = true;
    auto id = enqueue_backend(1);
    start_deliver({"--dead-after", "1"});
    ASSERT_TRUE(drained(target::prod, 10s));
    auto e = outbox_->get(id);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->find(target::prod)->st, vs::outbox::state::dead);
    EXPECT_NE(e->find(target::prod)->last_error.find("expired"), std::string::npos);
    EXPECT_GE(outbox_->counters(target::prod).dead, 1u);
    EXPECT_EQ(deliver_->terminate(10s), 0);

    // An operator retries it once the backend is back: it goes out.
    {
        std::lock_guard lock{world_.mu};
        world_.backend_down = false;
    }
    EXPECT_EQ(outbox_->retry(target::prod, id), 1u);
    start_deliver({"--dead-after", "1"});   // a retry restarts the dead-letter age
    ASSERT_TRUE(eventually([&] { return outbox_->get(id)->find(target::prod)->st == vs::outbox::state::delivered; }, 10s));
}

TEST_F(DeliverTest, StopsCleanlyOnSigtermWithExitZero)
{
    start_deliver();
    ASSERT_TRUE(eventually([&] {
        std::ifstream in{log_path_};
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str().find("delivering from") != std::string::npos;
    }, 10s));
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(deliver_->terminate(5s), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

// Issue 19: no secret reaches vs-deliver's stderr, the outbox's LMDB file or vs-outbox's
// listing, whatever fails: a target answering 500 (and echoing the key), a Telegram that
// hangs past the request timeout, a Discord webhook answering 500, dead-lettering.
TEST_F(DeliverTest, SecretsNeverReachTheLogTheOutboxOrTheListing)
{
    const std::string tg_token = "123456:SECRETTOKENabc";
    const std::string prod_key = "sekrit-key-987";
    const std::string dev_key = "dev-sekrit-654";
    const std::string discord_token = "DISCORDsecretTOKEN-xyz";
    const std::string alert_token = "654321:ALERTBOTsekrit";
    const std::vector<std::string> secrets{tg_token, "SECRETTOKENabc", "123456%3ASECRETTOKENabc", prod_key,
                                           dev_key, discord_token, alert_token, "ALERTBOTsekrit"};

    std::atomic<bool> stopping{false};
    // Answers 500 to everything, echoing what a careless proxy would: the path and the key.
    http_test_server failing{[&](const received_request& r) {
        return test_reply{500, {}, R"({"error":"upstream failed for )" + r.target + R"(","apiKey":")" +
                                       r.header("X-API-Key").value_or("") + "\"}"};
    }};
    // Holds every request past vs-deliver's request timeout (300 ms).
    http_test_server hanging{[&](const received_request&) {
        for (int i = 0; i < 100 && !stopping.load(); ++i) {
            std::this_thread::sleep_for(20ms);
        }
        return test_reply{500, {}, "{}"};
    }};

    vs::outbox::alert a;
    a.kind = "volume";
    a.text = "BTCUSDT hourly volume $1.2B (3.3x prev)";
    a.backend = vs::outbox::backend_call{"/api/volume-alerts/ingest", R"({"symbol":"BTCUSDT","volumeRatio":3.3})"};
    vs::outbox::target_set all;
    for (auto t : vs::outbox::all_targets) {
        all.add(t);
    }
    const auto id = outbox_->enqueue(a, all);   // every target but nats (no bus record)

    const vs::test::env_map env{{"PATH", "/usr/bin:/bin"},
                                {"VS_LOG_LEVEL", "debug"},
                                {"VOLSPIKE_API_URL", failing.url()},
                                {"VOLSPIKE_API_KEY", prod_key},
                                {"VOLSPIKE_API_URL_DEV", hanging.url() + "/dev"},
                                {"VOLSPIKE_API_KEY_DEV", dev_key},
                                {"VS_TELEGRAM_API_URL", hanging.url()},
                                {"TELEGRAM_TOKEN", tg_token},
                                {"CHAT_ID", "-1001"},
                                {"TELEGRAM_ALERT_TOKEN", alert_token},
                                {"VS_DISCORD_WEBHOOK_URL", failing.url() + "/api/webhooks/4242/" + discord_token}};
    // --help lists options and variables, never their values.
    const auto help = vs::test::run_with({exe("VS_DELIVER_EXE"), "--help"},
                                         {.out = vs::test::sink::pipe(), .err = vs::test::sink::pipe(),
                                          .env = env, .clean_env = true});
    ASSERT_EQ(help.exit_code, 0) << help.err;
    EXPECT_NE(help.out.find("TELEGRAM_TOKEN"), std::string::npos);

    deliver_ = std::make_unique<vs::test::child_process>(
        std::vector<std::string>{exe("VS_DELIVER_EXE"), "--state-dir", env_.state_dir().string(), "--bus-prefix",
                                 env_.prefix(), "--backoff-base-ms", "20", "--backoff-max-ms", "100", "--poll-ms",
                                 "20", "--request-timeout-ms", "300", "--dead-after", "3"},
        vs::test::process_options{.out = vs::test::sink::file(log_path_),
                                  .err = vs::test::sink::file(log_path_),
                                  .env = env,
                                  .clean_env = true});
    // Several failed attempts on every target, then every target dead-letters the alert.
    ASSERT_TRUE(eventually([&] {
        const auto e = outbox_->get(id);
        for (auto t : vs::outbox::all_targets) {
            const auto* st = e ? e->find(t) : nullptr;
            if (t != vs::outbox::target::nats && (st == nullptr || st->attempts < 2)) {
                return false;
            }
        }
        return true;
    }, 10s)) << "every target failed at least twice";
    ASSERT_TRUE(eventually([&] {
        for (auto t : vs::outbox::all_targets) {
            if (outbox_->queue_length(t) != 0) {
                return false;
            }
        }
        return true;
    }, 15s)) << "every target dead-lettered the alert";
    EXPECT_EQ(deliver_->terminate(10s), 0);
    stopping.store(true);

    // The stand-ins did get the secrets: the test is not vacuous.
    bool tg_seen = false;
    for (const auto& r : hanging.requests()) {
        tg_seen = tg_seen || r.target == "/bot" + tg_token + "/sendMessage";
    }
    EXPECT_TRUE(tg_seen);
    bool key_seen = false;
    bool hook_seen = false;
    for (const auto& r : failing.requests()) {
        key_seen = key_seen || r.header("X-API-Key") == prod_key;
        hook_seen = hook_seen || r.target == "/api/webhooks/4242/" + discord_token;
    }
    EXPECT_TRUE(key_seen);
    EXPECT_TRUE(hook_seen);

    const std::string log = vs::test::read_file(log_path_);
    const std::string mdb = vs::test::read_file(env_.state_dir() / "outbox.lmdb" / "data.mdb");
    // vs-outbox in an empty environment: what it prints comes from the outbox as stored.
    const vs::test::env_map bare{{"PATH", "/usr/bin:/bin"}};
    const auto list = outbox_tool({"--state-dir", env_.state_dir().string(), "list", "--state", "all"}, bare);
    const auto list_json =
        outbox_tool({"--state-dir", env_.state_dir().string(), "list", "--state", "all", "--json"}, bare);
    const auto show = outbox_tool({"--state-dir", env_.state_dir().string(), "show", id}, bare);
    ASSERT_EQ(list.exit_code, 0) << list.err;
    ASSERT_EQ(list_json.exit_code, 0) << list_json.err;
    ASSERT_EQ(show.exit_code, 0) << show.err;
    // The failures are there, redacted.
    EXPECT_NE(log.find("telegram: send failed"), std::string::npos) << log;
    EXPECT_NE(log.find("/bot<redacted>/sendMessage"), std::string::npos) << log;
    EXPECT_NE(log.find("/api/webhooks/4242/<redacted>"), std::string::npos) << log;
    EXPECT_NE(show.out.find("expired"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("<redacted>"), std::string::npos) << show.out;

    const std::map<std::string, const std::string*> places{{"vs-deliver stderr", &log},
                                                           {"outbox data.mdb", &mdb},
                                                           {"vs-outbox list", &list.out},
                                                           {"vs-outbox list --json", &list_json.out},
                                                           {"vs-outbox show", &show.out},
                                                           {"vs-deliver --help", &help.out},
                                                           {"vs-outbox stderr", &show.err}};
    for (const auto& [where, text] : places) {
        for (const auto& secret : secrets) {
            EXPECT_EQ(text->find(secret), std::string::npos) << where << " contains " << secret;
        }
    }
    std::printf("measured: %zu log bytes, %zu outbox bytes, 3 vs-outbox outputs: 0 of %zu secrets present\n",
                log.size(), mdb.size(), secrets.size());
}

vs::test::command_output outbox_tool(std::vector<std::string> args, std::optional<vs::test::env_map> only_env)
{
    args.insert(args.begin(), exe("VS_OUTBOX_EXE"));
    if (!only_env) {
        return vs::test::run(std::move(args));
    }
    return vs::test::run_with(std::move(args), {.out = vs::test::sink::pipe(),
                                                .err = vs::test::sink::pipe(),
                                                .env = std::move(*only_env),
                                                .clean_env = true});
}

TEST_F(DeliverTest, OutboxToolListsDeadAlertsPerTargetRetriesAndPurgesThem)
{
    const std::string dir = env_.state_dir().string();
    auto dead_id = enqueue_backend(1);
    auto live_id = enqueue_backend(2);
    outbox_->mark_dead(target::prod, dead_id, "rejected: HTTP 400", vs::realtime_ms());
    auto r = outbox_tool({"--state-dir", dir, "list", "--state", "dead", "--target", "prod", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto line = boost::json::parse(r.out.substr(0, r.out.find('\n'))).as_object();
    EXPECT_EQ(line.at("id").as_string(), dead_id);
    EXPECT_EQ(line.at("targets").at("prod").at("state").as_string(), "dead");
    EXPECT_EQ(line.at("targets").at("dev").at("state").as_string(), "pending");
    EXPECT_EQ(r.out.find(live_id), std::string::npos);

    r = outbox_tool({"--state-dir", dir, "stats", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto stats = boost::json::parse(r.out).as_object();
    EXPECT_EQ(stats.at("prod").at("dead").as_int64(), 1);
    EXPECT_EQ(stats.at("prod").at("queued").as_int64(), 1);
    EXPECT_EQ(stats.at("dev").at("queued").as_int64(), 2);

    r = outbox_tool({"--state-dir", dir, "retry", "--dead", "--target", "prod"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(outbox_->queue_length(target::prod), 2u);

    start_deliver();
    ASSERT_TRUE(drained(target::prod, 10s));
    ASSERT_TRUE(drained(target::dev, 10s));
    r = outbox_tool({"--state-dir", dir, "purge", "--finished"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("purged 2"), std::string::npos) << r.out;

    r = outbox_tool({"--state-dir", dir, "list", "--bogus"});
    EXPECT_EQ(r.exit_code, 2) << "usage errors exit 2";
}

TEST_F(DeliverTest, OutboxToolShowsTheRestWeightBudget)
{
    EXPECT_EQ(outbox_tool({"--bus-prefix", env_.prefix(), "rest-budget"}).exit_code, 1)
        << "no segment yet: failure, and none created";
    vs::net::weight_budget_options o;
    o.prefix = env_.prefix();
    vs::net::weight_budget budget{o};
    ASSERT_TRUE(budget.try_reserve(40, vs::realtime_ms()).ok());
    budget.pause_until(vs::realtime_ms() + 30'000);
    const auto r = outbox_tool({"--bus-prefix", env_.prefix(), "rest-budget", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto j = boost::json::parse(r.out).as_object();
    EXPECT_GE(j.at("weight").as_int64(), 40);
    EXPECT_GT(j.at("paused_for_ms").as_int64(), 20'000);
    EXPECT_EQ(j.at("rate_limited").as_int64(), 1);
}

TEST_F(DeliverTest, OutboxToolTestMessageReachesEveryConfiguredTarget)
{
    // vs-outbox test reads the targets from the environment, like every alerting process.
    const auto sent = outbox_tool({"--state-dir", env_.state_dir().string(), "test", "--text", "hello from the test"},
                               vs::test::env_map{{"VOLSPIKE_API_URL", server_->url()},
                                                 {"VOLSPIKE_API_URL_DEV", server_->url() + "/dev"},
                                                 {"TELEGRAM_TOKEN", "123:ABC"},
                                                 {"CHAT_ID", "-1001"}});
    ASSERT_EQ(sent.exit_code, 0) << sent.out << sent.err;
    start_deliver();
    ASSERT_TRUE(drained(target::prod, 10s));
    ASSERT_TRUE(drained(target::dev, 10s));
    ASSERT_TRUE(drained(target::telegram, 10s));
    std::lock_guard lock{world_.mu};
    EXPECT_EQ(world_.accepted_keys["prod"].size(), 1u);
    EXPECT_EQ(world_.accepted_keys["dev"].size(), 1u);
    ASSERT_EQ(world_.telegram_texts.size(), 1u);
    EXPECT_EQ(world_.telegram_texts[0], "hello from the test");
    bool health = false;
    for (const auto& r : server_->requests()) {
        if (r.target == "/health" && r.method == "GET" && r.header("X-API-Key") == "prod-key-1") {
            health = true;
        }
    }
    EXPECT_TRUE(health);
}

// Issue 14: the backend's user-alert routes take the key in the body; a trigger the backend
// already took (its alert deactivated) answers 400 "Alert is not active": delivered, not dead.
// Any other 400 of that route, and a 400 "Alert is not active" of another route, stay dead.
TEST_F(DeliverTest, UserAlertTriggerCarriesBodyApiKeyAndAlreadyFiredCountsAsDelivered)
{
    server_->set_handler([](const received_request& r) {
        if (r.target.find("/api/user-alerts-trigger/trigger") != std::string::npos) {
            const auto body = boost::json::parse(r.body).as_object();
            const std::string id{body.at("alertId").as_string()};
            if (id == "fired-before") {
                return test_reply{400, {}, R"({"error":"Alert is not active"})"};
            }
            if (id == "broken") {
                return test_reply{400, {}, R"({"error":"Invalid request","details":[]})"};
            }
            return test_reply{200, {}, R"({"success":true})"};
        }
        if (r.target.find("/api/volume-alerts/ingest") != std::string::npos) {
            return test_reply{400, {}, R"({"error":"Alert is not active"})"};
        }
        return test_reply{200, {}, "{}"};
    });
    vs::outbox::target_set prod_only;
    prod_only.add(target::prod);
    std::vector<std::string> ids;
    for (const std::string id : {"fresh", "fired-before", "broken"}) {
        vs::outbox::alert a;
        a.kind = "user_alert";
        a.backend = vs::outbox::backend_call{"/api/user-alerts-trigger/trigger",
                                             R"({"alertId":")" + id +
                                                 R"(","symbol":"BTCUSDT","currentValue":101.5,"previousValue":99,"crossedUp":true})"};
        ids.push_back(outbox_->enqueue(a, prod_only));
    }
    vs::outbox::alert other;
    other.kind = "volume";
    other.backend = vs::outbox::backend_call{"/api/volume-alerts/ingest", R"({"symbol":"XUSDT"})"};
    ids.push_back(outbox_->enqueue(other, prod_only));
    start_deliver();
    ASSERT_TRUE(drained(target::prod, 10s));

    const auto state_of = [&](const std::string& id) {
        const auto e = outbox_->get(id);
        return e && e->find(target::prod) != nullptr ? e->find(target::prod)->st : vs::outbox::state::pending;
    };
    EXPECT_EQ(state_of(ids[0]), vs::outbox::state::delivered);
    EXPECT_EQ(state_of(ids[1]), vs::outbox::state::delivered);
    EXPECT_EQ(state_of(ids[2]), vs::outbox::state::dead);
    EXPECT_EQ(state_of(ids[3]), vs::outbox::state::dead);
    int triggers = 0;
    for (const auto& r : server_->requests()) {
        if (r.target == "/api/user-alerts-trigger/trigger") {
            ++triggers;
            const auto body = boost::json::parse(r.body).as_object();
            EXPECT_EQ(body.at("apiKey").as_string(), "prod-key-1");
            EXPECT_EQ(body.at("currentValue").as_double(), 101.5);
            EXPECT_TRUE(body.at("crossedUp").as_bool());
        }
        if (r.target == "/api/volume-alerts/ingest") {
            EXPECT_EQ(r.body.find("apiKey"), std::string::npos);   // only the user-alert routes
        }
    }
    EXPECT_EQ(triggers, 3);
    // The key never reaches the outbox's stored bodies.
    for (const auto& id : ids) {
        EXPECT_EQ(outbox_->get(id)->a.backend->body.find("prod-key-1"), std::string::npos);
    }
}

}  // namespace

TEST_F(DeliverTest, NatsTargetThatCannotBeSetUpLeavesTheOtherTargetsDeliveringAndIsUnhealthy)
{
    // An operator's error on one target (a TLS CA file that does not exist) must not stop
    // vs-deliver: the backend still gets its alerts, the process says why it is unhealthy.
    start_deliver({"--nats-url", "tls://127.0.0.1:1", "--nats-tls-ca", (env_.state_dir() / "no-such-ca.pem").string()});
    const auto id = enqueue_backend(1);
    ASSERT_TRUE(drained(target::prod, 10s));
    {
        std::lock_guard lock{world_.mu};
        EXPECT_EQ(world_.accepted_keys["prod"], std::vector<std::string>{id + ":prod"});
    }
    vs::bus::channel_config c;
    c.prefix = env_.prefix();
    c.name = "deliver";
    vs::bus::reader status{c, vs::bus::reader_options{false, "deliver-test"}};
    std::string reason;
    const bool unhealthy = eventually(
        [&] {
            if (status.attach() != vs::bus::attach_state::ready) {
                return false;
            }
            bool bad = false;
            status.latest(static_cast<vs::bus::record_type>(vs::schema::RecordType::ProcessStatus), "vs-deliver",
                          [&](const vs::bus::record_view& v) {
                              const auto* s = vs::bus::record_as<vs::schema::ProcessStatus>(v.data);
                              bad = !s->healthy();
                              reason = s->reason() != nullptr ? s->reason()->str() : "";
                          });
            return bad;
        },
        10s);
    EXPECT_TRUE(unhealthy);
    EXPECT_NE(reason.find("nats target not set up"), std::string::npos) << reason;
    EXPECT_TRUE(deliver_->running());
    EXPECT_EQ(deliver_->terminate(10s), 0);
}
