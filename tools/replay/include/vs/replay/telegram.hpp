#pragma once
// vs-replay's stand-in of Telegram's public channel web preview (`https://t.me/s/<channel>`),
// for vs-news's tests and the demo: channels with posts held in memory, served as pages in
// t.me's markup (the classes vs-news's parser reads, see consumers/news/parser), with the
// traps of the real site on demand.
//
//   GET /s/<channel>                 the newest 20 message ids of the channel (posts ascending,
//                                    a "load older" link with data-before=<smallest id>)
//   GET /s/<channel>?before=N        the 20 message ids below N (N-20 .. N-1), as t.me does
//   GET /<channel>                   t.me's landing page (where a disabled preview redirects)
//   GET /s/<unknown>                 200 with a landing page without a title, as t.me answers
//                                    for a name nobody has
//
// Control (POST unless noted; replies {"ok":true,...} or 4xx {"ok":false,"error":...}):
//   /_control/news/post?channel=C&text=T[&count=N][&media=photo|video|...][&link=URL]
//                      [&forwarded=NAME][&album=K]       adds N posts (new channels are created;
//                                                        an album takes K message ids)
//   /_control/news/edit?channel=C&id=N&text=T           changes a post's text
//   /_control/news/delete?channel=C&id=N                removes a post (its id becomes a gap)
//   /_control/news/throttle?channel=C&seconds=S         429 + Retry-After for that channel's pages
//                                                        during the next S seconds
//   /_control/news/disable?channel=C[&on=0]             302 to /<channel> (preview disabled)
//   /_control/news/broken?channel=C&count=N             the next N pages of C are cut in half
//   GET /_control/news/stats                            per channel: requests, 429s, posts, last id
//
// Thread rule: the server's single I/O thread calls everything (no locking needed).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vs/replay/rest.hpp"

namespace vs::replay {

struct telegram_config {
    /// Channels that exist at start, each with `initial_posts` posts (deterministic texts).
    std::vector<std::string> channels = {"marketfeed", "watcherguru"};
    int initial_posts = 30;
};

class telegram_pages {
public:
    explicit telegram_pages(telegram_config cfg, std::int64_t now_ms);
    ~telegram_pages();
    telegram_pages(const telegram_pages&) = delete;
    telegram_pages& operator=(const telegram_pages&) = delete;

    /// True for the paths served here (/s/..., /<name> landing pages are only asked for
    /// known channels or after a redirect: any single-segment path that is not a known route).
    static bool is_page_path(const std::string& path);
    /// GET of a page path.
    http_reply page(const request_target& t, std::int64_t now_ms);
    /// /_control/news/<action>.
    http_reply control(const std::string& action, const request_target& t, bool is_post, std::int64_t now_ms);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace vs::replay
