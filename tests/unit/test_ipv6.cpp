#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "ipv6.hpp"
#include "proto.hpp"

using namespace nemo;
using namespace nemo::wire;

namespace {
const Ipv6Addr kA = *Ipv6Addr::parse("2001:db8::a");
const Ipv6Addr kB = *Ipv6Addr::parse("2001:db8::b");
const Ipv6Addr kHoa = *Ipv6Addr::parse("2001:db8:1::100");

std::vector<uint8_t> packet(uint8_t nh, std::vector<uint8_t> payload)
{
    std::vector<uint8_t> p(40);
    write_ipv6_header(p.data(), Ipv6Header{0xB8, 0xABCDE, static_cast<uint16_t>(payload.size()), nh, 64, kA, kB});
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}
} // namespace

TEST(Ipv6, HeaderRoundTrip)
{
    auto p = packet(ipproto::no_next, {1, 2, 3});
    auto v = parse_ipv6(p);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->hdr.traffic_class, 0xB8);
    EXPECT_EQ(v->hdr.flow_label, 0xABCDEu);
    EXPECT_EQ(v->hdr.payload_len, 3);
    EXPECT_EQ(v->hdr.hop_limit, 64);
    EXPECT_EQ(v->hdr.src, kA);
    EXPECT_EQ(v->hdr.dst, kB);
    EXPECT_EQ(v->payload.size(), 3u);
}

TEST(Ipv6, Errors)
{
    auto p = packet(ipproto::no_next, {1, 2, 3});
    EXPECT_EQ(parse_ipv6(std::span(p).first(39)).error().code, Errc::truncated);
    EXPECT_EQ(parse_ipv6(std::span(p).first(42)).error().code, Errc::truncated);
    p[0] = 0x45;
    EXPECT_EQ(parse_ipv6(p).error().code, Errc::bad_version);
}

TEST(Ipv6, TrailingLinkPaddingIgnored)
{
    auto p = packet(ipproto::no_next, {1, 2});
    p.resize(p.size() + 10, 0xEE);
    EXPECT_EQ(parse_ipv6(p)->payload.size(), 2u);
}

TEST(Ipv6, HomeAddressOptionAndRh2)
{
    std::vector<uint8_t> ext(48);
    write_hao_dest_opts(ext.data(), ipproto::routing, kHoa);
    write_rh2(ext.data() + 24, ipproto::mobility, kHoa);
    // Header+data for an 8-octet MH after the extension headers.
    ext.insert(ext.end(), {59, 0, 5, 0, 0, 0, 0, 0});
    auto p = packet(ipproto::dest_opts, ext);
    auto pkt = parse_ipv6_packet(p);
    ASSERT_TRUE(pkt) << pkt.error().message();
    EXPECT_EQ(*pkt->home_address, kHoa);
    EXPECT_EQ(*pkt->rh2_home_address, kHoa);
    EXPECT_EQ(pkt->upper_proto, ipproto::mobility);
    EXPECT_EQ(pkt->upper_offset, 88u);
    EXPECT_EQ(pkt->upper.size(), 8u);
    EXPECT_EQ(pkt->checksum_src(), kHoa);
    EXPECT_EQ(pkt->checksum_dst(), kHoa);
    // The option sits at 8n+6 within its header.
    EXPECT_EQ(p[40 + 6], kHomeAddressOption);
}

TEST(Ipv6, ChecksumAddressesDefaultToHeader)
{
    auto p = packet(ipproto::icmpv6, {128, 0, 0, 0});
    auto pkt = parse_ipv6_packet(p);
    ASSERT_TRUE(pkt);
    EXPECT_EQ(pkt->checksum_src(), kA);
    EXPECT_EQ(pkt->checksum_dst(), kB);
    EXPECT_EQ(pkt->upper_proto, ipproto::icmpv6);
}

TEST(Ipv6, ExtensionHeaderErrors)
{
    // Fragment header: reassembly is not this parser's job.
    EXPECT_EQ(parse_ipv6_packet(packet(ipproto::fragment, std::vector<uint8_t>(8))).error().code, Errc::unsupported);
    // Routing header of type 0 with segments left.
    EXPECT_EQ(parse_ipv6_packet(packet(ipproto::routing, {59, 0, 0, 1, 0, 0, 0, 0})).error().code,
              Errc::unknown_type);
    // ... but with no segments left it is skipped.
    EXPECT_TRUE(parse_ipv6_packet(packet(ipproto::routing, {59, 0, 0, 0, 0, 0, 0, 0})));
    // Type 2 with the wrong length, and with two segments.
    EXPECT_EQ(parse_ipv6_packet(packet(ipproto::routing, {59, 0, 2, 1, 0, 0, 0, 0})).error().code, Errc::bad_length);
    std::vector<uint8_t> rh2(24);
    write_rh2(rh2.data(), 59, kHoa);
    rh2[3] = 2;
    EXPECT_EQ(parse_ipv6_packet(packet(ipproto::routing, rh2)).error().code, Errc::bad_value);
    // Extension header running past the payload.
    EXPECT_EQ(parse_ipv6_packet(packet(ipproto::dest_opts, {59, 1, 1, 4, 0, 0, 0, 0})).error().code, Errc::truncated);
    // Destination option of unknown type with "discard" action bits; with "skip" bits it passes.
    auto bad = parse_ipv6_packet(packet(ipproto::dest_opts, {59, 0, 0x8A, 2, 0, 0, 1, 0}));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Errc::unknown_type);
    EXPECT_EQ(bad.error().offset, 42u);
    EXPECT_TRUE(parse_ipv6_packet(packet(ipproto::dest_opts, {59, 0, 0x0A, 2, 0, 0, 1, 0})));
    // Home address option with a wrong length.
    EXPECT_EQ(parse_ipv6_packet(packet(ipproto::dest_opts, {59, 0, 201, 4, 0, 0, 0, 0})).error().code,
              Errc::bad_length);
    // Hop-by-hop not first.
    EXPECT_EQ(parse_ipv6_packet(packet(ipproto::dest_opts, {0, 0, 1, 4, 0, 0, 0, 0, 59, 0, 1, 4, 0, 0, 0, 0}))
                  .error()
                  .code,
              Errc::bad_value);
}
