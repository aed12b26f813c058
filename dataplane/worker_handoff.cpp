// With several workers, the downstream ESP packets of an SA all leave through the worker that owns it
// (SaEntry::owner): the others hand them over on its ring, so that one lane numbers and sends them and
// the receiver sees them in the order of their numbers (RFC 4303 3.4.3, a window of 32 is enough).
#include "worker.hpp"

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "worker_util.hpp"

namespace nemo::dp {

// A packet for the owner's ring: the IPv6 packet alone, its hop limit decremented, its size checked
// against the tunnel (to_tunnel's input). Sent at the end of the turn (poll).
void Worker::hand_off(rte_mbuf* m, unsigned owner)
{
    HandoffBuf& b = handoff_out_[owner];
    // Full: a turn's received bursts fit; packets taken over and handed on (their binding moved to
    // another worker's SA) may not.
    if (b.n == HandoffBuf::kSize) [[unlikely]]
        flush_handoff();
    b.pkts[b.n++] = m;
}

// Every owner's packets onto its ring; what the ring has no room for is dropped and counted.
void Worker::flush_handoff()
{
    LcoreCounters& ctr = *cfg_.counters;
    for (std::size_t o = 0; o < handoff_out_.size(); ++o) {
        HandoffBuf& b = handoff_out_[o];
        if (!b.n) continue;
        const unsigned sent = rte_ring_mp_enqueue_burst(cfg_.handoff[o], reinterpret_cast<void**>(b.pkts), b.n, nullptr);
        if (sent) ctr.inc(DpCounter::esp_handed_off, sent);
        if (sent < b.n) {
            ctr.inc(DpCounter::esp_handoff_full, b.n - sent);
            rte_pktmbuf_free_bulk(b.pkts + sent, b.n - sent);
        }
        b.n = 0;
    }
}

// What the other workers handed over, until the ring is empty or as much as they can hand over in a
// turn has been taken: each packet's binding looked up again (no pointer crosses workers: the one that
// handed it over may have reported its quiescent state since), then into its tunnel as the downstream
// path would. An SA's owner never changes: a packet whose binding has moved to another SA meanwhile
// goes on to that SA's owner. The work is not in `show runtime`'s stages (timed over received bursts).
void Worker::take_handoff()
{
    const bool timed = timed_;
    timed_ = false;
    const std::size_t most = 2 * (handoff_out_.size() - 1); // bursts: two ports of every other worker
    for (std::size_t b = 0; b < most; ++b)
        if (take_handoff_burst() < kBurst) break;
    timed_ = timed;
    if (timed_) tsc_ = rte_rdtsc(); // the TX stage that follows starts now
}

uint16_t Worker::take_handoff_burst()
{
    rte_mbuf* pkts[kBurst];
    const auto n = static_cast<uint16_t>(
        rte_ring_sc_dequeue_burst(cfg_.handoff[cfg_.reader_id], reinterpret_cast<void**>(pkts), kBurst, nullptr));
    if (!n) return 0;
    LcoreCounters& ctr = *cfg_.counters;
    uint8_t* ips[kBurst];
    for (uint16_t i = 0; i < n; ++i) ips[i] = data(pkts[i]);
    Route* routes = routes_; // downstream's, idle between bursts
    cfg_.tables->route_bulk(ips, n, routes, 24);
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const Route& r = routes[i];
        if (!r.live() || (r.needs_record() && !r.rec)) {
            ctr.inc(DpCounter::no_binding);
            rte_pktmbuf_free(m);
            continue;
        }
        // The worker that handed it over checked its size against the tunnel it found; the binding may
        // have moved to a method with more overhead since (the record, newer than the word, says which;
        // no error is sent for that rare packet).
        const TunnelMethod method = r.needs_record() ? r.rec->method : r.method();
        const uint16_t mtu = (uses_ipv4(method) ? cfg_.access : cfg_.home).mtu;
        if (rte_pktmbuf_data_len(m) + encap_overhead(method) > mtu) [[unlikely]] {
            ctr.inc(DpCounter::too_big);
            rte_pktmbuf_free(m);
            continue;
        }
        tunnel_out(m, r);
    }
    if (seal_.n) seal_esp();
    return n;
}

} // namespace nemo::dp
