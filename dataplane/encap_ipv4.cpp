#include <rte_mbuf.h>

#include <atomic>

#include "encap.hpp"
#include "ecn.hpp"
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
    default: return 0;
    }
}

bool prepend_outer_ipv4(rte_mbuf* m, const TunnelSelf& self, Ipv4Addr dst, uint8_t protocol, uint8_t inner_tc)
{
    const uint32_t payload = rte_pktmbuf_pkt_len(m);
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, wire::kIpv4MinHeaderLen));
    if (!p) return false;
    // The identification only has to be unique among unfragmented DF packets in flight per pair; a
    // per-lcore counter is enough and costs no atomic.
    static thread_local uint16_t ip_id = 0;
    wire::Ipv4Header h;
    h.tos = outer_tos_on_encap(inner_tc);
    h.total_len = static_cast<uint16_t>(payload + wire::kIpv4MinHeaderLen);
    h.id = ip_id++;
    h.frag = wire::kIpv4FlagDF;
    h.ttl = 64;
    h.protocol = protocol;
    h.src = self.ipv4;
    h.dst = dst;
    wire::write_ipv4_header(p, h);
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
