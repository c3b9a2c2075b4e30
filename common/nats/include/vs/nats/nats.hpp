#pragma once
// vs::nats: what vs-nats (publish and --mirror) and vs-deliver's `nats` target share about
// NATS JetStream (Debian's libnats 3.4 C client): the connection options from the
// environment, the subject scheme, the message headers and ids, the stream definitions, and
// a RAII connection with a JetStream context. The conventions are in consumers/nats/README.md.
//
// Subjects: volspike.<channel>.<RecordTypeName>.<token> (JSON tree:
// volspike.json.<channel>.<RecordTypeName>.<token>), <token> = subject_token(symbol key).
// Headers: Vs-Record-Type (decimal), Vs-Schema-Hash (hex), Vs-Publish-Ns (host A's wall clock
// at publish), Vs-Bus-Ns (the record's time on host A's bus), Vs-Snapshot: 1 on latest-table
// snapshot messages, Nats-Msg-Id (msg_id / snapshot_msg_id / alert_msg_id).
//
// Threads: free functions are pure. A `connection` is used from one thread, except that
// libnats calls the callbacks (connection state, publish acks) on its own threads.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nats/nats.h>

#include "vs/bus/channel.hpp"

namespace vs::cli {
class parser;
}

namespace vs::nats {

/// A setup or JetStream API error (the message names the call and libnats' text).
struct nats_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Where and how to connect. Empty strings: not used.
struct options {
    std::string url = "nats://127.0.0.1:4222";   ///< comma list for a cluster; tls:// = TLS
    std::string creds;                           ///< a .creds file (JWT + NKey seed)
    std::string token;                           ///< never logged (registered with vs::redact)
    std::string tls_ca;
    std::string tls_cert;
    std::string tls_key;
    std::string name;                            ///< client name shown by the server
};

/// VS_NATS_URL, VS_NATS_CREDS, VS_NATS_TOKEN, VS_NATS_TLS_CA, VS_NATS_TLS_CERT, VS_NATS_TLS_KEY.
options options_from_env();
/// Adds --nats-url, --nats-creds, --nats-token, --nats-tls-ca, --nats-tls-cert, --nats-tls-key
/// (each with its VS_NATS_* variable) to a command line.
void add_options(vs::cli::parser& cli);
/// The options add_options registered, after parsing.
options options_from(const vs::cli::parser& cli);
/// "nats://127.0.0.1:4222" with any user:password@ part removed (for logs).
std::string describe(const options& o);

// --- subjects -------------------------------------------------------------------------------

/// A symbol key as a subject token: kept when every byte is in [A-Za-z0-9_-]; otherwise "~" +
/// uppercase hex of its UTF-8 bytes; "" -> "_" (channel-level records).
std::string subject_token(std::string_view symbol);
/// The inverse; nullopt for a token subject_token never produces.
std::optional<std::string> symbol_from_token(std::string_view token);
/// volspike.<channel>.<RecordTypeName>.<token>; RecordTypeName = the FlatBuffers enum name
/// (the number for a type this build does not know).
std::string subject(std::string_view channel, vs::bus::record_type type, std::string_view symbol);
/// volspike.json.<channel>.<RecordTypeName>.<token>.
std::string json_subject(std::string_view channel, vs::bus::record_type type, std::string_view symbol);

struct subject_parts {
    bool json = false;
    std::string channel;
    vs::bus::record_type type = 0;   ///< 0 when the name is unknown to this build
    std::string type_name;
    std::string symbol;              ///< decoded token
};
/// Splits a subject of either tree; nullopt when it is not one of ours.
std::optional<subject_parts> parse_subject(std::string_view subject);

// --- records, ids, headers ------------------------------------------------------------------

/// Record types that carry an alert_id (VolumeSpikeAlert, OiSpikeAlert, UserAlertTrigger,
/// LiquidationAlert, WhaleTradeAlert).
bool is_alert_type(vs::bus::record_type t) noexcept;
/// The alert_id of an alert record (verified first); "" for other types or bad bytes.
std::string alert_id(vs::bus::record_type t, std::span<const std::byte> data);

/// "<channel>:<generation>:<sequence>" (market data and oi records).
std::string msg_id(std::string_view channel, std::uint64_t generation, std::uint64_t sequence);
/// "<channel>:<generation>:snap:<sequence>:<token>" (latest-table snapshot messages).
std::string snapshot_msg_id(std::string_view channel, std::uint64_t generation, std::uint64_t sequence,
                            std::string_view symbol);
/// "alert:<alert_id>" (every alert record, whoever publishes it).
std::string alert_msg_id(std::string_view alert_id);

namespace header {
inline constexpr const char* record_type = "Vs-Record-Type";
inline constexpr const char* schema_hash = "Vs-Schema-Hash";
inline constexpr const char* publish_ns = "Vs-Publish-Ns";
inline constexpr const char* bus_ns = "Vs-Bus-Ns";
inline constexpr const char* snapshot = "Vs-Snapshot";
inline constexpr const char* msg_id = "Nats-Msg-Id";
}  // namespace header

/// CLOCK_REALTIME in ns.
std::int64_t wall_ns() noexcept;

/// An owned natsMsg.
struct msg_deleter {
    void operator()(natsMsg* m) const noexcept { natsMsg_Destroy(m); }
};
using msg_ptr = std::unique_ptr<natsMsg, msg_deleter>;

/// What goes on one record's message.
struct record_message {
    std::string subject;
    vs::bus::record_type type = 0;
    std::span<const std::byte> data;     ///< the FlatBuffer as on the bus (or JSON text)
    std::uint64_t schema_hash = 0;       ///< the channel's (bus header)
    std::int64_t bus_ns = 0;             ///< the record's publish time on the bus (0: not sent)
    bool snapshot = false;
    std::string id;                      ///< Nats-Msg-Id ("" = none)
};
/// Builds the message with its headers (Vs-Publish-Ns = now). Throws nats_error.
msg_ptr make_message(const record_message& m);

/// A header's value, or "" when absent.
std::string_view get_header(natsMsg* m, const char* key) noexcept;

// --- streams --------------------------------------------------------------------------------

struct stream_config {
    std::string name;
    std::vector<std::string> subjects;
    std::chrono::seconds max_age{0};
    std::int64_t max_msgs_per_subject = -1;   ///< -1: unlimited
    std::chrono::seconds duplicates{120};
    bool file_storage = true;
};
/// VOLSPIKE_ALERTS (alert record subjects, 7 days, duplicate window 1 h), VOLSPIKE_MARKET
/// (market and oi data subjects, 32 per subject, 1 h), VOLSPIKE_JSON (volspike.json.*.*.*,
/// 8 per subject, 1 h). Their subjects do not overlap.
std::vector<stream_config> stream_configs();
/// The name of the stream a subject of ours is stored in ("" when none).
std::string stream_of(std::string_view channel, vs::bus::record_type type, bool json);

// --- the connection -------------------------------------------------------------------------

struct connection_callbacks {
    std::function<void()> on_connected;      ///< first connect (when it was asynchronous)
    std::function<void()> on_disconnected;
    std::function<void()> on_reconnected;
    /// JetStream async publish ack (libnats thread): pa or pae is set. Do not destroy msg.
    std::function<void(natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae)> on_publish_ack;
    std::int64_t max_pending = 4096;         ///< async publishes in flight at most
};

/// natsConnection + jsCtx. Connects once at construction: when the server is not there yet the
/// connection keeps trying in the background (libnats RetryOnFailedConnect), and after a loss it
/// reconnects forever with a backoff from 100 ms to 5 s.
class connection {
public:
    explicit connection(const options& o, connection_callbacks cb = {});
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    natsConnection* nc() noexcept { return nc_; }
    jsCtx* js() noexcept { return js_; }
    bool connected() const noexcept;
    std::uint64_t disconnects() const noexcept { return disconnects_.load(); }
    std::uint64_t reconnects() const noexcept { return reconnects_.load(); }

    /// Creates the streams of stream_configs(), or updates them when they differ. Throws
    /// nats_error (no JetStream, a subject overlap with a foreign stream, ...).
    void ensure_streams();

    /// JetStream async publish (takes the message). False when libnats refused it at once
    /// (the message is destroyed); the result of an accepted one reaches on_publish_ack.
    bool publish_async(msg_ptr m, std::string* error = nullptr);
    /// Waits up to `timeout` for every async publish to be acknowledged.
    bool publish_async_complete(std::chrono::milliseconds timeout);
    /// JetStream publish and wait for the ack (vs-deliver's nats target). Throws nats_error
    /// on an error or a timeout; returns true when the ack says duplicate.
    bool publish_sync(natsMsg* m, std::chrono::milliseconds timeout);

private:
    static void cb_disconnected(natsConnection*, void*);
    static void cb_reconnected(natsConnection*, void*);
    static void cb_connected(natsConnection*, void*);
    static void cb_ack(jsCtx*, natsMsg*, jsPubAck*, jsPubAckErr*, void*);

    connection_callbacks cb_;
    natsOptions* opts_ = nullptr;
    natsConnection* nc_ = nullptr;
    jsCtx* js_ = nullptr;
    std::atomic<std::uint64_t> disconnects_{0};
    std::atomic<std::uint64_t> reconnects_{0};
};

/// "NATS_TIMEOUT: ..." from a status and the thread's last error text.
std::string status_text(natsStatus s);

}  // namespace vs::nats
