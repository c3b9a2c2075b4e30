#include "vs/outbox/outbox.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <system_error>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vs/common/clock.hpp"
#include "vs/common/env.hpp"
#include "vs/common/files.hpp"
#include "vs/common/redact.hpp"
#include "vs/lmdb/lmdb.hpp"

namespace vs::outbox {
namespace json = boost::json;
namespace {

using vs::lmdb::cursor;
using vs::lmdb::txn;
using vs::lmdb::val;

// An error as the outbox keeps it (vs-outbox list/show print it): without secrets (a failed
// send's message quotes the URL, bot token included), redacted before it is cut to 500 bytes
// so that a cut cannot leave half a token unrecognised.
std::string stored_error(std::string_view error) { return vs::redact::apply(error).substr(0, 500); }

std::uint64_t parse_id(std::string_view s)
{
    std::uint64_t v = 0;
    if (s.size() != 16) {
        throw std::invalid_argument(fmt::format("bad alert id '{}': 16 hex digits expected", s));
    }
    for (char c : s) {
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) {
            throw std::invalid_argument(fmt::format("bad alert id '{}': 16 hex digits expected", s));
        }
        v = (v << 4) | static_cast<std::uint64_t>(d);
    }
    return v;
}

std::string format_id(std::uint64_t v) { return fmt::format("{:016x}", v); }

std::array<unsigned char, 8> id_key(std::uint64_t v)
{
    std::array<unsigned char, 8> k{};
    for (int i = 7; i >= 0; --i) {
        k[static_cast<std::size_t>(i)] = static_cast<unsigned char>(v & 0xff);
        v >>= 8;
    }
    return k;
}

std::uint64_t key_id(const unsigned char* p)
{
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
        v = (v << 8) | p[i];
    }
    return v;
}

std::array<unsigned char, 9> queue_key(target t, std::uint64_t id)
{
    std::array<unsigned char, 9> k{};
    k[0] = static_cast<unsigned char>(t);
    auto ik = id_key(id);
    std::copy(ik.begin(), ik.end(), k.begin() + 1);
    return k;
}

// The bus record's bytes in the JSON value (RFC 4648 base64 with padding).
constexpr std::string_view b64_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in)
{
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const auto n = (std::uint32_t{static_cast<unsigned char>(in[i])} << 16) |
                       (std::uint32_t{static_cast<unsigned char>(in[i + 1])} << 8) | static_cast<unsigned char>(in[i + 2]);
        out += b64_chars[(n >> 18) & 63];
        out += b64_chars[(n >> 12) & 63];
        out += b64_chars[(n >> 6) & 63];
        out += b64_chars[n & 63];
    }
    if (i < in.size()) {
        std::uint32_t n = std::uint32_t{static_cast<unsigned char>(in[i])} << 16;
        if (i + 1 < in.size()) {
            n |= std::uint32_t{static_cast<unsigned char>(in[i + 1])} << 8;
        }
        out += b64_chars[(n >> 18) & 63];
        out += b64_chars[(n >> 12) & 63];
        out += i + 1 < in.size() ? b64_chars[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string base64_decode(std::string_view in)
{
    std::string out;
    out.reserve(in.size() / 4 * 3);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        const auto p = b64_chars.find(c);
        if (p == std::string_view::npos) {
            if (c == '=') {
                break;
            }
            throw std::runtime_error("cannot decode an outbox record: bad base64 in its bus record");
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(p);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return out;
}

std::optional<state> state_from_string(std::string_view s)
{
    for (auto st : {state::pending, state::sending, state::delivered, state::dead}) {
        if (to_string(st) == s) {
            return st;
        }
    }
    return std::nullopt;
}

json::object to_json(const entry& e)
{
    json::object o;
    o["id"] = e.id;
    o["kind"] = e.a.kind;
    o["created_ms"] = e.created_ms;
    o["dead_after_ms"] = e.a.dead_after.count();
    if (e.a.backend) {
        o["backend"] = json::object{{"method", e.a.backend->method}, {"path", e.a.backend->path},
                                    {"body", e.a.backend->body}};
    }
    o["text"] = e.a.text;
    o["label"] = e.a.label;
    o["amount_usd"] = e.a.amount_usd;
    if (!e.a.keep_after_delivery) {
        o["keep"] = false;
    }
    if (e.a.bus) {
        o["bus"] = json::object{{"channel", e.a.bus->channel}, {"type", e.a.bus->type}, {"symbol", e.a.bus->symbol},
                                {"schema_hash", e.a.bus->schema_hash}, {"bytes", base64_encode(e.a.bus->bytes)}};
    }
    json::object ts;
    for (const auto& s : e.targets) {
        ts[to_string(s.t)] = json::object{{"state", to_string(s.st)},  {"attempts", s.attempts},
                                          {"next_ms", s.next_attempt_ms}, {"done_ms", s.done_ms},
                                          {"requeued_ms", s.requeued_ms}, {"error", s.last_error}};
    }
    o["targets"] = std::move(ts);
    return o;
}

std::string str(const json::object& o, std::string_view k)
{
    if (auto* v = o.if_contains(k); v != nullptr && v->is_string()) {
        return std::string{v->as_string()};
    }
    return {};
}

std::int64_t num(const json::object& o, std::string_view k)
{
    if (auto* v = o.if_contains(k); v != nullptr) {
        if (v->is_int64()) {
            return v->as_int64();
        }
        if (v->is_uint64()) {
            return static_cast<std::int64_t>(v->as_uint64());
        }
        if (v->is_double()) {
            return static_cast<std::int64_t>(v->as_double());
        }
    }
    return 0;
}

entry from_json(std::string_view text)
{
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) {
        throw std::runtime_error("cannot decode an outbox record: " + (ec ? ec.message() : "not an object"));
    }
    const auto& o = v.as_object();
    entry e;
    e.id = str(o, "id");
    e.created_ms = num(o, "created_ms");
    e.a.kind = str(o, "kind");
    e.a.dead_after = std::chrono::milliseconds{num(o, "dead_after_ms")};
    if (auto* b = o.if_contains("backend"); b != nullptr && b->is_object()) {
        e.a.backend = backend_call{str(b->as_object(), "path"), str(b->as_object(), "body"),
                                   str(b->as_object(), "method")};
    }
    e.a.text = str(o, "text");
    e.a.label = str(o, "label");
    if (auto* a = o.if_contains("amount_usd"); a != nullptr && a->is_number()) {
        e.a.amount_usd = a->to_number<double>();
    }
    if (auto* k = o.if_contains("keep"); k != nullptr && k->is_bool()) {
        e.a.keep_after_delivery = k->as_bool();
    }
    if (auto* b = o.if_contains("bus"); b != nullptr && b->is_object()) {
        const auto& bo = b->as_object();
        bus_record r;
        r.channel = str(bo, "channel");
        r.type = static_cast<std::uint16_t>(num(bo, "type"));
        r.symbol = str(bo, "symbol");
        if (auto* h = bo.if_contains("schema_hash"); h != nullptr && (h->is_uint64() || h->is_int64())) {
            r.schema_hash = h->is_uint64() ? h->as_uint64() : static_cast<std::uint64_t>(h->as_int64());
        }
        r.bytes = base64_decode(str(bo, "bytes"));
        e.a.bus = std::move(r);
    }
    if (auto* ts = o.if_contains("targets"); ts != nullptr && ts->is_object()) {
        for (const auto& [k, tv] : ts->as_object()) {
            auto t = target_from_string(k);
            if (!t || !tv.is_object()) {
                continue;
            }
            const auto& to = tv.as_object();
            target_state s;
            s.t = *t;
            s.st = state_from_string(str(to, "state")).value_or(state::pending);
            s.attempts = static_cast<int>(num(to, "attempts"));
            s.next_attempt_ms = num(to, "next_ms");
            s.done_ms = num(to, "done_ms");
            s.requeued_ms = num(to, "requeued_ms");
            s.last_error = str(to, "error");
            e.targets.push_back(std::move(s));
        }
    }
    return e;
}

json::object to_json(const target_counters& c)
{
    json::array recent;
    for (auto t : c.recent_sends_ms) {
        recent.push_back(t);
    }
    return json::object{{"enqueued", c.enqueued}, {"sent", c.sent},         {"messages", c.messages},
                        {"failed", c.failed},     {"retried", c.retried},   {"dead", c.dead},
                        {"coalesced", c.coalesced}, {"uncertain", c.uncertain}, {"recent_sends_ms", recent}};
}

target_counters counters_from_json(std::string_view text)
{
    target_counters c;
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) {
        return c;
    }
    const auto& o = v.as_object();
    auto u = [&](std::string_view k) { return static_cast<std::uint64_t>(num(o, k)); };
    c.enqueued = u("enqueued");
    c.sent = u("sent");
    c.messages = u("messages");
    c.failed = u("failed");
    c.retried = u("retried");
    c.dead = u("dead");
    c.coalesced = u("coalesced");
    c.uncertain = u("uncertain");
    if (auto* r = o.if_contains("recent_sends_ms"); r != nullptr && r->is_array()) {
        for (const auto& x : r->as_array()) {
            if (x.is_int64()) {
                c.recent_sends_ms.push_back(x.as_int64());
            }
        }
    }
    return c;
}

}  // namespace

std::string_view to_string(target t) noexcept
{
    switch (t) {
    case target::prod: return "prod";
    case target::dev: return "dev";
    case target::telegram: return "telegram";
    case target::discord: return "discord";
    case target::telegram_alerts: return "telegram_alerts";
    case target::nats: return "nats";
    }
    return "unknown";
}

std::optional<target> target_from_string(std::string_view s) noexcept
{
    for (auto t : all_targets) {
        if (to_string(t) == s) {
            return t;
        }
    }
    return std::nullopt;
}

std::string_view to_string(state s) noexcept
{
    switch (s) {
    case state::pending: return "pending";
    case state::sending: return "sending";
    case state::delivered: return "delivered";
    case state::dead: return "dead";
    }
    return "unknown";
}

target_set target_set::from_env()
{
    target_set s;
    if (env::first({"VOLSPIKE_API_URL"})) {
        s.add(target::prod);
    }
    if (env::first({"VOLSPIKE_API_URL_DEV"})) {
        s.add(target::dev);
    }
    if (env::first({"TELEGRAM_TOKEN", "TELEGRAM_BOT_TOKEN"}) && env::first({"CHAT_ID", "TELEGRAM_CHANNEL_ID"})) {
        s.add(target::telegram);
    }
    if (env::first({"VS_DISCORD_WEBHOOK_URL"})) {
        s.add(target::discord);
    }
    if (env::first({"VS_NATS_URL"})) {
        s.add(target::nats);
    }
    return s;
}

target_set target_set::alert_bot_from_env()
{
    target_set s;
    const auto all = from_env();
    if (env::first({"TELEGRAM_ALERT_TOKEN"}) && env::first({"TELEGRAM_ALERT_CHAT_ID", "CHAT_ID", "TELEGRAM_CHANNEL_ID"})) {
        s.add(target::telegram_alerts);
    } else if (all.has(target::telegram)) {
        s.add(target::telegram);
    }
    if (all.has(target::discord)) {
        s.add(target::discord);
    }
    if (all.has(target::nats)) {
        s.add(target::nats);
    }
    return s;
}

const target_state* entry::find(target t) const noexcept
{
    for (const auto& s : targets) {
        if (s.t == t) {
            return &s;
        }
    }
    return nullptr;
}

struct outbox::impl {
    explicit impl(vs::lmdb::env e) : env(std::move(e)) {}

    vs::lmdb::env env;
    MDB_dbi alerts = 0;
    MDB_dbi queue = 0;
    MDB_dbi stats = 0;
    std::optional<MDB_dbi> state;   // absent only in a read-only open of an outbox older than it

    std::optional<entry> load(const txn& t, std::uint64_t id) const
    {
        const auto data = t.get(alerts, val(id_key(id)), "read a record of");
        if (!data) {
            return std::nullopt;
        }
        return from_json(vs::lmdb::view(*data));
    }

    void store(txn& t, const entry& e)
    {
        t.put(alerts, val(id_key(parse_id(e.id))), val(json::serialize(to_json(e))), "write a record to");
    }

    // Deletes the record of `id` (its queue entries are the caller's business).
    void erase(txn& t, std::uint64_t id) { t.del(alerts, val(id_key(id)), "delete a record of"); }

    void set_queued(txn& t, target tg, std::uint64_t id, bool queued)
    {
        const auto k = queue_key(tg, id);
        if (queued) {
            t.put(queue, val(k), MDB_val{0, nullptr}, "write the queue of");
        } else {
            t.del(queue, val(k), "update the queue of");
        }
    }

    target_counters get_counters(const txn& t, target tg) const
    {
        const auto data = t.get(stats, val(to_string(tg)), "read the counters of");
        return data ? counters_from_json(vs::lmdb::view(*data)) : target_counters{};
    }

    void put_counters(txn& t, target tg, const target_counters& c)
    {
        t.put(stats, val(to_string(tg)), val(json::serialize(to_json(c))), "write the counters of");
    }

    std::uint64_t next_id(txn& t)
    {
        constexpr std::string_view name = "_last_id";
        std::uint64_t last = 0;
        if (const auto data = t.get(stats, val(name), "read the last id of"); data && data->mv_size == 8) {
            last = key_id(static_cast<const unsigned char*>(data->mv_data));
        }
        const std::uint64_t id = std::max(static_cast<std::uint64_t>(realtime_ms()) << 20, last + 1);
        t.put(stats, val(name), val(id_key(id)), "write the last id of");
        return id;
    }

    // Calls fn(id) for every id queued for `tg`, in id (= time) order, while it returns true.
    template <class Fn>
    void for_each_queued(const txn& t, target tg, Fn&& fn) const
    {
        cursor c{t, queue};
        const auto start = queue_key(tg, 0);
        MDB_val key = val(start);
        MDB_val data{};
        for (bool more = c.get(key, data, MDB_SET_RANGE, "read the queue of"); more;
             more = c.get(key, data, MDB_NEXT, "read the queue of")) {
            const auto* k = static_cast<const unsigned char*>(key.mv_data);
            if (key.mv_size != 9 || k[0] != static_cast<unsigned char>(tg) || !fn(key_id(k + 1))) {
                return;
            }
        }
    }

    // Calls fn(entry) for every alert, in id order, while it returns true.
    template <class Fn>
    void for_each_alert(const txn& t, Fn&& fn) const
    {
        cursor c{t, alerts};
        MDB_val key{};
        MDB_val data{};
        for (bool more = c.get(key, data, MDB_FIRST, "read the alerts of"); more;
             more = c.get(key, data, MDB_NEXT, "read the alerts of")) {
            if (!fn(from_json(vs::lmdb::view(data)))) {
                return;
            }
        }
    }

    // The alert `id` when it is not empty (whatever its state), else every alert that `pick`s.
    template <class Pick>
    std::vector<entry> select(const txn& t, const std::string& id, Pick&& pick) const
    {
        std::vector<entry> out;
        if (!id.empty()) {
            if (auto e = load(t, parse_id(id))) {
                out.push_back(std::move(*e));
            }
            return out;
        }
        for_each_alert(t, [&](entry&& e) {
            if (pick(e)) {
                out.push_back(std::move(e));
            }
            return true;
        });
        return out;
    }

    // Loads `id`, applies `fn` to its state for `tg`, stores it.
    template <class Fn>
    bool update(txn& t, target tg, const std::string& id, Fn&& fn)
    {
        auto e = load(t, parse_id(id));
        if (!e) {
            return false;
        }
        for (auto& s : e->targets) {
            if (s.t == tg) {
                fn(*e, s);
                store(t, *e);
                return true;
            }
        }
        return false;
    }
};

outbox::outbox(std::unique_ptr<impl> p, target_set targets, std::filesystem::path path)
    : impl_(std::move(p)), targets_(targets), path_(std::move(path))
{
}

outbox::~outbox() = default;

std::unique_ptr<outbox> outbox::open(const std::filesystem::path& state_dir, outbox_options options)
{
    auto dir = state_dir / "outbox.lmdb";
    std::error_code ec;
    if (options.read_only) {
        if (!std::filesystem::exists(dir / "data.mdb", ec)) {
            throw std::runtime_error(fmt::format("cannot open the outbox {}: it does not exist (no alert was ever "
                                                 "enqueued with this state directory)", dir.string()));
        }
    } else {
        ec = vs::files::create_state_directories(dir);   // 0750 whatever the umask
        if (ec) {
            throw std::runtime_error(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
        }
    }
    // MDB_NOTLS (the default flags): read transactions are not tied to threads (vs-deliver
    // runs one per target).
    auto p = std::make_unique<impl>(vs::lmdb::env{
        dir, {.label = "the outbox", .read_only = options.read_only,
              .map_size = options.read_only ? 0 : options.map_size, .max_dbs = 8}});
    if (const int dead = p->env.reader_check(); dead > 0) {
        spdlog::info("outbox {}: cleared {} reader slots of dead processes", dir.string(), dead);
    }
    {
        txn t{p->env, options.read_only ? txn::read : txn::write};
        const bool create = !options.read_only;
        const auto open = [&](const char* name) {
            const auto dbi = t.open_dbi(name, create);
            if (!dbi) {
                t.fail(fmt::format("open database '{}' of", name), MDB_NOTFOUND);
            }
            return *dbi;
        };
        p->alerts = open("alerts");
        p->queue = open("queue");
        p->stats = open("stats");
        p->state = t.open_dbi("state", create);
        t.commit();
    }
    auto targets = options.targets ? *options.targets : target_set::from_env();
    return std::unique_ptr<outbox>(new outbox(std::move(p), targets, dir));
}

std::string outbox::enqueue(const alert& a) { return enqueue(a, targets_); }

namespace {

entry make_entry(const alert& a, target_set targets)
{
    entry e;
    e.a = a;
    for (auto t : all_targets) {
        if (!targets.has(t)) {
            continue;
        }
        const bool backend = t == target::prod || t == target::dev;
        const bool takes = t == target::nats ? a.bus.has_value()
                           : backend         ? a.backend.has_value()
                                             : !a.text.empty();
        if (takes) {
            e.targets.push_back(target_state{t, state::pending, 0, 0, 0, 0, {}});
        }
    }
    return e;
}

}  // namespace

std::string outbox::enqueue(const alert& a, target_set targets)
{
    auto ids = enqueue_many({a}, targets);
    return ids.empty() ? std::string{} : ids.front();
}

std::vector<std::string> outbox::enqueue_many(const std::vector<alert>& alerts)
{
    return enqueue_many(alerts, targets_);
}

std::vector<std::string> outbox::enqueue_many(const std::vector<alert>& alerts, target_set targets)
{
    return commit_impl({}, alerts, targets, {});
}

namespace {

std::string state_key(std::string_view process, std::string_view key)
{
    if (process.empty() || process.find('\0') != std::string_view::npos) {
        throw std::invalid_argument("outbox state: the process name must be non-empty and without NUL");
    }
    std::string k{process};
    k.push_back('\0');
    k.append(key);
    return k;
}

}  // namespace

std::vector<std::string> outbox::commit(std::string_view process, const std::vector<alert>& alerts,
                                        const std::vector<state_change>& changes)
{
    state_key(process, {});   // validates the name
    return commit_impl(process, alerts, targets_, changes);
}

std::vector<std::string> outbox::commit(std::string_view process, const std::vector<alert>& alerts,
                                        target_set targets, const std::vector<state_change>& changes)
{
    state_key(process, {});   // validates the name
    return commit_impl(process, alerts, targets, changes);
}

std::optional<std::string> outbox::state_get(std::string_view process, std::string_view key) const
{
    if (!impl_->state) {
        return std::nullopt;
    }
    txn t{impl_->env, txn::read};
    const auto data = t.get(*impl_->state, val(state_key(process, key)), "read the state of");
    if (!data) {
        return std::nullopt;
    }
    return std::string{vs::lmdb::view(*data)};
}

void outbox::state_for_each(std::string_view process,
                            const std::function<void(std::string_view key, std::string_view value)>& fn) const
{
    if (!impl_->state) {
        return;
    }
    txn t{impl_->env, txn::read};
    vs::lmdb::cursor c{t, *impl_->state};
    const std::string prefix = state_key(process, {});
    MDB_val k = val(prefix);
    MDB_val v{};
    for (bool more = c.get(k, v, MDB_SET_RANGE); more; more = c.get(k, v, MDB_NEXT)) {
        const auto ks = vs::lmdb::view(k);
        if (ks.substr(0, prefix.size()) != prefix) {
            break;
        }
        fn(ks.substr(prefix.size()), vs::lmdb::view(v));
    }
}

std::vector<std::string> outbox::commit_impl(std::string_view process, const std::vector<alert>& alerts,
                                             target_set targets, const std::vector<state_change>& changes)
{
    if (!observer_) {
        return commit_txn(process, alerts, targets, changes);
    }
    std::vector<std::string> ids;
    try {
        ids = commit_txn(process, alerts, targets, changes);
    } catch (const std::exception& e) {
        observer_(alerts.size(), &e);
        throw;
    }
    observer_(alerts.size(), nullptr);
    return ids;
}

std::vector<std::string> outbox::commit_txn(std::string_view process, const std::vector<alert>& alerts,
                                            target_set targets, const std::vector<state_change>& changes)
{
    std::vector<std::string> ids;
    std::vector<entry> entries;
    for (const auto& a : alerts) {
        entries.push_back(make_entry(a, targets));
    }
    txn t{impl_->env, txn::write};
    if (!changes.empty()) {
        if (!impl_->state) {
            throw std::logic_error("outbox opened read-only: no state can be written");
        }
        for (const auto& c : changes) {
            if (c.value) {
                t.put(*impl_->state, val(state_key(process, c.key)), val(*c.value), "write the state of");
            } else {
                t.del(*impl_->state, val(state_key(process, c.key)), "delete the state of");
            }
        }
    }
    std::array<target_counters, all_targets.size()> counters;
    std::array<bool, all_targets.size()> touched{};
    for (std::size_t k = 0; k < entries.size(); ++k) {
        auto& e = entries[k];
        if (e.targets.empty()) {
            if (e.a.bus && e.a.bus->build) {
                alerts[k].bus->bytes = e.a.bus->build({});   // the caller still publishes it on the bus
            }
            ids.emplace_back();
            continue;
        }
        const std::uint64_t id = impl_->next_id(t);
        e.id = format_id(id);
        e.created_ms = static_cast<std::int64_t>(id >> 20);
        if (e.a.bus && e.a.bus->build) {
            e.a.bus->bytes = e.a.bus->build(e.id);
            alerts[k].bus->bytes = e.a.bus->bytes;
        }
        impl_->store(t, e);
        for (const auto& s : e.targets) {
            const auto i = static_cast<std::size_t>(s.t);
            impl_->set_queued(t, s.t, id, true);
            if (!touched[i]) {
                counters[i] = impl_->get_counters(t, s.t);
                touched[i] = true;
            }
            ++counters[i].enqueued;
        }
        ids.push_back(e.id);
    }
    for (auto tg : all_targets) {
        if (touched[static_cast<std::size_t>(tg)]) {
            impl_->put_counters(t, tg, counters[static_cast<std::size_t>(tg)]);
        }
    }
    t.commit();
    return ids;
}

std::vector<std::string> outbox::enqueue_rows(std::string_view kind, std::string_view path, std::string_view field,
                                              std::string_view rows_json, std::string_view envelope_json,
                                              std::size_t chunk, std::chrono::milliseconds dead_after)
{
    boost::system::error_code ec;
    auto rows = json::parse(rows_json, ec);
    if (ec || !rows.is_array()) {
        throw std::invalid_argument("enqueue_rows: rows must be a JSON array");
    }
    auto env = json::parse(envelope_json, ec);
    if (ec || !env.is_object()) {
        throw std::invalid_argument("enqueue_rows: envelope must be a JSON object");
    }
    chunk = std::max<std::size_t>(chunk, 1);
    const auto& arr = rows.as_array();
    target_set backend_only;
    for (auto t : {target::prod, target::dev}) {
        if (targets_.has(t)) {
            backend_only.add(t);
        }
    }
    std::vector<alert> parts;
    for (std::size_t i = 0; i < arr.size(); i += chunk) {
        json::object body = env.as_object();
        json::array part(arr.begin() + static_cast<std::ptrdiff_t>(i),
                         arr.begin() + static_cast<std::ptrdiff_t>(std::min(arr.size(), i + chunk)));
        body[field] = std::move(part);
        alert a;
        a.kind = std::string{kind};
        a.backend = backend_call{std::string{path}, json::serialize(body), "POST"};
        a.keep_after_delivery = false;
        a.dead_after = dead_after;
        parts.push_back(std::move(a));
    }
    // One transaction: a batch is enqueued whole or not at all.
    std::vector<std::string> ids;
    for (auto& id : enqueue_many(parts, backend_only)) {
        if (!id.empty()) {
            ids.push_back(std::move(id));
        }
    }
    return ids;
}

std::vector<entry> outbox::queue(target tg, std::size_t limit) const
{
    std::vector<entry> out;
    if (limit == 0) {
        return out;
    }
    txn t{impl_->env, txn::read};
    impl_->for_each_queued(t, tg, [&](std::uint64_t id) {
        if (auto e = impl_->load(t, id)) {
            out.push_back(std::move(*e));
        }
        return out.size() < limit;
    });
    return out;
}

std::size_t outbox::queue_length(target tg) const
{
    std::size_t n = 0;
    txn t{impl_->env, txn::read};
    impl_->for_each_queued(t, tg, [&](std::uint64_t) {
        ++n;
        return true;
    });
    return n;
}

void outbox::mark_sending(target tg, const std::vector<std::string>& ids)
{
    txn t{impl_->env, txn::write};
    for (const auto& id : ids) {
        impl_->update(t, tg, id, [](entry&, target_state& s) {
            if (s.st == state::pending) {
                s.st = state::sending;
            }
        });
    }
    t.commit();
}

void outbox::reset_sending(target tg, const std::vector<std::string>& ids)
{
    txn t{impl_->env, txn::write};
    for (const auto& id : ids) {
        impl_->update(t, tg, id, [](entry&, target_state& s) {
            if (s.st == state::sending) {
                s.st = state::pending;
            }
        });
    }
    t.commit();
}

void outbox::mark_delivered(target tg, const std::vector<std::string>& ids, std::int64_t now_ms, int messages,
                            std::optional<std::int64_t> send_time_ms)
{
    txn t{impl_->env, txn::write};
    auto c = impl_->get_counters(t, tg);
    for (const auto& id : ids) {
        bool all_delivered = false;
        bool keep = true;
        bool changed = impl_->update(t, tg, id, [&](entry& e, target_state& s) {
            s.st = state::delivered;
            s.done_ms = now_ms;
            ++s.attempts;
            s.last_error.clear();
            keep = e.a.keep_after_delivery;
            all_delivered = std::all_of(e.targets.begin(), e.targets.end(), [](const target_state& x) {
                return x.st == state::delivered || x.st == state::dead;
            });
        });
        if (changed) {
            impl_->set_queued(t, tg, parse_id(id), false);
            ++c.sent;
            if (all_delivered && !keep) {
                impl_->erase(t, parse_id(id));
            }
        }
    }
    c.messages += static_cast<std::uint64_t>(messages);
    if (ids.size() > 1) {
        c.coalesced += ids.size();
    }
    if (send_time_ms) {
        c.recent_sends_ms.push_back(*send_time_ms);
        // The rate limiter needs at most the last minute's sends; keep a bounded tail.
        if (c.recent_sends_ms.size() > 64) {
            c.recent_sends_ms.erase(c.recent_sends_ms.begin(),
                                    c.recent_sends_ms.end() - 64);
        }
    }
    impl_->put_counters(t, tg, c);
    t.commit();
}

void outbox::mark_failed(target tg, const std::string& id, std::string_view error, std::int64_t next_attempt_ms)
{
    txn t{impl_->env, txn::write};
    bool changed = impl_->update(t, tg, id, [&](entry&, target_state& s) {
        s.st = state::pending;
        ++s.attempts;
        s.next_attempt_ms = next_attempt_ms;
        s.last_error = stored_error(error);
    });
    if (changed) {
        auto c = impl_->get_counters(t, tg);
        ++c.failed;
        ++c.retried;
        impl_->put_counters(t, tg, c);
    }
    t.commit();
}

void outbox::mark_dead(target tg, const std::string& id, std::string_view reason, std::int64_t now_ms)
{
    txn t{impl_->env, txn::write};
    bool finished_batch = false;
    bool changed = impl_->update(t, tg, id, [&](entry& e, target_state& s) {
        s.st = state::dead;
        s.done_ms = now_ms;
        s.last_error = stored_error(reason);
        finished_batch = !e.a.keep_after_delivery &&
                         std::all_of(e.targets.begin(), e.targets.end(), [](const target_state& x) {
                             return x.st == state::delivered || x.st == state::dead;
                         });
    });
    if (changed) {
        impl_->set_queued(t, tg, parse_id(id), false);
        auto c = impl_->get_counters(t, tg);
        ++c.dead;
        impl_->put_counters(t, tg, c);
        if (finished_batch) {
            // A stale row batch is worth its counter only; keeping it would let a long outage
            // fill the map with data nobody will send.
            impl_->erase(t, parse_id(id));
        }
    }
    t.commit();
}

void outbox::count_uncertain(target tg, std::uint64_t n)
{
    txn t{impl_->env, txn::write};
    auto c = impl_->get_counters(t, tg);
    c.uncertain += n;
    impl_->put_counters(t, tg, c);
    t.commit();
}

std::vector<entry> outbox::list(const list_filter& f) const
{
    std::vector<entry> out;
    if (f.limit == 0) {
        return out;
    }
    txn t{impl_->env, txn::read};
    impl_->for_each_alert(t, [&](entry&& e) {
        bool keep = false;
        for (const auto& s : e.targets) {
            if ((!f.t || s.t == *f.t) && (!f.st || s.st == *f.st)) {
                keep = true;
            }
        }
        if (keep) {
            out.push_back(std::move(e));
        }
        return out.size() < f.limit;
    });
    return out;
}

std::vector<entry> outbox::recent(std::size_t limit) const
{
    std::vector<entry> out;
    if (limit == 0) {
        return out;
    }
    txn t{impl_->env, txn::read};
    cursor c{t, impl_->alerts};
    MDB_val key{};
    MDB_val data{};
    for (bool more = c.get(key, data, MDB_LAST, "read the alerts of"); more && out.size() < limit;
         more = c.get(key, data, MDB_PREV, "read the alerts of")) {
        out.push_back(from_json(vs::lmdb::view(data)));
    }
    return out;
}

std::optional<entry> outbox::get(const std::string& id) const
{
    txn t{impl_->env, txn::read};
    return impl_->load(t, parse_id(id));
}

target_counters outbox::counters(target tg) const
{
    txn t{impl_->env, txn::read};
    return impl_->get_counters(t, tg);
}

std::size_t outbox::retry(std::optional<target> only, const std::string& id, bool include_delivered)
{
    std::size_t n = 0;
    txn t{impl_->env, txn::write};
    auto todo = impl_->select(t, id, [&](const entry& e) {
        return std::any_of(e.targets.begin(), e.targets.end(), [&](const target_state& s) {
            return (!only || s.t == *only) && s.st == state::dead;
        });
    });
    for (auto& e : todo) {
        bool changed = false;
        for (auto& s : e.targets) {
            if ((only && s.t != *only) || !(s.st == state::dead || (include_delivered && s.st == state::delivered))) {
                continue;
            }
            s.st = state::pending;
            s.attempts = 0;
            s.next_attempt_ms = 0;
            s.done_ms = 0;
            s.requeued_ms = realtime_ms();
            s.last_error.clear();
            impl_->set_queued(t, s.t, parse_id(e.id), true);
            changed = true;
            ++n;
        }
        if (changed) {
            impl_->store(t, e);
        }
    }
    t.commit();
    return n;
}

std::size_t outbox::purge(std::optional<state> only, std::int64_t older_than_ms, const std::string& id)
{
    std::size_t n = 0;
    txn t{impl_->env, txn::write};
    const auto doomed = impl_->select(t, id, [&](const entry& e) {
        bool finished = !e.targets.empty();
        bool matches = !only.has_value();
        for (const auto& s : e.targets) {
            if (s.st == state::pending || s.st == state::sending || s.done_ms >= older_than_ms) {
                finished = false;
            }
            if (only && s.st == *only) {
                matches = true;
            }
        }
        return finished && matches;
    });
    for (const auto& e : doomed) {
        const auto num_id = parse_id(e.id);
        for (const auto& s : e.targets) {
            impl_->set_queued(t, s.t, num_id, false);
        }
        impl_->erase(t, num_id);
        ++n;
    }
    t.commit();
    return n;
}

}  // namespace vs::outbox
