// The recorder thread of the history (history.hpp): reads the bus tables, fills the store.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "schemas/market_data_generated.h"
#include "schemas/open_interest_generated.h"
#include "vs/api/bus_source.hpp"
#include "vs/api/history.hpp"
#include "vs/api/render.hpp"
#include "vs/common/clock.hpp"

namespace vs::api {

struct history_recorder::readers {
    explicit readers(const history_config& c) : src(c.bus_prefix, c.market_channel, c.oi_channel) {}
    bus_source src;
};

history_recorder::history_recorder(history_config config)
    : config_(std::move(config)), store_(config_.step, config_.window)
{
}

history_recorder::~history_recorder() { stop(); }

void history_recorder::sample_once()
{
    if (!readers_) {
        readers_ = std::make_unique<readers>(config_);
    }
    auto& src = readers_->src;
    src.refresh();
    const auto now_ms = realtime_ns() / 1'000'000;
    constexpr auto mark_type = static_cast<bus::record_type>(schema::RecordType::MarkPrice);
    constexpr auto oi_type = static_cast<bus::record_type>(schema::RecordType::OpenInterest);
    src.for_each_latest(channel_id::market, mark_type, [&](const bus::record_view& r) {
        const auto* m = verified_as<schema::MarkPrice>(r.data);
        if (m == nullptr || m->invalid_since_ns() > 0 || m->delisted()) {
            return;
        }
        store_.add(series_id::mark_price, r.symbol, updated_ns(m->recv_time_ns(), r.publish_ns) / 1'000'000,
                   m->mark_price(), now_ms);
    });
    src.for_each_latest(channel_id::oi, oi_type, [&](const bus::record_view& r) {
        const auto* o = verified_as<schema::OpenInterest>(r.data);
        if (o == nullptr) {
            return;
        }
        const auto t = o->event_time_ms() > 0 ? o->event_time_ms() : updated_ns(o->recv_time_ns(), r.publish_ns) / 1'000'000;
        store_.add(series_id::open_interest, r.symbol, t, o->open_interest(), now_ms);
        store_.add(series_id::open_interest_usd, r.symbol, t, o->open_interest_usd(), now_ms);
    });
}

void history_recorder::seed_once()
{
    if (!oi_states_) {
        return;
    }
    seed_result r;
    try {
        r = seed_oi_history(store_, oi_states_, realtime_ns() / 1'000'000);
    } catch (const std::exception& e) {
        spdlog::warn("history: cannot read vs-oi's stored OI histories: {}", e.what());
        return;
    }
    seeded_points_.fetch_add(r.points, std::memory_order_relaxed);
    seed_broken_.fetch_add(r.broken, std::memory_order_relaxed);
    if (r.broken > 0 && !seed_logged_broken_) {
        seed_logged_broken_ = true;
        spdlog::warn("history: {} of vs-oi's {} stored OI states do not decode, skipped (first: {}); counted in "
                     "history_seed_broken, logged once", r.broken, r.states, r.first_error);
    }
    if (!r.outbox || r.states == 0) {
        if (!seed_logged_missing_) {
            seed_logged_missing_ = true;
            spdlog::info("history: {}; the charts start with what vs-api records ({})",
                         r.outbox ? "no OI history of vs-oi in the outbox" : "no outbox to seed the history from",
                         config_.seed_interval.count() > 0
                             ? fmt::format("retried every {} s", config_.seed_interval.count() / 1000)
                             : std::string{"not retried: --history-seed-s 0"});
        }
        return;
    }
    if (r.points > 0) {
        spdlog::info("history: {} points from vs-oi's stored OI histories of {} symbols", r.points, r.states - r.broken);
    }
}

void history_recorder::start()
{
    if (thread_.joinable()) {
        return;
    }
    thread_ = std::thread{[this] {
        std::unique_lock lock{mu_};
        // The seed first (before the first sample: the bus's newest points are appended after
        // the older ones), then every seed_interval; never on a request.
        auto next_seed = std::chrono::steady_clock::now();
        while (!stop_) {
            lock.unlock();
            try {
                if (oi_states_ && std::chrono::steady_clock::now() >= next_seed) {
                    seed_once();
                    next_seed = config_.seed_interval.count() > 0
                                    ? std::chrono::steady_clock::now() + config_.seed_interval
                                    : std::chrono::steady_clock::time_point::max();
                }
                sample_once();
            } catch (const std::exception& e) {
                spdlog::error("history: {}", e.what());   // a bug; the next sample tries again
            }
            lock.lock();
            cv_.wait_for(lock, config_.sample_interval, [this] { return stop_; });
        }
    }};
}

void history_recorder::stop()
{
    {
        std::lock_guard lock{mu_};
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

}  // namespace vs::api
