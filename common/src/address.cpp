#include "vs/net/address.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>

namespace vs::net {

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool parse_port(std::string_view text, std::uint16_t& port) noexcept
{
    if (text.empty() || text.size() > 5) {
        return false;
    }
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) {
        return false;
    }
    port = static_cast<std::uint16_t>(value);
    return true;
}

/// Splits text into host and port text; `has_port` says whether a ":PORT" was there.
bool split(std::string_view text, std::string_view& host, std::string_view& port, bool& has_port) noexcept
{
    std::string_view rest;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        host = text.substr(1, close - 1);
        rest = text.substr(close + 1);
    } else {
        const auto colon = text.find(':');
        if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
            return false;   // an IPv6 literal without brackets: where would its port start?
        }
        host = text.substr(0, colon);
        rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
    }
    has_port = !rest.empty();
    if (has_port) {
        if (rest.front() != ':') {
            return false;
        }
        port = rest.substr(1);
    }
    return !host.empty();
}

bool parse(std::string_view text, std::string& host, std::uint16_t& port, const std::uint16_t* default_port)
{
    std::string_view h;
    std::string_view p;
    bool has_port = false;
    std::uint16_t value = 0;
    if (!split(text, h, p, has_port)) {
        return false;
    }
    if (has_port) {
        if (!parse_port(p, value)) {
            return false;
        }
    } else if (default_port != nullptr) {
        value = *default_port;
    } else {
        return false;
    }
    host.assign(h);
    port = value;
    return true;
}

}  // namespace

bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port)
{
    return parse(text, host, port, nullptr);
}

bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port, std::uint16_t default_port)
{
    return parse(text, host, port, &default_port);
}

bool parse_listen_address(std::string_view text, std::string& host, std::uint16_t& port)
{
    std::string h;
    std::uint16_t p = 0;
    if (!parse_host_port(text, h, p)) {
        return false;
    }
    if (iequals(h, "localhost")) {
        h = "127.0.0.1";
    }
    if (!is_ip_literal(h)) {
        return false;
    }
    host = std::move(h);
    port = p;
    return true;
}

bool is_ip_literal(std::string_view host) noexcept
{
    // inet_pton wants a terminated string; the longest IPv6 text with a scope id fits.
    char buf[INET6_ADDRSTRLEN + 32];
    // A NUL inside would end the text early for inet_pton ("127.0.0.1\0.evil").
    if (host.empty() || host.size() >= sizeof buf || host.find('\0') != std::string_view::npos) {
        return false;
    }
    std::copy(host.begin(), host.end(), buf);
    buf[host.size()] = '\0';
    in6_addr v6{};
    if (host.find(':') != std::string_view::npos) {
        // A scope id ("fe80::1%eth0") is the interface's business, not the address's.
        const auto pct = host.find('%');
        if (pct != std::string_view::npos) {
            if (pct + 1 == host.size()) {
                return false;
            }
            buf[pct] = '\0';
        }
        return ::inet_pton(AF_INET6, buf, &v6) == 1;
    }
    in_addr v4{};
    return ::inet_pton(AF_INET, buf, &v4) == 1;
}

bool is_loopback(std::string_view host) noexcept
{
    if (host.find('\0') != std::string_view::npos) {
        return false;
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (iequals(host, "localhost") || iequals(host, "localhost.")) {
        return true;
    }
    char buf[INET6_ADDRSTRLEN];
    if (host.empty() || host.size() >= sizeof buf) {
        return false;
    }
    std::copy(host.begin(), host.end(), buf);
    buf[host.size()] = '\0';
    in_addr v4{};
    if (::inet_pton(AF_INET, buf, &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    if (::inet_pton(AF_INET6, buf, &v6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
    }
    return false;
}

}  // namespace vs::net
