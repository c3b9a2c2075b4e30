// The single writer of a channel: takes the lock, creates or repairs the segment, publishes
// frames into the ring and records into the latest table. See vs/bus/layout.hpp for the
// protocol; the labels W1..W4 below refer to it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "segment.hpp"
#include "vs/bus/channel.hpp"
#include "vs/common/clock.hpp"

namespace vs::bus {

using namespace vs::bus::detail;
namespace bip = boost::interprocess;

class writer_impl {
public:
    explicit writer_impl(const channel_config& config);

    publish_status publish(record_type type, std::string_view symbol, std::span<const std::byte> record,
                           std::int64_t publish_ns, unsigned to) noexcept;
    void notify() noexcept;
    void heartbeat() noexcept;
    void visit(record_fn fn) const;
    channel_status status() const noexcept;

    channel_config config_;
    geometry geo_;
    std::string path_;
    unique_fd lock_fd_;
    std::unique_ptr<mapping> data_;
    std::unique_ptr<mapping> registry_;
    segment_view view_;
    layout::registry_header* reg_ = nullptr;
    layout::reader_slot* reg_slots_ = nullptr;
    std::uint64_t tail_ = 0;          // writer-private copy of hdr->tail
    std::uint64_t published_ = 0;
    std::uint64_t dropped_ = 0;
    std::uint64_t table_updates_ = 0;
    std::int64_t last_sweep_ns_ = 0;

private:
    void take_lock();
    void open_or_create_segment();
    void create_segment();
    void repair();
    void open_or_create_registry();
    void sweep_dead_readers() noexcept;
    void write_skip(std::uint64_t from, std::uint64_t to) noexcept;
    std::int64_t insert_index(std::uint32_t slot, std::uint16_t type, std::string_view symbol) noexcept;
    bool table_store(record_type type, std::string_view symbol, std::span<const std::byte> record,
                     std::int64_t publish_ns) noexcept;
};

writer_impl::writer_impl(const channel_config& config) : config_(config)
{
    validate_names(config_);
    geo_ = compute_geometry(config_);
    path_ = "/dev/shm/" + shm_name(config_);
    take_lock();
    open_or_create_segment();
    open_or_create_registry();

    auto* h = view_.hdr;
    tail_ = load_relaxed(h->tail);
    published_ = load_relaxed(h->records_published);
    dropped_ = load_relaxed(h->records_dropped);
    table_updates_ = load_relaxed(h->table_updates);
    store_relaxed(h->writer_pid, static_cast<std::int64_t>(::getpid()));
    store_relaxed(h->writer_started_ns, vs::realtime_ns());
    heartbeat();
    // Release pairs with the readers' acquire load of `generation`: a reader that sees the
    // new generation also sees the repaired ring and table and the new writer identity.
    store_release(h->generation, load_relaxed(h->generation) + 1);
    // Release pairs with the readers' acquire load of init_state (first attach).
    store_release(h->init_state, layout::state_ready);
    spdlog::info("bus: writer of {} ready (generation {}, ring {} KiB, table {} slots of {} B)", path_,
                 load_relaxed(h->generation), geo_.ring_bytes >> 10, geo_.table_slots, geo_.slot_data_bytes);
}

void writer_impl::take_lock()
{
    const std::string lp = lock_path(config_);
    unique_fd fd{::open(lp.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640)};
    if (!fd) {
        throw bus_error(fmt::format("cannot open lock file {}: {}", lp, std::strerror(errno)));
    }
    ::fchmod(fd.get(), 0640);
    if (int err = ofd_try_lock(fd.get(), 0, 0); err != 0) {
        if (err == EAGAIN || err == EACCES) {
            std::string who;
            if (auto m = map_existing(shm_name(config_), false);
                m && m->size() >= sizeof(layout::segment_header)) {
                const auto* h = reinterpret_cast<const layout::segment_header*>(m->data());
                who = fmt::format(" (pid {} according to the segment)", load_relaxed(h->writer_pid));
            }
            throw bus_error(fmt::format("channel '{}' under prefix '{}' already has a writer{}: {} is locked; "
                                        "exactly one writer per channel",
                                        config_.name, config_.prefix, who, lp));
        }
        throw bus_error(fmt::format("cannot lock {}: {}", lp, std::strerror(err)));
    }
    lock_fd_ = std::move(fd);
}

void writer_impl::open_or_create_segment()
{
    const std::string name = shm_name(config_);
    if (auto existing = map_existing(name, true)) {
        const auto* h = reinterpret_cast<const layout::segment_header*>(existing->data());
        std::string why = existing->size() < sizeof(layout::segment_header)
                              ? std::string{"too small"}
                              : incompatibility(*h, existing->size(), &geo_, config_.name);
        if (why.empty()) {
            data_ = std::move(existing);
            view_.base = data_->data();
            view_.hdr = reinterpret_cast<layout::segment_header*>(view_.base);
            view_.ring_mask = geo_.ring_bytes - 1;
            repair();
            return;
        }
        spdlog::warn("bus: re-creating {}: {}", path_, why);
        existing.reset();
        bip::shared_memory_object::remove(name.c_str());
    }
    create_segment();
}

void writer_impl::create_segment()
{
    const std::string name = shm_name(config_);
    auto m = std::make_unique<mapping>();
    try {
        m->shm = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write,
                                           bip::permissions(0640));
    } catch (const bip::interprocess_exception& e) {
        throw bus_error(fmt::format("cannot create {}: {}", path_, e.what()));
    }
    const int fd = m->shm.get_mapping_handle().handle;
    ::fchmod(fd, 0640);  // exactly 0640 whatever the umask
    // Reserve every page now: on a too-small /dev/shm this fails here with ENOSPC instead of
    // the process dying of SIGBUS on first touch later.
    if (int err = ::posix_fallocate(fd, 0, static_cast<off_t>(geo_.segment_bytes)); err != 0) {
        bip::shared_memory_object::remove(name.c_str());
        throw bus_error(fmt::format("cannot reserve {} MiB for {}: {} (is /dev/shm large enough? see df -h /dev/shm)",
                                    geo_.segment_bytes >> 20, path_, std::strerror(err)));
    }
    try {
        m->region = bip::mapped_region(m->shm, bip::read_write);
    } catch (const bip::interprocess_exception& e) {
        bip::shared_memory_object::remove(name.c_str());
        throw bus_error(fmt::format("cannot map {}: {}", path_, e.what()));
    }
    data_ = std::move(m);
    view_.base = data_->data();
    view_.hdr = reinterpret_cast<layout::segment_header*>(view_.base);
    view_.ring_mask = geo_.ring_bytes - 1;

    auto* h = view_.hdr;
    h->layout_version = layout::layout_version;
    h->header_size = layout::header_bytes;
    h->schema_hash = geo_.schema_hash;
    std::memcpy(h->record_types, geo_.record_types.words.data(), sizeof h->record_types);
    h->segment_bytes = geo_.segment_bytes;
    h->ring_offset = geo_.ring_offset;
    h->ring_bytes = geo_.ring_bytes;
    h->max_frame_bytes = geo_.max_frame_bytes;
    h->index_offset = geo_.index_offset;
    h->index_entries = geo_.index_entries;
    h->table_slots = geo_.table_slots;
    h->table_offset = geo_.table_offset;
    std::memcpy(h->channel, config_.name.data(), config_.name.size());
    h->slot_stride = geo_.slot_stride;
    h->slot_data_bytes = geo_.slot_data_bytes;
    // Release pairs with the readers' acquire load of `magic`: a reader that sees the magic sees
    // the geometry above. Zero magic means "being created" to a reader, not "incompatible".
    store_release(h->magic, layout::magic);
}

void writer_impl::write_skip(std::uint64_t from, std::uint64_t to) noexcept
{
    // Turns [from, to) into padding frames so readers skip what a killed writer left.
    std::uint64_t* ring = view_.ring();
    while (from < to) {
        const std::uint64_t offset = from & view_.ring_mask;
        const std::uint64_t len = std::min<std::uint64_t>(to - from, geo_.ring_bytes - offset);
        store_relaxed(ring[offset / 8], layout::pack_frame_word(static_cast<std::uint32_t>(len), 0, 0));
        from += len;
    }
}

void writer_impl::repair()
{
    auto* h = view_.hdr;
    // Ring: a writer killed between W1 and W4 left [tail, intent) half-written.
    const std::uint64_t tail = load_relaxed(h->tail);
    const std::uint64_t intent = load_relaxed(h->tail_intent);
    if (intent > tail && intent - tail <= geo_.ring_bytes) {
        write_skip(tail, intent);
        // Release pairs with the readers' acquire load of tail: the skip frames are visible.
        store_release(h->tail, intent);
        spdlog::warn("bus: {}: skipped {} bytes of a publish interrupted by the previous writer's death", path_,
                     intent - tail);
    } else if (intent != tail) {
        // Impossible unless the segment was corrupted: jump a whole ring ahead, so that every
        // reader sees itself lapped and resynchronises to `latest` (= the new tail: empty).
        store_relaxed(h->tail_intent, std::max(intent, tail) + geo_.ring_bytes);
        std::atomic_thread_fence(std::memory_order_release);
        store_release(h->tail, std::max(intent, tail) + geo_.ring_bytes);
        store_release(h->latest, std::max(intent, tail) + geo_.ring_bytes);
        spdlog::error("bus: {}: ring positions were inconsistent (tail {}, intent {}); readers resynchronise",
                      path_, tail, intent);
    }
    // Table: a slot whose seq is odd was being written when the writer died; its bytes are
    // garbage. Empty it (length 0) through a normal seqlock update.
    std::uint64_t used = load_relaxed(h->table_used);
    if (used > geo_.table_slots) {
        used = geo_.table_slots;
        store_release(h->table_used, used);
    }
    std::size_t repaired = 0;
    for (std::uint32_t i = 0; i < used; ++i) {
        layout::slot_header* s = view_.slot(i);
        const std::uint64_t seq = load_relaxed(s->seq);
        if ((seq & 1) != 0) {
            store_relaxed(s->length, std::uint64_t{0});
            // Release pairs with the readers' acquire load of seq (seqlock): even again.
            store_release(s->seq, seq + 1);
            ++repaired;
        }
        const std::string_view sym{s->symbol, std::min<std::size_t>(s->symbol_len, layout::symbol_capacity)};
        if (find_slot(view_, s->type, sym) < 0) {
            insert_index(i, s->type, sym);  // killed between counting the slot and indexing it
        }
    }
    if (repaired != 0) {
        spdlog::warn("bus: {}: cleared {} table slot(s) the previous writer left half-written", path_, repaired);
    }
}

void writer_impl::open_or_create_registry()
{
    const std::string name = registry_name(config_);
    constexpr std::size_t bytes =
        sizeof(layout::registry_header) + layout::registry_slots * sizeof(layout::reader_slot);
    auto m = map_existing(name, true);
    if (m && m->size() == bytes) {
        auto* rh = reinterpret_cast<layout::registry_header*>(m->data());
        if (load_acquire(rh->magic) == layout::registry_magic && rh->version == layout::registry_version) {
            registry_ = std::move(m);
        }
    }
    if (!registry_) {
        m.reset();
        bip::shared_memory_object::remove(name.c_str());
        auto r = std::make_unique<mapping>();
        try {
            r->shm = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write, bip::permissions(0640));
            ::fchmod(r->shm.get_mapping_handle().handle, 0640);
            if (int err = ::posix_fallocate(r->shm.get_mapping_handle().handle, 0, bytes); err != 0) {
                throw bus_error(fmt::format("cannot reserve the reader registry /dev/shm/{}: {}", name,
                                            std::strerror(err)));
            }
            r->region = bip::mapped_region(r->shm, bip::read_write);
        } catch (const bip::interprocess_exception& e) {
            throw bus_error(fmt::format("cannot create the reader registry /dev/shm/{}: {}", name, e.what()));
        }
        auto* rh = reinterpret_cast<layout::registry_header*>(r->data());
        rh->version = layout::registry_version;
        rh->slots = layout::registry_slots;
        // Release pairs with the readers' acquire load of the registry magic.
        store_release(rh->magic, layout::registry_magic);
        registry_ = std::move(r);
    }
    reg_ = reinterpret_cast<layout::registry_header*>(registry_->data());
    reg_slots_ = reinterpret_cast<layout::reader_slot*>(registry_->data() + sizeof(layout::registry_header));
    sweep_dead_readers();
}

void writer_impl::sweep_dead_readers() noexcept
{
    const int fd = registry_->shm.get_mapping_handle().handle;
    for (std::uint32_t i = 0; i < layout::registry_slots; ++i) {
        layout::reader_slot& s = reg_slots_[i];
        std::int64_t pid = load_relaxed(s.pid);
        if (pid == 0 || ofd_is_locked(fd, i, 1)) {
            continue;
        }
        // The reader died without cleaning up (its lock is gone). Fold its laps into the
        // total, undo its waiter count, and free the slot. The CAS loses to a new reader that
        // already took the slot (it locks first, then writes its pid).
        const std::uint64_t laps = load_relaxed(s.laps);
        const std::uint32_t waiting = load_relaxed(s.waiting);
        if (std::atomic_ref<std::int64_t>(s.pid).compare_exchange_strong(pid, 0, std::memory_order_relaxed)) {
            std::atomic_ref<std::uint64_t>(reg_->dead_reader_laps).fetch_add(laps, std::memory_order_relaxed);
            if (waiting != 0) {
                std::atomic_ref<std::int32_t>(reg_->waiters).fetch_sub(1, std::memory_order_seq_cst);
            }
        }
    }
}

std::int64_t writer_impl::insert_index(std::uint32_t slot, std::uint16_t type, std::string_view symbol) noexcept
{
    const std::uint32_t mask = geo_.index_entries - 1;
    std::uint32_t* index = view_.index();
    for (std::uint32_t i = key_hash(type, symbol) & mask, probes = 0; probes <= mask; i = (i + 1) & mask, ++probes) {
        if (load_relaxed(index[i]) == 0) {
            // Release pairs with find_slot's acquire load: the slot's key is visible first.
            store_release(index[i], slot + 1);
            return i;
        }
    }
    return -1;  // cannot happen: the index has twice as many entries as there are slots
}

bool writer_impl::table_store(record_type type, std::string_view symbol, std::span<const std::byte> record,
                              std::int64_t publish_ns) noexcept
{
    auto* h = view_.hdr;
    std::int64_t found = find_slot(view_, type, symbol);
    std::uint32_t slot;
    bool fresh = false;
    if (found >= 0) {
        slot = static_cast<std::uint32_t>(found);
    } else {
        const std::uint64_t used = load_relaxed(h->table_used);
        if (used >= geo_.table_slots) {
            return false;
        }
        slot = static_cast<std::uint32_t>(used);
        layout::slot_header* s = view_.slot(slot);
        // Key fields of an uncounted slot: no reader looks at them until table_used and the
        // index entry are published below (both release).
        s->type = type;
        s->symbol_len = static_cast<std::uint8_t>(symbol.size());
        std::memset(s->symbol, 0, sizeof s->symbol);
        std::memcpy(s->symbol, symbol.data(), symbol.size());
        fresh = true;
    }
    layout::slot_header* s = view_.slot(slot);
    const std::uint64_t seq = load_relaxed(s->seq);  // even: only this thread writes it
    store_relaxed(s->seq, seq + 1);
    // Release fence: the odd seq is visible before any of the data stores below (seqlock
    // writer; pairs with the reader's acquire fence before its second seq load).
    std::atomic_thread_fence(std::memory_order_release);
    store_relaxed(s->length, static_cast<std::uint64_t>(record.size()));
    store_relaxed(s->publish_ns, publish_ns);
    copy_in(view_.slot_data(slot), record.data(), record.size());
    // Release pairs with the reader's acquire load of seq: even seq publishes the data.
    store_release(s->seq, seq + 2);
    if (fresh) {
        // Count the slot (release: its key and data are visible to for_each readers), then
        // make it findable (release store in insert_index).
        store_release(h->table_used, std::uint64_t{slot} + 1);
        insert_index(slot, type, symbol);
    }
    store_relaxed(h->table_updates, ++table_updates_);
    return true;
}

publish_status writer_impl::publish(record_type type, std::string_view symbol, std::span<const std::byte> record,
                                    std::int64_t publish_ns, unsigned to) noexcept
{
    auto* h = view_.hdr;
    if (symbol.size() > layout::symbol_capacity) {
        store_relaxed(h->records_dropped, ++dropped_);
        return publish_status::bad_symbol;
    }
    if (!geo_.record_types.contains(type) || type == 0) {
        // Readers checked the schemas of the declared types only: anything else could be misread.
        store_relaxed(h->records_dropped, ++dropped_);
        return publish_status::bad_type;
    }
    const std::uint64_t length = layout::frame_header_bytes + record.size();
    if (((to & to_ring) != 0 && length > geo_.max_frame_bytes) ||
        ((to & to_table) != 0 && record.size() > geo_.slot_data_bytes)) {
        store_relaxed(h->records_dropped, ++dropped_);
        return publish_status::too_large;
    }
    if ((to & to_ring) != 0) {
        const std::uint64_t aligned = layout::align_frame(length);
        std::uint64_t offset = tail_ & view_.ring_mask;
        const std::uint64_t to_end = geo_.ring_bytes - offset;
        const std::uint64_t pad = to_end < aligned ? to_end : 0;
        const std::uint64_t frame_pos = tail_ + pad;
        const std::uint64_t new_tail = frame_pos + aligned;
        std::uint64_t* ring = view_.ring();
        store_relaxed(h->tail_intent, new_tail);                  // W1
        std::atomic_thread_fence(std::memory_order_release);      // W2: W1 before every frame store
        if (pad != 0) {
            store_relaxed(ring[offset / 8], layout::pack_frame_word(static_cast<std::uint32_t>(pad), 0, 0));
            offset = 0;
        }
        store_relaxed(ring[offset / 8], layout::pack_frame_word(static_cast<std::uint32_t>(length), type, 0));  // W3
        store_relaxed(ring[offset / 8 + 1], static_cast<std::uint64_t>(publish_ns));
        copy_in(ring + offset / 8 + 2, record.data(), record.size());
        // Release: a reader that resynchronises to `latest` (acquire) sees the whole frame.
        store_release(h->latest, frame_pos);
        store_release(h->tail, new_tail);                         // W4: publishes the frame
        tail_ = new_tail;
    }
    publish_status result = publish_status::ok;
    if ((to & to_table) != 0 && !table_store(type, symbol, record, publish_ns)) {
        result = publish_status::table_full;
        store_relaxed(h->records_dropped, ++dropped_);
    }
    // Relaxed: a statistic for tools; nothing is published through it.
    store_relaxed(h->records_published, ++published_);
    return result;
}

void writer_impl::notify() noexcept
{
    // Dekker pair with reader::wait(): the writer bumps the futex word then reads `waiters`;
    // a reader bumps `waiters` then sleeps only if the word is unchanged. seq_cst on both
    // sides means at least one of them sees the other, so no wake-up is lost.
    std::atomic_ref<std::uint32_t>(reg_->notify_seq).fetch_add(1, std::memory_order_seq_cst);
    if (std::atomic_ref<std::int32_t>(reg_->waiters).load(std::memory_order_seq_cst) > 0) {
        futex_wake_all(&reg_->notify_seq);
    }
}

void writer_impl::heartbeat() noexcept
{
    const std::int64_t mono = vs::monotonic_ns();
    // Relaxed: readers compare the time only; no other data is published through it.
    store_relaxed(view_.hdr->heartbeat_mono_ns, mono);
    store_relaxed(view_.hdr->heartbeat_real_ns, vs::realtime_ns());
    if (mono - last_sweep_ns_ >= 1'000'000'000) {
        last_sweep_ns_ = mono;
        sweep_dead_readers();
    }
}

void writer_impl::visit(record_fn fn) const
{
    const std::uint64_t used = load_relaxed(view_.hdr->table_used);
    for (std::uint32_t i = 0; i < used; ++i) {
        const layout::slot_header* s = view_.slot(i);
        if (s->length == 0) {
            continue;
        }
        record_view r;
        r.type = s->type;
        r.publish_ns = s->publish_ns;
        r.symbol = std::string_view{s->symbol, s->symbol_len};
        r.data = std::span<const std::byte>{reinterpret_cast<const std::byte*>(view_.slot_data(i)), s->length};
        fn(r);
    }
}

channel_status writer_impl::status() const noexcept
{
    const auto* h = view_.hdr;
    channel_status st;
    st.attached = true;
    st.writer_alive = true;
    st.record_types = geo_.record_types;
    st.schema_hash = geo_.schema_hash;
    st.generation = load_relaxed(h->generation);
    st.writer_pid = load_relaxed(h->writer_pid);
    st.writer_started_ns = load_relaxed(h->writer_started_ns);
    st.heartbeat_age_ns = vs::monotonic_ns() - load_relaxed(h->heartbeat_mono_ns);
    st.records_published = published_;
    st.records_dropped = dropped_;
    st.table_used = load_relaxed(h->table_used);
    st.table_slots = h->table_slots;
    st.ring_bytes = h->ring_bytes;
    st.slot_bytes = h->slot_data_bytes;
    std::uint64_t laps = load_relaxed(reg_->dead_reader_laps);
    const int fd = registry_->shm.get_mapping_handle().handle;
    for (std::uint32_t i = 0; i < layout::registry_slots; ++i) {
        if (load_relaxed(reg_slots_[i].pid) != 0 && ofd_is_locked(fd, i, 1)) {
            ++st.readers;
            laps += load_relaxed(reg_slots_[i].laps);
        }
    }
    st.reader_laps = laps;
    return st;
}

// --- public facade ---------------------------------------------------------------------

writer::writer(const channel_config& config) : impl_(std::make_unique<writer_impl>(config)) {}
writer::~writer() = default;
writer::writer(writer&&) noexcept = default;
writer& writer::operator=(writer&&) noexcept = default;

publish_status writer::publish(record_type type, std::string_view symbol, std::span<const std::byte> record,
                               std::int64_t publish_ns, unsigned to) noexcept
{
    return impl_->publish(type, symbol, record, publish_ns, to);
}

void writer::notify() noexcept { impl_->notify(); }
void writer::heartbeat() noexcept { impl_->heartbeat(); }
void writer::for_each_latest(record_fn fn) const { impl_->visit(fn); }
channel_status writer::status() const noexcept { return impl_->status(); }
std::uint64_t writer::generation() const noexcept { return load_relaxed(impl_->view_.hdr->generation); }

void writer::new_generation() noexcept
{
    auto* h = impl_->view_.hdr;
    // Release pairs with the readers' acquire load of `generation`, as at a writer start:
    // a reader that sees it also sees every record published before.
    store_release(h->generation, load_relaxed(h->generation) + 1);
}
const std::string& writer::path() const noexcept { return impl_->path_; }
std::size_t writer::max_record_bytes() const noexcept
{
    return std::min<std::size_t>(impl_->geo_.max_frame_bytes - layout::frame_header_bytes, impl_->geo_.slot_data_bytes);
}

std::string segment_path(const channel_config& c) { return "/dev/shm/" + shm_name(c); }

}  // namespace vs::bus
