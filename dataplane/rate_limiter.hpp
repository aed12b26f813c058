// A per-lcore token bucket on the TSC, for what a worker may send or hand on per second whatever arrives
// (ICMPv6 errors, RFC 4443 2.4 (f); packets punted to the control thread). Single owner: no atomics.
#pragma once

#include <cstdint>

namespace nemo::dp {

class RateLimiter {
public:
    RateLimiter() = default;
    // `per_second` tokens, refilled in full once a second; `hz` is the TSC frequency.
    RateLimiter(uint64_t per_second, uint64_t hz) : rate_(per_second), hz_(hz), tokens_(per_second) {}
    // Takes a token at `now` (TSC cycles) if one is left.
    bool take(uint64_t now)
    {
        if (now - last_ >= hz_) {
            tokens_ = rate_;
            last_ = now;
        }
        if (tokens_ == 0) return false;
        --tokens_;
        return true;
    }

private:
    uint64_t rate_ = 0;
    uint64_t hz_ = 1;
    uint64_t tokens_ = 0;
    uint64_t last_ = 0;
};

} // namespace nemo::dp
