#include "stream_group.hpp"

#include <algorithm>
#include <deque>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vs/common/clock.hpp"

namespace vs::feed {

namespace {
constexpr std::int64_t ns_per_ms = 1'000'000;
}

std::string group_stream_name(std::string_view symbol, std::string_view suffix)
{
    std::string out;
    out.reserve(symbol.size() + suffix.size());
    for (const char c : symbol) {
        out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    out += suffix;
    return out;
}

std::string control_message(std::string_view method, const std::vector<std::string>& params, std::uint64_t id)
{
    // Stream names are letters, digits, UTF-8 and @ _ - . (valid_stream_list): no escaping.
    std::string out = fmt::format("{{\"method\":\"{}\",\"params\":[", method);
    for (std::size_t i = 0; i < params.size(); ++i) {
        out += i == 0 ? "\"" : ",\"";
        out += params[i];
        out += '"';
    }
    out += fmt::format("],\"id\":{}}}", id);
    return out;
}

struct stream_group::slot {
    explicit slot(backoff_config b) : retry(b) {}
    std::size_t index = 0;
    std::set<std::string> streams;            ///< assigned to this connection
    std::deque<std::string> to_subscribe, to_unsubscribe;
    std::shared_ptr<ws_connection> conn;
    bool open = false;
    backoff retry;
    std::int64_t next_attempt_mono = 0;
    std::int64_t opened_mono = 0;
    std::int64_t last_frame_mono = 0;
    std::int64_t last_frame_real = 0;
    std::int64_t next_control_mono = 0;
    std::uint64_t frames = 0;
    bool stale = false;
};

stream_group::stream_group(boost::asio::io_context& io, boost::asio::ssl::context* tls, ws_endpoint base,
                           connection_options conn, backoff_config backoff, group_options options, frame_fn on_frame)
    : io_(io),
      tls_(tls),
      base_(std::move(base)),
      conn_(std::move(conn)),
      backoff_(backoff),
      options_(std::move(options)),
      on_frame_(std::move(on_frame))
{
    options_.max_streams_per_connection = std::clamp<std::size_t>(options_.max_streams_per_connection, 1, 1024);
}

stream_group::~stream_group() = default;

stream_group::slot* stream_group::slot_of(std::uint64_t id) noexcept
{
    for (auto& s : slots_) {
        if (s->conn && s->conn->id() == id) {
            return s.get();
        }
    }
    return nullptr;
}

void stream_group::set_symbols(const std::vector<std::string>& symbols)
{
    std::set<std::string> want;
    for (const auto& s : symbols) {
        want.insert(group_stream_name(s, options_.suffix));
    }
    std::size_t added = 0, removed = 0;
    for (auto& s : slots_) {
        for (auto it = s->streams.begin(); it != s->streams.end();) {
            if (want.count(*it) == 0) {
                if (s->open) {
                    std::erase(s->to_subscribe, *it);
                    s->to_unsubscribe.push_back(*it);
                }
                it = s->streams.erase(it);
                ++removed;
            } else {
                want.erase(*it);   // already carried
                ++it;
            }
        }
    }
    for (const auto& name : want) {
        slot* best = nullptr;
        for (auto& s : slots_) {
            if (s->streams.size() < options_.max_streams_per_connection &&
                (best == nullptr || s->streams.size() < best->streams.size())) {
                best = s.get();
            }
        }
        if (best == nullptr) {
            slots_.push_back(std::make_unique<slot>(backoff_));
            best = slots_.back().get();
            best->index = slots_.size();
            best->next_attempt_mono = vs::monotonic_ns();
        }
        best->streams.insert(name);
        if (best->open) {
            std::erase(best->to_unsubscribe, name);
            best->to_subscribe.push_back(name);
        }
        ++added;
    }
    if (added + removed > 0) {
        spdlog::info("{}: {} streams on {} connections ({} added, {} removed)", options_.name, stream_count(),
                     connection_count(), added, removed);
    }
}

void stream_group::connect(slot& s, std::int64_t now_mono)
{
    const auto id = ++next_id_;
    s.retry.on_attempt(now_mono);
    connection_events ev;
    ev.on_open = [this](std::uint64_t cid) {
        if (auto* sl = slot_of(cid)) {
            const auto now = vs::monotonic_ns();
            sl->open = true;
            sl->opened_mono = now;
            sl->retry.on_connected(now);
            sl->stale = false;
            sl->to_unsubscribe.clear();
            sl->to_subscribe.assign(sl->streams.begin(), sl->streams.end());
            sl->next_control_mono = now;
            spdlog::info("{}[{}]: connected to {}; subscribing {} streams", options_.name, sl->index, base_.url(),
                         sl->streams.size());
        }
    };
    ev.on_frame = [this](std::uint64_t cid, std::string_view frame, std::int64_t recv_ns) {
        if (auto* sl = slot_of(cid)) {
            ++sl->frames;
            ++frames_;
            sl->last_frame_mono = vs::monotonic_ns();
            sl->last_frame_real = recv_ns;
            if (sl->stale) {
                sl->stale = false;
                spdlog::info("{}[{}]: fresh again", options_.name, sl->index);
            }
            on_frame_(frame, recv_ns);
        }
    };
    ev.on_oversized = [this](std::uint64_t cid, std::size_t bytes) {
        spdlog::warn("{}: dropped an oversized frame of {} bytes on connection {}", options_.name, bytes, cid);
    };
    ev.on_closed = [this](std::uint64_t cid, const std::string& why) {
        std::erase_if(closing_, [cid](const auto& c) { return c->id() == cid; });
        if (auto* sl = slot_of(cid)) {
            lost(*sl, why, vs::monotonic_ns());
        }
    };
    s.conn = make_connection(io_, tls_, base_, conn_, std::move(ev), id);
    s.open = false;
    s.conn->start();
}

void stream_group::lost(slot& s, const std::string& why, std::int64_t now_mono)
{
    const bool was_open = s.open;
    s.conn.reset();
    s.open = false;
    s.to_subscribe.clear();
    s.to_unsubscribe.clear();
    if (s.streams.empty()) {
        return;
    }
    ++reconnects_;
    s.next_attempt_mono = s.retry.next_attempt_at(now_mono);
    spdlog::warn("{}[{}]: {} {}: {}; reconnecting in {:.1f} s", options_.name, s.index,
                 was_open ? "connection to" : "cannot connect to", base_.url(), why,
                 static_cast<double>(s.next_attempt_mono - now_mono) / 1e9);
}

void stream_group::tick(std::int64_t now_mono)
{
    const auto stale_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stale_after).count();
    const auto gap_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.control_gap).count();
    for (auto& sp : slots_) {
        auto& s = *sp;
        if (!s.conn) {
            if (!s.streams.empty() && s.next_attempt_mono != 0 && now_mono >= s.next_attempt_mono) {
                s.next_attempt_mono = 0;
                connect(s, now_mono);
            }
            continue;
        }
        if (s.streams.empty() && s.to_unsubscribe.empty()) {
            // Nothing left to carry: close it (a listing later opens a connection again).
            spdlog::info("{}[{}]: no streams left; closing the connection", options_.name, s.index);
            closing_.push_back(s.conn);
            auto c = std::move(s.conn);
            s.open = false;
            c->close();
            continue;
        }
        if (!s.open) {
            continue;
        }
        if (now_mono >= s.next_control_mono && (!s.to_unsubscribe.empty() || !s.to_subscribe.empty())) {
            const bool unsub = !s.to_unsubscribe.empty();
            auto& q = unsub ? s.to_unsubscribe : s.to_subscribe;
            std::vector<std::string> params;
            // {"method":"UNSUBSCRIBE","params":[],"id":18446744073709551615} is 63 bytes.
            std::size_t bytes = 64;
            while (!q.empty() && bytes + q.front().size() + 3 <= options_.max_control_bytes) {
                bytes += q.front().size() + 3;
                params.push_back(std::move(q.front()));
                q.pop_front();
            }
            if (!params.empty()) {
                s.conn->send(control_message(unsub ? "UNSUBSCRIBE" : "SUBSCRIBE", params, ++next_request_id_));
                ++control_messages_;
            }
            s.next_control_mono = now_mono + gap_ns;
        }
        const auto since = std::max(s.last_frame_mono, s.opened_mono);
        if (stale_ns > 0 && now_mono - since > stale_ns) {
            if (!s.stale) {
                s.stale = true;
            }
            const auto why = fmt::format("silent for {:.0f} s with {} streams", static_cast<double>(now_mono - since) / 1e9,
                                         s.streams.size());
            closing_.push_back(s.conn);
            auto c = s.conn;
            c->close();
            lost(s, why, now_mono);
        }
    }
    // Slots without streams and without a connection are dropped (their indices stay stable
    // for the others only while they exist; names in FeedStatus follow the current order).
    std::erase_if(slots_, [](const auto& s) { return s->streams.empty() && !s->conn; });
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        slots_[i]->index = i + 1;
    }
}

void stream_group::close_all()
{
    for (auto& s : slots_) {
        s->streams.clear();
        if (s->conn) {
            closing_.push_back(s->conn);
            auto c = std::move(s->conn);
            s->open = false;
            c->close();
        }
    }
}

std::size_t stream_group::closing() const noexcept { return closing_.size(); }

std::size_t stream_group::stream_count() const noexcept
{
    std::size_t n = 0;
    for (const auto& s : slots_) {
        n += s->streams.size();
    }
    return n;
}

std::size_t stream_group::connection_count() const noexcept
{
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return !s->streams.empty(); }));
}

std::size_t stream_group::open_connections() const noexcept
{
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s->open; }));
}

std::size_t stream_group::pending_control() const noexcept
{
    std::size_t n = 0;
    for (const auto& s : slots_) {
        n += s->to_subscribe.size() + s->to_unsubscribe.size();
    }
    return n;
}

bool stream_group::fresh() const noexcept
{
    return std::all_of(slots_.begin(), slots_.end(),
                       [](const auto& s) { return s->streams.empty() || (s->open && !s->stale); });
}

void stream_group::append_status(std::vector<stream_state>& out) const
{
    for (const auto& s : slots_) {
        if (s->streams.empty()) {
            continue;
        }
        stream_state st;
        st.name = fmt::format("{}[{}] {} streams{}", options_.name, s->index, s->streams.size(),
                              s->open ? "" : " (disconnected)");
        st.stale_after_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stale_after).count();
        st.last_frame_ns = s->last_frame_real;
        st.last_frame_mono_ns = s->last_frame_mono;
        st.frames = s->frames;
        st.stale = s->stale || !s->open;
        out.push_back(std::move(st));
    }
}

}  // namespace vs::feed
