#pragma once
// A bus channel: one shared-memory segment /dev/shm/<prefix>.<channel> with exactly one
// writer and any number of readers. It holds a ring of frames (every record in publish
// order) and a latest-value table (the newest record per record type and symbol).
//
// Threads: a `writer` belongs to one thread (all of its methods, including heartbeat());
// a `reader` belongs to one thread. Many readers, in many processes, read concurrently.
// Errors: constructors and setup calls throw vs::bus::bus_error with a message that names
// the segment and the cause; hot-path calls are noexcept and return a status.
// The layout, memory orders and the lapping/validation protocol are described in
// vs/bus/layout.hpp.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vs/common/function_ref.hpp"

namespace vs::bus {

/// A setup error (segment, lock file, permissions, /dev/shm size, incompatible layout).
struct bus_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Record type tag of a frame: the numeric value of vs::schema::RecordType.
using record_type = std::uint16_t;

/// Longest symbol key in bytes (UTF-8). "币安人生USDT" is 16 bytes.
inline constexpr std::size_t max_symbol_bytes = 32;

/// A set of record types, 1 to 255 (as a segment header and a snapshot store it).
struct record_type_set {
    static constexpr record_type capacity = 256;
    std::array<std::uint64_t, capacity / 64> words{};   ///< type t = bit t % 64 of words[t / 64]

    constexpr bool contains(record_type t) const noexcept
    {
        return t < capacity && ((words[t / 64] >> (t % 64)) & 1u) != 0;
    }
    /// False (and nothing inserted) when t >= capacity.
    constexpr bool insert(record_type t) noexcept
    {
        if (t >= capacity) {
            return false;
        }
        words[t / 64] |= std::uint64_t{1} << (t % 64);
        return true;
    }
    constexpr bool empty() const noexcept { return words == decltype(words){}; }
    std::vector<record_type> types() const;   ///< ascending
    friend constexpr bool operator==(const record_type_set&, const record_type_set&) = default;
};

/// Every record type this build knows (the RecordType values of its schemas but None).
record_type_set known_record_types() noexcept;

/// The schema hash of a set of record types under this build's schemas: a hash of the binary
/// schema of each type's root table and of everything it references (comments, whitespace
/// and other types do not count), see schemas/gen_schema_info.py. 0 when the set holds a
/// type this build does not know. Two builds can share a channel (or a snapshot) carrying
/// `types` exactly when their hashes of `types` are equal.
std::uint64_t record_schema_hash(const record_type_set& types) noexcept;

/// "MarkPrice, FeedStatus, 200" (names where this build knows them).
std::string describe(const record_type_set& types);

struct channel_config {
    std::string prefix = "volspike";
    std::string name;                       ///< "market", "oi", ...
    std::uint32_t ring_bytes = 8u << 20;    ///< power of two, >= 64 KiB
    std::uint32_t table_slots = 8192;       ///< latest-table capacity: (type, symbol) keys
    std::uint32_t slot_bytes = 448;         ///< largest record the table keeps
    /// Writers: the record types this channel carries (vs::schema::RecordType values), e.g.
    /// record_type_list(RecordType::OpenInterest, RecordType::ProcessStatus). Empty = every
    /// type this build knows. Only these types' schemas decide which builds may read the
    /// channel, so list exactly what the writer publishes: publish() drops other types
    /// (publish_status::bad_type). A writer finding a segment with another set re-creates it.
    /// Readers ignore it (they check the set the writer stored).
    std::vector<record_type> record_types;
};

/// A list of record types from enum values: record_type_list(RecordType::MarkPrice, ...).
template <class... E>
std::vector<record_type> record_type_list(E... types)
{
    return {static_cast<record_type>(types)...};
}

/// `/dev/shm/<prefix>.<name>` and friends.
std::string segment_path(const channel_config& c);

enum class publish_status : std::uint8_t {
    ok,
    too_large,      ///< record longer than the ring's largest frame (dropped, counted)
    bad_symbol,     ///< symbol empty-but-required / longer than max_symbol_bytes (dropped)
    table_full,     ///< ring ok, but no free table slot for a new key (counted)
    bad_type,       ///< type 0, or a type outside channel_config::record_types (dropped, counted)
};

/// Where a publish goes.
enum publish_to : unsigned { to_ring = 1u, to_table = 2u, to_both = 3u };

/// A snapshot of a channel's header, as writers and tools see it.
struct channel_status {
    bool attached = false;              ///< the segment is mapped and compatible
    bool writer_alive = false;          ///< writer holds its lock and its heartbeat is fresh
    std::uint64_t generation = 0;       ///< changes at every writer start
    std::int64_t writer_pid = 0;        ///< informative only (pids are reused)
    std::int64_t writer_started_ns = 0; ///< CLOCK_REALTIME
    std::int64_t heartbeat_age_ns = -1; ///< -1 when never
    std::uint64_t records_published = 0;
    std::uint64_t records_dropped = 0;  ///< too large / bad symbol / table full
    std::uint64_t table_used = 0;
    std::uint32_t table_slots = 0;
    std::uint32_t ring_bytes = 0;
    std::uint32_t slot_bytes = 0;
    std::uint64_t reader_laps = 0;      ///< laps of every registered reader, dead ones included
    std::uint32_t readers = 0;          ///< live registered readers
    record_type_set record_types;       ///< what the channel carries (from the segment header)
    std::uint64_t schema_hash = 0;      ///< record_schema_hash(record_types) of the writer's build
};

/// One record as handed to a reader's callback. `data` points into the reader's private
/// copy and is valid until the callback returns.
struct record_view {
    record_type type = 0;
    std::int64_t publish_ns = 0;        ///< CLOCK_REALTIME at publish (table: of the last update)
    std::uint64_t position = 0;         ///< ring position (ring records only)
    std::string_view symbol;            ///< table records only
    std::span<const std::byte> data;    ///< the FlatBuffer
};

/// What reads hand each record to: any callable taking `const record_view&`, referred to (not
/// copied) for the duration of the call.
using record_fn = vs::function_ref<void(const record_view&)>;

class writer_impl;
class reader_impl;

/// The one writer of a channel.
class writer {
public:
    /// Takes the channel: locks `<segment>.lock` (a second writer gets bus_error "channel
    /// 'market' already has a writer"), creates or re-uses the segment (mode 0640, space
    /// reserved with posix_fallocate so a small /dev/shm fails here, not with SIGBUS later),
    /// repairs slots a killed writer left half-written, and starts a new generation.
    explicit writer(const channel_config& config);
    ~writer();
    writer(writer&&) noexcept;
    writer& operator=(writer&&) noexcept;

    /// Appends the record to the ring and/or stores it as the latest of (type, symbol).
    /// Never waits for readers. `publish_ns` is kept with the table slot (restored records
    /// keep their original time).
    publish_status publish(record_type type, std::string_view symbol,
                           std::span<const std::byte> record, std::int64_t publish_ns,
                           unsigned to = to_both) noexcept;

    /// Wakes readers blocked in reader::wait(). Call after a batch of publishes.
    void notify() noexcept;

    /// Refreshes the heartbeat readers use to tell a live writer. Call at least every
    /// 250 ms from the thread that does the work (a stuck loop must look dead); also
    /// reclaims the registry slots of dead readers.
    void heartbeat() noexcept;

    /// Calls fn(const record_view&) for every filled table slot (writer's own view; used by
    /// snapshots). Not for other threads.
    void for_each_latest(record_fn fn) const;

    channel_status status() const noexcept;
    std::uint64_t generation() const noexcept;
    /// Starts a new generation without a new writer: readers see the table changed wholesale
    /// (after a restore from a snapshot, whose records are not in the ring) and resync.
    void new_generation() noexcept;
    const std::string& path() const noexcept;
    std::size_t max_record_bytes() const noexcept;

private:
    std::unique_ptr<writer_impl> impl_;
};

enum class attach_state : std::uint8_t {
    missing,          ///< no segment yet (writer never started, or prefix wrong)
    mapped,           ///< mapped, header not yet checked
    version_checked,  ///< layout version and the schema hash of the channel's record types match
    ready,            ///< initialised by a writer; records can be read
    incompatible,     ///< refused: see reader::error()
};
const char* to_string(attach_state s) noexcept;

enum class read_status : std::uint8_t {
    ok,           ///< a validated copy was handed over
    missing,      ///< no such (type, symbol) in the table
    unavailable,  ///< slot kept changing, or a killed writer left it half-written
    not_ready,    ///< not attached
};

struct reader_options {
    bool register_reader = true;   ///< appear in the registry (laps, blocking waits)
    std::string name;              ///< shown by vs-bus-dump (default: process name)
    /// A writer whose heartbeat is older than this counts as dead even if it holds its lock.
    std::chrono::milliseconds heartbeat_timeout{1000};
};

/// A read-only view of a channel. Survives writer deaths and restarts: after a new
/// generation starts, the ring position jumps to the new writer's tail.
class reader {
public:
    explicit reader(const channel_config& config, reader_options options = {});
    ~reader();
    reader(reader&&) noexcept;
    reader& operator=(reader&&) noexcept;

    /// Advances attach states; cheap when ready. Re-maps when the writer re-created the
    /// segment (other capacities).
    attach_state attach() noexcept;
    attach_state state() const noexcept;
    /// Why the segment was refused, or the last attach error. A schema mismatch names the
    /// channel, its record types and both hashes (the writer's and this build's).
    const std::string& error() const noexcept;

    /// Hands up to `max` validated ring records to fn(const record_view&) in publish order.
    /// A reader lapped by the writer skips to the newest record and counts a lap.
    std::size_t poll(record_fn fn, std::size_t max = SIZE_MAX);

    /// Blocks until the writer publishes and notifies, or `timeout` passes (futex on the
    /// registry; without registration it sleeps briefly). True when records may be there.
    bool wait(std::chrono::nanoseconds timeout) noexcept;

    /// Positions the ring cursor at the writer's tail (skip history).
    void seek_to_tail() noexcept;

    /// Copies the latest (type, symbol) record and hands it to fn(const record_view&).
    read_status latest(record_type type, std::string_view symbol, record_fn fn);

    /// Hands every table record of `type` (0 = all types) to fn(const record_view&).
    /// Returns how many; slots that stay unavailable after bounded retries are skipped and
    /// counted in unavailable_slots().
    std::size_t for_each_latest(record_type type, record_fn fn);

    channel_status status() noexcept;
    std::uint64_t laps() const noexcept;
    std::uint64_t records_lost() const noexcept;   ///< bytes-based estimate of lapped records
    std::uint64_t unavailable_slots() const noexcept;
    /// Generation of the writer whose data this reader last read.
    std::uint64_t generation() const noexcept;
    /// Times this reader became ready on a segment (the first attach, and every re-map after
    /// a writer re-created the segment, whose generations start again at 1).
    std::uint64_t attachments() const noexcept;

private:
    std::unique_ptr<reader_impl> impl_;
};

/// Channels that exist under a prefix (segments /dev/shm/<prefix>.*), sorted.
std::vector<std::string> list_channels(const std::string& prefix);

}  // namespace vs::bus
