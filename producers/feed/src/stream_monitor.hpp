#pragma once
// Per-stream freshness of vs-feed. Since Binance re-routed its futures WebSocket on
// 2026-04-23, a connection to the old URL is accepted and acknowledges subscriptions but
// never delivers data: "connected" says nothing. What counts is that every subscribed
// price stream delivered a frame within its threshold (10 s for !markPrice@arr@1s, 30 s for
// !ticker@arr); streams that may legitimately be quiet (!forceOrder@arr) have no threshold.
//
// Pure logic over caller-supplied times (ns), so tests drive it with a fake clock.
// Threads: one owner thread.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vs::feed {

struct stream_thresholds {
    std::chrono::milliseconds mark{10000};     ///< streams with "markPrice" in the name
    std::chrono::milliseconds ticker{30000};   ///< streams with "ticker"/"Ticker" in the name
};

struct stream_state {
    std::string name;
    std::int64_t stale_after_ns = 0;   ///< 0: may be quiet, never stale
    std::int64_t last_frame_ns = 0;    ///< CLOCK_REALTIME of the last frame; 0 = never
    std::int64_t last_frame_mono_ns = 0;
    std::uint64_t frames = 0;
    bool stale = false;

    bool is_price_stream() const noexcept { return stale_after_ns > 0; }
};

/// What changed in one evaluate().
struct monitor_verdict {
    /// Indices of streams that turned stale / fresh in this evaluation.
    std::vector<std::size_t> became_stale, became_fresh;
    /// A price stream has been silent on the current connection beyond its threshold:
    /// the connection is useless and must be replaced.
    bool reconnect = false;
    /// Index of the stream that asks for the reconnect (valid when reconnect).
    std::size_t silent_stream = 0;
};

class stream_monitor {
public:
    /// `streams` in subscription order; `now_mono_ns` starts the silence clock of streams
    /// that never delivered.
    stream_monitor(const std::vector<std::string>& streams, stream_thresholds thresholds,
                   std::int64_t now_mono_ns);

    /// The threshold a stream gets by its name (0 = may be quiet).
    static std::int64_t threshold_for(std::string_view stream, stream_thresholds t) noexcept;

    /// Index of the subscribed stream a frame belongs to, or -1. `frame_stream` is the
    /// envelope's "stream" or what the parser implied from a raw payload ("!markPrice@arr"
    /// matches a subscription "!markPrice@arr@1s"); with a single subscription any frame
    /// belongs to it.
    int match(std::string_view frame_stream) const noexcept;

    /// A data frame of stream `index` arrived (on the connection that publishes).
    void on_frame(std::size_t index, std::int64_t real_ns, std::int64_t mono_ns) noexcept;

    /// A connection that publishes opened / closed. Silence on a connection is measured
    /// from its opening, so a reconnect gets a full threshold to deliver.
    void on_connection_open(std::int64_t mono_ns) noexcept;
    void on_connection_closed() noexcept;

    /// Recomputes the stale flags at `now_mono_ns`.
    monitor_verdict evaluate(std::int64_t now_mono_ns);

    /// No price stream is stale (the watchdog is petted only then).
    bool price_streams_fresh() const noexcept;
    /// Connected, the connection delivered data, and every price stream delivered at least
    /// once (otherwise a fresh start would look healthy before its first price).
    bool data_flowing() const noexcept;
    bool connected() const noexcept { return conn_open_mono_ns_ != 0; }
    std::uint64_t frames_on_connection() const noexcept { return conn_frames_; }

    /// Silence of stream `index` at `now_mono_ns` (since its last frame, or since the
    /// monitor started when it never delivered).
    std::int64_t silence_ns(std::size_t index, std::int64_t now_mono_ns) const noexcept;

    const std::vector<stream_state>& streams() const noexcept { return streams_; }

private:
    std::vector<stream_state> streams_;
    std::int64_t started_mono_ns_;
    std::int64_t conn_open_mono_ns_ = 0;
    std::uint64_t conn_frames_ = 0;
};

/// Splits "a/b/c" into its non-empty parts.
std::vector<std::string> split_streams(std::string_view streams);

}  // namespace vs::feed
