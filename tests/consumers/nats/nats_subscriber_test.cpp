// Issue 17: a third process subscribing to volspike.market.MarkPrice.BTCUSDT with the plain
// nats C client (tests/consumers/nats/nats_mark_subscriber.cpp) decodes the records with the
// generated FlatBuffers code: vs-replay -> vs-feed -> bus -> vs-nats -> nats-server (-js, on
// loopback, started here) -> the subscriber. BTCUSDT's mark price is pinned in vs-replay, and
// the subscriber must print it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http.hpp"
#include "process.hpp"
#include "replay_process.hpp"
#include "nats_server.hpp"
#include "test_env.hpp"

namespace {

using namespace std::chrono_literals;
using vs::test::child_process;
using vs::test::logged_to;

std::string exe(const char* var)
{
    const char* p = std::getenv(var);
    if (p == nullptr) {
        throw std::runtime_error(std::string{var} + " is not set (run through meson test)");
    }
    return p;
}

TEST(NatsSubscriberTest, APlainNatsClientDecodesBtcMarkPricesWithTheGeneratedCode)
{
    vs::test::test_env env;
    const auto log = [&](const char* name) { return env.state_dir() / name; };
    const auto port = vs::test::free_port();
    const std::string url = "nats://127.0.0.1:" + std::to_string(port);
    auto server = vs::test::start_nats_server(port, env.state_dir());
    vs::test::replay_process replay{exe("VS_REPLAY_EXE"), {"--symbols", "5", "--log-level", "warn"},
                                    logged_to(log("replay.log"))};
    ASSERT_NE(replay.port(), 0);
    // A price no random walk produces by chance: the subscriber must print this one.
    const auto pinned = vs::test::loopback_http(replay.port(), "POST", "/_control/set?symbol=BTCUSDT&price=43210.5");
    ASSERT_EQ(pinned.status, 200) << pinned.body;
    child_process feed{{exe("VS_FEED_EXE"), "--ws-url", replay.ws_url(), "--rest-url", replay.http_url(), "--bus-prefix",
                        env.prefix(), "--state-dir", (env.state_dir() / "feed").string(), "--klines", "off"},
                       logged_to(log("feed.log"))};
    child_process pub{{exe("VS_NATS_EXE"), "--nats-url", url, "--bus-prefix", env.prefix(), "--state-dir",
                       (env.state_dir() / "pub").string()},
                      logged_to(log("pub.log"))};

    // Mark prices come every second: four of them within 20 s.
    const auto r = vs::test::run_with({exe("VS_NATS_MARK_SUBSCRIBER"), url, "volspike.market.MarkPrice.BTCUSDT", "4", "20000"},
                                      {.out = vs::test::sink::pipe(), .err = vs::test::sink::pipe()}, 30s);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines{r.out};
    std::string line;
    int records = 0;
    int pinned_seen = 0;
    while (std::getline(lines, line)) {
        std::istringstream f{line};
        std::string symbol, type;
        double mark = 0, funding = 0;
        f >> symbol >> mark >> funding >> type;
        EXPECT_EQ(symbol, "BTCUSDT") << line;
        EXPECT_EQ(type, "type=1") << line;
        EXPECT_GT(mark, 0) << line;
        pinned_seen += mark == 43210.5 ? 1 : 0;
        ++records;
    }
    EXPECT_EQ(records, 4) << r.out;
    EXPECT_GE(pinned_seen, 3) << "the pinned price (a first record may predate the pin): " << r.out;
    std::printf("measured: %d BTCUSDT MarkPrice records decoded by a plain libnats subscriber:\n%s", records, r.out.c_str());
    if (HasFailure()) {
        for (const auto* name : {"nats-server.log", "feed.log", "pub.log"}) {
            std::cerr << "---- " << name << " ----\n" << vs::test::tail_of(log(name), 4000) << "\n";
        }
    }
}

}  // namespace
