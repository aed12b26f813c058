// The control thread's turn over the punt ring: each punted packet goes to the job it is for
// (signaling to the control plane, ARP and ND to neighbour learning), then next hops are resolved.
#include "control_io.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "punt.hpp"

namespace nemo::dp {

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

void ControlIo::on_signaling(rte_mbuf* m, uint64_t now)
{
    const PuntMeta meta = *punt_meta(m);
    control::Punted p;
    p.ipv6 = {rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)};
    p.via = meta.via;
    p.outer_src = meta.outer_src;
    p.outer_src_port = meta.outer_sport;
    if (meta.via_sa) p.sa_home_address = meta.sa_hoa;
    glean(meta, p.ipv6);
    out_.clear();
    cp_.handle_signal(p, now, out_);
    for (const auto& o : out_) send(o, meta.in_port, meta.src_mac);
}

} // namespace nemo::dp
