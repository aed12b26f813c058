// Big-endian loads and stores on raw byte pointers. Callers check bounds first. One unaligned load or
// store and a byte swap each (memcpy), whatever the compiler makes of byte-by-byte code around it.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nemo::wire {

namespace detail {
template <class T>
inline T to_big(T v)
{
    if constexpr (std::endian::native == std::endian::big) return v;
    else if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(v));
    else if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(v));
    else return static_cast<T>(__builtin_bswap64(v));
}
} // namespace detail

inline uint16_t load_be16(const uint8_t* p)
{
    uint16_t v;
    std::memcpy(&v, p, 2);
    return detail::to_big(v);
}
inline uint32_t load_be32(const uint8_t* p)
{
    uint32_t v;
    std::memcpy(&v, p, 4);
    return detail::to_big(v);
}
inline uint64_t load_be64(const uint8_t* p)
{
    uint64_t v;
    std::memcpy(&v, p, 8);
    return detail::to_big(v);
}
inline void store_be16(uint8_t* p, uint16_t v)
{
    v = detail::to_big(v);
    std::memcpy(p, &v, 2);
}
inline void store_be32(uint8_t* p, uint32_t v)
{
    v = detail::to_big(v);
    std::memcpy(p, &v, 4);
}

} // namespace nemo::wire
