// The units' file-system sandbox does not cut the bus: vs-feed, vs-api and vs-health each
// run in a mount namespace of their own laid out as systemd lays out ProtectSystem=strict,
// PrivateTmp=yes, ProtectHome=yes and StateDirectory= (tests/systemd/sandbox.sh), exactly
// as three units would, and still share /dev/shm: the API serves the feed's prices, the
// health check sees the writer, and the segments outlive the writer. Needs root (mount
// namespaces); skipped otherwise.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "http.hpp"
#include "replay_process.hpp"
#include "service_process.hpp"
#include "test_env.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using vs::test::read_file;

class SandboxTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        // The state directory must not live under /tmp: the sandbox mounts a private /tmp.
        state_ = fs::path{SANDBOX_STATE_ROOT} / ("sandbox-state-" + env_.prefix());
        fs::create_directories(state_);
        auto probe = vs::test::run({SANDBOX, state_.string(), "true"});
        if (probe.exit_code == 77) {
            GTEST_SKIP() << "cannot create mount namespaces here (needs root): sandbox not checked";
        }
        ASSERT_EQ(probe.exit_code, 0) << probe.err;
    }
    void TearDown() override
    {
        std::error_code ec;
        fs::remove_all(state_, ec);
    }

    std::vector<std::string> sandboxed(std::vector<std::string> argv) const
    {
        argv.insert(argv.begin(), {SANDBOX, state_.string()});
        return argv;
    }

    vs::test::test_env env_;
    fs::path state_;
};

TEST_F(SandboxTest, TheSandboxIsReadOnlyExceptDevShmAndTheStateDirectory)
{
    const std::string shm_probe = "/dev/shm/" + env_.prefix() + ".probe";
    auto r = vs::test::run(sandboxed({"/bin/sh", "-c",
                                              "touch /usr/vs-sandbox-probe || echo usr-read-only; "
                                              "touch " + state_.string() + "/probe && echo state-writable; "
                                              "touch " + shm_probe + " && echo shm-writable; "
                                              "ls -A /tmp | wc -l"}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("usr-read-only"), std::string::npos) << r.out << r.err;
    EXPECT_NE(r.out.find("state-writable"), std::string::npos) << r.out << r.err;
    EXPECT_NE(r.out.find("shm-writable"), std::string::npos) << r.out << r.err;
    EXPECT_NE(r.out.find("\n0\n"), std::string::npos) << "the private /tmp must be empty: " << r.out;
    // Written inside, visible outside: the same /dev/shm as the host's.
    EXPECT_TRUE(fs::exists(shm_probe));
    EXPECT_FALSE(fs::exists("/usr/vs-sandbox-probe"));
    fs::remove(shm_probe);
}

TEST_F(SandboxTest, FeedApiAndHealthInSeparateSandboxesShareTheBus)
{
    const fs::path logs = env_.state_dir();
    vs::test::replay_process replay{VS_REPLAY, {"--symbols", "600"}, vs::test::as_unit({}, logs / "replay.log")};
    ASSERT_NE(replay.port(), 0) << read_file(logs / "replay.log");

    const vs::test::env_map env{{"PATH", "/usr/bin:/bin"},
                                {"VS_BUS_PREFIX", env_.prefix()},
                                {"VS_STATE_DIR", state_.string()},
                                {"VS_LOG_LEVEL", "info"}};
    vs::test::child_process feed{sandboxed({VS_FEED, "--ws-url", replay.ws_url()}), vs::test::as_unit(env, logs / "feed.log")};
    vs::test::child_process api{sandboxed({VS_API, "--listen", "127.0.0.1:0"}), vs::test::as_unit(env, logs / "api.log")};

    // vs-health in a third namespace: healthy means it saw the writer alive and 600 symbols.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    vs::test::command_output health;
    do {
        health = vs::test::run(sandboxed({VS_HEALTH, "--units", ""}), env);
    } while (health.exit_code != 0 && std::chrono::steady_clock::now() < deadline &&
             (std::this_thread::sleep_for(200ms), true));
    ASSERT_EQ(health.exit_code, 0) << health.out << health.err << read_file(logs / "feed.log");
    EXPECT_NE(health.out.find("channel market: writer pid " + std::to_string(feed.pid()) + " alive"),
              std::string::npos)
        << health.out;

    // vs-api, in its own namespace, serves the feed's prices.
    std::smatch m;
    std::string api_log;
    for (auto until = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < until;
         std::this_thread::sleep_for(50ms)) {
        api_log = read_file(logs / "api.log");
        if (std::regex_search(api_log, m, std::regex{"listening on 127\\.0\\.0\\.1:([0-9]+)"})) {
            break;
        }
    }
    ASSERT_FALSE(m.empty()) << api_log;
    const auto api_port = static_cast<unsigned short>(std::stoi(m[1].str()));
    auto [status, body] = vs::test::loopback_http(api_port, "GET", "/funding/health");
    EXPECT_EQ(status, 200) << body;
    EXPECT_NE(body.find("\"symbolCount\""), std::string::npos) << body;

    // The writer stops (systemctl stop vs-feed): its segments stay for the readers, and the
    // health check in yet another namespace sees a dead writer, not a missing channel.
    ASSERT_EQ(feed.terminate(15s), 0) << read_file(logs / "feed.log");
    EXPECT_TRUE(fs::exists("/dev/shm/" + env_.prefix() + ".market"));
    auto after = vs::test::run(sandboxed({VS_HEALTH, "--units", "", "--max-heartbeat-age-s", "1"}), env);
    EXPECT_EQ(after.exit_code, 1) << after.out;
    EXPECT_NE(after.out.find("is DEAD"), std::string::npos) << after.out;
    EXPECT_EQ(vs::test::loopback_http(api_port, "GET", "/funding/health").status / 100, 5)
        << "stale data must not look healthy";

    EXPECT_EQ(api.terminate(15s), 0) << read_file(logs / "api.log");
}

}  // namespace
