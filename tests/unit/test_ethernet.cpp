#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "ethernet.hpp"
#include "proto.hpp"

using namespace nemo;
using namespace nemo::wire;

TEST(Ethernet, PlainAndTagged)
{
    std::vector<uint8_t> f(14 + 4);
    const auto a = *MacAddr::parse("02:00:00:00:00:01");
    const auto b = *MacAddr::parse("02:00:00:00:00:02");
    write_ether_header(f.data(), a, b, ethertype::ipv6);
    auto v = parse_ether(f);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->dst, a);
    EXPECT_EQ(v->src, b);
    EXPECT_EQ(v->ethertype, ethertype::ipv6);
    EXPECT_FALSE(v->vlan_tci);
    EXPECT_EQ(v->payload.size(), 4u);

    write_ether_header(f.data(), a, b, ethertype::vlan);
    f[14] = 0x00;
    f[15] = 0x2A;
    f[16] = 0x08;
    f[17] = 0x00;
    auto t = parse_ether(f);
    ASSERT_TRUE(t);
    EXPECT_EQ(*t->vlan_tci, 42);
    EXPECT_EQ(t->ethertype, ethertype::ipv4);
    EXPECT_EQ(t->header_len, 18u);
    EXPECT_EQ(parse_ether(std::span(f).first(16)).error().code, Errc::truncated);
    EXPECT_EQ(parse_ether(std::span(f).first(13)).error().code, Errc::truncated);
}

TEST(Arp, RoundTripAndErrors)
{
    std::array<uint8_t, kArpLen> buf{};
    ArpPacket a{arp_op::reply, *MacAddr::parse("02:00:00:00:00:01"), *Ipv4Addr::parse("192.0.2.1"),
                *MacAddr::parse("02:00:00:00:00:02"), *Ipv4Addr::parse("198.51.100.10")};
    write_arp(buf.data(), a);
    auto r = parse_arp(buf);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->op, arp_op::reply);
    EXPECT_EQ(r->sender_mac, a.sender_mac);
    EXPECT_EQ(r->sender_ip, a.sender_ip);
    EXPECT_EQ(r->target_mac, a.target_mac);
    EXPECT_EQ(r->target_ip, a.target_ip);
    EXPECT_EQ(parse_arp(std::span(buf).first(27)).error().code, Errc::truncated);
    buf[1] = 6;
    EXPECT_EQ(parse_arp(buf).error().code, Errc::bad_value);
    buf[1] = 1;
    buf[5] = 16;
    EXPECT_EQ(parse_arp(buf).error().code, Errc::bad_value);
}
