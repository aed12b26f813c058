// Downstream: IPv6 from the core to a mobile node, looked up in bulk and encapsulated by its binding's method.
#include "worker.hpp"
#include "encap_ipv4_inline.hpp"

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

void Worker::downstream(rte_mbuf** pkts, const uint16_t* l3, uint16_t n)
{
    LcoreCounters& ctr = *cfg_.counters;
    Ipv6Addr dsts[kBurst];
    const Ipv6Addr* ptrs[kBurst] = {};
    for (uint16_t i = 0; i < n; ++i) {
        std::memcpy(dsts[i].bytes.data(), data(pkts[i]) + l3[i] + 24, 16);
        ptrs[i] = &dsts[i];
    }
    Route routes[kBurst];
    cfg_.tables->route_bulk(ptrs, n, routes);
    // Records, where the method needs one, are spread over memory: ask for all before reading the first.
    for (uint16_t i = 0; i < n; ++i)
        if (routes[i].needs_record() && routes[i].rec) rte_prefetch0(routes[i].rec);
    stage_done(Stage::lookup, n);
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const Route& r = routes[i];
        if (!r.live() || (r.needs_record() && !r.rec)) {
            ctr.inc(DpCounter::no_binding);
            rte_pktmbuf_free(m);
            continue;
        }
        uint8_t* ip = data(m) + l3[i];
        const uint32_t ip_len = kIpv6HeaderLen + load_be16(ip + 4);
        // Errors about a packet from the core go back the way it came, to the frame's sender.
        if (!fits_tunnel(r, ip, ip_len, m, nullptr)) [[unlikely]] {
            rte_pktmbuf_free(m);
            continue;
        }
        --ip[7]; // hop limit
        rte_pktmbuf_adj(m, l3[i]);
        // Trim link padding: the IPv6 payload length is the packet.
        if (rte_pktmbuf_pkt_len(m) > ip_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - ip_len));
        to_tunnel(m, r);
    }
    stage_done(Stage::encap, n);
    if (seal_.n) seal_esp();
}

// may_forward's refusal (worker.hpp): counts the packet and sends Time Exceeded (RFC 4443 3.3) or Packet
// Too Big (RFC 4443 3.2, naming no less than the IPv6 minimum MTU, RFC 8201 4) back: through
// `back_tunnel` when set (the packet came up a tunnel), else out of the port `frame` came in on, to its
// sender (the frame still has its Ethernet header).
bool Worker::refuse_forward(const uint8_t* ip, uint32_t ip_len, uint32_t room, rte_mbuf* frame, const Route* back_tunnel)
{
    LcoreCounters& ctr = *cfg_.counters;
    const ErrorReturn back = back_tunnel ? ErrorReturn{nullptr, {}, back_tunnel, false}
                                         : ErrorReturn{&side_of(frame->port), MacAddr::from_bytes(data(frame) + 6), nullptr,
                                                       (data(frame)[0] & 1) != 0};
    if (ip[7] <= 1) {
        LcoreCounters::bump(ctr.classify_drops[static_cast<std::size_t>(DropReason::ttl_exceeded)]);
        send_icmp_error(ip, ip_len, icmp6::time_exceeded, 0, 0, back);
        return false;
    }
    ctr.inc(DpCounter::too_big);
    send_icmp_error(ip, ip_len, icmp6::packet_too_big, 0, std::max<uint32_t>(room, kIpv6MinMtu), back);
    return false;
}

// An IPv6 packet alone in the mbuf (no link header, no padding) into the tunnel of live route r: I, R
// and U forward from the route's word, IPv6-in-IPv6 and ESP from its record (which the caller checked
// is there). ESP packets join the burst's seal_ list (the caller runs seal_esp); the others are queued
// for TX. What cannot be sent is counted and freed.
// Inlined into downstream's loop (this file); the rarer callers elsewhere take tunnel_out, below.
[[gnu::always_inline]] inline void Worker::to_tunnel(rte_mbuf* m, const Route& r)
{
    LcoreCounters& ctr = *cfg_.counters;
    const FastBinding* b = r.needs_record() ? r.rec : nullptr;
    const TunnelPeer peer = b ? TunnelPeer{b->method, b->peer, b->peer_port, b->coa6}
                              : TunnelPeer{r.method(), Ipv4Addr{r.peer()}, r.port(), {}};
    const bool esp = peer.method == TunnelMethod::esp || peer.method == TunnelMethod::esp_udp;
    SaEntry* sa = esp && cfg_.sas ? cfg_.sas->outbound_for(b->id, b->hoa) : nullptr;
    if (esp && (!sa || sa->expired())) {
        ctr.inc(DpCounter::esp_no_sa);
        rte_pktmbuf_free(m);
        return;
    }
    const bool v4 = uses_ipv4(peer.method);
    const PortSide& out = v4 ? cfg_.access : cfg_.home;
    MacAddr mac;
    const bool resolved = v4 ? (out.gateway4 ? gateway_mac4(mac) : lookup_neighbor(peer.v4, mac))
                             : (out.gateway6 ? gateway_mac6(out, mac) : lookup_neighbor(peer.v6, mac));
    if (!resolved) {
        ctr.inc(DpCounter::no_neighbor);
        rte_pktmbuf_free(m);
        return;
    }
    if (esp) {
        // Sealed with the rest of the burst's ESP packets.
        if (seal_.full()) {
            stage_done(Stage::encap, 0); // seal_esp's time is the ESP stage's
            seal_esp();
        }
        const uint8_t tc = inner_traffic_class(m);
        SaLane* lane = sa->lane(cfg_.reader_id);
        if (!esp_seal_prepare(m, *sa, seal_.jobs[seal_.n], lane)) {
            // Out of sequence numbers (RFC 4303 3.3.3: never cycled; counted on the SA too), or of room.
            ctr.inc(sa->exhausted() ? DpCounter::esp_sa_exhausted : DpCounter::no_mbuf);
            rte_pktmbuf_free(m);
            return;
        }
        seal_.items[seal_.n++] = {m, sa, lane, peer, mac, tc};
        return;
    }
    const LinkHeader link{mac, out.mac};
    const bool sent = v4 ? inline_encap::encap_v4(m, cfg_.self, peer, &link)
                         : encapsulate(m, cfg_.self, peer) && to_link(m, out, ethertype::ipv6, mac);
    if (!sent) {
        ctr.inc(DpCounter::no_mbuf);
        rte_pktmbuf_free(m);
        return;
    }
    LcoreCounters::bump(ctr.encap[static_cast<std::size_t>(peer.method)]);
    queue_tx(out, m);
}

void Worker::tunnel_out(rte_mbuf* m, const Route& r) { to_tunnel(m, r); }

} // namespace nemo::dp
