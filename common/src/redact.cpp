#include "vs/common/redact.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <vector>

#include <unistd.h>   // environ

namespace vs::redact {
namespace {

struct registry {
    std::shared_mutex mu;
    std::vector<std::string> values;   // longest first: a secret containing another goes whole
};

registry& reg()
{
    static registry r;
    return r;
}

char lower(char c) noexcept { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }
char upper(char c) noexcept { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); }
bool is_alnum(char c) noexcept { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) noexcept { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool starts_with_ci(std::string_view text, std::size_t pos, std::string_view word) noexcept
{
    if (text.size() - pos < word.size()) {
        return false;
    }
    for (std::size_t k = 0; k < word.size(); ++k) {
        if (lower(text[pos + k]) != lower(word[k])) {
            return false;
        }
    }
    return true;
}

bool ends_with(std::string_view s, std::string_view suffix) noexcept
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Where a URL component (path segment, query value, authority) ends.
bool ends_component(char c) noexcept
{
    return is_space(c) || c == '/' || c == '?' || c == '#' || c == '&' || c == '"' || c == '\'' || c == ',' ||
           c == ';' || c == ')' || c == ']' || c == '\\';
}

std::size_t component_end(std::string_view text, std::size_t from) noexcept
{
    while (from < text.size() && !ends_component(text[from])) {
        ++from;
    }
    return from;
}

// Names whose values are secrets, as query parameters, JSON members and (x-api-key,
// authorization) headers. A name also matches as the end of a longer one (bot_token).
constexpr std::array<std::string_view, 12> secret_keys{
    "x-api-key", "apikey", "api_key", "api-key", "access_token", "token", "password", "passwd",
    "client_secret", "secret", "signature", "authorization"};

// A parameter or member name that names a secret: one of secret_keys, or ending in one (bot_token).
bool name_is_secret(std::string_view name) noexcept
{
    for (auto key : secret_keys) {
        if (name.size() >= key.size() && starts_with_ci(name, name.size() - key.size(), key)) {
            return true;
        }
    }
    return false;
}

std::optional<std::string_view> secret_key_at(std::string_view text, std::size_t pos) noexcept
{
    for (auto k : secret_keys) {
        if (starts_with_ci(text, pos, k)) {
            return text.substr(pos, k.size());
        }
    }
    return std::nullopt;
}

std::string percent_encoded(std::string_view s)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : s) {
        if (is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[(static_cast<unsigned char>(c) >> 4) & 0xF];
            out += hex[static_cast<unsigned char>(c) & 0xF];
        }
    }
    return out;
}

void replace_all(std::string& s, std::string_view what)
{
    std::size_t pos = 0;
    while ((pos = s.find(what, pos)) != std::string::npos) {
        s.replace(pos, what.size(), marker);
        pos += marker.size();
    }
}

// Each rule looks at text[i]; on a match it appends the redacted form to `out` and returns
// the index where copying resumes.
using rule_result = std::optional<std::size_t>;

// scheme://user:pass@host -> scheme://<redacted>@host
rule_result userinfo_rule(std::string_view t, std::size_t i, std::string& out)
{
    if (t.compare(i, 3, "://") != 0) {
        return std::nullopt;
    }
    const std::size_t from = i + 3;
    std::size_t end = from;
    while (end < t.size() && !is_space(t[end]) && t[end] != '/' && t[end] != '?' && t[end] != '#' &&
           t[end] != '"' && t[end] != '\'') {
        ++end;
    }
    const auto at = t.substr(from, end - from).rfind('@');
    if (at == std::string_view::npos || at == 0 || t.substr(from, at) == marker) {
        return std::nullopt;
    }
    out += "://";
    out += marker;
    return from + at;   // resumes at the '@'
}

// /bot123456:AAE.../ -> /bot<redacted>/
rule_result telegram_rule(std::string_view t, std::size_t i, std::string& out)
{
    if (!starts_with_ci(t, i, "/bot")) {
        return std::nullopt;
    }
    const std::size_t from = i + 4;
    const std::size_t end = component_end(t, from);
    const auto seg = t.substr(from, end - from);
    if (seg.empty() || !is_digit(seg.front()) ||
        (seg.find(':') == std::string_view::npos && seg.find("%3A") == std::string_view::npos &&
         seg.find("%3a") == std::string_view::npos)) {
        return std::nullopt;
    }
    out.append(t.substr(i, 4));
    out += marker;
    return end;
}

// /api/webhooks/<id>/<token> -> /api/webhooks/<id>/<redacted>
rule_result discord_rule(std::string_view t, std::size_t i, std::string& out)
{
    constexpr std::string_view prefix = "/api/webhooks/";
    if (!starts_with_ci(t, i, prefix)) {
        return std::nullopt;
    }
    const std::size_t id_from = i + prefix.size();
    const std::size_t id_end = component_end(t, id_from);
    if (id_end == id_from || id_end >= t.size() || t[id_end] != '/') {
        return std::nullopt;
    }
    const std::size_t tok_from = id_end + 1;
    const std::size_t tok_end = component_end(t, tok_from);
    const auto tok = t.substr(tok_from, tok_end - tok_from);
    if (tok.empty() || tok.front() == '<') {
        return std::nullopt;
    }
    out.append(t.substr(i, tok_from - i));
    out += marker;
    return tok_end;
}

// apiKey=v (query), "apiKey": "v" (JSON), X-API-Key: v and Authorization: Bearer v (headers).
/// Copies t[i, vfrom) and the marker in place of the value t[vfrom, vend); nothing when the
/// value is empty or already the marker.
rule_result mask_value(std::string_view t, std::size_t i, std::size_t vfrom, std::size_t vend, std::string& out)
{
    const auto value = t.substr(vfrom, vend - vfrom);
    if (value.empty() || value == marker) {
        return std::nullopt;
    }
    out.append(t.substr(i, vfrom - i));
    out += marker;
    return vend;
}

rule_result key_rule(std::string_view t, std::size_t i, std::string& out)
{
    if (i > 0 && is_alnum(t[i - 1])) {
        return std::nullopt;
    }
    // JSON member, possibly escaped inside another JSON string: "key" : "value"
    std::size_t k = i;
    std::string_view quote;
    if (t[k] == '"') {
        quote = "\"";
    } else if (t.compare(k, 2, "\\\"") == 0) {
        quote = "\\\"";
    }
    if (!quote.empty()) {
        k += quote.size();
        // The key may be longer (bot_token): find the closing quote, then check its ending.
        std::size_t close = k;
        while (close < t.size() && t[close] != '"' && t[close] != '\\' && close - k < 64) {
            ++close;
        }
        if (close >= t.size() || t.compare(close, quote.size(), quote) != 0) {
            return std::nullopt;
        }
        const auto name = t.substr(k, close - k);
        if (!name_is_secret(name)) {
            return std::nullopt;
        }
        std::size_t v = close + quote.size();
        while (v < t.size() && is_space(t[v])) {
            ++v;
        }
        if (v >= t.size() || t[v] != ':') {
            return std::nullopt;
        }
        ++v;
        while (v < t.size() && is_space(t[v])) {
            ++v;
        }
        if (t.compare(v, quote.size(), quote) != 0) {
            return std::nullopt;
        }
        const std::size_t vfrom = v + quote.size();
        std::size_t vend = vfrom;
        // The value ends at its (unescaped) closing quote.
        while (vend < t.size()) {
            if (t.compare(vend, quote.size(), quote) == 0) {
                break;
            }
            if (quote.size() == 1 && t[vend] == '\\' && vend + 1 < t.size()) {
                vend += 2;
                continue;
            }
            ++vend;
        }
        return mask_value(t, i, vfrom, vend, out);
    }
    auto key = secret_key_at(t, i);
    if (!key) {
        return std::nullopt;
    }
    std::size_t v = i + key->size();
    if (v < t.size() && t[v] == '=') {
        // query parameter (or key=value in a log line)
        const std::size_t vfrom = v + 1;
        std::size_t vend = vfrom;
        while (vend < t.size() && !is_space(t[vend]) && t[vend] != '&' && t[vend] != '#' && t[vend] != '"' &&
               t[vend] != '\'' && t[vend] != ',' && t[vend] != ';') {
            ++vend;
        }
        return mask_value(t, i, vfrom, vend, out);
    }
    // header (or "name: value" in a log line): "X-API-Key: value", "Authorization: Bearer value".
    // Not for token, secret, signature: "cannot parse token: ..." is prose.
    const auto is = [&](std::string_view word) { return key->size() == word.size() && starts_with_ci(*key, 0, word); };
    if (!is("x-api-key") && !is("apikey") && !is("api_key") && !is("api-key") && !is("authorization") &&
        !is("password")) {
        return std::nullopt;
    }
    while (v < t.size() && (t[v] == ' ' || t[v] == '\t')) {
        ++v;
    }
    if (v >= t.size() || t[v] != ':') {
        return std::nullopt;
    }
    ++v;
    while (v < t.size() && (t[v] == ' ' || t[v] == '\t')) {
        ++v;
    }
    std::size_t vfrom = v;
    if (is("authorization")) {
        // Keep the scheme word (Bearer, Basic, Bot) when a credential follows it.
        std::size_t w = v;
        while (w < t.size() && std::isalpha(static_cast<unsigned char>(t[w])) != 0) {
            ++w;
        }
        if (w > v && w + 1 < t.size() && t[w] == ' ' && !is_space(t[w + 1])) {
            vfrom = w + 1;
        }
    }
    std::size_t vend = vfrom;
    while (vend < t.size() && !is_space(t[vend]) && t[vend] != '"' && t[vend] != '\'' && t[vend] != ',' &&
           t[vend] != ';' && t[vend] != '\\') {
        ++vend;
    }
    return mask_value(t, i, vfrom, vend, out);
}

std::string apply_patterns(std::string_view t)
{
    std::string out;
    out.reserve(t.size());
    std::size_t i = 0;
    while (i < t.size()) {
        rule_result r;
        switch (lower(t[i])) {
        case ':': r = userinfo_rule(t, i, out); break;
        case '/':
            r = telegram_rule(t, i, out);
            if (!r) {
                r = discord_rule(t, i, out);
            }
            break;
        default: r = key_rule(t, i, out); break;
        }
        if (r) {
            i = *r;
        } else {
            out += t[i];
            ++i;
        }
    }
    return out;
}

void insert_locked(registry& r, std::string value)
{
    if (std::find(r.values.begin(), r.values.end(), value) != r.values.end()) {
        return;
    }
    const auto pos = std::find_if(r.values.begin(), r.values.end(),
                                  [&](const std::string& v) { return v.size() < value.size(); });
    r.values.insert(pos, std::move(value));
}

}  // namespace

bool add_secret(std::string_view value)
{
    if (value.size() < min_secret_length) {
        return false;
    }
    auto& r = reg();
    std::unique_lock lock{r.mu};
    std::string enc = percent_encoded(value);
    if (enc != value) {
        insert_locked(r, std::move(enc));
    }
    insert_locked(r, std::string{value});
    return true;
}

void add_secret_url(std::string_view url)
{
    bool found = false;
    // Discord webhook token.
    if (auto p = url.find("/api/webhooks/"); p != std::string_view::npos) {
        const std::size_t id_from = p + 14;
        const std::size_t id_end = component_end(url, id_from);
        if (id_end < url.size() && url[id_end] == '/') {
            const std::size_t tok_end = component_end(url, id_end + 1);
            found = add_secret(url.substr(id_end + 1, tok_end - id_end - 1)) || found;
        }
    }
    // Telegram bot token.
    if (auto p = url.find("/bot"); p != std::string_view::npos) {
        const std::size_t end = component_end(url, p + 4);
        const auto seg = url.substr(p + 4, end - p - 4);
        if (!seg.empty() && is_digit(seg.front()) && seg.find(':') != std::string_view::npos) {
            found = add_secret(seg) || found;
        }
    }
    // Userinfo: the password, and the whole userinfo (a token as the user name).
    if (auto p = url.find("://"); p != std::string_view::npos) {
        std::size_t end = p + 3;
        while (end < url.size() && url[end] != '/' && url[end] != '?' && url[end] != '#') {
            ++end;
        }
        const auto authority = url.substr(p + 3, end - p - 3);
        if (auto at = authority.rfind('@'); at != std::string_view::npos) {
            const auto userinfo = authority.substr(0, at);
            found = add_secret(userinfo) || found;
            if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
                found = add_secret(userinfo.substr(colon + 1)) || found;
            }
        }
    }
    // Secret query values.
    if (auto q = url.find('?'); q != std::string_view::npos) {
        std::size_t i = q + 1;
        while (i < url.size()) {
            std::size_t amp = url.find('&', i);
            if (amp == std::string_view::npos) {
                amp = url.size();
            }
            const auto param = url.substr(i, amp - i);
            if (auto eq = param.find('='); eq != std::string_view::npos) {
                if (name_is_secret(param.substr(0, eq))) {
                    found = add_secret(param.substr(eq + 1)) || found;
                }
            }
            i = amp + 1;
        }
    }
    if (!found) {
        add_secret(url);
    }
}

bool is_secret_env(std::string_view name)
{
    std::string n{name};
    std::transform(n.begin(), n.end(), n.begin(), upper);
    static constexpr std::array<std::string_view, 7> names{
        "VOLSPIKE_API_KEY", "VOLSPIKE_API_KEY_DEV", "TELEGRAM_TOKEN", "TELEGRAM_BOT_TOKEN",
        "VS_DISCORD_WEBHOOK_URL", "NATS_PASSWORD", "NATS_TOKEN"};
    if (std::find(names.begin(), names.end(), n) != names.end()) {
        return true;
    }
    return ends_with(n, "_TOKEN") || ends_with(n, "_PASSWORD") || ends_with(n, "_SECRET") ||
           n.find("API_KEY") != std::string::npos || n.find("SECRET") != std::string::npos ||
           ends_with(n, "_PRIVATE_KEY") || ends_with(n, "_WEBHOOK_URL");
}

bool add_env_secret(std::string_view env_name, std::string_view value)
{
    if (value.empty() || !is_secret_env(env_name)) {
        return false;
    }
    if (ends_with(env_name, "_URL")) {
        add_secret_url(value);
    } else {
        add_secret(value);
    }
    return true;
}

void add_secrets_from_env()
{
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view kv{*e};
        const auto eq = kv.find('=');
        if (eq != std::string_view::npos && eq > 0) {
            add_env_secret(kv.substr(0, eq), kv.substr(eq + 1));
        }
    }
}

std::string apply(std::string_view text)
{
    std::string s{text};
    {
        auto& r = reg();
        std::shared_lock lock{r.mu};
        for (const auto& v : r.values) {
            replace_all(s, v);
        }
    }
    return apply_patterns(s);
}

std::size_t secret_count()
{
    auto& r = reg();
    std::shared_lock lock{r.mu};
    return r.values.size();
}

void clear_secrets()
{
    auto& r = reg();
    std::unique_lock lock{r.mu};
    r.values.clear();
}

}  // namespace vs::redact
