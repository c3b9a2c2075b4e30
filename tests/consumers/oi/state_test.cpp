// The rule state's bytes (vs/oi/state_codec.hpp) and the universe's: a round trip keeps every
// field and sample, and anything else (random bytes, truncations, single flipped bytes,
// plausible headers with impossible contents) is refused with a clear error, never a crash.
#include <bit>
#include <cmath>
#include <random>
#include <string>

#include <boost/crc.hpp>
#include <gtest/gtest.h>

#include "vs/oi/state_codec.hpp"
#include "vs/oi/universe.hpp"

namespace {

using vs::oi::config;
using vs::oi::decode_state;
using vs::oi::encode_state;
using vs::oi::sample;
using vs::oi::symbol_state;

constexpr std::int64_t t0 = 1'764'849'900'000;

symbol_state busy_state(const config& cfg)
{
    symbol_state st{cfg};
    std::mt19937_64 rng{7};
    std::int64_t oi_milli = 81'234'567;   // Binance's strings have at most 3 decimals
    double mark = 97'123.45;
    for (int i = 0; i < 2160; ++i) {
        oi_milli += static_cast<std::int64_t>(rng() % 2001) - 1000;
        const double oi = static_cast<double>(oi_milli) / 1000.0;   // what strtod gives for "81234.567"
        mark *= 1.0 + (static_cast<double>(rng() % 200) - 100.0) * 1e-6;
        const double o = (i % 97 == 0) ? oi + 1.0 / 3.0 : oi;   // now and then not a whole milli
        st.hist.add(sample{t0 + i * 5000 + static_cast<std::int64_t>(rng() % 40), o, i % 50 == 0 ? 0.0 : mark});
    }
    st.outside = {true, false, true};
    st.last_alert_ms = {{{t0 + 1, 0}, {0, t0 + 2}, {t0 + 3, t0 + 4}}};
    return st;
}

void expect_same(const symbol_state& a, const symbol_state& b)
{
    EXPECT_EQ(a.outside, b.outside);
    EXPECT_EQ(a.last_alert_ms, b.last_alert_ms);
    ASSERT_EQ(a.hist.size(), b.hist.size());
    for (std::size_t i = 0; i < a.hist.size(); ++i) {
        const auto x = a.hist.at(i), y = b.hist.at(i);
        ASSERT_EQ(x.time_ms, y.time_ms) << i;
        ASSERT_EQ(std::bit_cast<std::uint64_t>(x.oi), std::bit_cast<std::uint64_t>(y.oi)) << i;
        ASSERT_EQ(x.mark, y.mark) << i;
    }
}

TEST(OiStateCodec, RoundTripKeepsEveryFieldAndEverySampleBitForBit)
{
    const config cfg;
    const auto st = busy_state(cfg);
    const std::string bytes = encode_state(st);
    // Far below the 16 bytes a sample takes in memory.
    EXPECT_LT(bytes.size(), st.hist.size() * 10);
    expect_same(st, decode_state(cfg, bytes));
}

TEST(OiStateCodec, WithoutHistoryOnlyTheAlertState)
{
    const config cfg;
    const auto st = busy_state(cfg);
    const std::string bytes = encode_state(st, false);
    EXPECT_EQ(bytes.size(), 4u + 3u + 3u * 17u + 4u);
    const auto back = decode_state(cfg, bytes);
    EXPECT_EQ(back.outside, st.outside);
    EXPECT_EQ(back.last_alert_ms, st.last_alert_ms);
    EXPECT_TRUE(back.hist.empty());
}

TEST(OiStateCodec, AnEmptyStateRoundTrips)
{
    const config cfg;
    const symbol_state st{cfg};
    expect_same(st, decode_state(cfg, encode_state(st)));
}

TEST(OiStateCodec, DecodedHistoryIsWindowedByTheConfig)
{
    config small;
    small.history_window_s = 600;
    const auto st = busy_state(config{});
    const auto back = decode_state(small, encode_state(st));
    ASSERT_FALSE(back.hist.empty());
    EXPECT_LE(back.hist.newest().time_ms - back.hist.at(0).time_ms, 600'000);
    EXPECT_EQ(back.hist.newest().time_ms, st.hist.newest().time_ms);
}

std::string error_of(const config& cfg, std::string_view bytes)
{
    try {
        (void)decode_state(cfg, bytes);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "accepted";
}

// Replaces the trailing checksum so that a forged body reaches the field checks.
std::string with_crc(std::string body_and_old_crc)
{
    body_and_old_crc.resize(body_and_old_crc.size() - 4);
    boost::crc_32_type crc;
    crc.process_bytes(body_and_old_crc.data(), body_and_old_crc.size());
    const std::uint32_t c = crc.checksum();
    body_and_old_crc.append(reinterpret_cast<const char*>(&c), 4);   // little endian host
    return body_and_old_crc;
}

TEST(OiStateCodec, GarbageIsRejectedWithAClearError)
{
    const config cfg;
    const std::string good = encode_state(busy_state(cfg));

    EXPECT_EQ(error_of(cfg, ""), "oi state: too short (0 bytes) at byte 0");
    EXPECT_EQ(error_of(cfg, "hello world, not a state"), "oi state: checksum mismatch at byte 20");
    {
        std::string b = good;
        b[0] = 'X';
        EXPECT_EQ(error_of(cfg, with_crc(b)), "oi state: bad magic at byte 0");
    }
    {
        std::string b = good;
        b[4] = 9;
        EXPECT_EQ(error_of(cfg, with_crc(b)), "oi state: unknown version 9 at byte 4");
    }
    {
        std::string b = good;
        b[5] = 3;
        EXPECT_EQ(error_of(cfg, with_crc(b)), "oi state: unknown flags at byte 5");
    }
    {
        std::string b = good;
        b[6] = 4;
        EXPECT_EQ(error_of(cfg, with_crc(b)), "oi state: timeframe count 4 (expected 3) at byte 6");
    }
    {
        std::string b = good;
        b[7] = 2;
        EXPECT_EQ(error_of(cfg, with_crc(b)), "oi state: bad INSIDE/OUTSIDE value at byte 7");
    }
    {
        // A history header claiming a million samples in a few bytes: refused before allocating.
        std::string b = encode_state(symbol_state{cfg}, false);
        b[5] = 1;
        b.insert(b.size() - 4, std::string{"\xff\xff\x3f", 3});
        EXPECT_EQ(error_of(cfg, with_crc(b)), "oi state: sample count 1048575 too large at byte 61");
    }
    {
        // A sample time that would overflow the arithmetic on it (negative here).
        symbol_state one{cfg};
        one.hist.add(sample{t0, 1000, 1});
        std::string b = encode_state(one);
        b[59 + 7] = static_cast<char>(0x80);
        EXPECT_EQ(error_of(cfg, with_crc(b)), "oi state: sample time out of range at byte 59");
    }
    {
        std::string b = good;
        b.insert(b.size() - 4, "x");
        EXPECT_NE(error_of(cfg, with_crc(b)).find("trailing bytes"), std::string::npos);
    }
    // Every truncation and every single flipped byte is refused, never accepted or crashing.
    for (std::size_t n = 0; n < good.size(); n += (n < 200 ? 1 : 97)) {
        EXPECT_NE(error_of(cfg, std::string_view{good}.substr(0, n)), "accepted") << n;
    }
    for (std::size_t i = 0; i < good.size(); i += 13) {
        std::string b = good;
        b[i] = static_cast<char>(b[i] ^ 0x5A);
        EXPECT_NE(error_of(cfg, b), "accepted") << i;
    }
    // Random bytes, with and without a valid checksum: refused, no crash, no huge allocation.
    std::mt19937_64 rng{3};
    for (int round = 0; round < 2000; ++round) {
        std::string b(4 + rng() % 200, '\0');
        for (auto& c : b) {
            c = static_cast<char>(rng());
        }
        if (round % 2 == 0) {
            std::memcpy(b.data(), "VSOI\x01\x01\x03", std::min<std::size_t>(b.size(), 7));
            b = with_crc(b + "0000");
        }
        const auto e = error_of(cfg, b);
        EXPECT_EQ(e.rfind("oi state: ", 0), 0u) << e;
    }
}

// ---- the universe's bytes ----------------------------------------------------------------------

TEST(OiUniverseCodec, RoundTripAndGarbage)
{
    const std::vector<vs::oi::member> ms{{"BTCUSDT", 1.5e10, t0 - 86'400'000, t0}, {"ETHUSDT", 4.2e6, t0, t0}};
    const std::string b = vs::oi::encode_universe(ms);
    EXPECT_EQ(vs::oi::decode_universe(b), ms);
    EXPECT_TRUE(vs::oi::decode_universe(vs::oi::encode_universe({})).empty());
    const auto reject = [](std::string_view x) {
        try {
            (void)vs::oi::decode_universe(x);
        } catch (const std::invalid_argument& e) {
            return std::string{e.what()};
        }
        return std::string{"accepted"};
    };
    EXPECT_EQ(reject("garbage bytes"), "oi universe: checksum mismatch at byte 9");
    for (std::size_t n = 0; n < b.size(); ++n) {
        EXPECT_NE(reject(std::string_view{b}.substr(0, n)), "accepted") << n;
    }
}

}  // namespace
