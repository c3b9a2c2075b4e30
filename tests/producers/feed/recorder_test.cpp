#include "recorder.hpp"

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "test_env.hpp"

namespace vs::feed {
namespace {

std::string read_all(const std::filesystem::path& p)
{
    std::ifstream in{p, std::ios::binary};
    std::ostringstream o;
    o << in.rdbuf();
    return o.str();
}

TEST(FrameRecorderTest, WritesOneTabSeparatedLinePerFrame)
{
    vs::test::test_env env;
    const auto path = env.state_dir() / "capture.tsv";
    {
        frame_recorder sut{path};
        sut.write(1700000000123456789, R"({"stream":"!markPrice@arr@1s","data":[]})");
        sut.write(42, "{\"result\":null,\"id\":1}");
        EXPECT_EQ(sut.frames_written(), 2u);
    }
    EXPECT_EQ(read_all(path),
              "1700000000123456789\t{\"stream\":\"!markPrice@arr@1s\",\"data\":[]}\n"
              "42\t{\"result\":null,\"id\":1}\n");
}

TEST(FrameRecorderTest, NewlinesInsideAFrameKeepItOnOneLine)
{
    vs::test::test_env env;
    const auto path = env.state_dir() / "capture.tsv";
    {
        frame_recorder sut{path};
        sut.write(5, "{\n \"a\": 1\r\n}");
    }
    EXPECT_EQ(read_all(path), "5\t{  \"a\": 1  }\n");
}

TEST(FrameRecorderTest, AppendsAcrossRestarts)
{
    vs::test::test_env env;
    const auto path = env.state_dir() / "capture.tsv";
    { frame_recorder{path}.write(1, "a"); }
    { frame_recorder{path}.write(2, "b"); }
    EXPECT_EQ(read_all(path), "1\ta\n2\tb\n");
}

TEST(FrameRecorderTest, UnwritableFileFailsAtOpen)
{
    vs::test::test_env env;
    EXPECT_THROW(frame_recorder{env.state_dir() / "no" / "such" / "dir.tsv"}, std::runtime_error);
}

}  // namespace
}  // namespace vs::feed
