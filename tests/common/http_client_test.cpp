#include "vs/net/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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

/// 5 MB that differ at every position modulo a prime, so a lost, repeated or reordered chunk shows.
std::string patterned_body(std::size_t n)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('A' + (i * 7 + i / 251) % 53);
    }
    return s;
}

TEST(HttpClientTest, StreamsLargeBodyInOrderedChunks)
{
    const std::string body = patterned_body(5u << 20);
    http_test_server server{[&](const received_request&) { return test_reply{200, {}, body}; }};
    http_client sut;
    std::string got;
    std::vector<std::size_t> sizes;
    http_request req{"GET", server.url() + "/big", {}, {}, {}};
    req.on_body = [&](std::string_view chunk) {
        sizes.push_back(chunk.size());
        got.append(chunk);
        return true;
    };
    auto r = sut.perform(req);
    ASSERT_TRUE(r.ok()) << r.error_message;
    EXPECT_EQ(r.res.status, 200);
    EXPECT_TRUE(r.res.body.empty()) << "the body went to on_body, not res.body";
    EXPECT_EQ(r.res.header_value("content-length").value_or(""), std::to_string(body.size()));
    ASSERT_EQ(got.size(), body.size());
    EXPECT_TRUE(got == body) << "chunks out of order or altered";
    EXPECT_GE(sizes.size(), body.size() / (64u << 10)) << "not handed over in bounded chunks";
    for (const auto n : sizes) {
        EXPECT_GT(n, 0u);
        EXPECT_LE(n, 64u << 10);
    }
    // The connection went back to the pool: the next (plain) request reuses it.
    auto again = sut.perform(http_request{"GET", server.url() + "/small", {}, {}, {}});
    ASSERT_TRUE(again.ok()) << again.error_message;
    EXPECT_EQ(again.res.body, body);
    EXPECT_TRUE(again.reused_connection);
    EXPECT_EQ(server.connections(), 1u);
}

TEST(HttpClientTest, StreamedBodyAbortsWhenReceiverReturnsFalse)
{
    const std::string body = patterned_body(5u << 20);
    http_test_server server{[&](const received_request&) { return test_reply{200, {}, body}; }};
    http_client sut;
    int calls = 0;
    std::size_t bytes = 0;
    http_request req{"GET", server.url() + "/big", {}, {}, {}};
    req.on_body = [&](std::string_view chunk) {
        ++calls;
        bytes += chunk.size();
        return calls < 3;
    };
    auto r = sut.perform(req);
    EXPECT_EQ(r.error, transport_error::io) << r.error_message;
    EXPECT_NE(r.error_message.find("aborted by the receiver"), std::string::npos) << r.error_message;
    EXPECT_EQ(calls, 3) << "no chunk after the receiver said stop, no retry";
    EXPECT_LT(bytes, body.size());
    EXPECT_EQ(server.request_count(), 1u);
    // The aborted connection is not pooled: the next request opens a new one and works.
    auto next = sut.perform(http_request{"GET", server.url() + "/again", {}, {}, {}});
    ASSERT_TRUE(next.ok()) << next.error_message;
    EXPECT_FALSE(next.reused_connection);
    EXPECT_EQ(next.res.body.size(), body.size());
}

TEST(HttpClientTest, StreamedBodyReceiverExceptionIsIoError)
{
    http_test_server server{[](const received_request&) { return test_reply{200, {}, "{\"a\":1}"}; }};
    http_client sut;
    http_request req{"GET", server.url() + "/", {}, {}, {}};
    req.on_body = [](std::string_view) -> bool { throw std::runtime_error{"parser blew up"}; };
    auto r = sut.perform(req);
    EXPECT_EQ(r.error, transport_error::io);
    EXPECT_NE(r.error_message.find("parser blew up"), std::string::npos) << r.error_message;
}

TEST(HttpClientTest, StreamedBodyOfErrorStatusAndEmptyBody)
{
    http_test_server server{[](const received_request& r) {
        return r.target == "/empty" ? test_reply{204, {}, ""} : test_reply{401, {}, "{\"error\":\"bad key\"}"};
    }};
    http_client sut;
    std::string got;
    int calls = 0;
    http_request req{"GET", server.url() + "/x", {}, {}, {}};
    req.on_body = [&](std::string_view chunk) {
        ++calls;
        got.append(chunk);
        return true;
    };
    auto r = sut.perform(req);
    ASSERT_TRUE(r.ok()) << r.error_message;
    EXPECT_EQ(r.res.status, 401);
    EXPECT_EQ(got, "{\"error\":\"bad key\"}");
    calls = 0;
    req.url = server.url() + "/empty";
    r = sut.perform(req);
    ASSERT_TRUE(r.ok()) << r.error_message;
    EXPECT_EQ(r.res.status, 204);
    EXPECT_EQ(calls, 0);
    EXPECT_TRUE(r.reused_connection);
}

TEST(HttpClientTest, StreamedBodyRetriedOnStaleConnectionDeliveredOnce)
{
    // As RetriesOnFreshConnectionWhenServerClosedPooledOne, with the second answer streamed:
    // the retry happens before any chunk, and every byte arrives exactly once.
    const std::string body = patterned_body(300'000);
    http_test_server server{[&](const received_request&) { return test_reply{200, {}, body, false, true}; }};
    http_client sut;
    ASSERT_TRUE(sut.perform(http_request{"GET", server.url() + "/a", {}, {}, {}}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds{50});  // let the close arrive
    std::string got;
    http_request req{"GET", server.url() + "/b", {}, {}, {}};
    req.on_body = [&](std::string_view chunk) {
        got.append(chunk);
        return true;
    };
    auto r = sut.perform(req);
    ASSERT_TRUE(r.ok()) << r.error_message;
    EXPECT_FALSE(r.reused_connection);
    EXPECT_TRUE(got == body) << got.size() << " bytes of " << body.size();
    EXPECT_EQ(server.connections(), 2u);
    EXPECT_EQ(server.request_count(), 2u);
}

/// A raw server (http_test_server always sends whole bodies): on each connection, the first
/// request gets a whole 2-byte answer; every later one (and every request on a later
/// connection) gets headers announcing 5 MB, 200,000 bytes of it, and a close.
class cutting_server {
public:
    cutting_server()
    {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            throw std::runtime_error{"cutting_server: cannot listen"};
        }
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~cutting_server()
    {
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    int connections() const { return connections_.load(); }
    int requests() const { return requests_.load(); }

private:
    static bool read_request(int c)
    {
        std::string got;
        char buf[4096];
        while (got.find("\r\n\r\n") == std::string::npos) {
            const auto n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) {
                return false;
            }
            got.append(buf, static_cast<std::size_t>(n));
        }
        return true;
    }
    static void send_all(int c, std::string_view s)
    {
        while (!s.empty()) {
            const auto n = ::send(c, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return;
            }
            s.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    void serve()
    {
        for (;;) {
            const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) {
                return;
            }
            const bool first_connection = ++connections_ == 1;
            bool whole = first_connection;
            while (read_request(c)) {
                ++requests_;
                if (whole) {
                    send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
                    whole = false;
                    continue;
                }
                send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(5u << 20) + "\r\n\r\n");
                send_all(c, std::string(200'000, 'x'));
                break;
            }
            ::close(c);
        }
    }

    int fd_ = -1;
    unsigned short port_ = 0;
    std::atomic<int> connections_{0}, requests_{0};
    std::thread thread_;
};

TEST(HttpClientTest, StreamedBodyCutMidwayOnPooledConnectionIsIoErrorNotRetried)
{
    // A pooled connection that breaks after chunks were handed over: the chunks given were a
    // partial body, the result says so (io), and the request is not sent again on a fresh
    // connection (it would hand the same bytes over twice).
    cutting_server server;
    http_client sut;
    auto warm = sut.perform(http_request{"GET", server.url() + "/warm", {}, {}, {}});
    ASSERT_TRUE(warm.ok()) << warm.error_message;
    std::size_t bytes = 0;
    http_request req{"GET", server.url() + "/cut", {}, {}, {}};
    req.on_body = [&](std::string_view chunk) {
        bytes += chunk.size();
        return true;
    };
    auto r = sut.perform(req);
    EXPECT_EQ(r.error, transport_error::io) << r.error_message;
    EXPECT_EQ(r.res.status, 200);
    EXPECT_EQ(server.requests(), 2);
    EXPECT_EQ(server.connections(), 1) << "retried after a partial body";
    EXPECT_GT(bytes, 0u);
    EXPECT_LE(bytes, 200'000u);
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
