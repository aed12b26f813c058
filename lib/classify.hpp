// What a home agent does with each frame it receives (DESIGN.md: the data plane executes, lib decides):
// one pure function over the frame's bytes and the HA's addresses. The worker acts on the answer.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "addr.hpp"
#include "bytes.hpp"
#include "checksum.hpp"
#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "ipv4.hpp"
#include "proto.hpp"
#include "tunnel_method.hpp"

namespace nemo {

enum class PacketClass : uint8_t {
    drop,                // see `drop`
    arp_request_for_us,  // answer in the worker
    arp_to_control,      // replies and gratuitous ARP: neighbour learning in the control thread
    nd_solicit,          // NS: answer when the target is ours, or a home address we defend
    nd_to_control,       // NA: neighbour learning
    signaling_v6,        // Mobility Header / DHAAD / MPS / ICMPv6 error to the HA, native IPv6: punt
    downstream,          // IPv6 to forward: look up the destination's binding and encapsulate
    tunneled,            // to the HA, carrying a tunnel of `method` (IPv4 ones, or IPv6-in-IPv6 from an
                         // IPv6 care-of address): decapsulate, then check
    ipv4_fragment,       // an IPv4 fragment to the HA: reassemble (then classify the whole packet), or drop
    ike,                 // IKEv2 on UDP port 500 to the HA (when IKE is on): to the control thread. IKE on
                         // 4500 comes as tunneled esp_udp and is told apart by its non-ESP marker.
};

enum class DropReason : uint8_t {
    none,
    malformed,          // a header that does not parse
    not_for_us,         // IPv4 to another address, unknown ethertype
    ipv4_fragment,      // outer IPv4 fragments, when reassembly is off
    unsupported_tunnel, // IPv4 to the HA that is no tunnel we speak (other protocol, other UDP port)
    ttl_exceeded,       // IPv6 hop limit exhausted
    ipv6_multicast,     // multicast we do not serve
    icmpv4,             // ICMPv4 to the HA (not answered)
    vlan_tagged,        // 802.1Q/802.1ad tagged frames: no port here is configured for a VLAN
    count_,
};
const char* drop_reason_name(DropReason r);

struct ClassifyParams {
    Ipv4Addr ha_ipv4;
    std::span<const Ipv6Addr> ha_ipv6;   // the HA's own addresses
    Ipv6Addr dhaad_anycast;              // the home subnet's home-agents anycast address
    uint16_t udp_port = 4191;            // U method
    uint16_t esp_udp_port = 4500;        // S+U method
    bool ike = false;                    // IKEv2 is on (ike.enabled): port 500, and 4500's non-ESP marker
    // A filter on the interface identifiers of the addresses above (bit iid_bit(iid) of each set), which
    // addressed_to_ha asks before comparing: a clear bit is no address of ours. All ones (the default)
    // lets every destination through to the compares; set_iid_filter() after the addresses are set.
    uint64_t iid_filter = ~uint64_t{0};
    static unsigned iid_bit(uint64_t iid) { return static_cast<unsigned>((iid * 0x9E3779B97F4A7C15u) >> 58); }
    void set_iid_filter();
};

struct Classified {
    PacketClass cls = PacketClass::drop;
    DropReason drop = DropReason::none;
    TunnelMethod method = TunnelMethod::ipv6; // tunneled: how
    uint16_t l3_offset = 0;                   // start of the IPv4 / IPv6 / ARP header
    uint16_t inner_offset = 0;                // tunneled: where the inner packet (or ESP) starts
    Ipv4Addr outer_src;                       // tunneled over IPv4
    uint16_t outer_sport = 0;                 // tunneled over UDP
    // IPv6-in-IPv6 (method ipv6): the outer source is at l3_offset + 8 in the frame. Kept out of this
    // struct so that it stays two words, returned in registers for every packet.
};
static_assert(sizeof(Classified) <= 16);

// Whether an IPv6 destination (16 bytes) is the home agent itself: one of its addresses or the home
// agents anycast address. Such packets are signaling (or an IPv6-in-IPv6 tunnel to it), never forwarded;
// the worker asks the same of a decapsulated packet.
inline bool addressed_to_ha(const uint8_t* dst, const ClassifyParams& p)
{
    uint64_t d[2];
    std::memcpy(d, dst, 16);
    // Most destinations (the mobile networks' hosts) fail the filter and need no compare.
    if (!((p.iid_filter >> ClassifyParams::iid_bit(d[1])) & 1)) return false;
    // The interface identifiers first: they tell addresses apart at once.
    const auto same = [&](const Ipv6Addr& a) {
        uint64_t w[2];
        std::memcpy(w, a.bytes.data(), 16);
        return d[1] == w[1] && d[0] == w[0];
    };
    if (same(p.dhaad_anycast)) return true;
    for (const Ipv6Addr& a : p.ha_ipv6)
        if (same(a)) return true;
    return false;
}

// Whether a decapsulated packet's destination (16 bytes) may be forwarded beyond the home agent: not
// multicast, link-local, loopback or unspecified (RFC 4291 2.5.6: link-local destinations are never
// forwarded; a mobile node's multicast is not the home agent's to spread).
inline bool forwardable_destination(const uint8_t* dst)
{
    if (dst[0] == 0xFF) return false;                            // multicast
    if (dst[0] == 0xFE) return (dst[1] & 0xC0) != 0x80;           // fe80::/10
    if (dst[0] != 0) return true;                                // global unicast and the rest: the usual case
    uint64_t head, rest; // bytes 0-7 and 7-14
    std::memcpy(&head, dst, 8);
    std::memcpy(&rest, dst + 7, 8);
    return !(head == 0 && rest == 0 && dst[15] <= 1); // :: and ::1
}

// `frame` is an untagged Ethernet frame: tagged frames are dropped (DropReason::vlan_tagged). IPv4 header
// checksums are verified unless `ipv4_checksum_checked` says the NIC did it.
Classified classify_frame(std::span<const uint8_t> frame, const ClassifyParams& p, bool ipv4_checksum_checked = false);

// classify_frame's answer for the frames a home agent sees most, inline and without building its result:
// true exactly when classify_frame says PacketClass::downstream (an untagged IPv6 frame, its payload
// within the frame, neither a Neighbor Solicitation nor Advertisement, not to multicast nor to the home
// agent), the IPv6 header then starting at byte 14. The worker asks it first and classifies the other
// frames in full; tests/unit/test_classify.cpp holds the two to one answer over crafted and random frames.
inline bool is_downstream_frame(const uint8_t* f, std::size_t len, const ClassifyParams& p)
{
    constexpr std::size_t kL3 = wire::kEtherHeaderLen, kFixed = 40;
    if (len < kL3 + kFixed) return false;
    // The ethertype and the version nibble in one compare.
    if ((wire::load_be32(f + 12) & 0xFFFFF000u) != ((uint32_t{wire::ethertype::ipv6} << 16) | 0x6000u)) return false;
    const std::size_t payload = wire::load_be16(f + kL3 + 4);
    if (kL3 + kFixed + payload > len) return false;
    const uint8_t* dst = f + kL3 + 24;
    if (dst[0] == 0xFF) return false;
    if (f[kL3 + 6] == wire::ipproto::icmpv6 && payload >= 4) {
        const uint8_t type = f[kL3 + kFixed];
        if (type == wire::icmp6::neighbor_solicit || type == wire::icmp6::neighbor_advert) return false;
    }
    return !addressed_to_ha(dst, p);
}

// classify_frame's answer for the commonest frame from the access side, inline: ESP over IPv4 (S) to
// the HA's address, no IPv4 options, not a fragment, its header checksum good (or `checked`: the NIC
// verified it). True only when classify_frame would say tunneled/esp with the same offsets and outer
// source, which it writes to `c`; false sends the frame the general way, which answers every frame.
inline bool is_esp_frame(const uint8_t* f, std::size_t len, const ClassifyParams& p, bool checked, Classified& c)
{
    constexpr std::size_t kL3 = wire::kEtherHeaderLen, kIp = wire::kIpv4MinHeaderLen;
    if (len < kL3 + kIp) return false;
    // The ethertype, the version and the header length (5 words: no options) in one compare.
    if ((wire::load_be32(f + 12) & 0xFFFFFF00u) != ((uint32_t{wire::ethertype::ipv4} << 16) | 0x4500u)) return false;
    const uint8_t* ip = f + kL3;
    const std::size_t total = wire::load_be16(ip + 2);
    if (total < kIp || kL3 + total > len) return false;
    if (ip[9] != wire::ipproto::esp) return false;
    if ((wire::load_be16(ip + 6) & (wire::kIpv4FlagMF | wire::kIpv4FragOffsetMask)) != 0) return false;
    if (Ipv4Addr::from_bytes(ip + 16) != p.ha_ipv4) return false;
    if (!checked && !wire::ipv4_header_checksum_ok(ip, kIp)) return false;
    c = Classified{};
    c.cls = PacketClass::tunneled;
    c.method = TunnelMethod::esp;
    c.l3_offset = kL3;
    c.inner_offset = kL3 + kIp;
    c.outer_src = Ipv4Addr::from_bytes(ip + 12);
    return true;
}

// The home-agents anycast address of a home prefix (RFC 2526: interface identifier fdff:ffff:ffff:fffe
// for EUI-64 style prefixes).
Ipv6Addr home_agents_anycast(const Prefix6& home_prefix);

} // namespace nemo
