#include "bus_values.hpp"

#include <cmath>

#include <flatbuffers/flatbuffers.h>

#include "schemas/common_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/open_interest_generated.h"

namespace vs::user_alerts {

namespace {

constexpr auto ticker_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::Ticker24h);
constexpr auto mark_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::MarkPrice);
constexpr auto oi_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::OpenInterest);

template <class T>
const T* root_of(const vs::bus::record_view& r)
{
    flatbuffers::Verifier v{reinterpret_cast<const std::uint8_t*>(r.data.data()), r.data.size()};
    if (!v.VerifyBuffer<T>(nullptr)) {
        return nullptr;
    }
    return flatbuffers::GetRoot<T>(r.data.data());
}

/// A value read at `time_ms` is fresh when not older than `max_age` (a record from the
/// future, a skewed clock, counts as fresh).
value judged(double v, std::int64_t time_ms, std::int64_t now_ms, std::chrono::milliseconds max_age)
{
    if (!std::isfinite(v)) {
        return value{};
    }
    if (now_ms - time_ms > max_age.count()) {
        return value{value_status::stale, v};
    }
    return value{value_status::ok, v};
}

}  // namespace

void oi_cache::put(const std::string& symbol, sample s)
{
    std::lock_guard lock{mu_};
    m_[symbol] = s;
}

std::optional<oi_cache::sample> oi_cache::get(std::string_view symbol) const
{
    std::lock_guard lock{mu_};
    const auto it = m_.find(std::string{symbol});
    if (it == m_.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::optional<double> fresh_channel_oi(vs::bus::reader& oi, std::string_view symbol, std::int64_t now_ms,
                                       std::chrono::milliseconds max_age)
{
    if (oi.attach() != vs::bus::attach_state::ready) {
        return std::nullopt;
    }
    std::optional<double> out;
    oi.latest(oi_type, symbol, [&](const vs::bus::record_view& r) {
        if (const auto* o = root_of<vs::schema::OpenInterest>(r)) {
            const double v = o->open_interest();
            const std::int64_t t = o->recv_time_ns() / 1'000'000;
            if (std::isfinite(v) && v > 0 && now_ms - t <= max_age.count()) {
                out = v;
            }
        }
    });
    return out;
}

bus_values::bus_values(vs::bus::reader& market, vs::bus::reader* oi, const oi_cache* polled, value_ages ages)
    : market_(market), oi_(oi), polled_(polled), ages_(ages)
{
}

value bus_values::get(alert_type type, std::string_view symbol)
{
    switch (type) {
    case alert_type::price_cross: return last_price(symbol);
    case alert_type::funding_cross: return funding_rate(symbol);
    case alert_type::oi_cross: return open_interest_usd(symbol);
    }
    return value{};
}

value bus_values::last_price(std::string_view symbol)
{
    value out;
    market_.latest(ticker_type, symbol, [&](const vs::bus::record_view& r) {
        if (const auto* t = root_of<vs::schema::Ticker24h>(r)) {
            out = judged(t->last_price(), t->recv_time_ns() / 1'000'000, now_ms_, ages_.price);
        }
    });
    if (out.status == value_status::missing) {
        missing_.emplace_back(symbol);
    }
    return out;
}

value bus_values::funding_rate(std::string_view symbol)
{
    value out;
    market_.latest(mark_type, symbol, [&](const vs::bus::record_view& r) {
        if (const auto* m = root_of<vs::schema::MarkPrice>(r)) {
            out = judged(m->funding_rate(), m->recv_time_ns() / 1'000'000, now_ms_, ages_.funding);
        }
    });
    if (out.status == value_status::missing) {
        missing_.emplace_back(symbol);
    }
    return out;
}

value bus_values::open_interest_usd(std::string_view symbol)
{
    const value price = last_price(symbol);
    if (price.status != value_status::ok) {
        return value{price.status, std::numeric_limits<double>::quiet_NaN()};
    }
    if (oi_ != nullptr) {
        if (const auto oi = fresh_channel_oi(*oi_, symbol, now_ms_, ages_.oi)) {
            ++oi_from_channel_;
            return value{value_status::ok, *oi * price.v};
        }
    }
    if (polled_ != nullptr) {
        if (const auto s = polled_->get(symbol)) {
            ++oi_from_poll_;
            return judged(s->open_interest * price.v, s->time_ms, now_ms_, ages_.oi);
        }
    }
    return value{};
}

}  // namespace vs::user_alerts
