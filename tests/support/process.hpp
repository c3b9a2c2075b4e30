#pragma once
// Child processes for tests, the one helper every test uses:
//   - spawn with an argv (argv[0] a path, or a name looked up in PATH) and an environment:
//     the test's own plus `env`, or exactly `env` (clean_env: systemd's EnvironmentFile=,
//     `env -i`); `pid_env` names variables set to the child's own pid (WATCHDOG_PID);
//   - stdout and stderr each to a pipe (read by line with a deadline), a file, /dev/null,
//     this process's own, or stderr to wherever stdout goes (2>&1);
//   - signal, reap with a timeout (exit code, or 128 + signal), SIGTERM-and-wait, SIGKILL;
//   - destruction kills (SIGKILL) and reaps whatever still runs.
// run() is the one-shot form: run to the end (bounded), stdout and stderr captured.
// child_process::fork(fn) runs a function in a forked copy of the test instead of an exec.
// Everything the child needs is prepared before fork(): tests are multi-threaded (bus
// writers, HTTP servers), so the child only calls async-signal-safe functions before exec.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace vs::test {

using env_map = std::map<std::string, std::string>;

/// Where a child's stdout or stderr goes.
struct sink {
    enum class kind { inherit, pipe, file, null, to_stdout };
    kind where = kind::inherit;
    std::filesystem::path path{};   ///< kind::file: created if missing
    bool append = true;           ///< kind::file: append (several children may share a log)

    static sink inherit() { return {}; }
    static sink pipe() { return {kind::pipe, {}, true}; }
    static sink file(std::filesystem::path p, bool append = true) { return {kind::file, std::move(p), append}; }
    static sink null() { return {kind::null, {}, true}; }
    /// stderr only: to wherever stdout goes (2>&1).
    static sink to_stdout() { return {kind::to_stdout, {}, true}; }
};

struct process_options {
    sink out = sink::pipe();
    sink err = sink::inherit();
    env_map env{};                      ///< set in the child, over the test's environment...
    bool clean_env = false;             ///< ...or as the whole environment
    std::vector<std::string> pid_env{};   ///< variables set to the child's own pid (WATCHDOG_PID)
};

/// Options for a daemon under test: stdout and stderr appended to `log`, the test's
/// environment plus `env`.
inline process_options logged_to(const std::filesystem::path& log, env_map env = {})
{
    return {.out = sink::file(log), .err = sink::to_stdout(), .env = std::move(env)};
}

/// The two output streams of a child.
enum class stream { out, err };

/// A file's whole text ("" when it cannot be read).
inline std::string read_file(const std::filesystem::path& p)
{
    std::ifstream in{p};
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// The last `max_bytes` of a file (a child's log in a failure message).
inline std::string tail_of(const std::filesystem::path& p, std::size_t max_bytes = 6000)
{
    const auto s = read_file(p);
    return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

class child_process {
public:
    /// Runs argv[0] (a path, or a name looked up in PATH) with `opts`.
    explicit child_process(std::vector<std::string> argv, process_options opts = {}) : opts_(std::move(opts))
    {
        if (argv.empty()) {
            throw std::invalid_argument("child_process: empty argv");
        }
        // Everything the child needs, prepared here.
        std::vector<std::string> env_strings = environment();
        std::vector<std::size_t> pid_slots;
        for (const auto& name : opts_.pid_env) {
            pid_slots.push_back(env_strings.size());
            env_strings.push_back(name + "=" + std::string(20, '\0'));
        }
        std::vector<char*> args;
        for (auto& a : argv) {
            args.push_back(a.data());
        }
        args.push_back(nullptr);
        std::vector<char*> envp;
        for (auto& e : env_strings) {
            envp.push_back(e.data());
        }
        envp.push_back(nullptr);
        start([&] {
            for (std::size_t i = 0; i < pid_slots.size(); ++i) {
                write_pid(envp[pid_slots[i]] + opts_.pid_env[i].size() + 1, ::getpid());
            }
            ::execvpe(args[0], args.data(), envp.data());
            return 127;
        });
    }

    /// Runs `fn()` in a forked copy of this process (no exec), its result the exit code:
    /// for code that needs a process of its own (a private mount namespace, a death in the
    /// middle of a transaction). What it prints goes where `opts` says (stdout: a pipe by
    /// default); an exception ends it with 125. The environment options do not apply.
    template <class Fn>
    static child_process fork(Fn fn, process_options opts = {})
    {
        child_process c;
        c.opts_ = std::move(opts);
        std::fflush(nullptr);   // nothing of this process's buffered output may reach the child's
        c.start([&] {
            int code = 125;
            try {
                code = fn();
            } catch (...) {
            }
            std::fflush(nullptr);
            return code;
        });
        return c;
    }

    ~child_process() { kill_and_close(); }
    child_process(child_process&& o) noexcept { swap(o); }
    child_process& operator=(child_process&& o) noexcept
    {
        if (this != &o) {
            kill_and_close();
            swap(o);
        }
        return *this;
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const noexcept { return pid_; }

    /// False once it has ended (and then it is reaped).
    bool running()
    {
        if (pid_ <= 0 || status_) {
            return false;
        }
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return false;
        }
        return true;
    }

    /// Sends `sig` unless it has been reaped.
    void signal(int sig)
    {
        if (pid_ > 0 && !status_) {
            ::kill(pid_, sig);
        }
    }

    /// Exit code (128 + signal when a signal ended it) once it ends within `timeout`;
    /// nullopt while it still runs.
    std::optional<int> wait(std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (running()) {
            if (std::chrono::steady_clock::now() >= deadline) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds{2});
        }
        return status_;
    }

    /// SIGTERM (systemctl stop), then wait() up to `timeout`.
    std::optional<int> terminate(std::chrono::milliseconds timeout)
    {
        signal(SIGTERM);
        return wait(timeout);
    }

    /// SIGKILL (kill -9) and reap: 137, or the status it had already ended with.
    int kill()
    {
        signal(SIGKILL);
        if (pid_ > 0 && !status_) {
            int st = 0;
            while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
            }
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        return status_.value_or(-1);
    }

    /// The next line (without '\n') of a piped stream; nullopt when `timeout` passes first
    /// or the stream ends (a last line without '\n' is still returned).
    std::optional<std::string> read_line(std::chrono::milliseconds timeout, stream s = stream::out)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto& p = pipe_of(s);
        for (;;) {
            if (const auto nl = p.buffer.find('\n'); nl != std::string::npos) {
                std::string line = p.buffer.substr(0, nl);
                p.buffer.erase(0, nl + 1);
                return line;
            }
            if (p.fd < 0) {
                if (p.buffer.empty()) {
                    return std::nullopt;
                }
                return std::exchange(p.buffer, {});
            }
            if (!pump(deadline)) {
                return std::nullopt;
            }
        }
    }

    /// Reads lines of a piped stream until one starts with `prefix`; returns it.
    std::optional<std::string> wait_for_line(std::string_view prefix, std::chrono::milliseconds timeout,
                                             stream s = stream::out)
    {
        return wait_for_line_if([&](const std::string& l) { return l.rfind(prefix, 0) == 0; }, timeout, s);
    }

    /// Reads lines of a piped stream until `pattern` is found in one (regex_search); returns it.
    std::optional<std::string> wait_for_line(const std::regex& pattern, std::chrono::milliseconds timeout,
                                             stream s = stream::out)
    {
        return wait_for_line_if([&](const std::string& l) { return std::regex_search(l, pattern); }, timeout, s);
    }

    /// Everything left on a piped stream until it ends or `timeout` passes.
    std::string read_all(std::chrono::milliseconds timeout, stream s = stream::out)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto& p = pipe_of(s);
        while (p.fd >= 0 && pump(deadline)) {
        }
        return std::exchange(p.buffer, {});
    }

    /// What the child wrote so far into the file(s) its stdout and stderr go to.
    std::string output() const
    {
        std::string text;
        if (opts_.out.where == sink::kind::file) {
            text = read_file(opts_.out.path);
        }
        if (opts_.err.where == sink::kind::file && opts_.err.path != opts_.out.path) {
            text += read_file(opts_.err.path);
        }
        return text;
    }

private:
    child_process() = default;

    /// Forks; the child takes its stdout/stderr from the options and ends with _exit(body()).
    template <class Body>
    void start(Body body)
    {
        const int child_out = open_sink(opts_.out, out_);
        const int child_err = opts_.err.where == sink::kind::to_stdout ? -1 : open_sink(opts_.err, err_);
        pid_ = ::fork();
        if (pid_ == 0) {
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            if (child_out >= 0) {
                ::dup2(child_out, STDOUT_FILENO);
            }
            if (opts_.err.where == sink::kind::to_stdout) {
                ::dup2(STDOUT_FILENO, STDERR_FILENO);
            } else if (child_err >= 0) {
                ::dup2(child_err, STDERR_FILENO);
            }
            ::_exit(body());
        }
        const int fork_errno = errno;
        for (const int fd : {child_out, child_err}) {
            if (fd >= 0) {
                ::close(fd);
            }
        }
        if (pid_ < 0) {
            close_pipes();
            throw std::runtime_error(std::string{"fork: "} + std::strerror(fork_errno));
        }
    }

    struct pipe_end {
        int fd = -1;
        std::string buffer;
    };

    std::vector<std::string> environment() const
    {
        std::vector<std::string> out;
        if (!opts_.clean_env) {
            for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
                const std::string_view kv{*e};
                if (opts_.env.count(std::string{kv.substr(0, kv.find('='))}) == 0) {
                    out.emplace_back(kv);
                }
            }
        }
        for (const auto& [k, v] : opts_.env) {
            out.push_back(k + "=" + v);
        }
        return out;
    }

    /// The descriptor the child gets for `s` (-1: keep its own); a pipe's read end goes to `p`.
    static int open_sink(const sink& s, pipe_end& p)
    {
        switch (s.where) {
        case sink::kind::inherit:
        case sink::kind::to_stdout:
            return -1;
        case sink::kind::pipe: {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) != 0) {
                throw std::runtime_error(std::string{"pipe: "} + std::strerror(errno));
            }
            p.fd = fds[0];
            return fds[1];
        }
        case sink::kind::file:
        case sink::kind::null: {
            const bool file = s.where == sink::kind::file;
            const int fd = ::open(file ? s.path.c_str() : "/dev/null",
                                  O_WRONLY | O_CLOEXEC | (file ? O_CREAT | (s.append ? O_APPEND : O_TRUNC) : 0), 0644);
            if (fd < 0) {
                throw std::runtime_error("cannot open " + s.path.string() + ": " + std::strerror(errno));
            }
            return fd;
        }
        }
        return -1;
    }

    /// Decimal pid into a slot of 20 bytes (async-signal-safe).
    static void write_pid(char* slot, pid_t pid)
    {
        char digits[20];
        int n = 0;
        auto v = static_cast<unsigned long>(pid);
        do {
            digits[n++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v != 0 && n < 19);
        for (int i = 0; i < n; ++i) {
            slot[i] = digits[n - 1 - i];
        }
        slot[n] = '\0';
    }

    pipe_end& pipe_of(stream s)
    {
        if ((s == stream::out ? opts_.out : opts_.err).where != sink::kind::pipe) {
            throw std::logic_error("child_process: that stream is not piped");
        }
        return s == stream::out ? out_ : err_;
    }

    /// Reads whatever both pipes hold (both, so that a full one never blocks the child);
    /// false when the deadline passed first or no pipe is open.
    bool pump(std::chrono::steady_clock::time_point deadline)
    {
        pollfd p[2] = {{out_.fd, POLLIN, 0}, {err_.fd, POLLIN, 0}};
        if (out_.fd < 0 && err_.fd < 0) {
            return false;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        const int r = ::poll(p, 2, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) {
            return true;
        }
        if (r <= 0) {
            return false;   // the deadline passed (or poll failed)
        }
        for (int i = 0; i < 2; ++i) {
            auto& end = i == 0 ? out_ : err_;
            if (end.fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                char buf[4096];
                const ssize_t n = ::read(end.fd, buf, sizeof buf);
                if (n > 0) {
                    end.buffer.append(buf, static_cast<std::size_t>(n));
                } else if (n == 0 || errno != EINTR) {
                    ::close(end.fd);
                    end.fd = -1;
                }
            }
        }
        return true;
    }

    template <class Match>
    std::optional<std::string> wait_for_line_if(Match match, std::chrono::milliseconds timeout, stream s)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            auto line = read_line(std::max(left, std::chrono::milliseconds{0}), s);
            if (!line) {
                return std::nullopt;
            }
            if (match(*line)) {
                return line;
            }
        }
    }

    void close_pipes()
    {
        for (auto* p : {&out_, &err_}) {
            if (p->fd >= 0) {
                ::close(p->fd);
                p->fd = -1;
            }
        }
    }

    void kill_and_close()
    {
        kill();
        close_pipes();
    }

    void swap(child_process& o) noexcept
    {
        std::swap(opts_, o.opts_);
        std::swap(pid_, o.pid_);
        std::swap(status_, o.status_);
        std::swap(out_, o.out_);
        std::swap(err_, o.err_);
    }

    process_options opts_;
    pid_t pid_ = -1;
    std::optional<int> status_;
    pipe_end out_;
    pipe_end err_;
};

/// What run() saw: the exit code (128 + signal; 137 when killed at the deadline) and both
/// streams.
struct command_output {
    int exit_code = -1;
    std::string out;   ///< stdout
    std::string err;   ///< stderr
};

/// Runs argv to its end, at most `timeout` (then SIGKILL), with `opts`: what goes to a pipe
/// (stdout, by default) is captured.
inline command_output run_with(std::vector<std::string> argv, process_options opts,
                               std::chrono::milliseconds timeout = std::chrono::seconds{60})
{
    const bool out_piped = opts.out.where == sink::kind::pipe;
    const bool err_piped = opts.err.where == sink::kind::pipe;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    child_process p{std::move(argv), std::move(opts)};
    const auto left = [&] {
        return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()),
                        std::chrono::milliseconds{0});
    };
    command_output res;
    if (out_piped) {
        res.out = p.read_all(left(), stream::out);
    }
    if (err_piped) {
        res.err = p.read_all(left(), stream::err);
    }
    const auto code = p.wait(left());
    res.exit_code = code ? *code : p.kill();
    return res;
}

/// Runs argv to its end, at most `timeout` (then SIGKILL), with the test's environment plus
/// `env`; stdout and stderr captured.
inline command_output run(std::vector<std::string> argv, const env_map& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds{60})
{
    return run_with(std::move(argv), {.out = sink::pipe(), .err = sink::pipe(), .env = env}, timeout);
}

/// Polls `pred` every `every` until it holds or `limit` passes; its last answer.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit, std::chrono::milliseconds every = std::chrono::milliseconds{20})
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(every);
    }
    return pred();
}

}  // namespace vs::test
