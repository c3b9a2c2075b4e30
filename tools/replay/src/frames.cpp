#include "vs/replay/frames.hpp"

#include <charconv>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace vs::replay {

std::string envelope(std::string_view stream, std::string_view data)
{
    std::string out;
    out.reserve(stream.size() + data.size() + 24);
    out += "{\"stream\":\"";
    out += stream;
    out += "\",\"data\":";
    out += data;
    out += '}';
    return out;
}

namespace {

// Replaces the value of the first `"key":"..."` string field; false if there is none.
bool replace_first_string(std::string& text, std::string_view key, std::string_view value)
{
    std::string needle = "\"" + std::string(key) + "\":\"";
    auto at = text.find(needle);
    if (at == std::string::npos) {
        return false;
    }
    auto begin = at + needle.size();
    auto end = text.find('"', begin);
    if (end == std::string::npos) {
        return false;
    }
    text.replace(begin, end - begin, value);
    return true;
}

}  // namespace

std::string malformed_frame(int kind, std::string_view stream, std::string_view frame, bool combined)
{
    std::string text{frame};
    // In a ticker row "p" is the price change (negative is fine); break the last price "c".
    const char* price_key = stream.rfind("!ticker", 0) == 0 || stream.find("@ticker") != std::string_view::npos
                                ? "c"
                                : "p";
    switch (kind % malformed_kinds) {
    case 0:
        return text.substr(0, std::max<std::size_t>(text.size() / 2, 1));
    case 1:
        if (replace_first_string(text, price_key, "NaN")) {
            return text;
        }
        return text.substr(0, std::max<std::size_t>(text.size() / 2, 1));
    case 2: {
        auto at = text.find("\"" + std::string(price_key) + "\":\"");
        if (at != std::string::npos) {
            text.insert(at + 5, "-");
            return text;
        }
        return text.substr(0, std::max<std::size_t>(text.size() / 2, 1));
    }
    case 3:
        if (replace_first_string(text, "s", std::string(96, 'X') + "USDT")) {
            return text;
        }
        return text.substr(0, std::max<std::size_t>(text.size() / 2, 1));
    default:
        return combined ? envelope(stream, "42") : std::string{"42"};
    }
}

std::optional<recorded_frame> parse_recorded_line(std::string_view line)
{
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    auto tab = line.find('\t');
    if (tab == std::string_view::npos || tab == 0) {
        return std::nullopt;
    }
    recorded_frame f;
    auto [p, ec] = std::from_chars(line.data(), line.data() + tab, f.recv_ns);
    if (ec != std::errc{} || p != line.data() + tab) {
        return std::nullopt;
    }
    f.text = std::string(line.substr(tab + 1));
    boost::json::error_code jec;
    boost::json::value v = boost::json::parse(f.text, jec);
    if (jec || !v.is_object()) {
        return std::nullopt;
    }
    const auto& obj = v.get_object();
    const auto* stream = obj.if_contains("stream");
    const auto* data = obj.if_contains("data");
    if (stream == nullptr || !stream->is_string() || data == nullptr) {
        return std::nullopt;
    }
    f.stream = std::string(stream->get_string());
    f.data = boost::json::serialize(*data);
    return f;
}

}  // namespace vs::replay
