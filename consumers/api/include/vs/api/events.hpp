#pragma once
// The /events push stream. One hub thread does not follow the ring: once per interval it
// scans the market channel's latest table (MarkPrice and Ticker24h) and the oi channel's
// (OpenInterest, through its own
// bus_source, whose readers are not registered), compares each record's publish time with
// the one it saw at the previous scan, and renders one batch (the USD-M records whose publish
// time changed, each at its newest value, plus the health object) that it queues to every
// client. Without clients it still scans, so that its view is current when one connects.
// Each client has a bounded queue: a client that cannot keep up loses its queue and gets a
// full snapshot instead (a resync); the hub never waits for it. A restarted writer (new
// generation) resyncs every client.
//
// Message format (Server-Sent Events, one JSON object per `data:` line):
//   event: snapshot | update
//   data: {"type":"snapshot"|"update","serverTime":<s>,"staleSeconds":180,
//          "funding":{SYMBOL:{/funding/{symbol} members}},"tickers":{SYMBOL:{...}},
//          "oi":{SYMBOL:{/oi/{symbol} members}} (the oi channel's OpenInterest, vs-oi),"health":{...}}
#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "vs/api/metrics.hpp"
#include "vs/api/source.hpp"

namespace vs::api {

/// Renders a whole SSE message (event line, data line, blank line) into `out`. `filter`
/// (sorted, normalized symbols) limits funding/tickers; empty means every symbol.
void render_snapshot_event(data_source& src, const std::vector<std::string>& filter, double stale_seconds,
                           std::int64_t started_ns, std::string& out);

/// One connected /events client. Created and consumed on its worker's thread; the hub
/// pushes from its own thread under `mu`.
class event_client : public std::enable_shared_from_this<event_client> {
public:
    event_client(boost::asio::any_io_executor ex, std::vector<std::string> filter, std::size_t max_queued_bytes);

    /// Hub thread: queues a message or, past the byte limit, drops the queue and asks for a
    /// resync (while a resync is pending, messages are dropped: the snapshot supersedes them).
    /// Then wakes the client's coroutine. Returns false when the client overflowed.
    bool push(std::shared_ptr<const std::string> msg);
    /// Hub thread: asks for a full snapshot (the writer restarted).
    void request_resync();

    /// Worker thread: takes the queued messages; `resync` tells to send a snapshot first.
    void take(std::deque<std::shared_ptr<const std::string>>& out, bool& resync);

    const std::vector<std::string>& filter() const noexcept { return filter_; }
    boost::asio::steady_timer& timer() noexcept { return timer_; }

private:
    void wake();

    boost::asio::steady_timer timer_;
    std::vector<std::string> filter_;
    std::size_t max_queued_bytes_;
    std::mutex mu_;
    std::deque<std::shared_ptr<const std::string>> queue_;   // guarded by mu_
    std::size_t queued_bytes_ = 0;                           // guarded by mu_
    bool resync_ = false;                                    // guarded by mu_
};

struct event_hub_config {
    std::string bus_prefix = "volspike";
    std::string market_channel = "market";
    std::string oi_channel = "oi";
    double stale_seconds = 180.0;
    std::int64_t started_ns = 0;
    std::chrono::milliseconds interval{1000};
};

class event_hub {
public:
    event_hub(event_hub_config config, metrics_registry& metrics);
    ~event_hub();
    event_hub(const event_hub&) = delete;
    event_hub& operator=(const event_hub&) = delete;

    /// Starts the hub thread; returns once it has read the current table.
    void start();
    void stop();

    /// Any thread.
    void add(const std::shared_ptr<event_client>& c);
    void remove(const event_client* c);
    /// Any thread: queues a whole SSE message (an `alert` or `news` event) to every client
    /// whose symbol filter wants `symbol` ("" or no filter: every client).
    void broadcast(const std::shared_ptr<const std::string>& msg, std::string_view symbol);

private:
    void run(std::promise<void>& primed_signal);

    event_hub_config config_;
    metrics_registry& metrics_;
    std::mutex mu_;
    std::vector<std::shared_ptr<event_client>> clients_;   // guarded by mu_
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace vs::api
