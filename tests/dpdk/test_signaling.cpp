// The signaling endpoint end to end inside the control plane: packets (scapy's, and our own builders')
// in; binding cache, fast-path tables, counters and reply packets out.
#include "../common/addresses.hpp"
#include <gtest/gtest.h>

#include <variant>

#include "../unit/fixtures.hpp"
#include "config.hpp"
#include "control_plane.hpp"
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
    // A BU built by our own builder as a mobile node sends it: tunneled from IPv4 (HoA -> HA, no Home
    // Address option) when `via` is an IPv4 method, else native from `coa6` with a Home Address option.
    std::vector<Outbound> punt_bu(const BindingUpdate& bu, const Ipv6Addr& hoa, uint64_t now,
                                  TunnelMethod via = TunnelMethod::ipip, Ipv4Addr outer = kCoa4,
                                  const Ipv6Addr& coa6 = kCoa6)
    {
        std::vector<uint8_t> pkt(1280);
        const bool native = via == TunnelMethod::ipv6;
        const std::size_t ext = native ? kHaoDestOptsLen : 0;
        auto mh = build_binding_update(std::span(pkt).subspan(kIpv6HeaderLen + ext), bu, hoa, kHa6, params.option_types);
        EXPECT_TRUE(mh);
        if (native) write_hao_dest_opts(pkt.data() + kIpv6HeaderLen, ipproto::mobility, hoa);
        write_ipv6_header(pkt.data(), Ipv6Header{0, 0, static_cast<uint16_t>(ext + *mh),
                                                 native ? ipproto::dest_opts : ipproto::mobility, 64,
                                                 native ? coa6 : hoa, kHa6});
        pkt.resize(kIpv6HeaderLen + ext + *mh);
        Punted p;
        p.ipv6 = pkt;
        p.via = via;
        if (!native) p.outer_src = outer;
        std::vector<Outbound> out;
        endpoint->handle(p, now, out);
        return out;
    }
    // A home registration BU: H and A, R for a router, `lifetime` in 4-second units.
    static BindingUpdate home_bu(uint16_t seq, uint16_t lifetime, bool router, bool v4coa = true)
    {
        BindingUpdate bu;
        bu.seq = seq;
        bu.flags = bu_flag::A | bu_flag::H | (router ? bu_flag::R : 0);
        bu.lifetime = lifetime;
        if (v4coa) bu.options.ipv4_coa = Ipv4CoaOption{v4flag::I, 0, kCoa4};
        return bu;
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

// A long lifetime registered before a short one, both before the control loop's first expiry turn (a
// restart under load): the short one must still expire on time (RFC 6275 10.3.1: the binding lives for the
// lifetime granted, no longer).
TEST_F(SignalingTest, ShortLifetimeAfterALongOneExpiresOnTime)
{
    const Ipv6Addr host = *Ipv6Addr::parse("2001:db8:1::200");
    provision("2001:db8:1::200 host");
    ASSERT_EQ(ba_of(punt_bu(home_bu(1, 900, true), kHoa, 100)[0]).status, 0); // 3600 s
    ASSERT_EQ(ba_of(punt_bu(home_bu(1, 10, false, false), host, 100, TunnelMethod::ipv6)[0]).status, 0); // 40 s
    ASSERT_EQ(cache->find(host)->binding.expires, 140u);
    EXPECT_TRUE(cache->expire(139).empty());
    auto gone = cache->expire(140);
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0].hoa, host);
    EXPECT_FALSE(cache->find(host));
    EXPECT_TRUE(cache->find(kHoa));
    EXPECT_EQ(cache->expire(3700).size(), 1u);
    EXPECT_FALSE(cache->find(kHoa));
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

// A cluster (README, "A cluster on etcd"): the other live instances' addresses follow this one's own,
// each once, IPv4 ones only for an I request.
TEST_F(SignalingTest, DhaadListsTheClustersOtherInstancesAfterItself)
{
    const Ipv6Addr peer6 = *Ipv6Addr::parse("2001:db8:1::2");
    const Ipv4Addr peer4 = *Ipv4Addr::parse("198.51.100.2");
    endpoint->set_peer_addresses({peer6, kHa6}, {peer4, kHa4});
    auto out = punt_v6(nemo::test::scapy_packet("dhaad_request"));
    ASSERT_EQ(out.size(), 1u);
    auto ip = parse_ipv6_packet(out[0].ipv6);
    auto icmp = parse_icmpv6(ip->upper);
    auto rep = parse_dhaad_reply(*icmp);
    ASSERT_TRUE(rep);
    ASSERT_EQ(rep->count, 4);
    EXPECT_EQ(rep->list()[0], kHa6);
    EXPECT_EQ(rep->list()[1], peer6);
    EXPECT_EQ(rep->list()[2], Ipv6Addr::v4_mapped(kHa4));
    EXPECT_EQ(rep->list()[3], Ipv6Addr::v4_mapped(peer4));
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

// Draft 4.2: a BU with the IPv4 CoA option always arrives IPv4-encapsulated. Sent natively it is refused
// with 145 and no tunnel is made towards the address it names.
TEST_F(SignalingTest, Draft4_2_NativeBuWithIpv4CoaOptionRefused145)
{
    auto out = punt_bu(home_bu(5, 100, true), kHoa, 100, TunnelMethod::ipv6);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].via, TunnelMethod::ipv6);
    EXPECT_EQ(ba_of(out[0]).status, 145);
    EXPECT_FALSE(cache->find(kHoa));
    EXPECT_FALSE(tables->lookup_downstream(*Ipv6Addr::parse("2001:db8:aaaa::99")));
    EXPECT_EQ(stats.get(Counter::status_invalid_coa), 1u);
}

// RFC 6275 9.5.1: H clear against the existing home binding is 139, and the binding stays.
TEST_F(SignalingTest, Rfc6275_9_5_1_HClearAgainstHomeBinding139)
{
    ASSERT_EQ(ba_of(punt_bu(home_bu(1, 100, true), kHoa, 100)[0]).status, 0);
    BindingUpdate bu = home_bu(2, 100, true);
    bu.flags = bu_flag::A | bu_flag::R;
    EXPECT_EQ(ba_of(punt_bu(bu, kHoa, 101)[0]).status, 139);
    EXPECT_EQ(stats.get(Counter::status_139), 1u);
    ASSERT_TRUE(cache->find(kHoa));
    EXPECT_EQ(cache->find(kHoa)->binding.seq, 1);
}

// RFC 3963 6.2: a prefix the home agent cannot set up forwarding for is refused with 141. Each prefix
// length costs a whole table, so a BU that would need one beyond ha.max_prefix_lengths is such a prefix.
TEST_F(SignalingTest, Rfc3963_6_2_PrefixLengthBeyondTheBoundRefused141)
{
    // Rebuild the tables with a bound of 2 lengths (the fixture's are made with the default).
    std::string err;
    dp::BindingTables::Params tp;
    tp.name = "sig" + std::to_string(instance++);
    tp.capacity = 64;
    tp.max_prefix_lengths = 2;
    endpoint.reset();
    cache.reset();
    tables = dp::BindingTables::create(tp, &err);
    ASSERT_TRUE(tables) << err;
    cache = std::make_unique<BindingCache>(*tables);
    endpoint = std::make_unique<SignalingEndpoint>(params, provisioning, *cache, stats);

    // Any sub-prefix of a provisioned prefix is authorized: /48 and /64 make two tables.
    BindingUpdate bu = home_bu(1, 100, true);
    bu.options.add_prefix(*Prefix6::parse("2001:db8:aaaa::/48"));
    bu.options.add_prefix(*Prefix6::parse("2001:db8:bbbb:1::/64"));
    ASSERT_EQ(ba_of(punt_bu(bu, kHoa, 100)[0]).status, 0);
    EXPECT_EQ(tables->prefix_tables(), 2u);
    EXPECT_EQ(stats.get(Counter::prefix_tables), 2u);
    EXPECT_EQ(stats.get(Counter::prefix_table_bytes), tables->prefix_table_bytes());
    EXPECT_GT(stats.get(Counter::prefix_table_bytes), 0u);

    // A third length (a /56 inside the provisioned /48) is refused, and the binding keeps what it had.
    BindingUpdate third = home_bu(2, 100, true);
    third.options.add_prefix(*Prefix6::parse("2001:db8:aaaa::/48"));
    third.options.add_prefix(*Prefix6::parse("2001:db8:aaaa:100::/56"));
    auto ba = ba_of(punt_bu(third, kHoa, 101)[0]);
    EXPECT_EQ(ba.status, 141);
    EXPECT_FALSE(ba.has(ba_flag::R));
    EXPECT_EQ(stats.get(Counter::prefix_lengths_refused), 1u);
    EXPECT_EQ(stats.get(Counter::status_141), 1u);
    EXPECT_EQ(tables->prefix_tables(), 2u) << "no table made for the refused length";
    EXPECT_EQ(cache->find(kHoa)->binding.prefixes.size(), 2u);
    EXPECT_TRUE(tables->lookup_downstream(*Ipv6Addr::parse("2001:db8:bbbb:1::9")));

    // Once the /64 is given up, its table goes (after the grace period) and the /56 fits.
    BindingUpdate only48 = home_bu(3, 100, true);
    only48.options.add_prefix(*Prefix6::parse("2001:db8:aaaa::/48"));
    ASSERT_EQ(ba_of(punt_bu(only48, kHoa, 102)[0]).status, 0);
    tables->reclaim();
    endpoint->update_table_gauges();
    EXPECT_EQ(tables->prefix_tables(), 1u);
    EXPECT_EQ(stats.get(Counter::prefix_tables), 1u);
    third.seq = 4;
    EXPECT_EQ(ba_of(punt_bu(third, kHoa, 103)[0]).status, 0);
    EXPECT_EQ(tables->prefix_tables(), 2u);
}

// RFC 4443 2.4 (f), RFC 6275 9.3.3: error replies to sources without a binding are rate limited, so a
// flood of bad Mobility Headers from spoofed sources gets at most ha.error_replies_per_second back.
TEST_F(SignalingTest, Rfc4443_2_4f_ErrorRepliesToUnboundSourcesRateLimited)
{
    params.error_replies_per_second = 10;
    // Unknown MH type (Binding Error), bad Payload Proto (Parameter Problem), unprovisioned BU (BA 133).
    auto mh_packet = [](const Ipv6Addr& src, std::vector<uint8_t> mh) {
        uint16_t c = mh_checksum(mh, src, kHa6);
        mh[4] = static_cast<uint8_t>(c >> 8);
        mh[5] = static_cast<uint8_t>(c);
        std::vector<uint8_t> pkt(40);
        write_ipv6_header(pkt.data(), Ipv6Header{0, 0, static_cast<uint16_t>(mh.size()), ipproto::mobility, 64, src, kHa6});
        pkt.insert(pkt.end(), mh.begin(), mh.end());
        return pkt;
    };
    std::size_t replies = 0;
    for (uint32_t i = 0; i < 300; ++i) {
        Ipv6Addr src = *Ipv6Addr::parse("2001:db8:1::5000");
        src.bytes[14] = static_cast<uint8_t>(i >> 8);
        src.bytes[15] = static_cast<uint8_t>(i);
        std::vector<uint8_t> pkt;
        if (i % 3 == 0) pkt = mh_packet(src, {59, 0, 42, 0, 0, 0, 0, 0});
        if (i % 3 == 1) pkt = mh_packet(src, {6, 1, 5, 0, 0, 0, 0, 1, 0xC0, 0, 0, 10, 1, 2, 0, 0});
        if (i % 3 != 2) {
            replies += punt_v6(pkt, 500).size();
        } else {
            // Native from a care-of address, the home address in its option: not provisioned, 133.
            replies += punt_bu(home_bu(1, 100, false, false), src, 500, TunnelMethod::ipv6).size();
        }
    }
    EXPECT_EQ(replies, 10u) << "at most the limit in one second";
    EXPECT_EQ(stats.get(Counter::error_replies_suppressed), 290u);
    EXPECT_EQ(stats.get(Counter::binding_errors_sent) + stats.get(Counter::param_problems_sent) +
                  stats.get(Counter::bu_acks_sent),
              10u);
    EXPECT_EQ(stats.get(Counter::status_133), 100u) << "every refusal is still counted";
    // The next second has a new allowance.
    EXPECT_EQ(punt_v6(mh_packet(kCn, {59, 0, 42, 0, 0, 0, 0, 0}), 501).size(), 1u);

    // A binding's own care-of address is always answered: it is no reflector.
    ASSERT_EQ(ba_of(punt_bu(home_bu(1, 100, true), kHoa, 502)[0]).status, 0);
    params.error_replies_per_second = 0;
    BindingUpdate stale = home_bu(1, 100, true); // sequence number not newer: 135, not limited anyway
    EXPECT_EQ(punt_bu(stale, kHoa, 502).size(), 1u);
    // A Binding Error to the router's tunnel: the HoA's packet from its own care-of address.
    std::vector<uint8_t> be = mh_packet(kHoa, {59, 0, 42, 0, 0, 0, 0, 0});
    Punted p;
    p.ipv6 = be;
    p.via = TunnelMethod::ipip;
    p.outer_src = kCoa4;
    std::vector<Outbound> out;
    endpoint->handle(p, 502, out);
    EXPECT_EQ(out.size(), 1u);
    // The same from elsewhere (a spoofed home address) is not.
    p.outer_src = kNat4;
    out.clear();
    endpoint->handle(p, 502, out);
    EXPECT_TRUE(out.empty());
    // RFC 4443 2.4 (e.6): never to a source that names no single node, whatever the allowance.
    params.error_replies_per_second = 100;
    const auto suppressed = stats.get(Counter::error_replies_suppressed);
    for (const char* bad : {"ff02::1", "::"}) {
        EXPECT_TRUE(punt_v6(mh_packet(*Ipv6Addr::parse(bad), {59, 0, 42, 0, 0, 0, 0, 0}), 503).empty()) << bad;
        EXPECT_TRUE(punt_v6(mh_packet(*Ipv6Addr::parse(bad), {6, 1, 5, 0, 0, 0, 0, 1, 0xC0, 0, 0, 10, 1, 2, 0, 0}), 503).empty())
            << bad;
    }
    EXPECT_EQ(stats.get(Counter::error_replies_suppressed), suppressed + 4);
    EXPECT_EQ(punt_v6(mh_packet(kCn, {59, 0, 42, 0, 0, 0, 0, 0}), 503).size(), 1u) << "a unicast source still is";
}

// RFC 6275 10.4.1, RFC 3963 6.2 (NOTES.md rule 12): every accepted home registration, host or router,
// new or moved, is announced on the home link (Router bit for routers); a refresh from the same care-of
// address and a de-registration are not.
TEST_F(SignalingTest, Rfc6275_10_4_1_HomeRegistrationsAnnounced)
{
    const Ipv6Addr host = *Ipv6Addr::parse("2001:db8:1::200");
    provision("2001:db8:1::200 host");
    ASSERT_EQ(ba_of(punt_bu(home_bu(1, 100, true), kHoa, 100)[0]).status, 0);
    ASSERT_EQ(ba_of(punt_bu(home_bu(1, 100, false, false), host, 100, TunnelMethod::ipv6)[0]).status, 0);
    auto a = endpoint->take_registrations();
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].hoa, kHoa);
    EXPECT_TRUE(a[0].router);
    EXPECT_EQ(a[1].hoa, host);
    EXPECT_FALSE(a[1].router);
    EXPECT_TRUE(endpoint->take_registrations().empty()) << "taken means cleared";

    // Both are defended on the home link, the router with the Router bit.
    const dp::FastBinding* r = tables->lookup_downstream(kHoa);
    const dp::FastBinding* h = tables->lookup_downstream(host);
    ASSERT_TRUE(r && h);
    EXPECT_TRUE(r->proxy_nd);
    EXPECT_TRUE(r->router);
    EXPECT_TRUE(h->proxy_nd);
    EXPECT_FALSE(h->router);

    // A refresh from the same care-of address: nothing to announce.
    ASSERT_EQ(ba_of(punt_bu(home_bu(2, 100, true), kHoa, 110)[0]).status, 0);
    EXPECT_TRUE(endpoint->take_registrations().empty());
    // A move (another care-of address, another method): announced again.
    ASSERT_EQ(ba_of(punt_bu(home_bu(3, 100, true, false), kHoa, 120, TunnelMethod::ipv6)[0]).status, 0);
    a = endpoint->take_registrations();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_TRUE(a[0].router);
    // A rejected BU and a de-registration: nothing.
    EXPECT_EQ(ba_of(punt_bu(home_bu(3, 100, true, false), kHoa, 121, TunnelMethod::ipv6)[0]).status, 135);
    BindingUpdate dereg = home_bu(4, 0, true, false);
    EXPECT_EQ(ba_of(punt_bu(dereg, kHoa, 122, TunnelMethod::ipv6)[0]).status, 0);
    EXPECT_FALSE(cache->find(kHoa));
    EXPECT_TRUE(endpoint->take_registrations().empty());

    // Nobody taking them: the queue stops at its bound, and what it drops is counted.
    const std::size_t moves = SignalingEndpoint::kMaxQueuedRegistrations + 3;
    for (std::size_t i = 0; i < moves; ++i) {
        BindingUpdate bu = home_bu(static_cast<uint16_t>(10 + i), 100, true);
        const Ipv4Addr coa{0xC6336400u + static_cast<uint32_t>(i % 200)}; // each BU from another address
        bu.options.ipv4_coa->coa = coa;
        ASSERT_EQ(ba_of(punt_bu(bu, kHoa, 200, TunnelMethod::ipip, coa)[0]).status, 0);
    }
    EXPECT_EQ(endpoint->take_registrations().size(), SignalingEndpoint::kMaxQueuedRegistrations);
    EXPECT_EQ(stats.get(Counter::announcements_dropped), 3u);
}

// The control plane's side of RFC 6275 10.4.1 / RFC 3963 6.2: the data plane takes the announcements and
// sends each as an unsolicited NA to all-nodes. The two ha. keys of this work reach the tables and the
// endpoint from the configuration.
TEST(ControlPlaneSignaling, AnnouncementsAndConfiguredBounds)
{
    const std::string base = "[ha]\nipv6 = 2001:db8:1::1\nipv4 = 192.0.2.1\nhome_prefix = 2001:db8:1::/64\n"
                             "allow_unprotected_signaling = yes\nbinding_capacity = 64\n";
    for (const char* bad : {"max_prefix_lengths = 0\n", "max_prefix_lengths = 129\n", "error_replies_per_second = x\n"}) {
        auto cfg = parse_config_text(base + bad, "t.ini");
        ASSERT_TRUE(std::holds_alternative<std::string>(cfg)) << bad;
        EXPECT_NE(std::get<std::string>(cfg).find("t.ini:7: ha."), std::string::npos) << std::get<std::string>(cfg);
    }
    auto cfg = parse_config_text(base + "max_prefix_lengths = 1\nerror_replies_per_second = 0\n"
                                        "[provisioning]\nmr = 2001:db8:1::100 router prefixes=2001:db8:aaaa::/48\n"
                                        "mr = 2001:db8:1::200 host\n",
                                 "t.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(cfg)) << std::get<std::string>(cfg);
    EXPECT_EQ(std::get<Config>(cfg).max_prefix_lengths, 1u);
    EXPECT_NE(render_config(std::get<Config>(cfg)).find("max_prefix_lengths = 1\n"), std::string::npos);
    std::string err;
    auto cp = ControlPlane::create(std::get<Config>(cfg), &err);
    ASSERT_TRUE(cp) << err;

    auto bu_from = [&](const Ipv6Addr& hoa, uint16_t seq, bool router, std::optional<Prefix6> mnp) {
        BindingUpdate bu;
        bu.seq = seq;
        bu.flags = bu_flag::A | bu_flag::H | (router ? bu_flag::R : 0);
        bu.lifetime = 100;
        bu.options.ipv4_coa = Ipv4CoaOption{v4flag::I, 0, kCoa4};
        if (mnp) bu.options.add_prefix(*mnp);
        std::vector<uint8_t> pkt(1280);
        auto mh = build_binding_update(std::span(pkt).subspan(kIpv6HeaderLen), bu, hoa, kHa6);
        write_ipv6_header(pkt.data(), Ipv6Header{0, 0, static_cast<uint16_t>(*mh), ipproto::mobility, 64, hoa, kHa6});
        pkt.resize(kIpv6HeaderLen + *mh);
        Punted p;
        p.ipv6 = pkt;
        p.via = TunnelMethod::ipip;
        p.outer_src = kCoa4;
        std::vector<Outbound> out;
        cp->handle_signal(p, 100, out);
        EXPECT_EQ(out.size(), 1u);
        return out.empty() ? -1 : int(parse_binding_ack(*parse_mh(parse_ipv6_packet(out[0].ipv6)->upper))->status);
    };
    const Ipv6Addr host = *Ipv6Addr::parse("2001:db8:1::200");
    EXPECT_EQ(bu_from(kHoa, 1, true, *Prefix6::parse("2001:db8:aaaa::/48")), 0);
    EXPECT_EQ(bu_from(host, 1, false, std::nullopt), 0);
    auto a = cp->take_announcements();
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0].target, kHoa);
    EXPECT_TRUE(a[0].router) << "the BU had R: the NA sets the Router bit";
    EXPECT_EQ(a[1].target, host);
    EXPECT_FALSE(a[1].router);
    EXPECT_TRUE(cp->take_announcements().empty());

    // ha.max_prefix_lengths = 1: a second length is refused (141) and counted.
    EXPECT_EQ(bu_from(kHoa, 2, true, *Prefix6::parse("2001:db8:aaaa:1::/64")), 141);
    EXPECT_EQ(cp->stats().get(Counter::prefix_lengths_refused), 1u);
    cp->poll(100);
    EXPECT_EQ(cp->stats().get(Counter::prefix_tables), 1u);
    EXPECT_EQ(cp->stats().get(Counter::prefix_table_bytes), cp->tables().prefix_table_bytes());
    EXPECT_TRUE(cp->take_announcements().empty()) << "a refused BU announces nothing";
    // ha.error_replies_per_second = 0: an unprovisioned BU gets no 133 back.
    BindingUpdate bu;
    bu.seq = 1;
    bu.flags = bu_flag::A | bu_flag::H;
    bu.lifetime = 100;
    const Ipv6Addr stranger = *Ipv6Addr::parse("2001:db8:1::300");
    std::vector<uint8_t> pkt(1280);
    auto mh = build_binding_update(std::span(pkt).subspan(kIpv6HeaderLen + kHaoDestOptsLen), bu, stranger, kHa6);
    write_hao_dest_opts(pkt.data() + kIpv6HeaderLen, ipproto::mobility, stranger);
    write_ipv6_header(pkt.data(), Ipv6Header{0, 0, static_cast<uint16_t>(kHaoDestOptsLen + *mh), ipproto::dest_opts, 64, kCoa6, kHa6});
    pkt.resize(kIpv6HeaderLen + kHaoDestOptsLen + *mh);
    Punted p;
    p.ipv6 = pkt;
    std::vector<Outbound> out;
    cp->handle_signal(p, 100, out);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(cp->stats().get(Counter::status_133), 1u);
    EXPECT_EQ(cp->stats().get(Counter::error_replies_suppressed), 1u);
}
