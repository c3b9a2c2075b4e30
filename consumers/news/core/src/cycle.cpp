#include "vs/news/cycle.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <boost/json.hpp>

#include "vs/common/clock.hpp"

namespace vs::news {
namespace {

constexpr std::size_t max_sent_hashes = 200;
constexpr std::int64_t ids_per_page = 20;

std::string lower(std::string_view s)
{
    std::string out{s};
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

std::string trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return std::string{s};
}

std::vector<std::string> split(std::string_view s, char sep)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        const auto end = s.find(sep, start);
        const auto item = trim(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (!item.empty()) {
            out.push_back(item);
        }
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    return out;
}

bool valid_username(std::string_view s)
{
    if (s.size() < 5 || s.size() > 32) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

std::uint64_t fnv1a(std::uint64_t h, std::string_view s)
{
    for (unsigned char c : s) {
        h = (h ^ c) * 1099511628211ULL;
    }
    return h;
}

std::string problem_of(const channel_config& ch, const page& p)
{
    switch (p.kind) {
    case page_kind::no_channel:
        return "no such channel @" + ch.username + " (t.me shows its contact page)";
    case page_kind::preview_disabled:
        return "@" + ch.username + " has no public preview (preview disabled, or not a channel)" +
               (p.error.empty() ? std::string{} : ": " + p.error);
    case page_kind::invalid:
        return "unreadable page of @" + ch.username + ": " + p.error;
    case page_kind::ok:
    case page_kind::empty:
        break;
    }
    return {};
}

}  // namespace

std::string default_category(std::string_view username)
{
    const auto u = lower(username);
    if (u == "marketfeed") {
        return "macro";
    }
    if (u == "watcherguru") {
        return "crypto";
    }
    return "general";
}

std::vector<channel_config> parse_channels(std::string_view channels, std::string_view categories)
{
    std::vector<channel_config> out;
    for (const auto& name : split(channels, ',')) {
        std::string username = name.front() == '@' ? name.substr(1) : name;
        if (!valid_username(username)) {
            throw std::invalid_argument("'" + name + "' is not a Telegram channel username (5-32 of a-z, 0-9, _)");
        }
        for (const auto& c : out) {
            if (lower(c.username) == lower(username)) {
                throw std::invalid_argument("channel '" + username + "' is listed twice");
            }
        }
        out.push_back({username, default_category(username)});
    }
    if (out.empty()) {
        throw std::invalid_argument("no channel to poll (TELEGRAM_CHANNELS is empty)");
    }
    for (const auto& item : split(categories, ',')) {
        const auto colon = item.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == item.size()) {
            throw std::invalid_argument("category override '" + item + "' is not <channel>:<category>");
        }
        const auto name = lower(trim(std::string_view{item}.substr(0, colon)));
        const auto category = trim(std::string_view{item}.substr(colon + 1));
        auto it = std::find_if(out.begin(), out.end(), [&](const channel_config& c) { return lower(c.username) == name; });
        if (it == out.end()) {
            throw std::invalid_argument("category override for '" + name + "', which is not in the channel list");
        }
        it->category = category;
    }
    return out;
}

std::string channel_state::encode() const
{
    boost::json::array hashes;
    for (const auto& [id, h] : sent) {
        hashes.push_back(boost::json::array{id, h});
    }
    boost::json::object o{{"v", 1}, {"last_id", last_id}, {"channel_id", channel_id}, {"title", title}, {"sent", hashes}};
    return boost::json::serialize(o);
}

std::optional<channel_state> channel_state::decode(std::string_view bytes, std::string* error)
{
    auto fail = [&](std::string why) -> std::optional<channel_state> {
        if (error != nullptr) {
            *error = std::move(why);
        }
        return std::nullopt;
    };
    boost::system::error_code ec;
    auto v = boost::json::parse(bytes, ec);
    if (ec || !v.is_object()) {
        return fail("not a JSON object");
    }
    const auto& o = v.as_object();
    const auto* version = o.if_contains("v");
    if (version == nullptr || !version->is_int64() || version->as_int64() != 1) {
        return fail("unknown state version");
    }
    channel_state s;
    const auto* last = o.if_contains("last_id");
    const auto* id = o.if_contains("channel_id");
    const auto* title = o.if_contains("title");
    const auto* sent = o.if_contains("sent");
    if (last == nullptr || !last->is_int64() || last->as_int64() < 0 || id == nullptr || !id->is_int64() ||
        title == nullptr || !title->is_string() || sent == nullptr || !sent->is_array()) {
        return fail("missing or mistyped last_id, channel_id, title or sent");
    }
    s.last_id = last->as_int64();
    if (s.last_id > (std::int64_t{1} << 53)) {
        return fail("last_id out of range");
    }
    s.channel_id = id->as_int64();
    s.title = std::string{title->as_string()};
    for (const auto& item : sent->as_array()) {
        const auto* pair = item.if_array();
        if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_int64() ||
            !((*pair)[1].is_uint64() || (*pair)[1].is_int64())) {
            return fail("malformed sent entry");
        }
        const auto h = (*pair)[1].is_uint64() ? (*pair)[1].as_uint64() : static_cast<std::uint64_t>((*pair)[1].as_int64());
        s.sent.emplace_back((*pair)[0].as_int64(), h);
    }
    return s;
}

std::uint64_t content_hash(const post& p)
{
    std::uint64_t h = fnv1a(1469598103934665603ULL, p.text);
    for (const auto& link : p.links) {
        h = fnv1a(fnv1a(h, "\n"), link);
    }
    return h;
}

cycle_outcome collect(const channel_config& channel, const channel_state& state, const fetch_fn& fetch,
                      const cycle_limits& limits)
{
    cycle_outcome out;
    out.next = state;
    std::map<std::int64_t, post> seen;
    // One request; nullopt (and out.problem set) when it gave no usable page.
    auto get = [&](std::optional<std::int64_t> before) -> std::optional<page> {
        ++out.requests;
        auto r = fetch(before);
        if (!r.pg) {
            out.problem = r.error.empty() ? std::string{"no answer"} : r.error;
            out.retry_after = r.retry_after;
            return std::nullopt;
        }
        for (auto& w : r.pg->warnings) {
            out.warnings.push_back(std::move(w));
        }
        if (r.pg->kind != page_kind::ok && r.pg->kind != page_kind::empty) {
            out.problem = problem_of(channel, *r.pg);
            return std::nullopt;
        }
        if (r.pg->truncated && before) {
            // An older page cut short lacks its newest posts, which lie below posts already
            // seen: going on would move the last id past them. The cycle is read again.
            out.problem = "a page of @" + channel.username + " (before=" + std::to_string(*before) +
                          ") was cut short; the cycle is repeated";
            return std::nullopt;
        }
        for (auto& p : r.pg->posts) {
            seen.emplace(p.id, p);
        }
        return r.pg;
    };

    auto newest = get(std::nullopt);
    if (!newest) {
        return out;
    }
    if (!newest->channel_title.empty()) {
        out.next.title = newest->channel_title;
    }
    if (newest->channel_id) {
        out.next.channel_id = bot_api_chat_id(*newest->channel_id);
    }
    if (newest->kind == page_kind::empty) {
        return out;
    }

    // Edits: forwarded posts of the newest page whose content changed since.
    for (const auto& p : newest->posts) {
        if (p.id > state.last_id) {
            continue;
        }
        auto it = std::find_if(out.next.sent.begin(), out.next.sent.end(), [&](const auto& e) { return e.first == p.id; });
        if (it != out.next.sent.end() && it->second != content_hash(p) && !p.service) {
            it->second = content_hash(p);
            out.edited.push_back(p);
        }
    }

    std::int64_t covered_below = INT64_MAX;  // new posts are those with last_id < id < covered_below
    if (state.last_id == 0) {
        auto older = newest->older_before;
        while (seen.size() < limits.first_run_posts && older && out.requests < limits.max_pages) {
            auto pg = get(*older);
            if (!pg) {
                out.edited.clear();
                out.next = state;
                return out;  // retried whole next cycle: never a first run with a hole
            }
            if (pg->kind == page_kind::empty) {
                // 20 deleted ids in a row: older posts may still exist below them.
                if (*older - ids_per_page > 1) {
                    older = *older - ids_per_page;
                    continue;
                }
                break;
            }
            if (!pg->older_before || *pg->older_before >= *older) {
                break;
            }
            older = pg->older_before;
        }
    } else if (newest->min_id && *newest->min_id > state.last_id + 1 && newest->older_before) {
        bool reached = false;
        auto older = newest->older_before;
        while (!reached && out.requests < limits.max_pages) {
            auto pg = get(*older);
            if (!pg) {
                out.edited.clear();
                out.next = state;
                return out;
            }
            if (pg->kind == page_kind::empty || !pg->min_id) {
                // A window of 20 deleted ids: new posts may still lie below it.
                if (*older - ids_per_page > state.last_id + 1) {
                    older = *older - ids_per_page;
                } else {
                    reached = true;
                }
            } else if (*pg->min_id <= state.last_id + 1 || !pg->older_before) {
                reached = true;
            } else if (*pg->older_before >= *older) {
                out.edited.clear();
                out.next = state;
                out.problem = "the pages of @" + channel.username + " do not go back (before=" +
                              std::to_string(*older) + " links to " + std::to_string(*pg->older_before) + ")";
                return out;
            } else {
                older = pg->older_before;
            }
        }
        if (!reached) {
            // Deeper than max_pages: read forward from the last id, so the oldest go first.
            std::int64_t before = state.last_id + 1 + ids_per_page;
            std::size_t found = 0;
            // Enough requests for max_posts however few max_pages allows.
            const std::size_t budget =
                out.requests + std::max(limits.max_pages, limits.max_posts / static_cast<std::size_t>(ids_per_page) + 1);
            while (found < limits.max_posts && out.requests < budget && before - ids_per_page < *newest->min_id) {
                auto pg = get(before);
                if (!pg) {
                    out.edited.clear();
                    out.next = state;
                    return out;
                }
                found = static_cast<std::size_t>(std::count_if(seen.begin(), seen.lower_bound(before), [&](const auto& e) {
                    return e.first > state.last_id;
                }));
                before += ids_per_page;
            }
            covered_below = before - ids_per_page;
            if (covered_below >= *newest->min_id) {
                covered_below = INT64_MAX;
            }
        }
    }

    std::vector<post> candidates;
    for (auto& [id, p] : seen) {
        if (id > state.last_id && id < covered_below) {
            candidates.push_back(std::move(p));
        }
    }
    if (state.last_id == 0 && candidates.size() > limits.first_run_posts) {
        candidates.erase(candidates.begin(), candidates.end() - static_cast<std::ptrdiff_t>(limits.first_run_posts));
    }
    if (candidates.size() > limits.max_posts) {
        out.left_for_next = candidates.size() - limits.max_posts;
        candidates.resize(limits.max_posts);
    }
    std::int64_t last = state.last_id;
    for (auto& p : candidates) {
        last = std::max({last, p.id, p.last_id});
        if (p.service) {
            continue;  // as the old script: service messages are not news
        }
        out.next.sent.emplace_back(p.id, content_hash(p));
        out.fresh.push_back(std::move(p));
    }
    if (candidates.empty() && covered_below != INT64_MAX) {
        last = std::max(last, covered_below - 1);  // a forward window of deleted ids: move past it
    }
    if (covered_below != INT64_MAX) {
        out.left_for_next = std::max<std::size_t>(out.left_for_next, 1);   // still catching up: go on at once
    }
    if (state.last_id == 0 && !seen.empty()) {
        // A first run (even with first_run_posts 0) starts after the newest post seen.
        last = std::max(last, std::prev(seen.end())->second.last_id);
        last = std::max(last, std::prev(seen.end())->first);
    }
    out.next.last_id = last;
    std::sort(out.next.sent.begin(), out.next.sent.end());
    if (out.next.sent.size() > max_sent_hashes) {
        out.next.sent.erase(out.next.sent.begin(),
                            out.next.sent.end() - static_cast<std::ptrdiff_t>(max_sent_hashes));
    }
    return out;
}

std::string ingest_payload(const channel_config& channel, const channel_state& state, const std::vector<post>& posts)
{
    boost::json::array messages;
    for (const auto& p : posts) {
        boost::json::array links;
        for (const auto& l : p.links) {
            links.emplace_back(l);
        }
        boost::json::object m;
        m["id"] = p.id;
        m["text"] = p.text.empty() ? boost::json::value{} : boost::json::value(p.text);
        // Telegram's dates start in 2013; a date outside 2013..2100 (a broken page) would
        // make the backend refuse the whole batch: the time it was read stands in for it.
        const bool sane = p.date_ms >= 1'356'998'400'000 && p.date_ms < 4'102'444'800'000;
        m["date"] = vs::utc_iso8601((sane ? p.date_ms : vs::realtime_ms()) * 1'000'000);
        // A channel post's sender, as Pyrogram gave it (sender_chat.title): the name on the post.
        const std::string& sender = p.author.empty() ? state.title : p.author;
        m["sender_name"] = sender.empty() ? boost::json::value{} : boost::json::value(sender);
        m["views"] = p.views ? boost::json::value(*p.views) : boost::json::value{};
        m["forwards"] = nullptr;
        m["has_media"] = p.media != media_kind::none;
        m["media_type"] = p.media == media_kind::none ? boost::json::value{} : boost::json::value(to_string(p.media));
        m["links"] = std::move(links);
        messages.push_back(std::move(m));
    }
    boost::json::object ch{{"id", state.channel_id},
                           {"username", channel.username},
                           {"title", state.title.empty() ? channel.username : state.title},
                           {"category", channel.category}};
    return boost::json::serialize(boost::json::object{{"channel", std::move(ch)}, {"messages", std::move(messages)}});
}

std::vector<std::vector<post>> batches(const std::vector<post>& posts, std::size_t batch)
{
    std::vector<std::vector<post>> out;
    for (std::size_t i = 0; i < posts.size(); i += batch) {
        out.emplace_back(posts.begin() + static_cast<std::ptrdiff_t>(i),
                         posts.begin() + static_cast<std::ptrdiff_t>(std::min(posts.size(), i + batch)));
    }
    return out;
}

}  // namespace vs::news
