#include "vs/common/cli.hpp"

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

struct argv_builder {
    explicit argv_builder(std::vector<std::string> a) : args(std::move(a))
    {
        for (auto& s : args) {
            ptrs.push_back(s.data());
        }
    }
    int argc() { return static_cast<int>(ptrs.size()); }
    char** argv() { return ptrs.data(); }
    std::vector<std::string> args;
    std::vector<char*> ptrs;
};

vs::cli::parser make_sut()
{
    vs::cli::parser p{"vs-test", "a test program", "vs-test --channel market"};
    vs::cli::add_common_options(p);
    p.option("channel", "NAME", "market", "channel", {"VS_TEST_CHANNEL", "VS_TEST_CHANNEL_OLD"});
    p.option("count", "N", "10", "how many");
    p.flag("json", "json output");
    return p;
}

TEST(CliParserTest, FlagBeatsEnvironmentBeatsDefault)
{
    auto sut = make_sut();
    ::unsetenv("VS_TEST_CHANNEL");
    ::setenv("VS_TEST_CHANNEL_OLD", "from-old-env", 1);
    argv_builder none{{"vs-test"}};
    ASSERT_FALSE(sut.parse(none.argc(), none.argv()));
    EXPECT_EQ(sut.get("channel"), "from-old-env");
    EXPECT_TRUE(sut.given("channel"));
    EXPECT_EQ(sut.get("count"), "10");
    EXPECT_FALSE(sut.given("count"));

    auto sut2 = make_sut();
    argv_builder flagged{{"vs-test", "--channel=oi", "--json"}};
    ASSERT_FALSE(sut2.parse(flagged.argc(), flagged.argv()));
    EXPECT_EQ(sut2.get("channel"), "oi");
    EXPECT_TRUE(sut2.is_set("json"));
    ::unsetenv("VS_TEST_CHANNEL_OLD");
}

TEST(CliParserTest, UnknownOptionIsUsageErrorWithExitCodeTwo)
{
    auto sut = make_sut();
    argv_builder bad{{"vs-test", "--nope"}};
    auto code = sut.parse(bad.argc(), bad.argv());
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, vs::cli::exit_usage);
}

TEST(CliParserTest, MissingValueIsUsageError)
{
    auto sut = make_sut();
    argv_builder bad{{"vs-test", "--channel"}};
    auto code = sut.parse(bad.argc(), bad.argv());
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, vs::cli::exit_usage);
}

TEST(CliParserTest, HelpListsDefaultsAndVariables)
{
    auto sut = make_sut();
    std::string h = sut.help();
    EXPECT_NE(h.find("--bus-prefix PREFIX"), std::string::npos);
    EXPECT_NE(h.find("default: volspike; env: VS_BUS_PREFIX"), std::string::npos);
    EXPECT_NE(h.find("VS_TEST_CHANNEL VS_TEST_CHANNEL_OLD"), std::string::npos);
    EXPECT_NE(h.find("exit status: 0 ok, 1 failure, 2 usage error"), std::string::npos);
}

TEST(CliParserTest, IntegerOutOfRangeThrowsUsageError)
{
    auto sut = make_sut();
    argv_builder a{{"vs-test", "--count", "12x"}};
    ASSERT_FALSE(sut.parse(a.argc(), a.argv()));
    EXPECT_THROW((void)sut.get_int("count", 0, 100), vs::cli::usage_error);
    auto sut2 = make_sut();
    argv_builder b{{"vs-test", "--count", "1000"}};
    ASSERT_FALSE(sut2.parse(b.argc(), b.argv()));
    EXPECT_THROW((void)sut2.get_int("count", 0, 100), vs::cli::usage_error);
}

TEST(CliParserTest, RunMapsUsageErrorToTwoAndExceptionToOne)
{
    auto sut = make_sut();
    argv_builder a{{"vs-test"}};
    EXPECT_EQ(vs::cli::run(sut, a.argc(), a.argv(), [] () -> int { throw vs::cli::usage_error("bad"); }),
              vs::cli::exit_usage);
    auto sut2 = make_sut();
    EXPECT_EQ(vs::cli::run(sut2, a.argc(), a.argv(), [] () -> int { throw std::runtime_error("boom"); }),
              vs::cli::exit_failure);
    auto sut3 = make_sut();
    EXPECT_EQ(vs::cli::run(sut3, a.argc(), a.argv(), [] { return 0; }), vs::cli::exit_ok);
}

}  // namespace

namespace {

TEST(CliSplitListTest, SplitsOnCommasAndDropsEmptyItems)
{
    EXPECT_EQ(vs::cli::split_list("BTCUSDT,,ETHUSDT,"), (std::vector<std::string>{"BTCUSDT", "ETHUSDT"}));
    EXPECT_TRUE(vs::cli::split_list("").empty());
    EXPECT_EQ(vs::cli::split_list("币安人生USDT"), (std::vector<std::string>{"币安人生USDT"}));
}

}  // namespace
