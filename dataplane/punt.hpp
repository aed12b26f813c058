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
    ike,       // the mbuf holds an IKE message (UDP payload, non-ESP marker removed); local_port says 500 or 4500
};

// Which of the two punt rings a packet takes (worker_punt.cpp): the priority ring carries neighbour
// discovery and signaling from known senders (through an SA, or through the tunnel of the sender's own
// binding), the bulk ring everything else addressed to the home agent. The control thread drains the
// priority ring first, and each class has its own rate per worker, so a flood of junk to the home
// agent crowds out neither refreshes nor ND.
enum class PuntClass : uint8_t { priority, bulk };

struct PuntMeta {
    PuntKind kind;
    TunnelMethod via;
    uint16_t in_port;
    uint16_t outer_sport;
    Ipv4Addr outer_src;
    MacAddr src_mac; // the frame's source: replies go back to it
    bool via_sa = false; // decrypted with an inbound SA of home address sa_hoa
    Ipv6Addr sa_hoa{};
    uint16_t local_port = 0; // ike: the UDP port it came to
};

inline constexpr uint16_t kMbufPrivSize = static_cast<uint16_t>((sizeof(PuntMeta) + 7) & ~7u);

inline PuntMeta* punt_meta(rte_mbuf* m) { return static_cast<PuntMeta*>(rte_mbuf_to_priv(m)); }

} // namespace nemo::dp
