// vs-news: public Telegram channels (their t.me/s web preview, no account) to the backend's
// POST /api/telegram/ingest through the durable outbox, and onto the `news` bus channel.
// Decisions live in vs/news/cycle.hpp, the page parser in vs/news/parser.hpp; this file is
// the process: options, one worker thread per channel (a slow or failing channel never
// delays the others), the commit of batches + state in one LMDB transaction, the bus records
// and the status.
#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <spdlog/spdlog.h>

#include "schemas/news_generated.h"
#include "vs/common/clock.hpp"
#include "vs/daemon/daemon.hpp"
#include "vs/net/http_client.hpp"
#include "vs/news/cycle.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr auto news_post_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::NewsPost);
constexpr std::size_t per_channel_gauges = 6;  // "last_post_age_s_<channel>", "failing_<channel>": first 6 channels

struct settings {
    std::string base_url;
    std::chrono::milliseconds interval{30'000};
    std::chrono::milliseconds max_backoff{600'000};
    vs::news::cycle_limits limits;
    vs::net::http_client_options http;
    /// Tests only (VS_NEWS_TEST_COMMIT_DELAY_MS): a pause between a cycle's fetch and its commit,
    /// so a test can kill the process exactly there.
    std::chrono::milliseconds commit_delay{0};
};

/// What the status shows of one channel (guarded by shared::mutex).
struct channel_view {
    bool ok = false;
    bool polled = false;
    std::string problem;
    std::int64_t last_ok_ms = 0;
    std::int64_t last_post_ms = 0;   ///< date of the newest post forwarded
};

struct shared_state {
    std::mutex mutex;
    std::condition_variable wake;
    bool stop = false;
    std::map<std::string, channel_view> views;
    std::deque<std::pair<vs::news::channel_config, std::pair<vs::news::channel_state, std::vector<std::pair<vs::news::post, bool>>>>>
        to_publish;   ///< committed posts for the body's thread to put on the bus (post, edited)
};

/// One page request: GET <base>/s/<channel>[?before=N], redirects judged, 429/503 waits.
vs::news::fetch_result fetch_page(vs::net::http_client& http, const settings& cfg, const std::string& channel,
                                  std::optional<std::int64_t> before)
{
    std::string url = cfg.base_url + "/s/" + channel;
    if (before) {
        url += "?before=" + std::to_string(*before);
    }
    vs::news::fetch_result out;
    for (int redirects = 0; redirects < 2; ++redirects) {
        vs::net::http_request req;
        req.url = url;
        req.headers = {{"Accept", "text/html"}};
        auto r = http.perform(req);
        if (!r.ok()) {
            out.error = r.error_message;
            return out;
        }
        const int status = r.res.status;
        if (status == 200) {
            vs::news::parse_options po;
            po.final_url = url;
            out.pg = vs::news::parse_page(r.res.body, channel, po);
            return out;
        }
        if (status >= 300 && status < 400) {
            const auto location = r.res.header_value("Location").value_or("");
            const auto path_at = location.find("://") == std::string::npos ? 0 : location.find('/', location.find("://") + 3);
            const std::string path = path_at == std::string::npos ? std::string{"/"} : location.substr(path_at);
            if (path.rfind("/s/", 0) == 0 && redirects == 0) {
                url = (path_at == 0 ? cfg.base_url : location.substr(0, path_at)) + path;
                continue;
            }
            vs::news::page p;
            p.kind = vs::news::page_kind::preview_disabled;
            p.error = "redirected to " + (location.empty() ? std::string{"nowhere"} : location);
            out.pg = std::move(p);
            return out;
        }
        out.error = "HTTP " + std::to_string(status) + " from " + url;
        if (status == 429 || status == 503) {
            long long seconds = status == 429 ? 60 : 0;
            if (auto ra = r.res.header_value("Retry-After")) {
                try {
                    seconds = std::clamp(std::stoll(*ra), 1LL, 3600LL);
                } catch (const std::exception&) {
                }
            }
            if (seconds > 0) {
                out.retry_after = std::chrono::seconds{seconds};
            }
        }
        return out;
    }
    out.error = "too many redirects from " + url;
    return out;
}

/// A channel's worker: cycles on a steady clock, commits, hands posts to the bus thread.
void run_channel(vs::daemon::context& ctx, shared_state& sh, const settings& cfg, vs::news::channel_config channel)
{
    auto& cycles = ctx.counter("cycles");
    auto& requests = ctx.counter("page_requests");
    auto& failures = ctx.counter("cycle_failures");
    auto& rate_limited = ctx.counter("rate_limited");
    auto& forwarded = ctx.counter("posts_forwarded");
    auto& edits = ctx.counter("edits_forwarded");
    auto& batches = ctx.counter("batches_enqueued");
    auto& held = ctx.counter("posts_held_no_channel_id");
    auto& warnings = ctx.counter("parser_warnings");

    const std::string key = "channel/" + channel.username;
    vs::news::channel_state state;
    if (auto bytes = ctx.state(key)) {
        std::string why;
        if (auto s = vs::news::channel_state::decode(*bytes, &why)) {
            state = std::move(*s);
        } else {
            spdlog::error("@{}: stored state is unreadable ({}); starting as a first run (the backend upserts, so "
                          "re-sent posts are not duplicated)",
                          channel.username, why);
        }
    }
    spdlog::info("@{} ({}): {}", channel.username, channel.category,
                 state.last_id == 0 ? std::string{"first run: the last 100 posts"}
                                    : "posts after id " + std::to_string(state.last_id));

    vs::net::http_client http{cfg.http};
    int consecutive_failures = 0;
    auto next = steady::now();
    std::unique_lock lock{sh.mutex};
    while (!sh.stop) {
        if (steady::now() < next) {
            sh.wake.wait_until(lock, next, [&] { return sh.stop; });
            continue;
        }
        lock.unlock();
        const auto started = steady::now();
        auto outcome = vs::news::collect(
            channel, state,
            [&](std::optional<std::int64_t> before) {
                ++requests;
                return fetch_page(http, cfg, channel.username, before);
            },
            cfg.limits);
        ++cycles;
        warnings += outcome.warnings.size();
        for (const auto& w : outcome.warnings) {
            spdlog::warn("@{}: {}", channel.username, w);
        }
        std::string problem = outcome.problem;
        std::vector<vs::news::post> to_send = outcome.edited;
        to_send.insert(to_send.end(), outcome.fresh.begin(), outcome.fresh.end());
        bool committed = false;
        if (problem.empty() && !to_send.empty() && outcome.next.channel_id == 0) {
            held += to_send.size();
            problem = "the page shows no channel id (the backend keys channels by it): " + std::to_string(to_send.size()) +
                      " posts held until it does";
        } else if (problem.empty() && (!to_send.empty() || outcome.next.encode() != state.encode())) {
            if (cfg.commit_delay.count() > 0 && !to_send.empty()) {
                spdlog::info("@{}: {} posts fetched, committing in {} ms", channel.username, to_send.size(),
                             cfg.commit_delay.count());
                std::this_thread::sleep_for(cfg.commit_delay);
            }
            std::vector<vs::outbox::alert> alerts;
            for (const auto& batch : vs::news::batches(to_send)) {
                vs::outbox::alert a;
                a.kind = "news";
                a.backend = vs::outbox::backend_call{"/api/telegram/ingest",
                                                     vs::news::ingest_payload(channel, outcome.next, batch)};
                a.label = "news posts";
                a.keep_after_delivery = false;   // the backend upserts; nothing to look back at
                alerts.push_back(std::move(a));
            }
            try {
                ctx.commit(alerts, {{key, outcome.next.encode()}});
                committed = true;
                batches += alerts.size();
                forwarded += outcome.fresh.size();
                edits += outcome.edited.size();
            } catch (const std::exception& e) {
                // The skeleton counts it, logs it and holds the process unhealthy until a commit
                // succeeds; here only what it means for this channel.
                problem = std::string{"cannot commit to the outbox: "} + e.what();
                spdlog::error("@{}: {} posts not forwarded; they are read again next cycle", channel.username,
                              to_send.size());
            }
        } else if (problem.empty()) {
            committed = true;   // nothing new
        }
        if (committed) {
            if (!to_send.empty()) {
                spdlog::info("@{}: {} new and {} edited posts forwarded (last id {}){}", channel.username,
                             outcome.fresh.size(), outcome.edited.size(), outcome.next.last_id,
                             outcome.left_for_next > 0 ? ", " + std::to_string(outcome.left_for_next) + " left for the next cycle"
                                                       : std::string{});
            }
            state = outcome.next;
        }
        lock.lock();
        auto& view = sh.views[channel.username];
        view.polled = true;
        const auto now_ms = vs::realtime_ms();
        if (problem.empty()) {
            if (!view.ok && consecutive_failures > 0) {
                spdlog::info("@{}: answering again after {} failed cycles", channel.username, consecutive_failures);
            }
            view.ok = true;
            view.problem.clear();
            view.last_ok_ms = now_ms;
            consecutive_failures = 0;
            std::vector<std::pair<vs::news::post, bool>> posts;
            for (auto& p : outcome.edited) {
                posts.emplace_back(std::move(p), true);
            }
            for (auto& p : outcome.fresh) {
                view.last_post_ms = std::max(view.last_post_ms, p.date_ms);
                posts.emplace_back(std::move(p), false);
            }
            if (!posts.empty()) {
                sh.to_publish.emplace_back(channel, std::make_pair(state, std::move(posts)));
            }
            // More left (a backlog beyond max_posts): the next cycle comes at once.
            next = outcome.left_for_next > 0 ? steady::now() : started + cfg.interval;
        } else {
            ++failures;
            ++consecutive_failures;
            if (outcome.retry_after) {
                ++rate_limited;
            }
            if (view.problem != problem) {
                spdlog::warn("@{}: {}", channel.username, problem);
            }
            view.ok = false;
            view.problem = problem;
            auto wait = std::min<std::chrono::milliseconds>(cfg.max_backoff, cfg.interval * (1LL << std::min(consecutive_failures - 1, 10)));
            if (outcome.retry_after) {
                wait = std::max<std::chrono::milliseconds>(*outcome.retry_after, cfg.interval);
                spdlog::warn("@{}: rate limited, next request in {} s (Retry-After)", channel.username,
                             std::chrono::duration_cast<std::chrono::seconds>(wait).count());
            }
            next = steady::now() + wait;
        }
    }
}

void publish_posts(vs::daemon::context& ctx, flatbuffers::FlatBufferBuilder& fbb, const vs::news::channel_config& channel,
                   const vs::news::channel_state& state, const vs::news::post& p, bool edited)
{
    fbb.Clear();
    std::vector<flatbuffers::Offset<flatbuffers::String>> links;
    for (const auto& l : p.links) {
        links.push_back(fbb.CreateString(l));
    }
    const auto now = vs::realtime_ns();
    const auto sym = fbb.CreateString(channel.username);
    const auto title = fbb.CreateString(state.title);
    const auto category = fbb.CreateString(channel.category);
    const auto text = fbb.CreateString(p.text);
    const auto media = fbb.CreateString(vs::news::to_string(p.media));
    const auto link_vec = fbb.CreateVector(links);
    const auto fwd = fbb.CreateString(p.forwarded_from);
    const auto url = fbb.CreateString("https://t.me/" + channel.username + "/" + std::to_string(p.id));
    fbb.Finish(vs::schema::CreateNewsPost(fbb, sym, p.date_ms, now, vs::schema::MarketType::Unknown, p.id, state.channel_id,
                                          title, category, text, p.views.value_or(-1), media, link_vec, fwd, edited, url));
    ctx.writer().publish(news_post_type, channel.username,
                         {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()}, now);
}

}  // namespace

int main(int argc, char** argv)
{
    vs::daemon::spec s{"vs-news",
                       "Public Telegram news channels (their t.me/s web preview; no account, no phone login) to the "
                       "backend's /api/telegram/ingest through the durable outbox, and onto the `news` bus channel.",
                       "TELEGRAM_CHANNELS=marketfeed,watcherguru vs-news --state-dir /var/lib/volspike\n"
                       "  vs-news --channels mychannel --categories mychannel:crypto --telegram-web-url https://telegram.me\n"
                       "  vs-news --telegram-web-url http://127.0.0.1:9900 --interval-ms 2000   # against vs-replay's pages"};
    s.outbox = true;
    s.record_types = {news_post_type};
    s.ring_bytes = 4u << 20;   // thousands of posts for vs-api's headlines
    s.table_slots = 256;
    s.slot_bytes = 8192;       // a post with its text (Telegram allows 4,096 characters)
    s.drain = 5s;
    return vs::daemon::main(
        s, argc, argv,
        [](vs::cli::parser& cli) {
            cli.option("channels", "LIST", "marketfeed", "public channel usernames to poll, comma-separated",
                       {"TELEGRAM_CHANNELS"});
            cli.option("categories", "LIST", "",
                       "category overrides, 'channel:category,...' (default: marketfeed macro, watcherguru crypto, "
                       "others general)",
                       {"VS_NEWS_CATEGORIES"});
            cli.option("telegram-web-url", "URL", "https://t.me",
                       "where the public previews are (/s/<channel>); https://telegram.me serves the same pages",
                       {"VS_TELEGRAM_WEB_URL"});
            cli.option("interval-ms", "MS", "30000", "one cycle per channel this often (a backlog continues at once)",
                       {"VS_NEWS_INTERVAL_MS"});
            cli.option("max-posts", "N", "100", "new posts forwarded per channel per cycle; the rest next cycle, oldest first",
                       {"VS_NEWS_MAX_POSTS"});
            cli.option("first-run-posts", "N", "100", "posts forwarded the first time a channel is polled",
                       {"VS_NEWS_FIRST_RUN_POSTS"});
            cli.option("max-pages", "N", "12", "page requests per channel per cycle (paging back to the last id)",
                       {"VS_NEWS_MAX_PAGES"});
            cli.option("max-backoff-ms", "MS", "600000", "longest wait after repeated failures of a channel",
                       {"VS_NEWS_MAX_BACKOFF_MS"});
            cli.option("request-timeout-ms", "MS", "15000", "whole-request timeout of a page", {"VS_NEWS_REQUEST_TIMEOUT_MS"});
            cli.option("user-agent", "TEXT",
                       "Mozilla/5.0 (X11; Linux x86_64) volspike-bus/" VS_VERSION " vs-news (+public channel previews)",
                       "User-Agent of page requests", {"VS_NEWS_USER_AGENT"});
        },
        [](vs::daemon::context& ctx) {
            const auto& cli = ctx.options();
            settings cfg;
            cfg.base_url = cli.get("telegram-web-url");
            while (!cfg.base_url.empty() && cfg.base_url.back() == '/') {
                cfg.base_url.pop_back();
            }
            if (cfg.base_url.rfind("https://", 0) != 0 && cfg.base_url.rfind("http://", 0) != 0) {
                throw vs::cli::usage_error("--telegram-web-url must start with https:// (or http:// for a local stand-in)");
            }
            cfg.interval = std::chrono::milliseconds{cli.get_int("interval-ms", 100, 86'400'000)};
            cfg.max_backoff = std::chrono::milliseconds{cli.get_int("max-backoff-ms", 100, 86'400'000)};
            cfg.limits.max_posts = static_cast<std::size_t>(cli.get_int("max-posts", 1, 10'000));
            cfg.limits.first_run_posts = static_cast<std::size_t>(cli.get_int("first-run-posts", 0, 10'000));
            cfg.limits.max_pages = static_cast<std::size_t>(cli.get_int("max-pages", 1, 1000));
            cfg.http.request_timeout = std::chrono::milliseconds{cli.get_int("request-timeout-ms", 100, 600'000)};
            cfg.http.connect_timeout = std::min(cfg.http.request_timeout, std::chrono::milliseconds{10'000});
            cfg.http.user_agent = cli.get("user-agent");
            cfg.http.body_limit = 8u << 20;
            if (const char* d = std::getenv("VS_NEWS_TEST_COMMIT_DELAY_MS")) {
                cfg.commit_delay = std::chrono::milliseconds{std::atoll(d)};
            }
            std::vector<vs::news::channel_config> channels;
            try {
                channels = vs::news::parse_channels(cli.get("channels"), cli.get("categories"));
            } catch (const std::invalid_argument& e) {
                throw vs::cli::usage_error(e.what());
            }

            shared_state sh;
            for (const auto& c : channels) {
                sh.views[c.username];
            }
            const auto started_ms = vs::realtime_ms();
            ctx.set_probe([&] {
                std::lock_guard g{sh.mutex};
                std::size_t ok = 0, failing = 0;
                std::string first_problem;
                std::int64_t newest_ok = 0;
                for (const auto& [name, v] : sh.views) {
                    newest_ok = std::max(newest_ok, v.last_ok_ms);
                    if (v.ok) {
                        ++ok;
                    } else if (v.polled) {
                        ++failing;
                        if (first_problem.empty()) {
                            first_problem = "@" + name + ": " + v.problem;
                        }
                    }
                }
                // Every channel failing for 10 cycles (at least 5 minutes): Telegram is unreachable.
                const auto limit = std::max<std::int64_t>(300'000, 10 * cfg.interval.count());
                const auto since = newest_ok > 0 ? newest_ok : started_ms;
                if (ok == 0 && failing > 0 && vs::realtime_ms() - since > limit) {
                    return vs::daemon::health::bad("no channel answered for " +
                                                   std::to_string((vs::realtime_ms() - since) / 1000) + " s; " + first_problem);
                }
                std::string summary = std::to_string(ok) + "/" + std::to_string(sh.views.size()) + " channels ok";
                if (failing > 0) {
                    summary += "; " + first_problem;
                }
                return vs::daemon::health::good(summary);
            });

            std::vector<std::thread> workers;
            for (const auto& c : channels) {
                workers.emplace_back([&ctx, &sh, &cfg, c] {
                    try {
                        run_channel(ctx, sh, cfg, c);
                    } catch (const std::exception& e) {
                        spdlog::critical("@{}: worker failed: {}", c.username, e.what());
                        ctx.request_stop();
                    }
                });
            }
            flatbuffers::FlatBufferBuilder fbb;
            std::size_t published_total = 0;
            auto& published = ctx.counter("records_published");
            auto publish_pending = [&] {
                std::deque<std::pair<vs::news::channel_config, std::pair<vs::news::channel_state, std::vector<std::pair<vs::news::post, bool>>>>> batch;
                {
                    std::lock_guard g{sh.mutex};
                    batch.swap(sh.to_publish);
                }
                for (const auto& [channel, rest] : batch) {
                    for (const auto& [p, edited] : rest.second) {
                        publish_posts(ctx, fbb, channel, rest.first, p, edited);
                        ++published;
                        ++published_total;
                    }
                }
                if (!batch.empty()) {
                    ctx.writer().notify();
                }
            };
            while (ctx.wait(200ms)) {
                publish_pending();
                std::size_t ok = 0, failing = 0;
                {
                    std::lock_guard g{sh.mutex};
                    const auto now = vs::realtime_ms();
                    std::size_t k = 0;
                    for (const auto& [name, v] : sh.views) {
                        (v.ok ? ok : failing) += v.polled ? 1 : 0;
                        if (k++ < per_channel_gauges) {
                            ctx.gauge("failing_" + name, v.polled && !v.ok ? 1.0 : 0.0);
                            if (v.last_post_ms > 0) {
                                ctx.gauge("last_post_age_s_" + name, static_cast<double>(now - v.last_post_ms) / 1000.0);
                            }
                        }
                    }
                }
                ctx.gauge("channels_ok", static_cast<double>(ok));
                ctx.gauge("channels_failing", static_cast<double>(failing));
            }
            {
                std::lock_guard g{sh.mutex};
                sh.stop = true;
            }
            sh.wake.notify_all();
            for (auto& w : workers) {
                w.join();
            }
            publish_pending();
            spdlog::info("stopped; {} posts put on the bus in this run", published_total);
            return 0;
        });
}
