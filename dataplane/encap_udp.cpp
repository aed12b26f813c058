// U: IPv6 in UDP in IPv4, from the HA's UDP port to the router's (as registered, or as seen behind a
// NAT). The UDP checksum is zero, which IPv4 allows (RFC 768): the inner packet has its own checks.
#include "encap.hpp"
#include "inner_tc.hpp"
#include "proto.hpp"
#include "udp.hpp"

namespace nemo::dp {

bool encap_udp(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer)
{
    const uint8_t tc = inner_traffic_class(m);
    const uint32_t inner = rte_pktmbuf_pkt_len(m);
    auto* u = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, wire::kUdpHeaderLen));
    if (!u) return false;
    wire::write_udp_header({u, inner + wire::kUdpHeaderLen}, self.udp_port, peer.port);
    if (prepend_outer_ipv4(m, self, peer.v4, wire::ipproto::udp, tc)) return true;
    rte_pktmbuf_adj(m, wire::kUdpHeaderLen);
    return false;
}

} // namespace nemo::dp
