// The worker's paths besides plain forwarding, on a ring port: ICMPv6 errors (Time Exceeded, Packet Too
// Big) and where they go, traffic from one mobile network to another, the bounds of decapsulation, the
// scope of what may be forwarded, VLAN tags, stale fragments, ESP dummy packets and the punt classes.
// Each test names the rule; each failed on the code before the rule was implemented.
#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bytes.hpp"
#include "esp.hpp"
#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "udp.hpp"
#include "worker_rig.hpp"

using namespace nemo;
using namespace nemo::test;
using namespace nemo::wire;

namespace {

const MacAddr kCnMac = *MacAddr::parse("02:00:00:00:00:c1");
const Ipv4Addr kCoaB = *Ipv4Addr::parse("198.51.100.20");
const Ipv6Addr kHoaB = *Ipv6Addr::parse("2001:db8:1::200");
const Ipv6Addr kHostB = *Ipv6Addr::parse("2001:db8:bbbb::7");
constexpr uint16_t kPortB = 6000;

std::vector<uint8_t> ipv6_packet(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t hop_limit, std::size_t payload = 32,
                                 uint8_t next = ipproto::no_next)
{
    std::vector<uint8_t> p(kIpv6HeaderLen + payload);
    write_ipv6_header(p.data(), Ipv6Header{0, 0, static_cast<uint16_t>(payload), next, hop_limit, src, dst});
    for (std::size_t i = 0; i < payload; ++i) p[kIpv6HeaderLen + i] = static_cast<uint8_t>(i);
    return p;
}

std::vector<uint8_t> ether(const MacAddr& src, uint16_t type, const std::vector<uint8_t>& l3, const MacAddr& dst = kHaMac)
{
    std::vector<uint8_t> f(kEtherHeaderLen);
    write_ether_header(f.data(), dst, src, type);
    f.insert(f.end(), l3.begin(), l3.end());
    return f;
}

// IPv6-in-IPv4 (I) from `coa` to the home agent.
std::vector<uint8_t> ipip(const Ipv4Addr& coa, const std::vector<uint8_t>& inner)
{
    std::vector<uint8_t> p(kIpv4MinHeaderLen);
    Ipv4Header h;
    h.total_len = static_cast<uint16_t>(kIpv4MinHeaderLen + inner.size());
    h.protocol = ipproto::ipv6;
    h.src = coa;
    h.dst = kHa4;
    write_ipv4_header(p.data(), h);
    p.insert(p.end(), inner.begin(), inner.end());
    return ether(kGwMac, ethertype::ipv4, p);
}

struct WorkerPaths : ::testing::Test {
    WorkerRig rig;

    void SetUp() override
    {
        static int instance = 0;
        name = "wp" + std::to_string(instance++);
        std::string err;
        ASSERT_TRUE(rig.init(name, &err)) << err;
        ASSERT_TRUE(rig.bind(TunnelMethod::ipip, &err)) << err;
        ASSERT_TRUE(rig.open_ring_port(name, &err)) << err;
        rig.neighbors->set(kCn, kCnMac, true);
    }
    void TearDown() override
    {
        rig.worker.reset();
        rig.release();
    }
    void start(const std::function<void(dp::WorkerConfig&)>& adjust = {})
    {
        rig.start_worker(rig.ring_port, nullptr, false, 64, adjust);
    }
    // Router B: home address kHoaB, prefix kMnpB, over UDP from kCoaB.
    void bind_b()
    {
        Binding b;
        b.hoa = kHoaB;
        b.coa.method = TunnelMethod::udp;
        b.coa.peer = kCoaB;
        b.coa.peer_port = kPortB;
        b.prefixes = {kMnpB};
        std::string err;
        ASSERT_EQ(rig.tables->publish(1, b, &err), dp::BindingTables::PublishError::none) << err;
    }
    void receive(const std::vector<uint8_t>& f) { ASSERT_TRUE(rig.receive(f.data(), f.size())); }
    std::vector<std::vector<uint8_t>> sent() { return rig.sent_frames(); }
    uint64_t counter(dp::DpCounter k) { return rig.counters.c[static_cast<std::size_t>(k)].load(); }
    uint64_t dropped(DropReason r) { return rig.counters.classify_drops[static_cast<std::size_t>(r)].load(); }
    std::string name;
};

// The ICMPv6 message in an IPv6 packet (no link header).
struct Icmp {
    Ipv6Header ip;
    Icmpv6Error err;
};
std::optional<Icmp> icmp_error(std::span<const uint8_t> ip6)
{
    auto ip = parse_ipv6(ip6);
    if (!ip || ip->hdr.next_header != ipproto::icmpv6) return std::nullopt;
    auto v = parse_icmpv6(ip->payload);
    if (!v || !icmpv6_checksum_ok(*v, ip->hdr.src, ip->hdr.dst)) return std::nullopt;
    auto e = parse_icmpv6_error(*v);
    if (!e) return std::nullopt;
    return Icmp{ip->hdr, *e};
}

// RFC 4443 3.3: a packet whose hop limit runs out at the home agent gets Time Exceeded, back where it
// came from: downstream, to the sender's MAC on the port it arrived on.
TEST_F(WorkerPaths, TimeExceededDownstreamRfc4443Section3_3)
{
    start();
    receive(ether(kGwMac, ethertype::ipv6, ipv6_packet(kCn, kHost, 1)));
    rig.worker->poll();
    auto out = sent();
    ASSERT_EQ(out.size(), 1u);
    auto eth = parse_ether(out[0]);
    ASSERT_TRUE(eth);
    EXPECT_EQ(eth->dst, kGwMac);
    auto e = icmp_error(std::span(out[0]).subspan(kEtherHeaderLen));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->err.type, icmp6::time_exceeded);
    EXPECT_EQ(e->err.code, 0);
    EXPECT_EQ(e->ip.src, kHa6);
    EXPECT_EQ(e->ip.dst, kCn);
    EXPECT_EQ(Ipv6Addr::from_bytes(e->err.invoking.data() + 24), kHost) << "carries the invoking packet";
    EXPECT_EQ(counter(dp::DpCounter::te_sent), 1u);
    EXPECT_EQ(dropped(DropReason::ttl_exceeded), 1u);
}

// The fast path keeps the gateway's MAC (and its header templates) from burst to burst while the
// neighbour table does not change: a new MAC for the gateway is used from the next burst on.
TEST_F(WorkerPaths, GatewayMacChangeTakesEffectOnTheNextBurst)
{
    start();
    const auto first_hop = [&](std::size_t expect) {
        receive(ether(kGwMac, ethertype::ipv6, ipv6_packet(kCn, kHost, 9)));
        rig.worker->poll();
        auto out = sent();
        EXPECT_EQ(out.size(), expect);
        std::optional<MacAddr> dst;
        if (!out.empty()) {
            auto eth = parse_ether(out[0]);
            if (eth && eth->ethertype == ethertype::ipv4) dst = eth->dst;
        }
        return dst;
    };
    EXPECT_EQ(first_hop(1), kGwMac);
    EXPECT_EQ(first_hop(1), kGwMac);
    const MacAddr moved = *MacAddr::parse("02:00:00:00:00:ab");
    rig.neighbors->set(kGw4, moved, true);
    EXPECT_EQ(first_hop(1), moved) << "the next burst after the change";
    EXPECT_EQ(first_hop(1), moved);
    rig.neighbors->set(kGw4, kGwMac, true);
    EXPECT_EQ(first_hop(1), kGwMac);
    EXPECT_EQ(counter(dp::DpCounter::no_neighbor), 0u);
}

// Upstream, the Time Exceeded goes back through the router's tunnel (IPv6-in-IPv4 to its care-of address).
TEST_F(WorkerPaths, TimeExceededUpstreamGoesBackThroughTheTunnel)
{
    start();
    receive(ipip(kCoa4, ipv6_packet(kHost, kCn, 1)));
    rig.worker->poll();
    auto out = sent();
    ASSERT_EQ(out.size(), 1u);
    auto v4 = parse_ipv4(std::span(out[0]).subspan(kEtherHeaderLen));
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->hdr.protocol, ipproto::ipv6);
    EXPECT_EQ(v4->hdr.dst, kCoa4);
    auto e = icmp_error(v4->payload);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->err.type, icmp6::time_exceeded);
    EXPECT_EQ(e->ip.dst, kHost);
    EXPECT_EQ(counter(dp::DpCounter::te_sent), 1u);
}

// Time Exceeded is rate limited like Packet Too Big (RFC 4443 2.4 (f)).
TEST_F(WorkerPaths, TimeExceededRateLimited)
{
    start([](dp::WorkerConfig& wc) { wc.ptb_per_second = 3; });
    for (int i = 0; i < 10; ++i) receive(ether(kGwMac, ethertype::ipv6, ipv6_packet(kCn, kHost, 1)));
    rig.worker->poll();
    EXPECT_EQ(sent().size(), 3u);
    EXPECT_EQ(counter(dp::DpCounter::te_sent), 3u);
    EXPECT_EQ(counter(dp::DpCounter::icmp_suppressed), 7u);
}

// Packet Too Big has its own bucket at the same rate: a Time Exceeded storm does not use it up.
TEST_F(WorkerPaths, PacketTooBigRateLimitedApartFromTimeExceeded)
{
    start([](dp::WorkerConfig& wc) { wc.ptb_per_second = 2; });
    for (int i = 0; i < 5; ++i) receive(ether(kGwMac, ethertype::ipv6, ipv6_packet(kCn, kHost, 1)));
    for (int i = 0; i < 5; ++i) receive(ether(kGwMac, ethertype::ipv6, ipv6_packet(kCn, kHost, 64, 1480)));
    rig.worker->poll();
    EXPECT_EQ(sent().size(), 4u);
    EXPECT_EQ(counter(dp::DpCounter::te_sent), 2u);
    EXPECT_EQ(counter(dp::DpCounter::ptb_sent), 2u);
    EXPECT_EQ(counter(dp::DpCounter::too_big), 5u);
    EXPECT_EQ(counter(dp::DpCounter::icmp_suppressed), 6u);
}

// RFC 4443 2.4 (e.6): no error to a source that names no single node; RFC 8201 4: a Packet Too Big never
// names less than 1280.
TEST_F(WorkerPaths, PacketTooBigNeverToMulticastNorBelow1280)
{
    start([](dp::WorkerConfig& wc) { wc.access.mtu = 1290; }); // I adds 20: 1270 is left for IPv6
    receive(ether(kGwMac, ethertype::ipv6, ipv6_packet(*Ipv6Addr::parse("ff0e::5"), kHost, 64, 1300)));
    receive(ether(kGwMac, ethertype::ipv6, ipv6_packet(kCn, kHost, 64, 1300)));
    rig.worker->poll();
    auto out = sent();
    ASSERT_EQ(out.size(), 1u) << "none to the multicast source";
    auto e = icmp_error(std::span(out[0]).subspan(kEtherHeaderLen));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->err.type, icmp6::packet_too_big);
    EXPECT_EQ(e->ip.dst, kCn);
    EXPECT_EQ(e->err.param, 1280u);
    EXPECT_EQ(counter(dp::DpCounter::too_big), 2u);
    EXPECT_EQ(counter(dp::DpCounter::icmp_suppressed), 1u);
}

// RFC 3963 6.5: traffic for a mobile network goes through its router's tunnel whatever its origin, also
// when it came up another router's tunnel; the hop limit is decremented once.
TEST_F(WorkerPaths, MobileNetworkToMobileNetworkRfc3963Section6_5)
{
    bind_b();
    start();
    const auto inner = ipv6_packet(kHost, kHostB, 9);
    receive(ipip(kCoa4, inner));
    rig.worker->poll();
    auto out = sent();
    ASSERT_EQ(out.size(), 1u);
    auto v4 = parse_ipv4(std::span(out[0]).subspan(kEtherHeaderLen));
    ASSERT_TRUE(v4) << "left native, not through B's tunnel";
    EXPECT_EQ(v4->hdr.dst, kCoaB);
    EXPECT_EQ(v4->hdr.protocol, ipproto::udp);
    auto u = parse_udp(v4->payload);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->dst_port, kPortB);
    ASSERT_EQ(u->payload.size(), inner.size());
    EXPECT_EQ(u->payload[7], 8) << "hop limit decremented once";
    EXPECT_TRUE(std::equal(inner.begin() + 8, inner.end(), u->payload.begin() + 8));
    EXPECT_EQ(counter(dp::DpCounter::mn_to_mn), 1u);
    EXPECT_EQ(rig.counters.encap[static_cast<std::size_t>(TunnelMethod::udp)].load(), 1u);
}

// The outer header's length bounds the inner packet: Ethernet padding after a short outer packet is not
// part of it. Here the inner header claims 8 bytes more than the outer packet holds; the frame's padding
// would supply them.
TEST_F(WorkerPaths, DecapsulationBoundedByTheOuterLength)
{
    start();
    auto inner = ipv6_packet(kHost, kCn, 9, 8);
    store_be16(inner.data() + 4, 16); // claims 16 bytes of payload, 8 are there
    auto f = ipip(kCoa4, inner);
    f.resize(f.size() + 8, 0xEE); // link padding
    receive(f);
    rig.worker->poll();
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(counter(dp::DpCounter::bad_inner), 1u);
}

// RFC 4291 2.5.6: link-local destinations are not forwarded; nor is a mobile node's multicast.
TEST_F(WorkerPaths, InnerLinkLocalAndMulticastNotForwarded)
{
    start();
    receive(ipip(kCoa4, ipv6_packet(kHost, *Ipv6Addr::parse("fe80::1"), 9)));
    receive(ipip(kCoa4, ipv6_packet(kHost, *Ipv6Addr::parse("ff05::2"), 9)));
    rig.worker->poll();
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(counter(dp::DpCounter::inner_scope), 2u);
}

// A reassembled packet larger than the home link's MTU is not sent (RFC 4443 3.2): Packet Too Big back
// through the tunnel.
TEST_F(WorkerPaths, ReassembledPacketCheckedAgainstHomeMtu)
{
    start([](dp::WorkerConfig& wc) { wc.home.mtu = 1300; });
    const auto inner = ipv6_packet(kHost, kCn, 9, 1400);
    // Two IPv4 fragments of the I tunnel.
    const std::size_t first = 720; // a multiple of 8
    for (int part = 0; part < 2; ++part) {
        const std::size_t off = part ? first : 0;
        const std::size_t len = part ? inner.size() - first : first;
        std::vector<uint8_t> p(kIpv4MinHeaderLen);
        Ipv4Header h;
        h.total_len = static_cast<uint16_t>(kIpv4MinHeaderLen + len);
        h.id = 77;
        h.frag = static_cast<uint16_t>((part ? 0 : kIpv4FlagMF) | (off / 8));
        h.protocol = ipproto::ipv6;
        h.src = kCoa4;
        h.dst = kHa4;
        write_ipv4_header(p.data(), h);
        p.insert(p.end(), inner.begin() + static_cast<std::ptrdiff_t>(off), inner.begin() + static_cast<std::ptrdiff_t>(off + len));
        receive(ether(kGwMac, ethertype::ipv4, p));
    }
    rig.worker->poll();
    auto out = sent();
    ASSERT_EQ(out.size(), 1u);
    auto v4 = parse_ipv4(std::span(out[0]).subspan(kEtherHeaderLen));
    ASSERT_TRUE(v4) << "the 1440-byte packet left on the 1300-byte home link";
    EXPECT_EQ(v4->hdr.dst, kCoa4);
    auto e = icmp_error(v4->payload);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->err.type, icmp6::packet_too_big);
    EXPECT_EQ(e->err.param, 1300u);
    EXPECT_EQ(counter(dp::DpCounter::reassembled), 1u);
}

// A fragment whose companions never come is given up on after the timeout even when nothing else
// arrives (rte_ip_frag_table_del_expired_entries): its mbuf goes back to the pool, counted.
TEST_F(WorkerPaths, StaleFragmentsExpire)
{
    start([](dp::WorkerConfig& wc) { wc.reassembly_timeout_ms = 20; });
    std::vector<uint8_t> p(kIpv4MinHeaderLen);
    Ipv4Header h;
    h.total_len = static_cast<uint16_t>(kIpv4MinHeaderLen + 64);
    h.id = 9;
    h.frag = kIpv4FlagMF;
    h.protocol = ipproto::ipv6;
    h.src = kCoa4;
    h.dst = kHa4;
    write_ipv4_header(p.data(), h);
    p.resize(p.size() + 64);
    const unsigned before = rte_mempool_avail_count(rig.pool);
    receive(ether(kGwMac, ethertype::ipv4, p));
    rig.worker->poll();
    EXPECT_EQ(rte_mempool_avail_count(rig.pool), before - 1) << "held for reassembly";
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    for (int i = 0; i < 2048; ++i) rig.worker->poll();
    EXPECT_EQ(counter(dp::DpCounter::frag_dropped), 1u);
    EXPECT_EQ(rte_mempool_avail_count(rig.pool), before);
}

// No port is configured for a VLAN: tagged frames are dropped and counted, not forwarded untagged nor
// answered tagged.
TEST_F(WorkerPaths, VlanTaggedFramesDroppedAndCounted)
{
    start();
    auto down = ether(kGwMac, ethertype::ipv6, ipv6_packet(kCn, kHost, 9));
    const uint8_t tag[4] = {0x81, 0x00, 0x00, 0x0A};
    down.insert(down.begin() + 12, tag, tag + 4); // 802.1Q, VLAN 10, then the IPv6 ethertype
    receive(down);
    rig.worker->poll();
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(dropped(DropReason::vlan_tagged), 1u);
}

// Punt classes: signaling to the home agent from unknown senders (the bulk class) is policed per worker;
// a refresh through the tunnel of the sender's own binding (the priority class) is not crowded out.
TEST_F(WorkerPaths, PuntBulkClassPolicedPriorityClassNot)
{
    rte_ring* bulk = rte_ring_create((name + "_bulk").c_str(), 256, 0, RING_F_SC_DEQ);
    ASSERT_TRUE(bulk);
    start([bulk](dp::WorkerConfig& wc) {
        wc.punt_bulk = bulk;
        wc.punt_bulk_per_second = 4;
    });
    const Ipv4Addr stranger = *Ipv4Addr::parse("198.51.100.99");
    for (int i = 0; i < 20; ++i)
        receive(ipip(stranger, ipv6_packet(*Ipv6Addr::parse("2001:db8:1::999"), kHa6, 64, 8, ipproto::mobility)));
    receive(ipip(kCoa4, ipv6_packet(kHoa, kHa6, 64, 8, ipproto::mobility))); // the router's own tunnel
    rig.worker->poll();
    EXPECT_EQ(rte_ring_count(bulk), 4u);
    EXPECT_EQ(rte_ring_count(rig.punt), 1u) << "the known sender's packet takes the priority ring";
    EXPECT_EQ(counter(dp::DpCounter::punt_policed_bulk), 16u);
    EXPECT_EQ(counter(dp::DpCounter::punted_bulk), 4u);
    EXPECT_EQ(counter(dp::DpCounter::punted), 5u);
    // The priority class has its own rate.
    EXPECT_EQ(counter(dp::DpCounter::punt_policed_priority), 0u);
    void* m;
    while (rte_ring_dequeue(bulk, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(bulk);
}

// Proxy ND for every home registration (NOTES.md rule 12): a mobile node's home address is defended with
// the Router bit clear (RFC 6275 10.4.1), a mobile router's with it set (RFC 3963 6.2).
TEST_F(WorkerPaths, ProxyNeighborAdvertisementRouterBitRfc3963Section6_2)
{
    for (bool router : {true, false}) {
        SCOPED_TRACE(router ? "mobile router" : "mobile node");
        Binding b;
        b.hoa = kHoaB;
        b.coa.method = TunnelMethod::ipip;
        b.coa.peer = kCoaB;
        b.mobile_router = router;
        b.proxy_nd = true;
        std::string err;
        ASSERT_EQ(rig.tables->publish(1, b, &err), dp::BindingTables::PublishError::none) << err;
        if (!rig.worker) start();
        const Ipv6Addr asker = *Ipv6Addr::parse("2001:db8:1::77");
        const Ipv6Addr solicited = *Ipv6Addr::parse("ff02::1:ff00:200");
        std::vector<uint8_t> ns(kIpv6HeaderLen + 32);
        auto len = build_neighbor_solicit({ns.data() + kIpv6HeaderLen, 32}, NeighborMessage{0, kHoaB, kCnMac}, asker, solicited);
        ASSERT_TRUE(len);
        ns.resize(kIpv6HeaderLen + *len);
        write_ipv6_header(ns.data(), Ipv6Header{0, 0, static_cast<uint16_t>(*len), ipproto::icmpv6, 255, asker, solicited});
        receive(ether(kCnMac, ethertype::ipv6, ns, MacAddr::ipv6_multicast(solicited)));
        rig.worker->poll();
        std::vector<std::vector<uint8_t>> nas;
        for (auto& f : sent())
            if (auto e = parse_ether(f); e && e->ethertype == ethertype::ipv6) nas.push_back(f);
        ASSERT_EQ(nas.size(), 1u);
        auto ip = parse_ipv6(std::span(nas[0]).subspan(kEtherHeaderLen));
        ASSERT_TRUE(ip);
        auto v = parse_icmpv6(ip->payload);
        ASSERT_TRUE(v);
        auto na = parse_neighbor_advert(*v);
        ASSERT_TRUE(na);
        EXPECT_EQ(na->target, kHoaB);
        EXPECT_EQ((na->flags & na_flag::R) != 0, router);
        EXPECT_NE(na->flags & na_flag::S, 0);
        ASSERT_TRUE(na->lladdr);
        EXPECT_EQ(*na->lladdr, kHaMac);
        void* m;
        while (rte_ring_dequeue(rig.punt, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m)); // learn copies
    }
}

} // namespace
