// vs-test-daemon: a daemon written on the skeleton (vs/daemon/daemon.hpp) for the skeleton's
// integration tests: its main is its options and its logic, like every real daemon's.
//   - publishes --records OpenInterest records (T0..Tn) into its channel when they are absent
//     (after a restore they are present: the test checks their original times);
//   - its health probe fails while --unhealthy-file exists (the watchdog must stop);
//   - on SIGTERM it "finishes its work" for --stop-work-ms, then returns (the drain bound
//     decides whether that finishes or the process exits 0 at the bound);
//   - with --alert-every-ms it commits alert k+1 together with its state "count" = k+1, in one
//     outbox transaction, continuing from the count it finds at start (kill -9 tests); a
//     commit that fails (a full disk) is tried again at the next period, as an alerting
//     process keeps an alert it could not commit;
//   - with --grow-every-ms it publishes one more record (G0, G1, ...) that often, so that its
//     snapshot keeps growing (full-disk tests).
#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>

#include <flatbuffers/flatbuffers.h>

#include "schemas/open_interest_generated.h"
#include "vs/common/clock.hpp"
#include "vs/daemon/daemon.hpp"

int main(int argc, char** argv)
{
    vs::daemon::spec s{"vs-test-daemon", "a daemon on the skeleton, for tests", "vs-test-daemon --records 10"};
    s.channel = "testd";
    s.snapshot_interval = std::chrono::milliseconds{200};
    s.record_types = {static_cast<vs::bus::record_type>(vs::schema::RecordType::OpenInterest)};
    s.outbox = true;
    s.auto_ready = false;   // ready once its state (the alert count) is read
    return vs::daemon::main(
        s, argc, argv,
        [](vs::cli::parser& cli) {
            cli.option("records", "N", "10", "OpenInterest records T0..T<N-1> to publish when absent");
            cli.option("unhealthy-file", "PATH", "", "the health probe fails while this file exists",
                       {"VS_TEST_UNHEALTHY_FILE"});
            cli.option("stop-work-ms", "MS", "0", "work still to finish when SIGTERM arrives");
            cli.option("alert-every-ms", "MS", "0", "commit an alert and the alert count this often (0: never)");
            cli.option("grow-every-ms", "MS", "0", "publish one more record this often (0: never)");
        },
        [](vs::daemon::context& ctx) {
            const auto n = ctx.options().get_int("records", 0, 1000);
            const std::filesystem::path unhealthy = ctx.options().get("unhealthy-file");
            const auto stop_work = std::chrono::milliseconds{ctx.options().get_int("stop-work-ms", 0, 600'000)};
            auto& published = ctx.counter("records_published");
            constexpr auto oi_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::OpenInterest);
            flatbuffers::FlatBufferBuilder fbb;
            for (long long i = 0; i < n; ++i) {
                const auto sym = "T" + std::to_string(i);
                if (ctx.writer().status().table_used > 0) {
                    bool present = false;
                    ctx.writer().for_each_latest([&](const vs::bus::record_view& r) {
                        present = present || (r.type == oi_type && r.symbol == sym);
                    });
                    if (present) {
                        continue;
                    }
                }
                fbb.Clear();
                const auto now = vs::realtime_ns();
                fbb.Finish(vs::schema::CreateOpenInterest(fbb, fbb.CreateString(sym), now / 1'000'000, now,
                                                          vs::schema::MarketType::UsdM, static_cast<double>(i)));
                ctx.writer().publish(oi_type, sym,
                                     {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()}, now);
                ++published;
            }
            ctx.writer().notify();
            ctx.set_probe([&] {
                std::error_code ec;
                if (!unhealthy.empty() && std::filesystem::exists(unhealthy, ec)) {
                    return vs::daemon::health::bad(unhealthy.string() + " exists");
                }
                return vs::daemon::health::good(std::to_string(published.load()) + " records published");
            });
            const auto alert_every = std::chrono::milliseconds{ctx.options().get_int("alert-every-ms", 0, 60'000)};
            const auto grow_every = std::chrono::milliseconds{ctx.options().get_int("grow-every-ms", 0, 60'000)};
            long long count = std::stoll(ctx.state("count").value_or("0"));
            auto& committed = ctx.counter("alerts_committed");
            ctx.ready();
            long long grown = 0;
            const auto period = std::min(alert_every.count() > 0 ? alert_every : std::chrono::milliseconds{100},
                                         grow_every.count() > 0 ? grow_every : std::chrono::milliseconds{100});
            auto next_alert = std::chrono::steady_clock::now() + alert_every;
            auto next_grow = std::chrono::steady_clock::now() + grow_every;
            while (ctx.wait(period)) {
                const auto now = std::chrono::steady_clock::now();
                if (grow_every.count() > 0 && now >= next_grow && grown < 900) {
                    next_grow = now + grow_every;
                    const auto sym = "G" + std::to_string(grown++);
                    fbb.Clear();
                    const auto t = vs::realtime_ns();
                    fbb.Finish(vs::schema::CreateOpenInterest(fbb, fbb.CreateString(sym), t / 1'000'000, t,
                                                              vs::schema::MarketType::UsdM, 1.0));
                    ctx.writer().publish(
                        oi_type, sym, {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()}, t);
                    ctx.writer().notify();
                    ++published;
                }
                if (alert_every.count() == 0 || now < next_alert) {
                    continue;
                }
                next_alert = now + alert_every;
                vs::outbox::alert a;
                a.kind = "test";
                a.backend = vs::outbox::backend_call{"/api/test", "{\"k\":" + std::to_string(count + 1) + "}"};
                try {
                    ctx.commit({a}, {{"count", std::to_string(count + 1)}});
                } catch (const std::exception&) {
                    continue;   // the skeleton counted and logged it; the alert is tried again
                }
                ++count;
                ++committed;
            }
            // The drain: the work in hand, bounded by --drain-ms (the skeleton's guard).
            const auto until = std::chrono::steady_clock::now() + stop_work;
            while (std::chrono::steady_clock::now() < until) {
                ctx.service();
                std::this_thread::sleep_for(std::chrono::milliseconds{10});
            }
            return 0;
        });
}
