// When the service watchdog (systemd's WatchdogSec=) is fed, and when it is withheld: a worker that
// stopped making progress must get the daemon restarted, even though the control loop that feeds the
// watchdog is still turning. Each worker bumps a heartbeat counter once per poll turn (DpCounter::polls);
// the control loop samples them and asks this policy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace nemo {

// A heartbeat that stood still this long is a stall, whatever the interval: a worker is never idle (it
// polls its queues even without traffic), but a loaded machine may keep it off its core for a moment.
inline constexpr uint64_t kWatchdogMinStallUs = 1'000'000;

// How long a heartbeat may stand still before its worker counts as stalled: half the watchdog interval
// (so that, fed at most every quarter, systemd sees the missing feeds within 1.5 intervals of the stall),
// never less than kWatchdogMinStallUs.
inline uint64_t watchdog_stall_after_us(uint64_t watchdog_usec)
{
    return watchdog_usec / 2 > kWatchdogMinStallUs ? watchdog_usec / 2 : kWatchdogMinStallUs;
}

// How often the control loop feeds: a quarter of the interval (sd_watchdog_enabled(3) asks for at least
// every half; the rest is room for a slow control-loop turn).
inline uint64_t watchdog_feed_every_us(uint64_t watchdog_usec) { return watchdog_usec / 4; }

// What the policy remembers between samples: per worker, the heartbeat last seen and when it last moved.
struct WatchdogState {
    std::vector<uint64_t> beat;
    std::vector<uint64_t> moved_at_us;
};

struct WatchdogVerdict {
    bool feed = true;
    std::size_t stalled_workers = 0;
    std::optional<std::size_t> stalled; // the worker stalled longest (the lowest index among equals)
    uint64_t stalled_for_us = 0;        // how long its heartbeat has stood still
};

// One sample: the workers' heartbeats `beats` (index = worker) at `now_us` (a monotonic clock). Updates
// `state` (the first sample, or one with another number of workers, starts every worker's clock at
// now_us) and says whether to feed: only when no heartbeat has stood still for longer than
// `stall_after_us`. A clock that went backwards counts as no time passed. No workers: always fed.
WatchdogVerdict watchdog_decide(WatchdogState& state, std::span<const uint64_t> beats, uint64_t now_us, uint64_t stall_after_us);

} // namespace nemo
