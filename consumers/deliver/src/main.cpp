// vs-deliver: the one daemon that sends alerts. It drains the shared LMDB outbox to the
// backend PROD/DEV, Telegram and Discord; alerting processes only enqueue.
#include <chrono>
#include <filesystem>
#include <atomic>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "deliverer.hpp"
#include "schemas/common_generated.h"
#include "vs/common/cli.hpp"
#include "vs/common/clock.hpp"
#include "vs/outbox/outbox.hpp"
#include "vs/daemon/daemon.hpp"

namespace {

using vs::outbox::target;

vs::deliver::deliver_config config_from(const vs::cli::parser& cli)
{
    vs::deliver::deliver_config c;
    if (!cli.get("prod-url").empty()) {
        c.prod = vs::deliver::backend_endpoint{cli.get("prod-url"), cli.get("prod-key")};
    }
    if (!cli.get("dev-url").empty()) {
        c.dev = vs::deliver::backend_endpoint{cli.get("dev-url"), cli.get("dev-key")};
    }
    c.telegram_api = cli.get("telegram-api-url");
    c.telegram_token = cli.get("telegram-token");
    c.chat_id = cli.get("chat-id");
    c.alert_token = cli.get("alert-token");
    c.alert_chat_id = cli.get("alert-chat-id").empty() ? c.chat_id : cli.get("alert-chat-id");
    c.discord_webhook = cli.get("discord-webhook");
    if (!cli.get("nats-url").empty()) {
        vs::nats::options n;
        n.url = cli.get("nats-url");
        n.creds = cli.get("nats-creds");
        n.token = cli.get("nats-token");
        n.tls_ca = cli.get("nats-tls-ca");
        n.tls_cert = cli.get("nats-tls-cert");
        n.tls_key = cli.get("nats-tls-key");
        n.name = "vs-deliver";
        c.nats = std::move(n);
    }
    c.nats_timeout = std::chrono::milliseconds{cli.get_int("nats-timeout-ms", 100, 600'000)};
    c.dead_after = std::chrono::seconds{cli.get_int("dead-after", 1, 365LL * 86400)};
    c.backoff_base = std::chrono::milliseconds{cli.get_int("backoff-base-ms", 1, 3'600'000)};
    c.backoff_max = std::chrono::milliseconds{cli.get_int("backoff-max-ms", 1, 86'400'000)};
    if (c.backoff_max < c.backoff_base) {
        throw vs::cli::usage_error("--backoff-max-ms must be >= --backoff-base-ms");
    }
    c.poll = std::chrono::milliseconds{cli.get_int("poll-ms", 1, 60'000)};
    c.telegram_per_window = static_cast<int>(cli.get_int("telegram-per-minute", 1, 1000));
    c.discord_per_window = static_cast<int>(cli.get_int("discord-per-minute", 1, 1000));
    c.rate_window = std::chrono::milliseconds{cli.get_int("rate-window-ms", 100, 3'600'000)};
    c.http.request_timeout = std::chrono::milliseconds{cli.get_int("request-timeout-ms", 100, 600'000)};
    c.http.connect_timeout = std::chrono::milliseconds{cli.get_int("connect-timeout-ms", 100, 600'000)};
    c.http.user_agent = "vs-deliver/" VS_VERSION;
    const auto policy = cli.get("uncertain");
    if (policy == "resend") {
        c.uncertain = vs::deliver::uncertain_policy::resend;
    } else if (policy == "drop") {
        c.uncertain = vs::deliver::uncertain_policy::drop;
    } else {
        throw vs::cli::usage_error("--uncertain must be resend or drop, got '" + policy + "'");
    }
    return c;
}

std::string status_line(const vs::outbox::outbox& ob, vs::outbox::target_set targets)
{
    std::string s;
    for (auto t : vs::outbox::all_targets) {
        if (!targets.has(t)) {
            continue;
        }
        auto c = ob.counters(t);
        s += fmt::format("{}{}: {} queued, {} sent, {} retried, {} dead, {} coalesced", s.empty() ? "" : "; ",
                         vs::outbox::to_string(t), ob.queue_length(t), c.sent, c.retried, c.dead, c.coalesced);
    }
    return s;
}

}  // namespace

int main(int argc, char** argv)
{
    vs::daemon::spec s{"vs-deliver",
                       "Send the alerts of the shared outbox to the backend (PROD, DEV), Telegram, Discord and NATS "
                       "JetStream.",
                       "VOLSPIKE_API_URL=https://api.example VOLSPIKE_API_KEY=... vs-deliver --state-dir /var/lib/volspike"};
    s.snapshots = false;   // its channel carries only its ProcessStatus; its state is the outbox
    s.channel_option = "status-channel";
    s.channel_option_help = "bus channel of its own ProcessStatus";
    s.record_types = {static_cast<vs::bus::record_type>(vs::schema::RecordType::ProcessStatus)};
    s.outbox = true;
    s.drain = std::chrono::seconds{20};   // one request's timeouts: a send in flight finishes
    s.auto_ready = false;
    return vs::daemon::main(s, argc, argv, [](vs::cli::parser& cli) {
        cli.option("prod-url", "URL", "", "backend PROD base URL", {"VOLSPIKE_API_URL"})
            .option("prod-key", "KEY", "", "backend PROD API key (X-API-Key)", {"VOLSPIKE_API_KEY"})
            .option("dev-url", "URL", "", "backend DEV base URL (off when empty)", {"VOLSPIKE_API_URL_DEV"})
            .option("dev-key", "KEY", "", "backend DEV API key", {"VOLSPIKE_API_KEY_DEV"})
            .option("telegram-api-url", "URL", "https://api.telegram.org", "Telegram Bot API base URL",
                    {"VS_TELEGRAM_API_URL"})
            .option("telegram-token", "TOKEN", "", "Telegram bot token", {"TELEGRAM_TOKEN", "TELEGRAM_BOT_TOKEN"})
            .option("chat-id", "ID", "", "Telegram chat or channel id", {"CHAT_ID", "TELEGRAM_CHANNEL_ID"})
            .option("alert-token", "TOKEN", "",
                    "the alert bot's token (liquidation and whale alerts; TELEGLAS's name); unset: they go to the main bot",
                    {"TELEGRAM_ALERT_TOKEN"})
            .option("alert-chat-id", "ID", "", "the alert bot's chat (default: --chat-id)", {"TELEGRAM_ALERT_CHAT_ID"})
            .option("discord-webhook", "URL", "", "Discord webhook URL (off when empty)", {"VS_DISCORD_WEBHOOK_URL"})
            .option("nats-url", "URLS", "",
                    "NATS server(s) for target nats (alerts' bus records to JetStream; off when empty): "
                    "nats://host:port, tls://host:port, a comma list for a cluster",
                    {"VS_NATS_URL"})
            .option("nats-creds", "FILE", "", "NATS credentials file (.creds)", {"VS_NATS_CREDS"})
            .option("nats-token", "TOKEN", "", "NATS authentication token (never logged)", {"VS_NATS_TOKEN"})
            .option("nats-tls-ca", "FILE", "", "CA certificates (PEM) of the NATS server", {"VS_NATS_TLS_CA"})
            .option("nats-tls-cert", "FILE", "", "NATS client certificate (PEM)", {"VS_NATS_TLS_CERT"})
            .option("nats-tls-key", "FILE", "", "the NATS client certificate's key (PEM)", {"VS_NATS_TLS_KEY"})
            .option("nats-timeout-ms", "MS", "5000", "wait for one JetStream PubAck before retrying",
                    {"VS_DELIVER_NATS_TIMEOUT_MS"})
            .option("dead-after", "SECONDS", "86400", "age after which an undelivered alert is dead-lettered",
                    {"VS_DELIVER_DEAD_AFTER"})
            .option("backoff-base-ms", "MS", "1000", "first retry delay (doubles per attempt, with jitter)",
                    {"VS_DELIVER_BACKOFF_BASE_MS"})
            .option("backoff-max-ms", "MS", "300000", "longest retry delay", {"VS_DELIVER_BACKOFF_MAX_MS"})
            .option("poll-ms", "MS", "200", "how often an idle target looks at the outbox")
            .option("telegram-per-minute", "N", "20", "Telegram messages per rate window per chat")
            .option("discord-per-minute", "N", "30", "Discord messages per rate window")
            .option("rate-window-ms", "MS", "60000", "rate window of Telegram and Discord (tests shorten it)")
            .option("request-timeout-ms", "MS", "15000", "timeout of one request (write + response)")
            .option("connect-timeout-ms", "MS", "5000", "timeout of resolve + connect + TLS handshake")
            .option("uncertain", "POLICY", "resend",
                    "Telegram/Discord messages whose send was interrupted by a crash: resend or drop")
            .option("keep-delivered", "SECONDS", "604800", "finished alerts older than this are purged");
    }, [](vs::daemon::context& ctx) {
        const auto& cli = ctx.options();
        auto cfg = config_from(cli);
        const auto keep_delivered_ms = cli.get_int("keep-delivered", 0, 10LL * 365 * 86400) * 1000;
        auto& ob = ctx.outbox();
        const auto targets = cfg.targets();
        if (targets.empty()) {
            spdlog::warn("no target configured (VOLSPIKE_API_URL, VOLSPIKE_API_URL_DEV, TELEGRAM_TOKEN+CHAT_ID, "
                         "VS_DISCORD_WEBHOOK_URL, VS_NATS_URL): nothing will be sent");
        }
        for (auto t : vs::outbox::all_targets) {
            if (!targets.has(t) && ob.queue_length(t) > 0) {
                spdlog::warn("{} alerts wait for target {} which is not configured here", ob.queue_length(t),
                             vs::outbox::to_string(t));
            }
        }
        vs::deliver::deliverer d{ob, cfg};
        std::atomic<int> running{0};
        std::atomic<bool> worker_failed{false};
        std::vector<std::thread> workers;
        // However the body ends (an exception included), the workers are asked to stop and
        // joined: a joinable std::thread must never be destroyed.
        struct join_workers {
            vs::daemon::context& ctx;
            std::vector<std::thread>& threads;
            ~join_workers()
            {
                ctx.request_stop();
                for (auto& w : threads) {
                    if (w.joinable()) {
                        w.join();
                    }
                }
            }
        } joiner{ctx, workers};
        for (auto t : vs::outbox::all_targets) {
            if (targets.has(t)) {
                running.fetch_add(1, std::memory_order_relaxed);
                workers.emplace_back([&d, &running, &worker_failed, &ctx, t] {
                    try {
                        d.run_target(t);
                    } catch (const std::exception& e) {
                        spdlog::critical("{} worker failed: {}", vs::outbox::to_string(t), e.what());
                        worker_failed.store(true, std::memory_order_relaxed);
                        ctx.request_stop();
                    }
                    running.fetch_sub(1, std::memory_order_release);
                });
            }
        }
        // A worker blocked longer than one request's timeouts is stuck: unhealthy, and the
        // watchdog is no longer petted.
        const std::int64_t stuck_ms =
            (cfg.http.connect_timeout + cfg.http.request_timeout).count() + 10'000 + cfg.poll.count();
        ctx.set_probe([&] {
            const std::int64_t now = vs::monotonic_ns() / 1'000'000;
            for (auto t : vs::outbox::all_targets) {
                if (targets.has(t) && d.last_beat_ms(t) != 0 && now - d.last_beat_ms(t) > stuck_ms) {
                    return vs::daemon::health::bad(fmt::format("{} worker stuck for {} s", vs::outbox::to_string(t),
                                                               (now - d.last_beat_ms(t)) / 1000));
                }
            }
            for (auto t : vs::outbox::all_targets) {
                if (targets.has(t)) {
                    const auto c = ob.counters(t);
                    const auto tn = std::string{vs::outbox::to_string(t)};
                    ctx.gauge(tn + "_queued", static_cast<double>(ob.queue_length(t)));
                    ctx.counter(tn + "_sent").store(c.sent, std::memory_order_relaxed);
                    ctx.counter(tn + "_dead").store(c.dead, std::memory_order_relaxed);
                    ctx.counter(tn + "_retried").store(c.retried, std::memory_order_relaxed);
                }
            }
            if (const auto e = d.nats_setup_error(); !e.empty()) {
                return vs::daemon::health::bad("nats target not set up: " + e);
            }
            return vs::daemon::health::good(status_line(ob, targets));
        });
        spdlog::info("delivering from {} ({})", ob.path().string(), status_line(ob, targets));
        ctx.ready();
        auto last_purge = std::chrono::steady_clock::now();
        while (ctx.wait(std::chrono::seconds{1})) {
            try {
                if (std::chrono::steady_clock::now() - last_purge > std::chrono::minutes{10}) {
                    last_purge = std::chrono::steady_clock::now();
                    auto n = ob.purge(std::nullopt, vs::realtime_ms() - keep_delivered_ms);
                    if (n > 0) {
                        spdlog::info("purged {} finished alerts older than {} s", n, keep_delivered_ms / 1000);
                    }
                }
            } catch (const std::exception& e) {
                spdlog::error("cannot purge the outbox: {}", e.what());
            }
        }
        // The drain: the workers finish the send in hand (the outbox marks it first, so a
        // send cut by the bound is resolved by --uncertain at the next start).
        spdlog::info("waiting up to {} ms for the workers' current sends", ctx.drain_bound().count());
        while (running.load(std::memory_order_acquire) > 0) {
            ctx.service();
            std::this_thread::sleep_for(std::chrono::milliseconds{20});
        }
        for (auto& w : workers) {
            w.join();
        }
        spdlog::info("stopped: {}", status_line(ob, targets));
        return worker_failed.load(std::memory_order_relaxed) ? vs::cli::exit_failure : vs::cli::exit_ok;
    });
}
