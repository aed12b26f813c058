#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

#include "esp.hpp"
#include "gre.hpp"
#include "udp.hpp"

using namespace nemo;
using namespace nemo::wire;

TEST(Udp, RoundTripAndChecksums)
{
    std::vector<uint8_t> d(8 + 5);
    std::memcpy(d.data() + 8, "hello", 5);
    write_udp_header(d, 40000, 4191);
    const auto s4 = *Ipv4Addr::parse("198.51.100.10");
    const auto d4 = *Ipv4Addr::parse("192.0.2.1");
    fill_udp_checksum_v4(d, s4, d4);
    auto v = parse_udp(d);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->src_port, 40000);
    EXPECT_EQ(v->dst_port, 4191);
    EXPECT_EQ(v->length, 13);
    EXPECT_EQ(v->payload.size(), 5u);
    EXPECT_TRUE(udp_checksum_ok_v4(*v, s4, d4));
    EXPECT_FALSE(udp_checksum_ok_v4(*v, s4, *Ipv4Addr::parse("192.0.2.2")));

    const auto s6 = *Ipv6Addr::parse("2001:db8::1");
    const auto d6 = *Ipv6Addr::parse("2001:db8::2");
    fill_udp_checksum_v6(d, s6, d6);
    auto v6 = parse_udp(d);
    EXPECT_TRUE(udp_checksum_ok_v6(*v6, s6, d6));
    d[13 - 1] ^= 1;
    EXPECT_FALSE(udp_checksum_ok_v6(*parse_udp(d), s6, d6));
}

TEST(Udp, ZeroChecksum)
{
    std::vector<uint8_t> d(8);
    write_udp_header(d, 1, 2);
    auto v = parse_udp(d);
    EXPECT_TRUE(udp_checksum_ok_v4(*v, {}, {}));  // none, over IPv4
    EXPECT_FALSE(udp_checksum_ok_v6(*v, {}, {})); // mandatory over IPv6
}

TEST(Udp, Errors)
{
    std::vector<uint8_t> d(12);
    write_udp_header(d, 1, 2);
    EXPECT_EQ(parse_udp(std::span(d).first(7)).error().code, Errc::truncated);
    d[5] = 7;
    EXPECT_EQ(parse_udp(d).error().code, Errc::bad_length);
    d[5] = 13;
    EXPECT_EQ(parse_udp(d).error().code, Errc::truncated);
}

TEST(Gre, RoundTripWithEveryField)
{
    GreHeader h{0x86DD, true, 0xDEADBEEF, 7};
    std::vector<uint8_t> p(h.size() + 6, 0x42);
    write_gre(p, h);
    auto v = parse_gre(p);
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ(v->hdr.protocol, 0x86DD);
    EXPECT_TRUE(v->hdr.checksum);
    EXPECT_EQ(*v->hdr.key, 0xDEADBEEFu);
    EXPECT_EQ(*v->hdr.seq, 7u);
    EXPECT_EQ(v->payload.size(), 6u);
    p.back() ^= 1;
    EXPECT_EQ(parse_gre(p).error().code, Errc::bad_checksum);
}

TEST(Gre, Minimal)
{
    std::vector<uint8_t> p(4 + 2);
    write_gre(p, GreHeader{0x86DD, false, {}, {}});
    auto v = parse_gre(p);
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->hdr.key);
    EXPECT_FALSE(v->hdr.seq);
    EXPECT_EQ(v->payload.size(), 2u);
}

TEST(Gre, Errors)
{
    std::vector<uint8_t> p = {0x00, 0x01, 0x86, 0xDD};
    EXPECT_EQ(parse_gre(p).error().code, Errc::bad_version);
    p = {0x40, 0x00, 0x86, 0xDD}; // routing present
    EXPECT_EQ(parse_gre(p).error().code, Errc::bad_value);
    p = {0x20, 0x00, 0x86, 0xDD, 0, 0}; // K set, key cut short
    EXPECT_EQ(parse_gre(p).error().code, Errc::truncated);
    EXPECT_EQ(parse_gre(std::span(p).first(3)).error().code, Errc::truncated);
}

TEST(Esp, HeaderAndTrailer)
{
    std::vector<uint8_t> p(8 + 16);
    write_esp_header(p.data(), 0x1001, 42);
    auto v = parse_esp(p);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->spi, 0x1001u);
    EXPECT_EQ(v->seq, 42u);
    EXPECT_EQ(v->body.size(), 16u);
    p[0] = p[1] = p[2] = p[3] = 0;
    EXPECT_EQ(parse_esp(p).error().code, Errc::bad_value);
    EXPECT_EQ(parse_esp(std::span(p).first(7)).error().code, Errc::truncated);
}

TEST(Esp, PaddingRoundTrip)
{
    for (std::size_t inner = 0; inner < 40; ++inner) {
        for (std::size_t block : {4u, 16u}) {
            const std::size_t pad = esp_pad_len(inner, block);
            EXPECT_EQ((inner + pad + 2) % block, 0u);
            EXPECT_LT(pad, block) << "the least padding";
            std::vector<uint8_t> pt(inner + pad + 2, 0x77);
            EXPECT_EQ(write_esp_trailer(pt.data() + inner, pad, 41), pad + 2);
            auto t = parse_esp_trailer(pt);
            ASSERT_TRUE(t);
            EXPECT_EQ(t->next_header, 41);
            EXPECT_EQ(t->pad_len, pad);
            EXPECT_EQ(t->inner.size(), inner);
        }
    }
}

TEST(Esp, BadPadding)
{
    std::vector<uint8_t> pt = {0xAA, 1, 2, 4, 3, 41}; // pad 1 2 4 instead of 1 2 3
    auto t = parse_esp_trailer(pt);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, Errc::bad_value);
    EXPECT_EQ(t.error().offset, 3u);
    std::vector<uint8_t> too_long = {1, 2, 9, 41};
    EXPECT_EQ(parse_esp_trailer(too_long).error().code, Errc::bad_length);
    EXPECT_EQ(parse_esp_trailer(std::span(too_long).first(1)).error().code, Errc::truncated);
}

TEST(Esp, UdpEncapsulationKinds)
{
    std::vector<uint8_t> keepalive = {0xFF};
    std::vector<uint8_t> ike = {0, 0, 0, 0, 1, 2, 3, 4};
    std::vector<uint8_t> esp = {0, 0, 0x10, 0x01, 0, 0, 0, 1};
    std::vector<uint8_t> junk = {1, 2, 3};
    EXPECT_EQ(classify_udp_encap(keepalive), UdpEncapKind::nat_keepalive);
    EXPECT_EQ(classify_udp_encap(ike), UdpEncapKind::ike);
    EXPECT_EQ(classify_udp_encap(esp), UdpEncapKind::esp);
    EXPECT_EQ(classify_udp_encap(junk), UdpEncapKind::malformed);
}
