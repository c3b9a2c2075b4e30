#pragma once
// Symbols whose exchange values stay invalid (issue 19). Every MarkPrice row the parser
// rejects for its values (NaN, not positive, absurd) with a usable symbol is reported here,
// every accepted one too; a symbol whose rows have all been rejected for longer than the
// limit is "listed": vs-feed marks its MarkPrice record (invalid_since_ns, status_reason),
// names it in FeedStatus.invalid_symbols, and vs-api answers 503 for it instead of its old
// price. One accepted row forgets it.
//
// Threads: the feed's I/O thread only. Time: CLOCK_REALTIME ns given by the caller (tests
// pass their own).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vs::feed {

class symbol_health {
public:
    struct state {
        std::int64_t since_ns = 0;   ///< the first rejected row of the current run
        std::string reason;          ///< the last rejected row's error
        bool listed = false;         ///< invalid for longer than the limit
    };

    explicit symbol_health(std::int64_t invalid_after_ns) : invalid_after_ns_(invalid_after_ns) {}

    /// A MarkPrice row of `symbol` was rejected for its values (`why`) at `now_ns`.
    void on_rejected(std::string_view symbol, const char* why, std::int64_t now_ns);

    /// A MarkPrice row of `symbol` was accepted: forgotten. True when it was listed (the
    /// caller logs "valid again"). Costs nothing while no symbol is pending.
    bool on_accepted(std::string_view symbol)
    {
        return !pending_.empty() && forget(symbol);
    }

    /// Forgets `symbol` (delisted, or valid again); true when it was listed.
    bool forget(std::string_view symbol);

    /// Symbols invalid for longer than the limit that were not listed yet: listed now, and
    /// returned (sorted) so the caller marks them on the bus and logs them.
    std::vector<std::string> newly_listed(std::int64_t now_ns);

    const state* find(std::string_view symbol) const;
    /// Listed symbols, sorted; at most `max`.
    std::vector<std::string> listed(std::size_t max = SIZE_MAX) const;
    std::size_t listed_count() const noexcept { return listed_count_; }
    std::size_t pending_count() const noexcept { return pending_.size(); }
    std::int64_t invalid_after_ns() const noexcept { return invalid_after_ns_; }

private:
    std::int64_t invalid_after_ns_;
    std::map<std::string, state, std::less<>> pending_;
    std::size_t listed_count_ = 0;
};

}  // namespace vs::feed
