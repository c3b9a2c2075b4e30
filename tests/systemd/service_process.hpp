#pragma once
// Test helpers that do what systemd does for a unit: start a process with exactly the
// given environment (EnvironmentFile= semantics), listen on a NOTIFY_SOCKET for its
// sd_notify messages (READY=1, WATCHDOG=1, STOPPING=1) with the sender's credentials, and
// stop it with SIGTERM. Also: parse an EnvironmentFile, run a command and capture stdout,
// and POST to a local HTTP server (the replay's control API).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vs::test {

using env_map = std::map<std::string, std::string>;

/// NAME=value lines as systemd's EnvironmentFile= reads them: comments (#, ;) and blank
/// lines skipped, surrounding whitespace and one pair of quotes removed.
inline env_map parse_env_file(const std::filesystem::path& path)
{
    env_map out;
    std::ifstream in{path};
    std::string line;
    while (std::getline(in, line)) {
        line.erase(0, line.find_first_not_of(" \t"));
        if (line.empty() || line[0] == '#' || line[0] == ';') {
            continue;
        }
        const auto eq = line.find('=');
        if (eq == std::string::npos) {
            continue;
        }
        std::string name = line.substr(0, eq);
        name.erase(name.find_last_not_of(" \t") + 1);
        std::string value = line.substr(eq + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        value.erase(value.find_last_not_of(" \t\r") + 1);
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        }
        out[name] = value;
    }
    return out;
}

/// A child process with its own environment, stdout+stderr appended to a log file (or
/// stdout on a pipe). Destruction kills (SIGKILL) and reaps.
class service_process {
public:
    /// `watchdog_usec` > 0 sets WATCHDOG_USEC and WATCHDOG_PID (the child's pid) as systemd
    /// does for WatchdogSec=.
    service_process(const std::vector<std::string>& argv, const env_map& env, const std::filesystem::path& log,
                    bool pipe_stdout = false, long long watchdog_usec = 0)
    {
        std::vector<std::string> env_strings;
        for (const auto& [k, v] : env) {
            env_strings.push_back(k + "=" + v);
        }
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
            if (watchdog_usec > 0) {
                env_strings.push_back("WATCHDOG_USEC=" + std::to_string(watchdog_usec));
                env_strings.push_back("WATCHDOG_PID=" + std::to_string(::getpid()));
            }
            std::vector<char*> envp;
            for (auto& e : env_strings) {
                envp.push_back(e.data());
            }
            envp.push_back(nullptr);
            ::dup2(log_fd, STDERR_FILENO);
            ::dup2(pipe_stdout ? fds[1] : log_fd, STDOUT_FILENO);
            ::execve(args[0], args.data(), envp.data());
            ::_exit(127);
        }
        ::close(log_fd);
        if (pipe_stdout) {
            ::close(fds[1]);
            out_fd_ = fds[0];
        }
    }
    ~service_process()
    {
        if (running()) {
            ::kill(pid_, SIGKILL);
            wait_exit(std::chrono::seconds{5});
        }
        if (out_fd_ >= 0) {
            ::close(out_fd_);
        }
    }
    service_process(const service_process&) = delete;
    service_process& operator=(const service_process&) = delete;

    pid_t pid() const noexcept { return pid_; }

    bool running()
    {
        if (exit_code_) {
            return false;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return false;
        }
        return true;
    }

    void signal(int sig) const noexcept
    {
        if (pid_ > 0 && !exit_code_) {
            ::kill(pid_, sig);
        }
    }

    /// Exit code (128+signal when killed), or nullopt if still running after `timeout`.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (running()) {
            if (std::chrono::steady_clock::now() >= deadline) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds{5});
        }
        return exit_code_;
    }

    /// Reads stdout (pipe_stdout) until a line starts with `prefix`.
    std::optional<std::string> wait_for_line(const std::string& prefix, std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto nl = buf_.find('\n'); nl != std::string::npos) {
                std::string line = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                if (line.rfind(prefix, 0) == 0) {
                    return line;
                }
                continue;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || out_fd_ < 0) {
                return std::nullopt;
            }
            pollfd p{out_fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                continue;
            }
            char b[4096];
            const ssize_t n = ::read(out_fd_, b, sizeof b);
            if (n <= 0) {
                return std::nullopt;
            }
            buf_.append(b, static_cast<std::size_t>(n));
        }
    }

private:
    pid_t pid_ = -1;
    int out_fd_ = -1;
    std::optional<int> exit_code_;
    std::string buf_;
};

/// systemd's side of sd_notify: a datagram socket whose path goes into NOTIFY_SOCKET. Every
/// message is kept with the pid the kernel vouches for (SCM_CREDENTIALS), which is how
/// systemd enforces NotifyAccess=main.
class notify_listener {
public:
    struct message {
        pid_t pid = 0;
        std::string text;
    };

    notify_listener()
    {
        static std::atomic<int> counter{0};
        // sun_path holds 108 bytes: a short path under /tmp, unique per process and object.
        path_ = "/tmp/vs-notify-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter.fetch_add(1, std::memory_order_relaxed)) + ".sock";
        ::unlink(path_.c_str());
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            throw std::runtime_error("cannot bind notify socket " + path_ + ": " + std::strerror(errno));
        }
        const int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    }
    ~notify_listener()
    {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        ::unlink(path_.c_str());
    }
    notify_listener(const notify_listener&) = delete;
    notify_listener& operator=(const notify_listener&) = delete;

    const std::string& path() const noexcept { return path_; }
    const std::vector<message>& received() const noexcept { return messages_; }

    /// Waits until a message contains the line `assignment` (e.g. "READY=1"); returns it.
    std::optional<message> wait_for(const std::string& assignment, std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::size_t seen = 0;
        for (;;) {
            for (; seen < messages_.size(); ++seen) {
                std::stringstream ss{messages_[seen].text};
                std::string line;
                while (std::getline(ss, line)) {
                    if (line == assignment) {
                        return messages_[seen];
                    }
                }
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return std::nullopt;
            }
            receive(left);
        }
    }

private:
    void receive(std::chrono::milliseconds timeout)
    {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
            return;
        }
        char data[4096];
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
        iovec iov{data, sizeof data};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(fd_, &m, MSG_DONTWAIT);
        if (n < 0) {
            return;
        }
        message msg;
        msg.text.assign(data, static_cast<std::size_t>(n));
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                ucred cred{};
                std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
                msg.pid = cred.pid;
            }
        }
        messages_.push_back(std::move(msg));
    }

    std::string path_;
    int fd_ = -1;
    std::vector<message> messages_;
};

struct command_output {
    int exit_code = -1;
    std::string out;   ///< stdout
    std::string err;   ///< stderr
};

/// Runs argv with the test's environment plus `extra_env`, capturing stdout and stderr.
inline command_output run_command(const std::vector<std::string>& argv, const env_map& extra_env = {},
                                  std::chrono::milliseconds timeout = std::chrono::seconds{60})
{
    command_output res;
    int out_fds[2], err_fds[2];
    if (::pipe2(out_fds, O_CLOEXEC) != 0 || ::pipe2(err_fds, O_CLOEXEC) != 0) {
        return res;
    }
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        for (const auto& [k, v] : extra_env) {
            ::setenv(k.c_str(), v.c_str(), 1);
        }
        ::dup2(out_fds[1], STDOUT_FILENO);
        ::dup2(err_fds[1], STDERR_FILENO);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(out_fds[1]);
    ::close(err_fds[1]);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd p[2] = {{out_fds[0], POLLIN, 0}, {err_fds[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
        if (::poll(p, 2, 100) <= 0) {
            continue;
        }
        for (int i = 0; i < 2; ++i) {
            if (p[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP)) != 0) {
                char b[4096];
                const ssize_t n = ::read(p[i].fd, b, sizeof b);
                if (n <= 0) {
                    ::close(p[i].fd);
                    p[i].fd = -1;
                    --open_fds;
                } else {
                    (i == 0 ? res.out : res.err).append(b, static_cast<std::size_t>(n));
                }
            }
        }
    }
    for (auto& x : p) {
        if (x.fd >= 0) {
            ::close(x.fd);
        }
    }
    if (open_fds > 0) {
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return res;
}

/// POSTs to http://127.0.0.1:port<target> and returns the HTTP status (0 on failure).
inline int http_post(unsigned short port, const std::string& target)
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
        return 0;
    }
    const std::string req = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        ::close(fd);
        return 0;
    }
    std::string resp;
    char b[1024];
    ssize_t n;
    while (resp.find("\r\n") == std::string::npos && (n = ::recv(fd, b, sizeof b, 0)) > 0) {
        resp.append(b, static_cast<std::size_t>(n));
    }
    ::close(fd);
    // "HTTP/1.1 200 OK"
    if (resp.size() < 12) {
        return 0;
    }
    return std::atoi(resp.substr(9, 3).c_str());
}

/// "%21markPrice%40arr%401s" for "!markPrice@arr@1s".
inline std::string url_encode(const std::string& s)
{
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            char b[4];
            std::snprintf(b, sizeof b, "%%%02X", c);
            out += b;
        }
    }
    return out;
}

}  // namespace vs::test
