#include "watchdog_policy.hpp"

namespace nemo {

WatchdogVerdict watchdog_decide(WatchdogState& state, std::span<const uint64_t> beats, uint64_t now_us, uint64_t stall_after_us)
{
    if (state.beat.size() != beats.size() || state.moved_at_us.size() != beats.size()) {
        state.beat.assign(beats.begin(), beats.end());
        state.moved_at_us.assign(beats.size(), now_us);
        return {};
    }
    WatchdogVerdict v;
    for (std::size_t w = 0; w < beats.size(); ++w) {
        // Any change is progress (a counter that wrapped, or one that was reset, moved too).
        if (beats[w] != state.beat[w]) {
            state.beat[w] = beats[w];
            state.moved_at_us[w] = now_us;
            continue;
        }
        const uint64_t still = now_us > state.moved_at_us[w] ? now_us - state.moved_at_us[w] : 0;
        if (still <= stall_after_us) continue;
        ++v.stalled_workers;
        if (!v.stalled || still > v.stalled_for_us) {
            v.stalled = w;
            v.stalled_for_us = still;
        }
    }
    v.feed = v.stalled_workers == 0;
    return v;
}

} // namespace nemo
