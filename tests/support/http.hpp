#pragma once
// One plain HTTP/1.1 exchange with a server on 127.0.0.1 (the replay's control API, vs-api's
// endpoints) over a blocking socket, with nothing but POSIX: status and body, 0 when nothing
// answered. Also a port that was free a moment ago, and URL encoding of a query value.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace vs::test {

struct http_reply {
    int status = 0;   ///< 0: no answer
    std::string body;
};

/// `method target` to 127.0.0.1:port with Connection: close; the whole answer within `timeout`.
inline http_reply loopback_http(std::uint16_t port, std::string_view method, std::string_view target,
                                std::chrono::milliseconds timeout = std::chrono::seconds{10})
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return {};
    }
    const timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string resp;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        std::string req{method};
        req.append(" ").append(target).append(
            " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
            char b[4096];
            for (ssize_t n; (n = ::recv(fd, b, sizeof b, 0)) > 0;) {
                resp.append(b, static_cast<std::size_t>(n));
            }
        }
    }
    ::close(fd);
    // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
    if (resp.size() < 12 || resp.rfind("HTTP/", 0) != 0) {
        return {};
    }
    const auto body = resp.find("\r\n\r\n");
    return {std::atoi(resp.substr(9, 3).c_str()), body == std::string::npos ? std::string{} : resp.substr(body + 4)};
}

/// A port on 127.0.0.1 that was free a moment ago (bound to 0, read back, closed).
inline std::uint16_t free_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        a.sin_port = 0;
    }
    if (fd >= 0) {
        ::close(fd);
    }
    return ntohs(a.sin_port);
}

/// Whether something accepts connections on 127.0.0.1:port now.
inline bool port_open(std::uint16_t port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (fd >= 0) {
        ::close(fd);
    }
    return ok;
}

/// "%21markPrice%40arr%401s" for "!markPrice@arr@1s".
inline std::string url_encode(std::string_view s)
{
    std::string out;
    for (const unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            char b[4];
            std::snprintf(b, sizeof b, "%%%02X", c);
            out += b;
        }
    }
    return out;
}

}  // namespace vs::test
