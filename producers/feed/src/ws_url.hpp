#pragma once
// The WebSocket endpoint of vs-feed: `ws://` or `wss://` URL plus the stream list.
//
//   wss://fstream.binance.com/market/stream  + a/b  -> target /market/stream?streams=a/b
//   ws://127.0.0.1:9000/market/ws            + a/b  -> target /market/ws/a/b   (raw streams)
//   a URL that already names streams (a query with streams=, or /ws/<stream>) is kept as is.
// Nothing is percent-encoded: Binance expects the `!`, `@` and `/` of stream names literally.
#include <optional>
#include <string>
#include <string_view>

namespace vs::feed {

struct ws_endpoint {
    bool tls = false;
    std::string host;        ///< without brackets for IPv6 literals
    std::string port;        ///< "443" / "80" when the URL has none
    std::string target;      ///< path and query sent in the HTTP upgrade request
    std::string host_header; ///< Host: value (port only when not the default)

    std::string url() const;  ///< the full URL, for logs and the status record
};

/// Parses `url` and appends `streams` as described above. On failure returns nullopt and
/// sets `error` ("unsupported scheme 'http'", ...).
std::optional<ws_endpoint> make_endpoint(std::string_view url, std::string_view streams,
                                         std::string& error);

/// True for a non-empty list of stream names separated by '/', made of the characters
/// Binance uses in stream names (letters, digits, ! @ _ - .).
bool valid_stream_list(std::string_view streams) noexcept;

}  // namespace vs::feed
