// A /dev/shm too small for a channel fails at start with a clear error (posix_fallocate),
// never with SIGBUS on first touch later. Runs the writer in a private mount namespace with a
// 1 MiB tmpfs on /dev/shm (needs root; skipped otherwise).
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "vs/bus/channel.hpp"

namespace {

TEST(ShmFullTest, TooSmallDevShmFailsAtStartWithAClearError)
{
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(pipefd[0]);
        auto report = [&](const std::string& s, int code) {
            (void)!::write(pipefd[1], s.data(), s.size());
            ::_exit(code);
        };
        if (::unshare(CLONE_NEWNS) != 0) {
            report(std::string{"unshare: "} + std::strerror(errno), 77);
        }
        if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m") != 0) {
            report(std::string{"mount: "} + std::strerror(errno), 77);
        }
        vs::bus::channel_config c;
        c.prefix = "vstest_shmfull";
        c.name = "market";
        c.ring_bytes = 8u << 20;  // far more than the 1 MiB /dev/shm holds
        try {
            vs::bus::writer w{c};
            report("writer started on a full /dev/shm", 1);
        } catch (const vs::bus::bus_error& e) {
            report(e.what(), 0);
        }
    }
    ::close(pipefd[1]);
    std::string message;
    char buf[512];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) {
        message.append(buf, static_cast<std::size_t>(n));
    }
    ::close(pipefd[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "the writer died of a signal (SIGBUS?)";
    if (WEXITSTATUS(status) == 77) {
        GTEST_SKIP() << "cannot make a private /dev/shm here: " << message;
    }
    EXPECT_EQ(WEXITSTATUS(status), 0) << message;
    EXPECT_NE(message.find("cannot reserve"), std::string::npos) << message;
    EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
    EXPECT_NE(message.find("/dev/shm"), std::string::npos) << message;
}

}  // namespace
