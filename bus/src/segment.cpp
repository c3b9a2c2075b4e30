#include "segment.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include <fmt/format.h>

#include "schemas/schema_info.hpp"
#include "vs/bus/records.hpp"

namespace vs::bus::detail {
namespace {

bool valid_name_char(char c, bool allow_dot) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || (allow_dot && c == '.');
}

bool is_power_of_two(std::uint64_t x) noexcept { return x != 0 && (x & (x - 1)) == 0; }

std::uint64_t round_up(std::uint64_t x, std::uint64_t to) noexcept { return (x + to - 1) / to * to; }

static_assert(sizeof(layout::segment_header::record_types) == sizeof(record_type_set::words));
static_assert(record_type_set::capacity > vs::schema_info::max_record_type);

}  // namespace

void validate_names(const channel_config& c)
{
    if (c.prefix.empty() || c.prefix.size() > 64) {
        throw bus_error(fmt::format("invalid bus prefix '{}': 1 to 64 characters of [A-Za-z0-9_.-]", c.prefix));
    }
    for (char ch : c.prefix) {
        if (!valid_name_char(ch, true)) {
            throw bus_error(fmt::format("invalid bus prefix '{}': 1 to 64 characters of [A-Za-z0-9_.-]", c.prefix));
        }
    }
    if (c.name.empty() || c.name.size() >= layout::channel_name_capacity) {
        throw bus_error(fmt::format("invalid channel name '{}': 1 to 31 characters of [A-Za-z0-9_-]", c.name));
    }
    for (char ch : c.name) {
        if (!valid_name_char(ch, false)) {
            throw bus_error(fmt::format("invalid channel name '{}': 1 to 31 characters of [A-Za-z0-9_-]", c.name));
        }
    }
}

std::string shm_name(const channel_config& c) { return c.prefix + "." + c.name; }
std::string lock_path(const channel_config& c) { return "/dev/shm/" + shm_name(c) + ".lock"; }
std::string registry_name(const channel_config& c) { return shm_name(c) + ".readers"; }

geometry compute_geometry(const channel_config& c)
{
    if (!is_power_of_two(c.ring_bytes) || c.ring_bytes < (64u << 10) || c.ring_bytes > (1u << 30)) {
        throw bus_error(fmt::format("channel '{}': ring_bytes {} must be a power of two in [64 KiB, 1 GiB]",
                                    c.name, c.ring_bytes));
    }
    if (c.table_slots < 16 || c.table_slots > (1u << 20)) {
        throw bus_error(fmt::format("channel '{}': table_slots {} must be in [16, 1048576]", c.name, c.table_slots));
    }
    if (c.slot_bytes < 64 || c.slot_bytes > (64u << 10)) {
        throw bus_error(fmt::format("channel '{}': slot_bytes {} must be in [64, 65536]", c.name, c.slot_bytes));
    }
    geometry g;
    g.ring_bytes = c.ring_bytes;
    // A frame may use at most an eighth of the ring, so that a reader is not lapped by a
    // single publish and the padding lost at the ring's end stays small.
    g.max_frame_bytes = std::min<std::uint32_t>(c.ring_bytes / 8, 1u << 20);
    g.table_slots = c.table_slots;
    std::uint32_t entries = 1;
    while (entries < c.table_slots * 2) {
        entries <<= 1;
    }
    g.index_entries = entries;
    g.slot_data_bytes = static_cast<std::uint32_t>(round_up(c.slot_bytes, layout::cache_line));
    g.slot_stride = static_cast<std::uint32_t>(sizeof(layout::slot_header)) + g.slot_data_bytes;
    g.ring_offset = layout::header_bytes;
    g.index_offset = g.ring_offset + g.ring_bytes;
    g.table_offset = round_up(g.index_offset + std::uint64_t{entries} * 4, 4096);
    g.segment_bytes = round_up(g.table_offset + std::uint64_t{g.table_slots} * g.slot_stride, 4096);
    if (c.record_types.empty()) {
        g.record_types = known_record_types();
    }
    for (record_type t : c.record_types) {
        if (vs::schema_info::type_hash(t) == 0 || !g.record_types.insert(t)) {
            throw bus_error(fmt::format("channel '{}': record type {} is not a record type of this build (1 to {})",
                                        c.name, t, vs::schema_info::max_record_type));
        }
    }
    g.schema_hash = record_schema_hash(g.record_types);
    return g;
}

record_type_set header_record_types(const layout::segment_header& h) noexcept
{
    record_type_set s;
    std::memcpy(s.words.data(), h.record_types, sizeof h.record_types);
    return s;
}

std::uint32_t key_hash(std::uint16_t type, std::string_view symbol) noexcept
{
    // Eight bytes of the symbol per multiply (FNV-1a's byte-serial multiplies cost as much as
    // the rest of a publish). Short keys, no adversary (the writer chooses what it stores).
    // Part of the layout: readers and the writer must agree, so a change bumps layout_version.
    constexpr std::uint64_t k1 = 0x9E3779B97F4A7C15u;
    constexpr std::uint64_t k2 = 0xFF51AFD7ED558CCDu;
    std::uint64_t h = k1 ^ (std::uint64_t{type} << 32) ^ symbol.size();
    const char* p = symbol.data();
    std::size_t n = symbol.size();
    for (; n >= 8; n -= 8, p += 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * k2;
        h ^= h >> 32;
    }
    std::uint64_t tail = 0;
    for (std::size_t i = 0; i < n; ++i) {
        tail |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    }
    h = (h ^ tail) * k2;
    h ^= h >> 29;
    h *= k1;
    return static_cast<std::uint32_t>(h >> 32);
}

std::int64_t find_slot(const segment_view& v, std::uint16_t type, std::string_view symbol) noexcept
{
    const std::uint32_t mask = v.hdr->index_entries - 1;
    const std::uint32_t* index = v.index();
    for (std::uint32_t i = key_hash(type, symbol) & mask, probes = 0; probes <= mask; i = (i + 1) & mask, ++probes) {
        // Acquire pairs with the writer's release store of the entry: the slot's key is visible.
        const std::uint32_t entry = load_acquire(index[i]);
        if (entry == 0) {
            return -1;
        }
        const std::uint32_t slot = entry - 1;
        if (slot >= v.hdr->table_slots) {
            return -1;  // corrupt entry: never trust it
        }
        const layout::slot_header* s = v.slot(slot);
        if (s->type == type && s->symbol_len == symbol.size() &&
            std::memcmp(s->symbol, symbol.data(), symbol.size()) == 0) {
            return slot;
        }
    }
    return -1;
}

std::string incompatibility(const layout::segment_header& h, std::uint64_t file_bytes, const geometry* expect,
                            std::string_view channel)
{
    if (file_bytes < layout::header_bytes) {
        return fmt::format("segment is {} bytes, smaller than its header", file_bytes);
    }
    if (h.magic != layout::magic) {
        return "not a volspike bus segment (bad magic)";
    }
    if (h.layout_version != layout::layout_version) {
        return fmt::format("segment layout version {} but this program understands version {}: "
                           "run the same release of every volspike process",
                           h.layout_version, layout::layout_version);
    }
    const record_type_set types = header_record_types(h);
    for (record_type t : types.types()) {
        if (vs::schema_info::type_hash(t) == 0) {
            return fmt::format("channel '{}' carries record type {}, which this build does not know (its types end "
                               "at {}): the writer was built from newer schemas; update this program",
                               channel, t, vs::schema_info::max_record_type);
        }
    }
    if (const std::uint64_t mine = record_schema_hash(types); h.schema_hash != mine) {
        return fmt::format("channel '{}' was written with record schema hash 0x{:016x} for its record types ({}), "
                           "this build has 0x{:016x} for them: writer and reader were built from different "
                           "schemas of these types; rebuild or restart the older side with the same schemas",
                           channel, h.schema_hash, describe(types), mine);
    }
    if (h.segment_bytes != file_bytes || h.header_size != layout::header_bytes ||
        !is_power_of_two(h.ring_bytes) || h.ring_offset + h.ring_bytes > file_bytes ||
        h.table_offset + std::uint64_t{h.table_slots} * h.slot_stride > file_bytes ||
        h.index_offset + std::uint64_t{h.index_entries} * 4 > file_bytes || !is_power_of_two(h.index_entries) ||
        h.slot_stride != sizeof(layout::slot_header) + h.slot_data_bytes || h.max_frame_bytes > h.ring_bytes) {
        return fmt::format("segment geometry is inconsistent with its size ({} bytes)", file_bytes);
    }
    if (expect != nullptr &&
        (h.ring_bytes != expect->ring_bytes || h.table_slots != expect->table_slots ||
         h.slot_data_bytes != expect->slot_data_bytes || h.segment_bytes != expect->segment_bytes)) {
        return "segment capacities differ from the configured ones";
    }
    if (expect != nullptr && types != expect->record_types) {
        return fmt::format("the segment carries record types ({}), this writer's are ({})", describe(types),
                           describe(expect->record_types));
    }
    return {};
}

unique_fd::~unique_fd()
{
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

unique_fd& unique_fd::operator=(unique_fd&& o) noexcept
{
    if (this != &o) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = o.release();
    }
    return *this;
}

int ofd_try_lock(int fd, off_t start, off_t len) noexcept
{
    struct flock fl{};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    for (;;) {
        if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) {
            return 0;
        }
        if (errno != EINTR) {
            return errno;
        }
    }
}

bool ofd_is_locked(int fd, off_t start, off_t len) noexcept
{
    struct flock fl{};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    for (;;) {
        if (::fcntl(fd, F_OFD_GETLK, &fl) == 0) {
            return fl.l_type != F_UNLCK;
        }
        if (errno != EINTR) {
            return false;
        }
    }
}

std::uint64_t shm_inode(const std::string& name) noexcept
{
    struct stat st{};
    if (::stat(("/dev/shm/" + name).c_str(), &st) != 0) {
        return 0;
    }
    return st.st_ino;
}

std::unique_ptr<mapping> map_existing(const std::string& name, bool writable)
{
    namespace bip = boost::interprocess;
    const auto mode = writable ? bip::read_write : bip::read_only;
    auto m = std::make_unique<mapping>();
    try {
        m->shm = bip::shared_memory_object(bip::open_only, name.c_str(), mode);
    } catch (const bip::interprocess_exception& e) {
        if (e.get_error_code() == bip::not_found_error) {
            return nullptr;
        }
        throw bus_error(fmt::format("cannot open /dev/shm/{}: {}", name, e.what()));
    }
    struct stat st{};
    if (::fstat(m->shm.get_mapping_handle().handle, &st) != 0) {
        throw bus_error(fmt::format("cannot stat /dev/shm/{}: {}", name, std::strerror(errno)));
    }
    if (st.st_size == 0) {
        return nullptr;  // created but not yet sized by its writer: treat as missing
    }
    m->inode = st.st_ino;
    try {
        m->region = bip::mapped_region(m->shm, mode);
    } catch (const bip::interprocess_exception& e) {
        throw bus_error(fmt::format("cannot map /dev/shm/{}: {}", name, e.what()));
    }
    return m;
}

void futex_wait(const std::uint32_t* word, std::uint32_t expected, std::int64_t timeout_ns) noexcept
{
    timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
    // Shared (not FUTEX_PRIVATE) futex: the word lives in a MAP_SHARED mapping used by other
    // processes. EAGAIN (value changed), EINTR and ETIMEDOUT all mean "look again".
    ::syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futex_wake_all(std::uint32_t* word) noexcept
{
    ::syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace vs::bus::detail

namespace vs::bus {

std::vector<record_type> record_type_set::types() const
{
    std::vector<record_type> out;
    for (record_type t = 0; t < capacity; ++t) {
        if (contains(t)) {
            out.push_back(t);
        }
    }
    return out;
}

record_type_set known_record_types() noexcept
{
    record_type_set s;
    std::memcpy(s.words.data(), vs::schema_info::known_types, sizeof s.words);
    return s;
}

std::uint64_t record_schema_hash(const record_type_set& types) noexcept
{
    return vs::schema_info::types_hash(types.words);
}

std::string describe(const record_type_set& types)
{
    std::string out;
    for (record_type t : types.types()) {
        const std::string_view name = record_type_name(t);
        out += out.empty() ? "" : ", ";
        out += name.empty() ? std::to_string(t) : std::string{name};
    }
    return out;
}

}  // namespace vs::bus
