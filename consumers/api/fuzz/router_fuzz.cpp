// libFuzzer target over vs-api's request handling: the raw bytes go through Beast's request
// parser with the server's limits, then through the router (with an in-memory market); the
// same bytes are also routed directly as "METHOD TARGET" so that targets Beast would refuse
// still reach the router. Any crash, sanitizer report or exception is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "market_fixture.hpp"
#include "vs/api/json_writer.hpp"
#include "vs/api/memory_source.hpp"
#include "vs/api/router.hpp"

namespace {

vs::api::memory_source& market()
{
    static vs::api::memory_source src = [] {
        vs::api::memory_source s;
        vs::api::fuzz::fill_market(s);
        return s;
    }();
    return src;
}

void check(const vs::api::response& res)
{
    // Every response must be a known status with a body (JSON errors, or the page), except
    // an accepted /events request, which the server turns into a stream.
    const bool stream = res.matched == vs::api::route::events && res.status == 200;
    if (res.status < 200 || res.status > 599 || (res.payload().empty() && !stream)) {
        __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    namespace http = boost::beast::http;
    static vs::api::router_config cfg{};
    static vs::api::router sut{cfg, market()};
    static vs::api::response res;
    const std::string_view input{reinterpret_cast<const char*>(data), size};

    // 1. As an HTTP request through Beast's parser with the server's limits.
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(4 * 1024);
    parser.eager(true);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(input.data(), input.size()), ec);
    if (!ec && parser.is_header_done()) {
        const auto& req = parser.get();
        sut.handle({req.method_string(), req.target()}, res);
        check(res);
    }

    // 2. Directly: first line split at the first space.
    const auto sp = input.find(' ');
    const auto method = input.substr(0, sp);
    const auto target = sp == std::string_view::npos ? std::string_view{} : input.substr(sp + 1);
    sut.handle({method, target}, res);
    check(res);

    // 3. The symbol helpers on the raw bytes.
    std::string out;
    vs::api::normalize_symbol(input, out);
    std::vector<std::string> symbols;
    std::string decoded;
    bool too_many = false;
    vs::api::parse_symbol_list(input, decoded, symbols, 1000, too_many);
    out.clear();
    vs::api::append_json_string(out, input);
    return 0;
}
