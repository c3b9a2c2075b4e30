// LMDB snapshots of a writer's latest table (see vs/bus/snapshot.hpp for the file format),
// over the shared LMDB layer (vs/lmdb/lmdb.hpp); its errors leave as bus_error.
#include "vs/bus/snapshot.hpp"

#include <cstring>
#include <optional>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vs/bus/layout.hpp"
#include "vs/bus/records.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/files.hpp"
#include "vs/lmdb/lmdb.hpp"

namespace vs::bus {
namespace {

void put_u64(std::byte* p, std::uint64_t v) noexcept
{
    for (int i = 0; i < 8; ++i) {
        p[i] = static_cast<std::byte>(v >> (8 * i));
    }
}

std::uint64_t get_u64(const std::byte* p) noexcept
{
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
        v |= std::uint64_t{static_cast<std::uint8_t>(p[i])} << (8 * i);
    }
    return v;
}

/// Runs `f`, turning LMDB errors into the bus_error snapshot_store documents.
template <class F>
auto lmdb_errors_as_bus_errors(F&& f) -> decltype(f())
{
    try {
        return f();
    } catch (const vs::lmdb::error& e) {
        throw bus_error(e.what());
    }
}

}  // namespace

struct snapshot_store::impl {
    std::optional<vs::lmdb::env> env;
    MDB_dbi latest = 0;
    MDB_dbi meta = 0;
    bool have_dbs = false;
    bool read_only = false;
    int stale_cleared = 0;
    std::filesystem::path path;

    void reader_check() noexcept
    {
        if (const int dead = env->reader_check(); dead > 0) {
            stale_cleared = dead;
            spdlog::warn("snapshot {}: cleared {} reader slot(s) left by dead processes", path.string(), dead);
        }
    }

    std::optional<MDB_val> meta_raw(const vs::lmdb::txn& t, std::string_view key) const
    {
        return t.get(meta, vs::lmdb::val(key), "read the metadata of");
    }

    std::uint64_t meta_value(const vs::lmdb::txn& t, std::string_view key) const
    {
        const auto v = meta_raw(t, key);
        return v && v->mv_size == 8 ? get_u64(static_cast<const std::byte*>(v->mv_data)) : 0;
    }

    snapshot_info read_info(const vs::lmdb::txn& t) const
    {
        snapshot_info i;
        i.schema_hash = meta_value(t, "schema_hash");
        if (const auto v = meta_raw(t, "record_types"); v && v->mv_size == sizeof i.record_types.words) {
            for (std::size_t w = 0; w < i.record_types.words.size(); ++w) {
                i.record_types.words[w] = get_u64(static_cast<const std::byte*>(v->mv_data) + 8 * w);
            }
        }
        i.schema_matches = i.schema_hash != 0 && !i.record_types.empty() &&
                           record_schema_hash(i.record_types) == i.schema_hash;
        i.layout_version = meta_value(t, "layout_version");
        i.saved_ns = static_cast<std::int64_t>(meta_value(t, "saved_ns"));
        i.generation = meta_value(t, "generation");
        i.count = meta_value(t, "count");
        return i;
    }
};

snapshot_store::snapshot_store(const std::filesystem::path& state_dir, const std::string& channel, bool read_only,
                               std::size_t map_bytes)
    : impl_(std::make_unique<impl>())
{
    impl_->read_only = read_only;
    impl_->path = state_dir / (channel + ".lmdb");
    std::error_code ec;
    if (read_only) {
        if (!std::filesystem::exists(impl_->path / "data.mdb", ec)) {
            throw bus_error(fmt::format("no snapshot at {} (no data.mdb)", impl_->path.string()));
        }
    } else {
        ec = vs::files::create_state_directories(impl_->path);   // 0750 whatever the umask
        if (ec) {
            throw bus_error(fmt::format("cannot create snapshot directory {}: {}", impl_->path.string(), ec.message()));
        }
    }
    lmdb_errors_as_bus_errors([&] {
        // MDB_NOTLS (the default flags): read transactions are not tied to threads (tools and
        // tests use several).
        impl_->env.emplace(impl_->path, vs::lmdb::env_options{.label = "snapshot",
                                                              .read_only = read_only,
                                                              .map_size = map_bytes,
                                                              .max_dbs = 4});
        impl_->reader_check();
        vs::lmdb::txn t{*impl_->env, read_only ? vs::lmdb::txn::read : vs::lmdb::txn::write};
        const auto latest = t.open_dbi("latest", !read_only);
        const auto meta = t.open_dbi("meta", !read_only);
        impl_->have_dbs = latest && meta;
        impl_->latest = latest.value_or(0);
        impl_->meta = meta.value_or(0);
        // Commit even a read-only transaction: database handles opened in an aborted one are closed.
        t.commit("initialise");
    });
}

snapshot_store::~snapshot_store() = default;
snapshot_store::snapshot_store(snapshot_store&&) noexcept = default;
snapshot_store& snapshot_store::operator=(snapshot_store&&) noexcept = default;

std::size_t snapshot_store::save(const writer& w)
{
    return save_records(
        [&](const std::function<void(const record_view&)>& fn) {
            w.for_each_latest(std::function<void(const record_view&)>{fn});
        },
        w.status());
}

std::size_t snapshot_store::save(reader& r)
{
    if (r.attach() != attach_state::ready) {
        throw bus_error("cannot snapshot " + impl_->path.string() + ": channel not attached (" + r.error() + ")");
    }
    return save_records(
        [&](const std::function<void(const record_view&)>& fn) {
            auto copy = fn;
            r.for_each_latest(0, copy);
        },
        r.status());
}

std::size_t snapshot_store::save_records(const record_visitor& visit, const channel_status& channel)
{
    if (impl_->read_only) {
        throw bus_error("snapshot " + impl_->path.string() + " is open read-only");
    }
    return lmdb_errors_as_bus_errors([&] {
        impl_->reader_check();  // a reader killed mid-read must not pin old pages forever
        vs::lmdb::txn t{*impl_->env, vs::lmdb::txn::write};
        t.clear(impl_->latest);
        std::size_t count = 0;
        std::vector<std::byte> key;
        std::vector<std::byte> value;
        int put_rc = 0;
        // Nothing may throw inside the visit (the reader's slot copies are noexcept): the
        // first failed put stops the saving, and is thrown after it.
        visit([&](const record_view& r) {
            if (put_rc != 0) {
                return;
            }
            key.resize(2 + r.symbol.size());
            key[0] = static_cast<std::byte>(r.type >> 8);
            key[1] = static_cast<std::byte>(r.type & 0xff);
            std::memcpy(key.data() + 2, r.symbol.data(), r.symbol.size());
            value.resize(8 + r.data.size());
            put_u64(value.data(), static_cast<std::uint64_t>(r.publish_ns));
            std::memcpy(value.data() + 8, r.data.data(), r.data.size());
            MDB_val k = vs::lmdb::val(key);
            MDB_val v = vs::lmdb::val(value);
            put_rc = ::mdb_put(t.get(), impl_->latest, &k, &v, 0);
            ++count;
        });
        t.check(put_rc, "write a record to");  // e.g. MDB_MAP_FULL: aborted, the old snapshot stays
        const std::pair<const char*, std::uint64_t> meta[] = {
            {"schema_hash", record_schema_hash(channel.record_types)},
            {"layout_version", layout::layout_version},
            {"saved_ns", static_cast<std::uint64_t>(vs::realtime_ns())},
            {"generation", channel.generation},
            {"count", count},
        };
        std::byte buf[8 * record_type_set{}.words.size()];
        for (const auto& [name, number] : meta) {
            put_u64(buf, number);
            t.put(impl_->meta, vs::lmdb::val(std::string_view{name}), vs::lmdb::val(buf, 8), "write metadata to");
        }
        for (std::size_t w = 0; w < channel.record_types.words.size(); ++w) {
            put_u64(buf + 8 * w, channel.record_types.words[w]);
        }
        t.put(impl_->meta, vs::lmdb::val(std::string_view{"record_types"}), vs::lmdb::val(buf, sizeof buf),
              "write metadata to");
        t.commit("commit");  // ENOSPC on a full disk lands here
        return count;
    });
}

std::size_t snapshot_store::restore(writer& w, const std::function<bool(const record_view&)>& keep)
{
    if (!impl_->have_dbs) {
        return 0;
    }
    const snapshot_info i = info();
    if (i.schema_hash == 0) {
        return 0;  // never saved
    }
    if (!i.schema_matches) {
        const std::uint64_t mine = record_schema_hash(i.record_types);
        throw bus_error(
            i.record_types.empty()
                ? fmt::format("snapshot {} was written with record schema hash 0x{:016x} and no record types (an "
                              "older release); not restoring it (delete it or run the matching release)",
                              impl_->path.string(), i.schema_hash)
            : mine == 0
                ? fmt::format("snapshot {} was written with record schema hash 0x{:016x} for record types ({}), "
                              "some of which this build does not know; not restoring it (delete it or run the "
                              "matching release)",
                              impl_->path.string(), i.schema_hash, describe(i.record_types))
                : fmt::format("snapshot {} was written with record schema hash 0x{:016x} for its record types ({}), "
                              "this build has 0x{:016x} for them; not restoring it (delete it or run the matching "
                              "release)",
                              impl_->path.string(), i.schema_hash, describe(i.record_types), mine));
    }
    std::size_t count = 0;
    std::size_t skipped = 0;
    for_each([&](const record_view& r) {
        if (keep && !keep(r)) {
            return;
        }
        if (!verify_record(r.type, r.data) ||
            w.publish(r.type, r.symbol, r.data, r.publish_ns, to_table) != publish_status::ok) {
            ++skipped;
            return;
        }
        ++count;
    });
    if (skipped != 0) {
        spdlog::warn("snapshot {}: skipped {} record(s) that do not verify, do not fit or are not of the channel's "
                     "record types",
                     impl_->path.string(), skipped);
    }
    return count;
}

void snapshot_store::for_each(const std::function<void(const record_view&)>& fn) const
{
    if (!impl_->have_dbs) {
        return;
    }
    lmdb_errors_as_bus_errors([&] {
        vs::lmdb::txn t{*impl_->env, vs::lmdb::txn::read};
        vs::lmdb::cursor cur{t, impl_->latest};
        MDB_val k{};
        MDB_val v{};
        // LMDB hands out pointers into the map: copy each value so that the FlatBuffer is aligned.
        std::vector<std::uint64_t> aligned;
        for (bool more = cur.get(k, v, MDB_FIRST); more; more = cur.get(k, v, MDB_NEXT)) {
            if (k.mv_size < 2 || k.mv_size > 2 + layout::symbol_capacity || v.mv_size < 8) {
                continue;
            }
            const auto* kb = static_cast<const std::byte*>(k.mv_data);
            const auto* vb = static_cast<const std::byte*>(v.mv_data);
            aligned.assign((v.mv_size - 8 + 7) / 8, 0);
            std::memcpy(aligned.data(), vb + 8, v.mv_size - 8);
            record_view r;
            r.type = static_cast<record_type>((std::to_integer<unsigned>(kb[0]) << 8) | std::to_integer<unsigned>(kb[1]));
            r.publish_ns = static_cast<std::int64_t>(get_u64(vb));
            r.symbol = std::string_view{reinterpret_cast<const char*>(kb + 2), k.mv_size - 2};
            r.data = std::span<const std::byte>{reinterpret_cast<const std::byte*>(aligned.data()), v.mv_size - 8};
            fn(r);
        }
    });
}

snapshot_info snapshot_store::info() const
{
    if (!impl_->have_dbs) {
        return {};
    }
    return lmdb_errors_as_bus_errors([&] {
        vs::lmdb::txn t{*impl_->env, vs::lmdb::txn::read};
        return impl_->read_info(t);
    });
}

int snapshot_store::stale_readers_cleared() const noexcept { return impl_->stale_cleared; }
const std::filesystem::path& snapshot_store::path() const noexcept { return impl_->path; }

}  // namespace vs::bus
