#include "ws_connection.hpp"

#include <atomic>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "test_env.hpp"
#include "vs/net/tls.hpp"

namespace vs::feed {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// What the in-process server does with each connection.
struct server_script {
    std::vector<std::string> frames;   ///< sent after the upgrade
    bool ping = false;                 ///< then a ping, waiting for the client's pong
    int refuse_with = 0;               ///< answer the upgrade with this HTTP status instead
};

/// A self-signed certificate and its key, PEM.
struct test_cert {
    std::string cert_pem, key_pem;
};

test_cert make_cert(const char* san)
{
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("vs-feed test"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, key, EVP_sha256());
    auto to_pem = [](auto write) {
        BIO* bio = BIO_new(BIO_s_mem());
        write(bio);
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        std::string out(data, static_cast<std::size_t>(n));
        BIO_free(bio);
        return out;
    };
    test_cert c;
    c.cert_pem = to_pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
    c.key_pem = to_pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
    X509_free(x);
    EVP_PKEY_free(key);
    return c;
}

class test_server {
public:
    explicit test_server(server_script script, const test_cert* cert = nullptr) : script_(std::move(script))
    {
        if (cert != nullptr) {
            tls_.emplace(asio::ssl::context::tlsv12_server);
            tls_->use_certificate_chain(asio::buffer(cert->cert_pem));
            tls_->use_private_key(asio::buffer(cert->key_pem), asio::ssl::context::pem);
        }
        asio::co_spawn(io_, accept_loop(), asio::detached);
        thread_ = std::thread{[this] { io_.run(); }};
    }
    ~test_server()
    {
        io_.stop();
        thread_.join();
    }
    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    int pongs() const { return pongs_.load(); }

private:
    asio::awaitable<void> accept_loop()
    {
        for (;;) {
            auto [ec, sock] = co_await acceptor_.async_accept(use_tuple);
            if (ec) {
                co_return;
            }
            if (tls_) {
                asio::co_spawn(io_, serve_tls(std::move(sock)), asio::detached);
            } else {
                asio::co_spawn(io_, serve(websocket::stream<beast::tcp_stream>{std::move(sock)}), asio::detached);
            }
        }
    }

    asio::awaitable<void> serve_tls(tcp::socket sock)
    {
        websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws{std::move(sock), *tls_};
        auto [ec] = co_await ws.next_layer().async_handshake(asio::ssl::stream_base::server, use_tuple);
        if (ec) {
            co_return;
        }
        co_await serve(std::move(ws));
    }

    template <class Ws>
    asio::awaitable<void> serve(Ws ws)
    {
        beast::flat_buffer buf;
        http::request<http::string_body> req;
        auto [rec, rn] = co_await http::async_read(ws.next_layer(), buf, req, use_tuple);
        if (rec) {
            co_return;
        }
        if (script_.refuse_with != 0) {
            http::response<http::string_body> res{static_cast<http::status>(script_.refuse_with), req.version()};
            res.body() = "no such path";
            res.prepare_payload();
            co_await http::async_write(ws.next_layer(), res, use_tuple);
            co_return;
        }
        auto [aec] = co_await ws.async_accept(req, use_tuple);
        if (aec) {
            co_return;
        }
        ws.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind == websocket::frame_type::pong) {
                ++pongs_;
            }
        });
        for (const auto& f : script_.frames) {
            ws.text(true);
            auto [wec, wn] = co_await ws.async_write(asio::buffer(f), use_tuple);
            if (wec) {
                co_return;
            }
        }
        if (script_.ping) {
            co_await ws.async_ping({}, use_tuple);
        }
        for (;;) {   // until the client closes (pongs arrive while reading)
            beast::flat_buffer in;
            auto [ec, n] = co_await ws.async_read(in, use_tuple);
            if (ec) {
                co_return;
            }
        }
    }

    server_script script_;
    asio::io_context io_;
    tcp::acceptor acceptor_{io_, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
    std::optional<asio::ssl::context> tls_;
    std::atomic<int> pongs_{0};
    std::thread thread_;
};

/// The client side: one connection on a private io_context, with everything it reports.
struct client {
    asio::io_context io;
    std::vector<std::string> frames;
    std::vector<std::size_t> oversized;
    bool opened = false;
    std::optional<std::string> closed_why;
    std::shared_ptr<ws_connection> conn;

    void start(const std::string& url, asio::ssl::context* tls = nullptr, connection_options opt = {})
    {
        std::string err;
        auto ep = make_endpoint(url, "", err);
        ASSERT_TRUE(ep) << err;
        connection_events ev;
        ev.on_open = [this](std::uint64_t) { opened = true; };
        ev.on_frame = [this](std::uint64_t, std::string_view f, std::int64_t) { frames.emplace_back(f); };
        ev.on_oversized = [this](std::uint64_t, std::size_t n) { oversized.push_back(n); };
        ev.on_closed = [this](std::uint64_t, const std::string& why) { closed_why = why; };
        conn = make_connection(io, tls, *ep, opt, std::move(ev), 1);
        conn->start();
    }
    template <class Pred>
    bool run_until(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds{5000})
    {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!pred() && std::chrono::steady_clock::now() < deadline) {
            io.run_for(std::chrono::milliseconds{10});
            io.restart();
        }
        return pred();
    }
};

std::string url_of(const test_server& s, const char* scheme = "ws")
{
    return std::string{scheme} + "://127.0.0.1:" + std::to_string(s.port()) + "/market/stream?streams=x";
}

TEST(WsConnectionTest, DeliversEveryMessageWholeAndInOrder)
{
    const std::string big(300'000, 'x');   // a 650-symbol !ticker@arr frame is about this size
    test_server server{server_script{{"{\"a\":1}", big, "{\"b\":2}"}}};
    client sut;
    sut.start(url_of(server));
    ASSERT_TRUE(sut.run_until([&] { return sut.frames.size() == 3; }));
    EXPECT_TRUE(sut.opened);
    EXPECT_EQ(sut.frames[0], "{\"a\":1}");
    EXPECT_EQ(sut.frames[1], big);
    EXPECT_EQ(sut.frames[2], "{\"b\":2}");
}

TEST(WsConnectionTest, AnswersServerPingsWithPongs)
{
    test_server server{server_script{{"{}"}, true}};
    client sut;
    sut.start(url_of(server));
    ASSERT_TRUE(sut.run_until([&] { return server.pongs() == 1; }));
    EXPECT_EQ(sut.conn->pings_received(), 1u);
    EXPECT_FALSE(sut.closed_why.has_value());
}

TEST(WsConnectionTest, DropsAnOversizedMessageAndKeepsReading)
{
    test_server server{server_script{{std::string(100'000, 'y'), "{\"after\":true}"}}};
    client sut;
    connection_options opt;
    opt.max_frame_bytes = 4096;
    sut.start(url_of(server), nullptr, opt);
    ASSERT_TRUE(sut.run_until([&] { return sut.frames.size() == 1; }));
    ASSERT_EQ(sut.oversized.size(), 1u);
    EXPECT_EQ(sut.oversized[0], 100'000u);
    EXPECT_EQ(sut.frames[0], "{\"after\":true}");
    EXPECT_FALSE(sut.closed_why.has_value());
}

TEST(WsConnectionTest, RefusedUpgradeReportsTheHttpStatus)
{
    test_server server{server_script{{}, false, 404}};
    client sut;
    sut.start(url_of(server));
    ASSERT_TRUE(sut.run_until([&] { return sut.closed_why.has_value(); }));
    EXPECT_FALSE(sut.opened);
    EXPECT_NE(sut.closed_why->find("HTTP 404"), std::string::npos) << *sut.closed_why;
}

TEST(WsConnectionTest, RefusedTcpConnectionIsReported)
{
    unsigned short port = 0;
    {
        asio::io_context io;
        tcp::acceptor a{io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
        port = a.local_endpoint().port();
    }
    client sut;
    sut.start("ws://127.0.0.1:" + std::to_string(port) + "/x");
    ASSERT_TRUE(sut.run_until([&] { return sut.closed_why.has_value(); }));
    EXPECT_NE(sut.closed_why->find("cannot connect"), std::string::npos) << *sut.closed_why;
}

TEST(WsConnectionTest, CloseSendsACloseFrameAndEndsOnce)
{
    test_server server{server_script{{"{}"}}};
    client sut;
    sut.start(url_of(server));
    ASSERT_TRUE(sut.run_until([&] { return sut.frames.size() == 1; }));
    sut.conn->close();
    ASSERT_TRUE(sut.run_until([&] { return sut.closed_why.has_value(); }));
    EXPECT_NE(sut.closed_why->find("closed by us"), std::string::npos) << *sut.closed_why;
}

TEST(TlsWsConnectionTest, ConnectsWhenTheCertificateIsTrustedAndNamesTheHost)
{
    vs::test::test_env env;
    const auto cert = make_cert("IP:127.0.0.1");
    const auto ca = env.state_dir() / "ca.pem";
    std::ofstream{ca} << cert.cert_pem;
    test_server server{server_script{{"{\"tls\":true}"}}, &cert};
    auto tls = vs::net::make_client_context(ca.string());
    client sut;
    sut.start(url_of(server, "wss"), tls.get());
    ASSERT_TRUE(sut.run_until([&] { return sut.frames.size() == 1 || sut.closed_why; }))
        << "nothing happened";
    ASSERT_FALSE(sut.closed_why.has_value()) << *sut.closed_why;
    EXPECT_EQ(sut.frames[0], "{\"tls\":true}");
}

TEST(TlsWsConnectionTest, RefusesAnUntrustedCertificate)
{
    const auto cert = make_cert("IP:127.0.0.1");
    test_server server{server_script{{"{}"}}, &cert};
    auto tls = vs::net::make_client_context("");   // system CAs only
    client sut;
    sut.start(url_of(server, "wss"), tls.get());
    ASSERT_TRUE(sut.run_until([&] { return sut.closed_why.has_value(); }));
    EXPECT_FALSE(sut.opened);
    EXPECT_NE(sut.closed_why->find("TLS handshake"), std::string::npos) << *sut.closed_why;
}

TEST(TlsWsConnectionTest, RefusesATrustedCertificateForAnotherHost)
{
    vs::test::test_env env;
    const auto cert = make_cert("DNS:fstream.binance.com");
    const auto ca = env.state_dir() / "ca.pem";
    std::ofstream{ca} << cert.cert_pem;
    test_server server{server_script{{"{}"}}, &cert};
    auto tls = vs::net::make_client_context(ca.string());
    client sut;
    sut.start(url_of(server, "wss"), tls.get());
    ASSERT_TRUE(sut.run_until([&] { return sut.closed_why.has_value(); }));
    EXPECT_FALSE(sut.opened);
    EXPECT_NE(sut.closed_why->find("TLS handshake"), std::string::npos) << *sut.closed_why;
}

TEST(TlsWsConnectionTest, MissingCaFileFailsAtSetup)
{
    EXPECT_THROW(vs::net::make_client_context("/nonexistent/ca.pem"), std::runtime_error);
}

}  // namespace
}  // namespace vs::feed
