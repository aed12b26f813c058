// ECN across a tunnel (RFC 6040): what the outer header carries on encapsulation, and what the inner
// packet becomes on decapsulation. Codepoints are the low two bits of the traffic class / TOS octet.
#pragma once

#include <cstdint>
#include <optional>

namespace nemo {

namespace ecn {
inline constexpr uint8_t not_ect = 0;
inline constexpr uint8_t ect1 = 1;
inline constexpr uint8_t ect0 = 2;
inline constexpr uint8_t ce = 3;
} // namespace ecn

// Normal mode (RFC 6040 4.1): the outer header copies the inner DSCP and ECN.
inline uint8_t outer_tos_on_encap(uint8_t inner_tc) { return inner_tc; }

// RFC 6040 4.2: the inner traffic class after decapsulation, or nothing when the packet must be dropped
// (outer CE over an inner Not-ECT: congestion the inner packet cannot carry).
inline std::optional<uint8_t> inner_tc_on_decap(uint8_t inner_tc, uint8_t outer_tos)
{
    const uint8_t in = inner_tc & 3, out = outer_tos & 3;
    if (out == ecn::ce) {
        if (in == ecn::not_ect) return std::nullopt;
        return static_cast<uint8_t>((inner_tc & 0xFC) | ecn::ce);
    }
    if (out == ecn::ect1 && in == ecn::ect0) return static_cast<uint8_t>((inner_tc & 0xFC) | ecn::ect1);
    return inner_tc;
}

} // namespace nemo
