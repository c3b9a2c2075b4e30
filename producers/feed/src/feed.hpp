#pragma once
// vs-feed: the one process that owns the Binance market-stream connection. It parses every
// frame into FlatBuffer records, publishes them into the bus channel `market` (ring + latest
// table), publishes its own FeedStatus, snapshots the latest table to LMDB and restores it
// at start, and keeps the connection honest: per-stream freshness, reconnects with jittered
// backoff, make-before-break renewal before Binance's 24 h cut.
//
// It runs on the daemon skeleton (vs/daemon/daemon.hpp), which owns the channel's writer,
// restores the LMDB snapshot before the feed starts and saves it on its own thread (through
// a bus reader, so an fsync never delays a frame), publishes ProcessStatus and pets the
// watchdog while the feed's probe (price streams fresh) holds.
//
// Threads: the constructor and run() must be called on the skeleton's body thread; run()
// drives one asio io_context on it (the only I/O thread: connections, parse, publish, status).
// Errors: the constructor throws (bus_error, std::runtime_error) on setup failures; run()
// returns an exit code.
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include <optional>

#include "exchange_universe.hpp"
#include "stream_group.hpp"
#include "stream_monitor.hpp"
#include "vs/common/backoff.hpp"
#include "vs/net/binance_rest.hpp"

namespace vs::daemon {
class context;
}

namespace vs::feed {

struct feed_config {
    std::string ws_url = "wss://fstream.binance.com/market/stream";
    std::string streams = "!ticker@arr/!markPrice@arr@1s/!forceOrder@arr";
    std::string channel = "market";
    std::filesystem::path record_file;   ///< empty: no recording
    std::string ca_file;                 ///< extra CA bundle (PEM); empty: system CAs only
    stream_thresholds thresholds;
    backoff_config backoff;
    /// Age of a connection at which a replacement is opened (Binance cuts at 24 h).
    std::chrono::seconds renew_after{82800};
    std::size_t max_frame_bytes = std::size_t{8} << 20;
    /// A symbol whose mark price rows have all been invalid (NaN, not positive, absurd) for
    /// this long is marked invalid (issue 19; vs-api answers 503 for it).
    std::chrono::seconds invalid_after{60};
    /// REST (exchangeInfo refresh, kline bootstrap); nullopt: no REST, no universe.
    std::optional<vs::net::rest_options> rest;
    universe_options universe;
    /// The kline connection group (needs `rest`: its symbols come from exchangeInfo).
    bool klines = true;
    group_options kline_group;
    /// The aggTrade connection group (whale trades, vs-liquidations): "universe" follows the
    /// members of the liquid universe vs-oi publishes on `universe_channel` (LiquidUniverse),
    /// "off" none, else an explicit comma-separated list of symbols. Its own connections, so
    /// a burst of trades in a crash never delays a mark price.
    std::string trade_symbols = "universe";
    std::string universe_channel = "oi";
    group_options trade_group{"aggTrade", "@aggTrade", 200, 4000, std::chrono::milliseconds{250},
                              std::chrono::milliseconds{60'000}};
    /// A symbol without the previous hour's closed candle this long after the hour starts
    /// gets it from REST klines (the stream's final push normally comes at the hour).
    std::chrono::seconds kline_bootstrap_grace{20};
};

/// The latest-table key under which vs-feed keeps the previous hour's closed kline of a
/// symbol (the symbol's own key holds the newest push, open or closed): "<SYMBOL>@prev".
/// vs-volume reads both keys at start.
inline constexpr std::string_view kline_prev_key_suffix = "@prev";

class feed {
public:
    /// Validates the configuration and opens the record file; publishes into ctx.writer().
    feed(const feed_config& config, vs::daemon::context& ctx);
    ~feed();
    feed(const feed&) = delete;
    feed& operator=(const feed&) = delete;

    /// Connects and runs until SIGTERM/SIGINT (vs::shutdown::requested()); then closes the
    /// connections within the skeleton's drain bound and returns 0 (the skeleton writes the
    /// final snapshot).
    int run();

private:
    class daemon;
    std::unique_ptr<daemon> impl_;
};

}  // namespace vs::feed
