// vs-user-alerts: users' price, funding and open-interest cross alerts (issue 14), replacing
// user_alert_checker.py. Alerts from the backend's /active list (kept in LMDB), values from
// the bus, the cross rule of CONTRACTS 3.4 at each tier's cadence; a trigger goes through the
// outbox together with "this alert fired" in one transaction (exactly once), otherwise
// update-checked, latest-wins. See README.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <malloc.h>

#include <boost/json.hpp>
#include <flatbuffers/flatbuffers.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bus_values.hpp"
#include "core.hpp"
#include "schemas/alerts_generated.h"
#include "schemas/common_generated.h"
#include "schemas/market_data_generated.h"
#include "vs/common/cli.hpp"
#include "vs/common/clock.hpp"
#include "vs/daemon/daemon.hpp"
#include "vs/net/binance_rest.hpp"
#include "workers.hpp"

namespace {

using namespace vs::user_alerts;
using std::chrono::milliseconds;

constexpr auto trigger_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::UserAlertTrigger);
constexpr auto status_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::ProcessStatus);
constexpr auto ticker_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::Ticker24h);
constexpr auto mark_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::MarkPrice);

constexpr std::string_view trigger_path = "/api/user-alerts-trigger/trigger";

// State keys (the outbox's "state" database, under this process's name).
constexpr std::string_view key_list = "list";     // the last good list (serialize_kept)
constexpr std::string_view prev_prefix = "p/";    // p/<id> -> last checked value ("null")
constexpr std::string_view fired_prefix = "f/";   // f/<id> -> the trigger's outbox id

std::string num(double v) { return std::isnan(v) ? std::string{"null"} : fmt::format("{}", v); }

double parse_num(std::string_view s)
{
    if (s == "null" || s.empty()) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    return std::strtod(std::string{s}.c_str(), nullptr);
}

std::optional<milliseconds> interval_option(const vs::cli::parser& cli, const std::string& name)
{
    const auto v = cli.get_int(name, -1, 86'400'000);
    if (v < 0) {
        return std::nullopt;
    }
    return milliseconds{v};
}

std::string interval_text(const std::optional<milliseconds>& v)
{
    if (!v) {
        return "off";
    }
    return v->count() == 0 ? "every update" : fmt::format("{} s", static_cast<double>(v->count()) / 1000.0);
}

/// Symbol of a market ring record (ring records carry no key: it is in the FlatBuffer).
std::string_view symbol_of(const vs::bus::record_view& r)
{
    flatbuffers::Verifier v{reinterpret_cast<const std::uint8_t*>(r.data.data()), r.data.size()};
    if (r.type == ticker_type && v.VerifyBuffer<vs::schema::Ticker24h>(nullptr)) {
        const auto* s = flatbuffers::GetRoot<vs::schema::Ticker24h>(r.data.data())->symbol();
        return s != nullptr ? s->string_view() : std::string_view{};
    }
    if (r.type == mark_type && v.VerifyBuffer<vs::schema::MarkPrice>(nullptr)) {
        const auto* s = flatbuffers::GetRoot<vs::schema::MarkPrice>(r.data.data())->symbol();
        return s != nullptr ? s->string_view() : std::string_view{};
    }
    return {};
}

class user_alerts_process {
public:
    explicit user_alerts_process(vs::daemon::context& ctx) : ctx_(ctx), cli_(ctx.options()) {}

    int run();

private:
    void load_state();
    void apply_refresh(fetch_outcome o);
    void finish_check(check_output& out, const char* why);
    void flush_prevs();
    /// The UserAlertTrigger record of `t` (its bytes), as the channel and NATS carry it.
    std::string trigger_record(const trigger_event& t, std::string_view outbox_id, std::int64_t now_ns);
    void refresh_gauges();
    void want_oi();
    void report_missing(std::vector<std::string> symbols, vs::daemon::follower& market);
    vs::daemon::health probe();

    vs::daemon::context& ctx_;
    const vs::cli::parser& cli_;
    book book_;
    std::unordered_map<std::string, stored_state> stored_;   // until the first list is applied
    std::uint64_t kept_hash_ = 0;
    tier_intervals intervals_;
    std::unique_ptr<update_sender> updates_;
    backend_fetcher* fetcher_ = nullptr;
    std::int64_t fetch_stuck_ms_ = 0;
    std::int64_t started_ms_ =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
    std::unique_ptr<oi_poller> poller_;
    oi_cache polled_;
    vs::outbox::target_set trigger_targets_;
    std::string last_refresh_error_;
    std::string last_list_problem_;
    std::int64_t last_good_refresh_ms_ = 0;   // realtime
    bool have_list_ = false;
    bool first_list_ = false;
    std::unordered_set<std::string> unknown_logged_;
    std::string last_unknown_;
    flatbuffers::FlatBufferBuilder fbb_;

    std::atomic<std::uint64_t>& checks_ = ctx_.counter("checks");
    std::atomic<std::uint64_t>& compared_ = ctx_.counter("alerts_compared");
    std::atomic<std::uint64_t>& triggers_ = ctx_.counter("triggers");
    std::atomic<std::uint64_t>& skipped_stale_ = ctx_.counter("skipped_stale");
    std::atomic<std::uint64_t>& skipped_missing_ = ctx_.counter("skipped_missing");
    std::atomic<std::uint64_t>& refresh_ok_ = ctx_.counter("refresh_ok");
    std::atomic<std::uint64_t>& refresh_failed_ = ctx_.counter("refresh_failed");
    std::atomic<std::uint64_t>& alerts_invalid_ = ctx_.counter("alerts_invalid");
    std::atomic<std::uint64_t>& rest_calls_ = ctx_.counter("rest_calls");
    std::atomic<std::uint64_t>& rest_failures_ = ctx_.counter("rest_failures");
    std::atomic<std::uint64_t> rest_skipped_{0};   // not a metric: at most 32 per process
    std::atomic<std::uint64_t>& updates_sent_ = ctx_.counter("updates_sent");
    std::atomic<std::uint64_t>& updates_failed_ = ctx_.counter("updates_failed");
    std::atomic<std::uint64_t> updates_replaced_{0};
};

void user_alerts_process::load_state()
{
    std::optional<std::string> kept;
    ctx_.outbox().state_for_each(ctx_.program(), [&](std::string_view key, std::string_view value) {
        if (key == key_list) {
            kept = std::string{value};
        } else if (key.substr(0, prev_prefix.size()) == prev_prefix) {
            stored_[std::string{key.substr(prev_prefix.size())}].prev = parse_num(value);
        } else if (key.substr(0, fired_prefix.size()) == fired_prefix) {
            stored_[std::string{key.substr(fired_prefix.size())}].fired = true;
        }
    });
    if (!kept) {
        spdlog::info("no kept alert list: waiting for the backend's");
        return;
    }
    auto parsed = parse_active(*kept, parse_limits{.max_alerts = SIZE_MAX, .max_per_symbol = SIZE_MAX});
    if (parsed.error) {
        spdlog::error("the kept alert list is unreadable ({}): waiting for the backend's", *parsed.error);
        return;
    }
    kept_hash_ = kept_hash(parsed.alerts);
    const auto n = parsed.alerts.size();
    book_.replace(std::move(parsed.alerts), [&](const std::string& id) -> std::optional<stored_state> {
        const auto it = stored_.find(id);
        return it == stored_.end() ? std::nullopt : std::optional<stored_state>{it->second};
    });
    have_list_ = true;
    std::size_t fired = 0;
    for (const auto& e : book_.entries()) {
        fired += e.fired ? 1 : 0;
    }
    spdlog::info("checking the kept list of {} alerts ({} fired, waiting for the backend to drop them) until "
                 "the backend answers",
                 n, fired);
}

void user_alerts_process::apply_refresh(fetch_outcome o)
{
    if (!o.parsed || o.parsed->error) {
        ++refresh_failed_;
        const std::string err = o.parsed ? "unusable answer: " + *o.parsed->error : o.error;
        if (err != last_refresh_error_) {
            spdlog::error("cannot refresh the active alerts from the backend: {}; still checking {} kept alerts", err,
                          book_.size());
        }
        last_refresh_error_ = err;
        return;
    }
    if (!last_refresh_error_.empty()) {
        spdlog::info("the backend answers again ({} alerts)", o.parsed->alerts.size());
    }
    last_refresh_error_.clear();
    ++refresh_ok_;
    last_good_refresh_ms_ = vs::realtime_ms();
    auto& p = *o.parsed;
    const std::size_t bad = p.rejected + p.over_symbol_limit + p.over_total_limit + p.duplicates;
    alerts_invalid_.store(alerts_invalid_.load() + bad);
    std::string problem;
    if (bad > 0) {
        std::string sample;
        for (const auto& r : p.rejected_sample) {
            sample += fmt::format("{}{}: {}", sample.empty() ? "" : "; ", r.id, r.reason);
        }
        problem = fmt::format("{} alerts skipped ({} invalid, {} duplicate ids, {} over the per-symbol limit, {} over "
                              "the total limit){}{}",
                              bad, p.rejected, p.duplicates, p.over_symbol_limit, p.over_total_limit,
                              sample.empty() ? "" : ": ", sample);
        if (problem != last_list_problem_) {
            spdlog::warn("backend list: {}", problem);
        }
    }
    last_list_problem_ = problem;

    const auto h = kept_hash(p.alerts);
    std::string kept = h != kept_hash_ ? serialize_kept(p.alerts) : std::string{};
    const auto before = book_.size();
    auto gone = book_.replace(std::move(p.alerts), [&](const std::string& id) -> std::optional<stored_state> {
        const auto it = stored_.find(id);
        return it == stored_.end() ? std::nullopt : std::optional<stored_state>{it->second};
    });
    // State of ids the backend no longer lists (kept from a run whose list was never kept).
    std::vector<std::string> orphans;
    for (const auto& [id, st] : stored_) {
        if (!book_.index_of(id)) {
            orphans.push_back(id);
        }
    }
    stored_.clear();   // every id known from now on is in the book
    if (!have_list_) {
        first_list_ = true;   // the timed tiers' first tick passed with nothing to check
    }
    have_list_ = true;
    if (updates_) {
        updates_->set_list(book_.ids());
    }
    std::vector<vs::outbox::state_change> changes;
    if (h != kept_hash_) {
        changes.push_back({std::string{key_list}, std::move(kept)});
    }
    gone.insert(gone.end(), orphans.begin(), orphans.end());
    for (const auto& id : gone) {
        changes.push_back({std::string{prev_prefix} + id, std::nullopt});
        changes.push_back({std::string{fired_prefix} + id, std::nullopt});
    }
    if (h != kept_hash_) {
        // The parsed list's strings are free now (book_.replace): back to the system before
        // LMDB copies the kept list (~12 MB for 100,000 alerts) next to our own copy.
        ::malloc_trim(0);
    }
    if (!changes.empty()) {
        try {
            ctx_.commit({}, changes);
            kept_hash_ = h;
        } catch (const std::exception& e) {
            spdlog::error("cannot keep the alert list in LMDB: {}", e.what());
        }
    }
    if (book_.size() != before || !gone.empty()) {
        spdlog::info("active alerts: {} ({} left since the last list)", book_.size(), gone.size());
    }
    want_oi();
    refresh_gauges();
    ::malloc_trim(0);   // the answer (25 MB for 100,000 alerts) and the old list go back to the system
}

void user_alerts_process::want_oi()
{
    if (!poller_) {
        return;
    }
    std::map<std::string, milliseconds> wanted;
    const milliseconds fastest{cli_.get_int("oi-min-poll-ms", 1000, 3'600'000)};
    for (const auto& e : book_.entries()) {
        if (e.fired || e.type != alert_type::oi_cross) {
            continue;
        }
        const auto& every = intervals_.every[static_cast<std::size_t>(e.user_tier)];
        if (!every) {
            continue;
        }
        const milliseconds period = std::max(*every, fastest);
        auto [it, added] = wanted.try_emplace(book_.groups()[e.group].symbol, period);
        if (!added) {
            it->second = std::min(it->second, period);
        }
    }
    poller_->set_wanted({wanted.begin(), wanted.end()});
}

void user_alerts_process::refresh_gauges()
{
    const auto c = book_.counts();
    for (std::size_t t = 0; t < tier_count; ++t) {
        std::size_t all = 0;
        for (std::size_t a = 0; a < alert_type_count; ++a) {
            all += c[t][a];
            if (static_cast<tier>(t) != tier::other) {
                ctx_.gauge(fmt::format("alerts_{}_{}", to_string(static_cast<tier>(t)), short_name(static_cast<alert_type>(a))),
                           static_cast<double>(c[t][a]));
            }
        }
        if (static_cast<tier>(t) == tier::other) {
            ctx_.gauge("alerts_other_tier", static_cast<double>(all));
        }
    }
    ctx_.gauge("alerts_active", static_cast<double>(book_.size()));
}

std::string user_alerts_process::trigger_record(const trigger_event& t, std::string_view outbox_id, std::int64_t now)
{
    const auto& e = book_.entries()[t.index];
    const auto& symbol = book_.symbol(t.index);
    const auto id = book_.id(t.index);
    fbb_.Clear();
    const auto rec = vs::schema::CreateUserAlertTrigger(
        fbb_, fbb_.CreateString(symbol), now / 1'000'000, now, vs::schema::MarketType::UsdM,
        fbb_.CreateString(outbox_id.data(), outbox_id.size()), fbb_.CreateString(id.data(), id.size()),
        fbb_.CreateString(to_string(e.type)), fbb_.CreateString(t.crossed_up ? "above" : "below"), e.threshold,
        t.previous, t.current);
    fbb_.Finish(rec);
    return std::string{reinterpret_cast<const char*>(fbb_.GetBufferPointer()), fbb_.GetSize()};
}

void user_alerts_process::finish_check(check_output& out, const char* why)
{
    auto& entries = book_.entries();
    if (!out.triggers.empty() || !out.must_persist.empty()) {
        std::vector<vs::outbox::alert> alerts;
        std::vector<vs::outbox::state_change> changes;
        const auto now_ns = vs::realtime_ns();
        for (const auto& t : out.triggers) {
            const std::string id{book_.id(t.index)};
            vs::outbox::alert a;
            a.kind = "user_alert";
            a.label = "user alerts";
            // apiKey is added by vs-deliver at send time: no secret is stored in the outbox.
            a.backend = vs::outbox::backend_call{
                std::string{trigger_path},
                boost::json::serialize(boost::json::object{{"alertId", id},
                                                           {"symbol", book_.symbol(t.index)},
                                                           {"currentValue", t.current},
                                                           {"previousValue", t.previous},
                                                           {"crossedUp", t.crossed_up}})};
            // The channel's record, built inside the commit with the outbox id (nats target).
            a.bus = ctx_.alert_record(trigger_type, book_.symbol(t.index), [this, &t, now_ns](std::string_view oid) {
                return trigger_record(t, oid, now_ns);
            });
            alerts.push_back(std::move(a));
            changes.push_back({std::string{prev_prefix} + id, num(t.current)});
            changes.push_back({std::string{fired_prefix} + id, "1"});
        }
        for (const auto i : out.must_persist) {
            changes.push_back({std::string{prev_prefix}.append(book_.id(i)), num(entries[i].prev)});
        }
        std::vector<std::string> ids;
        try {
            ids = ctx_.commit(alerts, trigger_targets_, changes);
        } catch (const std::exception& e) {
            // Nothing was committed: the alerts are checked again from their old prev at
            // the next check, so the cross is found (and committed) then.
            spdlog::error("cannot commit {} triggers: {}; they are retried at the next check", out.triggers.size(),
                          e.what());
            for (const auto& t : out.triggers) {
                entries[t.index].fired = false;
                entries[t.index].prev = t.previous;
            }
            out.triggers.clear();
            return;
        }
        for (const auto i : out.must_persist) {
            entries[i].persisted = entries[i].prev;
            entries[i].has_persisted = true;
            entries[i].dirty = false;
        }
        for (std::size_t k = 0; k < out.triggers.size(); ++k) {
            const auto& t = out.triggers[k];
            auto& e = entries[t.index];
            e.persisted = t.current;
            e.has_persisted = true;
            e.dirty = false;
            ++triggers_;
            const std::string& oid = k < ids.size() ? ids[k] : std::string{};
            spdlog::info("trigger {} {} {} {} {} (prev {} -> {}, {} tier, {} check): outbox {}", book_.id(t.index),
                         book_.symbol(t.index), to_string(e.type), t.crossed_up ? "crossed up" : "crossed down",
                         num(e.threshold), num(t.previous), num(t.current), to_string(e.user_tier), why,
                         oid.empty() ? "(no backend configured)" : oid);
            const auto& rec = alerts[k].bus->bytes;   // exactly what the outbox keeps
            ctx_.writer().publish(trigger_type, book_.symbol(t.index),
                                  {reinterpret_cast<const std::byte*>(rec.data()), rec.size()}, now_ns);
        }
        if (!out.triggers.empty()) {
            ctx_.writer().notify();
            refresh_gauges();
        }
    }
    if (updates_) {
        for (const auto& u : out.updates) {
            updates_->post(u.index, u.current);
        }
    }
    ++checks_;
    compared_ += out.checked;
    skipped_stale_ += out.skipped_stale;
    skipped_missing_ += out.skipped_missing;
}

void user_alerts_process::flush_prevs()
{
    // In transactions of at most `batch` values: each value stands alone (no need for one
    // transaction), and saving all 100,000 at once held ~20 MB of keys and LMDB pages (the
    // process's RSS peak, at stop).
    constexpr std::size_t batch = 8192;
    std::vector<vs::outbox::state_change> changes;
    std::vector<std::uint32_t> idx;
    auto& entries = book_.entries();
    auto save = [&]() -> bool {
        if (changes.empty()) {
            return true;
        }
        try {
            ctx_.commit({}, changes);
        } catch (const std::exception& e) {
            spdlog::error("cannot save {} last checked values: {}", changes.size(), e.what());
            return false;
        }
        for (const auto i : idx) {
            entries[i].persisted = entries[i].prev;
            entries[i].has_persisted = true;
            entries[i].dirty = false;
        }
        changes.clear();
        idx.clear();
        return true;
    };
    for (std::uint32_t i = 0; i < entries.size(); ++i) {
        if (entries[i].dirty) {
            changes.push_back({std::string{prev_prefix}.append(book_.id(i)), num(entries[i].prev)});
            idx.push_back(i);
            if (changes.size() >= batch && !save()) {
                return;
            }
        }
    }
    save();
}

void user_alerts_process::report_missing(std::vector<std::string> symbols, vs::daemon::follower& market)
{
    if (symbols.empty()) {
        return;
    }
    // While vs-feed fills the table after a start every symbol is missing: only a symbol
    // absent from a populated market is "not on the bus".
    const auto st = market.table().status();
    if (!st.writer_alive || st.table_used < 20) {
        return;
    }
    for (auto& s : symbols) {
        if (unknown_logged_.size() < 10'000 && unknown_logged_.insert(s).second) {
            const auto* g = book_.group(s);
            std::size_t n = 0;
            if (g != nullptr) {
                for (const auto& v : g->by_type) {
                    n += v.size();
                }
            }
            spdlog::warn("symbol {} is not on the bus (no ticker or mark price among {} market records): its {} "
                         "alerts are skipped at every check (counted in skipped_missing)",
                         s, st.table_used, n);
            last_unknown_ = s;
        }
    }
}

vs::daemon::health user_alerts_process::probe()
{
    // The fetch thread bounds each attempt by its timeouts: one that has not finished an
    // attempt for much longer is stuck, and a restart is the cure.
    if (fetcher_ != nullptr && fetch_stuck_ms_ > 0) {
        const auto last = fetcher_->last_attempt_ms();
        const auto now = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
        const auto since = last == 0 ? now - started_ms_ : now - last;
        if (since > fetch_stuck_ms_) {
            return vs::daemon::health::bad(fmt::format("the backend fetch thread is stuck ({} s without an attempt)",
                                                       since / 1000));
        }
    }
    std::string s = fmt::format("{} alerts", book_.size());
    if (!have_list_) {
        s += ", no list yet";
    }
    if (!last_refresh_error_.empty()) {
        s += "; backend: " + last_refresh_error_;
    }
    if (!last_list_problem_.empty()) {
        s += "; " + last_list_problem_;
    }
    if (!unknown_logged_.empty()) {
        s += fmt::format("; {} symbols not on the bus (last: {})", unknown_logged_.size(), last_unknown_);
    }
    return vs::daemon::health::good(s);
}

int user_alerts_process::run()
{
    intervals_.every[static_cast<std::size_t>(tier::free)] = interval_option(cli_, "free-interval-ms");
    intervals_.every[static_cast<std::size_t>(tier::pro)] = interval_option(cli_, "pro-interval-ms");
    intervals_.every[static_cast<std::size_t>(tier::elite)] = interval_option(cli_, "elite-interval-ms");
    intervals_.every[static_cast<std::size_t>(tier::other)] = std::nullopt;
    value_ages ages;
    ages.price = milliseconds{cli_.get_int("price-max-age-ms", 100, 86'400'000)};
    ages.funding = milliseconds{cli_.get_int("funding-max-age-ms", 100, 86'400'000)};
    ages.oi = milliseconds{cli_.get_int("oi-max-age-ms", 100, 86'400'000)};
    parse_limits limits;
    limits.max_alerts = static_cast<std::size_t>(cli_.get_int("max-alerts", 1, 10'000'000));
    limits.max_per_symbol = static_cast<std::size_t>(cli_.get_int("max-alerts-per-symbol", 1, 10'000'000));
    const milliseconds refresh{cli_.get_int("refresh-ms", 100, 86'400'000)};
    const milliseconds flush_every{cli_.get_int("state-flush-ms", 0, 86'400'000)};
    const int concurrency = static_cast<int>(cli_.get_int("update-concurrency", 1, 64));

    backend_config backend;
    backend.base_url = cli_.get("backend-url");
    backend.api_key = cli_.get("api-key");
    backend.http.request_timeout = milliseconds{cli_.get_int("request-timeout-ms", 100, 600'000)};
    backend.http.connect_timeout = std::min(backend.http.request_timeout, milliseconds{5000});
    backend.http.body_limit = static_cast<std::size_t>(cli_.get_int("max-list-mb", 1, 4096)) << 20;
    backend.http.user_agent = "vs-user-alerts/" VS_VERSION;

    if (ctx_.outbox().targets().has(vs::outbox::target::prod)) {
        trigger_targets_.add(vs::outbox::target::prod);
    }
    if (ctx_.outbox().targets().has(vs::outbox::target::nats)) {
        trigger_targets_.add(vs::outbox::target::nats);   // the trigger's record to NATS (issue 17)
    }
    load_state();
    refresh_gauges();

    std::unique_ptr<backend_fetcher> fetcher;
    if (backend.base_url.empty()) {
        spdlog::error("no backend URL (VOLSPIKE_API_URL / --backend-url): no alert list to check beyond the kept one, "
                      "triggers are not sent");
    } else {
        if (backend.api_key.empty()) {
            spdlog::warn("no API key (VOLSPIKE_API_KEY / --api-key): the backend will answer 401");
        }
        fetcher = std::make_unique<backend_fetcher>(backend, refresh, limits);
        fetcher_ = fetcher.get();
        fetch_stuck_ms_ = 3 * (refresh + backend.http.request_timeout + backend.http.connect_timeout).count() + 10'000;
        updates_ = std::make_unique<update_sender>(
            backend, concurrency, update_counters{&updates_sent_, &updates_failed_, &updates_replaced_});
        updates_->set_list(book_.ids());
    }

    auto market = ctx_.follow(cli_.get("market-channel"));
    auto oi = ctx_.follow(cli_.get("oi-channel"));
    vs::bus::channel_config oi_cfg;
    oi_cfg.prefix = ctx_.bus_prefix();
    oi_cfg.name = cli_.get("oi-channel");
    poller_ = std::make_unique<oi_poller>(vs::net::rest_options_from(cli_), oi_cfg, polled_, ages.oi,
                                          oi_poll_counters{&rest_calls_, &rest_failures_, &rest_skipped_});
    want_oi();
    bus_values values{market.table(), &oi.table(), &polled_, ages};

    cadence cad{intervals_, std::chrono::steady_clock::now()};
    const tier_set on_update = cad.on_update();
    spdlog::info("cadence: pro {}, elite {}, free {}; list refresh every {} s; {} update-checked connections",
                 interval_text(intervals_.every[1]), interval_text(intervals_.every[2]),
                 interval_text(intervals_.every[0]), refresh.count() / 1000.0, concurrency);
    ctx_.set_probe([this] { return probe(); });
    ctx_.ready();

    check_output out;
    std::unordered_set<std::string> updated;
    auto last_flush = std::chrono::steady_clock::now();
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        const auto until = std::min(cad.next(), now + milliseconds{200});
        const auto wait = std::max(milliseconds{0}, std::chrono::duration_cast<milliseconds>(until - now));
        if (!ctx_.wait(wait, on_update.empty() ? nullptr : &market)) {
            break;
        }
        if (fetcher) {
            if (auto o = fetcher->take()) {
                apply_refresh(std::move(*o));
            }
        }
        market.table().attach();
        oi.table().attach();
        values.set_now(vs::realtime_ms());
        if (!on_update.empty()) {
            updated.clear();
            market.poll([&](const vs::bus::record_view& r) {
                if (r.type == ticker_type || r.type == mark_type) {
                    const auto s = symbol_of(r);
                    if (!s.empty() && book_.group(s) != nullptr) {
                        updated.emplace(s);
                    }
                }
            });
            if (!updated.empty()) {
                out.clear();
                for (const auto& s : updated) {
                    check_symbol(book_, *book_.group(s), on_update, values, out);
                }
                finish_check(out, "update");
            }
        }
        auto due = cad.due(std::chrono::steady_clock::now());
        if (std::exchange(first_list_, false)) {
            // The very first list (no kept one): check every timed tier at once, off the grid.
            for (std::size_t t = 0; t < tier_count; ++t) {
                if (intervals_.every[t] && intervals_.every[t]->count() > 0) {
                    due.add(static_cast<tier>(t));
                }
            }
        }
        if (!due.empty()) {
            out.clear();
            check(book_, due, values, out);
            finish_check(out, "timed");
        }
        report_missing(values.take_missing_symbols(), market);
        if (flush_every.count() > 0 && std::chrono::steady_clock::now() - last_flush >= flush_every) {
            last_flush = std::chrono::steady_clock::now();
            flush_prevs();
        }
        ctx_.gauge("updates_pending", updates_ ? static_cast<double>(updates_->pending()) : 0.0);
    }
    spdlog::info("stopping: saving the last checked values");
    flush_prevs();
    fetcher_ = nullptr;
    if (fetcher) {
        fetcher->stop();
    }
    if (poller_) {
        poller_->stop();
    }
    if (updates_) {
        updates_->stop();
    }
    return vs::cli::exit_ok;
}

}  // namespace

int main(int argc, char** argv)
{
    // Buffers of 1 MiB and more (the /active answer, the list) are mapped and unmapped, never
    // left in the heap: glibc's adaptive threshold would otherwise keep the largest answer
    // seen resident for the process's life.
    ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
    vs::daemon::spec s{"vs-user-alerts",
                       "Check users' price, funding and open-interest cross alerts against the bus.",
                       "VOLSPIKE_API_URL=https://api.example VOLSPIKE_API_KEY=... vs-user-alerts --state-dir /var/lib/volspike"};
    s.channel = "user_alerts";
    s.record_types = {trigger_type};
    s.outbox = true;
    s.auto_ready = false;
    s.drain = std::chrono::seconds{5};
    (void)status_type;
    return vs::daemon::main(
        s, argc, argv,
        [](vs::cli::parser& cli) {
            cli.option("backend-url", "URL", "", "backend base URL (the /active list; update-checked)",
                       {"VOLSPIKE_API_URL"})
                .option("api-key", "KEY", "", "backend API key (query and body apiKey)", {"VOLSPIKE_API_KEY"})
                .option("refresh-ms", "MS", "30000", "how often the active list is fetched",
                        {"VS_USER_ALERTS_REFRESH_MS"})
                .option("pro-interval-ms", "MS", "30000", "Pro check interval (0: every bus update, -1: never)",
                        {"VS_USER_ALERTS_PRO_MS"})
                .option("elite-interval-ms", "MS", "30000", "Elite check interval (0: every bus update, -1: never)",
                        {"VS_USER_ALERTS_ELITE_MS"})
                .option("free-interval-ms", "MS", "300000", "Free check interval (0: every bus update, -1: never)",
                        {"VS_USER_ALERTS_FREE_MS"})
                .option("price-max-age-ms", "MS", "60000", "a last price older than this is stale (not compared)",
                        {"VS_USER_ALERTS_PRICE_MAX_AGE_MS"})
                .option("funding-max-age-ms", "MS", "60000", "a funding rate older than this is stale",
                        {"VS_USER_ALERTS_FUNDING_MAX_AGE_MS"})
                .option("oi-max-age-ms", "MS", "90000", "an open interest older than this is stale",
                        {"VS_USER_ALERTS_OI_MAX_AGE_MS"})
                .option("oi-min-poll-ms", "MS", "5000", "shortest period of this process's own openInterest polls",
                        {"VS_USER_ALERTS_OI_MIN_POLL_MS"})
                .option("update-concurrency", "N", "4", "update-checked requests in flight (kept-alive connections)",
                        {"VS_USER_ALERTS_UPDATE_CONCURRENCY"})
                .option("max-alerts", "N", "250000", "alerts accepted from one list", {"VS_USER_ALERTS_MAX"})
                .option("max-alerts-per-symbol", "N", "10000", "alerts accepted for one symbol",
                        {"VS_USER_ALERTS_MAX_PER_SYMBOL"})
                .option("max-list-mb", "MB", "64", "largest /active answer read")
                .option("state-flush-ms", "MS", "0",
                        "also save every changed last checked value this often (0: only changes of side, "
                        "which decide crosses, and at stop)")
                .option("request-timeout-ms", "MS", "10000", "timeout of one backend request")
                .option("market-channel", "NAME", "market", "bus channel of vs-feed")
                .option("oi-channel", "NAME", "oi", "bus channel of vs-oi");
            vs::net::add_rest_options(cli);
        },
        [](vs::daemon::context& ctx) { return user_alerts_process{ctx}.run(); });
}
