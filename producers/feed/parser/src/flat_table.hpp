#pragma once
// Writes one FlatBuffers table at a layout fixed at compile time. Every field has its slot;
// a NaN double (the schema's "absent") or an empty optional string gets vtable entry 0, as
// FlatBufferBuilder would leave it out:
//
//   [0]          uoffset to the table (the root)
//   [4]          vtable: its size, the table's size, one voffset per field (schema order)
//   [table]      soffset to the vtable, then the fields by size (8, 4, 2, 1 bytes): every
//                field naturally aligned relative to the buffer start
//   [strings]    uint32 length, bytes, NUL, padded to 4; total padded to 8
//
// This is the standard FlatBuffers binary format (the generated accessors, the Verifier and
// the bus's JSON decoder read it; the tests check all three), produced in a few stores instead of
// FlatBufferBuilder's per-field bookkeeping: for a 650-row frame the builder cost about as
// much as simdjson's whole DOM parse. record_builder.cpp static_asserts each layout against
// the generated VT_* offsets and accessor types, so a schema change cannot slip by.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>

namespace vs::feed::detail {

/// Offsets of a table whose fields (schema order) have the given byte sizes (1, 2, 4, 8;
/// strings are 4-byte offsets).
template <std::size_t N>
struct flat_layout {
    std::array<std::uint8_t, N> sizes{};
    std::array<std::uint16_t, N> offsets{};   ///< of each field from the table start
    std::uint16_t table_pos = 0;              ///< from the buffer start
    std::uint16_t table_size = 0;             ///< soffset + fields
    std::array<std::uint8_t, 64> prefix{};    ///< root offset + vtable + soffset, ready to copy
    std::uint16_t prefix_size = 0;            ///< table_pos + 4
};

template <std::size_t N>
constexpr flat_layout<N> make_flat_layout(const std::array<std::uint8_t, N>& sizes)
{
    flat_layout<N> l;
    l.sizes = sizes;
    const std::size_t vtable_pos = 4;
    const std::size_t vtable_size = 4 + 2 * N;
    std::size_t table_pos = vtable_pos + vtable_size;
    // The table starts with a 4-byte soffset; at 4 mod 8 its 8-byte fields land on 0 mod 8.
    while (table_pos % 8 != 4) {
        table_pos += 2;
    }
    std::size_t at = 4;
    for (const std::size_t size : {8u, 4u, 2u, 1u}) {
        for (std::size_t i = 0; i < N; ++i) {
            if (sizes[i] == size) {
                l.offsets[i] = static_cast<std::uint16_t>(at);
                at += size;
            }
        }
    }
    l.table_pos = static_cast<std::uint16_t>(table_pos);
    l.table_size = static_cast<std::uint16_t>(at);
    l.prefix_size = static_cast<std::uint16_t>(table_pos + 4);
    // Little-endian, as FlatBuffers is on the wire.
    const auto put16 = [&](std::size_t pos, std::size_t v) {
        l.prefix[pos] = static_cast<std::uint8_t>(v & 0xFF);
        l.prefix[pos + 1] = static_cast<std::uint8_t>(v >> 8);
    };
    const auto put32 = [&](std::size_t pos, std::size_t v) {
        put16(pos, v & 0xFFFF);
        put16(pos + 2, v >> 16);
    };
    put32(0, table_pos);
    put16(vtable_pos, vtable_size);
    put16(vtable_pos + 2, at);
    for (std::size_t i = 0; i < N; ++i) {
        put16(vtable_pos + 4 + 2 * i, l.offsets[i]);
    }
    put32(table_pos, table_pos - vtable_pos);  // soffset: vtable = table - soffset
    return l;
}

/// The buffer a record is written into; grows to the largest record, then never allocates.
class flat_writer {
public:
    flat_writer() { reserve(1024); }

    /// Starts a record of `layout`: header and vtable copied, fields zeroed.
    template <std::size_t N>
    void begin(const flat_layout<N>& layout)
    {
        offsets_ = layout.offsets.data();
        table_pos_ = layout.table_pos;
        size_ = 0;
        const std::size_t fixed_end = layout.table_pos + layout.table_size;
        reserve(((fixed_end + 3) & ~std::size_t{3}) + 8);
        std::memcpy(at(), layout.prefix.data(), layout.prefix_size);
        size_ = (fixed_end + 3) & ~std::size_t{3};
        std::memset(at() + layout.prefix_size, 0, size_ - layout.prefix_size);
    }

    /// Field `index` (schema order) of the table begun.
    template <class T>
    void scalar(std::size_t index, T value) noexcept
    {
        static_assert(std::is_trivially_copyable_v<T> && !std::is_floating_point_v<T>,
                      "doubles go through number(): NaN means absent");
        std::memcpy(at() + table_pos_ + offsets_[index], &value, sizeof value);
    }

    /// A double whose schema default is NaN ("absent"): NaN is left out of the vtable, as
    /// FlatBufferBuilder does under FLATBUFFERS_NAN_DEFAULTS, so JSON output omits it.
    void number(std::size_t index, double value) noexcept
    {
        if (value != value) {
            absent(index);
        } else {
            std::memcpy(at() + table_pos_ + offsets_[index], &value, sizeof value);
        }
    }

    /// Appends the string and points field `index` at it.
    void string(std::size_t index, std::string_view s)
    {
        const std::size_t pos = size_;  // 4-aligned
        reserve(pos + 4 + s.size() + 1 + 8);
        const auto len = static_cast<std::uint32_t>(s.size());
        std::byte* const b = at();
        std::memcpy(b + pos, &len, 4);
        std::memcpy(b + pos + 4, s.data(), s.size());
        std::size_t end = pos + 4 + s.size();
        b[end++] = std::byte{0};
        while (end % 4 != 0) {
            b[end++] = std::byte{0};
        }
        size_ = end;
        const std::size_t field = table_pos_ + offsets_[index];
        scalar(index, static_cast<std::uint32_t>(pos - field));
    }

    /// An optional string: empty is absent.
    void optional_string(std::size_t index, std::string_view s)
    {
        if (s.empty()) {
            absent(index);
        } else {
            string(index, s);
        }
    }

    /// Marks field `index` absent (its vtable entry 0), e.g. an optional string not given.
    void absent(std::size_t index) noexcept
    {
        const std::uint16_t zero = 0;
        std::memcpy(at() + 4 + 4 + 2 * index, &zero, 2);
    }

    /// The finished record, padded to 8 bytes.
    std::span<const std::byte> finish()
    {
        reserve(size_ + 8);
        std::byte* const b = at();
        while (size_ % 8 != 0) {
            b[size_++] = std::byte{0};
        }
        return {b, size_};
    }

    // Staging: a parser that must not deliver a frame's records before the whole frame is
    // known to be good keeps each finished record here and starts the next one after it.

    /// Keeps the record just finished; returns its offset for kept(). The next begin()
    /// writes after it (8-aligned, since finish() pads to 8).
    std::size_t keep() noexcept
    {
        const std::size_t offset = base_;
        base_ += size_;
        size_ = 0;
        return offset;
    }

    /// A record kept at `offset`. The buffer may move while records are still being built:
    /// take these views only once the staging is over, and drop them before the next begin().
    std::span<const std::byte> kept(std::size_t offset, std::size_t size) const noexcept
    {
        return {buf_.get() + offset, size};
    }

    /// Forgets every kept record: the next record starts at the buffer's start again.
    void restart() noexcept
    {
        base_ = 0;
        size_ = 0;
    }

private:
    std::byte* at() noexcept { return buf_.get() + base_; }

    /// Makes room for `n` bytes of the current record (after the kept ones).
    void reserve(std::size_t n)
    {
        if (base_ + n <= capacity_) {
            return;
        }
        std::size_t cap = capacity_ == 0 ? 1024 : capacity_ * 2;
        while (cap < base_ + n) {
            cap *= 2;
        }
        auto bigger = std::make_unique<std::byte[]>(cap);  // operator new: 16-aligned
        if (base_ + size_ != 0) {
            std::memcpy(bigger.get(), buf_.get(), base_ + size_);
        }
        buf_ = std::move(bigger);
        capacity_ = cap;
    }

    std::unique_ptr<std::byte[]> buf_;
    std::size_t capacity_ = 0;
    std::size_t size_ = 0;       ///< of the current record
    std::size_t base_ = 0;       ///< where the current record starts (after kept ones)
    std::size_t table_pos_ = 0;
    const std::uint16_t* offsets_ = nullptr;
};

}  // namespace vs::feed::detail
