#pragma once
// Frame helpers shared by vs-replay's streams: the combined-stream envelope, the malformed
// variants sent on `/_control/malformed`, and the line format of recorded files.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vs::replay {

/// `{"stream":"<stream>","data":<data>}`; `data` is already JSON text.
std::string envelope(std::string_view stream, std::string_view data);

/// Number of distinct malformed variants `malformed_frame` cycles through.
inline constexpr int malformed_kinds = 5;

/// A broken version of `frame` (the text a connection would have received): kind 0 cuts
/// the JSON in half, 1 puts "p":"NaN" into the first row, 2 makes the first price
/// negative, 3 replaces the first symbol with a 100-byte one, 4 is an unexpected shape
/// (`{"stream":"<stream>","data":42}` on combined connections, `42` on raw ones).
std::string malformed_frame(int kind, std::string_view stream, std::string_view frame, bool combined);

/// One line of a recording: `<recv_time_ns>\t<frame text>`.
struct recorded_frame {
    std::int64_t recv_ns = 0;
    std::string stream;   ///< the envelope's "stream"
    std::string text;     ///< the frame exactly as recorded
    std::string data;     ///< the envelope's "data", serialised (for raw connections)
};

/// Parses one recorded line; nothing when the line is not `<ns>\t<combined envelope>`.
std::optional<recorded_frame> parse_recorded_line(std::string_view line);

}  // namespace vs::replay
