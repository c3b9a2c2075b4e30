#include "vs/api/server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vs/api/alert_log.hpp"
#include "vs/api/bus_source.hpp"
#include "vs/api/history.hpp"
#include "vs/api/events.hpp"
#include "vs/api/router.hpp"
#include "vs/common/clock.hpp"
#include "vs/net/address.hpp"

namespace vs::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

struct worker;

/// One connection's place in its worker's idle list: while it waits for (the rest of) a
/// request it is a candidate for eviction at --max-connections. Allocated once per connection;
/// the list links it in and out around each request read (no allocation per request).
struct idle_slot : std::enable_shared_from_this<idle_slot> {
    explicit idle_slot(worker& w) : owner(w) {}
    worker& owner;
    // Under owner.idle_mutex (the acceptor reads them from worker 0):
    idle_slot* prev = nullptr;
    idle_slot* next = nullptr;
    bool listed = false;
    std::int64_t since_ns = 0;   ///< CLOCK_MONOTONIC when this wait began
    std::uint64_t wait = 0;      ///< which wait of the worker (one per request read)
    // Owner's thread only:
    beast::tcp_stream* stream = nullptr;   ///< null once the session has ended
    bool waiting = false;                  ///< in a request read
    bool evicted = false;                  ///< the read was cancelled by an eviction
};

struct worker {
    std::size_t index = 0;
    std::unique_ptr<asio::io_context> ioc;
    // Keeps run() going while the worker has no connection yet.
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::unique_ptr<bus_source> source;
    std::unique_ptr<router> rt;
    worker_metrics* m = nullptr;
    std::thread thread;
    // Response bodies lent to this worker's connections for one request each (worker thread
    // only). A handful of warm buffers serve every connection: no allocation per response,
    // and idle keep-alive connections hold no large buffer.
    std::vector<std::string> body_pool;
    static constexpr std::size_t body_pool_max = 4;
    /// CLOCK_MONOTONIC ns at which a liveness probe was posted to this worker, and at which
    /// the worker last ran one (server::responsive).
    std::atomic<std::int64_t> posted_ns{0};
    std::atomic<std::int64_t> alive_ns{0};
    /// The connections waiting for a request, oldest wait first (appended by this worker's
    /// thread only, so in order of since_ns). The mutex is only contended at the cap, when
    /// the acceptor looks for the oldest one.
    std::mutex idle_mutex;
    idle_slot* idle_head = nullptr;
    idle_slot* idle_tail = nullptr;
    std::uint64_t idle_waits = 0;
};

// Under w.idle_mutex.
void unlink_idle(worker& w, idle_slot& s) noexcept
{
    if (!s.listed) {
        return;
    }
    (s.prev != nullptr ? s.prev->next : w.idle_head) = s.next;
    (s.next != nullptr ? s.next->prev : w.idle_tail) = s.prev;
    s.prev = s.next = nullptr;
    s.listed = false;
}

// The owner's thread: the connection starts (or stops) waiting for a request.
void begin_wait(idle_slot& s)
{
    auto& w = s.owner;
    const auto now = monotonic_ns();
    std::lock_guard lock{w.idle_mutex};
    s.since_ns = now;
    s.wait = ++w.idle_waits;
    s.prev = w.idle_tail;
    s.next = nullptr;
    (w.idle_tail != nullptr ? w.idle_tail->next : w.idle_head) = &s;
    w.idle_tail = &s;
    s.listed = true;
    s.waiting = true;
}

void end_wait(idle_slot& s)
{
    s.waiting = false;
    std::lock_guard lock{s.owner.idle_mutex};
    unlink_idle(s.owner, s);
}

// The status line and headers of a response, appended to `head`.
void write_head(std::string& head, unsigned status, std::string_view content_type, std::size_t length,
                std::string_view allow, bool keep_alive, unsigned version, unsigned retry_after = 0,
                std::string_view cache_control = "no-store")
{
    head.clear();
    auto it = std::back_inserter(head);
    const auto reason = http::obsolete_reason(http::int_to_status(status));
    fmt::format_to(it, "HTTP/1.1 {} {}\r\nServer: vs-api\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
                       "Cache-Control: {}\r\n",
                   status, std::string_view{reason.data(), reason.size()}, content_type, length, cache_control);
    if (!allow.empty()) {
        fmt::format_to(it, "Allow: {}\r\n", allow);
    }
    if (retry_after != 0) {
        fmt::format_to(it, "Retry-After: {}\r\n", retry_after);
    }
    if (!keep_alive) {
        head.append("Connection: close\r\n");
    } else if (version < 11) {
        head.append("Connection: keep-alive\r\n");
    }
    head.append("\r\n");
}

}  // namespace

struct server::impl {
    explicit impl(server_config c) : config(std::move(c)), metrics(threads_of(config)), hub(hub_config(), metrics) {}

    static std::size_t threads_of(const server_config& c)
    {
        if (c.threads > 0) {
            return c.threads;
        }
        return std::max(1u, std::thread::hardware_concurrency());
    }
    event_hub_config hub_config() const
    {
        event_hub_config h;
        h.bus_prefix = config.bus_prefix;
        h.market_channel = config.market_channel;
        h.oi_channel = config.oi_channel;
        h.stale_seconds = config.stale_seconds;
        h.started_ns = started_ns;
        h.interval = config.events_interval;
        return h;
    }

    static std::unique_ptr<history_recorder> make_history(const server_config& c)
    {
        if (c.history_window.count() <= 0) {
            return nullptr;
        }
        history_config h;
        h.bus_prefix = c.bus_prefix;
        h.market_channel = c.market_channel;
        h.oi_channel = c.oi_channel;
        h.sample_interval = c.history_sample_interval;
        h.step = c.history_step;
        h.window = c.history_window;
        h.seed_interval = c.history_seed_interval;
        return std::make_unique<history_recorder>(std::move(h));
    }

    static alert_log_config feeds_config(const server_config& c)
    {
        alert_log_config a;
        a.bus_prefix = c.bus_prefix;
        a.alert_channels = c.alert_channels;
        a.news_channel = c.news_channel;
        return a;
    }

    asio::awaitable<void> accept_loop();
    bool evict_oldest_idle();
    void note_pressure(bool refused);
    asio::awaitable<void> log_pressure();
    asio::awaitable<void> session(worker& w, tcp::socket socket);
    asio::awaitable<void> reject(tcp::socket socket);
    asio::awaitable<void> events_session(worker& w, beast::tcp_stream& stream, std::vector<std::string> filter);

    server_config config;
    std::int64_t started_ns = realtime_ns();
    metrics_registry metrics;
    event_hub hub;
    /// The dashboard charts' history (/history); none when config.history_window is 0.
    std::unique_ptr<history_recorder> history = make_history(config);
    /// Recent alerts and news (/alerts, /news, alert and news events) and their delivery states.
    delivery_lookup delivery{config.state_dir};
    alert_log feeds{feeds_config(config)};
    std::vector<std::unique_ptr<worker>> workers;
    std::unique_ptr<tcp::acceptor> acceptor;
    std::atomic<bool> stopping{false};
    /// Requests read and not yet answered (the SIGTERM drain waits for 0).
    std::atomic<std::int64_t> in_flight{0};
    bool started = false;
    std::size_t next_worker = 0;
    /// Evictions and refusals at the cap not logged yet (acceptor thread, worker 0, only):
    /// logged at once, then at most once a second with their counts.
    struct {
        std::uint64_t evicted = 0;
        std::uint64_t refused = 0;
        std::chrono::steady_clock::time_point last{};
        bool scheduled = false;
    } pressure;
};

// Acceptor thread, at the cap: closes the connection that has waited longest for a request
// (at least evict_idle_after), on its own worker. False when there is none to close.
bool server::impl::evict_oldest_idle()
{
    const auto cutoff = monotonic_ns() - std::chrono::nanoseconds{config.evict_idle_after}.count();
    worker* oldest = nullptr;
    std::int64_t oldest_since = 0;
    for (auto& w : workers) {
        std::lock_guard lock{w->idle_mutex};
        const auto* s = w->idle_head;
        if (s != nullptr && s->since_ns <= cutoff && (oldest == nullptr || s->since_ns < oldest_since)) {
            oldest = w.get();
            oldest_since = s->since_ns;
        }
    }
    if (oldest == nullptr) {
        return false;
    }
    std::shared_ptr<idle_slot> victim;
    std::uint64_t wait = 0;
    {
        std::lock_guard lock{oldest->idle_mutex};
        auto* s = oldest->idle_head;   // the same one, or (rarely) the next oldest of this worker
        if (s == nullptr || s->since_ns > cutoff) {
            return false;
        }
        unlink_idle(*oldest, *s);   // a listed slot's session is alive and owns it: shared_from_this holds
        victim = s->shared_from_this();
        wait = s->wait;
    }
    // On the owner's thread, only if it is still in the same read: a connection that got its
    // request meanwhile is being answered and is left alone. Cancelling the read ends the
    // session (it closes the socket); a read that had already completed is unaffected.
    asio::post(*oldest->ioc, [victim = std::move(victim), wait] {
        if (victim->stream != nullptr && victim->waiting && victim->wait == wait) {
            victim->evicted = true;
            victim->stream->cancel();
        }
    });
    return true;
}

// Acceptor thread: counts an eviction or a refusal for the log, which reports them at once and
// then at most once a second.
void server::impl::note_pressure(bool refused)
{
    ++(refused ? pressure.refused : pressure.evicted);
    if (!pressure.scheduled) {
        pressure.scheduled = true;
        asio::co_spawn(*workers[0]->ioc, log_pressure(), asio::detached);
    }
}

asio::awaitable<void> server::impl::log_pressure()
{
    const auto due = pressure.last + std::chrono::seconds{1};
    if (std::chrono::steady_clock::now() < due) {
        asio::steady_timer t{co_await asio::this_coro::executor, due};
        co_await t.async_wait(use_tuple);
    }
    pressure.scheduled = false;
    pressure.last = std::chrono::steady_clock::now();
    const auto open = metrics.connections_open.load(std::memory_order_relaxed);   // relaxed: a gauge for the log
    if (pressure.refused > 0) {
        spdlog::warn("at --max-connections {} ({} open): refused {} connection(s) with 503 (no open one had waited "
                     "{} ms for a request), closed {} idle one(s) to make room",
                     config.max_connections, open, pressure.refused, config.evict_idle_after.count(), pressure.evicted);
    } else {
        spdlog::info("at --max-connections {} ({} open): closed {} connection(s) that had waited longest for a "
                     "request, to make room for new ones",
                     config.max_connections, open, pressure.evicted);
    }
    pressure.refused = 0;
    pressure.evicted = 0;
}

asio::awaitable<void> server::impl::accept_loop()
{
    for (;;) {
        auto& target = *workers[next_worker];
        next_worker = (next_worker + 1) % workers.size();
        auto [ec, socket] = co_await acceptor->async_accept(*target.ioc, use_tuple);
        if (ec) {
            if (stopping.load(std::memory_order_relaxed) || ec == asio::error::operation_aborted) {
                co_return;   // relaxed: only a shutdown hint
            }
            spdlog::warn("accept: {}", ec.message());
            // EMFILE and friends: back off briefly instead of spinning.
            asio::steady_timer t{co_await asio::this_coro::executor, std::chrono::milliseconds{50}};
            co_await t.async_wait(use_tuple);
            continue;
        }
        metrics.connections_accepted.fetch_add(1, std::memory_order_relaxed);   // relaxed: a counter
        // relaxed: the limit is approximate by nature (connections open and close concurrently;
        // an evicted connection is still counted until its worker has closed it)
        if (metrics.connections_open.load(std::memory_order_relaxed) >=
            static_cast<std::int64_t>(config.max_connections)) {
            // Before refusing, make room: idle connections must not lock everyone else out.
            const bool room = evict_oldest_idle();
            note_pressure(!room);
            if (!room) {
                metrics.connections_rejected.fetch_add(1, std::memory_order_relaxed);
                asio::co_spawn(*target.ioc, reject(std::move(socket)), asio::detached);
                continue;
            }
        }
        metrics.connections_open.fetch_add(1, std::memory_order_relaxed);
        asio::co_spawn(*target.ioc, session(target, std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> server::impl::reject(tcp::socket socket)
{
    static constexpr std::string_view body = R"({"error":"Too many connections"})";
    std::string head;
    write_head(head, 503, "application/json", body.size(), {}, false, 11);
    head.append(body);
    beast::tcp_stream stream{std::move(socket)};
    stream.expires_after(std::chrono::seconds{2});
    co_await asio::async_write(stream, asio::buffer(head), use_tuple);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> server::impl::session(worker& w, tcp::socket socket)
{
    struct open_guard {
        metrics_registry& m;
        ~open_guard() { m.connections_open.fetch_sub(1, std::memory_order_relaxed); }   // relaxed: a gauge
    } guard{metrics};
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay{true}, ignored);
    // Room in the kernel for a whole large response (a 1,000-symbol batch is ~250 KB): the
    // write completes at once and the body is freed, instead of 64 in-flight bodies staying
    // resident while slow readers drain them. The kernel caps this at net.core.wmem_max.
    socket.set_option(asio::socket_base::send_buffer_size{512 * 1024}, ignored);
    socket.non_blocking(true, ignored);   // for the immediate write below
    beast::tcp_stream stream{std::move(socket)};
    // While a request is awaited, the connection can be evicted at the cap (evict_oldest_idle).
    const auto slot = std::make_shared<idle_slot>(w);
    slot->stream = &stream;
    struct slot_guard {
        idle_slot& s;
        ~slot_guard()
        {
            s.stream = nullptr;
            end_wait(s);
        }
    } unlist{*slot};
    beast::flat_buffer buffer;
    response res;
    std::string head;
    head.reserve(256);

    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(config.header_limit));
        parser.body_limit(config.body_limit);
        // One deadline for the whole request, idle keep-alive time included: a client that
        // trickles bytes (slowloris) is cut off after request_timeout.
        stream.expires_after(config.request_timeout);
        begin_wait(*slot);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        (void)n;
        end_wait(*slot);
        if (std::exchange(slot->evicted, false) && ec) {
            metrics.connections_evicted.fetch_add(1, std::memory_order_relaxed);   // relaxed: a counter
            break;   // closed silently, as an idle keep-alive connection at the request timeout
        }
        if (ec) {
            if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
                ec == asio::error::operation_aborted) {
                break;
            }
            unsigned status = 0;
            std::string_view message;
            if (ec == beast::error::timeout) {
                break;   // tcp_stream has closed the socket: slowloris or idle keep-alive
            }
            if (ec == http::error::header_limit) {
                status = 431;
                message = "Request header too large";
            } else if (ec == http::error::body_limit) {
                status = 413;
                message = "Request body too large";
            } else if (ec.category() == http::make_error_code(http::error::bad_target).category() ||
                       ec == http::error::buffer_overflow) {
                status = 400;
                message = "Malformed HTTP request";
            } else {
                break;   // a socket error: nobody to answer
            }
            const auto t0 = monotonic_ns();
            error_response(res, status, message);
            write_head(head, status, res.content_type, res.body.size(), {}, false, 11);
            stream.expires_after(config.write_timeout);
            std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(res.body)};
            co_await asio::async_write(stream, bufs, use_tuple);
            w.m->observe(route::bad_request, status, monotonic_ns() - t0);
            break;
        }

        const auto t0 = monotonic_ns();
        // Relaxed: a count the drain polls; the answer's own write is what it waits for.
        in_flight.fetch_add(1, std::memory_order_relaxed);
        struct in_flight_guard {
            std::atomic<std::int64_t>* n;
            void done() noexcept
            {
                if (n != nullptr) {
                    n->fetch_sub(1, std::memory_order_relaxed);
                    n = nullptr;
                }
            }
            ~in_flight_guard() { done(); }
        } answering{&in_flight};
        if (!w.body_pool.empty()) {
            res.body.swap(w.body_pool.back());
            w.body_pool.pop_back();
        }
        const auto& req = parser.get();
        const auto method = req.method_string();
        w.rt->handle(request_view{{method.data(), method.size()}, {req.target().data(), req.target().size()}}, res);

        if (res.matched == route::events && res.status == 200 && !res.head) {
            w.m->observe(route::events, 200, monotonic_ns() - t0);
            answering.done();   // a stream is not a request in hand: the drain does not wait for it
            co_await events_session(w, stream, w.rt->last_symbols());
            break;
        }

        const bool keep = req.keep_alive() && !stopping.load(std::memory_order_relaxed);   // relaxed: a hint
        const auto payload = res.payload();
        write_head(head, res.status, res.content_type, payload.size(), res.allow, keep, req.version(), res.retry_after,
                   res.cache_control);
        std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(payload.data(), res.head ? 0 : payload.size())};
        // Write at once when the kernel takes it all (the usual case on loopback): the body
        // goes back to the pool before the next connection's request is handled. Only a
        // partial write waits, with the write timeout.
        boost::system::error_code wec;
        const auto total = asio::buffer_size(bufs);
        auto written = stream.socket().write_some(bufs, wec);
        if (wec == asio::error::would_block || wec == asio::error::try_again) {
            wec = {};
            written = 0;
        }
        if (!wec && written < total) {
            beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest{bufs};
            rest.consume(written);
            stream.expires_after(config.write_timeout);
            auto [ec2, n2] = co_await asio::async_write(stream, rest, use_tuple);
            (void)n2;
            wec = ec2;
        }
        w.m->observe(res.matched, res.status, monotonic_ns() - t0);
        // Lend the body back to the worker (or drop it when the pool is full), so that
        // 1,000 idle keep-alive connections do not each hold their largest response.
        if (w.body_pool.size() < worker::body_pool_max && res.body.capacity() <= (4u << 20)) {
            res.body.clear();
            w.body_pool.push_back(std::move(res.body));
        }
        std::string{}.swap(res.body);
        if (buffer.capacity() > 16 * 1024) {
            buffer.shrink_to_fit();
        }
        if (wec || !keep) {
            break;
        }
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
}

asio::awaitable<void> server::impl::events_session(worker& w, beast::tcp_stream& stream,
                                                   std::vector<std::string> filter)
{
    auto client = std::make_shared<event_client>(stream.get_executor(), std::move(filter), config.events_queue_bytes);
    hub.add(client);
    struct remove_guard {
        event_hub& hub;
        event_client* c;
        ~remove_guard() { hub.remove(c); }
    } guard{hub, client.get()};

    std::string out =
        "HTTP/1.1 200 OK\r\nServer: vs-api\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
        "Connection: keep-alive\r\nX-Accel-Buffering: no\r\n\r\nretry: 2000\n\n";
    {
        std::string snap;
        render_snapshot_event(*w.source, client->filter(), config.stale_seconds, started_ns, snap);
        out += snap;
    }
    stream.expires_after(config.write_timeout);
    if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), use_tuple); ec) {
        co_return;
    }
    stream.expires_never();

    std::deque<std::shared_ptr<const std::string>> batch;
    std::vector<asio::const_buffer> bufs;
    while (!stopping.load(std::memory_order_relaxed)) {   // relaxed: a hint
        bool resync = false;
        client->take(batch, resync);
        if (resync) {
            render_snapshot_event(*w.source, client->filter(), config.stale_seconds, started_ns, out);
            batch.clear();
            bufs.assign(1, asio::buffer(out));
        } else if (!batch.empty()) {
            bufs.clear();
            for (const auto& m : batch) {
                bufs.push_back(asio::buffer(*m));
            }
        } else {
            client->timer().expires_after(std::chrono::seconds{15});
            auto [tec] = co_await client->timer().async_wait(use_tuple);
            if (tec) {
                continue;   // woken by the hub
            }
            out = ": keep-alive\n\n";
            bufs.assign(1, asio::buffer(out));
        }
        // A client that does not read blocks only this coroutine; the hub keeps queueing
        // (bounded) and turns the overflow into a resync.
        stream.expires_after(config.write_timeout);
        auto [ec, n] = co_await asio::async_write(stream, bufs, use_tuple);
        stream.expires_never();
        batch.clear();
        if (ec) {
            co_return;
        }
    }
}

server::server(server_config config) : impl_(std::make_unique<impl>(std::move(config)))
{
    auto& c = impl_->config;
    if (!c.allow_remote && !net::is_loopback(c.host)) {
        throw std::runtime_error{fmt::format(
            "refusing to listen on non-loopback address {} without --allow-remote", c.host)};
    }
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(c.host, ec);
    if (ec) {
        throw std::runtime_error{fmt::format("cannot parse listen address {}: {}", c.host, ec.message())};
    }
    const auto n = impl::threads_of(c);
    for (std::size_t i = 0; i < n; ++i) {
        auto w = std::make_unique<worker>();
        w->index = i;
        w->ioc = std::make_unique<asio::io_context>(1);
        w->work.emplace(w->ioc->get_executor());
        w->source = std::make_unique<bus_source>(c.bus_prefix, c.market_channel, c.oi_channel);
        router_config rc;
        rc.stale_seconds = c.stale_seconds;
        rc.max_batch = c.max_batch;
        rc.started_ns = impl_->started_ns;
        rc.feeds = &impl_->feeds;
        rc.history = impl_->history ? &impl_->history->store() : nullptr;
        w->rt = std::make_unique<router>(rc, *w->source, &impl_->metrics);
        w->m = &impl_->metrics.worker(i);
        impl_->workers.push_back(std::move(w));
    }
    auto& acc = impl_->acceptor;
    acc = std::make_unique<tcp::acceptor>(*impl_->workers[0]->ioc);
    const tcp::endpoint ep{address, c.port};
    acc->open(ep.protocol(), ec);
    if (!ec) {
        acc->set_option(asio::socket_base::reuse_address{true}, ec);
        acc->bind(ep, ec);
    }
    if (!ec) {
        acc->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        throw std::runtime_error{fmt::format("cannot listen on {}:{}: {}", c.host, c.port, ec.message())};
    }
}

server::~server() { stop(); }

std::uint16_t server::port() const noexcept
{
    boost::system::error_code ec;
    const auto ep = impl_->acceptor->local_endpoint(ec);
    return ec ? 0 : ep.port();
}

metrics_registry& server::metrics() noexcept { return impl_->metrics; }

std::uint64_t server::history_seeded_points() const noexcept
{
    return impl_->history ? impl_->history->seeded_points() : 0;
}

std::uint64_t server::history_seed_broken() const noexcept
{
    return impl_->history ? impl_->history->seed_broken() : 0;
}

void server::start()
{
    if (impl_->started) {
        return;
    }
    impl_->started = true;
    impl_->hub.start();
    // Alerts and news go to /events clients as they are published (the log's thread).
    impl_->feeds.set_delivery(&impl_->delivery);
    impl_->feeds.on_alert([this](const alert_item& a) {
        impl_->hub.broadcast(std::make_shared<const std::string>(alert_event_message(a, impl_->delivery.states_json(a.id))),
                             a.symbol);
    });
    impl_->feeds.on_news([this](const news_item& n) {
        impl_->hub.broadcast(std::make_shared<const std::string>(news_event_message(n)), {});
    });
    impl_->feeds.start();
    if (impl_->history) {
        if (!impl_->config.state_dir.empty() && !impl_->config.oi_program.empty()) {
            // vs-oi's stored histories through the outbox /alerts already opens (one LMDB
            // environment per process), read-only.
            impl_->history->set_oi_states([this](const std::function<void(std::string_view, std::string_view)>& fn) {
                return impl_->delivery.state_for_each(impl_->config.oi_program, fn);
            });
        }
        impl_->history->start();
    }
    asio::co_spawn(*impl_->workers[0]->ioc, impl_->accept_loop(), asio::detached);
    for (auto& w : impl_->workers) {
        w->thread = std::thread{[io = w->ioc.get()] {
            for (;;) {
                try {
                    io->run();
                    return;
                } catch (const std::exception& e) {
                    spdlog::error("worker: {}", e.what());   // a bug; keep serving
                }
            }
        }};
    }
}

bool server::responsive(std::chrono::milliseconds max_lag)
{
    if (!impl_ || !impl_->started) {
        return false;
    }
    const auto now = monotonic_ns();
    bool ok = true;
    for (auto& w : impl_->workers) {
        // Relaxed: two timestamps of one worker, compared with each other only.
        const auto posted = w->posted_ns.load(std::memory_order_relaxed);
        const auto ran = w->alive_ns.load(std::memory_order_relaxed);
        const bool pending = posted != 0 && ran < posted;
        if (pending && now - posted > std::chrono::nanoseconds{max_lag}.count()) {
            ok = false;   // a probe posted more than max_lag ago has not run: the worker is stuck
        }
        if (!pending) {   // one probe at a time: a stuck worker's queue does not grow
            w->posted_ns.store(now, std::memory_order_relaxed);
            asio::post(*w->ioc, [wk = w.get()] { wk->alive_ns.store(monotonic_ns(), std::memory_order_relaxed); });
        }
    }
    return ok;
}

void server::stop(std::chrono::steady_clock::time_point drain_until, const std::function<void()>& while_draining)
{
    if (!impl_ || impl_->stopping.exchange(true, std::memory_order_relaxed)) {   // relaxed: single caller
        return;
    }
    auto& ws = impl_->workers;
    if (!ws.empty()) {
        asio::post(*ws[0]->ioc, [this] {
            boost::system::error_code ignored;
            impl_->acceptor->close(ignored);
        });
    }
    // The drain: no new connection is accepted, keep-alive ends with each answer, and the
    // requests already read are answered, until drain_until.
    while (impl_->in_flight.load(std::memory_order_relaxed) > 0 && std::chrono::steady_clock::now() < drain_until) {
        if (while_draining) {
            while_draining();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    impl_->hub.stop();
    impl_->feeds.stop();
    if (impl_->history) {
        impl_->history->stop();
    }
    for (auto& w : ws) {
        w->work.reset();
        w->ioc->stop();
    }
    for (auto& w : ws) {
        if (w->thread.joinable()) {
            w->thread.join();
        }
    }
    // Destroy pending coroutines (sessions) while the hub, metrics and routers still exist.
    impl_->acceptor.reset();
    for (auto& w : ws) {
        w->ioc.reset();
    }
}

}  // namespace vs::api
