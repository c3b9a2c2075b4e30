// The daemon skeleton (vs/daemon/daemon.hpp), as real processes: vs-test-daemon is a daemon
// written on it. Each test has its own shared-memory prefix and state directory.
//   - its table comes back after kill -9, with the records' original times (from the LMDB
//     snapshot when /dev/shm was lost, from the surviving segment otherwise);
//   - SIGTERM drains within the process's bound and exits 0;
//   - the watchdog is not petted while the process's health probe fails;
//   - its ProcessStatus is shown by vs-bus-dump --status and vs-health;
//   - a full disk (a real tmpfs) is named, counted, unhealthy, and its recovery logged.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "schemas/process_status_generated.h"
#include "service_process.hpp"
#include "state_modes.hpp"
#include "test_env.hpp"
#include "vs/bus/channel.hpp"
#include "vs/bus/records.hpp"
#include "vs/outbox/outbox.hpp"

namespace {

using namespace std::chrono_literals;
using vs::test::child_process;
using vs::test::eventually;
using vs::test::read_file;
namespace fs = std::filesystem;

constexpr auto oi_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::OpenInterest);
constexpr auto status_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::ProcessStatus);

std::string exe(const char* var)
{
    const char* v = std::getenv(var);
    return v != nullptr ? v : "";
}

struct status_view {
    bool ready = false, healthy = false, stopping = false;
    std::string reason;
    std::int64_t pid = 0;
    std::map<std::string, double> metrics;
};

class DaemonSkeleton : public ::testing::Test {
protected:
    vs::test::test_env env_;
    fs::path log_ = env_.state_dir() / "daemon.log";

    std::vector<std::string> argv(std::vector<std::string> extra = {}) const
    {
        std::vector<std::string> a{exe("VS_TEST_DAEMON_EXE"), "--bus-prefix", env_.prefix(), "--state-dir",
                                   env_.state_dir().string(), "--status-interval-ms", "100"};
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }

    vs::bus::channel_config channel() const
    {
        vs::bus::channel_config c;
        c.prefix = env_.prefix();
        c.name = "testd";
        c.record_types = {oi_type, status_type};   // what vs-test-daemon's channel carries,
        c.ring_bytes = 1u << 20;                    // with the skeleton's default sizes
        c.table_slots = 1024;
        c.slot_bytes = 2048;
        return c;
    }

    std::optional<status_view> status()
    {
        vs::bus::reader r{channel(), vs::bus::reader_options{false, "daemon_test"}};
        if (r.attach() != vs::bus::attach_state::ready) {
            return std::nullopt;
        }
        std::optional<status_view> out;
        r.latest(status_type, "vs-test-daemon", [&](const vs::bus::record_view& v) {
            if (!vs::bus::verify_record(v.type, v.data)) {
                return;
            }
            const auto* s = vs::bus::record_as<vs::schema::ProcessStatus>(v.data);
            status_view sv;
            sv.ready = s->ready();
            sv.healthy = s->healthy();
            sv.stopping = s->stopping();
            sv.reason = s->reason() != nullptr ? s->reason()->str() : "";
            sv.pid = s->pid();
            if (s->metrics() != nullptr) {
                for (const auto* m : *s->metrics()) {
                    sv.metrics[m->name()->str()] = m->value();
                }
            }
            out = sv;
        });
        return out;
    }

    /// publish_ns of every OpenInterest record, by symbol.
    std::map<std::string, std::int64_t> oi_records()
    {
        std::map<std::string, std::int64_t> out;
        vs::bus::reader r{channel(), vs::bus::reader_options{false, "daemon_test"}};
        if (r.attach() == vs::bus::attach_state::ready) {
            r.for_each_latest(oi_type, [&](const vs::bus::record_view& v) { out[std::string{v.symbol}] = v.publish_ns; });
        }
        return out;
    }

    void remove_segments()
    {
        for (const auto& e : fs::directory_iterator{"/dev/shm"}) {
            if (e.path().filename().string().rfind(env_.prefix() + ".", 0) == 0) {
                fs::remove(e.path());
            }
        }
    }

    bool ready_with(std::int64_t pid)
    {
        auto s = status();
        return s && s->ready && s->pid == pid;
    }
};

TEST_F(DaemonSkeleton, AfterKill9ItsTableComesBackWithOriginalTimes)
{
    std::map<std::string, std::int64_t> before;
    {
        child_process p{argv({"--records", "20", "--snapshot-interval-ms", "100"}), vs::test::logged_to(log_)};
        ASSERT_TRUE(eventually([&] { return ready_with(p.pid()); }, 10s)) << read_file(log_);
        before = oi_records();
        ASSERT_EQ(before.size(), 20u);
        // At least one snapshot saved after the records were published.
        ASSERT_TRUE(eventually([&] { auto s = status(); return s && s->metrics["snapshots_saved"] >= 2; }, 10s))
            << read_file(log_);
        ASSERT_EQ(p.kill(), 128 + SIGKILL);
    }
    // A reboot: /dev/shm is gone, the LMDB snapshot is not.
    remove_segments();
    {
        child_process p{argv({"--records", "0"}), vs::test::logged_to(log_)};
        ASSERT_TRUE(eventually([&] { return ready_with(p.pid()); }, 10s)) << read_file(log_);
        EXPECT_EQ(oi_records(), before) << "restored records must keep their original publish times";
        EXPECT_NE(read_file(log_).find("restored 20 records"), std::string::npos) << read_file(log_);
        ASSERT_EQ(p.kill(), 128 + SIGKILL);
    }
    // A crash: the segment survived and is newer than any snapshot, so it is kept as it is.
    {
        child_process p{argv({"--records", "0"}), vs::test::logged_to(log_)};
        ASSERT_TRUE(eventually([&] { return ready_with(p.pid()); }, 10s)) << read_file(log_);
        EXPECT_EQ(oi_records(), before);
        EXPECT_NE(read_file(log_).find("survived the last run"), std::string::npos) << read_file(log_);
    }
}

TEST_F(DaemonSkeleton, StatusesLeftByAProcessThatDiedDuringStartDoNotHideTheSnapshot)
{
    std::map<std::string, std::int64_t> before;
    {
        child_process p{argv({"--records", "20", "--snapshot-interval-ms", "100"}), vs::test::logged_to(log_)};
        ASSERT_TRUE(eventually([&] { return ready_with(p.pid()); }, 10s)) << read_file(log_);
        before = oi_records();
        ASSERT_TRUE(eventually([&] { auto s = status(); return s && s->metrics["snapshots_saved"] >= 2; }, 10s));
        p.kill();
    }
    // A reboot, then a start that died after its first status and before the restore: the
    // segment holds one ProcessStatus and no data.
    remove_segments();
    {
        vs::bus::writer w{channel()};
        flatbuffers::FlatBufferBuilder fbb;
        fbb.Finish(vs::schema::CreateProcessStatus(fbb, fbb.CreateString("vs-test-daemon")));
        w.publish(status_type, "vs-test-daemon", {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()}, 1);
    }
    child_process p{argv({"--records", "0"}), vs::test::logged_to(log_)};
    ASSERT_TRUE(eventually([&] { return ready_with(p.pid()); }, 10s)) << read_file(log_);
    EXPECT_EQ(oi_records(), before) << read_file(log_);
}

TEST_F(DaemonSkeleton, AnUnreadableSnapshotIsMovedAsideNotOverwritten)
{
    const auto dir = env_.state_dir() / "testd.lmdb";
    fs::create_directories(dir);
    std::ofstream{dir / "data.mdb"} << "this is not an LMDB file, but somebody's data";
    child_process p{argv({"--records", "3"}), vs::test::logged_to(log_)};
    ASSERT_TRUE(eventually([&] { return ready_with(p.pid()); }, 10s)) << read_file(log_);
    EXPECT_EQ(oi_records().size(), 3u);
    bool kept = false;
    for (const auto& e : fs::directory_iterator{env_.state_dir()}) {
        kept = kept || e.path().filename().string().rfind("testd.lmdb.unreadable-", 0) == 0;
    }
    EXPECT_TRUE(kept) << read_file(log_);
    EXPECT_NE(read_file(log_).find("moved to"), std::string::npos) << read_file(log_);
}

TEST_F(DaemonSkeleton, SigtermFinishesTheWorkInHandAndExitsZero)
{
    child_process p{argv({"--stop-work-ms", "300", "--drain-ms", "5000"}), vs::test::logged_to(log_)};
    ASSERT_TRUE(eventually([&] { return ready_with(p.pid()); }, 10s)) << read_file(log_);
    const auto t0 = std::chrono::steady_clock::now();
    p.signal(SIGTERM);
    ASSERT_EQ(p.wait(10s), 0) << read_file(log_);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 4s);
    const auto log = read_file(log_);
    EXPECT_NE(log.find("stopped"), std::string::npos) << log;
    EXPECT_EQ(log.find("did not finish"), std::string::npos) << log;
    auto s = status();
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->stopping);
    EXPECT_FALSE(s->healthy);
    EXPECT_EQ(s->reason, "stopping");
}

TEST_F(DaemonSkeleton, SigtermExitsZeroAtTheDrainBoundWhenTheWorkTakesLonger)
{
    child_process p{argv({"--stop-work-ms", "60000", "--drain-ms", "500"}), vs::test::logged_to(log_)};
    ASSERT_TRUE(eventually([&] { return ready_with(p.pid()); }, 10s)) << read_file(log_);
    const auto t0 = std::chrono::steady_clock::now();
    p.signal(SIGTERM);
    ASSERT_EQ(p.wait(10s), 0) << read_file(log_);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 500ms);
    EXPECT_LT(took, 3s) << "the drain bound is 500 ms";
    EXPECT_NE(read_file(log_).find("did not finish within 500 ms"), std::string::npos) << read_file(log_);
}

TEST_F(DaemonSkeleton, WatchdogIsNotPettedWhileTheProbeFails)
{
    vs::test::notify_listener sd;
    const auto flag = env_.state_dir() / "unhealthy";
    auto opts = vs::test::logged_to(log_, {{"NOTIFY_SOCKET", sd.path()}, {"WATCHDOG_USEC", "400000"}});
    opts.pid_env = {"WATCHDOG_PID"};
    child_process p{argv({"--unhealthy-file", flag.string()}), opts};
    ASSERT_TRUE(sd.wait_for("READY=1", 10s)) << read_file(log_);
    ASSERT_TRUE(sd.wait_for("WATCHDOG=1", 3s)) << read_file(log_);

    std::ofstream{flag} << "x";
    ASSERT_TRUE(sd.wait_for("STATUS=unhealthy: " + flag.string() + " exists", 3s)) << read_file(log_);
    auto s = status();
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->healthy);
    EXPECT_EQ(s->reason, flag.string() + " exists");
    // From here on, not one pet for well over the watchdog period (400 ms).
    const auto pets_before = sd.count("WATCHDOG=1");
    sd.wait_for("no such message", 1500ms);
    EXPECT_EQ(sd.count("WATCHDOG=1"), pets_before) << "petted the watchdog while the probe failed";

    fs::remove(flag);
    ASSERT_TRUE(sd.wait_for("STATUS=healthy: 10 records published", 3s)) << read_file(log_);
    const auto healed = sd.count("WATCHDOG=1");
    EXPECT_TRUE(eventually([&] { sd.wait_for("no such message", 50ms); return sd.count("WATCHDOG=1") > healed; }, 3s));
    EXPECT_NE(read_file(log_).find("unhealthy: " + flag.string() + " exists"), std::string::npos);
}

TEST_F(DaemonSkeleton, ProcessStatusIsShownByBusDumpAndHealth)
{
    child_process p{argv(), vs::test::logged_to(log_)};
    ASSERT_TRUE(eventually([&] {
        auto s = status();
        return s && s->ready && s->metrics.count("records_published") && s->metrics["records_published"] == 10;
    }, 10s)) << read_file(log_);

    const auto dump = vs::test::run(
        {exe("VS_BUS_DUMP_EXE"), "--bus-prefix", env_.prefix(), "--channel", "testd", "--status", "--once", "--json"});
    EXPECT_EQ(dump.exit_code, 0) << dump.err;
    EXPECT_NE(dump.out.find("\"process\":\"vs-test-daemon\""), std::string::npos) << dump.out;
    EXPECT_NE(dump.out.find("\"records_published\":10"), std::string::npos) << dump.out;

    const auto health = vs::test::run({exe("VS_HEALTH_EXE"), "--bus-prefix", env_.prefix(), "--state-dir",
                                               env_.state_dir().string(), "--channels", "testd", "--market-channel", "", "--json"});
    EXPECT_EQ(health.exit_code, 0) << health.out << health.err;
    EXPECT_NE(health.out.find("vs-test-daemon"), std::string::npos) << health.out;
    EXPECT_NE(health.out.find("records_published"), std::string::npos) << health.out;

    // An unhealthy process makes vs-health fail, naming it and its reason.
    const auto flag = env_.state_dir() / "unhealthy";
    p.kill();
    child_process sick{argv({"--unhealthy-file", flag.string()}), vs::test::logged_to(log_)};
    std::ofstream{flag} << "x";
    ASSERT_TRUE(eventually([&] { auto s = status(); return s && s->pid == sick.pid() && !s->healthy; }, 10s));
    const auto bad = vs::test::run({exe("VS_HEALTH_EXE"), "--bus-prefix", env_.prefix(), "--state-dir",
                                            env_.state_dir().string(), "--channels", "testd", "--market-channel", ""});
    EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
    EXPECT_NE(bad.out.find("vs-test-daemon"), std::string::npos) << bad.out;
    EXPECT_NE(bad.out.find(flag.string() + " exists"), std::string::npos) << bad.out;
}

TEST_F(DaemonSkeleton, Kill9AtAnyMomentNeitherLosesNorDuplicatesAnAlert)
{
    // Each alert k is committed with the state "count" = k in one transaction; a restarted
    // process continues from the count it finds. After 15 kills at random moments the outbox
    // must hold exactly the alerts 1..count, once each.
    const vs::test::env_map backend{{"VOLSPIKE_API_URL", "http://127.0.0.1:9"}};
    std::mt19937 rng{20261204};
    for (int i = 0; i < 15; ++i) {
        child_process p{argv({"--alert-every-ms", "1", "--records", "0"}), vs::test::logged_to(log_, backend)};
        ASSERT_TRUE(eventually([&] { return ready_with(p.pid()); }, 10s)) << vs::test::tail_of(log_);
        std::this_thread::sleep_for(std::chrono::milliseconds{20 + rng() % 130});
        p.kill();
    }
    vs::outbox::outbox_options ro;
    ro.read_only = true;
    auto ob = vs::outbox::outbox::open(env_.state_dir(), ro);
    const auto count = std::stoll(ob->state_get("vs-test-daemon", "count").value_or("0"));
    ASSERT_GT(count, 15) << "the daemon committed alerts between the kills";
    vs::outbox::list_filter all;
    all.limit = 1'000'000;
    std::map<long long, int> seen;
    for (const auto& e : ob->list(all)) {
        ASSERT_TRUE(e.a.backend);
        seen[std::stoll(e.a.backend->body.substr(5))] += 1;
    }
    ASSERT_EQ(static_cast<long long>(seen.size()), count) << "an alert was lost, or one is missing from the state";
    for (const auto& [k, n] : seen) {
        EXPECT_EQ(n, 1) << "alert " << k << " committed " << n << " times";
        EXPECT_GE(k, 1);
        EXPECT_LE(k, count);
    }
}

TEST_F(DaemonSkeleton, UnderUmask000ItsStateIs0750DirectoriesAnd0640Files)
{
    const auto state = env_.state_dir() / "fresh";
    const mode_t old = ::umask(0);   // the child inherits it
    child_process p{{exe("VS_TEST_DAEMON_EXE"), "--bus-prefix", env_.prefix(), "--state-dir", state.string(),
                     "--snapshot-interval-ms", "100"},
                    vs::test::logged_to(log_)};
    ::umask(old);
    ASSERT_TRUE(eventually([&] { return ready_with(p.pid()); }, 10s)) << read_file(log_);
    ASSERT_TRUE(eventually([&] { auto s = status(); return s && s->metrics["snapshots_saved"] >= 1; }, 10s));
    EXPECT_EQ(p.terminate(10s), 0);
    vs::test::expect_private_state(state, {"testd.lmdb", "outbox.lmdb"});
}

}  // namespace

// Issue 19, a full disk for real: vs-test-daemon runs in a private mount namespace whose
// state directory is a 2 MiB tmpfs (as root; otherwise inside a user namespace of its own;
// skipped when neither is allowed). It grows its table and commits alerts; the test then
// fills the tmpfs (through /proc/<pid>/root) until write(2) says ENOSPC. The snapshot and
// the outbox must fail loudly with the cause named, count it, make the process unhealthy (an
// alert that cannot be committed) and vs-health fail (the last good snapshot too old); once
// the filler is gone, both recover and the recovery is logged.
TEST_F(DaemonSkeleton, AFullDiskIsNamedCountedUnhealthyAndItsRecoveryLogged)
{
    const fs::path disk = env_.state_dir() / "disk";
    fs::create_directories(disk);
    std::vector<std::string> args{exe("VS_TEST_DAEMON_EXE"), "--bus-prefix", env_.prefix(), "--state-dir",
                                  disk.string(), "--status-interval-ms", "100", "--snapshot-interval-ms", "100",
                                  "--records", "5", "--grow-every-ms", "20", "--alert-every-ms", "50"};
    std::vector<char*> argv_c;
    for (auto& a : args) {
        argv_c.push_back(a.data());
    }
    argv_c.push_back(nullptr);
    const std::string uid_map = "0 " + std::to_string(::getuid()) + " 1";
    const std::string gid_map = "0 " + std::to_string(::getgid()) + " 1";
    const std::string disk_s = disk.string();
    auto write_file = [](const char* path, const std::string& text) {
        const int fd = ::open(path, O_WRONLY);
        const bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
        if (fd >= 0) {
            ::close(fd);
        }
        return ok;
    };
    auto p = child_process::fork(
        [&] {
            if (::unshare(CLONE_NEWNS) != 0) {
                // Not root: a user namespace of our own may mount a tmpfs.
                if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0 || !write_file("/proc/self/setgroups", "deny") ||
                    !write_file("/proc/self/uid_map", uid_map) || !write_file("/proc/self/gid_map", gid_map)) {
                    return 77;
                }
            }
            if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
                ::mount("tmpfs", disk_s.c_str(), "tmpfs", 0, "size=2m,mode=0750") != 0) {
                return 77;
            }
            ::execv(argv_c[0], argv_c.data());
            return 127;
        },
        vs::test::logged_to(log_));
    ASSERT_TRUE(eventually([&] {
        auto s = status();
        return (s && s->pid == p.pid() && s->ready && s->metrics["snapshots_saved"] >= 1 &&
                s->metrics["alerts_committed"] >= 1) ||
               !p.running();
    }, 10s)) << read_file(log_);
    if (!p.running()) {
        const auto code = p.wait(1s);
        if (code && *code == 77) {
            GTEST_SKIP() << "cannot mount a private tmpfs here (no mount or user namespace)";
        }
        FAIL() << "vs-test-daemon ended (" << (code ? *code : -1) << "): " << read_file(log_);
    }

    // Fill the daemon's tmpfs until the file system refuses.
    const fs::path filler = fs::path{"/proc"} / std::to_string(p.pid()) / "root" / disk.relative_path() / "filler";
    {
        const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT_GE(fd, 0) << filler << ": " << std::strerror(errno);
        const std::string chunk(4096, 'x');
        int err = 0;
        for (int i = 0; i < 4096 && err == 0; ++i) {
            if (::write(fd, chunk.data(), chunk.size()) < 0) {
                err = errno;
            }
        }
        ::close(fd);
        ASSERT_EQ(err, ENOSPC) << "the tmpfs did not fill up";
    }
    ASSERT_TRUE(eventually([&] {
        auto s = status();
        return s && s->metrics["snapshot_failures"] >= 2 && s->metrics["outbox_commit_failures"] >= 1 &&
               !s->healthy && s->metrics["snapshot_age_s"] > 1.2;
    }, 15s)) << read_file(log_);
    const auto sick = status();
    ASSERT_TRUE(sick);
    EXPECT_NE(sick->reason.find("cannot commit alerts to the outbox"), std::string::npos) << sick->reason;
    EXPECT_NE(sick->reason.find("no space left on " + disk.string()), std::string::npos) << sick->reason;
    const std::string log = read_file(log_);
    // The cause, named with the free bytes, for the snapshot and for the outbox.
    EXPECT_NE(log.find("cannot save snapshot " + (disk / "testd.lmdb").string()), std::string::npos) << log;
    EXPECT_NE(log.find("no space left on " + (disk / "testd.lmdb").string() + " ("), std::string::npos) << log;
    EXPECT_NE(log.find("no space left on " + (disk / "outbox.lmdb").string() + " ("), std::string::npos) << log;
    EXPECT_NE(log.find("bytes free)"), std::string::npos) << log;
    EXPECT_NE(log.find("cannot commit 1 alerts to the outbox"), std::string::npos) << log;
    EXPECT_EQ(log.find("Input/output error:"), std::string::npos) << "a bare EIO, without its cause: " << log;
    const auto line_at = log.find("cannot save snapshot");
    std::printf("seen: %s\nreason: %s\n", log.substr(line_at, log.find('\n', line_at) - line_at).c_str(),
                sick->reason.c_str());

    const std::vector<std::string> health_argv{exe("VS_HEALTH_EXE"), "--bus-prefix", env_.prefix(), "--channels",
                                               "testd", "--market-channel", "", "--units", "",
                                               "--max-snapshot-age-s", "1"};
    const auto bad = vs::test::run(health_argv);
    EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
    EXPECT_NE(bad.out.find("FAIL  snapshot vs-test-daemon: last good snapshot"), std::string::npos) << bad.out;
    EXPECT_NE(bad.out.find("cannot commit alerts to the outbox"), std::string::npos) << bad.out;

    // Room again: both recover, and say so.
    ASSERT_TRUE(fs::remove(filler));
    ASSERT_TRUE(eventually([&] {
        auto s = status();
        return s && s->healthy && s->metrics["snapshot_age_s"] < 0.5;
    }, 15s)) << read_file(log_);
    const std::string after = read_file(log_);
    EXPECT_NE(after.find("saved again after"), std::string::npos) << after;
    EXPECT_NE(after.find("alerts commit to the outbox again"), std::string::npos) << after;
    const auto good = vs::test::run(health_argv);
    EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
    EXPECT_NE(good.out.find("ok    snapshot vs-test-daemon: last good snapshot"), std::string::npos) << good.out;
    EXPECT_EQ(p.terminate(10s), 0);
}
