// Packets built by scapy (scripts/gen_wire_fixtures.py) parsed by our code, field by field. The values
// asserted are the ones the generator put in; checksums are scapy's own.
#include "../common/addresses.hpp"
#include <gtest/gtest.h>

#include "esp.hpp"
#include "ethernet.hpp"
#include "fixtures.hpp"
#include "gre.hpp"
#include "icmpv6.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"
#include "mobility_header.hpp"
#include "proto.hpp"
#include "udp.hpp"

using namespace nemo;
using namespace nemo::wire;
using namespace nemo::test;
using nemo::test::scapy_packet;

namespace {


// Parses an IPv6 packet carrying a Mobility Header and checks the MH checksum the way a home agent does.
struct Signaling {
    Ipv6Packet ip;
    MhView mh;
};
Signaling signaling(std::span<const uint8_t> v6)
{
    auto ip = parse_ipv6_packet(v6);
    EXPECT_TRUE(ip) << ip.error().message();
    EXPECT_EQ(ip->upper_proto, ipproto::mobility);
    auto mh = parse_mh(ip->upper);
    EXPECT_TRUE(mh) << mh.error().message();
    return {*ip, *mh};
}

std::span<const uint8_t> inner_of_ipv4(const std::vector<uint8_t>& pkt, uint8_t proto)
{
    auto v4 = parse_ipv4(pkt);
    EXPECT_TRUE(v4) << v4.error().message();
    EXPECT_EQ(v4->hdr.protocol, proto);
    return v4->payload;
}

} // namespace

TEST(ScapyFixtures, BuOverIpv4CarriesOptionAndPrefixes)
{
    const auto& pkt = scapy_packet("bu_v4coa_ipip");
    auto v4 = parse_ipv4(pkt);
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->hdr.src, kCoa4);
    EXPECT_EQ(v4->hdr.dst, kHa4);
    EXPECT_EQ(v4->hdr.protocol, ipproto::ipv6);
    auto s = signaling(v4->payload);
    EXPECT_EQ(s.ip.hdr.src, kHoa);
    EXPECT_FALSE(s.ip.home_address);
    EXPECT_TRUE(mh_checksum_ok(s.mh, s.ip.checksum_src(), s.ip.checksum_dst()));
    auto bu = parse_binding_update(s.mh);
    ASSERT_TRUE(bu) << bu.error().message();
    EXPECT_EQ(bu->seq, 1000);
    EXPECT_EQ(bu->flags, bu_flag::A | bu_flag::H | bu_flag::R);
    EXPECT_EQ(bu->lifetime, 150);
    ASSERT_TRUE(bu->options.ipv4_coa);
    EXPECT_EQ(bu->options.ipv4_coa->flags, v4flag::I);
    EXPECT_EQ(bu->options.ipv4_coa->coa, kCoa4);
    ASSERT_EQ(bu->options.mnp_count, 2);
    EXPECT_EQ(bu->options.mobile_network_prefixes()[0].str(), "2001:db8:aaaa::/48");
    EXPECT_EQ(bu->options.mobile_network_prefixes()[1].str(), "2001:db8:bbbb:1::/64");
    EXPECT_EQ(bu->options.skipped, 0);
}

TEST(ScapyFixtures, BuOverUdpFromBehindNat)
{
    const auto& pkt = scapy_packet("bu_v4coa_udp_nat");
    auto v4 = parse_ipv4(pkt);
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->hdr.src.str(), "203.0.113.7");
    auto udp = parse_udp(v4->payload);
    ASSERT_TRUE(udp);
    EXPECT_EQ(udp->src_port, 40000);
    EXPECT_EQ(udp->dst_port, 4191);
    EXPECT_TRUE(udp_checksum_ok_v4(*udp, v4->hdr.src, v4->hdr.dst));
    auto s = signaling(udp->payload);
    EXPECT_TRUE(mh_checksum_ok(s.mh, s.ip.checksum_src(), s.ip.checksum_dst()));
    auto bu = parse_binding_update(s.mh);
    ASSERT_TRUE(bu);
    EXPECT_EQ(bu->seq, 65535);
    EXPECT_EQ(bu->options.ipv4_coa->flags, v4flag::U);
    EXPECT_EQ(bu->options.ipv4_coa->port, 5555);
    EXPECT_EQ(bu->options.ipv4_coa->coa, kCoa4);
}

TEST(ScapyFixtures, BuOverGreWithEveryOptionalField)
{
    auto gre = parse_gre(inner_of_ipv4(scapy_packet("bu_gre"), ipproto::gre));
    ASSERT_TRUE(gre) << gre.error().message();
    EXPECT_EQ(gre->hdr.protocol, 0x86DD);
    EXPECT_TRUE(gre->hdr.checksum);
    EXPECT_EQ(*gre->hdr.key, 0xDEADBEEFu);
    EXPECT_EQ(*gre->hdr.seq, 7u);
    auto s = signaling(gre->payload);
    EXPECT_TRUE(mh_checksum_ok(s.mh, s.ip.checksum_src(), s.ip.checksum_dst()));
    auto bu = parse_binding_update(s.mh);
    ASSERT_TRUE(bu);
    EXPECT_EQ(bu->options.ipv4_coa->flags, v4flag::R);
}

TEST(ScapyFixtures, NativeBuChecksumUsesHomeAddressOption)
{
    auto s = signaling(scapy_packet("bu_native_hao"));
    EXPECT_EQ(s.ip.hdr.src, kCoa6);
    ASSERT_TRUE(s.ip.home_address);
    EXPECT_EQ(*s.ip.home_address, kHoa);
    EXPECT_TRUE(mh_checksum_ok(s.mh, s.ip.checksum_src(), s.ip.checksum_dst()));
    EXPECT_FALSE(mh_checksum_ok(s.mh, s.ip.hdr.src, s.ip.hdr.dst));
    auto bu = parse_binding_update(s.mh);
    ASSERT_TRUE(bu);
    EXPECT_EQ(bu->seq, 7);
    EXPECT_EQ(*bu->options.alternate_coa, kCoa6);
    EXPECT_EQ(bu->options.mobile_network_prefixes()[0].str(), "2001:db8:bbbb:1::/64");
}

TEST(ScapyFixtures, UnknownOptionSkippedAndBadChecksumCaught)
{
    auto s = signaling(scapy_packet("bu_unknown_option"));
    EXPECT_TRUE(mh_checksum_ok(s.mh, s.ip.checksum_src(), s.ip.checksum_dst()));
    auto bu = parse_binding_update(s.mh);
    ASSERT_TRUE(bu);
    EXPECT_EQ(bu->options.skipped, 1);
    EXPECT_EQ(bu->options.mnp_count, 1);

    auto bad = signaling(scapy_packet("bu_bad_checksum"));
    EXPECT_FALSE(mh_checksum_ok(bad.mh, bad.ip.checksum_src(), bad.ip.checksum_dst()));
}

TEST(ScapyFixtures, BindingAckThroughRh2)
{
    auto s = signaling(scapy_packet("ba_rh2"));
    ASSERT_TRUE(s.ip.rh2_home_address);
    EXPECT_EQ(*s.ip.rh2_home_address, kHoa);
    EXPECT_TRUE(mh_checksum_ok(s.mh, s.ip.checksum_src(), s.ip.checksum_dst()));
    auto ba = parse_binding_ack(s.mh);
    ASSERT_TRUE(ba);
    EXPECT_EQ(ba->status, 0);
    EXPECT_EQ(ba->flags, ba_flag::R);
    EXPECT_EQ(ba->seq, 7);
    EXPECT_EQ(ba->lifetime, 100);
}

TEST(ScapyFixtures, BindingAck144EchoesSupportedFlags)
{
    auto s = signaling(inner_of_ipv4(scapy_packet("ba_144"), ipproto::ipv6));
    EXPECT_TRUE(mh_checksum_ok(s.mh, s.ip.checksum_src(), s.ip.checksum_dst()));
    auto ba = parse_binding_ack(s.mh);
    ASSERT_TRUE(ba);
    EXPECT_EQ(ba->status, 144);
    EXPECT_EQ(ba->options.ipv4_coa->flags, v4flag::I | v4flag::U);
}

TEST(ScapyFixtures, BindingError)
{
    auto s = signaling(scapy_packet("be_status2"));
    EXPECT_TRUE(mh_checksum_ok(s.mh, s.ip.checksum_src(), s.ip.checksum_dst()));
    auto be = parse_binding_error(s.mh);
    ASSERT_TRUE(be);
    EXPECT_EQ(be->status, 2);
    EXPECT_EQ(be->home_address, kHoa);
}

namespace {
Icmpv6View icmp(const std::string& name, Ipv6Packet* ip_out = nullptr)
{
    auto ip = parse_ipv6_packet(scapy_packet(name));
    EXPECT_TRUE(ip);
    EXPECT_EQ(ip->upper_proto, ipproto::icmpv6);
    auto v = parse_icmpv6(ip->upper);
    EXPECT_TRUE(v);
    EXPECT_TRUE(icmpv6_checksum_ok(*v, ip->checksum_src(), ip->checksum_dst())) << name;
    if (ip_out) *ip_out = *ip;
    return *v;
}
} // namespace

TEST(ScapyFixtures, Dhaad)
{
    auto req = parse_dhaad_request(icmp("dhaad_request"));
    ASSERT_TRUE(req);
    EXPECT_EQ(req->id, 0x1234);
    EXPECT_EQ(req->flags, dhaad_flag::R | dhaad_flag::I);
    auto rep = parse_dhaad_reply(icmp("dhaad_reply"));
    ASSERT_TRUE(rep);
    EXPECT_EQ(rep->flags, dhaad_flag::R | dhaad_flag::I);
    ASSERT_EQ(rep->count, 3);
    EXPECT_EQ(rep->list()[0], kHa6);
    EXPECT_TRUE(rep->list()[2].is_v4_mapped());
    EXPECT_EQ(rep->list()[2].mapped_v4(), kHa4);
}

TEST(ScapyFixtures, MobilePrefixDiscovery)
{
    EXPECT_EQ(*parse_mobile_prefix_solicit(icmp("mps")), 0x0102);
    auto mpa = parse_mobile_prefix_advert(icmp("mpa"));
    ASSERT_TRUE(mpa) << mpa.error().message();
    EXPECT_EQ(mpa->id, 0x0102);
    EXPECT_EQ(mpa->flags, mpa_flag::M);
    ASSERT_EQ(mpa->count, 1);
    const PrefixInfo& pi = mpa->list()[0];
    EXPECT_EQ(pi.prefix_len, 64);
    EXPECT_EQ(pi.flags, pio_flag::L | pio_flag::A | pio_flag::R);
    EXPECT_EQ(pi.valid_lifetime, 86400u);
    EXPECT_EQ(pi.preferred_lifetime, 14400u);
    EXPECT_EQ(pi.prefix.str(), "2001:db8:1::");
}

TEST(ScapyFixtures, NeighborDiscovery)
{
    auto ns = parse_neighbor_solicit(icmp("ns"));
    ASSERT_TRUE(ns);
    EXPECT_EQ(ns->target, kHoa);
    EXPECT_EQ(ns->lladdr->str(), "02:00:00:00:00:02");
    auto na = parse_neighbor_advert(icmp("na"));
    ASSERT_TRUE(na);
    EXPECT_EQ(na->flags, na_flag::R | na_flag::S);
    EXPECT_EQ(na->lladdr->str(), "02:00:00:00:00:01");
}

TEST(ScapyFixtures, IcmpErrors)
{
    auto ptb = parse_icmpv6_error(icmp("ptb"));
    ASSERT_TRUE(ptb);
    EXPECT_EQ(ptb->type, icmp6::packet_too_big);
    EXPECT_EQ(ptb->param, 1452u);
    EXPECT_EQ(ptb->invoking.size(), 1440u);
    auto pp = parse_icmpv6_error(icmp("param_problem"));
    ASSERT_TRUE(pp);
    EXPECT_EQ(pp->type, icmp6::param_problem);
    EXPECT_EQ(pp->param, 40u);
    EXPECT_TRUE(parse_ipv6(pp->invoking));
}

TEST(ScapyFixtures, ArpAndVlan)
{
    auto arp = parse_arp(scapy_packet("arp_request"));
    ASSERT_TRUE(arp);
    EXPECT_EQ(arp->op, arp_op::request);
    EXPECT_EQ(arp->sender_ip, kCoa4);
    EXPECT_EQ(arp->target_ip, kHa4);
    EXPECT_EQ(arp->sender_mac.str(), "02:00:00:00:00:02");

    auto eth = parse_ether(scapy_packet("ether_vlan_ipv6"));
    ASSERT_TRUE(eth);
    EXPECT_EQ(*eth->vlan_tci, (5 << 13) | 42);
    EXPECT_EQ(eth->ethertype, ethertype::ipv6);
    auto ip = parse_ipv6(eth->payload);
    ASSERT_TRUE(ip);
    EXPECT_EQ(ip->hdr.hop_limit, 9);
}

TEST(ScapyFixtures, UdpChecksums)
{
    const auto& p4 = scapy_packet("udp4");
    auto v4 = parse_ipv4(p4);
    auto u4 = parse_udp(v4->payload);
    ASSERT_TRUE(u4);
    EXPECT_TRUE(udp_checksum_ok_v4(*u4, v4->hdr.src, v4->hdr.dst));
    EXPECT_EQ(std::string(u4->payload.begin(), u4->payload.end()), "hello nemo");

    auto v6 = parse_ipv6(scapy_packet("udp6"));
    auto u6 = parse_udp(v6->payload);
    ASSERT_TRUE(u6);
    EXPECT_TRUE(udp_checksum_ok_v6(*u6, v6->hdr.src, v6->hdr.dst)); // odd length payload
}

TEST(ScapyFixtures, Ipv4OptionsSkipped)
{
    auto v4 = parse_ipv4(scapy_packet("ipv4_options"));
    ASSERT_TRUE(v4) << v4.error().message();
    EXPECT_EQ(v4->header_len, 28);
    EXPECT_EQ(v4->hdr.ttl, 17);
    EXPECT_TRUE(parse_ipv6(v4->payload));
}

TEST(ScapyFixtures, Ipv6ExtensionChain)
{
    auto ip = parse_ipv6_packet(scapy_packet("ipv6_ext_chain"));
    ASSERT_TRUE(ip) << ip.error().message();
    EXPECT_EQ(ip->hdr.traffic_class, 0xB8);
    EXPECT_EQ(ip->hdr.flow_label, 0x12345u);
    EXPECT_EQ(ip->upper_proto, ipproto::icmpv6);
    EXPECT_EQ(ip->upper_offset, 56u);
    EXPECT_EQ(parse_ipv6_packet(scapy_packet("ipv6_fragment")).error().code, Errc::unsupported);
}

TEST(ScapyFixtures, EspNullLayout)
{
    auto esp = parse_esp(inner_of_ipv4(scapy_packet("esp_null"), ipproto::esp));
    ASSERT_TRUE(esp);
    EXPECT_EQ(esp->spi, 0x1001u);
    EXPECT_EQ(esp->seq, 42u);
    // NULL cipher, no IV, no ICV: the body is the plaintext with its trailer.
    auto t = parse_esp_trailer(esp->body);
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(t->next_header, ipproto::ipv6);
    auto inner = parse_ipv6(t->inner);
    ASSERT_TRUE(inner);
    EXPECT_EQ(inner->hdr.src, kHoa);
    EXPECT_EQ(std::string(inner->payload.begin(), inner->payload.end()), "payload!");
}
