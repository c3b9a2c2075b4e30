#include "vs/oi/state_codec.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>


#include "codec_util.hpp"

namespace vs::oi {
namespace {

constexpr char magic[4] = {'V', 'S', 'O', 'I'};
constexpr std::uint8_t version = 1;
constexpr std::uint8_t flag_history = 1;
constexpr std::uint64_t max_samples = 1u << 20;
constexpr std::int64_t max_time_ms = std::int64_t{1} << 50;   // Unix ms up to the year 37,000

std::uint64_t zigzag(std::int64_t v) noexcept
{
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

std::int64_t unzigzag(std::uint64_t v) noexcept
{
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// OI as milli-contracts when that is exact (Binance sends at most 3 decimals).
std::optional<std::int64_t> exact_milli(double oi) noexcept
{
    const double scaled = oi * 1000.0;
    if (!(std::fabs(scaled) < 9.0e15)) {
        return std::nullopt;
    }
    const auto m = static_cast<std::int64_t>(std::llround(scaled));
    if (static_cast<double>(m) / 1000.0 != oi) {
        return std::nullopt;
    }
    return m;
}

}  // namespace

std::string encode_state(const symbol_state& st, bool with_history)
{
    detail::writer w;
    w.bytes(magic, 4);
    w.u8(version);
    w.u8(with_history ? flag_history : 0);
    w.u8(static_cast<std::uint8_t>(timeframe_count));
    for (std::size_t k = 0; k < timeframe_count; ++k) {
        w.u8(st.outside[k] ? 1 : 0);
        w.i64(st.last_alert_ms[k][0]);
        w.i64(st.last_alert_ms[k][1]);
    }
    if (with_history) {
        const history& h = st.hist;
        w.out.reserve(w.out.size() + 16 + h.size() * 8);
        w.varint(h.size());
        std::int64_t prev_t = 0;
        std::int64_t prev_m = 0;
        std::uint32_t prev_mark = 0;
        for (std::size_t i = 0; i < h.size(); ++i) {
            const sample s = h.at(i);
            if (i == 0) {
                w.i64(s.time_ms);
            } else {
                w.varint(static_cast<std::uint64_t>(s.time_ms - prev_t));
            }
            prev_t = s.time_ms;
            if (const auto m = exact_milli(s.oi)) {
                w.varint(zigzag(*m - prev_m) << 1);
                prev_m = *m;
            } else {
                w.varint(1);
                w.f64(s.oi);
                prev_m = 0;
            }
            const std::uint32_t mark_bits = std::bit_cast<std::uint32_t>(static_cast<float>(s.mark));
            w.varint(mark_bits ^ prev_mark);
            prev_mark = mark_bits;
        }
    }
    w.seal();
    return std::move(w.out);
}

symbol_state decode_state(const config& cfg, std::string_view bytes)
{
    detail::reader r{bytes, "oi state"};
    r.open_frame(magic, 4 + 3 + 4);
    if (const auto v = r.u8(); v != version) {
        r.pos -= 1;
        r.fail("unknown version " + std::to_string(v));
    }
    const std::uint8_t flags = r.u8();
    if ((flags & ~flag_history) != 0) {
        r.pos -= 1;
        r.fail("unknown flags");
    }
    if (const auto n = r.u8(); n != timeframe_count) {
        r.pos -= 1;
        r.fail("timeframe count " + std::to_string(n) + " (expected 3)");
    }
    symbol_state st{cfg};
    for (std::size_t k = 0; k < timeframe_count; ++k) {
        const std::uint8_t o = r.u8();
        if (o > 1) {
            r.pos -= 1;
            r.fail("bad INSIDE/OUTSIDE value");
        }
        st.outside[k] = o == 1;
        for (std::size_t d = 0; d < 2; ++d) {
            const std::int64_t t = r.i64();
            if (t < 0) {
                r.pos -= 8;
                r.fail("negative alert time");
            }
            st.last_alert_ms[k][d] = t;
        }
    }
    if ((flags & flag_history) != 0) {
        const std::uint64_t count = r.varint();
        // Each sample takes at least 3 bytes: a count beyond that is garbage, not an allocation.
        if (count > max_samples || count > (r.end - r.pos) / 3 + 1) {
            r.fail("sample count " + std::to_string(count) + " too large");
        }
        st.hist.reserve(static_cast<std::size_t>(count));
        std::int64_t t = 0;
        std::int64_t prev_m = 0;
        std::uint32_t prev_mark = 0;
        for (std::uint64_t i = 0; i < count; ++i) {
            const std::size_t t_at = r.pos;
            if (i == 0) {
                t = r.i64();
            } else {
                const std::uint64_t dt = r.varint();
                t = dt > static_cast<std::uint64_t>(max_time_ms) ? -1 : t + static_cast<std::int64_t>(dt);
            }
            if (t < 0 || t > max_time_ms) {
                r.pos = t_at;
                r.fail("sample time out of range");
            }
            const std::size_t oi_at = r.pos;
            const std::uint64_t x = r.varint();
            double oi;
            if (x == 1) {
                oi = r.f64();
                prev_m = 0;
            } else if ((x & 1) == 0) {
                // Wrapping arithmetic: a forged delta must not be signed overflow.
                const auto m = static_cast<std::int64_t>(static_cast<std::uint64_t>(prev_m) +
                                                         static_cast<std::uint64_t>(unzigzag(x >> 1)));
                prev_m = m;
                oi = static_cast<double>(m) / 1000.0;
            } else {
                r.pos = oi_at;
                r.fail("bad OI tag");
            }
            if (!(std::isfinite(oi) && oi > 0)) {
                r.pos = oi_at;
                r.fail("OI not a positive number");
            }
            const std::uint64_t mx = r.varint();
            if (mx > std::numeric_limits<std::uint32_t>::max()) {
                r.fail("bad mark price");
            }
            prev_mark ^= static_cast<std::uint32_t>(mx);
            const float mark = std::bit_cast<float>(prev_mark);
            if (!(std::isfinite(mark) && mark >= 0)) {
                r.fail("mark price not a number >= 0");
            }
            st.hist.add(sample{t, oi, static_cast<double>(mark)});
        }
    }
    if (r.pos != r.end) {
        r.fail(std::to_string(r.end - r.pos) + " trailing bytes");
    }
    return st;
}

}  // namespace vs::oi
