// Where a worker's time goes (`nemo-hactl show runtime`): non-empty RX bursts, and per stage of the
// worker the TSC cycles it spent and the packets it handled. One cache-line-aligned block per worker,
// written only by it (relaxed stores, as LcoreCounters), read by the control thread at any time.
//
// Timed per burst and stage, never per packet, and only one burst in `timed_one_burst_in` (16 by
// default, WorkerConfig): a timed burst reads the TSC five or six times, which on every burst cost up to
// a tenth of the 64-byte rate in the pipeline benchmark; sampled it is cheap enough to stay on
// (bench/README.md, "show runtime"). Stage packets are those of the timed bursts: cycles over packets
// estimates every burst's.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include <rte_cycles.h>

#include "dp_counters.hpp"

namespace nemo::dp {

// classify: the per-frame loop of a burst (classification, reassembly, ARP/ND answers, punts, and the
//           tunnel strip, inner check and ESP header check of upstream packets);
// lookup:   the bulk binding lookups (downstream destinations; upstream sources with the tunnel check,
//           then the destinations some binding may route);
// encap:    downstream, the tunnel headers written and queued; upstream, the inner packet forwarded
//           (Ethernet header, or into another binding's tunnel);
// esp:      the intel-ipsec-mb bursts with their preparation and finish (seal, open);
// tx:       rte_eth_tx_burst of what the turn queued (a TX buffer that fills mid-stage is sent there,
//           and counts in that stage too: rare, 64 packets queued to one port in one turn).
#define NEMO_RUNTIME_STAGES(X) \
    X(classify)                \
    X(lookup)                  \
    X(encap)                   \
    X(esp)                     \
    X(tx)

enum class Stage : uint8_t {
#define NEMO_STAGE_ENUM(id) id,
    NEMO_RUNTIME_STAGES(NEMO_STAGE_ENUM)
#undef NEMO_STAGE_ENUM
        count_
};
inline constexpr std::size_t kStageCount = static_cast<std::size_t>(Stage::count_);

inline const char* stage_name(Stage s)
{
    static constexpr const char* names[] = {
#define NEMO_STAGE_NAME(id) #id,
        NEMO_RUNTIME_STAGES(NEMO_STAGE_NAME)
#undef NEMO_STAGE_NAME
    };
    return names[static_cast<std::size_t>(s)];
}

struct alignas(64) WorkerRuntime {
    std::atomic<uint64_t> bursts{0}; // non-empty RX bursts, all of them
    std::atomic<uint32_t> timed_one_burst_in{1}; // set by the worker at start
    std::array<std::atomic<uint64_t>, kStageCount> cycles{};
    std::array<std::atomic<uint64_t>, kStageCount> packets{};

    static void bump(std::atomic<uint64_t>& a, uint64_t n)
    {
        a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    // The stage ran from `since` to now over `n` packets; returns now, where the next stage starts.
    uint64_t stage(Stage s, uint64_t since, uint64_t n)
    {
        const uint64_t now = rte_rdtsc();
        bump(cycles[static_cast<std::size_t>(s)], now - since);
        bump(packets[static_cast<std::size_t>(s)], n);
        return now;
    }
};

// What the control thread reads of one worker: the block's values and the worker's poll and RX counters.
struct RuntimeSample {
    uint64_t polls = 0, bursts = 0, rx = 0, timed_one_burst_in = 1;
    std::array<uint64_t, kStageCount> cycles{}, packets{};
};

inline RuntimeSample runtime_sample(const WorkerRuntime& rt, const LcoreCounters& c)
{
    RuntimeSample s;
    s.polls = c.c[static_cast<std::size_t>(DpCounter::polls)].load(std::memory_order_relaxed);
    s.rx = c.c[static_cast<std::size_t>(DpCounter::rx)].load(std::memory_order_relaxed);
    s.bursts = rt.bursts.load(std::memory_order_relaxed);
    s.timed_one_burst_in = rt.timed_one_burst_in.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < kStageCount; ++i) {
        s.cycles[i] = rt.cycles[i].load(std::memory_order_relaxed);
        s.packets[i] = rt.packets[i].load(std::memory_order_relaxed);
    }
    return s;
}

} // namespace nemo::dp
