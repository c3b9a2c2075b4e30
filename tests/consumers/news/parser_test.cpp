// vs_news_parser: the two real t.me/s pages (read from ../shared/data/telegram when present,
// never copied into the repository: its SOURCES.md asks so), the project's own fixtures
// (tests/consumers/news/data), and bad input: truncated, oversized, invalid UTF-8, deep nesting.
// The expected values of the real pages were read from the pages by hand.
#include "vs/news/parser.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using vs::news::media_kind;
using vs::news::page;
using vs::news::page_kind;
using vs::news::parse_options;
using vs::news::parse_page;
using vs::news::post;

const std::filesystem::path real_dir{VS_TELEGRAM_SAMPLES_DIR};
const std::filesystem::path fixture_dir{VS_NEWS_FIXTURES_DIR};
constexpr const char* topwar_file = "tme_s_topwar_official_before71009_page_2023-02.html";
constexpr const char* anna_file = "tme_s_anna_news_46908_album_photo_video_2023-02.html";

std::string read_file(const std::filesystem::path& path)
{
    std::ifstream in{path, std::ios::binary};
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string fixture(const char* name)
{
    const std::string text = read_file(fixture_dir / name);
    EXPECT_FALSE(text.empty()) << "missing fixture " << (fixture_dir / name);
    return text;
}

#define REQUIRE_REAL_PAGE(var, name)                                                        \
    const std::string var = read_file(real_dir / (name));                                  \
    if (var.empty()) {                                                                      \
        GTEST_SKIP() << "real page " << (name) << " not found in " << real_dir.string();   \
    }

const post& find_post(const page& p, std::int64_t id)
{
    const auto it = std::find_if(p.posts.begin(), p.posts.end(), [id](const post& x) { return x.id == id; });
    if (it == p.posts.end()) {
        ADD_FAILURE() << "post " << id << " not on the page";
        static const post none;
        return none;
    }
    return *it;
}

std::vector<std::int64_t> ids_of(const page& p)
{
    std::vector<std::int64_t> ids;
    for (const post& x : p.posts) {
        ids.push_back(x.id);
    }
    return ids;
}

bool has_warning(const page& p, std::string_view part)
{
    return std::any_of(p.warnings.begin(), p.warnings.end(),
                       [part](const std::string& w) { return w.find(part) != std::string::npos; });
}

std::size_t occurrences(std::string_view text, std::string_view part)
{
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string_view::npos; at = text.find(part, at + 1)) {
        ++n;
    }
    return n;
}

/// One post in the live pages' shape (no whitespace between tags).
std::string make_post(std::string_view channel, std::int64_t id, std::string_view text_html)
{
    const std::string ref = std::string{channel} + "/" + std::to_string(id);
    return "<div class=\"tgme_widget_message_wrap js-widget_message_wrap\"><div class=\"tgme_widget_message "
           "js-widget_message\" data-post=\"" + ref + "\"><div class=\"tgme_widget_message_bubble\">"
           "<div class=\"tgme_widget_message_text js-message_text\" dir=\"auto\">" + std::string{text_html} +
           "</div><div class=\"tgme_widget_message_footer\"><div class=\"tgme_widget_message_info\">"
           "<span class=\"tgme_widget_message_views\">1.5K</span><span class=\"tgme_widget_message_meta\">"
           "<a class=\"tgme_widget_message_date\" href=\"https://t.me/" + ref + "\"><time datetime=\"2026-03-01T"
           "12:00:00+00:00\" class=\"time\">12:00</time></a></span></div></div></div></div></div>";
}

std::string make_page(std::string_view body)
{
    return "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><div class=\"tgme_channel_info\">"
           "<div class=\"tgme_channel_info_header_title\"><span dir=\"auto\">Generated</span></div></div>"
           "<section class=\"tgme_channel_history js-message_history\">" + std::string{body} +
           "</section></body></html>";
}

// ---------------------------------------------------------------------------------------
// The real t.me/s/topwar_official?before=71009 page (2023-02-28)

class TopwarPage : public ::testing::Test {
protected:
    void SetUp() override
    {
        html = read_file(real_dir / topwar_file);
        if (html.empty()) {
            GTEST_SKIP() << "real page " << topwar_file << " not found in " << real_dir.string();
        }
        result = parse_page(html, "topwar_official");
        ASSERT_EQ(result.kind, page_kind::ok) << result.error;
    }

    std::string html;
    page result;
};

TEST_F(TopwarPage, HasTwelvePostsOverTwentyMessageIds)
{
    // 70989..71008: albums 70992-70994 and 71000-71005 are one post each, 70991 was deleted.
    EXPECT_EQ(ids_of(result), (std::vector<std::int64_t>{70989, 70990, 70992, 70995, 70996, 70997, 70998, 70999,
                                                          71000, 71006, 71007, 71008}));
    EXPECT_EQ(result.min_id, 70989);
    EXPECT_EQ(result.max_id, 71008);
    EXPECT_EQ(result.older_before, 70989);
    EXPECT_EQ(result.channel_title, "Военное обозрение");
    EXPECT_TRUE(result.error.empty());
    EXPECT_TRUE(result.warnings.empty()) << result.warnings.front();
}

TEST_F(TopwarPage, ShowsTheNumericChannelIdOnlyInDataView)
{
    // data-view of every post is base64url {"c":-1084368520,"p":70989,"t":1677593835,...}.
    EXPECT_EQ(result.channel_id, 1084368520);
    EXPECT_EQ(vs::news::bot_api_chat_id(*result.channel_id), -1001084368520);
}

TEST_F(TopwarPage, ReadsASinglePhotoPost)
{
    const post& p = find_post(result, 70989);
    EXPECT_EQ(p.last_id, 70989);
    EXPECT_EQ(p.text, "В Санкт-Петербурге в небо над городом подняли истребители из-за неизвестного объекта в "
                      "воздухе, аэропорт Пулково не принимает самолеты, сообщает Baza.\nСудя по сервису "
                      "Flightradar, гражданские самолеты не приближаются к Санкт-Петербургу.");
    EXPECT_EQ(p.date_iso, "2023-02-28T07:47:53+00:00");
    EXPECT_EQ(p.date_ms, 1677570473000);
    EXPECT_EQ(p.views, 37200);
    EXPECT_EQ(p.media, media_kind::photo);
    EXPECT_EQ(p.media_count, 1u);
    EXPECT_EQ(p.author, "Военное обозрение");
    EXPECT_TRUE(p.signature.empty());
    EXPECT_TRUE(p.forwarded_from.empty());
    EXPECT_TRUE(p.links.empty());
    EXPECT_FALSE(p.service);
}

TEST_F(TopwarPage, AnAlbumIsOnePostUnderItsFirstIdWithItsCaptionOnce)
{
    const post& first = find_post(result, 70992);
    EXPECT_EQ(first.last_id, 70994);
    EXPECT_EQ(first.media, media_kind::photo);  // photo, photo, video
    EXPECT_EQ(first.media_count, 3u);
    EXPECT_EQ(first.views, 33800);
    EXPECT_EQ(first.date_ms, 1677574318000);
    EXPECT_EQ(first.text, "Сегодня ночью в Республике Адыгея упал неизвестный летательный аппарат, обломки "
                          "реактивного двигателя от которого опубликовал глава региона. Предположительно, обломки "
                          "принадлежат украинскому БПЛА Ту-141 или Ту-143.");

    const post& second = find_post(result, 71000);
    EXPECT_EQ(second.last_id, 71005);
    EXPECT_EQ(second.media, media_kind::photo);
    EXPECT_EQ(second.media_count, 6u);
    EXPECT_EQ(second.text, "Последствия ночного удара БПЛА-камикадзе ВСУ по нефтебазе в Туапсе сегодня ночью.");
    EXPECT_EQ(occurrences(second.text, "Последствия"), 1u);
}

TEST_F(TopwarPage, ReadsAForwardedPostWithTextLinksAndALinkPreviewEachOnce)
{
    const post& p = find_post(result, 70996);
    EXPECT_EQ(p.forwarded_from, "Военкор Ярем");
    EXPECT_EQ(p.forwarded_from_url, "https://t.me/yaremshooter/1066");
    EXPECT_EQ(p.links, (std::vector<std::string>{"https://t.me/infantmilitario/93419", "https://t.me/yaremshooter",
                                                 "http://t.me/infantmilitario/93419"}));
    EXPECT_EQ(p.media, media_kind::none);  // a link preview is not media
    EXPECT_EQ(p.views, 32900);
    EXPECT_EQ(p.date_ms, 1677575162000);
    EXPECT_TRUE(p.text.starts_with("Информация о том, что подразделения ЧВК «Вагнер» подошли к самолетику в "
                                   "Бахмуте на расстояние 180 метров, пока не соответствует действительности. "
                                   "Музыканты уже близко, но не настолько.\n\nКроме этого, в треугольнике"))
        << p.text;
    EXPECT_TRUE(p.text.ends_with("на фоне стелы с МиГ-17.\n\n@yaremshooter")) << p.text;
    EXPECT_EQ(p.text.find("Милитарист"), std::string::npos) << "the link preview's title is not the post's text";
}

TEST_F(TopwarPage, NamesTheSourceOfEveryForwardedPost)
{
    const std::vector<std::pair<std::int64_t, std::string>> forwarded{
        {70996, "Военкор Ярем"}, {70998, "БелВПО"}, {71006, "Старше Эдды"}, {71007, "Пул N3"}, {71008, "ImpNavigator"}};
    for (const post& p : result.posts) {
        const auto it = std::find_if(forwarded.begin(), forwarded.end(), [&](const auto& f) { return f.first == p.id; });
        EXPECT_EQ(p.forwarded_from, it == forwarded.end() ? "" : it->second) << "post " << p.id;
    }
    EXPECT_EQ(find_post(result, 70998).forwarded_from_url, "https://t.me/Belarus_VPO/34301");
}

TEST_F(TopwarPage, ReadsEveryPostsViewsDateAndMedia)
{
    struct expected {
        std::int64_t id;
        std::int64_t views;
        const char* date;
        media_kind media;
    };
    const expected rows[] = {
        {70989, 37200, "2023-02-28T07:47:53+00:00", media_kind::photo},
        {70990, 34500, "2023-02-28T08:09:50+00:00", media_kind::none},
        {70992, 33800, "2023-02-28T08:51:58+00:00", media_kind::photo},
        {70995, 33600, "2023-02-28T08:54:50+00:00", media_kind::none},
        {70996, 32900, "2023-02-28T09:06:02+00:00", media_kind::none},
        {70997, 30300, "2023-02-28T10:00:03+00:00", media_kind::none},
        {70998, 29000, "2023-02-28T10:29:08+00:00", media_kind::photo},
        {70999, 28700, "2023-02-28T10:43:08+00:00", media_kind::none},
        {71000, 28700, "2023-02-28T10:52:36+00:00", media_kind::photo},
        {71006, 17200, "2023-02-28T12:48:58+00:00", media_kind::video},  // "Media is too big": no <video>
        {71007, 16800, "2023-02-28T13:02:00+00:00", media_kind::video},
        {71008, 14900, "2023-02-28T13:14:03+00:00", media_kind::video},
    };
    for (const expected& row : rows) {
        const post& p = find_post(result, row.id);
        EXPECT_EQ(p.views, row.views) << "post " << row.id;
        EXPECT_EQ(p.date_iso, row.date) << "post " << row.id;
        EXPECT_EQ(p.date_ms, vs::news::parse_iso8601_ms(row.date)) << "post " << row.id;
        EXPECT_EQ(p.media, row.media) << "post " << row.id;
        EXPECT_EQ(p.author, "Военное обозрение") << "post " << row.id;
    }
}

TEST_F(TopwarPage, DecodesEntitiesAndKeepsInlineMarkupText)
{
    EXPECT_EQ(find_post(result, 70995).text,
              "План \"Ковер\" отменен, небо над Санкт-Петербургом открывают, сообщает источник РЕН ТВ.");
    EXPECT_TRUE(find_post(result, 70997).text.starts_with(
        "Минобороны России сообщило, что дежурными силами Западной зоны ответственности за ПВО проведена "
        "тренировка по взаимодействию с гражданскими органами управления воздушным движением.\n\nОтработаны"));
    EXPECT_TRUE(find_post(result, 70998).text.starts_with(
        "Новые ракетные корабли ВМФ РФ с Калибрами вышли на учения в Балтийское море\n\nМалые ракетные корабли "
        "проектов 22800 \"Каракурт\" и 21631 \"Буян-М\", которые оснащены"));
    EXPECT_EQ(find_post(result, 71008).text,
              "Подземные тоннели для укрытия и скрытого перемещения иранских средств ПВО были продемонстрированы в "
              "ходе начавшихся учений иранской ПВО Modafean-e-Aseman-e-Velayat 1401.");
    EXPECT_NE(find_post(result, 71007).text.find("информацией.\nПредстоит"), std::string::npos);
}

TEST_F(TopwarPage, ARedirectAwayFromSMeansPreviewDisabled)
{
    parse_options redirected;
    redirected.final_url = "https://t.me/topwar_official";
    const page p = parse_page(html, "topwar_official", redirected);
    EXPECT_EQ(p.kind, page_kind::preview_disabled);
    EXPECT_TRUE(p.posts.empty());
    EXPECT_FALSE(p.min_id.has_value());
    EXPECT_NE(p.error.find("redirected to https://t.me/topwar_official"), std::string::npos) << p.error;

    parse_options same;
    same.final_url = "https://telegram.me/s/topwar_official?before=71009";
    EXPECT_EQ(parse_page(html, "topwar_official", same).kind, page_kind::ok);
}

TEST_F(TopwarPage, MatchesTheChannelNameIgnoringCase)
{
    EXPECT_EQ(parse_page(html, "TopWar_Official").posts.size(), 12u);
    EXPECT_EQ(parse_page(html, "").posts.size(), 12u);

    const page other = parse_page(html, "anna_news");
    EXPECT_EQ(other.kind, page_kind::invalid);
    EXPECT_TRUE(other.posts.empty());
    EXPECT_NE(other.error.find("not of channel anna_news"), std::string::npos) << other.error;
}

TEST_F(TopwarPage, ACutInsideAPostDropsThatPostAndKeepsTheOthers)
{
    const auto cut = html.find("контрразведывательному обеспечению");  // inside 71007's text
    ASSERT_NE(cut, std::string::npos);
    const page p = parse_page(std::string_view{html}.substr(0, cut), "topwar_official");
    EXPECT_EQ(p.kind, page_kind::ok);
    EXPECT_EQ(p.posts.size(), 10u);
    EXPECT_EQ(p.max_id, 71006);
    EXPECT_TRUE(has_warning(p, "post 71007 left out: no valid date (page truncated?)"));
    EXPECT_TRUE(has_warning(p, "no </html>"));
    EXPECT_TRUE(p.truncated);   // vs-news repeats a cycle whose older page was cut
    EXPECT_EQ(find_post(p, 71006).views, 17200);
}

TEST_F(TopwarPage, ACutBeforeTheFirstPostIsNotAnEmptyChannel)
{
    const auto cut = html.find("<div class=\"tgme_widget_message_wrap");
    ASSERT_NE(cut, std::string::npos);
    const page before_posts = parse_page(std::string_view{html}.substr(0, cut), "topwar_official");
    EXPECT_EQ(before_posts.kind, page_kind::invalid);
    EXPECT_NE(before_posts.error.find("truncated"), std::string::npos) << before_posts.error;

    const page in_head = parse_page(std::string_view{html}.substr(0, 300), "topwar_official");
    EXPECT_EQ(in_head.kind, page_kind::invalid);
}

TEST_F(TopwarPage, DoesNotDependOnWhitespaceBetweenTags)
{
    // The sample was reformatted; the live page has no whitespace between tags.
    std::string compact;
    bool after_tag = false;
    for (std::size_t i = 0; i < html.size(); ++i) {
        const char c = html[i];
        if (after_tag && (c == ' ' || c == '\n')) {
            const auto next = html.find_first_not_of(" \n", i);
            if (next != std::string::npos && html[next] == '<') {
                i = next - 1;
                continue;
            }
        }
        after_tag = c == '>';
        compact.push_back(c);
    }
    ASSERT_LT(compact.size(), html.size());
    const page p = parse_page(compact, "topwar_official");
    ASSERT_EQ(ids_of(p), ids_of(result));
    for (std::size_t i = 0; i < p.posts.size(); ++i) {
        EXPECT_EQ(p.posts[i].views, result.posts[i].views);
        EXPECT_EQ(p.posts[i].media, result.posts[i].media);
        EXPECT_EQ(p.posts[i].links, result.posts[i].links);
    }
    EXPECT_EQ(find_post(p, 70992).text, find_post(result, 70992).text);
}

// ---------------------------------------------------------------------------------------
// The real anna_news/46908 post (a mixed album cut from a page)

TEST(AnnaNewsPost, IsAVideoFirstAlbumWithHashtagsInItsText)
{
    REQUIRE_REAL_PAGE(html, anna_file);
    const page p = parse_page(html, "anna_news");
    ASSERT_EQ(p.kind, page_kind::ok) << p.error;
    ASSERT_EQ(p.posts.size(), 1u);
    const post& x = p.posts.front();
    EXPECT_EQ(x.id, 46908);
    EXPECT_EQ(x.last_id, 46910);
    EXPECT_EQ(x.media, media_kind::video);  // 46908 itself is the video; 46909, 46910 are photos
    EXPECT_EQ(x.media_count, 3u);
    EXPECT_EQ(x.views, 59500);
    EXPECT_EQ(x.date_iso, "2023-02-28T06:48:36+00:00");
    EXPECT_EQ(x.date_ms, 1677566916000);
    EXPECT_EQ(x.author, "ANNA-NEWS");
    EXPECT_EQ(x.text, "Ночью над Белгородом сбили 3 беспилотника\n\nОни упали на улицы города.\n\nСообщается, "
                      "что на себе БПЛА несли взрывчатку из пластида.\n\n#Белгород #Беспилотники\n\n@anna_news");
    EXPECT_EQ(x.links, std::vector<std::string>{"https://t.me/anna_news"});  // hashtag searches are not links
    EXPECT_TRUE(x.forwarded_from.empty());
    // A fragment: no channel header, no data-view, no "older" link, no </html>.
    EXPECT_TRUE(p.channel_title.empty());
    EXPECT_FALSE(p.channel_id.has_value());
    EXPECT_FALSE(p.older_before.has_value());
    EXPECT_EQ(p.min_id, 46908);
    EXPECT_EQ(p.max_id, 46908);
    EXPECT_TRUE(has_warning(p, "no </html>"));
}

// ---------------------------------------------------------------------------------------
// Own fixture: a raw (whitespace-free) page with every media kind and the markup traps

class RawPage : public ::testing::Test {
protected:
    void SetUp() override
    {
        result = parse_page(fixture("raw_page.html"), "vsnews_fixture");
        ASSERT_EQ(result.kind, page_kind::ok) << result.error;
    }

    page result;
};

TEST_F(RawPage, ListsPostsAscendingWithGapsAndLeavesOutOtherChannels)
{
    EXPECT_EQ(ids_of(result), (std::vector<std::int64_t>{101, 102, 105, 108, 109, 110, 111, 112, 113}));
    EXPECT_EQ(result.min_id, 101);
    EXPECT_EQ(result.max_id, 113);
    EXPECT_EQ(result.older_before, 101);
    EXPECT_EQ(result.channel_title, "VS News Fixture & Co");
    EXPECT_EQ(result.channel_id, 1234567890);
    ASSERT_EQ(result.warnings.size(), 1u);
    EXPECT_EQ(result.warnings.front(), "post other_channel/114 left out: not of channel vsnews_fixture");
}

TEST_F(RawPage, DecodesEntitiesInTextAndLinksAndListsEachLinkOnce)
{
    const post& p = find_post(result, 101);
    EXPECT_EQ(p.text, "🚀 Fed holds rates & signals \"patience\" <3\nSecond line 'quoted' café: story and again #macro");
    EXPECT_EQ(p.links, std::vector<std::string>{"https://example.com/a?x=1&y=2"});
    EXPECT_EQ(p.views, 937);
    EXPECT_EQ(p.date_ms, 1772366400000);
    EXPECT_EQ(p.media, media_kind::none);
    EXPECT_EQ(p.media_count, 0u);
}

TEST_F(RawPage, LeavesAReplysQuoteOutOfTextLinksAndMedia)
{
    const post& p = find_post(result, 102);
    EXPECT_EQ(p.text, "Reply body");
    EXPECT_TRUE(p.links.empty());
    EXPECT_EQ(p.media, media_kind::document);
    EXPECT_EQ(p.media_count, 1u);
    EXPECT_EQ(p.signature, "Jane Doe");
    EXPECT_EQ(p.views, 1200);
}

TEST_F(RawPage, TakesAnAlbumsFirstItemAsItsMedia)
{
    const post& p = find_post(result, 105);
    EXPECT_EQ(p.media, media_kind::video);
    EXPECT_EQ(p.media_count, 3u);
    EXPECT_EQ(p.last_id, 107);
    EXPECT_EQ(p.text, "Album caption, said once");
    EXPECT_EQ(p.views, 3400000);
}

TEST_F(RawPage, TellsAudioVoiceStickerAndAnimationApart)
{
    EXPECT_EQ(find_post(result, 108).media, media_kind::audio);
    EXPECT_EQ(find_post(result, 109).media, media_kind::voice);
    EXPECT_EQ(find_post(result, 109).media_count, 1u);  // the player and its <audio> are one item
    EXPECT_EQ(find_post(result, 110).media, media_kind::sticker);
    EXPECT_EQ(find_post(result, 110).media_count, 1u);
    EXPECT_EQ(find_post(result, 111).media, media_kind::animation);
    EXPECT_EQ(find_post(result, 111).text, "when the candle closes");
}

TEST_F(RawPage, ReadsAForwardFromAHiddenUserAndAPostWithoutViews)
{
    const post& p = find_post(result, 108);
    EXPECT_EQ(p.forwarded_from, "Hidden User");
    EXPECT_TRUE(p.forwarded_from_url.empty());
    EXPECT_FALSE(p.views.has_value());
    EXPECT_TRUE(p.text.empty());
}

TEST_F(RawPage, MarksServiceMessages)
{
    EXPECT_TRUE(find_post(result, 112).service);
    EXPECT_EQ(find_post(result, 112).text, "Channel photo updated");
    EXPECT_FALSE(find_post(result, 113).service);
}

TEST_F(RawPage, KeepsPreformattedTextAndReadsZoneOffsets)
{
    const post& p = find_post(result, 113);
    EXPECT_EQ(p.text, "Closing prices:\nBTC  68,000\nETH   3,500\nMore soon");
    EXPECT_EQ(p.links, std::vector<std::string>{"HTTPS://Example.org/Path"});
    EXPECT_EQ(p.date_iso, "2026-03-01T18:30:00+03:00");
    EXPECT_EQ(p.date_ms, 1772366400000 + 3 * 3600 * 1000 + 30 * 60 * 1000);  // 15:30Z
    EXPECT_EQ(p.views, 2000);
}

// ---------------------------------------------------------------------------------------
// Pages without posts

TEST(PageKinds, AChannelWithoutPostsIsEmpty)
{
    const page p = parse_page(fixture("empty_channel.html"), "quiet_channel");
    EXPECT_EQ(p.kind, page_kind::empty);
    EXPECT_EQ(p.channel_title, "Quiet Channel");
    EXPECT_TRUE(p.posts.empty());
    EXPECT_FALSE(p.min_id.has_value());
    EXPECT_FALSE(p.max_id.has_value());
    EXPECT_TRUE(p.error.empty());
}

TEST(PageKinds, ANameNobodyHasIsNoChannel)
{
    const page p = parse_page(fixture("no_channel.html"), "vs_no_such_channel");
    EXPECT_EQ(p.kind, page_kind::no_channel);
    EXPECT_EQ(p.error, "t.me has no channel @vs_no_such_channel");
    EXPECT_TRUE(p.posts.empty());

    parse_options redirected;  // a redirect does not hide that the name is free
    redirected.final_url = "https://t.me/vs_no_such_channel";
    EXPECT_EQ(parse_page(fixture("no_channel.html"), "vs_no_such_channel", redirected).kind, page_kind::no_channel);
}

TEST(PageKinds, ALandingPageWithATitleIsPreviewDisabled)
{
    const page p = parse_page(fixture("preview_disabled.html"), "vs_private_news");
    EXPECT_EQ(p.kind, page_kind::preview_disabled);
    EXPECT_EQ(p.channel_title, "Private News Desk");
    EXPECT_EQ(p.error, "@vs_private_news (\"Private News Desk\") has no public web preview");
}

TEST(PageKinds, AnythingElseIsInvalidWithAReason)
{
    for (const std::string_view input : {std::string_view{}, std::string_view{"not html at all"},
                                         std::string_view{"<html></html>"}, std::string_view{"\x01\x02\x03\xff", 4},
                                         std::string_view{"{\"ok\":true}"}}) {
        const page p = parse_page(input, "x");
        EXPECT_EQ(p.kind, page_kind::invalid) << "input: " << input;
        EXPECT_FALSE(p.error.empty()) << "input: " << input;
        EXPECT_TRUE(p.posts.empty());
    }
}

// ---------------------------------------------------------------------------------------
// Size, encoding and nesting

TEST(Limits, ParsesATwoMegabytePageInBoundedTime)
{
    const std::string paragraph(900, 'a');
    std::string body;
    std::int64_t id = 1;
    while (body.size() < (std::size_t{2} << 20)) {
        body += make_post("big", id, "Post " + std::to_string(id) + "<br/>" + paragraph);
        id += 3;
    }
    const std::string html = make_page(body);
    ASSERT_GT(html.size(), std::size_t{2} << 20);

    const auto start = std::chrono::steady_clock::now();
    const page p = parse_page(html, "big");
    const auto elapsed = std::chrono::steady_clock::now() - start;

    ASSERT_EQ(p.kind, page_kind::ok) << p.error;
    EXPECT_EQ(p.posts.size(), static_cast<std::size_t>((id - 1) / 3));
    EXPECT_EQ(p.min_id, 1);
    EXPECT_EQ(p.max_id, id - 3);
    EXPECT_TRUE(std::is_sorted(p.posts.begin(), p.posts.end(), [](const post& a, const post& b) { return a.id < b.id; }));
    EXPECT_EQ(p.posts[1].text, "Post 4\n" + paragraph);
    EXPECT_EQ(p.posts[1].views, 1500);
    EXPECT_TRUE(p.warnings.empty());
    EXPECT_LT(elapsed, std::chrono::seconds{20});  // about 0.1 s optimised; sanitizer builds are slower
}

TEST(Limits, RefusesInputAboveTheLimit)
{
    const std::string html = make_page(std::string(std::size_t{5} << 20, 'x'));
    const page p = parse_page(html, "big");
    EXPECT_EQ(p.kind, page_kind::invalid);
    EXPECT_EQ(p.error, "input of " + std::to_string(html.size()) + " bytes is above the 4194304-byte limit");

    parse_options small;
    small.max_bytes = 1000;
    const std::string page_2k = make_page(make_post("c", 1, std::string(1500, 'y')));
    EXPECT_EQ(parse_page(page_2k, "c", small).kind, page_kind::invalid);
    EXPECT_EQ(parse_page(page_2k, "c").kind, page_kind::ok);
}

TEST(Limits, ReplacesInvalidUtf8AndKeepsTheRestOfThePage)
{
    // A stray Latin-1 byte, an overlong '/', a lone continuation byte, a UTF-16 surrogate, a NUL.
    const std::string bad = std::string{"Цена \xe9t\xc0\xaf"} + "\x80" + "\xed\xa0\x80" + std::string(1, '\0') + " ок";
    const std::string html = make_page(make_post("c", 1, bad) + make_post("c", 2, "Дальше всё цело"));
    const page p = parse_page(html, "c");
    ASSERT_EQ(p.kind, page_kind::ok) << p.error;
    ASSERT_EQ(p.posts.size(), 2u);
    const std::string r = "\xEF\xBF\xBD";  // U+FFFD
    EXPECT_EQ(p.posts[0].text, "Цена " + r + "t" + r + r + r + r + r + r + r + " ок");
    EXPECT_EQ(p.posts[1].text, "Дальше всё цело");  // not re-read as Latin-1
    EXPECT_TRUE(has_warning(p, "8 bytes of invalid UTF-8 (or NUL) replaced by U+FFFD"));
}

TEST(Limits, AnHtmlBombStopsAtLibxmlsDepthLimitWithAPartialResult)
{
    const std::size_t depth = 100'000;
    std::string bomb;
    bomb.reserve(depth * 11);
    for (std::size_t i = 0; i < depth; ++i) {
        bomb += "<div>";
    }
    bomb += "deep";
    for (std::size_t i = 0; i < depth; ++i) {
        bomb += "</div>";
    }

    const auto start = std::chrono::steady_clock::now();
    const page alone = parse_page(bomb, "c");
    const page inside = parse_page(make_page(make_post("c", 7, "before the bomb") + bomb + make_post("c", 8, "after")), "c");
    const auto elapsed = std::chrono::steady_clock::now() - start;

    EXPECT_EQ(alone.kind, page_kind::invalid);
    EXPECT_FALSE(alone.error.empty());
    EXPECT_TRUE(has_warning(alone, "parsing stopped early (Excessive depth in document: 256"));

    ASSERT_EQ(inside.kind, page_kind::ok) << inside.error;
    EXPECT_EQ(ids_of(inside), std::vector<std::int64_t>{7});  // what came after the bomb is not read
    EXPECT_EQ(inside.posts[0].text, "before the bomb");
    EXPECT_TRUE(has_warning(inside, "parsing stopped early"));
    EXPECT_LT(elapsed, std::chrono::seconds{10});
}

// ---------------------------------------------------------------------------------------
// Value readers

TEST(Values, ParsesViewsAsThePageRoundsThem)
{
    EXPECT_EQ(vs::news::parse_views("937"), 937);
    EXPECT_EQ(vs::news::parse_views("1.2K"), 1200);
    EXPECT_EQ(vs::news::parse_views("59.5K"), 59500);
    EXPECT_EQ(vs::news::parse_views("29.0K"), 29000);
    EXPECT_EQ(vs::news::parse_views("3.4M"), 3400000);
    EXPECT_EQ(vs::news::parse_views("1.25M"), 1250000);
    EXPECT_EQ(vs::news::parse_views(" 12k\n"), 12000);
    EXPECT_EQ(vs::news::parse_views("2B"), 2000000000);
    EXPECT_EQ(vs::news::parse_views("0"), 0);
    for (const char* bad : {"", "K", "1.", ".5K", "1.2.3K", "12X", "-5", "1,200", "1.2345K", "9999999999999"}) {
        EXPECT_FALSE(vs::news::parse_views(bad).has_value()) << bad;
    }
}

TEST(Values, ParsesIsoDatesToEpochMilliseconds)
{
    EXPECT_EQ(vs::news::parse_iso8601_ms("1970-01-01T00:00:00+00:00"), 0);
    EXPECT_EQ(vs::news::parse_iso8601_ms("2023-02-28T06:48:36+00:00"), 1677566916000);
    EXPECT_EQ(vs::news::parse_iso8601_ms("2023-02-28T06:48:36Z"), 1677566916000);
    EXPECT_EQ(vs::news::parse_iso8601_ms("2023-02-28T09:48:36+03:00"), 1677566916000);
    EXPECT_EQ(vs::news::parse_iso8601_ms("2023-02-28T01:48:36-0500"), 1677566916000);
    EXPECT_EQ(vs::news::parse_iso8601_ms("2023-02-28T06:48:36.250Z"), 1677566916250);
    EXPECT_EQ(vs::news::parse_iso8601_ms("2024-02-29T00:00:00Z"), 1709164800000);
    for (const char* bad : {"", "2023-02-28", "2023-02-28T06:48:36", "2023-02-30T00:00:00Z", "2023-13-01T00:00:00Z",
                            "2023-02-28T24:00:00Z", "2023-02-28T06:48:36+25:00", "2023-02-28T06:48:36.Z",
                            "2023-02-28T06:48:36+00:00 junk", "yyyy-02-28T06:48:36Z"}) {
        EXPECT_FALSE(vs::news::parse_iso8601_ms(bad).has_value()) << bad;
    }
}

TEST(Values, NamesKindsAsThePayloadDoes)
{
    EXPECT_STREQ(vs::news::to_string(media_kind::photo), "photo");
    EXPECT_STREQ(vs::news::to_string(media_kind::animation), "animation");
    EXPECT_STREQ(vs::news::to_string(media_kind::none), "");
    EXPECT_STREQ(vs::news::to_string(page_kind::preview_disabled), "preview_disabled");
    EXPECT_STREQ(vs::news::to_string(page_kind::no_channel), "no_channel");
}

}  // namespace
