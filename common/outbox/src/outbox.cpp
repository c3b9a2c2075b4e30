#include "vs/outbox/outbox.hpp"

#include <lmdb.h>
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

namespace vs::outbox {
namespace json = boost::json;
namespace {

[[noreturn]] void fail(int rc, std::string_view what)
{
    throw std::runtime_error(fmt::format("cannot {}: {}", what, ::mdb_strerror(rc)));
}

void check(int rc, std::string_view what)
{
    if (rc != MDB_SUCCESS) {
        fail(rc, what);
    }
}

// RAII transaction: aborted unless committed.
class txn {
public:
    txn(MDB_env* env, bool write)
    {
        check(::mdb_txn_begin(env, nullptr, write ? 0 : MDB_RDONLY, &t_), "begin an outbox transaction");
    }
    ~txn()
    {
        if (t_ != nullptr) {
            ::mdb_txn_abort(t_);
        }
    }
    txn(const txn&) = delete;
    txn& operator=(const txn&) = delete;
    void commit()
    {
        int rc = ::mdb_txn_commit(t_);
        t_ = nullptr;
        check(rc, "commit to the outbox");
    }
    MDB_txn* get() const noexcept { return t_; }

private:
    MDB_txn* t_ = nullptr;
};

class cursor {
public:
    cursor(MDB_txn* t, MDB_dbi dbi) { check(::mdb_cursor_open(t, dbi, &c_), "open an outbox cursor"); }
    ~cursor() { ::mdb_cursor_close(c_); }
    cursor(const cursor&) = delete;
    cursor& operator=(const cursor&) = delete;
    MDB_cursor* get() const noexcept { return c_; }

private:
    MDB_cursor* c_ = nullptr;
};

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

template <class A>
MDB_val val_of(A& a)
{
    return MDB_val{a.size(), const_cast<void*>(static_cast<const void*>(a.data()))};
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
    MDB_env* env = nullptr;
    MDB_dbi alerts = 0;
    MDB_dbi queue = 0;
    MDB_dbi stats = 0;

    ~impl()
    {
        if (env != nullptr) {
            ::mdb_env_close(env);
        }
    }

    std::optional<entry> load(MDB_txn* t, std::uint64_t id) const
    {
        auto k = id_key(id);
        MDB_val key = val_of(k);
        MDB_val data{};
        int rc = ::mdb_get(t, alerts, &key, &data);
        if (rc == MDB_NOTFOUND) {
            return std::nullopt;
        }
        check(rc, "read an outbox record");
        return from_json(std::string_view{static_cast<const char*>(data.mv_data), data.mv_size});
    }

    void store(MDB_txn* t, const entry& e)
    {
        auto k = id_key(parse_id(e.id));
        MDB_val key = val_of(k);
        std::string text = json::serialize(to_json(e));
        MDB_val data = val_of(text);
        check(::mdb_put(t, alerts, &key, &data, 0), "write an outbox record");
    }

    void set_queued(MDB_txn* t, target tg, std::uint64_t id, bool queued)
    {
        auto k = queue_key(tg, id);
        MDB_val key = val_of(k);
        if (queued) {
            MDB_val data{0, nullptr};
            check(::mdb_put(t, queue, &key, &data, 0), "write the outbox queue");
        } else {
            int rc = ::mdb_del(t, queue, &key, nullptr);
            if (rc != MDB_NOTFOUND) {
                check(rc, "update the outbox queue");
            }
        }
    }

    target_counters get_counters(MDB_txn* t, target tg) const
    {
        std::string name{to_string(tg)};
        MDB_val key = val_of(name);
        MDB_val data{};
        int rc = ::mdb_get(t, stats, &key, &data);
        if (rc == MDB_NOTFOUND) {
            return {};
        }
        check(rc, "read outbox counters");
        return counters_from_json(std::string_view{static_cast<const char*>(data.mv_data), data.mv_size});
    }

    void put_counters(MDB_txn* t, target tg, const target_counters& c)
    {
        std::string name{to_string(tg)};
        MDB_val key = val_of(name);
        std::string text = json::serialize(to_json(c));
        MDB_val data = val_of(text);
        check(::mdb_put(t, stats, &key, &data, 0), "write outbox counters");
    }

    std::uint64_t next_id(MDB_txn* t)
    {
        std::string name = "_last_id";
        MDB_val key = val_of(name);
        MDB_val data{};
        std::uint64_t last = 0;
        int rc = ::mdb_get(t, stats, &key, &data);
        if (rc == MDB_SUCCESS && data.mv_size == 8) {
            last = key_id(static_cast<const unsigned char*>(data.mv_data));
        } else if (rc != MDB_NOTFOUND && rc != MDB_SUCCESS) {
            check(rc, "read the last outbox id");
        }
        std::uint64_t id = std::max(static_cast<std::uint64_t>(realtime_ms()) << 20, last + 1);
        auto v = id_key(id);
        MDB_val nv = val_of(v);
        check(::mdb_put(t, stats, &key, &nv, 0), "write the last outbox id");
        return id;
    }

    // Loads `id`, applies `fn` to its state for `tg`, stores it.
    template <class Fn>
    bool update(MDB_txn* t, target tg, const std::string& id, Fn&& fn)
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
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            throw std::runtime_error(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
        }
    }
    auto p = std::make_unique<impl>();
    check(::mdb_env_create(&p->env), "create an LMDB environment");
    check(::mdb_env_set_maxdbs(p->env, 4), "set the outbox's database count");
    if (!options.read_only) {
        check(::mdb_env_set_mapsize(p->env, options.map_size), "set the outbox's map size");
    }
    // MDB_NOTLS: read transactions are not tied to threads (vs-deliver runs one per target).
    int rc = ::mdb_env_open(p->env, dir.c_str(), MDB_NOTLS | (options.read_only ? MDB_RDONLY : 0), 0640);
    if (rc != MDB_SUCCESS) {
        fail(rc, "open the outbox " + dir.string());
    }
    int dead = 0;
    ::mdb_reader_check(p->env, &dead);
    if (dead > 0) {
        spdlog::info("outbox {}: cleared {} reader slots of dead processes", dir.string(), dead);
    }
    {
        txn t{p->env, !options.read_only};
        const unsigned flags = options.read_only ? 0 : MDB_CREATE;
        check(::mdb_dbi_open(t.get(), "alerts", flags, &p->alerts), "open the outbox's alerts");
        check(::mdb_dbi_open(t.get(), "queue", flags, &p->queue), "open the outbox's queue");
        check(::mdb_dbi_open(t.get(), "stats", flags, &p->stats), "open the outbox's counters");
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
        if ((backend && a.backend) || (!backend && !a.text.empty())) {
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
    std::vector<std::string> ids;
    std::vector<entry> entries;
    for (const auto& a : alerts) {
        entries.push_back(make_entry(a, targets));
    }
    txn t{impl_->env, true};
    std::array<target_counters, all_targets.size()> counters;
    std::array<bool, all_targets.size()> touched{};
    for (auto& e : entries) {
        if (e.targets.empty()) {
            ids.emplace_back();
            continue;
        }
        const std::uint64_t id = impl_->next_id(t.get());
        e.id = format_id(id);
        e.created_ms = static_cast<std::int64_t>(id >> 20);
        impl_->store(t.get(), e);
        for (const auto& s : e.targets) {
            const auto i = static_cast<std::size_t>(s.t);
            impl_->set_queued(t.get(), s.t, id, true);
            if (!touched[i]) {
                counters[i] = impl_->get_counters(t.get(), s.t);
                touched[i] = true;
            }
            ++counters[i].enqueued;
        }
        ids.push_back(e.id);
    }
    for (auto tg : all_targets) {
        if (touched[static_cast<std::size_t>(tg)]) {
            impl_->put_counters(t.get(), tg, counters[static_cast<std::size_t>(tg)]);
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
    txn t{impl_->env, false};
    cursor c{t.get(), impl_->queue};
    auto start = queue_key(tg, 0);
    MDB_val key = val_of(start);
    MDB_val data{};
    int rc = ::mdb_cursor_get(c.get(), &key, &data, MDB_SET_RANGE);
    while (rc == MDB_SUCCESS && out.size() < limit) {
        const auto* k = static_cast<const unsigned char*>(key.mv_data);
        if (key.mv_size != 9 || k[0] != static_cast<unsigned char>(tg)) {
            break;
        }
        if (auto e = impl_->load(t.get(), key_id(k + 1))) {
            out.push_back(std::move(*e));
        }
        rc = ::mdb_cursor_get(c.get(), &key, &data, MDB_NEXT);
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        fail(rc, "read the outbox queue");
    }
    return out;
}

std::size_t outbox::queue_length(target tg) const
{
    std::size_t n = 0;
    txn t{impl_->env, false};
    cursor c{t.get(), impl_->queue};
    auto start = queue_key(tg, 0);
    MDB_val key = val_of(start);
    MDB_val data{};
    int rc = ::mdb_cursor_get(c.get(), &key, &data, MDB_SET_RANGE);
    while (rc == MDB_SUCCESS) {
        const auto* k = static_cast<const unsigned char*>(key.mv_data);
        if (key.mv_size != 9 || k[0] != static_cast<unsigned char>(tg)) {
            break;
        }
        ++n;
        rc = ::mdb_cursor_get(c.get(), &key, &data, MDB_NEXT);
    }
    return n;
}

void outbox::mark_sending(target tg, const std::vector<std::string>& ids)
{
    txn t{impl_->env, true};
    for (const auto& id : ids) {
        impl_->update(t.get(), tg, id, [](entry&, target_state& s) {
            if (s.st == state::pending) {
                s.st = state::sending;
            }
        });
    }
    t.commit();
}

void outbox::reset_sending(target tg, const std::vector<std::string>& ids)
{
    txn t{impl_->env, true};
    for (const auto& id : ids) {
        impl_->update(t.get(), tg, id, [](entry&, target_state& s) {
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
    txn t{impl_->env, true};
    auto c = impl_->get_counters(t.get(), tg);
    for (const auto& id : ids) {
        bool all_delivered = false;
        bool keep = true;
        bool changed = impl_->update(t.get(), tg, id, [&](entry& e, target_state& s) {
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
            impl_->set_queued(t.get(), tg, parse_id(id), false);
            ++c.sent;
            if (all_delivered && !keep) {
                auto k = id_key(parse_id(id));
                MDB_val key = val_of(k);
                check(::mdb_del(t.get(), impl_->alerts, &key, nullptr), "delete a delivered outbox record");
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
    impl_->put_counters(t.get(), tg, c);
    t.commit();
}

void outbox::mark_failed(target tg, const std::string& id, std::string_view error, std::int64_t next_attempt_ms)
{
    txn t{impl_->env, true};
    bool changed = impl_->update(t.get(), tg, id, [&](entry&, target_state& s) {
        s.st = state::pending;
        ++s.attempts;
        s.next_attempt_ms = next_attempt_ms;
        s.last_error = std::string{error.substr(0, 500)};
    });
    if (changed) {
        auto c = impl_->get_counters(t.get(), tg);
        ++c.failed;
        ++c.retried;
        impl_->put_counters(t.get(), tg, c);
    }
    t.commit();
}

void outbox::mark_dead(target tg, const std::string& id, std::string_view reason, std::int64_t now_ms)
{
    txn t{impl_->env, true};
    bool finished_batch = false;
    bool changed = impl_->update(t.get(), tg, id, [&](entry& e, target_state& s) {
        s.st = state::dead;
        s.done_ms = now_ms;
        s.last_error = std::string{reason.substr(0, 500)};
        finished_batch = !e.a.keep_after_delivery &&
                         std::all_of(e.targets.begin(), e.targets.end(), [](const target_state& x) {
                             return x.st == state::delivered || x.st == state::dead;
                         });
    });
    if (changed) {
        impl_->set_queued(t.get(), tg, parse_id(id), false);
        auto c = impl_->get_counters(t.get(), tg);
        ++c.dead;
        impl_->put_counters(t.get(), tg, c);
        if (finished_batch) {
            // A stale row batch is worth its counter only; keeping it would let a long outage
            // fill the map with data nobody will send.
            auto k = id_key(parse_id(id));
            MDB_val key = val_of(k);
            check(::mdb_del(t.get(), impl_->alerts, &key, nullptr), "delete a dead outbox record");
        }
    }
    t.commit();
}

void outbox::count_uncertain(target tg, std::uint64_t n)
{
    txn t{impl_->env, true};
    auto c = impl_->get_counters(t.get(), tg);
    c.uncertain += n;
    impl_->put_counters(t.get(), tg, c);
    t.commit();
}

std::vector<entry> outbox::list(const list_filter& f) const
{
    std::vector<entry> out;
    txn t{impl_->env, false};
    cursor c{t.get(), impl_->alerts};
    MDB_val key{};
    MDB_val data{};
    int rc = ::mdb_cursor_get(c.get(), &key, &data, MDB_FIRST);
    while (rc == MDB_SUCCESS && out.size() < f.limit) {
        auto e = from_json(std::string_view{static_cast<const char*>(data.mv_data), data.mv_size});
        bool keep = false;
        for (const auto& s : e.targets) {
            if ((!f.t || s.t == *f.t) && (!f.st || s.st == *f.st)) {
                keep = true;
            }
        }
        if (keep) {
            out.push_back(std::move(e));
        }
        rc = ::mdb_cursor_get(c.get(), &key, &data, MDB_NEXT);
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        fail(rc, "list the outbox");
    }
    return out;
}

std::optional<entry> outbox::get(const std::string& id) const
{
    txn t{impl_->env, false};
    return impl_->load(t.get(), parse_id(id));
}

target_counters outbox::counters(target tg) const
{
    txn t{impl_->env, false};
    return impl_->get_counters(t.get(), tg);
}

std::size_t outbox::retry(std::optional<target> only, const std::string& id, bool include_delivered)
{
    std::size_t n = 0;
    txn t{impl_->env, true};
    std::vector<entry> todo;
    if (!id.empty()) {
        if (auto e = impl_->load(t.get(), parse_id(id))) {
            todo.push_back(std::move(*e));
        }
    } else {
        cursor c{t.get(), impl_->alerts};
        MDB_val key{};
        MDB_val data{};
        int rc = ::mdb_cursor_get(c.get(), &key, &data, MDB_FIRST);
        while (rc == MDB_SUCCESS) {
            auto e = from_json(std::string_view{static_cast<const char*>(data.mv_data), data.mv_size});
            for (const auto& s : e.targets) {
                if ((!only || s.t == *only) && s.st == state::dead) {
                    todo.push_back(e);
                    break;
                }
            }
            rc = ::mdb_cursor_get(c.get(), &key, &data, MDB_NEXT);
        }
    }
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
            impl_->set_queued(t.get(), s.t, parse_id(e.id), true);
            changed = true;
            ++n;
        }
        if (changed) {
            impl_->store(t.get(), e);
        }
    }
    t.commit();
    return n;
}

std::size_t outbox::purge(std::optional<state> only, std::int64_t older_than_ms, const std::string& id)
{
    std::size_t n = 0;
    txn t{impl_->env, true};
    std::vector<entry> doomed;
    if (!id.empty()) {
        if (auto e = impl_->load(t.get(), parse_id(id))) {
            doomed.push_back(std::move(*e));
        }
    } else {
        cursor c{t.get(), impl_->alerts};
        MDB_val key{};
        MDB_val data{};
        int rc = ::mdb_cursor_get(c.get(), &key, &data, MDB_FIRST);
        while (rc == MDB_SUCCESS) {
            auto e = from_json(std::string_view{static_cast<const char*>(data.mv_data), data.mv_size});
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
            if (finished && matches) {
                doomed.push_back(std::move(e));
            }
            rc = ::mdb_cursor_get(c.get(), &key, &data, MDB_NEXT);
        }
    }
    for (const auto& e : doomed) {
        const auto num_id = parse_id(e.id);
        for (const auto& s : e.targets) {
            impl_->set_queued(t.get(), s.t, num_id, false);
        }
        auto k = id_key(num_id);
        MDB_val key = val_of(k);
        int rc = ::mdb_del(t.get(), impl_->alerts, &key, nullptr);
        if (rc != MDB_NOTFOUND) {
            check(rc, "delete an outbox record");
        }
        ++n;
    }
    t.commit();
    return n;
}

}  // namespace vs::outbox
