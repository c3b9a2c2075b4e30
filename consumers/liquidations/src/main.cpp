// vs-liquidations: liquidation and whale-trade alerts to Telegram (TELEGLAS's alert bot) from
// Binance's own streams on the `market` channel (Liquidation and AggTrade records), through
// the durable outbox. Decisions live in vs/liquidations/rules.hpp; this file is the process:
// options, the market follower, commits (open windows and closing alerts as durable state),
// LiquidationAlert / WhaleTradeAlert records on the `liquidations` channel, coverage and status.
#include <chrono>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <spdlog/spdlog.h>

#include "schemas/alerts_generated.h"
#include "schemas/feed_status_generated.h"
#include "schemas/market_data_generated.h"
#include "vs/common/clock.hpp"
#include "vs/daemon/daemon.hpp"
#include "vs/liquidations/rules.hpp"

namespace {

using namespace std::chrono_literals;
namespace liq = vs::liquidations;
using vs::schema::RecordType;

constexpr auto liquidation_type = static_cast<vs::bus::record_type>(RecordType::Liquidation);
constexpr auto agg_trade_type = static_cast<vs::bus::record_type>(RecordType::AggTrade);
constexpr auto feed_status_type = static_cast<vs::bus::record_type>(RecordType::FeedStatus);
constexpr auto liquidation_alert_type = static_cast<vs::bus::record_type>(RecordType::LiquidationAlert);
constexpr auto whale_alert_type = static_cast<vs::bus::record_type>(RecordType::WhaleTradeAlert);

constexpr std::string_view window_prefix = "window/";
constexpr std::string_view last_alert_prefix = "last_alert/";

bool positive(double v) { return std::isfinite(v) && v > 0; }

vs::schema::Side side_enum(const std::string& side)
{
    // The liquidated position's order side: a LONG is closed by a SELL.
    if (side == "LONG" || side == "SELL") {
        return vs::schema::Side::Sell;
    }
    return vs::schema::Side::Buy;
}

vs::bus::record_type record_type_of(const liq::alert& a)
{
    return a.k == liq::kind::liquidation ? liquidation_alert_type : whale_alert_type;
}

/// The alert's record (LiquidationAlert or WhaleTradeAlert) with its outbox id.
std::string alert_record(flatbuffers::FlatBufferBuilder& fbb, const liq::alert& a, std::string_view id, std::int64_t now)
{
    fbb.Clear();
    const auto sym = fbb.CreateString(a.symbol);
    const auto alert_id = fbb.CreateString(id.data(), id.size());
    if (a.k == liq::kind::liquidation) {
        fbb.Finish(vs::schema::CreateLiquidationAlert(fbb, sym, a.last_ms, now, vs::schema::MarketType::UsdM, alert_id,
                                                      side_enum(a.side), a.price, a.qty, a.total_usd, a.count));
    } else {
        fbb.Finish(vs::schema::CreateWhaleTradeAlert(fbb, sym, a.last_ms, now, vs::schema::MarketType::UsdM, alert_id,
                                                     side_enum(a.side), a.price, a.qty, a.total_usd));
    }
    return std::string{reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

/// Publishes the record the commit built (the very bytes the outbox keeps for NATS).
void publish_alert(vs::daemon::context& ctx, const liq::alert& a, const vs::outbox::alert& committed, std::int64_t now)
{
    const auto& rec = committed.bus->bytes;
    ctx.writer().publish(record_type_of(a), a.symbol, {reinterpret_cast<const std::byte*>(rec.data()), rec.size()}, now);
}

vs::outbox::alert outbox_alert(vs::daemon::context& ctx, flatbuffers::FlatBufferBuilder& fbb, const liq::alert& a,
                               std::int64_t now)
{
    vs::outbox::alert o;
    o.kind = a.k == liq::kind::liquidation ? "liquidation" : "whale_trade";
    o.text = liq::text(a);
    o.label = a.k == liq::kind::liquidation ? "liquidations" : "whale trades";
    o.amount_usd = a.total_usd;
    // Built inside the commit once the id is known (vs-deliver's nats target sends it).
    o.bus = ctx.alert_record(record_type_of(a), a.symbol,
                             [&fbb, a, now](std::string_view id) { return alert_record(fbb, a, id, now); });
    return o;
}

}  // namespace

int main(int argc, char** argv)
{
    vs::daemon::spec s{
        "vs-liquidations",
        "Liquidation and whale-trade alerts to Telegram (TELEGLAS's shapes, its alert bot) from Binance's own "
        "!forceOrder@arr and aggTrade streams on the bus, through the durable outbox.",
        "TELEGRAM_ALERT_TOKEN=... CHAT_ID=... vs-liquidations --state-dir /var/lib/volspike\n"
        "  vs-liquidations --liquidation-thresholds BTCUSDT:1000000,ETHUSDT:500000 --window-ms 10000"};
    s.outbox = true;
    s.record_types = {liquidation_alert_type, whale_alert_type};
    return vs::daemon::main(
        s, argc, argv,
        [](vs::cli::parser& cli) {
            cli.option("market-channel", "NAME", "market", "bus channel with Liquidation and AggTrade records");
            cli.option("liquidation-threshold-usd", "USD", "100000", "alert a liquidation at or above this notional (ap x z)",
                       {"VS_LIQ_THRESHOLD_USD"});
            cli.option("liquidation-thresholds", "LIST", "", "per-symbol overrides, SYMBOL:USD,...", {"VS_LIQ_THRESHOLDS"});
            cli.option("whale-threshold-usd", "USD", "1000000", "alert a trade at or above this notional (price x qty)",
                       {"VS_WHALE_THRESHOLD_USD"});
            cli.option("whale-thresholds", "LIST", "", "per-symbol overrides, SYMBOL:USD,...", {"VS_WHALE_THRESHOLDS"});
            cli.option("whales", "BOOL", "true", "whale-trade alerts on (TELEGLAS's name)", {"ENABLE_WHALE_ALERTS"});
            cli.option("window-ms", "MS", "10000",
                       "liquidations of one symbol and side within this window become one alert (0: each alone)",
                       {"VS_LIQ_WINDOW_MS"});
            cli.option("startup-message", "BOOL", "false", "send a startup message to the alert chat, as TELEGLAS did",
                       {"VS_LIQ_STARTUP_MESSAGE"});
        },
        [](vs::daemon::context& ctx) {
            const auto& cli = ctx.options();
            auto flag = [&](const char* name) {
                const auto v = cli.get(name);
                if (v == "true" || v == "1" || v == "yes" || v == "on") {
                    return true;
                }
                if (v == "false" || v == "0" || v == "no" || v == "off" || v.empty()) {
                    return false;
                }
                throw vs::cli::usage_error(std::string{"--"} + name + " must be true or false, got '" + v + "'");
            };
            liq::thresholds liq_thr, whale_thr;
            try {
                liq_thr = liq::thresholds::parse(cli.get_double("liquidation-threshold-usd", 1, 1e15),
                                                 cli.get("liquidation-thresholds"));
                whale_thr = liq::thresholds::parse(cli.get_double("whale-threshold-usd", 1, 1e15), cli.get("whale-thresholds"));
            } catch (const std::invalid_argument& e) {
                throw vs::cli::usage_error(e.what());
            }
            const bool whales = flag("whales");
            const auto window = std::chrono::milliseconds{cli.get_int("window-ms", 0, 3'600'000)};
            const auto targets = vs::outbox::target_set::alert_bot_from_env();
            if (targets.empty()) {
                spdlog::warn("no chat target (TELEGRAM_ALERT_TOKEN or TELEGRAM_TOKEN, with a chat): alerts are decided "
                             "and published on the bus, but nothing is queued for Telegram");
            }

            auto& seen_liq = ctx.counter("liquidations_seen");
            auto& below = ctx.counter("liquidations_below_threshold");
            auto& bad = ctx.counter("records_invalid");
            auto& liq_alerts = ctx.counter("liquidation_alerts");
            auto& liq_counted = ctx.counter("liquidations_alerted");
            auto& seen_trades = ctx.counter("trades_seen");
            auto& whale_alerts = ctx.counter("whale_alerts");
            auto& laps = ctx.counter("market_laps");
            auto& down_s = ctx.counter("liquidation_stream_down_s");
            auto& whale_down_s = ctx.counter("whale_streams_down_s");

            // Open windows survive a restart (their liquidations were committed as state).
            liq::debouncer deb{window};
            ctx.outbox().state_for_each(ctx.program(), [&](std::string_view key, std::string_view value) {
                if (key.rfind(window_prefix, 0) != 0) {
                    return;
                }
                std::string why;
                if (auto w = liq::window::decode(value, &why)) {
                    // A window saved under a longer --window-ms, or a clock that was wrong,
                    // still closes within one window from now.
                    w->closes_at_ms = std::min(w->closes_at_ms, vs::realtime_ms() + window.count());
                    deb.restore(std::string{key.substr(window_prefix.size())}, std::move(*w));
                } else {
                    spdlog::error("state {}: unreadable window ({}), dropped", key, why);
                }
            });
            if (!deb.open().empty()) {
                spdlog::info("{} open liquidation windows restored", deb.open().size());
            }

            auto market = ctx.follow(cli.get("market-channel"));
            flatbuffers::FlatBufferBuilder fbb;

            if (flag("startup-message") && !targets.empty()) {
                vs::outbox::alert hello;
                hello.kind = "startup";
                hello.text = "🤖 VolSpike liquidation alerts online: liquidations >= " + liq::usd(liq_thr.default_usd) +
                             (whales ? ", whale trades >= " + liq::usd(whale_thr.default_usd) : std::string{}) +
                             " (Binance USDⓈ-M)";
                ctx.outbox().enqueue(hello, targets);
            }

            ctx.set_probe([&] {
                if (!market.writer_alive()) {
                    return vs::daemon::health::bad("the " + market.channel() + " channel has no live writer (vs-feed down?)");
                }
                return vs::daemon::health::good(std::to_string(liq_alerts.load()) + " liquidation and " +
                                                std::to_string(whale_alerts.load()) + " whale alerts");
            });

            // Commits an alert (or none) with state changes and publishes its record on the
            // channel; false when the outbox refused (nothing published).
            auto commit = [&](const std::vector<liq::alert>& alerts, std::vector<vs::outbox::state_change> changes,
                              std::vector<std::string>* ids) {
                std::vector<vs::outbox::alert> out;
                const auto now = vs::realtime_ns();
                for (const auto& a : alerts) {
                    out.push_back(outbox_alert(ctx, fbb, a, now));
                    changes.push_back({std::string{last_alert_prefix} + a.symbol, std::to_string(a.last_ms)});
                }
                try {
                    auto got = ctx.commit(out, targets, changes);
                    for (std::size_t i = 0; i < alerts.size(); ++i) {
                        publish_alert(ctx, alerts[i], out[i], now);
                    }
                    if (ids != nullptr) {
                        *ids = std::move(got);
                    }
                    return true;
                } catch (const std::exception&) {
                    // Counted, logged and held unhealthy by the skeleton until a commit succeeds;
                    // the caller keeps the window or alert and tries again.
                    return false;
                }
            };

            std::set<std::string> dirty;   // open windows whose last change is not committed yet
            auto on_record = [&](const vs::bus::record_view& r) {
                if (r.type == liquidation_type) {
                    ++seen_liq;
                    const auto* l = flatbuffers::GetRoot<vs::schema::Liquidation>(r.data.data());
                    const double ap = l->avg_price();
                    const double z = l->filled_qty();
                    if (!positive(ap) || !positive(z) || l->side() == vs::schema::Side::Unknown) {
                        ++bad;
                        return;
                    }
                    liq::event e;
                    e.k = liq::kind::liquidation;
                    e.symbol = l->symbol()->str();   // ring records carry the symbol in their table
                    e.side = std::string{liq::liquidated_position(l->side() == vs::schema::Side::Sell)};
                    e.price = ap;
                    e.qty = z;
                    e.notional = ap * z;
                    e.time_ms = l->event_time_ms();
                    if (e.notional < liq_thr.for_symbol(e.symbol)) {
                        ++below;
                        return;
                    }
                    const auto key = deb.add(e, vs::realtime_ms());
                    if (commit({}, {{std::string{window_prefix} + key, deb.open().at(key).encode()}}, nullptr)) {
                        dirty.erase(key);
                    } else {
                        dirty.insert(key);   // retried with the window's content at that time
                    }
                } else if (r.type == agg_trade_type && whales) {
                    ++seen_trades;
                    const auto* t = flatbuffers::GetRoot<vs::schema::AggTrade>(r.data.data());
                    if (!positive(t->price()) || !positive(t->qty())) {
                        ++bad;
                        return;
                    }
                    const double notional = t->price() * t->qty();
                    if (notional < whale_thr.for_symbol(t->symbol()->string_view())) {
                        return;
                    }
                    liq::alert a;
                    a.k = liq::kind::whale;
                    a.symbol = t->symbol()->str();
                    a.side = std::string{liq::taker_side(t->buyer_is_maker())};
                    a.count = 1;
                    a.total_usd = a.largest_usd = notional;
                    a.price = t->price();
                    a.qty = t->qty();
                    a.first_ms = a.last_ms = t->trade_time_ms() > 0 ? t->trade_time_ms() : t->event_time_ms();
                    std::vector<std::string> ids;
                    if (commit({a}, {}, &ids)) {
                        ++whale_alerts;
                    }
                }
            };

            ctx.ready();
            auto last_tick = std::chrono::steady_clock::now();
            bool liq_down = false, whale_down = false;
            std::uint64_t last_laps = 0;
            while (ctx.wait(100ms, &market)) {
                market.poll(on_record, [&] { spdlog::warn("{}: records were skipped (lapped or a new writer)", market.channel()); });
                if (market.laps() != last_laps) {
                    laps += market.laps() - last_laps;
                    last_laps = market.laps();
                }
                // Open windows whose last change failed to commit: their current content, until the
                // outbox takes it (a window that closed meanwhile was committed with its alert).
                for (auto it = dirty.begin(); it != dirty.end();) {
                    const auto open = deb.open().find(*it);
                    if (open == deb.open().end()) {
                        it = dirty.erase(it);
                    } else if (commit({}, {{std::string{window_prefix} + *it, open->second.encode()}}, nullptr)) {
                        it = dirty.erase(it);
                    } else {
                        break;
                    }
                }
                // Closed windows: their alert and the window's removal in one transaction.
                for (auto& [key, a] : deb.due(vs::realtime_ms())) {
                    std::vector<std::string> ids;
                    if (commit({a}, {{std::string{window_prefix} + key, std::nullopt}}, &ids)) {
                        dirty.erase(key);
                        ++liq_alerts;
                        liq_counted += a.count;
                        spdlog::info("{} {}: {} liquidation(s), {} total", a.symbol, a.side, a.count, liq::usd(a.total_usd));
                    } else {
                        liq::window w;
                        w.acc = a;
                        w.closes_at_ms = vs::realtime_ms() + 1000;   // try again in a second
                        deb.restore(key, std::move(w));
                    }
                }
                // Coverage: seconds without the liquidation stream (feed disconnected or gone)
                // and without the whale connections; Binance replays neither.
                const auto now = std::chrono::steady_clock::now();
                if (now - last_tick >= 1s) {
                    last_tick = now;
                    bool connected = false, whales_ok = true, have_whale_streams = false;
                    if (market.writer_alive()) {
                        market.table().latest(feed_status_type, "", [&](const vs::bus::record_view& st) {
                            const auto* fs = flatbuffers::GetRoot<vs::schema::FeedStatus>(st.data.data());
                            connected = fs->connected();
                            if (fs->streams() != nullptr) {
                                for (const auto* stream : *fs->streams()) {
                                    if (stream->name()->string_view().rfind("aggTrade", 0) == 0) {
                                        have_whale_streams = true;
                                        whales_ok = whales_ok && !stream->stale();
                                    }
                                }
                            }
                        });
                    }
                    if (!connected) {
                        ++down_s;
                    }
                    if (connected != !liq_down) {
                        liq_down = !connected;
                        if (liq_down) {
                            spdlog::warn("liquidation stream down: liquidations from now on are missed (Binance does not replay them)");
                        } else {
                            spdlog::info("liquidation stream back ({} s without it in all)", down_s.load());
                        }
                    }
                    const bool wd = whales && have_whale_streams && !whales_ok;
                    if (wd) {
                        ++whale_down_s;
                    }
                    if (wd != whale_down) {
                        whale_down = wd;
                        if (wd) {
                            spdlog::warn("a whale-trade connection is stale: its trades are missed");
                        } else {
                            spdlog::info("whale-trade connections fresh again");
                        }
                    }
                    ctx.gauge("open_windows", static_cast<double>(deb.open().size()));
                }
            }
            return 0;   // open windows stay in the state and continue after the restart
        });
}
