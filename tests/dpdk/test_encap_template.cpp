// The downstream fast path's outer headers (dataplane/encap_template.hpp) against the general path's
// (inline_encap::encap_v4 with the Ethernet header): the same bytes, lengths and offload flags for every
// method without keys, with and without IPv4 checksum offload, over random packets, traffic classes,
// far ends, ports and link padding; and the template refuses what does not fit.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <random>
#include <vector>

#include "encap_ipv4_inline.hpp"
#include "encap_template.hpp"
#include "ethernet.hpp"
#include "ipv6.hpp"
#include "proto.hpp"

using namespace nemo;
using namespace nemo::dp;

namespace {

struct Pool {
    rte_mempool* p = rte_pktmbuf_pool_create("tpl_pool", 256, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    ~Pool() { rte_mempool_free(p); }
};

// A frame as the worker receives it: Ethernet, then an IPv6 packet of `payload` bytes, then `pad` bytes.
rte_mbuf* frame(rte_mempool* pool, std::mt19937& rng, uint16_t payload, uint16_t pad)
{
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (!m) return nullptr;
    const auto len = static_cast<uint16_t>(wire::kEtherHeaderLen + wire::kIpv6HeaderLen + payload + pad);
    auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, len));
    for (uint16_t i = 0; i < len; ++i) d[i] = static_cast<uint8_t>(rng());
    uint8_t* ip = d + wire::kEtherHeaderLen;
    ip[0] = static_cast<uint8_t>(0x60 | (ip[0] & 0x0F)); // version 6, random traffic class and flow label
    ip[4] = static_cast<uint8_t>(payload >> 8);
    ip[5] = static_cast<uint8_t>(payload);
    return m;
}

rte_mbuf* copy(rte_mempool* pool, const rte_mbuf* m)
{
    rte_mbuf* c = rte_pktmbuf_alloc(pool);
    auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(c, rte_pktmbuf_data_len(m)));
    std::memcpy(d, rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m));
    return c;
}

} // namespace

TEST(EncapTemplate, SameBytesAsTheGeneralPath)
{
    Pool pool;
    ASSERT_NE(pool.p, nullptr);
    std::mt19937 rng(2026);
    const LinkHeader link{MacAddr{{0x02, 0, 0, 0, 0, 0x99}}, MacAddr{{0x02, 0, 0, 0, 0, 0x01}}};
    unsigned compared = 0;
    for (bool offload : {false, true}) {
        TunnelSelf self{*Ipv4Addr::parse("192.0.2.1"), *Ipv6Addr::parse("2001:db8:1::1"), 4191, offload};
        for (TunnelMethod method : {TunnelMethod::ipip, TunnelMethod::gre, TunnelMethod::udp}) {
            OuterTemplate t;
            ASSERT_TRUE(t.build(method, self, link, 1500));
            for (int i = 0; i < 300; ++i) {
                const auto payload = static_cast<uint16_t>(rng() % 1200);
                const auto pad = static_cast<uint16_t>(i % 3 ? 0 : rng() % 30);
                rte_mbuf* fast = frame(pool.p, rng, payload, pad);
                ASSERT_NE(fast, nullptr);
                rte_mbuf* general = copy(pool.p, fast);
                const TunnelPeer peer{method, Ipv4Addr{static_cast<uint32_t>(rng())}, static_cast<uint16_t>(rng()), {}};
                uint8_t* ip = rte_pktmbuf_mtod(fast, uint8_t*) + wire::kEtherHeaderLen;
                const uint32_t ip_len = wire::kIpv6HeaderLen + payload;
                const uint8_t tos = static_cast<uint8_t>(((ip[0] & 0x0F) << 4) | (ip[1] >> 4));
                ASSERT_TRUE(t.fits(fast, ip, ip_len));
                t.apply(fast, ip, ip_len, peer.v4.value, peer.port, tos);
                // The general path: the link header cut, the padding trimmed, then encap_v4.
                rte_pktmbuf_adj(general, wire::kEtherHeaderLen);
                rte_pktmbuf_trim(general, static_cast<uint16_t>(rte_pktmbuf_pkt_len(general) - ip_len));
                ASSERT_TRUE(inline_encap::encap_v4(general, self, peer, &link));
                ASSERT_EQ(rte_pktmbuf_data_len(fast), rte_pktmbuf_data_len(general));
                ASSERT_EQ(rte_pktmbuf_pkt_len(fast), rte_pktmbuf_pkt_len(general));
                ASSERT_EQ(std::memcmp(rte_pktmbuf_mtod(fast, const uint8_t*), rte_pktmbuf_mtod(general, const uint8_t*),
                                      rte_pktmbuf_data_len(fast)),
                          0)
                    << "method " << static_cast<int>(method) << " offload " << offload << " packet " << i;
                ASSERT_EQ(fast->ol_flags, general->ol_flags);
                if (offload) {
                    EXPECT_EQ(fast->l2_len, general->l2_len);
                    EXPECT_EQ(fast->l3_len, general->l3_len);
                }
                rte_pktmbuf_free(fast);
                rte_pktmbuf_free(general);
                ++compared;
            }
        }
    }
    EXPECT_EQ(compared, 2u * 3u * 300u);
}

TEST(EncapTemplate, RefusesWhatDoesNotFit)
{
    Pool pool;
    ASSERT_NE(pool.p, nullptr);
    std::mt19937 rng(7);
    const LinkHeader link{MacAddr{{0x02, 0, 0, 0, 0, 0x99}}, MacAddr{{0x02, 0, 0, 0, 0, 0x01}}};
    const TunnelSelf self{*Ipv4Addr::parse("192.0.2.1"), {}, 4191, false};
    OuterTemplate udp;
    ASSERT_TRUE(udp.build(TunnelMethod::udp, self, link, 1500));
    EXPECT_EQ(udp.len, 14 + 20 + 8);
    EXPECT_EQ(udp.room, 1500 - 28);
    OuterTemplate none;
    EXPECT_FALSE(none.build(TunnelMethod::esp, self, link, 1500)) << "ESP is sealed, not templated";
    EXPECT_FALSE(none.build(TunnelMethod::ipv6, self, link, 1500));
    rte_mbuf* m = frame(pool.p, rng, 100, 0);
    ASSERT_NE(m, nullptr);
    uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*) + wire::kEtherHeaderLen;
    EXPECT_TRUE(udp.fits(m, ip, 1500 - 28));
    EXPECT_FALSE(udp.fits(m, ip, 1500 - 27)) << "past the MTU";
    // Headroom: the IPv6 header closer to the buffer's start than the template is long.
    uint8_t* low = static_cast<uint8_t*>(m->buf_addr) + udp.len - 1;
    EXPECT_FALSE(udp.fits(m, low, 100));
    EXPECT_TRUE(udp.fits(m, low + 1, 100));
    rte_pktmbuf_free(m);
}
