#pragma once
// Small value readers of the page parser, apart from the HTML: UTF-8 repair, base64url.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vs::news::detail {

/// HTML's ASCII whitespace.
constexpr bool is_space(char c) noexcept
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/// 1..max_digits decimal digits and nothing else; nullopt otherwise (max_digits <= 18).
std::optional<std::int64_t> parse_digits(std::string_view s, std::size_t max_digits) noexcept;

/// Counts the bytes of `in` that are not part of valid UTF-8 (RFC 3629: no overlong forms,
/// no surrogates, nothing above U+10FFFF) plus NUL bytes; 0 means `in` can be used as is.
std::size_t count_invalid_utf8(std::string_view in) noexcept;

/// `in` with every invalid byte (and NUL) replaced by U+FFFD.
std::string repair_utf8(std::string_view in);

/// Decodes base64url (RFC 4648 section 5, padding optional); nullopt on any other character.
std::optional<std::string> decode_base64url(std::string_view in);

}  // namespace vs::news::detail
