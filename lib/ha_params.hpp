// What the home agent's protocol decisions need to know about its own configuration.
#pragma once

#include <cstdint>
#include <vector>

#include "addr.hpp"
#include "mobility_header.hpp"
#include "tunnel_method.hpp"

namespace nemo {

struct HaParams {
    Prefix6 home_prefix;                           // home addresses must lie inside it (RFC 3963 6.2)
    uint32_t home_prefix_valid_lifetime = 86400;   // seconds; caps granted lifetimes (RFC 6275 10.3.1)
    uint32_t max_binding_lifetime = 3600;          // seconds
    bool accept_mobile_routers = true;             // else every R=1 BU gets 140
    MethodSet methods = method_bit(TunnelMethod::ipv6) | method_bit(TunnelMethod::ipip) |
                        method_bit(TunnelMethod::gre) | method_bit(TunnelMethod::udp);
    bool allow_unprotected_signaling = false;      // accept BUs that no SA of the HoA protected (lab only)
    wire::OptionTypes option_types;                // the IPv4 CoA option's type (default 18)
    uint8_t status_tunnel_unsupported = wire::ba_status::default_tunnel_method_unsupported;
    uint8_t status_invalid_coa = wire::ba_status::default_invalid_care_of;
    uint16_t udp_port = 4191;                      // the HA's port for U tunnels
    // Parameter Problems, Binding Errors and BAs 133 a second to sources without a binding (RFC 4443 2.4
    // (f), RFC 6275 9.3.3): the home agent must not reflect a flood.
    uint32_t error_replies_per_second = 100;
    std::vector<Ipv6Addr> ipv6_addresses;          // the HA's own, in preference order
    std::vector<Ipv4Addr> ipv4_addresses;
};

} // namespace nemo
