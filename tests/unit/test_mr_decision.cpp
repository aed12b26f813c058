// The mobile router's decisions (lib/mr_decision): what is sent next on every event (draft 4.2, 4.3, 7.1,
// 7.4, 9; RFC 3963 5; RFC 6275 9.5.1, 11.7, 11.8).
#include <gtest/gtest.h>

#include "mr_decision.hpp"

using namespace nemo;
using namespace nemo::mr;
using namespace nemo::wire;

namespace {

const Ipv4Addr kCoa4 = *Ipv4Addr::parse("198.51.100.10");
const Ipv4Addr kCoa4b = *Ipv4Addr::parse("203.0.113.7");
const Ipv6Addr kCoa6 = *Ipv6Addr::parse("2001:db8:77::10");
const Prefix6 kMnp = *Prefix6::parse("2001:db8:aaaa::/48");
constexpr uint16_t kAHR = bu_flag::A | bu_flag::H | bu_flag::R;

class MrDecisionTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        s.prefixes = {kMnp};
        s.udp_port = 5555;
        st.seq = 41; // as if restored from the state file
    }

    Action step(const Event& ev) { return check(mr_step(st, s, ev)); }
    // Draft 7.1, for every BU any test makes: an IPv4 CoA BU never has lifetime 0.
    Action check(Action a)
    {
        if (a.send && a.send->bu.options.ipv4_coa) {
            EXPECT_NE(a.send->bu.lifetime, 0) << "v4 BU with lifetime 0";
        }
        if (a.send && a.send->bu.lifetime == 0) {
            EXPECT_TRUE(a.send->deregistration);
        }
        return a;
    }
    Action start(CareOf c = CareOf::ipv4(kCoa4)) { return step(Event::start(now, c)); }
    Action fire() { now = st.timer_at_ms; return step(Event::timer(now)); }
    BaInfo ba(uint8_t status, uint16_t lifetime = 150, std::optional<uint16_t> flags = std::nullopt)
    {
        BaInfo b;
        b.status = status;
        b.flags = ba_flag::R;
        b.seq = st.seq;
        b.lifetime = lifetime;
        if (st.coa.is_v4()) b.ipv4_coa = Ipv4CoaOption{flags ? *flags : v4flags_of(st.method), 5555, st.coa.v4};
        return b;
    }
    Action answer(const BaInfo& b, uint64_t after_ms = 20) { now += after_ms; return step(Event::ba_received(now, b)); }
    Action accept() { return answer(ba(0)); }

    MrSettings s;
    MrState st;
    uint64_t now = 1'000'000;
};

TEST_F(MrDecisionTest, StartSendsAnIpv4CoaBuWithTheFirstMethodAndTheMnp)
{
    auto a = start();
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.report, Report::registering);
    const auto& bu = a.send->bu;
    EXPECT_EQ(bu.seq, 42);
    EXPECT_EQ(st.seq, 42);
    EXPECT_EQ(bu.flags, kAHR);
    EXPECT_EQ(bu.lifetime, 150); // 600 s
    ASSERT_TRUE(bu.options.ipv4_coa);
    EXPECT_EQ(bu.options.ipv4_coa->flags, v4flag::U);
    EXPECT_EQ(bu.options.ipv4_coa->port, 5555);
    EXPECT_EQ(bu.options.ipv4_coa->coa, kCoa4);
    ASSERT_EQ(bu.options.mnp_count, 1);
    EXPECT_EQ(bu.options.mobile_network_prefixes()[0], kMnp);
    EXPECT_EQ(a.send->via, TunnelMethod::udp);
    EXPECT_FALSE(a.send->deregistration);
    EXPECT_EQ(st.phase, Phase::registering);
    EXPECT_EQ(st.timer_at_ms, now + 1000) << "INITIAL_BINDACK_TIMEOUT";
    EXPECT_FALSE(st.tunnel_up);
}

TEST_F(MrDecisionTest, NonUdpMethodsSendPortZeroAndTheirFlag)
{
    s.preference = {TunnelMethod::gre, TunnelMethod::ipip};
    auto a = start();
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.send->bu.options.ipv4_coa->flags, v4flag::R);
    EXPECT_EQ(a.send->bu.options.ipv4_coa->port, 0);
    EXPECT_EQ(a.send->via, TunnelMethod::gre);
}

TEST_F(MrDecisionTest, ImplicitModeSendsNoPrefixOption)
{
    s.prefixes.clear();
    auto a = start();
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.send->bu.options.mnp_count, 0);
}

TEST_F(MrDecisionTest, NeverLifetimeZeroForAnIpv4CoaBu)
{
    s.lifetime_s = 0;
    auto a = start();
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.send->bu.lifetime, 1);
    EXPECT_EQ(lifetime_units(3), 1);
    EXPECT_EQ(lifetime_units(1'000'000), 0xFFFF);
    EXPECT_EQ(lifetime_units(600), 150);
}

TEST_F(MrDecisionTest, AcceptedBaBringsTheTunnelUpAndRefreshesAt85Percent)
{
    start();
    const uint64_t sent = now;
    auto a = accept();
    EXPECT_EQ(a.report, Report::registered);
    EXPECT_FALSE(a.send);
    EXPECT_EQ(st.phase, Phase::registered);
    EXPECT_TRUE(st.tunnel_up);
    EXPECT_EQ(st.granted_s, 600u);
    EXPECT_EQ(st.expires_at_ms, sent + 600'000) << "the lifetime runs from the BU's sending";
    EXPECT_EQ(st.timer_at_ms, sent + 510'000) << "85 % of 600 s";

    // Early timer: nothing.
    auto early = step(Event::timer(now + 1000));
    EXPECT_FALSE(early.send);
    EXPECT_EQ(early.report, Report::ignored);

    auto r = fire();
    ASSERT_TRUE(r.send);
    EXPECT_EQ(r.report, Report::refreshing);
    EXPECT_EQ(r.send->bu.seq, 43);
    EXPECT_TRUE(r.send->bu.options.ipv4_coa);
    EXPECT_EQ(st.phase, Phase::refreshing);
    EXPECT_TRUE(st.tunnel_up) << "the binding still lives during a refresh";
    EXPECT_EQ(st.timer_at_ms, now + 1000);
    auto done = accept();
    EXPECT_EQ(done.report, Report::refreshed);
    EXPECT_EQ(st.phase, Phase::registered);
}

TEST_F(MrDecisionTest, RefreshPercentAndBindingRefreshAdviceAreHonoured)
{
    s.refresh_percent = 80;
    start();
    const uint64_t sent = now;
    BaInfo b = ba(0, 25); // 100 s granted
    answer(b);
    EXPECT_EQ(st.timer_at_ms, sent + 80'000);
    fire();
    const uint64_t sent2 = now;
    b = ba(0, 25);
    b.refresh_interval = 5; // 20 s
    answer(b);
    EXPECT_EQ(st.timer_at_ms, sent2 + 20'000);
}

TEST_F(MrDecisionTest, RetransmissionBacksOffDoublingUpTo32Seconds)
{
    s.legacy_after = 100;
    start();
    std::vector<uint64_t> waits;
    uint16_t last_seq = st.seq;
    for (int i = 0; i < 9; ++i) {
        const uint64_t before = st.timer_at_ms;
        const uint64_t prev_sent = st.sent_at_ms;
        auto a = fire();
        ASSERT_TRUE(a.send);
        EXPECT_EQ(a.report, Report::retransmit);
        EXPECT_EQ(a.send->bu.seq, static_cast<uint16_t>(last_seq + 1)) << "a new sequence number per BU";
        last_seq = a.send->bu.seq;
        waits.push_back(before - prev_sent);
    }
    waits.push_back(st.timer_at_ms - now);
    EXPECT_EQ(waits, (std::vector<uint64_t>{1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000, 32000, 32000}));
}

TEST_F(MrDecisionTest, NoBaAfterLegacyAfterAttemptsMeansALegacyHa)
{
    auto a = start();
    ASSERT_TRUE(a.send);
    ASSERT_TRUE(fire().send); // 2nd
    ASSERT_TRUE(fire().send); // 3rd
    auto g = fire();
    EXPECT_FALSE(g.send);
    EXPECT_EQ(g.report, Report::legacy_ha);
    EXPECT_NE(g.detail.find("3 BUs"), std::string::npos) << g.detail;
    EXPECT_EQ(st.phase, Phase::legacy);
    EXPECT_EQ(st.timer_at_ms, 0u);
    // No IPv4 CoA BU to that HA any more, not even for a new IPv4 CoA...
    auto c = step(Event::coa_changed(now + 5, CareOf::ipv4(kCoa4b)));
    EXPECT_FALSE(c.send);
    EXPECT_EQ(c.report, Report::legacy_ha);
    // ...but an IPv6 CoA is plain NEMO, which a legacy HA speaks.
    auto v6 = step(Event::coa_changed(now + 10, CareOf::ipv6(kCoa6)));
    ASSERT_TRUE(v6.send);
    EXPECT_FALSE(v6.send->bu.options.ipv4_coa);
}

TEST_F(MrDecisionTest, LegacyAfterIsASetting)
{
    s.legacy_after = 1;
    start();
    auto g = fire();
    EXPECT_FALSE(g.send);
    EXPECT_EQ(g.report, Report::legacy_ha);
}

TEST_F(MrDecisionTest, BaWithoutTheIpv4CoaOptionMeansALegacyHa)
{
    start();
    BaInfo b = ba(0);
    b.ipv4_coa.reset();
    auto a = answer(b);
    EXPECT_EQ(a.report, Report::legacy_ha);
    EXPECT_FALSE(a.send);
    EXPECT_EQ(st.phase, Phase::legacy);
    EXPECT_FALSE(st.tunnel_up);
}

TEST_F(MrDecisionTest, Status144FallsBackInPreferenceOrderAmongOfferedMethods)
{
    s.preference = {TunnelMethod::udp, TunnelMethod::gre, TunnelMethod::ipip};
    auto a = start();
    ASSERT_EQ(a.send->via, TunnelMethod::udp);
    auto b = answer(ba(144, 0, v4flag::I | v4flag::R));
    ASSERT_TRUE(b.send);
    EXPECT_EQ(b.report, Report::method_refused);
    EXPECT_EQ(b.send->via, TunnelMethod::gre);
    EXPECT_EQ(b.send->bu.options.ipv4_coa->flags, v4flag::R);
    EXPECT_EQ(b.send->bu.seq, 43);
    EXPECT_EQ(st.timer_at_ms, now + 1000) << "a fresh back-off for the new method";
    EXPECT_NE(b.detail.find("udp refused"), std::string::npos) << b.detail;
    EXPECT_NE(b.detail.find("trying gre"), std::string::npos) << b.detail;
    // The HA changed its mind (or lies): gre refused, only I offered now.
    auto c = answer(ba(144, 0, v4flag::I));
    ASSERT_TRUE(c.send);
    EXPECT_EQ(c.send->via, TunnelMethod::ipip);
    auto d = answer(ba(0));
    EXPECT_EQ(d.report, Report::registered);
    EXPECT_EQ(st.method, TunnelMethod::ipip);
}

TEST_F(MrDecisionTest, Status144SkipsOurNextChoiceWhenTheHaDoesNotOfferIt)
{
    s.preference = {TunnelMethod::udp, TunnelMethod::gre, TunnelMethod::ipip};
    start();
    auto b = answer(ba(144, 0, v4flag::I));
    ASSERT_TRUE(b.send);
    EXPECT_EQ(b.send->via, TunnelMethod::ipip);
}

TEST_F(MrDecisionTest, Status144WithNothingInCommonStopsAndReports)
{
    s.preference = {TunnelMethod::udp, TunnelMethod::gre};
    start();
    auto b = answer(ba(144, 0, v4flag::I | v4flag::S));
    EXPECT_FALSE(b.send);
    EXPECT_EQ(b.report, Report::no_common_method);
    EXPECT_NE(b.detail.find("ipip,esp"), std::string::npos) << b.detail;
    EXPECT_EQ(st.phase, Phase::no_method);
    EXPECT_EQ(st.timer_at_ms, 0u);
    EXPECT_FALSE(fire().send);
}

TEST_F(MrDecisionTest, StatusCodesAreSettings)
{
    s.status_tunnel_unsupported = 200;
    start();
    auto b = answer(ba(200, 0, v4flag::R));
    ASSERT_TRUE(b.send);
    EXPECT_EQ(b.send->via, TunnelMethod::gre);
    auto c = answer(ba(144));
    EXPECT_EQ(c.report, Report::rejected) << "144 is an ordinary rejection when 200 is configured";
}

TEST_F(MrDecisionTest, Status145AndOtherRejectionsReportTheNameAndBackOff)
{
    start();
    auto a = answer(ba(145));
    EXPECT_FALSE(a.send);
    EXPECT_EQ(a.report, Report::rejected);
    EXPECT_NE(a.detail.find("invalid-care-of-address (145)"), std::string::npos) << a.detail;
    EXPECT_EQ(st.phase, Phase::backing_off);
    EXPECT_EQ(st.timer_at_ms, now + 1000);
    auto r = fire();
    ASSERT_TRUE(r.send);
    EXPECT_EQ(r.send->via, TunnelMethod::udp) << "same method: 145 is not about the method";
    auto b = answer(ba(142));
    EXPECT_NE(b.detail.find("not-authorized-for-prefix (142)"), std::string::npos) << b.detail;
    EXPECT_EQ(st.timer_at_ms, now + 2000) << "doubled";
    fire();
    answer(ba(130));
    EXPECT_EQ(st.timer_at_ms, now + 4000);
    EXPECT_EQ(st.last_status, 130);
    EXPECT_EQ(ba_status_name(133), "not-home-agent-for-this-mobile-node (133)");
}

TEST_F(MrDecisionTest, Status135TakesTheHasSequenceNumberAndSendsAtOnce)
{
    start();
    BaInfo b = ba(135);
    b.seq = 9000; // the HA's last accepted number
    auto a = answer(b);
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.report, Report::seq_out_of_window);
    EXPECT_EQ(a.send->bu.seq, 9001);
    EXPECT_NE(a.detail.find("last accepted sequence number is 9000"), std::string::npos) << a.detail;
    auto ok = accept();
    EXPECT_EQ(ok.report, Report::registered);
}

TEST_F(MrDecisionTest, SequenceNumbersWrapModulo65536)
{
    st.seq = 0xFFFF;
    auto a = start();
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.send->bu.seq, 0);
    // A late BA for 0xFFFF is stale.
    BaInfo stale = ba(0);
    stale.seq = 0xFFFF;
    EXPECT_EQ(answer(stale).report, Report::ignored);
    EXPECT_EQ(st.phase, Phase::registering);
    EXPECT_EQ(accept().report, Report::registered);
    EXPECT_TRUE(seq_after(0, 0xFFFF));
    EXPECT_TRUE(seq_after(0x7FFE, 0xFFFF));
    EXPECT_FALSE(seq_after(0x7FFF, 0xFFFF));
    EXPECT_FALSE(seq_after(5, 5));
    EXPECT_FALSE(seq_after(0xFFFF, 0));
}

TEST_F(MrDecisionTest, SequenceNumberSurvivesARestart)
{
    start();
    accept();
    const uint16_t persisted = st.seq;
    MrState fresh;
    fresh.seq = persisted; // what the program read back from its state file
    st = fresh;
    auto a = start();
    EXPECT_EQ(a.send->bu.seq, static_cast<uint16_t>(persisted + 1));
}

TEST_F(MrDecisionTest, CareOfChangeReRegistersAtOnce)
{
    start();
    accept();
    ASSERT_TRUE(st.tunnel_up);
    const uint16_t seq = st.seq;
    now += 5000;
    auto a = step(Event::coa_changed(now, CareOf::ipv4(kCoa4b)));
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.report, Report::registering);
    EXPECT_EQ(a.send->bu.seq, static_cast<uint16_t>(seq + 1));
    EXPECT_EQ(a.send->bu.options.ipv4_coa->coa, kCoa4b);
    EXPECT_FALSE(st.tunnel_up) << "the HA tunnels to the old CoA until it answers";
    EXPECT_EQ(st.timer_at_ms, now + 1000);
    EXPECT_EQ(step(Event::coa_changed(now, CareOf::ipv4(kCoa4b))).report, Report::ignored);
    // The CoA lost: nothing to send until one comes back.
    auto lost = step(Event::coa_changed(now, CareOf::none()));
    EXPECT_FALSE(lost.send);
    EXPECT_EQ(st.phase, Phase::no_coa);
    auto back = step(Event::coa_changed(now + 100, CareOf::ipv4(kCoa4)));
    ASSERT_TRUE(back.send);
}

TEST_F(MrDecisionTest, Ipv4ToIpv6ToIpv4Switching)
{
    start();
    accept();
    now += 1000;
    auto v6 = step(Event::coa_changed(now, CareOf::ipv6(kCoa6)));
    ASSERT_TRUE(v6.send);
    EXPECT_EQ(v6.send->via, TunnelMethod::ipv6) << "RFC 3963: from the CoA, IPv6-in-IPv6";
    EXPECT_FALSE(v6.send->bu.options.ipv4_coa);
    EXPECT_EQ(v6.send->coa, CareOf::ipv6(kCoa6));
    EXPECT_EQ(v6.send->bu.options.mnp_count, 1);
    EXPECT_EQ(v6.send->bu.flags, kAHR);
    EXPECT_NE(v6.send->bu.lifetime, 0);
    BaInfo b = ba(0);
    EXPECT_FALSE(b.ipv4_coa);
    EXPECT_EQ(answer(b).report, Report::registered) << "no IPv4 CoA option expected for an IPv6 CoA";
    EXPECT_EQ(st.method, TunnelMethod::ipv6);
    EXPECT_FALSE(st.legacy_ha);
    now += 1000;
    auto v4 = step(Event::coa_changed(now, CareOf::ipv4(kCoa4b)));
    ASSERT_TRUE(v4.send);
    EXPECT_EQ(v4.send->via, TunnelMethod::udp);
    ASSERT_TRUE(v4.send->bu.options.ipv4_coa);
    EXPECT_EQ(v4.send->bu.options.ipv4_coa->coa, kCoa4b);
    EXPECT_EQ(accept().report, Report::registered);
}

TEST_F(MrDecisionTest, Ipv6CoaIsNeverJudgedLegacy)
{
    start(CareOf::ipv6(kCoa6));
    for (int i = 0; i < 6; ++i) EXPECT_TRUE(fire().send) << i;
    EXPECT_FALSE(st.legacy_ha);
}

TEST_F(MrDecisionTest, NatDetectedMovesToAUdpMethodAndKeepsTheMappingAlive)
{
    s.preference = {TunnelMethod::gre, TunnelMethod::udp};
    s.nat_keepalive_s = 15;
    start();
    accept();
    ASSERT_EQ(st.method, TunnelMethod::gre);
    now += 100;
    auto a = step(Event::nat_detected(now));
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.report, Report::nat_detected);
    EXPECT_EQ(a.send->via, TunnelMethod::udp);
    EXPECT_EQ(a.send->bu.options.ipv4_coa->port, 5555);
    accept();
    EXPECT_EQ(st.timer_at_ms, now + 15'000) << "behind a NAT a refresh at the keepalive interval";
    EXPECT_EQ(step(Event::nat_detected(now)).report, Report::ignored);
}

TEST_F(MrDecisionTest, NatDetectedOnUdpOnlyShortensTheRefresh)
{
    s.nat_keepalive_s = 10;
    start();
    accept();
    now += 100;
    auto a = step(Event::nat_detected(now));
    EXPECT_FALSE(a.send);
    EXPECT_EQ(st.timer_at_ms, now + 10'000);
}

TEST_F(MrDecisionTest, NatDetectionOptionInTheBaCounts)
{
    s.preference = {TunnelMethod::ipip, TunnelMethod::udp};
    start();
    BaInfo b = ba(0);
    b.nat_detection = NatDetectionOption{true, 8};
    auto a = answer(b);
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.send->via, TunnelMethod::udp);
    b = ba(0);
    b.nat_detection = NatDetectionOption{true, 8};
    answer(b);
    EXPECT_EQ(st.timer_at_ms, now + 8'000) << "the HA's refresh time is below our keepalive";
}

TEST_F(MrDecisionTest, Status144OfferingOnlyUdpMethodsMeansANat)
{
    // NOTES.md: behind a NAT the HA answers I, R and S with 144 and the U / S+U flags.
    s.preference = {TunnelMethod::gre, TunnelMethod::udp};
    s.nat_keepalive_s = 12;
    start();
    auto a = answer(ba(144, 0, v4flag::U | v4flag::S));
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.send->via, TunnelMethod::udp);
    EXPECT_TRUE(st.nat);
    EXPECT_NE(a.detail.find("behind a NAT"), std::string::npos) << a.detail;
    accept();
    EXPECT_EQ(st.timer_at_ms, now + 12'000);
}

TEST_F(MrDecisionTest, Status144OfferingMoreThanUdpIsNoNat)
{
    s.preference = {TunnelMethod::udp, TunnelMethod::gre};
    start();
    answer(ba(144, 0, v4flag::R | v4flag::I));
    EXPECT_FALSE(st.nat);
    s.preference = {TunnelMethod::udp};
    MrState other;
    st = other;
    start();
    answer(ba(144, 0, v4flag::U)); // asked for udp itself: not the NAT answer
    EXPECT_FALSE(st.nat);
}

TEST_F(MrDecisionTest, NatWithOnlyNonUdpMethodsLeftStops)
{
    s.preference = {TunnelMethod::gre};
    start();
    accept();
    auto a = step(Event::nat_detected(now));
    EXPECT_FALSE(a.send);
    EXPECT_EQ(a.report, Report::no_common_method);
}

TEST_F(MrDecisionTest, RefreshUnansweredUntilExpiryTakesTheTunnelDown)
{
    s.legacy_after = 100;
    start();
    answer(ba(0, 5)); // 20 s
    const uint64_t expires = st.expires_at_ms;
    fire(); // refresh at 17 s
    bool expired = false;
    for (int i = 0; i < 6 && !expired; ++i) {
        auto a = fire();
        if (a.report == Report::binding_expired) {
            expired = true;
            EXPECT_EQ(now, expires);
            EXPECT_TRUE(a.send) << "still trying";
        }
    }
    EXPECT_TRUE(expired);
    EXPECT_FALSE(st.tunnel_up);
    EXPECT_FALSE(st.bound);
}

TEST_F(MrDecisionTest, AcceptedWithoutTheRFlagMeansNoRouterSupport)
{
    start();
    BaInfo b = ba(0);
    b.flags = 0;
    auto a = answer(b);
    EXPECT_EQ(a.report, Report::not_router_ha);
    EXPECT_FALSE(st.tunnel_up);
}

TEST_F(MrDecisionTest, StaleOrUnexpectedBasAreIgnored)
{
    BaInfo b;
    EXPECT_EQ(step(Event::ba_received(now, b)).report, Report::ignored) << "not started";
    start();
    accept();
    EXPECT_EQ(answer(ba(0)).report, Report::ignored) << "no BU outstanding";
}

TEST_F(MrDecisionTest, StopDeregistersWithLifetimeZeroWithoutTheV4Option)
{
    s.preference = {TunnelMethod::gre};
    start();
    accept();
    now += 10;
    auto a = step(Event::stop(now));
    ASSERT_TRUE(a.send);
    EXPECT_EQ(a.report, Report::deregistering);
    EXPECT_TRUE(a.send->deregistration);
    EXPECT_EQ(a.send->bu.lifetime, 0);
    EXPECT_FALSE(a.send->bu.options.ipv4_coa) << "draft 7.2: with it, lifetime 0 is ignored";
    EXPECT_EQ(a.send->bu.options.mnp_count, 0);
    EXPECT_EQ(a.send->via, TunnelMethod::gre) << "through the tunnel in use";
    EXPECT_EQ(a.send->bu.flags, kAHR);
    EXPECT_FALSE(st.tunnel_up);
    BaInfo b = ba(0, 0);
    b.ipv4_coa.reset();
    auto d = answer(b);
    EXPECT_EQ(d.report, Report::deregistered);
    EXPECT_EQ(st.phase, Phase::stopped);
    EXPECT_EQ(st.timer_at_ms, 0u);
    EXPECT_EQ(step(Event::stop(now)).report, Report::ignored);
}

TEST_F(MrDecisionTest, StopUnansweredGivesUpAfterTheAttempts)
{
    start();
    accept();
    step(Event::stop(now));
    EXPECT_TRUE(fire().send);
    EXPECT_TRUE(fire().send);
    auto g = fire();
    EXPECT_FALSE(g.send);
    EXPECT_EQ(g.report, Report::dereg_unanswered);
    EXPECT_EQ(st.phase, Phase::stopped);
}

TEST_F(MrDecisionTest, StopWithNothingRegisteredSendsNothing)
{
    s.preference = {TunnelMethod::gre};
    start();
    answer(ba(144, 0, v4flag::I));
    ASSERT_EQ(st.phase, Phase::no_method);
    auto a = step(Event::stop(now));
    EXPECT_FALSE(a.send);
    EXPECT_EQ(a.report, Report::stopped);
}

TEST_F(MrDecisionTest, StartWithoutACareOfAddressWaitsForOne)
{
    auto a = start(CareOf::none());
    EXPECT_FALSE(a.send);
    EXPECT_EQ(a.report, Report::no_coa);
    EXPECT_EQ(st.phase, Phase::no_coa);
    auto b = step(Event::coa_changed(now, CareOf::ipv4(kCoa4)));
    ASSERT_TRUE(b.send);
    EXPECT_EQ(b.send->bu.seq, 42);
}

TEST_F(MrDecisionTest, OfferedFlagsNameMethods)
{
    EXPECT_EQ(methods_offered(v4flag::I | v4flag::U),
              method_bit(TunnelMethod::ipip) | method_bit(TunnelMethod::udp));
    EXPECT_EQ(methods_offered(v4flag::S | v4flag::U),
              method_bit(TunnelMethod::esp) | method_bit(TunnelMethod::udp) | method_bit(TunnelMethod::esp_udp));
    EXPECT_EQ(methods_offered(0), 0);
}

} // namespace
