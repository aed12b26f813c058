// Neighbour learning on the control thread: what punted ARP, Neighbor Discovery and signaling frames
// teach the neighbour table the workers read.
#include "control_io.hpp"

#include <rte_mbuf.h>

#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "ipv6.hpp"
#include "punt.hpp"

namespace nemo::dp {

using namespace wire;

void ControlIo::glean(const PuntMeta& meta, std::span<const uint8_t> ipv6)
{
    // Gleaning: the frame came from the tunnel's far end (or the router towards it).
    if (uses_ipv4(meta.via)) cfg_.neighbors->set(meta.outer_src, meta.src_mac, false);
    else if (ipv6.size() >= 40) cfg_.neighbors->set(Ipv6Addr::from_bytes(ipv6.data() + 8), meta.src_mac, false);
}

void ControlIo::on_arp(rte_mbuf* m)
{
    auto eth = parse_ether({rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)});
    if (!eth) return;
    auto arp = parse_arp(eth->payload);
    if (arp && !arp->sender_ip.is_unspecified()) cfg_.neighbors->set(arp->sender_ip, arp->sender_mac, false);
}

// Neighbor Advertisements teach the target's address; Solicitations the asker's.
void ControlIo::on_na(rte_mbuf* m)
{
    auto eth = parse_ether({rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)});
    if (!eth) return;
    auto ip = parse_ipv6(eth->payload);
    if (!ip) return;
    auto icmp = parse_icmpv6(ip->payload);
    if (!icmp || !icmpv6_checksum_ok(*icmp, ip->hdr.src, ip->hdr.dst)) return;
    if (icmp->type == icmp6::neighbor_solicit) {
        auto ns = parse_neighbor_solicit(*icmp);
        if (ns && ns->lladdr && !ip->hdr.src.is_unspecified()) cfg_.neighbors->set(ip->hdr.src, *ns->lladdr, false);
        return;
    }
    auto na = parse_neighbor_advert(*icmp);
    if (na && na->lladdr) cfg_.neighbors->set(na->target, *na->lladdr, false);
}

} // namespace nemo::dp
