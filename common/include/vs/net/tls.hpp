#pragma once
// The TLS client set-up of every outbound connection (the HTTP client, vs-feed's WebSocket):
// one context per client, prepared streams per connection.
//
//   auto ctx = vs::net::make_client_context(ca_file);            // once
//   beast::ssl_stream<beast::tcp_stream> s{ioc, *ctx};           // per connection
//   ... connect ...
//   if (auto ec = vs::net::prepare_client_stream(s, host)) { ... }
//   co_await s.async_handshake(ssl::stream_base::client, ...);
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/system/error_code.hpp>

namespace vs::net {

/// A TLS 1.2+ client context that verifies peers against the system's CAs and, when
/// `extra_ca_file` is not empty, the certificates in that PEM file. `verify_peer` false turns
/// verification off (tests of TLS only, never production). Throws std::runtime_error naming
/// what cannot be loaded. Loading the system CAs takes tens of milliseconds: make one context
/// per client, when it first needs TLS.
std::unique_ptr<boost::asio::ssl::context> make_client_context(const std::string& extra_ca_file,
                                                               bool verify_peer = true);

/// Prepares a client stream for the handshake with `host` (a name or an IP literal without
/// brackets): SNI for names (RFC 6066 leaves IP literals out) and the check that the peer's
/// certificate names `host`. Returns the OpenSSL error when SNI cannot be set.
boost::system::error_code prepare_client_stream(boost::beast::ssl_stream<boost::beast::tcp_stream>& stream,
                                                const std::string& host);

}  // namespace vs::net
