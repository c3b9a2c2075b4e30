// vs-volume: hourly volume spikes from the kline streams on the bus, within seconds instead
// of the old five-minute REST scan (replaces hourly_volume_alert_dual_env.py). It follows the
// `market` channel's Kline records (vs-feed), judges them with the old rules (rules.hpp),
// commits each alert with its durable state (alerted hours, first-alert minutes, updates
// sent) in one outbox transaction, and publishes it as VolumeSpikeAlert on its channel
// `volume`. vs-deliver sends it to PROD, DEV and Telegram. README.md documents it.
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "alert_text.hpp"
#include "oi_baseline.hpp"
#include "rules.hpp"
#include "schemas/alerts_generated.h"
#include "schemas/common_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/open_interest_generated.h"
#include "vs/bus/records.hpp"
#include "vs/common/clock.hpp"
#include "vs/daemon/daemon.hpp"

namespace {

using vs::schema::RecordType;
namespace vol = vs::volume;

constexpr auto kline_type = static_cast<vs::bus::record_type>(RecordType::Kline);
constexpr auto mark_type = static_cast<vs::bus::record_type>(RecordType::MarkPrice);
constexpr auto oi_type = static_cast<vs::bus::record_type>(RecordType::OpenInterest);
constexpr auto alert_record_type = static_cast<vs::bus::record_type>(RecordType::VolumeSpikeAlert);
constexpr std::string_view state_prefix = "h/";

/// The wall clock, or for tests VS_VOLUME_TEST_CLOCK="<real ms>,<virtual ms>,<speed>": time
/// runs `speed` times as fast from <virtual ms> at the real moment <real ms> (the same value
/// across a restart keeps the clock continuous).
class volume_clock {
public:
    explicit volume_clock(const char* spec)
    {
        if (spec == nullptr || *spec == '\0') {
            return;
        }
        std::string_view s{spec};
        auto field = [&](auto& v) {
            const auto comma = s.find(',');
            const auto part = s.substr(0, comma);
            const auto r = std::from_chars(part.data(), part.data() + part.size(), v);
            s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
            return r.ec == std::errc{} && r.ptr == part.data() + part.size();
        };
        if (!field(real_) || !field(virtual_) || !field(speed_) || speed_ <= 0) {
            throw vs::cli::usage_error("VS_VOLUME_TEST_CLOCK: expected <real ms>,<virtual ms>,<speed>");
        }
        on_ = true;
        spdlog::warn("test clock: {} runs {}x from {}", vol::iso_utc(virtual_), speed_, vol::iso_utc(real_));
    }
    std::int64_t now_ms() const noexcept
    {
        const auto real = vs::realtime_ms();
        if (!on_) {
            return real;
        }
        return virtual_ + static_cast<std::int64_t>(static_cast<double>(real - real_) * speed_);
    }

private:
    bool on_ = false;
    std::int64_t real_ = 0, virtual_ = 0;
    double speed_ = 1;
};

std::optional<vol::candle> candle_of(const vs::bus::record_view& r, std::string& symbol)
{
    if (!vs::bus::verify_record(r.type, r.data)) {
        return std::nullopt;
    }
    const auto* k = vs::bus::record_as<vs::schema::Kline>(r.data);
    if (k->market() == vs::schema::MarketType::CoinM || k->interval() == nullptr || k->interval()->string_view() != "1h") {
        return std::nullopt;
    }
    vol::candle c;
    c.open_ms = k->open_time_ms();
    c.open = k->open();
    c.close = k->close();
    c.quote_volume = k->quote_volume();
    c.closed = k->closed();
    if (c.open_ms <= 0 || c.open_ms % vol::hour_ms != 0 || !std::isfinite(c.open) || !std::isfinite(c.close) ||
        !std::isfinite(c.quote_volume) || c.quote_volume < 0) {
        return std::nullopt;
    }
    symbol = k->symbol()->str();
    return c;
}

struct app {
    vs::daemon::context& ctx;
    vol::engine engine;
    vol::oi_baseline oi;
    volume_clock clock;
    vs::daemon::follower market;
    vs::daemon::follower oi_follower;
    flatbuffers::FlatBufferBuilder fbb{512};
    std::vector<vol::decision> pending;
    std::atomic<std::uint64_t>& klines = ctx.counter("klines");
    std::atomic<std::uint64_t>& bad_records = ctx.counter("bad_records");
    std::atomic<std::uint64_t>& spikes = ctx.counter("spikes");
    std::atomic<std::uint64_t>& updates = ctx.counter("updates");
    std::atomic<std::uint64_t>& half_updates = ctx.counter("half_updates");
    std::atomic<std::uint64_t>& full_updates = ctx.counter("full_updates");
    std::atomic<std::uint64_t>& oi_samples = ctx.counter("oi_samples");

    app(vs::daemon::context& c, vol::rule_config cfg, const std::string& market_channel, const std::string& oi_channel)
        : ctx(c),
          engine(cfg),
          clock(std::getenv("VS_VOLUME_TEST_CLOCK")),
          market(c.follow(market_channel)),
          oi_follower(c.follow(oi_channel))
    {
    }

    void restore_state()
    {
        std::size_t n = 0;
        ctx.outbox().state_for_each(ctx.program(), [&](std::string_view key, std::string_view value) {
            if (key.substr(0, state_prefix.size()) != state_prefix) {
                return;
            }
            const auto symbol = std::string{key.substr(state_prefix.size())};
            if (auto states = vol::decode_states(value)) {
                engine.restore(symbol, std::move(*states));
                ++n;
            } else {
                spdlog::error("unreadable state of {}: '{}' (ignored)", symbol, value);
            }
        });
        spdlog::info("restored the alerted hours of {} symbols", n);
    }

    void on_kline(const vs::bus::record_view& r, std::int64_t now)
    {
        std::string symbol;
        const auto c = candle_of(r, symbol);
        if (!c) {
            if (r.type == kline_type && (++bad_records <= 10 || bad_records % 1000 == 0)) {
                spdlog::warn("ignored a Kline record of '{}' (not a valid 1h USDⓈ-M candle; {} so far)", r.symbol,
                             bad_records.load());
            }
            return;
        }
        ++klines;
        engine.on_candle(symbol, *c, now, pending);
    }

    /// Every Kline of the market table (both keys: "<S>" the newest push, "<S>@prev" the
    /// previous hour's closed candle): at the first attach and whenever records were skipped.
    void read_market_table()
    {
        const auto now = clock.now_ms();
        std::size_t n = 0;
        market.table().for_each_latest(kline_type, [&](const vs::bus::record_view& r) {
            on_kline(r, now);
            ++n;
        });
        spdlog::info("read {} klines from the market table", n);
    }

    void poll(std::int64_t now)
    {
        market.poll([&](const vs::bus::record_view& r) {
            if (r.type == kline_type) {
                on_kline(r, now);
            }
        }, [&] { read_market_table(); });
        oi_follower.poll([&](const vs::bus::record_view& r) {
            if (r.type != oi_type || !vs::bus::verify_record(r.type, r.data)) {
                return;
            }
            const auto* o = vs::bus::record_as<vs::schema::OpenInterest>(r.data);
            const auto t = o->event_time_ms() > 0 ? o->event_time_ms() : o->recv_time_ns() / 1'000'000;
            oi.on_sample(o->symbol()->str(), t, o->open_interest());
            ++oi_samples;
        });
    }

    std::optional<double> funding_of(const std::string& symbol)
    {
        std::optional<double> out;
        if (!market.attached()) {
            return out;
        }
        market.table().latest(mark_type, symbol, [&](const vs::bus::record_view& r) {
            if (vs::bus::verify_record(r.type, r.data)) {
                const double f = vs::bus::record_as<vs::schema::MarkPrice>(r.data)->funding_rate();
                if (std::isfinite(f)) {
                    out = f;
                }
            }
        });
        return out;
    }

    /// The decisions of this round: alerts and the symbols' new state in one transaction,
    /// then the records on the channel.
    void flush()
    {
        if (pending.empty()) {
            return;
        }
        std::vector<vs::outbox::alert> alerts;
        std::set<std::string> touched;
        const auto now_ns = vs::realtime_ns();
        for (const auto& d : pending) {
            vol::enhanced_fields extra;
            extra.funding_rate = funding_of(d.symbol);
            extra.oi_change = oi.change(d.symbol, d.hour_ms);
            const auto text = vol::telegram_text(d);
            vs::outbox::alert a;
            a.kind = "volume";
            a.backend = vs::outbox::backend_call{"/api/volume-alerts/ingest", vol::payload_json(d, text, extra)};
            a.text = text;
            // The channel's record, built inside the commit once the alert's id is known; the
            // outbox keeps its bytes for vs-deliver's nats target.
            a.bus = ctx.alert_record(alert_record_type, d.symbol, [this, &d, now_ns, f = extra.funding_rate](std::string_view id) {
                const char* kind = d.type == vol::alert_type::spike         ? "spike"
                                   : d.type == vol::alert_type::half_update ? "half_update"
                                                                            : "full_update";
                fbb.Clear();
                const double pct = d.curr.open > 0 ? (d.curr.close - d.curr.open) / d.curr.open * 100.0 : NAN;
                fbb.Finish(vs::schema::CreateVolumeSpikeAlertDirect(
                    fbb, d.symbol.c_str(), d.detect_ms, now_ns, vs::schema::MarketType::UsdM, std::string{id}.c_str(),
                    kind, d.hour_ms, d.curr.quote_volume, d.prev_volume, d.ratio, pct, f.value_or(NAN),
                    d.curr.close > d.curr.open));
                return std::string{reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()};
            });
            alerts.push_back(std::move(a));
            touched.insert(d.symbol);
        }
        std::vector<vs::outbox::state_change> changes;
        for (const auto& s : touched) {
            const auto states = engine.states_of(s);
            changes.push_back({std::string{state_prefix} + s,
                               states.empty() ? std::nullopt : std::optional<std::string>{vol::encode_states(states)}});
        }
        const auto ids = ctx.commit(alerts, changes);   // throws on an LMDB failure
        for (std::size_t i = 0; i < pending.size(); ++i) {
            const auto& d = pending[i];
            const auto id = i < ids.size() ? ids[i] : std::string{};
            switch (d.type) {
            case vol::alert_type::spike: ++spikes; break;
            case vol::alert_type::half_update: ++half_updates; ++updates; break;
            case vol::alert_type::full_update: ++full_updates; ++updates; break;
            }
            spdlog::info("{} {} hour {}: {} ({:.2f}x prev {}) id {}", vol::to_string(d.type), d.symbol,
                         vol::iso_utc(d.hour_ms), vol::format_volume(d.curr.quote_volume), d.ratio,
                         vol::format_volume(d.prev_volume), id.empty() ? "-" : id);
            const auto& rec = alerts[i].bus->bytes;   // exactly what the outbox keeps
            const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(rec.data()), rec.size()};
            const auto st = ctx.writer().publish(alert_record_type, d.symbol, bytes, now_ns, vs::bus::to_both);
            if (st != vs::bus::publish_status::ok) {
                spdlog::error("cannot publish the VolumeSpikeAlert of {}: status {}", d.symbol, static_cast<int>(st));
            }
        }
        ctx.writer().notify();
        pending.clear();
    }

    int run()
    {
        restore_state();
        ctx.set_probe([this] {
            if (!market.writer_alive()) {
                return vs::daemon::health::bad("no live writer on the market channel (vs-feed down?)");
            }
            return vs::daemon::health::good(fmt::format("{} symbols watched", engine.symbols()));
        });
        std::int64_t last_gauges = 0;
        while (ctx.wait(std::chrono::milliseconds{100}, &market)) {
            const auto now = clock.now_ms();
            poll(now);
            engine.on_time(now, pending);
            flush();
            if (now - last_gauges >= 1000) {
                last_gauges = now;
                ctx.gauge("symbols_watched", static_cast<double>(engine.symbols()));
                ctx.gauge("without_previous", static_cast<double>(engine.symbols_without_previous(now)));
            }
        }
        return 0;
    }
};

}  // namespace

int main(int argc, char** argv)
{
    vs::daemon::spec s{"vs-volume",
                       "hourly volume spikes (quote volume >= 3x the previous hour and >= $3M) from the kline "
                       "streams on the bus, to PROD, DEV and Telegram through the outbox",
                       "vs-volume --bus-prefix volspike --state-dir /var/lib/volspike\n"
                       "  vs-volume --scan clock            # the old 5-minute cadence"};
    s.channel = "volume";
    s.record_types = vs::bus::record_type_list(RecordType::VolumeSpikeAlert);
    s.outbox = true;
    s.ring_bytes = 1u << 20;
    s.table_slots = 2048;
    return vs::daemon::main(s, argc, argv, [](vs::cli::parser& cli) {
        cli.option("volume-multiple", "X", "3", "spike when the hour's quote volume >= X times the previous hour's",
                   {"VS_VOLUME_MULTIPLE", "VOLUME_MULTIPLE"});
        cli.option("min-quote-volume", "USD", "3000000", "and the hour's quote volume >= this",
                   {"VS_VOLUME_MIN_QUOTE", "MIN_QUOTE_VOL"});
        cli.option("scan", "MODE", "continuous",
                   "continuous: alert on the first kline push that meets the rule; clock: the old scan at start "
                   "and every 5-minute mark",
                   {"VS_VOLUME_SCAN"});
        cli.option("full-grace-ms", "MS", "10000",
                   "continuous: the FULL_UPDATE waits this long after the hour for the closed candle");
        cli.option("market-channel", "NAME", "market", "channel of vs-feed's Kline and MarkPrice records");
        cli.option("oi-channel", "NAME", "oi", "channel of vs-oi's OpenInterest records (oiChange; optional)");
    }, [](vs::daemon::context& ctx) {
        const auto& cli = ctx.options();
        vol::rule_config cfg;
        cfg.volume_multiple = cli.get_double("volume-multiple", 1.0, 1e6);
        cfg.min_quote_volume = cli.get_double("min-quote-volume", 0.0, 1e15);
        const auto mode = cli.get("scan");
        if (mode == "continuous") {
            cfg.mode = vol::scan_mode::continuous;
        } else if (mode == "clock") {
            cfg.mode = vol::scan_mode::clock;
        } else {
            throw vs::cli::usage_error("--scan: continuous or clock, not '" + mode + "'");
        }
        cfg.full_grace_ms = cli.get_int("full-grace-ms", 0, 3'600'000);
        cfg.top_grace_ms = cfg.full_grace_ms;
        spdlog::info("rules: quote volume >= {}x the previous hour and >= {}; scan {}", cfg.volume_multiple,
                     vol::format_volume(cfg.min_quote_volume), mode);
        app a{ctx, cfg, cli.get("market-channel"), cli.get("oi-channel")};
        return a.run();
    });
}
