#include "checksum.hpp"

#include <cstring>

#include "bytes.hpp"

namespace nemo::wire {

uint64_t sum_words(std::span<const uint8_t> data, uint64_t initial)
{
    // Sum big-endian 32-bit words into a 64-bit accumulator: carries are kept and folded at the end,
    // which gives the same one's-complement result as summing 16-bit words.
    uint64_t sum = initial;
    const uint8_t* p = data.data();
    std::size_t n = data.size();
    while (n >= 16) {
        sum += load_be32(p);
        sum += load_be32(p + 4);
        sum += load_be32(p + 8);
        sum += load_be32(p + 12);
        p += 16;
        n -= 16;
    }
    while (n >= 4) {
        sum += load_be32(p);
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        sum += load_be16(p);
        p += 2;
        n -= 2;
    }
    if (n == 1) sum += uint64_t{p[0]} << 8;
    return sum;
}

uint64_t pseudo_header_sum_v6(const Ipv6Addr& src, const Ipv6Addr& dst, uint32_t upper_len, uint8_t next_header)
{
    uint64_t sum = sum_words(src.bytes);
    sum = sum_words(dst.bytes, sum);
    sum += upper_len >> 16;
    sum += upper_len & 0xFFFF;
    sum += next_header;
    return sum;
}

uint64_t pseudo_header_sum_v4(Ipv4Addr src, Ipv4Addr dst, uint16_t upper_len, uint8_t protocol)
{
    return uint64_t{src.value >> 16} + (src.value & 0xFFFF) + (dst.value >> 16) + (dst.value & 0xFFFF) +
           upper_len + protocol;
}

} // namespace nemo::wire
