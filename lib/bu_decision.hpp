// The home agent's whole Binding Update decision (RFC 6275 9.5.1 and 10.3.1, RFC 3963 6, the draft's
// 4.3, 7.2, 7.3 and 7.5, NOTES.md) as one pure function: what arrived, the configuration, the mobile
// node's provisioning and its current binding in; the Binding Acknowledgement to send and the binding
// change to apply out. No I/O, no clock, no DPDK.
#pragma once

#include <cstdint>
#include <optional>

#include "binding.hpp"
#include "ha_params.hpp"
#include "mobility_header.hpp"

namespace nemo {

// How the BU reached the home agent.
struct BuArrival {
    TunnelMethod via = TunnelMethod::ipv6; // ipv6: native IPv6; otherwise the IPv4 tunnel it came through
    Ipv4Addr outer_src;                    // IPv4 arrivals: outer source as seen
    uint16_t outer_src_port = 0;           // UDP arrivals: UDP source port as seen
    Ipv6Addr src;                          // the IPv6 header's source (the CoA, or the HoA when tunneled)
    Ipv6Addr dst;                          // the IPv6 header's destination (one of the HA's addresses)
    std::optional<Ipv6Addr> home_address_option;
    bool protected_by_hoa_sa = false;      // came through an SA bound to this home address
};

// Where the Binding Acknowledgement goes.
struct BaRoute {
    TunnelMethod via = TunnelMethod::ipv6; // ipv6: native; else encapsulated in this IPv4 method
    Ipv4Addr v4_dst;                       // outer destination for IPv4 methods
    uint16_t v4_dst_port = 0;              // UDP methods
    Ipv6Addr src;                          // the HA address the BU was sent to
    Ipv6Addr dst;                          // IPv6 destination: the CoA (native) or the HoA (tunneled)
    std::optional<Ipv6Addr> rh2_home_address; // when the BU carried a Home Address option
};

// Why nothing was sent, or what was decided; one counter each.
enum class BuOutcome : uint8_t {
    accepted,              // new binding or refresh, status < 128
    deregistered,          // binding removed, status 0
    rejected,              // BA with status >= 128 sent, state unchanged
    dropped_hoa_invalid,   // home address not a routable unicast address: silent drop
    dropped_unprotected,   // not protected by an SA of the HoA, and unprotected signaling not allowed
    ignored_v4_lifetime_0, // the draft 7.2: a v4 BU with lifetime 0 is ignored
};
const char* outcome_name(BuOutcome o);

enum class BindingChangeKind : uint8_t { none, upsert, remove };

struct BuDecision {
    BuOutcome outcome = BuOutcome::rejected;
    bool send_ba = false;
    wire::BindingAck ba;
    BaRoute route;
    BindingChangeKind change = BindingChangeKind::none;
    Binding binding; // the new state for upsert; the removed binding for remove
};

// `provision` is null when the home address is not provisioned here; `current` is null when no binding
// exists. `now` is seconds on the caller's monotonic clock, stamped into the binding.
BuDecision decide_binding_update(const wire::BindingUpdate& bu, const BuArrival& arrival, const HaParams& params,
                                 const MrProvision* provision, const Binding* current, uint64_t now);

// True when `a` is later than `b` in the sequence-number space (RFC 6275 9.5.1: modulo 2^16, the
// 32768 numbers before `b` and `b` itself are not).
bool seq_newer(uint16_t a, uint16_t b);

} // namespace nemo
