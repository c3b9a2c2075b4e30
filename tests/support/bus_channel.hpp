#pragma once
// A bus channel of the running test: its own prefix (test_env), a name and the sizes the
// test wants (small ones make laps and full tables quick to reach).
#include <cstdint>
#include <string>

#include "test_env.hpp"
#include "vs/bus/channel.hpp"

namespace vs::test {

inline vs::bus::channel_config channel(const std::string& prefix, std::string name, std::uint32_t ring_bytes = 64u << 10,
                                       std::uint32_t table_slots = 64, std::uint32_t slot_bytes = 448)
{
    vs::bus::channel_config c;
    c.prefix = prefix;
    c.name = std::move(name);
    c.ring_bytes = ring_bytes;
    c.table_slots = table_slots;
    c.slot_bytes = slot_bytes;
    return c;
}

inline vs::bus::channel_config channel(const test_env& env, std::string name, std::uint32_t ring_bytes = 64u << 10,
                                       std::uint32_t table_slots = 64, std::uint32_t slot_bytes = 448)
{
    return channel(env.prefix(), std::move(name), ring_bytes, table_slots, slot_bytes);
}

}  // namespace vs::test
