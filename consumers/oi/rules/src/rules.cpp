#include "vs/oi/rules.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace vs::oi {
namespace {

constexpr std::int64_t max_window_s = 30LL * 24 * 3600;   // time offsets are 32-bit ms (49 days)

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

[[noreturn]] void bad(const char* name, std::string_view what, std::string_view value)
{
    throw std::invalid_argument(std::string{name} + ": " + std::string{what} + ": '" + std::string{value} + "'");
}

// Python's int(): optional sign, decimal digits (underscores between digits allowed), spaces around.
long long parse_int(const char* name, const std::string& raw)
{
    const std::string_view s = trim(raw);
    std::size_t i = 0;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        negative = s[i] == '-';
        ++i;
    }
    if (i == s.size()) {
        bad(name, "not an integer", raw);
    }
    long long v = 0;
    bool prev_digit = false;
    for (; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '_' && prev_digit && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9') {
            prev_digit = false;
            continue;
        }
        if (c < '0' || c > '9') {
            bad(name, "not an integer", raw);
        }
        if (v > (std::numeric_limits<long long>::max() - (c - '0')) / 10) {
            bad(name, "out of range", raw);
        }
        v = v * 10 + (c - '0');
        prev_digit = true;
    }
    return negative ? -v : v;
}

// Python's float() for plain numbers ("0.03", "3e-2", " 5000 ").
double parse_double(const char* name, const std::string& raw)
{
    const std::string s{trim(raw)};
    if (s.empty()) {
        bad(name, "not a number", raw);
    }
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size()) {
        bad(name, "not a number", raw);
    }
    return v;
}

}  // namespace

std::int64_t timeframe_config::tolerance_s() const noexcept
{
    return std::min<std::int64_t>(120, std::max<std::int64_t>(30, lookback_s / 10));
}

config::config()
    : timeframes{{
          {"5 min", 0.03, 300, 600},
          {"15 min", 0.07, 900, 900},
          {"1 hour", 0.12, 3600, 3600},
      }}
{
}

config config::from_env()
{
    return from_lookup([](const char* name) -> std::optional<std::string> {
        if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
            return std::string{v};
        }
        return std::nullopt;
    });
}

config config::from_lookup(const std::function<std::optional<std::string>(const char*)>& get)
{
    config c;
    const auto read_int = [&](const char* name, auto& field) {
        if (auto v = get(name); v && !trim(*v).empty()) {
            const long long x = parse_int(name, *v);
            using T = std::remove_reference_t<decltype(field)>;
            if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max()) {
                bad(name, "out of range", *v);
            }
            field = static_cast<T>(x);
        }
    };
    const auto read_double = [&](const char* name, double& field) {
        if (auto v = get(name); v && !trim(*v).empty()) {
            field = parse_double(name, *v);
        }
    };
    static constexpr const char* suffix[timeframe_count] = {"5MIN", "15MIN", "60MIN"};
    for (std::size_t k = 0; k < timeframe_count; ++k) {
        auto& tf = c.timeframes[k];
        const std::string thr = std::string{"OI_SPIKE_THRESHOLD_PCT_"} + suffix[k];
        const std::string look = std::string{"OI_LOOKBACK_WINDOW_"} + suffix[k];
        const std::string cool = std::string{"OI_ALERT_COOLDOWN_"} + suffix[k];
        read_double(thr.c_str(), tf.threshold);
        read_int(look.c_str(), tf.lookback_s);
        read_int(cool.c_str(), tf.cooldown_s);
        if (!(std::isfinite(tf.threshold) && tf.threshold > 0)) {
            bad(thr.c_str(), "must be a fraction > 0", std::to_string(tf.threshold));
        }
        if (tf.lookback_s <= 0 || tf.lookback_s > max_window_s) {
            bad(look.c_str(), "must be 1..2592000 seconds", std::to_string(tf.lookback_s));
        }
        if (tf.cooldown_s < 0) {
            bad(cool.c_str(), "must be >= 0", std::to_string(tf.cooldown_s));
        }
    }
    read_double("OI_MIN_DELTA_CONTRACTS", c.min_delta_contracts);
    if (!(std::isfinite(c.min_delta_contracts) && c.min_delta_contracts >= 0)) {
        bad("OI_MIN_DELTA_CONTRACTS", "must be >= 0", std::to_string(c.min_delta_contracts));
    }
    if (auto v = get("OI_EXCLUDED_SYMBOLS"); v) {
        c.excluded_symbols.clear();
        std::string_view rest = *v;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const auto item = trim(rest.substr(0, comma));
            if (!item.empty()) {
                c.excluded_symbols.emplace_back(item);
            }
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        }
    }
    read_int("OI_HISTORY_WINDOW_SEC", c.history_window_s);
    if (c.history_window_s <= 0 || c.history_window_s > max_window_s) {
        bad("OI_HISTORY_WINDOW_SEC", "must be 1..2592000 seconds", std::to_string(c.history_window_s));
    }
    // The history must reach every baseline (lookback plus its tolerance).
    for (const auto& tf : c.timeframes) {
        c.history_window_s = std::max(c.history_window_s, tf.lookback_s + tf.tolerance_s());
    }
    c.history_window_s = std::min(c.history_window_s, max_window_s);
    read_int("OI_MAX_REQ_PER_MIN", c.max_req_per_min);
    read_int("OI_MIN_INTERVAL_SEC", c.min_interval_s);
    read_int("OI_MAX_INTERVAL_SEC", c.max_interval_s);
    if (c.max_req_per_min <= 0) {
        bad("OI_MAX_REQ_PER_MIN", "must be > 0", std::to_string(c.max_req_per_min));
    }
    if (c.min_interval_s <= 0) {
        bad("OI_MIN_INTERVAL_SEC", "must be > 0", std::to_string(c.min_interval_s));
    }
    if (c.max_interval_s < c.min_interval_s) {
        bad("OI_MAX_INTERVAL_SEC", "must be >= OI_MIN_INTERVAL_SEC", std::to_string(c.max_interval_s));
    }
    read_double("OI_LIQUID_ENTER_QUOTE_24H", c.enter_quote_24h);
    read_double("OI_LIQUID_EXIT_QUOTE_24H", c.exit_quote_24h);
    if (!(std::isfinite(c.enter_quote_24h) && c.enter_quote_24h >= 0)) {
        bad("OI_LIQUID_ENTER_QUOTE_24H", "must be >= 0", std::to_string(c.enter_quote_24h));
    }
    if (!(std::isfinite(c.exit_quote_24h) && c.exit_quote_24h >= 0)) {
        bad("OI_LIQUID_EXIT_QUOTE_24H", "must be >= 0", std::to_string(c.exit_quote_24h));
    }
    return c;
}

bool config::excluded(std::string_view symbol) const noexcept
{
    return std::find(excluded_symbols.begin(), excluded_symbols.end(), symbol) != excluded_symbols.end();
}

int poll_interval_s(const config& cfg, long long universe_size) noexcept
{
    if (universe_size <= 0) {
        return cfg.max_interval_s;
    }
    // The old code's exact double operations, then Python's round(): half to even
    // (nearbyint in the default rounding mode).
    const double polls_per_min_per_symbol = static_cast<double>(cfg.max_req_per_min) / static_cast<double>(universe_size);
    const double raw = 60.0 / polls_per_min_per_symbol;
    const double r = std::nearbyint(raw);
    const double clamped = std::min<double>(cfg.max_interval_s, std::max<double>(cfg.min_interval_s, r));
    return static_cast<int>(clamped);
}

// ---- history ----------------------------------------------------------------------------

namespace {

constexpr std::array<double, 4> pow10{1.0, 10.0, 100.0, 1000.0};
constexpr std::int64_t exact_int = std::int64_t{1} << 52;

/// The fewest decimals (0..3) whose integer u gives back exactly `v` as u / 10^k, with u.
std::optional<std::pair<int, std::int64_t>> decimals_of(double v) noexcept
{
    for (int k = 0; k < 4; ++k) {
        const double x = std::nearbyint(v * pow10[static_cast<std::size_t>(k)]);
        if (std::fabs(x) < static_cast<double>(exact_int) &&
            x / pow10[static_cast<std::size_t>(k)] == v) {
            return std::pair{k, static_cast<std::int64_t>(x)};
        }
    }
    return std::nullopt;
}

bool fits_code(std::int64_t d) noexcept
{
    return d > std::numeric_limits<std::int32_t>::min() && d <= std::numeric_limits<std::int32_t>::max();
}

}  // namespace

std::int64_t mark_window_ms(const config& cfg) noexcept
{
    std::int64_t longest = 0;
    for (const auto& tf : cfg.timeframes) {
        longest = std::max(longest, tf.lookback_s + tf.tolerance_s());
    }
    return std::min(cfg.history_window_s, longest + 120) * 1000;
}

double history::oi_at(std::size_t i) const noexcept
{
    const packed& p = slot(i);
    if (p.q != side) {
        return static_cast<double>(oi_base_ + p.q) / pow10[static_cast<std::size_t>(k_)];
    }
    // The side list is in slot order: the one of this time, after the side samples of the
    // same time stored before it.
    const std::int64_t t = time_at(i);
    std::size_t before = 0;
    for (std::size_t j = i; j > 0 && time_at(j - 1) == t; --j) {
        before += slot(j - 1).q == side ? 1 : 0;
    }
    auto it = std::lower_bound(exact_.begin(), exact_.end(), t,
                               [](const exact_value& e, std::int64_t v) { return e.time_ms < v; });
    it += static_cast<std::ptrdiff_t>(before);
    return it < exact_.end() ? it->oi : 0.0;
}

float history::mark_at(std::size_t i) const noexcept
{
    if (i + mark_count_ < size_) {
        return 0.0F;
    }
    std::size_t k = mark_head_ + (i - (size_ - mark_count_));
    return marks_[k >= marks_.size() ? k - marks_.size() : k];
}

sample history::at(std::size_t i) const noexcept
{
    return sample{time_at(i), oi_at(i), static_cast<double>(mark_at(i))};
}

void history::clear() noexcept
{
    size_ = 0;
    head_ = 0;
    k_ = -1;
    codes_ = 0;
    exact_.clear();
    mark_head_ = 0;
    mark_count_ = 0;
}

std::size_t history::lower_bound(std::int64_t t) const noexcept
{
    // Samples come at a nearly regular interval: start where the time would be if it were
    // exactly regular, gallop to bracket the answer, then bisect the bracket. Two or three
    // cache lines per lookup instead of a dozen for a plain bisection over 2,160 samples.
    if (size_ == 0 || t <= time_at(0)) {
        return 0;
    }
    const std::int64_t first = time_at(0), last = time_at(size_ - 1);
    if (t > last) {
        return size_;
    }
    std::size_t i = last == first ? 0
                                  : static_cast<std::size_t>((t - first) * static_cast<std::int64_t>(size_ - 1) / (last - first));
    std::size_t lo, hi;   // the answer is in [lo, hi]
    if (time_at(i) < t) {
        lo = i + 1;
        std::size_t step = 1;
        hi = lo;
        while (hi < size_ && time_at(hi) < t) {
            lo = hi + 1;
            hi = lo + step;
            step *= 2;
        }
        hi = std::min(hi, size_);
    } else {
        hi = i;
        std::size_t step = 1;
        for (;;) {
            const std::size_t cand = hi >= step ? hi - step : 0;
            if (time_at(cand) >= t) {
                hi = cand;
                if (cand == 0) {
                    return 0;
                }
                step *= 2;
            } else {
                lo = cand + 1;
                break;
            }
        }
    }
    std::size_t n = hi - lo;
    while (n > 0) {
        const std::size_t half = n / 2;
        if (time_at(lo + half) < t) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo;
}

void history::reserve(std::size_t n)
{
    if (n <= ring_.size()) {
        return;
    }
    std::vector<packed> bigger(n);
    for (std::size_t i = 0; i < size_; ++i) {
        bigger[i] = slot(i);
    }
    ring_ = std::move(bigger);
    head_ = 0;
}

void history::grow()
{
    // Size the ring for the whole window at the rate seen so far (+5 %), so that it settles
    // at what the window needs instead of up to twice that (a doubling vector).
    std::size_t want = ring_.size() + ring_.size() / 8 + 16;
    if (size_ >= 2) {
        const double span = static_cast<double>(time_at(size_ - 1) - time_at(0));
        const double per_sample = span / static_cast<double>(size_ - 1);
        if (per_sample > 0) {
            // The window's need at this rate (+5 %), not the growth step's 12 % (a ring
            // decoded to its exact size grows once, to this).
            const double need = static_cast<double>(window_ms_) / per_sample * 1.05 + 4;
            const std::size_t at_least = ring_.size() + ring_.size() / 64 + 16;
            want = std::max(at_least, static_cast<std::size_t>(std::min(need, static_cast<double>(2 * ring_.size() + 16))));
        }
    }
    reserve(want);
}

void history::rebase(std::int64_t new_base_ms) noexcept
{
    for (std::size_t i = 0; i < size_; ++i) {
        packed& p = slot(i);
        p.dt_ms = static_cast<std::uint32_t>(base_ms_ + p.dt_ms - new_base_ms);
    }
    base_ms_ = new_base_ms;
}

std::int32_t history::encode_oi(double oi)
{
    const auto dec = decimals_of(oi);
    if (!dec) {
        return side;
    }
    auto [kv, u] = *dec;
    if (k_ < 0 || codes_ == 0) {
        k_ = kv;
        oi_base_ = u;
        return 0;
    }
    if (kv > k_) {
        // Finer than the codes so far: re-scale them when they still fit in 32 bits.
        const auto f = static_cast<std::int64_t>(pow10[static_cast<std::size_t>(kv - k_)]);
        for (std::size_t i = 0; i < size_; ++i) {
            const packed& p = slot(i);
            if (p.q != side && !fits_code(static_cast<std::int64_t>(p.q) * f)) {
                return side;
            }
        }
        for (std::size_t i = 0; i < size_; ++i) {
            packed& p = slot(i);
            if (p.q != side) {
                p.q = static_cast<std::int32_t>(static_cast<std::int64_t>(p.q) * f);
            }
        }
        oi_base_ *= f;
        k_ = kv;
    } else if (kv < k_) {
        u *= static_cast<std::int64_t>(pow10[static_cast<std::size_t>(k_ - kv)]);
    }
    if (std::llabs(u) >= exact_int || static_cast<double>(u) / pow10[static_cast<std::size_t>(k_)] != oi) {
        return side;
    }
    std::int64_t d = u - oi_base_;
    if (!fits_code(d)) {
        // Re-centre the codes on the middle of what is stored plus this value.
        std::int64_t lo = u, hi = u;
        for (std::size_t i = 0; i < size_; ++i) {
            const packed& p = slot(i);
            if (p.q != side) {
                lo = std::min(lo, oi_base_ + p.q);
                hi = std::max(hi, oi_base_ + p.q);
            }
        }
        const std::int64_t mid = lo + (hi - lo) / 2;
        if (!fits_code(lo - mid) || !fits_code(hi - mid)) {
            return side;
        }
        for (std::size_t i = 0; i < size_; ++i) {
            packed& p = slot(i);
            if (p.q != side) {
                p.q = static_cast<std::int32_t>(oi_base_ + p.q - mid);
            }
        }
        oi_base_ = mid;
        d = u - oi_base_;
    }
    return static_cast<std::int32_t>(d);
}

void history::drop_front(std::size_t n) noexcept
{
    std::size_t sides = 0;
    for (std::size_t i = 0; i < n; ++i) {
        sides += slot(i).q == side ? 1 : 0;
    }
    if (sides > 0) {
        exact_.erase(exact_.begin(), exact_.begin() + static_cast<std::ptrdiff_t>(sides));
    }
    head_ = (head_ + n) % ring_.size();
    size_ -= n;
    codes_ -= n - sides;
    if (mark_count_ > size_) {
        const std::size_t gone = mark_count_ - size_;
        mark_head_ = (mark_head_ + gone) % marks_.size();
        mark_count_ = size_;
    }
}

void history::trim_marks() noexcept
{
    if (size_ == 0) {
        return;
    }
    const std::int64_t cutoff = time_at(size_ - 1) - mark_window_ms_;
    while (mark_count_ > 0 && time_at(size_ - mark_count_) < cutoff) {
        mark_head_ = (mark_head_ + 1) % marks_.size();
        --mark_count_;
    }
}

bool history::add(const sample& s)
{
    if (size_ > 0) {
        const std::int64_t newest_ms = time_at(size_ - 1);
        const std::int64_t cutoff = std::max(newest_ms, s.time_ms) - window_ms_;
        if (s.time_ms < cutoff) {
            return false;
        }
        // Drop what falls out of the window.
        if (const std::size_t drop = lower_bound(cutoff); drop > 0) {
            drop_front(drop);
        }
    }
    if (size_ == 0) {
        clear();
        base_ms_ = s.time_ms;
    } else {
        // Keep every offset within 32 bits: the span is at most the window (<= 30 days).
        const std::int64_t lowest = std::min(time_at(0), s.time_ms);
        if (lowest < base_ms_ || s.time_ms - base_ms_ > std::int64_t{std::numeric_limits<std::uint32_t>::max()}) {
            rebase(lowest);
        }
    }
    if (size_ == ring_.size()) {
        grow();
    }
    const std::int32_t q = encode_oi(s.oi);
    const packed p{static_cast<std::uint32_t>(s.time_ms - base_ms_), q};
    const auto mark = static_cast<float>(s.mark);
    std::size_t pos = size_;
    if (size_ > 0 && s.time_ms < time_at(size_ - 1)) {
        pos = lower_bound(s.time_ms + 1);   // back-fill: after every sample not newer than it
    }
    // The side list, in slot order.
    if (q == side) {
        std::size_t before = 0;
        for (std::size_t i = 0; i < pos; ++i) {
            before += slot(i).q == side ? 1 : 0;
        }
        exact_.insert(exact_.begin() + static_cast<std::ptrdiff_t>(before), exact_value{s.time_ms, s.oi});
    }
    // The marks: the newest mark_count_ samples have one. A sample older than the first of
    // them is older than the mark window (it would never be a baseline): none.
    const std::size_t first_marked = size_ - mark_count_;
    const bool marked = pos >= first_marked;
    if (marked) {
        if (mark_count_ == marks_.size()) {
            // Grow the mark ring like the sample ring: to the mark window at the rate seen.
            std::size_t want = marks_.size() + marks_.size() / 8 + 16;
            if (size_ >= 2) {
                const double per_sample = static_cast<double>(time_at(size_ - 1) - time_at(0)) / static_cast<double>(size_ - 1);
                if (per_sample > 0) {
                    const double need = static_cast<double>(mark_window_ms_) / per_sample * 1.05 + 4;
                    if (need > static_cast<double>(want)) {
                        want = static_cast<std::size_t>(std::min(need, static_cast<double>(2 * marks_.size() + 16)));
                    }
                }
            }
            std::vector<float> bigger(want);
            for (std::size_t i = 0; i < mark_count_; ++i) {
                std::size_t k = mark_head_ + i;
                bigger[i] = marks_[k >= marks_.size() ? k - marks_.size() : k];
            }
            marks_ = std::move(bigger);
            mark_head_ = 0;
        }
        const std::size_t at_mark = pos - first_marked;   // position among the marked
        for (std::size_t i = mark_count_; i > at_mark; --i) {
            marks_[(mark_head_ + i) % marks_.size()] = marks_[(mark_head_ + i - 1) % marks_.size()];
        }
        marks_[(mark_head_ + at_mark) % marks_.size()] = mark;
        ++mark_count_;
    }
    for (std::size_t i = size_; i > pos; --i) {
        slot(i) = slot(i - 1);
    }
    slot(pos) = p;
    ++size_;
    codes_ += q != side ? 1 : 0;
    trim_marks();
    return true;
}

std::optional<sample> history::nearest(std::int64_t target_ms, std::int64_t tolerance_ms) const noexcept
{
    if (size_ == 0) {
        return std::nullopt;
    }
    const std::size_t i = lower_bound(target_ms);
    std::size_t pick;
    std::int64_t diff;
    if (i > 0) {
        // The older candidate; of equal times the first stored (the old scan kept the first
        // sample with the smallest difference).
        const std::int64_t t = time_at(i - 1);
        const std::int64_t d_lo = target_ms - t;
        if (i < size_ && time_at(i) - target_ms < d_lo) {
            pick = i;
            diff = time_at(i) - target_ms;
        } else {
            pick = lower_bound(t);
            diff = d_lo;
        }
    } else {
        pick = 0;
        diff = time_at(0) - target_ms;
    }
    if (diff > tolerance_ms) {
        return std::nullopt;
    }
    return at(pick);
}

// ---- the rule ---------------------------------------------------------------------------

std::string_view to_string(direction d) noexcept { return d == direction::up ? "UP" : "DOWN"; }

evaluation evaluate(const config& cfg, std::string_view symbol, symbol_state& st, const sample& s,
                    std::optional<double> funding)
{
    evaluation r;
    if (!(std::isfinite(s.oi) && s.oi > 0) || !st.hist.add(s)) {
        r.skipped = true;
        return r;
    }
    if (cfg.excluded(symbol)) {
        return r;
    }
    for (std::size_t k = 0; k < timeframe_count; ++k) {
        const timeframe_config& tf = cfg.timeframes[k];
        const auto set_inside = [&] {
            if (st.outside[k]) {
                st.outside[k] = false;
                r.state_changed = true;
            }
        };
        std::optional<sample> base;
        if (st.hist.size() >= 2) {
            base = st.hist.nearest(s.time_ms - tf.lookback_s * 1000, tf.tolerance_s() * 1000);
        }
        if (!base || base->oi == 0) {
            set_inside();
            continue;
        }
        const double pct = (s.oi - base->oi) / base->oi;
        const double abs_change = s.oi - base->oi;
        const bool is_outside = std::fabs(pct) >= tf.threshold;
        if (!is_outside) {
            set_inside();
            continue;
        }
        if (st.outside[k]) {
            continue;   // already alerted for this move
        }
        std::optional<direction> dir;
        if (pct >= tf.threshold && abs_change >= cfg.min_delta_contracts) {
            dir = direction::up;
        } else if (pct <= -tf.threshold && abs_change <= -cfg.min_delta_contracts) {
            dir = direction::down;
        }
        if (!dir) {
            continue;   // too few contracts: stays INSIDE, may fire later in the same move
        }
        std::int64_t& last = st.last_alert_ms[k][static_cast<std::size_t>(*dir)];
        if (last != 0 && s.time_ms - last < tf.cooldown_s * 1000) {
            continue;   // cooldown: stays INSIDE, fires at the first sample after it if still outside
        }
        alert a;
        a.symbol = std::string{symbol};
        a.dir = *dir;
        a.timeframe = k;
        a.timeframe_label = tf.label;
        a.baseline = base->oi;
        a.current = s.oi;
        a.pct_change = pct;
        a.abs_change = abs_change;
        a.time_ms = s.time_ms;
        a.mark = s.mark > 0 ? s.mark : 0;
        if (base->mark > 0 && s.mark > 0) {
            a.price_change = (s.mark - base->mark) / base->mark;
        }
        a.funding_rate = funding;
        r.alerts.push_back(std::move(a));
        last = s.time_ms;
        st.outside[k] = true;
        r.state_changed = true;
    }
    return r;
}

}  // namespace vs::oi
