// Issue 19, end to end with real vs-replay, vs-feed, vs-api and vs-health processes:
//   - frame and row rejections reach vs-api's /metrics and vs-health's report;
//   - a symbol whose mark price stays invalid (NaN, negative, absurd) longer than
//     --invalid-after-s is listed in the feed status and /funding/health, and vs-api answers
//     503 with the reason instead of its old price; valid values bring the 200 back;
//   - a symbol that is no longer TRADING in exchangeInfo, or absent from it, is marked
//     delisted on the bus, leaves symbolCount, and vs-api answers 404 with the reason;
//     trading again relists it.
#include <chrono>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http.hpp"
#include "process.hpp"
#include "replay_process.hpp"
#include "test_env.hpp"

namespace {

using namespace std::chrono_literals;
using vs::test::child_process;
using vs::test::eventually;
using vs::test::tail_of;

class SymbolStatusTest : public ::testing::Test {
protected:
    vs::test::test_env env_;
    std::unique_ptr<vs::test::replay_process> replay_;
    std::unique_ptr<child_process> feed_, api_;
    std::uint16_t api_port_ = 0;

    void SetUp() override
    {
        replay_ = std::make_unique<vs::test::replay_process>(
            VS_REPLAY_BIN, std::vector<std::string>{"--symbols", "40", "--log-level", "warn"},
            vs::test::process_options{.err = vs::test::sink::file(env_.state_dir() / "replay.log")}, 10s);
        ASSERT_NE(replay_->port(), 0);
        std::filesystem::create_directories(env_.state_dir() / "feed");
        feed_ = std::make_unique<child_process>(
            std::vector<std::string>{VS_FEED_BIN, "--ws-url", replay_->ws_url(), "--rest-url", replay_->http_url(),
                                     "--bus-prefix", env_.prefix(), "--state-dir",
                                     (env_.state_dir() / "feed").string(), "--invalid-after-s", "2",
                                     "--exchange-info-refresh-s", "1", "--klines", "off", "--status-interval-ms",
                                     "200"},
            vs::test::logged_to(env_.state_dir() / "feed.log"));
        api_port_ = vs::test::free_port();
        api_ = std::make_unique<child_process>(
            std::vector<std::string>{VS_API_BIN, "--listen", "127.0.0.1:" + std::to_string(api_port_),
                                     "--bus-prefix", env_.prefix(), "--state-dir",
                                     (env_.state_dir() / "api").string(), "--threads", "1"},
            vs::test::logged_to(env_.state_dir() / "api.log"));
        ASSERT_TRUE(eventually([&] { return get("/funding/BTCUSDT").status == 200; }, 15s)) << logs();
    }

    void TearDown() override
    {
        if (HasFailure()) {
            std::cerr << logs();
        }
    }

    std::string logs() const
    {
        return "---- vs-feed ----\n" + tail_of(env_.state_dir() / "feed.log") + "\n---- vs-api ----\n" +
               tail_of(env_.state_dir() / "api.log", 2000);
    }

    vs::test::http_reply get(const std::string& target) const
    {
        return vs::test::loopback_http(api_port_, "GET", target, 5s);
    }

    void control(const std::string& target) const
    {
        const auto r = vs::test::loopback_http(replay_->port(), "POST", target, 5s);
        ASSERT_EQ(r.status, 200) << target << ": " << r.body;
    }

    vs::test::command_output health(bool json) const
    {
        std::vector<std::string> argv{VS_HEALTH_BIN, "--bus-prefix", env_.prefix(), "--units", "", "--min-symbols",
                                      "1"};
        if (json) {
            argv.push_back("--json");
        }
        return vs::test::run(argv);
    }

    /// symbolCount of /funding/health; -1 when absent.
    long long symbol_count() const
    {
        std::smatch m;
        const auto body = get("/funding/health").body;
        return std::regex_search(body, m, std::regex{R"("symbolCount":(\d+))"}) ? std::stoll(m[1]) : -1;
    }
};

TEST_F(SymbolStatusTest, RejectionsReachMetricsAndHealth)
{
    control("/_control/malformed?count=6");
    std::string metrics;
    std::smatch m;
    const std::regex frames{R"(vs_process_frames_rejected_total\{process="vs-feed",channel="market"\} (\d+))"};
    const std::regex rows{R"(vs_process_rows_rejected_total\{process="vs-feed",channel="market"\} (\d+))"};
    ASSERT_TRUE(eventually([&] {
        metrics = get("/metrics").body;
        return std::regex_search(metrics, m, frames) && std::stoll(m[1]) > 0 && std::regex_search(metrics, m, rows) &&
               std::stoll(m[1]) > 0;
    }, 10s)) << metrics;

    const auto text = health(false);
    std::smatch h;
    ASSERT_TRUE(std::regex_search(text.out, h, std::regex{R"(ok    feed input: (\d+) frames and (\d+) rows rejected)"}))
        << text.out;
    EXPECT_GT(std::stoll(h[1]), 0) << text.out;
    EXPECT_GT(std::stoll(h[2]), 0) << text.out;
    const auto json = health(true);
    EXPECT_TRUE(std::regex_search(json.out, h, std::regex{R"("frames_rejected":([1-9]\d*))"})) << json.out;
    EXPECT_TRUE(std::regex_search(json.out, h, std::regex{R"("rows_rejected":([1-9]\d*))"})) << json.out;
}

TEST_F(SymbolStatusTest, ASymbolInvalidPastTheLimitIsListedAndAnswered503)
{
    ASSERT_EQ(get("/funding/ETHUSDT").status, 200);
    control("/_control/invalid?symbol=ETHUSDT&value=nan");
    control("/_control/invalid?symbol=SOLUSDT&value=absurd");
    control("/_control/invalid?symbol=BNBUSDT&value=negative");
    // Within the limit (2 s) the last good price is still served.
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(get("/funding/ETHUSDT").status, 200);
    vs::test::http_reply eth;
    ASSERT_TRUE(eventually([&] {
        eth = get("/funding/ETHUSDT");
        return eth.status == 503;
    }, 10s)) << eth.status << " " << eth.body << logs();
    EXPECT_NE(eth.body.find("\"error\":\"Invalid exchange values\""), std::string::npos) << eth.body;
    EXPECT_NE(eth.body.find("mark price is not a positive finite number"), std::string::npos) << eth.body;
    EXPECT_EQ(eth.body.find("markPrice"), std::string::npos) << "the old price is not served: " << eth.body;
    ASSERT_TRUE(eventually([&] { return get("/funding/SOLUSDT").status == 503 && get("/funding/BNBUSDT").status == 503; },
                           5s));
    EXPECT_NE(get("/funding/SOLUSDT").body.find("absurd"), std::string::npos);
    EXPECT_EQ(get("/funding/BTCUSDT").status, 200);
    // The batch and the whole table give no price for it either: it is stale.
    const auto batch = get("/funding/batch?symbols=ETHUSDT,BTCUSDT").body;
    EXPECT_EQ(batch.find("\"ETHUSDT\":{"), std::string::npos) << batch;
    EXPECT_NE(batch.find("\"BTCUSDT\":{"), std::string::npos) << batch;
    EXPECT_NE(batch.find(R"("stale":["ETHUSDT"])"), std::string::npos) << batch;
    const auto all = get("/funding").body;
    EXPECT_EQ(all.find("\"ETHUSDT\":{"), std::string::npos);
    EXPECT_NE(all.find("\"BTCUSDT\":{"), std::string::npos);

    std::string h;
    ASSERT_TRUE(eventually([&] {
        h = get("/funding/health").body;
        return h.find(R"("invalidSymbols":["BNBUSDT","ETHUSDT","SOLUSDT"])") != std::string::npos;
    }, 5s)) << h;
    EXPECT_NE(h.find(R"("invalidSymbolCount":3)"), std::string::npos) << h;
    const auto report = health(false);
    EXPECT_NE(report.out.find("3 symbols with invalid values (BNBUSDT, ETHUSDT, SOLUSDT)"), std::string::npos)
        << report.out;
    EXPECT_NE(tail_of(env_.state_dir() / "feed.log").find("ETHUSDT: invalid exchange values for"), std::string::npos);

    // Valid values again: the price is served again, the list empties.
    control("/_control/invalid?symbol=ETHUSDT&value=off");
    ASSERT_TRUE(eventually([&] { return get("/funding/ETHUSDT").status == 200; }, 5s)) << logs();
    ASSERT_TRUE(eventually([&] {
        return get("/funding/health").body.find(R"("invalidSymbols":["BNBUSDT","SOLUSDT"])") != std::string::npos;
    }, 5s)) << get("/funding/health").body;
    EXPECT_NE(tail_of(env_.state_dir() / "feed.log").find("ETHUSDT: valid exchange values again"), std::string::npos);
}

TEST_F(SymbolStatusTest, ADelistedSymbolLeavesSymbolCountAndIsAnswered404)
{
    long long before = -1;
    ASSERT_TRUE(eventually([&] { return (before = symbol_count()) >= 30; }, 10s)) << before;
    control("/_control/status?symbol=XRPUSDT&status=SETTLING");
    control("/_control/status?symbol=DOGEUSDT&status=GONE");
    vs::test::http_reply xrp;
    ASSERT_TRUE(eventually([&] {
        xrp = get("/funding/XRPUSDT");
        return xrp.status == 404;
    }, 10s)) << xrp.status << " " << xrp.body << logs();
    EXPECT_NE(xrp.body.find("\"error\":\"Symbol delisted\""), std::string::npos) << xrp.body;
    EXPECT_NE(xrp.body.find("status SETTLING in exchangeInfo"), std::string::npos) << xrp.body;
    ASSERT_TRUE(eventually([&] { return get("/funding/DOGEUSDT").status == 404; }, 5s));
    EXPECT_NE(get("/funding/DOGEUSDT").body.find("absent from exchangeInfo"), std::string::npos);
    // Still pushed by the exchange (settling), still not served.
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(get("/funding/XRPUSDT").status, 404);
    EXPECT_EQ(symbol_count(), before - 2);
    const auto batch = get("/funding/batch?symbols=XRPUSDT,BTCUSDT").body;
    EXPECT_NE(batch.find(R"("missing":["XRPUSDT"])"), std::string::npos) << batch;
    EXPECT_EQ(get("/funding").body.find("\"XRPUSDT\":{"), std::string::npos);
    const auto h = get("/funding/health").body;
    EXPECT_NE(h.find(R"("delistedSymbols":["DOGEUSDT","XRPUSDT"])"), std::string::npos) << h;
    const auto report = health(false);
    EXPECT_NE(report.out.find("2 delisted (DOGEUSDT, XRPUSDT)"), std::string::npos) << report.out;

    control("/_control/status?symbol=XRPUSDT&status=TRADING");
    ASSERT_TRUE(eventually([&] { return get("/funding/XRPUSDT").status == 200; }, 10s)) << logs();
    EXPECT_TRUE(eventually([&] { return symbol_count() == before - 1; }, 5s)) << symbol_count();
}

// Issue 18: vs-feed writes the funding interval from REST fundingInfo (else 8 h for a
// perpetual) on MarkPrice records, and vs-api's /funding shows it (the member it already had,
// present when known).
TEST_F(SymbolStatusTest, FundingShowsTheIntervalOfFundingInfo)
{
    const auto info = vs::test::loopback_http(replay_->port(), "GET", "/fapi/v1/fundingInfo", 5s);
    ASSERT_EQ(info.status, 200);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(info.body, m, std::regex{R"re("symbol":"([A-Z0-9]+)"[^}]*"fundingIntervalHours":(\d+))re"}))
        << "the replay's 40 symbols have some not at 8 h: " << info.body;
    const std::string odd = m[1];
    const std::string hours = m[2];
    ASSERT_NE(hours, "8");
    std::string odd_body, btc_body;
    EXPECT_TRUE(eventually([&] {
        odd_body = get("/funding/" + odd).body;
        btc_body = get("/funding/BTCUSDT").body;
        return odd_body.find(R"("fundingIntervalHours":)" + hours) != std::string::npos &&
               btc_body.find(R"("fundingIntervalHours":8)") != std::string::npos;
    }, 10s)) << odd_body << "\n" << btc_body << "\n" << logs();
}

}  // namespace
