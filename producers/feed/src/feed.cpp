#include "feed.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <flatbuffers/flatbuffers.h>
#include <spdlog/spdlog.h>

#include "exchange_universe.hpp"
#include "recorder.hpp"
#include "schemas/common_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/universe_generated.h"
#include "status.hpp"
#include "symbol_health.hpp"
#include "vs/bus/channel.hpp"
#include "vs/bus/records.hpp"
#include "vs/common/cli.hpp"
#include "vs/common/clock.hpp"
#include "vs/common/redact.hpp"
#include "vs/common/shutdown.hpp"
#include "vs/daemon/daemon.hpp"
#include "vs/common/version.hpp"
#include "vs/feed/parser.hpp"
#include "vs/net/tls.hpp"
#include "ws_connection.hpp"

namespace vs::feed {

namespace {

namespace asio = boost::asio;
using vs::schema::RecordType;

constexpr std::int64_t ns_per_ms = 1'000'000;
constexpr std::int64_t ns_per_s = 1'000'000'000;
/// Tick of the I/O thread: the skeleton's service (heartbeat: readers want one every 250 ms;
/// process status, watchdog), freshness, feed status, reconnect and renewal timing.
constexpr auto tick_period = std::chrono::milliseconds{100};
/// A FeedStatus record at least this often, and on every state change.
constexpr std::int64_t status_period_ns = ns_per_s;
/// How long a failed renewal waits before the next one.
constexpr std::int64_t renew_retry_ns = 30 * ns_per_s;

/// Logs the first `burst` occurrences, then every `every`-th: bad input must be visible
/// without letting a broken exchange fill the journal.
bool should_log(std::uint64_t count, std::uint64_t burst = 10, std::uint64_t every = 1000) noexcept
{
    return count <= burst || count % every == 0;
}

/// The same for a count that moved from `before` to `after` at once (one frame adds several
/// rejected rows): logs when the burst is not used up or a multiple of `every` was crossed.
bool should_log_range(std::uint64_t before, std::uint64_t after, std::uint64_t burst = 10,
                      std::uint64_t every = 1000) noexcept
{
    return before < burst || after / every != before / every;
}

/// Names a FeedStatus lists of its invalid and delisted symbols (the counts are whole).
constexpr std::size_t max_listed_symbols = 16;

/// The combined-stream envelope starts with {"stream":"<name>" on Binance and vs-replay;
/// this finds the name without a full parse (used for the renewal connection only).
std::string_view envelope_stream(std::string_view frame) noexcept
{
    constexpr std::string_view key = "\"stream\"";
    const auto head = frame.substr(0, 256);
    auto at = head.find(key);
    if (at == std::string_view::npos) {
        return {};
    }
    at = head.find('"', at + key.size());
    if (at == std::string_view::npos) {
        return {};
    }
    const auto end = head.find('"', at + 1);
    return end == std::string_view::npos ? std::string_view{} : head.substr(at + 1, end - at - 1);
}

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace

class feed::daemon {
public:
    daemon(const feed_config& config, vs::daemon::context& ctx)
        : config_(config),
          endpoint_(make_endpoint_or_throw(config)),
          tick_(io_),
          ctx_(ctx),
          writer_(ctx.writer()),
          parser_(parser_options{config.max_frame_bytes, vs::bus::max_symbol_bytes}),
          monitor_(split_streams(config.streams), config.thresholds, vs::monotonic_ns()),
          backoff_(config.backoff),
          started_ns_(vs::realtime_ns()),
          health_(config.invalid_after.count() * ns_per_s)
    {
        if (endpoint_.tls) {
            tls_ = vs::net::make_client_context(config.ca_file);
        }
        // Issue 19: a symbol whose mark price rows stay invalid is listed, marked, and served as
        // 503 by vs-api instead of its old price.
        parser_.on_rejected_row([this](const rejected_row& r) {
            if (r.type == static_cast<vs::bus::record_type>(RecordType::MarkPrice)) {
                health_.on_rejected(r.symbol, r.error, vs::realtime_ns());
            }
        });
        if (!config.record_file.empty()) {
            recorder_ = std::make_unique<frame_recorder>(config.record_file);
        }
        conn_options_.max_frame_bytes = config.max_frame_bytes;
        conn_options_.user_agent = std::string{"vs-feed/"} + VS_VERSION;
        // Shown in logs, the FeedStatus (snapshots, vs-health, /funding/health): an apiKey in
        // the URL's query, or any other secret, never is (issue 19).
        url_ = vs::redact::apply(endpoint_.url());
        if (config.klines && config.rest) {
            std::string error;
            auto base = make_endpoint(config.ws_url, "", error);
            if (!base) {
                throw std::invalid_argument(error);
            }
            klines_ = std::make_unique<stream_group>(
                io_, tls_.get(), *base, conn_options_, config.backoff, config.kline_group,
                [this](std::string_view frame, std::int64_t recv_ns) { process_group(frame, recv_ns); });
        }
        if (config.trade_symbols != "off" && !config.trade_symbols.empty()) {
            std::string error;
            auto base = make_endpoint(config.ws_url, "", error);
            if (!base) {
                throw std::invalid_argument(error);
            }
            trades_ = std::make_unique<stream_group>(
                io_, tls_.get(), *base, conn_options_, config.backoff, config.trade_group,
                [this](std::string_view frame, std::int64_t recv_ns) { process_group(frame, recv_ns); });
            if (config.trade_symbols != "universe") {
                trades_->set_symbols(vs::cli::split_list(config.trade_symbols));
            }
        }
        // This process's status goes out before anything is restored: a FeedStatus left in a
        // surviving table describes the process that wrote it (healthy, connected) and must
        // not be what consumers see next to the restored prices.
        publish_status(vs::monotonic_ns(), vs::realtime_ns());
    }

    int run()
    {
        // The skeleton has restored the snapshot (without FeedStatus records: they describe
        // the process that saved them) after the constructor published this one's.
        publish_status(vs::monotonic_ns(), vs::realtime_ns());
        count_restored_symbols();
        // The watchdog is petted only while prices are fresh: a feed that is connected but
        // silent gets restarted by systemd rather than serving stale prices as live.
        ctx_.set_probe([this] {
            if (monitor_.price_streams_fresh()) {
                return vs::daemon::health::good(fmt::format("{} symbols", symbols_.size()));
            }
            return vs::daemon::health::bad(reason(vs::monotonic_ns()));
        });
        ctx_.gauge("symbols", static_cast<double>(symbols_.size()));
        next_attempt_mono_ = vs::monotonic_ns();
        if (config_.rest) {
            universe_ = std::make_unique<universe_refresher>(
                io_, *config_.rest, config_.universe, [this](const universe_update& u) { on_universe(u); },
                [this](const std::string& symbol, const std::vector<rest_kline>& rows, std::int64_t at_ms) {
                    on_rest_klines(symbol, rows, at_ms);
                });
            universe_->on_funding([this](const std::vector<std::pair<std::string, std::uint8_t>>& t) {
                on_funding_intervals(t);
            });
            universe_->start();
        }
        spdlog::info("vs-feed {} publishing to {} (channel '{}'), streams {}", VS_VERSION, writer_.path(),
                     config_.channel, config_.streams);
        arm_tick();
        io_.run();
        return 0;
    }

private:
    static ws_endpoint make_endpoint_or_throw(const feed_config& c)
    {
        std::string error;
        auto ep = make_endpoint(c.ws_url, c.streams, error);
        if (!ep) {
            throw std::invalid_argument(error);
        }
        return *ep;
    }

    // --- start and stop -----------------------------------------------------------------

    void count_restored_symbols()
    {
        writer_.for_each_latest([&](const vs::bus::record_view& r) {
            if (r.type == static_cast<vs::bus::record_type>(RecordType::MarkPrice) &&
                vs::bus::verify_record(r.type, r.data)) {
                const auto* mp = vs::bus::record_as<vs::schema::MarkPrice>(r.data);
                if (mp->delisted()) {
                    delisted_.emplace(r.symbol);
                } else if (mp->market() != vs::schema::MarketType::CoinM) {
                    symbols_.emplace(r.symbol);
                }
            }
        });
        writer_.for_each_latest([&](const vs::bus::record_view& r) {
            if (r.type == static_cast<vs::bus::record_type>(RecordType::Kline) &&
                vs::bus::verify_record(r.type, r.data)) {
                const auto* k = vs::bus::record_as<vs::schema::Kline>(r.data);
                note_kline(k->symbol()->string_view(), k->open_time_ms(), k->closed());
            }
        });
        spdlog::info("{} symbols with a mark price, {} with klines in the table at start", symbols_.size(),
                     klines_known_.size());
    }

    void begin_stop()
    {
        stopping_ = true;
        // The skeleton's deadline, measured from the signal (steady_clock is CLOCK_MONOTONIC).
        stop_deadline_mono_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  ctx_.drain_deadline().time_since_epoch()).count();
        spdlog::info("stopping (signal {}): closing the connection", vs::shutdown::signal_number());
        for (auto* c : {&active_, &candidate_}) {
            if (*c) {
                closing_.push_back(*c);
                (*c)->close();
                c->reset();
            }
        }
        active_open_ = false;
        monitor_.on_connection_closed();
        if (klines_) {
            klines_->close_all();
        }
        if (trades_) {
            trades_->close_all();
        }
    }

    void finish_stop()
    {
        if (universe_) {
            universe_->stop();
        }
        publish_status(vs::monotonic_ns(), vs::realtime_ns());
        if (recorder_) {
            recorder_->flush();
        }
        spdlog::info("stopped: {} messages received", messages_received_);
        tick_.cancel();
        io_.stop();
    }

    // --- the exchange's symbol set ---------------------------------------------------------

    /// A new set of trading USDT perpetuals (exchange_universe.hpp), on the I/O thread: the
    /// one place that learns of listings and delistings.
    void on_universe(const universe_update& u)
    {
        update_delisted(u);
        trading_ = u.symbols;
        ctx_.gauge("trading", static_cast<double>(trading_.size()));
        for (const auto& s : u.removed) {
            spdlog::info("{} is no longer a trading USDT perpetual", s);
        }
        if (!u.first) {
            for (const auto& s : u.added) {
                spdlog::info("{} is a new trading USDT perpetual", s);
            }
        }
        if (klines_) {
            klines_->set_symbols(trading_);
        }
    }

    /// A new funding interval table (REST fundingInfo + exchangeInfo, issue 18), on the I/O
    /// thread: every MarkPrice built from now on carries its symbol's interval. Built here
    /// every few minutes at most (only when it changed); the hot path only looks it up.
    void on_funding_intervals(const std::vector<std::pair<std::string, std::uint8_t>>& table)
    {
        auto map = std::make_shared<funding_interval_map>();
        map->reserve(table.size());
        std::size_t adjusted = 0;
        for (const auto& [symbol, hours] : table) {
            map->emplace(symbol, hours);
            adjusted += hours != default_funding_interval_hours;
        }
        spdlog::info("funding intervals: {} symbols ({} not every {} h) on MarkPrice records", map->size(), adjusted,
                     default_funding_interval_hours);
        parser_.set_funding_intervals(std::move(map));
    }

    // --- whale trades: the aggTrade group over the liquid universe ------------------------------

    /// Every second: the members of vs-oi's LiquidUniverse become the group's symbols (kept
    /// while the `oi` channel is absent or empty: a stopped vs-oi is no reason to drop them).
    void follow_trade_universe(std::int64_t now_mono)
    {
        if (config_.trade_symbols != "universe" || now_mono - last_trade_universe_mono_ < ns_per_s) {
            return;
        }
        last_trade_universe_mono_ = now_mono;
        if (!trade_universe_) {
            trade_universe_.emplace(ctx_.follow(config_.universe_channel));
        }
        if (!trade_universe_->attached()) {
            return;
        }
        std::vector<std::string> members;
        trade_universe_->table().latest(static_cast<vs::bus::record_type>(RecordType::LiquidUniverse), "",
                                        [&](const vs::bus::record_view& r) {
                                            const auto* u = vs::bus::record_as<vs::schema::LiquidUniverse>(r.data);
                                            if (u != nullptr && u->symbols() != nullptr) {
                                                for (const auto* sym : *u->symbols()) {
                                                    members.push_back(sym->str());
                                                }
                                            }
                                        });
        std::sort(members.begin(), members.end());
        if (!members.empty() && members != trade_members_) {
            spdlog::info("aggTrade: {} symbols of the liquid universe (were {})", members.size(), trade_members_.size());
            trade_members_ = std::move(members);
            trades_->set_symbols(trade_members_);
        }
    }

    // --- symbols: invalid values and delistings (issue 19) --------------------------------

    /// Marks symbols invalid for longer than the limit on their MarkPrice records.
    void list_invalid(std::int64_t now_real)
    {
        const auto fresh = health_.newly_listed(now_real);
        if (fresh.empty()) {
            return;
        }
        for (const auto& s : fresh) {
            const auto* st = health_.find(s);
            spdlog::warn("{}: invalid exchange values for {:.0f} s ({}): marked invalid; vs-api answers 503 for it",
                         s, static_cast<double>(now_real - st->since_ns) / ns_per_s, st->reason);
        }
        mark_symbols(fresh, false);
        state_changed_ = true;
    }

    /// Every USDⓈ-M symbol with a mark price that exchangeInfo no longer lists as TRADING is
    /// delisted: marked on its MarkPrice record, out of the symbol count, its rows dropped;
    /// one that trades again is relisted (its next row replaces the marked record).
    void update_delisted(const universe_update& u)
    {
        if (u.statuses.empty()) {
            return;   // an exchangeInfo this build could not read: nothing is judged by it
        }
        const auto status_of = [&](const std::string& s) -> const std::string* {
            const auto it = std::lower_bound(u.statuses.begin(), u.statuses.end(), s,
                                             [](const auto& e, const std::string& k) { return e.first < k; });
            return it != u.statuses.end() && it->first == s ? &it->second : nullptr;
        };
        std::vector<std::string> gone;
        for (const auto& s : symbols_) {
            const auto* st = status_of(s);
            if (st == nullptr || *st != "TRADING") {
                gone.push_back(s);
            }
        }
        std::sort(gone.begin(), gone.end());
        for (const auto& s : gone) {
            const auto* st = status_of(s);
            delisted_reason_[s] = st == nullptr ? std::string{"absent from exchangeInfo"}
                                                : "status " + *st + " in exchangeInfo";
            spdlog::warn("{} delisted ({}): marked on the bus, out of the symbol count; vs-api answers 404 for it", s,
                         delisted_reason_[s]);
            symbols_.erase(s);
            health_.forget(s);
            delisted_.emplace(s);
        }
        mark_symbols(gone, true);
        std::vector<std::string> back;
        for (const auto& s : delisted_) {
            const auto* st = status_of(s);
            if (st != nullptr && *st == "TRADING") {
                back.push_back(s);
            }
        }
        for (const auto& s : back) {
            spdlog::info("{} trades again: relisted", s);
            delisted_.erase(s);
            delisted_reason_.erase(s);
        }
        if (!gone.empty() || !back.empty()) {
            state_changed_ = true;
        }
    }

    /// Republishes the MarkPrice records of `symbols` (sorted) with the mark: invalid since
    /// the tracker's time, or delisted; the last values and their receive time are kept.
    void mark_symbols(const std::vector<std::string>& symbols, bool delisted)
    {
        if (symbols.empty()) {
            return;
        }
        constexpr auto mark_type = static_cast<vs::bus::record_type>(RecordType::MarkPrice);
        struct marked {
            std::string symbol;
            std::vector<std::uint8_t> bytes;
        };
        std::vector<marked> out;
        flatbuffers::FlatBufferBuilder fbb{512};
        writer_.for_each_latest([&](const vs::bus::record_view& r) {
            if (r.type != mark_type || !std::binary_search(symbols.begin(), symbols.end(), r.symbol) ||
                !vs::bus::verify_record(r.type, r.data)) {
                return;
            }
            const auto* m = vs::bus::record_as<vs::schema::MarkPrice>(r.data);
            const std::string sym{r.symbol};
            const auto* st = delisted ? nullptr : health_.find(sym);
            const std::string reason = delisted ? delisted_reason_[sym] : st != nullptr ? st->reason : "";
            fbb.Clear();
            fbb.Finish(vs::schema::CreateMarkPrice(
                fbb, fbb.CreateString(sym), m->event_time_ms(), m->recv_time_ns(), m->market(), m->mark_price(),
                m->index_price(), m->estimated_settle_price(), m->funding_rate(), m->next_funding_time_ms(),
                m->funding_interval_hours(), delisted ? m->invalid_since_ns() : (st != nullptr ? st->since_ns : 0),
                delisted, fbb.CreateString(reason)));
            out.push_back({sym, {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()}});
        });
        const auto now = vs::realtime_ns();
        for (const auto& m : out) {
            const auto st = writer_.publish(mark_type, m.symbol,
                                            {reinterpret_cast<const std::byte*>(m.bytes.data()), m.bytes.size()},
                                            now, vs::bus::to_both);
            if (st != vs::bus::publish_status::ok && should_log(++publish_failures_)) {
                spdlog::error("cannot mark {}: status {}", m.symbol, static_cast<int>(st));
            }
        }
        writer_.notify();
    }

    // --- klines: the group's frames, the previous closed candle, the REST bootstrap ------------

    struct kline_known {
        std::int64_t newest_open_ms = 0;        ///< open time of the newest candle under the symbol key
        std::int64_t prev_closed_open_ms = 0;   ///< open time of the closed candle under "<S>@prev"
        std::int64_t bootstrap_hour_ms = 0;     ///< hour for which REST was asked (0: none pending)
        std::int64_t retry_after_ms = 0;
    };

    kline_known& known(std::string_view symbol)
    {
        auto it = klines_known_.find(symbol);
        if (it == klines_known_.end()) {
            it = klines_known_.emplace(std::string{symbol}, kline_known{}).first;
        }
        return it->second;
    }

    void note_kline(std::string_view symbol, std::int64_t open_ms, bool closed)
    {
        auto& k = known(symbol);
        k.newest_open_ms = std::max(k.newest_open_ms, open_ms);
        if (closed) {
            k.prev_closed_open_ms = std::max(k.prev_closed_open_ms, open_ms);
        }
    }

    static std::string prev_key(std::string_view symbol)
    {
        std::string key{symbol};
        key += kline_prev_key_suffix;
        return key;
    }

    /// Frames of the kline group: parsed and published like the main connection's, without
    /// touching its freshness (the group keeps its own per connection).
    void process_group(std::string_view frame, std::int64_t recv_ns)
    {
        ++messages_received_;   // every frame of every connection, as the record file has them
        if (recorder_) {
            recorder_->write(recv_ns, frame);
        }
        const auto result =
            parser_.parse_in_place(frame, recv_ns, [&](const parsed_record& r) { publish(r, recv_ns); });
        if (result.kind == frame_kind::exchange_error && should_log(++exchange_errors_)) {
            spdlog::warn("kline connection: exchange error frame: {}", frame.substr(0, 300));
        } else if (result.kind == frame_kind::rejected && should_log(parser_.counters().frames_rejected)) {
            spdlog::warn("kline connection: rejected a frame of {} bytes: {}", frame.size(),
                         result.error != nullptr ? result.error : "?");
        }
        writer_.notify();
    }

    /// A kline row was published under its symbol: a closed one is also kept under
    /// "<S>@prev" (table only; the ring has it already), so the previous hour stays readable
    /// after the next hour's first push replaced the symbol's own entry.
    void after_kline(const parsed_record& r, std::int64_t recv_ns) noexcept
    {
        const auto* k = vs::bus::record_as<vs::schema::Kline>(r.bytes);
        if (k == nullptr) {
            return;
        }
        try {
            note_kline(r.symbol, k->open_time_ms(), k->closed());
            if (k->closed()) {
                const auto st = writer_.publish(r.type, prev_key(r.symbol), r.bytes, recv_ns, vs::bus::to_table);
                if (st != vs::bus::publish_status::ok && should_log(++publish_failures_)) {
                    spdlog::error("cannot keep the closed kline of {}: status {}", r.symbol, static_cast<int>(st));
                }
            }
        } catch (...) {
            // Out of memory for one more symbol: the bootstrap will ask REST for it.
        }
    }

    /// Every second: symbols whose previous hour's closed candle is missing `grace` after the
    /// hour began (start, a new listing, a stream down across the hour) are asked of REST,
    /// once per hour, paced by the refresher.
    void schedule_bootstrap(std::int64_t now_real_ns)
    {
        if (!universe_ || !klines_ || trading_.empty()) {
            return;
        }
        constexpr std::int64_t hour_ms = 3'600'000;
        const auto now_ms = now_real_ns / ns_per_ms;
        const auto hour = now_ms / hour_ms * hour_ms;
        if (now_ms - hour < std::chrono::duration_cast<std::chrono::milliseconds>(config_.kline_bootstrap_grace).count()) {
            return;
        }
        std::vector<std::string> ask;
        for (const auto& s : trading_) {
            auto& k = known(s);
            if (k.prev_closed_open_ms >= hour - hour_ms || k.bootstrap_hour_ms == hour || now_ms < k.retry_after_ms) {
                continue;
            }
            k.bootstrap_hour_ms = hour;
            ask.push_back(s);
        }
        if (!ask.empty()) {
            spdlog::info("klines: {} symbols lack the closed {} candle; asking REST ({:.0f}/s)", ask.size(),
                         vs::utc_iso8601((hour - hour_ms) * ns_per_ms), config_.universe.klines_per_second);
            universe_->request_klines(ask);
        }
    }

    void on_rest_klines(const std::string& symbol, const std::vector<rest_kline>& rows, std::int64_t at_ms)
    {
        auto& k = known(symbol);
        if (rows.empty()) {
            k.bootstrap_hour_ms = 0;
            k.retry_after_ms = at_ms + 60'000;
            return;
        }
        const auto recv_ns = vs::realtime_ns();
        for (const auto& row : rows) {
            const bool closed = row.close_ms < at_ms;
            const bool newer_prev = closed && row.open_ms > k.prev_closed_open_ms;
            const bool newer = row.open_ms > k.newest_open_ms || (closed && row.open_ms == k.newest_open_ms && newer_prev);
            if (!newer_prev && !newer) {
                continue;   // the stream already brought this candle (or a newer one)
            }
            kline_fbb_.Clear();
            const auto rec = vs::schema::CreateKlineDirect(
                kline_fbb_, symbol.c_str(), at_ms, recv_ns, vs::schema::MarketType::UsdM,
                config_.universe.kline_interval.c_str(), row.open_ms, row.close_ms, row.open, row.high, row.low,
                row.close, row.volume, row.quote_volume, row.trades, row.taker_buy_volume,
                row.taker_buy_quote_volume, closed);
            kline_fbb_.Finish(rec);
            const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(kline_fbb_.GetBufferPointer()),
                                                   kline_fbb_.GetSize()};
            const auto type = static_cast<vs::bus::record_type>(RecordType::Kline);
            // The ring always (consumers follow it); the symbol's own entry only when newer.
            writer_.publish(type, symbol, bytes, recv_ns, newer ? vs::bus::to_both : vs::bus::to_ring);
            if (newer_prev) {
                writer_.publish(type, prev_key(symbol), bytes, recv_ns, vs::bus::to_table);
            }
            note_kline(symbol, row.open_ms, closed);
            ++rest_klines_published_;
        }
        writer_.notify();
    }

    // --- connections --------------------------------------------------------------------

    std::shared_ptr<ws_connection> connect(std::int64_t now_mono)
    {
        const std::uint64_t id = ++next_connection_id_;
        backoff_.on_attempt(now_mono);
        connection_events ev;
        ev.on_open = [this](std::uint64_t cid) { on_open(cid); };
        ev.on_frame = [this](std::uint64_t cid, std::string_view frame, std::int64_t recv_ns) {
            on_frame(cid, frame, recv_ns);
        };
        ev.on_oversized = [this](std::uint64_t cid, std::size_t bytes) { on_oversized(cid, bytes); };
        ev.on_closed = [this](std::uint64_t cid, const std::string& why) { on_closed(cid, why); };
        auto c = make_connection(io_, tls_.get(), endpoint_, conn_options_, std::move(ev), id);
        c->start();
        return c;
    }

    void on_open(std::uint64_t id)
    {
        const auto now_mono = vs::monotonic_ns();
        if (active_ && id == active_->id()) {
            active_open_ = true;
            active_opened_mono_ = now_mono;
            last_connected_ns_ = vs::realtime_ns();
            backoff_.on_connected(now_mono);
            monitor_.on_connection_open(now_mono);
            spdlog::info("connected to {}", url_);
            state_changed_ = true;
        } else if (candidate_ && id == candidate_->id()) {
            candidate_primed_.assign(monitor_.streams().size(), false);
            candidate_deadline_mono_ = now_mono + prime_timeout_ns();
            spdlog::info("renewal connection open; switching once it delivers every price stream");
        }
    }

    void on_frame(std::uint64_t id, std::string_view frame, std::int64_t recv_ns)
    {
        ++messages_received_;
        if (active_ && id == active_->id()) {
            process(frame, recv_ns);
        } else if (candidate_ && id == candidate_->id()) {
            if (candidate_delivers(frame)) {
                switch_to_candidate();
                process(frame, recv_ns);
            }
        }
        // Frames of a connection being closed are dropped: its replacement publishes.
    }

    void on_oversized(std::uint64_t id, std::size_t bytes)
    {
        ++messages_received_;
        if (!active_ || id != active_->id()) {
            return;
        }
        ++oversized_frames_;
        if (should_log(oversized_frames_)) {
            spdlog::warn("dropped an oversized frame of {} bytes (limit {}; {} so far)", bytes,
                         config_.max_frame_bytes, oversized_frames_);
        }
    }

    void on_closed(std::uint64_t id, const std::string& why)
    {
        std::erase_if(closing_, [id](const auto& c) { return c->id() == id; });
        if (active_ && id == active_->id()) {
            active_.reset();
            after_active_lost(why);
        } else if (candidate_ && id == candidate_->id()) {
            candidate_.reset();
            renew_retry_mono_ = vs::monotonic_ns() + renew_retry_ns;
            spdlog::warn("renewal connection ended before taking over: {}; keeping the current one", why);
        } else {
            spdlog::debug("connection {} closed: {}", id, why);
        }
    }

    /// Closes the active connection at once (stale streams) without waiting for its close
    /// handshake, and goes on as if it had been lost.
    void drop_active(const std::string& why)
    {
        if (!active_) {
            return;
        }
        closing_.push_back(active_);
        active_->close();
        active_.reset();
        after_active_lost(why);
    }

    void after_active_lost(const std::string& why)
    {
        const auto now_mono = vs::monotonic_ns();
        const bool was_open = active_open_;
        active_open_ = false;
        monitor_.on_connection_closed();
        state_changed_ = true;
        if (stopping_) {
            return;
        }
        if (candidate_ && candidate_->is_open()) {
            spdlog::warn("connection lost ({}); the renewal connection takes over", why);
            promote_candidate(now_mono);
            return;
        }
        last_error_ = why;
        ++reconnect_attempts_;
        next_attempt_mono_ = backoff_.next_attempt_at(now_mono);
        spdlog::warn("{} {}: {}; reconnecting in {:.1f} s (attempt {})", was_open ? "connection to" : "cannot connect to",
                     url_, why, static_cast<double>(next_attempt_mono_ - now_mono) / ns_per_s, reconnect_attempts_);
    }

    std::int64_t prime_timeout_ns() const noexcept
    {
        std::int64_t t = 0;
        for (const auto& s : monitor_.streams()) {
            t = std::max(t, s.stale_after_ns);
        }
        return std::max<std::int64_t>(2 * t, 10 * ns_per_s);
    }

    /// True once the renewal connection has delivered a frame of every price stream (or any
    /// data frame when no stream is a price stream): then it may take over without a gap.
    bool candidate_delivers(std::string_view frame)
    {
        const int idx = monitor_.match(envelope_stream(frame));
        const auto& streams = monitor_.streams();
        bool any_price = false;
        if (idx >= 0) {
            candidate_primed_[static_cast<std::size_t>(idx)] = true;
        }
        for (std::size_t i = 0; i < streams.size(); ++i) {
            if (streams[i].is_price_stream()) {
                any_price = true;
                if (!candidate_primed_[i]) {
                    return false;
                }
            }
        }
        return any_price || idx >= 0;
    }

    void switch_to_candidate()
    {
        auto old = active_;
        promote_candidate(vs::monotonic_ns());
        if (old) {
            closing_.push_back(old);
            old->close();
        }
        spdlog::info("connection renewed: the new connection delivers, the old one is closing");
    }

    void promote_candidate(std::int64_t now_mono)
    {
        active_ = std::move(candidate_);
        candidate_.reset();
        active_open_ = true;
        active_opened_mono_ = now_mono;
        last_connected_ns_ = vs::realtime_ns();
        monitor_.on_connection_open(now_mono);
        state_changed_ = true;
    }

    // --- the hot path: parse and publish ------------------------------------------------

    void process(std::string_view frame, std::int64_t recv_ns)
    {
        if (recorder_) {
            recorder_->write(recv_ns, frame);
        }
        // ws_connection leaves frame_padding_bytes readable after every frame: parsed in place.
        static_assert(frame_padding_bytes >= vs::feed::frame_padding);
        const auto result =
            parser_.parse_in_place(frame, recv_ns, [&](const parsed_record& r) { publish(r, recv_ns); });
        switch (result.kind) {
        case frame_kind::data: {
            const int idx = monitor_.match(result.stream);
            const bool useful = result.rows_accepted > 0 || result.rows_rejected == 0;
            if (useful) {
                monitor_.on_frame(idx >= 0 ? static_cast<std::size_t>(idx) : SIZE_MAX, recv_ns, vs::monotonic_ns());
            }
            if (result.rows_rejected > 0 &&
                should_log_range(parser_.counters().rows_rejected - result.rows_rejected,
                                 parser_.counters().rows_rejected)) {
                spdlog::warn("stream {}: {} rows rejected ({}); {} so far", result.stream, result.rows_rejected,
                             result.error != nullptr ? result.error : "?", parser_.counters().rows_rejected);
            }
            if (!ready_ && result.rows_accepted > 0) {
                ready_ = true;
                ctx_.ready();
                spdlog::info("first data received ({} rows from {}): ready", result.rows_accepted, result.stream);
            }
            break;
        }
        case frame_kind::subscription_reply:
            spdlog::debug("subscription reply: {}", frame.substr(0, 200));
            break;
        case frame_kind::exchange_error:
            if (should_log(++exchange_errors_)) {
                spdlog::warn("exchange error frame: {}", frame.substr(0, 300));
            }
            break;
        case frame_kind::rejected:
            if (should_log(parser_.counters().frames_rejected)) {
                spdlog::warn("rejected a frame of {} bytes: {} ({} so far)", frame.size(),
                             result.error != nullptr ? result.error : "?", parser_.counters().frames_rejected);
            }
            break;
        }
        writer_.notify();
    }

    void publish(const parsed_record& r, std::int64_t recv_ns) noexcept
    {
        // COIN-M rows share !ticker@arr since the CM/UM merge; this channel is USDⓈ-M.
        if (r.market == vs::schema::MarketType::CoinM) {
            ++coin_m_rows_;
            return;
        }
        // A delisted symbol keeps its marked record (a settling contract still pushes prices).
        if (!delisted_.empty() && r.type == static_cast<vs::bus::record_type>(RecordType::MarkPrice) &&
            delisted_.find(r.symbol) != delisted_.end()) {
            ++delisted_rows_;
            return;
        }
        const auto st = writer_.publish(r.type, r.symbol, r.bytes, recv_ns, vs::bus::to_both);
        if (st != vs::bus::publish_status::ok) {
            if (should_log(++publish_failures_)) {
                spdlog::error("cannot publish {} {}: status {} ({} so far)", vs::bus::record_type_name(r.type),
                              r.symbol, static_cast<int>(st), publish_failures_);
            }
        }
        if (r.type == static_cast<vs::bus::record_type>(RecordType::Kline)) {
            after_kline(r, recv_ns);
            return;
        }
        if (r.type == static_cast<vs::bus::record_type>(RecordType::MarkPrice) && health_.on_accepted(r.symbol)) {
            spdlog::info("{}: valid exchange values again", r.symbol);
            state_changed_ = true;
        }
        if (r.type == static_cast<vs::bus::record_type>(RecordType::MarkPrice) && symbols_.find(r.symbol) == symbols_.end()) {
            try {
                symbols_.emplace(r.symbol);
            } catch (...) {
                // Out of memory for one more symbol name: the count is informative only.
            }
        }
    }

    // --- the tick -------------------------------------------------------------------------

    void arm_tick()
    {
        tick_.expires_after(tick_period);
        tick_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) {
                on_tick();
            }
        });
    }

    void on_tick()
    {
        const auto now_mono = vs::monotonic_ns();
        const auto now_real = vs::realtime_ns();
        ctx_.service();   // heartbeat; process status, STATUS= and the watchdog at their interval

        if (!stopping_ && vs::shutdown::requested()) {
            begin_stop();
        }
        if (stopping_) {
            if ((closing_.empty() && (!klines_ || klines_->closing() == 0) && (!trades_ || trades_->closing() == 0)) ||
                now_mono >= stop_deadline_mono_) {
                finish_stop();
                return;
            }
            arm_tick();
            return;
        }

        check_freshness(now_mono);
        manage_connections(now_mono);
        if (health_.pending_count() > 0) {
            list_invalid(now_real);
        }
        if (trades_) {
            follow_trade_universe(now_mono);
            trades_->tick(now_mono);
        }
        if (klines_) {
            klines_->tick(now_mono);
            if (now_mono - last_bootstrap_check_mono_ >= ns_per_s) {
                last_bootstrap_check_mono_ = now_mono;
                schedule_bootstrap(now_real);
            }
        }

        if (state_changed_ || healthy() != last_healthy_ || now_mono - last_status_mono_ >= status_period_ns) {
            publish_status(now_mono, now_real);
        }
        if (recorder_ && now_mono - last_flush_mono_ >= ns_per_s) {
            last_flush_mono_ = now_mono;
            recorder_->flush();
        }
        arm_tick();
    }

    void check_freshness(std::int64_t now_mono)
    {
        const auto v = monitor_.evaluate(now_mono);
        const auto& streams = monitor_.streams();
        for (auto i : v.became_stale) {
            spdlog::warn("stream {} is stale: silent for {:.1f} s (threshold {} s)", streams[i].name,
                         static_cast<double>(monitor_.silence_ns(i, now_mono)) / ns_per_s,
                         streams[i].stale_after_ns / ns_per_s);
            state_changed_ = true;
        }
        for (auto i : v.became_fresh) {
            spdlog::info("stream {} is fresh again", streams[i].name);
            state_changed_ = true;
        }
        if (v.reconnect && active_open_) {
            const auto& s = streams[v.silent_stream];
            const auto why = fmt::format("stream {} silent for {:.0f} s on an open connection", s.name,
                                         static_cast<double>(monitor_.silence_ns(v.silent_stream, now_mono)) / ns_per_s);
            spdlog::warn("{}: replacing the connection", why);
            drop_active(why);
        }
    }

    void manage_connections(std::int64_t now_mono)
    {
        if (!active_ && next_attempt_mono_ != 0 && now_mono >= next_attempt_mono_) {
            next_attempt_mono_ = 0;
            spdlog::info("connecting to {}", url_);
            active_ = connect(now_mono);
            state_changed_ = true;
        }
        if (active_open_ && !candidate_ && now_mono >= renew_retry_mono_ &&
            now_mono - active_opened_mono_ >= std::chrono::duration_cast<std::chrono::nanoseconds>(config_.renew_after).count() &&
            backoff_.earliest_attempt_at(now_mono) <= now_mono) {
            spdlog::info("connection is {} s old: opening its replacement before the exchange's 24 h cut",
                         (now_mono - active_opened_mono_) / ns_per_s);
            candidate_primed_.assign(monitor_.streams().size(), false);
            candidate_deadline_mono_ = now_mono + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                      conn_options_.connect_timeout).count() + prime_timeout_ns();
            candidate_ = connect(now_mono);
        }
        if (candidate_ && now_mono >= candidate_deadline_mono_) {
            spdlog::warn("renewal connection did not deliver every price stream in time; dropping it");
            closing_.push_back(candidate_);
            auto c = std::move(candidate_);
            candidate_.reset();
            c->close();
            renew_retry_mono_ = now_mono + renew_retry_ns;
        }
    }

    // --- status and snapshots -------------------------------------------------------------

    bool healthy() const noexcept
    {
        return active_open_ && monitor_.price_streams_fresh() && monitor_.data_flowing();
    }

    std::string reason(std::int64_t now_mono) const
    {
        if (stopping_) {
            return "stopped";
        }
        if (!active_open_) {
            if (last_error_.empty()) {
                return fmt::format("connecting to {}", url_);
            }
            const auto wait = next_attempt_mono_ != 0 ? std::max<std::int64_t>(0, next_attempt_mono_ - now_mono) : 0;
            return fmt::format("disconnected: {}; reconnect attempt {} in {:.1f} s", last_error_, reconnect_attempts_,
                               static_cast<double>(wait) / ns_per_s);
        }
        const auto& streams = monitor_.streams();
        std::optional<std::size_t> worst;
        for (std::size_t i = 0; i < streams.size(); ++i) {
            if (streams[i].stale && (!worst || monitor_.silence_ns(i, now_mono) > monitor_.silence_ns(*worst, now_mono))) {
                worst = i;
            }
        }
        if (worst) {
            return fmt::format("stream {} silent for {:.0f} s", streams[*worst].name,
                               static_cast<double>(monitor_.silence_ns(*worst, now_mono)) / ns_per_s);
        }
        if (!monitor_.data_flowing()) {
            for (const auto& s : streams) {
                if (s.is_price_stream() && s.last_frame_ns == 0) {
                    return fmt::format("connected, no data yet from {}", s.name);
                }
            }
            return "connected, no data yet";
        }
        return {};
    }

    void publish_status(std::int64_t now_mono, std::int64_t now_real)
    {
        const bool is_healthy = healthy();
        const auto why = is_healthy ? std::string{} : reason(now_mono);
        status_fields f;
        f.now_ns = now_real;
        f.connected = active_open_;
        f.healthy = is_healthy;
        f.url = url_;
        f.reason = why;
        f.started_ns = started_ns_;
        f.last_connected_ns = last_connected_ns_;
        f.reconnect_attempts = reconnect_attempts_;
        f.messages_received = messages_received_;
        f.frames_rejected = parser_.counters().frames_rejected + oversized_frames_;
        f.rows_rejected = parser_.counters().rows_rejected;
        f.symbol_count = static_cast<std::uint32_t>(symbols_.size());
        const auto invalid = health_.listed(max_listed_symbols);
        f.invalid_symbols = &invalid;
        f.invalid_symbol_count = static_cast<std::uint32_t>(health_.listed_count());
        std::vector<std::string> delisted;
        for (auto it = delisted_.begin(); it != delisted_.end() && delisted.size() < max_listed_symbols; ++it) {
            delisted.push_back(*it);
        }
        std::sort(delisted.begin(), delisted.end());
        f.delisted_symbols = &delisted;
        f.delisted_symbol_count = static_cast<std::uint32_t>(delisted_.size());
        if (klines_ || trades_) {
            // The main connection's streams, then one entry per kline and aggTrade connection.
            status_streams_ = monitor_.streams();
            if (klines_) {
                klines_->append_status(status_streams_);
            }
            if (trades_) {
                trades_->append_status(status_streams_);
            }
            f.streams = &status_streams_;
        } else {
            f.streams = &monitor_.streams();
        }
        const auto bytes = build_status(status_fbb_, f);
        const auto st = writer_.publish(static_cast<vs::bus::record_type>(RecordType::FeedStatus), "", bytes,
                                        now_real, vs::bus::to_both);
        if (st != vs::bus::publish_status::ok && should_log(++publish_failures_)) {
            spdlog::error("cannot publish the feed status ({} bytes): status {}", bytes.size(), static_cast<int>(st));
        }
        writer_.notify();
        last_status_mono_ = now_mono;
        state_changed_ = false;
        // Health transitions are logged by the skeleton (from the probe), connection and
        // stream events where they happen: no third line for the same event here.
        last_healthy_ = is_healthy;
        // The same counters in the generic ProcessStatus (vs-health, /metrics).
        ctx_.gauge("symbols", static_cast<double>(f.symbol_count));
        ctx_.counter("messages_received").store(f.messages_received, std::memory_order_relaxed);
        ctx_.counter("frames_rejected").store(f.frames_rejected, std::memory_order_relaxed);
        ctx_.counter("rows_rejected").store(f.rows_rejected, std::memory_order_relaxed);
        ctx_.counter("reconnect_attempts").store(f.reconnect_attempts, std::memory_order_relaxed);
        ctx_.gauge("invalid_symbols", static_cast<double>(f.invalid_symbol_count));
        ctx_.gauge("delisted_symbols", static_cast<double>(f.delisted_symbol_count));
        if (klines_) {
            // Few names: ProcessStatus must fit the channel's 1 KiB slots (the rest is in
            // FeedStatus: one entry per kline connection).
            ctx_.gauge("kline_streams", static_cast<double>(klines_->stream_count()));
            ctx_.gauge("kline_conns_open", static_cast<double>(klines_->open_connections()));
            ctx_.counter("kline_reconnects").store(klines_->reconnects(), std::memory_order_relaxed);
            ctx_.counter("klines_rest").store(rest_klines_published_, std::memory_order_relaxed);
        }
        if (trades_) {
            ctx_.gauge("trade_streams", static_cast<double>(trades_->stream_count()));
        }
        if (universe_) {
            // REST reference data: failed or unusable exchangeInfo and fundingInfo replies and
            // skipped fundingInfo entries (the logs tell which). One name: with the kline and
            // trade metrics, a ProcessStatus with more no longer fits the 1 KiB slots.
            const auto& uc = universe_->counters();
            ctx_.counter("exchinfo_failures").store(uc.refresh_failures.load() + uc.funding_failures.load() +
                                                        uc.funding_bad_entries.load(),
                                                    std::memory_order_relaxed);
        }
    }

    // Declared first so it is destroyed last: pending handlers (and the connections they
    // keep alive) go before anything they point to.
    asio::io_context io_;
    feed_config config_;
    ws_endpoint endpoint_;
    std::string url_;
    asio::steady_timer tick_;
    std::unique_ptr<asio::ssl::context> tls_;
    connection_options conn_options_;
    vs::daemon::context& ctx_;
    vs::bus::writer& writer_;
    frame_parser parser_;
    stream_monitor monitor_;
    backoff backoff_;
    std::unique_ptr<frame_recorder> recorder_;
    std::unique_ptr<universe_refresher> universe_;
    std::unique_ptr<stream_group> klines_;
    std::unique_ptr<stream_group> trades_;
    std::optional<vs::daemon::follower> trade_universe_;   ///< `oi` channel (trade_symbols "universe")
    std::vector<std::string> trade_members_;
    std::int64_t last_trade_universe_mono_ = 0;
    std::unordered_map<std::string, kline_known, string_hash, std::equal_to<>> klines_known_;
    flatbuffers::FlatBufferBuilder kline_fbb_{512};
    std::vector<stream_state> status_streams_;
    std::int64_t last_bootstrap_check_mono_ = 0;
    std::uint64_t rest_klines_published_ = 0;
    std::vector<std::string> trading_;   ///< sorted; empty until the first exchangeInfo
    flatbuffers::FlatBufferBuilder status_fbb_{1024};

    std::shared_ptr<ws_connection> active_;
    std::shared_ptr<ws_connection> candidate_;
    std::vector<std::shared_ptr<ws_connection>> closing_;
    std::uint64_t next_connection_id_ = 0;
    bool active_open_ = false;
    std::int64_t active_opened_mono_ = 0;
    std::int64_t next_attempt_mono_ = 0;
    std::vector<bool> candidate_primed_;
    std::int64_t candidate_deadline_mono_ = 0;
    std::int64_t renew_retry_mono_ = 0;
    std::string last_error_;

    std::unordered_set<std::string, string_hash, std::equal_to<>> symbols_;
    std::int64_t started_ns_;
    symbol_health health_;
    std::unordered_set<std::string, string_hash, std::equal_to<>> delisted_;
    std::uint64_t delisted_rows_ = 0;
    std::map<std::string, std::string, std::less<>> delisted_reason_;
    std::int64_t last_connected_ns_ = 0;
    std::uint64_t reconnect_attempts_ = 0;
    std::uint64_t messages_received_ = 0;
    std::uint64_t oversized_frames_ = 0;
    std::uint64_t coin_m_rows_ = 0;
    std::uint64_t exchange_errors_ = 0;
    std::uint64_t publish_failures_ = 0;

    bool ready_ = false;
    bool stopping_ = false;
    std::int64_t stop_deadline_mono_ = 0;
    bool state_changed_ = true;
    bool last_healthy_ = false;
    std::int64_t last_status_mono_ = 0;
    std::int64_t last_flush_mono_ = 0;
};

feed::feed(const feed_config& config, vs::daemon::context& ctx) : impl_(std::make_unique<daemon>(config, ctx)) {}
feed::~feed() = default;
int feed::run() { return impl_->run(); }

}  // namespace vs::feed
