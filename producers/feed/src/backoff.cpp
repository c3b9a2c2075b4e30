#include "backoff.hpp"

#include <algorithm>

namespace vs::feed {

namespace {

std::int64_t to_ns(std::chrono::milliseconds d) noexcept
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace

backoff::backoff(backoff_config config, std::uint64_t seed) : config_(config), rng_(seed)
{
    if (config_.max_delay < config_.min_delay) {
        config_.max_delay = config_.min_delay;
    }
}

std::int64_t backoff::next_attempt_at(std::int64_t now_ns)
{
    if (connected_since_ns_ >= 0 && now_ns - connected_since_ns_ >= to_ns(config_.stable_after)) {
        failures_ = 0;
    }
    connected_since_ns_ = -1;

    const std::int64_t min_ns = to_ns(config_.min_delay);
    const std::int64_t max_ns = to_ns(config_.max_delay);
    std::int64_t base = min_ns;
    for (unsigned i = 0; i < failures_ && base < max_ns; ++i) {
        base *= 2;
    }
    base = std::min(base, max_ns);
    // Jitter spreads the reconnects of many installations after a Binance-wide outage.
    std::uniform_int_distribution<std::int64_t> jitter{0, base / 2};
    const std::int64_t delay = std::min(base + jitter(rng_), max_ns);
    if (failures_ < 64) {
        ++failures_;
    }
    return std::max(now_ns + delay, earliest_attempt_at(now_ns));
}

std::int64_t backoff::earliest_attempt_at(std::int64_t now_ns) const noexcept
{
    return std::max(now_ns, last_attempt_ns_ + to_ns(config_.min_attempt_interval));
}

void backoff::on_attempt(std::int64_t now_ns) noexcept { last_attempt_ns_ = now_ns; }

void backoff::on_connected(std::int64_t now_ns) noexcept { connected_since_ns_ = now_ns; }

}  // namespace vs::feed
