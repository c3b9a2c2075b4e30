#include "vs/replay/telegram.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace vs::replay {
namespace {

constexpr std::int64_t ids_per_page = 20;  // a t.me/s page covers 20 message ids

std::string jstr(std::string_view s) { return boost::json::serialize(boost::json::string(s.begin(), s.end())); }

http_reply ok_reply(const std::string& fields = {})
{
    http_reply r;
    r.body = fields.empty() ? std::string{"{\"ok\":true}"} : "{\"ok\":true," + fields + "}";
    return r;
}

http_reply error_reply(unsigned status, std::string_view msg)
{
    http_reply r;
    r.status = status;
    r.body = "{\"ok\":false,\"error\":" + jstr(msg) + "}";
    return r;
}

http_reply html_reply(unsigned status, std::string body)
{
    http_reply r;
    r.status = status;
    r.body = std::move(body);
    r.headers.emplace_back("Content-Type", "text/html; charset=utf-8");
    return r;
}

std::string escape(std::string_view s)
{
    std::string out;
    out.reserve(s.size() + s.size() / 8);
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string base64url(std::string_view in)
{
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (i + 1 == in.size()) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
    } else if (i + 2 == in.size()) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
    }
    return out;
}

std::string iso_utc(std::int64_t ms)
{
    const std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

/// The page's rounded figure: 937, "1.2K", "3.4M".
std::string views_text(std::int64_t v)
{
    if (v < 1000) {
        return std::to_string(v);
    }
    if (v < 1'000'000) {
        return fmt::format("{:.1f}K", static_cast<double>(v / 100) / 10.0);
    }
    return fmt::format("{:.1f}M", static_cast<double>(v / 100'000) / 10.0);
}

bool valid_channel_name(std::string_view s)
{
    if (s.size() < 5 || s.size() > 32) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

std::string lower(std::string s)
{
    for (auto& c : s) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return s;
}

struct post {
    std::int64_t id = 0;
    std::int64_t album = 1;  // message ids taken (an album: its items)
    std::string text;
    std::int64_t date_ms = 0;
    std::int64_t views = 0;
    std::string media;       // "", photo, video, animation, document, audio, voice, sticker
    std::string link;
    std::string forwarded;
};

struct channel {
    std::string name;
    std::string title;
    std::int64_t numeric_id = 0;
    std::vector<post> posts;         // ascending id
    std::int64_t next_id = 1;
    std::int64_t throttled_until_ms = 0;
    bool disabled = false;
    int broken_pages = 0;
    std::uint64_t requests = 0, throttled = 0;
};

std::string media_markup(const channel& c, const post& p)
{
    const std::string href = fmt::format("https://t.me/{}/{}", c.name, p.id);
    if (p.media.empty()) {
        return {};
    }
    if (p.album > 1) {
        std::string out = "<div class=\"tgme_widget_message_grouped_wrap\"><div class=\"tgme_widget_message_grouped\">";
        for (std::int64_t k = 0; k < p.album; ++k) {
            out += fmt::format(
                "<a class=\"tgme_widget_message_photo_wrap grouped_media_wrap\" href=\"https://t.me/{}/{}?single\"></a>",
                c.name, p.id + k);
        }
        return out + "</div></div>";
    }
    if (p.media == "photo") {
        return "<a class=\"tgme_widget_message_photo_wrap\" href=\"" + href + "\"></a>";
    }
    if (p.media == "video") {
        return "<a class=\"tgme_widget_message_video_player\" href=\"" + href + "\"></a>";
    }
    if (p.media == "animation") {
        return "<a class=\"tgme_widget_message_video_player js-message_gif\" href=\"" + href + "\"></a>";
    }
    if (p.media == "document") {
        return "<div class=\"tgme_widget_message_document_wrap\"><i class=\"tgme_widget_message_document_icon\"></i></div>";
    }
    if (p.media == "audio") {
        return "<div class=\"tgme_widget_message_document_wrap\"><i class=\"tgme_widget_message_document_icon audio\"></i></div>";
    }
    if (p.media == "voice") {
        return "<a class=\"tgme_widget_message_voice_player\"></a>";
    }
    return "<div class=\"tgme_widget_message_sticker_wrap\"></div>";
}

std::string post_markup(const channel& c, const post& p)
{
    const std::string view = base64url(fmt::format("{{\"c\":-{},\"p\":{},\"t\":{}}}", c.numeric_id, p.id, p.date_ms / 1000));
    std::string out = fmt::format(
        "<div class=\"tgme_widget_message_wrap js-widget_message_wrap\"><div class=\"tgme_widget_message "
        "text_not_supported_wrap js-widget_message\" data-post=\"{}/{}\" data-view=\"{}\"><div "
        "class=\"tgme_widget_message_bubble\">",
        c.name, p.id, view);
    if (!p.forwarded.empty()) {
        out += "<div class=\"tgme_widget_message_forwarded_from accent_color\">Forwarded from <a "
               "class=\"tgme_widget_message_forwarded_from_name\" href=\"https://t.me/forwarded_source\"><span dir=\"auto\">" +
               escape(p.forwarded) + "</span></a></div>";
    }
    out += "<div class=\"tgme_widget_message_author accent_color\"><a class=\"tgme_widget_message_owner_name\" "
           "href=\"https://t.me/" + c.name + "\"><span dir=\"auto\">" + escape(c.title) + "</span></a></div>";
    out += media_markup(c, p);
    if (!p.text.empty() || !p.link.empty()) {
        std::string text;
        for (char ch : p.text) {
            text += ch == '\n' ? std::string{"<br/>"} : escape(std::string_view{&ch, 1});
        }
        if (!p.link.empty()) {
            text += " <a href=\"" + escape(p.link) + "\" target=\"_blank\" rel=\"noopener\">" + escape(p.link) + "</a>";
        }
        out += "<div class=\"tgme_widget_message_text js-message_text\" dir=\"auto\">" + text + "</div>";
    }
    out += fmt::format(
        "<div class=\"tgme_widget_message_footer compact js-message_footer\"><div class=\"tgme_widget_message_info "
        "short js-message_info\"><span class=\"tgme_widget_message_views\">{}</span><span class=\"copyonly\"> "
        "views</span><span class=\"tgme_widget_message_meta\"><a class=\"tgme_widget_message_date\" "
        "href=\"https://t.me/{}/{}\"><time datetime=\"{}\" class=\"time\">{}</time></a></span></div></div>",
        views_text(p.views), c.name, p.id, iso_utc(p.date_ms), iso_utc(p.date_ms).substr(11, 5));
    out += "</div></div></div>\n";
    return out;
}

std::string landing_page(std::string_view name, const std::string* title)
{
    std::string out = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Telegram: Contact @" +
                      escape(name) + "</title></head><body><div class=\"tgme_page_wrap\"><div class=\"tgme_page\">";
    if (title != nullptr) {
        out += "<div class=\"tgme_page_title\"><span dir=\"auto\">" + escape(*title) + "</span></div>";
    }
    out += "<div class=\"tgme_page_extra\">@" + escape(name) + "</div></div></div></body></html>\n";
    return out;
}

}  // namespace

struct telegram_pages::impl {
    std::map<std::string, channel> channels;  // by lower-case name

    channel& create(const std::string& name, std::int64_t now_ms)
    {
        auto& c = channels[lower(name)];
        if (c.name.empty()) {
            c.name = name;
            std::string title = name;
            title[0] = static_cast<char>(title[0] >= 'a' && title[0] <= 'z' ? title[0] - 'a' + 'A' : title[0]);
            c.title = title + " (replay)";
            std::uint64_t h = 1469598103934665603ULL;
            for (char ch : c.name) {
                h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
            }
            c.numeric_id = 1'000'000'000 + static_cast<std::int64_t>(h % 900'000'000);
            (void)now_ms;
        }
        return c;
    }

    channel* find(const std::string& name)
    {
        auto it = channels.find(lower(name));
        return it == channels.end() ? nullptr : &it->second;
    }

    post& add(channel& c, std::string text, std::int64_t now_ms)
    {
        post p;
        p.id = c.next_id;
        p.text = std::move(text);
        p.date_ms = now_ms;
        p.views = 100 + (p.id * 7919) % 50'000;
        c.posts.push_back(std::move(p));
        c.next_id += 1;
        return c.posts.back();
    }

    http_reply page_of(channel& c, std::optional<std::int64_t> before)
    {
        const std::int64_t top = before ? *before - 1 : c.next_id - 1;
        const std::int64_t bottom = std::max<std::int64_t>(1, top - ids_per_page + 1);
        std::string body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + escape(c.title) +
                           " – Telegram</title><meta property=\"og:title\" content=\"" + escape(c.title) +
                           "\"></head><body class=\"widget_frame_base tgme_webpreview\"><div class=\"tgme_channel_info\">"
                           "<div class=\"tgme_channel_info_header\"><div class=\"tgme_channel_info_header_title\"><span "
                           "dir=\"auto\">" + escape(c.title) + "</span></div></div></div><main class=\"tgme_main\">"
                           "<section class=\"tgme_channel_history js-message_history\">";
        std::string posts;
        std::int64_t smallest = 0;
        for (const auto& p : c.posts) {
            if (p.id >= bottom && p.id <= top) {
                posts += post_markup(c, p);
                smallest = smallest == 0 ? p.id : smallest;
            }
        }
        if (smallest > 1) {
            body += fmt::format("<div class=\"tgme_widget_message_centered js-messages_more_wrap\"><a "
                                "href=\"/s/{}?before={}\" class=\"tme_messages_more js-messages_more\" "
                                "data-before=\"{}\"></a></div>\n",
                                c.name, smallest, smallest);
        }
        body += posts + "</section></main></body></html>\n";
        if (c.broken_pages > 0) {
            --c.broken_pages;
            body.resize(body.size() / 2);
        }
        return html_reply(200, std::move(body));
    }
};

telegram_pages::telegram_pages(telegram_config cfg, std::int64_t now_ms) : impl_(std::make_unique<impl>())
{
    for (const auto& name : cfg.channels) {
        if (!valid_channel_name(name)) {
            throw std::runtime_error("not a Telegram channel name: '" + name + "' (5-32 of a-z, 0-9, _)");
        }
        auto& c = impl_->create(name, now_ms);
        for (int k = 0; k < cfg.initial_posts; ++k) {
            auto& p = impl_->add(c, fmt::format("{} headline {}: markets steady ahead of the data", c.name, k + 1),
                                 now_ms - static_cast<std::int64_t>(cfg.initial_posts - k) * 60'000);
            if (k % 5 == 4) {
                p.media = "photo";
            }
        }
    }
}

telegram_pages::~telegram_pages() = default;

bool telegram_pages::is_page_path(const std::string& path)
{
    if (path.rfind("/s/", 0) == 0) {
        return true;
    }
    return path.size() > 1 && path.find('/', 1) == std::string::npos && path.rfind("/_", 0) != 0;
}

http_reply telegram_pages::page(const request_target& t, std::int64_t now_ms)
{
    const bool preview = t.path.rfind("/s/", 0) == 0;
    const std::string name = t.path.substr(preview ? 3 : 1);
    channel* c = impl_->find(name);
    if (!preview) {
        return html_reply(200, landing_page(name, c == nullptr ? nullptr : &c->title));
    }
    if (c == nullptr) {
        return html_reply(200, landing_page(name, nullptr));  // t.me answers 200 for nobody's name
    }
    ++c->requests;
    if (now_ms < c->throttled_until_ms) {
        ++c->throttled;
        http_reply r = html_reply(429, "Too Many Requests");
        r.headers.emplace_back("Retry-After", std::to_string((c->throttled_until_ms - now_ms + 999) / 1000));
        return r;
    }
    if (c->disabled) {
        http_reply r = html_reply(302, {});
        r.headers.emplace_back("Location", "/" + c->name);
        return r;
    }
    std::optional<std::int64_t> before;
    if (const auto* b = t.param("before")) {
        try {
            before = std::stoll(*b);
        } catch (const std::exception&) {
            before.reset();
        }
        if (!before || *before < 1) {
            return html_reply(400, "bad before");
        }
    }
    return impl_->page_of(*c, before);
}

http_reply telegram_pages::control(const std::string& action, const request_target& t, bool is_post, std::int64_t now_ms)
{
    if (action == "stats") {
        boost::json::object channels;
        for (const auto& [key, c] : impl_->channels) {
            channels[c.name] = boost::json::object{{"requests", c.requests},
                                                   {"throttled", c.throttled},
                                                   {"posts", c.posts.size()},
                                                   {"last_id", c.next_id - 1},
                                                   {"disabled", c.disabled}};
        }
        return ok_reply("\"channels\":" + boost::json::serialize(channels));
    }
    if (!is_post) {
        return error_reply(405, "use POST for /_control/news/" + action);
    }
    const auto* name = t.param("channel");
    if (name == nullptr || !valid_channel_name(*name)) {
        return error_reply(400, "give channel=<name> (5-32 of a-z, 0-9, _)");
    }
    auto number = [&](const char* key, std::int64_t def, std::int64_t lo, std::int64_t hi) -> std::optional<std::int64_t> {
        const auto* v = t.param(key);
        if (v == nullptr) {
            return def;
        }
        try {
            std::size_t used = 0;
            const auto x = std::stoll(*v, &used);
            if (used != v->size() || x < lo || x > hi) {
                return std::nullopt;
            }
            return x;
        } catch (const std::exception&) {
            return std::nullopt;
        }
    };
    if (action == "post") {
        const auto count = number("count", 1, 1, 5000);
        const auto album = number("album", 1, 1, 10);
        if (!count || !album) {
            return error_reply(400, "count must be 1..5000, album 1..10");
        }
        const auto* text = t.param("text");
        const auto* media = t.param("media");
        static const std::vector<std::string> kinds = {"photo", "video", "animation", "document", "audio", "voice", "sticker"};
        if (media != nullptr && std::find(kinds.begin(), kinds.end(), *media) == kinds.end()) {
            return error_reply(400, "media must be one of photo, video, animation, document, audio, voice, sticker");
        }
        auto& c = impl_->create(*name, now_ms);
        boost::json::array ids;
        for (std::int64_t k = 0; k < *count; ++k) {
            std::string body = text != nullptr ? *text : "breaking: replay post";
            if (*count > 1) {
                body += fmt::format(" #{}", k + 1);
            }
            auto& p = impl_->add(c, std::move(body), now_ms);
            if (media != nullptr) {
                p.media = *media;
            } else if (*album > 1) {
                p.media = "photo";
            }
            p.album = *album;
            c.next_id += *album - 1;
            if (const auto* link = t.param("link")) {
                p.link = *link;
            }
            if (const auto* fwd = t.param("forwarded")) {
                p.forwarded = *fwd;
            }
            ids.push_back(p.id);
        }
        return ok_reply("\"channel\":" + jstr(c.name) + ",\"ids\":" + boost::json::serialize(ids));
    }
    channel* c = impl_->find(*name);
    if (c == nullptr) {
        return error_reply(404, "no such channel: " + *name);
    }
    if (action == "edit" || action == "delete") {
        const auto id = number("id", 0, 1, INT64_MAX);
        auto it = std::find_if(c->posts.begin(), c->posts.end(), [&](const post& p) { return id && p.id == *id; });
        if (it == c->posts.end()) {
            return error_reply(404, "no such post");
        }
        if (action == "delete") {
            c->posts.erase(it);
            return ok_reply();
        }
        const auto* text = t.param("text");
        if (text == nullptr) {
            return error_reply(400, "give text=");
        }
        it->text = *text;
        return ok_reply("\"id\":" + std::to_string(it->id));
    }
    if (action == "throttle") {
        const auto seconds = number("seconds", 60, 0, 86'400);
        if (!seconds) {
            return error_reply(400, "seconds must be 0..86400");
        }
        c->throttled_until_ms = now_ms + *seconds * 1000;
        return ok_reply();
    }
    if (action == "disable") {
        const auto* on = t.param("on");
        c->disabled = on == nullptr || *on != "0";
        return ok_reply();
    }
    if (action == "broken") {
        const auto count = number("count", 1, 0, 1000);
        if (!count) {
            return error_reply(400, "count must be 0..1000");
        }
        c->broken_pages = static_cast<int>(*count);
        return ok_reply();
    }
    return error_reply(404, "no such control action: news/" + action);
}

}  // namespace vs::replay
