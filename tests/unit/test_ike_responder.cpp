// The IKEv2 responder (control/ike/ike_responder) against the test initiator (ike_initiator.hpp, built
// from the codec and the crypto only) and a fake host that keeps an SA table with SaTable::change's rules
// (a removal of an unknown SPI, an SPI in use and a second outbound SA for a home address refuse the whole
// change). Time is the tests' own (now_ms). Key bytes are compared in memory, never printed.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "ike_fake_host.hpp"
#include "ike_initiator.hpp"
#include "ike_responder.hpp"

using namespace nemo;
using namespace nemo::ike;
using nemo::ike::test::Initiator;
using nemo::ike::test::ts_any6;
using nemo::ike::test::ts_range;

namespace {

const Ipv6Addr kHoa = *Ipv6Addr::parse("2001:db8:1::100");
const Prefix6 kMnp = *Prefix6::parse("2001:db8:100::/48");

using test::FakeHost;

class Responder : public ::testing::Test {
protected:
    FakeHost host;
    IkeConfig cfg;
    std::unique_ptr<IkeResponder> r;
    Initiator mr;
    uint64_t now = 10'000;

    void SetUp() override
    {
        cfg.id = "fqdn:ha.example.net";
        cfg.local = *Ipv4Addr::parse("192.0.2.1");
        cfg.cookie_threshold = 100;
        IkePeer p;
        p.id = "fqdn:mr1.example.net";
        p.hoa = kHoa;
        p.prefixes = {kMnp};
        p.psk = mr.psk;
        host.peers[p.id] = p;
        mr.responder_id = cfg.id;
    }
    IkeResponder& resp()
    {
        if (!r) r = std::make_unique<IkeResponder>(cfg, host);
        return *r;
    }
    uint64_t count(IkeCounter c) { return resp().get(c); }
    // One datagram in, the answers out (handle, then one poll turn for the queued IKE_SA_INIT).
    std::vector<Datagram> send(Datagram d)
    {
        std::vector<Datagram> out;
        resp().handle(std::move(d), now, out);
        resp().poll(now, out);
        return out;
    }
    std::optional<Datagram> one(Datagram d)
    {
        auto out = send(std::move(d));
        if (out.size() != 1) return std::nullopt;
        return out[0];
    }
    bool do_init(Initiator& i)
    {
        auto a = one(i.init());
        return a && i.on_init(*a);
    }
    bool establish(Initiator& i, std::vector<TrafficSelector> tsi = {ts_any6()})
    {
        if (!do_init(i)) return false;
        auto a = one(i.auth(tsi, {ts_any6()}));
        return a && i.on_auth(*a);
    }
};

bool same(const KeyBytes& a, const KeyBytes& b) { return a == b; }

TEST_F(Responder, FullExchangeInstallsWhatTheInitiatorDerived)
{
    ASSERT_TRUE(establish(mr));
    EXPECT_TRUE(mr.auth_verified);
    ASSERT_EQ(mr.children.size(), 1u);
    const auto& c = mr.children[0];
    EXPECT_EQ(count(IkeCounter::established), 1u);
    EXPECT_EQ(count(IkeCounter::child_installed), 1u);
    ASSERT_EQ(host.sas.size(), 2u);
    const SaConfig* in = host.find(c.spi_r, true);
    const SaConfig* out = host.find(c.spi_i, false);
    ASSERT_NE(in, nullptr) << "the inbound SA has the responder's SPI";
    ASSERT_NE(out, nullptr) << "the outbound SA has the initiator's SPI";
    EXPECT_TRUE(same(in->enc_key, c.enc_ir)) << "inbound: the initiator's outbound keys";
    EXPECT_TRUE(same(out->enc_key, c.enc_ri)) << "outbound: the responder-to-initiator keys";
    EXPECT_FALSE(same(in->enc_key, out->enc_key));
    EXPECT_EQ(in->hoa, kHoa);
    EXPECT_EQ(out->hoa, kHoa);
    EXPECT_TRUE(in->negotiated);
    EXPECT_TRUE(out->negotiated);
    EXPECT_EQ(in->algorithm, EspAlgorithm::aes_gcm_128);
    EXPECT_EQ(resp().half_open(), 0u);
    EXPECT_EQ(resp().ike_sas(), 1u);
    EXPECT_EQ(host.refused, 0);
}

TEST_F(Responder, CbcSuiteWithIntegrityKeys)
{
    mr.cipher = IkeCipher::aes_cbc_128_hmac_sha256;
    ASSERT_TRUE(do_init(mr));
    SaPayload child;
    child.proposals.push_back(test::esp_proposal(1, 0x1234, encr::aes_cbc, 128, integ::hmac_sha2_256_128));
    auto a = one(mr.auth({ts_any6()}, {ts_any6()}, child));
    ASSERT_TRUE(a && mr.on_auth(*a));
    ASSERT_EQ(mr.children.size(), 1u);
    const auto& c = mr.children[0];
    const SaConfig* in = host.find(c.spi_r, true);
    const SaConfig* out = host.find(c.spi_i, false);
    ASSERT_TRUE(in && out);
    EXPECT_EQ(in->algorithm, EspAlgorithm::aes_cbc_128_hmac_sha256);
    EXPECT_TRUE(same(in->auth_key, c.auth_ir));
    EXPECT_TRUE(same(out->auth_key, c.auth_ri));
    EXPECT_FALSE(in->auth_key.empty());
}

TEST_F(Responder, WrongPskIsRefusedAndNothingInstalled)
{
    ASSERT_TRUE(do_init(mr));
    mr.psk = KeyBytes{'w', 'r', 'o', 'n', 'g'};
    auto a = one(mr.auth({ts_any6()}, {ts_any6()}));
    ASSERT_TRUE(a);
    EXPECT_FALSE(mr.on_auth(*a));
    EXPECT_EQ(mr.last_notify, notify::authentication_failed);
    EXPECT_TRUE(host.sas.empty());
    EXPECT_EQ(count(IkeCounter::auth_failed), 1u);
    EXPECT_EQ(resp().ike_sas(), 0u) << "the half-open SA is dropped";
}

TEST_F(Responder, UnknownIdentityIsRefused)
{
    mr.id = "fqdn:stranger.example.net";
    ASSERT_TRUE(do_init(mr));
    auto a = one(mr.auth({ts_any6()}, {ts_any6()}));
    ASSERT_TRUE(a);
    EXPECT_FALSE(mr.on_auth(*a));
    EXPECT_EQ(mr.last_notify, notify::authentication_failed);
    EXPECT_EQ(count(IkeCounter::unknown_identity), 1u);
    EXPECT_TRUE(host.sas.empty());
}

TEST_F(Responder, SelectorsOutsideTheHomeAddressGiveTsUnacceptable)
{
    const Ipv6Addr other = *Ipv6Addr::parse("2001:db8:9::1");
    ASSERT_TRUE(do_init(mr));
    auto a = one(mr.auth({ts_range(other, other)}, {ts_any6()}));
    ASSERT_TRUE(a);
    EXPECT_TRUE(mr.on_auth(*a)) << "the IKE SA is up, the child refused";
    EXPECT_EQ(mr.last_notify, notify::ts_unacceptable);
    EXPECT_TRUE(mr.children.empty());
    EXPECT_TRUE(host.sas.empty());
    EXPECT_EQ(count(IkeCounter::ts_unacceptable), 1u);
}

TEST_F(Responder, NoProposalChosen)
{
    SaPayload sa;
    sa.proposals.push_back(test::ike_proposal(1, encr::aes_gcm_16, 192, {dh::ecp256})); // GCM-192: not ours
    mr.init_sa = sa;
    auto a = one(mr.init());
    ASSERT_TRUE(a);
    EXPECT_FALSE(mr.on_init(*a));
    EXPECT_EQ(mr.last_notify, notify::no_proposal_chosen);
    EXPECT_EQ(count(IkeCounter::no_proposal_chosen), 1u);
    EXPECT_EQ(resp().ike_sas(), 0u);
}

TEST_F(Responder, InvalidKeThenSuccessWithTheAskedGroup)
{
    // Offered ECP-256 only, KE of Curve25519: the answer asks for ECP-256.
    mr.offer_groups = {dh::ecp256};
    mr.ke_group = dh::curve25519;
    auto a = one(mr.init());
    ASSERT_TRUE(a);
    EXPECT_FALSE(mr.on_init(*a));
    ASSERT_EQ(mr.last_notify, notify::invalid_ke_payload);
    ASSERT_EQ(mr.last_notify_data.size(), 2u);
    const uint16_t asked = static_cast<uint16_t>((mr.last_notify_data[0] << 8) | mr.last_notify_data[1]);
    EXPECT_EQ(asked, dh::ecp256);
    EXPECT_EQ(count(IkeCounter::invalid_ke), 1u);
    EXPECT_EQ(resp().ike_sas(), 0u);
    mr.ke_group = asked;
    ASSERT_TRUE(establish(mr));
}

TEST_F(Responder, RepeatedRequestsAreAnsweredByteIdentically)
{
    auto req = mr.init();
    auto a1 = one(req);
    auto a2 = one(req);
    ASSERT_TRUE(a1 && a2);
    EXPECT_EQ(a1->bytes, a2->bytes);
    EXPECT_EQ(count(IkeCounter::retransmit_answered), 1u);
    EXPECT_EQ(resp().ike_sas(), 1u);
    ASSERT_TRUE(mr.on_init(*a1));
    auto auth = mr.auth({ts_any6()}, {ts_any6()});
    auto b1 = one(auth);
    auto b2 = one(auth);
    ASSERT_TRUE(b1 && b2);
    EXPECT_EQ(b1->bytes, b2->bytes);
    EXPECT_EQ(count(IkeCounter::retransmit_answered), 2u);
    EXPECT_EQ(count(IkeCounter::child_installed), 1u) << "the repeat installs nothing more";
    EXPECT_TRUE(mr.on_auth(*b1));
}

TEST_F(Responder, MessageIdOutOfWindowDropped)
{
    ASSERT_TRUE(establish(mr));
    mr.next_id = 7;
    EXPECT_TRUE(send(mr.request(Exchange::informational, {})).empty());
    EXPECT_EQ(count(IkeCounter::bad_message_id), 1u);
    mr.next_id = 2;
    auto a = one(mr.request(Exchange::informational, {}));
    ASSERT_TRUE(a);
    EXPECT_TRUE(mr.open(*a));
}

TEST_F(Responder, BitFlippedAuthDroppedSaStillUsable)
{
    ASSERT_TRUE(do_init(mr));
    auto auth = mr.auth({ts_any6()}, {ts_any6()});
    Datagram bad = auth;
    bad.bytes[bad.bytes.size() - 20] ^= 0x01;
    EXPECT_TRUE(send(bad).empty());
    EXPECT_EQ(count(IkeCounter::icv_failed), 1u);
    auto a = one(auth);
    ASSERT_TRUE(a);
    EXPECT_TRUE(mr.on_auth(*a));
    EXPECT_EQ(host.sas.size(), 2u);
}

TEST_F(Responder, CookieRequiredThenAcceptedWrongOneDropped)
{
    cfg.cookie_threshold = 0;
    auto a = one(mr.init());
    ASSERT_TRUE(a);
    EXPECT_FALSE(mr.on_init(*a));
    ASSERT_EQ(mr.last_notify, notify::cookie);
    EXPECT_EQ(parse_header(a->bytes)->spi_r, 0u) << "no responder SPI: no state (RFC 7296 2.6)";
    EXPECT_EQ(count(IkeCounter::cookies_sent), 1u);
    EXPECT_EQ(resp().ike_sas(), 0u) << "no state for a cookie";
    auto cookie = mr.last_notify_data;

    Initiator liar;
    auto wrong = cookie;
    wrong.back() ^= 0x55;
    liar.use_cookie(wrong);
    EXPECT_TRUE(send(liar.init()).empty());
    EXPECT_EQ(count(IkeCounter::cookie_bad), 1u);

    mr.use_cookie(cookie);
    // The retried request must carry the same nonce the cookie covers: the initiator keeps Ni.
    auto keep_ni = mr.ni;
    auto d = mr.init();
    (void)d;
    // init() made a new nonce; rebuild the request with the old one (RFC 7296 2.6: the same Ni).
    mr.ni = keep_ni;
    {
        std::vector<Payload> p;
        p.push_back(mr.default_ike_sa());
        p.push_back(KePayload{mr.ke_group, mr.dh->public_value()});
        p.insert(p.begin(), mr.init_extra[0]);
        p.push_back(NoncePayload{std::vector<uint8_t>(mr.ni.begin(), mr.ni.end())});
        Header h;
        h.spi_i = mr.spi_i;
        h.exchange = Exchange::ike_sa_init;
        h.flags = hdr_flag::initiator;
        mr.init_request = build_message(h, p);
    }
    auto b = one(mr.dgram(mr.init_request));
    ASSERT_TRUE(b);
    ASSERT_TRUE(mr.on_init(*b));
    auto c = one(mr.auth({ts_any6()}, {ts_any6()}));
    ASSERT_TRUE(c && mr.on_auth(*c));
}

TEST_F(Responder, HalfOpenMaxAndExpiry)
{
    cfg.half_open_max = 2;
    cfg.half_open_timeout_s = 5;
    Initiator a, b, c;
    ASSERT_TRUE(do_init(a));
    ASSERT_TRUE(do_init(b));
    EXPECT_TRUE(send(c.init()).empty());
    EXPECT_EQ(count(IkeCounter::half_open_full), 1u);
    EXPECT_EQ(resp().half_open(), 2u);
    std::vector<Datagram> out;
    now += 4000;
    resp().poll(now, out);
    EXPECT_EQ(resp().half_open(), 2u);
    now += 1500;
    resp().poll(now, out);
    EXPECT_EQ(resp().half_open(), 0u);
    EXPECT_EQ(resp().ike_sas(), 0u);
    EXPECT_EQ(count(IkeCounter::half_open_expired), 2u);
    EXPECT_TRUE(do_init(c));
}

TEST_F(Responder, InitQueueBoundedPerPoll)
{
    cfg.inits_per_turn = 3;
    cfg.init_queue_max = 5;
    cfg.init_budget_us = 0; // the count alone: a loaded machine's DH may take longer than the time budget
    std::vector<Initiator> is(7);
    std::vector<Datagram> out;
    for (auto& i : is) resp().handle(i.init(), now, out);
    EXPECT_TRUE(out.empty()) << "IKE_SA_INIT waits for poll()";
    EXPECT_EQ(count(IkeCounter::init_queue_full), 2u);
    resp().poll(now, out);
    EXPECT_EQ(out.size(), 3u);
    resp().poll(now, out);
    EXPECT_EQ(out.size(), 5u);
    resp().poll(now, out);
    EXPECT_EQ(out.size(), 5u);
}

// With the time budget, a turn stops once it is spent (at least one is always handled).
TEST_F(Responder, InitWorkBoundedByTimeToo)
{
    cfg.inits_per_turn = 100;
    cfg.init_budget_us = 1; // spent by the first DH
    std::vector<Initiator> is(4);
    std::vector<Datagram> out;
    for (auto& i : is) resp().handle(i.init(), now, out);
    resp().poll(now, out);
    EXPECT_EQ(out.size(), 1u);
    resp().poll(now, out);
    EXPECT_EQ(out.size(), 2u);
}

class Established : public Responder {
protected:
    void SetUp() override
    {
        Responder::SetUp();
        ASSERT_TRUE(establish(mr));
        ASSERT_EQ(mr.children.size(), 1u);
    }
};

TEST_F(Established, ChildRekeySwitchesOutboundWhenThePeerUsesTheNewKeys)
{
    const auto old = mr.children[0];
    auto a = one(mr.rekey_child(old.spi_i, {ts_any6()}, {ts_any6()}));
    ASSERT_TRUE(a);
    ASSERT_TRUE(mr.on_rekey_child(*a)) << "notify " << mr.last_notify;
    ASSERT_EQ(mr.children.size(), 2u);
    const auto nc = mr.children[1];
    const SaConfig* new_in = host.find(nc.spi_r, true);
    ASSERT_NE(new_in, nullptr) << "the new inbound SA at once";
    EXPECT_TRUE(same(new_in->enc_key, nc.enc_ir));
    EXPECT_NE(host.find(old.spi_i, false), nullptr) << "the old outbound still in use";
    EXPECT_EQ(host.find(nc.spi_i, false), nullptr) << "the new outbound waits";
    std::vector<Datagram> out;
    now += 300;
    resp().poll(now, out);
    EXPECT_EQ(host.find(nc.spi_i, false), nullptr) << "nothing heard on the new SA yet";
    host.packets[nc.spi_r] = 1;
    now += 300;
    resp().poll(now, out);
    const SaConfig* new_out = host.find(nc.spi_i, false);
    ASSERT_NE(new_out, nullptr);
    EXPECT_TRUE(same(new_out->enc_key, nc.enc_ri));
    EXPECT_EQ(host.find(old.spi_i, false), nullptr);
    EXPECT_EQ(count(IkeCounter::child_rekeyed), 1u);
    // The initiator deletes the old child: its inbound SA goes.
    auto d = one(mr.request(Exchange::informational, {Initiator::delete_esp(old.spi_i)}));
    ASSERT_TRUE(d);
    ASSERT_TRUE(mr.open(*d));
    EXPECT_EQ(host.find(old.spi_r, true), nullptr) << "the old inbound SA is removed";
    EXPECT_NE(host.find(nc.spi_r, true), nullptr);
    EXPECT_NE(host.find(nc.spi_i, false), nullptr);
    EXPECT_EQ(host.sas.size(), 2u);
}

TEST_F(Established, ChildRekeyOutboundSwitchesAfterOneSecond)
{
    const auto old = mr.children[0];
    auto a = one(mr.rekey_child(old.spi_i, {ts_any6()}, {ts_any6()}));
    ASSERT_TRUE(a && mr.on_rekey_child(*a));
    const auto nc = mr.children[1];
    std::vector<Datagram> out;
    now += 1100;
    resp().poll(now, out);
    EXPECT_NE(host.find(nc.spi_i, false), nullptr);
    EXPECT_EQ(host.find(old.spi_i, false), nullptr);
}

// strongSwan's order: the old CHILD_SA deleted right after the rekey, before any ESP on the new one. The
// new outbound SA takes over in the same SA table change that removes the old pair.
TEST_F(Established, ChildRekeyThenImmediateDeleteOfTheOld)
{
    const auto old = mr.children[0];
    auto a = one(mr.rekey_child(old.spi_i, {ts_any6()}, {ts_any6()}));
    ASSERT_TRUE(a && mr.on_rekey_child(*a));
    const auto nc = mr.children[1];
    auto d = one(mr.request(Exchange::informational, {Initiator::delete_esp(old.spi_i)}));
    ASSERT_TRUE(d && mr.open(*d));
    EXPECT_EQ(host.find(old.spi_r, true), nullptr);
    EXPECT_EQ(host.find(old.spi_i, false), nullptr);
    ASSERT_NE(host.find(nc.spi_r, true), nullptr);
    const SaConfig* out = host.find(nc.spi_i, false);
    ASSERT_NE(out, nullptr) << "the new outbound SA at once";
    EXPECT_TRUE(same(out->enc_key, nc.enc_ri));
    EXPECT_EQ(host.sas.size(), 2u);
    EXPECT_EQ(host.refused, 0);
}

// A rekey of a child whose own outbound SA still waits (found by fuzz_ike_responder): the newest child
// takes the outbound SA, so the waiting one can no longer be installed; the Delete of the first child
// must still remove that child's inbound SA (the SA table refuses a change as a whole).
TEST_F(Established, DeleteStillRemovesWhenAWaitingOutboundCannotBeInstalled)
{
    const auto a = mr.children[0];
    auto r1 = one(mr.rekey_child(a.spi_i, {ts_any6()}, {ts_any6()}));
    ASSERT_TRUE(r1 && mr.on_rekey_child(*r1));
    const auto b = mr.children[1];
    auto r2 = one(mr.rekey_child(b.spi_i, {ts_any6()}, {ts_any6()}));
    ASSERT_TRUE(r2 && mr.on_rekey_child(*r2));
    const auto c = mr.children[2];
    auto d = one(mr.request(Exchange::informational, {Initiator::delete_esp(a.spi_i)}));
    ASSERT_TRUE(d && mr.open(*d));
    EXPECT_EQ(host.find(a.spi_r, true), nullptr) << "the deleted child's inbound SA is removed";
    EXPECT_NE(host.find(c.spi_r, true), nullptr);
    EXPECT_NE(host.find(c.spi_i, false), nullptr) << "the newest child keeps the outbound SA";
    // Everything goes with the IKE SA.
    auto e = one(mr.request(Exchange::informational, {Initiator::delete_ike()}));
    ASSERT_TRUE(e);
    EXPECT_TRUE(host.sas.empty());
}

// A CREATE_CHILD_SA with a KE payload of group NONE (0): no PFS group was chosen, so there is no DH to
// do; it is refused (INVALID_SYNTAX), nothing installed, and the IKE SA still answers.
TEST_F(Established, CreateChildWithKeOfGroupNoneRefused)
{
    SaPayload sa;
    sa.proposals.push_back(test::esp_proposal(1, 0x4242));
    std::vector<uint8_t> n(32, 7);
    std::vector<Payload> p{sa, NoncePayload{n}, KePayload{dh::none, std::vector<uint8_t>(64, 1)},
                           TsPayload{false, {ts_any6()}}, TsPayload{true, {ts_any6()}}};
    auto a = one(mr.request(Exchange::create_child_sa, p));
    ASSERT_TRUE(a);
    ASSERT_TRUE(mr.open(*a));
    EXPECT_EQ(mr.last_notify, notify::invalid_syntax);
    EXPECT_EQ(host.sas.size(), 2u);
    auto b = one(mr.request(Exchange::informational, {}));
    ASSERT_TRUE(b && mr.open(*b));
}

TEST_F(Established, IkeRekeyMovesChildrenAndDeletesTheOldSa)
{
    const uint64_t old_spi_r = mr.spi_r;
    auto a = one(mr.rekey_ike());
    ASSERT_TRUE(a);
    ASSERT_TRUE(mr.on_rekey_ike(*a)) << "notify " << mr.last_notify;
    EXPECT_EQ(count(IkeCounter::rekeyed), 1u);
    EXPECT_EQ(resp().ike_sas(), 2u);
    // The new SA's message IDs start at 0.
    auto b = one(mr.request(Exchange::informational, {}));
    ASSERT_TRUE(b);
    EXPECT_TRUE(mr.open(*b)) << "the new SA answers with the new keys";
    // The old SA is deleted by the initiator: the children stay (they moved).
    auto c = one(mr.old_request(Exchange::informational, {Initiator::delete_ike()}));
    ASSERT_TRUE(c);
    EXPECT_EQ(resp().ike_sas(), 1u);
    EXPECT_EQ(host.sas.size(), 2u) << "the CHILD_SAs belong to the new IKE SA";
    EXPECT_EQ(resp().show("", false, now).find([&] {
        char hex[20];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(old_spi_r));
        return std::string(hex);
    }()), std::string::npos);
    // Deleting the child through the new SA removes it.
    auto d = one(mr.request(Exchange::informational, {Initiator::delete_esp(mr.children[0].spi_i)}));
    ASSERT_TRUE(d && mr.open(*d));
    EXPECT_TRUE(host.sas.empty());
}

TEST_F(Established, DeleteChildThenIke)
{
    auto d = one(mr.request(Exchange::informational, {Initiator::delete_esp(mr.children[0].spi_i)}));
    ASSERT_TRUE(d);
    auto p = mr.open(*d);
    ASSERT_TRUE(p);
    const auto* del = find<DeletePayload>(*p);
    ASSERT_NE(del, nullptr) << "the answer deletes the other direction";
    ASSERT_EQ(del->spis.size(), 1u);
    EXPECT_EQ(test::be32_value(del->spis[0]), mr.children[0].spi_r);
    EXPECT_TRUE(host.sas.empty());
    EXPECT_EQ(count(IkeCounter::child_deleted), 1u);
    auto e = one(mr.request(Exchange::informational, {Initiator::delete_ike()}));
    ASSERT_TRUE(e);
    EXPECT_EQ(resp().ike_sas(), 0u);
}

TEST_F(Established, DeleteIkeRemovesItsChildren)
{
    auto e = one(mr.request(Exchange::informational, {Initiator::delete_ike()}));
    ASSERT_TRUE(e);
    EXPECT_TRUE(mr.open(*e));
    EXPECT_EQ(resp().ike_sas(), 0u);
    EXPECT_TRUE(host.sas.empty());
    EXPECT_EQ(count(IkeCounter::deleted), 1u);
}

TEST_F(Established, SilentPeerIsCheckedThenDeclaredDead)
{
    cfg.dpd_s = 5;
    cfg.retransmits = 2;
    r.reset();
    host.sas.clear();
    mr = Initiator();
    mr.responder_id = cfg.id;
    ASSERT_TRUE(establish(mr));
    std::vector<Datagram> out;
    now += 4000;
    resp().poll(now, out);
    EXPECT_TRUE(out.empty());
    now += 1500;
    resp().poll(now, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(count(IkeCounter::liveness_sent), 1u);
    ASSERT_TRUE(mr.open(out[0])) << "an INFORMATIONAL request under the SA's keys";
    const auto h = parse_header(out[0].bytes);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->exchange, Exchange::informational);
    EXPECT_EQ(h->flags & hdr_flag::response, 0) << "a request";
    for (int i = 0; i < 60 && resp().ike_sas(); ++i) {
        now += 1000;
        resp().poll(now, out);
    }
    EXPECT_EQ(out.size(), 3u) << "the request and two retransmissions";
    EXPECT_EQ(count(IkeCounter::dead_peers), 1u);
    EXPECT_EQ(resp().ike_sas(), 0u);
    EXPECT_TRUE(host.sas.empty());
}

TEST_F(Established, AnsweredLivenessKeepsTheSa)
{
    cfg.dpd_s = 5;
    cfg.retransmits = 2;
    r.reset();
    host.sas.clear();
    mr = Initiator();
    mr.responder_id = cfg.id;
    ASSERT_TRUE(establish(mr));
    std::vector<Datagram> out;
    now += 5500;
    resp().poll(now, out);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_TRUE(mr.open(out[0]));
    std::vector<Datagram> none;
    resp().handle(mr.answer(out[0], {}), now, none);
    EXPECT_TRUE(none.empty());
    for (int i = 0; i < 4; ++i) {
        now += 1000;
        resp().poll(now, out);
    }
    EXPECT_EQ(out.size(), 1u) << "no retransmission after the answer";
    EXPECT_EQ(count(IkeCounter::dead_peers), 0u);
    EXPECT_EQ(resp().ike_sas(), 1u);
    EXPECT_EQ(host.sas.size(), 2u);
}

TEST_F(Established, InitialContactDropsTheOlderSa)
{
    Initiator again;
    again.responder_id = cfg.id;
    ASSERT_TRUE(do_init(again));
    NotifyPayload ic;
    ic.type = notify::initial_contact;
    auto a = one(again.auth({ts_any6()}, {ts_any6()}, {}, {ic}));
    ASSERT_TRUE(a && again.on_auth(*a));
    EXPECT_EQ(count(IkeCounter::initial_contact), 1u);
    EXPECT_EQ(resp().ike_sas(), 1u);
    ASSERT_EQ(again.children.size(), 1u);
    EXPECT_NE(host.find(again.children[0].spi_r, true), nullptr);
    EXPECT_NE(host.find(again.children[0].spi_i, false), nullptr);
    EXPECT_EQ(host.find(mr.children[0].spi_r, true), nullptr) << "the old SA's children went with it";
    EXPECT_EQ(host.sas.size(), 2u);
}

TEST_F(Responder, MobikeUpdateMovesThePeerOnlyWhenNegotiated)
{
    NotifyPayload ms;
    ms.type = notify::mobike_supported;
    ASSERT_TRUE(do_init(mr));
    auto a = one(mr.auth({ts_any6()}, {ts_any6()}, {}, {ms}));
    ASSERT_TRUE(a && mr.on_auth(*a));
    EXPECT_NE(find_notify(mr.last_payloads, notify::mobike_supported), nullptr);
    mr.addr = *Ipv4Addr::parse("203.0.113.7");
    mr.port = kNatTPort;
    mr.local_port = kNatTPort;
    NotifyPayload up;
    up.type = notify::update_sa_addresses;
    auto b = one(mr.request(Exchange::informational, {up}));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->peer, mr.addr);
    EXPECT_EQ(count(IkeCounter::mobike_updates), 1u);
    EXPECT_NE(resp().show("", false, now).find("203.0.113.7"), std::string::npos);

    // Without MOBIKE negotiated the notify moves nothing.
    Initiator other;
    other.id = "fqdn:mr2.example.net";
    IkePeer p2 = host.peers["fqdn:mr1.example.net"];
    p2.id = other.id;
    p2.hoa = *Ipv6Addr::parse("2001:db8:1::200");
    p2.prefixes.clear();
    p2.psk = other.psk;
    host.peers[p2.id] = p2;
    other.responder_id = cfg.id;
    ASSERT_TRUE(establish(other));
    other.addr = *Ipv4Addr::parse("203.0.113.9");
    (void)one(other.request(Exchange::informational, {up}));
    EXPECT_EQ(count(IkeCounter::mobike_updates), 1u);
    EXPECT_EQ(resp().show("fqdn:mr2.example.net", false, now).find("203.0.113.9"), std::string::npos);
}

std::vector<std::string> hex_forms(const KeyBytes& k)
{
    static const char* lo = "0123456789abcdef";
    static const char* hi = "0123456789ABCDEF";
    std::string a, b;
    for (uint8_t x : k) {
        a += lo[x >> 4], a += lo[x & 15];
        b += hi[x >> 4], b += hi[x & 15];
    }
    return {a, b};
}

TEST_F(Established, ShowListsTheSaWithoutKeys)
{
    const std::string text = resp().show("", false, now);
    const std::string json = resp().show("", true, now);
    EXPECT_NE(text.find("ESTABLISHED"), std::string::npos);
    EXPECT_NE(text.find("fqdn:mr1.example.net"), std::string::npos);
    EXPECT_NE(text.find(kHoa.str()), std::string::npos);
    EXPECT_NE(json.find("\"established\""), std::string::npos);
    EXPECT_NE(json.find("fqdn:mr1.example.net"), std::string::npos);
    std::vector<const KeyBytes*> keys{&mr.keys.sk_d, &mr.keys.sk_ei, &mr.keys.sk_er, &mr.keys.sk_pi, &mr.keys.sk_pr};
    for (const auto& c : mr.children) {
        keys.push_back(&c.enc_ir);
        keys.push_back(&c.enc_ri);
    }
    keys.push_back(&mr.psk);
    int checked = 0;
    for (const KeyBytes* k : keys) {
        for (const std::string& h : hex_forms(*k)) {
            ++checked;
            EXPECT_EQ(text.find(h), std::string::npos) << "a key in `show` text";
            EXPECT_EQ(json.find(h), std::string::npos) << "a key in `show` json";
        }
    }
    EXPECT_GT(checked, 10);
    EXPECT_EQ(resp().show("fqdn:nobody.example.net", false, now), "no IKE SA matches\n");
}

} // namespace

// RFC 4303 3.3.3 and RFC 7296 2.8: an outbound SA with 7/8 of its sequence numbers used is rekeyed by the
// home agent itself (CREATE_CHILD_SA as the exchange's initiator, REKEY_SA naming our inbound SPI); the
// answer's keys (KEYMAT's first half ours to send with) replace the outbound SA at once, and the old
// CHILD_SA is deleted with a request of ours, whose answer removes its inbound SA.
TEST_F(Established, OutboundNearItsLastSequenceNumberIsRekeyedByTheHomeAgent)
{
    const auto old = mr.children[0];
    std::vector<Datagram> out;
    now += 300;
    resp().poll(now, out);
    ASSERT_TRUE(out.empty()) << "nothing due yet";
    host.seq_used[old.spi_i] = 0xFFFFFFFFull - 1000; // no ESN: 2^32 - 1 is the last
    now += 300;
    resp().poll(now, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(count(IkeCounter::rekeys_started), 1u);
    const auto h = parse_header(out[0].bytes);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->exchange, Exchange::create_child_sa);
    EXPECT_EQ(h->flags & hdr_flag::response, 0);
    auto req = mr.open(out[0]);
    ASSERT_TRUE(req);
    const NotifyPayload* rekey = find_notify(*req, notify::rekey_sa);
    ASSERT_NE(rekey, nullptr);
    EXPECT_EQ(test::be32_value(rekey->spi), old.spi_r) << "REKEY_SA names the SPI the home agent receives with";
    const auto* sa = find<SaPayload>(*req);
    const auto* ni = find<NoncePayload>(*req);
    ASSERT_TRUE(sa && ni && sa->proposals.size() == 1);
    const uint32_t ha_new_in = test::be32_value(sa->proposals[0].spi);
    // The router's answer: its new SPI, its nonce.
    const uint32_t mr_new_in = 0x51515151;
    std::vector<uint8_t> nr(32, 0x3c);
    SaPayload ans;
    ans.proposals.push_back(test::esp_proposal(sa->proposals[0].number, mr_new_in));
    const Datagram answer = mr.answer(out[0], {ans, NoncePayload{nr}, TsPayload{false, {ts_any6()}}, TsPayload{true, {ts_any6()}}});
    out.clear();
    resp().handle(Datagram(answer), now, out);
    EXPECT_TRUE(out.empty());
    const SaConfig* new_out = host.find(mr_new_in, false);
    const SaConfig* new_in = host.find(ha_new_in, true);
    ASSERT_NE(new_out, nullptr) << "the new outbound SA at once";
    ASSERT_NE(new_in, nullptr);
    EXPECT_EQ(host.find(old.spi_i, false), nullptr) << "the old outbound SA is gone";
    EXPECT_NE(host.find(old.spi_r, true), nullptr) << "the old inbound SA waits for the Delete";
    const std::size_t enc = esp_enc_key_len(new_out->algorithm);
    const KeyBytes keymat = child_keymat(mr.keys.sk_d, {}, ni->data, nr, 2 * enc);
    EXPECT_TRUE(KeyBytes(keymat.begin(), keymat.begin() + static_cast<std::ptrdiff_t>(enc)) == new_out->enc_key)
        << "KEYMAT's first keys protect what the exchange's initiator (the home agent) sends";
    EXPECT_TRUE(KeyBytes(keymat.begin() + static_cast<std::ptrdiff_t>(enc), keymat.end()) == new_in->enc_key);
    EXPECT_EQ(count(IkeCounter::child_rekeyed), 1u);
    // Next turn: the Delete of the old CHILD_SA; answered, its inbound SA goes.
    now += 300;
    resp().poll(now, out);
    ASSERT_EQ(out.size(), 1u);
    auto del = mr.open(out[0]);
    ASSERT_TRUE(del);
    const auto* d = find<DeletePayload>(*del);
    ASSERT_TRUE(d && d->spis.size() == 1);
    EXPECT_EQ(test::be32_value(d->spis[0]), old.spi_r);
    resp().handle(mr.answer(out[0], {}), now, out);
    EXPECT_EQ(host.find(old.spi_r, true), nullptr);
    EXPECT_EQ(host.sas.size(), 2u);
    EXPECT_EQ(host.refused, 0);
}
