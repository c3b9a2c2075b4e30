#pragma once
// A small streaming JSON writer that appends to a caller-owned std::string (reused between
// requests so that a response costs no allocation once the buffer has grown). It is a real
// serializer: strings are escaped (quotes, backslashes, control characters, and <, >, & so
// that output can be embedded in HTML), invalid UTF-8 is replaced by U+FFFD, and doubles are
// printed with the shortest round-trip representation (NaN and infinities become null).
//
// Threads: one writer per thread. Errors: none (nesting deeper than max_depth is a bug,
// checked by an assertion in debug builds).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace vs::api {

class json_writer {
public:
    static constexpr std::size_t max_depth = 16;

    explicit json_writer(std::string& out) noexcept : out_(out) {}

    void begin_object();
    void end_object();
    void begin_array();
    void end_array();

    /// An object member name; the next value call writes its value.
    void key(std::string_view name);

    void value(std::string_view s);
    void value(const char* s) { value(std::string_view{s}); }
    void value(double d);
    void value(std::int64_t i);
    void value(std::uint64_t u);
    void value(int i) { value(static_cast<std::int64_t>(i)); }
    void value(unsigned u) { value(static_cast<std::uint64_t>(u)); }
    void value(bool b);
    /// Nanoseconds as seconds with microsecond resolution ("1702652400.123456", "0.5", "-1.25"),
    /// printed with integer arithmetic: times are in every row of large responses.
    void seconds_value(std::int64_t ns);
    void null();
    /// Inserts already serialized members (`"a":1,"b":2`) into the current object.
    void raw_members(std::string_view members);
    /// Inserts an already serialized JSON value (e.g. a cached fragment).
    void raw(std::string_view json);

    /// `"key": value` in one call.
    template <class T>
    void member(std::string_view name, const T& v)
    {
        key(name);
        value(v);
    }
    /// The same for a string literal name, trusted to need no escaping (no quote, backslash,
    /// control character, <, > or &): copied as is, which keeps large responses cheap.
    template <std::size_t N, class T>
    void member(const char (&name)[N], const T& v)
    {
        literal_key(std::string_view{name, N - 1});
        value(v);
    }
    /// An object member name that needs no escaping (see member()).
    void literal_key(std::string_view name);

    std::string& str() noexcept { return out_; }

private:
    void before_value();
    void open(char c);
    void close(char c);

    std::string& out_;
    std::size_t depth_ = 0;
    bool need_comma_[max_depth + 1] = {};
    bool after_key_ = false;
};

/// Appends `s` as a JSON string literal (with quotes), escaped as described above.
void append_json_string(std::string& out, std::string_view s);

/// Appends the shortest round-trip decimal form of `d`, or `null` when not finite.
void append_json_number(std::string& out, double d);

/// Longest output of format_json_number / format_json_seconds.
inline constexpr std::size_t max_json_number_chars = 32;
/// append_json_number into a buffer with room for max_json_number_chars; returns the end.
char* format_json_number(char* p, double d) noexcept;
/// append_json_string into a buffer with room for 6 * s.size() + 2 bytes; returns the end.
char* format_json_string(char* p, std::string_view s);
/// append_json_seconds into a buffer with room for max_json_number_chars; returns the end.
char* format_json_seconds(char* p, std::int64_t ns) noexcept;

/// Appends ns as seconds with microsecond resolution, trailing zeros trimmed (one kept).
void append_json_seconds(std::string& out, std::int64_t ns);

/// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

}  // namespace vs::api
