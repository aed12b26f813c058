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

} // namespace nemo::dp
