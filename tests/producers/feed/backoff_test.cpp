#include "backoff.hpp"

#include <gtest/gtest.h>

namespace vs::feed {
namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t s = 1'000 * ms;

TEST(BackoffTest, FirstRetryWaitsBetweenOneAndOneAndAHalfSeconds)
{
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        backoff sut{backoff_config{}, seed};
        const std::int64_t now = 100 * s;
        const auto at = sut.next_attempt_at(now);
        EXPECT_GE(at - now, 1 * s);
        EXPECT_LE(at - now, 1500 * ms);
    }
}

TEST(BackoffTest, DelayDoublesAndIsCappedAtTheMaximum)
{
    backoff sut{backoff_config{}, 7};
    std::int64_t now = 1000 * s;
    std::int64_t base = 1 * s;
    for (int i = 0; i < 12; ++i) {
        sut.on_attempt(now);
        const auto at = sut.next_attempt_at(now);
        const auto delay = at - now;
        EXPECT_GE(delay, std::min(base, 60 * s)) << "attempt " << i;
        EXPECT_LE(delay, 60 * s) << "attempt " << i;
        base *= 2;
        now = at;
    }
    EXPECT_EQ(sut.next_attempt_at(now) - now, 60 * s);
}

TEST(BackoffTest, StableMinuteResetsTheDelay)
{
    backoff sut{backoff_config{}, 3};
    std::int64_t now = 10 * s;
    for (int i = 0; i < 6; ++i) {
        sut.on_attempt(now);
        now = sut.next_attempt_at(now);
    }
    ASSERT_EQ(sut.failures(), 6u);
    sut.on_attempt(now);
    sut.on_connected(now);
    now += 61 * s;
    const auto at = sut.next_attempt_at(now);
    EXPECT_LE(at - now, 1500 * ms);
    EXPECT_EQ(sut.failures(), 1u);
}

TEST(BackoffTest, ShortLivedConnectionDoesNotResetTheDelay)
{
    backoff sut{backoff_config{}, 3};
    std::int64_t now = 10 * s;
    for (int i = 0; i < 4; ++i) {
        sut.on_attempt(now);
        now = sut.next_attempt_at(now);
    }
    sut.on_attempt(now);
    sut.on_connected(now);
    now += 5 * s;
    EXPECT_GE(sut.next_attempt_at(now) - now, 16 * s);
}

TEST(BackoffTest, AtMostOneAttemptPerSecondEvenWithTinyDelays)
{
    backoff_config c;
    c.min_delay = std::chrono::milliseconds{10};
    c.max_delay = std::chrono::milliseconds{10};
    backoff sut{c, 1};
    const std::int64_t now = 50 * s;
    sut.on_attempt(now);
    EXPECT_GE(sut.next_attempt_at(now + 1 * ms), now + 1 * s);
    EXPECT_EQ(sut.earliest_attempt_at(now + 200 * ms), now + 1 * s);
    EXPECT_EQ(sut.earliest_attempt_at(now + 3 * s), now + 3 * s);
}

}  // namespace
}  // namespace vs::feed
