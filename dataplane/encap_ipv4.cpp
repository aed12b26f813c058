// The IPv4 tunnel methods without keys (I, R, U), the outer IPv4 header every IPv4 method shares (ESP
// too), and the dispatch over methods. The bodies are in encap_ipv4_inline.hpp.
#include "encap_ipv4_inline.hpp"

namespace nemo::dp {

bool encap_v4(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer, const LinkHeader* link)
{
    return inline_encap::encap_v4(m, self, peer, link);
}

bool encapsulate(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer)
{
    switch (peer.method) {
    case TunnelMethod::ipip:
    case TunnelMethod::gre:
    case TunnelMethod::udp: return encap_v4(m, self, peer);
    case TunnelMethod::ipv6: return encap_ip6ip6(m, self, peer);
    default: return false;
    }
}

} // namespace nemo::dp
