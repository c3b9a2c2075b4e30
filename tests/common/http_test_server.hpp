#pragma once
// The tests' own HTTP/1.1 server: a real Beast server on 127.0.0.1 (port chosen by the
// kernel), one thread per connection, keep-alive, every request recorded with its arrival
// time. A handler decides each reply; it may block (to hold a response while a test kills
// the client) and may ask to drop the connection without answering (a backend "down").
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vs::test {

struct received_request {
    std::string method;
    std::string target;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::int64_t at_ms = 0;          ///< realtime ms at arrival
    std::uint64_t connection = 0;    ///< connection number (1, 2, ...)
    std::optional<std::string> header(std::string_view name) const;
};

struct test_reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body = "{}";
    bool drop = false;               ///< close the connection without a response
    bool close_after = false;        ///< answer (claiming keep-alive), then close the connection
};

class http_test_server {
public:
    using handler = std::function<test_reply(const received_request&)>;

    explicit http_test_server(handler h);
    ~http_test_server();
    http_test_server(const http_test_server&) = delete;
    http_test_server& operator=(const http_test_server&) = delete;

    void set_handler(handler h);
    unsigned short port() const noexcept { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<received_request> requests() const;
    std::size_t request_count() const;
    std::uint64_t connections() const noexcept { return connections_.load(std::memory_order_relaxed); }
    void stop();

private:
    void accept_loop();
    void serve(int fd, std::uint64_t number);

    struct state;
    std::unique_ptr<state> st_;
    unsigned short port_ = 0;
    std::atomic<std::uint64_t> connections_{0};
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
};

}  // namespace vs::test
