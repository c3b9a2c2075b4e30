// A /dev/shm too small for a channel fails at start with a clear error (posix_fallocate),
// never with SIGBUS on first touch later. Runs the writer in a private mount namespace with a
// 1 MiB tmpfs on /dev/shm (needs root; skipped otherwise).
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "process.hpp"
#include "vs/bus/channel.hpp"

namespace {

TEST(ShmFullTest, TooSmallDevShmFailsAtStartWithAClearError)
{
    auto child = vs::test::child_process::fork([] {
        if (::unshare(CLONE_NEWNS) != 0) {
            std::printf("unshare: %s", std::strerror(errno));
            return 77;
        }
        if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m") != 0) {
            std::printf("mount: %s", std::strerror(errno));
            return 77;
        }
        vs::bus::channel_config c;
        c.prefix = "vstest_shmfull";
        c.name = "market";
        c.ring_bytes = 8u << 20;  // far more than the 1 MiB /dev/shm holds
        try {
            vs::bus::writer w{c};
            std::printf("writer started on a full /dev/shm");
            return 1;
        } catch (const vs::bus::bus_error& e) {
            std::printf("%s", e.what());
            return 0;
        }
    });
    const std::string message = child.read_all(std::chrono::seconds{30});
    const auto status = child.wait(std::chrono::seconds{30});
    ASSERT_TRUE(status);
    ASSERT_LT(*status, 128) << "the writer died of a signal (SIGBUS?)";
    if (*status == 77) {
        GTEST_SKIP() << "cannot make a private /dev/shm here: " << message;
    }
    EXPECT_EQ(*status, 0) << message;
    EXPECT_NE(message.find("cannot reserve"), std::string::npos) << message;
    EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
    EXPECT_NE(message.find("/dev/shm"), std::string::npos) << message;
}

}  // namespace
