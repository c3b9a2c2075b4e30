#pragma once
// One HTTP(S) client for every process: Boost.Beast over OpenSSL with a keep-alive
// connection pool per host (scheme, host, port), connect and whole-request timeouts,
// certificate verification against the system CAs with SNI and host-name checks
// (vs/net/tls.hpp). `http://` is accepted for loopback hosts only (vs::net::is_loopback: the
// local replay, test servers, a DEV backend on localhost), unless `allow_plain_http` says
// otherwise.
//
//   vs::net::http_client http;
//   auto r = http.perform({.method = "GET", .url = "https://fapi.binance.com/fapi/v1/time"});
//   if (r.ok() && r.res.status == 200) { ... r.res.body ... }
//
// Thread rule: one client per thread (it owns an io_context and its pool); a client is
// never used by two threads at once. Errors are values, never exceptions, except that
// the constructor throws when `ca_file` (or, with it, the system CAs) cannot be loaded.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::net {

struct header {
    std::string name;
    std::string value;
};

struct http_request {
    std::string method = "GET";
    std::string url;                 ///< absolute: http(s)://host[:port]/path?query
    std::vector<header> headers;     ///< added to Host, User-Agent and (with a body) Content-Length
    std::string body;
    std::string content_type;        ///< set with a body, e.g. "application/json"
    /// When set, the response body (of any status) is handed over in chunks of at most 64 KiB
    /// as they are read, in order, and `res.body` stays empty: a large answer is never held
    /// whole (body_limit still applies). Returning false stops the read: the result is
    /// transport_error::io ("aborted by the receiver") and the connection is closed. A request
    /// is retried (stale pooled connection) only while no chunk was handed over, so no chunk
    /// is delivered twice; after an error the chunks already given were a partial body.
    /// Called on the perform() caller's thread; an exception it throws ends the request as io.
    std::function<bool(std::string_view chunk)> on_body{};
};

struct http_response {
    int status = 0;
    std::vector<header> headers;
    std::string body;

    /// The first header named `name` (case-insensitive).
    std::optional<std::string> header_value(std::string_view name) const;
};

/// Transport outcome: `ok` means an HTTP response arrived (of any status).
enum class transport_error {
    ok,
    bad_url,      ///< unparsable URL, unknown scheme, or plain http to a non-loopback host
    resolve,      ///< DNS failure
    connect,      ///< refused, unreachable
    tls,          ///< handshake or certificate verification failed
    timeout,      ///< connect or request timeout
    io,           ///< connection closed or reset mid-request, malformed response
};

std::string_view to_string(transport_error e) noexcept;

struct http_result {
    transport_error error = transport_error::ok;
    std::string error_message;       ///< "cannot connect to 127.0.0.1:9: Connection refused"
    http_response res;
    bool reused_connection = false;

    bool ok() const noexcept { return error == transport_error::ok; }
};

struct http_client_options {
    std::chrono::milliseconds connect_timeout{5'000};   ///< resolve + TCP connect + TLS handshake
    std::chrono::milliseconds request_timeout{15'000};  ///< write request + read whole response
    std::chrono::milliseconds idle_timeout{30'000};     ///< pooled connections older are closed
    std::size_t max_idle_per_host = 4;
    std::size_t body_limit = 32u << 20;
    std::string user_agent = "volspike-bus";
    bool verify_peer = true;        ///< never false in production; tests of TLS only
    bool allow_plain_http = false;  ///< http:// to non-loopback hosts
    std::string ca_file;            ///< extra CA bundle (PEM) besides the system's
};

struct http_client_stats {
    std::uint64_t requests = 0;
    std::uint64_t connections_opened = 0;
    std::uint64_t connections_reused = 0;
};

class http_client {
public:
    explicit http_client(http_client_options options = {});
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    /// Sends `req` and reads the whole response (or streams its body to `req.on_body`). A request on a pooled connection that the
    /// server closed meanwhile is retried once on a fresh connection (before any byte of a
    /// response arrived), so idle keep-alive closes never surface as errors.
    http_result perform(const http_request& req) noexcept;

    /// Closes every pooled connection.
    void close_idle() noexcept;

    const http_client_stats& stats() const noexcept;
    const http_client_options& options() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace vs::net
