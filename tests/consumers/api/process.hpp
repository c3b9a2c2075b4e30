#pragma once
// Runs an executable as a child process for the vs-api tests (fork + exec, stdout/stderr to
// files), with a bounded wait.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vs::api::test {

class child_process {
public:
    child_process(std::vector<std::string> argv, std::vector<std::string> env, const std::string& out_path)
        : out_path_(out_path)
    {
        pid_ = ::fork();
        if (pid_ == 0) {
            std::FILE* f = std::fopen(out_path.c_str(), "w");
            if (f != nullptr) {
                ::dup2(::fileno(f), 1);
                ::dup2(::fileno(f), 2);
            }
            for (const auto& e : env) {
                ::putenv(const_cast<char*>(e.c_str()));
            }
            std::vector<char*> args;
            for (auto& a : argv) {
                args.push_back(a.data());
            }
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
    }
    ~child_process()
    {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    void signal(int sig) { ::kill(pid_, sig); }
    /// Exit code (or 128+signal), or -1 when still running after `timeout`.
    int wait(std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                exited_ = true;
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds{10});
        }
        return -1;
    }
    std::string output() const
    {
        std::ifstream f{out_path_};
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }

private:
    pid_t pid_ = -1;
    bool exited_ = false;
    std::string out_path_;
};

/// A port that was free a moment ago (bind to 0, read it back, close).
inline std::uint16_t free_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace vs::api::test
