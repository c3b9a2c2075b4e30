#pragma once
// One WebSocket client connection of vs-feed (Boost.Beast, plain TCP for the local replay or
// TLS with SNI and certificate verification against the system's CAs for Binance). It runs
// as one coroutine on the caller's io_context: resolve, connect, TLS handshake, WebSocket
// upgrade, then a read loop that hands every complete message to on_frame. Server pings are
// answered by Beast while reading; when the connection is idle the client pings on its own
// and gives up after idle_timeout without an answer.
//
// Threads: everything runs on the io_context's one thread, callbacks included.
// Errors: nothing throws after start(); every ending (refused, TLS failure, HTTP status of a
// refused upgrade, close by either side, timeout) reaches on_closed once, with a reason.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include "ws_url.hpp"

namespace vs::feed {

/// Readable bytes that follow every frame handed to on_frame (the frame parser reads it in
/// place, without a copy, when it may read this far past its end).
inline constexpr std::size_t frame_padding_bytes = 64;

struct connection_events {
    std::function<void(std::uint64_t id)> on_open;
    /// A complete message; `frame` is valid until the callback returns, and the
    /// frame_padding_bytes after it are readable (their values are unspecified).
    std::function<void(std::uint64_t id, std::string_view frame, std::int64_t recv_ns)> on_frame;
    /// A message longer than max_frame_bytes was read and dropped (the connection stays up).
    std::function<void(std::uint64_t id, std::size_t bytes)> on_oversized;
    /// The connection ended (never opened, or closed). Called exactly once.
    std::function<void(std::uint64_t id, const std::string& why)> on_closed;
};

struct connection_options {
    std::chrono::milliseconds connect_timeout{10000};   ///< resolve+TCP+TLS, and WS handshake
    std::chrono::milliseconds idle_timeout{30000};      ///< silence (even to our pings) that ends it
    std::size_t max_frame_bytes = std::size_t{8} << 20;
    std::string user_agent = "vs-feed";
};

class ws_connection {
public:
    virtual ~ws_connection() = default;
    /// Starts connecting (returns at once).
    virtual void start() = 0;
    /// Closes with a WebSocket close frame when open (bounded by connect_timeout), or aborts
    /// a connection in progress. on_closed follows.
    virtual void close() = 0;
    virtual std::uint64_t id() const noexcept = 0;
    virtual bool is_open() const noexcept = 0;
    virtual std::uint64_t pings_received() const noexcept = 0;
    /// Queues a text message (SUBSCRIBE/UNSUBSCRIBE) to be written once open, in order.
    /// Messages queued before the connection opens go out right after the handshake;
    /// a failed write ends the connection (on_closed).
    virtual void send(std::string text) = 0;
};

/// A connection to `endpoint`; `tls` must be non-null for wss:// endpoints (a context from
/// vs::net::make_client_context).
std::shared_ptr<ws_connection> make_connection(boost::asio::io_context& io,
                                               boost::asio::ssl::context* tls,
                                               const ws_endpoint& endpoint,
                                               const connection_options& options,
                                               connection_events events, std::uint64_t id);

}  // namespace vs::feed
