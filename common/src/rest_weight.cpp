#include "vs/net/rest_weight.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace vs::net {
namespace {

constexpr std::uint64_t magic_value = 0x3157545345525356ULL;  // "VSRESTW1" little-endian
constexpr std::uint32_t layout_version = 1;

constexpr std::uint64_t pack(std::int64_t window, int used) noexcept
{
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(window)) << 32) |
           static_cast<std::uint32_t>(used);
}
constexpr std::uint32_t window_part(std::uint64_t word) noexcept { return static_cast<std::uint32_t>(word >> 32); }
constexpr int used_part(std::uint64_t word) noexcept { return static_cast<int>(static_cast<std::uint32_t>(word)); }

// Stores the maximum of the current value and `v` (a lock-free fetch_max).
void store_max(std::atomic<std::int64_t>& a, std::int64_t v) noexcept
{
    // Relaxed: the deadline is a self-contained value; no other data is published with it.
    std::int64_t cur = a.load(std::memory_order_relaxed);
    while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed, std::memory_order_relaxed)) {
    }
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

struct weight_budget::segment {
    std::atomic<std::uint64_t> magic;
    std::uint32_t version;
    std::uint32_t window_ms;
    std::int64_t created_ms;
    std::int32_t creator_pid;
    std::uint8_t pad0[36];
    std::atomic<std::uint64_t> buckets[2];
    std::uint8_t pad1[48];
    std::atomic<std::int64_t> pause_until_ms;
    std::atomic<std::int64_t> ban_until_ms;
    std::uint8_t pad2[48];
    std::atomic<std::uint64_t> requests;
    std::atomic<std::uint64_t> weight;
    std::atomic<std::uint64_t> rate_limited;
    std::atomic<std::uint64_t> banned;
    std::atomic<std::uint64_t> restricted;
    std::atomic<std::uint64_t> waits;
    std::uint8_t pad3[16];
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && alignof(std::atomic<std::uint64_t>) == 8);

weight_budget::weight_budget(weight_budget_options options) : options_(std::move(options))
{
    static_assert(offsetof(segment, buckets) == 64);
    static_assert(offsetof(segment, pause_until_ms) == 128);
    static_assert(offsetof(segment, ban_until_ms) == 136);
    static_assert(offsetof(segment, requests) == 192);
    static_assert(sizeof(segment) == 256);
    static_assert(std::is_trivially_destructible_v<segment>);
    if (options_.ceiling <= 0 || options_.window_ms < 100 || options_.guard_ms < 0 ||
        options_.guard_ms >= options_.window_ms) {
        throw std::invalid_argument(fmt::format(
            "cannot use weight budget: ceiling {} must be > 0, window {} ms >= 100, guard {} ms < window",
            options_.ceiling, options_.window_ms, options_.guard_ms));
    }
    const std::string name = "/" + options_.prefix + ".rest-weight";
    path_ = "/dev/shm" + name;
    bool created = false;
    int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd >= 0) {
        created = true;
        ::fchmod(fd, 0640);  // umask must not widen or narrow the documented mode
        if (::ftruncate(fd, sizeof(segment)) != 0) {
            auto err = errno_text();
            ::close(fd);
            ::shm_unlink(name.c_str());
            throw std::runtime_error(fmt::format("cannot size {}: {}", path_, err));
        }
    } else if (errno == EEXIST) {
        fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
        if (fd < 0) {
            throw std::runtime_error(fmt::format("cannot open {}: {}", path_, errno_text()));
        }
        // The creator sizes the segment right after creating it; wait a bounded time.
        struct stat st{};
        for (int i = 0; i < 200; ++i) {
            if (::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) >= sizeof(segment)) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds{10});
        }
        if (static_cast<std::size_t>(st.st_size) < sizeof(segment)) {
            ::close(fd);
            throw std::runtime_error(fmt::format(
                "cannot attach {}: size {} is smaller than {} (remove it if no process uses it)", path_,
                st.st_size, sizeof(segment)));
        }
    } else {
        throw std::runtime_error(fmt::format("cannot create {}: {}", path_, errno_text()));
    }
    void* p = ::mmap(nullptr, sizeof(segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    auto map_err = errno_text();
    ::close(fd);
    if (p == MAP_FAILED) {
        throw std::runtime_error(fmt::format("cannot map {}: {}", path_, map_err));
    }
    seg_ = static_cast<segment*>(p);
    if (created) {
        // The segment is zero-filled by ftruncate: every atomic starts at 0.
        seg_->version = layout_version;
        seg_->window_ms = static_cast<std::uint32_t>(options_.window_ms);
        seg_->created_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
        seg_->creator_pid = static_cast<std::int32_t>(::getpid());
        // Sync point: release publishes version/window_ms/created_ms/creator_pid to the
        // acquire load of `magic` below in attaching processes.
        seg_->magic.store(magic_value, std::memory_order_release);
        return;
    }
    std::uint64_t m = 0;
    for (int i = 0; i < 200; ++i) {
        // Acquire pairs with the creator's release store above: after it, the plain fields are set.
        m = seg_->magic.load(std::memory_order_acquire);
        if (m != 0) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    const std::uint32_t version = seg_->version;
    if (m != magic_value || version != layout_version) {
        ::munmap(seg_, sizeof(segment));
        seg_ = nullptr;
        throw std::runtime_error(fmt::format(
            "cannot attach {}: {} (magic {:#x}, version {}; expected version {}); remove it when no process uses it",
            path_, m == 0 ? "never initialised (its creator died?)" : "incompatible layout", m,
            version, layout_version));
    }
    if (seg_->window_ms != static_cast<std::uint32_t>(options_.window_ms)) {
        spdlog::warn("{}: window of {} ms set by its creator (pid {}) wins over the {} ms asked for", path_,
                     seg_->window_ms, seg_->creator_pid, options_.window_ms);
    }
}

weight_budget::~weight_budget()
{
    if (seg_ != nullptr) {
        ::munmap(seg_, sizeof(segment));
    }
}

void weight_budget::remove(const std::string& prefix) noexcept
{
    const std::string name = "/" + prefix + ".rest-weight";
    ::shm_unlink(name.c_str());
}

int weight_budget::window_ms() const noexcept { return static_cast<int>(seg_->window_ms); }

std::int64_t weight_budget::window_of(std::int64_t now_ms) const noexcept { return now_ms / window_ms(); }

std::int64_t weight_budget::window_start_ms(std::int64_t window) const noexcept { return window * window_ms(); }

bool weight_budget::add_to_window(std::int64_t window, int weight) noexcept
{
    auto& bucket = seg_->buckets[window & 1];
    const auto w32 = static_cast<std::uint32_t>(window);
    // Relaxed everywhere: the bucket word is the whole shared state of a window (window
    // index and count in one CAS); no other memory is published or consumed with it.
    std::uint64_t old = bucket.load(std::memory_order_relaxed);
    for (;;) {
        int used = 0;
        const auto ow = window_part(old);
        if (ow == w32) {
            used = used_part(old);
        } else if (static_cast<std::int32_t>(ow - w32) > 0) {
            return false;  // the bucket already serves a later window (a clock behind ours)
        }
        if (used + weight > options_.ceiling) {
            return false;
        }
        if (bucket.compare_exchange_weak(old, pack(window, used + weight), std::memory_order_relaxed,
                                         std::memory_order_relaxed)) {
            return true;
        }
    }
}

void weight_budget::take_from_window(std::int64_t window, int weight) noexcept
{
    auto& bucket = seg_->buckets[window & 1];
    // Relaxed: as in add_to_window, the word is self-contained.
    std::uint64_t old = bucket.load(std::memory_order_relaxed);
    while (window_part(old) == static_cast<std::uint32_t>(window)) {
        int used = used_part(old) >= weight ? used_part(old) - weight : 0;
        if (bucket.compare_exchange_weak(old, pack(window, used), std::memory_order_relaxed,
                                         std::memory_order_relaxed)) {
            return;
        }
    }
}

reservation weight_budget::try_reserve(int weight, std::int64_t now_ms) noexcept
{
    reservation r;
    if (weight > options_.ceiling) {
        r.refusal = budget_refusal::too_heavy;
        return r;
    }
    // Relaxed loads of the deadlines: each is a single self-contained value; a process that
    // reads a stale 0 right after another stored a pause sends at most the request it was
    // about to send anyway (it could have been in flight a microsecond earlier).
    const std::int64_t ban = seg_->ban_until_ms.load(std::memory_order_relaxed);
    if (now_ms < ban) {
        r.refusal = budget_refusal::banned;
        r.retry_at_ms = ban;
        seg_->waits.fetch_add(1, std::memory_order_relaxed);  // statistics only
        return r;
    }
    const std::int64_t pause = seg_->pause_until_ms.load(std::memory_order_relaxed);
    if (now_ms < pause) {
        r.refusal = budget_refusal::paused;
        r.retry_at_ms = pause;
        seg_->waits.fetch_add(1, std::memory_order_relaxed);  // statistics only
        return r;
    }
    const std::int64_t w = window_of(now_ms);
    const std::int64_t next_start = window_start_ms(w + 1);
    const bool in_guard = now_ms >= next_start - options_.guard_ms;
    if (!add_to_window(w, weight)) {
        r.refusal = budget_refusal::exhausted;
        r.retry_at_ms = next_start;
        seg_->waits.fetch_add(1, std::memory_order_relaxed);  // statistics only
        return r;
    }
    if (in_guard && !add_to_window(w + 1, weight)) {
        take_from_window(w, weight);
        r.refusal = budget_refusal::exhausted;
        r.retry_at_ms = window_start_ms(w + 2);
        seg_->waits.fetch_add(1, std::memory_order_relaxed);  // statistics only
        return r;
    }
    // Statistics only: relaxed.
    seg_->requests.fetch_add(1, std::memory_order_relaxed);
    seg_->weight.fetch_add(static_cast<std::uint64_t>(weight), std::memory_order_relaxed);
    r.window = w;
    return r;
}

void weight_budget::observe_used(std::int64_t window, int used) noexcept
{
    auto& bucket = seg_->buckets[window & 1];
    const auto w32 = static_cast<std::uint32_t>(window);
    // Relaxed: the word is self-contained (see add_to_window).
    std::uint64_t old = bucket.load(std::memory_order_relaxed);
    for (;;) {
        const auto ow = window_part(old);
        if (ow != w32 && static_cast<std::int32_t>(ow - w32) > 0) {
            return;  // a later window already owns the bucket
        }
        const int cur = ow == w32 ? used_part(old) : 0;
        if (used <= cur) {
            return;
        }
        if (bucket.compare_exchange_weak(old, pack(window, used), std::memory_order_relaxed,
                                         std::memory_order_relaxed)) {
            return;
        }
    }
}

void weight_budget::pause_until(std::int64_t until_ms) noexcept
{
    store_max(seg_->pause_until_ms, until_ms);
    seg_->rate_limited.fetch_add(1, std::memory_order_relaxed);  // statistics only
}

void weight_budget::ban_until(std::int64_t until_ms) noexcept
{
    store_max(seg_->ban_until_ms, until_ms);
    seg_->banned.fetch_add(1, std::memory_order_relaxed);  // statistics only
}

void weight_budget::restrict_until(std::int64_t until_ms) noexcept
{
    store_max(seg_->pause_until_ms, until_ms);
    seg_->restricted.fetch_add(1, std::memory_order_relaxed);  // statistics only
}

std::optional<budget_status> weight_budget::peek(const std::string& prefix, std::int64_t now_ms) noexcept
{
    const std::string name = "/" + prefix + ".rest-weight";
    int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        return std::nullopt;
    }
    struct stat st{};
    if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < sizeof(segment)) {
        ::close(fd);
        return std::nullopt;
    }
    void* p = ::mmap(nullptr, sizeof(segment), PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) {
        return std::nullopt;
    }
    const auto* seg = static_cast<const segment*>(p);
    std::optional<budget_status> out;
    // Acquire pairs with the creator's release store of `magic`: the header fields are set.
    if (seg->magic.load(std::memory_order_acquire) == magic_value && seg->version == layout_version &&
        seg->window_ms >= 100) {
        budget_status s;
        // Relaxed loads: a best-effort snapshot for tools, as in status().
        s.window_ms = static_cast<int>(seg->window_ms);
        s.window = now_ms / s.window_ms;
        const std::uint64_t word = seg->buckets[s.window & 1].load(std::memory_order_relaxed);
        s.used = window_part(word) == static_cast<std::uint32_t>(s.window) ? used_part(word) : 0;
        s.pause_until_ms = seg->pause_until_ms.load(std::memory_order_relaxed);
        s.ban_until_ms = seg->ban_until_ms.load(std::memory_order_relaxed);
        s.requests = seg->requests.load(std::memory_order_relaxed);
        s.weight = seg->weight.load(std::memory_order_relaxed);
        s.rate_limited = seg->rate_limited.load(std::memory_order_relaxed);
        s.banned = seg->banned.load(std::memory_order_relaxed);
        s.restricted = seg->restricted.load(std::memory_order_relaxed);
        s.waits = seg->waits.load(std::memory_order_relaxed);
        s.creator_pid = seg->creator_pid;
        out = s;
    }
    ::munmap(p, sizeof(segment));
    return out;
}

budget_status weight_budget::status(std::int64_t now_ms) const noexcept
{
    // Relaxed loads throughout: a status is a best-effort snapshot for tools and logs.
    budget_status s;
    s.window_ms = window_ms();
    s.window = window_of(now_ms);
    const std::uint64_t word = seg_->buckets[s.window & 1].load(std::memory_order_relaxed);
    s.used = window_part(word) == static_cast<std::uint32_t>(s.window) ? used_part(word) : 0;
    s.pause_until_ms = seg_->pause_until_ms.load(std::memory_order_relaxed);
    s.ban_until_ms = seg_->ban_until_ms.load(std::memory_order_relaxed);
    s.requests = seg_->requests.load(std::memory_order_relaxed);
    s.weight = seg_->weight.load(std::memory_order_relaxed);
    s.rate_limited = seg_->rate_limited.load(std::memory_order_relaxed);
    s.banned = seg_->banned.load(std::memory_order_relaxed);
    s.restricted = seg_->restricted.load(std::memory_order_relaxed);
    s.waits = seg_->waits.load(std::memory_order_relaxed);
    s.creator_pid = seg_->creator_pid;
    return s;
}

}  // namespace vs::net
