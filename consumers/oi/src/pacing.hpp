#pragma once
// How vs-oi fits its polls into the host-wide REST weight budget. The old formula gives the
// interval it wants; the weight the other processes of the host used over the last minute
// (the budget's global total minus vs-oi's own) says what is left; the interval stretches
// until N requests per interval fit in what is left (with a safety share), and comes back
// as soon as the others use less. The budget's reservation remains the hard limit.
#include <cmath>
#include <cstdint>
#include <deque>

namespace vs::oi {

class budget_pacer {
public:
    /// `share`: the part of the free weight vs-oi plans to use (the rest absorbs bursts of others).
    explicit budget_pacer(double share = 0.9) : share_(share) {}

    /// Records the budget's global weight total and vs-oi's own total at `now_ms`.
    void observe(std::int64_t now_ms, std::uint64_t global_weight, std::uint64_t own_weight)
    {
        samples_.push_back({now_ms, global_weight, own_weight});
        while (samples_.size() > 2 && samples_[1].ms <= now_ms - 60'000) {
            samples_.pop_front();
        }
    }

    /// Weight per minute the other processes used recently (0 before 5 s of observations).
    double others_per_minute() const
    {
        if (samples_.size() < 2) {
            return 0;
        }
        const auto& a = samples_.front();
        const auto& b = samples_.back();
        const double dt = static_cast<double>(b.ms - a.ms);
        if (dt < 5'000) {
            return 0;
        }
        const double others = static_cast<double>(b.global - a.global) - static_cast<double>(b.own - a.own);
        return others <= 0 ? 0 : others * 60'000.0 / dt;
    }

    /// The interval (seconds) that fits `n` requests of weight 1 per interval next to the
    /// others under `ceiling` per minute: never below `wanted_s`.
    double interval_s(int n, double wanted_s, int ceiling) const
    {
        if (n <= 0) {
            return wanted_s;
        }
        const double free = std::max(1.0, (static_cast<double>(ceiling) - others_per_minute()) * share_);
        const double needed = 60.0 * n / free;
        return std::max(wanted_s, std::ceil(needed));
    }

private:
    struct sample {
        std::int64_t ms;
        std::uint64_t global, own;
    };
    double share_;
    std::deque<sample> samples_;
};

}  // namespace vs::oi
