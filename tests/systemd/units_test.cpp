// The installed systemd units, checked the way an operator's machine will see them:
// `meson install --destdir` into a temporary root, then
//  - `systemd-analyze verify --root=<destdir>` on every installed unit, with no warning;
//  - systemd's own reading of the sandbox (`systemd-analyze security --offline`): nothing
//    hides, empties or removes the shared /dev/shm bus (PrivateDevices off, RemoveIPC off,
//    ProtectSystem=strict with /dev/shm read-write);
//  - the required service settings in every daemon unit;
//  - sysusers.d creates the volspike system user and tmpfiles.d the state directory in the
//    temporary root;
//  - every daemon unit's ExecStart (the installed binary), run with the example env file
//    pointed at a vs-replay on loopback, sends READY=1 and WATCHDOG=1 from its main pid on
//    a NOTIFY_SOCKET and stops cleanly on SIGTERM: what systemd does with Type=notify; and
//    vs-health.service's ExecStart, run against them, exits 0 (healthy).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "replay_process.hpp"
#include "service_process.hpp"
#include "test_env.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> split(const std::string& s, char sep)
{
    std::vector<std::string> out;
    std::stringstream ss{s};
    std::string item;
    while (std::getline(ss, item, sep)) {
        if (!item.empty()) {
            out.push_back(item);
        }
    }
    return out;
}

using vs::test::read_file;

/// A unit file as (section, key) -> every value in order (keys may repeat).
using unit_file = std::map<std::string, std::vector<std::string>>;

unit_file parse_unit(const fs::path& p)
{
    unit_file u;
    std::ifstream in{p};
    std::string line, section;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#' || line[0] == ';') {
            continue;
        }
        if (line[0] == '[') {
            section = line.substr(1, line.find(']') - 1);
            continue;
        }
        const auto eq = line.find('=');
        if (eq != std::string::npos) {
            u[section + "." + line.substr(0, eq)].push_back(line.substr(eq + 1));
        }
    }
    return u;
}

std::string last(const unit_file& u, const std::string& key)
{
    auto it = u.find(key);
    return it == u.end() || it->second.empty() ? std::string{} : it->second.back();
}

/// One `meson install --destdir` per test program, shared by every test.
class InstalledTree : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        root_ = fs::temp_directory_path() / ("vs-units-test-" + std::to_string(::getpid()));
        fs::remove_all(root_);
        install_ = vs::test::run({MESON, "install", "-C", BUILD_ROOT, "--no-rebuild", "--quiet", "--destdir",
                                          root_.string()},
                                         {}, 120s);
        // systemd-analyze --root looks up every unit (sysinit.target, ...) under the root:
        // give it the distribution's units, as on a real machine.
        std::error_code ec;
        for (const char* d : {"/lib/systemd/system", "/usr/lib/systemd/system"}) {
            if (fs::is_directory(d) && !fs::is_symlink(d)) {
                fs::create_directories(root_ / fs::path{d}.relative_path().parent_path(), ec);
                fs::copy(d, root_ / fs::path{d}.relative_path(),
                         fs::copy_options::recursive | fs::copy_options::skip_existing | fs::copy_options::copy_symlinks,
                         ec);
            }
        }
    }
    static void TearDownTestSuite()
    {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    void SetUp() override { ASSERT_EQ(install_.exit_code, 0) << "meson install failed:\n" << install_.out << install_.err; }

    static fs::path installed(const std::string& abs) { return root_ / fs::path{abs}.relative_path(); }
    static fs::path unit_path(const std::string& unit) { return installed(UNIT_DIR) / unit; }
    static std::vector<std::string> units() { return split(UNITS, ','); }
    static std::vector<std::string> daemon_units() { return split(DAEMON_UNITS, ','); }
    static std::vector<std::string> production_units() { return split(PRODUCTION_UNITS, ','); }
    static bool is_production(const std::string& u)
    {
        const auto p = production_units();
        return std::find(p.begin(), p.end(), u) != p.end();
    }

    static inline fs::path root_;
    static inline vs::test::command_output install_;
};

TEST_F(InstalledTree, EveryUnitPassesSystemdAnalyzeVerifyWithoutAWarning)
{
    ASSERT_FALSE(units().empty());
    for (const auto& u : units()) {
        ASSERT_TRUE(fs::exists(unit_path(u))) << u << " not installed in " << UNIT_DIR;
        // --root: ExecStart= binaries and every dependency are looked up in the installed tree.
        auto r = vs::test::run({SYSTEMD_ANALYZE, "verify", "--man=no", "--root=" + root_.string(),
                                        (fs::path{UNIT_DIR} / u).string()});
        EXPECT_EQ(r.exit_code, 0) << u << ":\n" << r.out << r.err;
        EXPECT_EQ(r.err, "") << u << ": systemd-analyze verify warns";
    }
}

TEST_F(InstalledTree, VerifyCatchesAMissingBinary)
{
    // The check above is meaningful only if verify looks at ExecStart under --root.
    const fs::path bin = installed(BINDIR) / "vs-deliver";
    const fs::path moved = bin.string() + ".away";
    fs::rename(bin, moved);
    auto r = vs::test::run({SYSTEMD_ANALYZE, "verify", "--man=no", "--root=" + root_.string(),
                                    (fs::path{UNIT_DIR} / "vs-deliver.service").string()});
    fs::rename(moved, bin);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("is not executable"), std::string::npos) << r.err;
}

TEST_F(InstalledTree, DaemonUnitsHaveTheRequiredServiceSettings)
{
    for (const auto& u : daemon_units()) {
        SCOPED_TRACE(u);
        const auto f = parse_unit(unit_path(u));
        EXPECT_EQ(last(f, "Service.Type"), "notify");
        EXPECT_FALSE(last(f, "Service.WatchdogSec").empty());
        EXPECT_EQ(last(f, "Service.Restart"), "always");
        EXPECT_FALSE(last(f, "Unit.StartLimitIntervalSec").empty());
        EXPECT_FALSE(last(f, "Unit.StartLimitBurst").empty());
        EXPECT_FALSE(last(f, "Service.MemoryMax").empty());
        EXPECT_EQ(last(f, "Service.EnvironmentFile"), "-/etc/volspike/volspike.env");
        EXPECT_EQ(last(f, "Service.User"), "volspike");
        EXPECT_EQ(last(f, "Service.Group"), "volspike");
        if (is_production(u)) {   // vs-replay keeps no state and is not part of the target
            EXPECT_EQ(last(f, "Service.StateDirectory"), "volspike");
            EXPECT_EQ(last(f, "Install.WantedBy"), "volspike.target");
            EXPECT_EQ(last(f, "Unit.PartOf"), "volspike.target");
        }
        EXPECT_EQ(last(f, "Service.NoNewPrivileges"), "yes");
        EXPECT_EQ(last(f, "Service.ProtectHome"), "yes");
        EXPECT_EQ(last(f, "Service.PrivateTmp"), "yes");
        EXPECT_FALSE(last(f, "Service.RestrictAddressFamilies").empty());
        const auto exec = split(last(f, "Service.ExecStart"), ' ');
        ASSERT_FALSE(exec.empty());
        EXPECT_EQ(fs::path{exec[0]}.parent_path(), fs::path{BINDIR});
        EXPECT_TRUE(fs::exists(installed(exec[0]))) << exec[0];
    }
}

TEST_F(InstalledTree, TargetStartsEveryDaemonAndTheHealthTimer)
{
    const auto t = parse_unit(unit_path("volspike.target"));
    const auto wants = split(last(t, "Unit.Wants"), ' ');
    for (const auto& u : production_units()) {
        EXPECT_NE(std::find(wants.begin(), wants.end(), u), wants.end()) << u;
    }
    EXPECT_NE(std::find(wants.begin(), wants.end(), "vs-health.timer"), wants.end());
    EXPECT_EQ(last(t, "Install.WantedBy"), "multi-user.target");
    // The API starts after the feed is ready (Type=notify), so its first answers have data.
    const auto api = parse_unit(unit_path("vs-api.service"));
    const auto after = split(last(api, "Unit.After"), ' ');
    EXPECT_NE(std::find(after.begin(), after.end(), "vs-feed.service"), after.end());

    const auto timer = parse_unit(unit_path("vs-health.timer"));
    EXPECT_EQ(last(timer, "Timer.OnCalendar"), "*-*-* *:*:00");
    const auto health = parse_unit(unit_path("vs-health.service"));
    EXPECT_EQ(last(health, "Service.Type"), "oneshot");
    EXPECT_NE(last(health, "Service.ExecStart").find("vs-health --restart"), std::string::npos);
}

// The bus lives in /dev/shm and must stay one shared tmpfs for every unit. This asks systemd
// itself how it reads each installed unit's sandbox (systemd-analyze security --offline uses
// the same parser as PID 1), and checks the unit text for the options it does not list.
TEST_F(InstalledTree, NoSandboxOptionHidesOrRemovesTheSharedMemoryBus)
{
    std::vector<std::string> all = daemon_units();
    all.push_back("vs-health.service");
    for (const auto& u : all) {
        SCOPED_TRACE(u);
        auto r = vs::test::run({SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager",
                                        "--root=" + root_.string(), (fs::path{UNIT_DIR} / u).string()});
        ASSERT_NE(r.out.find("PrivateDevices="), std::string::npos) << r.out << r.err;
        auto line_of = [&](const std::string& key) {
            std::stringstream ss{r.out};
            std::string line;
            while (std::getline(ss, line)) {
                if (line.find(" " + key) != std::string::npos && line.find(key) < 8) {
                    return line;
                }
            }
            return std::string{};
        };
        // ✗ = the protection is off: /dev is the host's, and IPC objects are not removed.
        EXPECT_EQ(line_of("PrivateDevices=").rfind("✗", 0), 0u) << line_of("PrivateDevices=");
        if (u != "vs-health.service") {   // RemoveIPC does not apply to root
            EXPECT_EQ(line_of("RemoveIPC=").rfind("✗", 0), 0u) << line_of("RemoveIPC=");
        }
        EXPECT_EQ(line_of("ProtectSystem=").rfind("✓", 0), 0u) << line_of("ProtectSystem=");
        EXPECT_NE(line_of("ProtectSystem=").find("strict"), std::string::npos) << line_of("ProtectSystem=");

        const auto f = parse_unit(unit_path(u));
        auto is_on = [](const std::string& v) { return v == "yes" || v == "true" || v == "1" || v == "on"; };
        EXPECT_FALSE(is_on(last(f, "Service.PrivateDevices")));
        EXPECT_FALSE(is_on(last(f, "Service.PrivateIPC")));
        EXPECT_FALSE(is_on(last(f, "Service.DynamicUser")));
        EXPECT_FALSE(is_on(last(f, "Service.PrivateUsers")));
        EXPECT_EQ(last(f, "Service.RemoveIPC"), "no");
        EXPECT_EQ(last(f, "Service.ProtectSystem"), "strict");
        // strict leaves /dev writable (systemd.exec(5)); ReadWritePaths states it for /dev/shm.
        EXPECT_EQ(last(f, "Service.ReadWritePaths"), "/dev/shm");
        for (const char* key : {"Service.InaccessiblePaths", "Service.TemporaryFileSystem", "Service.ReadOnlyPaths",
                                "Service.BindPaths", "Service.BindReadOnlyPaths", "Service.IPCNamespacePath",
                                "Service.RootDirectory", "Service.RootImage"}) {
            if (auto it = f.find(key); it != f.end()) {
                for (const auto& v : it->second) {
                    EXPECT_EQ(v.find("/dev"), std::string::npos) << key << "=" << v;
                }
            }
        }
    }
}

TEST_F(InstalledTree, SysusersCreatesASystemUserAndTmpfilesTheStateDirectory)
{
    const fs::path sysusers = installed(SYSUSERS_DIR) / "volspike.conf";
    const fs::path tmpfiles = installed(TMPFILES_DIR) / "volspike.conf";
    ASSERT_TRUE(fs::exists(sysusers));
    ASSERT_TRUE(fs::exists(tmpfiles));
    // A root of our own: the user lands in <root>/etc/passwd, not in the host's.
    const fs::path root = root_ / "sysroot";
    fs::create_directories(root / "etc");
    auto r = vs::test::run({"systemd-sysusers", "--root=" + root.string(), sysusers.string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const std::string passwd = read_file(root / "etc/passwd");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(passwd, m, std::regex{"volspike:x:([0-9]+):([0-9]+):[^:]*:/var/lib/volspike:"}))
        << passwd;
    const long uid = std::stol(m[1].str());
    EXPECT_GT(uid, 0);
    EXPECT_LT(uid, 1000) << "volspike must be a system user (logind's RemoveIPC= skips system users)";

    if (::geteuid() != 0) {
        GTEST_SKIP() << "systemd-tmpfiles --create must chown to volspike: run as root to check it";
    }
    r = vs::test::run({"systemd-tmpfiles", "--root=" + root.string(), "--create", tmpfiles.string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    struct stat st{};
    ASSERT_EQ(::stat((root / "var/lib/volspike").c_str(), &st), 0);
    EXPECT_EQ(static_cast<long>(st.st_uid), uid);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    // Nothing may ever age-clean the bus: the file excludes it and removes nothing.
    const std::string conf = read_file(tmpfiles);
    EXPECT_NE(conf.find("\nx     /dev/shm/volspike.*"), std::string::npos);
    EXPECT_EQ(std::regex_search(conf, std::regex{"\\n[rRDeCL][^\\n]*/dev/shm"}), false);
}

TEST_F(InstalledTree, ExampleEnvFileDocumentsEveryVariableOfEveryExecutable)
{
    const std::string example = read_file(installed(SYSCONFDIR) / "volspike" / "volspike.env.example");
    ASSERT_FALSE(example.empty());
    // The old .volspike.env names keep working and are documented.
    for (const char* old : {"VOLSPIKE_API_URL", "VOLSPIKE_API_KEY", "VOLSPIKE_API_URL_DEV", "VOLSPIKE_API_KEY_DEV",
                            "TELEGRAM_TOKEN", "TELEGRAM_BOT_TOKEN", "CHAT_ID", "TELEGRAM_CHANNEL_ID", "DISCORD_TOKEN",
                            "OI_MAX_REQ_PER_MIN", "WS_FUNDING_ENABLED", "WS_FUNDING_API_URL", "TELEGRAM_API_ID",
                            "TELEGRAM_API_HASH", "TELEGRAM_CHANNELS", "BINANCE_PROXY_URL"}) {
        EXPECT_NE(example.find("\n#" + std::string{old} + "="), std::string::npos) << old;
    }
    // Every variable any installed executable names in its --help.
    const std::regex var{"\\b((?:VS|VOLSPIKE|TELEGRAM|CHAT|BINANCE|DISCORD|OI|WS)_?[A-Z0-9_]*)\\b"};
    std::set<std::string> seen;
    for (const auto& e : fs::directory_iterator{installed(BINDIR)}) {
        auto r = vs::test::run({e.path().string(), "--help"});
        ASSERT_EQ(r.exit_code, 0) << e.path();
        std::stringstream ss{r.out};
        std::string line;
        while (std::getline(ss, line)) {
            if (line.find("env") == std::string::npos && line.find("$") == std::string::npos) {
                continue;
            }
            for (std::sregex_iterator it{line.begin(), line.end(), var}, end; it != end; ++it) {
                const std::string name = (*it)[1].str();
                if (name.find('_') == std::string::npos && name != "CHAT") {
                    continue;
                }
                seen.insert(name);
                EXPECT_NE(example.find("\n#" + name + "="), std::string::npos)
                    << name << " (" << e.path().filename().string() << " --help) is not in volspike.env.example";
            }
        }
    }
    EXPECT_GE(seen.size(), 15u) << "the --help scan found too few variables; has the help format changed?";
}

// ---- ExecStart reaches READY=1 ------------------------------------------------------------

/// The example file with every documented default switched on, then pointed at the test's
/// replay, state directory and bus prefix: the env a unit gets from EnvironmentFile=.
vs::test::env_map example_env(const fs::path& example, const fs::path& out, const vs::test::env_map& overrides)
{
    std::ifstream in{example};
    std::ofstream o{out};
    std::string line;
    const std::regex assignment{"^#([A-Z][A-Z0-9_]*=.*)$"};
    std::smatch m;
    while (std::getline(in, line)) {
        o << (std::regex_match(line, m, assignment) ? m[1].str() : line) << "\n";
    }
    o << "\n# test overrides\n";
    for (const auto& [k, v] : overrides) {
        o << k << "=" << v << "\n";
    }
    o.close();
    return vs::test::parse_env_file(out);
}

TEST_F(InstalledTree, EveryDaemonReachesReadyAndTheHealthUnitPassesWithTheExampleEnvFile)
{
    vs::test::test_env env;
    const fs::path logs = env.state_dir() / "logs";
    fs::create_directories(logs);

    // A local Binance look-alike (the build's replay: it is a test fixture, not the unit).
    vs::test::replay_process replay{VS_REPLAY, {"--symbols", "600"}, vs::test::as_unit({}, logs / "replay.log")};
    ASSERT_NE(replay.port(), 0) << read_file(logs / "replay.log");

    const fs::path state = env.state_dir() / "state";
    fs::create_directories(state);
    const auto vars = example_env(installed(SYSCONFDIR) / "volspike" / "volspike.env.example",
                                  env.state_dir() / "volspike.env",
                                  {{"VS_BUS_PREFIX", env.prefix()},
                                   {"VS_STATE_DIR", state.string()},
                                   {"VS_BINANCE_WS_URL", replay.ws_url()},
                                   {"VS_BINANCE_REST_URL", replay.http_url()},
                                   {"VS_API_LISTEN", "127.0.0.1:0"},
                                   {"VS_REPLAY_LISTEN", "127.0.0.1:0"},
                                   {"VS_TELEGRAM_API_URL", replay.http_url()}});
    ASSERT_EQ(vars.at("VS_BUS_PREFIX"), env.prefix());
    ASSERT_EQ(vars.at("VS_LOG_LEVEL"), "info");   // a documented default, switched on

    // The unit's ExecStart, with its binary taken from the installed tree.
    auto exec_start = [&](const std::string& unit) {
        auto argv = split(last(parse_unit(unit_path(unit)), "Service.ExecStart"), ' ');
        if (!argv.empty()) {
            argv[0] = installed(argv[0]).string();
        }
        return argv;
    };
    struct running {
        std::string unit;
        fs::path log;
        std::unique_ptr<vs::test::notify_listener> notify;
        std::unique_ptr<vs::test::child_process> process;
    };
    std::vector<running> started;
    // In the target's order (feed before api); every daemon runs at once, as on a host.
    for (const auto& u : daemon_units()) {
        SCOPED_TRACE(u);
        const auto argv = exec_start(u);
        ASSERT_FALSE(argv.empty());
        running r{u, logs / (u + ".log"), std::make_unique<vs::test::notify_listener>(), nullptr};
        auto unit_env = vars;
        unit_env["NOTIFY_SOCKET"] = r.notify->path();
        unit_env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        // WatchdogSec= is 30 s or more in the units; 2 s here so that a pet is due in the test.
        r.process = std::make_unique<vs::test::child_process>(argv, vs::test::as_unit(unit_env, r.log, 2'000'000));

        auto ready = r.notify->wait_for("READY=1", 30s);
        ASSERT_TRUE(ready) << "no READY=1 from " << argv[0] << "\n" << read_file(r.log);
        EXPECT_EQ(ready->pid, r.process->pid()) << "READY=1 must come from the main pid (NotifyAccess=main)";
        auto pet = r.notify->wait_for("WATCHDOG=1", 10s);
        ASSERT_TRUE(pet) << "no WATCHDOG=1 within 10 s with WATCHDOG_USEC=2 s\n" << read_file(r.log);
        EXPECT_EQ(pet->pid, r.process->pid());
        started.push_back(std::move(r));
    }

    // What the timer runs, against them: healthy (no systemd here, so no unit states).
    {
        const auto argv = exec_start("vs-health.service");
        ASSERT_GE(argv.size(), 2u);
        EXPECT_EQ(argv[1], "--restart");
        auto health_env = vars;
        health_env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        const fs::path log = logs / "vs-health.log";
        vs::test::child_process health{argv, vs::test::as_unit(health_env, log)};
        auto code = health.wait(30s);
        ASSERT_TRUE(code) << read_file(log);
        EXPECT_EQ(*code, 0) << read_file(log);
        EXPECT_NE(read_file(log).find("vs-health: healthy"), std::string::npos) << read_file(log);
    }

    // systemctl stop: SIGTERM (KillSignal= default), in reverse order; exit 0 within the
    // units' TimeoutStopSec, STOPPING=1 first.
    for (auto it = started.rbegin(); it != started.rend(); ++it) {
        SCOPED_TRACE(it->unit);
        EXPECT_EQ(it->process->terminate(15s), 0) << read_file(it->log);
        EXPECT_TRUE(it->notify->wait_for("STOPPING=1", 1s)) << "no STOPPING=1";
    }
}

}  // namespace
