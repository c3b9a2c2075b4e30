#include "vs/net/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "vs/common/redact.hpp"
#include "vs/net/address.hpp"
#include "vs/net/tls.hpp"

namespace vs::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

bool iequals(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

struct target_url {
    bool tls = false;
    std::string host;         // for resolve, SNI and verification (no brackets)
    std::string port;
    std::string host_header;  // as written in the URL (brackets kept), with a non-default port
    std::string target;       // path?query
    std::string pool_key() const { return (tls ? "https://" : "http://") + host + ":" + port; }
};

bool parse_target(std::string_view text, bool allow_plain_http, target_url& out, std::string& err)
{
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        err = fmt::format("cannot parse URL '{}': {}", text, parsed.error().message());
        return false;
    }
    const auto& u = *parsed;
    std::string scheme{u.scheme()};
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme == "https") {
        out.tls = true;
    } else if (scheme == "http") {
        out.tls = false;
    } else {
        err = fmt::format("cannot use URL '{}': scheme must be http or https", text);
        return false;
    }
    out.host = std::string{u.host_address()};
    if (out.host.empty()) {
        err = fmt::format("cannot use URL '{}': no host", text);
        return false;
    }
    if (!out.tls && !allow_plain_http && !is_loopback(out.host)) {
        err = fmt::format("cannot use URL '{}': plain http is accepted for loopback hosts only", text);
        return false;
    }
    out.port = u.has_port() ? std::string{u.port()} : (out.tls ? "443" : "80");
    out.host_header = std::string{u.encoded_host_and_port()};
    out.target = u.encoded_path().empty() ? "/" : std::string{u.encoded_path()};
    if (u.has_query()) {
        out.target += "?";
        out.target += std::string{u.encoded_query()};
    }
    return true;
}

struct connection {
    connection(asio::io_context& ioc, asio::ssl::context* tls_ctx)
    {
        if (tls_ctx != nullptr) {
            secure.emplace(ioc, *tls_ctx);
        } else {
            plain.emplace(ioc);
        }
    }
    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    clock_type::time_point last_used{};
};
using connection_ptr = std::unique_ptr<connection>;

transport_error classify(const error_code& ec, transport_error during) noexcept
{
    if (ec == beast::error::timeout || ec == asio::error::timed_out ||
        ec == asio::error::operation_aborted) {
        return transport_error::timeout;
    }
    if (ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated) {
        return transport_error::tls;
    }
    return during;
}

bool is_stale_close(const error_code& ec) noexcept
{
    return ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::ssl::error::stream_truncated;
}

}  // namespace

std::string_view to_string(transport_error e) noexcept
{
    switch (e) {
    case transport_error::ok: return "ok";
    case transport_error::bad_url: return "bad_url";
    case transport_error::resolve: return "resolve";
    case transport_error::connect: return "connect";
    case transport_error::tls: return "tls";
    case transport_error::timeout: return "timeout";
    case transport_error::io: return "io";
    }
    return "unknown";
}

std::optional<std::string> http_response::header_value(std::string_view name) const
{
    for (const auto& h : headers) {
        if (iequals(h.name, name)) {
            return h.value;
        }
    }
    return std::nullopt;
}

struct http_client::impl {
    // The system CA store takes tens of milliseconds to load: only clients that use https
    // pay, when they first do. A client given a CA file is meant for https: its context is
    // made at once, so that a bad file fails the constructor.
    explicit impl(http_client_options o) : options(std::move(o))
    {
        if (!options.ca_file.empty()) {
            tls_ctx = make_client_context(options.ca_file, options.verify_peer);
        }
    }

    bool ensure_tls_context(std::string& err)
    {
        if (tls_ctx) {
            return true;
        }
        try {
            tls_ctx = make_client_context(options.ca_file, options.verify_peer);
        } catch (const std::exception& e) {
            err = e.what();
            return false;
        }
        return true;
    }

    // Resolves, connects and (for https) handshakes within the connect timeout.
    asio::awaitable<void> connect(const target_url& u, connection& c, error_code& ec, transport_error& stage)
    {
        tcp::resolver resolver{ioc};
        asio::steady_timer timer{ioc};
        bool resolve_timed_out = false;
        timer.expires_after(options.connect_timeout);
        timer.async_wait([&](error_code tec) {
            if (!tec) {
                resolve_timed_out = true;
                resolver.cancel();
            }
        });
        stage = transport_error::resolve;
        auto endpoints = co_await resolver.async_resolve(u.host, u.port,
                                                         asio::redirect_error(asio::use_awaitable, ec));
        timer.cancel();
        if (ec) {
            if (resolve_timed_out) {
                ec = beast::error::timeout;
            }
            co_return;
        }
        stage = transport_error::connect;
        c.lowest().expires_after(options.connect_timeout);
        co_await c.lowest().async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            co_return;
        }
        error_code nodelay_ec;
        c.lowest().socket().set_option(tcp::no_delay(true), nodelay_ec);  // small requests, no Nagle wait
        if (!c.secure) {
            co_return;
        }
        stage = transport_error::tls;
        ec = prepare_client_stream(*c.secure, u.host);
        if (ec) {
            co_return;
        }
        co_await c.secure->async_handshake(asio::ssl::stream_base::client,
                                           asio::redirect_error(asio::use_awaitable, ec));
    }

    static void copy_head(const http::response_header<>& head, http_response& out)
    {
        out.status = static_cast<int>(head.result_int());
        out.headers.clear();
        for (const auto& f : head) {
            out.headers.push_back(header{std::string{f.name_string()}, std::string{f.value()}});
        }
    }

    template <class Stream>
    asio::awaitable<void> exchange(Stream& stream, connection& c, http::request<http::string_body>& req,
                                   const http_request& in, http_response& out, error_code& ec, bool& wrote,
                                   bool& got_some, bool& delivered, std::string& aborted)
    {
        c.lowest().expires_after(options.request_timeout);
        co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            co_return;
        }
        wrote = true;
        if (in.on_body) {
            co_await stream_body(stream, c, in.on_body, out, ec, got_some, delivered, aborted);
            co_return;
        }
        http::response_parser<http::string_body> parser;
        parser.body_limit(options.body_limit);
        co_await http::async_read(stream, c.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        got_some = parser.got_some();
        if (ec) {
            co_return;
        }
        c.lowest().expires_never();
        auto res = parser.release();
        copy_head(res.base(), out);
        out.body = std::move(res.body());
        keep_alive = res.keep_alive();
    }

    // The body through a bounded buffer: each read fills at most `chunk_size` bytes, handed to
    // `on_body` before the next read. Status and headers are in `out` once the header is read.
    template <class Stream>
    asio::awaitable<void> stream_body(Stream& stream, connection& c,
                                      const std::function<bool(std::string_view)>& on_body, http_response& out,
                                      error_code& ec, bool& got_some, bool& delivered, std::string& aborted)
    {
        static constexpr std::size_t chunk_size = 64u << 10;
        http::response_parser<http::buffer_body> parser;
        parser.body_limit(options.body_limit);
        co_await http::async_read_header(stream, c.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        got_some = parser.got_some();
        if (ec) {
            co_return;
        }
        copy_head(parser.get().base(), out);
        std::unique_ptr<char[]> chunk;
        while (!parser.is_done()) {
            if (!chunk) {
                chunk = std::make_unique<char[]>(chunk_size);
            }
            parser.get().body().data = chunk.get();
            parser.get().body().size = chunk_size;
            co_await http::async_read(stream, c.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            if (ec == http::error::need_buffer) {
                ec = {};
            }
            if (ec) {
                co_return;
            }
            const std::size_t n = chunk_size - parser.get().body().size;
            if (n == 0) {
                continue;
            }
            delivered = true;
            bool more = false;
            try {
                more = on_body(std::string_view{chunk.get(), n});
            } catch (const std::exception& e) {
                aborted = std::string{"the receiver failed: "} + e.what();
            } catch (...) {
                aborted = "the receiver failed";
            }
            if (!more) {
                if (aborted.empty()) {
                    aborted = "aborted by the receiver";
                }
                ec = asio::error::operation_aborted;   // not a timeout: `aborted` decides the error below
                co_return;
            }
        }
        c.lowest().expires_never();
        keep_alive = parser.get().keep_alive();
    }

    // Runs one coroutine to completion on the client's io_context.
    template <class Fn>
    void run(Fn&& fn)
    {
        asio::co_spawn(ioc, std::forward<Fn>(fn), asio::detached);
        ioc.restart();
        ioc.run();
    }

    connection_ptr take_pooled(const std::string& key)
    {
        auto it = pool.find(key);
        if (it == pool.end()) {
            return nullptr;
        }
        auto now = clock_type::now();
        while (!it->second.empty()) {
            connection_ptr c = std::move(it->second.back());
            it->second.pop_back();
            if (now - c->last_used < options.idle_timeout) {
                return c;
            }
        }
        return nullptr;
    }

    void give_back(const std::string& key, connection_ptr c)
    {
        c->last_used = clock_type::now();
        auto& idle = pool[key];
        idle.push_back(std::move(c));
        while (idle.size() > options.max_idle_per_host) {
            idle.pop_front();
        }
    }

    http_result perform(const http_request& req)
    {
        http_result result;
        ++stats.requests;
        target_url u;
        if (!parse_target(req.url, options.allow_plain_http, u, result.error_message)) {
            result.error = transport_error::bad_url;
            return result;
        }
        auto verb = http::string_to_verb(req.method);
        if (verb == http::verb::unknown) {
            result.error = transport_error::bad_url;
            result.error_message = "unknown HTTP method '" + req.method + "'";
            return result;
        }
        http::request<http::string_body> msg{verb, u.target, 11};
        msg.set(http::field::host, u.host_header);
        msg.set(http::field::user_agent, options.user_agent);
        for (const auto& h : req.headers) {
            msg.set(h.name, h.value);
        }
        if (!req.content_type.empty()) {
            msg.set(http::field::content_type, req.content_type);
        }
        msg.body() = req.body;
        msg.keep_alive(true);
        msg.prepare_payload();

        const std::string key = u.pool_key();
        for (int attempt = 0; attempt < 2; ++attempt) {
            connection_ptr c = attempt == 0 ? take_pooled(key) : nullptr;
            const bool reused = c != nullptr;
            error_code ec;
            transport_error stage = transport_error::io;
            if (!c) {
                if (u.tls && !ensure_tls_context(result.error_message)) {
                    result.error = transport_error::tls;
                    return result;
                }
                c = std::make_unique<connection>(ioc, u.tls ? tls_ctx.get() : nullptr);
                run([&]() -> asio::awaitable<void> { co_await connect(u, *c, ec, stage); });
                if (ec) {
                    result.error = classify(ec, stage);
                    result.error_message = fmt::format("cannot connect to {}:{}: {}", u.host, u.port, ec.message());
                    return result;
                }
                ++stats.connections_opened;
            } else {
                ++stats.connections_reused;
            }
            bool wrote = false;
            bool got_some = false;
            bool delivered = false;   // a chunk went to req.on_body: never retried
            std::string aborted;      // req.on_body stopped the read
            keep_alive = false;
            result.res = {};
            run([&]() -> asio::awaitable<void> {
                if (c->secure) {
                    co_await exchange(*c->secure, *c, msg, req, result.res, ec, wrote, got_some, delivered, aborted);
                } else {
                    co_await exchange(*c->plain, *c, msg, req, result.res, ec, wrote, got_some, delivered, aborted);
                }
            });
            if (!aborted.empty()) {
                result.error = transport_error::io;
                result.error_message = fmt::format("cannot read the response of {} {}: {}", req.method,
                                                   u.pool_key() + u.target, aborted);
                return result;
            }
            if (!ec) {
                result.reused_connection = reused;
                if (keep_alive) {
                    give_back(key, std::move(c));
                }
                return result;
            }
            // A pooled connection the server had closed: retry once on a fresh one.
            if (reused && !got_some && !delivered && (!wrote || is_stale_close(ec))) {
                continue;
            }
            result.error = classify(ec, transport_error::io);
            result.error_message = fmt::format("cannot {} {} {}: {}", wrote ? "read the response of" : "send",
                                               req.method, u.pool_key() + u.target, ec.message());
            return result;
        }
        result.error = transport_error::io;
        result.error_message = "cannot send " + req.method + " " + req.url + ": connection closed twice";
        return result;
    }

    http_client_options options;
    asio::io_context ioc;
    std::unique_ptr<asio::ssl::context> tls_ctx;   // made when first needed
    std::map<std::string, std::deque<connection_ptr>> pool;
    http_client_stats stats;
    bool keep_alive = false;
};

http_client::http_client(http_client_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

http_client::~http_client() = default;

http_result http_client::perform(const http_request& req) noexcept
{
    http_result r;
    try {
        r = impl_->perform(req);
    } catch (const std::exception& e) {
        r = http_result{};
        r.error = transport_error::io;
        r.error_message = std::string{"cannot perform request: "} + e.what();
    }
    // The messages quote the URL, which may carry a bot token, a webhook token, userinfo or
    // an apiKey: callers log them and store them in the outbox.
    if (!r.error_message.empty()) {
        try {
            r.error_message = redact::apply(r.error_message);
        } catch (const std::exception&) {
            r.error_message = "request failed (the error message could not be redacted)";
        }
    }
    return r;
}

void http_client::close_idle() noexcept { impl_->pool.clear(); }

const http_client_stats& http_client::stats() const noexcept { return impl_->stats; }

const http_client_options& http_client::options() const noexcept { return impl_->options; }

}  // namespace vs::net
