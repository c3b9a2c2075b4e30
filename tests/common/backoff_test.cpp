#include "vs/common/backoff.hpp"

#include <deque>

#include <gtest/gtest.h>

namespace vs {
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

/// `n` failed attempts in a row from `now`, each as early as allowed; returns the time the
/// next attempt may start.
std::int64_t fail_repeatedly(backoff& sut, std::int64_t now, int n)
{
    for (int i = 0; i < n; ++i) {
        sut.on_attempt(now);
        now = sut.next_attempt_at(now);
    }
    return now;
}

TEST(BackoffTest, StableMinuteResetsTheDelay)
{
    backoff sut{backoff_config{}, 3};
    std::int64_t now = fail_repeatedly(sut, 10 * s, 6);
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
    std::int64_t now = fail_repeatedly(sut, 10 * s, 4);
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

// --- delay(): the stateless part (vs-deliver), with scripted draws ---------------------------

/// A random source that returns `draws` in turn (then the last one again).
backoff::random_source scripted(std::deque<double> draws)
{
    return [draws = std::move(draws)]() mutable {
        const double d = draws.front();
        if (draws.size() > 1) {
            draws.pop_front();
        }
        return d;
    };
}

backoff_config equal_jitter(std::chrono::milliseconds min, std::chrono::milliseconds max)
{
    backoff_config c;
    c.min_delay = min;
    c.max_delay = max;
    c.jitter_min = 0.5;
    c.jitter_max = 1.0;
    return c;
}

TEST(BackoffDelayTest, TheDrawPicksTheFactorBetweenJitterMinAndMax)
{
    backoff low{backoff_config{}, scripted({0.0})};
    EXPECT_EQ(low.delay(0), std::chrono::seconds{1});
    EXPECT_EQ(low.delay(3), std::chrono::seconds{8});
    backoff mid{backoff_config{}, scripted({0.5})};
    EXPECT_EQ(mid.delay(0), std::chrono::milliseconds{1250});
    EXPECT_EQ(mid.delay(2), std::chrono::seconds{5});
}

TEST(BackoffDelayTest, EqualJitterKeepsHalfAndNeverExceedsTheDoubledDelay)
{
    backoff sut{equal_jitter(std::chrono::seconds{1}, std::chrono::minutes{5}), scripted({0.0, 0.999999, 0.0})};
    EXPECT_EQ(sut.delay(4), std::chrono::seconds{8});            // 16 s * 0.5
    EXPECT_LE(sut.delay(4), std::chrono::seconds{16});
    EXPECT_GE(sut.delay(4), std::chrono::seconds{8});
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        backoff seeded{equal_jitter(std::chrono::seconds{1}, std::chrono::minutes{5}), seed};
        const auto d = seeded.delay(20);                         // doubled far past the cap
        EXPECT_GE(d, std::chrono::seconds{150});
        EXPECT_LE(d, std::chrono::minutes{5});
    }
}

TEST(BackoffDelayTest, JitterUpwardsIsCappedAtTheMaximum)
{
    backoff_config c;
    c.min_delay = std::chrono::seconds{40};
    c.max_delay = std::chrono::seconds{50};
    backoff sut{c, scripted({0.9})};
    EXPECT_EQ(sut.delay(0), std::chrono::seconds{50});   // 40 s * 1.45, capped
    EXPECT_EQ(sut.delay(1000), std::chrono::seconds{50});
}

TEST(BackoffDelayTest, AMaximumBelowTheMinimumIsRaisedToIt)
{
    backoff_config c;
    c.min_delay = std::chrono::seconds{2};
    c.max_delay = std::chrono::seconds{1};
    backoff sut{c, scripted({0.0})};
    EXPECT_EQ(sut.config().max_delay, std::chrono::seconds{2});
    EXPECT_EQ(sut.delay(5), std::chrono::seconds{2});
}

TEST(BackoffDelayTest, TheSameSeedGivesTheSameDelays)
{
    backoff a{backoff_config{}, 42};
    backoff b{backoff_config{}, 42};
    for (unsigned i = 0; i < 10; ++i) {
        EXPECT_EQ(a.delay(i), b.delay(i));
    }
}

TEST(BackoffDelayTest, RetriesFollowTheScriptedDraws)
{
    backoff sut{backoff_config{}, scripted({0.0, 1.0})};
    const std::int64_t now = 100 * s;
    EXPECT_EQ(sut.next_attempt_at(now) - now, 1 * s);           // 1 s * 1.0
    EXPECT_EQ(sut.next_attempt_at(now) - now, 3 * s);           // 2 s * 1.5
}

}  // namespace
}  // namespace vs
