#pragma once
// The bus channels vs-nats publishes (host A) and re-creates (host B, --mirror), with the
// configurations their producers use (producers/feed, consumers/oi, volume, user_alerts,
// liquidations, news: record types, ring, table): vs-api and the other readers on host B then
// see the same channels as on host A, and the schema hash of a mirrored channel equals the
// producer's (the mirror refuses records whose channel hash differs from its own).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/common_generated.h"
#include "vs/bus/channel.hpp"

namespace vs::nats_process {

struct channel_spec {
    std::string name;
    std::vector<vs::bus::record_type> types;   ///< ProcessStatus included, as the daemon skeleton adds it
    std::uint32_t ring_bytes;
    std::uint32_t table_slots;
    std::uint32_t slot_bytes;
};

inline const std::vector<channel_spec>& known_channels()
{
    using vs::schema::RecordType;
    using vs::bus::record_type_list;
    static const std::vector<channel_spec> all{
        {"market",
         record_type_list(RecordType::MarkPrice, RecordType::Ticker24h, RecordType::Liquidation, RecordType::AggTrade,
                          RecordType::Kline, RecordType::FeedStatus, RecordType::ProcessStatus),
         8u << 20, 8192, 1024},
        {"oi",
         record_type_list(RecordType::OpenInterest, RecordType::LiquidUniverse, RecordType::OiSpikeAlert,
                          RecordType::ProcessStatus),
         1u << 20, 1024, 16384},
        {"volume", record_type_list(RecordType::VolumeSpikeAlert, RecordType::ProcessStatus), 1u << 20, 2048, 2048},
        {"user_alerts", record_type_list(RecordType::UserAlertTrigger, RecordType::ProcessStatus), 1u << 20, 1024, 2048},
        {"liquidations",
         record_type_list(RecordType::LiquidationAlert, RecordType::WhaleTradeAlert, RecordType::ProcessStatus), 1u << 20,
         1024, 2048},
        {"news", record_type_list(RecordType::NewsPost, RecordType::ProcessStatus), 4u << 20, 256, 8192},
    };
    return all;
}

inline const channel_spec* find_channel(std::string_view name)
{
    for (const auto& c : known_channels()) {
        if (c.name == name) {
            return &c;
        }
    }
    return nullptr;
}

inline vs::bus::channel_config config_of(const channel_spec& c, const std::string& prefix)
{
    vs::bus::channel_config cfg;
    cfg.prefix = prefix;
    cfg.name = c.name;
    cfg.record_types = c.types;
    cfg.ring_bytes = c.ring_bytes;
    cfg.table_slots = c.table_slots;
    cfg.slot_bytes = c.slot_bytes;
    return cfg;
}

inline std::uint64_t schema_hash_of(const channel_spec& c)
{
    vs::bus::record_type_set set;
    for (const auto t : c.types) {
        set.insert(t);
    }
    return vs::bus::record_schema_hash(set);
}

}  // namespace vs::nats_process
