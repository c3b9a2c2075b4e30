#include "vs/replay/receiver.hpp"

#include <deque>
#include <map>
#include <optional>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "vs/common/clock.hpp"

namespace vs::replay {
namespace {

std::string jstr(std::string_view s) { return boost::json::serialize(boost::json::string(s.begin(), s.end())); }

http_reply json_reply(unsigned status, std::string body)
{
    http_reply r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

http_reply control_ok(const std::string& fields = {})
{
    return json_reply(200, fields.empty() ? std::string{"{\"ok\":true}"} : "{\"ok\":true," + fields + "}");
}

http_reply control_error(unsigned status, std::string_view msg)
{
    return json_reply(status, "{\"ok\":false,\"error\":" + jstr(msg) + "}");
}

// The backend's error shape (Hono): {"error":"..."}.
http_reply backend_error(unsigned status, std::string_view msg)
{
    return json_reply(status, "{\"error\":" + jstr(msg) + "}");
}

std::optional<double> number(const boost::json::object& o, std::string_view key)
{
    const auto* v = o.if_contains(key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (v->is_double()) {
        return v->get_double();
    }
    if (v->is_int64()) {
        return static_cast<double>(v->get_int64());
    }
    if (v->is_uint64()) {
        return static_cast<double>(v->get_uint64());
    }
    return std::nullopt;
}

const boost::json::string* string_of(const boost::json::object& o, std::string_view key)
{
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? &v->get_string() : nullptr;
}

std::optional<double> to_double(const std::string* s)
{
    if (s == nullptr || s->empty()) {
        return std::nullopt;
    }
    char* end = nullptr;
    double v = std::strtod(s->c_str(), &end);
    if (end == nullptr || *end != '\0' || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

std::string iso_ms(std::int64_t ms) { return vs::utc_iso8601(ms * 1'000'000); }

}  // namespace

struct receiver::impl {
    struct record {
        std::int64_t seq = 0;
        std::int64_t time_ms = 0;
        std::string target;
        std::string method;
        std::string path;
        unsigned status = 0;
        std::string idempotency_key;
        std::string body;
    };
    struct user_alert {
        std::string id, user, symbol, type, delivery, tier;
        double threshold = 0;
        std::optional<double> last;
        std::int64_t last_at_ms = 0;
        bool active = true;
        std::int64_t triggered_ms = 0;
    };
    struct failure {
        unsigned status = 0;
        long long count = 0;        // requests left; -1: until `until_ms`
        std::int64_t until_ms = 0;
    };

    explicit impl(receiver_config c) : cfg(std::move(c)) {}

    http_reply backend(const request_target& t, const received_request& req, std::int64_t now_ms);
    http_reply telegram(const request_target& t, const received_request& req, std::int64_t now_ms);
    bool key_ok(const received_request& req) const
    {
        return cfg.api_key.empty() || req.api_key_header == cfg.api_key;
    }
    void remember(record r)
    {
        record_bytes += r.body.size();
        records.push_back(std::move(r));
        while (!records.empty() &&
               (records.size() > cfg.max_records || record_bytes > cfg.max_record_bytes)) {
            record_bytes -= records.front().body.size();
            records.pop_front();
        }
    }
    std::optional<http_reply> injected(const std::string& target, std::int64_t now_ms)
    {
        auto it = failures.find(target);
        if (it == failures.end()) {
            return std::nullopt;
        }
        auto& f = it->second;
        const bool on = f.count > 0 || (f.count < 0 && now_ms < f.until_ms);
        if (!on) {
            failures.erase(it);
            return std::nullopt;
        }
        if (f.count > 0) {
            --f.count;
        }
        if (target == "telegram") {
            if (f.status == 429) {
                return json_reply(429, R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}})");
            }
            return json_reply(f.status, fmt::format(R"({{"ok":false,"error_code":{},"description":"injected failure"}})", f.status));
        }
        return backend_error(f.status, "injected failure");
    }

    receiver_config cfg;
    std::deque<record> records;
    std::size_t record_bytes = 0;
    std::int64_t next_seq = 1;
    std::map<std::string, long long, std::less<>> per_target, per_path;
    std::vector<user_alert> alerts;    // seeding order
    std::map<std::string, failure, std::less<>> failures;
    std::string universe_json;         // the last liquid-universe update, as received
    std::int64_t next_alert_id = 1;    // backend row ids
    std::int64_t next_message_id = 1;  // Telegram message ids
};

receiver::receiver(receiver_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

receiver::~receiver() = default;

bool receiver::is_receiver_path(const std::string& path)
{
    return path.rfind("/api/", 0) == 0 || path == "/health" || path.rfind("/bot", 0) == 0;
}

bool receiver::is_control_action(std::string_view action)
{
    return action == "received" || action == "received/clear" || action == "status" || action == "user_alert" ||
           action == "user_alerts" || action == "fail";
}

http_reply receiver::handle(const request_target& t, const received_request& req, std::int64_t now_ms)
{
    auto& m = *impl_;
    const bool bot = t.path.rfind("/bot", 0) == 0;
    impl::record r;
    r.seq = m.next_seq++;
    r.time_ms = now_ms;
    r.target = bot ? "telegram" : "backend";
    r.method = req.method;
    // The token is part of a Bot API path: recorded as /bot<redacted>/<method>.
    if (bot) {
        const auto slash = t.path.find('/', 4);
        r.path = "/bot<token>" + (slash == std::string::npos ? std::string{} : t.path.substr(slash));
    } else {
        r.path = t.path;
    }
    r.idempotency_key = req.idempotency_key;
    r.body = req.body;
    http_reply reply;
    if (auto f = m.injected(r.target, now_ms)) {
        reply = std::move(*f);
    } else {
        reply = bot ? m.telegram(t, req, now_ms) : m.backend(t, req, now_ms);
    }
    r.status = reply.status;
    ++m.per_target[r.target];
    ++m.per_path[r.path];
    m.remember(std::move(r));
    return reply;
}

http_reply receiver::impl::telegram(const request_target& t, const received_request& req, std::int64_t now_ms)
{
    const auto slash = t.path.find('/', 4);
    const std::string token = t.path.substr(4, slash == std::string::npos ? std::string::npos : slash - 4);
    const std::string method = slash == std::string::npos ? std::string{} : t.path.substr(slash + 1);
    if (token.empty() || (!cfg.telegram_token.empty() && token != cfg.telegram_token)) {
        return json_reply(401, R"({"ok":false,"error_code":401,"description":"Unauthorized"})");
    }
    if (method.empty()) {
        return json_reply(404, R"({"ok":false,"error_code":404,"description":"Not Found"})");
    }
    if (method != "sendMessage") {
        return json_reply(200, R"({"ok":true,"result":true})");
    }
    boost::json::error_code ec;
    auto v = boost::json::parse(req.body, ec);
    if (ec || !v.is_object()) {
        return json_reply(400, R"({"ok":false,"error_code":400,"description":"Bad Request: message text is empty"})");
    }
    const auto& o = v.get_object();
    const auto* chat = o.if_contains("chat_id");
    const auto* text = string_of(o, "text");
    if (chat == nullptr || chat->is_null()) {
        return json_reply(400, R"({"ok":false,"error_code":400,"description":"Bad Request: chat_id is empty"})");
    }
    if (text == nullptr || text->empty()) {
        return json_reply(400, R"({"ok":false,"error_code":400,"description":"Bad Request: message text is empty"})");
    }
    if (text->size() > 4096) {
        return json_reply(400, R"({"ok":false,"error_code":400,"description":"Bad Request: message is too long"})");
    }
    boost::json::object result{{"message_id", next_message_id++},
                               {"chat", boost::json::object{{"id", *chat}, {"type", "channel"}}},
                               {"date", now_ms / 1000},
                               {"text", *text}};
    return json_reply(200, boost::json::serialize(boost::json::object{{"ok", true}, {"result", std::move(result)}}));
}

http_reply receiver::impl::backend(const request_target& t, const received_request& req, std::int64_t now_ms)
{
    const std::string& p = t.path;
    const bool get = req.method == "GET";
    if (p == "/health") {
        return json_reply(200, R"({"status":"ok"})");
    }
    if (p == "/api/market/open-interest/liquid-universe" && get) {   // no auth
        boost::json::error_code ec;
        auto v = boost::json::parse(universe_json.empty() ? std::string{"{}"} : universe_json, ec);
        boost::json::array symbols;
        std::string updated;
        if (!ec && v.is_object()) {
            if (const auto* s = v.get_object().if_contains("symbols"); s != nullptr && s->is_array()) {
                symbols = s->get_array();
            }
            if (const auto* u = string_of(v.get_object(), "updatedAt")) {
                updated = std::string(*u);
            }
        }
        const auto n = symbols.size();
        boost::json::object out{{"updatedAt", updated.empty() ? boost::json::value{} : boost::json::value(updated)},
                                {"enterThreshold", 4'000'000},
                                {"exitThreshold", 2'000'000},
                                {"symbols", std::move(symbols)},
                                {"totalSymbols", n}};
        return json_reply(200, boost::json::serialize(out));
    }
    const bool user_route = p.rfind("/api/user-alerts-trigger/", 0) == 0;
    if (p == "/api/user-alerts-trigger/active" && get) {
        const auto* k = t.param("apiKey");
        if (!cfg.api_key.empty() && (k == nullptr || *k != cfg.api_key)) {
            return backend_error(401, "Unauthorized");
        }
        boost::json::array list;
        for (const auto& a : alerts) {
            if (!a.active) {
                continue;
            }
            list.push_back(boost::json::object{
                {"id", a.id},
                {"userId", a.user},
                {"symbol", a.symbol},
                {"alertType", a.type},
                {"threshold", a.threshold},
                {"lastCheckedValue", a.last ? boost::json::value(*a.last) : boost::json::value{}},
                {"lastCheckedAt", a.last_at_ms != 0 ? boost::json::value(iso_ms(a.last_at_ms)) : boost::json::value{}},
                {"deliveryMethod", a.delivery},
                {"userTier", a.tier}});
        }
        return json_reply(200, boost::json::serialize(boost::json::object{{"alerts", std::move(list)}}));
    }
    if (get) {
        if (!key_ok(req)) {
            return backend_error(401, "Unauthorized");
        }
        if (p == "/api/market/open-interest/snapshot") {
            const auto* s = t.param("symbol");
            return json_reply(200, boost::json::serialize(boost::json::object{
                                       {"found", false}, {"symbol", s == nullptr ? std::string{} : *s}}));
        }
        return backend_error(404, "Not Found");
    }
    if (req.method != "POST") {
        return backend_error(404, "Not Found");
    }
    // The user-alert routes carry the key in the body; the others in X-API-Key.
    if (!user_route && !key_ok(req)) {
        return backend_error(401, "Unauthorized");
    }
    boost::json::error_code ec;
    auto v = boost::json::parse(req.body, ec);
    if (ec) {
        return backend_error(500, "Internal Server Error");   // the backend answers bad JSON with 500
    }
    if (!v.is_object()) {
        return json_reply(400, R"({"error":"Invalid request body","details":"expected an object"})");
    }
    const auto& o = v.get_object();
    auto invalid = [](std::string_view details) {
        return json_reply(400, "{\"error\":\"Invalid request body\",\"details\":" + jstr(details) + "}");
    };
    if (user_route) {
        const auto* k = string_of(o, "apiKey");
        if (!cfg.api_key.empty() && (k == nullptr || *k != cfg.api_key)) {
            return backend_error(401, "Unauthorized");
        }
        const auto* id = string_of(o, "alertId");
        if (id == nullptr) {
            return invalid("alertId is required");
        }
        user_alert* a = nullptr;
        for (auto& x : alerts) {
            if (x.id == *id) {
                a = &x;
            }
        }
        if (p == "/api/user-alerts-trigger/trigger") {
            if (!number(o, "currentValue") || !number(o, "previousValue") || o.if_contains("crossedUp") == nullptr ||
                !o.at("crossedUp").is_bool() || string_of(o, "symbol") == nullptr) {
                return invalid("symbol, currentValue, previousValue and crossedUp are required");
            }
            if (a == nullptr) {
                return backend_error(404, "Alert not found");
            }
            if (!a->active) {
                return backend_error(400, "Alert is not active");
            }
            a->active = false;
            a->triggered_ms = now_ms;
            a->last = number(o, "currentValue");
            a->last_at_ms = now_ms;
            return json_reply(200, "{\"success\":true,\"alertId\":" + jstr(a->id) + "}");
        }
        if (p == "/api/user-alerts-trigger/update-checked") {
            auto value = number(o, "lastCheckedValue");
            if (!value) {
                return invalid("lastCheckedValue must be a number");
            }
            if (a == nullptr) {
                return backend_error(500, "Internal Server Error");   // Prisma's update of a missing row
            }
            a->last = value;
            a->last_at_ms = now_ms;
            return json_reply(200, R"({"success":true})");
        }
        return backend_error(404, "Not Found");
    }
    if (p == "/api/volume-alerts/ingest") {
        if (string_of(o, "symbol") == nullptr || !number(o, "currentVolume") || !number(o, "previousVolume") ||
            !number(o, "volumeRatio")) {
            return invalid("symbol, currentVolume, previousVolume and volumeRatio are required");
        }
        for (const char* k : {"price", "fundingRate", "priceChange", "oiChange"}) {
            if (const auto* x = o.if_contains(k); x != nullptr && !x->is_number()) {
                return invalid(std::string(k) + " must be a number when present (never null)");
            }
        }
        const auto* ts = string_of(o, "timestamp");
        if (ts == nullptr || ts->empty() || ts->back() != 'Z') {
            return invalid("timestamp must be an ISO-8601 UTC date ending in Z");
        }
        if (const auto* at = string_of(o, "alertType");
            at != nullptr && *at != "SPIKE" && *at != "HALF_UPDATE" && *at != "FULL_UPDATE") {
            return invalid("alertType must be SPIKE, HALF_UPDATE or FULL_UPDATE");
        }
        return json_reply(200, fmt::format(R"({{"success":true,"alertId":{}}})", next_alert_id++));
    }
    if (p == "/api/open-interest-alerts/ingest") {
        const auto* dir = string_of(o, "direction");
        if (string_of(o, "symbol") == nullptr || dir == nullptr || !number(o, "baseline") || !number(o, "current")) {
            return backend_error(400, "symbol, direction, baseline and current are required");
        }
        if (*dir != "UP" && *dir != "DOWN") {
            return backend_error(500, "Internal Server Error");
        }
        return json_reply(200, fmt::format(R"({{"success":true,"alertId":{}}})", next_alert_id++));
    }
    if (p == "/api/market/open-interest/ingest") {
        const auto* data = o.if_contains("data");
        if (data == nullptr || !data->is_array()) {
            return invalid("data must be an array");
        }
        std::size_t n = 0;
        for (const auto& item : data->get_array()) {
            if (item.is_object() && string_of(item.get_object(), "symbol") != nullptr) {
                ++n;
            }
        }
        return json_reply(200, fmt::format(R"({{"success":true,"inserted":{},"cached":{}}})", n, n));
    }
    if (p == "/api/market/open-interest/liquid-universe/update") {
        const auto* symbols = o.if_contains("symbols");
        if (symbols == nullptr || !symbols->is_array()) {
            return invalid("symbols must be an array");
        }
        universe_json = req.body;
        return json_reply(200, fmt::format(R"({{"success":true,"count":{}}})", symbols->get_array().size()));
    }
    if (p == "/api/telegram/ingest") {
        const auto* ch = o.if_contains("channel");
        const auto* msgs = o.if_contains("messages");
        if (ch == nullptr || !ch->is_object() || msgs == nullptr || !msgs->is_array()) {
            return invalid("channel (object) and messages (array) are required");
        }
        return json_reply(200, fmt::format(R"({{"success":true,"processed":{}}})", msgs->get_array().size()));
    }
    return backend_error(404, "Not Found");
}

http_reply receiver::control(std::string_view action, const request_target& t, bool is_post, std::int64_t now_ms)
{
    auto& m = *impl_;
    if (action == "received" && !is_post) {
        std::int64_t since = 0;
        if (const auto* s = t.param("since")) {
            auto v = to_double(s);
            if (!v || *v < 0) {
                return control_error(400, "since must be a number >= 0");
            }
            since = static_cast<std::int64_t>(*v);
        }
        std::size_t limit = 1000;
        if (const auto* l = t.param("limit")) {
            auto v = to_double(l);
            if (!v || *v < 1) {
                return control_error(400, "limit must be >= 1");
            }
            limit = static_cast<std::size_t>(*v);
        }
        const auto* target = t.param("target");
        const auto* prefix = t.param("path");
        std::string out = "{\"ok\":true,\"last_seq\":" + std::to_string(m.next_seq - 1) + ",\"received\":[";
        std::size_t n = 0;
        for (const auto& r : m.records) {
            if (r.seq <= since || (target != nullptr && r.target != *target) ||
                (prefix != nullptr && r.path.rfind(*prefix, 0) != 0)) {
                continue;
            }
            if (n == limit) {
                break;
            }
            boost::json::error_code ec;
            auto body = r.body.empty() ? boost::json::value{} : boost::json::parse(r.body, ec);
            out += fmt::format(
                "{}{{\"seq\":{},\"time_ms\":{},\"target\":{},\"method\":{},\"path\":{},\"status\":{},"
                "\"idempotency_key\":{},\"body\":{}}}",
                n == 0 ? "" : ",", r.seq, r.time_ms, jstr(r.target), jstr(r.method), jstr(r.path), r.status,
                jstr(r.idempotency_key), ec ? jstr(r.body) : boost::json::serialize(body));
            ++n;
        }
        out += "]}";
        return json_reply(200, std::move(out));
    }
    if (action == "status" && !is_post) {
        return json_reply(200, "{\"ok\":true," + stats_json() + "}");
    }
    if (action == "user_alerts" && !is_post) {
        boost::json::array list;
        for (const auto& a : m.alerts) {
            list.push_back(boost::json::object{
                {"id", a.id}, {"userId", a.user}, {"symbol", a.symbol}, {"alertType", a.type},
                {"threshold", a.threshold}, {"userTier", a.tier}, {"active", a.active},
                {"lastCheckedValue", a.last ? boost::json::value(*a.last) : boost::json::value{}},
                {"triggeredMs", a.triggered_ms}});
        }
        return json_reply(200, boost::json::serialize(boost::json::object{{"ok", true}, {"alerts", std::move(list)}}));
    }
    if (!is_post) {
        return control_error(405, "use POST for /_control/" + std::string(action));
    }
    if (action == "received/clear") {
        m.records.clear();
        m.record_bytes = 0;
        return control_ok(fmt::format("\"last_seq\":{}", m.next_seq - 1));
    }
    if (action == "user_alert") {
        const auto* symbol = t.param("symbol");
        const auto* type = t.param("type");
        auto threshold = to_double(t.param("threshold"));
        if (symbol == nullptr || symbol->empty() || type == nullptr ||
            (*type != "PRICE_CROSS" && *type != "FUNDING_CROSS" && *type != "OI_CROSS") || !threshold ||
            *threshold <= 0) {
            return control_error(400, "need symbol, type PRICE_CROSS|FUNDING_CROSS|OI_CROSS and threshold > 0");
        }
        impl::user_alert a;
        a.id = t.param("id") != nullptr ? *t.param("id") : fmt::format("replay-alert-{}", m.alerts.size() + 1);
        for (const auto& x : m.alerts) {
            if (x.id == a.id) {
                return control_error(409, "alert id " + a.id + " exists");
            }
        }
        a.user = t.param("user") != nullptr ? *t.param("user") : "replay-user";
        a.symbol = *symbol;
        a.type = *type;
        a.threshold = *threshold;
        a.tier = t.param("tier") != nullptr ? *t.param("tier") : "pro";
        a.delivery = t.param("delivery") != nullptr ? *t.param("delivery") : "DASHBOARD";
        if (t.param("last") != nullptr) {
            a.last = to_double(t.param("last"));
            if (!a.last) {
                return control_error(400, "last must be a number");
            }
            a.last_at_ms = now_ms;
        }
        m.alerts.push_back(a);
        return control_ok("\"id\":" + jstr(a.id));
    }
    if (action == "fail") {
        const auto* target = t.param("target");
        if (target == nullptr || (*target != "backend" && *target != "telegram")) {
            return control_error(400, "need target=backend|telegram");
        }
        impl::failure f;
        auto status = t.param("status") != nullptr ? to_double(t.param("status")) : std::optional<double>(503);
        if (!status || *status < 400 || *status > 599) {
            return control_error(400, "status must be 400..599");
        }
        f.status = static_cast<unsigned>(*status);
        if (const auto* s = t.param("seconds")) {
            auto sec = to_double(s);
            if (!sec || *sec < 0) {
                return control_error(400, "seconds must be >= 0");
            }
            f.count = -1;
            f.until_ms = now_ms + static_cast<std::int64_t>(*sec * 1000.0);
        } else {
            auto count = t.param("count") != nullptr ? to_double(t.param("count")) : std::optional<double>(1);
            if (!count || *count < 0) {
                return control_error(400, "count must be >= 0");
            }
            f.count = static_cast<long long>(*count);
        }
        if (f.count == 0) {
            m.failures.erase(*target);
        } else {
            m.failures[*target] = f;
        }
        return control_ok(fmt::format("\"target\":{},\"status\":{}", jstr(*target), f.status));
    }
    return control_error(404, "unknown control action: " + std::string(action));
}

std::string receiver::stats_json() const
{
    const auto& m = *impl_;
    auto count_of = [&](std::string_view k) {
        auto it = m.per_target.find(k);
        return it == m.per_target.end() ? 0LL : it->second;
    };
    std::string paths = "{";
    for (const auto& [k, v] : m.per_path) {
        paths += (paths.size() > 1 ? "," : "") + jstr(k) + ":" + std::to_string(v);
    }
    paths += "}";
    long long active = 0;
    for (const auto& a : m.alerts) {
        active += a.active ? 1 : 0;
    }
    return fmt::format(
        "\"receiver\":{{\"backend\":{},\"telegram\":{},\"last_seq\":{},\"kept\":{},\"paths\":{},"
        "\"user_alerts\":{},\"user_alerts_active\":{}}}",
        count_of("backend"), count_of("telegram"), m.next_seq - 1, m.records.size(), paths, m.alerts.size(), active);
}

}  // namespace vs::replay
