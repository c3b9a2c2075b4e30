#pragma once
// One small RAII and error layer over LMDB, shared by every LMDB environment of the project
// (bus snapshots: vs/bus/snapshot.hpp; the alert outbox: vs/outbox/outbox.hpp).
//
//   vs::lmdb::env e{dir, {.label = "snapshot", .map_size = 256 << 20, .max_dbs = 4}};
//   e.reader_check();                         // clear reader slots of dead processes
//   vs::lmdb::txn t{e, vs::lmdb::txn::write};  // aborted unless committed
//   MDB_dbi db = *t.open_dbi("latest", true);
//   t.put(db, vs::lmdb::val(key), vs::lmdb::val(value), "write a record to");
//   t.commit();
//
// Every failure throws vs::lmdb::error with one message format,
// "cannot <what> <label> <path>: <mdb_strerror>", e.g. "cannot commit snapshot
// /var/lib/volspike/market.lmdb: No space left on device (ENOSPC: no space left on
// /var/lib/volspike/market.lmdb (4096 bytes free); ...)". A full file system says so with the
// free bytes statvfs(3) reports, also when LMDB turns a short write into EIO (what a disk
// that fills up mid-commit gives); a file size limit (EFBIG) and a full map (MDB_MAP_FULL) say
// so plainly too. A failed write transaction is aborted, so the last committed state stays
// intact.
//
// Header-only: a target that includes it needs lmdb_dep. Threads: an env may be shared; a
// txn and its cursors belong to one thread at a time (environments are opened with
// MDB_NOTLS, so read transactions are not tied to a thread).
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace vs::lmdb {

/// Bytes an unprivileged writer may still use on the file system holding `p`
/// (statvfs f_bavail * f_frsize); -1 when statvfs fails.
inline long long free_bytes(const std::filesystem::path& p) noexcept
{
    struct statvfs st {};
    if (::statvfs(p.c_str(), &st) != 0) {
        return -1;
    }
    return static_cast<long long>(st.f_bavail) * static_cast<long long>(st.f_frsize);
}

/// Below this many free bytes an EIO of LMDB (a short write) is taken for a full disk.
inline constexpr long long eio_full_disk_bytes = 64ll << 20;

/// "cannot <what> <subject>: <mdb_strerror(rc)>" with a plain word for full disks and maps.
/// With `where` (the environment's directory), a full disk names it and its free bytes:
/// ENOSPC and EDQUOT always, EIO when less than eio_full_disk_bytes are free.
inline std::string message(std::string_view what, std::string_view subject, int rc,
                           const std::filesystem::path* where = nullptr)
{
    std::string m = "cannot ";
    m.append(what).append(" ").append(subject).append(": ").append(::mdb_strerror(rc));
    const long long free = where != nullptr ? free_bytes(*where) : -1;
    const std::string free_text = free < 0 ? std::string{"free bytes unknown"} : std::to_string(free) + " bytes free";
    const std::string full = where != nullptr ? "no space left on " + where->string() + " (" + free_text + ")"
                                              : std::string{"the file system holding it is full"};
    constexpr std::string_view intact = "; the last committed state is intact)";
    if (rc == ENOSPC || rc == EDQUOT) {
        m.append(rc == ENOSPC ? " (ENOSPC: " : " (EDQUOT: ").append(full).append(intact);
    } else if (rc == EIO && where != nullptr) {
        if (free >= 0 && free < eio_full_disk_bytes) {
            m.append(" (EIO: ").append(full).append(intact);
        } else {
            m.append(" (EIO: not a full disk, " + free_text + " on " + where->string() + ": a failing device?")
                .append(intact);
        }
    } else if (rc == EFBIG) {
        m.append(" (EFBIG: the file size limit (RLIMIT_FSIZE) is reached");
        if (where != nullptr) {
            m.append(" on " + where->string() + ", " + free_text);
        }
        m.append(intact);
    } else if (rc == MDB_MAP_FULL) {
        m += " (the LMDB map is full; the last committed state is intact)";
    }
    return m;
}

/// An LMDB failure; code() is the LMDB or errno code (ENOSPC, MDB_MAP_FULL, ...).
class error : public std::runtime_error {
public:
    error(std::string_view what, std::string_view subject, int rc, const std::filesystem::path* where = nullptr)
        : std::runtime_error(message(what, subject, rc, where)), code_(rc)
    {
    }
    int code() const noexcept { return code_; }

private:
    int code_;
};

/// A key or value over bytes someone else owns (LMDB copies them on put).
inline MDB_val val(const void* data, std::size_t size) noexcept { return MDB_val{size, const_cast<void*>(data)}; }
template <class Contiguous>
MDB_val val(const Contiguous& c) noexcept
{
    return val(c.data(), c.size() * sizeof(*c.data()));
}
inline std::string_view view(const MDB_val& v) noexcept
{
    return {static_cast<const char*>(v.mv_data), v.mv_size};
}

struct env_options {
    std::string label;              ///< what the environment is, in messages ("snapshot", "the outbox")
    bool read_only = false;         ///< MDB_RDONLY: open an existing environment only
    std::size_t map_size = 0;       ///< 0: LMDB's default, or the size the file already has
    unsigned max_dbs = 0;           ///< named databases
    unsigned flags = MDB_NOTLS;     ///< MDB_RDONLY is added by read_only
    mdb_mode_t mode = 0640;
};

/// An open environment (a directory holding data.mdb and lock.mdb).
class env {
public:
    env(std::filesystem::path dir, const env_options& o) : dir_(std::move(dir))
    {
        subject_ = o.label.empty() ? dir_.string() : o.label + " " + dir_.string();
        check(::mdb_env_create(&env_), "create an LMDB environment for");
        // The destructor does not run when the constructor throws: close the handle here.
        const auto setup = [&](int rc, std::string_view what) {
            if (rc != MDB_SUCCESS) {
                ::mdb_env_close(std::exchange(env_, nullptr));
                fail(what, rc);
            }
        };
        if (o.max_dbs != 0) {
            setup(::mdb_env_set_maxdbs(env_, o.max_dbs), "set the database count of");
        }
        if (o.map_size != 0) {
            setup(::mdb_env_set_mapsize(env_, o.map_size), "set the map size of");
        }
        setup(::mdb_env_open(env_, dir_.c_str(), o.flags | (o.read_only ? MDB_RDONLY : 0u), o.mode), "open");
        if (!o.read_only) {
            // LMDB creates data.mdb and lock.mdb with `mode` less the umask: set it exactly.
            for (const char* f : {"data.mdb", "lock.mdb"}) {
                [[maybe_unused]] const int rc = ::chmod((dir_ / f).c_str(), o.mode);   // not ours: left as is
            }
        }
    }
    ~env()
    {
        if (env_ != nullptr) {
            ::mdb_env_close(env_);
        }
    }
    env(env&& o) noexcept
        : env_(std::exchange(o.env_, nullptr)), dir_(std::move(o.dir_)), subject_(std::move(o.subject_))
    {
    }
    env& operator=(env&& o) noexcept
    {
        if (this != &o) {
            if (env_ != nullptr) {
                ::mdb_env_close(env_);
            }
            env_ = std::exchange(o.env_, nullptr);
            dir_ = std::move(o.dir_);
            subject_ = std::move(o.subject_);
        }
        return *this;
    }

    MDB_env* get() const noexcept { return env_; }
    const std::filesystem::path& path() const noexcept { return dir_; }
    /// "<label> <path>", as messages name it.
    const std::string& subject() const noexcept { return subject_; }

    /// mdb_reader_check: frees the reader slots of dead processes (a reader killed mid-read
    /// would otherwise pin old pages forever). Returns how many it freed.
    int reader_check() noexcept
    {
        int dead = 0;
        return ::mdb_reader_check(env_, &dead) == 0 ? dead : 0;
    }

    [[noreturn]] void fail(std::string_view what, int rc) const { throw error(what, subject_, rc, &dir_); }
    void check(int rc, std::string_view what) const
    {
        if (rc != MDB_SUCCESS) {
            fail(what, rc);
        }
    }

private:
    MDB_env* env_ = nullptr;
    std::filesystem::path dir_;
    std::string subject_;
};

/// A transaction, aborted on destruction unless committed.
class txn {
public:
    enum kind : bool { read = false, write = true };

    txn(const env& e, kind k) : env_(&e)
    {
        e.check(::mdb_txn_begin(e.get(), nullptr, k == write ? 0u : MDB_RDONLY, &t_),
                k == write ? "begin a write transaction on" : "begin a read transaction on");
    }
    ~txn() { abort(); }
    txn(const txn&) = delete;
    txn& operator=(const txn&) = delete;

    /// Commits (a read transaction too: database handles opened in an aborted one are
    /// closed). ENOSPC on a full disk lands here; the transaction is gone either way.
    void commit(std::string_view what = "commit to")
    {
        const int rc = ::mdb_txn_commit(std::exchange(t_, nullptr));
        env_->check(rc, what);
    }
    void abort() noexcept
    {
        if (t_ != nullptr) {
            ::mdb_txn_abort(std::exchange(t_, nullptr));
        }
    }

    MDB_txn* get() const noexcept { return t_; }
    const lmdb::env& environment() const noexcept { return *env_; }
    void check(int rc, std::string_view what) const { env_->check(rc, what); }
    [[noreturn]] void fail(std::string_view what, int rc) const { env_->fail(what, rc); }

    /// mdb_dbi_open of a named database (created with `create`); nullopt when it does not
    /// exist and `create` is false.
    std::optional<MDB_dbi> open_dbi(const char* name, bool create) const
    {
        MDB_dbi dbi = 0;
        const int rc = ::mdb_dbi_open(t_, name, create ? MDB_CREATE : 0u, &dbi);
        if (rc == MDB_NOTFOUND) {
            return std::nullopt;
        }
        check(rc, std::string{"open database '"} + name + "' of");
        return dbi;
    }
    /// mdb_get: the value (valid until the transaction ends), nullopt when absent.
    std::optional<MDB_val> get(MDB_dbi dbi, MDB_val key, std::string_view what = "read from") const
    {
        MDB_val v{};
        const int rc = ::mdb_get(t_, dbi, &key, &v);
        if (rc == MDB_NOTFOUND) {
            return std::nullopt;
        }
        check(rc, what);
        return v;
    }
    void put(MDB_dbi dbi, MDB_val key, MDB_val value, std::string_view what = "write to", unsigned flags = 0)
    {
        check(::mdb_put(t_, dbi, &key, &value, flags), what);
    }
    /// mdb_del of the key (every value); false when it was absent.
    bool del(MDB_dbi dbi, MDB_val key, std::string_view what = "delete from")
    {
        const int rc = ::mdb_del(t_, dbi, &key, nullptr);
        if (rc == MDB_NOTFOUND) {
            return false;
        }
        check(rc, what);
        return true;
    }
    /// mdb_drop(dbi, 0): empties the database.
    void clear(MDB_dbi dbi, std::string_view what = "clear")
    {
        check(::mdb_drop(t_, dbi, 0), what);
    }

private:
    const lmdb::env* env_;
    MDB_txn* t_ = nullptr;
};

/// A cursor over one database of a transaction; closed on destruction, which must come
/// before its transaction ends (LMDB frees a write transaction's cursors at commit).
class cursor {
public:
    cursor(const txn& t, MDB_dbi dbi) : txn_(&t) { t.check(::mdb_cursor_open(t.get(), dbi, &c_), "open a cursor on"); }
    ~cursor() { ::mdb_cursor_close(c_); }
    cursor(const cursor&) = delete;
    cursor& operator=(const cursor&) = delete;

    MDB_cursor* get() const noexcept { return c_; }
    /// mdb_cursor_get: true with `key`/`value` set, false past the end (MDB_NOTFOUND).
    bool get(MDB_val& key, MDB_val& value, MDB_cursor_op op, std::string_view what = "read from")
    {
        const int rc = ::mdb_cursor_get(c_, &key, &value, op);
        if (rc == MDB_NOTFOUND) {
            return false;
        }
        txn_->check(rc, what);
        return true;
    }

private:
    const txn* txn_;
    MDB_cursor* c_ = nullptr;
};

}  // namespace vs::lmdb
