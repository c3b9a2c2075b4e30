#pragma once
// Private pieces shared by the writer and the reader: names, geometry, the mapped views of
// the data segment and registry, the table index, and the OS wrappers (OFD locks, fds).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include "vs/bus/channel.hpp"
#include "vs/bus/detail/atomics.hpp"
#include "vs/bus/layout.hpp"

namespace vs::bus::detail {

/// Checks prefix and channel names (they become file names under /dev/shm).
void validate_names(const channel_config& c);

std::string shm_name(const channel_config& c);            // "<prefix>.<channel>"
std::string lock_path(const channel_config& c);           // /dev/shm/<prefix>.<channel>.lock
std::string registry_name(const channel_config& c);       // "<prefix>.<channel>.readers"

struct geometry {
    std::uint32_t ring_bytes = 0;
    std::uint32_t max_frame_bytes = 0;
    std::uint32_t index_entries = 0;
    std::uint32_t table_slots = 0;
    std::uint32_t slot_stride = 0;
    std::uint32_t slot_data_bytes = 0;
    std::uint64_t ring_offset = 0;
    std::uint64_t index_offset = 0;
    std::uint64_t table_offset = 0;
    std::uint64_t segment_bytes = 0;
    record_type_set record_types;       // the resolved channel_config::record_types
    std::uint64_t schema_hash = 0;      // record_schema_hash(record_types)
};

/// Validates the capacities and record types of `c` and lays the segment out. Throws bus_error.
geometry compute_geometry(const channel_config& c);

/// Pointers into a mapped data segment.
struct segment_view {
    std::byte* base = nullptr;
    layout::segment_header* hdr = nullptr;
    std::uint64_t ring_mask = 0;

    std::uint64_t* ring() const noexcept { return reinterpret_cast<std::uint64_t*>(base + hdr->ring_offset); }
    std::uint32_t* index() const noexcept { return reinterpret_cast<std::uint32_t*>(base + hdr->index_offset); }
    layout::slot_header* slot(std::uint32_t i) const noexcept
    {
        return reinterpret_cast<layout::slot_header*>(base + hdr->table_offset + std::uint64_t{i} * hdr->slot_stride);
    }
    std::uint64_t* slot_data(std::uint32_t i) const noexcept
    {
        return reinterpret_cast<std::uint64_t*>(reinterpret_cast<std::byte*>(slot(i)) + sizeof(layout::slot_header));
    }
};

std::uint32_t key_hash(std::uint16_t type, std::string_view symbol) noexcept;

/// Looks (type, symbol) up in the index; -1 when absent. Safe for readers (acquire loads).
std::int64_t find_slot(const segment_view& v, std::uint16_t type, std::string_view symbol) noexcept;

/// The record types of a header.
record_type_set header_record_types(const layout::segment_header& h) noexcept;

/// Why a mapped header of channel `channel` cannot be used by this build, or empty when
/// compatible. `expect` (a writer's) also requires the same geometry and record types.
std::string incompatibility(const layout::segment_header& h, std::uint64_t file_bytes,
                            const geometry* expect, std::string_view channel);

/// An owned file descriptor.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    ~unique_fd();
    unique_fd(unique_fd&& o) noexcept : fd_(o.release()) {}
    unique_fd& operator=(unique_fd&& o) noexcept;
    int get() const noexcept { return fd_; }
    int release() noexcept { int f = fd_; fd_ = -1; return f; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

/// Takes an exclusive open-file-description lock on [start, start+len) without waiting.
/// Returns 0, or the errno (EAGAIN/EACCES when held by someone else).
int ofd_try_lock(int fd, off_t start, off_t len) noexcept;
/// True when another open file description holds a lock on any byte of [start, start+len).
bool ofd_is_locked(int fd, off_t start, off_t len) noexcept;

/// A mapped shared-memory object (Boost.Interprocess; no segment manager).
struct mapping {
    boost::interprocess::shared_memory_object shm;
    boost::interprocess::mapped_region region;
    std::uint64_t inode = 0;
    std::byte* data() const noexcept { return static_cast<std::byte*>(region.get_address()); }
    std::size_t size() const noexcept { return region.get_size(); }
};

/// Inode of /dev/shm/<name>, 0 when missing.
std::uint64_t shm_inode(const std::string& name) noexcept;

/// Maps an existing object read-only (readers) or read-write; nullptr when it does not exist.
/// Throws bus_error for other failures (permissions).
std::unique_ptr<mapping> map_existing(const std::string& name, bool writable);

/// Futex wait/wake on a 32-bit word of a MAP_SHARED mapping.
void futex_wait(const std::uint32_t* word, std::uint32_t expected, std::int64_t timeout_ns) noexcept;
void futex_wake_all(std::uint32_t* word) noexcept;

}  // namespace vs::bus::detail
