// vs-feed: Binance USDⓈ-M market streams into the bus channel `market`. Replaces
// binance_funding_ws_daemon.py. Options, logging and signals here; the logic is vs_feed_lib.
#include <chrono>
#include <string>

#include "feed.hpp"
#include "vs/common/cli.hpp"
#include "vs/common/shutdown.hpp"
#include "ws_url.hpp"

int main(int argc, char** argv)
{
    vs::cli::parser cli{
        "vs-feed",
        "stream Binance USDⓈ-M mark prices, tickers and liquidations into the bus channel 'market'",
        "vs-feed --ws-url ws://127.0.0.1:9400/market/stream --state-dir /tmp/vs --record capture.tsv"};
    vs::cli::add_common_options(cli);
    cli.option("ws-url", "URL", "wss://fstream.binance.com/market/stream",
               "Binance WebSocket base (ws:// for a local vs-replay); the streams are appended as ?streams=",
               {"VS_BINANCE_WS_URL"});
    cli.option("streams", "LIST", "!ticker@arr/!markPrice@arr@1s/!forceOrder@arr", "streams to subscribe, '/'-separated",
               {"VS_FEED_STREAMS"});
    cli.option("channel", "NAME", "market", "bus channel to write");
    cli.option("record", "FILE", "", "append every raw frame as '<recv_time_ns>\\t<frame>' lines (for vs-replay --file)",
               {"VS_FEED_RECORD"});
    cli.option("snapshot-interval-ms", "MS", "1000", "LMDB snapshot period of the latest table");
    cli.option("stale-mark-s", "S", "10", "a silent markPrice stream is stale after this (0: never)");
    cli.option("stale-ticker-s", "S", "30", "a silent ticker stream is stale after this (0: never)");
    cli.option("backoff-min-ms", "MS", "1000", "first reconnect delay (doubles, jittered, per failure)");
    cli.option("backoff-max-ms", "MS", "60000", "largest reconnect delay");
    cli.option("renew-after-s", "S", "82800",
               "open a replacement connection (make-before-break) when the current one is this old; Binance cuts at 24 h");
    cli.option("ca-file", "FILE", "", "extra CA certificates (PEM) trusted besides the system's", {"VS_CA_FILE"});
    cli.option("max-frame-bytes", "N", "8388608", "larger frames are dropped and counted");

    return vs::cli::run(cli, argc, argv, [&] {
        vs::feed::feed_config c;
        c.ws_url = cli.get("ws-url");
        c.streams = cli.get("streams");
        c.channel = cli.get("channel");
        c.bus_prefix = cli.get("bus-prefix");
        c.state_dir = cli.get("state-dir");
        c.record_file = cli.get("record");
        c.ca_file = cli.get("ca-file");
        c.snapshot_interval = std::chrono::milliseconds{cli.get_int("snapshot-interval-ms", 100, 3'600'000)};
        c.thresholds.mark = std::chrono::seconds{cli.get_int("stale-mark-s", 0, 86'400)};
        c.thresholds.ticker = std::chrono::seconds{cli.get_int("stale-ticker-s", 0, 86'400)};
        c.backoff.min_delay = std::chrono::milliseconds{cli.get_int("backoff-min-ms", 1, 3'600'000)};
        c.backoff.max_delay = std::chrono::milliseconds{cli.get_int("backoff-max-ms", 1, 3'600'000)};
        c.renew_after = std::chrono::seconds{cli.get_int("renew-after-s", 1, 86'400)};
        c.max_frame_bytes = static_cast<std::size_t>(cli.get_int("max-frame-bytes", 4096, std::int64_t{1} << 30));
        if (c.channel.empty()) {
            throw vs::cli::usage_error("--channel must not be empty");
        }
        if (c.backoff.max_delay < c.backoff.min_delay) {
            throw vs::cli::usage_error("--backoff-max-ms must be >= --backoff-min-ms");
        }
        std::string error;
        if (!vs::feed::make_endpoint(c.ws_url, c.streams, error)) {
            throw vs::cli::usage_error("--ws-url/--streams: " + error);
        }
        vs::shutdown::install_handlers();
        vs::feed::feed daemon{c};
        return daemon.run();
    });
}
