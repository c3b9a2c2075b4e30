// Issue 19, "no secret ever reaches a log line, an LMDB record, /metrics, an HTTP answer or a
// --help output", for vs-feed, vs-api, vs-health and vs-outbox (vs-deliver's own test is in
// tests/consumers/deliver). Each runs with the secrets .volspike.env gives every unit
// (support/secrets_scan.hpp known_secrets()) against stand-ins that fail: an "exchange" that
// answers every WebSocket upgrade with 500 and echoes the URL it got, which carries an apiKey
// query value. Then its stderr, every file under its state directory, its outbox listing,
// its HTTP answers and its --help are grepped for every secret.
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http_test_server.hpp"
#include "http.hpp"
#include "process.hpp"
#include "secrets_scan.hpp"
#include "test_env.hpp"
#include "vs/outbox/outbox.hpp"

namespace {

using namespace std::chrono_literals;
using vs::test::child_process;
using vs::test::eventually;
namespace fs = std::filesystem;

class Secrets : public ::testing::Test {
protected:
    vs::test::test_env env_;
    // The "exchange": 500 to everything, echoing the target (and so the apiKey) it was sent.
    vs::test::http_test_server exchange_{[](const vs::test::received_request& r) {
        return vs::test::test_reply{500, {}, R"({"code":-1,"msg":"upstream failed for )" + r.target + "\"}"};
    }};
    vs::test::secret_set secrets_ = vs::test::known_secrets(exchange_.url());
    fs::path feed_log_ = env_.state_dir() / "feed.log";
    fs::path feed_state_ = env_.state_dir() / "feed";
    std::unique_ptr<child_process> feed_;

    /// The test's secrets as the process's whole environment (as systemd's EnvironmentFile=).
    vs::test::env_map env() const
    {
        auto e = secrets_.env;
        e["PATH"] = "/usr/bin:/bin";
        e["VS_LOG_LEVEL"] = "debug";
        return e;
    }

    std::string feed_url() const
    {
        return "ws://127.0.0.1:" + exchange_.url().substr(exchange_.url().rfind(':') + 1) +
               "/market/stream?apiKey=" + secrets_.values[0];
    }

    /// vs-feed against the failing exchange, with an apiKey in its URL, until it has failed
    /// a few times and saved its snapshot.
    void start_failing_feed()
    {
        fs::create_directories(feed_state_);
        feed_ = std::make_unique<child_process>(
            std::vector<std::string>{VS_FEED_BIN, "--ws-url", feed_url(), "--bus-prefix", env_.prefix(),
                                     "--state-dir", feed_state_.string(), "--snapshot-interval-ms", "100",
                                     "--status-interval-ms", "100", "--backoff-min-ms", "20", "--backoff-max-ms",
                                     "50", "--exchange-info-refresh-s", "0"},
            vs::test::process_options{.out = vs::test::sink::file(feed_log_),
                                      .err = vs::test::sink::to_stdout(),
                                      .env = env(),
                                      .clean_env = true});
        ASSERT_TRUE(eventually([&] { return exchange_.requests().size() >= 3; }, 10s)) << vs::test::read_file(feed_log_);
        // The stand-in did get the key: the test is not vacuous.
        EXPECT_NE(exchange_.requests().front().target.find("apiKey=" + secrets_.values[0]), std::string::npos);
        std::this_thread::sleep_for(300ms);   // a FeedStatus naming the failure, in a saved snapshot
    }

    vs::test::command_output help(const std::string& exe) const
    {
        return vs::test::run_with({exe, "--help"}, {.out = vs::test::sink::pipe(), .err = vs::test::sink::pipe(),
                                                    .env = env(), .clean_env = true});
    }

    void expect_clean(const vs::test::secrets_scan& scan, const char* process)
    {
        EXPECT_TRUE(scan.clean()) << process << ":\n" << scan.report();
        EXPECT_GT(scan.scanned_bytes(), 0u);
        std::printf("measured: %s: %zu places, %zu bytes scanned, %zu secrets found\n", process, scan.places(),
                    scan.scanned_bytes(), scan.hits().size());
    }
};

TEST_F(Secrets, VsFeedKeepsThemOutOfItsLogItsSnapshotAndItsHelp)
{
    start_failing_feed();
    ASSERT_EQ(feed_->terminate(10s), 0);
    const auto h = help(VS_FEED_BIN);
    ASSERT_EQ(h.exit_code, 0) << h.err;
    vs::test::secrets_scan scan{secrets_.values};
    scan.file("vs-feed stderr", feed_log_);
    scan.tree(feed_state_);   // market.lmdb: the FeedStatus with the URL and the reason
    scan.outbox_listing(VS_OUTBOX_BIN, feed_state_);
    scan.text("vs-feed --help", h.out + h.err);
    expect_clean(scan, "vs-feed");
    // The failure itself is there, with the key redacted.
    const auto log = vs::test::read_file(feed_log_);
    EXPECT_NE(log.find("apiKey=<redacted>"), std::string::npos) << log;
    EXPECT_NE(vs::test::read_file(feed_state_ / "market.lmdb" / "data.mdb").find("apiKey=<redacted>"),
              std::string::npos);
}

TEST_F(Secrets, VsApiKeepsThemOutOfItsAnswersMetricsLogAndHelp)
{
    start_failing_feed();
    const auto port = vs::test::free_port();
    const fs::path api_log = env_.state_dir() / "api.log";
    const fs::path api_state = env_.state_dir() / "api";
    fs::create_directories(api_state);
    child_process api{{VS_API_BIN, "--listen", "127.0.0.1:" + std::to_string(port), "--bus-prefix", env_.prefix(),
                       "--state-dir", api_state.string(), "--threads", "1", "--status-interval-ms", "100"},
                      vs::test::process_options{.out = vs::test::sink::file(api_log),
                                                .err = vs::test::sink::to_stdout(),
                                                .env = env(),
                                                .clean_env = true}};
    ASSERT_TRUE(eventually([&] { return vs::test::loopback_http(port, "GET", "/funding/health").status != 0; }, 10s))
        << vs::test::read_file(api_log);
    const std::string& key = secrets_.values[0];
    vs::test::secrets_scan scan{secrets_.values};
    for (const std::string& target : std::vector<std::string>{"/funding/health", "/metrics", "/funding/BTCUSDT?apiKey=" + key, "/nope?apiKey=" + key + "&token=" + key,
          "/funding/batch?symbols=BTCUSDT&apiKey=" + key, "/funding?apiKey=" + key, "/"}) {
        const auto r = vs::test::loopback_http(port, "GET", target);
        EXPECT_NE(r.status, 0) << target;
        scan.text("GET " + target.substr(0, target.find('?')) + " (status " + std::to_string(r.status) + ")", r.body);
    }
    EXPECT_EQ(api.terminate(10s), 0);
    const auto h = help(VS_API_BIN);
    ASSERT_EQ(h.exit_code, 0) << h.err;
    scan.file("vs-api stderr", api_log);
    scan.tree(api_state);
    scan.outbox_listing(VS_OUTBOX_BIN, api_state);
    scan.text("vs-api --help", h.out + h.err);
    expect_clean(scan, "vs-api");
}

TEST_F(Secrets, VsHealthKeepsThemOutOfItsReportAndHelp)
{
    start_failing_feed();
    vs::test::secrets_scan scan{secrets_.values};
    for (const bool json : {false, true}) {
        std::vector<std::string> argv{VS_HEALTH_BIN, "--bus-prefix", env_.prefix(), "--units", ""};
        if (json) {
            argv.push_back("--json");
        }
        const auto r = vs::test::run_with(argv, {.out = vs::test::sink::pipe(), .err = vs::test::sink::pipe(),
                                                 .env = env(), .clean_env = true});
        EXPECT_EQ(r.exit_code, 1) << r.out << r.err;   // the feed is down: unhealthy, and says why
        EXPECT_NE(r.out.find("500"), std::string::npos) << r.out;
        scan.text(json ? "vs-health --json" : "vs-health", r.out);
        scan.text("vs-health stderr", r.err);
    }
    const auto h = help(VS_HEALTH_BIN);
    ASSERT_EQ(h.exit_code, 0) << h.err;
    scan.text("vs-health --help", h.out + h.err);
    expect_clean(scan, "vs-health");
}

TEST_F(Secrets, VsOutboxKeepsThemOutOfItsListingsErrorsAndHelp)
{
    // An outbox as a careless sender could have left it: a backend body with an apiKey member
    // and a send error with a bot token and an apiKey query.
    const std::string& key = secrets_.values[0];
    const std::string& tg = secrets_.values[2];
    std::string id;
    {
        auto ob = vs::outbox::outbox::open(env_.state_dir());
        vs::outbox::alert a;
        a.kind = "user";
        a.text = "BTCUSDT crossed 100000";
        a.backend = vs::outbox::backend_call{"/api/user-alerts/trigger", R"({"apiKey":")" + key + R"(","id":7})"};
        vs::outbox::target_set t;
        t.add(vs::outbox::target::telegram);
        id = ob->enqueue(a, t);
        ob->mark_sending(vs::outbox::target::telegram, {id});
        ob->mark_failed(vs::outbox::target::telegram, id,
                        "POST http://127.0.0.1:9/bot" + tg + "/sendMessage?apiKey=" + key + ": 500", 0);
    }
    vs::test::secrets_scan scan{secrets_.values};
    scan.outbox_listing(VS_OUTBOX_BIN, env_.state_dir());
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--state-dir", env_.state_dir().string(), "show", id},
          std::vector<std::string>{"--state-dir", env_.state_dir().string(), "show", id, "--json"},
          std::vector<std::string>{"--state-dir", (env_.state_dir() / "missing").string(), "list"},
          std::vector<std::string>{"--state-dir", env_.state_dir().string(), "show", key}}) {
        std::vector<std::string> argv{VS_OUTBOX_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto r = vs::test::run_with(argv, {.out = vs::test::sink::pipe(), .err = vs::test::sink::pipe(),
                                                 .env = env(), .clean_env = true});
        scan.text("vs-outbox " + args[2], r.out);
        scan.text("vs-outbox " + args[2] + " stderr", r.err);
    }
    const auto h = help(VS_OUTBOX_BIN);
    ASSERT_EQ(h.exit_code, 0) << h.err;
    scan.text("vs-outbox --help", h.out + h.err);
    expect_clean(scan, "vs-outbox");
}

}  // namespace
