// A timing wheel of one-second buckets for binding lifetimes: O(1) to schedule, O(due) to advance.
// Refreshing a binding schedules it again without unscheduling: the stale entry is recognised when its
// second comes (the binding's expiry no longer matches) and skipped.
//
// The wheel starts at the clock of the first call, schedule's or advance's, never at an expiry: an expiry
// taken as the start would make every earlier expiry scheduled before the first advance "already due"
// at that later second, and its binding (whose own expiry then no longer matches) would never expire.
#pragma once

#include <cstdint>
#include <vector>

#include "addr.hpp"

namespace nemo::control {

class ExpiryWheel {
public:
    // The horizon covers the longest lifetime a BA can grant (65535 x 4 s).
    static constexpr uint64_t kSlots = uint64_t{1} << 18;

    ExpiryWheel() : buckets_(kSlots) {}

    // `now` is the caller's clock, the same one advance() is given.
    void schedule(const Ipv6Addr& hoa, uint64_t expires, uint64_t now)
    {
        if (!started_) start(now);
        if (expires < next_) expires = next_; // already due: fires at the next advance
        buckets_[expires & (kSlots - 1)].push_back(hoa);
    }

    // Calls due(hoa, second) for everything scheduled up to and including `now`.
    template <class F>
    void advance(uint64_t now, F&& due)
    {
        if (!started_) start(now);
        for (uint64_t turns = 0; next_ <= now && turns < kSlots; ++next_, ++turns) {
            auto& bucket = buckets_[next_ & (kSlots - 1)];
            for (const Ipv6Addr& hoa : bucket) due(hoa, next_);
            bucket.clear();
        }
        if (next_ <= now) next_ = now + 1; // a jump longer than the horizon: every bucket was visited once
    }

private:
    void start(uint64_t t)
    {
        started_ = true;
        next_ = t;
    }
    std::vector<std::vector<Ipv6Addr>> buckets_;
    uint64_t next_ = 0;
    bool started_ = false;
};

} // namespace nemo::control
