// The punt path: packets for the control thread, into its ring.
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

void Worker::punt(rte_mbuf* m, const PuntMeta& meta)
{
    *punt_meta(m) = meta;
    if (rte_ring_mp_enqueue(cfg_.punt, m) != 0) {
        cfg_.counters->inc(DpCounter::punt_full);
        rte_pktmbuf_free(m);
        return;
    }
    cfg_.counters->inc(DpCounter::punted);
}

} // namespace nemo::dp
