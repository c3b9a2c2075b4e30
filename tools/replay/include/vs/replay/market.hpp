#pragma once
// The synthetic Binance USDⓈ-M market behind vs-replay: N symbols with realistic names,
// prices that random-walk, funding rates with 1/2/4/8 h intervals, open interest, 24 h
// volumes and hourly candles, plus two COIN-M rows (st=2) and TradFi rows. It renders the
// exact JSON payloads Binance sends (prices as strings, ms times, the 2026 `st`/`ap`/`ps`
// keys) for the WebSocket streams and the REST routes.
//
// Thread rule: not thread-safe; vs-replay drives it from its single I/O thread. Every
// function is deterministic given the seed and the times passed in.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vs::replay {

/// One OHLCV candle; for COIN-M rows `volume` is contracts and `quote_volume` coins.
struct candle {
    std::int64_t open_ms = 0;
    double open = 0, high = 0, low = 0, close = 0;
    double volume = 0, quote_volume = 0, taker_volume = 0, taker_quote_volume = 0;
    std::int64_t trades = 0;
    std::int64_t first_trade_id = 0, last_trade_id = 0;
};

/// The values of one symbol exactly as last pushed on `!markPrice@arr` (number texts as in
/// the frame) and `!ticker@arr`, for `GET /_control/state`.
struct pushed_values {
    std::string mark, index, funding, quote_volume;
    std::int64_t next_funding_ms = 0;
    std::int64_t push_ms = 0;
};

struct symbol_state {
    // static description
    std::string name;    ///< e.g. "BTCUSDT", "币安人生USDT", "BTCUSD_PERP"
    std::string lower;   ///< stream prefix: ASCII-lowercased name
    std::string pair, base, quote;
    int st = 1;          ///< 1 = USDⓈ-M, 2 = COIN-M
    bool tradfi = false; ///< XAUUSDT and friends: pushed in their own markPrice frame
    int price_precision = 2, quantity_precision = 3;
    double contract_usd = 0; ///< COIN-M contract size in USD (100 BTC, 10 others)
    int funding_interval_h = 8;
    double daily_quote_volume = 0; ///< typical USDT traded per 24 h
    double change_probability = 0.5; ///< chance to appear in a `!ticker@arr` push

    // dynamic
    double mark = 0, index = 0, funding = 0, open_interest = 0;
    double last = 0;   ///< last trade price (ticker `c`)
    double basis = 0;  ///< (mark - index) / mark, mean-reverting
    double sigma = 0.0002; ///< per-sqrt-second volatility
    std::int64_t next_funding_ms = 0;
    bool price_pinned = false, funding_pinned = false, oi_pinned = false;
    bool oi_ramping = false;
    double ramp_from = 0, ramp_to = 0;
    std::int64_t ramp_start_ms = 0, ramp_end_ms = 0;
    double volume_factor = 1.0; ///< accrual multiplier for the current hour only
    std::deque<candle> hours;   ///< closed hourly candles, oldest first
    candle current;             ///< the open hourly candle
    std::optional<candle> just_closed; ///< set by step() when the hour rolled
    std::int64_t next_agg_id = 0;
    std::int64_t next_trade_id = 0;
    bool ticker_dirty = false;  ///< forced into the next `!ticker@arr` push
    double last_qty = 0;
    pushed_values pushed;
    /// Open interest at each 5-minute boundary since the start (openInterestHist), oldest first.
    std::deque<std::pair<std::int64_t, double>> oi_5m;
    /// 24 h quote volume pinned by `/_control/set?quote_volume=` (< 0: from the candles).
    double pinned_quote_volume_24h = -1;
    /// Its status in exchangeInfo (`/_control/status`); empty: absent from exchangeInfo.
    std::string exchange_status = "TRADING";
    /// While not empty, pushed as the markPrice row's mark price instead of the value
    /// (`/_control/invalid`: "NaN", "-1", "1e12").
    std::string bad_mark;
};

struct market_config {
    std::size_t symbols = 650;   ///< USDⓈ-M symbols (TradFi and 币安人生USDT included)
    std::uint64_t seed = 1;
    std::size_t history_hours = 168;
};

class market {
public:
    /// Builds the universe and its history up to `now_ms` (epoch ms).
    market(const market_config& cfg, std::int64_t now_ms);

    /// Advances prices, funding, OI and volumes to `now_ms` (no-op if not later).
    void step(std::int64_t now_ms);

    // ---- WebSocket payloads (the `data` part of the combined envelope) ----
    /// `!markPrice@arr` data arrays: [0] USDⓈ-M + COIN-M rows, [1] TradFi rows. Records the
    /// pushed values for state().
    std::vector<std::string> mark_price_frames(std::int64_t now_ms);
    /// `!ticker@arr` data array of the symbols that changed (30-70 % of them, plus dirty
    /// ones); empty string if none.
    std::string ticker_frame(std::int64_t now_ms);
    /// A `<symbol>@markPrice[@1s]` payload (one row; does not change state()).
    std::string mark_price_payload(std::size_t i, std::int64_t now_ms);
    /// A `<symbol>@ticker` payload (one row; does not change state()).
    std::string ticker_payload(std::size_t i, std::int64_t now_ms);
    /// A `!forceOrder@arr` payload with probability rate*dt (a few per minute), else nothing.
    std::optional<std::string> maybe_force_order(std::int64_t now_ms, double dt_s);
    /// A `<symbol>@aggTrade` payload for symbol `i`, or nothing when no trade happened.
    std::optional<std::string> agg_trade(std::size_t i, std::int64_t now_ms);
    /// A forceOrder payload for symbol `i` (control: a deterministic liquidation); SELL = a
    /// long was liquidated. `avg_price` defaults to just off the mark price; `filled` (the
    /// accumulated filled quantity `z`, and the last fill `l`) to `qty` (`q`).
    std::string force_order(std::size_t i, std::int64_t now_ms, bool sell, double qty,
                            std::optional<double> avg_price, std::optional<double> filled = std::nullopt) const;
    /// An aggTrade payload for symbol `i` (control: a deterministic whale trade);
    /// `buyer_maker` true means a taker SELL. `price` defaults to the last price.
    std::string trade(std::size_t i, std::int64_t now_ms, double qty, std::optional<double> price, bool buyer_maker);
    /// A `<symbol>@kline_1h` payload for the open candle, or for `c` with "x":true.
    std::string kline_1h(std::size_t i, std::int64_t now_ms, const candle* closed = nullptr) const;

    // ---- REST bodies ----
    std::string exchange_info(std::int64_t now_ms) const;
    std::string premium_index(std::optional<std::size_t> i, std::int64_t now_ms) const;
    std::string ticker_24hr(std::optional<std::size_t> i, std::int64_t now_ms) const;
    std::string ticker_price(std::optional<std::size_t> i, std::int64_t now_ms) const;
    std::string open_interest(std::size_t i, std::int64_t now_ms) const;
    /// `/futures/data/openInterestHist`: the OI at each `period_ms` boundary in [start, end]
    /// (the newest `limit`), oldest first; before the start of the run the first known value.
    std::string open_interest_hist(std::size_t i, std::int64_t period_ms, std::optional<std::int64_t> start_ms,
                                   std::optional<std::int64_t> end_ms, int limit, std::int64_t now_ms) const;
    /// Klines for `interval_ms` (a multiple or divisor of one hour) ending at or before
    /// `end_ms`, at most `limit` rows, oldest first, none before `start_ms`.
    std::string klines(std::size_t i, std::int64_t interval_ms, std::optional<std::int64_t> start_ms,
                       std::optional<std::int64_t> end_ms, int limit, std::int64_t now_ms) const;

    // ---- control ----
    void set_price(std::size_t i, double price);
    void set_funding(std::size_t i, double rate);
    void set_open_interest(std::size_t i, double oi);
    /// exchangeInfo status of the symbol ("TRADING", "SETTLING", ...; "" leaves it out).
    void set_exchange_status(std::size_t i, std::string status);
    /// The mark price text its markPrice rows carry until cleared ("" = the real value).
    void set_bad_mark(std::size_t i, std::string text);
    void ramp_open_interest(std::size_t i, double pct, double seconds, std::int64_t now_ms);
    /// Pins the rolling 24 h quote volume (tickers, REST) to `quote_volume`; < 0 unpins.
    void set_quote_volume_24h(std::size_t i, double quote_volume);
    /// The current hour's volume becomes `factor` times the previous hour's, and accrues
    /// `factor` times faster until the hour ends.
    void scale_hour_volume(std::size_t i, double factor);
    /// Takes over a replayed `!markPrice@arr` or `!ticker@arr` data array (file mode): rows
    /// of known symbols set their prices and pushed values, so REST and state() agree with
    /// the recording. Returns how many rows matched a symbol.
    std::size_t apply_recorded(std::string_view stream, std::string_view data);
    /// `{"symbol":..,"markPrice":..,...}` with the values as last pushed.
    std::string state_json(std::size_t i) const;

    /// `[{"symbol":..,"adjustedFundingRateCap":..,"fundingIntervalHours":..}]` for the symbols
    /// whose funding interval is not 8 h (GET /fapi/v1/fundingInfo).
    std::string funding_info() const;
    /// Index of a symbol by exact name (any market type).
    std::optional<std::size_t> find(std::string_view name) const;
    /// Index of a symbol by the lowercase stream prefix ("btcusdt").
    std::optional<std::size_t> find_stream_symbol(std::string_view lower) const;
    const std::vector<symbol_state>& symbols() const noexcept { return symbols_; }
    std::size_t usdm_count() const noexcept;

    /// Rolling 24 h statistics of symbol `i` (from the hourly candles).
    candle stats_24h(std::size_t i, std::int64_t now_ms) const;

private:
    void build_universe(const market_config& cfg, std::int64_t now_ms);
    void build_history(symbol_state& s, std::size_t hours, std::int64_t now_ms);
    void accrue(symbol_state& s, double dt_s, std::int64_t now_ms);
    void append_mark_row(std::string& out, symbol_state& s, std::int64_t e, bool record) const;
    void append_ticker_row(std::string& out, std::size_t k, std::int64_t now_ms, bool record);
    double normal() { return normal_(rng_); }
    double uniform() { return uniform_(rng_); }

    std::vector<symbol_state> symbols_;
    std::unordered_map<std::string, std::size_t> by_name_, by_lower_;
    std::mt19937_64 rng_;
    std::normal_distribution<double> normal_{0.0, 1.0};
    std::uniform_real_distribution<double> uniform_{0.0, 1.0};
    std::int64_t now_ms_ = 0;
    std::size_t history_hours_ = 168;
};

/// Rounds `v` to `decimals` and prints it with exactly that many decimals ("83084.30").
std::string fixed(double v, int decimals);
/// The lowercase stream prefix of a symbol: ASCII letters lowered, other bytes kept.
std::string stream_symbol(std::string_view symbol);

}  // namespace vs::replay
