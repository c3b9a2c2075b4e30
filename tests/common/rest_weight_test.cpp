#include "vs/net/rest_weight.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "test_env.hpp"

namespace {

using vs::net::budget_refusal;
using vs::net::weight_budget;
using vs::net::weight_budget_options;

constexpr std::int64_t minute = 60'000;
// A time well inside a window (not in its guard tail).
constexpr std::int64_t t0 = 29'000'000LL * minute + 10'000;

weight_budget_options opts(const vs::test::test_env& env, int ceiling = 100)
{
    weight_budget_options o;
    o.prefix = env.prefix();
    o.ceiling = ceiling;
    return o;
}

TEST(WeightBudgetTest, GrantsUpToTheCeilingThenRefusesUntilNextMinute)
{
    vs::test::test_env env;
    weight_budget sut{opts(env, 10)};
    for (int i = 0; i < 5; ++i) {
        EXPECT_TRUE(sut.try_reserve(2, t0 + i).ok());
    }
    auto r = sut.try_reserve(1, t0 + 10);
    EXPECT_EQ(r.refusal, budget_refusal::exhausted);
    EXPECT_EQ(r.retry_at_ms, (t0 / minute + 1) * minute);
    EXPECT_TRUE(sut.try_reserve(10, r.retry_at_ms).ok());
}

TEST(WeightBudgetTest, RefusesWeightAboveCeilingOutright)
{
    vs::test::test_env env;
    weight_budget sut{opts(env, 10)};
    EXPECT_EQ(sut.try_reserve(40, t0).refusal, budget_refusal::too_heavy);
}

TEST(WeightBudgetTest, RequestInGuardTailCountsAgainstNextMinuteToo)
{
    vs::test::test_env env;
    weight_budget sut{opts(env, 10)};
    const std::int64_t next = (t0 / minute + 1) * minute;
    EXPECT_TRUE(sut.try_reserve(8, next - 500).ok());  // inside the 1 s guard
    EXPECT_EQ(sut.status(next).used, 8);
    EXPECT_FALSE(sut.try_reserve(3, next + 1).ok());
    EXPECT_TRUE(sut.try_reserve(2, next + 1).ok());
}

TEST(WeightBudgetTest, SecondHandleOnSamePrefixSharesTheCount)
{
    vs::test::test_env env;
    weight_budget a{opts(env, 10)};
    weight_budget b{opts(env, 10)};
    EXPECT_TRUE(a.try_reserve(6, t0).ok());
    EXPECT_FALSE(b.try_reserve(6, t0).ok());
    EXPECT_TRUE(b.try_reserve(4, t0).ok());
    EXPECT_EQ(a.status(t0).used, 10);
}

TEST(WeightBudgetTest, ServerUsedWeightRaisesButNeverLowersTheCount)
{
    vs::test::test_env env;
    weight_budget sut{opts(env, 100)};
    ASSERT_TRUE(sut.try_reserve(5, t0).ok());
    sut.observe_used(sut.window_of(t0), 90);
    EXPECT_EQ(sut.status(t0).used, 90);
    sut.observe_used(sut.window_of(t0), 20);
    EXPECT_EQ(sut.status(t0).used, 90);
    EXPECT_FALSE(sut.try_reserve(11, t0).ok());
}

TEST(WeightBudgetTest, PauseAndBanStopEveryHandleUntilTheyEnd)
{
    vs::test::test_env env;
    weight_budget a{opts(env)};
    weight_budget b{opts(env)};
    a.pause_until(t0 + 1'000);
    auto r = b.try_reserve(1, t0);
    EXPECT_EQ(r.refusal, budget_refusal::paused);
    EXPECT_EQ(r.retry_at_ms, t0 + 1'000);
    EXPECT_TRUE(b.try_reserve(1, t0 + 1'000).ok());
    a.ban_until(t0 + 5'000);
    a.pause_until(t0 + 2'000);  // a later 429 never shortens a ban
    EXPECT_EQ(b.try_reserve(1, t0 + 4'999).refusal, budget_refusal::banned);
    EXPECT_TRUE(b.try_reserve(1, t0 + 5'000).ok());
}

TEST(WeightBudgetTest, PeekReadsTheSharedStateWithoutCreatingIt)
{
    vs::test::test_env env;
    EXPECT_FALSE(weight_budget::peek(env.prefix(), t0));
    struct stat st{};
    EXPECT_NE(::stat(("/dev/shm/" + env.prefix() + ".rest-weight").c_str(), &st), 0) << "peek created the segment";
    weight_budget sut{opts(env, 100)};
    ASSERT_TRUE(sut.try_reserve(7, t0).ok());
    sut.ban_until(t0 + 5'000);
    auto s = weight_budget::peek(env.prefix(), t0);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->used, 7);
    EXPECT_EQ(s->ban_until_ms, t0 + 5'000);
    EXPECT_EQ(s->banned, 1u);
    EXPECT_EQ(s->window_ms, 60'000);
}

TEST(WeightBudgetTest, SegmentIsCreatedWithMode0640AndRejectsForeignContent)
{
    vs::test::test_env env;
    {
        weight_budget sut{opts(env)};
        struct stat st{};
        ASSERT_EQ(::stat(sut.path().c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0640u);
    }
    // Overwrite the magic: attaching must fail with a clear message, not misbehave.
    std::string path = "/dev/shm/" + env.prefix() + ".rest-weight";
    FILE* f = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fputs("garbage!", f);
    std::fclose(f);
    try {
        weight_budget again{opts(env)};
        FAIL() << "attached a foreign segment";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string{e.what()}.find("incompatible"), std::string::npos) << e.what();
    }
}

}  // namespace
