// BAs that wait for the state store: one that accepts, refreshes, moves or removes a binding leaves only
// once the batch holding that change is durable (control/state_store.hpp), so that a router never hears
// of a binding a crash could lose.
#include "control_io.hpp"

#include <utility>

namespace nemo::dp {

void ControlIo::hold(control::Outbound&& out, uint16_t port, const MacAddr& dst_mac)
{
    if (held_.size() >= kMaxHeld) {
        ba_withheld_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    held_.push_back(Held{std::move(out), port, dst_mac, turn_ms_}); // the packet is moved, not copied
    ba_held_.fetch_add(1, std::memory_order_relaxed);
}

void ControlIo::release_held(uint64_t now_ms)
{
    if (held_.empty()) return;
    const uint64_t durable = cp_.state_durable();
    // Batches and times grow along the queue: what can go is at its front.
    while (!held_.empty()) {
        Held& h = held_.front();
        if (h.out.after_batch <= durable) send(h.out, h.port, h.dst_mac);
        else if (now_ms - h.since_ms >= kHoldMaxMs) ba_withheld_.fetch_add(1, std::memory_order_relaxed);
        else break;
        held_.pop_front();
    }
}

} // namespace nemo::dp
