// vs-news's decisions (vs/news/cycle.hpp) against a channel held in memory: what a cycle
// forwards, in which order, how far it pages, what it remembers, and the backend payload.
#include "vs/news/cycle.hpp"

#include <map>
#include <stdexcept>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace news = vs::news;

namespace {

/// A channel as t.me/s serves it: a page is the 20 message ids below `before` (or the
/// newest 20), posts ascending, a "load older" link while older ids exist.
class fake_channel {
public:
    explicit fake_channel(std::int64_t posts = 0)
    {
        for (std::int64_t i = 0; i < posts; ++i) {
            add();
        }
    }

    news::post& add(std::string text = {})
    {
        news::post p;
        p.id = p.last_id = ++top_;
        p.text = text.empty() ? "post " + std::to_string(p.id) : std::move(text);
        p.date_ms = 1'780'000'000'000 + p.id * 1000;
        p.date_iso = "x";
        p.views = 1200;
        p.author = "Fake Feed";
        return posts_[p.id] = p;
    }
    /// An album of `n` items: one post under its first id.
    news::post& add_album(std::int64_t n)
    {
        auto& p = add("album");
        p.last_id = p.id + n - 1;
        p.media = news::media_kind::photo;
        top_ = p.last_id;
        return p;
    }
    void erase(std::int64_t id) { posts_.erase(id); }
    news::post& at(std::int64_t id) { return posts_.at(id); }

    news::fetch_fn fetcher()
    {
        return [this](std::optional<std::int64_t> before) {
            requests.push_back(before.value_or(0));
            news::fetch_result r;
            if (fail_at_request && requests.size() == fail_at_request) {
                r.error = "HTTP 503";
                return r;
            }
            if (kind != news::page_kind::ok) {
                news::page p;
                p.kind = kind;
                r.pg = p;
                return r;
            }
            const std::int64_t hi = before ? *before - 1 : top_;
            const std::int64_t lo = std::max<std::int64_t>(1, hi - 19);
            news::page p;
            p.kind = news::page_kind::ok;
            p.channel_title = "Fake Feed";
            p.channel_id = 1234567890;
            for (auto it = posts_.lower_bound(lo); it != posts_.end() && it->first <= hi; ++it) {
                p.posts.push_back(it->second);
            }
            if (cut_at_request && requests.size() == cut_at_request && p.posts.size() > 1) {
                p.posts.resize(p.posts.size() / 2);
                p.truncated = true;
                p.warnings.push_back("the page has no </html>: it may be truncated");
            }
            if (p.posts.empty()) {
                p.kind = news::page_kind::empty;
            } else {
                p.min_id = p.posts.front().id;
                p.max_id = p.posts.back().id;
                if (*p.min_id > 1) {
                    p.older_before = *p.min_id;
                }
            }
            r.pg = std::move(p);
            return r;
        };
    }

    std::vector<std::int64_t> requests;   // 0 = the newest page
    std::size_t fail_at_request = 0;
    std::size_t cut_at_request = 0;       // that page loses its newer half and says it was cut
    news::page_kind kind = news::page_kind::ok;

private:
    std::map<std::int64_t, news::post> posts_;
    std::int64_t top_ = 0;
};

const news::channel_config feed{"fakefeed", "general"};

std::vector<std::int64_t> ids(const std::vector<news::post>& posts)
{
    std::vector<std::int64_t> out;
    for (const auto& p : posts) {
        out.push_back(p.id);
    }
    return out;
}

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to)
{
    std::vector<std::int64_t> out;
    for (auto i = from; i <= to; ++i) {
        out.push_back(i);
    }
    return out;
}

news::channel_state at_id(std::int64_t last)
{
    news::channel_state s;
    s.last_id = last;
    s.channel_id = news::bot_api_chat_id(1234567890);
    s.title = "Fake Feed";
    return s;
}

}  // namespace

TEST(NewsCycle, FirstRunForwardsTheLast100PostsOldestFirst)
{
    fake_channel ch{250};
    auto out = news::collect(feed, {}, ch.fetcher());
    EXPECT_TRUE(out.problem.empty()) << out.problem;
    EXPECT_EQ(ids(out.fresh), range(151, 250));
    EXPECT_EQ(out.next.last_id, 250);
    EXPECT_EQ(out.next.channel_id, -1001234567890);   // the Bot API form, as Pyrogram's chat.id
    EXPECT_EQ(out.next.title, "Fake Feed");
    EXPECT_EQ(out.requests, 5u);   // 20 ids a page
}

TEST(NewsCycle, FirstRunOfASmallChannelTakesWhatThereIs)
{
    fake_channel ch{7};
    auto out = news::collect(feed, {}, ch.fetcher());
    EXPECT_EQ(ids(out.fresh), range(1, 7));
    EXPECT_EQ(out.requests, 1u);
}

TEST(NewsCycle, OnlyPostsAfterTheLastIdAreNewAndOnePageSuffices)
{
    fake_channel ch{250};
    auto out = news::collect(feed, at_id(240), ch.fetcher());
    EXPECT_EQ(ids(out.fresh), range(241, 250));
    EXPECT_EQ(out.next.last_id, 250);
    EXPECT_EQ(ch.requests, std::vector<std::int64_t>{0});
}

TEST(NewsCycle, NothingNewChangesNothing)
{
    fake_channel ch{250};
    auto state = at_id(250);
    auto out = news::collect(feed, state, ch.fetcher());
    EXPECT_TRUE(out.fresh.empty());
    EXPECT_EQ(out.next.encode(), state.encode());
}

TEST(NewsCycle, ABacklogOf130ArrivesInOrderAcrossTwoCycles)
{
    fake_channel ch{100};
    ch.requests.clear();
    for (int i = 0; i < 130; ++i) {
        ch.add();
    }
    auto first = news::collect(feed, at_id(100), ch.fetcher());
    EXPECT_EQ(ids(first.fresh), range(101, 200));
    EXPECT_EQ(first.left_for_next, 30u);
    EXPECT_EQ(first.next.last_id, 200);
    // Paged back with the pages' own links: newest, then before=211, 191, ... down to id 101.
    EXPECT_EQ(ch.requests, (std::vector<std::int64_t>{0, 211, 191, 171, 151, 131, 111}));

    auto second = news::collect(feed, first.next, ch.fetcher());
    EXPECT_EQ(ids(second.fresh), range(201, 230));
    EXPECT_EQ(second.left_for_next, 0u);
    EXPECT_EQ(second.next.last_id, 230);
}

TEST(NewsCycle, ABacklogDeeperThanMaxPagesIsReadForwardFromTheLastId)
{
    fake_channel ch{1000};
    ch.requests.clear();
    news::cycle_limits limits;
    limits.max_pages = 4;
    auto out = news::collect(feed, at_id(100), ch.fetcher(), limits);
    EXPECT_TRUE(out.problem.empty()) << out.problem;
    EXPECT_EQ(ids(out.fresh), range(101, 200));   // the oldest first, none skipped
    EXPECT_EQ(out.next.last_id, 200);
    // 4 pages back (not reaching 100), then forward: before=121, 141, ..., 201.
    EXPECT_EQ(std::vector<std::int64_t>(ch.requests.begin() + 4, ch.requests.end()),
              (std::vector<std::int64_t>{121, 141, 161, 181, 201}));
}

TEST(NewsCycle, AlbumsAreOnePostAndDeletedIdsAreGaps)
{
    fake_channel ch{10};
    ch.add_album(4);   // ids 11..14, one post 11
    ch.add();          // 15
    ch.add();          // 16
    ch.erase(16);
    ch.add();          // 17
    auto out = news::collect(feed, at_id(10), ch.fetcher());
    EXPECT_EQ(ids(out.fresh), (std::vector<std::int64_t>{11, 15, 17}));
    EXPECT_EQ(out.next.last_id, 17);
}

TEST(NewsCycle, AnAlbumEndingTheCycleMovesTheLastIdPastItsItems)
{
    fake_channel ch{10};
    ch.add_album(3);   // 11..13
    auto out = news::collect(feed, at_id(10), ch.fetcher());
    EXPECT_EQ(ids(out.fresh), std::vector<std::int64_t>{11});
    EXPECT_EQ(out.next.last_id, 13);
}

TEST(NewsCycle, AnEditedPostIsSentAgainOncePerChange)
{
    fake_channel ch{20};
    auto first = news::collect(feed, {}, ch.fetcher());
    ASSERT_EQ(first.fresh.size(), 20u);
    ch.at(18).text = "post 18 (corrected)";
    auto second = news::collect(feed, first.next, ch.fetcher());
    EXPECT_TRUE(second.fresh.empty());
    ASSERT_EQ(ids(second.edited), std::vector<std::int64_t>{18});
    EXPECT_EQ(second.edited[0].text, "post 18 (corrected)");
    auto third = news::collect(feed, second.next, ch.fetcher());
    EXPECT_TRUE(third.edited.empty());   // once, not every cycle
    ch.at(18).links = {"https://example.com/source"};
    EXPECT_EQ(ids(news::collect(feed, third.next, ch.fetcher()).edited), std::vector<std::int64_t>{18});
}

TEST(NewsCycle, AFailedPageLeavesTheStateAsItWasSoTheCycleRepeats)
{
    fake_channel ch{100};
    for (int i = 0; i < 60; ++i) {
        ch.add();
    }
    ch.fail_at_request = 2;   // the second page of the backlog
    const auto state = at_id(100);
    auto out = news::collect(feed, state, ch.fetcher());
    EXPECT_EQ(out.problem, "HTTP 503");
    EXPECT_TRUE(out.fresh.empty());
    EXPECT_EQ(out.next.encode(), state.encode());
}

TEST(NewsCycle, TwentyDeletedIdsInsideABacklogDoNotHideTheOlderNewPosts)
{
    fake_channel ch{150};
    for (std::int64_t id = 111; id <= 130; ++id) {
        ch.erase(id);   // a whole page of deleted ids between new posts
    }
    auto out = news::collect(feed, at_id(100), ch.fetcher());
    EXPECT_TRUE(out.problem.empty()) << out.problem;
    auto want = range(101, 110);
    const auto top = range(131, 150);
    want.insert(want.end(), top.begin(), top.end());
    EXPECT_EQ(ids(out.fresh), want);
    EXPECT_EQ(out.next.last_id, 150);
}

TEST(NewsCycle, AnOlderPageCutShortRepeatsTheCycleInsteadOfSkippingItsPosts)
{
    fake_channel ch{160};
    ch.cut_at_request = 2;   // the first older page of the backlog
    const auto state = at_id(100);
    auto out = news::collect(feed, state, ch.fetcher());
    EXPECT_NE(out.problem.find("was cut short"), std::string::npos) << out.problem;
    EXPECT_TRUE(out.fresh.empty());
    EXPECT_EQ(out.next.encode(), state.encode());
    ch.cut_at_request = 0;
    EXPECT_EQ(ids(news::collect(feed, state, ch.fetcher()).fresh), range(101, 160));
}

TEST(NewsCycle, AFirstRunThatForwardsNothingStillStartsAfterTheNewestPost)
{
    fake_channel ch{30};
    news::cycle_limits limits;
    limits.first_run_posts = 0;
    auto out = news::collect(feed, {}, ch.fetcher(), limits);
    EXPECT_TRUE(out.fresh.empty());
    EXPECT_EQ(out.next.last_id, 30);
    ch.add();
    EXPECT_EQ(ids(news::collect(feed, out.next, ch.fetcher(), limits).fresh), std::vector<std::int64_t>{31});
}

TEST(NewsCycle, MissingAndDisabledChannelsAreProblemsNotQuietChannels)
{
    fake_channel ch{5};
    ch.kind = news::page_kind::no_channel;
    auto out = news::collect(feed, {}, ch.fetcher());
    EXPECT_NE(out.problem.find("no such channel @fakefeed"), std::string::npos) << out.problem;
    ch.kind = news::page_kind::preview_disabled;
    out = news::collect(feed, at_id(3), ch.fetcher());
    EXPECT_NE(out.problem.find("no public preview"), std::string::npos) << out.problem;
    EXPECT_EQ(out.next.last_id, 3);
}

TEST(NewsCycle, RetryAfterOfARateLimitReachesTheCaller)
{
    auto out = news::collect(feed, {}, [](std::optional<std::int64_t>) {
        news::fetch_result r;
        r.error = "HTTP 429";
        r.retry_after = std::chrono::seconds{60};
        return r;
    });
    EXPECT_EQ(out.problem, "HTTP 429");
    ASSERT_TRUE(out.retry_after);
    EXPECT_EQ(out.retry_after->count(), 60);
}

TEST(NewsCycle, ServiceMessagesMoveTheLastIdButAreNotNews)
{
    fake_channel ch{10};
    ch.add().service = true;   // 11: "channel photo updated"
    auto out = news::collect(feed, at_id(10), ch.fetcher());
    EXPECT_TRUE(out.fresh.empty());
    EXPECT_EQ(out.next.last_id, 11);
}

TEST(NewsState, RoundTripsAndRefusesGarbage)
{
    auto s = at_id(4242);
    s.sent = {{4241, 1}, {4242, 18'000'000'000'000'000'000ULL}};
    const auto back = news::channel_state::decode(s.encode());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->encode(), s.encode());
    EXPECT_EQ(back->sent[1].second, 18'000'000'000'000'000'000ULL);
    std::string why;
    EXPECT_FALSE(news::channel_state::decode("not json", &why));
    EXPECT_EQ(why, "not a JSON object");
    EXPECT_FALSE(news::channel_state::decode(R"({"v":2,"last_id":1})", &why));
    EXPECT_FALSE(news::channel_state::decode(R"({"v":1,"last_id":-5,"channel_id":0,"title":"","sent":[]})", &why));
    EXPECT_FALSE(news::channel_state::decode(R"({"v":1,"last_id":5,"channel_id":0,"title":"","sent":[[1]]})", &why));
    EXPECT_FALSE(news::channel_state::decode(
        R"({"v":1,"last_id":9223372036854775000,"channel_id":0,"title":"","sent":[]})", &why));
}

TEST(NewsChannels, CategoriesAsTheOldScriptWithOverrides)
{
    auto cs = news::parse_channels("marketfeed, WatcherGuru,@somechannel", "");
    ASSERT_EQ(cs.size(), 3u);
    EXPECT_EQ(cs[0].category, "macro");
    EXPECT_EQ(cs[1].category, "crypto");
    EXPECT_EQ(cs[1].username, "WatcherGuru");
    EXPECT_EQ(cs[2].username, "somechannel");
    EXPECT_EQ(cs[2].category, "general");
    cs = news::parse_channels("marketfeed,somechannel", "somechannel:crypto, marketfeed:markets");
    EXPECT_EQ(cs[0].category, "markets");
    EXPECT_EQ(cs[1].category, "crypto");
    EXPECT_THROW(news::parse_channels("", ""), std::invalid_argument);
    EXPECT_THROW(news::parse_channels("bad-name", ""), std::invalid_argument);
    EXPECT_THROW(news::parse_channels("abc", ""), std::invalid_argument);   // under 5 characters
    EXPECT_THROW(news::parse_channels("marketfeed,MarketFeed", ""), std::invalid_argument);
    EXPECT_THROW(news::parse_channels("marketfeed", "other:crypto"), std::invalid_argument);
    EXPECT_THROW(news::parse_channels("marketfeed", "marketfeed"), std::invalid_argument);
}

TEST(NewsPayload, FieldsAndTypesAsTheBackendValidatesThem)
{
    news::post p;
    p.id = 77;
    p.text = "Fed holds \"rates\"";
    p.date_ms = 1'796'400'000'000;   // 2026-12-04T16:00:00Z
    p.views = 37200;
    p.author = "Market Feed";
    p.media = news::media_kind::video;
    p.links = {"https://example.com/a?x=1&y=2"};
    news::post bare;
    bare.id = 78;
    bare.date_ms = 1'796'400'060'000;
    auto state = at_id(78);
    const auto v = boost::json::parse(news::ingest_payload({"marketfeed", "macro"}, state, {p, bare}));
    const auto& ch = v.at("channel").as_object();
    EXPECT_EQ(ch.at("id").as_int64(), -1001234567890);
    EXPECT_EQ(ch.at("username").as_string(), "marketfeed");
    EXPECT_EQ(ch.at("title").as_string(), "Fake Feed");
    EXPECT_EQ(ch.at("category").as_string(), "macro");
    const auto& m = v.at("messages").as_array();
    ASSERT_EQ(m.size(), 2u);
    const auto& a = m[0].as_object();
    EXPECT_EQ(a.at("id").as_int64(), 77);
    EXPECT_EQ(a.at("text").as_string(), "Fed holds \"rates\"");
    EXPECT_EQ(a.at("date").as_string(), "2026-12-04T16:00:00Z");
    EXPECT_EQ(a.at("sender_name").as_string(), "Market Feed");
    EXPECT_EQ(a.at("views").as_int64(), 37200);
    EXPECT_TRUE(a.at("forwards").is_null());   // the preview shows no forward count
    EXPECT_EQ(a.at("has_media").as_bool(), true);
    EXPECT_EQ(a.at("media_type").as_string(), "video");
    EXPECT_EQ(a.at("links").as_array().size(), 1u);
    const auto& b = m[1].as_object();
    // Nullable keys are present and null; links an empty array.
    for (const char* key : {"text", "views", "forwards", "media_type"}) {
        ASSERT_TRUE(b.contains(key)) << key;
        EXPECT_TRUE(b.at(key).is_null()) << key;
    }
    EXPECT_EQ(b.at("sender_name").as_string(), "Fake Feed");   // the channel's title, as Pyrogram's sender_chat
    EXPECT_EQ(b.at("has_media").as_bool(), false);
    EXPECT_TRUE(b.at("links").as_array().empty());
    // A date no Telegram post can have (a broken page) never reaches the backend as such.
    news::post odd = bare;
    odd.date_ms = -5'000;
    const auto w = boost::json::parse(news::ingest_payload({"marketfeed", "macro"}, state, {odd}));
    const std::string date{w.at("messages").as_array()[0].at("date").as_string()};
    EXPECT_EQ(date.size(), 20u);
    EXPECT_EQ(date.substr(0, 2), "20");
    EXPECT_EQ(date.back(), 'Z');
}

TEST(NewsPayload, BatchesOf50)
{
    std::vector<news::post> posts(130);
    const auto b = news::batches(posts);
    ASSERT_EQ(b.size(), 3u);
    EXPECT_EQ(b[0].size(), 50u);
    EXPECT_EQ(b[1].size(), 50u);
    EXPECT_EQ(b[2].size(), 30u);
    EXPECT_TRUE(news::batches({}).empty());
}
