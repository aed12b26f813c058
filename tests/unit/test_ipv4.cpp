#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "ipv4.hpp"

using namespace nemo;
using namespace nemo::wire;

namespace {
std::vector<uint8_t> packet(std::size_t payload)
{
    std::vector<uint8_t> p(20 + payload, 0xAB);
    Ipv4Header h;
    h.tos = 0x2E;
    h.total_len = static_cast<uint16_t>(p.size());
    h.id = 0x1234;
    h.frag = kIpv4FlagDF;
    h.ttl = 63;
    h.protocol = 41;
    h.src = *Ipv4Addr::parse("192.0.2.1");
    h.dst = *Ipv4Addr::parse("198.51.100.10");
    write_ipv4_header(p.data(), h);
    return p;
}
} // namespace

TEST(Ipv4, RoundTrip)
{
    auto p = packet(10);
    auto v = parse_ipv4(p);
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ(v->header_len, 20);
    EXPECT_EQ(v->hdr.tos, 0x2E);
    EXPECT_EQ(v->hdr.total_len, 30);
    EXPECT_EQ(v->hdr.id, 0x1234);
    EXPECT_EQ(v->hdr.frag, kIpv4FlagDF);
    EXPECT_FALSE(v->hdr.is_fragment());
    EXPECT_EQ(v->hdr.ttl, 63);
    EXPECT_EQ(v->hdr.protocol, 41);
    EXPECT_EQ(v->hdr.src.str(), "192.0.2.1");
    EXPECT_EQ(v->hdr.dst.str(), "198.51.100.10");
    EXPECT_EQ(v->payload.size(), 10u);
}

TEST(Ipv4, Errors)
{
    auto p = packet(10);
    EXPECT_EQ(parse_ipv4(std::span(p).first(19)).error().code, Errc::truncated);
    EXPECT_EQ(parse_ipv4(std::span(p).first(25)).error().code, Errc::truncated);

    auto bad_cs = p;
    bad_cs[10] ^= 0xFF;
    EXPECT_EQ(parse_ipv4(bad_cs).error().code, Errc::bad_checksum);
    EXPECT_TRUE(parse_ipv4(bad_cs, ChecksumCheck::skip));

    auto v6 = p;
    v6[0] = 0x65;
    EXPECT_EQ(parse_ipv4(v6).error().code, Errc::bad_version);

    auto ihl = p;
    ihl[0] = 0x44;
    EXPECT_EQ(parse_ipv4(ihl, ChecksumCheck::skip).error().code, Errc::bad_length);

    auto tl = p;
    tl[2] = 0;
    tl[3] = 19;
    EXPECT_EQ(parse_ipv4(tl, ChecksumCheck::skip).error().code, Errc::bad_length);
}

TEST(Ipv4, Fragments)
{
    Ipv4Header h;
    h.frag = kIpv4FlagMF;
    EXPECT_TRUE(h.is_fragment());
    h.frag = 10;
    EXPECT_TRUE(h.is_fragment());
    h.frag = kIpv4FlagDF;
    EXPECT_FALSE(h.is_fragment());
}
