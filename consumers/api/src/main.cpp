// vs-api: the localhost HTTP API over the bus (funding, tickers, OI, health, metrics, the
// /events push stream and the /dashboard page).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "schemas/common_generated.h"
#include "vs/api/server.hpp"
#include "vs/daemon/daemon.hpp"
#include "vs/net/address.hpp"

namespace {

void raise_open_file_limit(std::size_t wanted)
{
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= wanted) {
        return;
    }
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(wanted));
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < wanted) {
        spdlog::warn("open-file limit {} is below the {} that --max-connections needs (LimitNOFILE=)", rl.rlim_cur,
                     wanted);
    }
}

}  // namespace

int main(int argc, char** argv)
{
    vs::daemon::spec s{"vs-api",
                       "Serves the bus's latest market records over HTTP on localhost: /funding/health, "
                       "/funding/{symbol}, /funding/batch?symbols=, /funding, /tickers, /oi, /universe, "
                       "/alerts (recent alerts of every alert channel with their delivery states from the "
                       "outbox in --state-dir, read-only), /news, /health (every process of the host), "
                       "/metrics (one Prometheus scrape for the host), /events (Server-Sent Events: market "
                       "batches, alerts and news as published) and /dashboard.",
                       "vs-api --listen 127.0.0.1:8888\n  curl -s localhost:8888/funding/BTCUSDT"};
    s.snapshots = false;   // its channel carries only its ProcessStatus
    s.channel_option = "status-channel";
    s.channel_option_help = "bus channel of its own ProcessStatus (a second vs-api on the same bus needs another)";
    s.record_types = {static_cast<vs::bus::record_type>(vs::schema::RecordType::ProcessStatus)};
    s.drain = std::chrono::seconds{5};
    s.auto_ready = false;
    return vs::daemon::main(s, argc, argv, [](vs::cli::parser& cli) {
        cli.option("listen", "HOST:PORT", "127.0.0.1:8888", "address to listen on", {"VS_API_LISTEN"});
        cli.flag("allow-remote", "allow a non-loopback --listen address");
        cli.option("threads", "N", "0", "worker threads (0 = one per core)", {"VS_API_THREADS"});
        cli.option("stale-seconds", "S", "180", "records older than this are stale (503)", {"VS_API_STALE_SECONDS"});
        cli.option("channel", "NAME", "market", "market channel (MarkPrice, Ticker24h, FeedStatus)");
        cli.option("oi-channel", "NAME", "oi", "open-interest channel (OpenInterest, LiquidUniverse)");
        cli.option("max-connections", "N", "1024", "open connections beyond this get 503 and are closed",
                   {"VS_API_MAX_CONNECTIONS"});
        cli.option("max-batch", "N", "1000", "most symbols in one /funding/batch request");
        cli.option("request-timeout", "S", "15", "seconds a client has to send a whole request (idle keep-alive included)");
        cli.option("events-interval-ms", "MS", "1000", "period of /events batches");
        cli.option("alert-channels", "A,B", "volume,oi,user_alerts,liquidations",
                   "alert channels followed for /alerts and alert events (a missing one is skipped)",
                   {"VS_API_ALERT_CHANNELS"});
        cli.option("news-channel", "NAME", "news", "channel of vs-news's NewsPost records (/news, news events)",
                   {"VS_API_NEWS_CHANNEL"});
        cli.option("history-hours", "H", "3", "hours of mark price and OI kept for /history and the dashboard charts (0: none)",
                   {"VS_API_HISTORY_HOURS"});
        cli.option("history-step-ms", "MS", "30000", "one /history point per series and symbol per MS",
                   {"VS_API_HISTORY_STEP_MS"});
        cli.option("history-sample-ms", "MS", "1000", "how often the history reads the bus tables",
                   {"VS_API_HISTORY_SAMPLE_MS"});
        cli.option("history-seed-s", "S", "300",
                   "how often the history re-reads vs-oi's stored OI histories from the outbox in --state-dir "
                   "(read at start; 0: at start only)",
                   {"VS_API_HISTORY_SEED_S"});
    }, [](vs::daemon::context& ctx) {
        const auto& cli = ctx.options();
        vs::api::server_config c;
        if (!vs::net::parse_listen_address(cli.get("listen"), c.host, c.port)) {
            throw vs::cli::usage_error{"--listen: expected HOST:PORT or [IPV6]:PORT, got '" + cli.get("listen") + "'"};
        }
        c.allow_remote = cli.is_set("allow-remote");
        if (!c.allow_remote && !vs::net::is_loopback(c.host)) {
            throw vs::cli::usage_error{"--listen " + cli.get("listen") +
                                       " is not a loopback address; add --allow-remote to serve other hosts"};
        }
        c.threads = static_cast<std::size_t>(cli.get_int("threads", 0, 256));
        c.stale_seconds = cli.get_double("stale-seconds", 0.001, 1e9);
        c.bus_prefix = cli.get("bus-prefix");
        c.market_channel = cli.get("channel");
        c.oi_channel = cli.get("oi-channel");
        c.alert_channels = vs::cli::split_list(cli.get("alert-channels"));
        c.news_channel = cli.get("news-channel");
        c.state_dir = ctx.state_dir();   // its outbox.lmdb, opened read-only, gives delivery states
        c.max_connections = static_cast<std::size_t>(cli.get_int("max-connections", 1, 1'000'000));
        c.max_batch = static_cast<std::size_t>(cli.get_int("max-batch", 1, 100'000));
        c.request_timeout = std::chrono::milliseconds{
            static_cast<long long>(cli.get_double("request-timeout", 0.05, 3600) * 1000.0)};
        c.events_interval = std::chrono::milliseconds{cli.get_int("events-interval-ms", 50, 60'000)};
        c.history_window = std::chrono::milliseconds{
            static_cast<long long>(cli.get_double("history-hours", 0, 48) * 3'600'000.0)};
        c.history_step = std::chrono::milliseconds{cli.get_int("history-step-ms", 10, 3'600'000)};
        c.history_sample_interval = std::chrono::milliseconds{cli.get_int("history-sample-ms", 10, 600'000)};
        c.history_seed_interval = std::chrono::milliseconds{
            static_cast<long long>(cli.get_double("history-seed-s", 0, 86'400) * 1000.0)};

        // Every connection is a descriptor: the soft limit (1024 under systemd by default)
        // must not be reached before --max-connections (and the bus, LMDB and log files).
        raise_open_file_limit(c.max_connections + 256);
        vs::api::server srv{c};
        srv.start();
        spdlog::info("listening on {}:{} (bus prefix '{}', channels '{}' and '{}', stale after {} s)", c.host,
                     srv.port(), c.bus_prefix, c.market_channel, c.oi_channel, c.stale_seconds);
        // Healthy while every worker thread runs what is posted to it: a wedged worker stops
        // the watchdog instead of being petted over.
        auto& m = srv.metrics();
        ctx.set_probe([&] {
            ctx.gauge("connections_open", static_cast<double>(m.connections_open.load(std::memory_order_relaxed)));
            ctx.counter("connections_accepted").store(m.connections_accepted.load(std::memory_order_relaxed));
            ctx.counter("connections_rejected").store(m.connections_rejected.load(std::memory_order_relaxed));
            ctx.counter("connections_evicted").store(m.connections_evicted.load(std::memory_order_relaxed));
            ctx.gauge("events_clients", static_cast<double>(m.events_clients.load(std::memory_order_relaxed)));
            ctx.counter("history_seeded_points").store(srv.history_seeded_points());
            ctx.counter("history_seed_broken").store(srv.history_seed_broken());
            if (!srv.responsive(std::chrono::seconds{5})) {
                return vs::daemon::health::bad("a worker thread has not run for 5 s");
            }
            return vs::daemon::health::good(fmt::format("serving on {}:{}", c.host, srv.port()));
        });
        ctx.ready();
        while (ctx.wait(std::chrono::seconds{1})) {
        }
        spdlog::info("draining: answering the requests in hand for up to {} ms", ctx.drain_bound().count());
        srv.stop(ctx.drain_deadline(), [&] { ctx.service(); });
        return vs::cli::exit_ok;
    });
}
