// vs::function_ref: calls what it refers to, with any callable shape, in two words.
#include "vs/common/function_ref.hpp"

#include <memory>
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

namespace vs {
namespace {

int twice(int x) { return 2 * x; }

int call_with_three(function_ref<int(int)> fn) { return fn(3); }

TEST(FunctionRefTest, IsTwoWordsAndTriviallyCopyable)
{
    static_assert(sizeof(function_ref<void(int)>) == 2 * sizeof(void*));
    static_assert(std::is_trivially_copyable_v<function_ref<void(const std::string&)>>);
    static_assert(!std::is_default_constructible_v<function_ref<void()>>);
    SUCCEED();
}

TEST(FunctionRefTest, CallsLambdasFunctionsAndFunctionObjects)
{
    int calls = 0;
    EXPECT_EQ(call_with_three([&](int x) { ++calls; return x + 1; }), 4);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(call_with_three(twice), 6);
    EXPECT_EQ(call_with_three(&twice), 6);
    struct add {
        int n;
        int operator()(int x) const { return x + n; }
    };
    const add add10{10};
    EXPECT_EQ(call_with_three(add10), 13);
    EXPECT_EQ(call_with_three([](auto x) { return x * x; }), 9);
}

TEST(FunctionRefTest, RefersToTheCallableRatherThanCopyingIt)
{
    int total = 0;
    auto accumulate = [&total, seen = 0](int x) mutable { total += x; return ++seen; };
    function_ref<int(int)> sut{accumulate};
    EXPECT_EQ(sut(5), 1);
    EXPECT_EQ(sut(7), 2);               // the lambda's own state advanced
    EXPECT_EQ(accumulate(0), 3);        // and it is the same object
    EXPECT_EQ(total, 12);
}

TEST(FunctionRefTest, ACopyRefersToTheSameCallable)
{
    int calls = 0;
    auto count = [&] { ++calls; };
    function_ref<void()> a{count};
    function_ref<void()> b = a;         // copies the reference, not a reference to `a`
    a = function_ref<void()>{count};
    b();
    a();
    EXPECT_EQ(calls, 2);
}

TEST(FunctionRefTest, VoidSignatureDiscardsTheResultAndArgumentsAreForwarded)
{
    std::string seen;
    auto keep = [&](const std::string& s) { seen = s; return s.size(); };
    function_ref<void(const std::string&)> by_ref{keep};
    by_ref("abc");
    EXPECT_EQ(seen, "abc");

    std::unique_ptr<int> moved_in;
    auto take = [&](std::unique_ptr<int> p) { moved_in = std::move(p); };
    function_ref<void(std::unique_ptr<int>)> by_value{take};
    by_value(std::make_unique<int>(42));
    ASSERT_TRUE(moved_in);
    EXPECT_EQ(*moved_in, 42);
}

TEST(FunctionRefTest, ConvertsTheResultToTheSignaturesType)
{
    auto half = [](int x) { return x / 2; };
    function_ref<double(int)> sut{half};   // int result, double signature
    EXPECT_DOUBLE_EQ(sut(7), 3.0);
}

}  // namespace
}  // namespace vs

namespace {

int add_one(int x) { return x + 1; }

TEST(FunctionRefTest, AFunctionPointerIsKeptByValueAndLambdasCannotBeAssigned)
{
    // `&add_one` is a temporary pointer object: the reference must not point at it.
    vs::function_ref<int(int)> f{&add_one};
    int (*other)(int) = nullptr;   // reuses the stack the temporary had
    EXPECT_EQ(other, nullptr);
    EXPECT_EQ(f(1), 2);
    auto lambda = [](int x) { return x; };
    static_assert(!std::is_assignable_v<vs::function_ref<int(int)>&, decltype(lambda)>,
                  "assigning a callable would dangle at the end of the statement");
    static_assert(std::is_assignable_v<vs::function_ref<int(int)>&, vs::function_ref<int(int)>>);
    EXPECT_EQ(lambda(3), 3);
}

}  // namespace
