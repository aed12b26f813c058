#include "control_io.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>

#include "addr_hash.hpp"
#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "punt.hpp"

namespace nemo::dp {

using namespace wire;

unsigned ControlIo::poll(uint64_t now)
{
    rte_mbuf* pkts[32];
    const unsigned n = rte_ring_sc_dequeue_burst(cfg_.punt, reinterpret_cast<void**>(pkts), 32, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        switch (punt_meta(m)->kind) {
        case PuntKind::signaling: on_signaling(m, now); break;
        case PuntKind::arp: on_arp(m); break;
        case PuntKind::nd: on_na(m); break;
        }
        rte_pktmbuf_free(m);
    }
    probe_gateways(now);
    resolve(now);
    return n;
}

void ControlIo::probe_gateways(uint64_t now)
{
    if (now < next_gateway_probe_) return;
    next_gateway_probe_ = now + cfg_.gateway_refresh_s;
    if (cfg_.access.gateway4 && !cfg_.neighbors->is_static(*cfg_.access.gateway4)) cfg_.neighbors->request(*cfg_.access.gateway4);
    if (cfg_.home.gateway6 && !cfg_.neighbors->is_static(*cfg_.home.gateway6)) cfg_.neighbors->request(*cfg_.home.gateway6);
}

void ControlIo::on_signaling(rte_mbuf* m, uint64_t now)
{
    const PuntMeta meta = *punt_meta(m);
    control::Punted p;
    p.ipv6 = {rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)};
    p.via = meta.via;
    p.outer_src = meta.outer_src;
    p.outer_src_port = meta.outer_sport;
    if (meta.via_sa) p.sa_home_address = meta.sa_hoa;
    // Gleaning: the frame came from the tunnel's far end (or the router towards it).
    if (uses_ipv4(meta.via)) cfg_.neighbors->set(meta.outer_src, meta.src_mac, false);
    else if (p.ipv6.size() >= 40) cfg_.neighbors->set(Ipv6Addr::from_bytes(p.ipv6.data() + 8), meta.src_mac, false);
    out_.clear();
    cp_.handle_signal(p, now, out_);
    for (const auto& o : out_) send(o, meta.in_port, meta.src_mac);
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

void ControlIo::send_frame(rte_mbuf* m, uint16_t port)
{
    m->port = port;
    if (rte_ring_sp_enqueue(cfg_.inject, m) != 0) {
        inject_full_.fetch_add(1, std::memory_order_relaxed);
        rte_pktmbuf_free(m);
    }
}

void ControlIo::send(const control::Outbound& out, uint16_t port, const MacAddr& dst_mac)
{
    if (out.ipv6.empty()) return;
    rte_mbuf* m = rte_pktmbuf_alloc(cfg_.pool);
    auto* p = m ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(out.ipv6.size()))) : nullptr;
    if (!p) {
        no_mbuf_.fetch_add(1, std::memory_order_relaxed);
        rte_pktmbuf_free(m);
        return;
    }
    std::memcpy(p, out.ipv6.data(), out.ipv6.size());
    uint16_t type = ethertype::ipv6;
    const TunnelPeer peer{out.via, out.v4_dst, out.v4_dst_port, {}};
    if (out.via == TunnelMethod::esp || out.via == TunnelMethod::esp_udp) {
        // Draft 5.1: replies to what came through an SA go back through the home address's outbound SA.
        const Ipv6Addr hoa = Ipv6Addr::from_bytes(out.ipv6.data() + 24);
        SaEntry* sa = cfg_.sas ? cfg_.sas->outbound_for(hoa) : nullptr;
        if (!sa) {
            no_sa_.fetch_add(1, std::memory_order_relaxed);
            rte_pktmbuf_free(m);
            return;
        }
        if (!encap_esp(m, cfg_.self, peer, *sa, imb_)) {
            no_mbuf_.fetch_add(1, std::memory_order_relaxed); // no room for the ESP trailer or headers
            rte_pktmbuf_free(m);
            return;
        }
        type = ethertype::ipv4;
    } else if (uses_ipv4(out.via)) {
        if (!encapsulate(m, cfg_.self, peer)) {
            no_mbuf_.fetch_add(1, std::memory_order_relaxed); // no headroom for the tunnel
            rte_pktmbuf_free(m);
            return;
        }
        type = ethertype::ipv4;
    }
    auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kEtherHeaderLen));
    if (!eth) {
        no_mbuf_.fetch_add(1, std::memory_order_relaxed);
        rte_pktmbuf_free(m);
        return;
    }
    write_ether_header(eth, dst_mac, side_of(port).mac, type);
    send_frame(m, port);
}

void ControlIo::resolve(uint64_t now)
{
    // Forget addresses not asked for this second: packets to ever new addresses must not grow the map.
    if (now != asked_pruned_at_) {
        std::erase_if(asked_, [now](const auto& kv) { return kv.second <= now; });
        asked_pruned_at_ = now;
    }
    ResolveRequest r;
    while (cfg_.neighbors->next_request(r)) {
        uint64_t key = r.family;
        for (int i = 0; i < 16; ++i) key = key * 131 + r.addr[i];
        auto& last = asked_[key];
        if (last == now + 1) continue; // asked this second already
        last = now + 1;
        rte_mbuf* m = rte_pktmbuf_alloc(cfg_.pool);
        if (!m) {
            no_mbuf_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        // A pool's mbufs hold far more than an ARP request or an NS; a pool made with smaller ones
        // would make this fail, counted like an empty pool.
        const uint16_t len = r.family == 4 ? kEtherHeaderLen + kArpLen : kEtherHeaderLen + kIpv6HeaderLen + 32;
        auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, len));
        if (!p) {
            no_mbuf_.fetch_add(1, std::memory_order_relaxed);
            rte_pktmbuf_free(m);
            return;
        }
        if (r.family == 4) {
            Ipv4Addr target;
            std::memcpy(&target.value, r.addr, 4);
            const PortSide& s = cfg_.access;
            write_ether_header(p, MacAddr{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}}, s.mac, ethertype::arp);
            write_arp(p + kEtherHeaderLen, ArpPacket{arp_op::request, s.mac, cfg_.self.ipv4, MacAddr{}, target});
            send_frame(m, s.port);
        } else {
            const Ipv6Addr target = Ipv6Addr::from_bytes(r.addr);
            const Ipv6Addr group = target.solicited_node();
            const PortSide& s = cfg_.home;
            auto ns_len = build_neighbor_solicit({p + kEtherHeaderLen + kIpv6HeaderLen, 32}, NeighborMessage{0, target, s.mac},
                                              cfg_.self.ipv6, group);
            write_ipv6_header(p + kEtherHeaderLen, Ipv6Header{0, 0, static_cast<uint16_t>(*ns_len), ipproto::icmpv6, 255,
                                                              cfg_.self.ipv6, group});
            write_ether_header(p, MacAddr::ipv6_multicast(group), s.mac, ethertype::ipv6);
            send_frame(m, s.port);
        }
    }
}

} // namespace nemo::dp
