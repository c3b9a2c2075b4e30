#include "vs/api/router.hpp"

#include <algorithm>
#include <cstdlib>
#include <tuple>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "vs/api/history.hpp"
#include "vs/api/json_writer.hpp"
#include "vs/api/render.hpp"
#include "schemas/process_status_generated.h"
#include "vs/bus/channel.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/version.hpp"

namespace vs::api {
namespace {

constexpr auto mark_type = static_cast<bus::record_type>(schema::RecordType::MarkPrice);
constexpr auto ticker_type = static_cast<bus::record_type>(schema::RecordType::Ticker24h);
constexpr auto oi_type = static_cast<bus::record_type>(schema::RecordType::OpenInterest);
constexpr auto universe_type = static_cast<bus::record_type>(schema::RecordType::LiquidUniverse);
constexpr auto feed_type = static_cast<bus::record_type>(schema::RecordType::FeedStatus);

int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool symbol_char_ok(unsigned char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c >= 0x80u;
}

std::string_view as_view(const flatbuffers::String* s) noexcept
{
    return s == nullptr ? std::string_view{} : std::string_view{s->c_str(), s->size()};
}

// Decodes a raw path or query fragment for echoing in an error body (invalid escapes kept).
std::string_view echo(std::string_view raw, std::string& scratch)
{
    scratch.clear();
    for (std::size_t i = 0; i < raw.size() && scratch.size() < 256; ++i) {
        if (raw[i] == '%' && i + 2 < raw.size() && hex_value(raw[i + 1]) >= 0 &&
            hex_value(raw[i + 2]) >= 0) {
            scratch.push_back(static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2])));
            i += 2;
        } else {
            scratch.push_back(raw[i]);
        }
    }
    return scratch;
}

// /universe's members (no braces), in the shape of the write_*_members renderers.
void write_universe_members(json_writer& w, std::string_view /*symbol*/, const schema::LiquidUniverse& u,
                            std::int64_t publish_ns, std::int64_t now_ns)
{
    using string_list = flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>;
    const auto list = [&](std::string_view key, const string_list* v) {
        w.key(key);
        w.begin_array();
        if (v != nullptr) {
            for (const auto* s : *v) {
                w.value(as_view(s));
            }
        }
        w.end_array();
    };
    const auto upd = updated_ns(u.recv_time_ns(), publish_ns);
    list("symbols", u.symbols());
    list("added", u.added());
    list("removed", u.removed());
    w.member("enterQuoteVolumeUsd", u.enter_quote_volume_usd());
    w.member("exitQuoteVolumeUsd", u.exit_quote_volume_usd());
    w.member("updatedAt", static_cast<double>(upd) * 1e-9);
    w.member("ageSeconds", age_seconds(now_ns, upd));
}

std::string_view channel_missing_error(channel_id ch) noexcept
{
    return ch == channel_id::market ? "Market channel not available" : "OI channel not available";
}

std::string_view writer_dead_error(channel_id ch) noexcept
{
    return ch == channel_id::market ? "Feed writer not alive" : "OI writer not alive";
}

}  // namespace

/// A single-record route: where its record lives and how it renders. Every such route is
/// answered by router::single_record, so a condition gets the same status on every route.
template <class Table>
struct record_route {
    channel_id channel;
    bus::record_type type;
    bool keyed;          ///< the path names a symbol (false: /universe, the channel's one "" record)
    bool usd_m_only;     ///< a COIN-M record is not found here (the market channel's routes)
    bool ages;           ///< past stale_seconds the record is 503 "Data stale"
    std::string_view not_found;   ///< the 404 message
    void (*write_members)(json_writer&, std::string_view, const Table&, std::int64_t, std::int64_t);
};

namespace {

// A route with the symbol in its path and the stale rule.
template <class Table>
constexpr record_route<Table> symbol_route(channel_id ch, bus::record_type type, bool usd_m_only,
                                           decltype(record_route<Table>::write_members) write_members)
{
    return {.channel = ch, .type = type, .keyed = true, .usd_m_only = usd_m_only, .ages = true,
            .not_found = "Symbol not found", .write_members = write_members};
}

constexpr auto funding_record =
    symbol_route<schema::MarkPrice>(channel_id::market, mark_type, /*usd_m_only=*/true, write_funding_members);
constexpr auto ticker_record =
    symbol_route<schema::Ticker24h>(channel_id::market, ticker_type, /*usd_m_only=*/true, write_ticker_members);
constexpr auto oi_record =
    symbol_route<schema::OpenInterest>(channel_id::oi, oi_type, /*usd_m_only=*/false, write_oi_symbol_members);
// The universe is recomputed every 5 minutes (the old job's cadence), longer than the stale
// threshold: its freshness is its writer's liveness, not its age.
constexpr record_route<schema::LiquidUniverse> universe_record{
    .channel = channel_id::oi, .type = universe_type, .keyed = false, .usd_m_only = false, .ages = false,
    .not_found = "No liquid universe published yet", .write_members = write_universe_members};

}  // namespace

bool percent_decode(std::string_view raw, std::string& out)
{
    out.clear();
    if (raw.find('%') == std::string_view::npos) {
        out.assign(raw);
        return true;
    }
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '%') {
            out.push_back(raw[i]);
            continue;
        }
        if (i + 2 >= raw.size()) {
            return false;
        }
        const int hi = hex_value(raw[i + 1]);
        const int lo = hex_value(raw[i + 2]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

bool normalize_decoded_symbol(std::string_view s, std::string& out)
{
    out.clear();
    if (s.empty() || s.size() > bus::max_symbol_bytes) {
        return false;
    }
    out.resize(s.size());
    unsigned high = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto u = static_cast<unsigned char>(s[i]);
        if (!symbol_char_ok(u)) {
            return false;
        }
        high |= u & 0x80u;
        out[i] = u >= 'a' && u <= 'z' ? static_cast<char>(u - 'a' + 'A') : s[i];
    }
    return high == 0 || valid_utf8(out);
}

bool normalize_symbol(std::string_view raw, std::string& out)
{
    if (raw.empty() || raw.size() > 3 * bus::max_symbol_bytes) {
        out.clear();
        return false;
    }
    char buf[3 * bus::max_symbol_bytes];
    std::size_t n = 0;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '%') {
            buf[n++] = raw[i];
            continue;
        }
        if (i + 2 >= raw.size() || hex_value(raw[i + 1]) < 0 || hex_value(raw[i + 2]) < 0) {
            out.clear();
            return false;
        }
        buf[n++] = static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
        i += 2;
    }
    return normalize_decoded_symbol(std::string_view{buf, n}, out);
}

std::pair<bool, std::string_view> query_param(std::string_view query, std::string_view name) noexcept
{
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto part = query.substr(0, amp);
        const auto eq = part.find('=');
        if (part.substr(0, eq) == name) {
            return {true, eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1)};
        }
        if (amp == std::string_view::npos) {
            break;
        }
        query.remove_prefix(amp + 1);
    }
    return {false, {}};
}

std::pair<bool, std::string_view> parse_symbol_list(std::string_view raw, std::string& decoded,
                                                    std::vector<std::string>& symbols, std::size_t max_items,
                                                    bool& too_many)
{
    symbols.clear();
    too_many = false;
    if (!percent_decode(raw, decoded)) {
        return {false, raw};
    }
    std::string_view rest = decoded;
    while (true) {
        const auto comma = rest.find(',');
        const auto item = rest.substr(0, comma);
        if (!item.empty()) {
            if (symbols.size() >= max_items) {
                too_many = true;
                return {true, {}};
            }
            if (!normalize_decoded_symbol(item, symbols.emplace_back())) {
                symbols.pop_back();
                return {false, item};
            }
        }
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    // Deduplicate, keeping the first occurrence and the request order (open addressing
    // over indices: linear time, one allocation).
    if (symbols.size() > 1) {
        std::size_t cap = 16;
        while (cap < symbols.size() * 2) {
            cap <<= 1;
        }
        std::vector<std::uint32_t> table(cap, UINT32_MAX);
        std::size_t w = 0;
        for (std::size_t i = 0; i < symbols.size(); ++i) {
            std::uint64_t h = 1469598103934665603ull;   // FNV-1a
            for (const char c : symbols[i]) {
                h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
            }
            bool dup = false;
            for (std::size_t k = h & (cap - 1);; k = (k + 1) & (cap - 1)) {
                if (table[k] == UINT32_MAX) {
                    table[k] = static_cast<std::uint32_t>(w);
                    break;
                }
                if (symbols[table[k]] == symbols[i]) {
                    dup = true;
                    break;
                }
            }
            if (!dup) {
                if (w != i) {
                    symbols[w] = std::move(symbols[i]);
                }
                ++w;
            }
        }
        symbols.resize(w);
    }
    return {true, {}};
}

void error_response(response& out, unsigned status, std::string_view message, std::string_view extra_key,
                    std::string_view extra_value)
{
    out.status = status;
    out.content_type = "application/json";
    out.static_body = {};
    out.body.clear();
    json_writer w{out.body};
    w.begin_object();
    w.member("error", message);
    if (!extra_key.empty()) {
        w.member(extra_key, extra_value);
    }
    w.end_object();
}

router::router(router_config config, data_source& source, const metrics_registry* metrics)
    : config_(config), source_(source), metrics_(metrics)
{
    symbol_.reserve(64);
    scratch_.reserve(256);
}

void router::handle(const request_view& req, response& out)
{
    out.reset();
    source_.refresh();
    auto target = req.target;
    if (target.empty() || target.front() != '/') {
        out.matched = route::bad_request;
        error_response(out, 400, "Bad request target");
        return;
    }
    const auto q = target.find('?');
    const auto path = target.substr(0, q);
    const auto query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);

    const bool get = req.method == "GET";
    const bool head = req.method == "HEAD";
    out.head = head;

    // Route by the raw path; only a symbol segment is decoded.
    constexpr std::string_view funding_prefix = "/funding/";
    constexpr std::string_view tickers_prefix = "/tickers/";
    constexpr std::string_view oi_prefix = "/oi/";
    const auto segment_after = [&](std::string_view prefix) -> std::pair<bool, std::string_view> {
        if (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
            path.find('/', prefix.size()) == std::string_view::npos) {
            return {true, path.substr(prefix.size())};
        }
        return {false, {}};
    };

    route r = route::not_found;
    std::string_view symbol_raw;
    if (path == "/") {
        r = route::root;
    } else if (path == "/funding/health") {
        r = route::health;
    } else if (path == "/funding/batch") {
        r = route::funding_batch;
    } else if (path == "/funding" || path == "/funding/") {
        r = route::funding_all;
    } else if (auto [ok, seg] = segment_after(funding_prefix); ok) {
        r = route::funding_one;
        symbol_raw = seg;
    } else if (path == "/tickers" || path == "/tickers/") {
        r = route::tickers_all;
    } else if (auto [ok2, seg2] = segment_after(tickers_prefix); ok2) {
        r = route::tickers_one;
        symbol_raw = seg2;
    } else if (path == "/oi" || path == "/oi/") {
        r = route::oi_all;
    } else if (auto [ok3, seg3] = segment_after(oi_prefix); ok3) {
        r = route::oi_one;
        symbol_raw = seg3;
    } else if (path == "/universe") {
        r = route::universe;
    } else if (path == "/alerts") {
        r = route::alerts;
    } else if (path == "/news") {
        r = route::news;
    } else if (path == "/health") {
        r = route::host_health;
    } else if (path == "/metrics") {
        r = route::metrics;
    } else if (path == "/events") {
        r = route::events;
    } else if (path == "/dashboard" || path == "/dashboard/" || path == "/dashboard/chart.js") {
        r = route::dashboard;
    } else if (path == "/history" || path == "/history/") {
        r = route::history;
    } else if (auto [ok4, seg4] = segment_after("/history/"); ok4) {
        r = route::history;
        symbol_raw = seg4;
    }
    out.matched = r;

    if (!get && !head) {
        out.allow = "GET, HEAD";
        error_response(out, 405, "Method not allowed", "method", echo(req.method.substr(0, 32), scratch_));
        return;
    }

    switch (r) {
    case route::root: root(out); break;
    case route::health: health(out); break;
    case route::funding_batch: funding_batch(query, out); break;
    case route::funding_all: funding_all(out); break;
    case route::funding_one: single_record(funding_record, symbol_raw, out); break;
    case route::tickers_all: tickers_all(out); break;
    case route::tickers_one: single_record(ticker_record, symbol_raw, out); break;
    case route::oi_all: oi_all(out); break;
    case route::oi_one: single_record(oi_record, symbol_raw, out); break;
    case route::universe: single_record(universe_record, {}, out); break;
    case route::alerts: alerts(query, out); break;
    case route::news: news(query, out); break;
    case route::host_health:
        host_health(out);
        // ?always_ok: 200 whatever the host's state (the dashboard reads the body; a 503 is a
        // console error in a browser).
        if (query_param(query, "always_ok").first) {
            out.status = 200;
        }
        break;
    case route::metrics: metrics(out); break;
    case route::events: events(query, out); break;
    case route::dashboard:
        if (path == "/dashboard/chart.js") {
            // A fixed file per build: cached for a day (the page asks for it by ?v=<version>).
            out.content_type = "text/javascript; charset=utf-8";
            out.static_body = chartjs();
            out.cache_control = "public, max-age=86400, immutable";
            break;
        }
        out.content_type = "text/html; charset=utf-8";
        out.static_body = dashboard_html();
        break;
    case route::history: history(symbol_raw, query, out); break;
    case route::not_found:
    case route::bad_request:
    case route::count_: error_response(out, 404, "Not found", "path", echo(path, scratch_)); break;
    }
}

void router::root(response& out)
{
    json_writer w{out.body};
    w.begin_object();
    w.member("name", "vs-api");
    w.member("description", "VolSpike market API on the volspike bus (funding, tickers, open interest)");
    w.member("version", VS_VERSION);
    w.key("endpoints");
    w.begin_object();
    w.member("/", "API information");
    w.member("/funding/health", "Feed and data health (200 healthy, 503 unhealthy)");
    w.member("/funding/{symbol}", "Funding and mark price of one USD-M symbol");
    w.member("/funding/batch?symbols=A,B", "Funding of up to 1000 symbols");
    w.member("/funding", "Funding of every USD-M symbol");
    w.member("/tickers/{symbol}", "24 h ticker of one symbol");
    w.member("/tickers", "24 h tickers of every USD-M symbol");
    w.member("/oi/{symbol}", "Open interest of one symbol");
    w.member("/oi", "Open interest of every polled symbol");
    w.member("/universe", "The liquid universe polled for open interest");
    w.member("/alerts?type=&symbol=&limit=", "Recent alerts of every alert channel, newest first, with delivery states");
    w.member("/news?limit=", "Latest news posts per channel");
    w.member("/health", "Every process of the host: alive, healthy, reason (200 healthy, 503 not)");
    w.member("/metrics", "Prometheus metrics");
    w.member("/events?symbols=A,B", "Server-Sent Events: changed records, at most one batch per second");
    w.member("/dashboard", "Live dashboard page");
    w.member("/history/{symbol}?hours=H", "Mark price and open interest over the last hours (as vs-api saw them)");
    w.member("/history", "Open-interest change over the last hour of every symbol");
    w.end_object();
    w.end_object();
}

void router::health(response& out)
{
    json_writer w{out.body};
    const auto rep = write_health(w, source_, realtime_ns(), config_.started_ns, config_.stale_seconds);
    out.status = rep.healthy ? 200 : 503;
}

template <class Table>
void router::single_record(const record_route<Table>& spec, std::string_view raw_symbol, response& out)
{
    if (spec.keyed && !normalize_symbol(raw_symbol, symbol_)) {
        error_response(out, 400, "Malformed symbol", "symbol", echo(raw_symbol, scratch_));
        return;
    }
    if (!spec.keyed) {
        symbol_.clear();
    }
    const auto now = realtime_ns();
    bool served = false;
    bool corrupt = false;
    const auto st = source_.latest(spec.channel, spec.type, symbol_, [&](const bus::record_view& r) {
        const auto* rec = verified_as<Table>(r.data);
        if (rec == nullptr) {
            corrupt = true;
            return;
        }
        if (spec.usd_m_only && !is_usd_m(rec->market(), r.symbol)) {
            return;
        }
        served = true;
        json_writer w{out.body};
        w.begin_object();
        if constexpr (std::is_same_v<Table, schema::MarkPrice>) {
            // Issue 19: vs-feed's marks. A delisted symbol is not found; one whose exchange
            // values stayed invalid past vs-feed's limit has no price to serve (not its old one).
            const bool delisted = rec->delisted();
            if (delisted || rec->invalid_since_ns() > 0) {
                out.status = delisted ? 404 : 503;
                w.member("error", delisted ? "Symbol delisted" : "Invalid exchange values");
                const auto* why = rec->status_reason();
                w.member("reason", why != nullptr ? std::string_view{why->c_str(), why->size()} : std::string_view{});
                w.member("symbol", r.symbol);
                if (!delisted) {
                    w.literal_key("invalidSinceSeconds");
                    w.seconds_value(now - rec->invalid_since_ns());
                }
                w.end_object();
                return;
            }
        }
        if (spec.ages && age_seconds(now, updated_ns(rec->recv_time_ns(), r.publish_ns)) > config_.stale_seconds) {
            out.status = 503;
            w.member("error", "Data stale");
        } else if (!source_.writer_alive(spec.channel)) {
            out.status = 503;
            w.member("error", writer_dead_error(spec.channel));
        }
        spec.write_members(w, r.symbol, *rec, r.publish_ns, now);
        w.end_object();
    });
    if (served) {
        return;
    }
    // Errors name the symbol as the client wrote it (decoded), as the old 404 did.
    const auto fail = [&](unsigned status, std::string_view message) {
        error_response(out, status, message, spec.keyed ? "symbol" : "", spec.keyed ? echo(raw_symbol, scratch_) : "");
    };
    switch (st) {
    case bus::read_status::not_ready: fail(503, channel_missing_error(spec.channel)); break;
    case bus::read_status::unavailable:
        fail(503, "Record unavailable, retry");
        out.retry_after = 1;
        break;
    case bus::read_status::ok:   // handed over, but not servable here
        if (corrupt) {
            fail(503, "Record failed verification");
        } else {
            fail(404, spec.not_found);   // a COIN-M record on a USD-M route
        }
        break;
    case bus::read_status::missing: fail(404, spec.not_found); break;
    }
}

void router::funding_batch(std::string_view query, response& out)
{
    const auto [present, raw] = query_param(query, "symbols");
    if (!present || raw.empty()) {
        error_response(out, 400, "Missing symbols parameter (symbols=A,B,...)");
        return;
    }
    bool too_many = false;
    const auto [ok, bad] = parse_symbol_list(raw, decoded_, symbols_, config_.max_batch, too_many);
    if (too_many) {
        error_response(out, 400, fmt::format("Too many symbols (max {})", config_.max_batch));
        return;
    }
    if (!ok) {
        error_response(out, 400, "Malformed symbol", "symbol", bad);
        return;
    }
    if (symbols_.empty()) {
        error_response(out, 400, "Empty symbols parameter");
        return;
    }
    const auto now = realtime_ns();
    const bool alive = source_.writer_alive(channel_id::market);
    missing_.clear();
    stale_.clear();
    json_writer w{out.body};
    w.begin_object();
    w.key("data");
    w.begin_object();
    for (std::size_t i = 0; i < symbols_.size(); ++i) {
        bool found = false;
        source_.latest(channel_id::market, mark_type, symbols_[i], [&](const bus::record_view& r) {
            const auto* m = verified_as<schema::MarkPrice>(r.data);
            if (m == nullptr || !is_usd_m(m->market(), r.symbol) || m->delisted()) {
                return;   // delisted (issue 19): missing
            }
            found = true;
            if (m->invalid_since_ns() > 0) {
                stale_.push_back(i);   // invalid values (issue 19): no price, listed as stale
                return;
            }
            const double age = age_seconds(now, updated_ns(m->recv_time_ns(), r.publish_ns));
            if (age > config_.stale_seconds || !alive) {
                stale_.push_back(i);
            }
            w.key(r.symbol);
            w.begin_object();
            write_funding_members(w, r.symbol, *m, r.publish_ns, now);
            w.end_object();
        });
        if (!found) {
            missing_.push_back(i);
        }
    }
    w.end_object();
    w.key("missing");
    w.begin_array();
    for (const auto i : missing_) {
        w.value(symbols_[i]);
    }
    w.end_array();
    w.key("stale");
    w.begin_array();
    for (const auto i : stale_) {
        w.value(symbols_[i]);
    }
    w.end_array();
    w.member("writerAlive", alive);
    w.end_object();
}

/// Every USDⓈ-M record of one table type as {"data":{SYMBOL:{...}},"count","stale","writerAlive"}
/// (/funding and /tickers).
template <class Table>
void router::market_table(response& out, bus::record_type type,
                          void (*write_members)(json_writer&, std::string_view, const Table&, std::int64_t,
                                                std::int64_t))
{
    const auto now = realtime_ns();
    const auto cs = source_.status(channel_id::market);
    if (!cs.attached) {
        error_response(out, 503, "Market channel not available");
        return;
    }
    scratch_.clear();   // stale symbols as a pre-rendered JSON array body
    json_writer stale_w{scratch_};
    stale_w.begin_array();
    std::uint64_t count = 0;
    json_writer w{out.body};
    w.begin_object();
    w.key("data");
    w.begin_object();
    source_.for_each_latest(channel_id::market, type, [&](const bus::record_view& r) {
        const auto* rec = verified_as<Table>(r.data);
        if (rec == nullptr || !is_usd_m(rec->market(), r.symbol)) {
            return;
        }
        if constexpr (std::is_same_v<Table, schema::MarkPrice>) {
            // Issue 19: a delisted symbol is left out; one with invalid values has no price.
            if (rec->delisted()) {
                return;
            }
            if (rec->invalid_since_ns() > 0) {
                stale_w.value(r.symbol);
                return;
            }
        }
        ++count;
        if (age_seconds(now, updated_ns(rec->recv_time_ns(), r.publish_ns)) > config_.stale_seconds ||
            !cs.writer_alive) {
            stale_w.value(r.symbol);
        }
        w.key(r.symbol);
        w.begin_object();
        write_members(w, r.symbol, *rec, r.publish_ns, now);
        w.end_object();
    });
    w.end_object();
    stale_w.end_array();
    w.member("count", count);
    w.key("stale");
    w.raw(scratch_);
    w.member("writerAlive", cs.writer_alive);
    w.end_object();
}

void router::funding_all(response& out) { market_table<schema::MarkPrice>(out, mark_type, write_funding_members); }

void router::tickers_all(response& out) { market_table<schema::Ticker24h>(out, ticker_type, write_ticker_members); }

void router::oi_all(response& out)
{
    const auto now = realtime_ns();
    const auto cs = source_.status(channel_id::oi);
    if (!cs.attached) {
        error_response(out, 503, "OI channel not available");
        return;
    }
    std::uint64_t count = 0;
    json_writer w{out.body};
    w.begin_object();
    w.key("data");
    w.begin_object();
    source_.for_each_latest(channel_id::oi, oi_type, [&](const bus::record_view& r) {
        const auto* o = verified_as<schema::OpenInterest>(r.data);
        if (o == nullptr) {
            return;
        }
        ++count;
        w.key(r.symbol);
        w.begin_object();
        write_oi_symbol_members(w, r.symbol, *o, r.publish_ns, now);
        w.end_object();
    });
    w.end_object();
    w.member("count", count);
    w.member("writerAlive", cs.writer_alive);
    w.end_object();
}

void router::metrics(response& out)
{
    out.content_type = "text/plain; version=0.0.4; charset=utf-8";
    auto it = std::back_inserter(out.body);
    const auto label = [&](std::string_view v) {
        // Prometheus label escaping: backslash, quote, newline.
        for (const char c : v) {
            if (c == '\\' || c == '"') {
                out.body.push_back('\\');
                out.body.push_back(c);
            } else if (c == '\n') {
                out.body.append("\\n");
            } else {
                out.body.push_back(c);
            }
        }
    };
    struct gauge {
        const char* name;
        const char* type;
        const char* help;
    };
    static constexpr gauge bus_metrics[] = {
        {"vs_bus_attached", "gauge", "1 when the channel segment is mapped and compatible."},
        {"vs_bus_writer_alive", "gauge", "1 when the channel's writer holds its lock and heartbeats."},
        {"vs_bus_writer_heartbeat_age_seconds", "gauge", "Age of the writer's heartbeat (-1 never)."},
        {"vs_bus_writer_generation", "gauge", "Generation of the writer (changes at every writer start)."},
        {"vs_bus_records_published_total", "counter", "Records published on the channel."},
        {"vs_bus_records_dropped_total", "counter", "Records the writer dropped (too large, bad symbol, table full)."},
        {"vs_bus_reader_laps_total", "counter", "Times registered readers were lapped by the writer."},
        {"vs_bus_readers", "gauge", "Live registered readers."},
        {"vs_bus_table_used", "gauge", "Filled latest-table slots."},
        {"vs_bus_table_slots", "gauge", "Slots of the channel's latest table."},
        {"vs_bus_ring_bytes", "gauge", "Size of the channel's ring."},
        {"vs_bus_slot_bytes", "gauge", "Record bytes a latest-table slot holds."},
        {"vs_bus_writer_start_time_seconds", "gauge", "Start time of the channel's writer since the Unix epoch (0 never)."},
    };
    // Every channel under the prefix (the header facts), one family at a time.
    std::vector<std::pair<std::string, bus::channel_status>> channels;
    source_.for_each_channel([&](std::string_view name, const bus::channel_status& s) {
        channels.emplace_back(std::string{name}, s);
    });
    for (std::size_t g = 0; g < std::size(bus_metrics); ++g) {
        fmt::format_to(it, "# HELP {} {}\n# TYPE {} {}\n", bus_metrics[g].name, bus_metrics[g].help,
                       bus_metrics[g].name, bus_metrics[g].type);
        for (const auto& [name, s] : channels) {
            fmt::format_to(it, "{}{{channel=\"", bus_metrics[g].name);
            label(name);
            out.body.append("\"} ");
            switch (g) {
            case 0: fmt::format_to(it, "{}", s.attached ? 1 : 0); break;
            case 1: fmt::format_to(it, "{}", s.writer_alive ? 1 : 0); break;
            case 2: fmt::format_to(it, "{}", s.heartbeat_age_ns < 0 ? -1.0 : static_cast<double>(s.heartbeat_age_ns) * 1e-9); break;
            case 3: fmt::format_to(it, "{}", s.generation); break;
            case 4: fmt::format_to(it, "{}", s.records_published); break;
            case 5: fmt::format_to(it, "{}", s.records_dropped); break;
            case 6: fmt::format_to(it, "{}", s.reader_laps); break;
            case 7: fmt::format_to(it, "{}", s.readers); break;
            case 8: fmt::format_to(it, "{}", s.table_used); break;
            case 9: fmt::format_to(it, "{}", s.table_slots); break;
            case 10: fmt::format_to(it, "{}", s.ring_bytes); break;
            case 11: fmt::format_to(it, "{}", s.slot_bytes); break;
            default: fmt::format_to(it, "{}", static_cast<double>(s.writer_started_ns) * 1e-9); break;
            }
            out.body.push_back('\n');
        }
    }

    // The feed's status record.
    const auto now = realtime_ns();
    source_.latest(channel_id::market, feed_type, "", [&](const bus::record_view& r) {
        const auto* f = verified_as<schema::FeedStatus>(r.data);
        if (f == nullptr) {
            return;
        }
        fmt::format_to(it,
                       "# HELP vs_feed_connected 1 when the feed's WebSocket is connected.\n# TYPE vs_feed_connected gauge\n"
                       "vs_feed_connected {}\n"
                       "# HELP vs_feed_healthy 1 when the feed reports every price stream fresh.\n# TYPE vs_feed_healthy gauge\n"
                       "vs_feed_healthy {}\n"
                       "# HELP vs_feed_messages_received_total WebSocket messages the feed received.\n"
                       "# TYPE vs_feed_messages_received_total counter\nvs_feed_messages_received_total {}\n"
                       "# HELP vs_feed_reconnect_attempts_total Reconnect attempts of the feed.\n"
                       "# TYPE vs_feed_reconnect_attempts_total counter\nvs_feed_reconnect_attempts_total {}\n"
                       "# HELP vs_feed_symbols Symbols the feed tracks.\n# TYPE vs_feed_symbols gauge\nvs_feed_symbols {}\n"
                       "# HELP vs_feed_status_age_seconds Age of the feed's status record.\n"
                       "# TYPE vs_feed_status_age_seconds gauge\nvs_feed_status_age_seconds {}\n",
                       f->connected() ? 1 : 0, f->healthy() ? 1 : 0, f->messages_received(), f->reconnect_attempts(),
                       f->symbol_count(), age_seconds(now, updated_ns(f->recv_time_ns(), r.publish_ns)));
        if (f->streams() == nullptr) {
            return;
        }
        out.body.append("# HELP vs_feed_stream_stale 1 when a stream that must not be quiet is silent.\n"
                        "# TYPE vs_feed_stream_stale gauge\n");
        for (const auto* s : *f->streams()) {
            out.body.append("vs_feed_stream_stale{stream=\"");
            label(as_view(s->name()));
            fmt::format_to(it, "\"}} {}\n", s->stale() ? 1 : 0);
        }
        out.body.append("# HELP vs_feed_stream_frames_total Frames received per stream.\n"
                        "# TYPE vs_feed_stream_frames_total counter\n");
        for (const auto* s : *f->streams()) {
            out.body.append("vs_feed_stream_frames_total{stream=\"");
            label(as_view(s->name()));
            fmt::format_to(it, "\"}} {}\n", s->frames());
        }
        out.body.append("# HELP vs_feed_stream_last_frame_age_seconds Age of each stream's last frame (-1 never).\n"
                        "# TYPE vs_feed_stream_last_frame_age_seconds gauge\n");
        for (const auto* s : *f->streams()) {
            out.body.append("vs_feed_stream_last_frame_age_seconds{stream=\"");
            label(as_view(s->name()));
            fmt::format_to(it, "\"}} {}\n", s->last_frame_ns() > 0 ? age_seconds(now, s->last_frame_ns()) : -1.0);
        }
    });

    // Every process on the daemon skeleton (its ProcessStatus in its own channel): one
    // family per metric name, in Prometheus conventions (metrics.hpp).
    std::vector<process_metrics_row> procs;
    source_.for_each_process([&](std::string_view channel, const bus::record_view& r) {
        const auto* p = verified_as<schema::ProcessStatus>(r.data);
        if (p == nullptr) {
            return;
        }
        auto& row = procs.emplace_back();
        row.process = as_view(p->symbol());
        row.channel = channel;
        row.healthy = p->healthy();
        row.ready = p->ready();
        row.alive = source_.channel_writer_alive(channel);
        row.status_age_seconds = age_seconds(now, r.publish_ns);
        row.start_time_seconds = static_cast<double>(p->started_ns()) * 1e-9;
        if (p->metrics() != nullptr) {
            for (const auto* m : *p->metrics()) {
                row.metrics.push_back({std::string{as_view(m->name())}, m->value(), m->gauge()});
            }
        }
    });
    render_process_metrics(procs, out.body);

    if (metrics_ != nullptr) {
        metrics_->render(out.body);
    }
}

void router::events(std::string_view query, response& out)
{
    symbols_.clear();
    const auto [present, raw] = query_param(query, "symbols");
    if (present) {
        bool too_many = false;
        const auto [ok, bad] = parse_symbol_list(raw, decoded_, symbols_, config_.max_batch, too_many);
        if (too_many) {
            error_response(out, 400, fmt::format("Too many symbols (max {})", config_.max_batch));
            return;
        }
        if (!ok) {
            error_response(out, 400, "Malformed symbol", "symbol", bad);
            return;
        }
    }
    // The server takes over the connection (see server.cpp).
    out.status = 200;
    out.content_type = "text/event-stream";
}

void router::history(std::string_view symbol_raw, std::string_view query, response& out)
{
    const auto* h = config_.history;
    if (h == nullptr) {
        error_response(out, 503, "History not available");
        return;
    }
    const auto now_ms = realtime_ns() / 1'000'000;
    if (symbol_raw.empty()) {
        // Every symbol's open-interest change over the last hour (contracts and USD).
        constexpr std::int64_t hour_ms = 3'600'000;
        json_writer w{out.body};
        w.begin_object();
        for (const auto& [key, s] : {std::pair{"oiChange1h", series_id::open_interest},
                                     std::pair{"oiUsdChange1h", series_id::open_interest_usd}}) {
            w.key(key);
            w.begin_object();
            h->changes(s, hour_ms, [&](std::string_view symbol, const history_point& from, const history_point& to) {
                w.key(symbol);
                w.begin_object();
                w.member("pct", from.v != 0 ? (to.v - from.v) / from.v * 100.0 : 0.0);
                w.member("from", from.v);
                w.member("to", to.v);
                w.member("fromTime", from.t_ms);
                w.member("toTime", to.t_ms);
                w.end_object();
            });
            w.end_object();
        }
        w.member("symbols", static_cast<std::uint64_t>(h->symbols()));
        w.member("since", h->since_ms());
        w.member("stepMs", h->step_ms());
        w.member("windowHours", static_cast<double>(h->window_ms()) / 3.6e6);
        w.end_object();
        return;
    }
    if (!normalize_symbol(symbol_raw, symbol_)) {
        error_response(out, 400, "Malformed symbol", "symbol", echo(symbol_raw, scratch_));
        return;
    }
    double hours = static_cast<double>(h->window_ms()) / 3.6e6;
    if (const auto [present, raw] = query_param(query, "hours"); present) {
        const std::string v{raw.substr(0, 32)};
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || end != v.c_str() + v.size() || !(x > 0) || x > 1e6) {
            error_response(out, 400, "Bad hours parameter (a positive number)", "hours", echo(raw.substr(0, 32), scratch_));
            return;
        }
        hours = std::min(hours, x);
    }
    // A symbol neither seen on the bus nor in vs-oi's stored histories has empty series.
    std::vector<history_point> pts[series_count];
    h->read(symbol_, now_ms - static_cast<std::int64_t>(hours * 3.6e6), pts);
    json_writer w{out.body};
    w.begin_object();
    w.member("symbol", symbol_);
    w.member("hours", hours);
    w.member("stepMs", h->step_ms());
    w.member("since", h->since_ms());
    constexpr std::string_view names[series_count] = {"markPrice", "openInterest", "openInterestUsd"};
    for (std::size_t i = 0; i < series_count; ++i) {
        w.key(names[i]);   // [[time ms, value], ...], oldest first
        w.begin_array();
        for (const auto& p : pts[i]) {
            w.begin_array();
            w.value(p.t_ms);
            w.value(p.v);
            w.end_array();
        }
        w.end_array();
    }
    w.end_object();
}

}  // namespace vs::api
