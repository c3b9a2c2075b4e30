#pragma once
// Durable snapshots of a writer's latest-value table in LMDB, so that a restarted producer
// shows the last market at once, with the records' original times.
//
// One LMDB environment (a directory: data.mdb + lock.mdb, so `mdb_stat DIR` and
// `mdb_dump -a DIR` work) per channel at <state_dir>/<channel>.lmdb. Named databases:
//   "latest": key = record type (2 bytes, big endian) + symbol (UTF-8),
//             value = publish time ns (8 bytes, little endian) + the FlatBuffer;
//   "meta":   "schema_hash", "layout_version", "saved_ns", "generation", "count"
//             (8-byte little-endian integers); "record_types" (32 bytes: four 8-byte
//             little-endian words, type t = bit t % 64 of word t / 64), the record types of
//             the saved channel. "schema_hash" is record_schema_hash(record_types) of the
//             saving build; a restore recomputes it for the same types with its own build and
//             refuses the snapshot when it differs (or a type is unknown), whatever else the
//             two builds' schemas differ in.
// Threads: one snapshot_store per thread. Errors: bus_error with the LMDB message and path
// ("cannot commit snapshot <path>: No space left on device (ENOSPC: ...)", vs/lmdb/lmdb.hpp);
// a failed save (full disk, MDB_MAP_FULL) aborts its transaction, so the previous snapshot
// stays intact.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "vs/bus/channel.hpp"

namespace vs::bus {

struct snapshot_info {
    std::uint64_t schema_hash = 0;
    record_type_set record_types;       ///< empty for snapshots of older releases
    /// This build may restore it: record_schema_hash(record_types) == schema_hash.
    bool schema_matches = false;
    std::uint64_t layout_version = 0;
    std::int64_t saved_ns = 0;
    std::uint64_t generation = 0;
    std::uint64_t count = 0;
};

class snapshot_store {
public:
    /// Opens or creates <state_dir>/<channel>.lmdb (read_only: open existing only, for tools)
    /// and clears stale reader slots (mdb_reader_check).
    snapshot_store(const std::filesystem::path& state_dir, const std::string& channel,
                   bool read_only = false, std::size_t map_bytes = std::size_t{256} << 20);
    ~snapshot_store();
    snapshot_store(snapshot_store&&) noexcept;
    snapshot_store& operator=(snapshot_store&&) noexcept;

    /// Replaces the snapshot with every latest record of `w`, in one transaction.
    /// Returns the number of records written.
    std::size_t save(const writer& w);

    /// The same from a reader's validated copies of the table (slots that stay unavailable
    /// are left out), so a producer can run the commit and its fsync on another thread than
    /// the one that publishes. Throws bus_error when the reader is not attached.
    std::size_t save(reader& r);

    /// Publishes every stored record into w's table (not the ring) with its original publish
    /// time. A snapshot whose record types have another schema hash in this build is refused
    /// (bus_error naming both hashes); records of types the writer's channel does not carry
    /// are skipped. With `keep`,
    /// only the records it accepts (a producer leaves out records that describe the process
    /// that saved them, such as its status). Returns the number of records published.
    std::size_t restore(writer& w, const std::function<bool(const record_view&)>& keep = {});

    /// Calls fn(const record_view&) for every stored record (type, symbol order).
    void for_each(const std::function<void(const record_view&)>& fn) const;

    snapshot_info info() const;
    /// Reader slots of dead processes cleared by the last mdb_reader_check.
    int stale_readers_cleared() const noexcept;
    const std::filesystem::path& path() const noexcept;

private:
    using record_visitor = std::function<void(const std::function<void(const record_view&)>&)>;
    std::size_t save_records(const record_visitor& visit, const channel_status& channel);
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace vs::bus
