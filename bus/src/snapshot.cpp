// LMDB snapshots of a writer's latest table (see vs/bus/snapshot.hpp for the file format).
#include "vs/bus/snapshot.hpp"

#include <lmdb.h>

#include <cstring>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "schemas/schema_info.hpp"
#include "vs/bus/layout.hpp"
#include "vs/bus/records.hpp"
#include "vs/common/clock.hpp"

namespace vs::bus {
namespace {

std::string lmdb_error(int rc) { return ::mdb_strerror(rc); }

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

/// Aborts the transaction unless committed.
struct txn_guard {
    MDB_txn* txn = nullptr;
    ~txn_guard()
    {
        if (txn != nullptr) {
            ::mdb_txn_abort(txn);
        }
    }
    int commit()
    {
        int rc = ::mdb_txn_commit(txn);
        txn = nullptr;
        return rc;
    }
};

}  // namespace

struct snapshot_store::impl {
    MDB_env* env = nullptr;
    MDB_dbi latest = 0;
    MDB_dbi meta = 0;
    bool have_dbs = false;
    bool read_only = false;
    int stale_cleared = 0;
    std::filesystem::path path;

    ~impl()
    {
        if (env != nullptr) {
            ::mdb_env_close(env);
        }
    }

    [[noreturn]] void fail(const char* what, int rc) const
    {
        throw bus_error(fmt::format("cannot {} snapshot {}: {}", what, path.string(), lmdb_error(rc)));
    }

    void reader_check() noexcept
    {
        int dead = 0;
        if (::mdb_reader_check(env, &dead) == 0 && dead > 0) {
            stale_cleared = dead;
            spdlog::warn("snapshot {}: cleared {} reader slot(s) left by dead processes", path.string(), dead);
        }
    }

    bool open_dbs(MDB_txn* txn)
    {
        const unsigned flags = read_only ? 0u : MDB_CREATE;
        int rc = ::mdb_dbi_open(txn, "latest", flags, &latest);
        if (rc == MDB_NOTFOUND) {
            return false;
        }
        if (rc != 0) {
            fail("open database 'latest' of", rc);
        }
        rc = ::mdb_dbi_open(txn, "meta", flags, &meta);
        if (rc == MDB_NOTFOUND) {
            return false;
        }
        if (rc != 0) {
            fail("open database 'meta' of", rc);
        }
        have_dbs = true;
        return true;
    }

    std::uint64_t meta_value(MDB_txn* txn, const char* key) const
    {
        MDB_val k{std::strlen(key), const_cast<char*>(key)};
        MDB_val v{};
        if (::mdb_get(txn, meta, &k, &v) != 0 || v.mv_size != 8) {
            return 0;
        }
        return get_u64(static_cast<const std::byte*>(v.mv_data));
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
        std::filesystem::create_directories(impl_->path, ec);
        if (ec) {
            throw bus_error(fmt::format("cannot create snapshot directory {}: {}", impl_->path.string(), ec.message()));
        }
    }
    int rc = ::mdb_env_create(&impl_->env);
    if (rc != 0) {
        impl_->fail("create environment for", rc);
    }
    ::mdb_env_set_maxdbs(impl_->env, 4);
    ::mdb_env_set_mapsize(impl_->env, map_bytes);
    // MDB_NOTLS: read transactions are not tied to threads (tools and tests use several).
    rc = ::mdb_env_open(impl_->env, impl_->path.c_str(), MDB_NOTLS | (read_only ? MDB_RDONLY : 0u), 0640);
    if (rc != 0) {
        impl_->fail("open", rc);
    }
    impl_->reader_check();
    MDB_txn* txn = nullptr;
    rc = ::mdb_txn_begin(impl_->env, nullptr, read_only ? MDB_RDONLY : 0u, &txn);
    if (rc != 0) {
        impl_->fail("begin a transaction on", rc);
    }
    txn_guard guard{txn};
    impl_->open_dbs(txn);
    // Commit even a read-only transaction: database handles opened in an aborted one are closed.
    rc = guard.commit();
    if (rc != 0) {
        impl_->fail("initialise", rc);
    }
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
        w.generation());
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
        r.generation());
}

std::size_t snapshot_store::save_records(const record_visitor& visit, std::uint64_t generation)
{
    if (impl_->read_only) {
        throw bus_error("snapshot " + impl_->path.string() + " is open read-only");
    }
    impl_->reader_check();  // a reader killed mid-read must not pin old pages forever
    MDB_txn* txn = nullptr;
    int rc = ::mdb_txn_begin(impl_->env, nullptr, 0, &txn);
    if (rc != 0) {
        impl_->fail("begin a write transaction on", rc);
    }
    txn_guard guard{txn};
    rc = ::mdb_drop(txn, impl_->latest, 0);
    if (rc != 0) {
        impl_->fail("clear", rc);
    }
    std::size_t count = 0;
    std::vector<std::byte> key;
    std::vector<std::byte> value;
    int put_rc = 0;
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
        MDB_val k{key.size(), key.data()};
        MDB_val v{value.size(), value.data()};
        put_rc = ::mdb_put(txn, impl_->latest, &k, &v, 0);
        ++count;
    });
    if (put_rc != 0) {
        impl_->fail("write a record to", put_rc);  // e.g. MDB_MAP_FULL; the old snapshot stays
    }
    const std::pair<const char*, std::uint64_t> meta[] = {
        {"schema_hash", vs::schema_info::hash},
        {"layout_version", layout::layout_version},
        {"saved_ns", static_cast<std::uint64_t>(vs::realtime_ns())},
        {"generation", generation},
        {"count", count},
    };
    for (const auto& [name, number] : meta) {
        std::byte buf[8];
        put_u64(buf, number);
        MDB_val k{std::strlen(name), const_cast<char*>(name)};
        MDB_val v{8, buf};
        rc = ::mdb_put(txn, impl_->meta, &k, &v, 0);
        if (rc != 0) {
            impl_->fail("write metadata to", rc);
        }
    }
    rc = guard.commit();
    if (rc != 0) {
        impl_->fail("commit", rc);  // ENOSPC on a full disk lands here
    }
    return count;
}

std::size_t snapshot_store::restore(writer& w, const std::function<bool(const record_view&)>& keep)
{
    if (!impl_->have_dbs) {
        return 0;
    }
    MDB_txn* txn = nullptr;
    int rc = ::mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) {
        impl_->fail("begin a read transaction on", rc);
    }
    txn_guard guard{txn};
    const std::uint64_t hash = impl_->meta_value(txn, "schema_hash");
    if (hash == 0) {
        return 0;  // never saved
    }
    if (hash != vs::schema_info::hash) {
        throw bus_error(fmt::format("snapshot {} was written with record schema hash {:016x}, this program has {:016x}; "
                                    "not restoring it (delete it or run the matching release)",
                                    impl_->path.string(), hash, vs::schema_info::hash));
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
        spdlog::warn("snapshot {}: skipped {} record(s) that do not verify or do not fit", impl_->path.string(), skipped);
    }
    return count;
}

void snapshot_store::for_each(const std::function<void(const record_view&)>& fn) const
{
    if (!impl_->have_dbs) {
        return;
    }
    MDB_txn* txn = nullptr;
    int rc = ::mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) {
        impl_->fail("begin a read transaction on", rc);
    }
    txn_guard guard{txn};
    MDB_cursor* cur = nullptr;
    rc = ::mdb_cursor_open(txn, impl_->latest, &cur);
    if (rc != 0) {
        impl_->fail("open a cursor on", rc);
    }
    MDB_val k{};
    MDB_val v{};
    // LMDB hands out pointers into the map: copy each value so that the FlatBuffer is aligned.
    std::vector<std::uint64_t> aligned;
    for (rc = ::mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = ::mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
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
    ::mdb_cursor_close(cur);
}

snapshot_info snapshot_store::info() const
{
    snapshot_info i;
    if (!impl_->have_dbs) {
        return i;
    }
    MDB_txn* txn = nullptr;
    int rc = ::mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) {
        impl_->fail("begin a read transaction on", rc);
    }
    txn_guard guard{txn};
    i.schema_hash = impl_->meta_value(txn, "schema_hash");
    i.layout_version = impl_->meta_value(txn, "layout_version");
    i.saved_ns = static_cast<std::int64_t>(impl_->meta_value(txn, "saved_ns"));
    i.generation = impl_->meta_value(txn, "generation");
    i.count = impl_->meta_value(txn, "count");
    return i;
}

int snapshot_store::stale_readers_cleared() const noexcept { return impl_->stale_cleared; }
const std::filesystem::path& snapshot_store::path() const noexcept { return impl_->path; }

}  // namespace vs::bus
