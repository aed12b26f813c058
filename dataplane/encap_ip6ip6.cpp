// IPv6-in-IPv6 (RFC 2473) to an IPv6 care-of address, for plain NEMO / MIPv6 bindings.
#include "encap.hpp"
#include "ecn.hpp"
#include "inner_tc.hpp"
#include "ipv6.hpp"
#include "proto.hpp"

namespace nemo::dp {

bool encap_ip6ip6(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer)
{
    const uint8_t tc = inner_traffic_class(m);
    const uint32_t inner = rte_pktmbuf_pkt_len(m);
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, wire::kIpv6HeaderLen));
    if (!p) return false;
    wire::write_ipv6_header(p, wire::Ipv6Header{outer_tos_on_encap(tc), 0, static_cast<uint16_t>(inner),
                                                wire::ipproto::ipv6, 64, self.ipv6, peer.v6});
    return true;
}

} // namespace nemo::dp
