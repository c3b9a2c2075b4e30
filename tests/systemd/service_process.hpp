#pragma once
// What systemd does for a unit, for tests: start its ExecStart the way systemd does (as_unit:
// exactly the unit's environment, EnvironmentFile= semantics, and the journal as a log file,
// over the one child-process helper, tests/support/process.hpp), read an EnvironmentFile, and
// listen on a NOTIFY_SOCKET for its sd_notify messages (READY=1, WATCHDOG=1, STOPPING=1) with
// the sender's credentials.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "process.hpp"

namespace vs::test {

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

/// Options that start a process as systemd starts a unit's ExecStart: exactly `env`
/// (EnvironmentFile=; nothing of the test's own), stdout and stderr appended to `log` (the
/// journal). `watchdog_usec` > 0 sets WATCHDOG_USEC, and WATCHDOG_PID to the process's own
/// pid, as WatchdogSec= does.
inline process_options as_unit(const env_map& env, const std::filesystem::path& log, long long watchdog_usec = 0)
{
    process_options o = logged_to(log, env);
    o.clean_env = true;
    if (watchdog_usec > 0) {
        o.env["WATCHDOG_USEC"] = std::to_string(watchdog_usec);
        o.pid_env.push_back("WATCHDOG_PID");
    }
    return o;
}

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

    /// How many of the messages received so far contain the line `assignment`.
    std::size_t count(const std::string& assignment) const
    {
        std::size_t n = 0;
        for (const auto& m : messages_) {
            std::stringstream ss{m.text};
            std::string line;
            while (std::getline(ss, line)) {
                n += line == assignment ? 1 : 0;
            }
        }
        return n;
    }

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

}  // namespace vs::test
