// What a worker tells the control thread about a packet it hands over, kept in the mbuf's private area
// (the pool is created with room for it).
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "addr.hpp"
#include "tunnel_method.hpp"

namespace nemo::dp {

enum class PuntKind : uint8_t {
    signaling, // the mbuf holds an IPv6 packet (decapsulated if it came through a tunnel)
    arp,       // the mbuf holds the whole frame: neighbour learning
    nd,        // the whole frame (a Neighbor Advertisement): neighbour learning
};

struct PuntMeta {
    PuntKind kind;
    TunnelMethod via;
    uint16_t in_port;
    uint16_t outer_sport;
    Ipv4Addr outer_src;
    MacAddr src_mac; // the frame's source: replies go back to it
    bool via_sa = false; // decrypted with an inbound SA of home address sa_hoa
    Ipv6Addr sa_hoa{};
};

inline constexpr uint16_t kMbufPrivSize = static_cast<uint16_t>((sizeof(PuntMeta) + 7) & ~7u);

inline PuntMeta* punt_meta(rte_mbuf* m) { return static_cast<PuntMeta*>(rte_mbuf_to_priv(m)); }

} // namespace nemo::dp
