#pragma once
// What /alerts, /news and the `alert`/`news` events of /events read: rendered alerts and
// news posts (alert_log follows the bus and fills them, see alert_log.hpp) and the alerts'
// delivery states (the durable outbox). An interface, so that the router stays free of the
// bus and the outbox (tests and the fuzz target use a fixed set).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vs::api {

/// One rendered alert.
struct alert_item {
    std::string id;          ///< alert_id (the outbox id), or "<channel>:<publish ns>" without one
    std::string type;        ///< RecordType name: "OiSpikeAlert"
    std::string kind;        ///< short kind: volume | oi | user | liquidation | whale
    std::string channel;
    std::string symbol;
    std::int64_t time_ms = 0;
    std::int64_t publish_ns = 0;
    /// `{"id":..,"type":..,"kind":..,"channel":..,"symbol":..,"time_ms":..,"summary":..,
    /// "fields":{..}`: the object without its closing brace, so that "delivery" can follow.
    std::string json_open;
};

/// One rendered news post.
struct news_item {
    std::string channel;     ///< the Telegram channel's username (the record's symbol)
    std::int64_t post_id = 0;
    std::int64_t time_ms = 0;
    std::int64_t publish_ns = 0;
    std::string json;        ///< {"id","channel","time_ms","text","url","links":[..],"title","category",..}
};

/// ?type= matching: the RecordType name ("OiSpikeAlert") or the short kind ("oi"),
/// case-insensitively; an empty filter matches every alert.
bool alert_type_matches(const alert_item& a, std::string_view filter) noexcept;

/// The whole `event: alert` SSE message of an alert: the object as /alerts writes it, with
/// "delivery" when `delivery_json` is not empty.
std::string alert_event_message(const alert_item& a, std::string_view delivery_json);
/// The whole `event: news` SSE message of a post (the object as /news writes it).
std::string news_event_message(const news_item& n);

using news_channels = std::vector<std::pair<std::string, std::vector<std::shared_ptr<const news_item>>>>;

class feed_source {
public:
    virtual ~feed_source() = default;
    /// Newest first: alerts matching `type` (empty: any) and `symbol` (empty: any), at most `limit`.
    virtual std::vector<std::shared_ptr<const alert_item>> alerts(std::string_view type, std::string_view symbol,
                                                                  std::size_t limit) const = 0;
    /// Per news channel (name order), its posts newest first, at most `limit` each.
    virtual news_channels news(std::size_t limit) const = 0;
    /// The delivery states {"prod":"delivered",...} of alert `id`; "" when unknown (no outbox,
    /// or the outbox does not hold the alert).
    virtual std::string delivery_json(const std::string& id) = 0;
    /// The outbox's counts {"queued":N,"dead":N,"targets":{"prod":{"queued","dead","delivered"},..}}
    /// (queued: entries still to send now; dead and delivered: the outbox's lasting counters);
    /// "" when unknown (no outbox).
    virtual std::string outbox_json() { return {}; }
};

}  // namespace vs::api
