// What the worker ESP tests send: keys with a pattern, and IPv6 packets with a recognisable payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "addr.hpp"
#include "ipv6.hpp"

namespace nemo::test {

inline std::vector<uint8_t> key(std::size_t n, uint8_t seed)
{
    std::vector<uint8_t> k(n);
    for (std::size_t i = 0; i < n; ++i) k[i] = static_cast<uint8_t>(seed + i * 7);
    return k;
}

// An IPv6 packet (no link header): no next header, hop limit 64, the payload counting up from `tag`.
inline std::vector<uint8_t> ipv6_packet(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t tag, std::size_t payload = 48)
{
    std::vector<uint8_t> p(wire::kIpv6HeaderLen + payload);
    wire::Ipv6Header h;
    h.payload_len = static_cast<uint16_t>(payload);
    h.next_header = 59; // no next header
    h.hop_limit = 64;
    h.src = src;
    h.dst = dst;
    wire::write_ipv6_header(p.data(), h);
    for (std::size_t i = 0; i < payload; ++i) p[wire::kIpv6HeaderLen + i] = static_cast<uint8_t>(tag + i);
    return p;
}

} // namespace nemo::test
