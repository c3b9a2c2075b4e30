#include "vs/api/events.hpp"

#include <algorithm>
#include <future>
#include <map>
#include <utility>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "vs/api/bus_source.hpp"
#include "vs/api/json_writer.hpp"
#include "vs/api/render.hpp"
#include "vs/common/clock.hpp"

namespace vs::api {
namespace {

constexpr auto mark_type = static_cast<bus::record_type>(schema::RecordType::MarkPrice);
constexpr auto ticker_type = static_cast<bus::record_type>(schema::RecordType::Ticker24h);
constexpr auto oi_type = static_cast<bus::record_type>(schema::RecordType::OpenInterest);

bool wanted(const std::vector<std::string>& filter, std::string_view symbol)
{
    return filter.empty() || std::binary_search(filter.begin(), filter.end(), symbol, std::less<>{});
}

void begin_message(std::string& out, std::string_view event, json_writer& w, double stale_seconds)
{
    out.append("event: ");
    out.append(event);
    out.append("\ndata: ");
    w.begin_object();
    w.member("type", event);
    w.member("serverTime", static_cast<double>(realtime_ns()) * 1e-9);
    w.member("staleSeconds", stale_seconds);
}

// The kinds of record an /events message carries: its member name, channel and type.
enum kind : int { funding_kind = 0, ticker_kind = 1, oi_kind = 2 };
constexpr const char* kind_names[] = {"funding", "tickers", "oi"};

// A rendered changed record: one member of "funding", "tickers" or "oi".
struct fragment {
    int kind = funding_kind;
    std::string symbol;
    std::string json;   // the object
};

}  // namespace

void render_snapshot_event(data_source& src, const std::vector<std::string>& filter, double stale_seconds,
                           std::int64_t started_ns, std::string& out)
{
    out.clear();
    src.refresh();
    json_writer w{out};
    begin_message(out, "snapshot", w, stale_seconds);
    const auto now = realtime_ns();
    w.key("funding");
    w.begin_object();
    src.for_each_latest(channel_id::market, mark_type, [&](const bus::record_view& r) {
        const auto* m = verified_as<schema::MarkPrice>(r.data);
        if (m == nullptr || !is_usd_m(m->market(), r.symbol) || !wanted(filter, r.symbol)) {
            return;
        }
        w.key(r.symbol);
        w.begin_object();
        write_funding_members(w, r.symbol, *m, r.publish_ns, now);
        w.end_object();
    });
    w.end_object();
    w.key("tickers");
    w.begin_object();
    src.for_each_latest(channel_id::market, ticker_type, [&](const bus::record_view& r) {
        const auto* t = verified_as<schema::Ticker24h>(r.data);
        if (t == nullptr || !is_usd_m(t->market(), r.symbol) || !wanted(filter, r.symbol)) {
            return;
        }
        w.key(r.symbol);
        w.begin_object();
        write_ticker_members(w, r.symbol, *t, r.publish_ns, now);
        w.end_object();
    });
    w.end_object();
    w.key("oi");
    w.begin_object();
    src.for_each_latest(channel_id::oi, oi_type, [&](const bus::record_view& r) {
        const auto* o = verified_as<schema::OpenInterest>(r.data);
        if (o == nullptr || !wanted(filter, r.symbol)) {
            return;
        }
        w.key(r.symbol);
        w.begin_object();
        write_oi_members(w, r.symbol, *o, r.publish_ns, now);
        w.end_object();
    });
    w.end_object();
    w.key("health");
    write_health(w, src, now, started_ns, stale_seconds);
    w.end_object();
    out.append("\n\n");
}

event_client::event_client(boost::asio::any_io_executor ex, std::vector<std::string> filter,
                           std::size_t max_queued_bytes)
    : timer_(std::move(ex)), filter_(std::move(filter)), max_queued_bytes_(max_queued_bytes)
{
    std::sort(filter_.begin(), filter_.end());
}

bool event_client::push(std::shared_ptr<const std::string> msg)
{
    bool ok = true;
    {
        std::lock_guard lock{mu_};
        if (queued_bytes_ + msg->size() > max_queued_bytes_) {
            queue_.clear();
            queued_bytes_ = 0;
            resync_ = true;
            ok = false;
        } else if (!resync_) {
            queued_bytes_ += msg->size();
            queue_.push_back(std::move(msg));
        }
    }
    wake();
    return ok;
}

void event_client::request_resync()
{
    {
        std::lock_guard lock{mu_};
        queue_.clear();
        queued_bytes_ = 0;
        resync_ = true;
    }
    wake();
}

void event_client::take(std::deque<std::shared_ptr<const std::string>>& out, bool& resync)
{
    std::lock_guard lock{mu_};
    out.swap(queue_);
    queue_.clear();
    queued_bytes_ = 0;
    resync = resync_;
    resync_ = false;
}

void event_client::wake()
{
    // The timer belongs to the client's worker thread: cancel it there. The client's
    // coroutine checks its queue and starts waiting within one handler on that single
    // thread, so this cancel can only arrive before the check or during the wait.
    boost::asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
}

event_hub::event_hub(event_hub_config config, metrics_registry& metrics)
    : config_(std::move(config)), metrics_(metrics)
{
}

event_hub::~event_hub() { stop(); }

void event_hub::start()
{
    stop_.store(false, std::memory_order_relaxed);   // relaxed: the thread starts after this store
    std::promise<void> primed;
    auto ready = primed.get_future();
    thread_ = std::thread{[this, p = std::move(primed)]() mutable { run(p); }};
    // Serve only once the hub knows the current table: a change published after a client's
    // snapshot must not be taken for the hub's starting state.
    ready.wait();
}

void event_hub::stop()
{
    // Release/acquire pair with run()'s load: nothing else is published through it, but the
    // hub must see it promptly; relaxed would also be correct.
    stop_.store(true, std::memory_order_release);
    if (thread_.joinable()) {
        thread_.join();
    }
}

void event_hub::add(const std::shared_ptr<event_client>& c)
{
    std::lock_guard lock{mu_};
    clients_.push_back(c);
    metrics_.events_clients.fetch_add(1, std::memory_order_relaxed);   // relaxed: a gauge
}

void event_hub::remove(const event_client* c)
{
    std::lock_guard lock{mu_};
    const auto it = std::find_if(clients_.begin(), clients_.end(), [&](const auto& p) { return p.get() == c; });
    if (it != clients_.end()) {
        clients_.erase(it);
        metrics_.events_clients.fetch_sub(1, std::memory_order_relaxed);   // relaxed: a gauge
    }
}

void event_hub::broadcast(const std::shared_ptr<const std::string>& msg, std::string_view symbol)
{
    std::lock_guard lock{mu_};
    for (const auto& c : clients_) {
        if (!symbol.empty() && !wanted(c->filter(), symbol)) {
            continue;
        }
        if (!c->push(msg)) {
            metrics_.events_resyncs.fetch_add(1, std::memory_order_relaxed);   // relaxed: a counter
        }
    }
}

void event_hub::run(std::promise<void>& primed_signal)
{
    // The hub scans the latest table once per interval and sends the records whose publish
    // time changed since the previous scan. It does not follow the ring: a batch carries the
    // newest value per symbol anyway, and reading only the table keeps the ring's 8 MiB out
    // of this process's resident memory.
    std::unique_ptr<bus_source> src;
    try {
        src = std::make_unique<bus_source>(config_.bus_prefix, config_.market_channel, config_.oi_channel);
    } catch (const std::exception& e) {
        spdlog::error("events: cannot open the bus: {}", e.what());
        primed_signal.set_value();
        return;
    }

    std::map<std::string, std::int64_t, std::less<>> seen[3];   // funding, tickers, oi: symbol -> publish_ns
    std::uint64_t generation = 0;
    std::uint64_t oi_generation = 0;
    std::vector<fragment> fragments;
    std::string health_json;
    std::string full;
    std::vector<std::shared_ptr<event_client>> clients;
    auto next_tick = std::chrono::steady_clock::now() + config_.interval;

    // Visits the records of one kind whose publish time changed and updates `seen` for each;
    // when rendering, keeps a fragment for those that verify and are USD-M.
    const auto scan = [&](int k, std::int64_t now_ns, bool render) {
        auto& known = seen[k];
        const auto ch = k == oi_kind ? channel_id::oi : channel_id::market;
        const auto type = k == oi_kind ? oi_type : k == ticker_kind ? ticker_type : mark_type;
        src->for_each_latest(ch, type, [&](const bus::record_view& r) {
            const auto it = known.find(r.symbol);
            if (it != known.end() && it->second == r.publish_ns) {
                return;
            }
            if (it == known.end()) {
                known.emplace(std::string{r.symbol}, r.publish_ns);
            } else {
                it->second = r.publish_ns;
            }
            if (!render) {
                return;
            }
            fragment f;
            f.kind = k;
            f.symbol = r.symbol;
            json_writer w{f.json};
            if (k == oi_kind) {
                const auto* o = verified_as<schema::OpenInterest>(r.data);
                if (o == nullptr) {
                    return;
                }
                w.begin_object();
                write_oi_members(w, r.symbol, *o, r.publish_ns, now_ns);
                w.end_object();
            } else if (k == funding_kind) {
                const auto* m = verified_as<schema::MarkPrice>(r.data);
                if (m == nullptr || !is_usd_m(m->market(), r.symbol)) {
                    return;
                }
                w.begin_object();
                write_funding_members(w, r.symbol, *m, r.publish_ns, now_ns);
                w.end_object();
            } else {
                const auto* t = verified_as<schema::Ticker24h>(r.data);
                if (t == nullptr || !is_usd_m(t->market(), r.symbol)) {
                    return;
                }
                w.begin_object();
                write_ticker_members(w, r.symbol, *t, r.publish_ns, now_ns);
                w.end_object();
            }
            fragments.push_back(std::move(f));
        });
    };

    // Prime at once: a client connecting before the first tick gets a snapshot, and every
    // change after this point must reach it in the next batch.
    src->refresh();
    for (int k : {funding_kind, ticker_kind, oi_kind}) {
        scan(k, realtime_ns(), false);
    }
    generation = src->status(channel_id::market).generation;
    oi_generation = src->status(channel_id::oi).generation;
    primed_signal.set_value();

    while (!stop_.load(std::memory_order_acquire)) {   // acquire: pairs with stop()
        const auto now = std::chrono::steady_clock::now();
        if (now < next_tick) {
            std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(next_tick - now, std::chrono::milliseconds{100}));
            continue;
        }
        next_tick += config_.interval;
        if (next_tick < now) {
            next_tick = now + config_.interval;
        }

        {
            std::lock_guard lock{mu_};
            clients = clients_;
        }
        // Scan even without clients so that `seen` is current when one connects (it gets a
        // snapshot first; later batches then carry every change since).
        src->refresh();
        const auto now_ns = realtime_ns();
        const auto st = src->status(channel_id::market);
        const auto oi_st = src->status(channel_id::oi);
        if (st.generation != generation || oi_st.generation != oi_generation) {
            // A restarted writer, or a restore (a new generation): rescan from scratch and
            // resynchronise every client.
            for (int k : {funding_kind, ticker_kind, oi_kind}) {
                seen[k].clear();
                scan(k, now_ns, false);
            }
            for (const auto& c : clients) {
                c->request_resync();
            }
            generation = st.generation;
            oi_generation = oi_st.generation;
            clients.clear();
            continue;
        }
        const bool render = !clients.empty();
        fragments.clear();
        for (int k : {funding_kind, ticker_kind, oi_kind}) {
            scan(k, now_ns, render);
        }
        if (!render) {
            continue;
        }
        health_json.clear();
        {
            json_writer hw{health_json};
            write_health(hw, *src, now_ns, config_.started_ns, config_.stale_seconds);
        }

        const auto assemble = [&](const std::vector<std::string>& filter, std::string& out) {
            out.clear();
            json_writer w{out};
            begin_message(out, "update", w, config_.stale_seconds);
            for (int k : {funding_kind, ticker_kind, oi_kind}) {
                w.key(kind_names[k]);
                w.begin_object();
                for (const auto& f : fragments) {
                    if (f.kind == k && wanted(filter, f.symbol)) {
                        w.key(f.symbol);
                        w.raw(f.json);
                    }
                }
                w.end_object();
            }
            w.key("health");
            w.raw(health_json);
            w.end_object();
            out.append("\n\n");
        };
        std::shared_ptr<const std::string> shared_full;
        for (const auto& c : clients) {
            std::shared_ptr<const std::string> msg;
            if (c->filter().empty()) {
                if (!shared_full) {
                    assemble({}, full);
                    shared_full = std::make_shared<const std::string>(full);
                }
                msg = shared_full;
            } else {
                std::string own;
                assemble(c->filter(), own);
                msg = std::make_shared<const std::string>(std::move(own));
            }
            if (!c->push(std::move(msg))) {
                metrics_.events_resyncs.fetch_add(1, std::memory_order_relaxed);   // relaxed: a counter
            }
            metrics_.events_batches.fetch_add(1, std::memory_order_relaxed);       // relaxed: a counter
        }
        clients.clear();
    }
}

}  // namespace vs::api
