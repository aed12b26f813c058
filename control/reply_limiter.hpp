// The limit on error replies the control thread sends to sources it has no binding for (Parameter
// Problem, Binding Error, BA 133): RFC 4443 2.4 (f) and RFC 6275 9.3.3 ask for one, so that the home agent
// cannot be used to reflect a flood at someone else's address.
#pragma once

#include <cstdint>

namespace nemo::control {

// A token bucket on the control thread's clock of whole seconds: it holds one second's worth of tokens,
// so each new second fills it again and no second sends more than `per_second`.
class ReplyLimiter {
public:
    // True (and a token spent) when a reply may go at `now`; `per_second` 0 lets none go.
    bool take(uint64_t now, uint32_t per_second)
    {
        if (!started_ || now != second_) {
            started_ = true;
            second_ = now;
            spent_ = 0;
        }
        if (spent_ >= per_second) return false;
        ++spent_;
        return true;
    }

private:
    uint64_t second_ = 0;
    uint32_t spent_ = 0;
    bool started_ = false;
};

} // namespace nemo::control
