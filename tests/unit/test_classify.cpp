#include <gtest/gtest.h>

#include <cstring>
#include <iterator>
#include <random>
#include <vector>

#include "checksum.hpp"
#include "classify.hpp"
#include "ecn.hpp"
#include "ethernet.hpp"
#include "fixtures.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "udp.hpp"

using namespace nemo;
using namespace nemo::wire;
using nemo::test::scapy_packet;

namespace {

const Ipv6Addr kHa6 = *Ipv6Addr::parse("2001:db8:1::1");
const std::vector<Ipv6Addr> kHaList = {kHa6};

ClassifyParams params()
{
    ClassifyParams p;
    p.ha_ipv4 = *Ipv4Addr::parse("192.0.2.1");
    p.ha_ipv6 = kHaList;
    p.dhaad_anycast = home_agents_anycast(*Prefix6::parse("2001:db8:1::/64"));
    return p;
}

std::vector<uint8_t> ether(uint16_t type, const std::vector<uint8_t>& l3)
{
    std::vector<uint8_t> f(14 + l3.size());
    write_ether_header(f.data(), MacAddr{{2, 0, 0, 0, 0, 1}}, MacAddr{{2, 0, 0, 0, 0, 2}}, type);
    std::copy(l3.begin(), l3.end(), f.begin() + 14);
    return f;
}

Classified of(const std::string& fixture, uint16_t type)
{
    return classify_frame(ether(type, scapy_packet(fixture)), params());
}

} // namespace

TEST(Classify, TunnelsToTheHa)
{
    auto ipip = of("bu_v4coa_ipip", ethertype::ipv4);
    EXPECT_EQ(ipip.cls, PacketClass::tunneled);
    EXPECT_EQ(ipip.method, TunnelMethod::ipip);
    EXPECT_EQ(ipip.outer_src.str(), "198.51.100.10");
    EXPECT_EQ(ipip.inner_offset, 14 + 20);

    auto udp = of("bu_v4coa_udp_nat", ethertype::ipv4);
    EXPECT_EQ(udp.cls, PacketClass::tunneled);
    EXPECT_EQ(udp.method, TunnelMethod::udp);
    EXPECT_EQ(udp.outer_sport, 40000);
    EXPECT_EQ(udp.inner_offset, 14 + 20 + 8);

    auto gre = of("bu_gre", ethertype::ipv4);
    EXPECT_EQ(gre.method, TunnelMethod::gre);
    EXPECT_EQ(gre.inner_offset, 14 + 20 + 16) << "checksum, key and sequence number";

    auto esp = of("esp_null", ethertype::ipv4);
    EXPECT_EQ(esp.method, TunnelMethod::esp);

    auto opts = of("ipv4_options", ethertype::ipv4);
    EXPECT_EQ(opts.inner_offset, 14 + 28);
}

TEST(Classify, Ipv4Drops)
{
    // UDP to port 4191 is the U tunnel whatever it carries: decapsulation judges the inner packet.
    EXPECT_EQ(of("udp4", ethertype::ipv4).method, TunnelMethod::udp);
    // To another address.
    auto p = scapy_packet("bu_v4coa_ipip");
    Ipv4Header h;
    auto v4 = parse_ipv4(p);
    h = v4->hdr;
    h.dst = *Ipv4Addr::parse("192.0.2.99");
    write_ipv4_header(p.data(), h);
    EXPECT_EQ(classify_frame(ether(ethertype::ipv4, p), params()).drop, DropReason::not_for_us);
    // A fragment (first, and not first): handed over for reassembly, with where its header is.
    h.dst = *Ipv4Addr::parse("192.0.2.1");
    h.frag = kIpv4FlagMF;
    write_ipv4_header(p.data(), h);
    auto frag = classify_frame(ether(ethertype::ipv4, p), params());
    EXPECT_EQ(frag.cls, PacketClass::ipv4_fragment);
    EXPECT_EQ(frag.l3_offset, 14);
    EXPECT_EQ(frag.inner_offset, 14 + 20);
    EXPECT_EQ(frag.outer_src, h.src);
    h.frag = 100; // offset 800, last fragment
    write_ipv4_header(p.data(), h);
    EXPECT_EQ(classify_frame(ether(ethertype::ipv4, p), params()).cls, PacketClass::ipv4_fragment);
    h.frag = kIpv4FlagMF;
    write_ipv4_header(p.data(), h);
    // A corrupted header checksum, unless the NIC checked it.
    p[10] ^= 0xFF;
    EXPECT_EQ(classify_frame(ether(ethertype::ipv4, p), params()).drop, DropReason::malformed);
    EXPECT_EQ(classify_frame(ether(ethertype::ipv4, p), params(), true).cls, PacketClass::ipv4_fragment);
    EXPECT_EQ(classify_frame(ether(0x1234, p), params()).drop, DropReason::not_for_us);
    EXPECT_EQ(classify_frame(std::vector<uint8_t>(10), params()).drop, DropReason::malformed);
}

TEST(Classify, Ipv6)
{
    EXPECT_EQ(of("bu_native_hao", ethertype::ipv6).cls, PacketClass::signaling_v6);
    EXPECT_EQ(of("mps", ethertype::ipv6).cls, PacketClass::signaling_v6);
    EXPECT_EQ(of("ns", ethertype::ipv6).cls, PacketClass::nd_solicit);
    EXPECT_EQ(of("na", ethertype::ipv6).cls, PacketClass::nd_to_control);
    // DHAAD to the home-agents anycast address.
    EXPECT_EQ(home_agents_anycast(*Prefix6::parse("2001:db8:1::/64")).str(), "2001:db8:1:0:fdff:ffff:ffff:fffe");
    EXPECT_EQ(of("dhaad_request", ethertype::ipv6).cls, PacketClass::signaling_v6) << "to the anycast address";
    // Traffic for elsewhere goes downstream.
    auto ptb = of("ptb", ethertype::ipv6);
    EXPECT_EQ(ptb.cls, PacketClass::downstream);
    auto chain = of("ipv6_ext_chain", ethertype::ipv6);
    EXPECT_EQ(chain.cls, PacketClass::signaling_v6);
}

TEST(Classify, HopLimitAndMulticast)
{
    std::vector<uint8_t> p(40);
    write_ipv6_header(p.data(), Ipv6Header{0, 0, 0, ipproto::no_next, 1, kHa6, *Ipv6Addr::parse("2001:db8:aaaa::1")});
    // Hop limit 1 goes downstream: the worker answers it with Time Exceeded (RFC 4443 3.3) once the
    // lookup says it is ours to forward.
    EXPECT_EQ(classify_frame(ether(ethertype::ipv6, p), params()).cls, PacketClass::downstream);
    write_ipv6_header(p.data(), Ipv6Header{0, 0, 0, ipproto::no_next, 9, kHa6, *Ipv6Addr::parse("ff0e::1")});
    EXPECT_EQ(classify_frame(ether(ethertype::ipv6, p), params()).drop, DropReason::ipv6_multicast);
}

// No port is configured for a VLAN: tagged frames are dropped and counted, whatever they carry (before,
// they were classified by their inner ethertype, forwarded untagged and answered tagged).
TEST(Classify, VlanTaggedFramesDropped)
{
    auto arp = scapy_packet("arp_request");
    std::vector<uint8_t> f = ether(ethertype::vlan, {});
    f.resize(14);
    const uint8_t tag[4] = {0x00, 0x0A, 0x08, 0x06}; // VLAN 10, then ARP
    f.insert(f.end(), tag, tag + 4);
    f.insert(f.end(), arp.begin(), arp.end());
    auto c = classify_frame(f, params());
    EXPECT_EQ(c.cls, PacketClass::drop);
    EXPECT_EQ(c.drop, DropReason::vlan_tagged);
    f[12] = 0x88;
    f[13] = 0xA8; // 802.1ad
    EXPECT_EQ(classify_frame(f, params()).drop, DropReason::vlan_tagged);
    EXPECT_STREQ(drop_reason_name(DropReason::vlan_tagged), "vlan-tagged");
}

// RFC 4291 2.5.6: link-local destinations are not forwarded; nor multicast, loopback or unspecified
// ones that a mobile node tunnels to the home agent.
TEST(Classify, ForwardableDestination)
{
    for (const char* a : {"fe80::1", "febf::1", "ff02::1", "ff0e::1", "::", "::1"})
        EXPECT_FALSE(forwardable_destination(Ipv6Addr::parse(a)->bytes.data())) << a;
    for (const char* a : {"2001:db8:cccc::1", "fec0::1", "fc00::1", "::2"})
        EXPECT_TRUE(forwardable_destination(Ipv6Addr::parse(a)->bytes.data())) << a;
}

TEST(Classify, ReverseTunnelFromIpv6CareOf)
{
    std::vector<uint8_t> inner(40);
    write_ipv6_header(inner.data(), Ipv6Header{0, 0, 0, ipproto::no_next, 9, *Ipv6Addr::parse("2001:db8:aaaa::1"),
                                               *Ipv6Addr::parse("2001:db8:cccc::1")});
    std::vector<uint8_t> outer(40);
    write_ipv6_header(outer.data(), Ipv6Header{0, 0, 40, ipproto::ipv6, 64, *Ipv6Addr::parse("2001:db8:ffff::5"), kHa6});
    outer.insert(outer.end(), inner.begin(), inner.end());
    auto c = classify_frame(ether(ethertype::ipv6, outer), params());
    EXPECT_EQ(c.cls, PacketClass::tunneled);
    EXPECT_EQ(c.method, TunnelMethod::ipv6);
    EXPECT_EQ(Ipv6Addr::from_bytes(outer.data() + c.l3_offset - 14 + 8).str(), "2001:db8:ffff::5");
    EXPECT_EQ(c.inner_offset, 54);
}

TEST(Classify, Arp)
{
    auto req = of("arp_request", ethertype::arp);
    EXPECT_EQ(req.cls, PacketClass::arp_request_for_us);
    auto p = scapy_packet("arp_request");
    p[27] = 99; // another target
    EXPECT_EQ(classify_frame(ether(ethertype::arp, p), params()).cls, PacketClass::arp_to_control);
}

TEST(Ecn, Rfc6040)
{
    EXPECT_EQ(outer_tos_on_encap(0xB9), 0xB9) << "normal mode copies DSCP and ECN";
    // Decapsulation table (RFC 6040 figure 4).
    EXPECT_EQ(*inner_tc_on_decap(0xB8 | ecn::not_ect, ecn::not_ect), 0xB8 | ecn::not_ect);
    EXPECT_EQ(*inner_tc_on_decap(0xB8 | ecn::ect0, ecn::ect0), 0xB8 | ecn::ect0);
    EXPECT_EQ(*inner_tc_on_decap(0xB8 | ecn::ect0, ecn::ect1), 0xB8 | ecn::ect1);
    EXPECT_EQ(*inner_tc_on_decap(0xB8 | ecn::ect1, ecn::ect0), 0xB8 | ecn::ect1);
    EXPECT_EQ(*inner_tc_on_decap(0xB8 | ecn::ect0, ecn::ce), 0xB8 | ecn::ce);
    EXPECT_EQ(*inner_tc_on_decap(0xB8 | ecn::ce, ecn::ect0), 0xB8 | ecn::ce);
    EXPECT_FALSE(inner_tc_on_decap(0xB8 | ecn::not_ect, ecn::ce)) << "drop";
}

namespace {
// IPv4/UDP from 198.51.100.10:sport to the HA (192.0.2.1):dport carrying `payload`.
std::vector<uint8_t> udp4_to_ha(uint16_t sport, uint16_t dport, const std::vector<uint8_t>& payload)
{
    std::vector<uint8_t> p(20 + 8 + payload.size());
    Ipv4Header h;
    h.total_len = static_cast<uint16_t>(p.size());
    h.protocol = ipproto::udp;
    h.src = *Ipv4Addr::parse("198.51.100.10");
    h.dst = *Ipv4Addr::parse("192.0.2.1");
    write_ipv4_header(p.data(), h);
    std::copy(payload.begin(), payload.end(), p.begin() + 28);
    write_udp_header({p.data() + 20, p.size() - 20}, sport, dport);
    fill_udp_checksum_v4({p.data() + 20, p.size() - 20}, h.src, h.dst);
    return p;
}
} // namespace

// IKE on port 500 goes to the control thread only when IKEv2 is on; otherwise it is no tunnel we speak.
// On 4500 it stays esp_udp (the worker tells IKE from ESP by the non-ESP marker).
TEST(Classify, IkeOnPort500OnlyWhenEnabled)
{
    const std::vector<uint8_t> ike(28, 0x11);
    auto frame = ether(ethertype::ipv4, udp4_to_ha(500, 500, ike));
    EXPECT_EQ(classify_frame(frame, params()).drop, DropReason::unsupported_tunnel);
    ClassifyParams on = params();
    on.ike = true;
    const Classified c = classify_frame(frame, on);
    EXPECT_EQ(c.cls, PacketClass::ike);
    EXPECT_EQ(c.inner_offset, 14 + 20 + 8);
    EXPECT_EQ(c.outer_sport, 500);
    EXPECT_EQ(c.outer_src, *Ipv4Addr::parse("198.51.100.10"));
    std::vector<uint8_t> marked(4 + ike.size(), 0x11);
    for (int i = 0; i < 4; ++i) marked[static_cast<std::size_t>(i)] = 0; // the non-ESP marker
    const Classified n = classify_frame(ether(ethertype::ipv4, udp4_to_ha(4500, 4500, marked)), on);
    EXPECT_EQ(n.cls, PacketClass::tunneled);
    EXPECT_EQ(n.method, TunnelMethod::esp_udp);
    // Another port is still no tunnel.
    EXPECT_EQ(classify_frame(ether(ethertype::ipv4, udp4_to_ha(500, 501, ike)), on).drop, DropReason::unsupported_tunnel);
}

// The worker's inline shortcut (is_downstream_frame) must say downstream exactly when classify_frame
// does: crafted frames around every rule it checks (ethertype, version, length, ND, multicast, the HA's
// addresses), then random ones.
TEST(Classify, DownstreamShortcutAgreesWithClassifyFrame)
{
    const ClassifyParams p = params();
    const Ipv6Addr kDsts[] = {kHa6, p.dhaad_anycast, *Ipv6Addr::parse("ff02::1"), *Ipv6Addr::parse("2001:db8:aaaa::1"),
                              *Ipv6Addr::parse("fe80::1"), *Ipv6Addr::parse("2001:db8:1::2")};
    const uint8_t kNext[] = {ipproto::udp, ipproto::tcp, ipproto::icmpv6, ipproto::ipv6, ipproto::mobility, ipproto::routing, 0, ipproto::no_next};
    const uint8_t kIcmpTypes[] = {128, 135, 136, 1, 2, 144, 146};
    const uint16_t kTypes[] = {ethertype::ipv6, ethertype::ipv4, ethertype::vlan, ethertype::arp};
    std::mt19937 rng(16);
    auto pick = [&](const auto& a) { return a[rng() % std::size(a)]; };
    unsigned agree_down = 0, agree_other = 0;
    for (int i = 0; i < 200000; ++i) {
        const uint16_t payload = static_cast<uint16_t>(rng() % 80);
        std::vector<uint8_t> l3(40 + payload);
        write_ipv6_header(l3.data(), Ipv6Header{0, 0, payload, pick(kNext), static_cast<uint8_t>(rng() % 3),
                                                *Ipv6Addr::parse("2001:db8:5::1"), pick(kDsts)});
        if (payload) l3[40] = pick(kIcmpTypes);
        if (rng() % 8 == 0) l3[0] = static_cast<uint8_t>(rng()); // version
        if (rng() % 8 == 0) l3[4 + rng() % 2] = static_cast<uint8_t>(rng()); // payload length
        auto f = ether(rng() % 6 ? ethertype::ipv6 : pick(kTypes), l3);
        if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1)); // cut short
        else if (rng() % 4 == 0) f.resize(f.size() + rng() % 20); // link padding
        const Classified c = classify_frame(f, p);
        const bool full = c.cls == PacketClass::downstream;
        ASSERT_EQ(is_downstream_frame(f.data(), f.size(), p), full) << "frame " << i << " of " << f.size() << " bytes";
        if (full) {
            ASSERT_EQ(c.l3_offset, 14);
            ++agree_down;
        } else {
            ++agree_other;
        }
    }
    // Both answers were tried often.
    EXPECT_GT(agree_down, 10000u);
    EXPECT_GT(agree_other, 10000u);
}

// The interface-identifier filter (ClassifyParams::set_iid_filter) changes no answer of addressed_to_ha:
// the HA's addresses, its anycast, the same identifiers under other prefixes, random addresses and
// random prefixes over the HA's identifiers, with one HA address and with several. And it is doing its
// work: most random destinations are turned away by it, before any compare.
TEST(Classify, AddressFilterChangesNoAnswer)
{
    const std::vector<Ipv6Addr> several = {kHa6, *Ipv6Addr::parse("2001:db8:1::2"), *Ipv6Addr::parse("2001:db8:7::abcd:1"),
                                           *Ipv6Addr::parse("fd00::1:0:0:1")};
    std::mt19937_64 rng(74);
    for (const auto* list : {&kHaList, &several}) {
        ClassifyParams plain = params();
        plain.ha_ipv6 = *list;
        ClassifyParams filtered = plain;
        filtered.set_iid_filter();
        ASSERT_EQ(plain.iid_filter, ~uint64_t{0}) << "unset, the filter lets everything through";
        std::vector<Ipv6Addr> dsts(list->begin(), list->end());
        dsts.push_back(plain.dhaad_anycast);
        const std::size_t ours = dsts.size();
        for (std::size_t i = 0; i < ours; ++i) { // the same identifier elsewhere, the same prefix elsewhere
            Ipv6Addr a = dsts[i], b = dsts[i];
            a.bytes[0] ^= 0x40;
            b.bytes[15] ^= 1;
            dsts.push_back(a);
            dsts.push_back(b);
        }
        unsigned turned_away = 0, random = 0;
        for (int i = 0; i < 100000; ++i) {
            Ipv6Addr a;
            for (auto& byte : a.bytes) byte = static_cast<uint8_t>(rng());
            if (i % 4 == 0) std::copy(dsts[i % ours].bytes.begin() + 8, dsts[i % ours].bytes.end(), a.bytes.begin() + 8);
            else {
                uint64_t iid;
                std::memcpy(&iid, a.bytes.data() + 8, 8);
                ++random;
                turned_away += ((filtered.iid_filter >> ClassifyParams::iid_bit(iid)) & 1) == 0;
            }
            dsts.push_back(a);
        }
        for (const Ipv6Addr& d : dsts) ASSERT_EQ(addressed_to_ha(d.bytes.data(), filtered), addressed_to_ha(d.bytes.data(), plain)) << d.str();
        for (std::size_t i = 0; i < ours; ++i) EXPECT_TRUE(addressed_to_ha(dsts[i].bytes.data(), filtered)) << dsts[i].str();
        EXPECT_GT(turned_away, random * 9 / 10) << "the filter turns most destinations away";
    }
}

// The worker's second shortcut (is_esp_frame) must say ESP exactly when classify_frame says tunneled ESP
// for a header without options, with the same offsets and outer source: crafted IPv4 frames around every
// rule it checks (ethertype, version and header length, total length, protocol, fragment bits, the HA's
// address, the header checksum, the NIC's checksum verdict), then cut short or padded.
TEST(Classify, EspShortcutAgreesWithClassifyFrame)
{
    const ClassifyParams p = params();
    const Ipv4Addr kDsts[] = {p.ha_ipv4, *Ipv4Addr::parse("192.0.2.2"), *Ipv4Addr::parse("255.255.255.255")};
    const uint8_t kProtos[] = {ipproto::esp, ipproto::esp, ipproto::udp, ipproto::ipv6, ipproto::gre, ipproto::icmp, 51};
    const uint16_t kFrags[] = {0, 0, kIpv4FlagDF, kIpv4FlagMF, 1, kIpv4FlagDF | 7};
    const uint16_t kTypes[] = {ethertype::ipv4, ethertype::ipv6, ethertype::vlan, ethertype::arp};
    std::mt19937 rng(17);
    auto pick = [&](const auto& a) { return a[rng() % std::size(a)]; };
    unsigned agree_esp = 0, agree_other = 0, options = 0;
    for (int i = 0; i < 200000; ++i) {
        const std::size_t opts = rng() % 6 == 0 ? 4 * (1 + rng() % 2) : 0; // IPv4 options: the general way
        const uint16_t payload = static_cast<uint16_t>(rng() % 80);
        std::vector<uint8_t> l3(20 + opts + payload, 0x5A);
        Ipv4Header h;
        h.total_len = static_cast<uint16_t>(l3.size());
        h.frag = pick(kFrags);
        h.ttl = 64;
        h.protocol = pick(kProtos);
        h.src = *Ipv4Addr::parse("198.51.100.10");
        h.dst = pick(kDsts);
        write_ipv4_header(l3.data(), h); // 20 bytes, its checksum
        if (opts) {
            l3[0] = static_cast<uint8_t>(0x45 + opts / 4);
            for (std::size_t k = 20; k < 20 + opts; ++k) l3[k] = 1; // NOP options
            store_be16(l3.data() + 10, 0);
            store_be16(l3.data() + 10, inet_checksum({l3.data(), 20 + opts}));
        }
        if (rng() % 8 == 0) l3[0] = static_cast<uint8_t>(rng()); // version and header length
        if (rng() % 8 == 0) l3[2 + rng() % 2] = static_cast<uint8_t>(rng()); // total length
        if (rng() % 8 == 0) l3[10 + rng() % 2] ^= static_cast<uint8_t>(1 + rng() % 255); // checksum
        auto f = ether(rng() % 6 ? ethertype::ipv4 : pick(kTypes), l3);
        if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1)); // cut short
        else if (rng() % 4 == 0) f.resize(f.size() + rng() % 20); // link padding
        const bool checked = rng() % 4 == 0; // the NIC verified the checksum (it trusts a bad one too)
        const Classified full = classify_frame(f, p, checked);
        const bool full_esp = full.cls == PacketClass::tunneled && full.method == TunnelMethod::esp;
        const bool no_options = f.size() > 14 && f[14] == 0x45;
        Classified c;
        c.l3_offset = 99; // must be written when the answer is yes
        const bool fast = is_esp_frame(f.data(), f.size(), p, checked, c);
        ASSERT_EQ(fast, full_esp && no_options) << "frame " << i << " of " << f.size() << " bytes";
        if (fast) {
            ASSERT_EQ(c.cls, full.cls);
            ASSERT_EQ(c.method, full.method);
            ASSERT_EQ(c.l3_offset, full.l3_offset);
            ASSERT_EQ(c.inner_offset, full.inner_offset);
            ASSERT_EQ(c.outer_src, full.outer_src);
            ++agree_esp;
        } else {
            ++agree_other;
            if (full_esp) ++options;
        }
    }
    // Every answer was tried often, ESP with options (the general way) among them.
    EXPECT_GT(agree_esp, 2000u);
    EXPECT_GT(agree_other, 10000u);
    EXPECT_GT(options, 300u);
}
