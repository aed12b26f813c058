#include "classify.hpp"

#include <algorithm>
#include <cstring>

#include "bytes.hpp"
#include "esp.hpp"
#include "ethernet.hpp"
#include "gre.hpp"
#include "icmpv6.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "udp.hpp"

namespace nemo {

using namespace wire;

const char* drop_reason_name(DropReason r)
{
    switch (r) {
    case DropReason::none: return "none";
    case DropReason::malformed: return "malformed";
    case DropReason::not_for_us: return "not-for-us";
    case DropReason::ipv4_fragment: return "ipv4-fragment";
    case DropReason::unsupported_tunnel: return "unsupported-tunnel";
    case DropReason::ttl_exceeded: return "hop-limit-exceeded";
    case DropReason::ipv6_multicast: return "ipv6-multicast";
    case DropReason::icmpv4: return "icmpv4";
    case DropReason::vlan_tagged: return "vlan-tagged";
    case DropReason::count_: break;
    }
    return "unknown";
}

void ClassifyParams::set_iid_filter()
{
    // As addressed_to_ha reads them: bytes 8-15 of the address in the machine's order.
    auto bit = [](const Ipv6Addr& a) {
        uint64_t iid;
        std::memcpy(&iid, a.bytes.data() + 8, 8);
        return uint64_t{1} << iid_bit(iid);
    };
    iid_filter = bit(dhaad_anycast);
    for (const Ipv6Addr& a : ha_ipv6) iid_filter |= bit(a);
}

Ipv6Addr home_agents_anycast(const Prefix6& home_prefix)
{
    Ipv6Addr a = home_prefix.addr;
    static constexpr uint8_t iid[8] = {0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE};
    std::copy(std::begin(iid), std::end(iid), a.bytes.begin() + 8);
    return a;
}

namespace {

Classified dropped(DropReason r)
{
    Classified c;
    c.drop = r;
    return c;
}


// Reads the fixed header in place: this runs for every packet, so no views are built.
Classified classify_ipv6(std::span<const uint8_t> l3, uint16_t off, const ClassifyParams& p)
{
    if (l3.size() < kIpv6HeaderLen || (l3[0] >> 4) != 6) return dropped(DropReason::malformed);
    const uint8_t* h = l3.data();
    const std::size_t payload = load_be16(h + 4);
    if (kIpv6HeaderLen + payload > l3.size()) return dropped(DropReason::malformed);
    const uint8_t next = h[6];
    const uint8_t* dst = h + 24;
    Classified c;
    c.l3_offset = off;
    if (next == ipproto::icmpv6 && payload >= 4) {
        const uint8_t type = h[kIpv6HeaderLen];
        if (type == icmp6::neighbor_solicit) {
            c.cls = PacketClass::nd_solicit;
            return c;
        }
        if (type == icmp6::neighbor_advert) {
            c.cls = PacketClass::nd_to_control;
            return c;
        }
    }
    const bool to_us = addressed_to_ha(dst, p);
    if (to_us && next == ipproto::ipv6) {
        c.cls = PacketClass::tunneled; // reverse tunnel from an IPv6 care-of address (RFC 2473)
        c.method = TunnelMethod::ipv6;
        c.inner_offset = static_cast<uint16_t>(off + kIpv6HeaderLen);
        return c;
    }
    if (to_us) {
        c.cls = PacketClass::signaling_v6; // MH, DHAAD, MPS, errors: the control thread sorts them out
        return c;
    }
    if (dst[0] == 0xFF) return dropped(DropReason::ipv6_multicast);
    // A hop limit of 1 or 0 is the worker's to answer (Time Exceeded) once it knows the packet is ours.
    c.cls = PacketClass::downstream;
    return c;
}

Classified classify_ipv4(std::span<const uint8_t> l3, uint16_t off, const ClassifyParams& p, bool checked)
{
    auto v4 = parse_ipv4(l3, checked ? ChecksumCheck::skip : ChecksumCheck::verify);
    if (!v4) return dropped(DropReason::malformed);
    if (v4->hdr.dst != p.ha_ipv4) return dropped(DropReason::not_for_us);
    if (v4->hdr.is_fragment()) {
        // The tunnel header may be in another fragment: nothing more can be said before reassembly.
        Classified f;
        f.cls = PacketClass::ipv4_fragment;
        f.l3_offset = off;
        f.inner_offset = static_cast<uint16_t>(off + v4->header_len);
        f.outer_src = v4->hdr.src;
        return f;
    }
    Classified c;
    c.cls = PacketClass::tunneled;
    c.l3_offset = off;
    c.outer_src = v4->hdr.src;
    const auto after_ip = static_cast<uint16_t>(off + v4->header_len);
    switch (v4->hdr.protocol) {
    case ipproto::ipv6:
        c.method = TunnelMethod::ipip;
        c.inner_offset = after_ip;
        return c;
    case ipproto::gre: {
        auto g = parse_gre(v4->payload);
        if (!g) return dropped(DropReason::malformed);
        if (g->hdr.protocol != 0x86DD) return dropped(DropReason::unsupported_tunnel);
        c.method = TunnelMethod::gre;
        c.inner_offset = static_cast<uint16_t>(after_ip + g->hdr.size());
        return c;
    }
    case ipproto::udp: {
        auto u = parse_udp(v4->payload);
        if (!u) return dropped(DropReason::malformed);
        if (!udp_checksum_ok_v4(*u, v4->hdr.src, v4->hdr.dst)) return dropped(DropReason::malformed);
        c.outer_sport = u->src_port;
        c.inner_offset = static_cast<uint16_t>(after_ip + kUdpHeaderLen);
        if (u->dst_port == p.udp_port) {
            c.method = TunnelMethod::udp;
            return c;
        }
        if (u->dst_port == p.esp_udp_port) {
            c.method = TunnelMethod::esp_udp;
            return c;
        }
        if (p.ike && u->dst_port == kIkeUdpPort) {
            c.cls = PacketClass::ike;
            return c;
        }
        return dropped(DropReason::unsupported_tunnel);
    }
    case ipproto::esp:
        c.method = TunnelMethod::esp;
        c.inner_offset = after_ip;
        return c;
    case ipproto::icmp: return dropped(DropReason::icmpv4);
    default: return dropped(DropReason::unsupported_tunnel);
    }
}

} // namespace

Classified classify_frame(std::span<const uint8_t> frame, const ClassifyParams& p, bool ipv4_checksum_checked)
{
    if (frame.size() < kEtherHeaderLen) return dropped(DropReason::malformed);
    const uint16_t type = load_be16(frame.data() + 12);
    const uint16_t off = kEtherHeaderLen;
    // No port is configured for a VLAN: a tagged frame is none of ours. Forwarding it untagged, or
    // answering it tagged, would be half of 802.1Q.
    if (type == ethertype::vlan || type == 0x88A8) return dropped(DropReason::vlan_tagged);
    const auto l3 = frame.subspan(off);
    switch (type) {
    case ethertype::ipv6: return classify_ipv6(l3, off, p);
    case ethertype::ipv4: return classify_ipv4(l3, off, p, ipv4_checksum_checked);
    case ethertype::arp: {
        auto arp = parse_arp(l3);
        if (!arp) return dropped(DropReason::malformed);
        Classified c;
        c.l3_offset = off;
        c.cls = arp->op == arp_op::request && arp->target_ip == p.ha_ipv4 ? PacketClass::arp_request_for_us
                                                                          : PacketClass::arp_to_control;
        return c;
    }
    default: return dropped(DropReason::not_for_us);
    }
}

} // namespace nemo
