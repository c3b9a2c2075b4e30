#pragma once
// The shared-memory layout of a bus channel. This file is the contract between the writer
// and every reader process; changing anything here means bumping layout_version.
//
// Files (all under /dev/shm, mode 0640: owner read-write, group read-only):
//   <prefix>.<channel>          the data segment; the writer maps it read-write, readers
//                               map it read-only.
//   <prefix>.<channel>.lock     held by the writer with an open-file-description lock
//                               (F_OFD_SETLK, whole file) for as long as it lives; the kernel
//                               releases it when the writer dies, however it dies. Readers
//                               query it (F_OFD_GETLK) to tell a live writer; a second writer
//                               fails to take it. Pids are never used for liveness.
//   <prefix>.<channel>.readers  the reader registry: per-reader counters (laps) and the
//                               futex word blocking readers sleep on. Readers of the owner's
//                               uid map it read-write; others run unregistered.
//
// Data segment, little endian (x86-64 and aarch64), every offset a multiple of 64:
//
//   [0, 4096)            segment_header: immutable geometry (cache lines 0-2), then one cache
//                        line per independently written group (state, writer identity,
//                        heartbeat, ring intent, ring tail, counters) so that readers
//                        polling the tail never share a line with the heartbeat store.
//   [ring_offset, +ring_bytes)
//                        the ring: a power-of-two byte array of 8-byte-aligned frames.
//   [index_offset, +index_entries * 4)
//                        open-addressing hash index of the latest table: u32 entries,
//                        0 = empty, otherwise slot number + 1. Linear probing, never deleted;
//                        the hash is key_hash() of bus/src/segment.cpp.
//   [table_offset, +table_slots * slot_stride)
//                        latest-table slots: a 64-byte slot_header, then slot_data_bytes.
//
// Ring frames (after Aeron's broadcast buffer): word 0 = length (u32, header included,
// unaligned) | type (u16) << 32 | flags (u16) << 48; word 1 = publish time (ns, realtime);
// then the FlatBuffer. A frame occupies align8(length) bytes; type 0 is padding (skip
// `length` bytes; may be 8 bytes long). A frame never wraps: when it does not fit before the
// end, the writer pads to the end and starts at offset 0.
//
// Ring protocol (single writer, readers never write the data segment):
//   writer: intent = tail + pad + aligned   (relaxed store)      -- W1
//           release fence                                        -- W2 pairs with R4
//           frame words                     (relaxed stores)     -- W3
//           latest = frame position         (relaxed store)
//           tail = intent                   (release store)      -- W4 pairs with R1
//   reader: tail                            (acquire load)       -- R1
//           frame words into a private copy (relaxed loads)      -- R2
//           acquire fence                                        -- R3
//           intent                          (relaxed load)       -- R4
//           the copy is intact iff intent <= cursor + ring_bytes (the writer has not yet
//           written past the point where it would reach the frame again).
//   A reader that fails the check was lapped: it counts a lap, jumps to `latest` and goes on.
//   If W3 stores are seen by R2 then, by W2/R3 fence synchronisation, R4 sees W1 (or later),
//   so a torn copy is always detected. All frame words are accessed through atomic_ref so the
//   races are defined behaviour (and ThreadSanitizer-clean); on x86-64 they are plain moves.
//
// Latest table slots are seqlocks: the writer makes `seq` odd (relaxed), release fence, writes
// meta, time and data words (relaxed), then makes `seq` even (release). A reader loads seq
// (acquire), copies (relaxed), acquire fence, reloads seq (relaxed); equal and even = intact.
// A reader retries a changing slot a bounded number of times and then reports it unavailable,
// so a writer killed mid-update (seq stays odd) cannot hang it; the next writer generation
// repairs such slots (clears them, seq made even) before it marks the segment ready.
// Slot keys (type, symbol) are written once before the slot is counted (`table_used`,
// release) and its index entry published (release); they never change afterwards.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace vs::bus::layout {

inline constexpr std::uint64_t magic = 0x3153554253565356ULL;   // "VSVSBUS1"
// 2: key_hash reads 8 symbol bytes a step. 3: record_types; schema_hash covers only those types.
inline constexpr std::uint32_t layout_version = 3;
inline constexpr std::uint64_t registry_magic = 0x3147455253565356ULL;  // "VSVSREG1"
inline constexpr std::uint32_t registry_version = 1;
inline constexpr std::size_t cache_line = 64;
inline constexpr std::size_t header_bytes = 4096;
inline constexpr std::size_t frame_header_bytes = 16;
inline constexpr std::size_t frame_alignment = 8;
inline constexpr std::size_t symbol_capacity = 32;
inline constexpr std::size_t channel_name_capacity = 32;
inline constexpr std::uint32_t registry_slots = 64;
/// record_types: a bit per record type t (bit t % 64 of word t / 64), types 1 to 255.
inline constexpr std::size_t record_type_words = 4;

/// init_state values.
inline constexpr std::uint32_t state_initialising = 0;
inline constexpr std::uint32_t state_ready = 1;

struct alignas(cache_line) segment_header {
    // Cache lines 0-1: geometry, written once at creation before `magic` (release).
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t header_size;
    // vs::schema_info::types_hash(record_types) of the writer's build: a hash of the binary
    // schema of exactly the record types this channel carries (comments, whitespace and other
    // types do not count). A reader recomputes it for the same types from its own build and
    // refuses the channel when it differs or a type is unknown to it.
    std::uint64_t schema_hash;
    std::uint64_t segment_bytes;
    std::uint64_t ring_offset;
    std::uint32_t ring_bytes;
    std::uint32_t max_frame_bytes;
    std::uint64_t index_offset;
    std::uint32_t index_entries;
    std::uint32_t table_slots;
    std::uint64_t table_offset;
    // The record types the writer may publish (channel_config::record_types); see schema_hash.
    std::uint64_t record_types[record_type_words];

    alignas(cache_line) char channel[channel_name_capacity];
    std::uint32_t slot_stride;
    std::uint32_t slot_data_bytes;

    // Lifecycle: initialising while a writer sets up or repairs, ready afterwards.
    alignas(cache_line) std::uint32_t init_state;

    // Writer identity: a new generation at every writer start.
    alignas(cache_line) std::uint64_t generation;
    std::int64_t writer_pid;
    std::int64_t writer_started_ns;

    // Heartbeat (CLOCK_MONOTONIC and CLOCK_REALTIME ns), refreshed by the writer's loop.
    alignas(cache_line) std::int64_t heartbeat_mono_ns;
    std::int64_t heartbeat_real_ns;

    // Ring positions (monotonic byte counters; offset = position & (ring_bytes - 1)).
    alignas(cache_line) std::uint64_t tail_intent;
    alignas(cache_line) std::uint64_t tail;
    std::uint64_t latest;

    // Writer counters, read by tools.
    alignas(cache_line) std::uint64_t records_published;
    std::uint64_t records_dropped;
    std::uint64_t table_used;
    std::uint64_t table_updates;
};

struct alignas(cache_line) slot_header {
    std::uint64_t seq;          // seqlock: odd while the writer updates the slot
    std::uint64_t length;       // FlatBuffer bytes in data (0 = empty / repaired)
    std::int64_t publish_ns;    // CLOCK_REALTIME of the record's publish (kept by restores)
    std::uint16_t type;         // key: immutable once the slot is counted
    std::uint8_t symbol_len;
    std::uint8_t reserved0;
    std::uint32_t reserved1;
    char symbol[symbol_capacity];
};

struct alignas(cache_line) registry_header {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t slots;
    std::uint64_t dead_reader_laps;     // laps of readers that died, folded in by the writer
    // Futex word: the writer increments it in notify(); blocked readers sleep on it.
    alignas(cache_line) std::uint32_t notify_seq;
    // Readers currently (about to be) blocked in wait(); the writer skips FUTEX_WAKE at 0.
    alignas(cache_line) std::int32_t waiters;
};

struct alignas(cache_line) reader_slot {
    std::int64_t pid;           // 0 = free; ownership itself is the OFD lock on byte `index`
    std::uint64_t laps;
    std::uint64_t records;
    std::uint32_t waiting;
    std::uint32_t reserved;
    char name[32];
};

static_assert(std::is_trivially_copyable_v<segment_header> && std::is_standard_layout_v<segment_header>);
static_assert(std::is_trivially_copyable_v<slot_header> && std::is_standard_layout_v<slot_header>);
static_assert(std::is_trivially_copyable_v<registry_header> && std::is_standard_layout_v<registry_header>);
static_assert(std::is_trivially_copyable_v<reader_slot> && std::is_standard_layout_v<reader_slot>);
static_assert(sizeof(segment_header) <= header_bytes);
static_assert(offsetof(segment_header, record_types) == cache_line + 8);
static_assert(offsetof(segment_header, channel) == 2 * cache_line);
static_assert(offsetof(segment_header, init_state) == 3 * cache_line);
static_assert(offsetof(segment_header, generation) == 4 * cache_line);
static_assert(offsetof(segment_header, heartbeat_mono_ns) == 5 * cache_line);
static_assert(offsetof(segment_header, tail_intent) == 6 * cache_line);
static_assert(offsetof(segment_header, tail) == 7 * cache_line);
static_assert(offsetof(segment_header, records_published) == 8 * cache_line);
static_assert(sizeof(slot_header) == cache_line);
static_assert(offsetof(slot_header, symbol) == 32);
static_assert(sizeof(reader_slot) == cache_line);
static_assert(offsetof(registry_header, notify_seq) == cache_line);
static_assert(sizeof(registry_header) == 3 * cache_line);
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::int64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::int32_t>::is_always_lock_free);
static_assert(alignof(std::uint64_t) == std::atomic_ref<std::uint64_t>::required_alignment);

constexpr std::uint64_t align_frame(std::uint64_t n) noexcept
{
    return (n + frame_alignment - 1) & ~std::uint64_t{frame_alignment - 1};
}

constexpr std::uint64_t pack_frame_word(std::uint32_t length, std::uint16_t type, std::uint16_t flags) noexcept
{
    return std::uint64_t{length} | (std::uint64_t{type} << 32) | (std::uint64_t{flags} << 48);
}
constexpr std::uint32_t frame_length(std::uint64_t word) noexcept { return static_cast<std::uint32_t>(word); }
constexpr std::uint16_t frame_type(std::uint64_t word) noexcept { return static_cast<std::uint16_t>(word >> 32); }

}  // namespace vs::bus::layout
