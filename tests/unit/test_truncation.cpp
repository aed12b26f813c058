// Every prefix of every scapy packet, and single-byte corruptions of each, through every parser. A read
// outside the span shows up under the ASan build; in the plain build this checks that nothing throws
// or aborts on hostile lengths.
#include <gtest/gtest.h>

#include "../fuzz/exercise.hpp"
#include "fixtures.hpp"

TEST(Truncation, EveryPrefixOfEveryFixture)
{
    long parsed_layers = 0;
    for (const auto& [name, bytes] : nemo::test::scapy_packets()) {
        for (std::size_t len = 0; len <= bytes.size(); ++len) {
            std::span<const uint8_t> s(bytes.data(), len);
            parsed_layers += nemo::fuzz::exercise_tunnel(s) + nemo::fuzz::exercise_ipv6(s) +
                             nemo::fuzz::exercise_ethernet(s);
        }
    }
    // The whole packets parse, so some layers must have.
    EXPECT_GT(parsed_layers, 100);
}

TEST(Truncation, EveryByteCorrupted)
{
    int ipv4_headers_checked = 0;
    for (const auto& [name, bytes] : nemo::test::scapy_packets()) {
        auto v4 = nemo::wire::parse_ipv4(bytes);
        const std::size_t header_len = v4 ? v4->header_len : 0;
        ipv4_headers_checked += v4.ok();
        std::vector<uint8_t> copy = bytes;
        for (std::size_t i = 0; i < copy.size(); ++i) {
            const uint8_t saved = copy[i];
            for (uint8_t v : {uint8_t{0x00}, uint8_t{0xFF}, static_cast<uint8_t>(saved + 1)}) {
                if (v == saved) continue;
                copy[i] = v;
                (void)nemo::fuzz::exercise_tunnel(copy);
                (void)nemo::fuzz::exercise_ipv6(copy);
                (void)nemo::fuzz::exercise_ethernet(copy);
                // Any single-octet change in an IPv4 header is caught (version, length or checksum).
                if (i < header_len) {
                    EXPECT_FALSE(nemo::wire::parse_ipv4(copy)) << name << " octet " << i;
                }
            }
            copy[i] = saved;
        }
    }
    EXPECT_GT(ipv4_headers_checked, 5);
}
