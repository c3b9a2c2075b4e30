// A read-only view of a channel: attach states, validated ring reads (R1..R4 in
// vs/bus/layout.hpp), seqlock table reads with bounded retries, blocking waits, and the
// writer's liveness from its lock and heartbeat.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <filesystem>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "segment.hpp"
#include "vs/bus/channel.hpp"
#include "vs/common/clock.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VS_CPU_RELAX() _mm_pause()
#else
#define VS_CPU_RELAX() std::atomic_signal_fence(std::memory_order_seq_cst)
#endif

namespace vs::bus {

using namespace vs::bus::detail;

namespace {

// A slot that changes under a reader this many times in a row is reported unavailable. The
// writer rewrites a slot in well under a microsecond, so a live writer is never reported; a
// writer killed mid-update (seq odd forever) costs a reader about a millisecond.
constexpr int max_slot_attempts = 256;
constexpr std::int64_t inode_check_ns = 250'000'000;
constexpr std::int64_t attach_retry_ns = 50'000'000;

std::string process_name()
{
    char buf[64] = {};
    int fd = ::open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = ::read(fd, buf, sizeof buf - 1);
        ::close(fd);
        if (n > 0) {
            buf[n - 1] = '\0';
        }
    }
    return buf;
}

}  // namespace

const char* to_string(attach_state s) noexcept
{
    switch (s) {
    case attach_state::missing: return "missing";
    case attach_state::mapped: return "mapped";
    case attach_state::version_checked: return "version_checked";
    case attach_state::ready: return "ready";
    case attach_state::incompatible: return "incompatible";
    }
    return "?";
}

class reader_impl {
public:
    reader_impl(const channel_config& c, reader_options o) : config_(c), options_(std::move(o))
    {
        validate_names(config_);
        if (options_.name.empty()) {
            options_.name = process_name();
        }
    }
    ~reader_impl() { unregister(); }

    attach_state attach() noexcept;
    std::size_t poll(record_fn fn, std::size_t max);
    bool wait(std::chrono::nanoseconds timeout) noexcept;
    read_status read_slot(std::uint32_t i, record_fn fn) noexcept;
    read_status latest(record_type type, std::string_view symbol, record_fn fn);
    std::size_t for_each(record_type type, record_fn fn);
    channel_status status() noexcept;
    void seek_to_tail() noexcept
    {
        if (attach() == attach_state::ready) {
            cursor_ = load_acquire(view_.hdr->tail);
        }
    }

    channel_config config_;
    reader_options options_;
    attach_state state_ = attach_state::missing;
    std::string error_;
    std::unique_ptr<mapping> data_;
    segment_view view_;
    std::uint64_t cursor_ = 0;
    std::uint64_t generation_ = 0;
    bool fresh_attach_ = true;    // first attach: start at the tail; after a re-creation: at 0
    std::uint64_t attachments_ = 0;
    std::uint64_t laps_ = 0;
    std::uint64_t lost_bytes_ = 0;
    std::uint64_t records_ = 0;
    std::uint64_t bytes_read_ = 0;
    std::uint64_t unavailable_ = 0;
    std::int64_t next_try_ns_ = 0;
    std::int64_t next_inode_check_ns_ = 0;
    // Private copy of a frame or slot, sized for the largest frame (1 MiB by default). Left
    // uninitialised so that only the bytes actually copied become resident memory.
    std::unique_ptr<std::uint64_t[]> scratch_;
    unique_fd lock_fd_;
    std::unique_ptr<mapping> registry_;
    std::unique_ptr<mapping> status_registry_;  // read-only view for status() when unregistered
    layout::registry_header* reg_ = nullptr;
    layout::reader_slot* my_slot_ = nullptr;

private:
    void detach(bool recreated) noexcept;
    void try_register() noexcept;
    void unregister() noexcept;
    bool valid(std::uint64_t cursor) const noexcept
    {
        // R3 + R4: the fence orders the preceding relaxed copies before the intent load.
        std::atomic_thread_fence(std::memory_order_acquire);
        return load_relaxed(view_.hdr->tail_intent) <= cursor + view_.hdr->ring_bytes;
    }
    void lapped() noexcept
    {
        ++laps_;
        // Acquire pairs with the writer's release store of `latest`: the frame there is whole.
        const std::uint64_t latest = load_acquire(view_.hdr->latest);
        lost_bytes_ += latest > cursor_ ? latest - cursor_ : 0;
        cursor_ = latest;
        if (my_slot_ != nullptr) {
            store_relaxed(my_slot_->laps, laps_);
        }
    }
};

void reader_impl::detach(bool recreated) noexcept
{
    unregister();
    status_registry_.reset();
    data_.reset();
    view_ = {};
    state_ = attach_state::missing;
    fresh_attach_ = !recreated;
}

attach_state reader_impl::attach() noexcept
{
    // attach() runs before every table read: the coarse clock (a few ms resolution, no
    // hardware counter read) is plenty for the 50 ms / 250 ms cadences below.
    timespec coarse{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &coarse);
    const std::int64_t now = static_cast<std::int64_t>(coarse.tv_sec) * 1'000'000'000 + coarse.tv_nsec;
    if (state_ == attach_state::ready) {
        if (now < next_inode_check_ns_) {
            return state_;
        }
        next_inode_check_ns_ = now + inode_check_ns;
        const std::uint64_t inode = shm_inode(shm_name(config_));
        if (inode == data_->inode) {
            return state_;
        }
        // The writer re-created the segment (other capacities or a fresh start after removal):
        // follow it, reading the new segment from its beginning.
        detach(inode != 0);
        if (inode == 0) {
            return state_;
        }
    }
    if (state_ == attach_state::missing || state_ == attach_state::incompatible) {
        if (now < next_try_ns_) {
            return state_;
        }
        next_try_ns_ = now + attach_retry_ns;
        try {
            data_ = map_existing(shm_name(config_), false);
        } catch (const std::exception& e) {
            error_ = e.what();
            return state_;
        }
        if (!data_) {
            return state_;  // stays missing or incompatible until a writer creates it
        }
        state_ = attach_state::mapped;
    }
    if (state_ == attach_state::mapped) {
        if (data_->size() < sizeof(layout::segment_header)) {
            return state_;
        }
        const auto* h = reinterpret_cast<const layout::segment_header*>(data_->data());
        // Acquire pairs with the writer's release store of magic after the geometry.
        if (load_acquire(h->magic) == 0) {
            data_.reset();
            state_ = attach_state::missing;  // being created: look again shortly
            return state_;
        }
        std::string why = incompatibility(*h, data_->size(), nullptr, config_.name);
        if (!why.empty()) {
            error_ = fmt::format("refusing /dev/shm/{}: {}", shm_name(config_), why);
            data_.reset();
            state_ = attach_state::incompatible;
            return state_;
        }
        view_.base = data_->data();
        view_.hdr = reinterpret_cast<layout::segment_header*>(view_.base);
        view_.ring_mask = view_.hdr->ring_bytes - 1;
        scratch_ = std::make_unique_for_overwrite<std::uint64_t[]>(
            (std::max<std::size_t>(view_.hdr->max_frame_bytes, view_.hdr->slot_data_bytes) + 64) / 8);
        state_ = attach_state::version_checked;
    }
    if (state_ == attach_state::version_checked) {
        // Acquire pairs with the writer's release store of init_state (after its repairs).
        if (load_acquire(view_.hdr->init_state) != layout::state_ready) {
            return state_;
        }
        generation_ = load_acquire(view_.hdr->generation);
        cursor_ = fresh_attach_ ? load_acquire(view_.hdr->tail) : 0;
        fresh_attach_ = true;
        ++attachments_;
        error_.clear();
        next_inode_check_ns_ = now + inode_check_ns;
        state_ = attach_state::ready;
        if (options_.register_reader) {
            try_register();
        }
    }
    return state_;
}

void reader_impl::try_register() noexcept
{
    try {
        registry_ = map_existing(registry_name(config_), true);
    } catch (const std::exception&) {
        registry_.reset();  // another uid: run unregistered (no laps in tools, timed sleeps)
    }
    if (!registry_ || registry_->size() < sizeof(layout::registry_header) + layout::registry_slots * sizeof(layout::reader_slot)) {
        registry_.reset();
        return;
    }
    reg_ = reinterpret_cast<layout::registry_header*>(registry_->data());
    if (load_acquire(reg_->magic) != layout::registry_magic) {
        registry_.reset();
        reg_ = nullptr;
        return;
    }
    auto* slots = reinterpret_cast<layout::reader_slot*>(registry_->data() + sizeof(layout::registry_header));
    const int fd = registry_->shm.get_mapping_handle().handle;
    for (std::uint32_t i = 0; i < layout::registry_slots; ++i) {
        if (ofd_try_lock(fd, i, 1) == 0) {
            // The lock on byte i is the ownership; the fields below are informative.
            my_slot_ = &slots[i];
            store_relaxed(my_slot_->laps, laps_);
            store_relaxed(my_slot_->records, records_);
            store_relaxed(my_slot_->waiting, 0u);
            char name[32] = {};
            std::memcpy(name, options_.name.data(), std::min<std::size_t>(options_.name.size(), sizeof name - 1));
            std::memcpy(my_slot_->name, name, sizeof name);
            store_relaxed(my_slot_->pid, static_cast<std::int64_t>(::getpid()));
            return;
        }
    }
    // 64 readers already: run unregistered.
}

void reader_impl::unregister() noexcept
{
    if (my_slot_ != nullptr && reg_ != nullptr) {
        // A clean exit folds its own laps into the total, as the writer does for dead readers.
        std::atomic_ref<std::uint64_t>(reg_->dead_reader_laps).fetch_add(laps_, std::memory_order_relaxed);
        store_relaxed(my_slot_->laps, std::uint64_t{0});
        store_relaxed(my_slot_->pid, std::int64_t{0});
    }
    my_slot_ = nullptr;
    reg_ = nullptr;
    registry_.reset();  // closing the descriptor releases the slot's lock
}

std::size_t reader_impl::poll(record_fn fn, std::size_t max)
{
    if (attach() != attach_state::ready) {
        return 0;
    }
    auto* h = view_.hdr;
    if (const std::uint64_t g = load_acquire(h->generation); g != generation_) {
        generation_ = g;  // a new writer continues the same ring; positions stay valid
    }
    const std::uint64_t ring_bytes = h->ring_bytes;
    const std::uint64_t* ring = view_.ring();
    std::size_t n = 0;
    while (n < max) {
        const std::uint64_t tail = load_acquire(h->tail);  // R1
        if (cursor_ >= tail) {
            if (cursor_ > tail) {
                cursor_ = tail;  // the ring was reset under us (corruption repair)
            }
            break;
        }
        if (!valid(cursor_)) {
            lapped();
            continue;
        }
        const std::uint64_t offset = cursor_ & view_.ring_mask;
        const std::uint64_t word = load_relaxed(ring[offset / 8]);  // R2 (header)
        const std::uint64_t length = layout::frame_length(word);
        const std::uint16_t type = layout::frame_type(word);
        const std::uint64_t aligned = layout::align_frame(length);
        if (length < 8 || aligned > ring_bytes - offset || (type != 0 && length < layout::frame_header_bytes)) {
            // Only a frame overwritten while we looked can look like this.
            if (!valid(cursor_)) {
                lapped();
                continue;
            }
            lapped();  // corrupt but "valid": cannot happen with one writer; resynchronise anyway
            continue;
        }
        if (type == 0) {
            if (!valid(cursor_)) {
                lapped();
                continue;
            }
            cursor_ += aligned;
            continue;
        }
        copy_out(scratch_.get(), ring + offset / 8 + 1, length - 8);  // R2 (time + payload)
        if (!valid(cursor_)) {  // R3 + R4
            lapped();
            continue;
        }
        record_view r;
        r.type = type;
        r.publish_ns = static_cast<std::int64_t>(scratch_[0]);
        r.position = cursor_;
        r.data = std::span<const std::byte>{reinterpret_cast<const std::byte*>(scratch_.get() + 1),
                                            length - layout::frame_header_bytes};
        cursor_ += aligned;
        bytes_read_ += aligned;
        ++records_;
        ++n;
        fn(r);
    }
    if (my_slot_ != nullptr && n != 0) {
        store_relaxed(my_slot_->records, records_);  // relaxed: a statistic for tools
    }
    return n;
}

bool reader_impl::wait(std::chrono::nanoseconds timeout) noexcept
{
    if (attach() != attach_state::ready) {
        std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(timeout, std::chrono::milliseconds{10}));
        return false;
    }
    auto* h = view_.hdr;
    if (cursor_ < load_acquire(h->tail)) {
        return true;
    }
    if (reg_ == nullptr || my_slot_ == nullptr) {
        std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(timeout, std::chrono::milliseconds{1}));
        return cursor_ < load_acquire(h->tail);
    }
    const std::uint32_t seen = load_acquire(reg_->notify_seq);
    store_relaxed(my_slot_->waiting, 1u);
    // seq_cst: the other half of the Dekker pair in writer::notify().
    std::atomic_ref<std::int32_t>(reg_->waiters).fetch_add(1, std::memory_order_seq_cst);
    if (cursor_ >= std::atomic_ref<std::uint64_t>(h->tail).load(std::memory_order_seq_cst)) {
        futex_wait(&reg_->notify_seq, seen, timeout.count());
    }
    std::atomic_ref<std::int32_t>(reg_->waiters).fetch_sub(1, std::memory_order_seq_cst);
    store_relaxed(my_slot_->waiting, 0u);
    return cursor_ < load_acquire(h->tail);
}

read_status reader_impl::read_slot(std::uint32_t i, record_fn fn) noexcept
{
    const layout::slot_header* s = view_.slot(i);
    const std::uint64_t* data = view_.slot_data(i);
    const std::uint64_t capacity = view_.hdr->slot_data_bytes;
    for (int attempt = 0; attempt < max_slot_attempts; ++attempt) {
        if (attempt >= 16) {
            if (attempt % 16 == 0) {
                ::sched_yield();  // let a descheduled writer finish its update
            } else {
                VS_CPU_RELAX();
            }
        }
        const std::uint64_t seq1 = load_acquire(s->seq);  // pairs with the writer's even store
        if ((seq1 & 1) != 0) {
            continue;
        }
        const std::uint64_t length = load_relaxed(s->length);
        const std::int64_t publish_ns = load_relaxed(s->publish_ns);
        if (length > capacity) {
            continue;  // torn: the fence + seq check below would fail anyway
        }
        copy_out(scratch_.get(), data, length);
        std::atomic_thread_fence(std::memory_order_acquire);  // copies before the second seq load
        if (load_relaxed(s->seq) != seq1) {
            continue;
        }
        if (length == 0) {
            return read_status::missing;  // a slot a killed writer left half-written, cleared
        }
        record_view r;
        r.type = s->type;
        r.publish_ns = publish_ns;
        r.symbol = std::string_view{s->symbol, std::min<std::size_t>(s->symbol_len, layout::symbol_capacity)};
        r.data = std::span<const std::byte>{reinterpret_cast<const std::byte*>(scratch_.get()), length};
        fn(r);
        return read_status::ok;
    }
    ++unavailable_;
    return read_status::unavailable;
}

read_status reader_impl::latest(record_type type, std::string_view symbol, record_fn fn)
{
    if (attach() != attach_state::ready) {
        return read_status::not_ready;
    }
    if (symbol.size() > layout::symbol_capacity) {
        return read_status::missing;
    }
    const std::int64_t slot = find_slot(view_, type, symbol);
    if (slot < 0) {
        return read_status::missing;
    }
    return read_slot(static_cast<std::uint32_t>(slot), fn);
}

std::size_t reader_impl::for_each(record_type type, record_fn fn)
{
    if (attach() != attach_state::ready) {
        return 0;
    }
    // Acquire pairs with the writer's release store of table_used: counted slots have keys.
    const std::uint64_t used = std::min<std::uint64_t>(load_acquire(view_.hdr->table_used), view_.hdr->table_slots);
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < used; ++i) {
        if (type != 0 && view_.slot(i)->type != type) {
            continue;
        }
        if (read_slot(i, fn) == read_status::ok) {
            ++n;
        }
    }
    return n;
}

channel_status reader_impl::status() noexcept
{
    channel_status st;
    if (attach() != attach_state::ready) {
        return st;
    }
    const auto* h = view_.hdr;
    st.attached = true;
    st.generation = load_acquire(h->generation);
    st.writer_pid = load_relaxed(h->writer_pid);
    st.writer_started_ns = load_relaxed(h->writer_started_ns);
    const std::int64_t hb = load_relaxed(h->heartbeat_mono_ns);
    st.heartbeat_age_ns = hb == 0 ? -1 : vs::monotonic_ns() - hb;
    st.records_published = load_relaxed(h->records_published);
    st.records_dropped = load_relaxed(h->records_dropped);
    st.table_used = load_relaxed(h->table_used);
    st.table_slots = h->table_slots;
    st.ring_bytes = h->ring_bytes;
    st.slot_bytes = h->slot_data_bytes;
    st.record_types = header_record_types(*h);
    st.schema_hash = h->schema_hash;
    if (!lock_fd_) {
        lock_fd_ = unique_fd{::open(lock_path(config_).c_str(), O_RDONLY | O_CLOEXEC)};
    }
    const bool locked = lock_fd_ && ofd_is_locked(lock_fd_.get(), 0, 0);
    st.writer_alive = locked && st.heartbeat_age_ns >= 0 &&
                      st.heartbeat_age_ns < std::chrono::nanoseconds{options_.heartbeat_timeout}.count();
    // Laps and live readers come from the registry (read-only is enough for tools).
    // Unregistered readers (tools, vs-api workers) map the registry read-only once and keep it.
    const mapping* reg = registry_.get();
    if (reg == nullptr) {
        if (!status_registry_) {
            try {
                status_registry_ = map_existing(registry_name(config_), false);
            } catch (const std::exception&) {
                status_registry_.reset();
            }
        }
        reg = status_registry_.get();
    }
    if (reg != nullptr && reg->size() >= sizeof(layout::registry_header) + layout::registry_slots * sizeof(layout::reader_slot)) {
        const auto* rh = reinterpret_cast<const layout::registry_header*>(reg->data());
        const auto* slots = reinterpret_cast<const layout::reader_slot*>(reg->data() + sizeof(layout::registry_header));
        const int fd = const_cast<mapping*>(reg)->shm.get_mapping_handle().handle;
        std::uint64_t laps = load_relaxed(rh->dead_reader_laps);
        for (std::uint32_t i = 0; i < layout::registry_slots; ++i) {
            if (load_relaxed(slots[i].pid) == 0) {
                continue;
            }
            // Our own slot's lock is held by our descriptor, which F_OFD_GETLK does not report.
            const bool mine = &slots[i] == my_slot_;
            if (mine || ofd_is_locked(fd, i, 1)) {
                ++st.readers;
                laps += mine ? laps_ : load_relaxed(slots[i].laps);
            }
        }
        st.reader_laps = laps;
    }
    return st;
}

// --- public facade ---------------------------------------------------------------------

reader::reader(const channel_config& config, reader_options options)
    : impl_(std::make_unique<reader_impl>(config, std::move(options)))
{
    impl_->attach();
}
reader::~reader() = default;
reader::reader(reader&&) noexcept = default;
reader& reader::operator=(reader&&) noexcept = default;

attach_state reader::attach() noexcept { return impl_->attach(); }
attach_state reader::state() const noexcept { return impl_->state_; }
const std::string& reader::error() const noexcept { return impl_->error_; }
bool reader::wait(std::chrono::nanoseconds timeout) noexcept { return impl_->wait(timeout); }
void reader::seek_to_tail() noexcept { impl_->seek_to_tail(); }
channel_status reader::status() noexcept { return impl_->status(); }
std::uint64_t reader::laps() const noexcept { return impl_->laps_; }
std::uint64_t reader::records_lost() const noexcept
{
    // Estimated from the bytes skipped and the mean frame size read so far (at least one
    // record per lap).
    const std::uint64_t mean = impl_->records_ == 0 ? 64 : std::max<std::uint64_t>(8, impl_->bytes_read_ / impl_->records_);
    return std::max(impl_->laps_, impl_->lost_bytes_ / mean);
}
std::uint64_t reader::unavailable_slots() const noexcept { return impl_->unavailable_; }
std::uint64_t reader::generation() const noexcept { return impl_->generation_; }
std::uint64_t reader::attachments() const noexcept { return impl_->attachments_; }

std::size_t reader::poll(record_fn fn, std::size_t max) { return impl_->poll(fn, max); }
read_status reader::latest(record_type type, std::string_view symbol, record_fn fn)
{
    return impl_->latest(type, symbol, fn);
}
std::size_t reader::for_each_latest(record_type type, record_fn fn) { return impl_->for_each(type, fn); }

std::vector<std::string> list_channels(const std::string& prefix)
{
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator{"/dev/shm", ec}) {
        const std::string f = e.path().filename().string();
        if (f.size() <= prefix.size() + 1 || f.compare(0, prefix.size(), prefix) != 0 || f[prefix.size()] != '.') {
            continue;
        }
        std::string rest = f.substr(prefix.size() + 1);
        if (rest.find('.') != std::string::npos) {
            continue;  // .lock / .readers companions
        }
        // A channel has a writer lock file beside it; other objects under the prefix (the REST
        // weight budget, <prefix>.rest-weight) are not channels.
        if (!std::filesystem::exists("/dev/shm/" + f + ".lock", ec)) {
            continue;
        }
        out.push_back(rest);
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace vs::bus
