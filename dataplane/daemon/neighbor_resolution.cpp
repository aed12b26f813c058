// Next-hop resolution on the control thread: ARP requests and Neighbor Solicitations for what the
// workers missed, and for the gateways at start and every dataplane.gateway_refresh_s.
#include "control_io.hpp"

#include <rte_mbuf.h>

#include <cstring>

#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "ipv6.hpp"
#include "proto.hpp"

namespace nemo::dp {

using namespace wire;

void ControlIo::probe_gateways(uint64_t now)
{
    if (now < next_gateway_probe_) return;
    next_gateway_probe_ = now + cfg_.gateway_refresh_s;
    if (cfg_.access.gateway4 && !cfg_.neighbors->is_static(*cfg_.access.gateway4)) cfg_.neighbors->request(*cfg_.access.gateway4);
    if (cfg_.home.gateway6 && !cfg_.neighbors->is_static(*cfg_.home.gateway6)) cfg_.neighbors->request(*cfg_.home.gateway6);
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
