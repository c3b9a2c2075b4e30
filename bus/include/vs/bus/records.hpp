#pragma once
// Record helpers shared by every process: type names, FlatBuffer verification, the symbol
// key of a record, and decoding any record to JSON (tools) with flatbuffers' own text
// generator over the schemas embedded at build time.
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <flatbuffers/flatbuffers.h>

#include "vs/bus/channel.hpp"

namespace vs::bus {

/// "MarkPrice", "Ticker24h", ... ; "" for an unknown type.
std::string_view record_type_name(record_type t) noexcept;

/// Case-insensitive name ("markprice", "MarkPrice") or number to a type.
std::optional<record_type> parse_record_type(std::string_view name) noexcept;

/// Runs the FlatBuffers verifier of the type's root table over `data`.
bool verify_record(record_type t, std::span<const std::byte> data) noexcept;

/// The `symbol` field (first field of every record table) of a verified record.
std::string_view record_symbol(std::span<const std::byte> data) noexcept;

/// Builds a typed pointer to a record's root table (no verification).
template <class Table>
const Table* record_as(std::span<const std::byte> data) noexcept
{
    return flatbuffers::GetRoot<Table>(data.data());
}

/// Decodes records to strict JSON objects. Parses the embedded schemas once (throws
/// bus_error if they do not parse). Not thread-safe: one per thread.
class json_decoder {
public:
    json_decoder();
    ~json_decoder();
    /// The record as one JSON object with the schema's field names; nullopt if the type is
    /// unknown or the bytes do not verify.
    std::optional<std::string> decode(record_type t, std::span<const std::byte> data);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace vs::bus
