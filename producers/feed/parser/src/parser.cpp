#include "vs/feed/parser.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <simdjson.h>

#include "record_builder.hpp"
#include "row_fields.hpp"

namespace vs::feed {

namespace {

namespace dom = simdjson::dom;
using detail::event;
using detail::key;
using detail::raw_value;
using detail::row;
using detail::row_fields;
using detail::value_kind;

constexpr const char* err_malformed = "malformed JSON";
constexpr const char* err_oversized = "frame larger than max_frame_bytes";
constexpr const char* err_shape = "unexpected frame shape";
constexpr const char* err_data_shape = "envelope \"data\" is neither an object nor an array";
constexpr const char* err_row_shape = "row is not an object";
constexpr const char* err_unknown_event = "unknown event type";
constexpr const char* err_exchange = "exchange error";

/// Stores the value of one key as the record builder reads it. Containers are only noted.
void fill(raw_value& out, dom::element v) noexcept
{
    switch (v.type()) {
    case dom::element_type::STRING:
        out.kind = value_kind::string;
        out.text = v.get_string().value_unsafe();
        return;
    case dom::element_type::INT64:
        out.kind = value_kind::number;
        out.integral = true;
        out.integer = v.get_int64().value_unsafe();
        out.number = static_cast<double>(out.integer);
        return;
    case dom::element_type::UINT64:
        // Above INT64_MAX: a number, but no integer field can hold it.
        out.kind = value_kind::number;
        out.integral = false;
        out.number = static_cast<double>(v.get_uint64().value_unsafe());
        return;
    case dom::element_type::DOUBLE:
        out.kind = value_kind::number;
        out.integral = false;
        out.number = v.get_double().value_unsafe();
        return;
    case dom::element_type::BOOL:
        out.kind = value_kind::boolean;
        out.text = v.get_bool().value_unsafe() ? std::string_view{"true"} : std::string_view{"false"};
        return;
    case dom::element_type::NULL_VALUE:
        out.kind = value_kind::null;
        return;
    case dom::element_type::ARRAY:
    case dom::element_type::OBJECT:
        out.kind = value_kind::other;
        return;
    }
}

/// Collects the keys of `obj` the parser knows. A nested object under "o" (forceOrder) or
/// "k" (kline) goes to r->inner when `r` is given; deeper levels are not read.
void collect(dom::object obj, row_fields& fields, row* r) noexcept
{
    for (const dom::key_value_pair kv : obj) {
        const key k = detail::key_of(kv.key);
        if (k == key::none) {
            continue;
        }
        if (r != nullptr && (k == key::o || k == key::k) && kv.value.is_object()) {
            r->inner.clear();
            collect(kv.value.get_object().value_unsafe(), r->inner, nullptr);
            r->has_inner = true;
            continue;
        }
        fill(fields.slot(k), kv.value);
    }
}

std::string_view text_of(const row_fields& f, key k) noexcept
{
    return f.has(k) && f.get(k).kind == value_kind::string ? f.get(k).text : std::string_view{};
}

/// A row with neither "e" nor a stream (a REST reply fed to the parser): typed by its keys.
event infer_event(const row_fields& f) noexcept
{
    if (f.has(key::markPrice) || f.has(key::lastFundingRate) || f.has(key::fundingRate)) {
        return event::mark_price;
    }
    if (f.has(key::priceChangePercent) || (f.has(key::lastPrice) && f.has(key::quoteVolume))) {
        return event::ticker;
    }
    return event::unknown;
}

namespace od = simdjson::ondemand;

static_assert(frame_padding >= simdjson::SIMDJSON_PADDING, "parse_in_place promises simdjson its padding");

// On-Demand's first error, kept by its json_iterator. simdjson 3.0's range-for loops swallow
// the errors of operator++ (a missing comma, a ':' where a ',' belongs: see the "safety rail"
// TODO in object_iterator::operator++) and may then carry on past the bad spot, so a loop that
// ends is no proof that the frame was well formed; this error is. It is a protected member,
// read through the explicit-instantiation rule (access checks do not apply to the names in an
// explicit instantiation): the one place this file reaches into simdjson's internals, checked
// by the tests that feed malformed frames to both paths.
template <class Tag, typename Tag::type Member>
struct member_access {
    friend typename Tag::type get(Tag) noexcept { return Member; }
};
struct document_iter {
    using type = od::json_iterator od::document::*;
    friend type get(document_iter) noexcept;
};
struct iterator_error {
    using type = simdjson::error_code od::json_iterator::*;
    friend type get(iterator_error) noexcept;
};
template struct member_access<document_iter, &od::document::iter>;
template struct member_access<iterator_error, &od::json_iterator::error>;

simdjson::error_code first_error(od::document& doc) noexcept
{
    return (doc.*get(document_iter{})).*get(iterator_error{});
}

/// A key's text without copying it when it has no escape (Binance's never do); else
/// unescaped. False on a malformed key.
[[gnu::always_inline]] inline bool key_text(od::field& field, std::string_view& out) noexcept
{
    // The key is closed (simdjson's stage 1 checked every string): the scan ends in it.
    const char* const begin = field.key().raw();
    const char* end = begin;
    while (*end != '"' && *end != '\\') {
        ++end;
    }
    if (*end == '"') {
        out = std::string_view(begin, static_cast<std::size_t>(end - begin));
        return true;
    }
    return field.unescaped_key().get(out) == simdjson::SUCCESS;
}

/// Reads a scalar as fill() does for the DOM, validating it whole (On-Demand only checks
/// what is read). False for a container or anything malformed: the frame goes to the DOM.
[[gnu::always_inline]] inline bool fill(raw_value& out, od::value& v, bool escapes) noexcept
{
    od::json_type type;
    if (v.type().get(type) != simdjson::SUCCESS) {
        return false;
    }
    switch (type) {
    case od::json_type::string: {
        const std::string_view token = v.raw_json_token();
        // `"text"` then possibly spaces: stage 1 checked the string is closed, valid UTF-8
        // and free of control characters; only escapes are left to check (by unescaping),
        // and only in a frame that has a backslash at all.
        const std::size_t close = token.back() == '"' ? token.size() - 1 : token.rfind('"');
        if (close == 0 || close == std::string_view::npos) {
            return false;
        }
        std::string_view text = token.substr(1, close - 1);
        if (escapes && text.find('\\') != std::string_view::npos) {
            if (v.get_string().get(text) != simdjson::SUCCESS) {
                return false;
            }
        } else {
            // Consumed all the same: an unread string that a ':' follows is skipped as if it
            // were a key (simdjson 3.0 skip_child), which would hide a malformed frame.
            od::raw_json_string consumed;
            if (v.get_raw_json_string().get(consumed) != simdjson::SUCCESS) {
                return false;
            }
        }
        out.kind = value_kind::string;
        out.text = text;
        return true;
    }
    case od::json_type::number: {
        od::number n;
        if (v.get_number().get(n) != simdjson::SUCCESS) {
            return false;
        }
        out.kind = value_kind::number;
        switch (n.get_number_type()) {
        case od::number_type::signed_integer:
            out.integral = true;
            out.integer = n.get_int64();
            out.number = static_cast<double>(out.integer);
            return true;
        case od::number_type::unsigned_integer:
            out.integral = false;
            out.number = static_cast<double>(n.get_uint64());
            return true;
        case od::number_type::floating_point_number:
            out.integral = false;
            out.number = n.get_double();
            return true;
        }
        return false;
    }
    case od::json_type::boolean: {
        bool b = false;
        if (v.get_bool().get(b) != simdjson::SUCCESS) {
            return false;
        }
        out.kind = value_kind::boolean;
        out.text = b ? std::string_view{"true"} : std::string_view{"false"};
        return true;
    }
    case od::json_type::null: {
        bool null = false;
        if (v.is_null().get(null) != simdjson::SUCCESS || !null) {
            return false;
        }
        out.kind = value_kind::null;
        return true;
    }
    case od::json_type::object:
    case od::json_type::array:
        break;
    }
    return false;
}

/// collect() for On-Demand: the same fields, or false (the frame goes to the DOM path) at the
/// first container other than the row's "o"/"k" object, or at any error. Unknown keys'
/// values are validated too, though not kept.
bool collect(od::object obj, row_fields& fields, row* r, bool escapes) noexcept
{
    raw_value ignored;
    // Iterated by reference: copying On-Demand's small structs through the stack cost more
    // than the parse (store-forwarding stalls, measured).
    for (auto member : obj) {
        if (member.error() != simdjson::SUCCESS) {
            return false;
        }
        // Nearly every key is one plain letter: looked up without measuring it.
        const char* const raw_key = member.value_unsafe().key().raw();
        key k;
        if (raw_key[0] != '"' && raw_key[0] != '\\' && raw_key[1] == '"') {
            k = detail::key_of(std::string_view(raw_key, 1));
        } else {
            std::string_view name;
            if (!key_text(member.value_unsafe(), name)) {
                return false;
            }
            k = detail::key_of(name);
        }
        od::value& v = member.value_unsafe().value();
        if (r != nullptr && (k == key::o || k == key::k)) {
            od::json_type type;
            if (v.type().get(type) != simdjson::SUCCESS) {
                return false;
            }
            if (type == od::json_type::object) {
                od::object inner;
                if (v.get_object().get(inner) != simdjson::SUCCESS) {
                    return false;
                }
                r->inner.clear();
                if (!collect(inner, r->inner, nullptr, escapes)) {
                    return false;
                }
                r->has_inner = true;
                continue;
            }
        }
        if (!fill(k == key::none ? ignored : fields.slot(k), v, escapes)) {
            return false;
        }
    }
    return true;
}

/// The sink between frames (parse() sets the caller's).
void ignore_record(const parsed_record&) noexcept {}

vs::bus::record_type record_type_of(event ev) noexcept
{
    using vs::schema::RecordType;
    switch (ev) {
    case event::mark_price: return static_cast<vs::bus::record_type>(RecordType::MarkPrice);
    case event::ticker: return static_cast<vs::bus::record_type>(RecordType::Ticker24h);
    case event::force_order: return static_cast<vs::bus::record_type>(RecordType::Liquidation);
    case event::agg_trade: return static_cast<vs::bus::record_type>(RecordType::AggTrade);
    case event::kline: return static_cast<vs::bus::record_type>(RecordType::Kline);
    case event::unknown: break;
    }
    return 0;
}

}  // namespace

class frame_parser::impl {
public:
    explicit impl(parser_options o)
        : options(o),
          json_(std::max<std::size_t>(o.max_frame_bytes, 4096)),
          on_demand_(std::max<std::size_t>(o.max_frame_bytes, 4096)),
          builder_(o.max_symbol_bytes)
    {
        stream_.reserve(128);
    }

    frame_result parse(std::string_view frame, bool padded, std::int64_t recv_ns, record_sink sink);

    parser_options options;
    parser_counters counters;
    rejected_row_sink rejected_sink_;
    std::shared_ptr<const funding_interval_map> funding_intervals_;   ///< builder_ points into it
    detail::record_builder& builder() noexcept { return builder_; }

private:
    /// What became of one row: delivered at once by the DOM path, kept until the frame's end
    /// by the On-Demand path.
    struct outcome {
        const char* error = nullptr;   ///< the row was rejected (why)
        bool unknown_event = false;
        vs::bus::record_type type = 0;
        vs::schema::MarketType market = vs::schema::MarketType::Unknown;
        std::string_view symbol;
        std::size_t offset = 0;        ///< of the kept record (On-Demand path)
        std::size_t size = 0;
    };

    void begin_frame();
    frame_result reject(const char* why);
    bool read_on_demand(std::size_t size);
    bool rows_on_demand(od::array rows);
    bool row_on_demand(od::value v, bool in_array);
    void deliver(const outcome& o, const parsed_record* rec);
    void top_object(dom::object obj);
    void data_value(dom::element v);
    void row_value(dom::element v, bool in_array);
    /// Types and builds one row; `rec` is the record when the outcome has no error.
    outcome build(const row& r, bool in_array, parsed_record& rec);
    void emit(const row& r, bool in_array);
    void derive_stream(const row& r, event ev, bool in_array);

    // Two parsers. On-Demand reads the usual frames: no DOM is built, keys and values are read
    // straight from the frame (stage 1, the structural index, still uses the CPU's kernels
    // picked at run time by libsimdjson; only the iteration is compiled here). Measured with
    // vs-feed-bench's 650-row frame (2026-11-21, 2-core EPYC): parse alone 166 us with the DOM,
    // 124 us with On-Demand. Every record is kept back until the frame has been read to its
    // end, with no error at all (first_error), so a frame is still delivered whole or not at
    // all. The DOM path reads every other shape and decides every rejection.
    dom::parser json_;
    od::parser on_demand_;
    bool escapes_ = false;          // the frame has a backslash somewhere (On-Demand path)
    std::vector<outcome> kept_;     // the On-Demand path's rows, delivered at the frame's end
    std::unique_ptr<char[]> buffer_;   // the frame, copied with simdjson's padding
    std::size_t buffer_capacity_ = 0;
    const char* json_data_ = nullptr;   // the frame being parsed: buffer_ or the caller's padded one
    std::size_t json_capacity_ = 0;     // readable bytes at json_data_
    row current_;   // the row being read
    row top_;       // the top-level object's own keys
    detail::record_builder builder_;
    std::string stream_;
    event stream_event_ = event::unknown;
    bool stream_given_ = false;   // the envelope named the stream (else derived from rows)

    // The frame in progress.
    frame_result result_;
    std::int64_t recv_ns_ = 0;
    record_sink sink_{ignore_record};   // the caller's, during parse()
};

frame_result frame_parser::impl::reject(const char* why)
{
    ++counters.frames_rejected;
    result_.kind = frame_kind::rejected;
    result_.error = why;
    result_.stream = stream_;
    return result_;
}

void frame_parser::impl::begin_frame()
{
    result_ = frame_result{};
    stream_.clear();
    stream_event_ = event::unknown;
    stream_given_ = false;
    kept_.clear();
    builder_.restart();
}

frame_result frame_parser::impl::parse(std::string_view frame, bool padded, std::int64_t recv_ns, record_sink sink)
{
    ++counters.frames;
    begin_frame();
    recv_ns_ = recv_ns;
    sink_ = sink;

    if (frame.size() > options.max_frame_bytes) {
        ++counters.oversized_frames;
        return reject(err_oversized);
    }
    const std::size_t needed = frame.size() + simdjson::SIMDJSON_PADDING;
    if (padded) {
        // The caller's memory is readable past the frame (parse_in_place): no copy.
        json_data_ = frame.data();
        json_capacity_ = needed;
    } else {
        if (needed > buffer_capacity_) {
            // Grows to the largest frame seen, then steady: no allocation per frame.
            buffer_capacity_ = std::max(needed, std::size_t{64} << 10);
            buffer_ = std::make_unique<char[]>(buffer_capacity_);
        }
        std::memcpy(buffer_.get(), frame.data(), frame.size());
        std::memset(buffer_.get() + frame.size(), 0, simdjson::SIMDJSON_PADDING);
        json_data_ = buffer_.get();
        json_capacity_ = buffer_capacity_;
    }

    if (options.on_demand) {
        if (read_on_demand(frame.size())) {
            ++counters.frames_on_demand;
            // The whole frame was read and is valid: now its rows count and reach the sink.
            for (const outcome& o : kept_) {
                if (o.error != nullptr) {
                    deliver(o, nullptr);
                    continue;
                }
                const parsed_record rec{o.type, o.symbol, o.market, builder_.kept(o.offset, o.size)};
                deliver(o, &rec);
            }
            result_.stream = stream_;
            return result_;
        }
        begin_frame();  // nothing was delivered or counted: the DOM path starts afresh
    }

    dom::element doc;
    if (json_.parse(reinterpret_cast<const std::uint8_t*>(json_data_), frame.size(), false).get(doc)) {
        return reject(err_malformed);
    }
    switch (doc.type()) {
    case dom::element_type::ARRAY:
        // A raw `!…@arr` payload from /market/ws/<stream>.
        result_.kind = frame_kind::data;
        data_value(doc);
        break;
    case dom::element_type::OBJECT:
        top_object(dom::object(doc.get_object().value_unsafe()));
        if (result_.kind == frame_kind::rejected) {
            return reject(result_.error != nullptr ? result_.error : err_shape);
        }
        break;
    default:
        return reject(err_shape);
    }
    result_.stream = stream_;
    return result_;
}

void frame_parser::impl::top_object(dom::object obj)
{
    top_.clear();
    row_fields& f = top_.outer;
    dom::element data;
    bool has_data = false;
    for (const dom::key_value_pair kv : obj) {
        const key k = detail::key_of(kv.key);
        switch (k) {
        case key::none:
            continue;
        case key::data:
            data = kv.value;
            has_data = true;
            continue;
        case key::stream:
            if (kv.value.is_string()) {
                stream_.assign(kv.value.get_string().value_unsafe());
                stream_given_ = true;
                stream_event_ = detail::event_of_stream(stream_);
            }
            continue;
        case key::error:
        case key::o:
        case key::k:
            // {"error":{"code":2,"msg":"Invalid request"},"id":1}, or a raw forceOrder/kline.
            if (kv.value.is_object()) {
                top_.inner.clear();
                collect(kv.value.get_object().value_unsafe(), top_.inner, nullptr);
                top_.has_inner = true;
                if (k == key::error) {
                    f.set(k, raw_value{{}, 0, 0, value_kind::other, false});
                }
                continue;
            }
            break;
        default:
            break;
        }
        fill(f.slot(k), kv.value);
    }

    if (has_data) {
        data_value(data);
        return;
    }
    if (f.has(key::e)) {
        // A raw single-event payload (/market/ws/<symbol>@<stream>).
        result_.kind = frame_kind::data;
        emit(top_, false);
        return;
    }
    if (f.has(key::result) || (f.has(key::id) && !f.has(key::code) && !f.has(key::error) && !f.has(key::msg))) {
        result_.kind = frame_kind::subscription_reply;
        return;
    }
    if (f.has(key::code) || f.has(key::msg) || f.has(key::error)) {
        result_.kind = frame_kind::exchange_error;
        result_.error = err_exchange;
        result_.detail = text_of(f, key::msg);
        if (result_.detail.empty() && top_.has_inner) {
            result_.detail = text_of(top_.inner, key::msg);
        }
        if (result_.detail.empty()) {
            result_.detail = text_of(f, key::error);
        }
        return;
    }
    if (f.has(key::s) || f.has(key::symbol)) {
        result_.kind = frame_kind::data;
        emit(top_, false);
        return;
    }
    result_.kind = frame_kind::rejected;
    result_.error = err_shape;
}

void frame_parser::impl::data_value(dom::element v)
{
    if (v.is_object()) {
        result_.kind = frame_kind::data;
        row_value(v, false);
        return;
    }
    if (!v.is_array()) {
        result_.kind = frame_kind::rejected;
        result_.error = err_data_shape;
        return;
    }
    result_.kind = frame_kind::data;
    // A named array: a range-for over value_unsafe() of a temporary result would dangle.
    const dom::array rows = v.get_array().value_unsafe();
    for (const dom::element e : rows) {
        row_value(e, true);
    }
}

void frame_parser::impl::row_value(dom::element v, bool in_array)
{
    if (!v.is_object()) {
        ++result_.rows_rejected;
        ++counters.rows_rejected;
        result_.error = err_row_shape;
        return;
    }
    current_.clear();
    collect(v.get_object().value_unsafe(), current_.outer, &current_);
    emit(current_, in_array);
}

frame_parser::impl::outcome frame_parser::impl::build(const row& r, bool in_array, parsed_record& rec)
{
    const row_fields& f = r.outer;
    event ev = event::unknown;
    if (f.has(key::e)) {
        ev = detail::event_of_name(text_of(f, key::e));
    } else if (stream_event_ != event::unknown) {
        ev = stream_event_;
    } else if (!stream_given_) {
        ev = infer_event(f);
    }
    outcome o;
    if (ev == event::unknown) {
        o.error = err_unknown_event;
        o.unknown_event = true;
        return o;
    }
    o.error = builder_.build(ev, r, recv_ns_, rec);
    if (stream_.empty()) {
        derive_stream(r, ev, in_array);
    }
    if (o.error != nullptr) {
        // A row rejected for its values names its symbol (when that is usable) to the
        // rejected-row sink: the feed tracks symbols whose values stay invalid.
        o.type = record_type_of(ev);
        const auto sym = builder_.last_symbol();
        o.symbol = detail::check_symbol(sym, options.max_symbol_bytes) == nullptr ? sym : std::string_view{};
        return o;
    }
    o.type = rec.type;
    o.market = rec.market;
    o.symbol = rec.symbol;
    o.size = rec.bytes.size();
    return o;
}

void frame_parser::impl::deliver(const outcome& o, const parsed_record* rec)
{
    if (o.error != nullptr) {
        ++result_.rows_rejected;
        ++counters.rows_rejected;
        if (o.unknown_event) {
            ++counters.unknown_event_rows;
        }
        result_.error = o.error;
        if (rejected_sink_ && !o.symbol.empty()) {
            rejected_sink_(rejected_row{o.type, o.symbol, o.error});
        }
        return;
    }
    ++result_.rows_accepted;
    ++counters.rows_accepted;
    if (rec->market == vs::schema::MarketType::CoinM) {
        ++counters.rows_coin_m;
    }
    sink_(*rec);
}

void frame_parser::impl::emit(const row& r, bool in_array)
{
    parsed_record rec;
    const outcome o = build(r, in_array, rec);
    deliver(o, &rec);
}

bool frame_parser::impl::read_on_demand(std::size_t size)
{
    // One search of the whole frame instead of one per string: Binance's frames have none.
    escapes_ = std::memchr(json_data_, '\\', size) != nullptr;
    od::document doc;
    od::json_type type;
    if (on_demand_.iterate(json_data_, size, json_capacity_).get(doc) != simdjson::SUCCESS ||
        doc.type().get(type) != simdjson::SUCCESS) {
        return false;
    }
    if (type == od::json_type::array) {
        // A raw `!…@arr` payload from /market/ws/<stream>.
        od::array rows;
        if (doc.get_array().get(rows) != simdjson::SUCCESS || !rows_on_demand(rows)) {
            return false;
        }
    } else if (type == od::json_type::object) {
        // The combined-stream envelope, "stream" first as Binance sends it. Any other key, or
        // "data" before "stream", is left to the DOM path, which sees the keys in any order.
        od::object top;
        if (doc.get_object().get(top) != simdjson::SUCCESS) {
            return false;
        }
        bool has_data = false;
        for (auto member : top) {
            od::field field;
            std::string_view name;
            if (has_data || std::move(member).get(field) != simdjson::SUCCESS || !key_text(field, name)) {
                return false;
            }
            const key k = detail::key_of(name);
            if (k == key::stream) {
                raw_value v;
                if (!fill(v, field.value(), escapes_) || v.kind != value_kind::string) {
                    return false;
                }
                stream_.assign(v.text);
                stream_given_ = true;
                stream_event_ = detail::event_of_stream(stream_);
            } else if (k == key::data) {
                has_data = true;
                od::value data = field.value();
                od::json_type data_type;
                if (data.type().get(data_type) != simdjson::SUCCESS) {
                    return false;
                }
                if (data_type == od::json_type::array) {
                    od::array rows;
                    if (data.get_array().get(rows) != simdjson::SUCCESS || !rows_on_demand(rows)) {
                        return false;
                    }
                } else if (!row_on_demand(data, false)) {
                    return false;
                }
            } else {
                return false;
            }
        }
        if (!has_data) {
            return false;
        }
    } else {
        return false;
    }
    // Read to its end: only "outside the document" is left ({"a":1}{"b":2} is not, and the
    // DOM path rejects it as trailing content).
    const char* rest = nullptr;
    if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS || first_error(doc) != simdjson::SUCCESS) {
        return false;
    }
    result_.kind = frame_kind::data;
    return true;
}

bool frame_parser::impl::rows_on_demand(od::array rows)
{
    for (auto element : rows) {
        od::value v;
        if (std::move(element).get(v) != simdjson::SUCCESS || !row_on_demand(v, true)) {
            return false;
        }
    }
    return true;
}

bool frame_parser::impl::row_on_demand(od::value v, bool in_array)
{
    od::object obj;
    if (v.get_object().get(obj) != simdjson::SUCCESS) {
        return false;  // not an object (or malformed): the DOM path counts or rejects it
    }
    current_.clear();
    if (!collect(obj, current_.outer, &current_, escapes_)) {
        return false;
    }
    parsed_record rec;
    outcome o = build(current_, in_array, rec);
    if (o.error == nullptr) {
        o.offset = builder_.keep();
    }
    kept_.push_back(o);
    return true;
}

void frame_parser::impl::derive_stream(const row& r, event ev, bool in_array)
{
    // What a combined stream would have called this payload. Per-symbol streams need the
    // lower-case symbol; options such as "@1s" cannot be seen in the payload.
    const auto lower_symbol = [this] {
        for (char c : builder_.last_symbol()) {
            stream_.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
        }
    };
    switch (ev) {
    case event::mark_price:
        if (in_array) {
            stream_ = "!markPrice@arr";
        } else {
            lower_symbol();
            stream_ += "@markPrice";
        }
        break;
    case event::ticker:
        if (in_array) {
            stream_ = "!ticker@arr";
        } else {
            lower_symbol();
            stream_ += "@ticker";
        }
        break;
    case event::force_order:
        // `!forceOrder@arr` delivers one object per liquidation, like the per-symbol stream;
        // the all-market stream is the one the feed subscribes to.
        stream_ = "!forceOrder@arr";
        break;
    case event::agg_trade:
        lower_symbol();
        stream_ += "@aggTrade";
        break;
    case event::kline:
        lower_symbol();
        stream_ += "@kline_";
        stream_ += r.has_inner ? text_of(r.inner, key::i) : std::string_view{};
        break;
    case event::unknown:
        break;
    }
}

frame_parser::frame_parser(parser_options options) : impl_(std::make_unique<impl>(options)) {}
frame_parser::~frame_parser() = default;
frame_parser::frame_parser(frame_parser&&) noexcept = default;
frame_parser& frame_parser::operator=(frame_parser&&) noexcept = default;

void frame_parser::on_rejected_row(rejected_row_sink sink) { impl_->rejected_sink_ = std::move(sink); }

void frame_parser::set_funding_intervals(std::shared_ptr<const funding_interval_map> table) noexcept
{
    impl_->builder().set_funding_intervals(table.get());
    impl_->funding_intervals_ = std::move(table);
}

const parser_counters& frame_parser::counters() const noexcept
{
    return impl_->counters;
}

const parser_options& frame_parser::options() const noexcept
{
    return impl_->options;
}

frame_result frame_parser::parse(std::string_view frame, std::int64_t recv_ns, record_sink sink)
{
    return impl_->parse(frame, false, recv_ns, sink);
}

frame_result frame_parser::parse_in_place(std::string_view frame, std::int64_t recv_ns, record_sink sink)
{
    return impl_->parse(frame, true, recv_ns, sink);
}

const char* to_string(frame_kind k) noexcept
{
    switch (k) {
    case frame_kind::data: return "data";
    case frame_kind::subscription_reply: return "subscription_reply";
    case frame_kind::exchange_error: return "exchange_error";
    case frame_kind::rejected: return "rejected";
    }
    return "rejected";
}

}  // namespace vs::feed
