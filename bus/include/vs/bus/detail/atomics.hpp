#pragma once
// Named accessors over std::atomic_ref for fields of shared-memory structures, which are
// plain (trivially copyable) integers. Each call site states its memory order; these helpers
// only make the hot loops read as logic (Aeron's producer_position()/consumer_position()).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vs::bus::detail {

template <class T>
inline T load_acquire(const T& field) noexcept
{
    return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_acquire);
}

template <class T>
inline T load_relaxed(const T& field) noexcept
{
    return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_relaxed);
}

template <class T>
inline void store_release(T& field, T value) noexcept
{
    std::atomic_ref<T>(field).store(value, std::memory_order_release);
}

template <class T>
inline void store_relaxed(T& field, T value) noexcept
{
    std::atomic_ref<T>(field).store(value, std::memory_order_relaxed);
}

/// Copies `bytes` (rounded up to whole words) from racy shared memory into private memory with
/// relaxed 8-byte loads. `src` must be 8-byte aligned; the caller validates afterwards.
inline void copy_out(void* dst, const std::uint64_t* src, std::size_t bytes) noexcept
{
    auto* out = static_cast<std::uint64_t*>(dst);
    const std::size_t words = (bytes + 7) / 8;
    for (std::size_t i = 0; i < words; ++i) {
        out[i] = load_relaxed(src[i]);
    }
}

/// Copies `bytes` into shared memory with relaxed 8-byte stores (the tail of the last word is
/// zero-filled). `dst` must be 8-byte aligned.
inline void copy_in(std::uint64_t* dst, const void* src, std::size_t bytes) noexcept
{
    const auto* in = static_cast<const unsigned char*>(src);
    const std::size_t whole = bytes / 8;
    for (std::size_t i = 0; i < whole; ++i) {
        std::uint64_t w;
        std::memcpy(&w, in + i * 8, 8);
        store_relaxed(dst[i], w);
    }
    if (const std::size_t rest = bytes % 8; rest != 0) {
        std::uint64_t w = 0;
        std::memcpy(&w, in + whole * 8, rest);
        store_relaxed(dst[whole], w);
    }
}

}  // namespace vs::bus::detail
