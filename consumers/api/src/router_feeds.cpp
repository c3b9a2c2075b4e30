// The routes over alerts, news and process statuses: /alerts, /news, /health.
#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "schemas/process_status_generated.h"
#include "vs/api/feeds.hpp"
#include "vs/api/json_writer.hpp"
#include "vs/api/render.hpp"
#include "vs/api/router.hpp"
#include "vs/common/clock.hpp"

namespace vs::api {
namespace {

constexpr std::size_t default_alert_limit = 100;
constexpr std::size_t max_alert_limit = 1000;
constexpr std::size_t default_news_limit = 20;
constexpr std::size_t max_news_limit = 100;

constexpr std::string_view alert_types[] = {"VolumeSpikeAlert", "OiSpikeAlert", "UserAlertTrigger", "LiquidationAlert",
                                            "WhaleTradeAlert", "volume", "oi", "user", "liquidation", "whale"};

bool iequals(std::string_view a, std::string_view b) noexcept
{
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) {
               return lower(x) == lower(y);
           });
}

// ?limit=N: {true, N} (clamped to max), {true, def} when absent, {false, 0} when malformed.
std::pair<bool, std::size_t> limit_param(std::string_view query, std::size_t def, std::size_t max)
{
    const auto [present, raw] = query_param(query, "limit");
    if (!present) {
        return {true, def};
    }
    std::size_t n = 0;
    const auto [p, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), n);
    if (ec != std::errc{} || p != raw.data() + raw.size() || n == 0) {
        return {false, 0};
    }
    return {true, std::min(n, max)};
}

std::string_view as_view(const flatbuffers::String* s) noexcept
{
    return s == nullptr ? std::string_view{} : std::string_view{s->c_str(), s->size()};
}

}  // namespace

bool alert_type_matches(const alert_item& a, std::string_view filter) noexcept
{
    return filter.empty() || iequals(a.type, filter) || iequals(a.kind, filter);
}

std::string alert_event_message(const alert_item& a, std::string_view delivery_json)
{
    std::string out = "event: alert\ndata: ";
    out += a.json_open;
    if (!delivery_json.empty()) {
        out += ",\"delivery\":";
        out += delivery_json;
    }
    out += "}\n\n";
    return out;
}

std::string news_event_message(const news_item& n)
{
    std::string out = "event: news\ndata: ";
    out += n.json;
    out += "\n\n";
    return out;
}

void router::alerts(std::string_view query, response& out)
{
    const auto [limit_ok, limit] = limit_param(query, default_alert_limit, max_alert_limit);
    if (!limit_ok) {
        error_response(out, 400, fmt::format("limit: expected a number from 1 to {}", max_alert_limit));
        return;
    }
    std::string type;
    if (const auto [present, raw] = query_param(query, "type"); present && !raw.empty()) {
        if (!percent_decode(raw, type) ||
            std::none_of(std::begin(alert_types), std::end(alert_types),
                         [&](std::string_view t) { return iequals(t, type); })) {
            error_response(out, 400,
                           "Unknown alert type (VolumeSpikeAlert, OiSpikeAlert, UserAlertTrigger, LiquidationAlert, "
                           "WhaleTradeAlert or volume, oi, user, liquidation, whale)",
                           "type", raw.substr(0, 64));
            return;
        }
    }
    symbol_.clear();
    if (const auto [present, raw] = query_param(query, "symbol"); present && !raw.empty()) {
        if (!normalize_symbol(raw, symbol_)) {
            error_response(out, 400, "Malformed symbol", "symbol", raw.substr(0, 64));
            return;
        }
    }
    json_writer w{out.body};
    w.begin_object();
    w.key("alerts");
    w.begin_array();
    if (config_.feeds != nullptr) {
        for (const auto& a : config_.feeds->alerts(type, symbol_, limit)) {
            w.raw(a->json_open);   // opens the object, its members written
            if (const auto d = config_.feeds->delivery_json(a->id); !d.empty()) {
                out.body.append(",\"delivery\":");
                out.body.append(d);
            }
            out.body.push_back('}');
        }
    }
    w.end_array();
    w.end_object();
}

void router::news(std::string_view query, response& out)
{
    const auto [limit_ok, limit] = limit_param(query, default_news_limit, max_news_limit);
    if (!limit_ok) {
        error_response(out, 400, fmt::format("limit: expected a number from 1 to {}", max_news_limit));
        return;
    }
    json_writer w{out.body};
    w.begin_object();
    w.key("channels");
    w.begin_array();
    if (config_.feeds != nullptr) {
        for (const auto& [channel, posts] : config_.feeds->news(limit)) {
            w.begin_object();
            w.member("channel", channel);
            w.key("posts");
            w.begin_array();
            for (const auto& p : posts) {
                w.raw(p->json);
            }
            w.end_array();
            w.end_object();
        }
    }
    w.end_array();
    w.end_object();
}

void router::host_health(response& out)
{
    const auto now = realtime_ns();
    struct row {
        std::string name, channel, reason, version;
        bool alive = false, healthy = false, ready = false, stopping = false;
        std::int64_t updated_ms = 0, pid = 0, started_ms = 0;
        double age = 0;
    };
    std::vector<row> rows;
    source_.for_each_process([&](std::string_view channel, const bus::record_view& r) {
        const auto* p = verified_as<schema::ProcessStatus>(r.data);
        if (p == nullptr) {
            return;
        }
        row x;
        x.name = as_view(p->symbol());
        x.channel = channel;
        x.reason = as_view(p->reason());
        x.version = as_view(p->version());
        x.ready = p->ready();
        x.stopping = p->stopping();
        x.pid = p->pid();
        x.started_ms = p->started_ns() / 1'000'000;
        x.updated_ms = r.publish_ns / 1'000'000;
        x.age = age_seconds(now, r.publish_ns);
        // As vs-health: a status older than three intervals (at least 1 s each) plus 2 s
        // while the writer lives means the process's loop is stuck.
        const double max_age =
            3.0 * static_cast<double>(std::max<std::int64_t>(p->status_interval_ms(), 1000)) / 1000.0 + 2.0;
        const bool writer = source_.channel_writer_alive(channel);
        x.alive = writer && (x.stopping || x.age <= max_age);
        x.healthy = x.alive && p->ready() && p->healthy() && !x.stopping;
        if (!writer) {
            x.reason = fmt::format("not running (last status: {})", p->healthy() ? "healthy" : x.reason);
        } else if (!x.alive) {
            x.reason = fmt::format("its status is {:.1f} s old (published every {} ms): its loop is stuck", x.age,
                                   p->status_interval_ms());
        } else if (!p->ready() && x.reason.empty()) {
            x.reason = "not ready";
        }
        rows.push_back(std::move(x));
    });
    std::sort(rows.begin(), rows.end(), [](const row& a, const row& b) { return a.name < b.name; });
    bool healthy = !rows.empty();
    for (const auto& x : rows) {
        healthy = healthy && x.healthy;
    }
    json_writer w{out.body};
    w.begin_object();
    w.member("healthy", healthy);
    if (rows.empty()) {
        w.member("reason", "no process publishes its status on this bus");
    }
    w.key("processes");
    w.begin_array();
    for (const auto& x : rows) {
        w.begin_object();
        w.member("name", x.name);
        w.member("channel", x.channel);
        w.member("alive", x.alive);
        w.member("healthy", x.healthy);
        w.member("ready", x.ready);
        w.member("stopping", x.stopping);
        w.member("reason", x.reason);
        w.member("updated_ms", x.updated_ms);
        w.member("status_age_seconds", x.age);
        w.member("pid", x.pid);
        w.member("version", x.version);
        w.member("started_ms", x.started_ms);
        w.end_object();
    }
    w.end_array();
    // The host's REST weight budget and the outbox (the dashboard's process panel): null when
    // absent. Informational: neither changes `healthy`.
    w.key("restWeight");
    if (const auto rw = source_.rest_weight(); rw.present) {
        w.begin_object();
        w.member("used", rw.used);
        w.member("windowMs", rw.window_ms);
        w.member("pausedUntil", rw.pause_until_ms);
        w.member("bannedUntil", rw.ban_until_ms);
        w.member("requests", rw.requests);
        w.member("weight", rw.weight);
        w.member("rateLimited", rw.rate_limited);
        w.member("banned", rw.banned);
        w.end_object();
    } else {
        w.null();
    }
    w.key("outbox");
    if (auto ob = config_.feeds != nullptr ? config_.feeds->outbox_json() : std::string{}; !ob.empty()) {
        w.raw(ob);
    } else {
        w.null();
    }
    w.end_object();
    out.status = healthy ? 200 : 503;
}

}  // namespace vs::api
