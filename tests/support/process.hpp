#pragma once
// Child processes for integration tests: spawn with stdout on a pipe, read lines with a
// deadline, signal, and reap with a timeout. Destruction kills (SIGKILL) and reaps.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace vs::test {

class child_process {
public:
    explicit child_process(const std::vector<std::string>& argv, bool capture_stdout = true)
    {
        int fds[2] = {-1, -1};
        if (capture_stdout && ::pipe2(fds, O_CLOEXEC) != 0) {
            return;
        }
        pid_ = ::fork();
        if (pid_ == 0) {
            if (capture_stdout) {
                ::dup2(fds[1], STDOUT_FILENO);
            }
            std::vector<char*> args;
            for (const auto& a : argv) {
                args.push_back(const_cast<char*>(a.c_str()));
            }
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        if (capture_stdout) {
            ::close(fds[1]);
            out_ = fds[0];
        }
    }
    ~child_process()
    {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            ::waitpid(pid_, &st, 0);
        }
        if (out_ >= 0) {
            ::close(out_);
        }
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const noexcept { return pid_; }
    bool started() const noexcept { return pid_ > 0; }

    /// The next stdout line, or nullopt when the deadline passes or the pipe closes.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || out_ < 0) {
                return std::nullopt;
            }
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                continue;
            }
            char buf[4096];
            ssize_t n = ::read(out_, buf, sizeof buf);
            if (n <= 0) {
                return std::nullopt;
            }
            buffer_.append(buf, static_cast<std::size_t>(n));
        }
    }

    /// Reads lines until one starts with `prefix`.
    std::optional<std::string> wait_for_line(const std::string& prefix, std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return std::nullopt;
            }
            auto line = read_line(left);
            if (!line) {
                return std::nullopt;
            }
            if (line->rfind(prefix, 0) == 0) {
                return line;
            }
        }
    }

    void signal(int sig) const noexcept
    {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, sig);
        }
    }

    /// Exit status (WEXITSTATUS, or 128+signal) once it ends within `timeout`; nullopt if not.
    std::optional<int> wait(std::chrono::milliseconds timeout)
    {
        if (reaped_) {
            return status_;
        }
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int st = 0;
            pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                reaped_ = true;
                status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                return status_;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds{2});
        }
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    bool reaped_ = false;
    int status_ = -1;
    std::string buffer_;
};

}  // namespace vs::test
