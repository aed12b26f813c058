// One burst's ESP work in each direction, between the per-packet halves and intel-ipsec-mb's burst
// call: the packets, what each needs after the crypto, and the jobs. The worker fills one, runs the
// crypto once for all of it, then finishes every packet.
#pragma once

#include <cstdint>

#include "addr.hpp"
#include "classify.hpp"
#include "encap.hpp"
#include "esp_transform.hpp"

struct rte_mbuf;

namespace nemo::dp {

struct SaEntry;
struct SaLane;

inline constexpr uint16_t kBurst = 32;

// An upstream packet once its tunnel is stripped (or, for ESP, once it is queued for decryption).
struct UpstreamItem {
    rte_mbuf* m;
    Classified c;
    Ipv6Addr src;
    Ipv6Addr outer_src6; // IPv6-in-IPv6 only
    SaEntry* sa;         // ESP only: the inbound SA it came through
    MacAddr src_mac;
    uint8_t outer_tos;
};

// Downstream: packets laid out by esp_seal_prepare, sealed together, finished by esp_seal_finish; or
// laid out with their outer headers by esp_seal_fast (`framed`), sent as they come out of the crypto.
struct EspSealBurst {
    struct Item {
        rte_mbuf* m;
        SaEntry* sa;
        SaLane* lane; // this worker's of sa
        bool framed;  // esp_seal_fast's: of peer only the method is set, mac and tc are not
        TunnelPeer peer;
        MacAddr mac;
        uint8_t tc;
    };
    Item items[kBurst];
    EspJob jobs[kBurst];
    uint16_t n = 0;
    bool full() const { return n == kBurst; }
};

// Upstream: packets whose SA, window and length checked out, verified and decrypted together.
struct EspOpenBurst {
    UpstreamItem items[kBurst];
    EspJob jobs[kBurst];
    uint16_t n = 0;
};

} // namespace nemo::dp
