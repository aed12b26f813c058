// The traffic class of the IPv6 packet at the front of an mbuf.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

namespace nemo::dp {

// The traffic class of the IPv6 header at p.
inline uint8_t ipv6_traffic_class(const uint8_t* p) { return static_cast<uint8_t>(((p[0] & 0x0F) << 4) | (p[1] >> 4)); }

inline uint8_t inner_traffic_class(const rte_mbuf* m) { return ipv6_traffic_class(rte_pktmbuf_mtod(m, const uint8_t*)); }

} // namespace nemo::dp
