// BAs that wait for the state store: one that accepts, refreshes, moves or removes a binding leaves only
// once the batch holding that change is durable (control/state_store.hpp), so that a router never hears
// of a binding a crash could lose.
#include "control_io.hpp"

#include <algorithm>
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

// The BA of a BU that lost its compare-and-swap (a cluster: another instance's change came first) is
// replaced by the answer decided against the winner, or dropped when a later BU of the same router
// holds the answer. Held BAs only: a BA of a change leaves once durable, and durable() moves past a
// batch only after the control plane has answered its losses again.
void ControlIo::rewrite_held()
{
    std::vector<control::BaRewrite> rw = cp_.take_ba_rewrites();
    for (control::BaRewrite& r : rw) {
        auto it = std::find_if(held_.begin(), held_.end(), [&](const Held& h) { return r.token != 0 && h.out.token == r.token; });
        if (it == held_.end()) continue; // withheld already (held past kHoldMaxMs)
        if (!r.replacement) {
            held_.erase(it);
            ba_superseded_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        Held again{std::move(*r.replacement), it->port, it->dst_mac, it->since_ms};
        held_.erase(it);
        ba_answered_again_.fetch_add(1, std::memory_order_relaxed);
        if (again.out.after_batch <= cp_.state_durable()) send(again.out, again.port, again.dst_mac);
        else held_.push_back(std::move(again)); // a later batch: behind those queued
    }
}

} // namespace nemo::dp
