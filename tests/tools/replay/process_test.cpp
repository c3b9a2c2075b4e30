// The real vs-replay executable: the listening line, --port-file, SIGTERM, exit codes.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "process.hpp"
#include "replay_client.hpp"
#include "test_env.hpp"

namespace {

using namespace std::chrono_literals;

std::string binary()
{
    const char* p = std::getenv("VS_REPLAY_BIN");
    return p != nullptr ? p : "vs-replay";
}

/// vs-replay with `args`, stdout on a pipe; stderr quiet unless VS_TEST_VERBOSE is set.
vs::test::child_process replay(std::vector<std::string> args)
{
    args.insert(args.begin(), binary());
    return vs::test::child_process{
        args, {.err = std::getenv("VS_TEST_VERBOSE") != nullptr ? vs::test::sink::inherit() : vs::test::sink::null()}};
}

TEST(ReplayProcessTest, PrintsTheListeningLineServesAndStopsOnSigterm)
{
    vs::test::test_env env;
    auto port_file = env.state_dir() / "port";
    auto sut = replay({"--listen", "127.0.0.1:0", "--symbols", "40", "--port-file", port_file.string()});
    auto line = sut.read_line(10s);
    ASSERT_TRUE(line) << "no listening line";
    const std::string prefix = "vs-replay listening on 127.0.0.1:";
    ASSERT_EQ(line->rfind(prefix, 0), 0U) << *line;
    int port = std::stoi(line->substr(prefix.size()));
    ASSERT_GT(port, 0);
    std::ifstream pf(port_file);
    int from_file = 0;
    pf >> from_file;
    EXPECT_EQ(from_file, port);
    auto r = vs::test::http_request(static_cast<unsigned short>(port), "/fapi/v1/ping");
    EXPECT_EQ(r.status, 200U);
    EXPECT_EQ(r.body, "{}");
    EXPECT_EQ(r.header("X-MBX-USED-WEIGHT-1M"), "1");
    // A connected WebSocket must not hold up the stop.
    vs::test::ws_client ws;
    ASSERT_TRUE(ws.connect(static_cast<unsigned short>(port), "/market/stream?streams=!markPrice@arr@1s"));
    EXPECT_EQ(sut.terminate(5s), std::optional<int>(0));
}

TEST(ReplayProcessTest, HelpExitsZero)
{
    auto sut = replay({"--help"});
    auto line = sut.read_line(5s);
    ASSERT_TRUE(line);
    EXPECT_NE(line->find("vs-replay"), std::string::npos);
    EXPECT_EQ(sut.wait(5s), std::optional<int>(0));
}

TEST(ReplayProcessTest, BadFlagExitsTwo)
{
    auto sut = replay({"--no-such-flag"});
    EXPECT_EQ(sut.wait(5s), std::optional<int>(2));
}

TEST(ReplayProcessTest, BadListenAddressExitsTwo)
{
    auto sut = replay({"--listen", "nocolon"});
    EXPECT_EQ(sut.wait(5s), std::optional<int>(2));
}

TEST(ReplayProcessTest, MissingRecordedFileExitsOne)
{
    auto sut = replay({"--listen", "127.0.0.1:0", "--symbols", "10", "--file", "/nonexistent/rec.txt"});
    EXPECT_EQ(sut.wait(5s), std::optional<int>(1));
}

}  // namespace
