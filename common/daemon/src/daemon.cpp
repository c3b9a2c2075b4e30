#include "vs/daemon/daemon.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <stdexcept>
#include <thread>

#include <flatbuffers/flatbuffers.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "schemas/process_status_generated.h"
#include "vs/bus/records.hpp"
#include "vs/bus/snapshot.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/log.hpp"
#include "vs/common/shutdown.hpp"
#include "vs/common/systemd.hpp"
#include "vs/outbox/outbox.hpp"

namespace vs::daemon {
namespace {

constexpr std::int64_t ns_per_ms = 1'000'000;
constexpr auto process_status_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::ProcessStatus);
/// ProcessStatus must fit a table slot (spec.slot_bytes >= 2048): at most this many metrics
/// (names of up to ~40 bytes) and this long a reason.
constexpr std::size_t max_metrics = 32;
constexpr std::size_t max_reason_bytes = 400;

/// A thread that waits on `cv` until stop(): the snapshot thread and the drain guard.
struct stoppable_thread {
    std::thread thread;
    std::mutex mutex;
    std::condition_variable cv;
    bool stop_requested = false;   // guarded by mutex

    /// Sets the flag, wakes the thread and joins it (a no-op when it never started).
    void stop()
    {
        if (!thread.joinable()) {
            return;
        }
        {
            std::lock_guard lock{mutex};
            stop_requested = true;
        }
        cv.notify_one();
        thread.join();
    }
};

std::string default_channel(const std::string& program)
{
    return program.rfind("vs-", 0) == 0 ? program.substr(3) : program;
}

}  // namespace

// ---- follower ---------------------------------------------------------------------------

struct follower::impl {
    impl(const vs::bus::channel_config& c, std::string name)
        : channel(c.name), reader(c, vs::bus::reader_options{true, std::move(name), std::chrono::milliseconds{1000}})
    {
    }
    std::string channel;
    vs::bus::reader reader;
    std::uint64_t seen_laps = 0;
    std::uint64_t seen_generation = 0;
    std::uint64_t seen_attachments = 0;
    std::uint64_t resyncs = 0;
    std::vector<std::byte> held;   // a ring record kept across a resync (which reuses the reader's buffer)
};

follower::follower(const vs::bus::channel_config& config, std::string reader_name)
    : impl_(std::make_unique<impl>(config, std::move(reader_name)))
{
}
follower::~follower() = default;
follower::follower(follower&&) noexcept = default;
follower& follower::operator=(follower&&) noexcept = default;

std::size_t follower::poll(const std::function<void(const vs::bus::record_view&)>& fn,
                           const std::function<void()>& resync, std::size_t max)
{
    auto& r = impl_->reader;
    if (r.attach() != vs::bus::attach_state::ready) {
        return 0;
    }
    // Records were skipped when the reader was lapped, a new generation started (a writer
    // start, or a restore) or the segment was re-created (the first attach included): the
    // caller re-reads the table before going on.
    auto changed = [&] {
        return r.laps() != impl_->seen_laps || r.generation() != impl_->seen_generation ||
               r.attachments() != impl_->seen_attachments;
    };
    auto do_resync = [&] {
        impl_->seen_laps = r.laps();
        impl_->seen_generation = r.generation();
        impl_->seen_attachments = r.attachments();
        ++impl_->resyncs;
        if (resync) {
            resync();
        }
    };
    if (changed()) {
        do_resync();
    }
    const auto n = r.poll(
        [&](const vs::bus::record_view& rec) {
            if (!changed()) {
                fn(rec);
                return;
            }
            // The resync reads the table into the reader's buffer, where `rec` lives: keep a
            // copy of the record for after it.
            impl_->held.assign(rec.data.begin(), rec.data.end());
            vs::bus::record_view kept = rec;
            kept.data = std::span<const std::byte>{impl_->held};
            do_resync();
            fn(kept);
        },
        max);
    if (changed()) {
        do_resync();
    }
    return n;
}

bool follower::wait(std::chrono::nanoseconds timeout) noexcept
{
    if (impl_->reader.attach() != vs::bus::attach_state::ready) {
        vs::shutdown::wait_for(std::min<std::chrono::nanoseconds>(timeout, std::chrono::milliseconds{50}));
        return false;
    }
    return impl_->reader.wait(timeout);
}

vs::bus::reader& follower::table() noexcept { return impl_->reader; }
bool follower::attached() noexcept { return impl_->reader.attach() == vs::bus::attach_state::ready; }
bool follower::writer_alive() noexcept { return attached() && impl_->reader.status().writer_alive; }
std::uint64_t follower::laps() const noexcept { return impl_->reader.laps(); }
std::uint64_t follower::resyncs() const noexcept { return impl_->resyncs; }
const std::string& follower::channel() const noexcept { return impl_->channel; }

// ---- context ----------------------------------------------------------------------------

struct context::impl {
    struct metric {
        std::string name;
        bool is_gauge = false;
        std::atomic<std::uint64_t> count{0};
        std::atomic<double> value{0};
    };

    const spec& s;
    const vs::cli::parser& cli;
    std::string prefix, state_dir, channel;
    std::chrono::milliseconds drain{5000};
    std::chrono::milliseconds snapshot_interval{1000};
    std::int64_t status_interval_ns = 1000 * ns_per_ms;
    std::int64_t started_ns = vs::realtime_ns();

    std::optional<vs::bus::writer> writer;
    std::optional<vs::bus::snapshot_store> snapshots;
    std::unique_ptr<vs::outbox::outbox> outbox;

    stoppable_thread snapshotter;
    std::atomic<std::uint64_t> snapshot_count{0};
    std::atomic<std::uint64_t>* snapshot_failures = nullptr;
    std::atomic<std::uint64_t>* snapshots_saved = nullptr;
    /// Realtime of the last successful save (the start until the first one).
    std::atomic<std::int64_t> last_snapshot_ns{0};
    std::atomic<double>* snapshot_age = nullptr;       // gauge snapshot_age_s, set at each status

    // outbox commits (any thread: the fields below under commit_mutex)
    std::thread::id body_thread;                      // set before the body runs
    std::mutex commit_mutex;
    std::atomic<std::uint64_t>* commit_failures = nullptr;
    std::uint64_t commit_failures_in_row = 0;
    std::int64_t commit_failing_since_ns = 0;
    std::string commit_error;                         // the last failure's cause, while failing

    stoppable_thread guard;                           // the drain guard

    // status
    std::mutex metrics_mutex;
    std::deque<metric> metrics;                       // stable addresses
    std::function<health()> probe;
    health last_health;
    bool ready = false;
    bool stopping_published = false;
    bool logged_unhealthy = false;
    std::string last_status_text;
    std::int64_t last_status_mono = 0;
    std::int64_t last_watchdog_mono = 0;
    std::int64_t watchdog_ns = 0;
    flatbuffers::FlatBufferBuilder fbb{1024};

    impl(const spec& sp, const vs::cli::parser& p) : s(sp), cli(p) {}

    metric& find_metric(std::string_view name, bool gauge)
    {
        std::lock_guard lock{metrics_mutex};
        for (auto& m : metrics) {
            if (m.name == name) {
                if (m.is_gauge != gauge) {
                    throw std::logic_error(fmt::format("metric '{}' is a {}, not a {}", name,
                                                       m.is_gauge ? "gauge" : "counter", gauge ? "gauge" : "counter"));
                }
                return m;
            }
        }
        if (metrics.size() >= max_metrics) {
            throw std::logic_error(fmt::format("more than {} metrics in the process status", max_metrics));
        }
        auto& m = metrics.emplace_back();
        m.name = std::string{name};
        m.is_gauge = gauge;
        return m;
    }

    vs::bus::channel_config own_channel() const
    {
        vs::bus::channel_config c;
        c.prefix = prefix;
        c.name = channel;
        c.ring_bytes = s.ring_bytes;
        c.table_slots = s.table_slots;
        c.slot_bytes = s.slot_bytes;
        c.record_types = s.record_types;
        if (!c.record_types.empty() &&
            std::find(c.record_types.begin(), c.record_types.end(), process_status_type) == c.record_types.end()) {
            c.record_types.push_back(process_status_type);
        }
        return c;
    }

    // -- drain guard: the bound holds whatever the process's threads are doing ------------
    // The body's own deadline (drain_deadline()) is `reserve` earlier, so that a body that
    // uses its whole time still leaves the final status and snapshot room to run.
    std::int64_t reserve_ns() const { return std::min<std::int64_t>(500 * ns_per_ms, drain.count() * ns_per_ms / 5); }

    void guard_loop()
    {
        std::unique_lock lock{guard.mutex};
        while (!guard.stop_requested) {
            guard.cv.wait_for(lock, std::chrono::milliseconds{20});
            if (guard.stop_requested) {
                return;
            }
            const auto at = vs::shutdown::requested_at_ns();
            if (at != 0 && vs::monotonic_ns() - at > drain.count() * ns_per_ms) {
                // write(2), not the logger: another thread may hold the logger (a full pipe).
                const auto line = fmt::format("{}: the drain did not finish within {} ms: exiting now (state is "
                                              "durable; the last snapshot is at most {} ms old)\n",
                                              s.program, drain.count(), snapshot_interval.count());
                [[maybe_unused]] const auto w = ::write(STDERR_FILENO, line.data(), line.size());
                ::_exit(0);
            }
        }
    }

    // -- snapshots: their own thread, through a reader -------------------------------------
    /// The records a restore would bring back: not ProcessStatus, and what restore_keep keeps.
    bool restorable(const vs::bus::record_view& r) const
    {
        return r.type != process_status_type && (!s.restore_keep || s.restore_keep(r));
    }

    /// Moves a snapshot that cannot be opened or restored aside (kept for a post-mortem), so
    /// that the next save does not overwrite the last good data with an empty table.
    void move_snapshot_aside(const std::filesystem::path& dir, const std::string& why)
    {
        std::error_code ec;
        const auto aside = dir.string() + ".unreadable-" + std::to_string(vs::realtime_ns() / 1'000'000'000);
        std::filesystem::rename(dir, aside, ec);
        spdlog::error("cannot restore snapshot {}: {}; moved to {}{} (starting empty)", dir.string(), why, aside,
                      ec ? " FAILED: " + ec.message() : "");
    }

    void open_and_restore(std::uint64_t restorable_at_start)
    {
        const auto dir = std::filesystem::path{state_dir} / (channel + ".lmdb");
        try {
            snapshots.emplace(std::filesystem::path{state_dir}, channel);
        } catch (const std::exception& e) {
            move_snapshot_aside(dir, e.what());
            snapshots.emplace(std::filesystem::path{state_dir}, channel);   // a new, empty one (or throw)
        }
        // A table that survived (a crash, not a reboot) holds newer values than the last
        // snapshot, which is up to one interval old: keep it. Only data records count: the
        // statuses a process that died during start left do not make a table "survive".
        if (restorable_at_start > 0) {
            spdlog::info("the bus table of channel '{}' survived the last run ({} records): snapshot not needed",
                         channel, restorable_at_start);
            return;
        }
        try {
            const auto n = snapshots->restore(*writer, [this](const vs::bus::record_view& r) { return restorable(r); });
            spdlog::info("restored {} records from {}", n, snapshots->path().string());
        } catch (const std::exception& e) {
            // A corrupt or foreign snapshot must not keep the process down, nor be overwritten.
            snapshots.reset();
            move_snapshot_aside(dir, e.what());
            snapshots.emplace(std::filesystem::path{state_dir}, channel);
        }
        // Followers resync: the restored records are in the table, not in the ring.
        writer->new_generation();
        writer->notify();
    }

    void snapshot_loop()
    {
        std::optional<vs::bus::reader> table;
        try {
            table.emplace(own_channel(), vs::bus::reader_options{false, s.program + " snapshot"});
        } catch (const std::exception& e) {
            spdlog::error("snapshots disabled: cannot read channel '{}': {}", channel, e.what());
            return;
        }
        std::uint64_t failures_in_row = 0;
        std::unique_lock lock{snapshotter.mutex};
        bool last = false;
        while (!last) {
            snapshotter.cv.wait_for(lock, snapshot_interval, [this] { return snapshotter.stop_requested; });
            last = snapshotter.stop_requested;
            lock.unlock();
            try {
                table->attach();
                snapshot_count.store(snapshots->save(*table), std::memory_order_relaxed);
                snapshots_saved->fetch_add(1, std::memory_order_relaxed);
                const auto now = vs::realtime_ns();
                const auto previous = last_snapshot_ns.exchange(now, std::memory_order_relaxed);
                if (failures_in_row > 0) {
                    spdlog::info("snapshot {} saved again after {} failures (the last good one was {:.1f} s "
                                 "before)",
                                 snapshots->path().string(), failures_in_row,
                                 static_cast<double>(now - previous) / 1e9);
                }
                failures_in_row = 0;
            } catch (const std::exception& e) {
                snapshot_failures->fetch_add(1, std::memory_order_relaxed);
                if (++failures_in_row <= 3 || failures_in_row % 60 == 0) {
                    spdlog::error("cannot save snapshot {} (failure {} in a row; the last good one is {:.1f} s "
                                  "old): {}",
                                  snapshots->path().string(), failures_in_row,
                                  static_cast<double>(vs::realtime_ns() -
                                                      last_snapshot_ns.load(std::memory_order_relaxed)) / 1e9,
                                  e.what());
                }
            }
            lock.lock();
        }
    }

    // -- outbox writes (the outbox's write observer; any thread) ------------------------------
    /// Loud on failure: a counter, an error line (rate-limited) and the process unhealthy at
    /// once; the first success after failures is logged. Worker threads commit too (vs-news:
    /// one per channel): the status is published at once only from the body's thread, else at
    /// the next status interval.
    void on_outbox_write(std::size_t alerts, const std::exception* e)
    {
        const bool on_body_thread = std::this_thread::get_id() == body_thread;
        std::unique_lock commit_lock{commit_mutex};
        if (e != nullptr) {
            if (commit_failures != nullptr) {
                commit_failures->fetch_add(1, std::memory_order_relaxed);
            }
            if (commit_failures_in_row++ == 0) {
                commit_failing_since_ns = vs::realtime_ns();
            }
            commit_error = e->what();
            if (commit_failures_in_row <= 3 || commit_failures_in_row % 100 == 0) {
                spdlog::error("cannot commit {} alerts to the outbox (failure {} in a row): {}", alerts,
                              commit_failures_in_row, e->what());
            }
            const bool first = commit_failures_in_row == 1;
            commit_lock.unlock();
            if (first && on_body_thread && writer) {
                publish_status(vs::shutdown::requested());
            }
            return;
        }
        if (commit_failures_in_row == 0) {
            return;
        }
        spdlog::info("alerts commit to the outbox again, after {} failures in {:.1f} s", commit_failures_in_row,
                     static_cast<double>(vs::realtime_ns() - commit_failing_since_ns) / 1e9);
        commit_failures_in_row = 0;
        commit_error.clear();
        commit_lock.unlock();
        if (on_body_thread && writer) {
            publish_status(vs::shutdown::requested());
        }
    }

    // -- status -----------------------------------------------------------------------------
    health run_probe()
    {
        health h;
        if (probe) {
            try {
                h = probe();
            } catch (const std::exception& e) {
                h = health::bad(fmt::format("health probe failed: {}", e.what()));
            }
        }
        // An alert that cannot be committed is lost if the process dies: unhealthy, whatever
        // its own probe says, until a commit succeeds again.
        std::lock_guard commit_lock{commit_mutex};
        if (commit_failures_in_row > 0) {
            h = health::bad(fmt::format("cannot commit alerts to the outbox ({} failures in {:.0f} s): {}",
                                        commit_failures_in_row,
                                        static_cast<double>(vs::realtime_ns() - commit_failing_since_ns) / 1e9,
                                        commit_error));
        }
        h.reason = one_line(h.reason);
        return h;
    }

    /// At most max_reason_bytes, no control character (a newline would start a new sd_notify
    /// assignment such as READY=1).
    static std::string one_line(std::string text)
    {
        for (auto& c : text) {
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                c = ' ';
            }
        }
        if (text.size() > max_reason_bytes) {
            std::size_t cut = max_reason_bytes - 3;
            while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
                --cut;   // not inside a UTF-8 sequence
            }
            text.resize(cut);
            text += "...";
        }
        return text;
    }

    /// Publishes ProcessStatus with `h` (the probe's answer; stopping: not asked).
    void publish_status(bool stopping, std::optional<health> h = std::nullopt)
    {
        const auto now_real = vs::realtime_ns();
        last_status_mono = vs::monotonic_ns();
        if (snapshot_age != nullptr) {
            snapshot_age->store(static_cast<double>(now_real - last_snapshot_ns.load(std::memory_order_relaxed)) / 1e9,
                                std::memory_order_relaxed);
        }
        last_health = stopping ? health::bad("stopping") : h ? std::move(*h) : run_probe();
        const bool ok = ready && last_health.ok;
        std::string reason = ok ? std::string{} : (!ready && last_health.ok ? "starting" : last_health.reason);

        fbb.Clear();
        fbb.ForceDefaults(true);   // a counter at 0 is shown as 0, not left out
        std::vector<flatbuffers::Offset<vs::schema::ProcessMetric>> ms;
        {
            std::lock_guard lock{metrics_mutex};
            ms.reserve(metrics.size());
            for (const auto& m : metrics) {
                const double v = m.is_gauge ? m.value.load(std::memory_order_relaxed)
                                            : static_cast<double>(m.count.load(std::memory_order_relaxed));
                ms.push_back(vs::schema::CreateProcessMetric(fbb, fbb.CreateString(m.name), v, m.is_gauge));
            }
        }
        const auto rec = vs::schema::CreateProcessStatus(
            fbb, fbb.CreateString(s.program), now_real / ns_per_ms, now_real, vs::schema::MarketType::Unknown,
            static_cast<std::int64_t>(::getpid()), fbb.CreateString(VS_VERSION), started_ns, ready, ok,
            fbb.CreateString(reason), fbb.CreateVector(ms), stopping, status_interval_ns / ns_per_ms);
        fbb.Finish(rec);
        const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()),
                                               fbb.GetSize()};
        const auto st = writer->publish(process_status_type, s.program, bytes, now_real, vs::bus::to_both);
        if (st != vs::bus::publish_status::ok) {
            spdlog::error("cannot publish the process status ({} bytes, {} metrics): status {}", bytes.size(),
                          ms.size(), static_cast<int>(st));
        }
        writer->notify();

        const std::string text =
            stopping ? std::string{"stopping"}
                     : ok ? (last_health.reason.empty() ? std::string{"healthy"} : "healthy: " + last_health.reason)
                          : (ready ? "unhealthy: " + reason : reason);
        if (text != last_status_text) {
            if (ready && !stopping && logged_unhealthy == ok) {
                logged_unhealthy = !ok;
                if (ok) {
                    spdlog::info("healthy again");
                } else {
                    spdlog::warn("unhealthy: {}", reason);
                }
            }
            last_status_text = text;
            vs::sd::notify_status(text);
        }
    }

    void service()
    {
        writer->heartbeat();
        const auto now = vs::monotonic_ns();
        const bool stopping = vs::shutdown::requested();
        if (stopping && !stopping_published) {
            vs::sd::notify_stopping();   // systemd shows "deactivating" from the stop request on
        }
        if (now - last_status_mono >= status_interval_ns || stopping != stopping_published) {
            stopping_published = stopping;
            publish_status(stopping);
        }
        // The watchdog is petted only while the probe holds: systemd restarts a process that
        // is unhealthy, or whose loop stopped calling service(), after WatchdogSec.
        // The probe runs again right before each pet, not only at the status interval: a pet
        // never rests on a health answer older than a quarter of the watchdog period.
        if (watchdog_ns > 0 && ready && !stopping && now - last_watchdog_mono >= watchdog_ns / 4) {
            last_watchdog_mono = now;
            auto h = run_probe();
            if (h.ok != last_health.ok) {
                publish_status(false, std::move(h));   // the change shows at once
            } else {
                last_health = std::move(h);
            }
            if (last_health.ok) {
                vs::sd::notify_watchdog();
            }
        }
    }
};

context::context(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
context::~context() = default;

const vs::cli::parser& context::options() const noexcept { return impl_->cli; }
const std::string& context::program() const noexcept { return impl_->s.program; }
const std::string& context::bus_prefix() const noexcept { return impl_->prefix; }
const std::string& context::state_dir() const noexcept { return impl_->state_dir; }
vs::bus::writer& context::writer() noexcept { return *impl_->writer; }

vs::outbox::outbox& context::outbox()
{
    if (!impl_->outbox) {
        throw std::logic_error(impl_->s.program + " was built without the outbox (spec.outbox)");
    }
    return *impl_->outbox;
}

std::vector<std::string> context::commit(const std::vector<vs::outbox::alert>& alerts,
                                        const std::vector<vs::outbox::state_change>& changes)
{
    return commit_to(alerts, std::nullopt, changes);
}

std::vector<std::string> context::commit(const std::vector<vs::outbox::alert>& alerts, vs::outbox::target_set targets,
                                        const std::vector<vs::outbox::state_change>& changes)
{
    return commit_to(alerts, targets, changes);
}

std::vector<std::string> context::commit_to(const std::vector<vs::outbox::alert>& alerts,
                                           std::optional<vs::outbox::target_set> targets,
                                           const std::vector<vs::outbox::state_change>& changes)
{
    // The outbox's write observer (set in main()) does the failure bookkeeping, for this and
    // for every other write of alerts the process makes (enqueue, enqueue_many, ...).
    auto& d = *impl_;
    return targets ? outbox().commit(d.s.program, alerts, *targets, changes)
                   : outbox().commit(d.s.program, alerts, changes);
}

vs::outbox::bus_record context::alert_record(vs::bus::record_type type, std::string_view symbol,
                                             std::function<std::string(std::string_view id)> build)
{
    vs::outbox::bus_record r;
    r.channel = impl_->channel;
    r.type = type;
    r.symbol = std::string{symbol};
    r.schema_hash = impl_->writer ? impl_->writer->status().schema_hash : 0;
    r.build = std::move(build);
    return r;
}

std::optional<std::string> context::state(std::string_view key) { return outbox().state_get(impl_->s.program, key); }

follower context::follow(const std::string& channel)
{
    vs::bus::channel_config c;
    c.prefix = impl_->prefix;
    c.name = channel;
    return follower{c, impl_->s.program};
}

std::atomic<std::uint64_t>& context::counter(std::string_view name) { return impl_->find_metric(name, false).count; }

void context::gauge(std::string_view name, double value)
{
    impl_->find_metric(name, true).value.store(value, std::memory_order_relaxed);
}

void context::set_probe(std::function<health()> probe) { impl_->probe = std::move(probe); }

void context::ready()
{
    if (impl_->ready) {
        return;
    }
    impl_->ready = true;
    impl_->publish_status(false);
    vs::sd::notify_ready();
    spdlog::info("ready");
}

bool context::is_ready() const noexcept { return impl_->ready; }
bool context::stopping() const noexcept { return vs::shutdown::requested(); }
void context::request_stop() noexcept { vs::shutdown::request(); }
std::chrono::milliseconds context::drain_bound() const noexcept { return impl_->drain; }

std::chrono::steady_clock::time_point context::drain_deadline() const noexcept
{
    std::int64_t t = vs::shutdown::requested_at_ns();
    if (t == 0) {
        t = vs::monotonic_ns();
    }
    // steady_clock is CLOCK_MONOTONIC on Linux. The guard exits at t + drain; the body's
    // deadline leaves the final status and snapshot their reserve before that.
    return std::chrono::steady_clock::time_point{std::chrono::nanoseconds{t}} + impl_->drain -
           std::chrono::nanoseconds{impl_->reserve_ns()};
}

void context::service() { impl_->service(); }
void context::publish_status() { impl_->publish_status(vs::shutdown::requested()); }

bool context::wait(std::chrono::milliseconds timeout, follower* wake)
{
    const auto end = vs::monotonic_ns() + timeout.count() * ns_per_ms;
    for (;;) {
        impl_->service();
        if (vs::shutdown::requested()) {
            return false;
        }
        const auto now = vs::monotonic_ns();
        if (now >= end) {
            return true;
        }
        const auto step = std::chrono::nanoseconds{std::min<std::int64_t>(end - now, 100 * ns_per_ms)};
        if (wake != nullptr) {
            if (wake->wait(step)) {
                impl_->service();
                return !vs::shutdown::requested();
            }
        } else {
            vs::shutdown::wait_for(step);
        }
    }
}

std::uint64_t context::snapshot_count() const noexcept { return impl_->snapshot_count.load(std::memory_order_relaxed); }

// ---- main -------------------------------------------------------------------------------

int main(const spec& s, int argc, char** argv, const std::function<void(vs::cli::parser&)>& add_options,
         const std::function<int(context&)>& body)
{
    vs::cli::parser cli{s.program, s.summary, s.examples};
    vs::cli::add_common_options(cli);
    cli.option("drain-ms", "MS", std::to_string(s.drain.count()),
               "on SIGTERM, finish the work in hand for at most this long, then exit 0");
    cli.option("status-interval-ms", "MS", "1000", "period of the process status (bus, STATUS=, health probe)");
    const std::string channel = s.channel.empty() ? default_channel(s.program) : s.channel;
    if (!s.channel_option.empty()) {
        cli.option(s.channel_option, "NAME", channel, s.channel_option_help);
    }
    if (s.snapshots) {
        cli.option("snapshot-interval-ms", "MS", std::to_string(s.snapshot_interval.count()),
                   "LMDB snapshot period of the channel's table");
    }
    if (add_options) {
        add_options(cli);
    }
    return vs::cli::run(cli, argc, argv, [&] {
        auto p = std::make_unique<context::impl>(s, cli);
        p->prefix = cli.get("bus-prefix");
        p->state_dir = cli.get("state-dir");
        p->channel = s.channel_option.empty() ? channel : cli.get(s.channel_option);
        if (p->channel.empty()) {
            throw vs::cli::usage_error("--" + s.channel_option + " must not be empty");
        }
        if (s.snapshots) {
            p->snapshot_interval = std::chrono::milliseconds{cli.get_int("snapshot-interval-ms", 100, 3'600'000)};
        }
        p->drain = std::chrono::milliseconds{cli.get_int("drain-ms", 0, 3'600'000)};
        p->status_interval_ns = cli.get_int("status-interval-ms", 50, 600'000) * ns_per_ms;
        p->watchdog_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(vs::sd::watchdog_interval()).count();
        context ctx{std::move(p)};
        auto& d = *ctx.impl_;

        vs::shutdown::install_handlers();
        d.guard.thread = std::thread{[&d] { d.guard_loop(); }};
        struct guard_stop {
            context::impl& d;
            ~guard_stop()
            {
                d.snapshotter.stop();   // its last save sees everything published
                d.guard.stop();
            }
        } stop_threads{d};

        if (s.snapshots) {
            d.snapshot_failures = &d.find_metric("snapshot_failures", false).count;
            d.snapshots_saved = &d.find_metric("snapshots_saved", false).count;
            d.snapshot_age = &d.find_metric("snapshot_age_s", true).value;
            d.last_snapshot_ns.store(d.started_ns, std::memory_order_relaxed);
        }
        if (s.outbox) {
            d.commit_failures = &d.find_metric("outbox_commit_failures", false).count;
        }
        d.writer.emplace(d.own_channel());
        std::uint64_t restorable_at_start = 0;
        d.writer->for_each_latest([&](const vs::bus::record_view& r) { restorable_at_start += d.restorable(r) ? 1 : 0; });
        d.publish_status(false);   // this process, not ready yet: before anything is restored
        if (s.before_restore) {
            s.before_restore(ctx);
        }
        if (s.snapshots) {
            d.open_and_restore(restorable_at_start);
            d.snapshotter.thread = std::thread{[&d] { d.snapshot_loop(); }};
        }
        if (s.outbox) {
            d.outbox = vs::outbox::outbox::open(std::filesystem::path{d.state_dir});
            d.outbox->set_write_observer(
                [&d](std::size_t alerts, const std::exception* e) { d.on_outbox_write(alerts, e); });
        }
        spdlog::info("{} {} on channel '{}' (prefix '{}', state {})", s.program, VS_VERSION, d.channel, d.prefix,
                     d.state_dir);
        if (s.auto_ready) {
            ctx.ready();
        }
        d.body_thread = std::this_thread::get_id();
        const int code = body(ctx);
        d.probe = nullptr;   // it may refer to what the body owned
        if (vs::shutdown::requested()) {
            spdlog::info("stopping (signal {})", vs::shutdown::signal_number());
        }
        vs::sd::notify_stopping();
        d.publish_status(true);
        d.snapshotter.stop();   // its last save sees everything published
        d.guard.stop();
        spdlog::info("stopped{}", s.snapshots ? fmt::format(": {} records in the final snapshot", d.snapshot_count.load())
                                               : std::string{});
        return code;
    });
}

}  // namespace vs::daemon
