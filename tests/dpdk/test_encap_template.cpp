// The downstream fast path's outer headers (dataplane/encap_template.hpp) against the general path's
// (inline_encap::encap_v4 with the Ethernet header): the same bytes, lengths and offload flags for every
// method without keys, with and without IPv4 checksum offload, over random packets, traffic classes,
// far ends, ports and link padding; and the template refuses what does not fit. The same for ESP's fast
// layout (dataplane/esp_seal_fast.hpp) against esp_seal_prepare, the crypto and esp_seal_finish, sealed
// packet against sealed packet, for S and S+U and every algorithm, with and without ESN.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <random>
#include <vector>

#include "encap_ipv4_inline.hpp"
#include "encap_template.hpp"
#include "esp_seal_fast.hpp"
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

// The gateway's and the access port's MACs for every test here, and the HA's tunnel end without offload.
const LinkHeader kLink{MacAddr{{0x02, 0, 0, 0, 0, 0x99}}, MacAddr{{0x02, 0, 0, 0, 0, 0x01}}};
const TunnelSelf kSelf{*Ipv4Addr::parse("192.0.2.1"), {}, 4191, false};

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

// One random frame twice (for the fast path and the general one), a random far end for `method`, and
// where its IPv6 packet lies. Null mbufs when the pool is out.
struct Twin {
    rte_mbuf* fast = nullptr;
    rte_mbuf* general = nullptr;
    TunnelPeer peer;
    uint8_t* ip = nullptr; // in `fast`
    uint32_t ip_len = 0;
    uint8_t tc = 0; // the IPv6 traffic class
};

Twin twin(rte_mempool* pool, std::mt19937& rng, TunnelMethod method, int i)
{
    Twin w;
    const auto payload = static_cast<uint16_t>(rng() % 1200);
    const auto pad = static_cast<uint16_t>(i % 3 ? 0 : rng() % 30);
    w.fast = frame(pool, rng, payload, pad);
    if (!w.fast) return w;
    w.general = copy(pool, w.fast);
    w.peer = TunnelPeer{method, Ipv4Addr{static_cast<uint32_t>(rng())}, static_cast<uint16_t>(rng()), {}};
    w.ip = rte_pktmbuf_mtod(w.fast, uint8_t*) + wire::kEtherHeaderLen;
    w.ip_len = wire::kIpv6HeaderLen + payload;
    w.tc = static_cast<uint8_t>(((w.ip[0] & 0x0F) << 4) | (w.ip[1] >> 4));
    return w;
}

// The general path's start: the link header cut, the link padding trimmed.
void strip_link(rte_mbuf* m, uint32_t ip_len)
{
    rte_pktmbuf_adj(m, wire::kEtherHeaderLen);
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - ip_len));
}

// The two paths' frames: the same bytes, lengths and offload requests.
::testing::AssertionResult same_frames(const rte_mbuf* fast, const rte_mbuf* general, bool offload)
{
    if (rte_pktmbuf_data_len(fast) != rte_pktmbuf_data_len(general) || rte_pktmbuf_pkt_len(fast) != rte_pktmbuf_pkt_len(general))
        return ::testing::AssertionFailure() << "lengths " << rte_pktmbuf_data_len(fast) << " and " << rte_pktmbuf_data_len(general);
    if (std::memcmp(rte_pktmbuf_mtod(fast, const uint8_t*), rte_pktmbuf_mtod(general, const uint8_t*), rte_pktmbuf_data_len(fast)) != 0)
        return ::testing::AssertionFailure() << "the bytes differ";
    if (fast->ol_flags != general->ol_flags) return ::testing::AssertionFailure() << "the offload flags differ";
    if (offload && (fast->l2_len != general->l2_len || fast->l3_len != general->l3_len))
        return ::testing::AssertionFailure() << "l2_len / l3_len differ";
    return ::testing::AssertionSuccess();
}

} // namespace

TEST(EncapTemplate, SameBytesAsTheGeneralPath)
{
    Pool pool;
    ASSERT_NE(pool.p, nullptr);
    std::mt19937 rng(2026);
    unsigned compared = 0;
    for (bool offload : {false, true}) {
        TunnelSelf self{*Ipv4Addr::parse("192.0.2.1"), *Ipv6Addr::parse("2001:db8:1::1"), 4191, offload};
        for (TunnelMethod method : {TunnelMethod::ipip, TunnelMethod::gre, TunnelMethod::udp}) {
            OuterTemplate t;
            ASSERT_TRUE(t.build(method, self, kLink, 1500));
            for (int i = 0; i < 300; ++i) {
                const Twin w = twin(pool.p, rng, method, i);
                ASSERT_NE(w.fast, nullptr);
                ASSERT_NE(w.general, nullptr);
                ASSERT_TRUE(t.fits(w.fast, w.ip, w.ip_len));
                t.apply(w.fast, w.ip, w.ip_len, w.peer.v4.value, w.peer.port, w.tc);
                strip_link(w.general, w.ip_len);
                ASSERT_TRUE(inline_encap::encap_v4(w.general, self, w.peer, &kLink));
                ASSERT_TRUE(same_frames(w.fast, w.general, offload))
                    << "method " << static_cast<int>(method) << " offload " << offload << " packet " << i;
                rte_pktmbuf_free(w.fast);
                rte_pktmbuf_free(w.general);
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
    OuterTemplate udp;
    ASSERT_TRUE(udp.build(TunnelMethod::udp, kSelf, kLink, 1500));
    EXPECT_EQ(udp.len, 14 + 20 + 8);
    EXPECT_EQ(udp.room, 1500 - 28);
    OuterTemplate esp, esp_udp, none;
    ASSERT_TRUE(esp.build(TunnelMethod::esp, kSelf, kLink, 1500));
    ASSERT_TRUE(esp_udp.build(TunnelMethod::esp_udp, kSelf, kLink, 1500));
    EXPECT_EQ(esp.len, 14 + 20);
    EXPECT_EQ(esp_udp.len, 14 + 20 + 8);
    EXPECT_EQ(esp.room, 1500 - 77) << "the worst case of padding and IV, as fits_tunnel";
    EXPECT_EQ(esp_udp.room, 1500 - 85);
    EXPECT_FALSE(none.build(TunnelMethod::ipv6, kSelf, kLink, 1500));
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

namespace {

// Two SAs alike (one key, one SPI, numbers from 1), one for each path: the same packets sealed through
// each must come out the same, byte for byte, the crypto included.
struct TwinSas {
    dp::SaEntry fast, general;
    static SaConfig config(EspAlgorithm alg, bool esn)
    {
        SaConfig c;
        c.inbound = false;
        c.spi = 0x01020304;
        c.algorithm = alg;
        c.esn = esn;
        return c;
    }
    static std::unique_ptr<EspTransform> transform(EspAlgorithm alg)
    {
        std::vector<uint8_t> enc(esp_enc_key_len(alg)), auth(esp_auth_key_len(alg));
        for (std::size_t i = 0; i < enc.size(); ++i) enc[i] = static_cast<uint8_t>(0x30 + 3 * i);
        for (std::size_t i = 0; i < auth.size(); ++i) auth[i] = static_cast<uint8_t>(0x70 + 5 * i);
        std::string err;
        auto t = EspTransform::create(alg, enc, auth, &err);
        EXPECT_TRUE(t) << err;
        return t;
    }
    TwinSas(EspAlgorithm alg, bool esn)
        : fast(config(alg, esn), transform(alg), false, 1), general(config(alg, esn), transform(alg), false, 1)
    {
    }
};

} // namespace

TEST(EspSealFast, SameBytesAsTheGeneralPath)
{
    Pool pool;
    ASSERT_NE(pool.p, nullptr);
    ImbManager imb;
    ASSERT_TRUE(imb.ok());
    std::mt19937 rng(4303);
    unsigned compared = 0;
    for (EspAlgorithm alg : {EspAlgorithm::aes_gcm_128, EspAlgorithm::aes_gcm_256, EspAlgorithm::aes_cbc_128_hmac_sha256})
        for (bool esn : {false, true})
            for (bool offload : {false, true}) {
                const TunnelSelf self{*Ipv4Addr::parse("192.0.2.1"), {}, 4191, offload};
                for (TunnelMethod method : {TunnelMethod::esp, TunnelMethod::esp_udp}) {
                    TwinSas sas(alg, esn);
                    if (esn) { // the high half in play: numbers past 2^32
                        sas.fast.next_seq = (uint64_t{1} << 32) - 20;
                        sas.general.next_seq = (uint64_t{1} << 32) - 20;
                    }
                    OuterTemplate t;
                    ASSERT_TRUE(t.build(method, self, kLink, 1500));
                    for (int i = 0; i < 60; ++i) {
                        const Twin w = twin(pool.p, rng, method, i);
                        ASSERT_NE(w.fast, nullptr);
                        ASSERT_NE(w.general, nullptr);
                        EspJob fjob, gjob;
                        ASSERT_EQ(esp_seal_fast(w.fast, w.ip, w.ip_len, t, sas.fast, sas.fast.lane(0), w.peer.v4.value, w.peer.port, w.tc, fjob),
                                  FastSeal::queued);
                        esp_encrypt_burst(imb, {&fjob, 1});
                        ASSERT_TRUE(fjob.ok);
                        sas.fast.count(sas.fast.lane(0), sealed_esp_len(fjob)); // as the worker counts it
                        // The general path: then the two halves.
                        strip_link(w.general, w.ip_len);
                        ASSERT_TRUE(esp_seal_prepare(w.general, sas.general, gjob, sas.general.lane(0)));
                        esp_encrypt_burst(imb, {&gjob, 1});
                        ASSERT_TRUE(gjob.ok);
                        ASSERT_TRUE(esp_seal_finish(w.general, self, w.peer, sas.general, w.tc, sas.general.lane(0), &kLink));
                        ASSERT_TRUE(same_frames(w.fast, w.general, offload))
                            << esp_algorithm_name(alg) << " esn " << esn << " method " << static_cast<int>(method)
                            << " offload " << offload << " packet " << i;
                        rte_pktmbuf_free(w.fast);
                        rte_pktmbuf_free(w.general);
                        ++compared;
                    }
                    EXPECT_EQ(sas.fast.get(dp::SaCounter::bytes), sas.general.get(dp::SaCounter::bytes));
                    EXPECT_EQ(sas.fast.get(dp::SaCounter::packets), 60u);
                }
            }
    EXPECT_EQ(compared, 3u * 2u * 2u * 2u * 60u);
}

// What the fast layout refuses it leaves alone, and it takes no sequence number for it: too big for the
// port, too little headroom or tailroom. An SA with no number left is told apart.
TEST(EspSealFast, RefusesWhatDoesNotFitAndUsesNoNumberForIt)
{
    Pool pool;
    ASSERT_NE(pool.p, nullptr);
    std::mt19937 rng(3948);
    OuterTemplate t;
    ASSERT_TRUE(t.build(TunnelMethod::esp_udp, kSelf, kLink, 1500));
    TwinSas sas(EspAlgorithm::aes_cbc_128_hmac_sha256, false);
    dp::SaEntry& sa = sas.fast;
    auto refused = [&](rte_mbuf* m, uint8_t* ip, uint32_t ip_len) {
        std::vector<uint8_t> before(static_cast<uint8_t*>(m->buf_addr), static_cast<uint8_t*>(m->buf_addr) + m->buf_len);
        const uint16_t off = m->data_off, len = rte_pktmbuf_data_len(m);
        EspJob job;
        const FastSeal r = esp_seal_fast(m, ip, ip_len, t, sa, sa.lane(0), 0x0A000001, 4500, 0, job);
        EXPECT_EQ(off, m->data_off);
        EXPECT_EQ(len, rte_pktmbuf_data_len(m));
        EXPECT_EQ(std::memcmp(before.data(), m->buf_addr, m->buf_len), 0) << "a refused packet is left as it was";
        return r == FastSeal::refused;
    };
    rte_mbuf* m = frame(pool.p, rng, 100, 0);
    ASSERT_NE(m, nullptr);
    uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*) + wire::kEtherHeaderLen;
    EXPECT_TRUE(refused(m, ip, t.room + 1)) << "past the MTU";
    // Headroom: ESP header and the CBC IV (24) and the template (42) before the IPv6 header.
    uint8_t* low = static_cast<uint8_t*>(m->buf_addr) + t.len + 24 - 1;
    EXPECT_TRUE(refused(m, low, 100));
    // Tailroom: 100 bytes need 10 of padding, the trailer (2) and the ICV (16) after them.
    uint8_t* end = static_cast<uint8_t*>(m->buf_addr) + m->buf_len;
    EXPECT_TRUE(refused(m, end - 100 - 28 + 1, 100));
    EXPECT_EQ(sa.next_seq.load(), 1u) << "no number used by a refusal";
    EspJob job;
    ASSERT_EQ(esp_seal_fast(m, end - 100 - 28, 100, t, sa, sa.lane(0), 0x0A000001, 4500, 0, job), FastSeal::queued)
        << "exactly enough room at the end";
    EXPECT_EQ(job.seq, 1u);
    rte_pktmbuf_free(m);
    // The last number sent, the next packet gets none (RFC 4303 3.3.3), counted on the SA.
    dp::SaEntry& spent = sas.general;
    spent.next_seq = esp_last_seq(false);
    for (int i = 0; i < 2; ++i) {
        rte_mbuf* p = frame(pool.p, rng, 100, 0);
        ASSERT_NE(p, nullptr);
        EspJob j;
        const FastSeal r = esp_seal_fast(p, rte_pktmbuf_mtod(p, uint8_t*) + wire::kEtherHeaderLen, wire::kIpv6HeaderLen + 100, t,
                                         spent, spent.lane(0), 0x0A000001, 4500, 0, j);
        EXPECT_EQ(r, i == 0 ? FastSeal::queued : FastSeal::no_seq) << i;
        rte_pktmbuf_free(p);
    }
    EXPECT_EQ(spent.get(dp::SaCounter::drop_exhausted), 1u);
}
