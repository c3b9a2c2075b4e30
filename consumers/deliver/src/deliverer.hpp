#pragma once
// vs-deliver's engine: one worker per configured target drains that target's queue of the
// outbox in order (oldest first, never overtaking a failing head), with exponential backoff
// and jitter, an idempotency key per alert and target on backend calls, a dead-letter state
// after `dead_after`, and for Telegram/Discord a per-chat rate limit that coalesces a
// backlog into fewer messages instead of dropping anything.
//
// Crash semantics (documented choice): backend targets are at-least-once on the wire and
// exactly-once in effect through `Idempotency-Key: <id>:<target>`, which a resend after a
// crash repeats. Telegram and Discord have no idempotency: an entry is marked `sending`
// before the call; one found `sending` at start had an unknown outcome and is, by default,
// sent again (at-least-once: a rare duplicate message beats a lost alert) and counted as
// `uncertain`; `uncertain_policy::drop` makes it dead instead (at-most-once).
//
// NATS (target `nats`, issue 17): an alert's bus record (the bytes its process put on its bus
// channel) is published with JetStream on volspike.<channel>.<RecordTypeName>.<symbol token>
// with the headers of common/nats and `Nats-Msg-Id: alert:<id>`; the PubAck (a duplicate one
// too: an earlier attempt or vs-nats got there first) is the delivery. Exactly-once in the
// stream through JetStream's duplicate window (1 h on VOLSPIKE_ALERTS), and the mirror drops an
// alert id it already wrote beyond that. No stream for the subject: the streams of
// vs::nats::stream_configs() are created, then the attempt is retried.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "vs/nats/nats.hpp"
#include "vs/net/http_client.hpp"
#include "vs/outbox/outbox.hpp"

namespace vs::deliver {

struct backend_endpoint {
    std::string base_url;   ///< VOLSPIKE_API_URL(_DEV)
    std::string api_key;    ///< VOLSPIKE_API_KEY(_DEV), sent as X-API-Key
};

enum class uncertain_policy { resend, drop };

struct deliver_config {
    std::optional<backend_endpoint> prod;
    std::optional<backend_endpoint> dev;
    std::string telegram_api = "https://api.telegram.org";
    std::string telegram_token;
    std::string chat_id;
    /// The alert bot (target telegram_alerts: liquidation and whale alerts), same API base.
    std::string alert_token;
    std::string alert_chat_id;
    std::string discord_webhook;
    /// NATS JetStream (VS_NATS_URL, --nats-url; creds, token, TLS as vs-nats): target nats.
    std::optional<vs::nats::options> nats;
    std::chrono::milliseconds nats_timeout{5'000};   ///< wait for one PubAck

    std::chrono::milliseconds backoff_base{1'000};
    std::chrono::milliseconds backoff_max{300'000};
    std::chrono::milliseconds dead_after{24 * 3'600'000};
    std::chrono::milliseconds poll{200};
    int telegram_per_window = 20;           ///< Telegram: 20 messages per minute per group/channel
    int discord_per_window = 30;            ///< Discord webhooks: 30 per minute
    std::chrono::milliseconds rate_window{60'000};
    std::size_t telegram_max_chars = 4096;
    std::size_t discord_max_chars = 2000;
    uncertain_policy uncertain = uncertain_policy::resend;
    net::http_client_options http;

    outbox::target_set targets() const;
};

/// The backend's user-alert routes take the API key in the body ("apiKey"), not only as
/// X-API-Key (CONTRACTS 1). It is added here, at send time, so that no secret is stored in the
/// outbox: `body` with "apiKey" set when `path` is one of those routes and `body` a JSON object.
inline constexpr std::string_view user_alert_routes = "/api/user-alerts-trigger/";
std::string with_body_api_key(std::string_view path, const std::string& body, const std::string& api_key);
/// POST /api/user-alerts-trigger/trigger answered 400 "Alert is not active": the alert already
/// fired (our earlier send reached the backend before a crash): delivered, not dead.
bool already_fired(std::string_view path, int status, std::string_view body);

/// Text of a coalesced message: "12 liquidations, $8.4M total:\n<line>\n<line>...".
std::string compose(const std::vector<outbox::entry>& group, std::size_t max_chars);
/// "$8.4M", "$950K", "$1.2B", "$12".
std::string money(double usd);

class deliverer {
public:
    deliverer(outbox::outbox& ob, deliver_config cfg);

    /// Runs the worker of `t` until vs::shutdown::requested(). Call from its own thread.
    void run_target(outbox::target t);

    /// Milliseconds (monotonic clock) of the last loop iteration of `t`'s worker.
    std::int64_t last_beat_ms(outbox::target t) const noexcept;

    const deliver_config& config() const noexcept { return cfg_; }

    /// Why the nats target cannot even set up its connection (a TLS file that does not load,
    /// a creds file missing...); empty when it can. The other targets are not affected.
    std::string nats_setup_error() const;

private:
    struct outcome {
        enum kind { delivered, retry, dead } k = retry;
        std::string error;
        std::int64_t retry_after_ms = 0;   ///< > 0: the target said when (429, Retry-After)
    };
    outcome send_backend(net::http_client& http, outbox::target t, const outbox::entry& e);
    outcome send_chat(net::http_client& http, outbox::target t, const std::string& text);
    outcome send_nats(vs::nats::connection& nc, const outbox::entry& e);
    void run_nats();
    /// Dead-letters `head` for `t` when it is older than its dead-after (or has no state for
    /// `t`), logging why; true when it did.
    bool dead_letter_if_expired(outbox::target t, std::string_view name, const outbox::entry& head, std::int64_t now);

    outbox::outbox& ob_;
    deliver_config cfg_;
    std::atomic<std::int64_t> beats_[outbox::all_targets.size()] = {};
    mutable std::mutex nats_error_mutex_;
    std::string nats_setup_error_;
};

}  // namespace vs::deliver
