#pragma once
// Blocking loopback HTTP helpers for the vs-api tests (Beast's parser on the client side).
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

namespace vs::api::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

/// One client connection (keep-alive across calls).
class http_connection {
public:
    explicit http_connection(std::uint16_t port) : socket_(io_)
    {
        socket_.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port});
    }

    /// Waits until the socket is readable (data or EOF), at most `timeout`.
    bool wait_readable(std::chrono::milliseconds timeout)
    {
        pollfd p{socket_.native_handle(), POLLIN, 0};
        return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
    }

    /// Sends raw bytes.
    void send(std::string_view raw) { asio::write(socket_, asio::buffer(raw.data(), raw.size())); }

    /// Reads one response (throws on a closed connection or timeout).
    http::response<http::string_body> read(bool head = false)
    {
        http::response_parser<http::string_body> p;
        p.body_limit(64u << 20);
        p.skip(head);
        http::read(socket_, buffer_, p);
        return p.release();
    }

    http::response<http::string_body> get(std::string_view target, std::string_view method = "GET")
    {
        std::string req{method};
        req += ' ';
        req += target;
        req += " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        send(req);
        return read(method == "HEAD");
    }

    /// True when the server closed the connection (reads EOF) within the socket timeout.
    bool closed_by_peer()
    {
        if (!wait_readable(std::chrono::seconds{5})) {
            return false;
        }
        char c;
        boost::system::error_code ec;
        socket_.read_some(asio::buffer(&c, 1), ec);
        return ec == asio::error::eof || ec == asio::error::connection_reset;
    }

    /// Reads whatever arrives until `pred(all_so_far)` or the deadline.
    template <class Pred>
    bool read_until(std::string& all, Pred pred, std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        if (buffer_.size() > 0) {
            all.append(static_cast<const char*>(buffer_.data().data()), buffer_.size());
            buffer_.consume(buffer_.size());
        }
        while (!pred(all)) {
            if (std::chrono::steady_clock::now() > deadline) {
                return false;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (!wait_readable(std::max(left, std::chrono::milliseconds{1}))) {
                continue;
            }
            char buf[65536];
            boost::system::error_code ec;
            const auto n = socket_.read_some(asio::buffer(buf), ec);
            if (ec) {
                return pred(all);
            }
            all.append(buf, n);
        }
        return true;
    }

    tcp::socket& socket() noexcept { return socket_; }

private:
    asio::io_context io_;
    tcp::socket socket_;
    boost::beast::flat_buffer buffer_;
};

inline http::response<http::string_body> http_get(std::uint16_t port, std::string_view target)
{
    http_connection c{port};
    return c.get(target);
}

}  // namespace vs::api::test
