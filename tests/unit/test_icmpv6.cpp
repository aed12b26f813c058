#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "icmpv6.hpp"
#include "ipv6.hpp"
#include "proto.hpp"

using namespace nemo;
using namespace nemo::wire;

namespace {
const Ipv6Addr kHa = *Ipv6Addr::parse("2001:db8:1::1");
const Ipv6Addr kMr = *Ipv6Addr::parse("2001:db8:ffff::5");

Icmpv6View view(std::span<const uint8_t> b, std::size_t len) { return *parse_icmpv6(b.first(len)); }
} // namespace

TEST(Icmpv6, DhaadRequestRoundTrip)
{
    std::array<uint8_t, 64> buf{};
    auto len = build_dhaad_request(buf, {0x1234, dhaad_flag::R | dhaad_flag::I}, kMr, kHa);
    ASSERT_TRUE(len);
    auto v = view(buf, *len);
    EXPECT_TRUE(icmpv6_checksum_ok(v, kMr, kHa));
    auto r = parse_dhaad_request(v);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->id, 0x1234);
    EXPECT_EQ(r->flags, dhaad_flag::R | dhaad_flag::I);
}

TEST(Icmpv6, DhaadReplyPutsIpv4AddressesLastAsMapped)
{
    std::array<uint8_t, 256> buf{};
    std::vector<Ipv6Addr> v6 = {kHa, *Ipv6Addr::parse("2001:db8:1::2")};
    std::vector<Ipv4Addr> v4 = {*Ipv4Addr::parse("192.0.2.1")};
    auto len = build_dhaad_reply(buf, 7, dhaad_flag::R | dhaad_flag::I, v6, v4, kHa, kMr);
    ASSERT_TRUE(len);
    EXPECT_EQ(*len, 8u + 3 * 16);
    auto v = view(buf, *len);
    EXPECT_TRUE(icmpv6_checksum_ok(v, kHa, kMr));
    auto r = parse_dhaad_reply(v);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->id, 7);
    ASSERT_EQ(r->count, 3);
    EXPECT_EQ(r->list()[0], kHa);
    EXPECT_EQ(r->list()[2].str(), "::ffff:192.0.2.1");
}

TEST(Icmpv6, DhaadReplyFitsMinimumMtu)
{
    std::vector<Ipv6Addr> many(100, kHa);
    std::vector<uint8_t> buf(4096);
    auto len = build_dhaad_reply(buf, 1, 0, many, {}, kHa, kMr);
    ASSERT_TRUE(len);
    EXPECT_LE(*len + 40, kIpv6MinMtu);
}

TEST(Icmpv6, DhaadErrors)
{
    std::array<uint8_t, 64> buf{};
    auto len = *build_dhaad_request(buf, {1, 0}, kMr, kHa);
    EXPECT_EQ(parse_dhaad_reply(view(buf, len)).error().code, Errc::unknown_type);
    EXPECT_EQ(parse_dhaad_request(view(buf, 6)).error().code, Errc::truncated);
    buf[1] = 3;
    EXPECT_EQ(parse_dhaad_request(view(buf, len)).error().code, Errc::bad_value);
    std::array<uint8_t, 24> odd = {icmp6::dhaad_reply};
    EXPECT_EQ(parse_dhaad_reply(view(odd, 20)).error().code, Errc::bad_length);
}

TEST(Icmpv6, MobilePrefixRoundTrip)
{
    std::array<uint8_t, 128> buf{};
    auto s = build_mobile_prefix_solicit(buf, 0x0102, kMr, kHa);
    ASSERT_TRUE(s);
    EXPECT_EQ(*parse_mobile_prefix_solicit(view(buf, *s)), 0x0102);

    MobilePrefixAdvert a;
    a.id = 0x0102;
    a.flags = mpa_flag::M;
    a.prefixes[0] = PrefixInfo{64, pio_flag::L | pio_flag::A, 86400, 14400, *Ipv6Addr::parse("2001:db8:1::")};
    a.prefixes[1] = PrefixInfo{48, 0, 100, 50, *Ipv6Addr::parse("2001:db8:2::")};
    a.count = 2;
    auto len = build_mobile_prefix_advert(buf, a, kHa, kMr);
    ASSERT_TRUE(len);
    auto v = view(buf, *len);
    EXPECT_TRUE(icmpv6_checksum_ok(v, kHa, kMr));
    auto r = parse_mobile_prefix_advert(v);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->id, 0x0102);
    EXPECT_EQ(r->flags, mpa_flag::M);
    ASSERT_EQ(r->count, 2);
    EXPECT_EQ(r->list()[0], a.prefixes[0]);
    EXPECT_EQ(r->list()[1], a.prefixes[1]);
}

TEST(Icmpv6, NdOptionErrors)
{
    std::array<uint8_t, 128> buf{};
    MobilePrefixAdvert a;
    a.count = 1;
    a.prefixes[0].prefix_len = 64;
    auto len = *build_mobile_prefix_advert(buf, a, kHa, kMr);
    buf[8 + 1] = 0; // option length 0
    EXPECT_EQ(parse_mobile_prefix_advert(view(buf, len)).error().code, Errc::bad_length);
    buf[8 + 1] = 5; // runs past the message
    EXPECT_EQ(parse_mobile_prefix_advert(view(buf, len)).error().code, Errc::truncated);
    buf[8 + 1] = 4;
    buf[8 + 2] = 129;
    EXPECT_EQ(parse_mobile_prefix_advert(view(buf, len)).error().code, Errc::bad_value);
}

TEST(Icmpv6, ErrorsCarryInvokingPacketWithinMinimumMtu)
{
    std::vector<uint8_t> invoking(2000, 0x60);
    std::vector<uint8_t> buf(2000);
    auto len = build_packet_too_big(buf, 1452, invoking, kHa, kMr);
    ASSERT_TRUE(len);
    EXPECT_EQ(*len + 40, kIpv6MinMtu);
    auto v = view(buf, *len);
    EXPECT_TRUE(icmpv6_checksum_ok(v, kHa, kMr));
    auto e = parse_icmpv6_error(v);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type, icmp6::packet_too_big);
    EXPECT_EQ(e->param, 1452u);
    EXPECT_EQ(e->invoking.size(), kIpv6MinMtu - 48);

    auto pp = build_param_problem(buf, 0, 40, std::span(invoking).first(64), kHa, kMr);
    ASSERT_TRUE(pp);
    auto pe = parse_icmpv6_error(view(buf, *pp));
    EXPECT_EQ(pe->type, icmp6::param_problem);
    EXPECT_EQ(pe->code, 0);
    EXPECT_EQ(pe->param, 40u);
    EXPECT_EQ(pe->invoking.size(), 64u);

    std::array<uint8_t, 10> small{};
    EXPECT_EQ(build_param_problem(small, 0, 0, invoking, kHa, kMr).error().code, Errc::buffer_too_small);
    std::array<uint8_t, 8> echo = {icmp6::echo_request};
    EXPECT_EQ(parse_icmpv6_error(view(echo, 8)).error().code, Errc::unknown_type);
}

TEST(Icmpv6, TimeExceededRfc4443Section3_3)
{
    std::vector<uint8_t> invoking(80, 0x60);
    std::vector<uint8_t> buf(1280);
    auto len = build_time_exceeded(buf, 0, invoking, kHa, kMr);
    ASSERT_TRUE(len);
    auto v = view(buf, *len);
    EXPECT_TRUE(icmpv6_checksum_ok(v, kHa, kMr));
    auto e = parse_icmpv6_error(v);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type, icmp6::time_exceeded);
    EXPECT_EQ(e->code, 0);
    EXPECT_EQ(e->param, 0u) << "unused, zero";
    EXPECT_EQ(e->invoking.size(), 80u);
}

// RFC 4443 2.4 (e): which packets may draw an error.
TEST(Icmpv6, ErrorAllowedRfc4443Section2_4e)
{
    auto packet = [](const char* src, const char* dst, uint8_t next, uint8_t icmp_type = 0) {
        std::vector<uint8_t> p(48);
        write_ipv6_header(p.data(), Ipv6Header{0, 0, 8, next, 64, *Ipv6Addr::parse(src), *Ipv6Addr::parse(dst)});
        p[40] = icmp_type;
        return p;
    };
    const auto te = icmp6::time_exceeded, ptb = icmp6::packet_too_big;
    EXPECT_TRUE(icmpv6_error_allowed(packet("2001:db8::1", "2001:db8:aaaa::1", ipproto::udp), te, false));
    EXPECT_FALSE(icmpv6_error_allowed(packet("::", "2001:db8:aaaa::1", ipproto::udp), ptb, false)) << "(e.6) unspecified";
    EXPECT_FALSE(icmpv6_error_allowed(packet("ff02::1", "2001:db8:aaaa::1", ipproto::udp), ptb, false)) << "(e.6) multicast";
    EXPECT_FALSE(icmpv6_error_allowed(packet("2001:db8::1", "ff0e::1", ipproto::udp), te, false)) << "(e.3)";
    EXPECT_TRUE(icmpv6_error_allowed(packet("2001:db8::1", "ff0e::1", ipproto::udp), ptb, false)) << "(e.3) PTB exception";
    EXPECT_FALSE(icmpv6_error_allowed(packet("2001:db8::1", "2001:db8:aaaa::1", ipproto::udp), te, true)) << "(e.4)";
    EXPECT_TRUE(icmpv6_error_allowed(packet("2001:db8::1", "2001:db8:aaaa::1", ipproto::udp), ptb, true));
    EXPECT_FALSE(icmpv6_error_allowed(packet("2001:db8::1", "2001:db8:aaaa::1", ipproto::icmpv6, 3), te, false)) << "(e.1)";
    EXPECT_FALSE(icmpv6_error_allowed(packet("2001:db8::1", "2001:db8:aaaa::1", ipproto::icmpv6, 137), te, false)) << "(e.2)";
    EXPECT_TRUE(icmpv6_error_allowed(packet("2001:db8::1", "2001:db8:aaaa::1", ipproto::icmpv6, 128), te, false)) << "echo";
    EXPECT_FALSE(icmpv6_error_allowed(std::vector<uint8_t>(20), te, false)) << "truncated";
}

TEST(Icmpv6, DadSolicitValidRfc4861Section7_1_1)
{
    const Ipv6Addr target = *Ipv6Addr::parse("2001:db8:1::100");
    NeighborMessage ns{0, target, std::nullopt};
    EXPECT_TRUE(dad_solicit_valid(ns, *Ipv6Addr::parse("ff02::1:ff00:100")));
    EXPECT_FALSE(dad_solicit_valid(ns, *Ipv6Addr::parse("ff02::1"))) << "not the solicited-node address";
    EXPECT_FALSE(dad_solicit_valid(ns, target)) << "unicast";
    ns.lladdr = MacAddr{{2, 0, 0, 0, 0, 9}};
    EXPECT_FALSE(dad_solicit_valid(ns, *Ipv6Addr::parse("ff02::1:ff00:100"))) << "with a source link-layer option";
}

TEST(Icmpv6, NeighborDiscoveryRoundTrip)
{
    std::array<uint8_t, 64> buf{};
    const auto mac = *MacAddr::parse("02:00:00:00:00:01");
    auto len = build_neighbor_advert(buf, {na_flag::S | na_flag::O, kMr, mac}, kHa, kMr);
    ASSERT_TRUE(len);
    EXPECT_EQ(*len, 32u);
    auto na = parse_neighbor_advert(view(buf, *len));
    ASSERT_TRUE(na);
    EXPECT_EQ(na->flags, na_flag::S | na_flag::O);
    EXPECT_EQ(na->target, kMr);
    EXPECT_EQ(*na->lladdr, mac);

    auto ns_len = build_neighbor_solicit(buf, {0, kHa, std::nullopt}, kMr, kHa.solicited_node());
    ASSERT_TRUE(ns_len);
    EXPECT_EQ(*ns_len, 24u);
    auto ns = parse_neighbor_solicit(view(buf, *ns_len));
    ASSERT_TRUE(ns);
    EXPECT_EQ(ns->target, kHa);
    EXPECT_FALSE(ns->lladdr);
    EXPECT_EQ(parse_neighbor_advert(view(buf, *ns_len)).error().code, Errc::unknown_type);
    EXPECT_EQ(parse_neighbor_solicit(view(buf, 20)).error().code, Errc::truncated);

    // Multicast target is invalid.
    auto mc = build_neighbor_solicit(buf, {0, *Ipv6Addr::parse("ff02::1"), std::nullopt}, kMr, kHa);
    EXPECT_EQ(parse_neighbor_solicit(view(buf, *mc)).error().code, Errc::bad_value);
}
