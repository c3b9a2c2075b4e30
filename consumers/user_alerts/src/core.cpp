#include "core.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <unordered_set>

#include <fmt/format.h>
#include <simdjson.h>

namespace vs::user_alerts {

namespace od = simdjson::ondemand;

std::string_view to_string(alert_type t) noexcept
{
    switch (t) {
    case alert_type::price_cross: return "PRICE_CROSS";
    case alert_type::funding_cross: return "FUNDING_CROSS";
    case alert_type::oi_cross: return "OI_CROSS";
    }
    return "?";
}

std::optional<alert_type> alert_type_from(std::string_view s) noexcept
{
    if (s == "PRICE_CROSS") {
        return alert_type::price_cross;
    }
    if (s == "FUNDING_CROSS") {
        return alert_type::funding_cross;
    }
    if (s == "OI_CROSS") {
        return alert_type::oi_cross;
    }
    return std::nullopt;
}

std::string_view short_name(alert_type t) noexcept
{
    switch (t) {
    case alert_type::price_cross: return "price";
    case alert_type::funding_cross: return "funding";
    case alert_type::oi_cross: return "oi";
    }
    return "?";
}

std::string_view to_string(tier t) noexcept
{
    switch (t) {
    case tier::free: return "free";
    case tier::pro: return "pro";
    case tier::elite: return "elite";
    case tier::other: return "other";
    }
    return "?";
}

tier tier_from(std::string_view s) noexcept
{
    auto eq = [&](std::string_view name) {
        return s.size() == name.size() && std::equal(s.begin(), s.end(), name.begin(), [](char a, char b) {
                   return std::tolower(static_cast<unsigned char>(a)) == b;
               });
    };
    if (eq("free")) {
        return tier::free;
    }
    if (eq("pro")) {
        return tier::pro;
    }
    if (eq("elite")) {
        return tier::elite;
    }
    return tier::other;
}

// ---- parse ------------------------------------------------------------------------------------

namespace {

constexpr std::size_t rejected_sample_size = 10;

bool printable(std::string_view s) noexcept
{
    return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

/// A number, or a decimal string ("65000.5": Prisma Decimal columns serialise as strings).
std::optional<double> number_of(od::value v)
{
    od::json_type jt;
    if (v.type().get(jt) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    if (jt == od::json_type::number) {
        double d = 0;
        if (v.get_double().get(d) != simdjson::SUCCESS) {
            return std::nullopt;
        }
        return d;
    }
    if (jt == od::json_type::string) {
        std::string_view s;
        if (v.get_string().get(s) != simdjson::SUCCESS || s.empty()) {
            return std::nullopt;
        }
        double d = 0;
        const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
        if (r.ec != std::errc{} || r.ptr != s.data() + s.size()) {
            return std::nullopt;
        }
        return d;
    }
    return std::nullopt;
}

/// What one item of "alerts" held; strings copied (the parser's buffer is reused).
struct raw_item {
    std::optional<std::string> id, symbol, type, user_tier;
    bool id_wrong_type = false, symbol_wrong_type = false, type_wrong_type = false;
    bool has_threshold = false;
    std::optional<double> threshold;
    std::optional<double> last_checked;
};

/// Reads the fields of one item. A structural JSON error is returned (the whole answer is
/// then refused); a field of the wrong type is only noted.
simdjson::error_code read_item(od::object o, raw_item& it)
{
    for (auto field_r : o) {
        od::field field;
        if (auto e = std::move(field_r).get(field); e != simdjson::SUCCESS) {
            return e;
        }
        std::string_view key;
        if (auto e = field.unescaped_key().get(key); e != simdjson::SUCCESS) {
            return e;
        }
        od::value v = field.value();
        auto read_string = [&](std::optional<std::string>& out, bool& wrong) -> simdjson::error_code {
            std::string_view s;
            const auto e = v.get_string().get(s);
            if (e == simdjson::SUCCESS) {
                out = std::string{s};
                return simdjson::SUCCESS;
            }
            if (e == simdjson::INCORRECT_TYPE) {
                wrong = true;
                return simdjson::SUCCESS;
            }
            return e;
        };
        simdjson::error_code e = simdjson::SUCCESS;
        if (key == "id") {
            e = read_string(it.id, it.id_wrong_type);
        } else if (key == "symbol") {
            e = read_string(it.symbol, it.symbol_wrong_type);
        } else if (key == "alertType") {
            e = read_string(it.type, it.type_wrong_type);
        } else if (key == "userTier") {
            bool wrong = false;
            e = read_string(it.user_tier, wrong);
        } else if (key == "threshold") {
            it.has_threshold = true;
            it.threshold = number_of(v);
        } else if (key == "lastCheckedValue") {
            it.last_checked = number_of(v);
        }
        if (e != simdjson::SUCCESS) {
            return e;
        }
    }
    return simdjson::SUCCESS;
}

/// The reason an item is refused, or nothing.
std::optional<std::string> validate(const raw_item& it, const parse_limits& limits)
{
    if (!it.id) {
        return it.id_wrong_type ? "id is not a string" : "missing id";
    }
    if (it.id->empty() || it.id->size() > limits.max_id_bytes || !printable(*it.id)) {
        return fmt::format("bad id ({} bytes)", it.id->size());
    }
    if (!it.symbol) {
        return it.symbol_wrong_type ? "symbol is not a string" : "missing symbol";
    }
    if (it.symbol->empty() || it.symbol->size() > limits.max_symbol_bytes || !printable(*it.symbol)) {
        return fmt::format("bad symbol ({} bytes)", it.symbol->size());
    }
    if (!it.type) {
        return it.type_wrong_type ? "alertType is not a string" : "missing alertType";
    }
    if (!alert_type_from(*it.type)) {
        return fmt::format("unknown alertType '{}'", it.type->substr(0, 40));
    }
    if (!it.has_threshold) {
        return "missing threshold";
    }
    if (!it.threshold || !std::isfinite(*it.threshold) || *it.threshold <= 0) {
        return "threshold is not a positive number";
    }
    return std::nullopt;
}

}  // namespace

parse_result parse_active(std::string& body, const parse_limits& limits)
{
    parse_result r;
    if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
        body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    }
    od::parser parser;
    od::document doc;
    const simdjson::padded_string_view text{body.data(), body.size(), body.capacity()};
    auto fail = [&](std::string what, simdjson::error_code e) {
        r.error = fmt::format("invalid JSON: {}: {}", what, simdjson::error_message(e));
        r.alerts.clear();
        return std::move(r);
    };
    if (auto e = parser.iterate(text).get(doc); e != simdjson::SUCCESS) {
        return fail("cannot parse the answer", e);
    }
    od::object root;
    if (auto e = doc.get_object().get(root); e != simdjson::SUCCESS) {
        return fail("the answer is not an object", e);
    }
    od::array list;
    if (auto e = root.find_field_unordered("alerts").get_array().get(list); e != simdjson::SUCCESS) {
        if (e == simdjson::NO_SUCH_FIELD || e == simdjson::INCORRECT_TYPE) {
            r.error = "no \"alerts\" array in the answer";
            return r;
        }
        return fail("cannot read \"alerts\"", e);
    }
    std::unordered_set<std::string> ids;
    std::unordered_map<std::string, std::size_t> per_symbol;
    std::size_t index = 0;
    for (auto item_r : list) {
        od::value item;
        if (auto e = std::move(item_r).get(item); e != simdjson::SUCCESS) {
            return fail(fmt::format("alert #{}", index), e);
        }
        raw_item it;
        od::object o;
        std::optional<std::string> reason;
        if (auto e = item.get_object().get(o); e == simdjson::INCORRECT_TYPE) {
            reason = "not an object";
        } else if (e != simdjson::SUCCESS) {
            return fail(fmt::format("alert #{}", index), e);
        } else if (auto e2 = read_item(o, it); e2 != simdjson::SUCCESS) {
            return fail(fmt::format("alert #{}", index), e2);
        } else {
            reason = validate(it, limits);
        }
        ++index;
        if (reason) {
            ++r.rejected;
            if (r.rejected_sample.size() < rejected_sample_size) {
                r.rejected_sample.push_back({it.id && printable(*it.id) ? it.id->substr(0, 64)
                                                                        : fmt::format("#{}", index - 1),
                                             std::move(*reason)});
            }
            continue;
        }
        if (!ids.insert(*it.id).second) {
            ++r.duplicates;
            continue;
        }
        if (r.alerts.size() >= limits.max_alerts) {
            ++r.over_total_limit;
            continue;
        }
        auto& n = per_symbol[*it.symbol];
        if (n >= limits.max_per_symbol) {
            ++r.over_symbol_limit;
            continue;
        }
        ++n;
        user_alert a;
        a.id = std::move(*it.id);
        a.symbol = std::move(*it.symbol);
        a.type = *alert_type_from(*it.type);
        a.user_tier = it.user_tier ? tier_from(*it.user_tier) : tier::free;
        a.threshold = *it.threshold;
        if (it.last_checked && std::isfinite(*it.last_checked)) {
            a.last_checked = *it.last_checked;
        }
        r.alerts.push_back(std::move(a));
    }
    return r;
}

namespace {
void append_json_string(std::string& out, std::string_view s)
{
    out += '"';
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            out += fmt::format("\\u{:04x}", u);
        } else {
            out += c;
        }
    }
    out += '"';
}
}  // namespace

std::string serialize_kept(const std::vector<user_alert>& alerts)
{
    std::string out;
    out.reserve(32 + alerts.size() * 110);
    out += "{\"alerts\":[";
    bool first = true;
    for (const auto& a : alerts) {
        if (!first) {
            out += ',';
        }
        first = false;
        out += "{\"id\":";
        append_json_string(out, a.id);
        out += ",\"symbol\":";
        append_json_string(out, a.symbol);
        out += ",\"alertType\":\"";
        out += to_string(a.type);
        out += "\",\"threshold\":";
        out += fmt::format("{}", a.threshold);   // shortest round-trip form
        out += ",\"userTier\":\"";
        out += to_string(a.user_tier);
        out += "\"}";
    }
    out += "]}";
    return out;
}

// ---- cadence ----------------------------------------------------------------------------------

cadence::cadence(const tier_intervals& intervals, steady_time start) : intervals_(intervals)
{
    for (std::size_t i = 0; i < tier_count; ++i) {
        const auto t = static_cast<tier>(i);
        const auto& every = intervals_.every[i];
        next_[i] = steady_time::max();
        if (!every) {
            unchecked_.add(t);
        } else if (every->count() == 0) {
            on_update_.add(t);
        } else {
            next_[i] = start;
        }
    }
}

tier_set cadence::due(steady_time now)
{
    tier_set out;
    for (std::size_t i = 0; i < tier_count; ++i) {
        if (next_[i] == steady_time::max() || next_[i] > now) {
            continue;
        }
        out.add(static_cast<tier>(i));
        const auto every = *intervals_.every[i];
        const auto late = now - next_[i];
        const auto skipped = late / every;   // whole ticks that passed meanwhile
        missed_ += static_cast<std::uint64_t>(skipped);
        next_[i] += every * (skipped + 1);
    }
    return out;
}

steady_time cadence::next() const noexcept { return *std::min_element(next_.begin(), next_.end()); }

// ---- book -------------------------------------------------------------------------------------

std::vector<std::string> book::replace(
    std::vector<user_alert> alerts, const std::function<std::optional<stored_state>(const std::string&)>& stored)
{
    std::vector<entry> next;
    next.reserve(alerts.size());
    std::unordered_set<std::string_view> kept;
    kept.reserve(alerts.size());
    for (auto& a : alerts) {
        entry e;
        if (auto it = id_index_.find(a.id); it != id_index_.end()) {
            const auto& old = entries_[it->second];
            e.prev = old.prev;
            e.persisted = old.persisted;
            e.has_persisted = old.has_persisted;
            e.fired = old.fired;
            e.dirty = old.dirty;
            kept.insert(old.a.id);
        } else if (auto s = stored ? stored(a.id) : std::nullopt) {
            e.prev = s->prev;
            e.persisted = s->prev;
            e.has_persisted = true;
            e.fired = s->fired;
        } else {
            e.prev = a.last_checked.value_or(std::numeric_limits<double>::quiet_NaN());
        }
        e.a = std::move(a);
        next.push_back(std::move(e));
    }
    std::vector<std::string> gone;
    for (const auto& old : entries_) {
        if (!kept.contains(old.a.id)) {
            gone.push_back(old.a.id);
        }
    }
    entries_ = std::move(next);
    id_index_.clear();
    groups_.clear();
    group_index_.clear();
    id_index_.reserve(entries_.size());
    // Groups in first-appearance order; their symbol strings are final before any view of them.
    std::unordered_map<std::string_view, std::uint32_t> tmp;
    for (std::uint32_t i = 0; i < entries_.size(); ++i) {
        const auto& a = entries_[i].a;
        id_index_.emplace(a.id, i);
        if (!tmp.contains(a.symbol)) {
            tmp.emplace(a.symbol, static_cast<std::uint32_t>(groups_.size()));
            groups_.push_back(symbol_group{a.symbol, {}});
        }
    }
    for (std::uint32_t g = 0; g < groups_.size(); ++g) {
        group_index_.emplace(groups_[g].symbol, g);
    }
    for (std::uint32_t i = 0; i < entries_.size(); ++i) {
        const auto& a = entries_[i].a;
        groups_[group_index_.at(a.symbol)].by_type[static_cast<std::size_t>(a.type)].push_back(i);
    }
    return gone;
}

const book::symbol_group* book::group(std::string_view symbol) const noexcept
{
    const auto it = group_index_.find(symbol);
    return it == group_index_.end() ? nullptr : &groups_[it->second];
}

std::optional<std::uint32_t> book::index_of(const std::string& id) const
{
    const auto it = id_index_.find(id);
    if (it == id_index_.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::array<std::array<std::size_t, alert_type_count>, tier_count> book::counts() const
{
    std::array<std::array<std::size_t, alert_type_count>, tier_count> c{};
    for (const auto& e : entries_) {
        ++c[static_cast<std::size_t>(e.a.user_tier)][static_cast<std::size_t>(e.a.type)];
    }
    return c;
}

// ---- check ------------------------------------------------------------------------------------

void check_symbol(book& b, const book::symbol_group& g, tier_set tiers, value_lookup& values, check_output& out)
{
    auto& entries = b.entries();
    for (std::size_t t = 0; t < alert_type_count; ++t) {
        const auto& idx = g.by_type[t];
        if (idx.empty()) {
            continue;
        }
        bool looked_up = false;
        value v;
        for (const auto i : idx) {
            auto& e = entries[i];
            if (e.fired || !tiers.has(e.a.user_tier)) {
                continue;
            }
            if (!looked_up) {   // only when an alert of the set needs it (no REST-backed lookups for nothing)
                v = values.get(static_cast<alert_type>(t), g.symbol);
                looked_up = true;
            }
            if (v.status != value_status::ok) {
                ++(v.status == value_status::stale ? out.skipped_stale : out.skipped_missing);
                continue;
            }
            ++out.checked;
            const double thr = e.a.threshold;
            const auto c = check_cross(e.prev, v.v, thr);
            if (c != cross::none) {
                out.triggers.push_back({i, v.v, e.prev, c == cross::up});
                e.fired = true;
                e.prev = v.v;
                e.dirty = true;
                continue;
            }
            if (!(e.prev == v.v)) {
                e.prev = v.v;
                e.dirty = true;
                if (!e.has_persisted || side_of(e.persisted, thr) != side_of(v.v, thr)) {
                    out.must_persist.push_back(i);
                }
            }
            out.updates.push_back({i, v.v});
        }
    }
}

void check(book& b, tier_set tiers, value_lookup& values, check_output& out)
{
    if (tiers.empty()) {
        return;
    }
    for (const auto& g : b.groups()) {
        check_symbol(b, g, tiers, values, out);
    }
}

}  // namespace vs::user_alerts
