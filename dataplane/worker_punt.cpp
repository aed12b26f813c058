// The punt path: packets for the control thread, policed per class and put into its ring (punt.hpp).
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
#include "udp.hpp"
#include "worker_util.hpp"

namespace nemo::dp {

using namespace wire;

void Worker::punt(rte_mbuf* m, const PuntMeta& meta, PuntClass cls)
{
    LcoreCounters& ctr = *cfg_.counters;
    const bool bulk = cls == PuntClass::bulk;
    RateLimiter& limit = bulk ? punt_bulk_limit_ : punt_priority_limit_;
    if (!limit.take(rte_get_tsc_cycles())) {
        ctr.inc(bulk ? DpCounter::punt_policed_bulk : DpCounter::punt_policed_priority);
        rte_pktmbuf_free(m);
        return;
    }
    *punt_meta(m) = meta;
    rte_ring* ring = bulk && cfg_.punt_bulk ? cfg_.punt_bulk : cfg_.punt;
    if (rte_ring_mp_enqueue(ring, m) != 0) {
        ctr.inc(DpCounter::punt_full);
        rte_pktmbuf_free(m);
        return;
    }
    ctr.inc(DpCounter::punted);
    if (bulk) ctr.inc(DpCounter::punted_bulk);
}

void Worker::punt_ike(rte_mbuf* m, const Classified& c, uint16_t local_port)
{
    LcoreCounters& ctr = *cfg_.counters;
    // The UDP header precedes inner_offset; its length (checked by classify against the IPv4 packet)
    // bounds the message, the 4-byte non-ESP marker on 4500 is not part of it.
    const uint8_t* udp = data(m) + c.inner_offset - kUdpHeaderLen;
    const uint16_t skip = local_port == kEspInUdpPort ? uint16_t{4} : uint16_t{0};
    const uint16_t udp_len = load_be16(udp + 4);
    if (udp_len < kUdpHeaderLen + skip || c.inner_offset + udp_len - kUdpHeaderLen > rte_pktmbuf_data_len(m)) {
        ctr.inc(DpCounter::ike_malformed);
        rte_pktmbuf_free(m);
        return;
    }
    const uint16_t len = static_cast<uint16_t>(udp_len - kUdpHeaderLen - skip);
    PuntMeta meta{PuntKind::ike, TunnelMethod::esp_udp, m->port, c.outer_sport, c.outer_src, MacAddr::from_bytes(data(m) + 6)};
    meta.local_port = local_port;
    rte_pktmbuf_adj(m, static_cast<uint16_t>(c.inner_offset + skip));
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - len));
    ctr.inc(DpCounter::ike_punted);
    punt(m, meta, PuntClass::bulk);
}

} // namespace nemo::dp
