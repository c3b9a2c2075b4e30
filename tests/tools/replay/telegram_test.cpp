// vs-replay's t.me/s stand-in (vs/replay/telegram.hpp), read back with vs-news's own parser:
// the pages must be what Telegram serves as far as vs-news can tell, traps included.
#include "vs/replay/telegram.hpp"

#include <gtest/gtest.h>

#include "vs/news/parser.hpp"

namespace {

constexpr std::int64_t now_ms = 1'796'400'000'000;   // 2026-12-04T16:00:00Z

vs::replay::request_target target(const std::string& t) { return vs::replay::parse_target(t); }

vs::news::page page_of(vs::replay::telegram_pages& tg, const std::string& t, const std::string& channel = "marketfeed")
{
    const auto r = tg.page(target(t), now_ms);
    EXPECT_EQ(r.status, 200u) << t;
    return vs::news::parse_page(r.body, channel);
}

}  // namespace

TEST(ReplayTelegram, TheNewestPageHoldsTheLast20IdsAndLinksToOlderOnes)
{
    vs::replay::telegram_pages tg{{{"marketfeed"}, 30}, now_ms};
    const auto p = page_of(tg, "/s/marketfeed");
    ASSERT_EQ(p.kind, vs::news::page_kind::ok) << p.error;
    ASSERT_EQ(p.posts.size(), 20u);
    EXPECT_EQ(p.posts.front().id, 11);
    EXPECT_EQ(p.posts.back().id, 30);
    EXPECT_EQ(p.older_before, 11);
    EXPECT_EQ(p.channel_title, "Marketfeed (replay)");
    ASSERT_TRUE(p.channel_id);
    EXPECT_GT(*p.channel_id, 1'000'000'000);
    EXPECT_EQ(p.posts.back().text, "marketfeed headline 30: markets steady ahead of the data");
    EXPECT_EQ(p.posts.back().media, vs::news::media_kind::photo);   // every fifth post
    EXPECT_TRUE(p.posts.back().views.has_value());
    const auto older = page_of(tg, "/s/marketfeed?before=11");
    ASSERT_EQ(older.posts.size(), 10u);
    EXPECT_EQ(older.posts.front().id, 1);
    EXPECT_FALSE(older.older_before);   // the channel's first post
}

TEST(ReplayTelegram, PostsEditsAlbumsAndDeletionsShowAsOnTelegram)
{
    vs::replay::telegram_pages tg{{{"marketfeed"}, 0}, now_ms};
    auto r = tg.control("post", target("/_control/news/post?channel=marketfeed&text=Fed%20%26%20ECB%20%3Cb%3E&link=https://example.com/a?x%3D1%26y%3D2"), true, now_ms);
    ASSERT_EQ(r.status, 200u) << r.body;
    r = tg.control("post", target("/_control/news/post?channel=marketfeed&text=gallery&album=3"), true, now_ms);
    ASSERT_EQ(r.status, 200u) << r.body;
    r = tg.control("post", target("/_control/news/post?channel=marketfeed&count=2&forwarded=Some%20Source&media=voice"), true, now_ms);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_NE(r.body.find("\"ids\":[5,6]"), std::string::npos) << r.body;   // the album took 2..4
    ASSERT_EQ(tg.control("delete", target("/_control/news/delete?channel=marketfeed&id=5"), true, now_ms).status, 200u);
    ASSERT_EQ(tg.control("edit", target("/_control/news/edit?channel=marketfeed&id=1&text=Edited"), true, now_ms).status, 200u);
    const auto p = page_of(tg, "/s/marketfeed");
    ASSERT_EQ(p.posts.size(), 3u);
    EXPECT_EQ(p.posts[0].id, 1);
    EXPECT_EQ(p.posts[0].text, "Edited https://example.com/a?x=1&y=2");
    EXPECT_EQ(p.posts[0].links, std::vector<std::string>{"https://example.com/a?x=1&y=2"});
    EXPECT_EQ(p.posts[1].id, 2);
    EXPECT_EQ(p.posts[1].last_id, 4);
    EXPECT_EQ(p.posts[1].media_count, 3u);
    EXPECT_EQ(p.posts[2].id, 6);
    EXPECT_EQ(p.posts[2].forwarded_from, "Some Source");
    EXPECT_EQ(p.posts[2].media, vs::news::media_kind::voice);
}

TEST(ReplayTelegram, TrapsOnDemand)
{
    vs::replay::telegram_pages tg{{{"marketfeed"}, 3}, now_ms};
    // A name nobody has: 200 with t.me's contact page.
    EXPECT_EQ(page_of(tg, "/s/nobody_here", "nobody_here").kind, vs::news::page_kind::no_channel);
    // Throttled: 429 with Retry-After, for that channel only.
    ASSERT_EQ(tg.control("throttle", target("/_control/news/throttle?channel=marketfeed&seconds=60"), true, now_ms).status, 200u);
    auto r = tg.page(target("/s/marketfeed"), now_ms + 1000);
    EXPECT_EQ(r.status, 429u);
    bool retry_after = false;
    for (const auto& [k, v] : r.headers) {
        retry_after = retry_after || (k == "Retry-After" && v == "59");
    }
    EXPECT_TRUE(retry_after);
    EXPECT_EQ(tg.page(target("/s/marketfeed"), now_ms + 61'000).status, 200u);
    // Preview disabled: a redirect to the landing page, which has a title.
    ASSERT_EQ(tg.control("disable", target("/_control/news/disable?channel=marketfeed"), true, now_ms).status, 200u);
    r = tg.page(target("/s/marketfeed"), now_ms + 61'000);
    EXPECT_EQ(r.status, 302u);
    EXPECT_EQ(page_of(tg, "/marketfeed").kind, vs::news::page_kind::preview_disabled);
    ASSERT_EQ(tg.control("disable", target("/_control/news/disable?channel=marketfeed&on=0"), true, now_ms).status, 200u);
    // A cut page: posts after the cut are gone, the parser says so.
    ASSERT_EQ(tg.control("broken", target("/_control/news/broken?channel=marketfeed&count=1"), true, now_ms).status, 200u);
    r = tg.page(target("/s/marketfeed"), now_ms + 61'000);
    EXPECT_LT(vs::news::parse_page(r.body, "marketfeed").posts.size(), 3u);
    // Bad control input is refused with a reason.
    EXPECT_EQ(tg.control("post", target("/_control/news/post?channel=x"), true, now_ms).status, 400u);
    EXPECT_EQ(tg.control("post", target("/_control/news/post?channel=marketfeed&media=hologram"), true, now_ms).status, 400u);
    EXPECT_EQ(tg.control("edit", target("/_control/news/edit?channel=marketfeed&id=99&text=x"), true, now_ms).status, 404u);
    EXPECT_EQ(tg.control("post", target("/_control/news/post?channel=marketfeed"), false, now_ms).status, 405u);
}
