#pragma once
// Recent alerts and news posts for /alerts, /news and the `alert`/`news` events of /events.
//
// One thread (alert_log::start) follows the rings of the alert channels (volume, oi,
// user_alerts, liquidations; a channel that does not exist is skipped and attached once it
// appears) and the news channel with unregistered bus readers, every `poll_interval`. At a
// channel's first attach it also takes the channel's latest table (the newest alert per
// symbol, the newest post per news channel), so a restarted vs-api is not empty. Each record
// is rendered once into JSON (render_alert, render_news) and kept in memory: the newest
// `max_alerts` alerts and `max_news_per_channel` posts per news channel. Readers of the log
// (the router's worker threads) take shared pointers to the rendered items under a mutex.
//
// Delivery states are not part of a rendered alert: they change after the alert is published
// and are read from the durable outbox (delivery_lookup) when an answer is written.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "vs/api/feeds.hpp"
#include "vs/bus/channel.hpp"

namespace vs::outbox {
class outbox;
struct entry;
}

namespace vs::api {

class json_writer;

/// The short kind of an alert record type ("" for a type that is not an alert).
std::string_view alert_kind(bus::record_type type) noexcept;
/// Renders an alert record of `channel`; nullopt when the type is not an alert or the
/// FlatBuffer fails verification.
std::optional<alert_item> render_alert(std::string_view channel, const bus::record_view& r);
/// Renders a NewsPost record; nullopt when it is not one or fails verification.
std::optional<news_item> render_news(const bus::record_view& r);
struct alert_log_config {
    std::string bus_prefix = "volspike";
    std::vector<std::string> alert_channels{"volume", "oi", "user_alerts", "liquidations"};
    std::string news_channel = "news";
    std::size_t max_alerts = 1000;
    std::size_t max_news_per_channel = 100;
    std::chrono::milliseconds poll_interval{100};
};

class delivery_lookup;

class alert_log final : public feed_source {
public:
    /// Called on the log thread for every new alert or post (not for the latest-table seeds).
    using alert_listener = std::function<void(const alert_item&)>;
    using news_listener = std::function<void(const news_item&)>;

    explicit alert_log(alert_log_config config);
    ~alert_log();
    alert_log(const alert_log&) = delete;
    alert_log& operator=(const alert_log&) = delete;

    void on_alert(alert_listener fn) { on_alert_ = std::move(fn); }
    void on_news(news_listener fn) { on_news_ = std::move(fn); }

    /// Starts the thread after a first poll; stop() joins it.
    void start();
    void stop();
    /// One pass over every channel (the thread's loop; tests call it directly).
    void poll_once();

    /// Newest first: alerts matching `type` (empty: any) and `symbol` (empty: any), at most `limit`.
    std::vector<std::shared_ptr<const alert_item>> alerts(std::string_view type, std::string_view symbol,
                                                          std::size_t limit) const override;
    /// Per news channel (name order), its posts newest first, at most `limit` each.
    news_channels news(std::size_t limit) const override;
    /// From `delivery` (set_delivery), "" without one.
    std::string delivery_json(const std::string& id) override;
    /// From `delivery` (set_delivery), "" without one.
    std::string outbox_json() override;
    void set_delivery(delivery_lookup* d) noexcept { delivery_ = d; }

    const alert_log_config& config() const noexcept { return config_; }

private:
    struct follower {
        std::string name;
        bool news = false;
        bus::reader reader;
        std::uint64_t attachments = 0;
    };
    void add_alert(std::optional<alert_item> a, bool notify);
    void add_news(std::optional<news_item> n, bool notify);

    alert_log_config config_;
    std::vector<follower> followers_;   // log thread only
    alert_listener on_alert_;
    news_listener on_news_;
    delivery_lookup* delivery_ = nullptr;
    bool outbox_seeded_ = false;   // log thread only
    mutable std::mutex mu_;
    std::deque<std::shared_ptr<const alert_item>> alerts_;   // guarded by mu_, publish_ns order
    std::unordered_set<std::string> alert_ids_;               // guarded by mu_
    std::map<std::string, std::deque<std::shared_ptr<const news_item>>> news_;   // guarded by mu_
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

/// Delivery states of alerts from the durable outbox `<state_dir>/outbox.lmdb`, opened
/// read-only (vs-api never writes it) when it exists; tried again at most every 5 s while it
/// does not. Thread-safe (one outbox per process, its reads from any thread).
class delivery_lookup {
public:
    explicit delivery_lookup(std::filesystem::path state_dir);
    ~delivery_lookup();
    delivery_lookup(const delivery_lookup&) = delete;
    delivery_lookup& operator=(const delivery_lookup&) = delete;

    /// The object {"prod":"delivered","telegram":"dead",...} of alert `id` ("pending" for
    /// pending and sending), or "" when the outbox is missing or does not hold the alert.
    std::string states_json(const std::string& id);
    /// The outbox's newest `limit` alerts (newest first); nullopt while there is no outbox.
    std::optional<std::vector<vs::outbox::entry>> recent(std::size_t limit);
    /// feed_source::outbox_json's object, or "" when the outbox is missing.
    std::string stats_json();
    /// fn(key, value) for every key of `process`'s own state (the history's seed from
    /// vs-oi's); false while there is no outbox. Throws on an LMDB error.
    bool state_for_each(std::string_view process,
                        const std::function<void(std::string_view key, std::string_view value)>& fn);

private:
    vs::outbox::outbox* open();
    std::filesystem::path state_dir_;
    std::mutex mu_;
    std::unique_ptr<vs::outbox::outbox> outbox_;   // guarded by mu_ until set
    std::int64_t next_try_ns_ = 0;                 // guarded by mu_
};

}  // namespace vs::api
