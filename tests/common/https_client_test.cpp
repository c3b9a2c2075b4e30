// The HTTP client over TLS against a real TLS server on loopback whose certificate the test
// makes with the openssl command: verification against a given CA passes, an untrusted
// certificate or one for another host name fails, keep-alive works over TLS.
#include <cstdlib>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <gtest/gtest.h>

#include "test_env.hpp"
#include "vs/net/http_client.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// Serves connections one after the other (enough for one client), keep-alive inside each.
class tls_server {
public:
    tls_server(const std::string& cert, const std::string& key) : ctx_(ssl::context::tls_server)
    {
        ctx_.use_certificate_chain_file(cert);
        ctx_.use_private_key_file(key, ssl::context::pem);
        acceptor_.open(tcp::v4());
        acceptor_.bind(tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this] { run(); });
    }
    ~tls_server()
    {
        stop_ = true;
        boost::system::error_code ec;
        tcp::socket poke{ioc_};
        poke.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port_}, ec);
        poke.close(ec);
        thread_.join();
    }
    unsigned short port() const { return port_; }
    int connections() const { return connections_; }

private:
    void run()
    {
        while (!stop_) {
            tcp::socket s{ioc_};
            boost::system::error_code ec;
            acceptor_.accept(s, ec);
            if (stop_ || ec) {
                continue;
            }
            ++connections_;
            beast::ssl_stream<tcp::socket> stream{std::move(s), ctx_};
            stream.handshake(ssl::stream_base::server, ec);
            if (ec) {
                continue;
            }
            beast::flat_buffer buf;
            for (;;) {
                http::request<http::string_body> req;
                http::read(stream, buf, req, ec);
                if (ec) {
                    break;
                }
                http::response<http::string_body> res{http::status::ok, 11};
                res.body() = "{\"tls\":true}";
                res.keep_alive(req.keep_alive());
                res.prepare_payload();
                http::write(stream, res, ec);
                if (ec) {
                    break;
                }
            }
        }
    }
    asio::io_context ioc_;
    ssl::context ctx_;
    tcp::acceptor acceptor_{ioc_};
    unsigned short port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::thread thread_;
};

struct cert_files {
    std::string cert, key;
};

std::optional<cert_files> make_cert(const vs::test::test_env& env, const std::string& name, const std::string& san)
{
    cert_files f{(env.state_dir() / (name + ".crt")).string(), (env.state_dir() / (name + ".key")).string()};
    const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
                            " -subj /CN=" + name + " -addext subjectAltName=" + san + " -keyout " + f.key +
                            " -out " + f.cert + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
        return std::nullopt;
    }
    return f;
}

TEST(HttpsClientTest, VerifiesServerAgainstGivenCaAndKeepsTheConnection)
{
    vs::test::test_env env;
    auto cert = make_cert(env, "localhost", "DNS:localhost,IP:127.0.0.1");
    if (!cert) {
        GTEST_SKIP() << "the openssl command is not available";
    }
    tls_server server{cert->cert, cert->key};
    vs::net::http_client_options o;
    o.ca_file = cert->cert;
    vs::net::http_client sut{o};
    for (const std::string host : {"localhost", "localhost", "localhost"}) {
        auto r = sut.perform({"GET", "https://" + host + ":" + std::to_string(server.port()) + "/x", {}, {}, {}});
        ASSERT_TRUE(r.ok()) << r.error_message;
        EXPECT_EQ(r.res.body, "{\"tls\":true}");
    }
    EXPECT_EQ(server.connections(), 1);
    EXPECT_EQ(sut.stats().connections_reused, 2u);
}

TEST(HttpsClientTest, RejectsCertificateNotSignedByATrustedCa)
{
    vs::test::test_env env;
    auto cert = make_cert(env, "localhost", "DNS:localhost,IP:127.0.0.1");
    if (!cert) {
        GTEST_SKIP() << "the openssl command is not available";
    }
    tls_server server{cert->cert, cert->key};
    vs::net::http_client sut;   // system CAs only
    auto r = sut.perform({"GET", "https://localhost:" + std::to_string(server.port()) + "/", {}, {}, {}});
    EXPECT_EQ(r.error, vs::net::transport_error::tls) << r.error_message;
    EXPECT_NE(r.error_message.find("certificate verify failed"), std::string::npos) << r.error_message;
}

TEST(HttpsClientTest, RejectsCertificateIssuedForAnotherHost)
{
    vs::test::test_env env;
    auto cert = make_cert(env, "other.example", "DNS:other.example");
    if (!cert) {
        GTEST_SKIP() << "the openssl command is not available";
    }
    tls_server server{cert->cert, cert->key};
    vs::net::http_client_options o;
    o.ca_file = cert->cert;     // trusted, but for another name
    vs::net::http_client sut{o};
    auto r = sut.perform({"GET", "https://localhost:" + std::to_string(server.port()) + "/", {}, {}, {}});
    EXPECT_EQ(r.error, vs::net::transport_error::tls) << r.error_message;
    EXPECT_NE(r.error_message.find("certificate verify failed"), std::string::npos) << r.error_message;
}

}  // namespace
