// ESP sealing of the control plane's replies (draft 5.1: what came through an SA goes back through the
// home address's outbound SA), with the control thread's own intel-ipsec-mb manager.
#include "control_io.hpp"

#include <rte_mbuf.h>

namespace nemo::dp {

bool ControlIo::seal_reply(rte_mbuf* m, const control::Outbound& out, const TunnelPeer& peer)
{
    const Ipv6Addr hoa = Ipv6Addr::from_bytes(out.ipv6.data() + 24);
    SaEntry* sa = cfg_.sas ? cfg_.sas->outbound_for(hoa) : nullptr;
    if (!sa) {
        no_sa_.fetch_add(1, std::memory_order_relaxed);
        rte_pktmbuf_free(m);
        return false;
    }
    if (!encap_esp(m, cfg_.self, peer, *sa, imb_)) {
        no_mbuf_.fetch_add(1, std::memory_order_relaxed); // no room for the ESP trailer or headers
        rte_pktmbuf_free(m);
        return false;
    }
    return true;
}

} // namespace nemo::dp
