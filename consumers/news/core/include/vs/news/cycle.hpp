#pragma once
// vs-news's decisions, without network, bus or LMDB (so unit tests drive them with pages):
// which channels and categories, what a channel's durable state is, which posts of a cycle
// are new or edited, and the backend payload of a batch.
//
// A cycle for one channel (collect()):
//   1. the newest page, `/s/<channel>`;
//   2. first run (no state): older pages (`?before=<smallest id>`) until `first_run_posts`
//      posts (the old script's "last 100"), oldest first;
//   3. otherwise the posts above the channel's last id. When the newest page does not reach
//      down to it, older pages follow (the page's own "load older" link) until one does, at
//      most `max_pages` requests in all; a backlog deeper than that is read forward from the
//      last id instead (`?before=<last id + 21>`: a page holds the 20 message ids below
//      `before`), so the oldest posts always go first and none is skipped;
//   4. at most `max_posts` new posts per cycle, the oldest; the rest wait for the next cycle;
//   5. edits: a post already forwarded whose text (or links) changed on the newest page is
//      forwarded again, once per change (the state keeps a hash of what was sent).
// The caller commits the batches and the new state in one transaction (the last id moves
// only with the posts it covers), so a crash between fetch and commit re-reads the same
// posts and nothing is lost or sent twice.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vs/news/parser.hpp"

namespace vs::news {

struct channel_config {
    std::string username;   ///< as configured ("marketfeed"); pages are asked for by it
    std::string category;   ///< "macro", "crypto", "general" or the operator's
};

/// The old script's category: marketfeed -> macro, watcherguru -> crypto, others general
/// (case-insensitive).
std::string default_category(std::string_view username);

/// TELEGRAM_CHANNELS ("marketfeed,watcherguru") with overrides
/// ("marketfeed:macro,mychannel:crypto"). Throws std::invalid_argument with the reason for a
/// name that is not a Telegram username (5-32 of a-z, 0-9, _), a duplicate, an empty list, or
/// an override of a channel not in the list.
std::vector<channel_config> parse_channels(std::string_view channels, std::string_view categories);

/// What vs-news keeps per channel (LMDB, key "channel/<username>").
struct channel_state {
    /// Highest message id forwarded (an album's last id); 0 = never polled (first run).
    std::int64_t last_id = 0;
    /// The Bot API id (-100<id>) once a page showed it; 0 until then.
    std::int64_t channel_id = 0;
    std::string title;
    /// Hash of the forwarded text and links of the newest forwarded posts (id ascending, at
    /// most 200): what an edit is compared with.
    std::vector<std::pair<std::int64_t, std::uint64_t>> sent;

    /// Compact JSON ({"v":1,"last_id":..,...}).
    std::string encode() const;
    /// nullopt (and `error` set) for anything encode() did not write.
    static std::optional<channel_state> decode(std::string_view bytes, std::string* error = nullptr);
};

/// The hash an edit is detected with (text and links).
std::uint64_t content_hash(const post& p);

/// One page request's outcome, as the fetcher saw it.
struct fetch_result {
    /// Set when a page arrived (HTTP 200, or a redirect away from /s/ judged as
    /// preview_disabled by the fetcher).
    std::optional<page> pg;
    /// Otherwise why not ("HTTP 503", "cannot connect to ...", "429 Too Many Requests").
    std::string error;
    /// A 429 or 503 with Retry-After: how long the channel must wait.
    std::optional<std::chrono::seconds> retry_after;
};

/// Fetches `/s/<channel>` (before empty) or `/s/<channel>?before=N`.
using fetch_fn = std::function<fetch_result(std::optional<std::int64_t> before)>;

struct cycle_limits {
    std::size_t first_run_posts = 100;
    std::size_t max_posts = 100;
    std::size_t max_pages = 12;
};

struct cycle_outcome {
    /// New posts, ascending id (at most max_posts).
    std::vector<post> fresh;
    /// Already forwarded posts whose text changed, ascending id.
    std::vector<post> edited;
    /// The state to commit with them (unchanged when the cycle failed).
    channel_state next;
    /// Empty when the channel answered; else what went wrong, for the log and the status
    /// ("preview disabled: ...", "no such channel", "HTTP 503", a parser error).
    std::string problem;
    std::optional<std::chrono::seconds> retry_after;
    /// New posts left for the next cycle (beyond max_posts), as far as seen.
    std::size_t left_for_next = 0;
    std::size_t requests = 0;
    std::vector<std::string> warnings;   ///< the parser's
};

/// One cycle of one channel (see the top of this file). Never throws for bad pages.
cycle_outcome collect(const channel_config& channel, const channel_state& state, const fetch_fn& fetch,
                      const cycle_limits& limits = {});

/// The backend payload of CONTRACTS 3.5 for these posts (at most 50 per call: the caller
/// batches): {"channel":{"id","username","title","category"},"messages":[{"id","text","date",
/// "sender_name","views","forwards","has_media","media_type","links"}]}. `date` is UTC ISO-8601
/// ending in Z; `forwards` is null (the preview has no forward count); `views` the page's
/// rounded figure or null; `text`, `sender_name`, `media_type` null when absent.
std::string ingest_payload(const channel_config& channel, const channel_state& state, const std::vector<post>& posts);

/// Splits posts into the backend's batches of `batch` (50) posts.
std::vector<std::vector<post>> batches(const std::vector<post>& posts, std::size_t batch = 50);

}  // namespace vs::news
