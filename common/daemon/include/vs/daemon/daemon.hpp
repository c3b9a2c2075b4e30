#pragma once
// One way to write a daemon. A process's main() is its options and its logic:
//
//   int main(int argc, char** argv)
//   {
//       vs::daemon::spec s{"vs-example", "what it does", "vs-example --state-dir /tmp/vs"};
//       s.channel = "example";                  // its own bus channel (ProcessStatus, its records)
//       s.outbox = true;                        // the durable outbox + its own state database
//       s.drain = std::chrono::seconds{5};      // SIGTERM: at most this long, then exit 0
//       return vs::daemon::main(s, argc, argv,
//           [](vs::cli::parser& cli) { cli.option("threshold", "X", "3", "...", {"VS_EXAMPLE_THRESHOLD"}); },
//           [](vs::daemon::context& ctx) {
//               auto market = ctx.follow("market");
//               ctx.set_probe([&] { return market.writer_alive() ? vs::daemon::health{} : vs::daemon::health::bad("feed down"); });
//               auto& seen = ctx.counter("records_seen");
//               while (ctx.wait(std::chrono::milliseconds{200}, &market)) {   // false once SIGTERM came
//                   market.poll([&](const vs::bus::record_view&) { ++seen; });
//               }
//               return 0;                       // then: final snapshot, STOPPING, exit code
//           });
//   }
//
// What main() does, in order:
//   1. options: the common ones (--bus-prefix, --state-dir, --log-level), --drain-ms,
//      --status-interval-ms and, with snapshots, --snapshot-interval-ms, then the process's own (a process that calls Binance's REST API
//      adds the shared weight budget's with vs::net::add_rest_options(cli)); flag >
//      environment > default; --help lists every default and variable; --version;
//      exit 2 on a usage error, 1 on a setup failure (a message on stderr either way);
//   2. SIGTERM/SIGINT handlers, and a drain guard: once a stop is requested, the process exits
//      0 at the latest `drain` later, whatever its threads are doing (state is durable: LMDB
//      commits are atomic and the outbox records a send before it is made);
//   3. its own channel's writer (`<prefix>.<channel>`); a first ProcessStatus (not ready);
//   4. restore: when the channel's table did not survive (a reboot, not a crash), the LMDB
//      snapshot `<state_dir>/<channel>.lmdb` is published back with original times, except
//      ProcessStatus records and whatever spec.restore_keep refuses; a snapshot thread then
//      saves the table at most every `snapshot_interval` through a reader (the fsync never
//      delays the publishing thread). ProcessStatus carries snapshots_saved,
//      snapshot_failures and the gauge snapshot_age_s (seconds since the last good save, or
//      since the start before the first); a failure is logged with its cause (a full disk:
//      "no space left on <dir> (N bytes free)"), the first save after failures too, and
//      vs-health fails past its --max-snapshot-age-s;
//   5. the outbox (spec.outbox) at `<state_dir>/outbox.lmdb`;
//   6. body(ctx). With spec.auto_ready (the default) READY=1 goes out just before the body
//      runs; without it the body calls ctx.ready() once its own state is in place. The body
//      loops on ctx.wait()/ctx.service() and returns when ctx.stopping() (STOPPING=1 is sent
//      when service() first sees the request), finishing its work before drain_deadline();
//   7. a final ProcessStatus ("stopping"), a final snapshot, exit with the body's code.
//
// Health: the process supplies a probe (ctx.set_probe). ctx.service(), called from the
// writer's thread at least every 250 ms (ctx.wait() does it), refreshes the heartbeat, and at
// every status interval runs the probe, publishes ProcessStatus, sends STATUS= when the text
// changes, and pets the systemd watchdog only while the probe holds: a process whose probe
// fails, or whose loop is stuck, is restarted by systemd (WatchdogSec).
//
// Threads: main() runs the body on the calling thread. The writer, service(), wait() and
// follow() belong to that thread. counter()/gauge() values may be updated from any thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vs/bus/channel.hpp"
#include "vs/common/cli.hpp"
#include "vs/outbox/outbox.hpp"

namespace vs::daemon {

/// The answer of a health probe.
struct health {
    bool ok = true;
    /// Unhealthy: why (shown in ProcessStatus.reason, STATUS= and vs-health). Healthy: an
    /// optional one-line summary for STATUS= ("3 queued, 120 sent").
    std::string reason;
    static health good(std::string summary = {}) { return health{true, std::move(summary)}; }
    static health bad(std::string why) { return health{false, std::move(why)}; }
};

struct spec {
    spec(std::string program_name, std::string summary_line, std::string examples_text)
        : program(std::move(program_name)), summary(std::move(summary_line)), examples(std::move(examples_text))
    {
    }
    std::string program;        ///< "vs-oi": logger name, ProcessStatus key, --help title
    std::string summary;        ///< one line for --help
    std::string examples;       ///< usage examples for --help
    /// The process's own channel. Empty: the program name without "vs-" ("vs-oi" -> "oi").
    std::string channel;
    /// When set, an option of that name (e.g. "channel") overrides `channel`.
    std::string channel_option;
    /// Help text of that option.
    std::string channel_option_help = "bus channel to write";
    /// The record types the channel carries (ProcessStatus is added): its schema
    /// compatibility depends on these tables only. Empty: every type this build knows.
    std::vector<vs::bus::record_type> record_types;
    std::uint32_t ring_bytes = 1u << 20;   ///< power of two, >= 64 KiB
    std::uint32_t table_slots = 1024;
    std::uint32_t slot_bytes = 2048;   ///< ProcessStatus needs up to ~2 KiB (32 metrics, a reason)
    /// Snapshot the channel's table to LMDB and restore it at start.
    bool snapshots = true;
    /// Default of --snapshot-interval-ms.
    std::chrono::milliseconds snapshot_interval{1000};
    /// Runs after the writer exists and before the snapshot is restored: a producer publishes
    /// a status of its own there, so that a status left by the process that saved the
    /// snapshot (or that left a surviving table) is never shown next to the restored data.
    std::function<void(class context&)> before_restore;
    /// A restore keeps only the records this accepts (ProcessStatus is always left out).
    std::function<bool(const vs::bus::record_view&)> restore_keep;
    /// Open the durable outbox (and this process's state database inside it).
    bool outbox = false;
    /// Default bound of the SIGTERM drain (--drain-ms).
    std::chrono::milliseconds drain{5000};
    /// Send READY=1 right before the body runs (restore done). false: the body calls ctx.ready().
    bool auto_ready = true;
};

/// Follows another channel: its ring in publish order through a callback, with lap counting
/// and a resync signal, and its latest table. Survives the writer's death and restart.
class follower {
public:
    follower(const vs::bus::channel_config& config, std::string reader_name);
    ~follower();
    follower(follower&&) noexcept;
    follower& operator=(follower&&) noexcept;

    /// Hands new ring records to fn(const record_view&) (at most `max`). When the reader was
    /// lapped, or a new writer generation started, records were skipped: `resync` is called
    /// first (the caller re-reads what it needs from the table), then the records go on.
    /// Returns the number of records handed over.
    std::size_t poll(const std::function<void(const vs::bus::record_view&)>& fn,
                     const std::function<void()>& resync = {}, std::size_t max = SIZE_MAX);
    /// Blocks until the writer publishes or `timeout` passes.
    bool wait(std::chrono::nanoseconds timeout) noexcept;
    /// The channel's latest table (attach() first when not ready).
    vs::bus::reader& table() noexcept;
    bool attached() noexcept;
    bool writer_alive() noexcept;
    std::uint64_t laps() const noexcept;
    std::uint64_t resyncs() const noexcept;
    const std::string& channel() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

class context {
public:
    context(const context&) = delete;
    context& operator=(const context&) = delete;
    ~context();

    const vs::cli::parser& options() const noexcept;
    const std::string& program() const noexcept;
    const std::string& bus_prefix() const noexcept;
    const std::string& state_dir() const noexcept;

    /// This process's own channel (the body's thread only).
    vs::bus::writer& writer() noexcept;
    /// The durable outbox; throws std::logic_error unless spec.outbox.
    vs::outbox::outbox& outbox();
    /// Alerts and this process's own state changes in one outbox transaction (both or
    /// neither: kill -9 at any moment neither loses nor duplicates an alert). Needs spec.outbox.
    /// Any thread (one commit at a time is LMDB's). A failed commit (a full disk) throws (the caller keeps its
    /// alerts and tries again later), is counted (outbox_commit_failures), logged with its
    /// cause, and makes the process unhealthy (ProcessStatus reason, STATUS=, no watchdog pet)
    /// until a commit succeeds again, which is logged too. The same holds for alerts written
    /// through ctx.outbox() directly (enqueue, enqueue_many, enqueue_rows, commit).
    std::vector<std::string> commit(const std::vector<vs::outbox::alert>& alerts,
                                    const std::vector<vs::outbox::state_change>& changes);
    /// Same, to these targets instead of every configured one (liquidations: the alert bot).
    std::vector<std::string> commit(const std::vector<vs::outbox::alert>& alerts, vs::outbox::target_set targets,
                                    const std::vector<vs::outbox::state_change>& changes);
    /// The bus record of an alert of this process (vs::outbox::bus_record): this channel's
    /// name and schema hash, `type`, `symbol`, and `build`, which commit calls with the
    /// alert's id. After the commit, publish `alert.bus->bytes` on the channel: vs-deliver's
    /// nats target sends the very same bytes (Nats-Msg-Id alert:<id>).
    vs::outbox::bus_record alert_record(vs::bus::record_type type, std::string_view symbol,
                                        std::function<std::string(std::string_view id)> build);
    /// One key of this process's state (kept in the outbox environment); nullopt when absent.
    std::optional<std::string> state(std::string_view key);
    /// A follower of another channel under the same prefix.
    follower follow(const std::string& channel);

    /// A named counter shown in ProcessStatus and /metrics (at most 32 metrics; a name is
    /// either a counter or a gauge). The reference stays valid for the process's life;
    /// increment it (or store a monotonic total) from any thread.
    std::atomic<std::uint64_t>& counter(std::string_view name);
    /// Sets a named gauge (any thread).
    void gauge(std::string_view name, double value);
    /// The probe run at every status interval on the body's thread. Default: healthy.
    void set_probe(std::function<health()> probe);

    /// READY=1 (once): the process's state is restored and it serves.
    void ready();
    bool is_ready() const noexcept;
    /// A stop was requested (SIGTERM, SIGINT, or request_stop()).
    bool stopping() const noexcept;
    /// Requests a stop from inside the process (a fatal error in a worker thread).
    void request_stop() noexcept;
    /// The body's drain deadline: the stop request plus the drain bound, less a reserve
    /// (a fifth of it, at most 500 ms) for the final status and snapshot; the guard exits the
    /// process at the full bound.
    std::chrono::steady_clock::time_point drain_deadline() const noexcept;
    std::chrono::milliseconds drain_bound() const noexcept;

    /// Heartbeat, and at each status interval: probe, ProcessStatus, STATUS=, watchdog.
    /// Call from the body's thread at least every 250 ms.
    void service();
    /// Publishes ProcessStatus now (after a change the operator should see at once).
    void publish_status();
    /// Services and sleeps up to `timeout` (in steps of at most 100 ms, or until `wake`
    /// has records). Returns false once a stop is requested.
    bool wait(std::chrono::milliseconds timeout, follower* wake = nullptr);

    /// Records published by the snapshot thread's last successful save.
    std::uint64_t snapshot_count() const noexcept;

    struct impl;   ///< opaque; built by main()
    explicit context(std::unique_ptr<impl> p);

private:
    std::vector<std::string> commit_to(const std::vector<vs::outbox::alert>& alerts,
                                       std::optional<vs::outbox::target_set> targets,
                                       const std::vector<vs::outbox::state_change>& changes);
    friend int main(const spec&, int, char**, const std::function<void(vs::cli::parser&)>&,
                    const std::function<int(context&)>&);
    std::unique_ptr<impl> impl_;
};

/// Parses the options, sets the process up (see the top of this file), runs `body` and
/// returns the exit code (0/1/2).
int main(const spec& s, int argc, char** argv, const std::function<void(vs::cli::parser&)>& add_options,
         const std::function<int(context&)>& body);

}  // namespace vs::daemon
