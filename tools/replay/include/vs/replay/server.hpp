#pragma once
// vs-replay's server: one loopback port serving Binance's USDⓈ-M REST routes, the
// WebSocket market streams (routed `/market/...` paths, silent legacy `/stream` and `/ws`
// paths) and the `/_control/...` API for scenarios and faults. Data comes from the
// synthetic market or from a file recorded by `vs-feed --record`.
//
//   vs::replay::server sut{cfg};
//   unsigned short port = sut.start();      // bound and listening
//   std::thread io{[&] { sut.run(); }};     // serve until stop()
//   ...
//   sut.stop();
//   io.join();
//
// Thread rule: start() and run() from one thread; stop() from any thread.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vs::replay {

struct server_config {
    std::string listen = "127.0.0.1:9900"; ///< ADDR:PORT, port 0 picks a free one
    std::size_t symbols = 650;
    std::uint64_t seed = 1;
    std::string file;                      ///< recorded frames to replay instead of synthetic ones
    double speed = 1.0;                    ///< replay speed for `file`
    bool loop = false;                     ///< restart `file` at its end
    int mark_interval_ms = 1000;           ///< `!markPrice@arr@1s`; the plain stream is 3x slower
    int ticker_interval_ms = 1000;         ///< `!ticker@arr`
    int weight_limit = 2400;
    int ban_seconds = 120;
    int tolerated_429s = 5;                ///< 429s after the first before a 418 ban
    int ping_interval_s = 180;             ///< server WebSocket pings
    int pong_timeout_s = 600;              ///< close connections silent to pings this long
    int max_connection_s = 86400;          ///< Binance cuts every connection after 24 h
    std::string scenario_file;             ///< JSON lines of timed control actions
    /// Telegram channels served as t.me/s pages (telegram.hpp), each with news_posts posts.
    std::vector<std::string> news_channels = {"marketfeed", "watcherguru"};
    int news_posts = 30;
    /// The backend / Telegram Bot API stand-in (receiver.hpp): the X-API-Key (and apiKey) it
    /// accepts and the bot token of /bot<token>/...; empty accepts any.
    std::string backend_api_key;
    std::string telegram_bot_token;
    bool handle_signals = false;           ///< SIGINT/SIGTERM stop run() (the executable sets it)
};

class server {
public:
    /// Builds the market (or checks the file); throws std::runtime_error on bad input.
    explicit server(server_config cfg);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Binds and listens; returns the bound port. Throws std::runtime_error on failure.
    unsigned short start();
    /// Serves on the calling thread until stop() (or a signal when handle_signals).
    void run();
    /// Closes every connection and makes run() return. Thread-safe, idempotent.
    void stop();

    /// The bound address, e.g. "127.0.0.1".
    std::string address() const;
    unsigned short port() const;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace vs::replay
