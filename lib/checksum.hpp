// The Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-header sums that the upper layers add to it.
#pragma once

#include <cstdint>
#include <span>

#include "addr.hpp"

namespace nemo::wire {

// One's-complement sum of `data` as 16-bit big-endian words (an odd tail byte is padded with zero),
// added to `initial`. Not folded: combine several partial sums, then fold once.
uint64_t sum_words(std::span<const uint8_t> data, uint64_t initial = 0);

// Folds a partial sum to 16 bits (not complemented): 0 only for 0. Each halving adds the value to
// itself rotated by half its width: the upper half then holds the two halves' sum with the carry of
// the lower added back (one's complement addition), in three instructions.
inline uint16_t fold(uint64_t sum)
{
    const uint64_t s32 = (sum + ((sum << 32) | (sum >> 32))) >> 32;
    const auto s = static_cast<uint32_t>(s32);
    return static_cast<uint16_t>((s + ((s << 16) | (s >> 16))) >> 16);
}

// The checksum field value for data whose partial sum (with the checksum field zero) is `sum`.
inline uint16_t finish_checksum(uint64_t sum) { return static_cast<uint16_t>(~fold(sum)); }

// True when data including its checksum field sums to all ones.
inline bool checksum_ok(uint64_t sum_including_field) { return fold(sum_including_field) == 0xFFFF; }

// Whether a whole IPv4 header (`len` bytes, a multiple of 4 from 20: IHL x 4), its checksum field included,
// sums to all ones: checksum_ok(sum_words(...)) without the byte swaps. RFC 1071 2(B): the one's
// complement sum does not depend on byte order, and all ones read the same swapped, so native 32-bit
// words do. Inline: every IPv4 packet received is checked.
inline bool ipv4_header_checksum_ok(const uint8_t* p, std::size_t len)
{
    auto word = [p](std::size_t i) {
        uint32_t w;
        __builtin_memcpy(&w, p + i, 4);
        return uint64_t{w};
    };
    uint64_t sum = word(0) + word(4) + word(8) + word(12) + word(16); // no options: the usual header
    for (std::size_t i = 20; i < len; i += 4) sum += word(i);
    return fold(sum) == 0xFFFF;
}

uint64_t pseudo_header_sum_v6(const Ipv6Addr& src, const Ipv6Addr& dst, uint32_t upper_len, uint8_t next_header);
uint64_t pseudo_header_sum_v4(Ipv4Addr src, Ipv4Addr dst, uint16_t upper_len, uint8_t protocol);

// Checksum of data alone (IPv4 header checksum, GRE checksum, ICMPv4): field value to write.
inline uint16_t inet_checksum(std::span<const uint8_t> data) { return finish_checksum(sum_words(data)); }

} // namespace nemo::wire
