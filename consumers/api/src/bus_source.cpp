#include "vs/api/bus_source.hpp"

#include "vs/common/clock.hpp"
#include "vs/net/rest_weight.hpp"

namespace vs::api {
namespace {

bus::reader make_reader(const std::string& prefix, const std::string& name)
{
    bus::channel_config c;
    c.prefix = prefix;
    c.name = name;
    bus::reader_options o;
    o.register_reader = false;
    o.name = "vs-api";
    return bus::reader{c, o};
}

}  // namespace

bus_source::bus_source(const std::string& prefix, const std::string& market_channel,
                       const std::string& oi_channel)
    : names_{market_channel, oi_channel},
      readers_{make_reader(prefix, market_channel), make_reader(prefix, oi_channel)},
      prefix_(prefix)
{
}

void bus_source::for_each_channel(vs::function_ref<void(std::string_view, const bus::channel_status&)> fn)
{
    list_others();
    data_source::for_each_channel(fn);
    for (auto& [name, r] : others_) {
        r.attach();
        fn(name, r.state() == bus::attach_state::ready ? r.status() : bus::channel_status{});
    }
}

void bus_source::for_each_process(vs::function_ref<void(std::string_view, const bus::record_view&)> fn)
{
    list_others();
    data_source::for_each_process(fn);
    for (auto& [name, r] : others_) {
        if (r.attach() == bus::attach_state::ready) {
            r.for_each_latest(process_status_type, [&](const bus::record_view& rec) { fn(name, rec); });
        }
    }
}

void bus_source::list_others()
{
    const auto now = monotonic_ns();
    if (others_listed_ns_ == 0 || now - others_listed_ns_ >= channels_refresh_ns) {
        others_listed_ns_ = now;
        std::map<std::string, bus::reader> next;
        for (auto& name : bus::list_channels(prefix_)) {
            if (name == names_[0] || name == names_[1]) {
                continue;
            }
            auto it = others_.find(name);
            if (it != others_.end()) {
                next.emplace(name, std::move(it->second));
            } else {
                try {
                    next.emplace(name, make_reader(prefix_, name));
                } catch (const std::exception&) {
                    // A segment name the bus refuses (not a channel of ours): left out.
                }
            }
        }
        others_ = std::move(next);
    }
}

bool bus_source::channel_writer_alive(std::string_view channel)
{
    for (std::size_t c = 0; c < channel_count; ++c) {
        if (names_[c] == channel) {
            return writer_alive(static_cast<channel_id>(c));
        }
    }
    auto it = others_.find(std::string{channel});
    if (it == others_.end() || it->second.attach() != bus::attach_state::ready) {
        return false;
    }
    return it->second.status().writer_alive;
}

bus::reader& bus_source::ready(channel_id ch)
{
    auto& r = readers_[static_cast<std::size_t>(ch)];
    r.attach();   // cheap once ready; follows a writer that re-created the segment
    return r;
}

void bus_source::refresh()
{
    for (auto& r : readers_) {
        r.attach();
    }
}

bus::read_status bus_source::latest(channel_id ch, bus::record_type type, std::string_view symbol,
                                    record_fn fn)
{
    auto& r = readers_[static_cast<std::size_t>(ch)];
    if (r.state() != bus::attach_state::ready) {
        return bus::read_status::not_ready;
    }
    return r.latest(type, symbol, fn);
}

std::size_t bus_source::for_each_latest(channel_id ch, bus::record_type type, record_fn fn)
{
    auto& r = readers_[static_cast<std::size_t>(ch)];
    if (r.state() != bus::attach_state::ready) {
        return 0;
    }
    return r.for_each_latest(type, fn);
}

bus::channel_status bus_source::status(channel_id ch)
{
    auto& r = ready(ch);
    if (r.state() != bus::attach_state::ready) {
        return {};
    }
    return r.status();
}

bool bus_source::writer_alive(channel_id ch)
{
    const auto i = static_cast<std::size_t>(ch);
    const auto now = monotonic_ns();
    if (alive_checked_ns_[i] == 0 || now - alive_checked_ns_[i] >= liveness_refresh_ns) {
        alive_[i] = status(ch).writer_alive;
        alive_checked_ns_[i] = now;
    }
    return alive_[i];
}

std::string_view bus_source::name(channel_id ch) const { return names_[static_cast<std::size_t>(ch)]; }

data_source::rest_weight_view bus_source::rest_weight()
{
    rest_weight_view v;
    const auto st = vs::net::weight_budget::peek(prefix_, realtime_ns() / 1'000'000);
    if (!st) {
        return v;
    }
    v.present = true;
    v.used = st->used;
    v.window_ms = st->window_ms;
    v.pause_until_ms = st->pause_until_ms;
    v.ban_until_ms = st->ban_until_ms;
    v.requests = st->requests;
    v.weight = st->weight;
    v.rate_limited = st->rate_limited;
    v.banned = st->banned;
    return v;
}

}  // namespace vs::api
