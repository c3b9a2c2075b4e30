#pragma once
// Little-endian writer and bounds-checked reader shared by the state and universe codecs.
#include <bit>
#include <boost/crc.hpp>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace vs::oi::detail {

inline std::uint32_t from_le(std::uint32_t v) noexcept
{
    if constexpr (std::endian::native == std::endian::big) {
        return __builtin_bswap32(v);
    }
    return v;
}

inline std::uint64_t from_le64(std::uint64_t v) noexcept
{
    if constexpr (std::endian::native == std::endian::big) {
        return __builtin_bswap64(v);
    }
    return v;
}

struct writer {
    std::string out;
    void bytes(const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); }
    void u8(std::uint8_t v) { out.push_back(static_cast<char>(v)); }
    /// Ends the encoding with the CRC-32 of everything before it (what reader::open_frame checks).
    void seal()
    {
        boost::crc_32_type crc;
        crc.process_bytes(out.data(), out.size());
        u32(crc.checksum());
    }
    void u32(std::uint32_t v)
    {
        v = from_le(v);
        bytes(&v, 4);
    }
    void u64(std::uint64_t v)
    {
        v = from_le64(v);
        bytes(&v, 8);
    }
    void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
    void f64(double d) { u64(std::bit_cast<std::uint64_t>(d)); }
    void varint(std::uint64_t v)
    {
        while (v >= 0x80) {
            out.push_back(static_cast<char>((v & 0x7F) | 0x80));
            v >>= 7;
        }
        out.push_back(static_cast<char>(v));
    }
};

struct reader {
    std::string_view in;
    const char* what;   // "oi state"
    std::size_t pos = 0;
    std::size_t end;

    reader(std::string_view bytes, const char* name) : in(bytes), what(name), end(bytes.size()) {}

    [[noreturn]] void fail(const std::string& msg) const
    {
        throw std::invalid_argument(std::string{what} + ": " + msg + " at byte " + std::to_string(pos));
    }
    /// Checks a sealed encoding (writer::seal): at least `min_size` bytes, the CRC-32 trailer
    /// (first, so garbage is reported as such, not as whatever field it breaks), the 4-byte
    /// magic; then reads on after the magic, up to the trailer.
    void open_frame(const char (&magic)[4], std::size_t min_size)
    {
        if (in.size() < min_size) {
            fail("too short (" + std::to_string(in.size()) + " bytes)");
        }
        boost::crc_32_type crc;
        crc.process_bytes(in.data(), in.size() - 4);
        std::uint32_t stored;
        std::memcpy(&stored, in.data() + in.size() - 4, 4);
        if (from_le(stored) != crc.checksum()) {
            pos = in.size() - 4;
            fail("checksum mismatch");
        }
        end = in.size() - 4;
        if (std::memcmp(in.data(), magic, 4) != 0) {
            fail("bad magic");
        }
        pos = 4;
    }
    void need(std::size_t n) const
    {
        if (end - pos < n) {
            fail("truncated");
        }
    }
    std::uint8_t u8()
    {
        need(1);
        return static_cast<std::uint8_t>(in[pos++]);
    }
    std::uint64_t u64()
    {
        need(8);
        std::uint64_t v;
        std::memcpy(&v, in.data() + pos, 8);
        pos += 8;
        return from_le64(v);
    }
    std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
    double f64() { return std::bit_cast<double>(u64()); }
    std::string_view str(std::size_t n)
    {
        need(n);
        const auto s = in.substr(pos, n);
        pos += n;
        return s;
    }
    std::uint64_t varint()
    {
        const std::size_t start = pos;
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= end) {
                pos = start;
                fail("truncated varint");
            }
            const auto b = static_cast<std::uint8_t>(in[pos++]);
            if (shift == 63 && b > 1) {
                pos = start;
                fail("overlong varint");
            }
            v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
            if ((b & 0x80) == 0) {
                return v;
            }
        }
        pos = start;
        fail("overlong varint");
    }
};

}  // namespace vs::oi::detail
