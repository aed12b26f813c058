// Next-hop resolution on the control thread: ARP requests and Neighbor Solicitations for what the
// workers missed, for the gateways at start and every dataplane.gateway_refresh_s, and for learned
// entries that reached dataplane.neighbor_max_age_s. What was asked is remembered for kAnswerWindowS:
// only an answer within it teaches the table (neighbor_learning.cpp).
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
    if (cfg_.access.gateway4 && !cfg_.neighbors->is_static(*cfg_.access.gateway4)) ask(NeighborKey::of(*cfg_.access.gateway4), now);
    if (cfg_.home.gateway6 && !cfg_.neighbors->is_static(*cfg_.home.gateway6)) ask(NeighborKey::of(*cfg_.home.gateway6), now);
}

void ControlIo::age_neighbors(uint64_t now)
{
    if (now == aged_at_) return;
    aged_at_ = now;
    probe_.clear();
    cfg_.neighbors->expire(now, cfg_.neighbor_max_age_s, kAnswerWindowS, probe_);
    for (const NeighborKey& k : probe_) ask(k, now);
}

void ControlIo::ask_for_peer(const PuntMeta& meta, std::span<const uint8_t> ipv6, uint64_t now)
{
    if (uses_ipv4(meta.via)) {
        if (!cfg_.access.gateway4 && !cfg_.neighbors->lookup(meta.outer_src)) ask(NeighborKey::of(meta.outer_src), now);
    } else if (ipv6.size() >= kIpv6HeaderLen && !cfg_.home.gateway6) {
        const Ipv6Addr src = Ipv6Addr::from_bytes(ipv6.data() + 8);
        if (!cfg_.neighbors->lookup(src)) ask(NeighborKey::of(src), now);
    }
}

bool ControlIo::answers_our_question(const NeighborKey& k, uint64_t now)
{
    auto it = asked_.find(k);
    if (it == asked_.end() || it->second + kAnswerWindowS <= now) return false;
    asked_.erase(it); // one answer per question: a second, different one is unsolicited
    return true;
}

void ControlIo::resolve(uint64_t now)
{
    // Forget questions nobody answered in time: packets to ever new addresses must not grow the map.
    if (now != asked_pruned_at_) {
        std::erase_if(asked_, [now](const auto& kv) { return kv.second + kAnswerWindowS <= now; });
        asked_pruned_at_ = now;
    }
    ResolveRequest r;
    while (cfg_.neighbors->next_request(r)) {
        NeighborKey k;
        k.family = r.family;
        std::memcpy(k.b.data(), r.addr, 16);
        ask(k, now);
    }
}

void ControlIo::ask(const NeighborKey& k, uint64_t now)
{
    auto it = asked_.find(k);
    if (it != asked_.end() && it->second == now) return; // asked this second already
    if (it == asked_.end() && asked_.size() >= kMaxAsked) {
        asked_full_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(cfg_.pool);
    if (!m) {
        no_mbuf_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    // A pool's mbufs hold far more than an ARP request or an NS; a pool made with smaller ones
    // would make this fail, counted like an empty pool.
    const uint16_t len = k.family == 4 ? kEtherHeaderLen + kArpLen : kEtherHeaderLen + kIpv6HeaderLen + 32;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, len));
    if (!p) {
        no_mbuf_.fetch_add(1, std::memory_order_relaxed);
        rte_pktmbuf_free(m);
        return;
    }
    asked_[k] = now;
    if (k.family == 4) {
        const PortSide& s = cfg_.access;
        write_ether_header(p, MacAddr{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}}, s.mac, ethertype::arp);
        write_arp(p + kEtherHeaderLen, ArpPacket{arp_op::request, s.mac, cfg_.self.ipv4, MacAddr{}, k.v4()});
        send_frame(m, s.port);
    } else {
        const Ipv6Addr target = k.v6();
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

} // namespace nemo::dp
