// Two workers, one SA: every downstream ESP packet of the SA leaves through the worker that owns it
// (SaEntry::owner, its SPI modulo the workers), numbered by that worker's lane alone, so that the
// receiver sees the numbers in order whichever worker received the packets (RFC 4303 3.4.3). Each worker
// has a ring port of its own; the test polls them in turn from one thread.
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <string>
#include <vector>

#include "bytes.hpp"
#include "esp.hpp"
#include "esp_packets.hpp"
#include "ethernet.hpp"
#include "ipv4.hpp"
#include "proto.hpp"
#include "worker_rig.hpp"

using namespace nemo;
using namespace nemo::test;
using namespace nemo::wire;

namespace {

constexpr uint32_t kSpiIn = 0x100;

struct Handoff : ::testing::TestWithParam<uint32_t> { // the outbound SPI: 0x200 owned by worker 0, 0x201 by 1
    WorkerRig rig[2]; // worker i on rig[i]'s port; rig[0]'s tables, neighbours and SAs for both
    std::unique_ptr<dp::SaTable> sas;
    std::unique_ptr<EspTransform> peer_in; // the MR's end of the outbound SA
    uint32_t out_spi = 0;                  // that SA's SPI: spi(), or its successor after a rekey
    rte_ring* ring[2] = {};
    bool reader1 = false;
    ImbManager imb;
    static constexpr EspAlgorithm kAlg = EspAlgorithm::aes_gcm_128;

    uint32_t spi() const { return GetParam(); }
    unsigned owner() const { return spi() % 2; }

    void SetUp() override { start(256); }
    // `lanes`: the SA table's (the daemon's: one per worker, as the rings).
    void start(unsigned ring_size, unsigned lanes = 2)
    {
        static int instance = 0;
        std::string err;
        for (int i = 0; i < 2; ++i) {
            const std::string n = "ho" + std::to_string(instance) + "_" + std::to_string(i);
            ASSERT_TRUE(rig[i].init(n, &err)) << err;
            ASSERT_TRUE(rig[i].open_ring_port(n, &err)) << err;
            ring[i] = rte_ring_create((n + "_handoff").c_str(), ring_size, 0, RING_F_SC_DEQ);
            ASSERT_NE(ring[i], nullptr);
        }
        ++instance;
        ASSERT_TRUE(rig[0].bind(TunnelMethod::esp, &err)) << err;
        sas = std::make_unique<dp::SaTable>(rig[0].tables->rcu(), /*allow_manual_gcm=*/true, lanes);
        rig[0].tables->attach_sas(sas.get());
        const auto enc = key(esp_enc_key_len(kAlg), 0x33);
        ASSERT_FALSE(sas->add(make_sa(true, kSpiIn, kHoa, kAlg, key(esp_enc_key_len(kAlg), 0x11), {})));
        ASSERT_FALSE(sas->add(make_sa(false, spi(), kHoa, kAlg, enc, {})));
        peer_in = EspTransform::create(kAlg, enc, {}, &err);
        out_spi = spi();
        ASSERT_TRUE(peer_in) << err;
        for (unsigned i = 0; i < 2; ++i)
            rig[i].start_worker(rig[i].ring_port, sas.get(), false, 64, [&, i](dp::WorkerConfig& wc) {
                wc.reader_id = i;
                wc.tables = rig[0].tables.get();
                wc.neighbors = rig[0].neighbors.get();
                wc.handoff = {ring[0], ring[1]};
            });
        reader1 = rig[0].tables->register_reader(1);
        ASSERT_TRUE(reader1);
    }

    void TearDown() override
    {
        if (reader1) rig[0].tables->unregister_reader(1);
        reader1 = false;
        for (auto& r : rig) r.worker.reset();
        for (rte_ring*& r : ring) {
            void* m = nullptr;
            while (r && rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            rte_ring_free(r);
            r = nullptr;
        }
        for (auto& r : rig) r.release();
        sas.reset();
    }

    // A downstream frame from the core to a host in the router's prefix, to worker w's port.
    void receive(unsigned w, uint8_t tag, std::size_t payload)
    {
        auto inner = ipv6_packet(kCn, kHost, tag, payload);
        std::vector<uint8_t> f(kEtherHeaderLen);
        write_ether_header(f.data(), kHaMac, kGwMac, ethertype::ipv6);
        f.insert(f.end(), inner.begin(), inner.end());
        ASSERT_TRUE(rig[w].receive(f.data(), f.size()));
    }

    uint64_t counter(unsigned w, dp::DpCounter k) { return rig[w].counters.c[static_cast<std::size_t>(k)].load(); }

    // What worker w's port sent: each an ESP packet of the outbound SA that the router's end opens,
    // around the packet receive() made with its hop limit one lower; their sequence numbers, in the
    // order sent (and the tags of the packets inside, when asked).
    std::vector<uint64_t> sealed_numbers(unsigned w, std::vector<uint8_t>* tags = nullptr)
    {
        std::vector<uint64_t> seqs;
        for (auto& f : rig[w].sent_frames()) {
            auto ip = parse_ipv4({f.data() + kEtherHeaderLen, f.size() - kEtherHeaderLen});
            EXPECT_TRUE(ip && ip->hdr.protocol == ipproto::esp && ip->hdr.dst == kCoa4);
            if (!ip) continue;
            std::vector<uint8_t> esp(ip->payload.begin(), ip->payload.end());
            auto hdr = parse_esp(esp);
            EXPECT_TRUE(hdr && hdr->spi == out_spi);
            if (!hdr) continue;
            EXPECT_TRUE(peer_in->decrypt(imb, esp.data(), esp.size(), hdr->seq, false)) << "seq " << hdr->seq;
            seqs.push_back(hdr->seq);
            const std::size_t head = kEspHeaderLen + peer_in->iv_len();
            auto trailer = parse_esp_trailer({esp.data() + head, esp.size() - head - peer_in->icv_len()});
            EXPECT_TRUE(trailer && trailer->inner.size() > kIpv6HeaderLen) << "seq " << hdr->seq;
            if (!trailer || trailer->inner.size() <= kIpv6HeaderLen) continue;
            auto sent = std::vector<uint8_t>(trailer->inner.begin(), trailer->inner.end());
            auto expect = ipv6_packet(kCn, kHost, sent[kIpv6HeaderLen], sent.size() - kIpv6HeaderLen);
            --expect[7]; // the hop limit, once
            EXPECT_EQ(sent, expect) << "seq " << hdr->seq;
            if (tags) tags->push_back(sent[kIpv6HeaderLen]);
        }
        return seqs;
    }
    // That worker w's port sent n packets of the SA, numbered 1..n in the order sent.
    void expect_numbered_from_one(unsigned w, std::size_t n)
    {
        const auto got = sealed_numbers(w);
        ASSERT_EQ(got.size(), n);
        for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], i + 1);
    }
};

TEST_P(Handoff, EveryPacketOfAnSaLeavesFromItsOwnerInOrder)
{
    const unsigned own = owner(), other = 1 - own;
    std::vector<uint64_t> seen;
    uint64_t handed = 0;
    // Rounds of packets to both workers, of several counts and sizes; the worker that does not own the
    // SA is polled first, then the owner (its own burst, then what it was handed).
    for (unsigned round = 0; round < 4; ++round) {
        const unsigned to_other = 3 + 9 * round, to_owner = 20 - 5 * round;
        for (unsigned i = 0; i < to_other; ++i) receive(other, static_cast<uint8_t>(i), 20 + 37 * i);
        for (unsigned i = 0; i < to_owner; ++i) receive(own, static_cast<uint8_t>(0x80 + i), 30 + 41 * i);
        rig[other].worker->poll();
        rig[own].worker->poll();
        handed += to_other;
        EXPECT_TRUE(sealed_numbers(other).empty()) << "the other worker sends none of the SA's packets";
        std::vector<uint8_t> tags, want;
        auto got = sealed_numbers(own, &tags);
        EXPECT_EQ(got.size(), to_other + to_owner) << "round " << round;
        for (unsigned i = 0; i < to_owner; ++i) want.push_back(static_cast<uint8_t>(0x80 + i)); // its own burst first
        for (unsigned i = 0; i < to_other; ++i) want.push_back(static_cast<uint8_t>(i));        // then what it was handed
        EXPECT_EQ(tags, want) << "round " << round;
        seen.insert(seen.end(), got.begin(), got.end());
    }
    for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1) << "one number each, in order on the wire";
    EXPECT_EQ(counter(other, dp::DpCounter::esp_handed_off), handed);
    EXPECT_EQ(counter(own, dp::DpCounter::esp_handed_off), 0u);
    EXPECT_EQ(counter(other, dp::DpCounter::esp_handoff_full) + counter(own, dp::DpCounter::esp_handoff_full), 0u);
    EXPECT_EQ(rig[own].counters.encap[static_cast<std::size_t>(TunnelMethod::esp)].load(), seen.size());
}

// Two turns of the other worker before the owner's next: the owner takes both bursts in one turn.
TEST_P(Handoff, TheOwnerTakesSeveralBurstsInOneTurn)
{
    const unsigned own = owner(), other = 1 - own;
    for (int turn = 0; turn < 2; ++turn) {
        for (unsigned i = 0; i < 32; ++i) receive(other, static_cast<uint8_t>(32 * turn + i), 40);
        rig[other].worker->poll();
    }
    ASSERT_EQ(counter(other, dp::DpCounter::esp_handed_off), 64u);
    rig[own].worker->poll();
    expect_numbered_from_one(own, 64);
}

// The owner's ring full: what does not fit is dropped and counted by the worker handing it over, every
// mbuf freed; what fit is sealed, in order.
TEST_P(Handoff, AFullRingDropsAndCountsAndLosesNoMbuf)
{
    TearDown();
    start(8); // holds 7
    const unsigned own = owner(), other = 1 - own;
    const unsigned avail[2] = {rte_mempool_avail_count(rig[0].pool), rte_mempool_avail_count(rig[1].pool)};
    for (unsigned i = 0; i < 20; ++i) receive(other, static_cast<uint8_t>(i), 60);
    rig[other].worker->poll();
    EXPECT_EQ(counter(other, dp::DpCounter::esp_handed_off), 7u);
    EXPECT_EQ(counter(other, dp::DpCounter::esp_handoff_full), 13u);
    rig[own].worker->poll();
    expect_numbered_from_one(own, 7);
    EXPECT_TRUE(sealed_numbers(other).empty());
    for (int i = 0; i < 2; ++i) EXPECT_EQ(rte_mempool_avail_count(rig[i].pool), avail[i]) << "pool " << i;
}

// Owners are taken modulo the SA table's lanes: with more lanes than rings (not the daemon's way) an
// owner may have no ring, so the handoff stays off and each worker seals what it receives.
TEST_P(Handoff, OffWhenTheLanesAreNotTheRings)
{
    TearDown();
    start(256, 3);
    const unsigned other = 1 - owner();
    for (unsigned i = 0; i < 5; ++i) receive(other, static_cast<uint8_t>(i), 60);
    rig[other].worker->poll();
    EXPECT_EQ(counter(other, dp::DpCounter::esp_handed_off), 0u);
    EXPECT_EQ(sealed_numbers(other).size(), 5u) << "sealed where it was received";
}

// A rekey between the handoff and the owner's turn: the binding's new SA (another SPI) belongs to the
// worker that handed the packets over. The old owner hands them on instead of sealing them on a second
// lane, and the new owner numbers them from 1 under the new SA.
TEST_P(Handoff, AfterARekeyThePacketsGoOnToTheNewOwner)
{
    const unsigned own = owner(), other = 1 - own;
    for (unsigned i = 0; i < 5; ++i) receive(other, static_cast<uint8_t>(i), 60);
    rig[other].worker->poll();
    ASSERT_EQ(counter(other, dp::DpCounter::esp_handed_off), 5u);
    const uint32_t next = spi() ^ 1; // the other worker's
    const auto enc = key(esp_enc_key_len(kAlg), 0x55);
    const uint32_t gone[] = {spi()};
    const SaConfig fresh[] = {make_sa(false, next, kHoa, kAlg, enc, {})};
    ASSERT_FALSE(sas->change(gone, fresh));
    std::string err;
    peer_in = EspTransform::create(kAlg, enc, {}, &err);
    ASSERT_TRUE(peer_in) << err;
    out_spi = next;
    rig[own].worker->poll();
    EXPECT_TRUE(sealed_numbers(own).empty()) << "the old owner seals none of them";
    EXPECT_EQ(counter(own, dp::DpCounter::esp_handed_off), 5u);
    rig[other].worker->poll();
    expect_numbered_from_one(other, 5);
}

// The binding gone before the owner takes the packets over: they are counted and freed, not sent.
TEST_P(Handoff, ABindingGoneMeanwhileIsCountedNotSent)
{
    const unsigned own = owner(), other = 1 - own;
    for (unsigned i = 0; i < 5; ++i) receive(other, static_cast<uint8_t>(i), 60);
    rig[other].worker->poll();
    ASSERT_EQ(counter(other, dp::DpCounter::esp_handed_off), 5u);
    rig[0].tables->withdraw(0);
    rig[own].worker->poll();
    EXPECT_TRUE(sealed_numbers(own).empty());
    EXPECT_EQ(counter(own, dp::DpCounter::no_binding), 5u);
}

INSTANTIATE_TEST_SUITE_P(Owners, Handoff, ::testing::Values(0x200u, 0x201u), [](const auto& i) {
    return "owner" + std::to_string(i.param % 2);
});

} // namespace
