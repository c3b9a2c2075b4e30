// vs-bus-dump: the operator's window on the bus and the tests' probe. Attaches read-only,
// lists channels, prints header facts, the latest table or the ring, as human text on a
// terminal and as one JSON object per line otherwise (or with --json).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "schemas/feed_status_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/process_status_generated.h"
#include "vs/bus/channel.hpp"
#include "vs/bus/records.hpp"
#include "vs/common/cli.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/shutdown.hpp"

namespace {

namespace json = boost::json;
using vs::bus::record_view;

struct options {
    std::string prefix;
    std::string channel;
    std::set<std::string> symbols;
    std::set<vs::bus::record_type> types;
    bool json = false;
    bool once = false;
    double interval_s = 1.0;
    double stale_s = 180.0;
    long long count = 0;
    double timeout_s = 0;
};

vs::bus::channel_config channel_config(const options& o, const std::string& channel)
{
    vs::bus::channel_config c;
    c.prefix = o.prefix;
    c.name = channel;
    return c;
}

bool wanted(const options& o, const record_view& r, std::string_view symbol)
{
    if (!o.types.empty() && o.types.count(r.type) == 0) {
        return false;
    }
    return o.symbols.empty() || o.symbols.count(std::string{symbol}) != 0;
}

std::string age_text(double s)
{
    if (s < 0) {
        return "-";
    }
    if (s < 120) {
        return fmt::format("{:.1f}s", s);
    }
    if (s < 7200) {
        return fmt::format("{:.0f}m", s / 60);
    }
    return fmt::format("{:.1f}h", s / 3600);
}

/// The record as a JSON object line: channel, type, symbol, times, and the decoded record.
json::object record_json(vs::bus::json_decoder& dec, const std::string& channel, const record_view& r,
                         std::string_view symbol, double stale_s)
{
    json::object o;
    o["channel"] = channel;
    o["type"] = std::string{vs::bus::record_type_name(r.type)};
    o["symbol"] = std::string{symbol};
    o["publish_ns"] = r.publish_ns;
    const double age = (vs::realtime_ns() - r.publish_ns) / 1e9;
    o["age_s"] = std::round(age * 1000) / 1000;
    o["stale"] = age > stale_s;
    if (r.position != 0 || r.symbol.empty()) {
        o["position"] = r.position;
    }
    if (auto text = dec.decode(r.type, r.data)) {
        o["record"] = json::parse(*text);
    } else {
        o["record"] = nullptr;
        o["error"] = "record does not verify against its schema";
    }
    return o;
}

std::string fmt_num(double v, int prec = 8)
{
    if (std::isnan(v)) {
        return "-";
    }
    std::string s = fmt::format("{:.{}f}", v, prec);
    while (s.size() > 1 && s.back() == '0') {
        s.pop_back();
    }
    if (!s.empty() && s.back() == '.') {
        s.pop_back();
    }
    return s;
}

/// One human line for a record on a terminal.
std::string record_human(vs::bus::json_decoder& dec, const record_view& r, std::string_view symbol, double stale_s)
{
    const double age = (vs::realtime_ns() - r.publish_ns) / 1e9;
    const std::string stale = age > stale_s ? "  STALE" : "";
    const auto type = static_cast<vs::schema::RecordType>(r.type);
    if (type == vs::schema::RecordType::MarkPrice && vs::bus::verify_record(r.type, r.data)) {
        const auto* m = vs::bus::record_as<vs::schema::MarkPrice>(r.data);
        return fmt::format("{:<10} {:<16} mark {:>14} index {:>14} funding {:>9}% next {} age {}{}{}", "MarkPrice",
                           symbol, fmt_num(m->mark_price()), fmt_num(m->index_price()),
                           fmt_num(m->funding_rate() * 100, 5), vs::utc_iso8601(m->next_funding_time_ms() * 1'000'000),
                           age_text(age), m->market() == vs::schema::MarketType::CoinM ? "  COIN-M" : "", stale);
    }
    if (type == vs::schema::RecordType::Ticker24h && vs::bus::verify_record(r.type, r.data)) {
        const auto* t = vs::bus::record_as<vs::schema::Ticker24h>(r.data);
        return fmt::format("{:<10} {:<16} last {:>14} change {:>8}% quote volume {:>16} age {}{}{}", "Ticker24h",
                           symbol, fmt_num(t->last_price()), fmt_num(t->price_change_percent(), 3),
                           fmt_num(t->quote_volume(), 0), age_text(age),
                           t->market() == vs::schema::MarketType::CoinM ? "  COIN-M" : "", stale);
    }
    auto text = dec.decode(r.type, r.data);
    return fmt::format("{:<10} {:<16} {} age {}{}", vs::bus::record_type_name(r.type), symbol,
                       text ? *text : std::string{"<does not verify>"}, age_text(age), stale);
}

json::object status_json(const std::string& channel, const vs::bus::channel_status& st, vs::bus::attach_state state,
                         const std::string& error)
{
    json::object o;
    o["channel"] = channel;
    o["attach_state"] = vs::bus::to_string(state);
    if (!error.empty()) {
        o["error"] = error;
    }
    o["writer_alive"] = st.writer_alive;
    o["generation"] = st.generation;
    o["writer_pid"] = st.writer_pid;
    o["writer_started"] = vs::utc_iso8601(st.writer_started_ns);
    o["heartbeat_age_s"] = st.heartbeat_age_ns < 0 ? json::value(nullptr) : json::value(st.heartbeat_age_ns / 1e9);
    o["records_published"] = st.records_published;
    o["records_dropped"] = st.records_dropped;
    o["table_used"] = st.table_used;
    o["table_slots"] = st.table_slots;
    o["ring_bytes"] = st.ring_bytes;
    o["readers"] = st.readers;
    o["reader_laps"] = st.reader_laps;
    return o;
}

void print_status_human(const json::object& o)
{
    const bool alive = o.at("writer_alive").as_bool();
    std::cout << fmt::format("{:<12} {:<6} gen {:<5} heartbeat {:<8} published {:<12} dropped {:<6} table {}/{} "
                             "readers {} laps {}{}\n",
                             o.at("channel").as_string().c_str(), alive ? "ALIVE" : "DEAD",
                             o.at("generation").as_uint64(),
                             o.at("heartbeat_age_s").is_null() ? std::string{"-"}
                                                               : age_text(o.at("heartbeat_age_s").as_double()),
                             o.at("records_published").as_uint64(), o.at("records_dropped").as_uint64(),
                             o.at("table_used").as_uint64(), o.at("table_slots").as_uint64(),
                             o.at("readers").as_uint64(), o.at("reader_laps").as_uint64(),
                             o.contains("error") ? std::string{"  ("} + o.at("error").as_string().c_str() + ")" : "");
}

int list_channels(const options& o)
{
    const auto channels = vs::bus::list_channels(o.prefix);
    if (channels.empty() && !o.json) {
        std::cout << "no channels under prefix '" << o.prefix << "' (/dev/shm/" << o.prefix
                  << ".*): no writer has started\n";
    }
    for (const auto& ch : channels) {
        vs::bus::reader r{channel_config(o, ch), vs::bus::reader_options{false, "vs-bus-dump", std::chrono::milliseconds{1000}}};
        auto st = r.status();
        auto obj = status_json(ch, st, r.state(), r.error());
        if (o.json) {
            std::cout << json::serialize(obj) << "\n";
        } else {
            print_status_human(obj);
        }
    }
    return 0;
}

/// Attaches (waiting up to 2 s for a writer's segment) or explains why not.
bool attach_or_explain(vs::bus::reader& r, const options& o)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
    while (r.attach() != vs::bus::attach_state::ready && std::chrono::steady_clock::now() < deadline &&
           r.state() != vs::bus::attach_state::incompatible) {
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    if (r.state() == vs::bus::attach_state::ready) {
        return true;
    }
    if (r.state() == vs::bus::attach_state::incompatible) {
        std::cerr << "vs-bus-dump: " << r.error() << "\n";
    } else {
        std::cerr << "vs-bus-dump: channel '" << o.channel << "' not found under prefix '" << o.prefix
                  << "' (no /dev/shm/" << o.prefix << "." << o.channel << "): is its writer running?\n";
    }
    return false;
}

void print_feed_status(vs::bus::reader& r, vs::bus::json_decoder& dec, const options& o)
{
    r.latest(static_cast<vs::bus::record_type>(vs::schema::RecordType::FeedStatus), "", [&](const record_view& rec) {
        if (o.json) {
            std::cout << json::serialize(record_json(dec, o.channel, rec, "", o.stale_s)) << "\n";
            return;
        }
        if (!vs::bus::verify_record(rec.type, rec.data)) {
            return;
        }
        const auto* f = vs::bus::record_as<vs::schema::FeedStatus>(rec.data);
        std::cout << fmt::format("feed: {} {}  symbols {}  messages {}  reconnects {}  rejected rows {} frames {}{}{}\n",
                                 f->healthy() ? "HEALTHY" : "UNHEALTHY", f->connected() ? "connected" : "disconnected",
                                 f->symbol_count(), f->messages_received(), f->reconnect_attempts(), f->rows_rejected(),
                                 f->frames_rejected(), f->url() ? std::string{"  "} + f->url()->str() : "",
                                 f->reason() && f->reason()->size() ? std::string{"  reason: "} + f->reason()->str() : "");
        if (f->streams()) {
            for (const auto* s : *f->streams()) {
                const double age = s->last_frame_ns() > 0 ? (vs::realtime_ns() - s->last_frame_ns()) / 1e9 : -1;
                std::cout << fmt::format("  stream {:<24} {:<6} last frame {:<8} frames {}\n", s->name()->str(),
                                         s->stale() ? "STALE" : "fresh", age_text(age), s->frames());
            }
        }
    });
}

/// A metric as a JSON number: integral values as integers (10, not 1E1).
json::value metric_value(double v)
{
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15) {
        return static_cast<std::int64_t>(v);
    }
    return v;
}

/// Every ProcessStatus of the channel (each daemon on the skeleton publishes its own).
void print_process_status(vs::bus::reader& r, const options& o)
{
    r.for_each_latest(static_cast<vs::bus::record_type>(vs::schema::RecordType::ProcessStatus), [&](const record_view& rec) {
        if (!vs::bus::verify_record(rec.type, rec.data)) {
            return;
        }
        const auto* s = vs::bus::record_as<vs::schema::ProcessStatus>(rec.data);
        const double age = static_cast<double>(vs::realtime_ns() - rec.publish_ns) / 1e9;
        const std::string reason = s->reason() != nullptr ? s->reason()->str() : "";
        if (o.json) {
            json::object p;
            p["channel"] = o.channel;
            p["process"] = s->symbol()->str();
            p["pid"] = s->pid();
            p["version"] = s->version() != nullptr ? s->version()->str() : "";
            p["started"] = vs::utc_iso8601(s->started_ns());
            p["ready"] = s->ready();
            p["healthy"] = s->healthy();
            p["stopping"] = s->stopping();
            p["reason"] = reason;
            p["status_age_s"] = age;
            json::object m;
            if (s->metrics() != nullptr) {
                for (const auto* x : *s->metrics()) {
                    m[x->name()->str()] = metric_value(x->value());
                }
            }
            p["metrics"] = std::move(m);
            std::cout << json::serialize(p) << "\n";
            return;
        }
        std::string metrics;
        if (s->metrics() != nullptr) {
            for (const auto* x : *s->metrics()) {
                metrics += fmt::format("{}{} {}", metrics.empty() ? "" : ", ", x->name()->str(), x->value());
            }
        }
        std::cout << fmt::format("process {}: {} pid {} status {} ago{}{}\n", s->symbol()->str(),
                                 s->stopping() ? "STOPPING" : !s->ready() ? "STARTING" : s->healthy() ? "HEALTHY" : "UNHEALTHY",
                                 s->pid(), age_text(age), reason.empty() ? "" : "  reason: " + reason,
                                 metrics.empty() ? "" : "\n  " + metrics);
    });
}

int show_status(const options& o)
{
    vs::bus::reader r{channel_config(o, o.channel), vs::bus::reader_options{false, "vs-bus-dump", std::chrono::milliseconds{1000}}};
    if (!attach_or_explain(r, o)) {
        return 1;
    }
    vs::bus::json_decoder dec;
    do {
        if (!o.json && !o.once && ::isatty(STDOUT_FILENO)) {
            std::cout << "\x1b[H\x1b[2J";
        }
        auto obj = status_json(o.channel, r.status(), r.state(), r.error());
        if (o.json) {
            std::cout << json::serialize(obj) << "\n";
        } else {
            print_status_human(obj);
        }
        print_feed_status(r, dec, o);
        print_process_status(r, o);
        std::cout.flush();
    } while (!o.once && !vs::shutdown::wait_for(std::chrono::nanoseconds{static_cast<std::int64_t>(o.interval_s * 1e9)}));
    return 0;
}

int show_table(const options& o, bool summary)
{
    vs::bus::reader r{channel_config(o, o.channel), vs::bus::reader_options{false, "vs-bus-dump", std::chrono::milliseconds{1000}}};
    if (!attach_or_explain(r, o)) {
        return 1;
    }
    vs::bus::json_decoder dec;
    const bool tty = ::isatty(STDOUT_FILENO) != 0;
    do {
        std::ostringstream out;
        if (summary && !o.json) {
            auto st = r.status();
            out << fmt::format("volspike bus '{}' (prefix {}): writer {} generation {} heartbeat {}  published {}\n",
                               o.channel, o.prefix, st.writer_alive ? "ALIVE" : "DEAD", st.generation,
                               st.heartbeat_age_ns < 0 ? std::string{"-"} : age_text(st.heartbeat_age_ns / 1e9),
                               st.records_published);
        }
        std::size_t n = 0;
        auto emit = [&](const record_view& rec) {
            if (!wanted(o, rec, rec.symbol)) {
                return;
            }
            ++n;
            if (o.json) {
                out << json::serialize(record_json(dec, o.channel, rec, rec.symbol, o.stale_s)) << "\n";
            } else {
                out << record_human(dec, rec, rec.symbol, o.stale_s) << "\n";
            }
        };
        if (!o.symbols.empty() && !o.types.empty()) {
            for (const auto& s : o.symbols) {  // direct lookups: no table scan
                for (auto t : o.types) {
                    r.latest(t, s, emit);
                }
            }
        } else {
            r.for_each_latest(o.types.size() == 1 ? *o.types.begin() : 0, emit);
        }
        if (!o.once && tty && !o.json) {
            std::cout << "\x1b[H\x1b[2J";
        }
        std::cout << out.str();
        if (summary && !o.json) {
            std::ostringstream feed;
            std::streambuf* old = std::cout.rdbuf(feed.rdbuf());
            print_feed_status(r, dec, o);
            std::cout.rdbuf(old);
            std::cout << feed.str();
            if (n == 0) {
                std::cout << "(no matching records yet)\n";
            }
        }
        std::cout.flush();
    } while (!o.once && !vs::shutdown::wait_for(std::chrono::nanoseconds{static_cast<std::int64_t>(o.interval_s * 1e9)}));
    return 0;
}

int follow(const options& o)
{
    vs::bus::reader r{channel_config(o, o.channel), vs::bus::reader_options{true, "vs-bus-dump", std::chrono::milliseconds{1000}}};
    if (!attach_or_explain(r, o)) {
        return 1;
    }
    vs::bus::json_decoder dec;
    long long printed = 0;
    const auto deadline = o.timeout_s > 0 ? std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>{o.timeout_s})
                                          : std::chrono::steady_clock::time_point::max();
    const long long limit = o.once ? 1 : o.count;
    while (!vs::shutdown::requested()) {
        std::string out;
        r.poll([&](const record_view& rec) {
            if (limit > 0 && printed >= limit) {
                return;
            }
            const std::string_view symbol = vs::bus::verify_record(rec.type, rec.data) ? vs::bus::record_symbol(rec.data)
                                                                                      : std::string_view{};
            if (!wanted(o, rec, symbol)) {
                return;
            }
            ++printed;
            out += o.json ? json::serialize(record_json(dec, o.channel, rec, symbol, o.stale_s))
                          : record_human(dec, rec, symbol, o.stale_s);
            out += '\n';
        });
        if (!out.empty()) {
            std::cout << out;
            std::cout.flush();
        }
        if (limit > 0 && printed >= limit) {
            return 0;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return printed > 0 || limit == 0 ? 0 : 1;
        }
        r.wait(std::chrono::milliseconds{200});
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    vs::cli::parser cli{"vs-bus-dump",
                        "show the volspike bus: channels, header and feed status, latest records, the live ring",
                        "vs-bus-dump --channel market --table --symbol BTCUSDT,ETHUSDT --type MarkPrice --once --json"};
    vs::cli::add_common_options(cli);
    cli.option("channel", "NAME", "market", "channel to read")
        .flag("status", "print the channel header (writer alive, generation, heartbeat, counters) and feed status")
        .flag("table", "print the latest record per (type, symbol)")
        .flag("summary", "a live summary for people: feed status and the latest records (default symbols: BTCUSDT, ETHUSDT, SOLUSDT mark prices)")
        .flag("follow", "print ring records as they are published")
        .option("symbol", "S[,S...]", "", "only these symbols (exact, UTF-8)")
        .option("type", "T[,T...]", "", "only these record types (MarkPrice, Ticker24h, Liquidation, AggTrade, Kline, OpenInterest, LiquidUniverse, FeedStatus, ...)")
        .flag("once", "print once and exit (--follow: exit after the first record)")
        .option("count", "N", "0", "--follow: exit after N records (0 = never)")
        .option("timeout", "SECONDS", "0", "--follow: give up after this long; exit 1 if nothing matched (0 = never)")
        .option("interval", "SECONDS", "1", "refresh period of --status, --table and --summary without --once")
        .option("stale-seconds", "SECONDS", "180", "records older than this are marked stale")
        .flag("json", "one JSON object per line (the default when stdout is not a terminal)")
        .flag("human", "human-readable lines even when stdout is not a terminal");
    return vs::cli::run(cli, argc, argv, [&] {
        vs::shutdown::install_handlers();
        options o;
        o.prefix = cli.get("bus-prefix");
        o.channel = cli.get("channel");
        for (const auto& s : vs::cli::split_list(cli.get("symbol"))) {
            o.symbols.insert(s);
        }
        for (const auto& t : vs::cli::split_list(cli.get("type"))) {
            auto type = vs::bus::parse_record_type(t);
            if (!type) {
                throw vs::cli::usage_error("--type: unknown record type '" + t + "'");
            }
            o.types.insert(*type);
        }
        o.json = cli.is_set("json") || (!cli.is_set("human") && ::isatty(STDOUT_FILENO) == 0);
        o.once = cli.is_set("once");
        o.interval_s = cli.get_double("interval", 0.05, 3600);
        o.stale_s = cli.get_double("stale-seconds", 0, 1e9);
        o.count = cli.get_int("count", 0, 1LL << 40);
        o.timeout_s = cli.get_double("timeout", 0, 1e9);
        const int modes = cli.is_set("status") + cli.is_set("table") + cli.is_set("follow") + cli.is_set("summary");
        if (modes > 1) {
            throw vs::cli::usage_error("choose one of --status, --table, --summary, --follow");
        }
        try {
            if (cli.is_set("status")) {
                return show_status(o);
            }
            if (cli.is_set("table")) {
                return show_table(o, false);
            }
            if (cli.is_set("summary")) {
                if (o.symbols.empty()) {
                    o.symbols = {"BTCUSDT", "ETHUSDT", "SOLUSDT"};
                }
                if (o.types.empty()) {
                    o.types = {static_cast<vs::bus::record_type>(vs::schema::RecordType::MarkPrice)};
                }
                return show_table(o, true);
            }
            if (cli.is_set("follow")) {
                return follow(o);
            }
            return list_channels(o);
        } catch (const vs::bus::bus_error& e) {
            std::cerr << "vs-bus-dump: " << e.what() << "\n";
            return 1;
        }
    });
}
