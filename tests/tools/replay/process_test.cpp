// The real vs-replay executable: the listening line, --port-file, SIGTERM, exit codes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "replay_client.hpp"
#include "test_env.hpp"

namespace {

using namespace std::chrono_literals;

std::string binary()
{
    const char* p = std::getenv("VS_REPLAY_BIN");
    return p != nullptr ? p : "vs-replay";
}

// A child process with its stdout on a pipe.
class child {
public:
    explicit child(std::vector<std::string> args)
    {
        int fds[2];
        if (::pipe(fds) != 0) {
            return;
        }
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(fds[1], STDOUT_FILENO);
            ::close(fds[0]);
            ::close(fds[1]);
            int devnull = ::open("/dev/null", O_WRONLY);
            if (devnull >= 0 && std::getenv("VS_TEST_VERBOSE") == nullptr) {
                ::dup2(devnull, STDERR_FILENO);
            }
            std::vector<char*> argv;
            std::string bin = binary();
            argv.push_back(bin.data());
            for (auto& a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            ::execv(bin.c_str(), argv.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        out_ = fds[0];
    }
    ~child()
    {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0) {
            ::close(out_);
        }
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    /// The first stdout line within `timeout`.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout)
    {
        std::string line;
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{out_, POLLIN, 0};
            int left = static_cast<int>(
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
            if (::poll(&p, 1, std::max(left, 0)) <= 0) {
                break;
            }
            char c = 0;
            if (::read(out_, &c, 1) != 1) {
                break;
            }
            if (c == '\n') {
                return line;
            }
            line += c;
        }
        return std::nullopt;
    }

    /// The exit status within `timeout`, or nothing.
    std::optional<int> wait(std::chrono::milliseconds timeout)
    {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                exited_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(20ms);
        }
        return std::nullopt;
    }
    pid_t pid() const noexcept { return pid_; }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    bool exited_ = false;
};

TEST(ReplayProcessTest, PrintsTheListeningLineServesAndStopsOnSigterm)
{
    vs::test::test_env env;
    auto port_file = env.state_dir() / "port";
    child sut{{"--listen", "127.0.0.1:0", "--symbols", "40", "--port-file", port_file.string()}};
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
    ASSERT_EQ(::kill(sut.pid(), SIGTERM), 0);
    EXPECT_EQ(sut.wait(5s), std::optional<int>(0));
}

TEST(ReplayProcessTest, HelpExitsZero)
{
    child sut{{"--help"}};
    auto line = sut.read_line(5s);
    ASSERT_TRUE(line);
    EXPECT_NE(line->find("vs-replay"), std::string::npos);
    EXPECT_EQ(sut.wait(5s), std::optional<int>(0));
}

TEST(ReplayProcessTest, BadFlagExitsTwo)
{
    child sut{{"--no-such-flag"}};
    EXPECT_EQ(sut.wait(5s), std::optional<int>(2));
}

TEST(ReplayProcessTest, BadListenAddressExitsTwo)
{
    child sut{{"--listen", "nocolon"}};
    EXPECT_EQ(sut.wait(5s), std::optional<int>(2));
}

TEST(ReplayProcessTest, MissingRecordedFileExitsOne)
{
    child sut{{"--listen", "127.0.0.1:0", "--symbols", "10", "--file", "/nonexistent/rec.txt"}};
    EXPECT_EQ(sut.wait(5s), std::optional<int>(1));
}

}  // namespace
