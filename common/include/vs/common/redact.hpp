#pragma once
// Secrets never reach a log line, an LMDB record, an HTTP answer or a --help output: every
// place that formats a URL, a request or an error for one of those passes the text through
// vs::redact::apply first (and log::init's sink does it again for every log line).
//
// apply() replaces, with "<redacted>":
//  - every value registered with add_secret (tokens and keys read at start: VOLSPIKE_API_KEY,
//    VOLSPIKE_API_KEY_DEV, TELEGRAM_TOKEN / TELEGRAM_BOT_TOKEN, the Discord webhook's token, ...),
//    wherever it appears, and its percent-encoded form;
//  - Telegram bot tokens in URLs:      /bot123456:AAE.../sendMessage  -> /bot<redacted>/sendMessage
//  - Discord webhook tokens:           /api/webhooks/<id>/<token>     -> /api/webhooks/<id>/<redacted>
//  - URL userinfo:                     nats://user:pass@host          -> nats://<redacted>@host
//  - secret query values:              ?apiKey=abc&x=1                -> ?apiKey=<redacted>&x=1
//    (apiKey, api_key, api-key, x-api-key, token, access_token, password, passwd, secret,
//    signature, authorization, and names ending in one of those; case-insensitive)
//  - the same keys as JSON members:    "apiKey":"abc"                 -> "apiKey":"<redacted>"
//  - header values:                    X-API-Key: abc                 -> X-API-Key: <redacted>
//                                      Authorization: Bearer abc      -> Authorization: Bearer <redacted>
//
// The registry is process-wide and thread-safe; values shorter than min_secret_length are
// ignored (too likely to occur by chance: "1", "true", a chat id). apply() is idempotent.
#include <cstddef>
#include <string>
#include <string_view>

namespace vs::redact {

inline constexpr std::string_view marker = "<redacted>";
inline constexpr std::size_t min_secret_length = 6;

/// Registers a secret value: apply() replaces it wherever it appears. Shorter than
/// min_secret_length: ignored. Returns whether it was registered (or already was).
bool add_secret(std::string_view value);

/// Registers the secret parts of a URL that is itself a credential (a Discord webhook):
/// the webhook or bot token, the userinfo, secret query values; the whole URL when none of
/// those forms is recognised.
void add_secret_url(std::string_view url);

/// True when an environment variable of that name holds a secret (VOLSPIKE_API_KEY*,
/// TELEGRAM_TOKEN, TELEGRAM_BOT_TOKEN, VS_DISCORD_WEBHOOK_URL, NATS_PASSWORD, NATS_TOKEN,
/// and any name ending in _TOKEN, _PASSWORD, _SECRET, _API_KEY or containing API_KEY).
bool is_secret_env(std::string_view name);

/// Registers `value` when `env_name` is a secret variable (URL-aware for names ending in
/// _URL); returns whether it did.
bool add_env_secret(std::string_view env_name, std::string_view value);

/// Registers the value of every secret variable of the environment (see is_secret_env).
void add_secrets_from_env();

/// `text` with every known secret replaced by marker.
std::string apply(std::string_view text);

/// Number of registered values (tests).
std::size_t secret_count();
/// Forgets every registered value (tests only).
void clear_secrets();

}  // namespace vs::redact
