// The control thread's side of the rings (ControlIo) with a real control plane: what punted ARP, ND and
// signaling frames teach the neighbour table (lib/neighbor_policy.hpp), what it asks the links, and the
// counters `show stats` shows for every refusal.
#include "../common/addresses.hpp"
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <variant>

#include "../unit/fixtures.hpp"
#include "control_io.hpp"
#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "punt_drain.hpp"
#include "router_bu.hpp"
#include "state_rocksdb.hpp"

using namespace nemo;
using namespace nemo::wire;
using namespace nemo::test;

namespace {

int instance = 0;

const MacAddr kAccessMac = *MacAddr::parse("02:aa:00:00:00:01");
const MacAddr kHomeMac = *MacAddr::parse("02:bb:00:00:00:01");
const MacAddr kPeerMac = *MacAddr::parse("02:00:00:00:00:50");
const MacAddr kEvilMac = *MacAddr::parse("02:ee:ee:ee:ee:ee");
const MacAddr kGwMac = *MacAddr::parse("02:00:00:00:00:fe");
const Ipv4Addr kPeer4 = *Ipv4Addr::parse("192.0.2.50");
const Ipv4Addr kGw4 = *Ipv4Addr::parse("192.0.2.254");
const Ipv6Addr kPeer6 = *Ipv6Addr::parse("2001:db8:1::50");
const Ipv6Addr kGw6 = *Ipv6Addr::parse("2001:db8:1::fe");
constexpr uint16_t kAccessPort = 0, kHomePort = 1;

struct Sent {
    uint16_t port;
    std::vector<uint8_t> bytes;
};

class GatedBackend;

class ControlIoTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        const std::string n = std::to_string(instance++);
        const std::string text = "[ha]\nipv6 = 2001:db8:1::1\nipv4 = 192.0.2.1\nhome_prefix = 2001:db8:1::/64\n"
                                 "allow_unprotected_signaling = yes\nbinding_capacity = 128\n"
                                 "[cli]\nsocket = /tmp/nemo-cio-unused.sock\n"
                                 "[provisioning]\nmr = 2001:db8:1::100 router prefixes=2001:db8:aaaa::/48,2001:db8:bbbb:1::/64\n";
        auto cfg = control::parse_config_text(text, "cio-test.ini");
        ASSERT_TRUE(std::holds_alternative<control::Config>(cfg)) << std::get<std::string>(cfg);
        std::string err;
        cp = control::ControlPlane::create(std::get<control::Config>(cfg), &err);
        ASSERT_TRUE(cp) << err;
        pool = rte_pktmbuf_pool_create(("cio_pool" + n).c_str(), 1023, 0, dp::kMbufPrivSize, RTE_MBUF_DEFAULT_BUF_SIZE,
                                       SOCKET_ID_ANY);
        punt_ring = rte_ring_create(("cio_punt" + n).c_str(), 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
        inject = rte_ring_create(("cio_inj" + n).c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ);
        bulk_ring = rte_ring_create(("cio_bulk" + n).c_str(), 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
        ASSERT_TRUE(pool && punt_ring && inject && bulk_ring);
        neighbors = dp::Neighbors::create("cio" + n, 16, &err, cp->tables().rcu());
        ASSERT_TRUE(neighbors) << err;
        make_io(true);
    }
    void TearDown() override
    {
        io.reset();
        for (auto* r : {punt_ring, inject, bulk_ring}) {
            void* m;
            while (r && rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            rte_ring_free(r);
        }
        neighbors.reset();
        cp.reset();
        rte_mempool_free(pool);
    }
    void make_io(bool gateways, uint32_t max_age = 60, bool link_local = false)
    {
        dp::ControlIoConfig c;
        c.access.port = kAccessPort;
        c.access.mac = kAccessMac;
        c.home.port = kHomePort;
        c.home.mac = kHomeMac;
        if (gateways) {
            c.access.gateway4 = kGw4;
            c.home.gateway6 = kGw6;
        }
        c.punt = punt_ring;
        c.inject = inject;
        c.pool = pool;
        c.neighbors = neighbors.get();
        c.sas = &cp->sas();
        c.self = dp::TunnelSelf{kHa4, kHa6, 4191, false};
        c.ha_ipv4 = {kHa4};
        c.ha_ipv6 = {kHa6};
        if (link_local) c.ha_ipv6.push_back(*Ipv6Addr::parse("fe80::1"));
        c.neighbor_max_age_s = max_age;
        c.punt_bulk = bulk_ring;
        c.punt_limits.bulk_budget = 64;
        io = std::make_unique<dp::ControlIo>(*cp, c);
    }
    void punt(const std::vector<uint8_t>& bytes, dp::PuntKind kind, uint16_t port, TunnelMethod via = TunnelMethod::ipv6,
              Ipv4Addr outer_src = {}, rte_ring* ring = nullptr)
    {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        ASSERT_TRUE(m);
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size())), bytes.data(), bytes.size());
        *dp::punt_meta(m) = dp::PuntMeta{kind, via, port, 0, outer_src, kPeerMac};
        ASSERT_EQ(rte_ring_enqueue(ring ? ring : punt_ring, m), 0);
    }
    static std::vector<uint8_t> arp(uint16_t op, const MacAddr& smac, Ipv4Addr sip, Ipv4Addr tip)
    {
        std::vector<uint8_t> f(kEtherHeaderLen + kArpLen);
        write_ether_header(f.data(), op == arp_op::request ? MacAddr{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}} : kAccessMac, smac,
                           ethertype::arp);
        write_arp(f.data() + kEtherHeaderLen, ArpPacket{op, smac, sip, op == arp_op::reply ? kAccessMac : MacAddr{}, tip});
        return f;
    }
    static std::vector<uint8_t> nd(uint8_t type, const Ipv6Addr& src, const Ipv6Addr& dst, const NeighborMessage& msg,
                                   uint8_t hop_limit = 255)
    {
        std::vector<uint8_t> f(kEtherHeaderLen + kIpv6HeaderLen + 32);
        std::span<uint8_t> icmp{f.data() + kEtherHeaderLen + kIpv6HeaderLen, 32};
        auto len = type == icmp6::neighbor_solicit ? build_neighbor_solicit(icmp, msg, src, dst)
                                                   : build_neighbor_advert(icmp, msg, src, dst);
        write_ipv6_header(f.data() + kEtherHeaderLen,
                          Ipv6Header{0, 0, static_cast<uint16_t>(*len), ipproto::icmpv6, hop_limit, src, dst});
        write_ether_header(f.data(), kHomeMac, msg.lladdr.value_or(kPeerMac), ethertype::ipv6);
        f.resize(kEtherHeaderLen + kIpv6HeaderLen + *len);
        return f;
    }
    std::vector<Sent> sent()
    {
        std::vector<Sent> out;
        void* p;
        while (rte_ring_dequeue(inject, &p) == 0) {
            auto* m = static_cast<rte_mbuf*>(p);
            const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
            out.push_back({m->port, {d, d + rte_pktmbuf_data_len(m)}});
            rte_pktmbuf_free(m);
        }
        return out;
    }
    // The ARP requests among what was sent, by target.
    std::vector<Ipv4Addr> arp_requests(const std::vector<Sent>& frames)
    {
        std::vector<Ipv4Addr> out;
        for (const auto& s : frames) {
            auto eth = parse_ether(s.bytes);
            if (!eth || eth->ethertype != ethertype::arp) continue;
            auto a = parse_arp(eth->payload);
            EXPECT_EQ(s.port, kAccessPort);
            if (a && a->op == arp_op::request) out.push_back(a->target_ip);
        }
        return out;
    }
    uint64_t stat(const std::string& name)
    {
        for (const auto& [k, v] : io->stats())
            if (k == name) return v;
        ADD_FAILURE() << "no counter " << name;
        return 0;
    }

    // The state tests' setup: a control plane (one provisioned router) over a RocksDB store in a
    // directory of its own (state_dir) whose commits wait at *gate; neighbors named `neighbors_name`.
    void start_over_gated_store(const char* neighbors_name);
    // Opens the gate and waits until what the control plane has flushed is durable.
    void open_gate_and_wait_durable();

    std::unique_ptr<control::ControlPlane> cp;
    std::string state_dir;
    GatedBackend* gate = nullptr;
    rte_mempool* pool = nullptr;
    rte_ring* punt_ring = nullptr;
    rte_ring* inject = nullptr;
    rte_ring* bulk_ring = nullptr;
    std::unique_ptr<dp::Neighbors> neighbors;
    std::unique_ptr<dp::ControlIo> io;
};

TEST_F(ControlIoTest, AnArpReplyNobodyAskedForTeachesNothing)
{
    punt(arp(arp_op::reply, kEvilMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(100);
    EXPECT_FALSE(neighbors->lookup(kPeer4));
    EXPECT_EQ(stat("control_neighbor_refused_unsolicited"), 1u);
}

TEST_F(ControlIoTest, GratuitousArpAndArpForOthersTeachNothing)
{
    punt(arp(arp_op::request, kEvilMac, kPeer4, kPeer4), dp::PuntKind::arp, kAccessPort); // gratuitous
    punt(arp(arp_op::request, kEvilMac, kPeer4, *Ipv4Addr::parse("192.0.2.9")), dp::PuntKind::arp, kAccessPort);
    io->poll(100);
    EXPECT_FALSE(neighbors->lookup(kPeer4));
    EXPECT_EQ(stat("control_neighbor_refused_unsolicited"), 2u);
}

// RFC 826 ("merge"): a request for our address teaches us its sender, whom we answer.
// A burst of replies larger than the inject ring (the workers drain it a burst a turn) waits, in order,
// and goes at the next turns: nothing dropped (500 BUs at once lost 636 BAs here, control_inject_full).
TEST_F(ControlIoTest, RepliesTheInjectRingHasNoRoomForWaitInOrder)
{
    io.reset();
    rte_ring_free(inject);
    inject = rte_ring_create(("cio_inj_small" + std::to_string(getpid())).c_str(), 64, SOCKET_ID_ANY, RING_F_SP_ENQ);
    ASSERT_TRUE(inject);
    make_io(true);
    constexpr uint16_t kN = 200; // three times the ring's room: BUs of one router, each answered
    const Ipv6Addr hoa = *Ipv6Addr::parse("2001:db8:1::100");
    for (uint16_t seq = 1; seq <= kN; ++seq)
        punt(nemo::test::tunneled_router_bu(hoa, seq, *Prefix6::parse("2001:db8:aaaa::/48"), TunnelMethod::ipip),
             dp::PuntKind::signaling, kAccessPort, TunnelMethod::ipip, kCoa4);
    io->poll(100);
    std::vector<uint16_t> seqs;
    auto drain = [&] { // what the workers take from the ring: the BAs' sequence numbers
        for (const auto& f : sent()) {
            auto eth = parse_ether(f.bytes);
            if (!eth || eth->ethertype != ethertype::ipv4) continue;
            auto v4 = parse_ipv4(eth->payload);
            if (!v4 || v4->hdr.protocol != ipproto::ipv6) continue;
            auto v6 = parse_ipv6_packet(v4->payload);
            if (!v6) continue;
            auto mh = parse_mh(v6->upper);
            if (!mh) continue;
            if (auto ba = parse_binding_ack(*mh)) seqs.push_back(ba->seq);
        }
    };
    for (int turn = 0; turn < 10 && seqs.size() < kN; ++turn) {
        drain();
        io->poll(100);
    }
    drain();
    ASSERT_EQ(seqs.size(), kN);
    for (uint16_t i = 0; i < kN; ++i) EXPECT_EQ(seqs[i], i + 1) << "BA " << i << " out of order";
    EXPECT_EQ(stat("control_inject_full"), 0u);
    EXPECT_GT(stat("control_inject_deferred"), 0u);
}

TEST_F(ControlIoTest, AnArpRequestForOurAddressTeachesTheAsker)
{
    punt(arp(arp_op::request, kPeerMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(100);
    EXPECT_EQ(neighbors->lookup(kPeer4), kPeerMac);
    EXPECT_EQ(stat("control_neighbor_learned"), 1u);
}

TEST_F(ControlIoTest, TheAnswerToOurRequestIsLearnedOnceAndOnlyInTime)
{
    make_io(false);
    neighbors->request(kPeer4); // a worker missed it
    io->poll(100);
    EXPECT_EQ(arp_requests(sent()), std::vector<Ipv4Addr>{kPeer4});
    punt(arp(arp_op::reply, kPeerMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(100);
    EXPECT_EQ(neighbors->lookup(kPeer4), kPeerMac);
    // A second answer with another MAC (someone racing the real host) is not an answer to a question.
    punt(arp(arp_op::reply, kEvilMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(101);
    EXPECT_EQ(neighbors->lookup(kPeer4), kPeerMac);
    EXPECT_EQ(stat("control_neighbor_refused_unsolicited"), 1u);
    // A question stays open kAnswerWindowS seconds.
    const Ipv4Addr late = *Ipv4Addr::parse("192.0.2.51");
    neighbors->request(late);
    io->poll(200);
    punt(arp(arp_op::reply, kPeerMac, late, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(200 + dp::ControlIo::kAnswerWindowS);
    EXPECT_FALSE(neighbors->lookup(late));
}

TEST_F(ControlIoTest, AConfiguredGatewayLearnsOnlyFromTheAnswerToOurProbe)
{
    io->poll(100); // the start-up probe of the gateways
    auto asked = arp_requests(sent());
    EXPECT_EQ(asked, std::vector<Ipv4Addr>{kGw4});
    // Someone asks for our address in the gateway's name before the gateway answers.
    punt(arp(arp_op::request, kEvilMac, kGw4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(100);
    EXPECT_FALSE(neighbors->lookup(kGw4));
    EXPECT_EQ(stat("control_neighbor_refused_gateway"), 1u);
    punt(arp(arp_op::reply, kGwMac, kGw4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(100);
    EXPECT_EQ(neighbors->lookup(kGw4), kGwMac);
    // Neither a solicitation nor an unsolicited reply overwrites it afterwards.
    punt(arp(arp_op::request, kEvilMac, kGw4, kHa4), dp::PuntKind::arp, kAccessPort);
    punt(arp(arp_op::reply, kEvilMac, kGw4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(101);
    EXPECT_EQ(neighbors->lookup(kGw4), kGwMac);
    EXPECT_EQ(stat("control_neighbor_refused_gateway"), 2u);
    EXPECT_EQ(stat("control_neighbor_refused_unsolicited"), 1u);
    // The real gateway asking for us is no news: nothing refused.
    punt(arp(arp_op::request, kGwMac, kGw4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(101);
    EXPECT_EQ(stat("control_neighbor_refused_gateway"), 2u);
}

TEST_F(ControlIoTest, AStaticEntryIsNeverOverwritten)
{
    neighbors->set(kPeer4, kPeerMac, true);
    neighbors->request(kPeer4); // a worker never asks for a static entry; if one did, the answer is refused
    io->poll(100);
    punt(arp(arp_op::reply, kEvilMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    punt(arp(arp_op::request, kEvilMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(100);
    EXPECT_EQ(neighbors->lookup(kPeer4), kPeerMac);
    EXPECT_EQ(stat("control_neighbor_refused_static"), 2u);
}

// RFC 4861 7.2.5: an unsolicited advertisement for an address without an entry is discarded; a
// solicited one answers our NS (7.2.2).
TEST_F(ControlIoTest, OnlyASolicitedAdvertisementAnsweringOurSolicitationTeaches)
{
    punt(nd(icmp6::neighbor_advert, kPeer6, *Ipv6Addr::parse("ff02::1"), {na_flag::O, kPeer6, kEvilMac}), dp::PuntKind::nd,
         kHomePort);
    punt(nd(icmp6::neighbor_advert, kPeer6, kHa6, {na_flag::S | na_flag::O, kPeer6, kEvilMac}), dp::PuntKind::nd, kHomePort);
    io->poll(100);
    EXPECT_FALSE(neighbors->lookup(kPeer6));
    EXPECT_EQ(stat("control_neighbor_refused_unsolicited"), 2u);

    neighbors->request(kPeer6);
    io->poll(100);
    bool ns_sent = false;
    for (const auto& s : sent()) {
        auto eth = parse_ether(s.bytes);
        auto ip = parse_ipv6(eth->payload);
        if (!ip || ip->hdr.next_header != ipproto::icmpv6) continue;
        auto icmp = parse_icmpv6(ip->payload);
        if (icmp && icmp->type == icmp6::neighbor_solicit && parse_neighbor_solicit(*icmp)->target == kPeer6) ns_sent = true;
        EXPECT_EQ(s.port, kHomePort);
    }
    EXPECT_TRUE(ns_sent);
    punt(nd(icmp6::neighbor_advert, kPeer6, kHa6, {na_flag::S | na_flag::O, kPeer6, kPeerMac}), dp::PuntKind::nd, kHomePort);
    io->poll(100);
    EXPECT_EQ(neighbors->lookup(kPeer6), kPeerMac);
}

// RFC 4861 7.1.2: an advertisement with a hop limit below 255 was forwarded; it teaches nothing.
TEST_F(ControlIoTest, AnAdvertisementNotFromTheLinkIsInvalid)
{
    neighbors->request(kPeer6);
    io->poll(100);
    punt(nd(icmp6::neighbor_advert, kPeer6, kHa6, {na_flag::S, kPeer6, kEvilMac}, 64), dp::PuntKind::nd, kHomePort);
    io->poll(100);
    EXPECT_FALSE(neighbors->lookup(kPeer6));
    EXPECT_EQ(stat("control_neighbor_invalid"), 1u);
}

// RFC 4861 7.2.3: a solicitation for one of our addresses teaches its source; one for another target
// (a proxied home address, answered by the worker) does not.
TEST_F(ControlIoTest, ASolicitationForOurAddressTeachesItsSource)
{
    punt(nd(icmp6::neighbor_solicit, kPeer6, kHa6.solicited_node(), {0, kHa6, kPeerMac}), dp::PuntKind::nd, kHomePort);
    const Ipv6Addr other = *Ipv6Addr::parse("2001:db8:1::51");
    punt(nd(icmp6::neighbor_solicit, other, kHoa.solicited_node(), {0, kHoa, kEvilMac}), dp::PuntKind::nd, kHomePort);
    io->poll(100);
    EXPECT_EQ(neighbors->lookup(kPeer6), kPeerMac);
    EXPECT_FALSE(neighbors->lookup(other));
    EXPECT_EQ(stat("control_neighbor_refused_unsolicited"), 1u);
}

// Signaling does not teach its frame's source (anyone can send a packet to UDP 4191 from any address);
// once the control plane has answered a peer on link, the peer is asked for instead.
TEST_F(ControlIoTest, SignalingTeachesNothingButAsksForAnAnsweredPeerOnLink)
{
    make_io(false);
    const auto& pkt = scapy_packet("bu_v4coa_ipip");
    auto v4 = parse_ipv4(pkt);
    ASSERT_TRUE(v4);
    punt({v4->payload.begin(), v4->payload.end()}, dp::PuntKind::signaling, kAccessPort, TunnelMethod::ipip, v4->hdr.src);
    io->poll(100);
    EXPECT_FALSE(neighbors->lookup(v4->hdr.src)) << "gleaned from a signaling frame";
    EXPECT_EQ(arp_requests(sent()), std::vector<Ipv4Addr>{v4->hdr.src});
}

TEST_F(ControlIoTest, ALearnedEntryIsProbedAtMaxAgeAndRemovedWhenSilent)
{
    make_io(false, 60);
    punt(arp(arp_op::request, kPeerMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(100);
    ASSERT_EQ(neighbors->lookup(kPeer4), kPeerMac);
    io->poll(159);
    EXPECT_TRUE(arp_requests(sent()).empty());
    io->poll(160);
    EXPECT_EQ(arp_requests(sent()), std::vector<Ipv4Addr>{kPeer4}) << "not asked again at its max age";
    EXPECT_EQ(neighbors->lookup(kPeer4), kPeerMac);
    io->poll(160 + dp::ControlIo::kAnswerWindowS);
    EXPECT_FALSE(neighbors->lookup(kPeer4));
    EXPECT_EQ(stat("control_neighbor_expired"), 1u);
    // One that answers its probe stays.
    punt(arp(arp_op::request, kPeerMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(300);
    io->poll(360);
    ASSERT_EQ(arp_requests(sent()).size(), 1u);
    punt(arp(arp_op::reply, kPeerMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(361);
    io->poll(364);
    EXPECT_EQ(neighbors->lookup(kPeer4), kPeerMac);
}

TEST_F(ControlIoTest, RefusalsAreInShowStats)
{
    cp->set_extra_stats([this] { return io->stats(); });
    punt(arp(arp_op::reply, kEvilMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    io->poll(100);
    auto r = cp->run_command({"show", "stats"}, 100);
    ASSERT_TRUE(r.ok);
    for (const char* name : {"control_neighbor_refused_unsolicited", "control_neighbor_refused_static",
                             "control_neighbor_refused_gateway", "control_neighbor_refused_full", "control_neighbor_evicted",
                             "control_neighbor_expired", "control_neighbor_invalid"})
        EXPECT_NE(r.body.find(name), std::string::npos) << name << " missing from show stats:\n" << r.body;
    cp->set_extra_stats({});
}

// Issue 10 (punt classes): the priority ring is drained first every turn, the bulk ring after it and
// only up to its budget, so that a backlog of bulk never delays a priority packet by more than a turn.
TEST_F(ControlIoTest, PriorityPuntsFirstEveryTurnThenBulkWithinItsBudget)
{
    std::vector<rte_mbuf*> prio, bulk;
    auto fill = [&](rte_ring* r, std::vector<rte_mbuf*>& all, unsigned n) {
        for (unsigned i = 0; i < n; ++i) {
            rte_mbuf* m = rte_pktmbuf_alloc(pool);
            ASSERT_TRUE(m);
            all.push_back(m);
            ASSERT_EQ(rte_ring_enqueue(r, m), 0);
        }
    };
    fill(bulk_ring, bulk, 300);
    fill(punt_ring, prio, 10);
    std::vector<std::pair<rte_mbuf*, bool>> seen;
    auto record = [&](rte_mbuf* m, bool is_prio) {
        seen.emplace_back(m, is_prio);
        rte_pktmbuf_free(m);
    };
    const dp::PuntDrainLimits limits{100, 64};
    auto d = dp::drain_punts(punt_ring, bulk_ring, limits, record);
    EXPECT_EQ(d.priority, 10u);
    EXPECT_EQ(d.bulk, 64u);
    ASSERT_EQ(seen.size(), 74u);
    for (unsigned i = 0; i < 10; ++i) EXPECT_EQ(seen[i], std::pair(prio[i], true)) << i;
    for (unsigned i = 0; i < 64; ++i) EXPECT_EQ(seen[10 + i], std::pair(bulk[i], false)) << i;
    EXPECT_EQ(rte_ring_count(bulk_ring), 300u - 64u);
    // Priority packets that arrive behind a bulk backlog go first on the next turn.
    seen.clear();
    fill(punt_ring, prio, 5);
    d = dp::drain_punts(punt_ring, bulk_ring, limits, record);
    EXPECT_EQ(d.priority, 5u);
    EXPECT_EQ(d.bulk, 64u);
    for (unsigned i = 0; i < 5; ++i) EXPECT_EQ(seen[i], std::pair(prio[10 + i], true)) << i;
    EXPECT_EQ(seen[5].first, bulk[64]);
    // A priority flood is bounded per turn too, and bulk still gets its budget.
    seen.clear();
    fill(punt_ring, prio, 150);
    d = dp::drain_punts(punt_ring, bulk_ring, limits, record);
    EXPECT_EQ(d.priority, 100u);
    EXPECT_EQ(d.bulk, 64u);
    EXPECT_EQ(rte_ring_count(punt_ring), 50u);
    d = dp::drain_punts(punt_ring, nullptr, limits, record);
    EXPECT_EQ(d.priority, 50u);
    EXPECT_EQ(d.bulk, 0u);
}

TEST_F(ControlIoTest, WhatEachPuntClassDeliveredIsCounted)
{
    make_io(false);
    cp->set_extra_stats([this] { return io->stats(); });
    for (int i = 0; i < 3; ++i) punt(arp(arp_op::request, kPeerMac, kPeer4, kHa4), dp::PuntKind::arp, kAccessPort);
    const std::vector<uint8_t> junk(60, 0x42); // not even IPv6: the control plane drops it
    for (int i = 0; i < 100; ++i) punt(junk, dp::PuntKind::signaling, kHomePort, TunnelMethod::ipv6, {}, bulk_ring);
    EXPECT_EQ(io->poll(100), 3u + 64u);
    EXPECT_EQ(stat("control_punt_priority"), 3u);
    EXPECT_EQ(stat("control_punt_bulk"), 64u);
    EXPECT_EQ(neighbors->lookup(kPeer4), kPeerMac);
    io->poll(100);
    EXPECT_EQ(stat("control_punt_bulk"), 100u);
    auto r = cp->run_command({"show", "stats"}, 100);
    EXPECT_NE(r.body.find("control_punt_bulk"), std::string::npos);
    cp->set_extra_stats({});
}

// RFC 6275 10.4.1, RFC 3963 6.2, RFC 4861 7.2.6: an accepted home registration is announced to the home
// link with unsolicited NAs: to all-nodes, hop limit 255, Override set, Solicited clear, Router for a
// mobile router, the home agent's MAC as the target link-layer address; three of them, 1 s apart.
TEST_F(ControlIoTest, UnsolicitedProxyNeighborAdvertisementsThreeTimesOneSecondApart)
{
    for (const bool router : {true, false}) {
        SCOPED_TRACE(router ? "mobile router" : "mobile host");
        make_io(false, 60, /*link_local=*/!router);
        const Ipv6Addr src = router ? kHa6 : *Ipv6Addr::parse("fe80::1");
        io->queue_announcement(control::NdAnnounce{kHoa, router}, 5000);
        std::vector<uint64_t> at;
        std::vector<Sent> frames;
        for (uint64_t ms : {5000, 5400, 5999, 6000, 6500, 6999, 7000, 8000, 9000, 20000}) {
            for (auto& f : sent()) {
                ADD_FAILURE() << "sent between turns";
                (void)f;
            }
            io->poll(ms / 1000, ms);
            for (auto& f : sent()) {
                auto eth = parse_ether(f.bytes);
                if (!eth || eth->ethertype != ethertype::ipv6 || f.bytes.size() < 14 + 40 + 1 || f.bytes[14 + 40] != 136) continue;
                at.push_back(ms);
                frames.push_back(std::move(f));
            }
        }
        EXPECT_EQ(at, (std::vector<uint64_t>{5000, 6000, 7000}));
        for (const auto& f : frames) {
            const auto& b = f.bytes;
            EXPECT_EQ(f.port, kHomePort);
            ASSERT_EQ(b.size(), 14u + 40u + 32u);
            // Ethernet: to 33:33:00:00:00:01 (RFC 2464 7), from the home port.
            EXPECT_EQ(MacAddr::from_bytes(b.data()), *MacAddr::parse("33:33:00:00:00:01"));
            EXPECT_EQ(MacAddr::from_bytes(b.data() + 6), kHomeMac);
            EXPECT_EQ((b[12] << 8) | b[13], 0x86DD);
            // IPv6: payload 32, ICMPv6, hop limit 255, from the HA, to ff02::1.
            EXPECT_EQ(b[14] >> 4, 6);
            EXPECT_EQ((b[18] << 8) | b[19], 32);
            EXPECT_EQ(b[20], 58);
            EXPECT_EQ(b[21], 255);
            EXPECT_EQ(Ipv6Addr::from_bytes(b.data() + 22), src);
            EXPECT_EQ(Ipv6Addr::from_bytes(b.data() + 38), *Ipv6Addr::parse("ff02::1"));
            // NA: type 136 code 0, R per the binding, S clear, O set; target the home address; option
            // 2 (target link-layer address), length 1, the home port's MAC.
            const uint8_t* na = b.data() + 54;
            EXPECT_EQ(na[0], 136);
            EXPECT_EQ(na[1], 0);
            EXPECT_EQ(na[4], router ? 0xA0 : 0x20);
            EXPECT_EQ(Ipv6Addr::from_bytes(na + 8), kHoa);
            EXPECT_EQ(na[24], 2);
            EXPECT_EQ(na[25], 1);
            EXPECT_EQ(MacAddr::from_bytes(na + 26), kHomeMac);
            auto ip = parse_ipv6(std::span<const uint8_t>(b).subspan(14));
            ASSERT_TRUE(ip);
            auto icmp = parse_icmpv6(ip->payload);
            ASSERT_TRUE(icmp);
            EXPECT_TRUE(icmpv6_checksum_ok(*icmp, ip->hdr.src, ip->hdr.dst));
        }
        EXPECT_EQ(stat("control_na_unsolicited_sent"), 3u);
    }
}

TEST_F(ControlIoTest, ARegistrationAnnouncedAgainStartsItsThreeAgain)
{
    make_io(false);
    io->queue_announcement({kHoa, true}, 1000);
    io->poll(1, 1000);
    io->poll(2, 2000);
    EXPECT_EQ(sent().size(), 2u);
    io->queue_announcement({kHoa, true}, 2500);
    unsigned n = 0;
    for (uint64_t ms = 2500; ms <= 10000; ms += 250) {
        io->poll(ms / 1000, ms);
        n += static_cast<unsigned>(sent().size());
    }
    EXPECT_EQ(n, 3u);
    EXPECT_EQ(stat("control_na_unsolicited_sent"), 5u);
}

// A backend whose commits wait at a gate the test opens: it decides when a change is durable.
class GatedBackend : public control::StateBackend {
public:
    explicit GatedBackend(std::unique_ptr<control::StateBackend> real) : real_(std::move(real)) {}
    std::optional<CommitError> commit(const control::StateBatch& b) override
    {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return open_; });
        return real_->commit(b);
    }
    void open()
    {
        std::lock_guard lk(mu_);
        open_ = true;
        cv_.notify_all();
    }
    uint64_t size_bytes() const override { return real_->size_bytes(); }
    const std::string& path() const override { return real_->path(); }
    const char* name() const override { return "gated"; }

private:
    std::unique_ptr<control::StateBackend> real_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = false;
};

// The BAs among what was sent: IPv4 protocol 41 to `coa` (the BA goes back through the tunnel).
std::size_t tunneled_to(const std::vector<Sent>& frames, Ipv4Addr coa)
{
    std::size_t n = 0;
    for (const auto& s : frames) {
        auto eth = parse_ether(s.bytes);
        if (!eth || eth->ethertype != ethertype::ipv4) continue;
        auto ip = parse_ipv4(eth->payload);
        if (ip && ip->hdr.dst == coa && ip->hdr.protocol == ipproto::ipv6) ++n;
    }
    return n;
}

void ControlIoTest::start_over_gated_store(const char* neighbors_name)
{
    io.reset();
    neighbors.reset();
    cp.reset();
    char tmpl[] = "/tmp/nemo-cio-state-XXXXXX";
    ASSERT_TRUE(::mkdtemp(tmpl));
    state_dir = tmpl;
    std::string err;
    control::StateImage im;
    auto real = control::open_rocksdb_state(state_dir, false, &im, &err);
    ASSERT_TRUE(real) << err;
    auto gated = std::make_unique<GatedBackend>(std::move(real));
    gate = gated.get();
    const std::string text = "[ha]\nipv6 = 2001:db8:1::1\nipv4 = 192.0.2.1\nhome_prefix = 2001:db8:1::/64\n"
                             "allow_unprotected_signaling = yes\nbinding_capacity = 128\n"
                             "[cli]\nsocket = /tmp/nemo-cio-unused.sock\n"
                             "[provisioning]\nmr = 2001:db8:1::100 router prefixes=2001:db8:aaaa::/48,2001:db8:bbbb:1::/64\n";
    auto cfg = control::parse_config_text(text, "cio-state.ini");
    ASSERT_TRUE(std::holds_alternative<control::Config>(cfg));
    cp = control::ControlPlane::create(std::get<control::Config>(cfg), &err,
                                       std::make_unique<control::StateStore>(std::move(gated)), &im);
    ASSERT_TRUE(cp) << err;
    neighbors = dp::Neighbors::create(neighbors_name, 16, &err, cp->tables().rcu());
    ASSERT_TRUE(neighbors) << err;
    make_io(false);
}

void ControlIoTest::open_gate_and_wait_durable()
{
    gate->open();
    control::StateStore* st = cp->store();
    ASSERT_TRUE(st);
    const uint64_t flushed = st->staged_batch() - 1;
    for (int i = 0; i < 400 && cp->state_durable() < flushed; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_GE(cp->state_durable(), flushed);
}

// A BA that accepts a binding leaves only once the state store has made the change durable: a router
// never hears of a binding a crash could still lose.
TEST_F(ControlIoTest, TheBaOfARegistrationLeavesOnlyOnceItsChangeIsDurable)
{
    ASSERT_NO_FATAL_FAILURE(start_over_gated_store("cio-state"));

    const auto& pkt = scapy_packet("bu_v4coa_ipip");
    auto v4 = parse_ipv4(pkt);
    ASSERT_TRUE(v4);
    punt({v4->payload.begin(), v4->payload.end()}, dp::PuntKind::signaling, kAccessPort, TunnelMethod::ipip, v4->hdr.src);
    io->poll(100, 1000);
    cp->poll(100); // the turn ends: its batch goes to the writer, which waits at the gate
    EXPECT_TRUE(cp->cache().find(*Ipv6Addr::parse("2001:db8:1::100"))) << "the binding is made at once";
    io->poll(100, 1100);
    EXPECT_EQ(tunneled_to(sent(), v4->hdr.src), 0u) << "a BA left before its change was durable";
    EXPECT_EQ(stat("control_ba_held"), 1u);

    ASSERT_NO_FATAL_FAILURE(open_gate_and_wait_durable());
    io->poll(100, 1200);
    EXPECT_EQ(tunneled_to(sent(), v4->hdr.src), 1u);
    EXPECT_EQ(stat("control_ba_withheld"), 0u);
    io.reset();
    cp.reset();
    std::filesystem::remove_all(state_dir);
}

// One whose change is not durable within ControlIo::kHoldMaxMs is dropped, and counted.
TEST_F(ControlIoTest, ABaWhoseChangeStaysUndurableIsDroppedAndCounted)
{
    ASSERT_NO_FATAL_FAILURE(start_over_gated_store("cio-state2"));
    const auto& pkt = scapy_packet("bu_v4coa_ipip");
    auto v4 = parse_ipv4(pkt);
    ASSERT_TRUE(v4);
    punt({v4->payload.begin(), v4->payload.end()}, dp::PuntKind::signaling, kAccessPort, TunnelMethod::ipip, v4->hdr.src);
    io->poll(100, 1000);
    cp->poll(100);
    io->poll(100, 1000 + dp::ControlIo::kHoldMaxMs - 1);
    EXPECT_EQ(stat("control_ba_withheld"), 0u);
    io->poll(100, 1000 + dp::ControlIo::kHoldMaxMs);
    EXPECT_EQ(stat("control_ba_withheld"), 1u);
    ASSERT_NO_FATAL_FAILURE(open_gate_and_wait_durable());
    io->poll(100, 3000);
    EXPECT_EQ(tunneled_to(sent(), v4->hdr.src), 0u) << "the dropped BA came back";
    io.reset();
    cp.reset();
    std::filesystem::remove_all(state_dir);
}

} // namespace
