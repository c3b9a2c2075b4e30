#pragma once
// Host and port text, without Asio (in vs_common, so processes without networking code can
// use it): the one HOST:PORT parser and the one loopback check of the project.
//
//   parse_host_port("127.0.0.1:8888", h, p)   -> h "127.0.0.1", p 8888
//   parse_host_port("[::1]:9000", h, p)       -> h "::1" (brackets removed), p 9000
//   parse_host_port("example.com", h, p, 443) -> h "example.com", p 443 (port optional)
//   parse_listen_address("localhost:0", h, p) -> h "127.0.0.1", p 0
//   is_loopback("127.3.2.1"), is_loopback("[::1]"), is_loopback("localhost") -> true
#include <cstdint>
#include <string>
#include <string_view>

namespace vs::net {

/// Splits "HOST:PORT" or "[IPV6]:PORT" (PORT: decimal digits, 0..65535; HOST: not empty,
/// brackets removed). A HOST with ':' must be bracketed. False (host and port untouched)
/// when malformed.
bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port);
/// The same, but the port may be left out ("HOST", "[IPV6]"): then `port` = default_port.
bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port,
                     std::uint16_t default_port);

/// An address to listen on: parse_host_port, with "localhost" read as 127.0.0.1 and HOST
/// required to be an IPv4 or IPv6 literal. False when malformed.
bool parse_listen_address(std::string_view text, std::string& host, std::uint16_t& port);

/// True for an IPv4 literal (dotted quad) or an IPv6 literal (without brackets).
bool is_ip_literal(std::string_view host) noexcept;

/// True for "localhost" (and "localhost."), 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104; an
/// IPv6 literal may be bracketed. Names other than localhost are not resolved: false.
bool is_loopback(std::string_view host) noexcept;

}  // namespace vs::net
