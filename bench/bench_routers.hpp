// The benchmarks' mobile routers: router i's home address, mobile network prefix and care-of address,
// distinct for every i below 2^24, on the home prefix kHome served by kHa6.
#pragma once

#include <cstdint>

#include "addr.hpp"

namespace nemo::bench {

inline const Ipv6Addr kHa6 = *Ipv6Addr::parse("2001:db8:1::1");
inline const Prefix6 kHome = *Prefix6::parse("2001:db8:1::/64");

inline Ipv6Addr hoa_of(uint32_t i)
{
    Ipv6Addr a = kHome.addr;
    a.bytes[12] = static_cast<uint8_t>(i >> 24);
    a.bytes[13] = static_cast<uint8_t>(i >> 16);
    a.bytes[14] = static_cast<uint8_t>(i >> 8);
    a.bytes[15] = static_cast<uint8_t>(i + 1);
    return a;
}

inline Prefix6 mnp_of(uint32_t i)
{
    Ipv6Addr a = *Ipv6Addr::parse("2001:db8::");
    a.bytes[1] = static_cast<uint8_t>(0xB8 + (i >> 24));
    a.bytes[2] = static_cast<uint8_t>(0x10 | ((i >> 16) & 0xFF));
    a.bytes[4] = static_cast<uint8_t>(i >> 8);
    a.bytes[5] = static_cast<uint8_t>(i);
    return Prefix6::make(a, 48);
}

inline Ipv4Addr coa_of(uint32_t i) { return Ipv4Addr{0x0A000000u + i}; }

} // namespace nemo::bench
