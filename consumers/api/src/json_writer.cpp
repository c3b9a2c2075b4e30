#include "vs/api/json_writer.hpp"

#include <array>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>

namespace vs::api {
namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is malformed.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept
{
    const auto b0 = static_cast<unsigned char>(s[i]);
    const auto cont = [&](std::size_t k) {
        return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0u) == 0x80u;
    };
    if (b0 < 0x80u) {
        return 1;
    }
    if (b0 >= 0xC2u && b0 <= 0xDFu) {
        return cont(1) ? 2 : 0;
    }
    if (b0 >= 0xE0u && b0 <= 0xEFu) {
        if (!cont(1) || !cont(2)) {
            return 0;
        }
        const auto b1 = static_cast<unsigned char>(s[i + 1]);
        if ((b0 == 0xE0u && b1 < 0xA0u) || (b0 == 0xEDu && b1 >= 0xA0u)) {
            return 0;   // overlong, or a UTF-16 surrogate
        }
        return 3;
    }
    if (b0 >= 0xF0u && b0 <= 0xF4u) {
        if (!cont(1) || !cont(2) || !cont(3)) {
            return 0;
        }
        const auto b1 = static_cast<unsigned char>(s[i + 1]);
        if ((b0 == 0xF0u && b1 < 0x90u) || (b0 == 0xF4u && b1 >= 0x90u)) {
            return 0;   // overlong, or beyond U+10FFFF
        }
        return 4;
    }
    return 0;
}

}  // namespace

bool valid_utf8(std::string_view s) noexcept
{
    for (std::size_t i = 0; i < s.size();) {
        const auto n = utf8_sequence_length(s, i);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

namespace {

// 1 for the bytes append_json_string cannot copy as they are.
constexpr auto escape_table = [] {
    std::array<unsigned char, 256> t{};
    for (unsigned c = 0; c < 0x20; ++c) {
        t[c] = 1;
    }
    for (unsigned c = 0x80; c < 0x100; ++c) {
        t[c] = 1;   // validated as UTF-8 one sequence at a time
    }
    t['"'] = t['\\'] = t['<'] = t['>'] = t['&'] = 1;
    return t;
}();

}  // namespace

void append_json_string(std::string& out, std::string_view s)
{
    static constexpr char hex[] = "0123456789abcdef";
    std::size_t i = 0;
    // The common case: nothing to escape.
    while (i < s.size() && escape_table[static_cast<unsigned char>(s[i])] == 0) {
        ++i;
    }
    if (i == s.size()) {
        out.push_back('"');
        out.append(s);
        out.push_back('"');
        return;
    }
    out.push_back('"');
    out.append(s.data(), i);
    while (i < s.size()) {
        std::size_t run = i;
        while (run < s.size() && escape_table[static_cast<unsigned char>(s[run])] == 0) {
            ++run;
        }
        out.append(s.data() + i, run - i);
        i = run;
        if (i == s.size()) {
            break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80u) {
            const auto n = utf8_sequence_length(s, i);
            if (n == 0) {
                out.append("\\ufffd");
                ++i;
            } else {
                out.append(s.data() + i, n);
                i += n;
            }
            continue;
        }
        switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        default: {
            const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4u], hex[c & 0xFu]};
            out.append(esc, sizeof esc);
            break;
        }
        }
        ++i;
    }
    out.push_back('"');
}

char* format_json_string(char* p, std::string_view s)
{
    bool clean = true;
    for (const char c : s) {
        clean &= escape_table[static_cast<unsigned char>(c)] == 0;
    }
    if (clean) {
        *p++ = '"';
        std::memcpy(p, s.data(), s.size());
        p += s.size();
        *p++ = '"';
        return p;
    }
    std::string tmp;
    append_json_string(tmp, s);
    std::memcpy(p, tmp.data(), tmp.size());
    return p + tmp.size();
}

char* format_json_number(char* p, double d) noexcept
{
    if (!std::isfinite(d)) {
        std::memcpy(p, "null", 4);
        return p + 4;
    }
    // Shortest round-trip digits, laid out as Python's repr() (what the old server's
    // json.dumps printed): fixed notation for 1e-4 <= |d| < 1e16 with at least one decimal,
    // scientific "1e-05" / "1.5e+16" otherwise.
    // Fast path: the shortest form is already fixed notation (most prices and times).
    char fixed[32];
    const auto f = std::to_chars(fixed, fixed + sizeof fixed, d);
    bool has_e = false;
    bool has_dot = false;
    for (const char* c = fixed; c != f.ptr; ++c) {   // a few bytes: cheaper than memchr calls
        has_e |= *c == 'e';
        has_dot |= *c == '.';
    }
    if (!has_e && std::fabs(d) < 1e16) {
        const auto n = static_cast<std::size_t>(f.ptr - fixed);
        std::memcpy(p, fixed, n);
        p += n;
        if (!has_dot) {
            *p++ = '.';
            *p++ = '0';
        }
        return p;
    }
    char sci[32];
    const auto r = std::to_chars(sci, sci + sizeof sci, d, std::chars_format::scientific);
    const std::string_view s{sci, static_cast<std::size_t>(r.ptr - sci)};
    const auto e = s.find('e');
    int exponent = 0;
    std::from_chars(s.data() + e + 1 + (s[e + 1] == '+' ? 1 : 0), s.data() + s.size(), exponent);
    const bool negative = s.front() == '-';
    char digits[24];
    std::size_t nd = 0;
    for (std::size_t i = negative ? 1 : 0; i < e; ++i) {
        if (s[i] != '.') {
            digits[nd++] = s[i];
        }
    }
    if (negative) {
        *p++ = '-';
    }
    if (exponent >= -4 && exponent < 16) {
        if (exponent < 0) {
            *p++ = '0';
            *p++ = '.';
            for (int z = 0; z < -exponent - 1; ++z) {
                *p++ = '0';
            }
            std::memcpy(p, digits, nd);
            p += nd;
        } else if (static_cast<std::size_t>(exponent) + 1 >= nd) {
            std::memcpy(p, digits, nd);
            p += nd;
            for (std::size_t z = 0; z < static_cast<std::size_t>(exponent) + 1 - nd; ++z) {
                *p++ = '0';
            }
            *p++ = '.';
            *p++ = '0';
        } else {
            const auto whole = static_cast<std::size_t>(exponent) + 1;
            std::memcpy(p, digits, whole);
            p += whole;
            *p++ = '.';
            std::memcpy(p, digits + whole, nd - whole);
            p += nd - whole;
        }
        return p;
    }
    *p++ = digits[0];
    if (nd > 1) {
        *p++ = '.';
        std::memcpy(p, digits + 1, nd - 1);
        p += nd - 1;
    }
    char exp[8];
    const auto er = std::to_chars(exp, exp + sizeof exp, exponent < 0 ? -exponent : exponent);
    *p++ = 'e';
    *p++ = exponent < 0 ? '-' : '+';
    if (er.ptr - exp < 2) {
        *p++ = '0';
    }
    const auto ne = static_cast<std::size_t>(er.ptr - exp);
    std::memcpy(p, exp, ne);
    return p + ne;
}

void append_json_number(std::string& out, double d)
{
    char buf[max_json_number_chars];
    out.append(buf, static_cast<std::size_t>(format_json_number(buf, d) - buf));
}



char* format_json_seconds(char* p, std::int64_t ns) noexcept
{
    std::uint64_t us;
    if (ns < 0) {
        *p++ = '-';
        us = (static_cast<std::uint64_t>(-(ns + 1)) + 1 + 500) / 1000;   // round half away from zero
    } else {
        us = (static_cast<std::uint64_t>(ns) + 500) / 1000;
    }
    static constexpr char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    p = std::to_chars(p, p + 24, us / 1'000'000).ptr;
    *p++ = '.';
    const auto frac = static_cast<unsigned>(us % 1'000'000);
    char f[6];
    std::memcpy(f, pairs + 2 * (frac / 10'000), 2);
    std::memcpy(f + 2, pairs + 2 * ((frac / 100) % 100), 2);
    std::memcpy(f + 4, pairs + 2 * (frac % 100), 2);
    int keep = 6;
    while (keep > 1 && f[keep - 1] == '0') {
        --keep;
    }
    std::memcpy(p, f, static_cast<std::size_t>(keep));
    return p + keep;
}

void append_json_seconds(std::string& out, std::int64_t ns)
{
    char buf[max_json_number_chars];
    out.append(buf, static_cast<std::size_t>(format_json_seconds(buf, ns) - buf));
}

void json_writer::seconds_value(std::int64_t ns)
{
    before_value();
    append_json_seconds(out_, ns);
}

void json_writer::before_value()
{
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (need_comma_[depth_]) {
        out_.push_back(',');
    }
    need_comma_[depth_] = true;
}

void json_writer::open(char c)
{
    before_value();
    out_.push_back(c);
    assert(depth_ < max_depth);
    ++depth_;
    need_comma_[depth_] = false;
}

void json_writer::close(char c)
{
    assert(depth_ > 0);
    --depth_;
    out_.push_back(c);
}

void json_writer::begin_object() { open('{'); }
void json_writer::end_object() { close('}'); }
void json_writer::begin_array() { open('['); }
void json_writer::end_array() { close(']'); }

void json_writer::key(std::string_view name)
{
    if (need_comma_[depth_]) {
        out_.push_back(',');
    }
    need_comma_[depth_] = true;
    append_json_string(out_, name);
    out_.push_back(':');
    after_key_ = true;
}

void json_writer::literal_key(std::string_view name)
{
    out_.append(need_comma_[depth_] ? ",\"" : "\"");
    need_comma_[depth_] = true;
    out_.append(name);
    out_.append("\":", 2);
    after_key_ = true;
}

void json_writer::raw_members(std::string_view members)
{
    if (need_comma_[depth_]) {
        out_.push_back(',');
    }
    need_comma_[depth_] = true;
    out_.append(members);
}

void json_writer::value(std::string_view s)
{
    before_value();
    append_json_string(out_, s);
}

void json_writer::value(double d)
{
    before_value();
    append_json_number(out_, d);
}

void json_writer::value(std::int64_t i)
{
    before_value();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, i);
    out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void json_writer::value(std::uint64_t u)
{
    before_value();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, u);
    out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void json_writer::value(bool b)
{
    before_value();
    out_.append(b ? "true" : "false");
}

void json_writer::null()
{
    before_value();
    out_.append("null");
}

void json_writer::raw(std::string_view json)
{
    before_value();
    out_.append(json);
}

}  // namespace vs::api
