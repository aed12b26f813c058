// Encapsulation of an IPv6 packet for each tunnel method, in place at the front of the mbuf
// (rte_pktmbuf_prepend; no copy). The mbuf holds the IPv6 packet with no link header; on return it holds
// the outer packet, without a link header unless one is asked for. The IPv4 methods without keys (I, R,
// U) are in encap_ipv4.cpp, IPv6-in-IPv6 in encap_ip6ip6.cpp, ESP in encap_esp.cpp.
#pragma once

#include <cstdint>

#include "addr.hpp"
#include "esp_transform.hpp"
#include "tunnel_method.hpp"

struct rte_mbuf;

namespace nemo::dp {

// The HA's own end of every tunnel.
struct TunnelSelf {
    Ipv4Addr ipv4;
    Ipv6Addr ipv6;
    uint16_t udp_port = 4191;
    // The access port computes outer IPv4 header checksums (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM): the header
    // goes out with a zero checksum and the mbuf asks the NIC for it.
    bool ipv4_cksum_offload = false;
};

// The far end of one tunnel.
struct TunnelPeer {
    TunnelMethod method = TunnelMethod::ipv6;
    Ipv4Addr v4;
    uint16_t port = 0; // UDP methods
    Ipv6Addr v6;       // method ipv6
};

// Bytes each method adds in front of the IPv6 packet.
inline uint16_t encap_overhead(TunnelMethod m)
{
    switch (m) {
    case TunnelMethod::ipv6: return 40;
    case TunnelMethod::ipip: return 20;
    case TunnelMethod::gre: return 24;
    case TunnelMethod::udp: return 28;
    // The worst case: IPv4 (and UDP), ESP header, a CBC IV, the ICV, trailer and 15 bytes of padding.
    case TunnelMethod::esp: return 20 + 8 + 16 + 16 + 2 + 15;
    case TunnelMethod::esp_udp: return 20 + 8 + 8 + 16 + 16 + 2 + 15;
    }
    return 0;
}

// An Ethernet header to put in front of the tunnel in the same step.
struct LinkHeader {
    MacAddr dst, src;
};

// I (IPv6 directly in IPv4, protocol 41, RFC 4213), R (GRE, RFC 2784, protocol type 0x86DD, no checksum,
// key or sequence number) and U (UDP from the HA's port to the router's, as registered or as seen behind
// a NAT; checksum zero, which IPv4 allows, RFC 768): the outer IPv4 header, the method's header and, with
// `link`, the Ethernet header, prepended at once. False for other methods, or without headroom (the mbuf
// is then unchanged).
bool encap_v4(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer, const LinkHeader* link = nullptr);
bool encap_ip6ip6(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer);

// Dispatches on peer.method for the methods without keys. False for ESP (encap_esp needs the SA) or
// when the mbuf has no headroom; the mbuf is then unchanged.
bool encapsulate(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer);

struct SaEntry;
// S and S+U (encap_esp.cpp): ESP tunnel mode with the outbound SA, over IPv4 (protocol 50) or in UDP
// port 4500 (RFC 3948) for esp_udp. One packet: appends padding, trailer and ICV, prepends header and
// IV, encrypts, prepends the outer headers.
bool encap_esp(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer, SaEntry& sa, ImbManager& imb);
// The same in two halves around esp_encrypt_burst, for a burst: prepare lays out the ESP packet and
// takes the SA's next sequence number into `job`; finish (after a successful encryption) counts the
// packet on the SA and prepends UDP (S+U) and the outer IPv4 header. Read the inner traffic class
// (inner_traffic_class) before prepare. False: no room in the mbuf, or the SA has sent its last
// sequence number (sa.exhausted(); counted on the SA as drop_exhausted, RFC 4303 3.3.3). encap_esp
// refuses the same way.
// `lane`: the caller's lane of the SA (a worker's, SaEntry::lane), whose block of sequence numbers and
// counters it uses; null: the SA's shared ones. With `link`, finish prepends the Ethernet header too.
struct SaLane;
bool esp_seal_prepare(rte_mbuf* m, SaEntry& sa, EspJob& job, SaLane* lane = nullptr);
bool esp_seal_finish(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer, SaEntry& sa, uint8_t inner_tc,
                     SaLane* lane = nullptr, const LinkHeader* link = nullptr);

// The outer IPv4 header every IPv4 method shares (DF set, DSCP and ECN copied from the inner traffic
// class per RFC 6040 normal mode, checksum computed or left to the NIC) is written by
// inline_encap::push_outer_ipv4 (encap_ipv4_inline.hpp), with the Ethernet header in the same prepend.
} // namespace nemo::dp
