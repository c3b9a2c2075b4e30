#pragma once
// Where the router reads records: the latest-value tables of the bus channels. Each worker
// thread owns one source (a bus reader belongs to one thread). The production source
// (bus_source) reads the shared-memory tables directly on every call (no cache, no copy of
// the market; only writer liveness is cached, see writer_alive); tests and the fuzz target
// may use memory_source.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/common_generated.h"
#include "vs/bus/channel.hpp"

namespace vs::api {

/// The channels vs-api reads.
enum class channel_id : std::uint8_t { market = 0, oi = 1 };
inline constexpr std::size_t channel_count = 2;

/// A non-owning reference to a callable `void(const bus::record_view&)`, valid for the call
/// (the bus reader's own callback type, handed on as it is).
using record_fn = bus::record_fn;

class data_source {
public:
    virtual ~data_source() = default;
    /// Follows the bus (attach, re-map after a writer re-created a segment). Called once per
    /// request, not per lookup: a batch does hundreds of lookups.
    virtual void refresh() {}
    /// Hands the latest (type, symbol) record to fn, which is called only when the result
    /// is `ok`. Otherwise: `missing` (no such key), `unavailable` (the slot kept changing or
    /// a killed writer left it half-written; worth a retry), `not_ready` (channel not attached).
    virtual bus::read_status latest(channel_id ch, bus::record_type type, std::string_view symbol,
                                    record_fn fn) = 0;
    /// Hands every latest record of `type` to fn; returns how many.
    virtual std::size_t for_each_latest(channel_id ch, bus::record_type type, record_fn fn) = 0;
    /// The channel header (writer liveness, generation, counters).
    virtual bus::channel_status status(channel_id ch) = 0;
    /// Whether the channel's writer is alive. The default asks status() every time;
    /// bus_source caches the answer for `bus_source::liveness_refresh_ns` (100 ms), since the
    /// full status() costs several system calls (lock probe, registry mapping), too many for
    /// every request.
    virtual bool writer_alive(channel_id ch) { return status(ch).writer_alive; }
    /// The channel's configured name ("market", "oi").
    virtual std::string_view name(channel_id ch) const = 0;
    /// Hands fn(channel, record) every ProcessStatus record on the bus: each daemon on the
    /// skeleton publishes its own into its own channel. The default reads the channels above;
    /// bus_source reads every channel under the prefix.
    virtual void for_each_process(vs::function_ref<void(std::string_view, const bus::record_view&)> fn)
    {
        for (std::size_t c = 0; c < channel_count; ++c) {
            const auto ch = static_cast<channel_id>(c);
            for_each_latest(ch, process_status_type, [&](const bus::record_view& r) { fn(name(ch), r); });
        }
    }
    /// Hands fn(name, status) the header of every channel: the default, the channels above;
    /// bus_source, every channel under the prefix (/metrics).
    virtual void for_each_channel(vs::function_ref<void(std::string_view, const bus::channel_status&)> fn)
    {
        for (std::size_t c = 0; c < channel_count; ++c) {
            const auto ch = static_cast<channel_id>(c);
            fn(name(ch), status(ch));
        }
    }
    /// Whether the writer of channel `name` (any channel under the prefix) is alive. The
    /// default knows the channels above only (others: true); bus_source asks every channel.
    virtual bool channel_writer_alive(std::string_view channel)
    {
        for (std::size_t c = 0; c < channel_count; ++c) {
            if (name(static_cast<channel_id>(c)) == channel) {
                return writer_alive(static_cast<channel_id>(c));
            }
        }
        return true;
    }
    /// The host's shared Binance REST weight budget (/dev/shm/<prefix>.rest-weight), read
    /// only: nothing (present false) by default and when no process created it.
    struct rest_weight_view {
        bool present = false;
        int used = 0;                     ///< in the current window (minute)
        int window_ms = 0;
        std::int64_t pause_until_ms = 0;  ///< 429 / restriction pause of every process
        std::int64_t ban_until_ms = 0;    ///< 418 ban
        std::uint64_t requests = 0, weight = 0, rate_limited = 0, banned = 0;
    };
    virtual rest_weight_view rest_weight() { return {}; }
    static constexpr auto process_status_type = static_cast<bus::record_type>(vs::schema::RecordType::ProcessStatus);
};

}  // namespace vs::api
