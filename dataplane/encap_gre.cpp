// R: GRE (RFC 2784) with protocol type 0x86DD, no checksum, key or sequence number.
#include "encap.hpp"
#include "gre.hpp"
#include "inner_tc.hpp"
#include "proto.hpp"

namespace nemo::dp {

bool encap_gre(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer)
{
    const uint8_t tc = inner_traffic_class(m);
    auto* g = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, 4));
    if (!g) return false;
    wire::write_gre({g, 4}, wire::GreHeader{wire::ethertype::ipv6, false, {}, {}});
    if (prepend_outer_ipv4(m, self, peer.v4, wire::ipproto::gre, tc)) return true;
    rte_pktmbuf_adj(m, 4);
    return false;
}

} // namespace nemo::dp
