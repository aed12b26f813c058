#include <gtest/gtest.h>

#include <vector>

#include "checksum.hpp"

using namespace nemo;
using namespace nemo::wire;

namespace {
// The plain RFC 1071 loop, 16 bits at a time: the reference for the 32-bit accumulator.
uint16_t reference(const std::vector<uint8_t>& d)
{
    uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < d.size(); i += 2) sum += (d[i] << 8) | d[i + 1];
    if (d.size() % 2) sum += d.back() << 8;
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}
} // namespace

TEST(Checksum, Rfc1071Example)
{
    // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    std::vector<uint8_t> d = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    EXPECT_EQ(fold(sum_words(d)), 0xddf2);
}

TEST(Checksum, MatchesReferenceForEveryLength)
{
    std::vector<uint8_t> d;
    uint32_t x = 12345;
    for (int len = 0; len < 300; ++len) {
        EXPECT_EQ(inet_checksum(d), reference(d)) << "length " << len;
        x = x * 1103515245 + 12345;
        d.push_back(static_cast<uint8_t>(x >> 16));
    }
    std::vector<uint8_t> ones(1000, 0xFF);
    EXPECT_EQ(inet_checksum(ones), reference(ones));
}

TEST(Checksum, VerifiesWithFieldIncluded)
{
    std::vector<uint8_t> d = {0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
    uint16_t c = inet_checksum(d);
    d[10] = static_cast<uint8_t>(c >> 8);
    d[11] = static_cast<uint8_t>(c);
    EXPECT_TRUE(checksum_ok(sum_words(d)));
    d[19] ^= 1;
    EXPECT_FALSE(checksum_ok(sum_words(d)));
}

TEST(Checksum, PseudoHeaders)
{
    // The pseudo-header sum equals summing its explicit byte layout.
    auto s = *Ipv6Addr::parse("2001:db8::1");
    auto d = *Ipv6Addr::parse("2001:db8::2");
    std::vector<uint8_t> ph(40, 0);
    s.to_bytes(ph.data());
    d.to_bytes(ph.data() + 16);
    ph[34] = 0x01; ph[35] = 0x02; ph[39] = 135; // length 0x0102, next header 135
    EXPECT_EQ(fold(pseudo_header_sum_v6(s, d, 0x0102, 135)), fold(sum_words(ph)));

    std::vector<uint8_t> ph4 = {192, 0, 2, 1, 198, 51, 100, 10, 0, 17, 0, 30};
    EXPECT_EQ(fold(pseudo_header_sum_v4(*Ipv4Addr::parse("192.0.2.1"), *Ipv4Addr::parse("198.51.100.10"), 30, 17)),
              fold(sum_words(ph4)));
}

// The IPv4 header check without byte swaps agrees with the RFC 1071 loop: headers of every IHL with a
// right checksum pass, with any one bit flipped (the checksum field's too) fail, and random ones are
// judged as the reference judges them (all-ones sums included: a zero header sums to 0, not 0xFFFF).
TEST(Checksum, Ipv4HeaderCheckAgreesWithTheReference)
{
    uint32_t x = 4711;
    auto next = [&] {
        x = x * 1103515245 + 12345;
        return static_cast<uint8_t>(x >> 16);
    };
    for (int ihl = 5; ihl <= 15; ++ihl) {
        for (int n = 0; n < 50; ++n) {
            std::vector<uint8_t> h(static_cast<std::size_t>(ihl) * 4);
            for (auto& b : h) b = next();
            h[10] = h[11] = 0;
            const uint16_t c = reference(h);
            h[10] = static_cast<uint8_t>(c >> 8);
            h[11] = static_cast<uint8_t>(c);
            ASSERT_TRUE(ipv4_header_checksum_ok(h.data(), h.size())) << "ihl " << ihl;
            for (std::size_t bit = 0; bit < h.size() * 8; ++bit) {
                std::vector<uint8_t> bad = h;
                bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
                ASSERT_EQ(ipv4_header_checksum_ok(bad.data(), bad.size()), checksum_ok(sum_words(bad))) << "bit " << bit;
                ASSERT_FALSE(ipv4_header_checksum_ok(bad.data(), bad.size())) << "ihl " << ihl << " bit " << bit;
            }
            std::vector<uint8_t> noise(h.size());
            for (auto& b : noise) b = next();
            ASSERT_EQ(ipv4_header_checksum_ok(noise.data(), noise.size()), reference(noise) == 0);
        }
    }
    std::vector<uint8_t> zero(20, 0), ones(20, 0xFF);
    EXPECT_FALSE(ipv4_header_checksum_ok(zero.data(), zero.size()));
    EXPECT_EQ(ipv4_header_checksum_ok(ones.data(), ones.size()), reference(ones) == 0);
}

// fold against the one's complement sum done the slow way: the 64-bit value as four 16-bit words,
// added with the carries folded back until none is left. The same 16 bits for every value (0 only
// for 0), over edges (all ones, carries at each halving) and a million random sums.
TEST(Checksum, FoldIsTheOnesComplementSumOfTheFourWords)
{
    auto slow = [](uint64_t v) {
        uint64_t s = (v & 0xFFFF) + ((v >> 16) & 0xFFFF) + ((v >> 32) & 0xFFFF) + (v >> 48);
        while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
        return static_cast<uint16_t>(s);
    };
    std::vector<uint64_t> values = {0, 1, 0xFFFF, 0x10000, 0x1FFFE, 0xFFFFFFFF, 0x100000000, 0xFFFF0000FFFF,
                                    0xFFFFFFFFFFFFFFFF, 0x8000000080000000, 0x0000FFFFFFFF0001, 0xFFFE0001FFFE0001};
    uint64_t x = 0x9E3779B97F4A7C15;
    for (int i = 0; i < 1000000; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        values.push_back(i % 2 ? x : x >> (i % 48)); // small sums too, as headers give
    }
    for (uint64_t v : values) ASSERT_EQ(fold(v), slow(v)) << std::hex << v;
}
