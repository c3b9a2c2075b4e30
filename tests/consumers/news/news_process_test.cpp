// vs-news as a real process: vs-replay serves the t.me/s pages, vs-deliver sends the outbox
// to the tests' own backend (a real HTTP server on loopback), shared memory and LMDB are
// real. What the backend receives is the specification: every post once, in order, after
// outages, rate limits and kill -9.
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http.hpp"
#include "process.hpp"
#include "replay_process.hpp"
#include "secrets_scan.hpp"
#include "test_env.hpp"
#include "http_test_server.hpp"

using namespace std::chrono_literals;

namespace {

std::string exe(const char* var)
{
    const char* v = std::getenv(var);
    return v != nullptr ? v : "";
}

/// The backend stand-in: /api/telegram/ingest as the real one validates it (X-API-Key, the
/// Zod shape), answering 503 while `down`. Keeps every accepted message id per channel in
/// arrival order.
class news_backend {
public:
    news_backend()
        : server_([this](const vs::test::received_request& r) { return handle(r); })
    {
    }
    std::string url() const { return server_.url(); }
    void set_down(bool d) { down_ = d; }
    std::vector<std::int64_t> ids(const std::string& channel) const
    {
        std::lock_guard g{m_};
        auto it = ids_.find(channel);
        return it == ids_.end() ? std::vector<std::int64_t>{} : it->second;
    }
    std::vector<std::string> texts(const std::string& channel) const
    {
        std::lock_guard g{m_};
        auto it = texts_.find(channel);
        return it == texts_.end() ? std::vector<std::string>{} : it->second;
    }
    std::vector<std::string> refused() const
    {
        std::lock_guard g{m_};
        return refused_;
    }
    std::size_t batches() const
    {
        std::lock_guard g{m_};
        return batches_;
    }

private:
    static vs::test::test_reply reply(int status, std::string body)
    {
        vs::test::test_reply r;
        r.status = status;
        r.body = std::move(body);
        return r;
    }

    vs::test::test_reply handle(const vs::test::received_request& r)
    {
        if (down_) {
            return reply(503, R"({"error":"down"})");
        }
        std::lock_guard g{m_};
        auto refuse = [&](std::string why) {
            refused_.push_back(why);
            return reply(400, R"({"error":"invalid"})");
        };
        if (r.target != "/api/telegram/ingest" || r.method != "POST") {
            return refuse("unexpected " + r.method + " " + r.target);
        }
        if (r.header("X-API-Key").value_or("") != "news-test-key") {
            refused_.push_back("bad key");
            return reply(401, R"({"error":"Unauthorized"})");
        }
        boost::system::error_code ec;
        auto v = boost::json::parse(r.body, ec);
        if (ec || !v.is_object()) {
            return reply(500, "{}");   // the real backend's answer to invalid JSON
        }
        const auto* ch = v.as_object().if_contains("channel");
        const auto* msgs = v.as_object().if_contains("messages");
        if (ch == nullptr || !ch->is_object() || msgs == nullptr || !msgs->is_array() ||
            !ch->as_object().contains("id") || !ch->as_object().at("id").is_int64() ||
            !ch->as_object().contains("username") || !ch->as_object().contains("title")) {
            return refuse("bad channel: " + r.body.substr(0, 200));
        }
        const std::string name{ch->as_object().at("username").as_string()};
        for (const auto& m : msgs->as_array()) {
            const auto& o = m.as_object();
            for (const char* key : {"id", "text", "date", "sender_name", "views", "forwards", "has_media", "media_type", "links"}) {
                if (!o.contains(key)) {
                    return refuse(std::string{"message without "} + key);
                }
            }
            if (!o.at("id").is_int64() || !o.at("date").is_string() || !o.at("links").is_array() ||
                !o.at("forwards").is_null()) {
                return refuse("mistyped message " + boost::json::serialize(o));
            }
        }
        ++batches_;
        for (const auto& m : msgs->as_array()) {
            ids_[name].push_back(m.as_object().at("id").as_int64());
            const auto& t = m.as_object().at("text");
            texts_[name].push_back(t.is_string() ? std::string{t.as_string()} : std::string{});
        }
        return reply(200, R"({"success":true,"inserted":1,"duplicates":0,"errors":0})");
    }

    mutable std::mutex m_;
    std::map<std::string, std::vector<std::int64_t>> ids_;
    std::map<std::string, std::vector<std::string>> texts_;
    std::vector<std::string> refused_;
    std::size_t batches_ = 0;
    std::atomic<bool> down_{false};
    vs::test::http_test_server server_;
};

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to)
{
    std::vector<std::int64_t> out;
    for (auto i = from; i <= to; ++i) {
        out.push_back(i);
    }
    return out;
}

bool each_once(const std::vector<std::int64_t>& got, const std::vector<std::int64_t>& want)
{
    std::map<std::int64_t, int> n;
    for (auto id : got) {
        ++n[id];
    }
    for (auto id : want) {
        if (n[id] != 1) {
            return false;
        }
    }
    return true;
}

class NewsProcess : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_FALSE(exe("VS_NEWS_EXE").empty());
        replay_ = std::make_unique<vs::test::replay_process>(
            exe("VS_REPLAY_EXE"),
            std::vector<std::string>{"--symbols", "10", "--news-channels", "marketfeed,watcherguru", "--news-posts", "5",
                                     "--log-level", "warn"},
            vs::test::logged_to(log_));
        ASSERT_NE(replay_->port(), 0) << vs::test::tail_of(log_);
        start_deliver();
    }

    void TearDown() override
    {
        if (HasFailure()) {
            std::cerr << "---- log ----\n" << vs::test::tail_of(log_, 12000) << "\n";
        }
        news_.reset();
        deliver_.reset();
    }

    vs::test::env_map backend_env() const
    {
        return {{"VOLSPIKE_API_URL", backend_.url()}, {"VOLSPIKE_API_KEY", "news-test-key"}};
    }

    void start_deliver()
    {
        deliver_ = std::make_unique<vs::test::child_process>(
            std::vector<std::string>{exe("VS_DELIVER_EXE"), "--state-dir", env_.state_dir().string(), "--bus-prefix",
                                     env_.prefix(), "--backoff-base-ms", "50", "--backoff-max-ms", "1000"},
            vs::test::logged_to(log_, backend_env()));
    }

    void start_news(std::vector<std::string> extra = {}, vs::test::env_map env = {})
    {
        std::vector<std::string> argv{exe("VS_NEWS_EXE"),   "--state-dir",   env_.state_dir().string(),
                                      "--bus-prefix",       env_.prefix(),   "--telegram-web-url",
                                      replay_->http_url(), "--interval-ms", "1000",
                                      "--channels",         "marketfeed,watcherguru"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        auto e = backend_env();
        e.insert(env.begin(), env.end());
        news_ = std::make_unique<vs::test::child_process>(argv, vs::test::logged_to(log_, e));
    }

    void post(const std::string& channel, int count, const std::string& text = "news")
    {
        const auto r = vs::test::loopback_http(replay_->port(), "POST",
                                               "/_control/news/post?channel=" + channel + "&count=" +
                                                   std::to_string(count) + "&text=" + vs::test::url_encode(text));
        ASSERT_EQ(r.status, 200) << r.body;
    }

    std::int64_t channel_requests(const std::string& channel)
    {
        const auto r = vs::test::loopback_http(replay_->port(), "GET", "/_control/news/stats");
        const auto v = boost::json::parse(r.body);
        return v.at("channels").at(channel).at("requests").as_int64();
    }

    bool arrived(const std::string& channel, const std::vector<std::int64_t>& want, std::chrono::milliseconds limit)
    {
        return vs::test::eventually([&] { return each_once(backend_.ids(channel), want); }, limit, 50ms);
    }

    vs::test::test_env env_;
    std::filesystem::path log_ = env_.state_dir() / "test.log";
    news_backend backend_;
    std::unique_ptr<vs::test::replay_process> replay_;
    std::unique_ptr<vs::test::child_process> deliver_;
    std::unique_ptr<vs::test::child_process> news_;
};

}  // namespace

TEST_F(NewsProcess, ThreeNewPostsReachTheBackendOnceWithinOneCycle)
{
    start_news();
    ASSERT_TRUE(arrived("marketfeed", range(1, 5), 15s));   // the first run: what the channel has
    ASSERT_TRUE(arrived("watcherguru", range(1, 5), 15s));
    post("marketfeed", 3, "Fed holds rates");
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(arrived("marketfeed", range(6, 8), 10s));
    // Within a cycle (1 s) plus delivery, with room for a loaded 2-core machine.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5000ms);
    std::this_thread::sleep_for(2500ms);   // a few more cycles: nothing again
    EXPECT_EQ(backend_.ids("marketfeed"), range(1, 8));
    EXPECT_EQ(backend_.ids("watcherguru"), range(1, 5));
    EXPECT_EQ(backend_.texts("marketfeed").back(), "Fed holds rates #3");
    EXPECT_TRUE(backend_.refused().empty()) << backend_.refused().front();
}

TEST_F(NewsProcess, ABacklogOf130PostsArrivesInOrderAcrossTwoCyclesNoneLost)
{
    start_news({"--interval-ms", "3000"});
    ASSERT_TRUE(arrived("marketfeed", range(1, 5), 15s));
    post("marketfeed", 130);
    ASSERT_TRUE(arrived("marketfeed", range(1, 135), 20s));
    EXPECT_EQ(backend_.ids("marketfeed"), range(1, 135));   // in order, each once
    const auto log = vs::test::read_file(log_);
    EXPECT_NE(log.find("@marketfeed: 100 new and 0 edited posts forwarded (last id 105), 30 left for the next cycle"),
              std::string::npos);
    EXPECT_NE(log.find("@marketfeed: 30 new and 0 edited posts forwarded (last id 135)"), std::string::npos);
}

TEST_F(NewsProcess, AnEditedPostIsSentAgainWithItsNewText)
{
    start_news();
    ASSERT_TRUE(arrived("marketfeed", range(1, 5), 15s));
    const auto r = vs::test::loopback_http(replay_->port(), "POST",
                                           "/_control/news/edit?channel=marketfeed&id=4&text=Corrected%20headline");
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(vs::test::eventually([&] { return backend_.ids("marketfeed").size() == 6; }, 10s));
    std::this_thread::sleep_for(2500ms);
    EXPECT_EQ(backend_.ids("marketfeed"), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 4}));   // once more, once
    EXPECT_EQ(backend_.texts("marketfeed").back(), "Corrected headline");
}

TEST_F(NewsProcess, KillNineBetweenFetchAndCommitAndAfterItLosesAndRepeatsNothing)
{
    start_news({}, {{"VS_NEWS_TEST_COMMIT_DELAY_MS", "3000"}});
    ASSERT_TRUE(arrived("marketfeed", range(1, 5), 20s));
    ASSERT_TRUE(arrived("watcherguru", range(1, 5), 20s));
    // Between fetch and commit: the posts were read, the process dies before committing.
    post("marketfeed", 4, "between");
    ASSERT_TRUE(vs::test::eventually(
        [&] { return vs::test::read_file(log_).find("@marketfeed: 4 posts fetched, committing in") != std::string::npos; },
        10s));
    news_->kill();
    news_.reset();
    start_news();
    ASSERT_TRUE(arrived("marketfeed", range(6, 9), 15s));
    // Right after a commit: the next start must not send them again.
    post("marketfeed", 2, "after");
    ASSERT_TRUE(vs::test::eventually(
        [&] { return vs::test::read_file(log_).find("forwarded (last id 11)") != std::string::npos; }, 15s, 5ms));
    news_->kill();
    news_.reset();
    start_news();
    post("marketfeed", 1, "later");
    ASSERT_TRUE(arrived("marketfeed", range(1, 12), 15s));
    std::this_thread::sleep_for(2500ms);
    EXPECT_EQ(backend_.ids("marketfeed"), range(1, 12));
    EXPECT_EQ(backend_.ids("watcherguru"), range(1, 5));
}

TEST_F(NewsProcess, ARateLimitedChannelWaitsAndTheOthersGoOn)
{
    start_news();
    ASSERT_TRUE(arrived("marketfeed", range(1, 5), 15s));
    ASSERT_TRUE(arrived("watcherguru", range(1, 5), 15s));
    auto r = vs::test::loopback_http(replay_->port(), "POST", "/_control/news/throttle?channel=marketfeed&seconds=15");
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(vs::test::eventually(
        [&] { return vs::test::read_file(log_).find("@marketfeed: rate limited, next request in ") != std::string::npos; },
        5s));
    const auto requests_at_429 = channel_requests("marketfeed");
    post("marketfeed", 1, "held back");
    post("watcherguru", 1, "goes on");
    ASSERT_TRUE(arrived("watcherguru", range(6, 6), 5s));
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(channel_requests("marketfeed"), requests_at_429);   // waited: no request into the limit
    EXPECT_TRUE(each_once(backend_.ids("marketfeed"), range(1, 5)));
    EXPECT_EQ(backend_.ids("marketfeed").size(), 5u);
    ASSERT_TRUE(arrived("marketfeed", range(6, 6), 25s));   // after Retry-After
}

TEST_F(NewsProcess, MissingAndDisabledChannelsAreReportedAndRetried)
{
    start_news({"--channels", "marketfeed,nobody_here", "--max-backoff-ms", "2000"});
    ASSERT_TRUE(arrived("marketfeed", range(1, 5), 15s));
    ASSERT_TRUE(vs::test::eventually(
        [&] { return vs::test::read_file(log_).find("@nobody_here: no such channel @nobody_here") != std::string::npos; },
        5s));
    auto r = vs::test::loopback_http(replay_->port(), "POST", "/_control/news/disable?channel=marketfeed");
    ASSERT_EQ(r.status, 200);
    post("marketfeed", 1, "hidden");
    ASSERT_TRUE(vs::test::eventually(
        [&] { return vs::test::read_file(log_).find("@marketfeed has no public preview") != std::string::npos; }, 5s));
    // The status says which channels fail (the log says why).
    ASSERT_TRUE(vs::test::eventually(
        [&] {
            const auto dump = vs::test::run(
                {exe("VS_BUS_DUMP_EXE"), "--bus-prefix", env_.prefix(), "--channel", "news", "--status", "--once"});
            return dump.out.find("\"failing_marketfeed\":1") != std::string::npos &&
                   dump.out.find("\"failing_nobody_here\":1") != std::string::npos &&
                   dump.out.find("\"channels_failing\":2") != std::string::npos;
        },
        5s, 300ms));
    // Back: retried, and the post made while hidden arrives.
    r = vs::test::loopback_http(replay_->port(), "POST", "/_control/news/disable?channel=marketfeed&on=0");
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(arrived("marketfeed", range(6, 6), 10s));
    // A channel created later is found by the retries too.
    post("nobody_here", 2, "now it exists");
    ASSERT_TRUE(arrived("nobody_here", range(1, 2), 10s));
}

TEST_F(NewsProcess, BackendDownForTwoMinutesThenEveryPostArrivesOnce)
{
    start_news();
    ASSERT_TRUE(arrived("marketfeed", range(1, 5), 15s));
    backend_.set_down(true);
    for (int i = 0; i < 6; ++i) {   // posts keep coming during the outage
        post("marketfeed", 3, "during the outage");
        post("watcherguru", 1, "during the outage");
        std::this_thread::sleep_for(20s);
    }
    EXPECT_EQ(backend_.ids("marketfeed").size(), 5u);
    backend_.set_down(false);
    ASSERT_TRUE(arrived("marketfeed", range(1, 23), 30s));
    ASSERT_TRUE(arrived("watcherguru", range(1, 11), 30s));
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(backend_.ids("marketfeed"), range(1, 23));
    EXPECT_EQ(backend_.ids("watcherguru"), range(1, 11));
}

TEST_F(NewsProcess, NoSecretReachesItsLogStateOrOutboxListing)
{
    // Issue 19's rule: known secrets in the environment, a backend that fails, a channel that
    // rate-limits and one that does not exist; then everything vs-news produced is grepped.
    const auto secrets = vs::test::known_secrets();
    backend_.set_down(true);
    auto r = vs::test::loopback_http(replay_->port(), "POST", "/_control/news/throttle?channel=watcherguru&seconds=30");
    ASSERT_EQ(r.status, 200);
    const auto news_log = env_.state_dir() / "news-secrets.log";
    auto env = secrets.env;
    env["VOLSPIKE_API_URL"] = backend_.url();
    news_ = std::make_unique<vs::test::child_process>(
        std::vector<std::string>{exe("VS_NEWS_EXE"), "--state-dir", env_.state_dir().string(), "--bus-prefix",
                                 env_.prefix(), "--telegram-web-url", replay_->http_url(), "--interval-ms", "500",
                                 "--channels", "marketfeed,watcherguru,nobody_here", "--log-level", "debug"},
        vs::test::logged_to(news_log, env));
    ASSERT_TRUE(vs::test::eventually(
        [&] { return vs::test::read_file(news_log).find("@marketfeed: 5 new") != std::string::npos; }, 10s));
    std::this_thread::sleep_for(2s);
    news_->terminate(5s);
    vs::test::secrets_scan scan{secrets.values};
    scan.file("vs-news stderr", news_log);
    scan.tree(env_.state_dir());
    scan.outbox_listing(exe("VS_OUTBOX_EXE"), env_.state_dir());
    scan.text("vs-news --help", vs::test::run({exe("VS_NEWS_EXE"), "--help"}, secrets.env).out);
    EXPECT_TRUE(scan.clean()) << scan.report();
    EXPECT_GT(scan.scanned_bytes(), 0u);
}
