#pragma once
// A symbol's rule state (symbol_state) to and from compact bytes, so vs-oi can keep it per
// symbol in LMDB (ctx.commit(alerts, {{key, bytes}}): the state that decided an alert is
// committed with the alert).
//
// Format, version 1, little endian:
//   "VSOI"                4 bytes magic
//   version               1 byte (1)
//   flags                 1 byte: bit 0 = history present; other bits 0
//   timeframes            1 byte: n (3)
//   n x { outside 1 byte (0 | 1), last_up_ms i64, last_down_ms i64 }   (0 = never)
//   if history: count varint (<= 1,048,576), then per sample
//     time   first: i64 ms; then varint of (time - previous time), >= 0
//     oi     varint x: x even -> milli-contracts m = previous m + unzigzag(x >> 1), oi = m / 1000
//            (previous m is 0 at the start and after a raw value); x == 1 -> 8 bytes raw double
//     mark   varint of (float bits XOR previous float bits) (previous 0 at the start)
//   crc32 (IEEE) of everything before it, 4 bytes
// A 3 h history at 5 s (2,160 samples) is typically 15-20 KB (16 bytes a sample in memory).
//
// decode_state rejects anything else (bad magic, version, flags, lengths, a truncated or
// overlong varint, a sample time outside 0..2^50 ms, OI <= 0 or not finite, trailing bytes, checksum)
// with std::invalid_argument("oi state: <what> at byte <n>"); it never reads out of bounds.
#include <cstdint>
#include <string>
#include <string_view>

#include "vs/oi/rules.hpp"

namespace vs::oi {

/// The bytes of `st`; with `with_history` false only INSIDE/OUTSIDE and the cooldowns (43 B).
std::string encode_state(const symbol_state& st, bool with_history = true);

/// The state `bytes` hold, its history windowed by cfg.history_window_s (samples older than
/// that before the newest are dropped). A blob without history gives an empty history.
/// Throws std::invalid_argument (see above).
symbol_state decode_state(const config& cfg, std::string_view bytes);

}  // namespace vs::oi
