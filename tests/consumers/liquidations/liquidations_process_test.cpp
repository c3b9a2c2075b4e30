// vs-liquidations as a real process: vs-replay pushes liquidations and trades, vs-feed puts
// them on the bus, vs-liquidations decides, vs-deliver sends to the tests' Telegram stand-in
// (a real HTTP server on loopback) as the alert bot. What Telegram receives is the
// specification.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http.hpp"
#include "http_test_server.hpp"
#include "process.hpp"
#include "replay_process.hpp"
#include "secrets_scan.hpp"
#include "test_env.hpp"
#include "schemas/market_data_generated.h"
#include "vs/bus/channel.hpp"
#include "vs/bus/records.hpp"
#include "vs/common/clock.hpp"

using namespace std::chrono_literals;

namespace {

std::string exe(const char* var)
{
    const char* v = std::getenv(var);
    return v != nullptr ? v : "";
}

const std::string alert_token = "777:ALERTBOT";
const std::string main_token = "111:MAINBOT";

/// Telegram's sendMessage, recording each message's text and arrival.
class telegram_standin {
public:
    telegram_standin()
        : server_([this](const vs::test::received_request& r) {
              vs::test::test_reply reply;
              boost::system::error_code ec;
              auto v = boost::json::parse(r.body, ec);
              std::lock_guard g{m_};
              if (ec || !v.is_object() || !v.as_object().contains("text")) {
                  reply.status = 400;
                  return reply;
              }
              messages_.push_back({r.target, std::string{v.as_object().at("text").as_string()}, r.at_ms});
              reply.body = R"({"ok":true,"result":{"message_id":1}})";
              return reply;
          })
    {
    }
    struct message {
        std::string target;
        std::string text;
        std::int64_t at_ms;
    };
    std::string url() const { return server_.url(); }
    std::vector<message> messages() const
    {
        std::lock_guard g{m_};
        return messages_;
    }

private:
    mutable std::mutex m_;
    std::vector<message> messages_;
    vs::test::http_test_server server_;
};

/// Liquidations a message accounts for: 1 per single alert, N per "at least N liquidations".
std::size_t liquidations_in(const std::string& text)
{
    std::size_t n = 0;
    static const std::regex burst{"🔥 LIQUIDATION ALERT: at least ([0-9]+) liquidations"};
    for (std::size_t at = text.find("🔥 LIQUIDATION ALERT"); at != std::string::npos;
         at = text.find("🔥 LIQUIDATION ALERT", at + 1)) {
        std::smatch m;
        const std::string rest = text.substr(at, 120);
        n += std::regex_search(rest, m, burst) && m.position(0) == 0 ? std::stoul(m[1]) : 1;
    }
    return n;
}

class LiquidationsProcess : public ::testing::Test {
protected:
    void SetUp() override
    {
        replay_ = std::make_unique<vs::test::replay_process>(
            exe("VS_REPLAY_EXE"), std::vector<std::string>{"--symbols", "40", "--news-posts", "0"},
            vs::test::logged_to(env_.state_dir() / "replay.log"));
        ASSERT_NE(replay_->port(), 0);
        std::filesystem::create_directories(env_.state_dir() / "feed");
        feed_ = std::make_unique<vs::test::child_process>(
            std::vector<std::string>{exe("VS_FEED_EXE"), "--ws-url", replay_->ws_url(), "--rest-url",
                                     replay_->http_url(), "--bus-prefix", env_.prefix(), "--state-dir",
                                     (env_.state_dir() / "feed").string(), "--trade-symbols", "BTCUSDT,ETHUSDT",
                                     "--klines", "off", "--log-level", "warn"},
            vs::test::logged_to(env_.state_dir() / "feed.log"));
        deliver_ = std::make_unique<vs::test::child_process>(
            std::vector<std::string>{exe("VS_DELIVER_EXE"), "--state-dir", env_.state_dir().string(), "--bus-prefix",
                                     env_.prefix(), "--backoff-base-ms", "50", "--backoff-max-ms", "1000"},
            vs::test::logged_to(env_.state_dir() / "deliver.log", chat_env()));
    }

    void TearDown() override
    {
        if (HasFailure()) {
            std::cerr << "---- vs-liquidations ----\n" << vs::test::tail_of(log_, 8000) << "\n---- vs-deliver ----\n"
                      << vs::test::tail_of(env_.state_dir() / "deliver.log", 4000) << "\n";
        }
        liq_.reset();
        deliver_.reset();
        feed_.reset();
    }

    vs::test::env_map chat_env() const
    {
        return {{"VS_TELEGRAM_API_URL", telegram_.url()},
                {"TELEGRAM_TOKEN", main_token},
                {"CHAT_ID", "-100200"},
                {"TELEGRAM_ALERT_TOKEN", alert_token}};
    }

    void start(std::vector<std::string> extra = {})
    {
        std::vector<std::string> argv{exe("VS_LIQUIDATIONS_EXE"), "--bus-prefix", env_.prefix(), "--state-dir",
                                      env_.state_dir().string(), "--liquidation-threshold-usd", "5000000",
                                      "--whale-threshold-usd", "20000000"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        liq_ = std::make_unique<vs::test::child_process>(argv, vs::test::logged_to(log_, chat_env()));
        // Ready and reading: the feed's first records are on the bus.
        ASSERT_TRUE(vs::test::eventually(
            [&] {
                const auto d = vs::test::run({exe("VS_BUS_DUMP_EXE"), "--bus-prefix", env_.prefix(), "--channel",
                                              "liquidations", "--status", "--once"});
                return d.out.find("\"ready\":true") != std::string::npos;
            },
            20s, 200ms));
        std::this_thread::sleep_for(1s);
    }

    void control(const std::string& target)
    {
        const auto r = vs::test::loopback_http(replay_->port(), "POST", target);
        ASSERT_EQ(r.status, 200) << target << ": " << r.body;
    }

    std::size_t total_liquidations() const
    {
        std::size_t n = 0;
        for (const auto& m : telegram_.messages()) {
            n += liquidations_in(m.text);
        }
        return n;
    }

    vs::test::test_env env_;
    std::filesystem::path log_ = env_.state_dir() / "liquidations.log";
    telegram_standin telegram_;
    std::unique_ptr<vs::test::replay_process> replay_;
    std::unique_ptr<vs::test::child_process> feed_, deliver_, liq_;
};

}  // namespace

TEST_F(LiquidationsProcess, ALiquidationAboveTheThresholdIsOneAlertToTheAlertBotAndOneBelowIsNone)
{
    start({"--window-ms", "1000"});
    control("/_control/liquidation?symbol=ETHUSDT&qty=1&price=3000&side=BUY");   // $3,000: below
    control("/_control/liquidation?symbol=BTCUSDT&qty=100&price=60000&side=SELL");   // $6M, a LONG
    ASSERT_TRUE(vs::test::eventually([&] { return !telegram_.messages().empty(); }, 15s));
    std::this_thread::sleep_for(3s);
    const auto msgs = telegram_.messages();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].target, "/bot" + alert_token + "/sendMessage");   // the alert bot, not the main one
    const auto& t = msgs[0].text;
    EXPECT_EQ(t.rfind("🔥 LIQUIDATION ALERT\n📍 Exchange: Binance\n📊 Symbol: BTCUSDT\n💰 Price: $60,000.00\n"
                      "📉 Side: LONG\n💵 Size: $6,000,000\n⏰ Time: ", 0),
              0u)
        << t;
    EXPECT_TRUE(std::regex_search(t, std::regex{"⏰ Time: [0-2][0-9]:[0-5][0-9]:[0-5][0-9] UTC$"})) << t;
    // A BUY order closes a SHORT; the notional is ap x z (2,000 filled of 5,000 ordered), not q.
    control("/_control/liquidation?symbol=ETHUSDT&qty=5000&filled=2000&price=3000&side=BUY");
    ASSERT_TRUE(vs::test::eventually([&] { return telegram_.messages().size() == 2; }, 15s));
    EXPECT_NE(telegram_.messages()[1].text.find("📉 Side: SHORT\n💵 Size: $6,000,000"), std::string::npos)
        << telegram_.messages()[1].text;
}

TEST_F(LiquidationsProcess, AWhaleTradeIsOneAlertWithTheTakersSide)
{
    start();
    control("/_control/trade?symbol=BTCUSDT&qty=25&price=1000000&side=BUY");   // $25M
    control("/_control/trade?symbol=BTCUSDT&qty=1&price=1000000&side=SELL");    // $1M: below
    ASSERT_TRUE(vs::test::eventually([&] { return !telegram_.messages().empty(); }, 15s));
    std::this_thread::sleep_for(2s);
    const auto msgs = telegram_.messages();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].text.rfind("🐋 WHALE TRADE ALERT\n📍 Exchange: Binance\n📊 Symbol: BTCUSDT\n"
                                 "💰 Price: $1,000,000.00\n📈 Side: BUY\n💵 Size: $25,000,000\n⏰ Time: ",
                                 0),
              0u)
        << msgs[0].text;
}

TEST_F(LiquidationsProcess, ACascadeReachesTelegramAsAFewDigestsWithEveryLiquidationCountedOnce)
{
    start();
    // 20 symbols of the replay's market.
    const auto r = vs::test::loopback_http(replay_->port(), "GET", "/fapi/v1/ticker/price");
    ASSERT_EQ(r.status, 200);
    std::vector<std::string> symbols;
    const auto rows = boost::json::parse(r.body);
    for (const auto& row : rows.as_array()) {
        const std::string s{row.at("symbol").as_string()};
        if (s.size() > 4 && s.substr(s.size() - 4) == "USDT" && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == std::string::npos &&
            symbols.size() < 20) {
            symbols.push_back(s);
        }
    }
    ASSERT_EQ(symbols.size(), 20u);
    // 300 liquidations over 30 s (10 a second), each $6M, both sides.
    const auto start_ms = std::chrono::steady_clock::now();
    for (int i = 0; i < 300; ++i) {
        control("/_control/liquidation?symbol=" + symbols[static_cast<std::size_t>(i) % 20] +
                "&qty=60000&price=100&side=" + (i % 3 == 0 ? "BUY" : "SELL"));
        std::this_thread::sleep_until(start_ms + std::chrono::milliseconds{100 * (i + 1)});
    }
    ASSERT_TRUE(vs::test::eventually([&] { return total_liquidations() >= 300; }, 150s, 500ms))
        << total_liquidations() << " of 300 counted in " << telegram_.messages().size() << " messages";
    std::this_thread::sleep_for(3s);
    const auto msgs = telegram_.messages();
    EXPECT_EQ(total_liquidations(), 300u);   // every one, once
    // Telegram's limit: at most 20 messages into one chat in any minute.
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        std::size_t in_minute = 0;
        for (std::size_t j = i; j < msgs.size() && msgs[j].at_ms - msgs[i].at_ms < 60'000; ++j) {
            ++in_minute;
        }
        EXPECT_LE(in_minute, 20u) << "from message " << i;
    }
    EXPECT_LT(msgs.size(), 60u);   // digests, not one message per alert window
    std::cout << "cascade: 300 liquidations in " << msgs.size() << " Telegram messages\n";
}

TEST_F(LiquidationsProcess, KillNineNeitherRepeatsACommittedAlertNorLosesAnOpenWindow)
{
    start({"--window-ms", "0"});
    control("/_control/liquidation?symbol=BTCUSDT&qty=100&price=60000&side=SELL");
    ASSERT_TRUE(vs::test::eventually(
        [&] { return vs::test::read_file(log_).find("BTCUSDT LONG: 1 liquidation(s)") != std::string::npos; }, 15s, 5ms));
    liq_->kill();   // right after the commit
    liq_.reset();
    // A window open across a kill -9: its liquidations were committed as state.
    start({"--window-ms", "4000"});
    control("/_control/liquidation?symbol=ETHUSDT&qty=2000&price=3000&side=SELL");
    control("/_control/liquidation?symbol=ETHUSDT&qty=3000&price=3000&side=SELL");
    std::this_thread::sleep_for(1500ms);
    liq_->kill();
    liq_.reset();
    start({"--window-ms", "4000"});
    ASSERT_TRUE(vs::test::eventually([&] { return telegram_.messages().size() >= 2; }, 20s));
    std::this_thread::sleep_for(3s);
    const auto msgs = telegram_.messages();
    ASSERT_EQ(msgs.size(), 2u);
    EXPECT_NE(msgs[0].text.find("Symbol: BTCUSDT"), std::string::npos);
    EXPECT_NE(msgs[1].text.find("at least 2 liquidations\n📍 Exchange: Binance\n📊 Symbol: ETHUSDT"), std::string::npos)
        << msgs[1].text;
    EXPECT_NE(msgs[1].text.find("$15,000,000 total"), std::string::npos) << msgs[1].text;
}

// A crash's trade burst on the whale connections: at least 5,000 aggTrade frames a second for
// 60 s. The feed keeps up (vs-liquidations is never lapped and sees every frame the replay
// sent), and mark prices, on their own connection, stay under 1.5 s old throughout.
TEST_F(LiquidationsProcess, ATradeStormNeitherLapsTheAlerterNorDelaysMarkPrices)
{
    // The whale symbols: 50 of the replay's market on the aggTrade connections.
    const auto r = vs::test::loopback_http(replay_->port(), "GET", "/fapi/v1/ticker/price");
    ASSERT_EQ(r.status, 200);
    const auto rows = boost::json::parse(r.body);
    std::string list;
    std::size_t n = 0;
    for (const auto& row : rows.as_array()) {
        const std::string s{row.at("symbol").as_string()};
        if (s.size() > 4 && s.substr(s.size() - 4) == "USDT" &&
            s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == std::string::npos && n < 30) {
            list += (n++ > 0 ? "," : "") + s;
        }
    }
    ASSERT_EQ(n, 30u);
    feed_.reset();
    feed_ = std::make_unique<vs::test::child_process>(
        std::vector<std::string>{exe("VS_FEED_EXE"), "--ws-url", replay_->ws_url(), "--rest-url", replay_->http_url(),
                                 "--bus-prefix", env_.prefix(), "--state-dir", (env_.state_dir() / "feed").string(),
                                 "--trade-symbols", list, "--klines", "off", "--log-level", "warn"},
        vs::test::logged_to(env_.state_dir() / "feed.log"));
    start({"--whale-threshold-usd", "1000000000"});   // no whale alerts: this is about throughput

    vs::bus::channel_config market;
    market.prefix = env_.prefix();
    market.name = "market";
    vs::bus::reader reader{market, {.register_reader = false, .name = "storm-test"}};
    // The restarted vs-feed restores its snapshot first; on a loaded 2-core CI host (the oi
    // weight case runs 650 symbols next to this) that took longer than 10 s once.
    ASSERT_TRUE(vs::test::eventually([&] { return reader.attach() == vs::bus::attach_state::ready; }, 30s))
        << "market channel not ready 30 s after vs-feed's restart";
    auto mark_age_ms = [&]() -> std::int64_t {
        std::int64_t recv_ns = 0;
        reader.latest(static_cast<vs::bus::record_type>(vs::schema::RecordType::MarkPrice), "BTCUSDT",
                      [&](const vs::bus::record_view& v) {
                          recv_ns = vs::bus::record_as<vs::schema::MarkPrice>(v.data)->recv_time_ns();
                      });
        return recv_ns == 0 ? 1'000'000 : (vs::realtime_ns() - recv_ns) / 1'000'000;
    };
    ASSERT_TRUE(vs::test::eventually([&] { return mark_age_ms() < 1500; }, 15s));

    control("/_control/trade_storm?rate=5000&seconds=60");
    std::int64_t worst = 0;
    const auto end = std::chrono::steady_clock::now() + 61s;
    while (std::chrono::steady_clock::now() < end) {
        worst = std::max(worst, mark_age_ms());
        std::this_thread::sleep_for(100ms);
    }
    // Quiet the aggTrade streams, then compare what was sent with what the alerter saw.
    std::string streams;
    for (std::size_t at = 0; at < list.size();) {
        auto comma = list.find(',', at);
        std::string sym = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        for (auto& c : sym) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        streams += (streams.empty() ? "" : ",") + sym + "@aggTrade";
        at = comma == std::string::npos ? list.size() : comma + 1;
    }
    control("/_control/stall?streams=" + streams + "&seconds=0");
    std::this_thread::sleep_for(3s);
    const auto stats = boost::json::parse(vs::test::loopback_http(replay_->port(), "GET", "/_control/stats").body);
    std::int64_t sent = 0;
    for (const auto& [name, count] : stats.at("frames_sent").as_object()) {
        if (name.ends_with("@aggTrade")) {
            sent += count.as_int64();
        }
    }
    const auto storm = stats.at("storm_frames").as_int64();
    const auto d = vs::test::run({exe("VS_BUS_DUMP_EXE"), "--bus-prefix", env_.prefix(), "--channel", "liquidations",
                                  "--status", "--once"});
    const auto line = d.out.substr(d.out.find("\"process\":\"vs-liquidations\""));
    const auto metric = [&](const std::string& name) {
        const auto at = line.find("\"" + name + "\":");
        return at == std::string::npos ? -1.0 : std::stod(line.substr(at + name.size() + 3));
    };
    std::cout << "trade storm: " << storm << " storm frames (" << sent << " aggTrade frames in all) in 60 s, "
              << metric("trades_seen") << " seen by vs-liquidations, worst BTCUSDT mark-price age " << worst << " ms\n";
    EXPECT_GE(storm, 5000 * 59);
    EXPECT_EQ(metric("trades_seen"), static_cast<double>(sent));   // every frame, once
    EXPECT_EQ(metric("market_laps"), 0.0);
    EXPECT_LT(worst, 1500);
}

TEST_F(LiquidationsProcess, SecondsWithoutTheLiquidationStreamAreCountedAndLogged)
{
    start();
    ::kill(feed_->pid(), SIGSTOP);   // vs-feed frozen: no heartbeat, no liquidations
    std::this_thread::sleep_for(5s);
    ::kill(feed_->pid(), SIGCONT);
    ASSERT_TRUE(vs::test::eventually(
        [&] { return vs::test::read_file(log_).find("liquidation stream back (") != std::string::npos; }, 10s));
    const auto log = vs::test::read_file(log_);
    EXPECT_NE(log.find("liquidation stream down: liquidations from now on are missed"), std::string::npos);
    const auto d = vs::test::run({exe("VS_BUS_DUMP_EXE"), "--bus-prefix", env_.prefix(), "--channel", "liquidations",
                                  "--status", "--once"});
    const auto at = d.out.find("\"liquidation_stream_down_s\":");
    ASSERT_NE(at, std::string::npos) << d.out;
    const double down = std::stod(d.out.substr(at + 28));
    EXPECT_GE(down, 2.0);
    EXPECT_LE(down, 7.0);
}

TEST_F(LiquidationsProcess, NoSecretReachesItsLogStateOrOutboxListing)
{
    const auto secrets = vs::test::known_secrets();
    auto env = secrets.env;
    env["TELEGRAM_ALERT_TOKEN"] = "999:ALERTsekritTOKEN";
    env["VS_LOG_LEVEL"] = "debug";
    const auto log = env_.state_dir() / "liq-secrets.log";
    liq_ = std::make_unique<vs::test::child_process>(
        std::vector<std::string>{exe("VS_LIQUIDATIONS_EXE"), "--bus-prefix", env_.prefix(), "--state-dir",
                                 env_.state_dir().string(), "--liquidation-threshold-usd", "5000000", "--window-ms", "0",
                                 "--startup-message", "true"},
        vs::test::logged_to(log, env));
    std::this_thread::sleep_for(2s);
    control("/_control/liquidation?symbol=BTCUSDT&qty=100&price=60000&side=SELL");
    ASSERT_TRUE(vs::test::eventually(
        [&] { return vs::test::read_file(log).find("BTCUSDT LONG: 1 liquidation(s)") != std::string::npos; }, 15s));
    liq_->terminate(5s);
    auto values = secrets.values;
    values.push_back("ALERTsekritTOKEN");
    vs::test::secrets_scan scan{values};
    scan.file("vs-liquidations stderr", log);
    scan.tree(env_.state_dir());
    scan.outbox_listing(exe("VS_OUTBOX_EXE"), env_.state_dir());
    scan.text("vs-liquidations --help", vs::test::run({exe("VS_LIQUIDATIONS_EXE"), "--help"}, env).out);
    EXPECT_TRUE(scan.clean()) << scan.report();
    EXPECT_GT(scan.scanned_bytes(), 0u);
}
