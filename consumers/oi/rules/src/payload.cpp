#include "vs/oi/payload.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "vs/api/json_writer.hpp"
#include "vs/oi/universe.hpp"

namespace vs::oi {
namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept
{
    const std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

std::tm utc_tm(std::int64_t seconds) noexcept
{
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    return tm;
}

}  // namespace

std::string utc_seconds(std::int64_t time_ms)
{
    const std::tm tm = utc_tm(floor_div(time_ms, 1000));
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string utc_isoformat(std::int64_t time_ms)
{
    const std::int64_t s = floor_div(time_ms, 1000);
    const std::int64_t ms = time_ms - s * 1000;
    const std::tm tm = utc_tm(s);
    char buf[48];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ms != 0) {
        n += static_cast<std::size_t>(std::snprintf(buf + n, sizeof buf - n, ".%03lld000", static_cast<long long>(ms)));
    }
    buf[n++] = 'Z';
    return std::string(buf, n);
}

std::string alert_json(const alert& a)
{
    std::string out;
    out.reserve(320);
    vs::api::json_writer w{out};
    w.begin_object();
    w.member("symbol", std::string_view{a.symbol});
    w.member("direction", to_string(a.dir));
    w.member("baseline", a.baseline);
    w.member("current", a.current);
    w.member("pctChange", a.pct_change);
    w.member("absChange", a.abs_change);
    w.member("timestamp", std::string_view{utc_seconds(a.time_ms)});
    w.member("source", "oi_realtime_poller");
    w.member("timeframe", std::string_view{a.timeframe_label});
    if (a.price_change) {
        w.member("priceChange", *a.price_change);
    }
    if (a.funding_rate) {
        w.member("fundingRate", *a.funding_rate);
    }
    w.end_object();
    return out;
}

void append_batch_row(std::string& out, std::string_view symbol, double oi, double mark)
{
    vs::api::json_writer w{out};
    w.begin_object();
    w.member("symbol", symbol);
    w.member("openInterest", oi);
    w.member("openInterestUsd", oi * mark);
    w.member("markPrice", mark);
    w.end_object();
}

std::vector<std::string> batch_bodies(const std::vector<batch_row>& rows, std::int64_t time_ms, std::size_t chunk)
{
    std::vector<std::string> bodies;
    chunk = std::max<std::size_t>(chunk, 1);
    const std::string stamp = utc_seconds(time_ms);
    for (std::size_t i = 0; i < rows.size(); i += chunk) {
        const std::size_t end = std::min(rows.size(), i + chunk);
        std::string out;
        out.reserve(32 + (end - i) * 112);
        out += "{\"data\":[";
        for (std::size_t k = i; k < end; ++k) {
            if (k != i) {
                out += ',';
            }
            append_batch_row(out, rows[k].symbol, rows[k].oi, rows[k].mark);
        }
        out += ']';
        out += ",\"timestamp\":";
        vs::api::append_json_string(out, stamp);
        out += ",\"totalSymbols\":";
        out += std::to_string(end - i);
        out += ",\"source\":\"realtime\"}";
        bodies.push_back(std::move(out));
    }
    return bodies;
}

std::string universe_json(std::span<const member> members, std::int64_t now_ms)
{
    std::string out;
    out.reserve(64 + members.size() * 128);
    vs::api::json_writer w{out};
    w.begin_object();
    w.key("symbols");
    w.begin_array();
    for (const auto& m : members) {
        w.begin_object();
        w.member("symbol", std::string_view{m.symbol});
        w.member("quoteVolume24h", m.quote_volume_24h);
        w.member("enteredAt", std::string_view{utc_isoformat(m.entered_at_ms)});
        w.member("lastSeenAt", std::string_view{utc_isoformat(m.last_seen_at_ms)});
        w.end_object();
    }
    w.end_array();
    w.member("updatedAt", std::string_view{utc_isoformat(now_ms)});
    w.end_object();
    return out;
}

}  // namespace vs::oi
