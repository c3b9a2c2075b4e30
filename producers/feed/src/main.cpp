// vs-feed: Binance USDⓈ-M market streams into the bus channel `market`. Replaces
// binance_funding_ws_daemon.py. Options here; the logic is vs_feed_lib; the daemon skeleton
// (vs/daemon/daemon.hpp) owns the channel, its snapshots, health and the drain.
#include <chrono>
#include <optional>
#include <string>

#include "feed.hpp"
#include "vs/daemon/daemon.hpp"
#include "schemas/common_generated.h"
#include "vs/net/binance_rest.hpp"
#include "ws_url.hpp"

namespace {

vs::feed::feed_config config_from(const vs::cli::parser& cli)
{
    vs::feed::feed_config c;
    c.ws_url = cli.get("ws-url");
    c.streams = cli.get("streams");
    c.channel = cli.get("channel");
    c.record_file = cli.get("record");
    c.ca_file = cli.get("ca-file");
    c.thresholds.mark = std::chrono::seconds{cli.get_int("stale-mark-s", 0, 86'400)};
    c.thresholds.ticker = std::chrono::seconds{cli.get_int("stale-ticker-s", 0, 86'400)};
    c.backoff.min_delay = std::chrono::milliseconds{cli.get_int("backoff-min-ms", 1, 3'600'000)};
    c.backoff.max_delay = std::chrono::milliseconds{cli.get_int("backoff-max-ms", 1, 3'600'000)};
    c.renew_after = std::chrono::seconds{cli.get_int("renew-after-s", 1, 86'400)};
    c.max_frame_bytes = static_cast<std::size_t>(cli.get_int("max-frame-bytes", 4096, std::int64_t{1} << 30));
    c.invalid_after = std::chrono::seconds{cli.get_int("invalid-after-s", 1, 86'400)};
    if (const auto refresh_s = cli.get_int("exchange-info-refresh-s", 0, 86'400); refresh_s > 0) {
        c.rest = vs::net::rest_options_from(cli);
        c.universe.period = std::chrono::seconds{refresh_s};
    }
    const auto klines = cli.get("klines");
    c.klines = !klines.empty() && klines != "off" && klines != "0";
    if (c.klines) {
        if (klines != "1h") {
            throw vs::cli::usage_error("--klines: only 1h (or off) is supported");
        }
        c.kline_group.name = "kline_" + klines;
        c.kline_group.suffix = "@kline_" + klines;
        c.universe.kline_interval = klines;
    }
    c.kline_group.max_streams_per_connection =
        static_cast<std::size_t>(cli.get_int("kline-streams-per-connection", 1, 1024));
    c.kline_group.stale_after = std::chrono::seconds{cli.get_int("stale-kline-s", 0, 86'400)};
    c.universe.klines_per_second = static_cast<double>(cli.get_int("kline-bootstrap-per-s", 1, 100));
    c.trade_symbols = cli.get("trade-symbols");
    c.trade_group.max_streams_per_connection =
        static_cast<std::size_t>(cli.get_int("trade-streams-per-connection", 1, 1024));
    if (c.backoff.max_delay < c.backoff.min_delay) {
        throw vs::cli::usage_error("--backoff-max-ms must be >= --backoff-min-ms");
    }
    std::string error;
    if (!vs::feed::make_endpoint(c.ws_url, c.streams, error)) {
        throw vs::cli::usage_error("--ws-url/--streams: " + error);
    }
    return c;
}

}  // namespace

int main(int argc, char** argv)
{
    vs::daemon::spec s{
        "vs-feed", "stream Binance USDⓈ-M mark prices, tickers and liquidations into the bus channel 'market'",
        "vs-feed --ws-url ws://127.0.0.1:9400/market/stream --state-dir /tmp/vs --record capture.tsv"};
    s.channel = "market";
    s.channel_option = "channel";
    // The bus defaults: ~650 symbols x 3 record types + 2 klines each (the newest candle and
    // the previous closed one under "<S>@prev") fit 8192 slots; FeedStatus carries one
    // entry per stream plus the URL and a reason (about 460 bytes for the default three
    // streams): slots of 1024 bytes. Market records are 200-350 bytes.
    using vs::schema::RecordType;
    s.record_types = vs::bus::record_type_list(RecordType::MarkPrice, RecordType::Ticker24h, RecordType::Liquidation,
                                               RecordType::AggTrade, RecordType::Kline, RecordType::FeedStatus);
    s.ring_bytes = 8u << 20;
    s.table_slots = 8192;
    s.slot_bytes = 1024;
    s.drain = std::chrono::seconds{2};   // the WebSocket close handshakes
    s.auto_ready = false;                // READY=1 with the first data
    s.restore_keep = [](const vs::bus::record_view& r) {
        return r.type != static_cast<vs::bus::record_type>(RecordType::FeedStatus);
    };
    std::optional<vs::feed::feed> feed;
    s.before_restore = [&](vs::daemon::context& ctx) { feed.emplace(config_from(ctx.options()), ctx); };
    return vs::daemon::main(s, argc, argv, [](vs::cli::parser& cli) {
        cli.option("ws-url", "URL", "wss://fstream.binance.com/market/stream",
                   "Binance WebSocket base (ws:// for a local vs-replay); the streams are appended as ?streams=",
                   {"VS_BINANCE_WS_URL"});
        cli.option("streams", "LIST", "!ticker@arr/!markPrice@arr@1s/!forceOrder@arr",
                   "streams to subscribe, '/'-separated", {"VS_FEED_STREAMS"});
        cli.option("record", "FILE", "",
                   "append every raw frame as '<recv_time_ns>\\t<frame>' lines (for vs-replay --file)",
                   {"VS_FEED_RECORD"});
        cli.option("stale-mark-s", "S", "10", "a silent markPrice stream is stale after this (0: never)");
        cli.option("stale-ticker-s", "S", "30", "a silent ticker stream is stale after this (0: never)");
        cli.option("backoff-min-ms", "MS", "1000", "first reconnect delay (doubles, jittered, per failure)");
        cli.option("backoff-max-ms", "MS", "60000", "largest reconnect delay");
        cli.option("renew-after-s", "S", "82800",
                   "open a replacement connection (make-before-break) when the current one is this old; "
                   "Binance cuts at 24 h");
        cli.option("ca-file", "FILE", "", "extra CA certificates (PEM) trusted besides the system's", {"VS_CA_FILE"});
        cli.option("max-frame-bytes", "N", "8388608", "larger frames are dropped and counted");
        cli.option("invalid-after-s", "S", "60",
                   "a symbol whose mark price rows stay invalid (NaN, not positive, absurd) this long is marked "
                   "invalid: listed in the feed status, 503 in vs-api",
                   {"VS_FEED_INVALID_AFTER_S"});
        cli.option("exchange-info-refresh-s", "S", "300",
                   "REST exchangeInfo and fundingInfo at start and every S seconds: the trading USDT perpetuals and "
                   "the funding intervals written on MarkPrice records (0: no REST at all; intervals stay 0, unknown)",
                   {"VS_FEED_EXCHANGE_INFO_S"});
        cli.option("klines", "INTERVAL", "1h",
                   "<symbol>@kline_1h for every trading USDT perpetual on connections of their own "
                   "(off: none; needs --exchange-info-refresh-s > 0)",
                   {"VS_FEED_KLINES"});
        cli.option("kline-streams-per-connection", "N", "512", "kline streams per connection (Binance allows 1024)");
        cli.option("trade-symbols", "LIST", "universe",
                   "<symbol>@aggTrade (whale trades) on connections of their own: 'universe' = the members of vs-oi's "
                   "liquid universe (channel oi), 'off', or SYMBOL,SYMBOL,...",
                   {"VS_FEED_TRADE_SYMBOLS"});
        cli.option("trade-streams-per-connection", "N", "200", "aggTrade streams per connection (Binance allows 1024)");
        cli.option("stale-kline-s", "S", "60", "a kline connection silent this long is replaced (0: never)");
        cli.option("kline-bootstrap-per-s", "N", "5",
                   "REST klines?limit=2 requests per second for symbols without the previous closed candle");
        vs::net::add_rest_options(cli);
    }, [&](vs::daemon::context&) {
        const int code = feed->run();
        feed.reset();   // before the skeleton's context and writer go
        return code;
    });
}
