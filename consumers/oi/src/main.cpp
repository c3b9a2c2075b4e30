// vs-oi: the liquid universe, open-interest polling inside the host-wide REST weight budget,
// and the OI spike alerts (replaces oi_realtime_poller.py and oi_liquid_universe_job.py).
//
// One thread (the daemon body) owns the bus writer of `oi`, the schedule, the rules and every
// LMDB commit; a few worker threads (poll_pool) make the REST calls. See README.md.
#include <malloc.h>
#include <sys/mman.h>


#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/json.hpp>
#include <flatbuffers/flatbuffers.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "exchange_info.hpp"
#include "pacing.hpp"
#include "poll_pool.hpp"
#include "rule_options.hpp"
#include "schemas/alerts_generated.h"
#include "schemas/common_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/open_interest_generated.h"
#include "schemas/universe_generated.h"
#include "vs/bus/channel.hpp"
#include "vs/bus/records.hpp"
#include "vs/common/cli.hpp"
#include "vs/common/clock.hpp"
#include "vs/daemon/daemon.hpp"
#include "vs/net/binance_rest.hpp"
#include "vs/net/rest_weight.hpp"
#include "vs/oi/payload.hpp"
#include "vs/oi/rules.hpp"
#include "vs/oi/state_codec.hpp"
#include "vs/oi/universe.hpp"

namespace {

using namespace std::chrono_literals;
using vs::schema::RecordType;
using steady = std::chrono::steady_clock;

constexpr auto oi_type = static_cast<vs::bus::record_type>(RecordType::OpenInterest);
constexpr auto universe_type = static_cast<vs::bus::record_type>(RecordType::LiquidUniverse);
constexpr auto alert_type = static_cast<vs::bus::record_type>(RecordType::OiSpikeAlert);
constexpr auto mark_type = static_cast<vs::bus::record_type>(RecordType::MarkPrice);
constexpr auto ticker_type = static_cast<vs::bus::record_type>(RecordType::Ticker24h);

constexpr std::array<const char*, vs::oi::timeframe_count> timeframe_short{"5m", "15m", "1h"};

std::string state_key(std::string_view symbol) { return "s/" + std::string{symbol}; }
std::string last_alerts_key(std::string_view symbol) { return "a/" + std::string{symbol}; }

/// The last alert of one timeframe, as /oi/{symbol} shows it (OpenInterest.last_alerts).
struct last_alert {
    int direction = 0;   ///< +1 up, -1 down; 0 = none
    double pct = 0;
    std::int64_t time_ms = 0;
    std::string id;
};
using last_alerts = std::array<last_alert, vs::oi::timeframe_count>;

/// "a/<SYMBOL>" in LMDB: one line per timeframe that alerted, "<k> <dir> <pct> <time_ms> <id>".
std::string encode_last_alerts(const last_alerts& la)
{
    std::string out;
    for (std::size_t k = 0; k < la.size(); ++k) {
        if (la[k].direction != 0) {
            out += fmt::format("{} {} {:.17g} {} {}\n", k, la[k].direction, la[k].pct, la[k].time_ms,
                               la[k].id.empty() ? "-" : la[k].id);
        }
    }
    return out;
}

/// Throws std::invalid_argument on anything encode_last_alerts does not write.
last_alerts decode_last_alerts(std::string_view text)
{
    last_alerts la;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        const std::string line{text.substr(0, nl)};
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        unsigned k = 0;
        int dir = 0;
        double pct = 0;
        long long t = 0;
        char id[64] = {};
        if (std::sscanf(line.c_str(), "%u %d %lf %lld %63s", &k, &dir, &pct, &t, id) != 5 || k >= la.size() ||
            (dir != 1 && dir != -1) || !std::isfinite(pct) || t <= 0) {
            throw std::invalid_argument("bad last-alert line '" + line + "'");
        }
        la[k] = last_alert{dir, pct, t, std::string{id} == "-" ? std::string{} : std::string{id}};
    }
    return la;
}

struct options {
    std::string market_channel;
    int workers = 8;
    std::chrono::seconds universe_every{300}, post_every{300}, ticker_max_age{900}, ticker_wait{120};
    double ticker_coverage = 0.9;
    std::int64_t mark_max_age_ms = 10'000;
    std::chrono::seconds batch_dead_after{60};
    std::chrono::seconds persist_every{60};
    bool backfill = true;
    int hist_per_5min = 1000;
    double stall_intervals = 3;
};

options options_from(const vs::cli::parser& cli)
{
    options o;
    o.market_channel = cli.get("market-channel");
    o.workers = static_cast<int>(cli.get_int("workers", 1, 64));
    o.universe_every = std::chrono::seconds{cli.get_int("universe-interval-s", 1, 86400)};
    o.post_every = std::chrono::seconds{cli.get_int("universe-post-s", 1, 86400)};
    o.ticker_max_age = std::chrono::seconds{cli.get_int("ticker-max-age-s", 1, 86400)};
    o.ticker_wait = std::chrono::seconds{cli.get_int("ticker-wait-s", 0, 86400)};
    o.ticker_coverage = cli.get_double("ticker-coverage", 0.0, 1.0);
    o.mark_max_age_ms = cli.get_int("mark-max-age-ms", 100, 3'600'000);
    o.batch_dead_after = std::chrono::seconds{cli.get_int("batch-dead-after-s", 1, 86400)};
    o.persist_every = std::chrono::seconds{cli.get_int("history-persist-s", 1, 3600)};
    o.backfill = cli.get_int("backfill", 0, 1) == 1;
    o.hist_per_5min = static_cast<int>(cli.get_int("hist-requests-per-5min", 1, 1000));
    o.stall_intervals = cli.get_double("stall-intervals", 1.0, 1000.0);
    return o;
}

vs::bus::channel_config market_config(const std::string& prefix, const std::string& name)
{
    vs::bus::channel_config c;
    c.prefix = prefix;
    c.name = name;
    return c;
}

vs::bus::reader_options market_reader_options()
{
    vs::bus::reader_options o;
    o.register_reader = false;   // the table only: no ring position to lag behind
    o.name = "vs-oi";
    return o;
}

/// Drops the pages of `file`'s mappings in this process from its resident set (MADV_DONTNEED):
/// the LMDB map of the outbox is read-only here (no MDB_WRITEMAP: writes go through pwrite),
/// so its pages are the page cache's, and reading 650 states at a restore or touching them in
/// a write transaction need not keep ~18 MB of them counted in vs-oi's RSS. A later read
/// faults them in again from the page cache.
void release_mapped_pages(const std::filesystem::path& file)
{
    std::ifstream maps{"/proc/self/maps"};
    const std::string name = file.string();
    std::string line;
    while (std::getline(maps, line)) {
        if (line.size() < name.size() || line.compare(line.size() - name.size(), name.size(), name) != 0) {
            continue;
        }
        unsigned long lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && hi > lo) {
            ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
        }
    }
}

/// The heap's free memory back to the system (transient buffers: restore, persist, the
/// exchangeInfo reply) and the LMDB pages this process touched.
void release_memory(const std::filesystem::path& outbox_dir)
{
    ::malloc_trim(0);
    release_mapped_pages(outbox_dir / "data.mdb");
}

std::span<const std::byte> bytes_of(const flatbuffers::FlatBufferBuilder& fbb)
{
    return {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

/// One fresh ticker of the market table.
struct ticker_seen {
    double quote_volume = 0;
    std::int64_t recv_ms = 0;
};

struct mark_seen {
    double mark = std::nan("");
    double funding = std::nan("");
    std::int64_t recv_ms = 0;
};

class oi_daemon {
public:
    oi_daemon(vs::daemon::context& ctx, options opt, vs::oi::config rules,
              vs::net::rest_options rest)
        : ctx_(ctx),
          opt_(std::move(opt)),
          rules_(std::move(rules)),
          rest_(std::move(rest)),
          budget_(rest_.budget),
          pool_(rest_, opt_.workers),
          market_(market_config(ctx.bus_prefix(), opt_.market_channel), market_reader_options()),
          requests_(ctx.counter("requests")),
          weight_(ctx.counter("weight_used")),
          failures_(ctx.counter("request_failures")),
          skipped_(ctx.counter("skipped_samples")),
          alerts_(ctx.counter("alerts")),
          samples_(ctx.counter("samples")),
          delisted_(ctx.counter("delisted")),
          cycles_(ctx.counter("cycles")),
          backfilled_(ctx.counter("backfilled_samples")),
          universe_posts_(ctx.counter("universe_posts")),
          bad_replies_(ctx.counter("bad_replies"))
    {
    }

    int run();

private:
    void restore();
    /// Queues openInterestHist requests for those of `symbols` whose newest sample is older
    /// than 2 min (none: a new member), covering the longest window (+ 5 min).
    void queue_backfill(const std::vector<std::string>& symbols, std::int64_t now, std::string_view why);
    void schedule_exchange_info(steady::time_point now);
    void decide_universe(steady::time_point now);
    void apply_universe(vs::oi::universe_update next, bool post);
    void publish_universe(const std::vector<std::string>& added, const std::vector<std::string>& removed);
    void start_cycle(steady::time_point now);
    void dispatch(steady::time_point now);
    void handle(vs::oi::poll_result& r);
    void handle_oi(vs::oi::poll_result& r);
    void handle_hist(vs::oi::poll_result& r);
    void finish_cycle(steady::time_point now);
    void persist(bool all);
    void update_interval();
    mark_seen mark_of(std::string_view symbol);
    vs::bus::writer& w() { return ctx_.writer(); }

    vs::daemon::context& ctx_;
    options opt_;
    vs::oi::config rules_;
    vs::net::rest_options rest_;
    vs::net::weight_budget budget_;
    vs::oi::poll_pool pool_;
    vs::bus::reader market_;
    vs::oi::budget_pacer pacer_;

    std::vector<vs::oi::member> members_;
    std::int64_t posted_ms_ = 0;
    std::optional<std::vector<vs::oi::contract>> contracts_;
    std::unordered_map<std::string, vs::oi::symbol_state> states_;
    std::unordered_map<std::string, last_alerts> last_alerts_;   ///< only symbols that ever alerted
    std::unordered_map<std::string, steady::time_point> persisted_at_;
    std::set<std::string> dirty_;
    std::set<std::string> delisted_set_;
    std::vector<std::string> poll_set_;

    // schedule
    bool exchange_in_flight_ = false;
    steady::time_point next_exchange_{};
    steady::time_point next_universe_{};
    steady::time_point started_ = steady::now();
    steady::time_point last_wait_log_{};
    bool universe_decided_ = false;
    double interval_s_ = 20;
    bool cycle_active_ = false;
    std::uint64_t cycle_no_ = 0;
    std::vector<std::string> cycle_symbols_;
    std::size_t cycle_next_ = 0;
    std::size_t cycle_outstanding_ = 0;
    std::size_t cycle_samples_ = 0;   ///< successful samples of the current cycle
    steady::time_point cycle_start_{};
    std::int64_t cycle_start_ms_ = 0;
    double cycle_spacing_s_ = 0;
    steady::time_point next_cycle_{};
    steady::time_point last_cycle_end_ = steady::now();
    bool any_cycle_ = false;
    std::vector<vs::oi::batch_row> batch_;
    std::deque<vs::oi::poll_job> hist_queue_;
    steady::time_point next_hist_{};
    std::uint64_t own_weight_ = 0;
    flatbuffers::FlatBufferBuilder fbb_{1024};

    std::atomic<std::uint64_t>& requests_;
    std::atomic<std::uint64_t>& weight_;
    std::atomic<std::uint64_t>& failures_;
    std::atomic<std::uint64_t>& skipped_;
    std::atomic<std::uint64_t>& alerts_;
    std::atomic<std::uint64_t>& samples_;
    std::atomic<std::uint64_t>& delisted_;
    std::atomic<std::uint64_t>& cycles_;
    std::atomic<std::uint64_t>& backfilled_;
    std::atomic<std::uint64_t>& universe_posts_;
    std::atomic<std::uint64_t>& bad_replies_;
};

void oi_daemon::restore()
{
    if (auto u = ctx_.state("universe")) {
        try {
            members_ = vs::oi::decode_universe(*u);
        } catch (const std::exception& e) {
            spdlog::error("the stored universe does not decode ({}); starting without one (nothing is posted until "
                          "the tickers are in)", e.what());
        }
    }
    if (auto p = ctx_.state("universe_posted_ms")) {
        posted_ms_ = std::atoll(p->c_str());
    }
    std::size_t restored = 0, broken = 0;
    const std::int64_t now = vs::realtime_ms();
    ctx_.outbox().state_for_each(ctx_.program(), [&](std::string_view key, std::string_view value) {
        if (key.rfind("a/", 0) == 0) {
            try {
                last_alerts_[std::string{key.substr(2)}] = decode_last_alerts(value);
            } catch (const std::exception& e) {
                spdlog::error("the stored last alerts of {} do not decode ({}); /oi shows none", key.substr(2),
                              e.what());
            }
            return;
        }
        if (key.rfind("s/", 0) != 0) {
            return;
        }
        std::string sym{key.substr(2)};
        try {
            states_.emplace(sym, vs::oi::decode_state(rules_, value));
            persisted_at_[sym] = steady::now();
            ++restored;
        } catch (const std::exception& e) {
            ++broken;
            spdlog::error("the stored OI state of {} does not decode ({}); it starts empty", sym, e.what());
        }
    });
    for (const auto& m : members_) {
        poll_set_.push_back(m.symbol);
    }
    release_memory(ctx_.outbox().path());   // the decode buffers and the LMDB pages read
    spdlog::info("restored a universe of {} symbols and the OI state of {} symbols{}", members_.size(), restored,
                 broken > 0 ? fmt::format(" ({} unreadable)", broken) : "");
    // Back-fill the windows a downtime left blind, from openInterestHist.
    queue_backfill(poll_set_, now, "after the downtime");
}

void oi_daemon::queue_backfill(const std::vector<std::string>& symbols, std::int64_t now, std::string_view why)
{
    if (!opt_.backfill || symbols.empty()) {
        return;
    }
    std::int64_t longest = 0;
    for (const auto& tf : rules_.timeframes) {
        longest = std::max(longest, tf.lookback_s + tf.tolerance_s());
    }
    const std::int64_t horizon = now - longest * 1000 - 300'000;
    std::size_t n = 0;
    for (const auto& sym : symbols) {
        auto it = states_.find(sym);
        const std::int64_t last = it == states_.end() || it->second.hist.empty() ? 0 : it->second.hist.newest().time_ms;
        if (now - last < 120'000) {
            continue;   // not blind: nothing to fill
        }
        if (std::any_of(hist_queue_.begin(), hist_queue_.end(),
                        [&](const vs::oi::poll_job& q) { return q.symbol == sym; })) {
            continue;   // already queued
        }
        vs::oi::poll_job j;
        j.kind = vs::oi::job_kind::oi_hist;
        j.symbol = sym;
        j.start_ms = std::max(last + 1, horizon);
        j.end_ms = now;
        hist_queue_.push_back(std::move(j));
        ++n;
    }
    if (n > 0) {
        spdlog::info("back-filling {} symbols from openInterestHist {} (at most {} requests per 5 min)", n, why,
                     opt_.hist_per_5min);
    }
}

mark_seen oi_daemon::mark_of(std::string_view symbol)
{
    mark_seen m;
    market_.latest(mark_type, symbol, [&](const vs::bus::record_view& r) {
        if (!vs::bus::verify_record(r.type, r.data)) {
            return;
        }
        const auto* mp = vs::bus::record_as<vs::schema::MarkPrice>(r.data);
        m.mark = mp->mark_price();
        m.funding = mp->funding_rate();
        m.recv_ms = mp->recv_time_ns() / 1'000'000;
    });
    return m;
}

void oi_daemon::schedule_exchange_info(steady::time_point now)
{
    if (exchange_in_flight_ || now < next_exchange_) {
        return;
    }
    vs::oi::poll_job j;
    j.kind = vs::oi::job_kind::exchange_info;
    pool_.submit(std::move(j));
    exchange_in_flight_ = true;
    next_exchange_ = now + opt_.universe_every;
}

void oi_daemon::decide_universe(steady::time_point now)
{
    if (!contracts_ || now < next_universe_) {
        return;
    }
    // The tickers of the market table: zero REST weight. A stale ticker is missing data.
    std::unordered_map<std::string, double> tickers;
    const std::int64_t now_ms = vs::realtime_ms();
    const std::int64_t max_age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(opt_.ticker_max_age).count();
    if (market_.attach() == vs::bus::attach_state::ready) {
        market_.for_each_latest(ticker_type, [&](const vs::bus::record_view& r) {
            if (!vs::bus::verify_record(r.type, r.data)) {
                return;
            }
            const auto* t = vs::bus::record_as<vs::schema::Ticker24h>(r.data);
            if (t->market() == vs::schema::MarketType::CoinM) {
                return;   // base-coin volumes never count
            }
            if (now_ms - t->recv_time_ns() / 1'000'000 > max_age_ms || !std::isfinite(t->quote_volume())) {
                return;
            }
            tickers[std::string{r.symbol}] = t->quote_volume();
        });
    }
    auto next = vs::oi::update_universe(
        rules_, members_, *contracts_,
        [&](std::string_view sym) -> std::optional<vs::oi::ticker> {
            auto it = tickers.find(std::string{sym});
            if (it == tickers.end()) {
                return std::nullopt;
            }
            return vs::oi::ticker{it->second, 1};
        },
        now_ms);
    const bool covered = static_cast<double>(next.with_ticker) >= opt_.ticker_coverage * static_cast<double>(next.eligible);
    const bool waited = now - started_ >= opt_.ticker_wait;
    if (!covered && !(waited && !members_.empty())) {
        if (now - last_wait_log_ >= 10s) {
            last_wait_log_ = now;
            spdlog::info("waiting for the market tickers before deciding the universe: {} of {} eligible symbols "
                         "have a ticker younger than {} s{}",
                         next.with_ticker, next.eligible, opt_.ticker_max_age.count(),
                         members_.empty() ? "" : " (polling the stored universe meanwhile)");
        }
        next_universe_ = now + 1s;
        return;
    }
    next_universe_ = now + opt_.universe_every;
    if (!next.postable()) {
        spdlog::warn("the universe would be empty ({} eligible, {} with a fresh ticker): keeping the stored one of {} "
                     "and posting nothing", next.eligible, next.with_ticker, members_.size());
        return;
    }
    const bool post_due = next.changed() || !universe_decided_ ||
                          now_ms - posted_ms_ >= std::chrono::duration_cast<std::chrono::milliseconds>(opt_.post_every).count();
    if (next.changed() || !universe_decided_) {
        spdlog::info("universe: {} symbols ({} entered, {} left; enter >= {:.0f}, leave < {:.0f}; {} of {} with a "
                     "fresh ticker)", next.members.size(), next.added.size(), next.removed.size(),
                     rules_.enter_quote_24h, rules_.exit_quote_24h, next.with_ticker, next.eligible);
    }
    apply_universe(std::move(next), post_due);
}

void oi_daemon::apply_universe(vs::oi::universe_update next, bool post)
{
    const std::int64_t now_ms = vs::realtime_ms();
    std::vector<vs::outbox::alert> posts;
    std::vector<vs::outbox::state_change> changes{{"universe", vs::oi::encode_universe(next.members)}};
    if (post) {
        vs::outbox::alert a;
        a.kind = "oi_universe";
        a.backend = vs::outbox::backend_call{std::string{vs::oi::universe_path}, vs::oi::universe_json(next.members, now_ms)};
        a.keep_after_delivery = false;
        a.dead_after = std::chrono::duration_cast<std::chrono::milliseconds>(2 * opt_.post_every);
        posts.push_back(std::move(a));
        changes.push_back({"universe_posted_ms", std::to_string(now_ms)});
    }
    for (const auto& s : next.removed) {
        changes.push_back({state_key(s), std::nullopt});
        if (last_alerts_.count(s) != 0) {
            changes.push_back({last_alerts_key(s), std::nullopt});
        }
    }
    // The universe, its post and the states of the symbols that left: one transaction.
    ctx_.commit(posts, changes);
    if (post) {
        posted_ms_ = now_ms;
        ++universe_posts_;
    }
    for (const auto& s : next.removed) {
        states_.erase(s);
        last_alerts_.erase(s);
        persisted_at_.erase(s);
        dirty_.erase(s);
    }
    if (!next.removed.empty()) {
        ::malloc_trim(0);
    }
    const bool publish = next.changed() || !universe_decided_;
    members_ = std::move(next.members);
    universe_decided_ = true;
    delisted_set_.clear();   // a new universe: delisted symbols are tried again if still members
    poll_set_.clear();
    for (const auto& m : members_) {
        poll_set_.push_back(m.symbol);
    }
    ctx_.gauge("universe_size", static_cast<double>(poll_set_.size()));
    // New members' 15 min and 1 h windows are not blind for an hour either.
    queue_backfill(next.added, now_ms, "that entered the universe");
    if (publish) {
        publish_universe(next.added, next.removed);
    }
    update_interval();
}

void oi_daemon::publish_universe(const std::vector<std::string>& added, const std::vector<std::string>& removed)
{
    const auto now_ns = vs::realtime_ns();
    auto build = [&](bool with_changes) {
        fbb_.Clear();
        std::vector<flatbuffers::Offset<flatbuffers::String>> syms, add, rem;
        for (const auto& m : members_) {
            syms.push_back(fbb_.CreateString(m.symbol));
        }
        if (with_changes) {
            for (const auto& s : added) {
                add.push_back(fbb_.CreateString(s));
            }
            for (const auto& s : removed) {
                rem.push_back(fbb_.CreateString(s));
            }
        }
        fbb_.Finish(vs::schema::CreateLiquidUniverse(fbb_, fbb_.CreateString(""), now_ns / 1'000'000, now_ns,
                                                     vs::schema::MarketType::UsdM, fbb_.CreateVector(syms),
                                                     fbb_.CreateVector(add), fbb_.CreateVector(rem),
                                                     rules_.enter_quote_24h, rules_.exit_quote_24h));
    };
    // The ring gets the change (members, added, removed); the table the members only, so the
    // record fits a table slot however many symbols entered at once.
    build(true);
    const auto ring = w().publish(universe_type, "", bytes_of(fbb_), now_ns, vs::bus::to_ring);
    build(false);
    const auto table = w().publish(universe_type, "", bytes_of(fbb_), now_ns, vs::bus::to_table);
    if (ring != vs::bus::publish_status::ok || table != vs::bus::publish_status::ok) {
        spdlog::warn("the LiquidUniverse record of {} symbols was not fully published (ring {}, table {})",
                     members_.size(), static_cast<int>(ring), static_cast<int>(table));
    }
    w().notify();
}

void oi_daemon::update_interval()
{
    const int n = static_cast<int>(poll_set_.size());
    const double wanted = vs::oi::poll_interval_s(rules_, n);
    const auto st = budget_.status(vs::realtime_ms());
    pacer_.observe(vs::realtime_ms(), st.weight, own_weight_);
    const double stretched = pacer_.interval_s(n, wanted, budget_.ceiling());
    if (std::abs(stretched - interval_s_) >= 0.5 && any_cycle_) {
        if (stretched > wanted) {
            spdlog::warn("REST weight budget short (others use {:.0f}/min of {}): poll interval stretched to {:.0f} s "
                         "(formula: {:.0f} s)", pacer_.others_per_minute(), budget_.ceiling(), stretched, wanted);
        } else {
            spdlog::info("poll interval back to {:.0f} s", stretched);
        }
    }
    interval_s_ = stretched;
    ctx_.gauge("interval_s", interval_s_);
}

void oi_daemon::start_cycle(steady::time_point now)
{
    cycle_symbols_.clear();
    for (const auto& s : poll_set_) {
        if (delisted_set_.count(s) == 0) {
            cycle_symbols_.push_back(s);
        }
    }
    if (cycle_symbols_.empty()) {
        next_cycle_ = now + 1s;
        return;
    }
    update_interval();
    ++cycle_no_;
    cycle_active_ = true;
    cycle_next_ = 0;
    cycle_outstanding_ = 0;
    cycle_start_ = now;
    cycle_start_ms_ = vs::realtime_ms();
    cycle_spacing_s_ = interval_s_ / static_cast<double>(cycle_symbols_.size());
    cycle_samples_ = 0;
    batch_.clear();
}

void oi_daemon::dispatch(steady::time_point now)
{
    // Back-fill requests, paced under openInterestHist's own limit (with a fifth in reserve).
    if (!hist_queue_.empty() && now >= next_hist_ && pool_.idle() > 0) {
        pool_.submit(std::move(hist_queue_.front()));
        hist_queue_.pop_front();
        next_hist_ = now + std::chrono::microseconds{static_cast<std::int64_t>(300e6 / (opt_.hist_per_5min * 0.8))};
    }
    if (!cycle_active_) {
        return;
    }
    // Requests spread evenly over the interval; a busy pool (the budget makes requests wait)
    // holds the next one back, which stretches the cycle instead of queueing a burst.
    while (cycle_next_ < cycle_symbols_.size() && pool_.idle() > 0) {
        const auto due = cycle_start_ + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(
                                            cycle_spacing_s_ * static_cast<double>(cycle_next_)));
        if (due > now) {
            break;
        }
        vs::oi::poll_job j;
        j.kind = vs::oi::job_kind::open_interest;
        j.symbol = cycle_symbols_[cycle_next_++];
        j.cycle = cycle_no_;
        pool_.submit(std::move(j));
        ++cycle_outstanding_;
    }
}

void oi_daemon::handle(vs::oi::poll_result& r)
{
    if (r.result.weight > 0) {
        weight_ += static_cast<std::uint64_t>(r.result.weight);
        own_weight_ += static_cast<std::uint64_t>(r.result.weight);
    }
    if (r.result.status != vs::net::rest_status::no_budget && r.result.status != vs::net::rest_status::stopped) {
        ++requests_;
    }
    switch (r.job.kind) {
    case vs::oi::job_kind::exchange_info: {
        exchange_in_flight_ = false;
        if (!r.result.ok()) {
            ++failures_;
            spdlog::warn("exchangeInfo failed ({} {}): keeping the previous contract list", to_string(r.result.status),
                         r.result.message);
            next_exchange_ = steady::now() + 30s;
            return;
        }
        if (auto e = vs::oi::parse_exchange_info(r.result.body)) {
            const bool first = !contracts_;
            contracts_ = std::move(*e);
            if (first) {
                spdlog::info("exchangeInfo: {} contracts, {} eligible (USDT perpetual, trading)", contracts_->size(),
                             std::count_if(contracts_->begin(), contracts_->end(),
                                           [](const vs::oi::contract& c) { return vs::oi::eligible(c); }));
            }
        } else {
            ++bad_replies_;
            spdlog::error("exchangeInfo reply does not parse or lists no symbol: keeping the previous contract list");
        }
        return;
    }
    case vs::oi::job_kind::oi_hist: handle_hist(r); return;
    case vs::oi::job_kind::open_interest: handle_oi(r); return;
    }
}

void oi_daemon::handle_hist(vs::oi::poll_result& r)
{
    if (!r.result.ok()) {
        ++failures_;
        spdlog::warn("openInterestHist {} failed ({} {}): its windows fill from live samples", r.job.symbol,
                     to_string(r.result.status), r.result.message);
        return;
    }
    auto it = states_.find(r.job.symbol);
    if (it == states_.end()) {
        if (std::find(poll_set_.begin(), poll_set_.end(), r.job.symbol) == poll_set_.end()) {
            return;
        }
        it = states_.emplace(r.job.symbol, vs::oi::symbol_state{rules_}).first;
    }
    std::vector<std::pair<std::int64_t, double>> points;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.result.body, ec);
    if (ec || !v.is_array()) {
        ++bad_replies_;
        spdlog::warn("openInterestHist {} reply is not an array", r.job.symbol);
        return;
    }
    for (const auto& e : v.as_array()) {
        const auto* o = e.if_object();
        if (o == nullptr) {
            continue;
        }
        const auto* ts = o->if_contains("timestamp");
        const auto* oi = o->if_contains("sumOpenInterest");
        if (ts == nullptr || oi == nullptr) {
            continue;
        }
        try {
            const std::int64_t t = ts->is_string() ? std::stoll(std::string{ts->as_string()}) : ts->to_number<std::int64_t>();
            const double x = oi->is_string() ? std::stod(std::string{oi->as_string()}) : oi->to_number<double>();
            if (x > 0 && t >= r.job.start_ms && t <= r.job.end_ms) {
                points.emplace_back(t, x);
            }
        } catch (const std::exception&) {
            ++bad_replies_;
        }
    }
    std::size_t n = 0;
    for (const auto& [t, x] : points) {
        // Only where the history has nothing near: a live sample is never replaced.
        if (!it->second.hist.nearest(t, 60'000)) {
            n += it->second.hist.add(vs::oi::sample{t, x, 0}) ? 1 : 0;
        }
    }
    backfilled_ += n;
    if (n > 0) {
        dirty_.insert(r.job.symbol);
    }
}

void oi_daemon::handle_oi(vs::oi::poll_result& r)
{
    if (r.job.cycle == cycle_no_ && cycle_outstanding_ > 0) {
        --cycle_outstanding_;
    }
    const auto& sym = r.job.symbol;
    if (!r.result.ok()) {
        ++failures_;
        if (r.result.status == vs::net::rest_status::bad_request && r.result.binance_code == -1121) {
            delisted_set_.insert(sym);
            ++delisted_;
            spdlog::warn("{}: -1121 invalid symbol; not polled until the next universe", sym);
        } else if (r.result.status != vs::net::rest_status::stopped) {
            spdlog::debug("openInterest {} failed: {} {}", sym, to_string(r.result.status), r.result.message);
        }
        return;
    }
    double oi = 0;
    std::int64_t event_ms = r.done_ms;
    {
        boost::system::error_code ec;
        auto v = boost::json::parse(r.result.body, ec);
        const auto* o = ec ? nullptr : v.if_object();
        const auto* x = o == nullptr ? nullptr : o->if_contains("openInterest");
        try {
            if (x != nullptr) {
                oi = x->is_string() ? std::stod(std::string{x->as_string()}) : x->to_number<double>();
            }
            if (const auto* t = o == nullptr ? nullptr : o->if_contains("time"); t != nullptr) {
                event_ms = t->to_number<std::int64_t>();
            }
        } catch (const std::exception&) {
            oi = 0;
        }
        if (x == nullptr) {
            ++bad_replies_;
            spdlog::warn("openInterest {}: reply without openInterest: {:.200}", sym, r.result.body);
            return;
        }
    }
    if (!(oi > 0) || !std::isfinite(oi)) {
        ++skipped_;
        return;   // the old rule: OI <= 0 is no sample
    }
    const std::int64_t t_ms = r.done_ms;
    if (r.job.cycle == cycle_no_) {
        ++cycle_samples_;
    }
    const mark_seen m = mark_of(sym);
    const bool mark_fresh = m.mark > 0 && std::isfinite(m.mark) && t_ms - m.recv_ms <= opt_.mark_max_age_ms;
    const double mark = mark_fresh ? m.mark : std::nan("");
    ++samples_;

    // The bus: latest table + ring, after the rules (the record carries the last alerts).
    const auto now_ns = vs::realtime_ns();
    const auto publish_sample = [&] {
        fbb_.Clear();
        std::vector<flatbuffers::Offset<vs::schema::OiLastAlert>> last;
        if (auto la = last_alerts_.find(sym); la != last_alerts_.end()) {
            for (std::size_t k = 0; k < la->second.size(); ++k) {
                const auto& a = la->second[k];
                if (a.direction != 0) {
                    last.push_back(vs::schema::CreateOiLastAlertDirect(fbb_, timeframe_short[k],
                                                                      static_cast<std::int8_t>(a.direction), a.pct,
                                                                      a.time_ms, a.id.c_str()));
                }
            }
        }
        const auto sym_off = fbb_.CreateString(sym);
        flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<vs::schema::OiLastAlert>>> last_off;
        if (!last.empty()) {
            last_off = fbb_.CreateVector(last);
        }
        fbb_.Finish(vs::schema::CreateOpenInterest(fbb_, sym_off, event_ms, now_ns, vs::schema::MarketType::UsdM, oi,
                                                   mark, mark_fresh ? oi * mark : std::nan(""), last_off));
        w().publish(oi_type, sym, bytes_of(fbb_), now_ns);
    };

    // The batch: only with a fresh, positive mark price (never 0, never invented).
    if (mark_fresh) {
        batch_.push_back(vs::oi::batch_row{sym, oi, mark});
    } else {
        ++skipped_;
    }

    // The rules.
    auto it = states_.find(sym);
    if (it == states_.end()) {
        it = states_.emplace(sym, vs::oi::symbol_state{rules_}).first;
    }
    std::optional<double> funding;
    if (mark_fresh && std::isfinite(m.funding)) {
        funding = m.funding;
    }
    auto ev = vs::oi::evaluate(rules_, sym, it->second, vs::oi::sample{t_ms, oi, mark_fresh ? mark : 0.0}, funding);
    const auto& fired = ev.alerts;
    if (fired.empty()) {
        if (ev.state_changed) {
            dirty_.insert(sym);
        }
        publish_sample();
        return;
    }
    std::vector<vs::outbox::alert> alerts;
    for (const auto& f : fired) {
        vs::outbox::alert a;
        a.kind = "oi";
        a.backend = vs::outbox::backend_call{std::string{vs::oi::alert_path}, vs::oi::alert_json(f)};
        // The channel's OiSpikeAlert, built inside the commit with the outbox id; the outbox
        // keeps its bytes for vs-deliver's nats target (issue 17).
        a.bus = ctx_.alert_record(alert_type, sym, [&, this, fp = &f](std::string_view id) {
            fbb_.Clear();
            fbb_.Finish(vs::schema::CreateOiSpikeAlertDirect(
                fbb_, sym.c_str(), t_ms, now_ns, vs::schema::MarketType::UsdM, std::string{id}.c_str(),
                timeframe_short[fp->timeframe], static_cast<std::int8_t>(fp->dir == vs::oi::direction::up ? 1 : -1),
                fp->baseline, fp->current, fp->pct_change, fp->abs_change, mark,
                mark_fresh ? fp->current * mark : std::nan("")));
            return std::string{reinterpret_cast<const char*>(fbb_.GetBufferPointer()), fbb_.GetSize()};
        });
        alerts.push_back(std::move(a));
    }
    // The alert, the state that decided it, the sample that caused it and the last alert per
    // timeframe (/oi/{symbol}): one transaction. The outbox ids exist only once it committed:
    // they follow in a second, small one (a kill -9 in between leaves the entry without its id).
    last_alerts& la = last_alerts_[sym];
    for (const auto& f : fired) {
        la[f.timeframe] = last_alert{f.dir == vs::oi::direction::up ? 1 : -1, f.pct_change, f.time_ms, {}};
    }
    const auto ids = ctx_.commit(alerts, {{state_key(sym), vs::oi::encode_state(it->second)},
                                          {last_alerts_key(sym), encode_last_alerts(la)}});
    persisted_at_[sym] = steady::now();
    dirty_.erase(sym);
    for (std::size_t i = 0; i < fired.size() && i < ids.size(); ++i) {
        la[fired[i].timeframe].id = ids[i];
    }
    try {
        ctx_.commit({}, {{last_alerts_key(sym), encode_last_alerts(la)}});
    } catch (const std::exception& e) {
        spdlog::error("cannot store the alert ids of {}: {}", sym, e.what());
    }
    publish_sample();
    for (std::size_t i = 0; i < fired.size(); ++i) {
        const auto& f = fired[i];
        ++alerts_;
        spdlog::info("OI alert {} {} {}: {:.0f} -> {:.0f} ({:+.2f} %, {:+.0f} contracts) id {}", sym, f.timeframe_label,
                     vs::oi::to_string(f.dir), f.baseline, f.current, f.pct_change * 100, f.abs_change,
                     i < ids.size() && !ids[i].empty() ? ids[i] : "(no target configured)");
        const auto& rec = alerts[i].bus->bytes;   // exactly what the outbox keeps
        w().publish(alert_type, sym, {reinterpret_cast<const std::byte*>(rec.data()), rec.size()}, now_ns,
                    vs::bus::to_ring);
    }
    w().notify();
}

void oi_daemon::persist(bool all)
{
    std::vector<vs::outbox::state_change> changes;
    const auto now = steady::now();
    std::set<std::string> chosen = dirty_;
    // History: every symbol at least every --history-persist-s, a slice per cycle.
    for (const auto& [sym, st] : states_) {
        auto p = persisted_at_.find(sym);
        if (all || p == persisted_at_.end() || now - p->second >= opt_.persist_every) {
            chosen.insert(sym);
            if (!all && chosen.size() >= dirty_.size() + std::max<std::size_t>(16, states_.size() / 8)) {
                break;
            }
        }
    }
    if (chosen.empty()) {
        return;
    }
    for (const auto& sym : chosen) {
        auto it = states_.find(sym);
        if (it == states_.end()) {
            continue;
        }
        changes.push_back({state_key(sym), vs::oi::encode_state(it->second)});
        persisted_at_[sym] = now;
    }
    try {
        ctx_.commit({}, changes);
        dirty_.clear();
    } catch (const std::exception& e) {
        spdlog::error("cannot persist the OI state of {} symbols: {}", changes.size(), e.what());
    }
    changes.clear();
    changes.shrink_to_fit();
    release_memory(ctx_.outbox().path());
}

void oi_daemon::finish_cycle(steady::time_point now)
{
    cycle_active_ = false;
    any_cycle_ = true;
    ++cycles_;
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(now - cycle_start_);
    ctx_.gauge("last_cycle_ms", static_cast<double>(took.count()));
    if (cycle_samples_ > 0) {
        last_cycle_end_ = now;   // a cycle in which every request failed is no cycle (health)
    }
    // The cycle's batch: chunks of 100, one timestamp (the cycle's start), latest wins (a
    // batch older than --batch-dead-after-s is dropped, not delivered late).
    // Row batches as outbox::enqueue_rows makes them (backend only, deleted once done, dead
    // after a short time), in one transaction; the bodies are the rules library's.
    std::vector<vs::outbox::alert> bodies;
    for (auto& body : vs::oi::batch_bodies(batch_, cycle_start_ms_, 100)) {
        vs::outbox::alert a;
        a.kind = "oi_batch";
        a.backend = vs::outbox::backend_call{std::string{vs::oi::batch_path}, std::move(body)};
        a.keep_after_delivery = false;
        a.dead_after = std::chrono::duration_cast<std::chrono::milliseconds>(opt_.batch_dead_after);
        bodies.push_back(std::move(a));
    }
    if (!bodies.empty()) {
        try {
            ctx_.outbox().enqueue_many(bodies);
        } catch (const std::exception& e) {
            spdlog::error("cannot enqueue the OI batch of {} symbols: {}", batch_.size(), e.what());
        }
    }
    batch_.clear();
    persist(false);
    next_cycle_ = cycle_start_ + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(interval_s_));
    if (next_cycle_ < now) {
        next_cycle_ = now;
    }
}

int oi_daemon::run()
{
    restore();
    ctx_.gauge("universe_size", static_cast<double>(poll_set_.size()));
    update_interval();
    ctx_.set_probe([this] {
        const auto now = steady::now();
        const auto limit = std::chrono::duration<double>(opt_.stall_intervals * std::max(interval_s_, 1.0));
        const auto since = now - (any_cycle_ ? last_cycle_end_ : started_);
        if (since > limit + 10s) {
            return vs::daemon::health::bad(fmt::format(
                "no OI cycle for {} s (interval {:.0f} s){}",
                std::chrono::duration_cast<std::chrono::seconds>(since).count(), interval_s_,
                poll_set_.empty() ? ": no universe yet (waiting for the market tickers)" : ""));
        }
        return vs::daemon::health::good(fmt::format("{} symbols every {:.0f} s, {} alerts", poll_set_.size(),
                                                    interval_s_, alerts_.load()));
    });
    ctx_.ready();
    if (!members_.empty()) {
        publish_universe({}, {});
    }
    next_cycle_ = steady::now();
    while (ctx_.wait(2ms)) {
        const auto now = steady::now();
        schedule_exchange_info(now);
        decide_universe(now);
        if (!cycle_active_ && now >= next_cycle_) {
            start_cycle(now);
        }
        dispatch(now);
        for (auto& r : pool_.take()) {
            handle(r);
        }
        if (cycle_active_ && cycle_next_ >= cycle_symbols_.size() && cycle_outstanding_ == 0) {
            finish_cycle(steady::now());
        }
    }
    pool_.stop();
    for (auto& r : pool_.take()) {
        handle(r);
    }
    persist(true);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    // Few malloc arenas: the REST workers allocate only small, short-lived strings, and one
    // arena per thread would keep megabytes of their free memory resident.
    ::mallopt(M_ARENA_MAX, 2);
    // Large transient buffers (REST replies, exchangeInfo's parse, LMDB's overflow pages of a
    // persist) in their own mappings, returned at free(): glibc's sliding threshold would
    // otherwise move them into the heap after the first free, where they stay resident.
    ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    vs::daemon::spec s{"vs-oi",
                       "Keep the liquid universe, poll open interest inside the shared REST weight budget and send "
                       "the OI spike alerts.",
                       "VOLSPIKE_API_URL=https://api.example VOLSPIKE_API_KEY=... vs-oi --state-dir /var/lib/volspike"};
    s.channel = "oi";
    s.channel_option = "channel";   // a second instance on one bus needs a channel of its own
    s.record_types = vs::bus::record_type_list(RecordType::OpenInterest, RecordType::LiquidUniverse,
                                               RecordType::OiSpikeAlert, RecordType::ProcessStatus);
    s.ring_bytes = 1u << 20;   // ~8,000 OpenInterest records: over a minute of samples
    // One slot per polled symbol (OpenInterest), the universe and the status: the alerts go to
    // the ring only, so the table never fills however many symbols alert over the days. The
    // slots are large for the universe record (650 symbols: ~13 KB); every slot costs one
    // resident page (its header is scanned), so their number is kept to what is needed.
    s.table_slots = 1024;
    s.slot_bytes = 16384;
    // No table snapshot: every record of the table is rebuilt from vs-oi's own LMDB state
    // (the universe at start, each symbol's OpenInterest with its last alerts within a cycle),
    // and the snapshot's LMDB environment and thread cost ~4 MB of RSS (issue 12's 40 MB).
    s.snapshots = false;
    s.outbox = true;
    s.drain = std::chrono::seconds{5};
    s.auto_ready = false;
    return vs::daemon::main(
        s, argc, argv,
        [](vs::cli::parser& cli) {
            vs::net::add_rest_options(cli);
            vs::oi::add_rule_options(cli);
            cli.option("market-channel", "NAME", "market", "bus channel of the tickers and mark prices (vs-feed)")
                .option("workers", "N", "8", "threads making the REST calls", {"VS_OI_WORKERS"})
                .option("universe-interval-s", "S", "300", "how often the universe is decided (and exchangeInfo read)",
                        {"VS_OI_UNIVERSE_INTERVAL_S"})
                .option("universe-post-s", "S", "300", "the universe is posted on change and at least this often",
                        {"VS_OI_UNIVERSE_POST_S"})
                .option("ticker-max-age-s", "S", "900", "a 24 h ticker older than this is missing data (skipped)",
                        {"VS_OI_TICKER_MAX_AGE_S"})
                .option("ticker-coverage", "FRACTION", "0.9",
                        "after a start the universe waits until this share of eligible symbols has a fresh ticker",
                        {"VS_OI_TICKER_COVERAGE"})
                .option("ticker-wait-s", "S", "120",
                        "with a stored universe, decide after this long even without full coverage (missing "
                        "tickers never remove a member)",
                        {"VS_OI_TICKER_WAIT_S"})
                .option("mark-max-age-ms", "MS", "10000", "a mark price older than this is not fresh (sample skipped "
                        "in the batch, counted)", {"VS_OI_MARK_MAX_AGE_MS"})
                .option("batch-dead-after-s", "S", "60", "an OI batch not delivered within this is dropped (latest wins)",
                        {"VS_OI_BATCH_DEAD_AFTER_S"})
                .option("history-persist-s", "S", "60", "every symbol's history is saved to LMDB at least this often",
                        {"VS_OI_HISTORY_PERSIST_S"})
                .option("backfill", "0|1", "1", "after a downtime, fill the windows from openInterestHist",
                        {"VS_OI_BACKFILL"})
                .option("hist-requests-per-5min", "N", "1000", "openInterestHist's own limit per 5 min (80 % is used)",
                        {"VS_OI_HIST_REQUESTS_PER_5MIN"})
                .option("stall-intervals", "N", "3", "unhealthy when no cycle finished for this many intervals",
                        {"VS_OI_STALL_INTERVALS"});
        },
        [](vs::daemon::context& ctx) {
            auto opt = options_from(ctx.options());
            auto rules = vs::oi::rule_config_from(ctx.options());
            auto rest = vs::net::rest_options_from(ctx.options());
            oi_daemon d{ctx, std::move(opt), std::move(rules), std::move(rest)};
            return d.run();
        });
}
