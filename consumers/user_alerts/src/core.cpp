#include "core.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>

namespace vs::user_alerts {

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

/// What one item of "alerts" held (strings copied: the input is read once, in place).
struct raw_item {
    std::optional<std::string> id, symbol, type, user_tier;
    bool id_wrong_type = false, symbol_wrong_type = false, type_wrong_type = false;
    bool has_threshold = false;
    std::optional<double> threshold;
    std::optional<double> last_checked;
};

/// "65000.5" as a number (Prisma Decimal columns serialise as strings).
std::optional<double> number_of_string(std::string_view s)
{
    if (s.empty()) {
        return std::nullopt;
    }
    double d = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
    if (r.ec != std::errc{} || r.ptr != s.data() + s.size()) {
        return std::nullopt;
    }
    return d;
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

namespace {

/// A SAX handler over the /active answer: memory stays bounded by one item whatever the
/// answer's size (a DOM, or simdjson's index, would take several times the 25 MB of 100,000
/// alerts).
class list_handler {
public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    list_handler(const parse_limits& limits, parse_result& r) : limits_(limits), r_(r) {}

    bool saw_alerts() const noexcept { return saw_alerts_; }
    bool root_ok() const noexcept { return root_ok_; }

    bool on_document_begin(boost::system::error_code&) { return true; }
    bool on_document_end(boost::system::error_code&) { return true; }
    bool on_array_begin(boost::system::error_code& ec)
    {
        if (!container_value(false, ec)) {
            return false;
        }
        ++depth_;
        return true;
    }
    bool on_array_end(std::size_t, boost::system::error_code&)
    {
        --depth_;
        if (in_alerts_ && depth_ == 1) {
            in_alerts_ = false;
        }
        return true;
    }
    bool on_object_begin(boost::system::error_code& ec)
    {
        if (!container_value(true, ec)) {
            return false;
        }
        ++depth_;
        return true;
    }
    bool on_object_end(std::size_t, boost::system::error_code&)
    {
        --depth_;
        if (in_item_ && depth_ == 2) {
            in_item_ = false;
            finish_item();
        }
        return true;
    }
    bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&)
    {
        if (wants_string()) {
            part_.append(s.data(), s.size());
        }
        return true;
    }
    bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code& ec)
    {
        if (!wants_string()) {
            return scalar_value(ec);
        }
        part_.append(s.data(), s.size());
        std::string v = std::exchange(part_, {});
        if (!scalar_value(ec)) {
            return false;
        }
        if (depth_ == 3 && in_item_) {
            field_string(std::move(v));
        }
        return true;
    }
    bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&)
    {
        if (depth_ <= 3) {
            key_.append(s.data(), s.size());
        }
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&)
    {
        if (depth_ <= 3) {
            key_.append(s.data(), s.size());
            (depth_ == 1 ? root_key_ : item_key_) = std::exchange(key_, {});
        }
        return true;
    }
    bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_int64(std::int64_t i, boost::json::string_view, boost::system::error_code& ec)
    {
        return number(static_cast<double>(i), ec);
    }
    bool on_uint64(std::uint64_t u, boost::json::string_view, boost::system::error_code& ec)
    {
        return number(static_cast<double>(u), ec);
    }
    bool on_double(double d, boost::json::string_view, boost::system::error_code& ec) { return number(d, ec); }
    bool on_bool(bool, boost::system::error_code& ec)
    {
        if (!scalar_value(ec)) {
            return false;
        }
        field_other();
        return true;
    }
    bool on_null(boost::system::error_code& ec)
    {
        if (!scalar_value(ec)) {
            return false;
        }
        field_other();
        return true;
    }
    bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

private:
    bool wants_string() const noexcept { return depth_ == 3 && in_item_; }

    /// A container starts at the current position.
    bool container_value(bool object, boost::system::error_code& ec)
    {
        if (depth_ == 0) {
            if (!object) {
                ec = make_error(boost::json::error::syntax);
                root_ok_ = false;
                return false;
            }
            root_ok_ = true;
        } else if (depth_ == 1 && root_key_ == "alerts") {
            if (object) {
                ec = make_error(boost::json::error::syntax);   // "alerts" must be an array
                alerts_not_array_ = true;
                return false;
            }
            in_alerts_ = true;
            saw_alerts_ = true;
        } else if (depth_ == 2 && in_alerts_) {
            if (object) {
                in_item_ = true;
                item_ = raw_item{};
                item_key_.clear();
            } else {
                reject_now("not an object");
            }
        } else if (depth_ == 3 && in_item_) {
            field_other();
        }
        return true;
    }

    bool scalar_value(boost::system::error_code& ec)
    {
        if (depth_ == 0) {
            ec = make_error(boost::json::error::syntax);
            root_ok_ = false;
            return false;
        }
        if (depth_ == 1 && root_key_ == "alerts") {
            ec = make_error(boost::json::error::syntax);
            alerts_not_array_ = true;
            return false;
        }
        if (depth_ == 2 && in_alerts_) {
            reject_now("not an object");
        }
        return true;
    }

    static boost::system::error_code make_error(boost::json::error e) { return boost::json::make_error_code(e); }

    bool number(double d, boost::system::error_code& ec)
    {
        if (!scalar_value(ec)) {
            return false;
        }
        if (depth_ == 3 && in_item_) {
            if (item_key_ == "threshold") {
                item_.has_threshold = true;
                item_.threshold = d;
            } else if (item_key_ == "lastCheckedValue") {
                item_.last_checked = d;
            } else {
                field_other();
            }
        }
        return true;
    }

    void field_string(std::string v)
    {
        if (item_key_ == "id") {
            item_.id = std::move(v);
        } else if (item_key_ == "symbol") {
            item_.symbol = std::move(v);
        } else if (item_key_ == "alertType") {
            item_.type = std::move(v);
        } else if (item_key_ == "userTier") {
            item_.user_tier = std::move(v);
        } else if (item_key_ == "threshold") {
            item_.has_threshold = true;
            item_.threshold = number_of_string(v);
        } else if (item_key_ == "lastCheckedValue") {
            item_.last_checked = number_of_string(v);
        }
    }

    /// A value of another type (null, bool, container) for a field of the item.
    void field_other()
    {
        if (!(depth_ == 3 && in_item_)) {
            return;
        }
        if (item_key_ == "id") {
            item_.id.reset();
            item_.id_wrong_type = true;
        } else if (item_key_ == "symbol") {
            item_.symbol.reset();
            item_.symbol_wrong_type = true;
        } else if (item_key_ == "alertType") {
            item_.type.reset();
            item_.type_wrong_type = true;
        } else if (item_key_ == "threshold") {
            item_.has_threshold = true;
            item_.threshold.reset();
        } else if (item_key_ == "lastCheckedValue") {
            item_.last_checked.reset();
        } else if (item_key_ == "userTier") {
            item_.user_tier.reset();
        }
    }

    void reject(std::string reason, const std::optional<std::string>& id)
    {
        ++r_.rejected;
        if (r_.rejected_sample.size() < rejected_sample_size) {
            r_.rejected_sample.push_back(
                {id && printable(*id) ? id->substr(0, 64) : fmt::format("#{}", index_), std::move(reason)});
        }
    }
    void reject_now(std::string reason)
    {
        reject(std::move(reason), std::nullopt);
        ++index_;
    }

    void finish_item()
    {
        auto& it = item_;
        if (auto reason = validate(it, limits_)) {
            reject(std::move(*reason), it.id);
            ++index_;
            return;
        }
        ++index_;
        // Duplicate ids and the per-symbol limit are applied once the list is complete
        // (parse_active): a set of ids here would cost more than the list itself.
        if (r_.alerts.size() >= limits_.max_alerts) {
            ++r_.over_total_limit;
            return;
        }
        user_alert a;
        a.id = std::move(*it.id);
        a.symbol = std::move(*it.symbol);
        a.type = *alert_type_from(*it.type);
        a.user_tier = it.user_tier ? tier_from(*it.user_tier) : tier::free;
        a.threshold = *it.threshold;
        if (it.last_checked && std::isfinite(*it.last_checked)) {
            a.last_checked = *it.last_checked;
        }
        r_.alerts.push_back(std::move(a));
    }

    const parse_limits& limits_;
    parse_result& r_;
    int depth_ = 0;
    bool root_ok_ = false, in_alerts_ = false, saw_alerts_ = false, in_item_ = false;

public:
    bool alerts_not_array_ = false;

private:
    std::string key_, root_key_, item_key_, part_;
    raw_item item_;
    std::size_t index_ = 0;
};

}  // namespace

struct active_parser::impl {
    impl(const parse_limits& l, std::size_t expected_alerts) : limits(l), p{boost::json::parse_options{}, limits, r}
    {
        // One allocation when the size is known (a doubling keeps the old and the new buffer
        // resident at its peak).
        r.alerts.reserve(std::min(limits.max_alerts, expected_alerts));
    }
    parse_limits limits;
    parse_result r;
    boost::json::basic_parser<list_handler> p;
    boost::system::error_code ec;
    std::size_t bytes = 0;      // written so far
    std::size_t consumed = 0;   // accepted by the parser before an error
    bool failed = false;
};

active_parser::active_parser(const parse_limits& limits, std::size_t expected_alerts)
    : impl_(std::make_unique<impl>(limits, expected_alerts))
{
}

active_parser::~active_parser() = default;
active_parser::active_parser(active_parser&&) noexcept = default;
active_parser& active_parser::operator=(active_parser&&) noexcept = default;

bool active_parser::write(std::string_view chunk)
{
    auto& m = *impl_;
    if (m.failed) {
        return false;
    }
    const std::size_t n = m.p.write_some(true, chunk.data(), chunk.size(), m.ec);
    m.consumed += n;
    m.bytes += chunk.size();
    if (m.ec) {
        m.failed = true;
        m.r.alerts.clear();
        m.r.alerts.shrink_to_fit();
        return false;
    }
    return true;
}

std::size_t active_parser::alerts_so_far() const noexcept { return impl_->r.alerts.size(); }

parse_result active_parser::finish()
{
    auto& m = *impl_;
    if (!m.failed) {
        m.consumed += m.p.write_some(false, nullptr, 0, m.ec);
        m.failed = static_cast<bool>(m.ec) || !m.p.done();
    }
    parse_result r = std::move(m.r);
    const auto& h = m.p.handler();
    if (m.failed) {
        if (h.alerts_not_array_) {
            r.error = "no \"alerts\" array in the answer";
        } else if (m.bytes == 0) {
            r.error = "invalid JSON: empty answer";
        } else {
            r.error = fmt::format("invalid JSON at byte {} of {}: {}", m.consumed, m.bytes,
                                  m.ec ? m.ec.message() : std::string{"incomplete"});
        }
        r.alerts.clear();
        return r;
    }
    if (!h.saw_alerts()) {
        r.error = "no \"alerts\" array in the answer";
        r.alerts.clear();
        return r;
    }
    const auto& limits = m.limits;
    // Duplicate ids: the first one listed stays.
    std::vector<std::uint32_t> order(r.alerts.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return r.alerts[a].id < r.alerts[b].id; });
    std::vector<bool> drop(r.alerts.size(), false);
    for (std::size_t k = 1; k < order.size(); ++k) {
        if (r.alerts[order[k]].id == r.alerts[order[k - 1]].id) {
            drop[order[k]] = true;
            ++r.duplicates;
        }
    }
    std::vector<std::uint32_t>{}.swap(order);
    std::unordered_map<std::string, std::size_t> per_symbol;   // owned keys: the alerts move below
    std::size_t out = 0;
    for (std::size_t i = 0; i < r.alerts.size(); ++i) {
        if (drop[i]) {
            continue;
        }
        auto& count = per_symbol[r.alerts[i].symbol];
        if (count >= limits.max_per_symbol) {
            ++r.over_symbol_limit;
            continue;
        }
        ++count;
        if (out != i) {
            r.alerts[out] = std::move(r.alerts[i]);
        }
        ++out;
    }
    per_symbol.clear();
    r.alerts.resize(out);
    return r;
}

parse_result parse_active(std::string_view body, const parse_limits& limits)
{
    // A backend alert takes ~230 bytes of JSON.
    active_parser p{limits, body.size() / 200 + 16};
    p.write(body);
    return p.finish();
}

namespace {
/// Where write_kept puts its text: `size_only` counts, otherwise appends to `text`.
struct kept_sink {
    std::string* text = nullptr;
    std::size_t size = 0;
    void put(char c)
    {
        ++size;
        if (text != nullptr) {
            *text += c;
        }
    }
    void put(std::string_view s)
    {
        size += s.size();
        if (text != nullptr) {
            text->append(s);
        }
    }
};

void put_json_string(kept_sink& out, std::string_view s)
{
    out.put('"');
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.put('\\');
            out.put(c);
        } else if (u < 0x20) {
            char esc[8];
            const auto r = fmt::format_to_n(esc, sizeof esc, "\\u{:04x}", u);
            out.put(std::string_view{esc, r.size});
        } else {
            out.put(c);
        }
    }
    out.put('"');
}

void write_kept(const std::vector<user_alert>& alerts, kept_sink& out)
{
    out.put("{\"alerts\":[");
    bool first = true;
    char num[40];
    for (const auto& a : alerts) {
        if (!first) {
            out.put(',');
        }
        first = false;
        out.put("{\"id\":");
        put_json_string(out, a.id);
        out.put(",\"symbol\":");
        put_json_string(out, a.symbol);
        out.put(",\"alertType\":\"");
        out.put(to_string(a.type));
        out.put("\",\"threshold\":");
        const auto r = fmt::format_to_n(num, sizeof num, "{}", a.threshold);   // shortest round-trip form
        out.put(std::string_view{num, std::min(r.size, sizeof num)});
        out.put(",\"userTier\":\"");
        out.put(to_string(a.user_tier));
        out.put("\"}");
    }
    out.put("]}");
}
}  // namespace

std::string serialize_kept(const std::vector<user_alert>& alerts)
{
    // Sized exactly first: 100,000 alerts take ~12 MB, and a string that outgrows its
    // reserve holds the old and the doubled buffer at once (33 MB: the process's peak).
    kept_sink count;
    write_kept(alerts, count);
    std::string out;
    out.reserve(count.size);
    kept_sink fill{&out};
    write_kept(alerts, fill);
    return out;
}

std::uint64_t kept_hash(const std::vector<user_alert>& alerts) noexcept
{
    std::uint64_t h = 1469598103934665603ull;   // FNV-1a
    auto mix = [&](const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i) {
            h = (h ^ b[i]) * 1099511628211ull;
        }
    };
    for (const auto& a : alerts) {
        mix(a.id.data(), a.id.size());
        mix("\0", 1);
        mix(a.symbol.data(), a.symbol.size());
        mix("\0", 1);
        const unsigned char tt[2] = {static_cast<unsigned char>(a.type), static_cast<unsigned char>(a.user_tier)};
        mix(tt, 2);
        mix(&a.threshold, sizeof a.threshold);
    }
    return h;
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
    auto ids = std::make_shared<id_table>();
    std::size_t bytes = 0;
    for (const auto& a : alerts) {
        bytes += a.id.size();
    }
    ids->text.reserve(bytes);
    ids->ends.reserve(alerts.size());
    std::vector<entry> next;
    next.reserve(alerts.size());
    std::vector<symbol_group> groups;
    std::unordered_map<std::string_view, std::uint32_t> group_index;
    std::vector<bool> kept(entries_.size(), false);
    // Symbols: the groups' strings never move once all are known (reserve first).
    {
        std::unordered_map<std::string, std::uint32_t> first;
        for (const auto& a : alerts) {
            if (first.try_emplace(a.symbol, static_cast<std::uint32_t>(first.size())).second) {
                groups.push_back(symbol_group{a.symbol, {}});
            }
        }
    }
    for (std::uint32_t g = 0; g < groups.size(); ++g) {
        group_index.emplace(groups[g].symbol, g);
    }
    for (auto& a : alerts) {
        entry e;
        e.threshold = a.threshold;
        e.type = a.type;
        e.user_tier = a.user_tier;
        e.group = group_index.at(a.symbol);
        if (auto old = index_of(a.id)) {
            const auto& o = entries_[*old];
            e.prev = o.prev;
            e.persisted = o.persisted;
            e.has_persisted = o.has_persisted;
            e.fired = o.fired;
            e.dirty = o.dirty;
            kept[*old] = true;
        } else if (auto st = stored ? stored(a.id) : std::nullopt) {
            e.prev = st->prev;
            e.persisted = st->prev;
            e.has_persisted = true;
            e.fired = st->fired;
        } else if (a.last_checked) {
            // The backend's value is the baseline, but it is not in LMDB yet: a restart after
            // kill -9 checks the kept list before the backend answers, and without a stored
            // prev a cross made meanwhile would be taken as the first value and lost. So the
            // first check writes it (check_symbol: !has_persisted), once per alert.
            e.prev = *a.last_checked;
            e.has_persisted = false;
        }
        ids->text += a.id;
        ids->ends.push_back(static_cast<std::uint32_t>(ids->text.size()));
        groups[e.group].by_type[static_cast<std::size_t>(e.type)].push_back(static_cast<std::uint32_t>(next.size()));
        next.push_back(e);
    }
    std::vector<std::string> gone;
    for (std::uint32_t i = 0; i < entries_.size(); ++i) {
        if (!kept[i]) {
            gone.emplace_back(ids_->id(i));
        }
    }
    alerts = {};
    entries_ = std::move(next);
    ids_ = std::move(ids);
    groups_ = std::move(groups);
    group_index_.clear();
    for (std::uint32_t g = 0; g < groups_.size(); ++g) {
        group_index_.emplace(groups_[g].symbol, g);
    }
    by_id_.resize(entries_.size());
    for (std::uint32_t i = 0; i < by_id_.size(); ++i) {
        by_id_[i] = i;
    }
    std::sort(by_id_.begin(), by_id_.end(), [&](std::uint32_t x, std::uint32_t y) { return ids_->id(x) < ids_->id(y); });
    return gone;
}

const book::symbol_group* book::group(std::string_view symbol) const noexcept
{
    const auto it = group_index_.find(symbol);
    return it == group_index_.end() ? nullptr : &groups_[it->second];
}

std::optional<std::uint32_t> book::index_of(std::string_view id) const
{
    const auto it = std::lower_bound(by_id_.begin(), by_id_.end(), id,
                                     [&](std::uint32_t i, std::string_view v) { return ids_->id(i) < v; });
    if (it == by_id_.end() || ids_->id(*it) != id) {
        return std::nullopt;
    }
    return *it;
}

std::array<std::array<std::size_t, alert_type_count>, tier_count> book::counts() const
{
    std::array<std::array<std::size_t, alert_type_count>, tier_count> c{};
    for (const auto& e : entries_) {
        ++c[static_cast<std::size_t>(e.user_tier)][static_cast<std::size_t>(e.type)];
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
            if (e.fired || !tiers.has(e.user_tier)) {
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
            const double thr = e.threshold;
            const auto c = check_cross(e.prev, v.v, thr);
            if (c != cross::none) {
                out.triggers.push_back({i, v.v, e.prev, c == cross::up});
                e.fired = true;
                e.prev = v.v;
                e.dirty = true;
                continue;
            }
            const bool changed = !(e.prev == v.v);
            if (changed) {
                e.prev = v.v;
                e.dirty = true;
            }
            // Only the first value and a change of side must reach LMDB (the side is all a
            // restart needs to find the next cross).
            if (!e.has_persisted || (changed && side_of(e.persisted, thr) != side_of(v.v, thr))) {
                out.must_persist.push_back(i);
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
