// The signaling endpoint end to end inside the control plane: packets (scapy's, and our own builders')
// in; binding cache, fast-path tables, counters and reply packets out.
#include "../common/addresses.hpp"
#include <gtest/gtest.h>

#include <variant>

#include "../unit/fixtures.hpp"
#include "gre.hpp"
#include "icmpv6.hpp"
#include "ipv4.hpp"
#include "provision_text.hpp"
#include "proto.hpp"
#include "signaling.hpp"
#include "udp.hpp"

using namespace nemo;
using namespace nemo::wire;
using namespace nemo::test;
using namespace nemo::control;

namespace {

int instance = 0;

class SignalingTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        params.home_prefix = kHomePrefix;
        params.allow_unprotected_signaling = true; // no ESP yet: the lab setting
        params.ipv6_addresses = {kHa6};
        params.ipv4_addresses = {kHa4};
        std::string err;
        dp::BindingTables::Params tp;
        tp.name = "sig" + std::to_string(instance++);
        tp.capacity = 64;
        tables = dp::BindingTables::create(tp, &err);
        ASSERT_TRUE(tables) << err;
        cache = std::make_unique<BindingCache>(*tables);
        endpoint = std::make_unique<SignalingEndpoint>(params, provisioning, *cache, stats);
        provision("2001:db8:1::100 router prefixes=2001:db8:aaaa::/48,2001:db8:bbbb:1::/64");
    }
    void provision(const char* line)
    {
        auto r = parse_provision(line);
        ASSERT_TRUE(std::holds_alternative<MrProvision>(r));
        ASSERT_FALSE(provisioning.add(std::get<MrProvision>(r)));
    }
    // Hands a packet from the scapy fixtures to the endpoint as a worker would after decapsulating it.
    std::vector<Outbound> punt_v4(const std::string& fixture, TunnelMethod via, uint64_t now = 100)
    {
        const auto& pkt = nemo::test::scapy_packet(fixture);
        auto v4 = parse_ipv4(pkt);
        Punted p;
        p.via = via;
        p.outer_src = v4->hdr.src;
        std::span<const uint8_t> inner = v4->payload;
        if (via == TunnelMethod::udp) {
            auto u = parse_udp(inner);
            p.outer_src_port = u->src_port;
            inner = u->payload;
        } else if (via == TunnelMethod::gre) {
            inner = parse_gre(inner)->payload;
        }
        p.ipv6 = inner;
        std::vector<Outbound> out;
        endpoint->handle(p, now, out);
        return out;
    }
    std::vector<Outbound> punt_v6(std::span<const uint8_t> ipv6, uint64_t now = 100)
    {
        Punted p;
        p.ipv6 = ipv6;
        std::vector<Outbound> out;
        endpoint->handle(p, now, out);
        return out;
    }
    static BindingAck ba_of(const Outbound& o, Ipv6Packet* ip_out = nullptr)
    {
        auto ip = parse_ipv6_packet(o.ipv6);
        EXPECT_TRUE(ip);
        EXPECT_EQ(ip->upper_proto, ipproto::mobility);
        auto mh = parse_mh(ip->upper);
        EXPECT_TRUE(mh);
        EXPECT_TRUE(mh_checksum_ok(*mh, ip->checksum_src(), ip->checksum_dst()));
        auto ba = parse_binding_ack(*mh);
        EXPECT_TRUE(ba);
        if (ip_out) *ip_out = *ip;
        return *ba;
    }

    HaParams params;
    ProvisioningStore provisioning;
    Stats stats;
    std::unique_ptr<dp::BindingTables> tables;
    std::unique_ptr<BindingCache> cache;
    std::unique_ptr<SignalingEndpoint> endpoint;
};

} // namespace

TEST_F(SignalingTest, ScapyBuOverIpv4RegistersAndPublishes)
{
    auto out = punt_v4("bu_v4coa_ipip", TunnelMethod::ipip);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].via, TunnelMethod::ipip);
    EXPECT_EQ(out[0].v4_dst, kCoa4);
    Ipv6Packet ip;
    auto ba = ba_of(out[0], &ip);
    EXPECT_EQ(ip.hdr.src, kHa6);
    EXPECT_EQ(ip.hdr.dst, kHoa);
    EXPECT_EQ(ba.status, 0);
    EXPECT_EQ(ba.seq, 1000);
    EXPECT_TRUE(ba.has(ba_flag::R));
    ASSERT_TRUE(ba.options.ipv4_coa);
    EXPECT_EQ(ba.options.ipv4_coa->coa, kCoa4);

    const BindingEntry* e = cache->find(kHoa);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->binding.coa.method, TunnelMethod::ipip);
    EXPECT_EQ(e->binding.prefixes.size(), 2u);
    const dp::FastBinding* rec = tables->lookup_downstream(*Ipv6Addr::parse("2001:db8:aaaa::99"));
    ASSERT_TRUE(rec);
    EXPECT_EQ(rec->peer, kCoa4);
    EXPECT_EQ(tables->match_upstream(*Ipv6Addr::parse("2001:db8:bbbb:1::5"), TunnelMethod::ipip, kCoa4, 0), rec);
    EXPECT_EQ(stats.get(Counter::bus_received), 1u);
    EXPECT_EQ(stats.get(Counter::bus_accepted), 1u);
    EXPECT_EQ(stats.get(Counter::bindings_created), 1u);
    EXPECT_EQ(stats.get(Counter::v4_registrations), 1u);
    EXPECT_EQ(stats.get(Counter::bu_acks_sent), 1u);
    EXPECT_EQ(cache->summary().total, 1u);
    EXPECT_EQ(cache->summary().by_method[static_cast<int>(TunnelMethod::ipip)], 1u);
}

TEST_F(SignalingTest, NatUdpRegistrationAnsweredToObservedPort)
{
    auto out = punt_v4("bu_v4coa_udp_nat", TunnelMethod::udp);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].via, TunnelMethod::udp);
    EXPECT_EQ(out[0].v4_dst.str(), "203.0.113.7");
    EXPECT_EQ(out[0].v4_dst_port, 40000);
    EXPECT_EQ(ba_of(out[0]).status, 0);
    EXPECT_TRUE(cache->find(kHoa)->binding.coa.behind_nat);
    EXPECT_EQ(stats.get(Counter::v4_nat_registrations), 1u);
    EXPECT_TRUE(tables->match_upstream(kHoa, TunnelMethod::udp, *Ipv4Addr::parse("203.0.113.7"), 40000));
    EXPECT_FALSE(tables->match_upstream(kHoa, TunnelMethod::udp, kCoa4, 5555)) << "the option's address is not the far end";
}

TEST_F(SignalingTest, MethodNotEnabledCounted144)
{
    params.methods = method_bit(TunnelMethod::ipip) | method_bit(TunnelMethod::udp);
    auto out = punt_v4("bu_gre", TunnelMethod::gre);
    ASSERT_EQ(out.size(), 1u);
    auto ba = ba_of(out[0]);
    EXPECT_EQ(ba.status, 144);
    EXPECT_EQ(ba.options.ipv4_coa->flags, v4flag::I | v4flag::U);
    EXPECT_EQ(stats.get(Counter::status_tunnel), 1u);
    EXPECT_EQ(stats.get(Counter::mr_requests_denied), 1u);
    EXPECT_FALSE(cache->find(kHoa));
}

TEST_F(SignalingTest, BadChecksumDroppedAndCounted)
{
    auto out = punt_v6(nemo::test::scapy_packet("bu_bad_checksum"));
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(stats.get(Counter::drop_bad_checksum), 1u);
    EXPECT_EQ(stats.get(Counter::bus_received), 0u);
}

TEST_F(SignalingTest, PayloadProtoGetsParameterProblem)
{
    // A BU whose Payload Proto is 6: build it, fix its checksum, punt it.
    std::vector<uint8_t> pkt(40 + 16);
    std::vector<uint8_t> mh = {6, 1, 5, 0, 0, 0, 0, 1, 0xC0, 0, 0, 10, 1, 2, 0, 0};
    uint16_t c = mh_checksum(mh, kHoa, kHa6);
    mh[4] = static_cast<uint8_t>(c >> 8);
    mh[5] = static_cast<uint8_t>(c);
    write_ipv6_header(pkt.data(), Ipv6Header{0, 0, 16, ipproto::mobility, 64, kHoa, kHa6});
    std::copy(mh.begin(), mh.end(), pkt.begin() + 40);
    auto out = punt_v6(pkt);
    ASSERT_EQ(out.size(), 1u);
    auto ip = parse_ipv6_packet(out[0].ipv6);
    ASSERT_TRUE(ip);
    EXPECT_EQ(ip->hdr.dst, kHoa);
    auto icmp = parse_icmpv6(ip->upper);
    ASSERT_TRUE(icmp);
    EXPECT_TRUE(icmpv6_checksum_ok(*icmp, ip->hdr.src, ip->hdr.dst));
    auto e = parse_icmpv6_error(*icmp);
    EXPECT_EQ(e->type, icmp6::param_problem);
    EXPECT_EQ(e->param, 40u);
    EXPECT_EQ(e->invoking.size(), pkt.size());
    EXPECT_EQ(stats.get(Counter::param_problems_sent), 1u);
}

TEST_F(SignalingTest, UnknownMhTypeGetsBindingError)
{
    std::vector<uint8_t> pkt(40 + 8);
    std::vector<uint8_t> mh = {59, 0, 42, 0, 0, 0, 0, 0};
    uint16_t c = mh_checksum(mh, kHoa, kHa6);
    mh[4] = static_cast<uint8_t>(c >> 8);
    mh[5] = static_cast<uint8_t>(c);
    write_ipv6_header(pkt.data(), Ipv6Header{0, 0, 8, ipproto::mobility, 64, kHoa, kHa6});
    std::copy(mh.begin(), mh.end(), pkt.begin() + 40);
    auto out = punt_v6(pkt);
    ASSERT_EQ(out.size(), 1u);
    auto ip = parse_ipv6_packet(out[0].ipv6);
    auto be = parse_binding_error(*parse_mh(ip->upper));
    ASSERT_TRUE(be);
    EXPECT_EQ(be->status, 2);
    EXPECT_EQ(be->home_address, kHoa);
    EXPECT_EQ(stats.get(Counter::binding_errors_sent), 1u);
}

TEST_F(SignalingTest, ExpiryStopsForwarding)
{
    punt_v4("bu_v4coa_ipip", TunnelMethod::ipip, 100);
    ASSERT_TRUE(cache->find(kHoa));
    EXPECT_TRUE(cache->expire(699).empty());
    auto gone = cache->expire(700); // 100 + 600 s granted
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0].hoa, kHoa);
    EXPECT_FALSE(cache->find(kHoa));
    EXPECT_FALSE(tables->lookup_downstream(*Ipv6Addr::parse("2001:db8:aaaa::99")));
    EXPECT_FALSE(tables->match_upstream(kHoa, TunnelMethod::ipip, kCoa4, 0));
    EXPECT_EQ(cache->summary().total, 0u);
}

TEST_F(SignalingTest, RefreshMovesExpiryAndKeepsOneBinding)
{
    punt_v4("bu_v4coa_ipip", TunnelMethod::ipip, 100);
    // The same scapy packet again has the same sequence number: 135.
    auto out = punt_v4("bu_v4coa_ipip", TunnelMethod::ipip, 200);
    EXPECT_EQ(ba_of(out[0]).status, 135);
    EXPECT_EQ(stats.get(Counter::status_135), 1u);
    EXPECT_EQ(cache->find(kHoa)->binding.expires, 700u) << "a rejected BU changes nothing";
    EXPECT_EQ(cache->find(kHoa)->registrations, 1u);
    EXPECT_EQ(cache->find(kHoa)->rejections, 1u) << "but is counted against the binding";
    EXPECT_EQ(cache->find(kHoa)->last_status, 135);
}

TEST_F(SignalingTest, TablesRefusingABindingAnswer141)
{
    // Another binding already forwards 2001:db8:aaaa::/48 (an operator change the tables still hold).
    Binding other;
    other.hoa = *Ipv6Addr::parse("2001:db8:1::999");
    other.coa.method = TunnelMethod::ipip;
    other.coa.peer = *Ipv4Addr::parse("198.51.100.99");
    other.prefixes = {*Prefix6::parse("2001:db8:aaaa::/48")};
    std::string err;
    ASSERT_EQ(tables->publish(63, other, &err), dp::BindingTables::PublishError::none);
    auto out = punt_v4("bu_v4coa_ipip", TunnelMethod::ipip);
    auto ba = ba_of(out[0]);
    EXPECT_EQ(ba.status, 141);
    EXPECT_FALSE(ba.has(ba_flag::R));
    EXPECT_FALSE(cache->find(kHoa));
    EXPECT_EQ(stats.get(Counter::publish_failures), 1u);
    EXPECT_EQ(stats.get(Counter::status_141), 1u);
}

TEST_F(SignalingTest, DhaadWithIFlag)
{
    auto out = punt_v6(nemo::test::scapy_packet("dhaad_request"));
    ASSERT_EQ(out.size(), 1u);
    auto ip = parse_ipv6_packet(out[0].ipv6);
    auto icmp = parse_icmpv6(ip->upper);
    EXPECT_TRUE(icmpv6_checksum_ok(*icmp, ip->hdr.src, ip->hdr.dst));
    auto rep = parse_dhaad_reply(*icmp);
    ASSERT_TRUE(rep);
    EXPECT_EQ(rep->id, 0x1234);
    EXPECT_EQ(rep->flags, dhaad_flag::R | dhaad_flag::I);
    ASSERT_EQ(rep->count, 2);
    EXPECT_EQ(rep->list()[0], kHa6);
    EXPECT_EQ(rep->list()[1], Ipv6Addr::v4_mapped(kHa4));
    // Without an IPv4 address the HA stays silent to I requests (draft 6).
    params.ipv4_addresses.clear();
    EXPECT_TRUE(punt_v6(nemo::test::scapy_packet("dhaad_request")).empty());
    EXPECT_EQ(stats.get(Counter::dhaad_no_ipv4), 1u);
}

TEST_F(SignalingTest, MobilePrefixSolicitationAnswered)
{
    auto out = punt_v6(nemo::test::scapy_packet("mps"));
    ASSERT_EQ(out.size(), 1u);
    auto ip = parse_ipv6_packet(out[0].ipv6);
    EXPECT_EQ(ip->hdr.dst, kHoa);
    auto mpa = parse_mobile_prefix_advert(*parse_icmpv6(ip->upper));
    ASSERT_TRUE(mpa);
    EXPECT_EQ(mpa->id, 0x0102);
    ASSERT_EQ(mpa->count, 1);
    EXPECT_EQ(mpa->list()[0].prefix_len, 64);
    EXPECT_EQ(mpa->list()[0].prefix, params.home_prefix.addr);
    EXPECT_EQ(stats.get(Counter::mpa_sent), 1u);
}

TEST_F(SignalingTest, GarbageIsCountedNeverFatal)
{
    std::vector<uint8_t> junk = {0x60, 0, 0, 0, 0xFF, 0xFF};
    EXPECT_TRUE(punt_v6(junk).empty());
    EXPECT_EQ(stats.get(Counter::drop_not_ipv6), 1u);
    for (const auto& [name, bytes] : nemo::test::scapy_packets()) {
        for (std::size_t cut = 0; cut <= bytes.size(); cut += 3) (void)punt_v6(std::span(bytes).first(cut));
    }
    SUCCEED();
}
