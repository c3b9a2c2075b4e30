#pragma once
// Small loopback clients for the vs-replay tests: one HTTP request with a deadline, and a
// WebSocket client whose reads wait at most a given time (a pending read survives a timeout,
// so no frame is lost between calls).
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace vs::test {

namespace replay_client_detail {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
}  // namespace replay_client_detail

struct http_result {
    unsigned status = 0;  ///< 0: no answer
    std::string body;
    std::map<std::string, std::string> headers;

    std::string header(const std::string& name) const
    {
        auto it = headers.find(name);
        return it == headers.end() ? std::string{} : it->second;
    }
    boost::json::value json() const
    {
        boost::json::error_code ec;
        auto v = boost::json::parse(body, ec);
        return ec ? boost::json::value{} : v;
    }
};

/// One request to 127.0.0.1:port with a 5 s deadline.
inline http_result http_request(unsigned short port, const std::string& target,
                                boost::beast::http::verb verb = boost::beast::http::verb::get)
{
    using namespace replay_client_detail;
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.prepare_payload();
    http::response<http::string_body> res;
    beast::flat_buffer buf;
    http_result out;
    stream.expires_after(std::chrono::seconds(5));
    stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
        if (ec) {
            return;
        }
        http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
            if (wec) {
                return;
            }
            http::async_read(stream, buf, res, [&](beast::error_code rec, std::size_t) {
                if (rec) {
                    return;
                }
                out.status = res.result_int();
                out.body = res.body();
                for (const auto& f : res) {
                    out.headers[std::string(f.name_string())] = std::string(f.value());
                }
            });
        });
    });
    ioc.run();
    return out;
}

inline http_result http_post(unsigned short port, const std::string& target)
{
    return http_request(port, target, boost::beast::http::verb::post);
}

class ws_client {
public:
    ws_client() : ws_(ioc_) {}

    /// Connects and upgrades `target`; false on failure (and the HTTP status, if any).
    bool connect(unsigned short port, const std::string& target)
    {
        using namespace replay_client_detail;
        beast::error_code ec;
        beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(5));
        beast::get_lowest_layer(ws_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
        if (ec) {
            return false;
        }
        ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind == websocket::frame_type::ping) {
                ++pings_;
            }
        });
        websocket::response_type res;
        ws_.handshake(res, "127.0.0.1:" + std::to_string(port), target, ec);
        handshake_status_ = res.result_int();
        beast::get_lowest_layer(ws_).expires_never();
        return !ec;
    }

    /// The next text frame within `timeout`; nothing on timeout or when the connection is
    /// closed (see closed()).
    std::optional<std::string> read(std::chrono::milliseconds timeout)
    {
        if (!frames_.empty()) {
            return pop();
        }
        if (closed_) {
            return std::nullopt;
        }
        start_read();
        pump(timeout);
        if (!frames_.empty()) {
            return pop();
        }
        return std::nullopt;
    }

    /// Reads and discards every frame for `d`; returns how many there were.
    int drain(std::chrono::milliseconds d)
    {
        int n = static_cast<int>(frames_.size());
        frames_.clear();
        auto deadline = std::chrono::steady_clock::now() + d;
        while (!closed_ && std::chrono::steady_clock::now() < deadline) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (read(left)) {
                ++n;
            }
        }
        return n;
    }

    /// Waits up to `timeout` for at least one frame, keeping it queued.
    void pump(std::chrono::milliseconds timeout)
    {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        ioc_.restart();
        while (frames_.empty() && !closed_ && std::chrono::steady_clock::now() < deadline) {
            ioc_.run_one_until(deadline);
        }
    }

    /// Reads JSON frames until `pred` is true for one (returned) or `timeout` passes.
    template <class Pred>
    std::optional<boost::json::value> read_until(Pred pred, std::chrono::milliseconds timeout)
    {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            auto f = read(left);
            if (!f) {
                if (closed_) {
                    return std::nullopt;
                }
                continue;
            }
            boost::json::error_code ec;
            auto v = boost::json::parse(*f, ec);
            if (!ec && pred(v)) {
                return v;
            }
        }
        return std::nullopt;
    }

    void write(const std::string& text)
    {
        boost::beast::error_code ec;
        ws_.text(true);
        ws_.write(boost::asio::buffer(text), ec);
    }

    bool closed() const noexcept { return closed_; }
    int pings() const noexcept { return pings_; }
    unsigned handshake_status() const noexcept { return handshake_status_; }

private:
    void start_read()
    {
        if (reading_ || closed_) {
            return;
        }
        reading_ = true;
        ws_.async_read(buf_, [this](boost::beast::error_code ec, std::size_t) {
            reading_ = false;
            if (ec) {
                closed_ = true;
                return;
            }
            frames_.push_back(boost::beast::buffers_to_string(buf_.data()));
            buf_.consume(buf_.size());
        });
    }
    std::string pop()
    {
        std::string f = std::move(frames_.front());
        frames_.pop_front();
        return f;
    }

    boost::asio::io_context ioc_;
    boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
    boost::beast::flat_buffer buf_;
    std::deque<std::string> frames_;
    bool reading_ = false;
    bool closed_ = false;
    int pings_ = 0;
    unsigned handshake_status_ = 0;
};

/// Sleeps past the next UTC minute boundary when fewer than `margin` seconds are left, so a
/// weight-counting test does not straddle two minutes.
inline void avoid_minute_boundary(int margin_s = 5)
{
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count() % 60'000;
    if (ms > 60'000 - margin_s * 1000) {
        std::this_thread::sleep_for(std::chrono::milliseconds(60'000 - ms + 100));
    }
}

}  // namespace vs::test
