#pragma once
// The Binance REST weight budget of this host's IP, shared by every process through one
// small shared-memory segment `/dev/shm/<prefix>.rest-weight` (mode 0640).
//
// Layout (all fields naturally aligned, little-endian host, written only through atomics
// after initialisation; see rest_weight.cpp for the memory-order of each access):
//
//   offset  size  field
//        0     8  magic "VSRESTW1", stored last by the creator (release) = "initialised"
//        8     4  layout version (1)
//       12     4  window length in ms (60,000; tests shorten it); fixed by the creator
//       16     8  creator's start time (epoch ms)      24  4  creator pid
//       64    16  two buckets, one per window parity: (window index << 32) | weight used
//      128     8  pause-until (epoch ms): 429 and 403/451 restrictions
//      136     8  ban-until (epoch ms): 418
//      192    48  counters: requests, weight, 429s, 418s, restrictions, waits
//
// A request reserves its weight in the bucket of the current window with a CAS loop that
// never lets the count pass the ceiling. A request reserved in the last `guard_ms` of a
// window counts against the next window too, because it may reach Binance after the
// minute turned (clock skew, latency): that keeps the server-side count under the ceiling
// in every minute. `X-MBX-USED-WEIGHT-1M` raises the shared count to the server's figure.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

namespace vs::net {

struct weight_budget_options {
    std::string prefix = "volspike";  ///< segment /dev/shm/<prefix>.rest-weight
    int ceiling = 2000;               ///< weight per window this process never passes
    int window_ms = 60'000;           ///< used only by the creator of the segment
    int guard_ms = 1'000;             ///< tail of a window that also counts against the next
};

/// Why a reservation was refused, and until when.
enum class budget_refusal { none, paused, banned, exhausted, too_heavy };

struct reservation {
    budget_refusal refusal = budget_refusal::none;
    std::int64_t retry_at_ms = 0;   ///< when refused: the earliest time worth trying again
    std::int64_t window = 0;        ///< when granted: the window index it counts in
    bool ok() const noexcept { return refusal == budget_refusal::none; }
};

struct budget_status {
    std::int64_t window = 0;
    int window_ms = 0;
    int used = 0;                   ///< in the current window
    std::int64_t pause_until_ms = 0;
    std::int64_t ban_until_ms = 0;
    std::uint64_t requests = 0, weight = 0, rate_limited = 0, banned = 0, restricted = 0, waits = 0;
    int creator_pid = 0;
};

class weight_budget {
public:
    /// Creates or attaches the segment. Throws std::runtime_error with the path and errno
    /// text when it cannot, or when an existing segment has another magic/version.
    explicit weight_budget(weight_budget_options options);
    ~weight_budget();
    weight_budget(const weight_budget&) = delete;
    weight_budget& operator=(const weight_budget&) = delete;

    /// Reserves `weight` at time `now_ms`; never blocks. Thread- and process-safe, noexcept.
    reservation try_reserve(int weight, std::int64_t now_ms) noexcept;

    /// Raises the count of `window` to the server's `used` figure (never lowers it).
    void observe_used(std::int64_t window, int used) noexcept;

    /// Every process stops sending until `until_ms` (429, restriction). Keeps the latest.
    void pause_until(std::int64_t until_ms) noexcept;
    /// Every process stops sending until `until_ms` (418). Keeps the latest.
    void ban_until(std::int64_t until_ms) noexcept;
    /// Counts a 403/451 restriction and pauses every process until `until_ms`.
    void restrict_until(std::int64_t until_ms) noexcept;

    std::int64_t window_of(std::int64_t now_ms) const noexcept;
    std::int64_t window_start_ms(std::int64_t window) const noexcept;
    int window_ms() const noexcept;
    int ceiling() const noexcept { return options_.ceiling; }
    budget_status status(std::int64_t now_ms) const noexcept;
    const std::string& path() const noexcept { return path_; }

    /// Removes the segment of `prefix` (tools and tests).
    static void remove(const std::string& prefix) noexcept;

    /// Reads the state of `prefix`'s segment read-only, without creating it (status tools,
    /// vs-health, /metrics). Nothing when it does not exist or is not a compatible segment.
    static std::optional<budget_status> peek(const std::string& prefix, std::int64_t now_ms) noexcept;

private:
    struct segment;
    bool add_to_window(std::int64_t window, int weight) noexcept;
    void take_from_window(std::int64_t window, int weight) noexcept;

    weight_budget_options options_;
    std::string path_;
    segment* seg_ = nullptr;
};

}  // namespace vs::net
