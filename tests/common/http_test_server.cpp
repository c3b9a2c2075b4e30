#include "http_test_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "vs/common/clock.hpp"

namespace vs::test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::optional<std::string> received_request::header(std::string_view name) const
{
    for (const auto& [k, v] : headers) {
        if (k.size() == name.size() &&
            std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
            })) {
            return v;
        }
    }
    return std::nullopt;
}

struct http_test_server::state {
    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    mutable std::mutex mu;
    handler h;
    std::vector<received_request> log;
    std::vector<std::thread> workers;
    std::vector<int> fds;
};

http_test_server::http_test_server(handler h) : st_(std::make_unique<state>())
{
    st_->h = std::move(h);
    tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), 0};
    st_->acceptor.open(ep.protocol());
    st_->acceptor.set_option(asio::socket_base::reuse_address(true));
    st_->acceptor.bind(ep);
    st_->acceptor.listen(128);
    port_ = st_->acceptor.local_endpoint().port();
    acceptor_ = std::thread([this] { accept_loop(); });
}

http_test_server::~http_test_server() { stop(); }

void http_test_server::set_handler(handler h)
{
    std::lock_guard lock{st_->mu};
    st_->h = std::move(h);
}

std::vector<received_request> http_test_server::requests() const
{
    std::lock_guard lock{st_->mu};
    return st_->log;
}

std::size_t http_test_server::request_count() const
{
    std::lock_guard lock{st_->mu};
    return st_->log.size();
}

void http_test_server::stop()
{
    if (stopping_.exchange(true)) {
        return;
    }
    // Wake the blocking accept with a connection of our own.
    try {
        asio::io_context ioc;
        tcp::socket s{ioc};
        s.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port_});
    } catch (...) {
    }
    if (acceptor_.joinable()) {
        acceptor_.join();
    }
    std::vector<std::thread> workers;
    {
        std::lock_guard lock{st_->mu};
        for (int fd : st_->fds) {
            ::shutdown(fd, SHUT_RDWR);
        }
        workers.swap(st_->workers);
    }
    for (auto& t : workers) {
        t.join();
    }
}

void http_test_server::accept_loop()
{
    for (;;) {
        boost::system::error_code ec;
        tcp::socket s{st_->ioc};
        st_->acceptor.accept(s, ec);
        if (stopping_.load()) {
            return;
        }
        if (ec) {
            continue;
        }
        const std::uint64_t n = connections_.fetch_add(1, std::memory_order_relaxed) + 1;
        int fd = s.release(ec);
        std::lock_guard lock{st_->mu};
        st_->fds.push_back(fd);
        st_->workers.emplace_back([this, fd, n] { serve(fd, n); });
    }
}

void http_test_server::serve(int fd, std::uint64_t number)
{
    asio::io_context ioc;
    tcp::socket s{ioc, tcp::v4(), fd};
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> req;
        boost::system::error_code ec;
        http::read(s, buffer, req, ec);
        if (ec) {
            break;
        }
        received_request r;
        r.method = std::string{req.method_string()};
        r.target = std::string{req.target()};
        r.body = req.body();
        for (const auto& f : req) {
            r.headers.emplace_back(std::string{f.name_string()}, std::string{f.value()});
        }
        r.at_ms = realtime_ms();
        r.connection = number;
        handler h;
        {
            std::lock_guard lock{st_->mu};
            st_->log.push_back(r);
            h = st_->h;
        }
        test_reply reply = h ? h(r) : test_reply{};
        if (reply.drop || stopping_.load()) {
            break;
        }
        http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
        res.set(http::field::server, "vs-test");
        res.set(http::field::content_type, "application/json");
        for (const auto& [k, v] : reply.headers) {
            res.set(k, v);
        }
        res.body() = reply.body;
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(s, res, ec);
        if (ec || !req.keep_alive() || reply.close_after) {
            break;
        }
    }
    boost::system::error_code ignored;
    s.shutdown(tcp::socket::shutdown_both, ignored);
    {
        std::lock_guard lock{st_->mu};
        st_->fds.erase(std::remove(st_->fds.begin(), st_->fds.end(), fd), st_->fds.end());
    }
    s.close(ignored);
}

}  // namespace vs::test
