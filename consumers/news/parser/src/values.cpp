#include "values.hpp"

#include <chrono>
#include <cstdint>

#include "vs/news/parser.hpp"

namespace vs::news {

namespace detail {

namespace {

/// Length of the valid UTF-8 sequence starting at in[i], or 0 when in[i] does not start one.
std::size_t utf8_sequence(std::string_view in, std::size_t i) noexcept
{
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
    const unsigned char b0 = byte(i);
    if (b0 == 0) {
        return 0;  // NUL: valid UTF-8, but never text in HTML
    }
    if (b0 < 0x80) {
        return 1;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80;  // allowed range of the second byte (excludes overlong forms,
    unsigned char hi = 0xBF;  // surrogates and code points above U+10FFFF)
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        lo = b0 == 0xE0 ? 0xA0 : 0x80;
        hi = b0 == 0xED ? 0x9F : 0xBF;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        lo = b0 == 0xF0 ? 0x90 : 0x80;
        hi = b0 == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (in.size() - i < len || byte(i + 1) < lo || byte(i + 1) > hi) {
        return 0;
    }
    for (std::size_t k = 2; k < len; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) {
            return 0;
        }
    }
    return len;
}

}  // namespace

std::optional<std::int64_t> parse_digits(std::string_view s, std::size_t max_digits) noexcept
{
    if (s.empty() || s.size() > max_digits) {
        return std::nullopt;
    }
    std::int64_t v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        v = v * 10 + (c - '0');
    }
    return v;
}

std::size_t count_invalid_utf8(std::string_view in) noexcept
{
    std::size_t bad = 0;
    for (std::size_t i = 0; i < in.size();) {
        const std::size_t n = utf8_sequence(in, i);
        bad += n == 0 ? 1 : 0;
        i += n == 0 ? 1 : n;
    }
    return bad;
}

std::string repair_utf8(std::string_view in)
{
    std::string out;
    out.reserve(in.size() + in.size() / 8);
    for (std::size_t i = 0; i < in.size();) {
        const std::size_t n = utf8_sequence(in, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(in.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::optional<std::string> decode_base64url(std::string_view in)
{
    while (!in.empty() && in.back() == '=') {
        in.remove_suffix(1);
    }
    std::string out;
    out.reserve(in.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : in) {
        int v = -1;
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '-' || c == '+') {
            v = 62;
        } else if (c == '_' || c == '/') {
            v = 63;
        } else {
            return std::nullopt;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

}  // namespace detail

namespace {

using detail::is_space;
using detail::parse_digits;

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

/// Reads exactly `digits` decimal digits at s[pos].
std::optional<int> fixed_digits(std::string_view s, std::size_t pos, std::size_t digits) noexcept
{
    const auto v = s.size() < pos + digits ? std::nullopt : parse_digits(s.substr(pos, digits), digits);
    return v ? std::optional{static_cast<int>(*v)} : std::nullopt;
}

}  // namespace

std::optional<std::int64_t> parse_views(std::string_view text) noexcept
{
    text = trim(text);
    std::int64_t scale = 1;
    if (!text.empty()) {
        switch (text.back()) {
        case 'K': case 'k': scale = 1'000; break;
        case 'M': case 'm': scale = 1'000'000; break;
        case 'B': case 'b': scale = 1'000'000'000; break;
        default: break;
        }
        if (scale != 1) {
            text.remove_suffix(1);
        }
    }
    const std::size_t dot = text.find('.');
    const std::string_view whole = text.substr(0, dot);
    const std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    // 12 digits of a whole number times 10^9 still fits an int64; the page shows at most 4.
    const auto whole_value = parse_digits(whole, 12);
    if (!whole_value || (dot != std::string_view::npos && fraction.empty())) {
        return std::nullopt;
    }
    std::int64_t value = *whole_value * scale;
    std::int64_t unit = scale;
    for (const char c : fraction) {
        if (c < '0' || c > '9' || unit < 10) {
            return std::nullopt;  // a non-digit, or more fraction digits than the scale holds
        }
        unit /= 10;
        value += (c - '0') * unit;
    }
    return value;
}

std::optional<std::int64_t> parse_iso8601_ms(std::string_view text) noexcept
{
    text = trim(text);
    // YYYY-MM-DDTHH:MM:SS
    if (text.size() < 19 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
        text[13] != ':' || text[16] != ':') {
        return std::nullopt;
    }
    const auto year = fixed_digits(text, 0, 4);
    const auto month = fixed_digits(text, 5, 2);
    const auto day = fixed_digits(text, 8, 2);
    const auto hour = fixed_digits(text, 11, 2);
    const auto minute = fixed_digits(text, 14, 2);
    const auto second = fixed_digits(text, 17, 2);
    if (!year || !month || !day || !hour || !minute || !second || *hour > 23 || *minute > 59 || *second > 60) {
        return std::nullopt;
    }
    const std::chrono::year_month_day ymd{std::chrono::year{*year}, std::chrono::month{static_cast<unsigned>(*month)},
                                          std::chrono::day{static_cast<unsigned>(*day)}};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    std::size_t pos = 19;
    std::int64_t millis = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        std::int64_t unit = 100;
        const std::size_t first = pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            millis += (text[pos] - '0') * unit;  // digits past milliseconds are dropped
            unit /= 10;
            ++pos;
        }
        if (pos == first) {
            return std::nullopt;
        }
    }
    std::int64_t offset_minutes = 0;
    const std::string_view zone = text.substr(pos);
    if (zone == "Z" || zone == "z") {
        offset_minutes = 0;
    } else if (!zone.empty() && (zone[0] == '+' || zone[0] == '-')) {
        const bool colon = zone.size() == 6 && zone[3] == ':';
        if (zone.size() != (colon ? 6u : 5u)) {
            return std::nullopt;
        }
        const auto oh = fixed_digits(zone, 1, 2);
        const auto om = fixed_digits(zone, colon ? 4 : 3, 2);
        if (!oh || !om || *oh > 23 || *om > 59) {
            return std::nullopt;
        }
        offset_minutes = (*oh * 60 + *om) * (zone[0] == '-' ? -1 : 1);
    } else {
        return std::nullopt;  // no zone: the local time of an unknown place
    }
    const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
    const std::int64_t seconds = days * 86'400 + *hour * 3'600 + *minute * 60 + *second - offset_minutes * 60;
    return seconds * 1'000 + millis;
}

const char* to_string(page_kind k) noexcept
{
    switch (k) {
    case page_kind::ok: return "ok";
    case page_kind::empty: return "empty";
    case page_kind::no_channel: return "no_channel";
    case page_kind::preview_disabled: return "preview_disabled";
    case page_kind::invalid: return "invalid";
    }
    return "invalid";
}

const char* to_string(media_kind k) noexcept
{
    switch (k) {
    case media_kind::none: return "";
    case media_kind::photo: return "photo";
    case media_kind::video: return "video";
    case media_kind::document: return "document";
    case media_kind::audio: return "audio";
    case media_kind::voice: return "voice";
    case media_kind::sticker: return "sticker";
    case media_kind::animation: return "animation";
    }
    return "";
}

}  // namespace vs::news
