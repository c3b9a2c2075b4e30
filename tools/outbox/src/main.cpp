// vs-outbox: the operator's view of the durable alert outbox: list pending, delivered and
// dead alerts per target, show one, counters, retry, purge, and `test` (enqueue a test
// message to every configured target to check tokens after an install).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <unistd.h>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "vs/common/cli.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/redact.hpp"
#include "vs/outbox/outbox.hpp"
#include "vs/net/rest_weight.hpp"

namespace {
namespace json = boost::json;
using namespace vs::outbox;

std::string iso_time(std::int64_t ms)
{
    if (ms <= 0) {
        return "-";
    }
    std::time_t s = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    ::gmtime_r(&s, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

json::object entry_json(const entry& e)
{
    json::object o{{"id", e.id}, {"kind", e.a.kind}, {"created", iso_time(e.created_ms)}, {"created_ms", e.created_ms}};
    if (e.a.backend) {
        o["backend"] = json::object{{"method", e.a.backend->method}, {"path", e.a.backend->path},
                                    {"body", vs::redact::apply(e.a.backend->body)}};
    }
    if (!e.a.text.empty()) {
        o["text"] = e.a.text;
    }
    json::object ts;
    for (const auto& s : e.targets) {
        ts[to_string(s.t)] = json::object{{"state", to_string(s.st)}, {"attempts", s.attempts},
                                          {"next_attempt_ms", s.next_attempt_ms}, {"done_ms", s.done_ms},
                                          {"requeued_ms", s.requeued_ms},
                                          {"error", vs::redact::apply(s.last_error)}};
    }
    o["targets"] = std::move(ts);
    return o;
}

std::optional<target> target_option(const vs::cli::parser& cli)
{
    if (!cli.given("target")) {
        return std::nullopt;
    }
    auto t = target_from_string(cli.get("target"));
    if (!t) {
        throw vs::cli::usage_error("--target must be prod, dev, telegram, discord, telegram_alerts or nats");
    }
    return t;
}

int cmd_list(const vs::cli::parser& cli, outbox& ob, bool as_json)
{
    list_filter f;
    f.t = target_option(cli);
    if (cli.given("state")) {
        std::string s = cli.get("state");
        if (s == "pending") {
            f.st = state::pending;
        } else if (s == "sending") {
            f.st = state::sending;
        } else if (s == "delivered") {
            f.st = state::delivered;
        } else if (s == "dead") {
            f.st = state::dead;
        } else if (s != "all") {
            throw vs::cli::usage_error("--state must be pending, sending, delivered, dead or all");
        }
    }
    f.limit = static_cast<std::size_t>(cli.get_int("limit", 1, 10'000'000));
    auto entries = ob.list(f);
    if (as_json) {
        for (const auto& e : entries) {
            std::cout << json::serialize(entry_json(e)) << "\n";
        }
        return 0;
    }
    std::cout << fmt::format("{:<16}  {:<24}  {:<12}  {:<9}  {:<9}  {:>3}  {}\n", "ID", "CREATED", "KIND", "TARGET",
                             "STATE", "TRY", "LAST ERROR");
    for (const auto& e : entries) {
        for (const auto& s : e.targets) {
            if ((f.t && s.t != *f.t) || (f.st && s.st != *f.st)) {
                continue;
            }
            std::cout << fmt::format("{:<16}  {:<24}  {:<12}  {:<9}  {:<9}  {:>3}  {}\n", e.id, iso_time(e.created_ms),
                                     e.a.kind, to_string(s.t), to_string(s.st), s.attempts,
                                     vs::redact::apply(s.last_error));
        }
    }
    return 0;
}

int cmd_stats(outbox& ob, bool as_json)
{
    json::object all;
    if (!as_json) {
        std::cout << fmt::format("{:<9} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>6} {:>9} {:>9}\n", "TARGET", "QUEUED",
                                 "ENQUEUED", "SENT", "MESSAGES", "RETRIED", "DEAD", "DEAD*", "COALESCED", "UNCERTAIN");
    }
    for (auto t : all_targets) {
        auto c = ob.counters(t);
        const auto queued = ob.queue_length(t);
        const auto dead_now = ob.list(list_filter{t, state::dead, 10'000'000}).size();
        if (as_json) {
            all[to_string(t)] = json::object{{"configured", ob.targets().has(t)}, {"queued", queued},
                                             {"enqueued", c.enqueued}, {"sent", c.sent}, {"messages", c.messages},
                                             {"failed", c.failed}, {"retried", c.retried}, {"dead", c.dead},
                                             {"dead_stored", dead_now}, {"coalesced", c.coalesced},
                                             {"uncertain", c.uncertain}};
        } else {
            std::cout << fmt::format("{:<9} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>6} {:>9} {:>9}\n", to_string(t),
                                     queued, c.enqueued, c.sent, c.messages, c.retried, c.dead, dead_now, c.coalesced,
                                     c.uncertain);
        }
    }
    if (as_json) {
        std::cout << json::serialize(all) << "\n";
    } else {
        std::cout << "(DEAD: dead-lettered since creation; DEAD*: dead alerts still stored)\n";
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    vs::cli::parser cli{"vs-outbox",
                        "Inspect and manage the durable alert outbox.\n\n"
                        "commands:\n"
                        "  list                 alerts per target (--target, --state, --limit, --json)\n"
                        "  show ID              one alert as JSON\n"
                        "  stats                per-target counters (--json)\n"
                        "  retry ID | --dead    put dead (with --delivered also delivered) targets back to pending\n"
                        "  purge ID | --finished | --delivered | --dead   delete finished alerts (--older-than)\n"
                        "  test                 enqueue a test message to every configured target\n"
                        "  rest-budget          the host's Binance REST weight budget (--bus-prefix; --json)",
                        "vs-outbox list --state dead --target telegram"};
    vs::cli::add_common_options(cli);
    cli.positionals("COMMAND [ID]")
        .option("target", "T", "", "prod, dev, telegram, discord, telegram_alerts or nats")
        .option("state", "S", "all", "pending, sending, delivered, dead or all")
        .option("limit", "N", "1000", "at most N alerts listed")
        .option("older-than", "SECONDS", "0", "purge: only alerts finished longer ago than this")
        .option("text", "TEXT", "", "test: the message text (default names the host and time)")
        .option("backend-path", "PATH", "/health", "test: the backend path requested (GET, with X-API-Key)")
        .flag("json", "one JSON object per line")
        .flag("dead", "retry/purge: every dead alert")
        .flag("delivered", "retry: also delivered ones; purge: fully delivered alerts")
        .flag("finished", "purge: alerts delivered or dead on every target");
    return vs::cli::run(cli, argc, argv, [&]() -> int {
        const auto& args = cli.args();
        if (args.empty()) {
            throw vs::cli::usage_error("a command is required (list, show, stats, retry, purge, test)");
        }
        const std::string cmd = args[0];
        const std::string id = args.size() > 1 ? args[1] : "";
        if (cmd == "rest-budget") {
            const auto now = vs::realtime_ms();
            auto st = vs::net::weight_budget::peek(cli.get("bus-prefix"), now);
            if (!st) {
                std::cerr << "vs-outbox: no REST weight budget /dev/shm/" << cli.get("bus-prefix")
                          << ".rest-weight (no process has called Binance REST since boot)\n";
                return vs::cli::exit_failure;
            }
            json::object o{{"window_ms", st->window_ms},       {"used", st->used},
                           {"paused_for_ms", std::max<std::int64_t>(0, st->pause_until_ms - now)},
                           {"banned_for_ms", std::max<std::int64_t>(0, st->ban_until_ms - now)},
                           {"requests", st->requests},         {"weight", st->weight},
                           {"rate_limited", st->rate_limited}, {"banned", st->banned},
                           {"restricted", st->restricted},     {"waits", st->waits}};
            if (cli.is_set("json")) {
                std::cout << json::serialize(o) << "\n";
            } else {
                for (const auto& [k, v] : o) {
                    std::cout << fmt::format("{:<14} {}\n", std::string_view{k}, json::serialize(v));
                }
            }
            return 0;
        }
        outbox_options oo;
        oo.read_only = cmd == "list" || cmd == "show" || cmd == "stats";
        auto ob = outbox::open(std::filesystem::path{cli.get("state-dir")}, oo);
        const bool as_json = cli.is_set("json");
        if (cmd == "list") {
            return cmd_list(cli, *ob, as_json);
        }
        if (cmd == "stats") {
            return cmd_stats(*ob, as_json);
        }
        if (cmd == "show") {
            if (id.empty()) {
                throw vs::cli::usage_error("show needs an ID");
            }
            auto e = ob->get(id);
            if (!e) {
                std::cerr << "vs-outbox: no alert " << id << "\n";
                return vs::cli::exit_failure;
            }
            std::cout << json::serialize(entry_json(*e)) << "\n";
            return 0;
        }
        if (cmd == "retry") {
            if (id.empty() && !cli.is_set("dead")) {
                throw vs::cli::usage_error("retry needs an ID or --dead");
            }
            auto n = ob->retry(target_option(cli), id, cli.is_set("delivered"));
            std::cout << "requeued " << n << " target deliveries\n";
            return 0;
        }
        if (cmd == "purge") {
            std::optional<state> only;
            if (cli.is_set("delivered")) {
                only = state::delivered;
            } else if (cli.is_set("dead")) {
                only = state::dead;
            } else if (id.empty() && !cli.is_set("finished")) {
                throw vs::cli::usage_error("purge needs an ID, --finished, --delivered or --dead");
            }
            const auto older = cli.get_int("older-than", 0, 100LL * 365 * 86400) * 1000;
            auto n = ob->purge(only, vs::realtime_ms() - older, id);
            std::cout << "purged " << n << " alerts\n";
            return 0;
        }
        if (cmd == "test") {
            if (ob->targets().empty()) {
                std::cerr << "vs-outbox: no target configured (VOLSPIKE_API_URL, VOLSPIKE_API_URL_DEV, "
                             "TELEGRAM_TOKEN + CHAT_ID, VS_DISCORD_WEBHOOK_URL)\n";
                return vs::cli::exit_failure;
            }
            char host[256] = {};
            ::gethostname(host, sizeof host - 1);
            alert a;
            a.kind = "test";
            a.text = cli.get("text").empty()
                         ? fmt::format("volspike-bus test message from {} at {}", host, iso_time(vs::realtime_ms()))
                         : cli.get("text");
            a.backend = backend_call{cli.get("backend-path"), "", "GET"};
            auto new_id = ob->enqueue(a);
            std::cout << "enqueued test " << new_id << " for";
            for (auto t : all_targets) {
                if (ob->targets().has(t)) {
                    std::cout << " " << to_string(t);
                }
            }
            std::cout << "\n";
            return 0;
        }
        throw vs::cli::usage_error("unknown command '" + cmd + "'");
    });
}
