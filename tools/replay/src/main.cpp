// vs-replay: a local Binance USDⓈ-M futures look-alike on loopback (REST, WebSocket, faults).
#include <csignal>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>

#include "vs/common/cli.hpp"
#include "vs/common/systemd.hpp"
#include "vs/net/address.hpp"
#include "vs/replay/server.hpp"

int main(int argc, char** argv)
{
    vs::cli::parser cli{
        "vs-replay",
        "A local Binance USDⓈ-M futures look-alike: REST /fapi/v1 with request weights, WebSocket "
        "/market/stream and /market/ws (legacy /stream and /ws acknowledge but stay silent), synthetic or "
        "recorded data, and a /_control API for scenarios and faults. Also plays t.me/s channel pages and, for "
        "the demo and tests, a stand-in of the VolSpike backend (/api/...) and the Telegram Bot API "
        "(/bot<token>/sendMessage) that records every request (GET /_control/received).",
        "vs-replay --listen 127.0.0.1:0 --port-file /tmp/vs-replay.port --symbols 650 --ping-interval-s 20"};
    cli.option("listen", "ADDR:PORT", "127.0.0.1:9900", "where to serve REST, WebSocket and control (port 0: any free)",
               {"VS_REPLAY_LISTEN"});
    cli.option("symbols", "N", "650", "USDⓈ-M symbols of the synthetic market (plus 2 COIN-M rows)");
    cli.option("seed", "S", "1", "random seed of the synthetic market");
    cli.option("file", "PATH", "", "replay frames recorded by 'vs-feed --record' instead of synthetic streams");
    cli.option("speed", "X", "1.0", "replay speed of --file (2 = twice as fast)");
    cli.flag("loop", "restart --file at its end");
    cli.option("mark-interval-ms", "MS", "1000", "period of !markPrice@arr@1s (plain !markPrice@arr: 3x this)");
    cli.option("ticker-interval-ms", "MS", "1000", "period of !ticker@arr");
    cli.option("weight-limit", "N", "2400", "REST request weight per UTC minute and IP before 429");
    cli.option("ban-seconds", "S", "120", "length of the 418 ban for clients that ignore 429s");
    cli.option("ping-interval-s", "S", "180", "WebSocket ping period");
    cli.option("pong-timeout-s", "S", "600", "close WebSocket connections that do not pong for this long");
    cli.option("max-connection-s", "S", "86400", "close every WebSocket connection after this long (Binance: 24 h)");
    cli.option("scenario", "FILE", "", "JSON lines {\"at_s\":5,\"action\":\"stall\",...} run as control actions");
    cli.option("news-channels", "LIST", "marketfeed,watcherguru",
               "Telegram channels served as t.me/s/<channel> pages for vs-news (/_control/news/... adds posts)");
    cli.option("news-posts", "N", "30", "posts each of those channels has at start");
    cli.option("backend-api-key", "KEY", "",
               "the stand-in backend (/api/...) accepts only this X-API-Key / apiKey (empty: any)",
               {"VS_REPLAY_BACKEND_API_KEY"});
    cli.option("telegram-bot-token", "TOKEN", "",
               "the stand-in Telegram Bot API (/bot<token>/sendMessage) accepts only this token (empty: any)",
               {"VS_REPLAY_TELEGRAM_BOT_TOKEN"});
    cli.option("port-file", "PATH", "", "write the bound port number to this file once listening");
    cli.option("log-level", "LEVEL", "info", "trace, debug, info, warn, error, critical or off", {"VS_LOG_LEVEL"});

    return vs::cli::run(cli, argc, argv, [&] {
        vs::replay::server_config cfg;
        cfg.listen = cli.get("listen");
        cfg.symbols = static_cast<std::size_t>(cli.get_int("symbols", 1, 5000));
        cfg.seed = static_cast<std::uint64_t>(cli.get_int("seed", 0, 1LL << 62));
        cfg.file = cli.get("file");
        cfg.speed = cli.get_double("speed", 0.001, 1e6);
        cfg.loop = cli.is_set("loop");
        cfg.mark_interval_ms = static_cast<int>(cli.get_int("mark-interval-ms", 10, 600'000));
        cfg.ticker_interval_ms = static_cast<int>(cli.get_int("ticker-interval-ms", 10, 600'000));
        cfg.weight_limit = static_cast<int>(cli.get_int("weight-limit", 1, 1'000'000));
        cfg.ban_seconds = static_cast<int>(cli.get_int("ban-seconds", 1, 86'400));
        cfg.ping_interval_s = static_cast<int>(cli.get_int("ping-interval-s", 1, 86'400));
        cfg.pong_timeout_s = static_cast<int>(cli.get_int("pong-timeout-s", 1, 86'400));
        cfg.max_connection_s = static_cast<int>(cli.get_int("max-connection-s", 1, 10 * 86'400));
        cfg.scenario_file = cli.get("scenario");
        cfg.news_channels = vs::cli::split_list(cli.get("news-channels"));
        cfg.news_posts = static_cast<int>(cli.get_int("news-posts", 0, 10'000));
        cfg.backend_api_key = cli.get("backend-api-key");
        cfg.telegram_bot_token = cli.get("telegram-bot-token");
        cfg.handle_signals = true;
        std::string listen_host;
        std::uint16_t listen_port = 0;
        if (!vs::net::parse_listen_address(cfg.listen, listen_host, listen_port)) {
            throw vs::cli::usage_error("--listen must be ADDR:PORT or [IPV6]:PORT, got '" + cfg.listen + "'");
        }
        if (!vs::net::is_loopback(listen_host)) {
            spdlog::warn("--listen {} is not a loopback address: anyone who reaches it can drive the replay",
                         cfg.listen);
        }
        std::signal(SIGPIPE, SIG_IGN);

        vs::replay::server srv{cfg};
        const unsigned short port = srv.start();
        if (const auto path = cli.get("port-file"); !path.empty()) {
            std::ofstream out(path, std::ios::trunc);
            out << port << "\n";
            if (!out) {
                spdlog::error("cannot write port file {}", path);
                return vs::cli::exit_failure;
            }
        }
        std::cout << "vs-replay listening on " << srv.address() << ":" << port << std::endl;
        vs::sd::notify_ready();
        srv.run();
        vs::sd::notify_stopping();
        spdlog::info("stopped");
        return vs::cli::exit_ok;
    });
}
