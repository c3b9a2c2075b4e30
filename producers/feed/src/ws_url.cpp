#include "ws_url.hpp"

#include <cctype>
#include <cstdint>

#include "vs/net/address.hpp"

namespace vs::feed {

std::string ws_endpoint::url() const
{
    const bool v6 = host.find(':') != std::string::npos;
    std::string h = v6 ? "[" + host + "]" : host;
    const bool default_port = port == (tls ? "443" : "80");
    return std::string{tls ? "wss://" : "ws://"} + h + (default_port ? "" : ":" + port) + target;
}

bool valid_stream_list(std::string_view streams) noexcept
{
    if (streams.empty() || streams.front() == '/' || streams.back() == '/') {
        return false;
    }
    char prev = 0;
    for (char c : streams) {
        const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '!' || c == '@' ||
                        c == '_' || c == '-' || c == '.' || c == '/';
        if (!ok || (c == '/' && prev == '/')) {
            return false;
        }
        prev = c;
    }
    return true;
}

std::optional<ws_endpoint> make_endpoint(std::string_view url, std::string_view streams,
                                         std::string& error)
{
    ws_endpoint ep;
    if (url.substr(0, 6) == "wss://") {
        ep.tls = true;
        url.remove_prefix(6);
    } else if (url.substr(0, 5) == "ws://") {
        url.remove_prefix(5);
    } else {
        const auto colon = url.find(':');
        error = "unsupported URL '" + std::string{url} + "': scheme must be ws:// or wss://" +
                (colon != std::string_view::npos ? " (got '" + std::string{url.substr(0, colon)} + "')" : "");
        return std::nullopt;
    }
    const auto path_at = url.find_first_of("/?");
    std::string_view authority = url.substr(0, path_at);
    std::string_view rest = path_at == std::string_view::npos ? std::string_view{} : url.substr(path_at);
    if (authority.find('@') != std::string_view::npos) {
        error = "credentials in the WebSocket URL are not supported";
        return std::nullopt;
    }
    if (authority.empty()) {
        error = "no host in the WebSocket URL";
        return std::nullopt;
    }
    std::uint16_t port = 0;
    if (!net::parse_host_port(authority, ep.host, port, ep.tls ? 443 : 80) || port == 0) {
        error = "bad host or port '" + std::string{authority} + "' (expected HOST[:PORT] or [IPV6][:PORT])";
        return std::nullopt;
    }
    ep.port = std::to_string(port);
    const bool default_port = ep.port == (ep.tls ? "443" : "80");
    const bool v6 = ep.host.find(':') != std::string::npos;
    ep.host_header = (v6 ? "[" + ep.host + "]" : ep.host) + (default_port ? "" : ":" + ep.port);

    const auto q = rest.find('?');
    std::string path{rest.substr(0, q)};
    std::string query{q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1)};
    if (path.empty()) {
        path = "/";
    }
    if (!streams.empty() && !valid_stream_list(streams)) {
        error = "bad stream list '" + std::string{streams} + "'";
        return std::nullopt;
    }
    const bool names_streams_in_query = query.rfind("streams=", 0) == 0 ||
                                        query.find("&streams=") != std::string::npos;
    const bool raw_path_with_stream = path.find("/ws/") != std::string::npos;
    const bool raw_path = path.size() >= 3 && path.compare(path.size() - 3, 3, "/ws") == 0;
    if (names_streams_in_query || raw_path_with_stream || streams.empty()) {
        ep.target = path + (query.empty() ? "" : "?" + query);
    } else if (raw_path) {
        ep.target = path + "/" + std::string{streams} + (query.empty() ? "" : "?" + query);
    } else {
        ep.target = path + "?" + (query.empty() ? "" : query + "&") + "streams=" + std::string{streams};
    }
    return ep;
}

}  // namespace vs::feed
