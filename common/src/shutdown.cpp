#include "vs/common/shutdown.hpp"

#include <atomic>
#include <csignal>
#include <ctime>

namespace vs::shutdown {
namespace {

// Written from a signal handler: lock-free atomics are async-signal-safe.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);
// CLOCK_MONOTONIC ns of the first stop request (clock_gettime is async-signal-safe).
std::atomic<std::int64_t> g_requested_at{0};
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

void note_request_time() noexcept
{
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    std::int64_t expected = 0;
    g_requested_at.compare_exchange_strong(expected, static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec,
                                           std::memory_order_relaxed);
}

extern "C" void on_stop_signal(int sig)
{
    note_request_time();
    // Release pairs with the acquire load in requested(): the request time is published too.
    g_signal.store(sig, std::memory_order_release);
}

}  // namespace

void install_handlers()
{
    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    struct sigaction ign{};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    ::sigaction(SIGPIPE, &ign, nullptr);
}

bool requested() noexcept { return g_signal.load(std::memory_order_acquire) != 0; }

int signal_number() noexcept { return g_signal.load(std::memory_order_acquire); }

std::int64_t requested_at_ns() noexcept
{
    return requested() ? g_requested_at.load(std::memory_order_relaxed) : 0;
}

void request() noexcept
{
    note_request_time();
    int expected = 0;
    g_signal.compare_exchange_strong(expected, SIGTERM, std::memory_order_release,
                                     std::memory_order_relaxed);
}

bool wait_for(std::chrono::nanoseconds d) noexcept
{
    constexpr auto step = std::chrono::milliseconds{20};
    while (d.count() > 0) {
        if (requested()) {
            return true;
        }
        auto chunk = d < step ? d : std::chrono::nanoseconds{step};
        timespec ts{static_cast<time_t>(chunk.count() / 1'000'000'000),
                    static_cast<long>(chunk.count() % 1'000'000'000)};
        ::nanosleep(&ts, nullptr);
        d -= chunk;
    }
    return requested();
}

}  // namespace vs::shutdown
