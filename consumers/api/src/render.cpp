#include "vs/api/render.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>

namespace vs::api {
namespace {

double seconds(std::int64_t ns) noexcept { return static_cast<double>(ns) * 1e-9; }

bool ends_with(std::string_view s, std::string_view suffix) noexcept
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

bool is_usd_m(schema::MarketType market, std::string_view symbol) noexcept
{
    if (market == schema::MarketType::UsdM) {
        return true;
    }
    if (market == schema::MarketType::CoinM) {
        return false;
    }
    if (ends_with(symbol, "USD_PERP")) {
        return false;
    }
    // COIN-M delivery contracts: <BASE>USD_<yymmdd>.
    const auto u = symbol.rfind("USD_");
    if (u != std::string_view::npos && symbol.size() == u + 4 + 6) {
        return !std::all_of(symbol.begin() + static_cast<std::ptrdiff_t>(u + 4), symbol.end(),
                            [](char c) { return c >= '0' && c <= '9'; });
    }
    return true;
}

namespace {

// Builds the members of one row in a stack buffer and hands them to the writer in one append
// (a 341-symbol batch writes 2,700 members).
class row_builder {
public:
    void lit(std::string_view s) noexcept
    {
        std::memcpy(p_, s.data(), s.size());
        p_ += s.size();
    }
    /// A bus symbol is at most 32 bytes (64 accepted here): at most 386 escaped bytes.
    void str(std::string_view s) { p_ = format_json_string(p_, s.substr(0, 64)); }
    void num(double d) noexcept { p_ = format_json_number(p_, d); }
    void secs(std::int64_t ns) noexcept { p_ = format_json_seconds(p_, ns); }
    void i64(std::int64_t v) noexcept { p_ = std::to_chars(p_, p_ + 24, v).ptr; }
    std::string_view view() const noexcept { return {buf_, static_cast<std::size_t>(p_ - buf_)}; }

private:
    char buf_[1024];
    char* p_ = buf_;
};

}  // namespace

void write_funding_members(json_writer& w, std::string_view symbol, const schema::MarkPrice& m,
                           std::int64_t publish_ns, std::int64_t now_ns)
{
    const auto upd = updated_ns(m.recv_time_ns(), publish_ns);
    row_builder r;
    r.lit(R"("symbol":)");
    r.str(symbol);
    r.lit(R"(,"markPrice":)");
    r.num(m.mark_price());
    r.lit(R"(,"fundingRate":)");
    r.num(m.funding_rate());
    r.lit(R"(,"nextFundingTime":)");
    r.i64(m.next_funding_time_ms());
    r.lit(R"(,"indexPrice":)");
    r.num(m.index_price());
    r.lit(R"(,"updatedAt":)");
    r.secs(upd);
    r.lit(R"(,"ageSeconds":)");
    r.secs(now_ns - upd);
    if (m.funding_interval_hours() != 0) {
        r.lit(R"(,"fundingIntervalHours":)");
        r.i64(m.funding_interval_hours());
    }
    w.raw_members(r.view());
}

void write_ticker_members(json_writer& w, std::string_view symbol, const schema::Ticker24h& t,
                          std::int64_t publish_ns, std::int64_t now_ns)
{
    const auto upd = updated_ns(t.recv_time_ns(), publish_ns);
    w.member("symbol", symbol);
    w.member("lastPrice", t.last_price());
    w.member("priceChange", t.price_change());
    w.member("priceChangePercent", t.price_change_percent());
    w.member("weightedAvgPrice", t.weighted_avg_price());
    w.member("openPrice", t.open_price());
    w.member("highPrice", t.high_price());
    w.member("lowPrice", t.low_price());
    w.member("volume", t.volume());
    w.member("quoteVolume", t.quote_volume());
    w.member("openTime", t.open_time_ms());
    w.member("closeTime", t.close_time_ms());
    w.member("count", t.trade_count());
    w.literal_key("updatedAt");
    w.seconds_value(upd);
    w.literal_key("ageSeconds");
    w.seconds_value(now_ns - upd);
}

void write_oi_members(json_writer& w, std::string_view symbol, const schema::OpenInterest& o,
                      std::int64_t publish_ns, std::int64_t now_ns)
{
    const auto upd = updated_ns(o.recv_time_ns(), publish_ns);
    w.member("symbol", symbol);
    w.member("openInterest", o.open_interest());
    w.member("markPrice", o.mark_price());
    w.member("openInterestUsd", o.open_interest_usd());
    w.member("time", o.event_time_ms());
    w.literal_key("updatedAt");
    w.seconds_value(upd);
    w.literal_key("ageSeconds");
    w.seconds_value(now_ns - upd);
}

void write_oi_symbol_members(json_writer& w, std::string_view symbol, const schema::OpenInterest& o,
                             std::int64_t publish_ns, std::int64_t now_ns)
{
    write_oi_members(w, symbol, o, publish_ns, now_ns);
    // The last alert per timeframe (vs-oi's durable state): null for a timeframe that never fired.
    w.literal_key("lastAlerts");
    w.begin_object();
    for (const std::string_view tf : {"5m", "15m", "1h"}) {
        const schema::OiLastAlert* found = nullptr;
        if (const auto* v = o.last_alerts(); v != nullptr) {
            for (const auto* a : *v) {
                if (a != nullptr && a->timeframe() != nullptr && a->timeframe()->string_view() == tf) {
                    found = a;
                }
            }
        }
        w.key(tf);
        if (found == nullptr) {
            w.null();
            continue;
        }
        w.begin_object();
        w.member("direction", found->direction() > 0 ? "UP" : "DOWN");
        w.member("pctChange", found->pct_change());
        w.member("time", found->time_ms());
        w.member("alertId", found->alert_id() != nullptr ? found->alert_id()->string_view() : std::string_view{});
        w.end_object();
    }
    w.end_object();
}

health_report write_health(json_writer& w, data_source& src, std::int64_t now_ns, std::int64_t started_ns,
                           double stale_seconds)
{
    health_report rep;
    const auto cs = src.status(channel_id::market);

    // Ages of every USDⓈ-M mark price in the table.
    std::size_t count = 0;
    std::int64_t oldest = std::numeric_limits<std::int64_t>::max();
    std::int64_t newest = std::numeric_limits<std::int64_t>::min();
    src.for_each_latest(channel_id::market, static_cast<bus::record_type>(schema::RecordType::MarkPrice),
                        [&](const bus::record_view& r) {
                            const auto* m = verified_as<schema::MarkPrice>(r.data);
                            if (m == nullptr || !is_usd_m(m->market(), r.symbol) || m->delisted()) {
                                return;   // a delisted symbol leaves symbolCount (issue 19)
                            }
                            const auto t = updated_ns(m->recv_time_ns(), r.publish_ns);
                            oldest = std::min(oldest, t);
                            newest = std::max(newest, t);
                            ++count;
                        });

    // The feed's own status record (symbol ""), copied out of the callback.
    std::string feed_bytes;
    std::int64_t feed_publish_ns = 0;
    src.latest(channel_id::market, static_cast<bus::record_type>(schema::RecordType::FeedStatus), "",
               [&](const bus::record_view& r) {
                   feed_bytes.assign(reinterpret_cast<const char*>(r.data.data()), r.data.size());
                   feed_publish_ns = r.publish_ns;
               });
    const auto* feed = verified_as<schema::FeedStatus>(
        std::span<const std::byte>{reinterpret_cast<const std::byte*>(feed_bytes.data()), feed_bytes.size()});

    const double newest_age = count > 0 ? age_seconds(now_ns, newest) : 0.0;
    // The rules, first failure wins.
    rep.healthy = false;
    if (!cs.attached) {
        rep.reason_static = "market channel not attached (is vs-feed running?)";
    } else if (!cs.writer_alive) {
        std::snprintf(rep.reason_buf, sizeof rep.reason_buf, "feed writer not alive (heartbeat age %.1f s)",
                      cs.heartbeat_age_ns < 0 ? -1.0 : seconds(cs.heartbeat_age_ns));
    } else if (feed == nullptr) {
        rep.reason_static = "no feed status record on the bus";
    } else if (!feed->connected()) {
        std::snprintf(rep.reason_buf, sizeof rep.reason_buf, "websocket disconnected%s%s",
                      feed->reason() != nullptr && feed->reason()->size() > 0 ? ": " : "",
                      feed->reason() != nullptr ? feed->reason()->c_str() : "");
    } else {
        if (feed->streams() != nullptr) {
            for (const auto* s : *feed->streams()) {
                if (s == nullptr || s->stale_after_ms() <= 0) {
                    continue;   // a stream that may be quiet (liquidations)
                }
                const auto silent_ns = s->last_frame_ns() > 0 ? now_ns - s->last_frame_ns() : -1;
                if (s->stale() || silent_ns < 0 || silent_ns > s->stale_after_ms() * 1'000'000) {
                    if (silent_ns < 0) {
                        std::snprintf(rep.reason_buf, sizeof rep.reason_buf, "stream %s never delivered data",
                                      s->name()->c_str());
                    } else {
                        std::snprintf(rep.reason_buf, sizeof rep.reason_buf, "stream %s silent for %.0f s",
                                      s->name()->c_str(), seconds(silent_ns));
                    }
                    break;
                }
            }
        }
        if (rep.reason_buf[0] != '\0') {
            // set above
        } else if (!feed->healthy()) {
            if (feed->reason() != nullptr && feed->reason()->size() > 0) {
                std::snprintf(rep.reason_buf, sizeof rep.reason_buf, "%s", feed->reason()->c_str());
            } else {
                rep.reason_static = "feed reports unhealthy";
            }
        } else if (count == 0) {
            rep.reason_static = "no mark prices on the bus";
        } else if (newest_age > stale_seconds) {
            std::snprintf(rep.reason_buf, sizeof rep.reason_buf, "newest mark price is %.0f s old (> %.0f s)",
                          newest_age, stale_seconds);
        } else {
            rep.healthy = true;
        }
    }

    w.begin_object();
    w.member("status", rep.healthy ? "healthy" : "unhealthy");
    w.member("websocketConnected", feed != nullptr && feed->connected());
    w.member("symbolCount", static_cast<std::uint64_t>(count));
    w.member("uptimeSeconds", age_seconds(now_ns, started_ns));
    w.key("lastConnectedTime");
    if (feed != nullptr && feed->last_connected_ns() > 0) {
        w.value(seconds(feed->last_connected_ns()));
    } else {
        w.null();
    }
    w.member("messagesReceived", feed != nullptr ? feed->messages_received() : std::uint64_t{0});
    w.member("reconnectAttempts", feed != nullptr ? feed->reconnect_attempts() : std::uint64_t{0});
    w.key("oldestDataAgeSeconds");
    count > 0 ? w.value(age_seconds(now_ns, oldest)) : w.null();
    w.key("newestDataAgeSeconds");
    count > 0 ? w.value(newest_age) : w.null();
    w.key("reason");
    rep.healthy ? w.null() : w.value(rep.reason());
    w.member("writerAlive", cs.writer_alive);
    w.member("writerGeneration", cs.generation);
    w.key("heartbeatAgeSeconds");
    cs.heartbeat_age_ns >= 0 ? w.value(seconds(cs.heartbeat_age_ns)) : w.null();
    w.member("feedHealthy", feed != nullptr && feed->healthy());
    w.key("feedUptimeSeconds");
    feed != nullptr && feed->started_ns() > 0 ? w.value(age_seconds(now_ns, feed->started_ns())) : w.null();
    w.key("feedStatusAgeSeconds");
    feed != nullptr ? w.value(age_seconds(now_ns, updated_ns(feed->recv_time_ns(), feed_publish_ns))) : w.null();
    w.member("staleThresholdSeconds", stale_seconds);
    // Issue 19: what vs-feed lists (a few names) and how many there are.
    const auto names = [&](const char* key, const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* v) {
        w.key(key);
        w.begin_array();
        if (v != nullptr) {
            for (const auto* s : *v) {
                if (s != nullptr) {
                    w.value(std::string_view{s->c_str(), s->size()});
                }
            }
        }
        w.end_array();
    };
    names("invalidSymbols", feed != nullptr ? feed->invalid_symbols() : nullptr);
    w.member("invalidSymbolCount", feed != nullptr ? static_cast<std::uint64_t>(feed->invalid_symbol_count()) : 0u);
    names("delistedSymbols", feed != nullptr ? feed->delisted_symbols() : nullptr);
    w.member("delistedSymbolCount", feed != nullptr ? static_cast<std::uint64_t>(feed->delisted_symbol_count()) : 0u);
    w.key("streams");
    w.begin_array();
    if (feed != nullptr && feed->streams() != nullptr) {
        for (const auto* s : *feed->streams()) {
            if (s == nullptr) {
                continue;
            }
            w.begin_object();
            w.member("name", std::string_view{s->name()->c_str(), s->name()->size()});
            const auto silent_ns = s->last_frame_ns() > 0 ? now_ns - s->last_frame_ns() : -1;
            const bool stale = s->stale_after_ms() > 0 &&
                               (s->stale() || silent_ns < 0 || silent_ns > s->stale_after_ms() * 1'000'000);
            w.member("stale", stale);
            w.key("lastFrameAgeSeconds");
            silent_ns >= 0 ? w.value(seconds(silent_ns)) : w.null();
            w.member("frames", s->frames());
            w.member("staleAfterSeconds", static_cast<double>(s->stale_after_ms()) / 1000.0);
            w.end_object();
        }
    }
    w.end_array();
    w.end_object();
    return rep;
}

}  // namespace vs::api
