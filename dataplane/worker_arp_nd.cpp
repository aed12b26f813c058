// The ARP and Neighbor Discovery responder: the home agent's own addresses, and the home addresses it defends (proxy ND).
#include "worker.hpp"

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstring>

#include "bytes.hpp"
#include "ecn.hpp"
#include "esp.hpp"
#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "inner_tc.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "worker_util.hpp"

namespace nemo::dp {

using namespace wire;

void Worker::learn_copy(rte_mbuf* m, PuntKind kind, uint16_t port)
{
    // The control thread learns the asker's link-layer address from a copy; neighbour traffic is rare.
    rte_mbuf* copy = rte_pktmbuf_copy(m, cfg_.pool, 0, UINT32_MAX);
    if (!copy) {
        cfg_.counters->inc(DpCounter::no_mbuf);
        return;
    }
    punt(copy, PuntMeta{kind, TunnelMethod::ipv6, port, 0, {}, MacAddr::from_bytes(data(m) + 6)}, PuntClass::priority);
}

void Worker::answer_arp(rte_mbuf* m, const Classified& c, const PortSide& side)
{
    learn_copy(m, PuntKind::arp, side.port);
    uint8_t* l3 = data(m) + c.l3_offset;
    auto req = parse_arp({l3, kArpLen});
    ArpPacket reply{arp_op::reply, side.mac, cfg_.self.ipv4, req->sender_mac, req->sender_ip};
    write_arp(l3, reply);
    std::memcpy(data(m), req->sender_mac.bytes.data(), 6);
    side.mac.to_bytes(data(m) + 6);
    cfg_.counters->inc(DpCounter::arp_replies);
    queue_tx(side, m);
}

void Worker::answer_ns(rte_mbuf* m, const Classified& c, const PortSide& side)
{
    uint8_t* l3 = data(m) + c.l3_offset;
    const std::size_t l3_len = rte_pktmbuf_data_len(m) - c.l3_offset;
    auto malformed = [&] {
        LcoreCounters::bump(cfg_.counters->classify_drops[static_cast<std::size_t>(DropReason::malformed)]);
        rte_pktmbuf_free(m);
    };
    auto ip = parse_ipv6({l3, l3_len});
    if (!ip || ip->hdr.hop_limit != 255) return malformed(); // RFC 4861 7.1.1
    auto icmp = parse_icmpv6(ip->payload);
    if (!icmp || !icmpv6_checksum_ok(*icmp, ip->hdr.src, ip->hdr.dst)) return malformed();
    auto ns = parse_neighbor_solicit(*icmp);
    if (!ns) return malformed();
    if (ip->hdr.src.is_unspecified() && !dad_solicit_valid(*ns, ip->hdr.dst)) return malformed();
    const bool own = std::find(cfg_.ha_ipv6.begin(), cfg_.ha_ipv6.end(), ns->target) != cfg_.ha_ipv6.end();
    bool proxied = false, router = own;
    if (!own) {
        // Draft section 8 / RFC 6275 10.4.1 (mobile nodes: Router bit clear) and RFC 3963 6.2 (mobile
        // routers: Router bit set): defend a home address while its binding lives.
        const FastBinding* b = cfg_.tables->lookup_downstream(ns->target);
        proxied = b && b->proxy_nd && b->hoa == ns->target;
        router = proxied && b->router;
    }
    if (!own && !proxied) {
        LcoreCounters::bump(cfg_.counters->classify_drops[static_cast<std::size_t>(DropReason::not_for_us)]);
        rte_pktmbuf_free(m);
        return;
    }
    const bool dad = ip->hdr.src.is_unspecified();
    if (!dad && ns->lladdr) learn_copy(m, PuntKind::nd, side.port);
    const Ipv6Addr dst = dad ? kAllNodes : ip->hdr.src;
    const Ipv6Addr src = own ? ns->target : cfg_.ha_ipv6.front();
    const MacAddr dst_mac = dad ? MacAddr::ipv6_multicast(dst) : MacAddr::from_bytes(data(m) + 6);
    NeighborMessage na{static_cast<uint8_t>((router ? na_flag::R : 0) | (own ? na_flag::O : 0) | (dad ? 0 : na_flag::S)), ns->target,
                       side.mac};
    // Rewrite in place: Ethernet, IPv6 header, then the advertisement.
    const std::size_t need = c.l3_offset + kIpv6HeaderLen + 32;
    if (rte_pktmbuf_data_len(m) < need && !rte_pktmbuf_append(m, static_cast<uint16_t>(need - rte_pktmbuf_data_len(m)))) {
        cfg_.counters->inc(DpCounter::no_mbuf);
        rte_pktmbuf_free(m);
        return;
    }
    if (rte_pktmbuf_data_len(m) > need) rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - need));
    auto len = build_neighbor_advert({l3 + kIpv6HeaderLen, 32}, na, src, dst);
    write_ipv6_header(l3, Ipv6Header{0, 0, static_cast<uint16_t>(*len), ipproto::icmpv6, 255, src, dst});
    dst_mac.to_bytes(data(m));
    side.mac.to_bytes(data(m) + 6);
    cfg_.counters->inc(DpCounter::na_sent);
    queue_tx(side, m);
}

} // namespace nemo::dp
