#pragma once
// A group of WebSocket connections carrying one per-symbol stream (`<symbol>@kline_1h`) for
// a changing set of symbols, apart from the mark/ticker connection so that a burst of its
// frames never delays a mark price. The kline group is the first; an aggTrade group is
// another instance with suffix "@aggTrade" (group_options), nothing else to write.
//
// Binance's limits, kept by construction (defaults below them):
//   - at most max_streams_per_connection streams on a connection (Binance: 1,024);
//   - subscriptions are SUBSCRIBE/UNSUBSCRIBE messages of at most max_control_bytes
//     (Binance: 4 KB) on the routed path given as the base URL (`/market/stream`, no
//     streams in the URL), at most one per control_gap per connection (Binance: 5/s);
//   - a new listing goes to the connection with the fewest streams that has room (a new
//     connection when none has), a delisting is unsubscribed where it lives; on a
//     (re)connect the connection subscribes its whole share again.
// Freshness: a connection with streams that delivered nothing for stale_after (measured from
// its opening, so a reconnect gets a full period) is stale and replaced, after its own
// jittered backoff; each connection appears in FeedStatus as one StreamStatus entry
// ("kline_1h[2] 325 streams").
//
// Threads: everything on the io_context's thread. Errors: nothing throws after construction
// (connection failures are logged, counted and retried).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include "stream_monitor.hpp"
#include "vs/common/backoff.hpp"
#include "ws_connection.hpp"
#include "ws_url.hpp"

namespace vs::feed {

struct group_options {
    std::string name = "kline_1h";                      ///< label in FeedStatus and logs
    std::string suffix = "@kline_1h";                   ///< stream = ascii_lower(symbol) + suffix
    std::size_t max_streams_per_connection = 512;       ///< Binance allows 1,024
    std::size_t max_control_bytes = 4000;               ///< one SUBSCRIBE message (Binance: 4 KB)
    std::chrono::milliseconds control_gap{250};         ///< per connection: 4/s (Binance: 5/s)
    std::chrono::milliseconds stale_after{60'000};      ///< a connection silent this long is replaced
};

/// The stream name of `symbol` in a group: ASCII letters lowercased ("币安人生USDT" ->
/// "币安人生usdt@kline_1h"), as Binance and vs-replay name per-symbol streams.
std::string group_stream_name(std::string_view symbol, std::string_view suffix);

/// {"method":"<method>","params":["a","b"],"id":<id>}
std::string control_message(std::string_view method, const std::vector<std::string>& params, std::uint64_t id);

class stream_group {
public:
    using frame_fn = std::function<void(std::string_view frame, std::int64_t recv_ns)>;

    /// `base` is the routed endpoint without streams (ws_url.hpp make_endpoint(url, "")).
    stream_group(boost::asio::io_context& io, boost::asio::ssl::context* tls, ws_endpoint base,
                 connection_options conn, backoff_config backoff, group_options options, frame_fn on_frame);
    ~stream_group();
    stream_group(const stream_group&) = delete;
    stream_group& operator=(const stream_group&) = delete;

    /// The symbols whose streams the group carries from now on.
    void set_symbols(const std::vector<std::string>& symbols);
    /// Connects, sends paced control messages, checks freshness. Call every ~100 ms.
    void tick(std::int64_t now_mono);
    /// Closes every connection (SIGTERM); closing() tells when they are gone.
    void close_all();
    std::size_t closing() const noexcept;

    std::size_t stream_count() const noexcept;
    std::size_t connection_count() const noexcept;      ///< connections that carry streams
    std::size_t open_connections() const noexcept;
    std::size_t pending_control() const noexcept;       ///< streams still to (un)subscribe
    bool fresh() const noexcept;                        ///< every connection with streams open and fresh
    std::uint64_t reconnects() const noexcept { return reconnects_; }
    std::uint64_t frames() const noexcept { return frames_; }
    std::uint64_t control_messages() const noexcept { return control_messages_; }
    /// One entry per connection, for FeedStatus.
    void append_status(std::vector<stream_state>& out) const;
    const group_options& options() const noexcept { return options_; }

private:
    struct slot;
    void connect(slot& s, std::int64_t now_mono);
    void lost(slot& s, const std::string& why, std::int64_t now_mono);
    slot* slot_of(std::uint64_t id) noexcept;

    boost::asio::io_context& io_;
    boost::asio::ssl::context* tls_;
    ws_endpoint base_;
    connection_options conn_;
    backoff_config backoff_;
    group_options options_;
    frame_fn on_frame_;
    std::vector<std::unique_ptr<slot>> slots_;
    std::vector<std::shared_ptr<ws_connection>> closing_;
    std::uint64_t next_id_ = 0;
    std::uint64_t next_request_id_ = 0;
    std::uint64_t reconnects_ = 0, frames_ = 0, control_messages_ = 0;
};

}  // namespace vs::feed
