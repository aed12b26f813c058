// Unsolicited proxy Neighbor Advertisements for home addresses (RFC 6275 10.4.1, RFC 3963 6.2): on
// accepting a home registration the home agent tells the home link, to all-nodes, that the home address
// is now its own (Override set, so that caches holding the mobile node's MAC switch; Solicited clear;
// Router set for a mobile router). Multicast is not reliable: RFC 6275 10.4.1 allows repeating it up to
// MAX_NEIGHBOR_ADVERTISEMENT (3, RFC 4861 10) times, and RFC 4861 7.2.6 wants such advertisements at
// least RETRANS_TIMER (1 s) apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "addr.hpp"

namespace nemo::dp {

inline constexpr unsigned kNaAnnounceCount = 3;        // RFC 4861 10: MAX_NEIGHBOR_ADVERTISEMENT
inline constexpr uint64_t kNaAnnounceIntervalMs = 1000; // RFC 4861 7.2.6: at least 1 s apart
inline constexpr std::size_t kNaAnnounceFrameLen = 14 + 40 + 32;

// The frame: Ethernet to 33:33:00:00:00:01 from src_mac, IPv6 from src to ff02::1 with hop limit 255,
// the NA for target with flags O (and R when router) and the target link-layer address option src_mac.
// Returns its length, or 0 when out is too small.
std::size_t build_unsolicited_na(std::span<uint8_t> out, const MacAddr& src_mac, const Ipv6Addr& src, const Ipv6Addr& target,
                                 bool router);

} // namespace nemo::dp
