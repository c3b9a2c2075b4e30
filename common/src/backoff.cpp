#include "vs/common/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace vs {

namespace {

std::int64_t to_ns(std::chrono::milliseconds d) noexcept
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

backoff_config checked(backoff_config c) noexcept
{
    c.max_delay = std::max(c.max_delay, c.min_delay);
    c.jitter_max = std::max(c.jitter_max, c.jitter_min);
    return c;
}

}  // namespace

backoff::backoff(backoff_config config, std::uint64_t seed)
    : backoff(config, [rng = std::mt19937_64{seed}]() mutable {
          return std::uniform_real_distribution<double>{0.0, 1.0}(rng);
      })
{
}

backoff::backoff(backoff_config config, random_source random)
    : config_(checked(config)), random_(std::move(random))
{
}

std::chrono::nanoseconds backoff::delay(unsigned failures)
{
    const std::int64_t max_ns = to_ns(config_.max_delay);
    std::int64_t base = to_ns(config_.min_delay);
    for (unsigned i = 0; i < failures && base > 0 && base < max_ns; ++i) {
        base *= 2;
    }
    base = std::min(base, max_ns);
    const double factor = config_.jitter_min + (config_.jitter_max - config_.jitter_min) * random_();
    const double jittered = std::round(static_cast<double>(base) * factor);
    // Exact: delays are far below 2^53 ns (104 days).
    return std::chrono::nanoseconds{static_cast<std::int64_t>(std::clamp(jittered, 0.0, static_cast<double>(max_ns)))};
}

std::int64_t backoff::next_attempt_at(std::int64_t now_ns)
{
    if (connected_since_ns_ >= 0 && now_ns - connected_since_ns_ >= to_ns(config_.stable_after)) {
        failures_ = 0;
    }
    connected_since_ns_ = -1;
    const std::int64_t delay_ns = delay(failures_).count();
    if (failures_ < 64) {
        ++failures_;
    }
    return std::max(now_ns + delay_ns, earliest_attempt_at(now_ns));
}

std::int64_t backoff::earliest_attempt_at(std::int64_t now_ns) const noexcept
{
    return std::max(now_ns, last_attempt_ns_ + to_ns(config_.min_attempt_interval));
}

void backoff::on_attempt(std::int64_t now_ns) noexcept { last_attempt_ns_ = now_ns; }

void backoff::on_connected(std::int64_t now_ns) noexcept { connected_since_ns_ = now_ns; }

}  // namespace vs
