// vs-feed's universe_refresher asking fundingInfo with exchangeInfo (issue 18), against the
// tests' own HTTP server: the table it hands out, and what a failed or garbage fundingInfo
// does to it (nothing: the last table stays, the failure is counted and retried).
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "exchange_universe.hpp"
#include "http_test_server.hpp"
#include "test_env.hpp"

namespace vs::feed {
namespace {

using namespace std::chrono_literals;
using table = std::vector<std::pair<std::string, std::uint8_t>>;

constexpr const char* exchange_info_body = R"({"timezone":"UTC","symbols":[
    {"symbol":"BTCUSDT","contractType":"PERPETUAL","quoteAsset":"USDT","status":"TRADING"},
    {"symbol":"ZROUSDT","contractType":"PERPETUAL","quoteAsset":"USDT","status":"TRADING"},
    {"symbol":"BTCUSDT_260327","contractType":"CURRENT_QUARTER","quoteAsset":"USDT","status":"TRADING"}]})";

// Binance's documented fundingInfo shape (no recorded reply in /work/shared/data/binance).
constexpr const char* funding_info_body =
    R"([{"symbol":"ZROUSDT","adjustedFundingRateCap":"0.02000000","adjustedFundingRateFloor":"-0.02000000",)"
    R"("fundingIntervalHours":4,"disclaimer":false}])";

class FundingRefresherTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        io_thread_ = std::thread([this] { io_.run(); });
    }

    void TearDown() override
    {
        sut_.reset();
        work_.reset();
        io_.stop();
        io_thread_.join();
    }

    void start()
    {
        vs::net::rest_options rest;
        rest.base_url = server_.url();
        rest.budget.prefix = env_.prefix();
        rest.max_wait = 2s;
        universe_options o;
        o.period = 60s;    // exchangeInfo once in this test
        o.retry = 150ms;   // a failed fundingInfo is asked again soon
        sut_ = std::make_unique<universe_refresher>(io_, rest, o, nullptr, nullptr);
        sut_->on_funding([this](const table& t) {
            std::lock_guard lock{mu_};
            tables_.push_back(t);
        });
        sut_->start();
    }

    std::vector<table> tables()
    {
        std::lock_guard lock{mu_};
        return tables_;
    }

    std::size_t funding_requests() const
    {
        std::size_t n = 0;
        for (const auto& r : server_.requests()) {
            n += r.target.rfind("/fapi/v1/fundingInfo", 0) == 0;
        }
        return n;
    }

    static bool eventually(const std::function<bool()>& f, std::chrono::milliseconds limit = 5s)
    {
        const auto until = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < until) {
            if (f()) {
                return true;
            }
            std::this_thread::sleep_for(10ms);
        }
        return f();
    }

    vs::test::test_env env_;
    std::atomic<int> funding_mode_{0};   // 0 ok, 1 HTTP 500, 2 garbage, 3 bad entries
    vs::test::http_test_server server_{[this](const vs::test::received_request& r) {
        vs::test::test_reply reply;
        if (r.target.rfind("/fapi/v1/exchangeInfo", 0) == 0) {
            reply.body = exchange_info_body;
        } else if (r.target.rfind("/fapi/v1/fundingInfo", 0) == 0) {
            switch (funding_mode_.load()) {
            case 0: reply.body = funding_info_body; break;
            case 1: reply.status = 500; reply.body = "oops"; break;
            case 2: reply.body = R"({"symbol":"ZROUSDT","fundingIntervalHours":)"; break;
            default:
                reply.body = R"([{"symbol":"ZROUSDT","fundingIntervalHours":0},{"symbol":"BTCUSDT","fundingIntervalHours":-4},)"
                             R"({"symbol":"NEWUSDT","fundingIntervalHours":2}])";
                break;
            }
        } else {
            reply.status = 404;
        }
        return reply;
    }};
    boost::asio::io_context io_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
        boost::asio::make_work_guard(io_)};
    std::thread io_thread_;
    std::unique_ptr<universe_refresher> sut_;
    std::mutex mu_;
    std::vector<table> tables_;
};

TEST_F(FundingRefresherTest, HandsOutEveryPerpetualWithItsIntervalAfterTheFirstRefresh)
{
    start();
    ASSERT_TRUE(eventually([&] { return !tables().empty(); }));
    // The quarterly has no funding: not in the table (0, unknown, on its records).
    EXPECT_EQ(tables().front(), (table{{"BTCUSDT", 8}, {"ZROUSDT", 4}}));
    EXPECT_EQ(sut_->counters().funding_refreshes.load(), 1u);
    EXPECT_EQ(sut_->counters().funding_failures.load(), 0u);
}

TEST_F(FundingRefresherTest, FailedOrGarbageRepliesKeepNoTableUntilOneIsUsableAndAreRetried)
{
    funding_mode_ = 1;
    start();
    ASSERT_TRUE(eventually([&] { return sut_->counters().funding_failures.load() >= 2; }));
    funding_mode_ = 2;
    const auto failures = sut_->counters().funding_failures.load();
    ASSERT_TRUE(eventually([&] { return sut_->counters().funding_failures.load() >= failures + 2; }));
    EXPECT_TRUE(tables().empty()) << "no table before a usable fundingInfo: intervals stay unknown";
    funding_mode_ = 0;
    ASSERT_TRUE(eventually([&] { return !tables().empty(); }));
    EXPECT_EQ(tables().front(), (table{{"BTCUSDT", 8}, {"ZROUSDT", 4}}));
    // Once usable, fundingInfo waits for the next exchangeInfo refresh (60 s here).
    const auto asked = funding_requests();
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(funding_requests(), asked);
}

TEST_F(FundingRefresherTest, BadEntriesAreSkippedAndCountedTheRestApplies)
{
    funding_mode_ = 3;
    start();
    ASSERT_TRUE(eventually([&] { return !tables().empty(); }));
    // ZROUSDT's 0 h and BTCUSDT's -4 h are ignored: both perpetuals get the default.
    EXPECT_EQ(tables().front(), (table{{"BTCUSDT", 8}, {"NEWUSDT", 2}, {"ZROUSDT", 8}}));
    EXPECT_EQ(sut_->counters().funding_bad_entries.load(), 2u);
    EXPECT_EQ(sut_->counters().funding_failures.load(), 0u);
}

}  // namespace
}  // namespace vs::feed
