// vs-health: one health check of a VolSpike host, for timers and monitoring (replaces
// funding_health_monitor.py). Reads the bus headers and heartbeats of every channel, the
// feed's status record (connection, per-stream freshness), the mark prices of the market
// channel (symbol count, invalid values, stale records) and, when systemd runs, the state of
// the units; --restart restarts units that are down. Exit 0 healthy, 1 unhealthy, 2 usage.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <systemd/sd-daemon.h>

#include "schemas/feed_status_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/process_status_generated.h"
#include "vs/bus/channel.hpp"
#include "vs/bus/records.hpp"
#include "vs/common/cli.hpp"
#include "vs/common/subprocess.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/redact.hpp"


namespace {

namespace json = boost::json;
using vs::schema::RecordType;

struct options {
    std::string prefix;
    std::vector<std::string> channels;   // empty: every channel under the prefix
    std::string market_channel;
    long long min_symbols = 500;
    double max_heartbeat_age_s = 5;
    double stale_s = 180;
    long long max_stale = 10;
    long long max_invalid = 0;
    double max_snapshot_age_s = 300;
    std::vector<std::string> units;
    std::string systemctl = "systemctl";
    bool systemctl_given = false;
    bool restart = false;
    bool json = false;
};

/// One line of the verdict: what was checked, whether it passed, and why.
struct check {
    std::string name;
    bool ok = true;
    std::string detail;
};

struct report {
    std::vector<check> checks;
    json::array channels;
    json::object feed;
    json::object market;
    json::array units;
    json::array restarted;
    std::vector<std::string> notes;

    void add(std::string name, bool ok, std::string detail)
    {
        checks.push_back(check{std::move(name), ok, std::move(detail)});
    }
    bool healthy() const
    {
        return std::all_of(checks.begin(), checks.end(), [](const check& c) { return c.ok; });
    }
};

std::vector<std::string> split_list(const std::string& s)
{
    std::vector<std::string> out;
    std::stringstream ss{s};
    std::string item;
    while (std::getline(ss, item, ',')) {
        const auto first = item.find_first_not_of(" \t");
        if (first != std::string::npos) {
            out.push_back(item.substr(first, item.find_last_not_of(" \t") - first + 1));
        }
    }
    return out;
}

std::string seconds_text(double s)
{
    if (s < 0) {
        return "never";
    }
    if (s < 120) {
        return fmt::format("{:.1f} s", s);
    }
    if (s < 7200) {
        return fmt::format("{:.0f} min", s / 60);
    }
    return fmt::format("{:.1f} h", s / 3600);
}

double round3(double v) { return std::round(v * 1000) / 1000; }

// ---- bus ------------------------------------------------------------------------------

/// Attaches, giving a writer that is creating its segment right now a short moment.
vs::bus::attach_state attach(vs::bus::reader& r)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{500};
    for (;;) {
        const auto s = r.attach();
        if (s == vs::bus::attach_state::ready || s == vs::bus::attach_state::incompatible ||
            std::chrono::steady_clock::now() >= deadline) {
            return s;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
}

void check_feed(vs::bus::reader& r, bool writer_alive, const options& o, report& rep)
{
    const auto type = static_cast<vs::bus::record_type>(RecordType::FeedStatus);
    bool found = false;
    r.latest(type, "", [&](const vs::bus::record_view& rec) {
        if (!vs::bus::verify_record(rec.type, rec.data)) {
            return;
        }
        found = true;
        const auto* f = vs::bus::record_as<vs::schema::FeedStatus>(rec.data);
        const double age = static_cast<double>(vs::realtime_ns() - rec.publish_ns) / 1e9;
        const std::string reason = f->reason() != nullptr ? f->reason()->str() : "";
        rep.feed["running"] = writer_alive;
        rep.feed["status_age_s"] = round3(age);
        rep.feed["connected"] = f->connected();
        rep.feed["healthy"] = f->healthy();
        rep.feed["reason"] = reason;
        rep.feed["url"] = f->url() != nullptr ? f->url()->str() : "";
        rep.feed["symbol_count"] = f->symbol_count();
        rep.feed["reconnect_attempts"] = f->reconnect_attempts();
        rep.feed["messages_received"] = f->messages_received();
        rep.feed["frames_rejected"] = f->frames_rejected();
        rep.feed["rows_rejected"] = f->rows_rejected();
        // Issue 19: symbols vs-feed marked (a few names each, and the counts).
        const auto names = [](const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* v) {
            json::array a;
            std::string text;
            if (v != nullptr) {
                for (const auto* s : *v) {
                    a.push_back(json::value(s->str()));
                    text += (text.empty() ? "" : ", ") + s->str();
                }
            }
            return std::pair{std::move(a), text};
        };
        auto [invalid, invalid_text] = names(f->invalid_symbols());
        auto [delisted, delisted_text] = names(f->delisted_symbols());
        rep.feed["invalid_symbols"] = std::move(invalid);
        rep.feed["invalid_symbol_count"] = f->invalid_symbol_count();
        rep.feed["delisted_symbols"] = std::move(delisted);
        rep.feed["delisted_symbol_count"] = f->delisted_symbol_count();
        rep.add("feed input", true,
                fmt::format("{} frames and {} rows rejected; {} symbols with invalid values{}; {} delisted{}",
                            f->frames_rejected(), f->rows_rejected(), f->invalid_symbol_count(),
                            invalid_text.empty() ? "" : " (" + invalid_text + ")", f->delisted_symbol_count(),
                            delisted_text.empty() ? "" : " (" + delisted_text + ")"));

        if (!writer_alive) {
            // The record is a dead feed's last word: report it, judge nothing by it.
            rep.add("feed status", false,
                    fmt::format("the feed is not running; its last status ({} old) said {}{}", seconds_text(age),
                                f->connected() ? "connected" : "disconnected", f->healthy() ? ", healthy" : ""));
            return;
        }
        // The feed republishes its status every second; an old one is a stuck feed's last word.
        const double max_age = std::max(o.max_heartbeat_age_s, 10.0);
        rep.add("feed status", age <= max_age,
                age <= max_age ? fmt::format("published {} ago", seconds_text(age))
                               : fmt::format("last published {} ago: the feed is not running", seconds_text(age)));
        rep.add("feed connected", f->connected(),
                f->connected() ? fmt::format("connected to {}", f->url() != nullptr ? f->url()->str() : "?")
                               : fmt::format("not connected ({} reconnect attempts){}", f->reconnect_attempts(),
                                             reason.empty() ? "" : ": " + reason));
        rep.add("feed healthy", f->healthy(), f->healthy() ? "every price stream fresh" : reason);

        json::array streams;
        const std::int64_t now = vs::realtime_ns();
        if (f->streams() != nullptr) {
            for (const auto* s : *f->streams()) {
                const std::string name = s->name() != nullptr ? s->name()->str() : "?";
                const double silent = s->last_frame_ns() > 0 ? static_cast<double>(now - s->last_frame_ns()) / 1e9 : -1;
                json::object so;
                so["name"] = name;
                so["stale"] = s->stale();
                so["stale_after_ms"] = s->stale_after_ms();
                so["frames"] = s->frames();
                so["last_frame_age_s"] = silent < 0 ? json::value(nullptr) : json::value(round3(silent));
                streams.push_back(std::move(so));
                std::string detail = fmt::format("last frame {}", silent < 0 ? "never" : seconds_text(silent) + " ago");
                if (s->stale_after_ms() > 0) {
                    detail += fmt::format(" (stale after {} s)", static_cast<double>(s->stale_after_ms()) / 1000);
                } else {
                    detail += " (may be quiet)";
                }
                rep.add("stream " + name, !s->stale(), s->stale() ? "STALE: " + detail : detail);
            }
        }
        rep.feed["streams"] = std::move(streams);
    });
    if (!found) {
        rep.add("feed status", false,
                fmt::format("no FeedStatus record in channel '{}': has vs-feed ever connected?", o.market_channel));
    }
}

void check_mark_prices(vs::bus::reader& r, const options& o, report& rep)
{
    const std::int64_t now = vs::realtime_ns();
    const auto stale_ns = static_cast<std::int64_t>(o.stale_s * 1e9);
    long long rows = 0, usdm = 0, coinm = 0, invalid = 0, stale = 0, unverified = 0;
    double oldest_s = 0;
    std::vector<std::string> invalid_examples, stale_examples;
    r.for_each_latest(static_cast<vs::bus::record_type>(RecordType::MarkPrice), [&](const vs::bus::record_view& rec) {
        if (!vs::bus::verify_record(rec.type, rec.data)) {
            ++unverified;
            return;
        }
        const auto* m = vs::bus::record_as<vs::schema::MarkPrice>(rec.data);
        if (m->market() == vs::schema::MarketType::CoinM) {
            ++coinm;
            return;
        }
        if (m->delisted()) {
            return;   // marked by vs-feed (issue 19): neither a symbol nor stale
        }
        ++rows;
        const std::string symbol{rec.symbol};
        // The old monitor's "NULL values": a missing or non-positive mark price, or a missing
        // funding rate (NaN is the schema's "absent").
        const bool has_mark = std::isfinite(m->mark_price()) && m->mark_price() > 0;
        usdm += has_mark ? 1 : 0;
        const bool bad = !has_mark || !std::isfinite(m->funding_rate());
        if (bad) {
            ++invalid;
            if (invalid_examples.size() < 5) {
                invalid_examples.push_back(symbol);
            }
        }
        const std::int64_t age_ns = now - rec.publish_ns;
        oldest_s = std::max(oldest_s, static_cast<double>(age_ns) / 1e9);
        if (age_ns > stale_ns) {
            ++stale;
            if (stale_examples.size() < 5) {
                stale_examples.push_back(symbol);
            }
        }
    });
    rep.market["symbols"] = usdm;
    rep.market["rows"] = rows;
    rep.market["coin_m_rows"] = coinm;
    rep.market["invalid"] = invalid;
    rep.market["stale"] = stale;
    rep.market["unverified"] = unverified;
    rep.market["oldest_age_s"] = round3(oldest_s);

    auto examples = [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) {
            s += (s.empty() ? "" : ", ") + x;
        }
        return s;
    };
    rep.add("symbols", usdm >= o.min_symbols,
            fmt::format("{} USDⓈ-M symbols with a mark price (minimum {})", usdm, o.min_symbols));
    rep.add("invalid values", invalid <= o.max_invalid && unverified == 0,
            invalid == 0 && unverified == 0
                ? std::string{"none"}
                : fmt::format("{} records without a valid mark price or funding rate{}{} (allowed {})", invalid,
                              invalid_examples.empty() ? "" : " (" + examples(invalid_examples) + ")",
                              unverified > 0 ? fmt::format(", {} records do not verify", unverified) : "",
                              o.max_invalid));
    rep.add("fresh mark prices", stale <= o.max_stale,
            stale == 0 ? fmt::format("all updated within {} s", o.stale_s)
                       : fmt::format("{} not updated for more than {} s{} (allowed {}; oldest {})", stale, o.stale_s,
                                     stale_examples.empty() ? "" : " (" + examples(stale_examples) + ")",
                                     o.max_stale, seconds_text(oldest_s)));
}

/// A metric as a JSON number: integral values as integers (10, not 1E1).
json::value metric_value(double v)
{
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15) {
        return static_cast<std::int64_t>(v);
    }
    return v;
}

/// Every daemon on the skeleton publishes a ProcessStatus (key: its name) into its channel:
/// one check per process, failing when it is not ready, not healthy (its own probe, with the
/// reason) or its writer is dead.
void check_processes(vs::bus::reader& r, bool writer_alive, const options& o, json::object& co, report& rep)
{
    json::array procs;
    r.for_each_latest(static_cast<vs::bus::record_type>(RecordType::ProcessStatus), [&](const vs::bus::record_view& v) {
        if (!vs::bus::verify_record(v.type, v.data)) {
            rep.add("process " + std::string{v.symbol}, false, "its status record does not verify");
            return;
        }
        const auto* s = vs::bus::record_as<vs::schema::ProcessStatus>(v.data);
        const std::string name = s->symbol()->str();
        const std::string reason = s->reason() != nullptr ? s->reason()->str() : "";
        json::object po;
        po["process"] = name;
        po["pid"] = s->pid();
        po["version"] = s->version() != nullptr ? s->version()->str() : "";
        po["ready"] = s->ready();
        po["healthy"] = s->healthy();
        po["stopping"] = s->stopping();
        po["reason"] = reason;
        const double age = static_cast<double>(vs::realtime_ns() - v.publish_ns) / 1e9;
        po["status_age_s"] = round3(age);
        json::object metrics;
        std::string summary;
        std::optional<double> snapshot_age;
        double snapshot_failures = 0;
        if (s->metrics() != nullptr) {
            for (const auto* m : *s->metrics()) {
                metrics[m->name()->str()] = metric_value(m->value());
                summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", m->name()->str(), m->value());
                if (m->name()->string_view() == "snapshot_age_s") {
                    snapshot_age = m->value();
                } else if (m->name()->string_view() == "snapshot_failures") {
                    snapshot_failures = m->value();
                }
            }
        }
        po["metrics"] = std::move(metrics);
        procs.push_back(std::move(po));
        const std::string check_name = "process " + name;
        const double max_age = 3.0 * static_cast<double>(std::max<std::int64_t>(s->status_interval_ms(), 1000)) / 1000.0 + 2.0;
        if (writer_alive && !s->stopping() && age > max_age) {
            rep.add(check_name, false,
                    fmt::format("pid {}: its status is {} old (published every {} ms): its loop is stuck", s->pid(),
                                seconds_text(age), s->status_interval_ms()));
        } else if (!writer_alive) {
            rep.add(check_name, false, fmt::format("not running (last status: {})", s->healthy() ? "healthy" : reason));
        } else if (!s->ready()) {
            rep.add(check_name, false, fmt::format("pid {} not ready: {}", s->pid(), reason));
        } else if (!s->healthy()) {
            rep.add(check_name, false, fmt::format("pid {} unhealthy: {}", s->pid(), reason));
        } else {
            rep.add(check_name, true, fmt::format("pid {} healthy; {}", s->pid(), summary));
        }
        // The skeleton's LMDB snapshot (gauge snapshot_age_s, as of the status's publication):
        // a process that cannot save it (a full disk) loses its table at the next reboot.
        if (snapshot_age && writer_alive && !s->stopping()) {
            const double snap_age = *snapshot_age + std::max(age, 0.0);
            const bool fresh = snap_age <= o.max_snapshot_age_s;
            rep.add("snapshot " + name, fresh,
                    fresh ? fmt::format("last good snapshot {} ago ({} failures)", seconds_text(snap_age),
                                        snapshot_failures)
                          : fmt::format("last good snapshot {} ago (limit {} s), {} snapshot failures: see its log "
                                        "for the cause (a full disk?)",
                                        seconds_text(snap_age), o.max_snapshot_age_s, snapshot_failures));
        }
    });
    co["processes"] = std::move(procs);
}

void check_channel(const std::string& channel, const options& o, report& rep)
{
    vs::bus::channel_config cfg;
    cfg.prefix = o.prefix;
    cfg.name = channel;
    vs::bus::reader_options ro;
    ro.register_reader = false;   // a probe: leaves no trace in the registry
    ro.name = "vs-health";
    ro.heartbeat_timeout = std::chrono::milliseconds{static_cast<long long>(o.max_heartbeat_age_s * 1000)};
    vs::bus::reader r{cfg, ro};
    const auto state = attach(r);

    json::object co;
    co["channel"] = channel;
    co["attach_state"] = vs::bus::to_string(state);
    const std::string name = "channel " + channel;
    if (state == vs::bus::attach_state::missing) {
        co["error"] = "missing";
        rep.channels.push_back(std::move(co));
        rep.add(name, false,
                fmt::format("no segment /dev/shm/{}.{}: its writer never started (or another --bus-prefix)", o.prefix,
                            channel));
        return;
    }
    if (state != vs::bus::attach_state::ready) {
        co["error"] = r.error();
        rep.channels.push_back(std::move(co));
        rep.add(name, false, fmt::format("cannot read: {}", r.error().empty() ? vs::bus::to_string(state) : r.error()));
        return;
    }
    const auto st = r.status();
    const double hb = st.heartbeat_age_ns < 0 ? -1 : static_cast<double>(st.heartbeat_age_ns) / 1e9;
    const double up = st.writer_started_ns > 0 ? static_cast<double>(vs::realtime_ns() - st.writer_started_ns) / 1e9 : -1;
    co["writer_alive"] = st.writer_alive;
    co["writer_pid"] = st.writer_pid;
    co["generation"] = st.generation;
    co["writer_up_s"] = up < 0 ? json::value(nullptr) : json::value(round3(up));
    co["heartbeat_age_s"] = hb < 0 ? json::value(nullptr) : json::value(round3(hb));
    co["records_published"] = st.records_published;
    co["records_dropped"] = st.records_dropped;
    co["table_used"] = st.table_used;
    co["table_slots"] = st.table_slots;
    co["readers"] = st.readers;
    co["reader_laps"] = st.reader_laps;
    const bool ok = st.writer_alive && hb >= 0 && hb <= o.max_heartbeat_age_s;
    check_processes(r, ok, o, co, rep);
    rep.channels.push_back(co);

    if (ok) {
        rep.add(name, true,
                fmt::format("writer pid {} alive, generation {}, up {}, heartbeat {} ago, {} records, {} readers, "
                            "{} laps",
                            st.writer_pid, st.generation, seconds_text(up), seconds_text(hb), st.records_published,
                            st.readers, st.reader_laps));
    } else {
        rep.add(name, false,
                fmt::format("writer (pid {}, generation {}) is DEAD: heartbeat {} ago (limit {} s); readers see the "
                            "last values, marked stale",
                            st.writer_pid, st.generation, hb < 0 ? std::string{"never"} : seconds_text(hb),
                            o.max_heartbeat_age_s));
    }
    if (!o.market_channel.empty() && channel == o.market_channel) {
        check_feed(r, ok, o, rep);
        check_mark_prices(r, o, rep);
    }
}

/// Channels under the prefix. A bus channel always has its writer's `.lock` companion;
/// other segments of the prefix (the REST weight budget `<prefix>.rest-weight`) are not
/// channels and are left out.
std::vector<std::string> bus_channels(const std::string& prefix)
{
    std::vector<std::string> out;
    for (auto& ch : vs::bus::list_channels(prefix)) {
        std::error_code ec;
        if (std::filesystem::exists("/dev/shm/" + prefix + "." + ch + ".lock", ec)) {
            out.push_back(std::move(ch));
        }
    }
    return out;
}

// ---- systemd --------------------------------------------------------------------------

/// `systemctl show` of the units: Id -> properties.
std::map<std::string, std::map<std::string, std::string>> unit_properties(const options& o)
{
    const auto& units = o.units;
    std::vector<std::string> argv{o.systemctl, "show", "--property=Id,LoadState,ActiveState,SubState,Result"};
    argv.insert(argv.end(), units.begin(), units.end());
    const auto res = vs::run_command(argv);
    std::map<std::string, std::map<std::string, std::string>> out;
    std::map<std::string, std::string> block;
    std::size_t index = 0;
    auto flush = [&] {
        if (!block.empty()) {
            // Blocks come in the order asked; Id is the unit's own name (aliases resolved).
            const std::string key = index < units.size() ? units[index] : block["Id"];
            out[key] = block;
            ++index;
            block.clear();
        }
    };
    std::stringstream ss{res.out};
    std::string line;
    while (std::getline(ss, line)) {
        if (line.empty()) {
            flush();
            continue;
        }
        if (auto eq = line.find('='); eq != std::string::npos) {
            block[line.substr(0, eq)] = line.substr(eq + 1);
        }
    }
    flush();
    return out;
}

void check_units(const options& o, report& rep)
{
    if (o.units.empty()) {
        return;
    }
    // sd_booted(): /run/systemd/system exists, i.e. systemd is PID 1 here. An explicit
    // --systemctl (another host's or a test's) is asked regardless.
    if (::sd_booted() <= 0 && !o.systemctl_given) {
        rep.notes.push_back("systemd is not running (not PID 1): unit checks skipped");
        return;
    }
    auto props = unit_properties(o);
    for (const auto& u : o.units) {
        auto& p = props[u];
        json::object uo;
        uo["unit"] = u;
        uo["load_state"] = p["LoadState"];
        uo["active_state"] = p["ActiveState"];
        uo["sub_state"] = p["SubState"];
        uo["result"] = p["Result"];
        const bool ok = p["ActiveState"] == "active";
        std::string detail = p["LoadState"] == "loaded" ? fmt::format("{} ({}), result {}", p["ActiveState"], p["SubState"], p["Result"])
                             : p["LoadState"].empty() ? std::string{"cannot ask systemctl"}
                                                      : "not installed (" + p["LoadState"] + ")";
        const std::string& active = p["ActiveState"];
        if (!ok && o.restart && p["LoadState"] == "loaded" && (active == "failed" || active == "inactive")) {
            // reset-failed clears a start-rate limit hit, then a non-blocking restart: a
            // Type=notify unit may take up to its TimeoutStartSec to become ready.
            vs::run_command({o.systemctl, "reset-failed", u});
            const auto r = vs::run_command({o.systemctl, "restart", "--no-block", u});
            uo["restarted"] = r.exit_code == 0;
            if (r.exit_code == 0) {
                rep.restarted.push_back(json::value(u));
                detail += "; restart requested";
            } else {
                detail += fmt::format("; restart FAILED (systemctl exit {})", r.exit_code);
            }
        }
        rep.units.push_back(std::move(uo));
        rep.add("unit " + u, ok, detail);
    }
}

// ---- output ---------------------------------------------------------------------------

void print_human(const report& rep, std::ostream& out)
{
    std::size_t failed = 0;
    for (const auto& c : rep.checks) {
        failed += c.ok ? 0 : 1;
    }
    if (failed == 0) {
        out << fmt::format("vs-health: healthy ({} checks passed)\n", rep.checks.size());
    } else {
        out << fmt::format("vs-health: UNHEALTHY ({} of {} checks failed)\n", failed, rep.checks.size());
    }
    for (const auto& c : rep.checks) {
        out << fmt::format("  {:<5} {}: {}\n", c.ok ? "ok" : "FAIL", c.name, c.detail);
    }
    for (const auto& n : rep.notes) {
        out << "  note  " << n << "\n";
    }
}

void print_json(const report& rep, std::ostream& out)
{
    json::object o;
    o["healthy"] = rep.healthy();
    json::array checks, problems;
    for (const auto& c : rep.checks) {
        json::object co;
        co["name"] = c.name;
        co["ok"] = c.ok;
        co["detail"] = c.detail;
        checks.push_back(co);
        if (!c.ok) {
            problems.push_back(json::value(c.name + ": " + c.detail));
        }
    }
    o["problems"] = std::move(problems);
    o["checks"] = std::move(checks);
    o["channels"] = rep.channels;
    if (!rep.feed.empty()) {
        o["feed"] = rep.feed;
    }
    if (!rep.market.empty()) {
        o["market"] = rep.market;
    }
    o["units"] = rep.units;
    o["restarted"] = rep.restarted;
    json::array notes;
    for (const auto& n : rep.notes) {
        notes.push_back(json::value(n));
    }
    o["notes"] = std::move(notes);
    o["time_ns"] = vs::realtime_ns();
    out << json::serialize(o) << "\n";
}

}  // namespace

int main(int argc, char** argv)
{
    vs::cli::parser cli{
        "vs-health",
        "Check the bus (every channel's writer, heartbeat and generation), the feed (connection, per-stream "
        "freshness, symbol count, invalid and stale mark prices) and, when systemd runs, the units. "
        "Exit 0 healthy, 1 unhealthy, 2 usage. Run every minute by vs-health.timer.",
        "vs-health\n  vs-health --json | jq .problems\n  vs-health --restart   # as root: restart units that are down"};
    vs::cli::add_common_options(cli);
    cli.option("channels", "LIST", "", "comma-separated channels to check (empty: every channel under the prefix); "
                                       "the market channel is always checked",
               {"VS_HEALTH_CHANNELS"});
    cli.option("market-channel", "NAME", "market", "the feed's channel (FeedStatus, MarkPrice); empty: no feed checks");
    cli.option("min-symbols", "N", "500", "fewer USDⓈ-M symbols with a mark price is unhealthy",
               {"VS_HEALTH_MIN_SYMBOLS"});
    cli.option("max-heartbeat-age-s", "S", "5", "a writer whose heartbeat is older is dead",
               {"VS_HEALTH_MAX_HEARTBEAT_AGE_S"});
    cli.option("stale-seconds", "S", "180", "a mark price record not updated for this long is stale",
               {"VS_HEALTH_STALE_SECONDS"});
    cli.option("max-stale", "N", "10", "stale mark price records allowed (delisted symbols stay in the table)",
               {"VS_HEALTH_MAX_STALE"});
    cli.option("max-invalid", "N", "0", "mark price records without a valid mark price or funding rate allowed",
               {"VS_HEALTH_MAX_INVALID"});
    cli.option("max-snapshot-age-s", "S", "300",
               "a process whose last good LMDB snapshot is older is unhealthy (full disk); see its snapshot_age_s",
               {"VS_HEALTH_MAX_SNAPSHOT_AGE_S"});
    cli.option("units", "LIST", "vs-feed.service,vs-api.service,vs-deliver.service,vs-oi.service,vs-news.service,vs-liquidations.service,vs-user-alerts.service,vs-volume.service",
               "systemd units that must be active (checked only when systemd is PID 1; empty: none)",
               {"VS_HEALTH_UNITS"});
    cli.option("systemctl", "PATH", "systemctl",
               "systemctl to ask and to restart units with; when given, unit checks run even if systemd is not "
               "PID 1 here");
    cli.flag("restart", "reset-failed and restart units that are failed or inactive (needs root)");
    cli.flag("json", "print one JSON object instead of text");

    return vs::cli::run(cli, argc, argv, [&] {
        if (!cli.args().empty()) {
            throw vs::cli::usage_error("unexpected argument '" + cli.args().front() + "'");
        }
        options o;
        o.prefix = cli.get("bus-prefix");
        o.channels = split_list(cli.get("channels"));
        o.market_channel = cli.get("market-channel");
        o.min_symbols = cli.get_int("min-symbols", 0, 1'000'000);
        o.max_heartbeat_age_s = cli.get_double("max-heartbeat-age-s", 0.1, 86'400);
        o.stale_s = cli.get_double("stale-seconds", 0.001, 1e9);
        o.max_stale = cli.get_int("max-stale", 0, 1'000'000);
        o.max_invalid = cli.get_int("max-invalid", 0, 1'000'000);
        o.max_snapshot_age_s = cli.get_double("max-snapshot-age-s", 0.001, 1e9);
        o.units = split_list(cli.get("units"));
        o.systemctl = cli.get("systemctl");
        o.systemctl_given = cli.given("systemctl");
        o.restart = cli.is_set("restart");
        o.json = cli.is_set("json");
        if (o.prefix.empty() || o.prefix.find('/') != std::string::npos) {
            throw vs::cli::usage_error("--bus-prefix must be a non-empty name without '/'");
        }
        std::vector<std::string> channels = o.channels.empty() ? bus_channels(o.prefix) : o.channels;
        if (!o.market_channel.empty() &&
            std::find(channels.begin(), channels.end(), o.market_channel) == channels.end()) {
            channels.insert(channels.begin(), o.market_channel);
        }
        report rep;
        for (const auto& ch : channels) {
            check_channel(ch, o, rep);
        }
        check_units(o, rep);
        // What the processes published (URLs, reasons) is shown with every secret redacted.
        std::ostringstream text;
        if (o.json) {
            print_json(rep, text);
        } else {
            print_human(rep, text);
        }
        std::cout << vs::redact::apply(text.str());
        return rep.healthy() ? vs::cli::exit_ok : vs::cli::exit_failure;
    });
}
