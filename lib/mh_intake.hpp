// The first look at a Mobility Header addressed to the home agent (RFC 6275 9.2, NOTES.md rule 1):
// what to do before any message-specific processing.
#pragma once

#include <cstdint>
#include <span>

#include "ipv6.hpp"
#include "mobility_header.hpp"

namespace nemo {

enum class MhAction : uint8_t {
    process_bu,    // a well-formed Binding Update: hand it to decide_binding_update
    drop,          // silently, counted under `reason`
    param_problem, // ICMPv6 Parameter Problem, code 0, `pointer` from the start of the IPv6 packet
    binding_error, // Binding Error with `be_status` to the packet's source
};

enum class MhDropReason : uint8_t {
    none,
    malformed,     // shorter than a Mobility Header, or Header Len past the packet
    bad_checksum,
    bad_option,    // a mobility option that does not parse (wrong length, duplicate, bad prefix length)
    not_for_ha,    // a message type a home agent does not take (BA, BE, BRR, HoT, CoT)
};
const char* mh_drop_reason_name(MhDropReason r);

struct MhIntake {
    MhAction action = MhAction::drop;
    MhDropReason reason = MhDropReason::none;
    uint32_t pointer = 0;
    uint8_t be_status = 0;
    wire::BindingUpdate bu; // when action is process_bu
};

// `ip` is the parsed packet whose upper layer is the Mobility Header.
MhIntake take_mobility_header(const wire::Ipv6Packet& ip, const wire::OptionTypes& types);

} // namespace nemo
