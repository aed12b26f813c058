// The binding model: what the home agent knows about one mobile node or mobile router, and the
// provisioning that authorizes it. Plain values; the control plane owns them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "addr.hpp"
#include "tunnel_method.hpp"

namespace nemo {

// Where the binding's traffic goes. For an IPv6 care-of address only `v6` and method ipv6 matter.
struct CareOf {
    TunnelMethod method = TunnelMethod::ipv6;
    Ipv6Addr v6;            // IPv6 care-of address (method ipv6)
    Ipv4Addr v4;            // the IPv4 care-of address the mobile router registered (the option's)
    uint16_t v4_port = 0;   // the port the option carried (U)
    // The far end as the HA sees it, which the tunnel uses: the outer IPv4 source and, for UDP methods,
    // the UDP source port of the registration. Differs from v4/v4_port behind a NAT.
    Ipv4Addr peer;
    uint16_t peer_port = 0;
    bool behind_nat = false;

    friend bool operator==(const CareOf&, const CareOf&) = default;
};

struct Binding {
    Ipv6Addr hoa;
    CareOf coa;
    std::vector<Prefix6> prefixes; // mobile network prefixes forwarded to this binding
    uint16_t seq = 0;              // last accepted sequence number
    uint32_t lifetime = 0;         // granted, seconds
    bool mobile_router = false;    // registered with R
    bool proxy_nd = false;         // defend the HoA on the home link: every home registration (RFC 6275
                                   // 10.4.1, RFC 3963 6.2); Router bit set when mobile_router
    uint64_t created = 0;          // seconds on the control plane's monotonic clock
    uint64_t updated = 0;
    uint64_t expires = 0;
};

// One authorized mobile node or router, as provisioned by the operator.
struct MrProvision {
    Ipv6Addr hoa;
    bool mobile_router = true;     // may register with R
    std::vector<Prefix6> prefixes; // prefixes it may claim; also its implicit-mode prefixes
    MethodSet methods = 0;         // tunnel methods it may use; 0 means whatever the HA enables
    // The IKEv2 identity (lib/ike_policy canonical_id) that may negotiate SAs for this home address
    // (RFC 4877 4.4); empty: none.
    std::string ike_id;
};

} // namespace nemo
