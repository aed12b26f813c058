// One test per rule of the Binding Update decision (NOTES.md, RFC 6275 9.5.1/10.3.1, RFC 3963 6,
// draft 4.3/7.2/7.3/7.5).
#include "../common/addresses.hpp"
#include <gtest/gtest.h>

#include "bu_decision.hpp"

using namespace nemo;
using namespace nemo::wire;
using namespace nemo::test;

namespace {


class BuDecisionTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        params.home_prefix = kHomePrefix;
        params.allow_unprotected_signaling = false;
        mr.hoa = kHoa;
        mr.mobile_router = true;
        mr.prefixes = {kMnpA, kMnpB};
    }

    // A v4 BU: I method, IPv4 CoA, one MNP, arrived over IPv6-in-IPv4 through the HoA's SA.
    BindingUpdate v4_bu(uint16_t flags = v4flag::I) const
    {
        BindingUpdate bu;
        bu.seq = 100;
        bu.flags = bu_flag::A | bu_flag::H | bu_flag::R;
        bu.lifetime = 150;
        bu.options.ipv4_coa = Ipv4CoaOption{flags, 0, kCoa4};
        bu.options.add_prefix(kMnpA);
        return bu;
    }
    BuArrival v4_arrival(TunnelMethod via = TunnelMethod::ipip, Ipv4Addr from = kCoa4, uint16_t sport = 0) const
    {
        BuArrival a;
        a.via = via;
        a.outer_src = from;
        a.outer_src_port = sport;
        a.src = kHoa;
        a.dst = kHa6;
        a.protected_by_hoa_sa = true;
        return a;
    }
    // A native IPv6 BU from kCoa6 with a Home Address option.
    BuArrival v6_arrival() const
    {
        BuArrival a;
        a.src = kCoa6;
        a.dst = kHa6;
        a.home_address_option = kHoa;
        a.protected_by_hoa_sa = true;
        return a;
    }
    BindingUpdate v6_bu() const
    {
        BindingUpdate bu;
        bu.seq = 100;
        bu.flags = bu_flag::A | bu_flag::H | bu_flag::R;
        bu.lifetime = 150;
        bu.options.add_prefix(kMnpA);
        return bu;
    }
    BuDecision decide(const BindingUpdate& bu, const BuArrival& a, const Binding* cur = nullptr, bool provisioned = true)
    {
        return decide_binding_update(bu, a, params, provisioned ? &mr : nullptr, cur, 1000);
    }
    Binding existing(uint16_t seq = 100, bool router = true)
    {
        auto d = decide(v4_bu(), v4_arrival());
        Binding b = d.binding;
        b.seq = seq;
        b.mobile_router = router;
        return b;
    }

    HaParams params;
    MrProvision mr;
};

} // namespace

TEST_F(BuDecisionTest, AcceptsIpv4CareOfRegistration)
{
    auto d = decide(v4_bu(), v4_arrival());
    EXPECT_EQ(d.outcome, BuOutcome::accepted);
    ASSERT_TRUE(d.send_ba);
    EXPECT_EQ(d.ba.status, 0);
    EXPECT_EQ(d.ba.seq, 100);
    EXPECT_TRUE(d.ba.has(ba_flag::R));
    EXPECT_EQ(d.ba.lifetime, 150);
    // draft 7.3: the received option is echoed.
    ASSERT_TRUE(d.ba.options.ipv4_coa);
    EXPECT_EQ(*d.ba.options.ipv4_coa, *v4_bu().options.ipv4_coa);
    EXPECT_EQ(d.change, BindingChangeKind::upsert);
    EXPECT_EQ(d.binding.hoa, kHoa);
    EXPECT_EQ(d.binding.coa.method, TunnelMethod::ipip);
    EXPECT_EQ(d.binding.coa.peer, kCoa4);
    EXPECT_FALSE(d.binding.coa.behind_nat);
    ASSERT_EQ(d.binding.prefixes.size(), 1u);
    EXPECT_EQ(d.binding.prefixes[0], kMnpA);
    EXPECT_EQ(d.binding.expires, 1000u + 600);
    EXPECT_TRUE(d.binding.mobile_router);
    EXPECT_TRUE(d.binding.proxy_nd) << "RFC 3963 6.2: a mobile router's home address is defended too";
    // The BA goes back the way the BU came: IPv6-in-IPv4 to the outer source, inner to the HoA.
    EXPECT_EQ(d.route.via, TunnelMethod::ipip);
    EXPECT_EQ(d.route.v4_dst, kCoa4);
    EXPECT_EQ(d.route.dst, kHoa);
    EXPECT_EQ(d.route.src, kHa6);
    EXPECT_FALSE(d.route.rh2_home_address);
}

TEST_F(BuDecisionTest, EveryMethodAndFlagCombination)
{
    params.methods = method_bit(TunnelMethod::ipip) | method_bit(TunnelMethod::gre) | method_bit(TunnelMethod::udp) |
                     method_bit(TunnelMethod::esp) | method_bit(TunnelMethod::esp_udp);
    struct Case {
        uint16_t flags;
        bool ok;
    } cases[] = {
        {v4flag::I, true},
        {v4flag::R, true},
        {v4flag::U, true},
        {v4flag::S, true},
        {v4flag::S | v4flag::U, true},
        {0, false},
        {v4flag::I | v4flag::R, false},
        {v4flag::I | v4flag::S, false},
        {v4flag::R | v4flag::U, false},
        {v4flag::I | v4flag::U, false},
        {v4flag::all, false},
    };
    for (const Case& c : cases) {
        auto bu = v4_bu(c.flags);
        bu.options.ipv4_coa->port = 5555;
        auto d = decide(bu, v4_arrival());
        EXPECT_EQ(d.ba.status == 0, c.ok) << "flags " << std::hex << c.flags;
        if (!c.ok) {
            EXPECT_EQ(d.ba.status, 144);
            EXPECT_EQ(d.ba.options.ipv4_coa->flags, v4flag::all) << "every enabled method's flag echoed";
        }
    }
}

TEST_F(BuDecisionTest, MethodNotEnabled144WithSupportedFlags)
{
    params.methods = method_bit(TunnelMethod::ipip) | method_bit(TunnelMethod::udp);
    auto d = decide(v4_bu(v4flag::R), v4_arrival(TunnelMethod::gre));
    EXPECT_EQ(d.outcome, BuOutcome::rejected);
    EXPECT_EQ(d.ba.status, 144);
    EXPECT_FALSE(d.ba.has(ba_flag::R));
    EXPECT_EQ(d.ba.options.ipv4_coa->flags, v4flag::I | v4flag::U);
    EXPECT_EQ(d.ba.options.ipv4_coa->coa, kCoa4);
    EXPECT_EQ(d.change, BindingChangeKind::none);
    // The MR's own allowed methods narrow it further.
    mr.methods = method_bit(TunnelMethod::udp);
    auto d2 = decide(v4_bu(v4flag::I), v4_arrival());
    EXPECT_EQ(d2.ba.status, 144);
    EXPECT_EQ(d2.ba.options.ipv4_coa->flags, v4flag::U);
}

TEST_F(BuDecisionTest, StatusNumbersAreConfigurable)
{
    params.status_tunnel_unsupported = 200;
    params.status_invalid_coa = 201;
    EXPECT_EQ(decide(v4_bu(0), v4_arrival()).ba.status, 200);
    auto bu = v4_bu();
    bu.options.alternate_coa = kCoa6;
    EXPECT_EQ(decide(bu, v4_arrival()).ba.status, 201);
}

TEST_F(BuDecisionTest, AlternateCoaWithIpv4Option145)
{
    auto bu = v4_bu();
    bu.options.alternate_coa = kCoa6;
    auto d = decide(bu, v4_arrival());
    EXPECT_EQ(d.ba.status, 145);
    EXPECT_TRUE(d.ba.options.ipv4_coa) << "echoed on rejection too";
    EXPECT_EQ(d.change, BindingChangeKind::none);
}

TEST_F(BuDecisionTest, V4LifetimeZeroIgnored)
{
    auto bu = v4_bu();
    bu.lifetime = 0;
    Binding cur = existing(50);
    auto d = decide(bu, v4_arrival(), &cur);
    EXPECT_EQ(d.outcome, BuOutcome::ignored_v4_lifetime_0);
    EXPECT_FALSE(d.send_ba);
    EXPECT_EQ(d.change, BindingChangeKind::none);
}

TEST_F(BuDecisionTest, NatDetectedKeepsObservedAddressAndPort)
{
    auto bu = v4_bu(v4flag::U);
    bu.options.ipv4_coa->port = 5555;
    auto d = decide(bu, v4_arrival(TunnelMethod::udp, kNat4, 40000));
    ASSERT_EQ(d.ba.status, 0);
    EXPECT_TRUE(d.binding.coa.behind_nat);
    EXPECT_EQ(d.binding.coa.v4, kCoa4);
    EXPECT_EQ(d.binding.coa.v4_port, 5555);
    EXPECT_EQ(d.binding.coa.peer, kNat4);
    EXPECT_EQ(d.binding.coa.peer_port, 40000);
    EXPECT_EQ(d.route.via, TunnelMethod::udp);
    EXPECT_EQ(d.route.v4_dst, kNat4);
    EXPECT_EQ(d.route.v4_dst_port, 40000);
    // The router is told (draft 9): it cannot see the NAT from its side.
    ASSERT_TRUE(d.ba.options.nat_detection);
    EXPECT_TRUE(d.ba.options.nat_detection->udp_required);
    // Not behind a NAT: no such option.
    EXPECT_FALSE(decide(v4_bu(), v4_arrival()).ba.options.nat_detection);
    EXPECT_FALSE(decide(v4_bu(v4flag::U), v4_arrival(TunnelMethod::udp, kCoa4, 4191)).ba.options.nat_detection);
}

TEST_F(BuDecisionTest, NatPortRewriteAloneIsNat)
{
    auto bu = v4_bu(v4flag::U);
    bu.options.ipv4_coa->port = 5555;
    auto d = decide(bu, v4_arrival(TunnelMethod::udp, kCoa4, 6000));
    ASSERT_EQ(d.ba.status, 0);
    EXPECT_TRUE(d.binding.coa.behind_nat);
    EXPECT_EQ(d.binding.coa.peer_port, 6000);
}

TEST_F(BuDecisionTest, MethodThatCannotCrossNat144WithNatFlags)
{
    params.methods |= method_bit(TunnelMethod::esp_udp);
    for (uint16_t flags : {v4flag::I, v4flag::R}) {
        auto d = decide(v4_bu(flags), v4_arrival(TunnelMethod::udp, kNat4, 40000));
        EXPECT_EQ(d.ba.status, 144);
        EXPECT_EQ(d.ba.options.ipv4_coa->flags, v4flag::U | v4flag::S) << "U and S+U only";
    }
}

TEST_F(BuDecisionTest, UdpWithoutAnyPortIsInvalidCareOf)
{
    // U requested, arrived over IPv6-in-IPv4 (no observed port) and the option's port is 0.
    auto d = decide(v4_bu(v4flag::U), v4_arrival(TunnelMethod::ipip));
    EXPECT_EQ(d.ba.status, 145);
    auto bu = v4_bu(v4flag::U);
    bu.options.ipv4_coa->port = 7000;
    auto ok = decide(bu, v4_arrival(TunnelMethod::ipip));
    EXPECT_EQ(ok.ba.status, 0);
    EXPECT_EQ(ok.binding.coa.peer_port, 7000);
}

TEST_F(BuDecisionTest, NonUnicastIpv4CareOf145)
{
    for (auto bad : {"0.0.0.0", "224.0.0.5", "255.255.255.255", "127.0.0.1"}) {
        auto bu = v4_bu();
        bu.options.ipv4_coa->coa = *Ipv4Addr::parse(bad);
        auto d = decide(bu, v4_arrival(TunnelMethod::ipip, *Ipv4Addr::parse(bad)));
        EXPECT_EQ(d.ba.status, 145) << bad;
    }
}

TEST_F(BuDecisionTest, HomeAddressNotUnicastDroppedSilently)
{
    for (auto bad : {"ff02::1", "fe80::1", "::", "::1", "::ffff:1.2.3.4"}) {
        auto a = v6_arrival();
        a.home_address_option = *Ipv6Addr::parse(bad);
        auto d = decide(v6_bu(), a);
        EXPECT_EQ(d.outcome, BuOutcome::dropped_hoa_invalid) << bad;
        EXPECT_FALSE(d.send_ba);
    }
}

TEST_F(BuDecisionTest, UnprotectedDroppedUnlessAllowed)
{
    auto a = v4_arrival();
    a.protected_by_hoa_sa = false;
    auto d = decide(v4_bu(), a);
    EXPECT_EQ(d.outcome, BuOutcome::dropped_unprotected);
    EXPECT_FALSE(d.send_ba);
    params.allow_unprotected_signaling = true;
    EXPECT_EQ(decide(v4_bu(), a).outcome, BuOutcome::accepted);
}

TEST_F(BuDecisionTest, SequenceWindow)
{
    Binding cur = existing(15);
    // RFC 6275 9.5.1's example: after 15, 0..15 and 32783..65535 are not newer.
    for (uint16_t stale : {uint16_t{0}, uint16_t{15}, uint16_t{32783}, uint16_t{65535}}) {
        auto bu = v4_bu();
        bu.seq = stale;
        auto d = decide(bu, v4_arrival(), &cur);
        EXPECT_EQ(d.ba.status, 135) << stale;
        EXPECT_EQ(d.ba.seq, 15) << "the last accepted number";
        EXPECT_EQ(d.change, BindingChangeKind::none);
    }
    for (uint16_t fresh : {uint16_t{16}, uint16_t{32782}}) {
        auto bu = v4_bu();
        bu.seq = fresh;
        EXPECT_EQ(decide(bu, v4_arrival(), &cur).ba.status, 0) << fresh;
    }
    // Wrap-around: after 65535, 0 is newer.
    Binding top = existing(65535);
    auto bu = v4_bu();
    bu.seq = 0;
    EXPECT_EQ(decide(bu, v4_arrival(), &top).ba.status, 0);
    // A new home address takes any number.
    bu.seq = 0;
    EXPECT_EQ(decide(bu, v4_arrival()).ba.status, 0);
    EXPECT_TRUE(seq_newer(1, 0));
    EXPECT_FALSE(seq_newer(0, 0));
    EXPECT_FALSE(seq_newer(0x8000, 0));
    EXPECT_TRUE(seq_newer(0x7FFF, 0));
}

TEST_F(BuDecisionTest, RegistrationTypeChange139)
{
    Binding host = existing(10, /*router=*/false);
    auto d = decide(v4_bu(), v4_arrival(), &host);
    EXPECT_EQ(d.ba.status, 139);
    EXPECT_EQ(d.change, BindingChangeKind::none);
    // De-registration ignores R (RFC 3963 6.2).
    auto dereg = v6_bu();
    dereg.lifetime = 0;
    EXPECT_EQ(decide(dereg, v6_arrival(), &host).outcome, BuOutcome::deregistered);
}

// RFC 6275 9.5.1: "If a binding already exists for the given home address and the home registration
// flag has a different value than the Home Registration (H) bit in the Binding Update, then the receiving
// node MUST send back a Binding Acknowledgement with status code 139". Not 129 (no H) nor 140 (R without H).
TEST_F(BuDecisionTest, Rfc6275_9_5_1_HClearAgainstHomeBinding139)
{
    Binding cur = existing(10);
    for (uint8_t flags : {uint8_t(bu_flag::A), uint8_t(bu_flag::A | bu_flag::R)}) {
        auto bu = v6_bu();
        bu.seq = 11;
        bu.flags = flags;
        auto d = decide(bu, v6_arrival(), &cur);
        EXPECT_EQ(d.outcome, BuOutcome::rejected);
        EXPECT_EQ(d.ba.status, 139) << "flags " << std::hex << int(flags);
        EXPECT_EQ(d.change, BindingChangeKind::none) << "the binding's home registration flag is not changed";
        EXPECT_FALSE(d.ba.has(ba_flag::R));
        // The sequence number test comes before it in 9.5.1: a stale one still gets 135 and the last number.
        bu.seq = 10;
        auto stale = decide(bu, v6_arrival(), &cur);
        EXPECT_EQ(stale.ba.status, 135);
        EXPECT_EQ(stale.ba.seq, 10);
    }
    // Over IPv4 too.
    auto v4 = v4_bu();
    v4.seq = 11;
    v4.flags = bu_flag::A | bu_flag::R;
    EXPECT_EQ(decide(v4, v4_arrival(), &cur).ba.status, 139);
}

// Draft 4.2: a BU carrying the IPv4 Care-of Address option "is always encapsulated in an IPv4 header".
// One that arrives natively over IPv6 names an IPv4 path nothing has seen: refused with the draft's 145
// (Invalid Care-of Address, configurable), the option echoed (draft 7.3), no binding made or changed.
TEST_F(BuDecisionTest, Draft4_2_NativeBuWithIpv4CoaOption145)
{
    auto bu = v4_bu();
    auto d = decide(bu, v6_arrival());
    EXPECT_EQ(d.outcome, BuOutcome::rejected);
    EXPECT_EQ(d.ba.status, 145);
    EXPECT_EQ(d.change, BindingChangeKind::none);
    ASSERT_TRUE(d.ba.options.ipv4_coa) << "draft 7.3: echoed";
    EXPECT_EQ(d.route.via, TunnelMethod::ipv6) << "answered the way it came";
    EXPECT_EQ(d.route.dst, kCoa6);
    // Against an existing IPv4 binding: that binding stays.
    Binding cur = existing(10);
    bu.seq = 11;
    auto moved = decide(bu, v6_arrival(), &cur);
    EXPECT_EQ(moved.ba.status, 145);
    EXPECT_EQ(moved.change, BindingChangeKind::none);
    // Whatever the status number is configured to.
    params.status_invalid_coa = 201;
    EXPECT_EQ(decide(v4_bu(), v6_arrival()).ba.status, 201);
    // A native BU without the option is the plain IPv6 registration it always was.
    EXPECT_EQ(decide(v6_bu(), v6_arrival()).ba.status, 0);
}

TEST_F(BuDecisionTest, HomeSubnetAndProvisioning)
{
    auto a = v6_arrival();
    a.home_address_option = *Ipv6Addr::parse("2001:db8:2::100");
    EXPECT_EQ(decide(v6_bu(), a).ba.status, 132);
    EXPECT_EQ(decide(v6_bu(), v6_arrival(), nullptr, /*provisioned=*/false).ba.status, 133);
}

TEST_F(BuDecisionTest, DeregistrationWithoutEntry133)
{
    auto bu = v6_bu();
    bu.lifetime = 0;
    EXPECT_EQ(decide(bu, v6_arrival()).ba.status, 133);
}

TEST_F(BuDecisionTest, DeregistrationRemovesAndAcks)
{
    Binding cur = existing(10);
    auto bu = v6_bu();
    bu.seq = 11;
    bu.lifetime = 0;
    auto d = decide(bu, v6_arrival(), &cur);
    EXPECT_EQ(d.outcome, BuOutcome::deregistered);
    EXPECT_EQ(d.change, BindingChangeKind::remove);
    EXPECT_EQ(d.ba.status, 0);
    EXPECT_EQ(d.ba.lifetime, 0);
    EXPECT_EQ(d.ba.seq, 11);
    // CoA equal to the HoA (back home, no HAO) is a de-registration too.
    BuArrival home;
    home.src = kHoa;
    home.dst = kHa6;
    home.protected_by_hoa_sa = true;
    auto back = v6_bu();
    back.seq = 12;
    EXPECT_EQ(decide(back, home, &cur).outcome, BuOutcome::deregistered);
}

TEST_F(BuDecisionTest, TunneledFromIpv4WithoutOption)
{
    Binding cur = existing(10);
    auto bu = v6_bu();
    bu.seq = 11;
    // With a lifetime it names no usable care-of address.
    EXPECT_EQ(decide(bu, v4_arrival(), &cur).ba.status, 145);
    // With lifetime 0 it de-registers, answered over IPv4.
    bu.lifetime = 0;
    auto d = decide(bu, v4_arrival(), &cur);
    EXPECT_EQ(d.outcome, BuOutcome::deregistered);
    EXPECT_EQ(d.route.via, TunnelMethod::ipip);
}

TEST_F(BuDecisionTest, MobileRouterRules140)
{
    auto bu = v6_bu();
    bu.flags = bu_flag::A | bu_flag::R; // R without H
    EXPECT_EQ(decide(bu, v6_arrival()).ba.status, 140);
    params.accept_mobile_routers = false;
    EXPECT_EQ(decide(v6_bu(), v6_arrival()).ba.status, 140);
    params.accept_mobile_routers = true;
    mr.mobile_router = false;
    EXPECT_EQ(decide(v6_bu(), v6_arrival()).ba.status, 140);
}

TEST_F(BuDecisionTest, NoHomeRegistrationFlag)
{
    auto bu = v6_bu();
    bu.flags = bu_flag::A;
    EXPECT_EQ(decide(bu, v6_arrival()).ba.status, 129);
}

TEST_F(BuDecisionTest, PrefixRules141to143)
{
    auto bu = v6_bu();
    bu.options = {};
    bu.options.add_prefix(*Prefix6::parse("ff00::/8"));
    EXPECT_EQ(decide(bu, v6_arrival()).ba.status, 141);
    bu.options = {};
    bu.options.add_prefix(kHomePrefix); // the home link itself
    EXPECT_EQ(decide(bu, v6_arrival()).ba.status, 141);
    bu.options = {};
    bu.options.add_prefix(kMnpA);
    bu.options.add_prefix(*Prefix6::parse("2001:db8:cccc::/48")); // not this MR's
    auto d = decide(bu, v6_arrival());
    EXPECT_EQ(d.ba.status, 142);
    EXPECT_EQ(d.change, BindingChangeKind::none) << "no prefix forwarded when one fails";
    // A more specific prefix inside an authorized one is fine.
    bu.options = {};
    bu.options.add_prefix(*Prefix6::parse("2001:db8:aaaa:1::/64"));
    EXPECT_EQ(decide(bu, v6_arrival()).ba.status, 0);
    // Implicit mode: the provisioned prefixes, or 143 without any.
    bu.options = {};
    auto implicit = decide(bu, v6_arrival());
    EXPECT_EQ(implicit.ba.status, 0);
    EXPECT_EQ(implicit.binding.prefixes, mr.prefixes);
    mr.prefixes.clear();
    EXPECT_EQ(decide(bu, v6_arrival()).ba.status, 143);
}

TEST_F(BuDecisionTest, RefreshDropsUnlistedPrefixes)
{
    auto bu = v4_bu();
    bu.options.add_prefix(kMnpB);
    auto first = decide(bu, v4_arrival());
    ASSERT_EQ(first.binding.prefixes.size(), 2u);
    auto refresh = v4_bu();
    refresh.seq = 101;
    auto d = decide(refresh, v4_arrival(), &first.binding);
    ASSERT_EQ(d.ba.status, 0);
    ASSERT_EQ(d.binding.prefixes.size(), 1u);
    EXPECT_EQ(d.binding.prefixes[0], kMnpA);
    EXPECT_EQ(d.binding.created, first.binding.created);
}

TEST_F(BuDecisionTest, LifetimeCaps)
{
    auto bu = v4_bu();
    bu.lifetime = 0xFFFF;
    params.max_binding_lifetime = 1000;
    EXPECT_EQ(decide(bu, v4_arrival()).binding.lifetime, 1000u);
    EXPECT_EQ(decide(bu, v4_arrival()).ba.lifetime, 250);
    params.home_prefix_valid_lifetime = 402;
    EXPECT_EQ(decide(bu, v4_arrival()).binding.lifetime, 400u) << "rounded down to what the BA can say";
    params.max_binding_lifetime = 10'000'000;
    params.home_prefix_valid_lifetime = 10'000'000;
    EXPECT_EQ(decide(bu, v4_arrival()).ba.lifetime, 0xFFFF);
    bu.lifetime = 10;
    EXPECT_EQ(decide(bu, v4_arrival()).binding.lifetime, 40u) << "requested wins when smallest";
}

TEST_F(BuDecisionTest, BaSentEvenWithoutAckRequest)
{
    auto bu = v4_bu();
    bu.flags = bu_flag::H | bu_flag::R; // A clear
    auto d = decide(bu, v4_arrival());
    EXPECT_TRUE(d.send_ba);
    EXPECT_EQ(d.ba.seq, bu.seq);
}

TEST_F(BuDecisionTest, NativeBuWithHaoAnsweredThroughRh2)
{
    auto d = decide(v6_bu(), v6_arrival());
    ASSERT_EQ(d.ba.status, 0);
    EXPECT_EQ(d.binding.coa.method, TunnelMethod::ipv6);
    EXPECT_EQ(d.binding.coa.v6, kCoa6);
    EXPECT_EQ(d.route.via, TunnelMethod::ipv6);
    EXPECT_EQ(d.route.dst, kCoa6);
    ASSERT_TRUE(d.route.rh2_home_address);
    EXPECT_EQ(*d.route.rh2_home_address, kHoa);
    EXPECT_FALSE(d.ba.options.ipv4_coa);
}

TEST_F(BuDecisionTest, AlternateCoaUsedForIpv6)
{
    auto bu = v6_bu();
    const auto alt = *Ipv6Addr::parse("2001:db8:eeee::9");
    bu.options.alternate_coa = alt;
    EXPECT_EQ(decide(bu, v6_arrival()).binding.coa.v6, alt);
    bu.options.alternate_coa = *Ipv6Addr::parse("ff02::1");
    EXPECT_EQ(decide(bu, v6_arrival()).ba.status, 145);
    bu.options.alternate_coa = *Ipv6Addr::parse("2001:db8:1::77"); // on the home link
    EXPECT_EQ(decide(bu, v6_arrival()).ba.status, 145);
}

TEST_F(BuDecisionTest, SwitchBetweenIpv4AndIpv6CareOf)
{
    auto v4 = decide(v4_bu(), v4_arrival());
    auto to6 = v6_bu();
    to6.seq = 101;
    auto d6 = decide(to6, v6_arrival(), &v4.binding);
    ASSERT_EQ(d6.ba.status, 0);
    EXPECT_EQ(d6.binding.coa.method, TunnelMethod::ipv6);
    EXPECT_EQ(d6.change, BindingChangeKind::upsert);
    auto to4 = v4_bu(v4flag::R);
    to4.seq = 102;
    auto d4 = decide(to4, v4_arrival(TunnelMethod::gre), &d6.binding);
    ASSERT_EQ(d4.ba.status, 0);
    EXPECT_EQ(d4.binding.coa.method, TunnelMethod::gre);
    EXPECT_EQ(d4.binding.coa.peer, kCoa4);
}

TEST_F(BuDecisionTest, MobileHostGetsProxyNdAndNoPrefixes)
{
    auto bu = v6_bu();
    bu.flags = bu_flag::A | bu_flag::H; // R clear: a Mobile IPv6 host
    auto d = decide(bu, v6_arrival());
    ASSERT_EQ(d.ba.status, 0);
    EXPECT_FALSE(d.ba.has(ba_flag::R));
    EXPECT_TRUE(d.binding.proxy_nd);
    EXPECT_TRUE(d.binding.prefixes.empty()) << "MNP options ignored without R";
}

TEST_F(BuDecisionTest, Ipv6MethodDisabled)
{
    params.methods = method_bit(TunnelMethod::ipip);
    EXPECT_EQ(decide(v6_bu(), v6_arrival()).ba.status, 144);
}
