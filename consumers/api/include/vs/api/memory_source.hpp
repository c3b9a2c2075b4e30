#pragma once
// An in-memory data_source (records in a map) for the fuzz target and bus-free unit tests.
#include <cstddef>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "vs/api/source.hpp"

namespace vs::api {

class memory_source final : public data_source {
public:
    void put(channel_id ch, bus::record_type type, std::string symbol, std::span<const std::byte> data,
             std::int64_t publish_ns)
    {
        records_[{static_cast<int>(ch), type, std::move(symbol)}] = {std::vector<std::byte>(data.begin(), data.end()),
                                                                     publish_ns};
    }
    void set_status(channel_id ch, const bus::channel_status& s) { status_[static_cast<std::size_t>(ch)] = s; }

    bus::read_status latest(channel_id ch, bus::record_type type, std::string_view symbol, record_fn fn) override
    {
        const auto it = records_.find({static_cast<int>(ch), type, std::string{symbol}});
        if (it == records_.end()) {
            return bus::read_status::missing;
        }
        fn(view(it->first, it->second));
        return bus::read_status::ok;
    }
    std::size_t for_each_latest(channel_id ch, bus::record_type type, record_fn fn) override
    {
        std::size_t n = 0;
        for (const auto& [k, v] : records_) {
            if (std::get<0>(k) == static_cast<int>(ch) && (type == 0 || std::get<1>(k) == type)) {
                fn(view(k, v));
                ++n;
            }
        }
        return n;
    }
    bus::channel_status status(channel_id ch) override { return status_[static_cast<std::size_t>(ch)]; }
    std::string_view name(channel_id ch) const override { return ch == channel_id::market ? "market" : "oi"; }

private:
    using key = std::tuple<int, bus::record_type, std::string>;
    struct entry {
        std::vector<std::byte> data;
        std::int64_t publish_ns = 0;
    };
    static bus::record_view view(const key& k, const entry& e)
    {
        bus::record_view r;
        r.type = std::get<1>(k);
        r.publish_ns = e.publish_ns;
        r.symbol = std::get<2>(k);
        r.data = {e.data.data(), e.data.size()};
        return r;
    }
    std::map<key, entry> records_;
    bus::channel_status status_[channel_count]{};
};

}  // namespace vs::api
