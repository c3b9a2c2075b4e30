// vs::net's HOST:PORT parser and loopback check (no Asio, no name resolution).
#include "vs/net/address.hpp"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace vs::net {
namespace {

struct split_case {
    const char* text;
    const char* host;
    std::uint16_t port;
};

/// Runs `parse` over `cases`, expecting each to split as given.
template <class Parse>
void expect_splits(Parse parse, std::initializer_list<split_case> cases)
{
    for (const auto& c : cases) {
        std::string host;
        std::uint16_t port = 1;
        ASSERT_TRUE(parse(c.text, host, port)) << c.text;
        EXPECT_EQ(host, c.host) << c.text;
        EXPECT_EQ(port, c.port) << c.text;
    }
}

TEST(ParseHostPortTest, SplitsNamesIpv4AndBracketedIpv6)
{
    expect_splits([](std::string_view t, std::string& h, std::uint16_t& p) { return parse_host_port(t, h, p); },
                  {{"127.0.0.1:8888", "127.0.0.1", 8888},
                   {"fapi.binance.com:443", "fapi.binance.com", 443},
                   {"[::1]:0", "::1", 0},
                   {"[fe80::1%eth0]:65535", "fe80::1%eth0", 65535}});
}

TEST(ParseHostPortTest, RefusesMalformedTextAndLeavesTheOutputsAlone)
{
    for (const char* bad : {"", "8888", "host", ":80", "host:", "host:65536", "host:-1", "host:+80",
                            "host:8x", "::1:80", "[::1]", "[::1]80", "[::1:80", "[]:80", "host:123456"}) {
        std::string host = "unchanged";
        std::uint16_t port = 7;
        EXPECT_FALSE(parse_host_port(bad, host, port)) << bad;
        EXPECT_EQ(host, "unchanged") << bad;
        EXPECT_EQ(port, 7) << bad;
    }
}

TEST(ParseHostPortTest, ADefaultPortMakesThePortOptional)
{
    expect_splits([](std::string_view t, std::string& h, std::uint16_t& p) { return parse_host_port(t, h, p, 443); },
                  {{"fstream.binance.com", "fstream.binance.com", 443},
                   {"[::1]", "::1", 443},
                   {"h:9000", "h", 9000}});
    std::string host;
    std::uint16_t port = 0;
    for (const char* bad : {"", "h:", "::1", "[::1]:x", "[::1"}) {
        EXPECT_FALSE(parse_host_port(bad, host, port, 80)) << bad;
    }
}

TEST(ParseListenAddressTest, WantsAnIpLiteralAndReadsLocalhostAsIpv4Loopback)
{
    expect_splits(parse_listen_address,
                  {{"localhost:9900", "127.0.0.1", 9900}, {"[::]:0", "::", 0}, {"0.0.0.0:80", "0.0.0.0", 80}});
    std::string host;
    std::uint16_t port = 0;
    for (const char* bad : {"example.com:80", "127.0.0:80", "256.0.0.1:80", "[::g]:80", "nocolon"}) {
        EXPECT_FALSE(parse_listen_address(bad, host, port)) << bad;
    }
}

TEST(IsIpLiteralTest, TellsAddressesFromNames)
{
    EXPECT_TRUE(is_ip_literal("10.1.2.3"));
    EXPECT_TRUE(is_ip_literal("::1"));
    EXPECT_TRUE(is_ip_literal("2001:db8::7"));
    EXPECT_TRUE(is_ip_literal("fe80::1%eth0"));
    EXPECT_FALSE(is_ip_literal("fe80::1%"));
    EXPECT_FALSE(is_ip_literal("[::1]"));
    EXPECT_FALSE(is_ip_literal("localhost"));
    EXPECT_FALSE(is_ip_literal("1.2.3"));
    EXPECT_FALSE(is_ip_literal(""));
    EXPECT_FALSE(is_ip_literal(std::string(200, '1')));
}

TEST(IsLoopbackTest, KnowsLocalhostTheWhole127NetAndIpv6Loopback)
{
    for (const char* yes : {"localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.3.2.1", "127.255.255.255",
                            "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"}) {
        EXPECT_TRUE(is_loopback(yes)) << yes;
    }
    for (const char* no : {"", "0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1", "example.com",
                           "localhost.example.com", "[::1", "127.0.0.1:80"}) {
        EXPECT_FALSE(is_loopback(no)) << no;
    }
}

}  // namespace
}  // namespace vs::net

TEST(IsLoopbackTest, ANulInsideTheHostIsNeverLoopbackNorAnAddress)
{
    using namespace std::string_view_literals;
    EXPECT_FALSE(vs::net::is_loopback("127.0.0.1\0.evil.example"sv));
    EXPECT_FALSE(vs::net::is_ip_literal("127.0.0.1\0.evil.example"sv));
    EXPECT_TRUE(vs::net::is_loopback("127.0.0.1"sv));
}
