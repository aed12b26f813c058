// The order the control thread takes punted packets in: the priority ring (Neighbor Discovery, ARP,
// signaling from known care-of addresses, as the workers police it) first, then the bulk ring (everything
// else) within a per-turn budget, so that a flood of junk in the bulk class delays a turn by at most the
// budget and never keeps a priority packet waiting for it.
#pragma once

#include <rte_ring.h>

#include <algorithm>

struct rte_mbuf;

namespace nemo::dp {

struct PuntDrainLimits {
    unsigned priority_max = 512; // per turn: bounds the turn even under a priority flood (the CLI waits)
    unsigned bulk_budget = 64;   // per turn
};

struct PuntDrained {
    unsigned priority = 0;
    unsigned bulk = 0;
};

// Hands every packet taken to handle(m, priority); handle owns it. A null ring is an empty one.
template <class Handle>
PuntDrained drain_punts(rte_ring* priority, rte_ring* bulk, const PuntDrainLimits& limits, Handle&& handle)
{
    PuntDrained done;
    rte_mbuf* pkts[32];
    auto take = [&](rte_ring* r, unsigned max, bool prio) {
        unsigned taken = 0;
        while (r && taken < max) {
            const unsigned want = std::min(32u, max - taken);
            const unsigned n = rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(pkts), want, nullptr);
            for (unsigned i = 0; i < n; ++i) handle(pkts[i], prio);
            taken += n;
            if (n < want) break;
        }
        return taken;
    };
    done.priority = take(priority, limits.priority_max, true);
    done.bulk = take(bulk, limits.bulk_budget, false);
    return done;
}

} // namespace nemo::dp
