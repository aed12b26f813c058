// Neighbour learning on the control thread: what punted ARP and Neighbor Discovery frames may teach the
// neighbour table the workers read (the rules: lib/neighbor_policy.hpp).
#include "control_io.hpp"

#include <rte_mbuf.h>

#include <algorithm>

#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "ipv6.hpp"
#include "proto.hpp"

namespace nemo::dp {

using namespace wire;

bool ControlIo::is_ours(Ipv4Addr a) const
{
    return a == cfg_.self.ipv4 || std::find(cfg_.ha_ipv4.begin(), cfg_.ha_ipv4.end(), a) != cfg_.ha_ipv4.end();
}

bool ControlIo::is_ours(const Ipv6Addr& a) const
{
    return a == cfg_.self.ipv6 || std::find(cfg_.ha_ipv6.begin(), cfg_.ha_ipv6.end(), a) != cfg_.ha_ipv6.end();
}

bool ControlIo::is_gateway(const NeighborKey& k) const
{
    return (cfg_.access.gateway4 && k == NeighborKey::of(*cfg_.access.gateway4)) ||
           (cfg_.home.gateway6 && k == NeighborKey::of(*cfg_.home.gateway6));
}

void ControlIo::learn(const NeighborKey& k, const MacAddr& mac, NeighborEvidence ev, uint64_t now)
{
    const auto known = cfg_.neighbors->known(k);
    const bool gateway = is_gateway(k);
    const NeighborFacts facts{ev, cfg_.neighbors->is_static(k), gateway, known && *known == mac};
    switch (neighbor_verdict(facts)) {
    case NeighborVerdict::learn: {
        const auto origin = ev == NeighborEvidence::reply ? NeighborOrigin::reply : NeighborOrigin::solicitation;
        const LearnResult r = cfg_.neighbors->learn(k, mac, origin, now, gateway);
        if (r == LearnResult::added || r == LearnResult::refreshed) nb_learned_.fetch_add(1, std::memory_order_relaxed);
        break; // table_full: counted by the table
    }
    case NeighborVerdict::same: break;
    case NeighborVerdict::refuse_unsolicited: nb_unsolicited_.fetch_add(1, std::memory_order_relaxed); break;
    case NeighborVerdict::refuse_static: nb_static_.fetch_add(1, std::memory_order_relaxed); break;
    case NeighborVerdict::refuse_gateway: nb_gateway_.fetch_add(1, std::memory_order_relaxed); break;
    }
}

// An ARP reply teaches its sender when it answers our request for it; an ARP request when it asks for
// one of our addresses (the worker has answered it).
void ControlIo::on_arp(rte_mbuf* m, uint64_t now)
{
    auto eth = parse_ether({rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)});
    auto arp = parse_arp(eth ? eth->payload : std::span<const uint8_t>{});
    if (!arp || arp->sender_ip.is_unspecified()) {
        nb_invalid_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const auto k = NeighborKey::of(arp->sender_ip);
    const bool to_us = is_ours(arp->target_ip);
    NeighborEvidence ev = NeighborEvidence::unsolicited;
    if (arp->op == arp_op::reply && to_us && answers_our_question(k, now)) ev = NeighborEvidence::reply;
    else if (arp->op == arp_op::request && to_us) ev = NeighborEvidence::solicitation;
    learn(k, arp->sender_mac, ev, now);
}

// A Neighbor Advertisement teaches its target when it is solicited (S) and answers our NS for it; a
// Neighbor Solicitation its source when it asks for one of our addresses (RFC 4861 7.2.3).
void ControlIo::on_nd(rte_mbuf* m, uint64_t now)
{
    auto eth = parse_ether({rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)});
    auto ip = parse_ipv6(eth ? eth->payload : std::span<const uint8_t>{});
    auto icmp = parse_icmpv6(ip ? ip->payload : std::span<const uint8_t>{});
    // RFC 4861 7.1.1, 7.1.2: hop limit 255 proves the message was not forwarded onto the link.
    if (!icmp || !icmpv6_checksum_ok(*icmp, ip->hdr.src, ip->hdr.dst) || ip->hdr.hop_limit != 255) {
        nb_invalid_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (icmp->type == icmp6::neighbor_solicit) {
        auto ns = parse_neighbor_solicit(*icmp);
        if (!ns) {
            nb_invalid_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        if (!ns->lladdr || ip->hdr.src.is_unspecified()) return; // nothing to learn (DAD)
        learn(NeighborKey::of(ip->hdr.src), *ns->lladdr,
              is_ours(ns->target) ? NeighborEvidence::solicitation : NeighborEvidence::unsolicited, now);
        return;
    }
    auto na = parse_neighbor_advert(*icmp);
    if (!na) {
        nb_invalid_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (!na->lladdr) return; // nothing to learn
    const auto k = NeighborKey::of(na->target);
    const bool solicited = (na->flags & na_flag::S) != 0 && answers_our_question(k, now);
    learn(k, *na->lladdr, solicited ? NeighborEvidence::reply : NeighborEvidence::unsolicited, now);
}

} // namespace nemo::dp
