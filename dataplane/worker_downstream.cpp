// Downstream: IPv6 from the core to a mobile node, looked up in bulk and encapsulated by its binding's method.
#include "worker.hpp"
#include "encap_ipv4_inline.hpp"
#include "encap_template.hpp"
#include "esp_seal_fast.hpp"

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

void Worker::downstream(rte_mbuf** pkts, uint8_t* const* ips, uint16_t n)
{
    LcoreCounters& ctr = *cfg_.counters;
    Route* routes = routes_; // a member: not constructed again for every burst
    cfg_.tables->route_bulk(ips, n, routes, 24); // the destinations; records needed are prefetched
    stage_done(Stage::lookup, n);
    // The common cases, fused: a live route of I, R or U (forwarded from its word), or of S or S+U (its
    // record leads to the SA), the access side's gateway resolved, the hop limit lasting and the packet
    // fitting. Its headers come from the burst's templates; everything else takes the general path
    // below, which answers what cannot go. Asked for by the first packet that could use them: a burst
    // with none (IPv6-in-IPv6, no binding) neither looks the gateway up nor asks for it to be resolved.
    const OuterTemplate* tpl = nullptr;
    uint32_t fast[kTunnelMethodCount] = {};
    uint16_t tx_n = tx_access_.n; // in a register: stores into packets may alias the member
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const Route r = routes[i];
        uint8_t* ip = ips[i];
        const uint32_t ip_len = kIpv6HeaderLen + load_be16(ip + 4);
        const uint64_t k = r.word_only_method(); // I, R or U have a template
        const uint8_t hop_limit = ip[7];
        if (k < kTunnelMethodCount && !tpl) tpl = outer_templates();
        if (k < kTunnelMethodCount && tpl[k].len && hop_limit > 1 && tpl[k].fits(m, ip, ip_len)) [[likely]] {
            const uint8_t tc = ipv6_traffic_class(ip);
            ip[7] = static_cast<uint8_t>(hop_limit - 1);
            tpl[k].apply(m, ip, ip_len, r.peer(), r.port(), tc);
            ++fast[k];
            // Full: not reached with today's sizes (a turn queues at most two bursts of 32 to one side,
            // and the buffer holds 64), kept so that nothing assumes how much the general path queued.
            if (tx_n == TxBuf::kSize) [[unlikely]] {
                tx_access_.n = tx_n;
                flush();
                tx_n = 0;
            }
            tx_access_.pkts[tx_n++] = m;
            continue;
        }
        // ESP (S, S+U) to a gateway whose MAC is known: laid out with its outer headers now, sealed with
        // the burst's other ESP packets after the loop and then only sent.
        if (k - Route::kNeedsRecord < kTunnelMethodCount && r.rec && hop_limit > 1) { // live, with a record
            if (!tpl) tpl = outer_templates();
            if (seal_fast(m, *r.rec, ip, ip_len, tpl)) continue;
        }
        tx_access_.n = tx_n; // the general path queues through queue_tx, and may send an ICMPv6 error
        downstream_general(m, r, ip, ip_len);
        tx_n = tx_access_.n;
    }
    tx_access_.n = tx_n;
    for (std::size_t k = 0; k < kTunnelMethodCount; ++k)
        if (fast[k]) LcoreCounters::bump(ctr.encap[k], fast[k]);
    stage_done(Stage::encap, n);
    if (seal_.n) seal_esp();
}

// The fused path's ESP half: true when the packet is queued for sealing, or dropped for want of a
// sequence number (counted as the general path counts it); false, nothing changed, for the general path:
// not ESP by its record, no template, no SA or an expired one, the seal list full, too big, no room.
[[gnu::always_inline]] inline bool Worker::seal_fast(rte_mbuf* m, const FastBinding& b, uint8_t* ip, uint32_t ip_len,
                                                     const OuterTemplate* tpl)
{
    if (b.method != TunnelMethod::esp && b.method != TunnelMethod::esp_udp) return false; // the record decides
    const OuterTemplate& t = tpl[static_cast<std::size_t>(b.method)];
    if (!t.len || !cfg_.sas || seal_.full()) return false;
    SaEntry* sa = cfg_.sas->outbound_for(b.id, b.hoa);
    if (!sa || sa->expired() || hands_off(*sa)) return false; // another worker's SA: handed over by to_tunnel
    SaLane* lane = sa->lane(cfg_.reader_id);
    EspSealBurst::Item& item = seal_.items[seal_.n];
    switch (esp_seal_fast(m, ip, ip_len, t, *sa, lane, b.peer.value, b.peer_port, ipv6_traffic_class(ip), seal_.jobs[seal_.n])) {
    case FastSeal::refused: return false;
    case FastSeal::no_seq:
        cfg_.counters->inc(sa->exhausted() ? DpCounter::esp_sa_exhausted : DpCounter::no_mbuf);
        rte_pktmbuf_free(m);
        return true;
    case FastSeal::queued: break;
    }
    --ip[7]; // hop limit (the caller checked it lasts); the crypto has not run yet
    item.m = m;
    item.sa = sa;
    item.lane = lane;
    item.framed = true;
    item.peer.method = b.method;
    ++seal_.n;
    return true;
}

// A packet the fused path did not take: no binding, a hop limit that runs out, too big for the tunnel,
// IPv6-in-IPv6, ESP without a usable SA, or no template (no gateway MAC known).
void Worker::downstream_general(rte_mbuf* m, const Route& r, uint8_t* ip, uint32_t ip_len)
{
    if (!r.live() || (r.needs_record() && !r.rec)) {
        cfg_.counters->inc(DpCounter::no_binding);
        rte_pktmbuf_free(m);
        return;
    }
    // Errors about a packet from the core go back the way it came, to the frame's sender.
    if (!fits_tunnel(r, ip, ip_len, m, nullptr)) [[unlikely]] {
        rte_pktmbuf_free(m);
        return;
    }
    --ip[7]; // hop limit
    rte_pktmbuf_adj(m, static_cast<uint16_t>(ip - data(m)));
    // Trim link padding: the IPv6 payload length is the packet.
    if (rte_pktmbuf_pkt_len(m) > ip_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - ip_len));
    to_tunnel(m, r);
}

// The fast path's templates for this burst, indexed by method: the IPv4 methods built, IPv6-in-IPv6's empty; all
// empty when the access side has no gateway or its MAC is not known. Built again when the MAC changes.
const OuterTemplate* Worker::outer_templates()
{
    static const OuterTemplate kNone[kTunnelMethodCount];
    MacAddr mac;
    if (!cfg_.access.gateway4 || !gateway_mac4(mac)) return kNone;
    if (!tpl_[static_cast<std::size_t>(TunnelMethod::ipip)].len || mac.bytes != tpl_mac_.bytes) {
        const LinkHeader link{mac, cfg_.access.mac};
        for (TunnelMethod m : {TunnelMethod::ipip, TunnelMethod::gre, TunnelMethod::udp, TunnelMethod::esp, TunnelMethod::esp_udp})
            tpl_[static_cast<std::size_t>(m)].build(m, cfg_.self, link, cfg_.access.mtu);
        tpl_mac_ = mac;
    }
    return tpl_;
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
// is there). ESP packets join the burst's seal_ list (the caller runs seal_esp), or go to the worker
// that owns their SA (worker_handoff.cpp); the others are queued for TX. What cannot be sent is
// counted and freed.
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
    if (esp && hands_off(*sa)) [[unlikely]] {
        hand_off(m, sa->owner());
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
        seal_.items[seal_.n++] = {m, sa, lane, false, peer, mac, tc};
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
