#include "vs/net/http_client.hpp"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "http_test_server.hpp"
#include "vs/net/address.hpp"

namespace {

using vs::net::http_client;
using vs::net::http_request;
using vs::net::transport_error;
using vs::test::http_test_server;
using vs::test::received_request;
using vs::test::test_reply;

TEST(HttpClientTest, GetsBodyStatusAndHeaders)
{
    http_test_server server{[](const received_request& r) {
        return test_reply{201, {{"X-Echo", r.target}}, "{\"ok\":true}", false};
    }};
    http_client sut;
    auto r = sut.perform(http_request{"GET", server.url() + "/fapi/v1/time?x=1", {}, {}, {}});
    ASSERT_TRUE(r.ok()) << r.error_message;
    EXPECT_EQ(r.res.status, 201);
    EXPECT_EQ(r.res.body, "{\"ok\":true}");
    EXPECT_EQ(r.res.header_value("x-echo").value_or(""), "/fapi/v1/time?x=1");
}

TEST(HttpClientTest, SendsBodyContentTypeAndHeaders)
{
    http_test_server server{[](const received_request&) { return test_reply{}; }};
    http_client sut;
    auto r = sut.perform(http_request{"POST", server.url() + "/api/x", {{"X-API-Key", "k1"}}, "{\"a\":1}",
                                      "application/json"});
    ASSERT_TRUE(r.ok()) << r.error_message;
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].method, "POST");
    EXPECT_EQ(reqs[0].body, "{\"a\":1}");
    EXPECT_EQ(reqs[0].header("X-API-Key").value_or(""), "k1");
    EXPECT_EQ(reqs[0].header("Content-Type").value_or(""), "application/json");
}

TEST(HttpClientTest, ReusesKeepAliveConnectionPerHost)
{
    http_test_server server{[](const received_request&) { return test_reply{}; }};
    http_client sut;
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(sut.perform(http_request{"GET", server.url() + "/", {}, {}, {}}).ok());
    }
    EXPECT_EQ(server.connections(), 1u);
    EXPECT_EQ(sut.stats().connections_opened, 1u);
    EXPECT_EQ(sut.stats().connections_reused, 9u);
}

TEST(HttpClientTest, RetriesOnFreshConnectionWhenServerClosedPooledOne)
{
    // The server answers, then closes the connection it claimed to keep alive (as servers
    // do when their keep-alive timeout passes between two requests).
    http_test_server server{[](const received_request&) { return test_reply{200, {}, "{}", false, true}; }};
    http_client sut;
    ASSERT_TRUE(sut.perform(http_request{"GET", server.url() + "/a", {}, {}, {}}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds{50});  // let the close arrive
    auto r = sut.perform(http_request{"GET", server.url() + "/b", {}, {}, {}});
    ASSERT_TRUE(r.ok()) << r.error_message;
    EXPECT_EQ(r.res.status, 200);
    EXPECT_EQ(server.connections(), 2u);
    EXPECT_EQ(server.request_count(), 2u);
}

TEST(HttpClientTest, ReportsDroppedRequestAsIoError)
{
    http_test_server server{[](const received_request&) { return test_reply{200, {}, "{}", true}; }};
    http_client sut;
    auto r = sut.perform(http_request{"GET", server.url() + "/", {}, {}, {}});
    EXPECT_EQ(r.error, transport_error::io) << r.error_message;
}

TEST(HttpClientTest, TimesOutOnSlowServer)
{
    http_test_server server{[](const received_request&) {
        std::this_thread::sleep_for(std::chrono::milliseconds{600});
        return test_reply{};
    }};
    vs::net::http_client_options o;
    o.request_timeout = std::chrono::milliseconds{150};
    http_client sut{o};
    auto t0 = std::chrono::steady_clock::now();
    auto r = sut.perform(http_request{"GET", server.url() + "/", {}, {}, {}});
    EXPECT_EQ(r.error, transport_error::timeout) << r.error_message;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds{550});
}

TEST(HttpClientTest, ReportsRefusedConnection)
{
    unsigned short port = 0;
    {
        http_test_server server{[](const received_request&) { return test_reply{}; }};
        port = server.port();
    }
    http_client sut;
    auto r = sut.perform(http_request{"GET", "http://127.0.0.1:" + std::to_string(port) + "/", {}, {}, {}});
    EXPECT_EQ(r.error, transport_error::connect) << r.error_message;
}

TEST(HttpClientTest, RefusesPlainHttpToRemoteHost)
{
    http_client sut;
    auto r = sut.perform(http_request{"GET", "http://fapi.binance.com/fapi/v1/time", {}, {}, {}});
    EXPECT_EQ(r.error, transport_error::bad_url);
    EXPECT_NE(r.error_message.find("loopback"), std::string::npos);
}

TEST(HttpClientTest, RecognisesLoopbackHosts)
{
    EXPECT_TRUE(vs::net::is_loopback("localhost"));
    EXPECT_TRUE(vs::net::is_loopback("127.0.0.1"));
    EXPECT_TRUE(vs::net::is_loopback("127.3.2.1"));
    EXPECT_TRUE(vs::net::is_loopback("::1"));
    EXPECT_TRUE(vs::net::is_loopback("[::1]"));
    EXPECT_FALSE(vs::net::is_loopback("10.0.0.1"));
    EXPECT_FALSE(vs::net::is_loopback("example.com"));
}

TEST(HttpClientTest, FailsTlsHandshakeAgainstPlainServer)
{
    http_test_server server{[](const received_request&) { return test_reply{}; }};
    vs::net::http_client_options o;
    o.connect_timeout = std::chrono::milliseconds{2000};
    http_client sut{o};
    auto r = sut.perform(http_request{"GET", "https://127.0.0.1:" + std::to_string(server.port()) + "/", {}, {}, {}});
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.error == transport_error::tls || r.error == transport_error::io ||
                r.error == transport_error::timeout)
        << vs::net::to_string(r.error) << ": " << r.error_message;
}

}  // namespace
