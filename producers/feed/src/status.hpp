#pragma once
// The feed's own health as a FeedStatus record (schemas/feed_status.fbs), published with the
// empty symbol into the market channel every second and on every state change.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "stream_monitor.hpp"

namespace vs::feed {

struct status_fields {
    std::int64_t now_ns = 0;              ///< CLOCK_REALTIME
    bool connected = false;
    bool healthy = false;
    std::string_view url;
    std::string_view reason;              ///< empty when healthy
    std::int64_t started_ns = 0;
    std::int64_t last_connected_ns = 0;
    std::uint64_t reconnect_attempts = 0;
    std::uint64_t messages_received = 0;
    std::uint64_t frames_rejected = 0;
    std::uint64_t rows_rejected = 0;
    std::uint32_t symbol_count = 0;
    const std::vector<stream_state>* streams = nullptr;
    /// Issue 19: symbols invalid for longer than the limit / marked delisted (a few names,
    /// sorted) and how many there are.
    const std::vector<std::string>* invalid_symbols = nullptr;
    std::uint32_t invalid_symbol_count = 0;
    const std::vector<std::string>* delisted_symbols = nullptr;
    std::uint32_t delisted_symbol_count = 0;
};

/// Builds the record into `fbb` (cleared first) and returns the finished bytes, valid until
/// `fbb` is used again.
std::span<const std::byte> build_status(flatbuffers::FlatBufferBuilder& fbb, const status_fields& f);

}  // namespace vs::feed
