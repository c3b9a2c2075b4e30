#include "deliverer.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <map>
#include <optional>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vs/common/backoff.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/redact.hpp"
#include "vs/common/shutdown.hpp"

namespace vs::deliver {
namespace json = boost::json;
using outbox::entry;
using outbox::target;

namespace {

std::int64_t mono_ms() noexcept { return monotonic_ns() / 1'000'000; }

std::optional<std::int64_t> retry_after_header(const net::http_response& res, std::int64_t now)
{
    if (auto ra = res.header_value("Retry-After")) {
        double s = 0;
        auto [p, ec] = std::from_chars(ra->data(), ra->data() + ra->size(), s);
        if (ec == std::errc{} && p != ra->data() && s >= 0) {
            return now + static_cast<std::int64_t>(std::ceil(s * 1000));
        }
    }
    return std::nullopt;
}

std::string trim_base(std::string s)
{
    while (!s.empty() && s.back() == '/') {
        s.pop_back();
    }
    return s;
}

// A target's answer, for a log line and the outbox: it may echo the request (a proxy's error
// page quoting the URL with the bot token), so it is redacted before it is cut.
std::string snippet(const std::string& body) { return redact::apply(body).substr(0, 200); }

}  // namespace

outbox::target_set deliver_config::targets() const
{
    outbox::target_set s;
    if (prod && !prod->base_url.empty()) {
        s.add(target::prod);
    }
    if (dev && !dev->base_url.empty()) {
        s.add(target::dev);
    }
    if (!telegram_token.empty() && !chat_id.empty()) {
        s.add(target::telegram);
    }
    if (!discord_webhook.empty()) {
        s.add(target::discord);
    }
    if (!alert_token.empty() && !alert_chat_id.empty()) {
        s.add(target::telegram_alerts);
    }
    if (nats && !nats->url.empty()) {
        s.add(target::nats);
    }
    return s;
}

std::string money(double usd)
{
    const double a = std::fabs(usd);
    if (a >= 1e9) {
        return fmt::format("${:.1f}B", usd / 1e9);
    }
    if (a >= 1e6) {
        return fmt::format("${:.1f}M", usd / 1e6);
    }
    if (a >= 1e3) {
        return fmt::format("${:.0f}K", usd / 1e3);
    }
    return fmt::format("${:.0f}", usd);
}

std::string compose(const std::vector<entry>& group, std::size_t max_chars)
{
    std::string out;
    if (group.size() == 1) {
        out = group.front().a.text;
    } else {
        // Sections by label, in order of first appearance; items keep their order.
        std::vector<std::string> labels;
        std::map<std::string, std::vector<const entry*>> by_label;
        for (const auto& e : group) {
            std::string label = e.a.label.empty() ? e.a.kind + " alerts" : e.a.label;
            if (by_label.find(label) == by_label.end()) {
                labels.push_back(label);
            }
            by_label[label].push_back(&e);
        }
        for (const auto& label : labels) {
            const auto& items = by_label[label];
            double total = 0;
            bool amounts = true;
            for (const auto* e : items) {
                total += e->a.amount_usd;
                amounts = amounts && e->a.amount_usd > 0;
            }
            if (!out.empty()) {
                out += "\n\n";
            }
            out += amounts ? fmt::format("{} {}, {} total:", items.size(), label, money(total))
                           : fmt::format("{} {}:", items.size(), label);
            for (const auto* e : items) {
                out += "\n";
                out += e->a.text;
            }
        }
    }
    if (out.size() > max_chars) {
        // Only a single oversized text reaches here (groups are sized to fit).
        out.resize(max_chars > 3 ? max_chars - 3 : max_chars);
        out += "...";
    }
    return out;
}

deliverer::deliverer(outbox::outbox& ob, deliver_config cfg) : ob_(ob), cfg_(std::move(cfg))
{
    // vs::cli::run registered them already when they came from the command line or the
    // environment; a config built in code is guarded too.
    for (const auto* ep : {cfg_.prod ? &*cfg_.prod : nullptr, cfg_.dev ? &*cfg_.dev : nullptr}) {
        if (ep != nullptr) {
            redact::add_secret(ep->api_key);
        }
    }
    if (cfg_.nats) {
        redact::add_secret(cfg_.nats->token);
    }
    redact::add_secret(cfg_.telegram_token);
    redact::add_secret(cfg_.alert_token);
    if (!cfg_.discord_webhook.empty()) {
        redact::add_secret_url(cfg_.discord_webhook);
    }
}

std::int64_t deliverer::last_beat_ms(target t) const noexcept
{
    // Relaxed: a liveness timestamp read by the watchdog loop; nothing else depends on it.
    return beats_[static_cast<int>(t)].load(std::memory_order_relaxed);
}

std::string with_body_api_key(std::string_view path, const std::string& body, const std::string& api_key)
{
    if (path.rfind(user_alert_routes, 0) != 0 || api_key.empty()) {
        return body;
    }
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object()) {
        return body;   // sent as is: the backend answers 400 and the entry is dead with that reason
    }
    v.as_object()["apiKey"] = api_key;
    return json::serialize(v);
}

bool already_fired(std::string_view path, int status, std::string_view body)
{
    return status == 400 && path == "/api/user-alerts-trigger/trigger" &&
           body.find("Alert is not active") != std::string_view::npos;
}

deliverer::outcome deliverer::send_backend(net::http_client& http, target t, const entry& e)
{
    const auto& ep = t == target::prod ? *cfg_.prod : *cfg_.dev;
    if (!e.a.backend) {
        return outcome{outcome::dead, "no backend payload", 0};
    }
    net::http_request req;
    req.method = e.a.backend->method.empty() ? "POST" : e.a.backend->method;
    req.url = trim_base(ep.base_url) + e.a.backend->path;
    if (!ep.api_key.empty()) {
        req.headers.push_back({"X-API-Key", ep.api_key});
    }
    req.headers.push_back({"Idempotency-Key", e.id + ":" + std::string{outbox::to_string(t)}});
    if (req.method != "GET") {
        req.body = with_body_api_key(e.a.backend->path, e.a.backend->body, ep.api_key);
        req.content_type = "application/json";
    }
    auto r = http.perform(req);
    outcome o;
    const std::int64_t now = realtime_ms();
    if (!r.ok()) {
        o.error = redact::apply(r.error_message);   // http_client redacts too; the key is ours to guard
        return o;
    }
    const int st = r.res.status;
    if ((st >= 200 && st < 300) || st == 409 || already_fired(e.a.backend->path, st, r.res.body)) {
        // 409: the backend already has this idempotency key (a resend after a crash).
        o.k = outcome::delivered;
        return o;
    }
    o.error = fmt::format("HTTP {}: {}", st, snippet(r.res.body));
    if (st == 429 || st == 503) {
        o.retry_after_ms = retry_after_header(r.res, now).value_or(0);
    }
    // Permanent refusals of this payload: sending it again cannot succeed. Auth errors and
    // 404 stay retryable: they are configuration mistakes an operator fixes.
    if (st == 400 || st == 413 || st == 422) {
        o.k = outcome::dead;
    }
    return o;
}

deliverer::outcome deliverer::send_chat(net::http_client& http, target t, const std::string& text)
{
    net::http_request req;
    req.method = "POST";
    req.content_type = "application/json";
    if (t == target::telegram || t == target::telegram_alerts) {
        const bool alerts = t == target::telegram_alerts;
        req.url = trim_base(cfg_.telegram_api) + "/bot" + (alerts ? cfg_.alert_token : cfg_.telegram_token) + "/sendMessage";
        req.body = json::serialize(json::object{
            {"chat_id", alerts ? cfg_.alert_chat_id : cfg_.chat_id}, {"text", text}, {"disable_web_page_preview", true}});
    } else {
        req.url = cfg_.discord_webhook;
        req.body = json::serialize(json::object{{"content", text}});
    }
    auto r = http.perform(req);
    outcome o;
    const std::int64_t now = realtime_ms();
    if (!r.ok()) {
        // The message quotes the URL (/bot<token>/sendMessage, the webhook's token).
        o.error = redact::apply(r.error_message);
        return o;
    }
    const int st = r.res.status;
    if (st >= 200 && st < 300) {
        o.k = outcome::delivered;
        return o;
    }
    o.error = fmt::format("HTTP {}: {}", st, snippet(r.res.body));
    if (st == 429) {
        // Telegram: {"ok":false,"error_code":429,"parameters":{"retry_after":N}} (seconds);
        // Discord: {"retry_after": 1.5} (seconds) and a Retry-After header.
        boost::system::error_code ec;
        auto v = json::parse(r.res.body, ec);
        double secs = -1;
        if (!ec && v.is_object()) {
            const auto& ob = v.as_object();
            const json::value* ra = nullptr;
            if (auto* p = ob.if_contains("parameters"); p != nullptr && p->is_object()) {
                ra = p->as_object().if_contains("retry_after");
            }
            if (ra == nullptr) {
                ra = ob.if_contains("retry_after");
            }
            if (ra != nullptr && ra->is_number()) {
                secs = ra->to_number<double>();
            }
        }
        o.retry_after_ms = secs >= 0 ? now + static_cast<std::int64_t>(std::ceil(secs * 1000))
                                     : retry_after_header(r.res, now).value_or(now + 1000);
        return o;
    }
    // Dead only when the message itself is refused ("message is too long", "message text is
    // empty"); "chat not found" is a 400 too, but that is configuration: keep retrying.
    if (st == 413 || (st == 400 && (t == target::discord || r.res.body.find("message") != std::string::npos))) {
        o.k = outcome::dead;
    }
    return o;
}

deliverer::outcome deliverer::send_nats(vs::nats::connection& nc, const entry& e)
{
    outcome o;
    if (!e.a.bus || e.a.bus->bytes.empty()) {
        o.k = outcome::dead;
        o.error = "no bus record";
        return o;
    }
    const auto& b = *e.a.bus;
    vs::nats::record_message m;
    m.subject = vs::nats::subject(b.channel, b.type, b.symbol);
    m.type = b.type;
    m.data = std::as_bytes(std::span{b.bytes.data(), b.bytes.size()});
    m.schema_hash = b.schema_hash;
    m.id = vs::nats::alert_msg_id(e.id);
    try {
        auto msg = vs::nats::make_message(m);
        const bool dup = nc.publish_sync(msg.get(), cfg_.nats_timeout);
        spdlog::debug("nats: {} -> {}{}", e.id, m.subject, dup ? " (duplicate: already in the stream)" : "");
        o.k = outcome::delivered;
    } catch (const std::exception& ex) {
        o.error = redact::apply(ex.what());
        // No stream takes the subject (a new server, or streams deleted): create them, and the
        // retry finds them. Only while connected: otherwise it is the outage, not the streams.
        if (nc.connected() && o.error.find("esponders") != std::string::npos) {
            try {
                nc.ensure_streams();
                spdlog::info("nats: no stream took {}: streams created or updated", m.subject);
                o.retry_after_ms = realtime_ms();   // at once
            } catch (const std::exception& se) {
                o.error += std::string{"; creating the streams: "} + redact::apply(se.what());
            }
        }
    }
    return o;
}

bool deliverer::dead_letter_if_expired(target t, std::string_view name, const entry& head, std::int64_t now)
{
    const auto* hs = head.find(t);
    const std::int64_t dead_after = head.a.dead_after.count() > 0 ? head.a.dead_after.count()
                                                                   : cfg_.dead_after.count();
    const std::int64_t since = std::max(head.created_ms, hs != nullptr ? hs->requeued_ms : 0);
    if (hs != nullptr && now - since <= dead_after) {
        return false;
    }
    std::string reason = fmt::format("expired after {} attempts in {} s{}{}", hs ? hs->attempts : 0,
                                     (now - since) / 1000, hs && !hs->last_error.empty() ? "; last error: " : "",
                                     hs ? hs->last_error : "");
    spdlog::warn("{}: alert {} ({}) is dead: {}", name, head.id, head.a.kind, reason);
    ob_.mark_dead(t, head.id, reason, now);
    return true;
}

void deliverer::run_nats()
{
    const target t = target::nats;
    auto& beat = beats_[static_cast<int>(t)];
    backoff retry{backoff_config{.min_delay = cfg_.backoff_base, .max_delay = cfg_.backoff_max,
                                 .jitter_min = 0.5, .jitter_max = 1.0}};
    const auto backoff_ms = [&retry](int attempts) {
        const auto d = retry.delay(static_cast<unsigned>(std::max(attempts, 0)));
        return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    auto opts = *cfg_.nats;
    if (opts.name.empty()) {
        opts.name = "vs-deliver";
    }
    // Connects in the background when the server is not there yet; reconnects forever.
    vs::nats::connection_callbacks cb;
    cb.on_connected = [] { spdlog::info("nats: connected"); };
    cb.on_disconnected = [] { spdlog::warn("nats: disconnected"); };
    cb.on_reconnected = [] { spdlog::info("nats: reconnected"); };
    // A setup that cannot work (TLS or creds file missing or unreadable) is an operator's
    // error: logged, shown by the health probe, retried every 30 s, and the other targets
    // go on delivering (the alerts wait in the outbox for this one).
    std::optional<vs::nats::connection> conn;
    while (!conn && !shutdown::requested()) {
        beat.store(mono_ms(), std::memory_order_relaxed);
        try {
            conn.emplace(opts, cb);
            const std::lock_guard lock{nats_error_mutex_};
            nats_setup_error_.clear();
        } catch (const std::exception& ex) {
            const std::string why = redact::apply(ex.what());
            spdlog::error("nats: cannot set up the connection to {}: {}; the other targets go on, retry in 30 s",
                          vs::nats::describe(opts), why);
            {
                const std::lock_guard lock{nats_error_mutex_};
                nats_setup_error_ = why;
            }
            for (int i = 0; i < 30 && !shutdown::requested(); ++i) {
                beat.store(mono_ms(), std::memory_order_relaxed);
                shutdown::wait_for(std::chrono::seconds{1});
            }
        }
    }
    if (!conn) {
        return;
    }
    auto& nc = *conn;
    spdlog::info("nats: publishing alerts to {}", vs::nats::describe(opts));
    while (!shutdown::requested()) {
        beat.store(mono_ms(), std::memory_order_relaxed);
        std::vector<entry> q;
        try {
            q = ob_.queue(t, 1);
        } catch (const std::exception& ex) {
            spdlog::error("nats: cannot read the outbox: {}", redact::apply(ex.what()));
            shutdown::wait_for(std::chrono::seconds{1});
            continue;
        }
        if (q.empty()) {
            shutdown::wait_for(cfg_.poll);
            continue;
        }
        std::int64_t now = realtime_ms();
        const entry& head = q.front();
        const auto* hs = head.find(t);
        if (dead_letter_if_expired(t, "nats", head, now)) {
            continue;
        }
        if (hs->next_attempt_ms > now) {
            shutdown::wait_for(std::min(std::chrono::milliseconds{hs->next_attempt_ms - now}, cfg_.poll));
            continue;
        }
        auto o = send_nats(nc, head);
        now = realtime_ms();
        if (o.k == outcome::delivered) {
            ob_.mark_delivered(t, {head.id}, now);
        } else if (o.k == outcome::dead) {
            spdlog::error("nats: alert {} ({}) cannot be published, dead: {}", head.id, head.a.kind, o.error);
            ob_.mark_dead(t, head.id, "rejected: " + o.error, now);
        } else {
            const std::int64_t next = o.retry_after_ms > 0 ? o.retry_after_ms : now + backoff_ms(hs->attempts);
            spdlog::warn("nats: {} attempt {} failed ({}); next in {} ms", head.id, hs->attempts + 1, o.error,
                         next - now);
            ob_.mark_failed(t, head.id, o.error, next);
        }
    }
}

std::string deliverer::nats_setup_error() const
{
    const std::lock_guard lock{nats_error_mutex_};
    return nats_setup_error_;
}

void deliverer::run_target(target t)
{
    if (t == target::nats) {
        run_nats();
        return;
    }
    net::http_client http{cfg_.http};
    const bool telegram = t == target::telegram || t == target::telegram_alerts;
    const bool chat = telegram || t == target::discord;
    const int per_window = telegram ? cfg_.telegram_per_window : cfg_.discord_per_window;
    const std::size_t max_chars = telegram ? cfg_.telegram_max_chars : cfg_.discord_max_chars;
    const std::string name{outbox::to_string(t)};
    auto& beat = beats_[static_cast<int>(t)];
    // "Equal jitter": half fixed, half random, so retries of many alerts spread out while the
    // delay still grows. The attempt counts live in the outbox, with each alert.
    backoff retry{backoff_config{.min_delay = cfg_.backoff_base, .max_delay = cfg_.backoff_max,
                                 .jitter_min = 0.5, .jitter_max = 1.0}};
    const auto backoff_ms = [&retry](int attempts) {
        const auto d = retry.delay(static_cast<unsigned>(std::max(attempts, 0)));
        return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };

    // Sends of the last window, restored from the outbox so a restart cannot overshoot.
    std::deque<std::int64_t> recent;
    if (chat) {
        for (auto ms : ob_.counters(t).recent_sends_ms) {
            recent.push_back(ms);
        }
        // Entries left `sending` by a previous run had an unknown outcome.
        std::vector<std::string> uncertain;
        for (const auto& e : ob_.queue(t, 100'000)) {
            if (const auto* s = e.find(t); s != nullptr && s->st == outbox::state::sending) {
                uncertain.push_back(e.id);
            }
        }
        if (!uncertain.empty()) {
            if (cfg_.uncertain == uncertain_policy::resend) {
                spdlog::warn("{}: {} entries were being sent when the last run stopped; sending them again "
                             "(at-least-once)", name, uncertain.size());
                ob_.reset_sending(t, uncertain);
            } else {
                spdlog::warn("{}: {} entries were being sent when the last run stopped; marking them dead "
                             "(at-most-once)", name, uncertain.size());
                for (const auto& id : uncertain) {
                    ob_.mark_dead(t, id, "outcome unknown: stopped while sending", realtime_ms());
                }
            }
            ob_.count_uncertain(t, uncertain.size());
        }
    }
    bool no_coalesce_once = false;
    std::int64_t blocked_until = 0;

    while (!shutdown::requested()) {
        // Relaxed: liveness timestamp for the watchdog (see last_beat_ms).
        beat.store(mono_ms(), std::memory_order_relaxed);
        std::vector<entry> q;
        try {
            q = ob_.queue(t, chat ? 500 : 1);
        } catch (const std::exception& ex) {
            spdlog::error("{}: cannot read the outbox: {}", name, redact::apply(ex.what()));
            shutdown::wait_for(std::chrono::seconds{1});
            continue;
        }
        if (q.empty()) {
            shutdown::wait_for(cfg_.poll);
            continue;
        }
        std::int64_t now = realtime_ms();
        // Dead-letter the expired head(s).
        const entry& head = q.front();
        const auto* hs = head.find(t);
        if (dead_letter_if_expired(t, name, head, now)) {
            continue;
        }
        const std::int64_t wait_until = std::max(hs->next_attempt_ms, blocked_until);
        if (wait_until > now) {
            shutdown::wait_for(std::min(std::chrono::milliseconds{wait_until - now}, cfg_.poll));
            continue;
        }

        if (!chat) {
            auto o = send_backend(http, t, head);
            now = realtime_ms();
            if (o.k == outcome::delivered) {
                ob_.mark_delivered(t, {head.id}, now);
                spdlog::debug("{}: delivered {} ({})", name, head.id, head.a.kind);
            } else if (o.k == outcome::dead) {
                spdlog::error("{}: {} {} rejected, dead: {}", name,
                              head.a.backend ? head.a.backend->path : std::string{"(no payload)"}, head.id, o.error);
                ob_.mark_dead(t, head.id, "rejected: " + o.error, now);
            } else {
                const std::int64_t next = std::max(now + backoff_ms(hs->attempts), o.retry_after_ms);
                spdlog::warn("{}: {} attempt {} failed ({}); next in {} ms", name, head.id, hs->attempts + 1,
                             o.error, next - now);
                ob_.mark_failed(t, head.id, o.error, next);
            }
            continue;
        }

        // Telegram / Discord: rate limit per chat, coalescing a backlog.
        while (!recent.empty() && recent.front() <= now - cfg_.rate_window.count()) {
            recent.pop_front();
        }
        const int slots = per_window - static_cast<int>(recent.size());
        if (slots <= 0) {
            const std::int64_t free_at = recent.front() + cfg_.rate_window.count();
            shutdown::wait_for(std::min(std::chrono::milliseconds{std::max<std::int64_t>(free_at - now, 1)},
                                        cfg_.poll));
            continue;
        }
        std::vector<entry> ready;
        for (auto& e : q) {
            const auto* s = e.find(t);
            if (s == nullptr || s->next_attempt_ms > now) {
                break;
            }
            ready.push_back(std::move(e));
        }
        // Plenty of room: alerts go out one by one as they come. Scarce room (the backlog
        // exceeds what the window can take one by one while keeping half of it in reserve):
        // spread the remaining sends over the time until the oldest send leaves the window,
        // and let each send carry everything that accumulated meanwhile. The hard cap above
        // holds either way; this only decides how the cap is spent.
        const int reserve = per_window / 2;
        std::vector<entry> group;
        if (ready.size() <= static_cast<std::size_t>(std::max(0, slots - reserve)) || no_coalesce_once) {
            group.push_back(std::move(ready.front()));
        } else {
            if (!recent.empty()) {
                const std::int64_t oldest_leaves = recent.front() + cfg_.rate_window.count();
                const std::int64_t next_ok = recent.back() + (oldest_leaves - recent.back()) / slots;
                if (now < next_ok) {
                    shutdown::wait_for(std::min(std::chrono::milliseconds{next_ok - now}, cfg_.poll));
                    continue;
                }
            }
            for (auto& e : ready) {
                group.push_back(std::move(e));
                if (group.size() > 1 && compose(group, SIZE_MAX).size() > max_chars) {
                    group.pop_back();
                    break;
                }
            }
        }
        no_coalesce_once = false;
        std::vector<std::string> ids;
        for (const auto& e : group) {
            ids.push_back(e.id);
        }
        const std::string text = compose(group, max_chars);
        ob_.mark_sending(t, ids);
        const std::int64_t sent_at = realtime_ms();
        auto o = send_chat(http, t, text);
        now = realtime_ms();
        if (o.k == outcome::delivered) {
            recent.push_back(sent_at);
            ob_.mark_delivered(t, ids, now, 1, sent_at);
            if (ids.size() > 1) {
                spdlog::info("{}: coalesced {} alerts into one message ({} of {} sends left in the window)", name,
                             ids.size(), slots - 1, per_window);
            }
            continue;
        }
        ob_.reset_sending(t, ids);
        if (o.k == outcome::dead) {
            if (ids.size() > 1) {
                no_coalesce_once = true;  // find out which alert the target refuses
                continue;
            }
            spdlog::error("{}: message {} rejected, dead: {}", name, ids.front(), o.error);
            ob_.mark_dead(t, ids.front(), "rejected: " + o.error, now);
            continue;
        }
        std::int64_t next = now + backoff_ms(group.front().find(t)->attempts);
        if (o.retry_after_ms > 0) {
            next = o.retry_after_ms;        // the target said exactly when
            blocked_until = o.retry_after_ms;
            spdlog::warn("{}: rate limited (429), waiting {} ms as told", name, o.retry_after_ms - now);
        } else {
            spdlog::warn("{}: send failed ({}); next in {} ms", name, o.error, next - now);
        }
        for (const auto& id : ids) {
            ob_.mark_failed(t, id, o.error, next);
        }
    }
}

}  // namespace vs::deliver
