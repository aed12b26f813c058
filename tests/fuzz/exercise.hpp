// Drives every parser entry point of one header family over untrusted bytes, the way the home agent
// will: each layer's output feeds the next. Shared by the libFuzzer targets and the truncation test.
// The functions return how many layers parsed, so that the work is not optimised away.
#pragma once

#include <cstdint>
#include <span>

#include "esp.hpp"
#include "ethernet.hpp"
#include "gre.hpp"
#include "icmpv6.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"
#include "mobility_header.hpp"
#include "proto.hpp"
#include "udp.hpp"

namespace nemo::fuzz {

inline int exercise_mobility(std::span<const uint8_t> data)
{
    using namespace nemo::wire;
    auto mh = parse_mh(data);
    if (!mh) return 0;
    (void)mh_checksum_ok(*mh, Ipv6Addr{}, Ipv6Addr{});
    int n = 1;
    n += parse_binding_update(*mh).ok();
    n += parse_binding_ack(*mh).ok();
    n += parse_binding_error(*mh).ok();
    n += parse_mobility_options(mh->data(), 6, OptionTypes{.ipv4_coa = 32}).ok();
    return n;
}

inline int exercise_icmpv6(std::span<const uint8_t> data)
{
    using namespace nemo::wire;
    auto v = parse_icmpv6(data);
    if (!v) return 0;
    (void)icmpv6_checksum_ok(*v, Ipv6Addr{}, Ipv6Addr{});
    int n = 1;
    n += parse_dhaad_request(*v).ok();
    n += parse_dhaad_reply(*v).ok();
    n += parse_mobile_prefix_solicit(*v).ok();
    n += parse_mobile_prefix_advert(*v).ok();
    n += parse_neighbor_solicit(*v).ok();
    n += parse_neighbor_advert(*v).ok();
    if (auto e = parse_icmpv6_error(*v)) n += parse_ipv6_packet(e->invoking).ok();
    return n;
}

inline int exercise_ipv6(std::span<const uint8_t> data)
{
    using namespace nemo::wire;
    int n = parse_ipv6(data).ok();
    auto pkt = parse_ipv6_packet(data);
    if (!pkt) return n;
    ++n;
    switch (pkt->upper_proto) {
    case ipproto::mobility: {
        n += exercise_mobility(pkt->upper);
        if (auto mh = parse_mh(pkt->upper)) (void)mh_checksum_ok(*mh, pkt->checksum_src(), pkt->checksum_dst());
        break;
    }
    case ipproto::icmpv6: n += exercise_icmpv6(pkt->upper); break;
    case ipproto::udp:
        if (auto u = parse_udp(pkt->upper)) n += udp_checksum_ok_v6(*u, pkt->hdr.src, pkt->hdr.dst);
        break;
    default: break;
    }
    return n;
}

// IPv4 and what the access side carries inside it: IPv6 directly, GRE, UDP (4191 and ESP-in-UDP), ESP.
inline int exercise_tunnel(std::span<const uint8_t> data)
{
    using namespace nemo::wire;
    auto v4 = parse_ipv4(data, data.size() % 2 ? ChecksumCheck::skip : ChecksumCheck::verify);
    if (!v4) return 0;
    int n = 1;
    switch (v4->hdr.protocol) {
    case ipproto::ipv6: n += exercise_ipv6(v4->payload); break;
    case ipproto::gre:
        if (auto g = parse_gre(v4->payload)) n += exercise_ipv6(g->payload);
        break;
    case ipproto::udp:
        if (auto u = parse_udp(v4->payload)) {
            n += udp_checksum_ok_v4(*u, v4->hdr.src, v4->hdr.dst);
            if (classify_udp_encap(u->payload) == UdpEncapKind::esp) n += parse_esp(u->payload).ok();
            n += exercise_ipv6(u->payload);
        }
        break;
    case ipproto::esp:
        if (auto e = parse_esp(v4->payload)) n += parse_esp_trailer(e->body).ok();
        break;
    default: break;
    }
    return n;
}

inline int exercise_ethernet(std::span<const uint8_t> data)
{
    using namespace nemo::wire;
    auto eth = parse_ether(data);
    if (!eth) return 0;
    switch (eth->ethertype) {
    case ethertype::arp: return 1 + parse_arp(eth->payload).ok();
    case ethertype::ipv4: return 1 + exercise_tunnel(eth->payload);
    case ethertype::ipv6: return 1 + exercise_ipv6(eth->payload);
    default: return 1;
    }
}

} // namespace nemo::fuzz
