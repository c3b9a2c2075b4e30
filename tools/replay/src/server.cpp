#include "vs/replay/server.hpp"
#include "vs/replay/receiver.hpp"
#include "vs/replay/telegram.hpp"

#include <csignal>
#include <cstdint>
#include <deque>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vs/common/clock.hpp"
#include "vs/common/systemd.hpp"
#include "vs/net/address.hpp"
#include "vs/replay/frames.hpp"
#include "vs/replay/market.hpp"
#include "vs/replay/rest.hpp"

namespace vs::replay {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
// A connection whose unsent frames exceed this is a slow consumer; Binance drops those too.
constexpr std::size_t max_queued_bytes = 64U << 20;

std::string jstr(std::string_view s) { return boost::json::serialize(boost::json::string(s.begin(), s.end())); }

http_reply control_ok(std::string fields = {})
{
    http_reply r;
    r.body = "{\"ok\":true" + (fields.empty() ? std::string{} : "," + fields) + "}";
    return r;
}

http_reply control_error(unsigned status, std::string_view msg)
{
    http_reply r;
    r.status = status;
    r.body = "{\"ok\":false,\"error\":" + jstr(msg) + "}";
    return r;
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

std::vector<std::string> split(std::string_view s, char sep)
{
    std::vector<std::string> out;
    while (!s.empty()) {
        auto at = s.find(sep);
        auto part = s.substr(0, at);
        if (!part.empty()) {
            out.emplace_back(part);
        }
        if (at == std::string_view::npos) {
            break;
        }
        s.remove_prefix(at + 1);
    }
    return out;
}

bool ends_with(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void log_exception(std::exception_ptr e, const char* what)
{
    if (!e) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        spdlog::error("{} failed: {}", what, x.what());
    }
}

}  // namespace

class ws_session;

struct server::impl {
    explicit impl(server_config c);

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> http_session(tcp::socket socket);
    asio::awaitable<void> market_loop();
    asio::awaitable<void> ticker_loop();
    asio::awaitable<void> file_loop();
    asio::awaitable<void> trade_storm(double rate, double seconds);
    asio::awaitable<void> scenario_action(std::chrono::steady_clock::time_point at, std::string action,
                                          std::map<std::string, std::string> params);

    http_reply handle_request(const http::request<http::string_body>& req, const std::string& ip);
    http_reply control(std::string_view action, const request_target& t, bool is_post);
    std::string stats_json(std::int64_t now_ms) const;
    void load_scenario();

    /// Sends `data` (JSON text of the stream's payload) to every routed connection
    /// subscribed to `stream`; `exact` is the combined-envelope text to send verbatim.
    void publish(std::string_view stream, std::string_view data, const std::string* exact = nullptr);
    bool stalled(std::string_view stream, std::int64_t now_ms);
    bool has_subscriber(std::string_view stream) const;
    void remove(const ws_session* s);
    void shutdown_now();

    server_config cfg;
    asio::io_context ioc{1};
    tcp::acceptor acceptor{ioc};
    std::optional<asio::signal_set> signals;
    market mkt;
    weight_limiter limiter;
    rest_api rest;
    telegram_pages news;  // t.me/s/<channel> pages for vs-news (telegram.hpp)
    receiver sink;        // the backend's and the Bot API's stand-in (receiver.hpp)
    std::vector<std::shared_ptr<ws_session>> sessions;
    std::map<std::string, std::int64_t, std::less<>> stalls;  // stream ("*" = all) -> until ms, 0 = resume only
    bool legacy_everywhere = false;
    bool stopping = false;
    std::map<std::string, long long, std::less<>> frames_sent;
    long long malformed_sent = 0;
    long long storm_frames = 0;     // aggTrade frames of /_control/trade_storm (each to every subscriber)
    int storms_running = 0;
    long long file_frames = 0;
    long long file_skipped = 0;
    int mark_tick = 0;
    std::vector<std::pair<double, std::pair<std::string, std::map<std::string, std::string>>>> scenario;
    std::string bound_address;
    unsigned short bound_port = 0;
};

// ---------------------------------------------------------------------------------------------
// One WebSocket connection: a read loop (SUBSCRIBE & co.), a writer draining a queue of
// shared frames, and a pinger. Everything runs on the server's single I/O thread.

class ws_session : public std::enable_shared_from_this<ws_session> {
public:
    ws_session(server::impl& srv, beast::tcp_stream stream, bool routed, bool combined,
               std::set<std::string, std::less<>> subs)
        : routed_(routed), combined_(combined), subs_(std::move(subs)), srv_(srv), ws_(std::move(stream)),
          wake_(srv.ioc), ping_timer_(srv.ioc), lifetime_timer_(srv.ioc)
    {
    }

    asio::awaitable<void> run(http::request<http::string_body> req)
    {
        auto self = shared_from_this();
        beast::get_lowest_layer(ws_).expires_never();
        websocket::stream_base::timeout t{};
        t.handshake_timeout = std::chrono::seconds(30);
        t.idle_timeout = websocket::stream_base::none();
        t.keep_alive_pings = false;
        ws_.set_option(t);
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "vs-replay"); }));
        ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind == websocket::frame_type::pong) {
                last_pong_ms_ = vs::realtime_ms();
            }
        });
        auto [ec] = co_await ws_.async_accept(req, nothrow);
        if (ec) {
            spdlog::debug("websocket accept failed: {}", ec.message());
            close_now(false);
            srv_.remove(this);
            co_return;
        }
        ws_.text(true);
        last_pong_ms_ = vs::realtime_ms();
        spdlog::info("websocket open: {} {} ({} streams)", routed_ ? "routed" : "legacy",
                     std::string_view(req.target()), subs_.size());
        asio::co_spawn(srv_.ioc, writer(self), [](std::exception_ptr e) { log_exception(e, "websocket writer"); });
        asio::co_spawn(srv_.ioc, pinger(self), [](std::exception_ptr e) { log_exception(e, "websocket pinger"); });
        asio::co_spawn(srv_.ioc, lifetime(self), [](std::exception_ptr e) { log_exception(e, "websocket lifetime"); });
        beast::flat_buffer buf;
        for (;;) {
            auto [rec, n] = co_await ws_.async_read(buf, nothrow);
            if (rec) {
                break;
            }
            handle_message(beast::buffers_to_string(buf.data()));
            buf.consume(buf.size());
        }
        close_now(false);
        srv_.remove(this);
        spdlog::info("websocket closed ({})", routed_ ? "routed" : "legacy");
    }

    /// Queues a frame; drops the connection when it cannot keep up.
    void send(std::shared_ptr<const std::string> frame)
    {
        if (closed_) {
            return;
        }
        queued_bytes_ += frame->size();
        if (queued_bytes_ > max_queued_bytes) {
            spdlog::warn("websocket slow consumer: {} bytes queued, closing", queued_bytes_);
            close_now(true);
            return;
        }
        queue_.push_back(std::move(frame));
        wake_.cancel();
    }

    /// Closes the socket at once; `reset` sends a TCP RST instead of a FIN.
    void close_now(bool reset)
    {
        if (closed_) {
            return;
        }
        closed_ = true;
        boost::system::error_code ec;
        auto& sock = beast::get_lowest_layer(ws_).socket();
        if (reset) {
            sock.set_option(asio::socket_base::linger(true, 0), ec);
        }
        sock.close(ec);
        wake_.cancel();
        ping_timer_.cancel();
        lifetime_timer_.cancel();
    }

    bool routed() const noexcept { return routed_; }
    bool combined() const noexcept { return combined_; }
    bool closed() const noexcept { return closed_; }
    bool subscribed(std::string_view stream) const { return subs_.find(stream) != subs_.end(); }
    const std::set<std::string, std::less<>>& subscriptions() const noexcept { return subs_; }
    int malformed_left = 0;
    int malformed_kind = 0;

private:
    asio::awaitable<void> writer(std::shared_ptr<ws_session> /*keep_alive*/)
    {
        while (!closed_) {
            if (queue_.empty()) {
                wake_.expires_at(asio::steady_timer::time_point::max());
                co_await wake_.async_wait(nothrow);
                continue;
            }
            auto item = std::move(queue_.front());
            queue_.pop_front();
            if (!item) {
                auto [ec] = co_await ws_.async_ping(websocket::ping_data{}, nothrow);
                if (ec) {
                    break;
                }
                continue;
            }
            queued_bytes_ -= item->size();
            auto [ec, n] = co_await ws_.async_write(asio::buffer(*item), nothrow);
            if (ec) {
                break;
            }
        }
        close_now(false);
    }

    asio::awaitable<void> pinger(std::shared_ptr<ws_session> /*keep_alive*/)
    {
        const std::int64_t timeout_ms = static_cast<std::int64_t>(srv_.cfg.pong_timeout_s) * 1000;
        while (!closed_) {
            ping_timer_.expires_after(std::chrono::seconds(srv_.cfg.ping_interval_s));
            co_await ping_timer_.async_wait(nothrow);
            if (closed_) {
                break;
            }
            if (vs::realtime_ms() - last_pong_ms_ > timeout_ms) {
                spdlog::info("websocket: no pong for {} s, closing", srv_.cfg.pong_timeout_s);
                close_now(false);
                break;
            }
            queue_.push_back(nullptr);  // a ping, sent in order by the writer
            wake_.cancel();
        }
    }

    // Binance closes every connection after 24 h; clients must reconnect before that.
    asio::awaitable<void> lifetime(std::shared_ptr<ws_session> /*keep_alive*/)
    {
        lifetime_timer_.expires_after(std::chrono::seconds(srv_.cfg.max_connection_s));
        auto [ec] = co_await lifetime_timer_.async_wait(nothrow);
        if (!ec && !closed_) {
            spdlog::info("websocket: connection reached {} s, closing", srv_.cfg.max_connection_s);
            close_now(false);
        }
    }

    void reply(std::string text) { send(std::make_shared<const std::string>(std::move(text))); }

    // Binance's live-subscription protocol: {"method":"SUBSCRIBE","params":[...],"id":1}.
    void handle_message(const std::string& text)
    {
        boost::json::error_code ec;
        auto v = boost::json::parse(text, ec);
        if (ec || !v.is_object()) {
            reply(R"({"error":{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"},"id":null})");
            return;
        }
        const auto& obj = v.get_object();
        std::string id = "null";
        if (const auto* i = obj.if_contains("id")) {
            if (!i->is_int64() && !i->is_uint64() && !i->is_null()) {
                reply(R"({"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"},"id":null})");
                return;
            }
            id = boost::json::serialize(*i);
        }
        const auto* m = obj.if_contains("method");
        if (m == nullptr || !m->is_string()) {
            reply(fmt::format(R"({{"error":{{"code":2,"msg":"Invalid request: missing field `method`"}},"id":{}}})", id));
            return;
        }
        std::string_view method = m->get_string();
        std::vector<std::string> params;
        if (const auto* p = obj.if_contains("params"); p != nullptr && p->is_array()) {
            for (const auto& e : p->get_array()) {
                if (e.is_string()) {
                    params.emplace_back(e.get_string());
                }
            }
        }
        if (method == "SUBSCRIBE") {
            for (auto& s : params) {
                subs_.insert(std::move(s));
            }
            reply(fmt::format(R"({{"result":null,"id":{}}})", id));
        } else if (method == "UNSUBSCRIBE") {
            for (const auto& s : params) {
                subs_.erase(s);
            }
            reply(fmt::format(R"({{"result":null,"id":{}}})", id));
        } else if (method == "LIST_SUBSCRIPTIONS") {
            std::string list = "[";
            for (const auto& s : subs_) {
                if (list.size() > 1) {
                    list += ',';
                }
                list += jstr(s);
            }
            list += ']';
            reply(fmt::format(R"({{"result":{},"id":{}}})", list, id));
        } else if (method == "SET_PROPERTY") {
            reply(fmt::format(R"({{"result":null,"id":{}}})", id));
        } else if (method == "GET_PROPERTY") {
            reply(fmt::format(R"({{"result":{},"id":{}}})", combined_ ? "true" : "false", id));
        } else {
            reply(fmt::format(
                R"({{"error":{{"code":2,"msg":"Invalid request: unknown variant `{}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"}},"id":{}}})",
                std::string(method.substr(0, 40)), id));
        }
    }

    bool routed_;
    bool combined_;
    std::set<std::string, std::less<>> subs_;
    server::impl& srv_;
    websocket::stream<beast::tcp_stream> ws_;
    std::deque<std::shared_ptr<const std::string>> queue_;  // nullptr = a ping
    std::size_t queued_bytes_ = 0;
    asio::steady_timer wake_;
    asio::steady_timer ping_timer_;
    asio::steady_timer lifetime_timer_;
    bool closed_ = false;
    std::int64_t last_pong_ms_ = 0;
};

// ---------------------------------------------------------------------------------------------

server::impl::impl(server_config c)
    : cfg(std::move(c)),
      mkt(market_config{cfg.symbols, cfg.seed, 168}, vs::realtime_ms()),
      limiter(weight_config{cfg.weight_limit, cfg.ban_seconds, cfg.tolerated_429s}),
      rest(mkt, limiter),
      news(telegram_config{cfg.news_channels, cfg.news_posts}, vs::realtime_ms()),
      sink(receiver_config{cfg.backend_api_key, cfg.telegram_bot_token})
{
    if (!cfg.file.empty()) {
        std::ifstream in(cfg.file);
        if (!in) {
            throw std::runtime_error("cannot open recorded file " + cfg.file);
        }
    }
    if (!cfg.scenario_file.empty()) {
        load_scenario();
    }
}

void server::impl::load_scenario()
{
    std::ifstream in(cfg.scenario_file);
    if (!in) {
        throw std::runtime_error("cannot open scenario file " + cfg.scenario_file);
    }
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.find_first_not_of(" \t\r") == std::string::npos || line[line.find_first_not_of(" \t")] == '#') {
            continue;
        }
        boost::json::error_code ec;
        auto v = boost::json::parse(line, ec);
        const boost::json::object* obj = (!ec && v.is_object()) ? &v.get_object() : nullptr;
        const boost::json::value* at = obj != nullptr ? obj->if_contains("at_s") : nullptr;
        const boost::json::value* action = obj != nullptr ? obj->if_contains("action") : nullptr;
        if (at == nullptr || !at->is_number() || action == nullptr || !action->is_string()) {
            throw std::runtime_error(fmt::format("scenario {} line {}: expected {{\"at_s\":N,\"action\":\"...\",...}}",
                                                 cfg.scenario_file, n));
        }
        std::map<std::string, std::string> params;
        for (const auto& [k, val] : *obj) {
            if (k == "at_s" || k == "action") {
                continue;
            }
            params[std::string(k)] = val.is_string() ? std::string(val.get_string()) : boost::json::serialize(val);
        }
        scenario.push_back({at->to_number<double>(), {std::string(action->get_string()), std::move(params)}});
    }
}

void server::impl::remove(const ws_session* s)
{
    std::erase_if(sessions, [s](const std::shared_ptr<ws_session>& p) { return p.get() == s; });
}

void server::impl::shutdown_now()
{
    if (stopping) {
        return;
    }
    stopping = true;
    boost::system::error_code ec;
    acceptor.close(ec);
    if (signals) {
        signals->cancel(ec);
    }
    auto all = sessions;
    for (auto& s : all) {
        s->close_now(false);
    }
    ioc.stop();
}

bool server::impl::stalled(std::string_view stream, std::int64_t now_ms)
{
    for (std::string_view key : {stream, std::string_view{"*"}}) {
        auto it = stalls.find(key);
        if (it == stalls.end()) {
            continue;
        }
        if (it->second == 0 || now_ms < it->second) {
            return true;
        }
        stalls.erase(it);
    }
    return false;
}

bool server::impl::has_subscriber(std::string_view stream) const
{
    for (const auto& s : sessions) {
        if (s->routed() && !s->closed() && s->subscribed(stream)) {
            return true;
        }
    }
    return false;
}

void server::impl::publish(std::string_view stream, std::string_view data, const std::string* exact)
{
    if (legacy_everywhere || sessions.empty() || stalled(stream, vs::realtime_ms())) {
        return;
    }
    std::shared_ptr<const std::string> combined, raw;
    long long sent = 0;
    auto all = sessions;  // a slow consumer may be closed while we iterate
    for (auto& s : all) {
        if (!s->routed() || s->closed() || !s->subscribed(stream)) {
            continue;
        }
        std::shared_ptr<const std::string> text;
        if (s->combined()) {
            if (!combined) {
                combined = std::make_shared<const std::string>(exact != nullptr ? *exact : envelope(stream, data));
            }
            text = combined;
        } else {
            if (!raw) {
                raw = std::make_shared<const std::string>(data);
            }
            text = raw;
        }
        if (s->malformed_left > 0) {
            --s->malformed_left;
            ++malformed_sent;
            text = std::make_shared<const std::string>(malformed_frame(s->malformed_kind++, stream, *text, s->combined()));
        }
        s->send(std::move(text));
        ++sent;
    }
    if (sent > 0) {
        auto it = frames_sent.find(stream);
        if (it == frames_sent.end()) {
            it = frames_sent.emplace(std::string(stream), 0).first;
        }
        it->second += sent;
    }
}

asio::awaitable<void> server::impl::accept_loop()
{
    while (!stopping) {
        auto [ec, socket] = co_await acceptor.async_accept(nothrow);
        if (ec) {
            if (stopping || !acceptor.is_open()) {
                break;
            }
            spdlog::warn("accept failed: {}", ec.message());
            continue;
        }
        asio::co_spawn(ioc, http_session(std::move(socket)),
                       [](std::exception_ptr e) { log_exception(e, "http session"); });
    }
}

asio::awaitable<void> server::impl::http_session(tcp::socket socket)
{
    boost::system::error_code ec;
    auto remote = socket.remote_endpoint(ec);
    const std::string ip = ec ? std::string{"127.0.0.1"} : remote.address().to_string();
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buf;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(1U << 20);
        stream.expires_after(std::chrono::seconds(120));
        auto [rec, n] = co_await http::async_read(stream, buf, parser, nothrow);
        if (rec) {
            break;
        }
        auto req = parser.release();
        if (websocket::is_upgrade(req)) {
            // Routed market paths deliver data; the pre-2026-04-23 unrouted ones only ack.
            auto t = parse_target(req.target());
            bool routed = false, combined = false, known = t.ok;
            std::set<std::string, std::less<>> subs;
            if (t.path == "/market/stream" || t.path == "/stream") {
                routed = t.path == "/market/stream";
                combined = true;
                if (const auto* s = t.param("streams")) {
                    for (auto& name : split(*s, '/')) {
                        subs.insert(std::move(name));
                    }
                }
            } else if (t.path == "/market/ws" || t.path.rfind("/market/ws/", 0) == 0 || t.path == "/ws" ||
                       t.path.rfind("/ws/", 0) == 0) {
                routed = t.path.rfind("/market/", 0) == 0;
                std::string_view rest_of_path = std::string_view(t.path).substr(routed ? 10 : 3);
                for (auto& name : split(rest_of_path, '/')) {
                    subs.insert(std::move(name));
                }
            } else {
                known = false;
            }
            if (!known) {
                http::response<http::string_body> res{http::status::not_found, req.version()};
                res.set(http::field::content_type, "application/json");
                res.body() = R"({"code":-5000,"msg":"Unknown WebSocket path"})";
                res.prepare_payload();
                co_await http::async_write(stream, res, nothrow);
                break;
            }
            auto session = std::make_shared<ws_session>(*this, std::move(stream), routed, combined, std::move(subs));
            sessions.push_back(session);
            co_await session->run(std::move(req));
            co_return;
        }
        http_reply r = handle_request(req, ip);
        http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
        res.set(http::field::server, "vs-replay");
        res.set(http::field::content_type, "application/json");
        for (const auto& [k, v] : r.headers) {
            res.set(k, v);
        }
        res.keep_alive(req.keep_alive());
        res.body() = std::move(r.body);
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
        if (wec || !res.keep_alive()) {
            break;
        }
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

http_reply server::impl::handle_request(const http::request<http::string_body>& req, const std::string& ip)
{
    const auto method = req.method();
    auto t = parse_target(req.target());
    if (!t.ok) {
        return binance_error(400, -1100, "Illegal characters found in a parameter.");
    }
    if (receiver::is_receiver_path(t.path)) {
        received_request rr;
        rr.method = std::string(req.method_string());
        rr.api_key_header = std::string(req["X-API-Key"]);
        rr.idempotency_key = std::string(req["Idempotency-Key"]);
        rr.body = req.body();
        return sink.handle(t, rr, vs::realtime_ms());
    }
    if (t.path.rfind("/fapi/", 0) == 0 || t.path == "/futures/data/openInterestHist") {
        return rest.handle(t, ip, vs::realtime_ms());
    }
    if (t.path.rfind("/_control/", 0) == 0) {
        return control(std::string_view(t.path).substr(10), t, method == http::verb::post);
    }
    if (t.path == "/") {
        return control_ok(R"("service":"vs-replay")");
    }
    if (method == http::verb::get && telegram_pages::is_page_path(t.path)) {
        return news.page(t, vs::realtime_ms());
    }
    return control_error(404, "no such path: " + t.path);
}

// The control API: tests and scenarios steer the market and inject faults with it.
http_reply server::impl::control(std::string_view action, const request_target& t, bool is_post)
{
    const std::int64_t now = vs::realtime_ms();
    auto symbol_index = [&]() -> std::optional<std::size_t> {
        const auto* s = t.param("symbol");
        return s == nullptr ? std::nullopt : mkt.find(*s);
    };
    if (action == "state") {
        auto k = symbol_index();
        if (!k) {
            return control_error(404, "unknown or missing symbol");
        }
        http_reply r;
        r.body = mkt.state_json(*k);
        return r;
    }
    if (action == "stats") {
        http_reply r;
        r.body = stats_json(now);
        return r;
    }
    if (action.rfind("news/", 0) == 0) {
        return news.control(std::string(action.substr(5)), t, is_post, now);
    }
    // GET /_control/status: the receiver's counts; POST /_control/status stays the exchange status.
    if (receiver::is_control_action(action) && !(action == "status" && is_post)) {
        return sink.control(action, t, is_post, now);
    }
    if (!is_post) {
        return control_error(405, "use POST for /_control/" + std::string(action));
    }
    if (action == "set") {
        auto k = symbol_index();
        if (!k) {
            return control_error(404, "unknown or missing symbol");
        }
        auto price = to_double(t.param("price"));
        auto funding = to_double(t.param("funding"));
        auto oi = to_double(t.param("oi"));
        auto qv = to_double(t.param("quote_volume"));
        if ((t.param("price") != nullptr && (!price || *price <= 0)) ||
            (t.param("funding") != nullptr && !funding) || (t.param("oi") != nullptr && (!oi || *oi < 0)) ||
            (t.param("quote_volume") != nullptr && !qv)) {
            return control_error(400, "price must be > 0, funding a number, oi >= 0, quote_volume a number");
        }
        if (!price && !funding && !oi && !qv) {
            return control_error(400, "give at least one of price, funding, oi, quote_volume");
        }
        if (qv) {
            mkt.set_quote_volume_24h(*k, *qv);   // < 0: back to the candles' rolling volume
        }
        if (price) {
            mkt.set_price(*k, *price);
        }
        if (funding) {
            mkt.set_funding(*k, *funding);
        }
        if (oi) {
            mkt.set_open_interest(*k, *oi);
        }
        return control_ok("\"symbol\":" + jstr(mkt.symbols()[*k].name));
    }
    if (action == "status") {   // issue 19: delisted (not TRADING, or absent from exchangeInfo)
        auto k = symbol_index();
        const auto* st = t.param("status");
        if (!k || st == nullptr) {
            return control_error(400, "need symbol (known) and status (TRADING, SETTLING, ...; GONE: absent)");
        }
        mkt.set_exchange_status(*k, *st == "GONE" ? std::string{} : *st);
        return control_ok("\"symbol\":" + jstr(mkt.symbols()[*k].name) + ",\"status\":" + jstr(*st));
    }
    if (action == "invalid") {   // issue 19: invalid exchange values for one symbol
        auto k = symbol_index();
        const auto* v = t.param("value");
        if (!k || v == nullptr || (*v != "nan" && *v != "negative" && *v != "absurd" && *v != "off")) {
            return control_error(400, "need symbol (known) and value=nan|negative|absurd|off");
        }
        mkt.set_bad_mark(*k, *v == "nan" ? "NaN" : *v == "negative" ? "-1.5" : *v == "absurd" ? "1e12" : "");
        return control_ok("\"symbol\":" + jstr(mkt.symbols()[*k].name) + ",\"value\":" + jstr(*v));
    }
    if (action == "oi_ramp") {
        auto k = symbol_index();
        auto pct = to_double(t.param("pct"));
        auto seconds = to_double(t.param("seconds"));
        if (!k || !pct || !seconds || *seconds < 0) {
            return control_error(400, "need symbol (known), pct and seconds >= 0");
        }
        double from = mkt.symbols()[*k].open_interest;
        mkt.ramp_open_interest(*k, *pct, *seconds, now);
        return control_ok(fmt::format("\"symbol\":{},\"from\":{},\"to\":{}", jstr(mkt.symbols()[*k].name), from,
                                      from * (1.0 + *pct / 100.0)));
    }
    if (action == "volume") {
        auto k = symbol_index();
        auto factor = to_double(t.param("factor"));
        if (!k || !factor || *factor < 0) {
            return control_error(400, "need symbol (known) and factor >= 0");
        }
        mkt.scale_hour_volume(*k, *factor);
        return control_ok(fmt::format("\"symbol\":{},\"hourQuoteVolume\":{:.5f}", jstr(mkt.symbols()[*k].name),
                                      mkt.symbols()[*k].current.quote_volume));
    }
    if (action == "liquidation" || action == "trade") {
        // Deterministic events for the liquidation and whale-trade alerts: pushed at once.
        auto k = symbol_index();
        auto qty = to_double(t.param("qty"));
        auto price = to_double(t.param("price"));
        const auto* side = t.param("side");
        const bool sell = side == nullptr || *side == "SELL" || *side == "sell";
        if (!k || !qty || *qty <= 0 || (t.param("price") != nullptr && (!price || *price <= 0)) ||
            (side != nullptr && !sell && *side != "BUY" && *side != "buy")) {
            return control_error(400, "need symbol (known), qty > 0, optional price > 0 and side BUY|SELL");
        }
        const auto& sym = mkt.symbols()[*k];
        if (action == "liquidation") {
            // filled= (z) below qty= (q): a partly filled liquidation order; the notional is ap x z.
            auto filled = to_double(t.param("filled"));
            if (t.param("filled") != nullptr && (!filled || *filled <= 0 || *filled > *qty)) {
                return control_error(400, "filled must be > 0 and <= qty");
            }
            auto payload = mkt.force_order(*k, now, sell, *qty, price, filled);
            publish("!forceOrder@arr", payload);
            publish(sym.lower + "@forceOrder", payload);
        } else {
            publish(sym.lower + "@aggTrade", mkt.trade(*k, now, *qty, price, sell));
        }
        return control_ok("\"symbol\":" + jstr(sym.name));
    }
    if (action == "trade_storm") {
        // A crash's trade burst: `rate` aggTrade frames a second for `seconds`, spread over every
        // subscribed <symbol>@aggTrade stream.
        auto rate = to_double(t.param("rate"));
        auto seconds = to_double(t.param("seconds"));
        if (!rate || *rate < 1 || *rate > 200'000 || !seconds || *seconds <= 0 || *seconds > 3600) {
            return control_error(400, "need rate 1..200000 (frames a second) and seconds in (0, 3600]");
        }
        asio::co_spawn(ioc, trade_storm(*rate, *seconds), [](std::exception_ptr e) { log_exception(e, "trade storm"); });
        return control_ok(fmt::format("\"rate\":{},\"seconds\":{}", *rate, *seconds));
    }
    if (action == "drop") {
        auto all = sessions;
        for (auto& s : all) {
            s->close_now(true);
        }
        spdlog::info("control: dropped {} websocket connections", all.size());
        return control_ok(fmt::format("\"dropped\":{}", all.size()));
    }
    if (action == "stall") {
        auto seconds = t.param("seconds") != nullptr ? to_double(t.param("seconds")) : std::optional<double>(0.0);
        if (!seconds || *seconds < 0) {
            return control_error(400, "seconds must be >= 0");
        }
        std::vector<std::string> streams;
        if (const auto* s = t.param("streams"); s != nullptr && !s->empty() && *s != "all") {
            streams = split(*s, ',');
        } else {
            streams = {"*"};
        }
        std::int64_t until = *seconds == 0 ? 0 : now + static_cast<std::int64_t>(*seconds * 1000.0);
        std::string list;
        for (auto& s : streams) {
            list += (list.empty() ? "" : ",") + jstr(s);
            stalls[s] = until;
        }
        return control_ok(fmt::format("\"stalled\":[{}],\"until\":{}", list, until));
    }
    if (action == "resume") {
        if (const auto* s = t.param("streams"); s != nullptr && !s->empty() && *s != "all") {
            for (const auto& name : split(*s, ',')) {
                stalls.erase(name);
            }
        } else {
            stalls.clear();
        }
        return control_ok();
    }
    if (action == "malformed") {
        auto count = to_double(t.param("count"));
        if (!count || *count < 0) {
            return control_error(400, "need count >= 0");
        }
        int affected = 0;
        for (auto& s : sessions) {
            if (s->routed() && !s->closed()) {
                s->malformed_left = static_cast<int>(*count);
                ++affected;
            }
        }
        return control_ok(fmt::format("\"connections\":{}", affected));
    }
    if (action == "legacy") {
        const auto* on = t.param("on");
        legacy_everywhere = on != nullptr && (*on == "1" || *on == "true");
        return control_ok(fmt::format("\"legacy\":{}", legacy_everywhere));
    }
    return control_error(404, "unknown control action: " + std::string(action));
}

std::string server::impl::stats_json(std::int64_t now_ms) const
{
    int routed = 0, legacy = 0;
    for (const auto& s : sessions) {
        if (s->closed()) {
            continue;
        }
        (s->routed() ? routed : legacy) += 1;
    }
    std::string frames = "{";
    for (const auto& [k, v] : frames_sent) {
        frames += (frames.size() > 1 ? "," : "") + jstr(k) + ":" + std::to_string(v);
    }
    frames += "}";
    std::string stalled_list = "[";
    for (const auto& [k, v] : stalls) {
        if (v == 0 || now_ms < v) {
            stalled_list += (stalled_list.size() > 1 ? "," : "") + jstr(k);
        }
    }
    stalled_list += "]";
    const auto& c = limiter.stats();
    return fmt::format(
        "{{\"ok\":true,\"connections\":{{\"routed\":{},\"legacy\":{}}},\"frames_sent\":{},\"malformed_sent\":{},"
        "\"weight_used\":{},\"weight_limit\":{},\"http_429\":{},\"http_418\":{},\"bans\":{},\"stalled\":{},"
        "\"legacy_everywhere\":{},\"symbols\":{},\"file_frames\":{},\"file_skipped_lines\":{},"
        "\"storm_frames\":{},\"storms_running\":{},{}}}",
        routed, legacy, frames, malformed_sent, limiter.used_total(now_ms), cfg.weight_limit, c.http_429, c.http_418,
        c.bans, stalled_list, legacy_everywhere, mkt.usdm_count(), file_frames, file_skipped, storm_frames,
        storms_running, sink.stats_json());
}

asio::awaitable<void> server::impl::market_loop()
{
    using clock = std::chrono::steady_clock;
    const auto interval = std::chrono::milliseconds(std::max(cfg.mark_interval_ms, 10));
    asio::steady_timer timer(ioc);
    auto next = clock::now();
    std::int64_t last_ms = vs::realtime_ms();
    std::set<std::string, std::less<>> per_symbol;
    while (!stopping) {
        next += interval;
        if (next < clock::now() - interval) {
            next = clock::now();  // starved: do not burst to catch up
        }
        timer.expires_at(next);
        co_await timer.async_wait(nothrow);
        if (stopping) {
            break;
        }
        const std::int64_t now = vs::realtime_ms();
        const double dt = static_cast<double>(now - last_ms) / 1000.0;
        last_ms = now;
        mkt.step(now);
        vs::sd::notify_watchdog();
        if (!cfg.file.empty()) {
            continue;  // the file provides the stream data; the market serves REST
        }
        // /_control/state reports the values of the last frames built, so frames are built
        // only when some stream will carry them.
        const bool push_1s = !stalled("!markPrice@arr@1s", now);
        const bool push_plain_tick = mark_tick++ % 3 == 0;
        const bool push_plain = push_plain_tick && !stalled("!markPrice@arr", now) && has_subscriber("!markPrice@arr");
        if (push_1s || push_plain) {
            for (const auto& frame : mkt.mark_price_frames(now)) {
                if (push_1s) {
                    publish("!markPrice@arr@1s", frame);
                }
                if (push_plain) {
                    publish("!markPrice@arr", frame);
                }
            }
        }
        if (auto fo = mkt.maybe_force_order(now, dt)) {
            publish("!forceOrder@arr", *fo);
        }
        per_symbol.clear();
        for (const auto& s : sessions) {
            if (!s->routed() || s->closed()) {
                continue;
            }
            for (const auto& name : s->subscriptions()) {
                if (name.empty() || name[0] == '!') {
                    continue;
                }
                per_symbol.insert(name);
            }
        }
        for (const auto& name : per_symbol) {
            auto at = name.find('@');
            auto k = mkt.find_stream_symbol(std::string_view(name).substr(0, at));
            if (!k) {
                continue;
            }
            if (ends_with(name, "@aggTrade")) {
                if (auto trade = mkt.agg_trade(*k, now)) {
                    publish(name, *trade);
                }
            } else if (ends_with(name, "@kline_1h")) {
                if (const auto& closed = mkt.symbols()[*k].just_closed) {
                    publish(name, mkt.kline_1h(*k, now, &*closed));
                }
                publish(name, mkt.kline_1h(*k, now));
            } else if (ends_with(name, "@markPrice@1s") || (ends_with(name, "@markPrice") && push_plain_tick)) {
                publish(name, mkt.mark_price_payload(*k, now));
            } else if (ends_with(name, "@ticker")) {
                publish(name, mkt.ticker_payload(*k, now));
            }
        }
    }
}

asio::awaitable<void> server::impl::trade_storm(double rate, double seconds)
{
    using clock = std::chrono::steady_clock;
    constexpr auto tick = std::chrono::milliseconds{10};
    asio::steady_timer timer(ioc);
    const auto end = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
    auto next = clock::now();
    double owed = 0;
    std::size_t turn = 0;
    ++storms_running;
    spdlog::info("control: trade storm of {} frames/s for {} s", rate, seconds);
    std::vector<std::pair<std::string, std::size_t>> streams;
    while (!stopping && clock::now() < end) {
        next += tick;
        timer.expires_at(next);
        co_await timer.async_wait(nothrow);
        streams.clear();
        std::set<std::string> names;
        for (const auto& s : sessions) {
            if (s->routed() && !s->closed()) {
                for (const auto& name : s->subscriptions()) {
                    if (ends_with(name, "@aggTrade")) {
                        names.insert(name);
                    }
                }
            }
        }
        for (const auto& name : names) {
            if (auto k = mkt.find_stream_symbol(std::string_view(name).substr(0, name.find('@')))) {
                streams.emplace_back(name, *k);
            }
        }
        owed += rate * 0.01;
        if (streams.empty()) {
            owed = 0;
            continue;
        }
        const std::int64_t now = vs::realtime_ms();
        for (; owed >= 1; owed -= 1) {
            const auto& [name, k] = streams[turn++ % streams.size()];
            const auto& sym = mkt.symbols()[k];
            const double qty = std::max(std::pow(10.0, -sym.quantity_precision), 1000.0 / std::max(sym.last, 1e-9));
            publish(name, mkt.trade(k, now, qty, std::nullopt, (turn & 1) != 0));
            ++storm_frames;
        }
    }
    --storms_running;
    spdlog::info("control: trade storm over ({} frames in all)", storm_frames);
}

asio::awaitable<void> server::impl::ticker_loop()
{
    using clock = std::chrono::steady_clock;
    const auto interval = std::chrono::milliseconds(std::max(cfg.ticker_interval_ms, 10));
    asio::steady_timer timer(ioc);
    auto next = clock::now();
    while (!stopping) {
        next += interval;
        if (next < clock::now() - interval) {
            next = clock::now();
        }
        timer.expires_at(next);
        co_await timer.async_wait(nothrow);
        if (stopping) {
            break;
        }
        const std::int64_t now = vs::realtime_ms();
        if (!cfg.file.empty() || stalled("!ticker@arr", now)) {
            continue;
        }
        auto data = mkt.ticker_frame(now);
        if (!data.empty()) {
            publish("!ticker@arr", data);
        }
    }
}

asio::awaitable<void> server::impl::file_loop()
{
    using clock = std::chrono::steady_clock;
    asio::steady_timer timer(ioc);
    const double speed = cfg.speed > 0 ? cfg.speed : 1.0;
    for (;;) {
        std::ifstream in(cfg.file);
        if (!in) {
            spdlog::error("cannot open recorded file {}", cfg.file);
            co_return;
        }
        std::string line;
        bool have_base = false;
        std::int64_t base_ns = 0;
        auto base_wall = clock::now();
        long long good = 0;
        while (!stopping && std::getline(in, line)) {
            auto f = parse_recorded_line(line);
            if (!f) {
                if (!line.empty()) {
                    ++file_skipped;
                    if (file_skipped <= 10 || file_skipped % 1000 == 0) {
                        spdlog::warn("recorded file: skipping an unparsable line ({} so far)", file_skipped);
                    }
                }
                continue;
            }
            if (!have_base) {
                base_ns = f->recv_ns;
                base_wall = clock::now();
                have_base = true;
            }
            auto offset_ns = static_cast<std::int64_t>(static_cast<double>(f->recv_ns - base_ns) / speed);
            auto due = base_wall + std::chrono::nanoseconds(std::max<std::int64_t>(offset_ns, 0));
            if (due > clock::now()) {
                timer.expires_at(due);
                co_await timer.async_wait(nothrow);
                if (stopping) {
                    co_return;
                }
            }
            publish(f->stream, f->data, &f->text);
            mkt.apply_recorded(f->stream, f->data);
            ++file_frames;
            ++good;
        }
        spdlog::info("recorded file: end after {} frames ({} lines skipped)", good, file_skipped);
        if (!cfg.loop || good == 0 || stopping) {
            break;
        }
    }
}

asio::awaitable<void> server::impl::scenario_action(std::chrono::steady_clock::time_point at, std::string action,
                                                    std::map<std::string, std::string> params)
{
    asio::steady_timer timer(ioc, at);
    co_await timer.async_wait(nothrow);
    if (stopping) {
        co_return;
    }
    request_target t;
    t.ok = true;
    t.path = "/_control/" + action;
    t.params = std::move(params);
    auto r = control(action, t, true);
    spdlog::info("scenario: {} -> {} {}", action, r.status, r.body);
}

// ---------------------------------------------------------------------------------------------

server::server(server_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

server::~server()
{
    if (impl_) {
        impl_->stopping = true;
        for (auto& s : impl_->sessions) {
            s->close_now(false);
        }
        impl_->sessions.clear();
    }
}

unsigned short server::start()
{
    auto& m = *impl_;
    const std::string& listen = m.cfg.listen;
    std::string host;
    std::uint16_t port = 0;
    if (!vs::net::parse_listen_address(listen, host, port)) {
        throw std::runtime_error("--listen must be ADDR:PORT or [IPV6]:PORT (port 0..65535), got '" + listen + "'");
    }
    boost::system::error_code ec;
    tcp::endpoint ep{asio::ip::make_address(host), port};
    m.acceptor.open(ep.protocol(), ec);
    if (!ec) {
        m.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        m.acceptor.bind(ep, ec);
    }
    if (!ec) {
        m.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        throw std::runtime_error("cannot listen on " + listen + ": " + ec.message());
    }
    auto local = m.acceptor.local_endpoint();
    m.bound_address = local.address().to_string();
    m.bound_port = local.port();

    auto log_end = [](const char* what) { return [what](std::exception_ptr e) { log_exception(e, what); }; };
    asio::co_spawn(m.ioc, m.accept_loop(), log_end("accept loop"));
    asio::co_spawn(m.ioc, m.market_loop(), log_end("market loop"));
    asio::co_spawn(m.ioc, m.ticker_loop(), log_end("ticker loop"));
    if (!m.cfg.file.empty()) {
        asio::co_spawn(m.ioc, m.file_loop(), log_end("file replay"));
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& [at_s, act] : m.scenario) {
        auto at = t0 + std::chrono::milliseconds(static_cast<std::int64_t>(at_s * 1000.0));
        asio::co_spawn(m.ioc, m.scenario_action(at, act.first, act.second), log_end("scenario"));
    }
    if (m.cfg.handle_signals) {
        m.signals.emplace(m.ioc, SIGINT, SIGTERM);
        m.signals->async_wait([&m](const boost::system::error_code& sec, int sig) {
            if (!sec) {
                spdlog::info("signal {}: stopping", sig);
                m.shutdown_now();
            }
        });
    }
    spdlog::info("listening on {}:{} ({} symbols, {})", m.bound_address, m.bound_port, m.mkt.usdm_count(),
                 m.cfg.file.empty() ? std::string{"synthetic"} : "file " + m.cfg.file);
    return m.bound_port;
}

void server::run() { impl_->ioc.run(); }

void server::stop()
{
    asio::post(impl_->ioc, [m = impl_.get()] { m->shutdown_now(); });
}

std::string server::address() const { return impl_->bound_address; }

unsigned short server::port() const { return impl_->bound_port; }

}  // namespace vs::replay
