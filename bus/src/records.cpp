#include "vs/bus/records.hpp"

#include <cctype>
#include <charconv>

#include <flatbuffers/idl.h>
#include <fmt/format.h>

#include "schemas/alerts_generated.h"
#include "schemas/common_generated.h"
#include "schemas/feed_status_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/news_generated.h"
#include "schemas/open_interest_generated.h"
#include "schemas/process_status_generated.h"
#include "schemas/schema_info.hpp"
#include "schemas/universe_generated.h"

namespace vs::bus {
namespace {

using vs::schema::RecordType;

template <class Table>
bool verify_as(std::span<const std::byte> data) noexcept
{
    flatbuffers::Verifier v(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    return v.VerifyBuffer<Table>(nullptr);
}

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::string_view record_type_name(record_type t) noexcept
{
    if (t == 0 || t > static_cast<record_type>(RecordType::MAX)) {
        return {};
    }
    return vs::schema::EnumNameRecordType(static_cast<RecordType>(t));
}

std::optional<record_type> parse_record_type(std::string_view name) noexcept
{
    record_type number = 0;
    auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), number);
    if (ec == std::errc{} && ptr == name.data() + name.size()) {
        return record_type_name(number).empty() ? std::nullopt : std::optional<record_type>{number};
    }
    for (record_type t = 1; t <= static_cast<record_type>(RecordType::MAX); ++t) {
        if (iequals(name, record_type_name(t))) {
            return t;
        }
    }
    return std::nullopt;
}

bool verify_record(record_type t, std::span<const std::byte> data) noexcept
{
    if (data.size() < 8) {
        return false;
    }
    switch (static_cast<RecordType>(t)) {
    case RecordType::MarkPrice: return verify_as<vs::schema::MarkPrice>(data);
    case RecordType::Ticker24h: return verify_as<vs::schema::Ticker24h>(data);
    case RecordType::Liquidation: return verify_as<vs::schema::Liquidation>(data);
    case RecordType::AggTrade: return verify_as<vs::schema::AggTrade>(data);
    case RecordType::Kline: return verify_as<vs::schema::Kline>(data);
    case RecordType::OpenInterest: return verify_as<vs::schema::OpenInterest>(data);
    case RecordType::LiquidUniverse: return verify_as<vs::schema::LiquidUniverse>(data);
    case RecordType::FeedStatus: return verify_as<vs::schema::FeedStatus>(data);
    case RecordType::VolumeSpikeAlert: return verify_as<vs::schema::VolumeSpikeAlert>(data);
    case RecordType::OiSpikeAlert: return verify_as<vs::schema::OiSpikeAlert>(data);
    case RecordType::UserAlertTrigger: return verify_as<vs::schema::UserAlertTrigger>(data);
    case RecordType::LiquidationAlert: return verify_as<vs::schema::LiquidationAlert>(data);
    case RecordType::WhaleTradeAlert: return verify_as<vs::schema::WhaleTradeAlert>(data);
    case RecordType::ProcessStatus: return verify_as<vs::schema::ProcessStatus>(data);
    case RecordType::NewsPost: return verify_as<vs::schema::NewsPost>(data);
    case RecordType::None: return false;
    }
    return false;
}

std::string_view record_symbol(std::span<const std::byte> data) noexcept
{
    // Every record table declares `symbol` first, so it is field 0 (vtable offset 4).
    const auto* table = flatbuffers::GetRoot<flatbuffers::Table>(data.data());
    const auto* s = table->GetPointer<const flatbuffers::String*>(4);
    return s == nullptr ? std::string_view{} : std::string_view{s->c_str(), s->size()};
}

struct json_decoder::impl {
    flatbuffers::Parser parser;
};

json_decoder::json_decoder() : impl_(std::make_unique<impl>())
{
    auto& p = impl_->parser;
    p.opts.strict_json = true;
    p.opts.indent_step = -1;  // one line per record
    p.opts.natural_utf8 = true;
    p.opts.output_enum_identifiers = true;
    p.opts.output_default_scalars_in_json = false;
    const std::string text{vs::schema_info::text};
    if (!p.Parse(text.c_str())) {
        throw bus_error("cannot parse the embedded record schemas: " + p.error_);
    }
}

json_decoder::~json_decoder() = default;

std::optional<std::string> json_decoder::decode(record_type t, std::span<const std::byte> data)
{
    const std::string_view name = record_type_name(t);
    if (name.empty() || !verify_record(t, data)) {
        return std::nullopt;
    }
    auto& p = impl_->parser;
    if (!p.SetRootType(std::string{"vs.schema."}.append(name).c_str())) {
        return std::nullopt;
    }
    std::string out;
    if (!flatbuffers::GenerateText(p, data.data(), &out)) {
        return std::nullopt;
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
        out.pop_back();
    }
    return out;
}

}  // namespace vs::bus
