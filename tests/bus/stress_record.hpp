#pragma once
// Self-checking records for the stress tests: every 8-byte word is a function of the
// record's generation, sequence number and position, so any torn or mixed copy is caught.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace vs::test {

inline std::uint64_t stress_word(std::uint64_t gen, std::uint64_t seq, std::size_t i) noexcept
{
    return (seq * 0x9E3779B97F4A7C15ULL) ^ (gen << 48) ^ (i * 0xBF58476D1CE4E5B9ULL);
}

/// Fills `out` (a multiple of 8 bytes, >= 24) with record (gen, seq).
inline void make_stress_record(std::uint64_t gen, std::uint64_t seq, std::span<std::byte> out) noexcept
{
    auto* w = reinterpret_cast<std::uint64_t*>(out.data());
    const std::size_t words = out.size() / 8;
    w[0] = gen;
    w[1] = seq;
    for (std::size_t i = 2; i < words; ++i) {
        w[i] = stress_word(gen, seq, i);
    }
}

struct stress_header {
    std::uint64_t gen = 0;
    std::uint64_t seq = 0;
};

/// True when `data` is exactly one intact record; fills gen/seq.
inline bool check_stress_record(std::span<const std::byte> data, stress_header& h) noexcept
{
    if (data.size() < 24 || data.size() % 8 != 0) {
        return false;
    }
    std::vector<std::uint64_t> tmp;  // data may be unaligned for uint64 reads in theory
    const std::size_t words = data.size() / 8;
    std::uint64_t w0 = 0;
    std::uint64_t w1 = 0;
    std::memcpy(&w0, data.data(), 8);
    std::memcpy(&w1, data.data() + 8, 8);
    h.gen = w0;
    h.seq = w1;
    for (std::size_t i = 2; i < words; ++i) {
        std::uint64_t w = 0;
        std::memcpy(&w, data.data() + i * 8, 8);
        if (w != stress_word(w0, w1, i)) {
            return false;
        }
    }
    return true;
}

}  // namespace vs::test
