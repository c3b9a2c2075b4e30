#pragma once
// The set of trading USDⓈ-M USDT perpetuals, from REST `exchangeInfo`, refreshed at start and
// every few minutes on a thread of its own (the only blocking REST caller of vs-feed), and
// handed to the feed's I/O thread as a whole set plus what changed. This is the reusable
// piece other parts of vs-feed build on: the kline connection group subscribes what it adds
// and unsubscribes what it removes; marking delisted symbols on the bus (issue 19) can take
// the same `universe_update`.
//
//   universe_refresher r{io, rest_options, {.period = 300s}, [&](const universe_update& u) {
//       group.set_symbols(u.symbols);          // on io's thread
//   }};
//   r.start();
//   r.request_klines({"BTCUSDT"});             // REST klines?interval=1h&limit=2, paced
//
// Rules (CONTRACTS 3.2, the old scripts' active_perps()): contractType == "PERPETUAL",
// quoteAsset == "USDT", status == "TRADING". A failed request, an unparsable body or an
// empty list never becomes an update: the last good set stays (an empty universe would
// unsubscribe everything, the way an empty post wiped the backend's table).
//
// Funding intervals (issue 18): the same refresh also asks `GET /fapi/v1/fundingInfo`, which
// lists only the symbols whose funding parameters were adjusted (fundingIntervalHours 1, 2,
// 4 ...); every other perpetual of exchangeInfo settles every 8 h. The table of both (symbol
// -> hours) goes to on_funding() whenever it changes; before the first fundingInfo reply
// there is none (every interval unknown, 0). A failed or unusable fundingInfo keeps the last
// one (retried after `retry`); an entry with a missing symbol or an interval outside 1..24 h
// is skipped, counted and logged.
//
// The same thread also runs the paced REST kline requests of the kline bootstrap (weight 1
// each, through the host-wide weight budget: vs/net/binance_rest.hpp), so vs-feed has one
// REST client and one place that waits for the budget.
//
// Threads: the callbacks run on the io_context's thread (posted); request_klines() and
// stop() may be called from any thread. Errors: the constructor throws std::runtime_error
// when the weight budget cannot be attached; nothing throws afterwards (failures are
// logged and counted).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "vs/net/binance_rest.hpp"

namespace vs::feed {

/// Symbols (sorted, unique) of trading USDT perpetuals in an exchangeInfo body; nullopt
/// with `error` set when the body is not JSON with a "symbols" array.
std::optional<std::vector<std::string>> parse_trading_usdt_perpetuals(std::string_view body, std::string& error);

struct universe_update {
    std::vector<std::string> symbols;   ///< the whole set, sorted
    std::vector<std::string> added;     ///< new since the previous update (all at the first)
    std::vector<std::string> removed;   ///< gone since the previous update (delisted, halted)
    std::int64_t fetched_ms = 0;        ///< CLOCK_REALTIME of the reply
    bool first = false;                 ///< the first update of this process
    /// Every symbol of exchangeInfo (any contract type) with its status, sorted by symbol:
    /// a symbol absent from it, or not "TRADING", is delisted (issue 19).
    std::vector<std::pair<std::string, std::string>> statuses;
};

/// Every symbol of an exchangeInfo body with its "status", sorted by symbol; nullopt with
/// `error` set when the body is not JSON with a "symbols" array.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_symbol_statuses(std::string_view body,
                                                                                        std::string& error);

/// `before` and `after` sorted: what `after` adds and removes.
void diff_sorted(const std::vector<std::string>& before, const std::vector<std::string>& after,
                 std::vector<std::string>& added, std::vector<std::string>& removed);

/// One hourly candle from REST klines (field 7 is the quote volume).
struct rest_kline {
    std::int64_t open_ms = 0, close_ms = 0;
    double open = 0, high = 0, low = 0, close = 0, volume = 0, quote_volume = 0;
    std::int64_t trades = 0;
    double taker_buy_volume = 0, taker_buy_quote_volume = 0;
};

/// Parses a REST klines reply ([[openTime,"o","h","l","c","v",closeTime,"q",n,"V","Q","0"],..]);
/// nullopt with `error` on another shape.
std::optional<std::vector<rest_kline>> parse_rest_klines(std::string_view body, std::string& error);

/// Every perpetual (contractType PERPETUAL, TRADIFI_PERPETUAL, ...: any status, any quote
/// asset) of an exchangeInfo body, sorted; nullopt with `error` when it has no "symbols" array.
std::optional<std::vector<std::string>> parse_perpetuals(std::string_view body, std::string& error);

/// Funding intervals (hours) of a fundingInfo body
/// ([{"symbol","adjustedFundingRateCap","adjustedFundingRateFloor","fundingIntervalHours",
/// "disclaimer"}, ...]), sorted by symbol. Entries without a symbol or with an interval that is
/// not a whole number of hours in 1..24 are skipped: counted in `bad`, the first named in
/// `bad_detail`. nullopt with `error` when the body is not a JSON array.
std::optional<std::vector<std::pair<std::string, std::uint8_t>>> parse_funding_info(std::string_view body,
                                                                                      std::string& error,
                                                                                      std::size_t& bad,
                                                                                      std::string& bad_detail);

/// Binance's funding interval of a perpetual that fundingInfo does not list.
inline constexpr std::uint8_t default_funding_interval_hours = 8;

/// The table vs-feed writes into MarkPrice records: every perpetual with its fundingInfo
/// interval, else 8; plus fundingInfo's entries exchangeInfo lacks. Both inputs and the
/// result sorted by symbol.
std::vector<std::pair<std::string, std::uint8_t>> compose_funding_intervals(
    const std::vector<std::string>& perpetuals, const std::vector<std::pair<std::string, std::uint8_t>>& adjusted);

struct universe_options {
    std::chrono::milliseconds period{300'000};        ///< exchangeInfo every this long
    std::chrono::milliseconds retry{30'000};          ///< after a failed refresh
    std::string kline_interval = "1h";
    int kline_limit = 2;
    double klines_per_second = 5;                     ///< pace of the bootstrap requests
};

struct universe_counters {
    std::atomic<std::uint64_t> refreshes{0}, refresh_failures{0}, kline_requests{0}, kline_failures{0};
    /// fundingInfo: usable replies, failed or unusable ones, entries skipped as bad.
    std::atomic<std::uint64_t> funding_refreshes{0}, funding_failures{0}, funding_bad_entries{0};
};

class universe_refresher {
public:
    using universe_fn = std::function<void(const universe_update&)>;
    /// symbol, candles (oldest first; empty when the request failed), reply time.
    using klines_fn = std::function<void(const std::string&, const std::vector<rest_kline>&, std::int64_t)>;
    /// The funding interval table (compose_funding_intervals), whenever it changes.
    using funding_fn = std::function<void(const std::vector<std::pair<std::string, std::uint8_t>>&)>;

    universe_refresher(boost::asio::io_context& io, vs::net::rest_options rest, universe_options options,
                       universe_fn on_universe, klines_fn on_klines);
    ~universe_refresher();   ///< stop() and join
    universe_refresher(const universe_refresher&) = delete;
    universe_refresher& operator=(const universe_refresher&) = delete;

    /// Asks fundingInfo with every exchangeInfo refresh and hands the table to `fn` (on io's
    /// thread). Call before start(); without it fundingInfo is never asked.
    void on_funding(funding_fn fn) { on_funding_ = std::move(fn); }

    void start();
    void stop() noexcept;
    /// Queues REST kline requests (duplicates of queued symbols are ignored).
    void request_klines(const std::vector<std::string>& symbols);
    std::size_t klines_queued() const;
    const universe_counters& counters() const noexcept { return counters_; }

private:
    void run();
    bool refresh();
    bool refresh_funding();
    void post_funding_if_changed();

    boost::asio::io_context& io_;
    vs::net::rest_options rest_options_;
    universe_options options_;
    universe_fn on_universe_;
    klines_fn on_klines_;
    funding_fn on_funding_;
    std::unique_ptr<vs::net::binance_rest> rest_;
    universe_counters counters_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::deque<std::string> queue_;
    std::vector<std::string> last_;
    bool have_last_ = false;
    // fundingInfo (the refresher's thread only)
    std::vector<std::string> perpetuals_;   ///< of the last usable exchangeInfo
    std::optional<std::vector<std::pair<std::string, std::uint8_t>>> adjusted_;   ///< last usable fundingInfo
    std::vector<std::pair<std::string, std::uint8_t>> posted_;   ///< the table last handed out
    bool have_posted_ = false;
    std::thread thread_;
};

}  // namespace vs::feed
