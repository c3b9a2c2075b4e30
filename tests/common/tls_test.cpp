// vs::net's TLS client set-up: the context (TLS 1.2+, verification, CA files) and the per-stream
// preparation (SNI for names only, host-name check). The handshakes themselves are exercised
// against real servers by https_client_test and the feed's ws_connection_test.
#include "vs/net/tls.hpp"

#include <fstream>
#include <stdexcept>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "test_env.hpp"

namespace vs::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using stream_type = beast::ssl_stream<beast::tcp_stream>;

TEST(TlsClientContextTest, VerifiesPeersAndRefusesTlsBefore12)
{
    const auto ctx = make_client_context("");
    EXPECT_EQ(SSL_CTX_get_verify_mode(ctx->native_handle()), SSL_VERIFY_PEER);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->native_handle()), TLS1_2_VERSION);
    EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx->native_handle()), 0);   // 0: up to the newest (1.3)
    const auto unverified = make_client_context("", false);
    EXPECT_EQ(SSL_CTX_get_verify_mode(unverified->native_handle()), SSL_VERIFY_NONE);
}

TEST(TlsClientContextTest, AMissingOrBrokenCaFileFailsNamingTheFile)
{
    vs::test::test_env env;
    const auto broken = (env.state_dir() / "broken.pem").string();
    std::ofstream{broken} << "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    for (const std::string& file : {std::string{"/nonexistent/ca.pem"}, broken}) {
        try {
            (void)make_client_context(file);
            ADD_FAILURE() << "no error for " << file;
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string{e.what()}.find(file), std::string::npos) << e.what();
        }
    }
}

TEST(TlsClientStreamTest, SendsSniForHostNamesOnly)
{
    asio::io_context ioc;
    const auto ctx = make_client_context("");
    stream_type named{ioc, *ctx};
    ASSERT_FALSE(prepare_client_stream(named, "fstream.binance.com"));
    const char* sni = SSL_get_servername(named.native_handle(), TLSEXT_NAMETYPE_host_name);
    ASSERT_NE(sni, nullptr);
    EXPECT_STREQ(sni, "fstream.binance.com");

    for (const char* ip : {"127.0.0.1", "::1"}) {
        stream_type literal{ioc, *ctx};
        ASSERT_FALSE(prepare_client_stream(literal, ip)) << ip;
        EXPECT_EQ(SSL_get_servername(literal.native_handle(), TLSEXT_NAMETYPE_host_name), nullptr) << ip;
    }
}

}  // namespace
}  // namespace vs::net
