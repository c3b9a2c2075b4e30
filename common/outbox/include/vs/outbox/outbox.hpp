#pragma once
// The durable alert outbox: one LMDB environment `<state_dir>/outbox.lmdb` shared by every
// alerting process (they enqueue) and vs-deliver (it sends). An alert is committed before
// enqueue() returns, so nothing is sent that was not first made durable, and nothing
// enqueued is lost by a crash or an outage of a target.
//
//   auto ob = vs::outbox::outbox::open(state_dir);          // targets from the environment
//   vs::outbox::alert a;
//   a.kind = "volume";
//   a.backend = vs::outbox::backend_call{"/api/volume-alerts/ingest", json_text};
//   a.text = "BTC hourly volume $150M (3.33x prev) - VOLUME SPIKE!";   // Telegram/Discord
//   std::string id = ob->enqueue(a);
//
// Targets: `prod` (VOLSPIKE_API_URL), `dev` (VOLSPIKE_API_URL_DEV), `telegram`
// (TELEGRAM_TOKEN or TELEGRAM_BOT_TOKEN, and CHAT_ID or TELEGRAM_CHANNEL_ID), `discord`
// (VS_DISCORD_WEBHOOK_URL), `nats` (VS_NATS_URL: NATS JetStream, see vs-nats). An alert goes
// to each configured target it has a payload for (backend call → prod, dev; text → telegram,
// discord; bus record → nats); the record keeps, per target, its state (pending, sending,
// delivered, dead), attempts, next attempt time and last error.
//
// The bus record: an alerting process builds its alert's FlatBuffer record (which carries
// alert_id) inside commit, once the id is known (bus_record::build), publishes exactly those
// bytes on its bus channel afterwards (bus_record::bytes), and vs-deliver's nats target
// publishes the same bytes to JetStream with `Nats-Msg-Id: alert:<id>` (NATS_DESIGN: vs-nats
// uses the same id for the copy it reads from the ring, so JetStream keeps one).
//
// Ids are 16 hex digits, (epoch ms << 20 | sequence), unique across processes (assigned
// inside LMDB's single write transaction) and time-ordered; the idempotency key sent to a
// target is "<id>:<target>".
//
// The LMDB environment (a directory: data.mdb + lock.mdb, so `mdb_stat -a DIR` and
// `mdb_dump -s alerts DIR` work; map size outbox_options::map_size) holds four named
// databases. Ids are stored as 8 bytes big endian, so key order is id order is time order.
//   "alerts": key = id (8 bytes);
//             value = the entry as JSON text: {"id", "kind", "created_ms", "dead_after_ms",
//             "backend": {"method", "path", "body"} (only with a backend call), "text",
//             "label", "amount_usd", "keep": false (only when not kept), "bus": {"channel",
//             "type", "symbol", "schema_hash", "bytes": base64} (only with a bus record; older
//             entries have none and read as before), "targets":
//             {"<target>": {"state", "attempts", "next_ms", "done_ms", "requeued_ms", "error"}}}.
//   "queue":  key = target (1 byte: 0 prod, 1 dev, 2 telegram, 3 discord, 4 telegram_alerts, 5 nats) + id (8 bytes);
//             empty value. The work list of vs-deliver, read in key order per target.
//   "stats":  key = target name ("prod", ...) -> its target_counters as JSON text
//             {"enqueued", "sent", "messages", "failed", "retried", "dead", "coalesced",
//             "uncertain", "recent_sends_ms": [at most 64 ms times]};
//             key "_last_id" -> the last id assigned (8 bytes).
//   "state":  key = process name + NUL + key -> value (bytes the process chose): each
//             alerting process's own durable state ("alerted for this candle"), here and
//             not in an environment of its own because LMDB commits one environment at a
//             time: commit() writes the alerts and the state in one transaction.
// Invariants, each kept by one write transaction per call (enqueue_many: one for all):
//   - (t, id) is in "queue" exactly while alerts[id] has target t in state pending or
//     sending (added by enqueue and retry; removed when delivered, dead or purged);
//   - ids strictly increase: a new id is max(now_ms << 20, _last_id + 1), stored back;
//   - an alert with keep = false is deleted once every target is delivered or dead;
//     kept alerts stay until purge();
//   - counters change in the same transaction as the states they count;
//   - a process's state and the alerts decided from it change in one transaction (commit()).
//
// Thread rule: one outbox per process (LMDB forbids opening an environment twice in one
// process); its functions may be called from any thread. Functions throw std::runtime_error
// with context on LMDB failures (disk full, map full, corrupt environment): a
// vs::lmdb::error "cannot <what> the outbox <path>: <cause>" (vs/lmdb/lmdb.hpp), after which
// the outbox is as the last committed call left it.
#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::outbox {

/// telegram_alerts: the separate alert bot of TELEGLAS (TELEGRAM_ALERT_TOKEN and its chat) for
/// liquidation and whale alerts; never in from_env() (other alerts' texts do not go there), only
/// where a process asks for it (target_set::alert_bot_from_env()).
/// nats: NATS JetStream (VS_NATS_URL), for alerts that carry a bus record.
enum class target : std::uint8_t { prod = 0, dev = 1, telegram = 2, discord = 3, telegram_alerts = 4, nats = 5 };
inline constexpr std::array<target, 6> all_targets{target::prod, target::dev, target::telegram, target::discord,
                                                   target::telegram_alerts, target::nats};
std::string_view to_string(target t) noexcept;
std::optional<target> target_from_string(std::string_view s) noexcept;

/// A set of targets (bit i = target i).
struct target_set {
    std::uint8_t bits = 0;
    bool has(target t) const noexcept { return (bits >> static_cast<int>(t)) & 1u; }
    void add(target t) noexcept { bits = static_cast<std::uint8_t>(bits | (1u << static_cast<int>(t))); }
    bool empty() const noexcept { return bits == 0; }
    /// The targets configured by the environment variables named above.
    static target_set from_env();
    /// Where a process's chat-only alerts go when they belong to the alert bot (liquidations,
    /// whale trades): telegram_alerts when TELEGRAM_ALERT_TOKEN is set (chat
    /// TELEGRAM_ALERT_CHAT_ID, else CHAT_ID/TELEGRAM_CHANNEL_ID), else the main bot's telegram
    /// target when configured; plus discord and nats when configured.
    static target_set alert_bot_from_env();
};

/// One backend call, as the old scripts made it: METHOD base_url + path with X-API-Key.
struct backend_call {
    std::string path;               ///< e.g. "/api/volume-alerts/ingest"
    std::string body;               ///< JSON text sent as is
    std::string method = "POST";
};

/// The alert's record on its process's bus channel (see the top of this file).
struct bus_record {
    std::string channel;            ///< the alerting process's bus channel ("oi", "volume", ...)
    std::uint16_t type = 0;         ///< vs::schema::RecordType of the record
    std::string symbol;             ///< the record's symbol ("" for channel-level records)
    std::uint64_t schema_hash = 0;  ///< the channel's schema hash (the bus header's; NATS header Vs-Schema-Hash)
    /// Builds the record's bytes from the alert's id, inside commit's transaction (once per
    /// commit call; "" as id when no configured target takes the alert and nothing is stored).
    /// Empty: `bytes` is used as given. An exception aborts the commit (nothing is written).
    std::function<std::string(std::string_view id)> build;
    /// The record's bytes: what `build` returned, set by commit (so the caller publishes
    /// exactly what the outbox keeps), or given by the caller when there is no `build`.
    mutable std::string bytes;
};

struct alert {
    std::string kind;               ///< "volume", "oi", "user_alert", "liquidation", "oi_batch", "test", ...
    std::optional<backend_call> backend;
    std::string text;               ///< Telegram/Discord message; empty = not sent there
    std::string label;              ///< plural noun used when coalescing ("liquidations")
    double amount_usd = 0;          ///< summed in a coalesced message ("$8.4M total")
    std::chrono::milliseconds dead_after{0};  ///< 0 = vs-deliver's --dead-after
    /// false: the record is deleted once every target is done with it, delivered or dead
    /// (row batches, which would otherwise fill the outbox; the counters still count them).
    bool keep_after_delivery = true;
    /// The alert's bus record (for the nats target); none: the alert never goes to NATS.
    std::optional<bus_record> bus;
};

/// A change to a process's own state (outbox::commit): set `key` to `value`, or erase it.
struct state_change {
    std::string key;
    std::optional<std::string> value;
};

enum class state : std::uint8_t { pending, sending, delivered, dead };
std::string_view to_string(state s) noexcept;

struct target_state {
    target t = target::prod;
    state st = state::pending;
    int attempts = 0;
    std::int64_t next_attempt_ms = 0;
    std::int64_t done_ms = 0;       ///< delivered or dead at
    std::int64_t requeued_ms = 0;   ///< put back to pending by an operator (the dead-letter age restarts)
    std::string last_error;
};

/// An alert as stored.
struct entry {
    std::string id;
    std::int64_t created_ms = 0;
    alert a;
    std::vector<target_state> targets;
    const target_state* find(target t) const noexcept;
};

/// Per-target counters kept in the outbox (survive restarts), shown by `vs-outbox stats`.
struct target_counters {
    std::uint64_t enqueued = 0, sent = 0, messages = 0, failed = 0, retried = 0, dead = 0, coalesced = 0,
                  uncertain = 0;
    std::vector<std::int64_t> recent_sends_ms;  ///< rate-limiter memory (Telegram/Discord)
};

struct outbox_options {
    std::size_t map_size = std::size_t{1} << 30;  ///< LMDB map size (sparse file)
    std::optional<target_set> targets;            ///< default: target_set::from_env()
    bool read_only = false;                       ///< tools that only look: never create or write
};

struct list_filter {
    std::optional<target> t;
    std::optional<state> st;
    std::size_t limit = 1000;
};

class outbox {
public:
    /// Opens (creating) `<state_dir>/outbox.lmdb`, clearing stale reader slots of dead processes.
    static std::unique_ptr<outbox> open(const std::filesystem::path& state_dir, outbox_options options = {});
    ~outbox();
    outbox(const outbox&) = delete;
    outbox& operator=(const outbox&) = delete;

    // ---- alerting processes -------------------------------------------------------------
    /// Commits `a` for every configured target it has a payload for; returns its id (empty
    /// when no target applies: nothing is stored). Durable on return.
    std::string enqueue(const alert& a);
    /// Same with an explicit target set.
    std::string enqueue(const alert& a, target_set targets);
    /// Several alerts in one transaction (one disk sync: bursts of liquidations); ids in
    /// order, an empty id where no target applies.
    std::vector<std::string> enqueue_many(const std::vector<alert>& alerts);
    std::vector<std::string> enqueue_many(const std::vector<alert>& alerts, target_set targets);
    /// Splits `rows` (a JSON array text) into chunks of at most `chunk` rows, enqueuing
    /// each as `{"<field>": [...chunk...], <extra fields of `envelope`>}` to `path`
    /// (backend targets only; deleted once delivered or dead; dead after `dead_after` when not 0).
    /// Returns the ids. Throws std::invalid_argument on bad JSON.
    std::vector<std::string> enqueue_rows(std::string_view kind, std::string_view path, std::string_view field,
                                          std::string_view rows_json, std::string_view envelope_json = "{}",
                                          std::size_t chunk = 100,
                                          std::chrono::milliseconds dead_after = std::chrono::milliseconds{0});

    // ---- a process's own state, committed with its alerts ----------------------------------
    /// Commits `alerts` (to the configured targets) and the changes of `process`'s own state
    /// in ONE transaction: both or neither. An alerter records "alerted for this candle" in
    /// the same commit as the alert, so kill -9 at any moment neither loses nor duplicates
    /// an alert. Returns the ids as enqueue_many does: an alert no configured target takes
    /// gets an empty id and is not stored, while the state changes are still committed (the
    /// process decided; nobody is configured to hear it). Throws std::invalid_argument for an
    /// empty process name or one with a NUL byte.
    std::vector<std::string> commit(std::string_view process, const std::vector<alert>& alerts,
                                    const std::vector<state_change>& changes);
    /// The same to `targets` only, as enqueue(a, targets) (a user alert goes to the PROD
    /// backend that listed it, never to DEV).
    std::vector<std::string> commit(std::string_view process, const std::vector<alert>& alerts, target_set targets,
                                    const std::vector<state_change>& changes);
    /// One key of `process`'s state; nullopt when absent.
    std::optional<std::string> state_get(std::string_view process, std::string_view key) const;
    /// Every key of `process`'s state, in key order.
    void state_for_each(std::string_view process,
                        const std::function<void(std::string_view key, std::string_view value)>& fn) const;

    target_set targets() const noexcept { return targets_; }

    // ---- vs-deliver ---------------------------------------------------------------------
    /// Up to `limit` entries still to send to `t` (pending or sending), oldest first.
    std::vector<entry> queue(target t, std::size_t limit) const;
    std::size_t queue_length(target t) const;
    /// Records that `ids` are about to be sent to `t` (Telegram/Discord: no idempotency key).
    void mark_sending(target t, const std::vector<std::string>& ids);
    /// Records the acknowledgement of `ids` by `t`; `messages` sends carried them (coalescing).
    void mark_delivered(target t, const std::vector<std::string>& ids, std::int64_t now_ms, int messages = 1,
                        std::optional<std::int64_t> send_time_ms = {});
    /// Records a failed attempt; the next one is due at `next_attempt_ms`.
    void mark_failed(target t, const std::string& id, std::string_view error, std::int64_t next_attempt_ms);
    /// Gives up on `id` for `t` (too old, or rejected by the target).
    void mark_dead(target t, const std::string& id, std::string_view reason, std::int64_t now_ms);
    /// Adds `n` to the `uncertain` counter of `t` (resent after a crash mid-send).
    void count_uncertain(target t, std::uint64_t n);
    /// Clears the `sending` mark of `ids` (restart decisions, see vs-deliver).
    void reset_sending(target t, const std::vector<std::string>& ids);

    // ---- operators (vs-outbox) ----------------------------------------------------------
    std::vector<entry> list(const list_filter& f) const;
    std::optional<entry> get(const std::string& id) const;
    /// Up to `limit` alerts still stored, newest first (vs-api's /alerts after its restart).
    std::vector<entry> recent(std::size_t limit) const;
    target_counters counters(target t) const;
    /// Puts dead (or, with `include_delivered`, delivered) states back to pending. `id`
    /// empty = every dead entry. Returns the number of target states requeued.
    std::size_t retry(std::optional<target> t, const std::string& id, bool include_delivered = false);
    /// Deletes alerts whose every target is delivered or dead (`only` picks one of the two),
    /// done before `older_than_ms`; or the one `id` (even if pending). Returns the count.
    std::size_t purge(std::optional<state> only, std::int64_t older_than_ms, const std::string& id = {});

    const std::filesystem::path& path() const noexcept { return path_; }

    /// Told the outcome of every write of alerts (commit, enqueue, enqueue_many,
    /// enqueue_rows), on the writing thread: `error` nullptr after a success, else the error
    /// before it propagates. The daemon skeleton sets it, so a process whose alerts cannot be
    /// committed (a full disk) turns unhealthy whichever of these calls it makes (issue 19).
    using write_observer = std::function<void(std::size_t alerts, const std::exception* error)>;
    void set_write_observer(write_observer fn) { observer_ = std::move(fn); }

private:
    std::vector<std::string> commit_impl(std::string_view process, const std::vector<alert>& alerts,
                                         target_set targets, const std::vector<state_change>& changes);
    std::vector<std::string> commit_txn(std::string_view process, const std::vector<alert>& alerts,
                                        target_set targets, const std::vector<state_change>& changes);
    write_observer observer_;
    struct impl;
    explicit outbox(std::unique_ptr<impl> p, target_set targets, std::filesystem::path path);
    std::unique_ptr<impl> impl_;
    target_set targets_;
    std::filesystem::path path_;
};

}  // namespace vs::outbox
