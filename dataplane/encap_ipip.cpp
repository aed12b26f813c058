// I: IPv6 directly in IPv4, protocol 41 (RFC 4213).
#include "encap.hpp"
#include "inner_tc.hpp"
#include "proto.hpp"

namespace nemo::dp {

bool encap_ipip(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer)
{
    return prepend_outer_ipv4(m, self, peer.v4, wire::ipproto::ipv6, inner_traffic_class(m));
}

} // namespace nemo::dp
