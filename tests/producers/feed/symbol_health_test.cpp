// Issue 19: vs-feed's record of symbols whose mark price rows stay invalid (symbol_health):
// listed only past the limit, once; one accepted row forgets it; times from a fake clock.
#include "symbol_health.hpp"

#include <gtest/gtest.h>

namespace {

constexpr std::int64_t s = 1'000'000'000;

TEST(SymbolHealthTest, ASymbolIsListedOnlyAfterItsRowsStayedInvalidPastTheLimit)
{
    vs::feed::symbol_health h{60 * s};
    EXPECT_FALSE(h.on_accepted("BTCUSDT"));
    h.on_rejected("ETHUSDT", "mark price is not a positive finite number", 100 * s);
    h.on_rejected("ETHUSDT", "mark price is absurd (1e9 or more)", 130 * s);
    EXPECT_TRUE(h.newly_listed(159 * s).empty());
    EXPECT_EQ(h.listed_count(), 0u);
    const auto listed = h.newly_listed(161 * s);
    ASSERT_EQ(listed, std::vector<std::string>{"ETHUSDT"});
    EXPECT_TRUE(h.newly_listed(200 * s).empty()) << "listed once";
    ASSERT_NE(h.find("ETHUSDT"), nullptr);
    EXPECT_EQ(h.find("ETHUSDT")->since_ns, 100 * s) << "since the first rejected row";
    EXPECT_EQ(h.find("ETHUSDT")->reason, "mark price is absurd (1e9 or more)") << "the last reason";
    EXPECT_EQ(h.listed(), std::vector<std::string>{"ETHUSDT"});
    EXPECT_EQ(h.listed_count(), 1u);
}

TEST(SymbolHealthTest, OneAcceptedRowForgetsItAndANewRunStartsAfresh)
{
    vs::feed::symbol_health h{10 * s};
    h.on_rejected("B", "x", 0);
    h.on_rejected("A", "x", 0);
    h.on_rejected("C", "x", 5 * s);
    EXPECT_EQ(h.newly_listed(11 * s), (std::vector<std::string>{"A", "B"}));
    EXPECT_TRUE(h.on_accepted("A")) << "it was listed";
    EXPECT_FALSE(h.on_accepted("C")) << "pending, not listed";
    EXPECT_EQ(h.listed(), std::vector<std::string>{"B"});
    EXPECT_EQ(h.pending_count(), 1u);
    h.on_rejected("A", "x", 20 * s);
    EXPECT_TRUE(h.newly_listed(29 * s).empty()) << "a new run counts from its own first row";
    EXPECT_EQ(h.newly_listed(31 * s), std::vector<std::string>{"A"});
    EXPECT_EQ(h.listed(1).size(), 1u);
    EXPECT_TRUE(h.forget("B"));
    EXPECT_EQ(h.listed_count(), 1u);
}

}  // namespace
