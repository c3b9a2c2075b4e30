#pragma once
// The parser of Telegram's public channel web preview, `https://t.me/s/<channel>` (and
// `?before=<id>` for older pages), for vs-news (issue 16): one HTML page in, the channel's
// title and the page's posts out. No network, no state: fetching, paging and deciding what is
// new belong to the caller.
//
// Why libxml2's HTML parser (Debian libxml2-dev 2.9.14): it is maintained and everywhere, it
// recovers from broken markup the way browsers do (truncated pages, stray tags), it decodes
// every HTML entity in text and attributes, and its XPath engine lets the code say which
// element it wants by class, not by matching text of the page. It is bounded: the document is
// read with HTML_PARSE_NONET|HTML_PARSE_NOERROR|HTML_PARSE_NOWARNING|HTML_PARSE_RECOVER and
// deliberately without HTML_PARSE_HUGE, so libxml2 keeps its own limits (elements nested
// deeper than 256 stop the parse; no text node above 10 MB). Input above
// parse_options::max_bytes is refused before libxml2 sees it.
//
// What a post is on the page: one `tgme_widget_message` element carrying
// data-post="<channel>/<id>". A page covers 20 message ids, not 20 posts: an album is one post
// under its first id (its other ids appear only in its items' links, see post::last_id) and
// deleted ids leave gaps. What each field is read from is written next to it below.
//
// What the page does not have: a forward count (the payload's `forwards` is null; there is
// no field here), exact views (the page shows "37.2K": views is that figure, 37200), and
// anything of a post older than the page.
//
// Page kinds, judged on the content (a missing channel still answers 200):
//   ok                a channel preview page with at least one post;
//   empty             a channel preview page without posts (a new channel, or `?before=1`);
//   no_channel        t.me's "contact @name" landing page without a title: nobody has the name;
//   preview_disabled  t.me's landing page with a title (the name exists but has no public
//                     preview: preview disabled, or a user or bot), or parse_options::final_url
//                     says the request was redirected away from /s/;
//   invalid           anything else (too large, not HTML of t.me, or no complete post).
// no_channel and preview_disabled are states for the caller to report and retry later, never
// "no new posts".
//
// Partial results: a post whose date is missing (the page was cut inside it: the date is the
// last thing of a post) or whose id is unusable is left out and a warning says so; the other
// posts are kept. Invalid UTF-8 is replaced by U+FFFD (with a warning) before parsing, because
// libxml2 would otherwise re-read the whole document as Latin-1.
//
// Threads: parse_page() may run on several threads at once (libxml2 is initialised once).
// Errors: parse_page() never throws; out of memory gives kind invalid. Memory: libxml2's tree
// takes about ten times the input, so at most ~40 MB for the default 4 MiB limit.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vs::news {

enum class page_kind : std::uint8_t { ok, empty, no_channel, preview_disabled, invalid };

/// The payload's media_type values, plus none.
enum class media_kind : std::uint8_t { none, photo, video, document, audio, voice, sticker, animation };

struct post {
    /// From data-post="<channel>/<id>"; an album's first message id.
    std::int64_t id = 0;
    /// An album's last message id (from its items' "<channel>/<n>?single" links); id otherwise.
    std::int64_t last_id = 0;
    /// The first tgme_widget_message_text of the post (an album's caption once, though the
    /// markup nests it twice; never a reply's quote): entities decoded, <br> and block ends as
    /// '\n', other whitespace runs as one space (as a browser shows it), trimmed. Empty when
    /// the post has no text.
    std::string text;
    /// The footer's <time datetime=...>, as written ("2023-02-28T06:48:36+00:00"), and as
    /// milliseconds since the Unix epoch. Always present in a returned post.
    std::string date_iso;
    std::int64_t date_ms = 0;
    /// tgme_widget_message_views, rounded as the page shows it ("1.2K" -> 1200).
    std::optional<std::int64_t> views;
    /// tgme_widget_message_owner_name: the channel's name as shown on the post.
    std::string author;
    /// tgme_widget_message_from_author: the post's signature, when the channel signs posts.
    std::string signature;
    /// tgme_widget_message_forwarded_from_name and its link; empty when not forwarded (or,
    /// for the URL, when the source is a hidden user).
    std::string forwarded_from;
    std::string forwarded_from_url;
    /// The first media item in the post's markup, which is the media of the message `id`
    /// (an album's first item); none for text-only posts (a link preview is not media).
    media_kind media = media_kind::none;
    /// How many media items (an album's size; 1 for a single photo; 0 without media).
    std::size_t media_count = 0;
    /// The http(s) links of the text's anchors, then the link preview's, in page order, each
    /// once (exact text, entity-decoded). Telegram's own hashtag searches ("?q=%23...") are
    /// not links of the post and are left out; the hashtag stays in the text.
    std::vector<std::string> links;
    /// A service message (pinned, photo changed, ...): class service_message.
    bool service = false;
};

struct page {
    page_kind kind = page_kind::invalid;
    /// tgme_channel_info_header_title (else the header's title, else og:title); for
    /// preview_disabled the landing page's title. May be empty (a page fragment).
    std::string channel_title;
    /// The channel's numeric id, when the page shows it: only inside each post's data-view
    /// attribute (base64url JSON {"c":-<id>,...}, Telegram's view counter). Positive, as in
    /// MTProto; bot_api_chat_id() gives the Bot API form (-100<id>).
    std::optional<std::int64_t> channel_id;
    /// Ascending id, each id once.
    std::vector<post> posts;
    /// Smallest and largest post id: request `?before=<min_id>` for the page before this one.
    std::optional<std::int64_t> min_id;
    std::optional<std::int64_t> max_id;
    /// The page's own "load older" link (data-before of tme_messages_more); absent when the
    /// page reaches the channel's first post.
    std::optional<std::int64_t> older_before;
    /// Why the kind is not ok/empty ("input of 5000000 bytes is above the 4194304-byte
    /// limit", ...); empty for ok and empty.
    std::string error;
    /// What was repaired or left out while still giving a result (posts dropped, invalid
    /// UTF-8 replaced, parse stopped by the nesting limit).
    std::vector<std::string> warnings;
    /// The page ended before </html> (a cut transfer): its newest posts may be missing.
    bool truncated = false;
};

struct parse_options {
    /// Larger input is refused (kind invalid) before parsing.
    std::size_t max_bytes = std::size_t{4} << 20;
    /// The URL the page was finally read from, after redirects; empty when unknown. A URL
    /// whose path does not start with /s/ means Telegram redirected to the landing page:
    /// preview_disabled (or no_channel, when the content says so).
    std::string_view final_url;
};

/// Parses one t.me/s/<channel> page. `channel` is the username asked for (case-insensitive);
/// posts of another channel are left out (with a warning); empty: any. Never throws.
page parse_page(std::string_view html, std::string_view channel, const parse_options& options = {}) noexcept;

/// "1234" -> 1234, "1.2K" -> 1200, "59.5K" -> 59500, "3.4M" -> 3400000, "1B" -> 10^9
/// (surrounding whitespace allowed, suffix either case); nullopt for anything else.
std::optional<std::int64_t> parse_views(std::string_view text) noexcept;

/// "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM|+HHMM]" -> milliseconds since the Unix epoch;
/// nullopt when malformed or out of range.
std::optional<std::int64_t> parse_iso8601_ms(std::string_view text) noexcept;

/// 1084368520 -> -1001084368520, the id the Bot API (and Pyrogram) use for the channel.
constexpr std::int64_t bot_api_chat_id(std::int64_t channel_id) noexcept
{
    return -1'000'000'000'000 - channel_id;
}

/// "ok", "empty", "no_channel", "preview_disabled", "invalid".
const char* to_string(page_kind k) noexcept;
/// "photo", "video", ..., and "" for none (the payload's null).
const char* to_string(media_kind k) noexcept;

}  // namespace vs::news
