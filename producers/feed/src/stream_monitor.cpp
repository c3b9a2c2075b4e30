#include "stream_monitor.hpp"

#include <algorithm>

namespace vs::feed {

namespace {

std::int64_t to_ns(std::chrono::milliseconds d) noexcept
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace

std::vector<std::string> split_streams(std::string_view streams)
{
    std::vector<std::string> out;
    while (!streams.empty()) {
        const auto slash = streams.find('/');
        const auto part = streams.substr(0, slash);
        if (!part.empty()) {
            out.emplace_back(part);
        }
        if (slash == std::string_view::npos) {
            break;
        }
        streams.remove_prefix(slash + 1);
    }
    return out;
}

stream_monitor::stream_monitor(const std::vector<std::string>& streams,
                               stream_thresholds thresholds, std::int64_t now_mono_ns)
    : started_mono_ns_(now_mono_ns)
{
    streams_.reserve(streams.size());
    for (const auto& s : streams) {
        stream_state st;
        st.name = s;
        st.stale_after_ns = threshold_for(s, thresholds);
        streams_.push_back(std::move(st));
    }
}

std::int64_t stream_monitor::threshold_for(std::string_view stream, stream_thresholds t) noexcept
{
    if (stream.find("markPrice") != std::string_view::npos) {
        return to_ns(t.mark);
    }
    // !ticker@arr, <s>@ticker, !miniTicker@arr, <s>@bookTicker: all carry prices.
    if (stream.find("icker") != std::string_view::npos) {
        return to_ns(t.ticker);
    }
    return 0;
}

int stream_monitor::match(std::string_view frame_stream) const noexcept
{
    for (std::size_t i = 0; i < streams_.size(); ++i) {
        if (streams_[i].name == frame_stream) {
            return static_cast<int>(i);
        }
    }
    if (!frame_stream.empty()) {
        // A raw payload only implies "!markPrice@arr"; the subscription may add "@1s".
        for (std::size_t i = 0; i < streams_.size(); ++i) {
            const std::string_view n = streams_[i].name;
            if (n.size() > frame_stream.size() && n.substr(0, frame_stream.size()) == frame_stream &&
                n[frame_stream.size()] == '@') {
                return static_cast<int>(i);
            }
        }
    }
    return streams_.size() == 1 ? 0 : -1;
}

void stream_monitor::on_frame(std::size_t index, std::int64_t real_ns, std::int64_t mono_ns) noexcept
{
    ++conn_frames_;
    if (index >= streams_.size()) {
        return;
    }
    auto& s = streams_[index];
    s.last_frame_ns = real_ns;
    s.last_frame_mono_ns = mono_ns;
    ++s.frames;
}

void stream_monitor::on_connection_open(std::int64_t mono_ns) noexcept
{
    conn_open_mono_ns_ = mono_ns != 0 ? mono_ns : 1;
    conn_frames_ = 0;
}

void stream_monitor::on_connection_closed() noexcept
{
    conn_open_mono_ns_ = 0;
    conn_frames_ = 0;
}

std::int64_t stream_monitor::silence_ns(std::size_t index, std::int64_t now_mono_ns) const noexcept
{
    const auto& s = streams_[index];
    return now_mono_ns - (s.last_frame_mono_ns != 0 ? s.last_frame_mono_ns : started_mono_ns_);
}

monitor_verdict stream_monitor::evaluate(std::int64_t now_mono_ns)
{
    monitor_verdict v;
    std::int64_t worst = 0;
    for (std::size_t i = 0; i < streams_.size(); ++i) {
        auto& s = streams_[i];
        if (!s.is_price_stream()) {
            continue;
        }
        const bool stale = silence_ns(i, now_mono_ns) > s.stale_after_ns;
        if (stale != s.stale) {
            (stale ? v.became_stale : v.became_fresh).push_back(i);
            s.stale = stale;
        }
        if (conn_open_mono_ns_ != 0) {
            const std::int64_t since = std::max(s.last_frame_mono_ns, conn_open_mono_ns_);
            const std::int64_t over = now_mono_ns - since - s.stale_after_ns;
            if (over > 0 && (!v.reconnect || over > worst)) {
                v.reconnect = true;
                v.silent_stream = i;
                worst = over;
            }
        }
    }
    return v;
}

bool stream_monitor::price_streams_fresh() const noexcept
{
    return std::none_of(streams_.begin(), streams_.end(), [](const stream_state& s) { return s.stale; });
}

bool stream_monitor::data_flowing() const noexcept
{
    if (conn_open_mono_ns_ == 0 || conn_frames_ == 0) {
        return false;
    }
    return std::all_of(streams_.begin(), streams_.end(), [](const stream_state& s) {
        return !s.is_price_stream() || s.last_frame_mono_ns != 0;
    });
}

}  // namespace vs::feed
