// The outer IPv4 header every IPv4 tunnel method shares, and the dispatch over methods.
#include <rte_mbuf.h>

#include "encap.hpp"
#include "ecn.hpp"
#include "bytes.hpp"
#include "checksum.hpp"
#include "ethernet.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"

namespace nemo::dp {

uint16_t encap_overhead(TunnelMethod m)
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

bool prepend_outer_ipv4(rte_mbuf* m, const TunnelSelf& self, Ipv4Addr dst, uint8_t protocol, uint8_t inner_tc)
{
    const uint32_t total = rte_pktmbuf_pkt_len(m) + wire::kIpv4MinHeaderLen;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, wire::kIpv4MinHeaderLen));
    if (!p) return false;
    // DF set, so an atomic datagram: its Identification carries no meaning and is 0 (RFC 6864).
    const uint32_t w0 = (0x45u << 24) | (uint32_t{outer_tos_on_encap(inner_tc)} << 16) | (total & 0xFFFF);
    const uint32_t w1 = wire::kIpv4FlagDF;
    const uint32_t w2 = (64u << 24) | (uint32_t{protocol} << 16);
    uint16_t csum = 0;
    if (self.ipv4_cksum_offload) {
        m->l2_len = wire::kEtherHeaderLen;
        m->l3_len = wire::kIpv4MinHeaderLen;
        m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
    } else {
        csum = wire::finish_checksum(uint64_t{w0} + w1 + w2 + self.ipv4.value + dst.value);
    }
    wire::store_be32(p, w0);
    wire::store_be32(p + 4, w1);
    wire::store_be32(p + 8, w2 | csum);
    wire::store_be32(p + 12, self.ipv4.value);
    wire::store_be32(p + 16, dst.value);
    return true;
}

bool encapsulate(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer)
{
    switch (peer.method) {
    case TunnelMethod::ipip: return encap_ipip(m, self, peer);
    case TunnelMethod::gre: return encap_gre(m, self, peer);
    case TunnelMethod::udp: return encap_udp(m, self, peer);
    case TunnelMethod::ipv6: return encap_ip6ip6(m, self, peer);
    default: return false;
    }
}

} // namespace nemo::dp
