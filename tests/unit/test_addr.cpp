#include <gtest/gtest.h>

#include "addr.hpp"

using namespace nemo;

TEST(Addr, Ipv4ParseFormat)
{
    auto a = Ipv4Addr::parse("192.0.2.1");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value, 0xC0000201u);
    EXPECT_EQ(a->str(), "192.0.2.1");
    EXPECT_FALSE(Ipv4Addr::parse("192.0.2"));
    EXPECT_FALSE(Ipv4Addr::parse("192.0.2.256"));
    EXPECT_FALSE(Ipv4Addr::parse("192.0.2.1 "));
    EXPECT_FALSE(Ipv4Addr::parse(""));
    EXPECT_TRUE(Ipv4Addr::parse("224.0.0.1")->is_multicast());
}

TEST(Addr, Ipv6ParseFormatAndClasses)
{
    auto a = Ipv6Addr::parse("2001:db8::1");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->bytes[0], 0x20);
    EXPECT_EQ(a->bytes[15], 1);
    EXPECT_EQ(a->str(), "2001:db8::1");
    EXPECT_FALSE(Ipv6Addr::parse("2001:db8:::1"));
    EXPECT_FALSE(Ipv6Addr::parse(std::string(100, '1')));
    EXPECT_TRUE(a->is_routable_unicast());
    EXPECT_FALSE(Ipv6Addr::parse("fe80::1")->is_routable_unicast());
    EXPECT_FALSE(Ipv6Addr::parse("ff02::1")->is_routable_unicast());
    EXPECT_FALSE(Ipv6Addr::parse("::")->is_routable_unicast());
    EXPECT_FALSE(Ipv6Addr::parse("::1")->is_routable_unicast());
    EXPECT_FALSE(Ipv6Addr::parse("::ffff:192.0.2.1")->is_routable_unicast());
}

TEST(Addr, V4Mapped)
{
    auto m = Ipv6Addr::v4_mapped(*Ipv4Addr::parse("192.0.2.1"));
    EXPECT_EQ(m.str(), "::ffff:192.0.2.1");
    EXPECT_TRUE(m.is_v4_mapped());
    EXPECT_EQ(m.mapped_v4().str(), "192.0.2.1");
}

TEST(Addr, SolicitedNode)
{
    EXPECT_EQ(Ipv6Addr::parse("2001:db8::12:3456")->solicited_node().str(), "ff02::1:ff12:3456");
}

TEST(Addr, PrefixParseContains)
{
    auto p = Prefix6::parse("2001:db8:aa00::/40");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->len, 40);
    EXPECT_TRUE(p->contains(*Ipv6Addr::parse("2001:db8:aaff::1")));
    EXPECT_FALSE(p->contains(*Ipv6Addr::parse("2001:db8:ab00::1")));
    EXPECT_TRUE(p->contains(*Prefix6::parse("2001:db8:aa80::/48")));
    EXPECT_FALSE(p->contains(*Prefix6::parse("2001:db8::/32")));
    EXPECT_TRUE(p->overlaps(*Prefix6::parse("2001:db8::/32")));
    EXPECT_EQ(p->str(), "2001:db8:aa00::/40");
    // Host bits set, bad lengths and junk are refused rather than silently fixed.
    EXPECT_FALSE(Prefix6::parse("2001:db8::1/48"));
    EXPECT_FALSE(Prefix6::parse("2001:db8::/129"));
    EXPECT_FALSE(Prefix6::parse("2001:db8::/"));
    EXPECT_FALSE(Prefix6::parse("2001:db8::/4x"));
    EXPECT_FALSE(Prefix6::parse("2001:db8::"));
    EXPECT_EQ(Prefix6::make(*Ipv6Addr::parse("2001:db8:ffff::1"), 33).str(), "2001:db8:8000::/33");
    EXPECT_TRUE(Prefix6::parse("::/0")->contains(*Ipv6Addr::parse("2001::1")));
    EXPECT_EQ(Prefix6::make(*Ipv6Addr::parse("2001:db8::1"), 200).len, 128);
}

TEST(Addr, Mac)
{
    auto m = MacAddr::parse("02:00:5e:10:00:ff");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->str(), "02:00:5e:10:00:ff");
    EXPECT_FALSE(MacAddr::parse("02:00:5e:10:00"));
    EXPECT_FALSE(MacAddr::parse("02-00-5e-10-00-ff"));
    EXPECT_FALSE(MacAddr::parse("02:00:5e:10:00:fg"));
    EXPECT_EQ(MacAddr::ipv6_multicast(*Ipv6Addr::parse("ff02::1:ff00:100")).str(), "33:33:ff:00:01:00");
}

TEST(Addr, PrefixContainsMatchesMasking)
{
    // The data plane's fast contains() against the byte-wise mask, for every length.
    uint32_t x = 99;
    auto next = [&] { return x = x * 1664525 + 1013904223; };
    for (int len = 0; len <= 128; ++len) {
        for (int k = 0; k < 50; ++k) {
            Ipv6Addr a, b;
            for (auto& byte : a.bytes) byte = static_cast<uint8_t>(next() >> 24);
            b = a;
            if (k % 2) b.bytes[next() % 16] ^= static_cast<uint8_t>(1u << (next() % 8));
            const Prefix6 p = Prefix6::make(a, static_cast<uint8_t>(len));
            EXPECT_EQ(p.contains(b), mask_addr(b, p.len) == p.addr) << "len " << len;
        }
    }
}
