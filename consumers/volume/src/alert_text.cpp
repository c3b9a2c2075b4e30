#include "alert_text.hpp"

#include <charconv>
#include <cmath>
#include <ctime>

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>
#include <fmt/format.h>

namespace vs::volume {

namespace {

/// Inserts ',' every three digits into the integer part of a formatted number.
std::string group_thousands(std::string s)
{
    const auto dot = s.find('.');
    const std::size_t int_end = dot == std::string::npos ? s.size() : dot;
    const std::size_t start = (!s.empty() && s[0] == '-') ? 1 : 0;
    std::string out = s.substr(0, start);
    for (std::size_t i = start; i < int_end; ++i) {
        out += s[i];
        const std::size_t left = int_end - i - 1;
        if (left > 0 && left % 3 == 0) {
            out += ',';
        }
    }
    out += s.substr(int_end);
    return out;
}

std::string json_string(std::string_view s)
{
    return boost::json::serialize(boost::json::string_view{s.data(), s.size()});
}

}  // namespace

std::string asset_of(std::string_view symbol)
{
    std::string out;
    constexpr std::string_view usdt = "USDT";
    std::size_t i = 0;
    while (i < symbol.size()) {
        if (symbol.substr(i, usdt.size()) == usdt) {
            i += usdt.size();
        } else {
            out += symbol[i++];
        }
    }
    return out;
}

std::string format_volume(double vol)
{
    if (vol >= 1e9) {
        return group_thousands(fmt::format("{:.2f}", vol / 1e9)) + "B";
    }
    if (vol >= 1e6) {
        return group_thousands(fmt::format("{:.2f}", vol / 1e6)) + "M";
    }
    if (vol >= 1e3) {
        return group_thousands(fmt::format("{:.2f}", vol / 1e3)) + "K";
    }
    return group_thousands(fmt::format("{:.0f}", vol));
}

std::string python_float(double v)
{
    if (!std::isfinite(v)) {
        return "0.0";   // never sent: callers leave non-finite fields out
    }
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    std::string_view sci{buf, static_cast<std::size_t>(r.ptr - buf)};
    std::string sign;
    if (!sci.empty() && sci[0] == '-') {
        sign = "-";
        sci.remove_prefix(1);
    }
    const auto e = sci.find('e');
    std::string digits;
    for (const char c : sci.substr(0, e)) {
        if (c != '.') {
            digits += c;
        }
    }
    int exp10 = 0;
    std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp10);
    while (digits.size() > 1 && digits.back() == '0') {
        digits.pop_back();
    }
    if (digits == "0") {
        return sign + "0.0";
    }
    const int decpt = exp10 + 1;
    const int n = static_cast<int>(digits.size());
    if (decpt <= -4 || decpt > 16) {
        std::string out = sign + digits.substr(0, 1);
        if (n > 1) {
            out += "." + digits.substr(1);
        }
        const int x = decpt - 1;
        out += fmt::format("e{}{:02d}", x < 0 ? '-' : '+', x < 0 ? -x : x);
        return out;
    }
    if (decpt <= 0) {
        return sign + "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
    }
    if (decpt >= n) {
        return sign + digits + std::string(static_cast<std::size_t>(decpt - n), '0') + ".0";
    }
    return sign + digits.substr(0, static_cast<std::size_t>(decpt)) + "." + digits.substr(static_cast<std::size_t>(decpt));
}

std::string iso_utc(std::int64_t ms)
{
    const std::time_t t = static_cast<std::time_t>((ms >= 0 ? ms : ms - 999) / 1000);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::int64_t detection_floor(std::int64_t ms) noexcept
{
    constexpr std::int64_t step = 5 * minute_ms;
    return (ms >= 0 ? ms / step : (ms - step + 1) / step) * step;
}

std::string telegram_text(const decision& d)
{
    const char* prefix = d.type == alert_type::half_update ? "HALF-UPDATE: "
                         : d.type == alert_type::full_update ? "UPDATE: "
                                                             : "";
    // × is U+00D7, — is U+2014 (UTF-8 below).
    return fmt::format("{}{} hourly volume {} ({:.2f}\xC3\x97 prev) \xE2\x80\x94 VOLUME SPIKE!", prefix,
                       asset_of(d.symbol), format_volume(d.curr.quote_volume), d.ratio);
}

std::string payload_json(const decision& d, std::string_view text, const enhanced_fields& extra)
{
    const auto& c = d.curr;
    std::string out;
    out.reserve(512);
    out += "{\"symbol\":" + json_string(d.symbol);
    out += ",\"asset\":" + json_string(asset_of(d.symbol));
    out += ",\"currentVolume\":" + python_float(c.quote_volume);
    out += ",\"previousVolume\":" + python_float(d.prev_volume);
    out += ",\"volumeRatio\":" + python_float(d.ratio);
    out += ",\"price\":" + python_float(c.close);
    if (extra.funding_rate && std::isfinite(*extra.funding_rate)) {
        out += ",\"fundingRate\":" + python_float(*extra.funding_rate);
    }
    out += ",\"candleDirection\":";
    out += c.close > c.open ? "\"bullish\"" : "\"bearish\"";
    out += ",\"message\":" + json_string(text);
    out += ",\"timestamp\":\"" + iso_utc(d.detect_ms) + "\"";
    out += ",\"detectionTime\":\"" + iso_utc(detection_floor(d.detect_ms)) + "\"";
    out += ",\"hourTimestamp\":\"" + iso_utc(d.hour_ms) + "\"";
    out += ",\"isUpdate\":";
    out += d.type == alert_type::spike ? "false" : "true";
    out += ",\"alertType\":\"";
    out += to_string(d.type);
    out += '"';
    if (c.open > 0) {
        const double pc = (c.close - c.open) / c.open;
        if (std::isfinite(pc)) {
            out += ",\"priceChange\":" + python_float(pc);
        }
    }
    if (extra.oi_change && std::isfinite(*extra.oi_change)) {
        out += ",\"oiChange\":" + python_float(*extra.oi_change);
    }
    out += '}';
    return out;
}

}  // namespace vs::volume
