// The IPv6 packet of a mobile router's Binding Update as the control thread gets it from a worker when
// it came tunneled from IPv4 (HoA -> HA, no Home Address option): A, H and R, the IPv4 CoA option with
// the flag of the method it came in, one mobile network prefix. Built by our own builder.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <vector>

#include "../common/addresses.hpp"
#include "ipv6.hpp"
#include "mobility_header.hpp"
#include "proto.hpp"
#include "tunnel_method.hpp"

namespace nemo::test {

inline std::vector<uint8_t> tunneled_router_bu(const Ipv6Addr& hoa, uint16_t seq, const Prefix6& mnp, TunnelMethod via,
                                               uint16_t lifetime = 100)
{
    wire::BindingUpdate bu;
    bu.seq = seq;
    bu.flags = wire::bu_flag::A | wire::bu_flag::H | wire::bu_flag::R;
    bu.lifetime = lifetime;
    const uint16_t f = via == TunnelMethod::udp ? wire::v4flag::U : via == TunnelMethod::gre ? wire::v4flag::R : wire::v4flag::I;
    bu.options.ipv4_coa = wire::Ipv4CoaOption{f, 0, kCoa4};
    bu.options.add_prefix(mnp);
    std::vector<uint8_t> pkt(1280);
    auto mh = wire::build_binding_update(std::span(pkt).subspan(wire::kIpv6HeaderLen), bu, hoa, kHa6);
    EXPECT_TRUE(mh);
    if (!mh) return {};
    wire::write_ipv6_header(pkt.data(), wire::Ipv6Header{0, 0, static_cast<uint16_t>(*mh), wire::ipproto::mobility, 64, hoa, kHa6});
    pkt.resize(wire::kIpv6HeaderLen + *mh);
    return pkt;
}

} // namespace nemo::test
