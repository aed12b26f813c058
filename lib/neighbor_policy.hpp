// Which ARP and Neighbor Discovery messages may teach the neighbour table. A hostile host on a link must
// not be able to redirect the home agent's traffic (a forged reply for the gateway) or fill its table
// (a flood of gratuitous ARP), so only two kinds of evidence count:
//   - a reply to a request of our own (an ARP reply, a solicited Neighbor Advertisement) for an address
//     we asked about and have not yet heard from;
//   - a solicitation addressed to us (an ARP request for one of our IPv4 addresses, an NS for one of our
//     IPv6 addresses): the asker told us its address to get our answer (RFC 826 "merge", RFC 4861 7.2.3).
// Everything else (ARP for others, gratuitous ARP, unsolicited NA, gleaning from other traffic) teaches
// nothing. Static entries never change by learning; a configured gateway learns from replies only.
#pragma once

#include <cstdint>

namespace nemo {

enum class NeighborEvidence : uint8_t {
    reply,        // the answer to our own request, while we wait for it
    solicitation, // a request addressed to one of our addresses
    unsolicited,  // anything else
};

enum class NeighborVerdict : uint8_t {
    learn,
    same,               // already known with this MAC: nothing to do, nothing refused
    refuse_unsolicited, // neither a reply to us nor a solicitation to us
    refuse_static,      // would change a static entry (configured under [neighbors])
    refuse_gateway,     // a solicitation claiming a configured gateway's address
};

struct NeighborFacts {
    NeighborEvidence evidence = NeighborEvidence::unsolicited;
    bool is_static = false;  // the address has a static entry
    bool is_gateway = false; // the address is a configured gateway (access.gateway, home.gateway)
    bool same_mac = false;   // the table already maps the address to this MAC
};

inline NeighborVerdict neighbor_verdict(const NeighborFacts& f)
{
    if (f.evidence == NeighborEvidence::unsolicited) return NeighborVerdict::refuse_unsolicited;
    if (f.is_static) return f.same_mac ? NeighborVerdict::same : NeighborVerdict::refuse_static;
    // Only our own question teaches a gateway's address: anyone can send us an ARP request in its name.
    if (f.is_gateway && f.evidence != NeighborEvidence::reply)
        return f.same_mac ? NeighborVerdict::same : NeighborVerdict::refuse_gateway;
    return NeighborVerdict::learn; // a known entry is refreshed (its age restarts) even with the same MAC
}

} // namespace nemo
