#pragma once
// The production data_source: one bus reader per channel, owned by one worker thread.
#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "vs/api/source.hpp"
#include "vs/bus/channel.hpp"

namespace vs::api {

class bus_source final : public data_source {
public:
    /// Readers are not registered (a request only reads tables and the header).
    bus_source(const std::string& prefix, const std::string& market_channel, const std::string& oi_channel);

    void refresh() override;
    bus::read_status latest(channel_id ch, bus::record_type type, std::string_view symbol,
                            record_fn fn) override;
    std::size_t for_each_latest(channel_id ch, bus::record_type type, record_fn fn) override;
    bus::channel_status status(channel_id ch) override;
    std::string_view name(channel_id ch) const override;
    /// Refreshed from status() at most every `liveness_refresh_ns` (100 ms), far below the
    /// writer's heartbeat timeout (1 s).
    bool writer_alive(channel_id ch) override;
    /// Every channel under the prefix (listed again at most every `channels_refresh_ns`).
    void for_each_process(vs::function_ref<void(std::string_view, const bus::record_view&)> fn) override;
    /// The market and oi channels, then every other channel under the prefix.
    void for_each_channel(vs::function_ref<void(std::string_view, const bus::channel_status&)> fn) override;
    /// The market and oi channels as writer_alive(); the others from their header.
    bool channel_writer_alive(std::string_view channel) override;
    /// vs::net::weight_budget::peek of the prefix.
    rest_weight_view rest_weight() override;

    static constexpr std::int64_t liveness_refresh_ns = 100'000'000;
    static constexpr std::int64_t channels_refresh_ns = 1'000'000'000;

private:
    bus::reader& ready(channel_id ch);
    void list_others();   // refreshes others_ at most every channels_refresh_ns
    std::array<std::string, channel_count> names_;
    std::array<bus::reader, channel_count> readers_;
    std::array<std::int64_t, channel_count> alive_checked_ns_{};
    std::array<bool, channel_count> alive_{};
    std::string prefix_;
    std::map<std::string, bus::reader> others_;   // the other channels of the prefix
    std::int64_t others_listed_ns_ = 0;
};

}  // namespace vs::api
