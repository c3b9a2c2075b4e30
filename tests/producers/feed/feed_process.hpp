#pragma once
// Test helpers for the vs-feed integration tests: child processes (vs-replay, vs-feed), the
// replay's control API over HTTP, and typed reads of the feed's bus records.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace vs::feed::test {

/// A child process with stderr (and stdout unless piped) going to a log file.
class child {
public:
    child(const std::vector<std::string>& argv, const std::filesystem::path& log, bool pipe_stdout = false,
          const std::vector<std::pair<std::string, std::string>>& env = {})
    {
        int fds[2] = {-1, -1};
        if (pipe_stdout && ::pipe2(fds, O_CLOEXEC) != 0) {
            throw std::runtime_error("pipe failed");
        }
        const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        std::vector<char*> args;
        for (const auto& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(log_fd, 2);
            ::dup2(pipe_stdout ? fds[1] : log_fd, 1);
            for (const auto& [k, v] : env) {
                ::setenv(k.c_str(), v.c_str(), 1);
            }
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::close(log_fd);
        if (pipe_stdout) {
            ::close(fds[1]);
            out_fd_ = fds[0];
        }
    }
    ~child()
    {
        if (running()) {
            ::kill(pid_, SIGKILL);
            wait_exit(std::chrono::seconds{5});
        }
        if (out_fd_ >= 0) {
            ::close(out_fd_);
        }
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    pid_t pid() const noexcept { return pid_; }
    bool running()
    {
        if (exit_code_) {
            return false;
        }
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return false;
        }
        return true;
    }
    void signal(int sig) { ::kill(pid_, sig); }
    /// Exit code (128 + signal when killed), or nullopt after `limit`.
    std::optional<int> wait_exit(std::chrono::milliseconds limit)
    {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (running() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds{10});
        }
        return exit_code_;
    }
    /// One line of the piped stdout, or "" after `limit`.
    std::string read_line(std::chrono::milliseconds limit)
    {
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{out_fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) {
                continue;
            }
            char c = 0;
            if (::read(out_fd_, &c, 1) != 1) {
                break;
            }
            if (c == '\n') {
                return line;
            }
            line += c;
        }
        return {};
    }

private:
    pid_t pid_ = -1;
    int out_fd_ = -1;
    std::optional<int> exit_code_;
};

/// One HTTP request to 127.0.0.1:port; returns the status and body.
inline std::pair<int, std::string> http_call(unsigned short port, boost::beast::http::verb verb, const std::string& target)
{
    namespace asio = boost::asio;
    namespace http = boost::beast::http;
    asio::io_context io;
    asio::ip::tcp::socket s{io};
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    http::request<http::empty_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(s, req);
    boost::beast::flat_buffer b;
    http::response<http::string_body> res;
    http::read(s, b, res);
    return {res.result_int(), res.body()};
}

inline double json_number(const boost::json::value& v)
{
    return v.is_double() ? v.as_double() : v.is_int64() ? static_cast<double>(v.as_int64()) : static_cast<double>(v.as_uint64());
}

inline std::string tail_of(const std::filesystem::path& p, std::size_t max_bytes = 6000)
{
    std::ifstream in{p};
    std::stringstream ss;
    ss << in.rdbuf();
    const auto s = ss.str();
    return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

/// Polls `pred` every 20 ms until it holds or `limit` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return pred();
}

}  // namespace vs::feed::test
