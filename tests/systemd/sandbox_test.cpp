// The units' file-system sandbox does not cut the bus: vs-feed, vs-api and vs-health each
// run in a mount namespace of their own laid out as systemd lays out ProtectSystem=strict,
// PrivateTmp=yes, ProtectHome=yes and StateDirectory= (tests/systemd/sandbox.sh), exactly
// as three units would, and still share /dev/shm: the API serves the feed's prices, the
// health check sees the writer, and the segments outlive the writer. Needs root (mount
// namespaces); skipped otherwise.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "service_process.hpp"
#include "test_env.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string read_file(const fs::path& p)
{
    std::ifstream in{p};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// GET http://127.0.0.1:port<target>: status and body (0 and "" on failure).
std::pair<int, std::string> http_get(unsigned short port, const std::string& target)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        return {0, ""};
    }
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    std::string resp;
    char b[4096];
    ssize_t n;
    while ((n = ::recv(fd, b, sizeof b, 0)) > 0) {
        resp.append(b, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (resp.size() < 12) {
        return {0, ""};
    }
    const auto body = resp.find("\r\n\r\n");
    return {std::atoi(resp.substr(9, 3).c_str()), body == std::string::npos ? "" : resp.substr(body + 4)};
}

class SandboxTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        // The state directory must not live under /tmp: the sandbox mounts a private /tmp.
        state_ = fs::path{SANDBOX_STATE_ROOT} / ("sandbox-state-" + env_.prefix());
        fs::create_directories(state_);
        auto probe = vs::test::run_command({SANDBOX, state_.string(), "true"});
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
    auto r = vs::test::run_command(sandboxed({"/bin/sh", "-c",
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
    vs::test::service_process replay({VS_REPLAY, "--listen", "127.0.0.1:0", "--symbols", "600"}, {}, logs / "replay.log",
                                     true);
    auto line = replay.wait_for_line("vs-replay listening on ", 15s);
    ASSERT_TRUE(line) << read_file(logs / "replay.log");
    const std::string port = line->substr(line->rfind(':') + 1);

    const vs::test::env_map env{{"PATH", "/usr/bin:/bin"},
                                {"VS_BUS_PREFIX", env_.prefix()},
                                {"VS_STATE_DIR", state_.string()},
                                {"VS_LOG_LEVEL", "info"}};
    vs::test::service_process feed(
        sandboxed({VS_FEED, "--ws-url", "ws://127.0.0.1:" + port + "/market/stream"}), env, logs / "feed.log");
    vs::test::service_process api(sandboxed({VS_API, "--listen", "127.0.0.1:0"}), env, logs / "api.log");

    // vs-health in a third namespace: healthy means it saw the writer alive and 600 symbols.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    vs::test::command_output health;
    do {
        health = vs::test::run_command(sandboxed({VS_HEALTH, "--units", ""}), env);
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
    auto [status, body] = http_get(api_port, "/funding/health");
    EXPECT_EQ(status, 200) << body;
    EXPECT_NE(body.find("\"symbolCount\""), std::string::npos) << body;

    // The writer stops (systemctl stop vs-feed): its segments stay for the readers, and the
    // health check in yet another namespace sees a dead writer, not a missing channel.
    feed.signal(SIGTERM);
    ASSERT_EQ(feed.wait_exit(15s), 0) << read_file(logs / "feed.log");
    EXPECT_TRUE(fs::exists("/dev/shm/" + env_.prefix() + ".market"));
    auto after = vs::test::run_command(sandboxed({VS_HEALTH, "--units", "", "--max-heartbeat-age-s", "1"}), env);
    EXPECT_EQ(after.exit_code, 1) << after.out;
    EXPECT_NE(after.out.find("is DEAD"), std::string::npos) << after.out;
    EXPECT_EQ(http_get(api_port, "/funding/health").first / 100, 5) << "stale data must not look healthy";

    api.signal(SIGTERM);
    EXPECT_EQ(api.wait_exit(15s), 0) << read_file(logs / "api.log");
}

}  // namespace
