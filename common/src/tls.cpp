#include "vs/net/tls.hpp"

#include <stdexcept>

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "vs/net/address.hpp"

namespace vs::net {

namespace ssl = boost::asio::ssl;

std::unique_ptr<ssl::context> make_client_context(const std::string& extra_ca_file, bool verify_peer)
{
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
        throw std::runtime_error("cannot require TLS 1.2 or later");
    }
    ctx->set_options(ssl::context::default_workarounds);
    ctx->set_verify_mode(verify_peer ? ssl::verify_peer : ssl::verify_none);
    boost::system::error_code ec;
    ctx->set_default_verify_paths(ec);
    if (ec) {
        throw std::runtime_error("cannot load the system's CA certificates: " + ec.message());
    }
    if (!extra_ca_file.empty()) {
        ctx->load_verify_file(extra_ca_file, ec);
        if (ec) {
            throw std::runtime_error("cannot load CA file " + extra_ca_file + ": " + ec.message());
        }
    }
    return ctx;
}

boost::system::error_code prepare_client_stream(boost::beast::ssl_stream<boost::beast::tcp_stream>& stream,
                                                const std::string& host)
{
    if (!is_ip_literal(host) && SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()) != 1) {
        const unsigned long code = ::ERR_get_error();
        return code != 0 ? boost::system::error_code{static_cast<int>(code), boost::asio::error::get_ssl_category()}
                         : boost::system::error_code{boost::asio::error::invalid_argument};
    }
    stream.set_verify_callback(ssl::host_name_verification(host));
    return {};
}

}  // namespace vs::net
