// The worker's ESP paths on a real port (net_ring) with whole bursts: every ESP packet of a burst is
// verified and decrypted (or encrypted) in one go, so the per-packet decisions that follow must still
// come out right: a sequence number twice in one burst is accepted once, a forged packet fails alone and
// does not move the window, downstream packets each take their own sequence number, in order.
#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "bytes.hpp"
#include "encap.hpp"
#include "esp.hpp"
#include "ethernet.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "esp_packets.hpp"
#include "worker_rig.hpp"

using namespace nemo;
using namespace nemo::test;
using namespace nemo::wire;

namespace {

constexpr uint32_t kSpiIn = 0x100, kSpiOut = 0x200;

struct EspTest : ::testing::TestWithParam<EspAlgorithm> {
    WorkerRig rig;
    std::unique_ptr<dp::SaTable> sas;
    std::unique_ptr<EspTransform> peer_out; // the MR's end of our inbound SA: seals what it sends
    std::unique_ptr<EspTransform> peer_in;  // the MR's end of our outbound SA: opens what we send
    SaConfig in_sa, out_sa;                 // as configured (the table zeroes its copies' keys)
    ImbManager imb;

    void SetUp() override
    {
        static int instance = 0;
        const std::string n = "wk" + std::to_string(instance++);
        std::string err;
        ASSERT_TRUE(rig.init(n, &err)) << err;
        ASSERT_TRUE(rig.bind(TunnelMethod::esp, &err)) << err;
        ASSERT_TRUE(rig.open_ring_port(n, &err)) << err;

        const EspAlgorithm alg = GetParam();
        const auto enc_in = key(esp_enc_key_len(alg), 0x11), auth_in = key(esp_auth_key_len(alg), 0x22);
        const auto enc_out = key(esp_enc_key_len(alg), 0x33), auth_out = key(esp_auth_key_len(alg), 0x44);
        // As the daemon has it: the worker keeps a lane of each SA, and its binding's slot leads to the SA.
        sas = std::make_unique<dp::SaTable>(rig.tables->rcu(), /*allow_manual_gcm=*/true, /*lanes=*/1); // a lab: GCM by hand
        rig.tables->attach_sas(sas.get());
        in_sa = make_sa(true, kSpiIn, kHoa, alg, enc_in, auth_in);
        out_sa = make_sa(false, kSpiOut, kHoa, alg, enc_out, auth_out);
        ASSERT_FALSE(sas->add(in_sa));
        ASSERT_FALSE(sas->add(out_sa));
        peer_out = EspTransform::create(alg, enc_in, auth_in, &err);
        peer_in = EspTransform::create(alg, enc_out, auth_out, &err);
        ASSERT_TRUE(peer_out && peer_in) << err;
        rig.start_worker(rig.ring_port, sas.get());
    }

    void TearDown() override
    {
        rig.worker.reset();
        rig.release();
        sas.reset();
    }

    void receive(const std::vector<uint8_t>& frame) { ASSERT_TRUE(rig.receive(frame.data(), frame.size())); }

    std::vector<std::vector<uint8_t>> sent() { return rig.sent_frames(); }

    // Ethernet / IPv4 (MR's care-of address -> HA) / ESP with the inbound SA, sealed by the MR's end.
    std::vector<uint8_t> esp_frame(const std::vector<uint8_t>& inner, uint32_t seq)
    {
        const std::size_t pad = esp_pad_len(inner.size(), peer_out->block());
        const std::size_t plain = inner.size() + pad + kEspTrailerLen;
        const std::size_t esp_len = kEspHeaderLen + peer_out->iv_len() + plain + peer_out->icv_len();
        std::vector<uint8_t> f(kEtherHeaderLen + kIpv4MinHeaderLen + esp_len);
        write_ether_header(f.data(), kHaMac, kGwMac, ethertype::ipv4);
        Ipv4Header h;
        h.total_len = static_cast<uint16_t>(kIpv4MinHeaderLen + esp_len);
        h.protocol = ipproto::esp;
        h.src = kCoa4;
        h.dst = kHa4;
        write_ipv4_header(f.data() + kEtherHeaderLen, h);
        uint8_t* esp = f.data() + kEtherHeaderLen + kIpv4MinHeaderLen;
        write_esp_header(esp, kSpiIn, seq);
        std::memcpy(esp + kEspHeaderLen + peer_out->iv_len(), inner.data(), inner.size());
        write_esp_trailer(esp + kEspHeaderLen + peer_out->iv_len() + inner.size(), pad, ipproto::ipv6);
        EXPECT_TRUE(peer_out->encrypt(imb, esp, plain, seq, false));
        return f;
    }

    uint64_t sa_counter(uint32_t spi, dp::SaCounter k) { return sas->inbound(spi) ? sas->inbound(spi)->get(k) : 0; }
};

// What the worker should forward for an inner packet: the same with the hop limit one lower.
std::vector<uint8_t> forwarded(std::vector<uint8_t> inner)
{
    --inner[7];
    return inner;
}

TEST_P(EspTest, OneBurstUpstreamDuplicatesAndForgeries)
{
    std::vector<std::vector<uint8_t>> inner;
    for (uint8_t i = 0; i < 6; ++i) inner.push_back(ipv6_packet(kHost, kCn, static_cast<uint8_t>(0x40 * i), 40 + 16u * i));
    auto forged = esp_frame(inner[3], 11);
    forged[forged.size() - 30] ^= 0x80; // in the ciphertext
    // One burst: 9, 9 again, 10, 11 forged, 8 (older, not seen: fine).
    receive(esp_frame(inner[0], 9));
    receive(esp_frame(inner[1], 9));
    receive(esp_frame(inner[2], 10));
    receive(forged);
    receive(esp_frame(inner[4], 8));
    rig.worker->poll();
    auto out = sent();
    ASSERT_EQ(out.size(), 3u);
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto eth = parse_ether(out[i]);
        ASSERT_TRUE(eth);
        EXPECT_EQ(eth->ethertype, ethertype::ipv6);
        EXPECT_EQ(eth->dst, kGwMac);
    }
    EXPECT_EQ(std::vector<uint8_t>(out[0].begin() + kEtherHeaderLen, out[0].end()), forwarded(inner[0]));
    EXPECT_EQ(std::vector<uint8_t>(out[1].begin() + kEtherHeaderLen, out[1].end()), forwarded(inner[2]));
    EXPECT_EQ(std::vector<uint8_t>(out[2].begin() + kEtherHeaderLen, out[2].end()), forwarded(inner[4]));
    EXPECT_EQ(sa_counter(kSpiIn, dp::SaCounter::drop_replayed), 1u);
    EXPECT_EQ(sa_counter(kSpiIn, dp::SaCounter::drop_icv), 1u);
    EXPECT_EQ(sa_counter(kSpiIn, dp::SaCounter::packets), 3u);
    EXPECT_EQ(rig.counters.decap[static_cast<std::size_t>(TunnelMethod::esp)].load(), 3u);

    // Next burst: 8 is a replay now; 11, sent genuinely, passes (the forgery did not take it).
    receive(esp_frame(inner[4], 8));
    receive(esp_frame(inner[5], 11));
    rig.worker->poll();
    out = sent();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(std::vector<uint8_t>(out[0].begin() + kEtherHeaderLen, out[0].end()), forwarded(inner[5]));
    EXPECT_EQ(sa_counter(kSpiIn, dp::SaCounter::drop_replayed), 2u);
}

// RFC 4303 3.4.3 lets the receiver turn anti-replay off (the pipeline benchmark does, as ipsec-secgw's
// window 0): a repeated number then passes, and a forgery still does not.
TEST_P(EspTest, AntiReplayOffLetsRepeatsThrough)
{
    ASSERT_TRUE(sas->remove(kSpiIn));
    SaConfig off = in_sa;
    off.anti_replay = false;
    ASSERT_FALSE(sas->add(off));
    const auto inner = ipv6_packet(kHost, kCn, 0x10, 40);
    auto forged = esp_frame(inner, 5);
    forged[forged.size() - 30] ^= 0x80;
    receive(esp_frame(inner, 5));
    receive(esp_frame(inner, 5));
    receive(forged);
    rig.worker->poll();
    receive(esp_frame(inner, 5));
    receive(esp_frame(inner, 1));
    rig.worker->poll();
    EXPECT_EQ(sent().size(), 4u);
    EXPECT_EQ(sa_counter(kSpiIn, dp::SaCounter::drop_replayed), 0u);
    EXPECT_EQ(sa_counter(kSpiIn, dp::SaCounter::drop_too_old), 0u);
    EXPECT_EQ(sa_counter(kSpiIn, dp::SaCounter::drop_icv), 1u);
    EXPECT_EQ(sa_counter(kSpiIn, dp::SaCounter::packets), 4u);
}

TEST_P(EspTest, DownstreamBurstsSealEveryPacketInOrder)
{
    // More than one burst of packets for the router's prefix, of many sizes.
    constexpr std::size_t kPackets = 45;
    std::vector<std::vector<uint8_t>> inner;
    for (std::size_t i = 0; i < kPackets; ++i) {
        inner.push_back(ipv6_packet(kCn, kHost, static_cast<uint8_t>(i), 20 + 29 * i));
        std::vector<uint8_t> f(kEtherHeaderLen);
        write_ether_header(f.data(), kHaMac, kGwMac, ethertype::ipv6);
        f.insert(f.end(), inner.back().begin(), inner.back().end());
        receive(f);
    }
    rig.worker->poll();
    rig.worker->poll();
    auto out = sent();
    ASSERT_EQ(out.size(), kPackets);
    for (std::size_t i = 0; i < kPackets; ++i) {
        SCOPED_TRACE(i);
        auto ip = parse_ipv4({out[i].data() + kEtherHeaderLen, out[i].size() - kEtherHeaderLen});
        ASSERT_TRUE(ip);
        EXPECT_EQ(ip->hdr.protocol, ipproto::esp);
        EXPECT_EQ(ip->hdr.src, kHa4);
        EXPECT_EQ(ip->hdr.dst, kCoa4);
        std::vector<uint8_t> esp(ip->payload.begin(), ip->payload.end());
        auto hdr = parse_esp(esp);
        ASSERT_TRUE(hdr);
        EXPECT_EQ(hdr->spi, kSpiOut);
        EXPECT_EQ(hdr->seq, i + 1) << "one sequence number each, in order";
        ASSERT_TRUE(peer_in->decrypt(imb, esp.data(), esp.size(), hdr->seq, false));
        const std::size_t head = kEspHeaderLen + peer_in->iv_len();
        auto trailer = parse_esp_trailer({esp.data() + head, esp.size() - head - peer_in->icv_len()});
        ASSERT_TRUE(trailer);
        EXPECT_EQ(std::vector<uint8_t>(trailer->inner.begin(), trailer->inner.end()), forwarded(inner[i]));
    }
    EXPECT_EQ(rig.counters.encap[static_cast<std::size_t>(TunnelMethod::esp)].load(), kPackets);
}

// The fused path (a gateway on the access side: its template) and the general one (no gateway: the care-of
// address is its own next hop, looked up per packet) seal the same packets the same way: the same frame
// around the ESP packet, the SA's numbers continuing from one to the other, the same inner packets.
TEST_P(EspTest, DownstreamFusedAndGeneralPathsSealAlike)
{
    constexpr std::size_t kPackets = 5;
    std::vector<std::vector<uint8_t>> inner;
    auto send_all = [&] {
        for (std::size_t i = 0; i < kPackets; ++i) {
            std::vector<uint8_t> f(kEtherHeaderLen);
            write_ether_header(f.data(), kHaMac, kGwMac, ethertype::ipv6);
            f.insert(f.end(), inner[i].begin(), inner[i].end());
            receive(f);
        }
        rig.worker->poll();
        return sent();
    };
    for (std::size_t i = 0; i < kPackets; ++i) inner.push_back(ipv6_packet(kCn, kHost, static_cast<uint8_t>(i), 30 + 97 * i));
    const auto fused = send_all();
    rig.worker.reset();
    rig.neighbors->set(kCoa4, kGwMac, true);
    rig.start_worker(rig.ring_port, sas.get(), false, 64, [](dp::WorkerConfig& wc) { wc.access.gateway4.reset(); });
    const auto general = send_all();
    ASSERT_EQ(fused.size(), kPackets);
    ASSERT_EQ(general.size(), kPackets);
    for (std::size_t i = 0; i < kPackets; ++i) {
        SCOPED_TRACE(i);
        ASSERT_EQ(fused[i].size(), general[i].size());
        const std::size_t esp_at = kEtherHeaderLen + kIpv4MinHeaderLen;
        EXPECT_EQ(std::vector<uint8_t>(fused[i].begin(), fused[i].begin() + esp_at + 4),
                  std::vector<uint8_t>(general[i].begin(), general[i].begin() + esp_at + 4))
            << "Ethernet, IPv4 and the SPI alike";
        for (const auto* out : {&fused[i], &general[i]}) {
            std::vector<uint8_t> esp(out->begin() + esp_at, out->end());
            auto hdr = parse_esp(esp);
            ASSERT_TRUE(hdr);
            EXPECT_EQ(hdr->seq, i + 1 + (out == &general[i] ? kPackets : 0));
            ASSERT_TRUE(peer_in->decrypt(imb, esp.data(), esp.size(), hdr->seq, false));
            const std::size_t head = kEspHeaderLen + peer_in->iv_len();
            auto trailer = parse_esp_trailer({esp.data() + head, esp.size() - head - peer_in->icv_len()});
            ASSERT_TRUE(trailer);
            EXPECT_EQ(std::vector<uint8_t>(trailer->inner.begin(), trailer->inner.end()), forwarded(inner[i]));
        }
    }
    EXPECT_EQ(rig.counters.encap[static_cast<std::size_t>(TunnelMethod::esp)].load(), 2 * kPackets);
    ASSERT_TRUE(sas->any(kSpiOut));
    EXPECT_EQ(sas->any(kSpiOut)->get(dp::SaCounter::packets), 2 * kPackets);
}

// Packet lifetimes end an SA at the packet they name, also when the last allowed packet and those after
// it are in one burst (counted only after the burst's crypto has run).
TEST_P(EspTest, PacketLifetimesHoldWithinOneBurst)
{
    ASSERT_TRUE(sas->remove(kSpiIn));
    ASSERT_TRUE(sas->remove(kSpiOut));
    in_sa.life_packets = 2;
    out_sa.life_packets = 2;
    ASSERT_FALSE(sas->add(in_sa));
    ASSERT_FALSE(sas->add(out_sa));
    // Upstream: three good packets in one burst, the third beyond the lifetime.
    for (uint32_t seq = 1; seq <= 3; ++seq) receive(esp_frame(ipv6_packet(kHost, kCn, static_cast<uint8_t>(seq)), seq));
    rig.worker->poll();
    EXPECT_EQ(sent().size(), 2u);
    EXPECT_EQ(sa_counter(kSpiIn, dp::SaCounter::packets), 2u);
    EXPECT_EQ(sa_counter(kSpiIn, dp::SaCounter::drop_expired), 1u);
    // Downstream: three packets in one burst; two leave sealed, the third finds no usable SA.
    for (uint8_t i = 0; i < 3; ++i) {
        std::vector<uint8_t> f(kEtherHeaderLen);
        write_ether_header(f.data(), kHaMac, kGwMac, ethertype::ipv6);
        const auto p = ipv6_packet(kCn, kHost, i);
        f.insert(f.end(), p.begin(), p.end());
        receive(f);
    }
    rig.worker->poll();
    EXPECT_EQ(sent().size(), 2u);
    EXPECT_EQ(rig.counters.c[static_cast<std::size_t>(dp::DpCounter::esp_no_sa)].load(), 1u);
}

// RFC 4303 3.3.3: the sender MUST NOT let the sequence number cycle. An SA a few numbers from its end
// (2^32-1, or 2^64-1 with ESN) sends up to its last number within one burst, then refuses every packet,
// counted on the SA, and stays exhausted; `show sa` says so (test_cli).
TEST_P(EspTest, Rfc4303_3_3_3_SequenceNumberNeverCycles)
{
    for (bool esn : {false, true}) {
        SCOPED_TRACE(esn ? "esn" : "32-bit");
        ASSERT_TRUE(sas->remove(kSpiOut));
        out_sa.esn = esn;
        ASSERT_FALSE(sas->add(out_sa));
        dp::SaEntry* sa = sas->outbound_for(kHoa);
        ASSERT_TRUE(sa);
        const uint64_t last = esp_last_seq(esn);
        sa->next_seq.store(last - 1);
        EXPECT_FALSE(sa->exhausted());
        auto downstream = [&](uint8_t tag) {
            std::vector<uint8_t> f(kEtherHeaderLen);
            write_ether_header(f.data(), kHaMac, kGwMac, ethertype::ipv6);
            const auto p = ipv6_packet(kCn, kHost, tag);
            f.insert(f.end(), p.begin(), p.end());
            receive(f);
        };
        for (uint8_t i = 0; i < 4; ++i) downstream(i);
        rig.worker->poll();
        auto out = sent();
        ASSERT_EQ(out.size(), 2u) << "last - 1 and last leave; nothing after them";
        for (std::size_t i = 0; i < out.size(); ++i) {
            auto ip = parse_ipv4({out[i].data() + kEtherHeaderLen, out[i].size() - kEtherHeaderLen});
            ASSERT_TRUE(ip);
            std::vector<uint8_t> esp(ip->payload.begin(), ip->payload.end());
            auto hdr = parse_esp(esp);
            ASSERT_TRUE(hdr);
            const uint64_t seq = last - 1 + i;
            EXPECT_EQ(hdr->seq, static_cast<uint32_t>(seq));
            EXPECT_TRUE(peer_in->decrypt(imb, esp.data(), esp.size(), seq, esn));
        }
        EXPECT_EQ(sa->get(dp::SaCounter::drop_exhausted), 2u);
        EXPECT_EQ(sa->get(dp::SaCounter::packets), 2u);
        EXPECT_TRUE(sa->exhausted());
        // Later bursts: still nothing, and the counter has not moved round to 0 or 1.
        downstream(9);
        rig.worker->poll();
        EXPECT_TRUE(sent().empty());
        EXPECT_EQ(sa->get(dp::SaCounter::drop_exhausted), 3u);
        EXPECT_TRUE(sa->exhausted());
        // The worker counts them as such too, not as a shortage of mbufs.
        EXPECT_EQ(rig.counters.c[static_cast<std::size_t>(dp::DpCounter::esp_sa_exhausted)].load(), esn ? 6u : 3u);
        EXPECT_EQ(rig.counters.c[static_cast<std::size_t>(dp::DpCounter::no_mbuf)].load(), 0u);
        EXPECT_EQ(sa->next_seq.load(), esn ? 0u : uint64_t{1} << 32);
    }
}

// Replies the control thread seals (control_io, through encap_esp) take the same path: the SA's last
// number, then a refusal, counted.
TEST_P(EspTest, Rfc4303_3_3_3_RepliesStopAtTheLastSequenceNumberToo)
{
    dp::SaEntry* sa = sas->outbound_for(kHoa);
    ASSERT_TRUE(sa);
    sa->next_seq.store(esp_last_seq(false));
    const dp::TunnelSelf self{kHa4, kHa6, 4191, false};
    const dp::TunnelPeer peer{TunnelMethod::esp, kCoa4, 0, {}};
    for (int i = 0; i < 2; ++i) {
        rte_mbuf* m = rte_pktmbuf_alloc(rig.pool);
        ASSERT_TRUE(m);
        const auto p = ipv6_packet(kHa6, kHoa, 1);
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(p.size())), p.data(), p.size());
        EXPECT_EQ(dp::encap_esp(m, self, peer, *sa, imb), i == 0);
        rte_pktmbuf_free(m);
    }
    EXPECT_EQ(sa->get(dp::SaCounter::drop_exhausted), 1u);
    EXPECT_TRUE(sa->exhausted());
}

INSTANTIATE_TEST_SUITE_P(Algorithms, EspTest,
                         ::testing::Values(EspAlgorithm::aes_cbc_128_hmac_sha256, EspAlgorithm::aes_gcm_128,
                                           EspAlgorithm::aes_gcm_256),
                         [](const auto& p) {
                             std::string n(esp_algorithm_name(p.param));
                             for (char& c : n)
                                 if (c == '-') c = '_';
                             return n;
                         });

} // namespace
