// IKEv2's pure decisions (lib/ike_policy): which proposal the home agent takes (RFC 7296 2.7, 3.3), how
// a router's traffic selectors are narrowed to its home address and mobile network prefixes (RFC 4877
// 4.2, 4.3; RFC 7296 2.9), and identities' canonical texts (RFC 7296 3.5).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ike_policy.hpp"

using namespace nemo;
using namespace nemo::ike;

namespace {

Transform T(uint8_t type, uint16_t id, std::optional<uint16_t> bits = std::nullopt) { return Transform{type, id, bits}; }

Proposal P(uint8_t number, uint8_t protocol, std::vector<Transform> ts, std::vector<uint8_t> spi = {})
{
    Proposal p;
    p.number = number;
    p.protocol = protocol;
    p.spi = std::move(spi);
    p.transforms = std::move(ts);
    return p;
}

std::vector<uint8_t> spi4(uint32_t v)
{
    return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

const Transform kGcm128 = T(tf::encr, encr::aes_gcm_16, 128);
const Transform kGcm256 = T(tf::encr, encr::aes_gcm_16, 256);
const Transform kCbc128 = T(tf::encr, encr::aes_cbc, 128);
const Transform kPrf = T(tf::prf, prf_id::hmac_sha2_256);
const Transform kSha = T(tf::integ, integ::hmac_sha2_256_128);
Transform dhT(uint16_t g) { return T(tf::dh, g); }

// ---- IKE proposals ----

TEST(IkeProposal, InitiatorsOrderOfProposals)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::ike, {kGcm256, kPrf, dhT(dh::ecp256)}));
    sa.proposals.push_back(P(2, proto::ike, {kGcm128, kPrf, dhT(dh::ecp256)}));
    auto c = choose_ike_proposal(sa, IkeAlgorithms{}, dh::ecp256);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->proposal, 1);
    EXPECT_EQ(c->key_bits, 256);
    IkeAlgorithms no256;
    no256.gcm256 = false;
    c = choose_ike_proposal(sa, no256, dh::ecp256);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->proposal, 2);
    EXPECT_EQ(c->key_bits, 128);
}

TEST(IkeProposal, InitiatorsOrderWithinAType)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::ike, {kCbc128, kGcm128, kPrf, kSha, dhT(dh::ecp256)}));
    auto c = choose_ike_proposal(sa, IkeAlgorithms{}, dh::ecp256);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->encr, encr::aes_cbc);
    EXPECT_EQ(c->integ, integ::hmac_sha2_256_128);
}

TEST(IkeProposal, AeadTakesNoIntegrity)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::ike, {kGcm128, kPrf, dhT(dh::ecp256)}));
    auto c = choose_ike_proposal(sa, IkeAlgorithms{}, dh::ecp256);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->integ, integ::none);
    auto ans = answer_ike_proposal(*c);
    for (const Transform& t : ans.proposals.at(0).transforms) EXPECT_NE(t.type, tf::integ);
    // GCM with an INTEG transform other than NONE: not a valid combination, refused.
    SaPayload bad;
    bad.proposals.push_back(P(1, proto::ike, {kGcm128, kPrf, kSha, dhT(dh::ecp256)}));
    EXPECT_FALSE(choose_ike_proposal(bad, IkeAlgorithms{}, dh::ecp256));
}

TEST(IkeProposal, CbcNeedsIntegrity)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::ike, {kCbc128, kPrf, dhT(dh::ecp256)}));
    EXPECT_FALSE(choose_ike_proposal(sa, IkeAlgorithms{}, dh::ecp256));
    sa.proposals[0].transforms.push_back(kSha);
    auto c = choose_ike_proposal(sa, IkeAlgorithms{}, dh::ecp256);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->integ, integ::hmac_sha2_256_128);
    auto ans = answer_ike_proposal(*c);
    bool has_integ = false;
    for (const Transform& t : ans.proposals.at(0).transforms) has_integ |= t.type == tf::integ;
    EXPECT_TRUE(has_integ);
}

TEST(IkeProposal, KeGroupPreferredWithinTheProposal)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::ike, {kGcm128, kPrf, dhT(dh::modp2048), dhT(dh::ecp256), dhT(dh::curve25519)}));
    auto c = choose_ike_proposal(sa, IkeAlgorithms{}, dh::curve25519);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->dh, dh::curve25519);
    // A KE of a group not offered: the initiator's first allowed one (for INVALID_KE_PAYLOAD).
    c = choose_ike_proposal(sa, IkeAlgorithms{}, 21);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->dh, dh::modp2048);
}

TEST(IkeProposal, UnsupportedGroupsSkipped)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::ike, {kGcm128, kPrf, dhT(21), dhT(15)}));
    EXPECT_FALSE(choose_ike_proposal(sa, IkeAlgorithms{}, 21));
    sa.proposals[0].transforms.push_back(dhT(dh::ecp256));
    auto c = choose_ike_proposal(sa, IkeAlgorithms{}, 21);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->dh, dh::ecp256);
    // A group this home agent implements but the operator did not allow.
    IkeAlgorithms only25519;
    only25519.dh_groups = {dh::curve25519};
    EXPECT_FALSE(choose_ike_proposal(sa, only25519, dh::ecp256));
}

TEST(IkeProposal, OtherProtocolsAndUnknownPrfSkipped)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::esp, {kGcm128, kPrf, dhT(dh::ecp256)}, spi4(0x1000)));
    sa.proposals.push_back(P(2, proto::ike, {kGcm128, T(tf::prf, 7), dhT(dh::ecp256)}));
    sa.proposals.push_back(P(3, proto::ike, {kGcm128, kPrf, dhT(dh::ecp256)}));
    auto c = choose_ike_proposal(sa, IkeAlgorithms{}, dh::ecp256);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->proposal, 3);
}

// ---- ESP proposals ----

TEST(EspProposal, ChoosesAndKeepsThePeersSpi)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::esp, {kGcm256, T(tf::esn, esn::no)}, spi4(0xC0FFEE01)));
    auto c = choose_esp_proposal(sa, dh::none, IkeAlgorithms{});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->peer_spi, 0xC0FFEE01u);
    EXPECT_EQ(c->algorithm, EspAlgorithm::aes_gcm_256);
    auto ans = answer_esp_proposal(*c, 0x12345678);
    EXPECT_EQ(ans.proposals.at(0).spi, spi4(0x12345678));
}

TEST(EspProposal, SpiBelow256Skipped)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::esp, {kGcm128}, spi4(255)));
    sa.proposals.push_back(P(2, proto::esp, {kGcm128}, spi4(256)));
    auto c = choose_esp_proposal(sa, dh::none, IkeAlgorithms{});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->proposal, 2);
    EXPECT_EQ(c->peer_spi, 256u);
    SaPayload zero;
    zero.proposals.push_back(P(1, proto::esp, {kGcm128}, spi4(0)));
    EXPECT_FALSE(choose_esp_proposal(zero, dh::none, IkeAlgorithms{}));
    SaPayload short_spi;
    short_spi.proposals.push_back(P(1, proto::esp, {kGcm128}, {1, 2, 3}));
    EXPECT_FALSE(choose_esp_proposal(short_spi, dh::none, IkeAlgorithms{}));
}

TEST(EspProposal, CbcNeedsIntegrityAeadNone)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::esp, {kCbc128}, spi4(0x1000)));
    EXPECT_FALSE(choose_esp_proposal(sa, dh::none, IkeAlgorithms{}));
    sa.proposals[0].transforms.push_back(kSha);
    auto c = choose_esp_proposal(sa, dh::none, IkeAlgorithms{});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->algorithm, EspAlgorithm::aes_cbc_128_hmac_sha256);
    SaPayload gcm_sha;
    gcm_sha.proposals.push_back(P(1, proto::esp, {kGcm128, kSha}, spi4(0x1000)));
    EXPECT_FALSE(choose_esp_proposal(gcm_sha, dh::none, IkeAlgorithms{}));
}

TEST(EspProposal, EsnYesNoAbsent)
{
    auto with = [](std::vector<Transform> esns) {
        SaPayload sa;
        std::vector<Transform> ts{kGcm128};
        ts.insert(ts.end(), esns.begin(), esns.end());
        sa.proposals.push_back(P(1, proto::esp, ts, spi4(0x1000)));
        return choose_esp_proposal(sa, dh::none, IkeAlgorithms{});
    };
    auto yes = with({T(tf::esn, esn::yes)});
    ASSERT_TRUE(yes);
    EXPECT_TRUE(yes->esn);
    auto no = with({T(tf::esn, esn::no)});
    ASSERT_TRUE(no);
    EXPECT_FALSE(no->esn);
    auto absent = with({});
    ASSERT_TRUE(absent);
    EXPECT_FALSE(absent->esn);
    auto first = with({T(tf::esn, esn::yes), T(tf::esn, esn::no)});
    ASSERT_TRUE(first);
    EXPECT_TRUE(first->esn) << "the initiator's first";
    EXPECT_FALSE(with({T(tf::esn, 7)})) << "an ESN value we do not know";
    auto ans = answer_esp_proposal(*yes, 0x2000);
    bool esn_yes = false;
    for (const Transform& t : ans.proposals.at(0).transforms) esn_yes |= t.type == tf::esn && t.id == esn::yes;
    EXPECT_TRUE(esn_yes);
}

TEST(EspProposal, PfsGroupMustBeOffered)
{
    SaPayload sa;
    sa.proposals.push_back(P(1, proto::esp, {kGcm128, dhT(dh::curve25519)}, spi4(0x1000)));
    auto c = choose_esp_proposal(sa, dh::curve25519, IkeAlgorithms{});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->dh, dh::curve25519);
    EXPECT_FALSE(choose_esp_proposal(sa, dh::ecp256, IkeAlgorithms{}));
}

// ---- traffic selectors ----

const Ipv6Addr kHoa = *Ipv6Addr::parse("2001:db8:1::100");
const Prefix6 kMnp = *Prefix6::parse("2001:db8:100::/48");

TrafficSelector R(const char* lo, const char* hi, uint8_t proto = 0, uint16_t p0 = 0, uint16_t p1 = 0xFFFF)
{
    TrafficSelector t;
    t.ts_type = kTsIpv6Range;
    t.ip_protocol = proto;
    t.start_port = p0;
    t.end_port = p1;
    const auto a = *Ipv6Addr::parse(lo), b = *Ipv6Addr::parse(hi);
    t.start.assign(a.bytes.begin(), a.bytes.end());
    t.end.assign(b.bytes.begin(), b.bytes.end());
    return t;
}

TEST(Narrowing, HomeAddressAlone)
{
    const std::vector<TrafficSelector> in{R("2001:db8:1::100", "2001:db8:1::100")};
    auto out = narrow_initiator_ts(in, kHoa, std::vector<Prefix6>{kMnp});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], in[0]);
}

TEST(Narrowing, SubnetInsideTheMnp)
{
    const std::vector<TrafficSelector> in{R("2001:db8:100:5::", "2001:db8:100:5:ffff:ffff:ffff:ffff")};
    auto out = narrow_initiator_ts(in, kHoa, std::vector<Prefix6>{kMnp});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], in[0]);
    EXPECT_EQ(ts_text(out[0]), "2001:db8:100:5::/64");
}

TEST(Narrowing, AnyNarrowedToHoaAndPrefixes)
{
    const Prefix6 mnp2 = *Prefix6::parse("2001:db8:200::/56");
    const std::vector<TrafficSelector> in{R("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")};
    auto out = narrow_initiator_ts(in, kHoa, std::vector<Prefix6>{kMnp, mnp2});
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0], R("2001:db8:1::100", "2001:db8:1::100"));
    EXPECT_EQ(out[1], ts_of(kMnp));
    EXPECT_EQ(out[2], ts_of(mnp2));
    EXPECT_EQ(ts_text(out[2]), "2001:db8:200::/56");
}

TEST(Narrowing, AnotherHomeAddressGivesNothing)
{
    const std::vector<TrafficSelector> in{R("2001:db8:1::101", "2001:db8:1::101")};
    EXPECT_TRUE(narrow_initiator_ts(in, kHoa, std::vector<Prefix6>{kMnp}).empty());
}

TEST(Narrowing, Ipv4SelectorsDropped)
{
    TrafficSelector v4;
    v4.ts_type = kTsIpv4Range;
    v4.start = {0, 0, 0, 0};
    v4.end = {255, 255, 255, 255};
    const std::vector<TrafficSelector> in{v4, R("2001:db8:1::100", "2001:db8:1::100")};
    auto out = narrow_initiator_ts(in, kHoa, {});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].ts_type, kTsIpv6Range);
    auto rs = narrow_responder_ts(in);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].ts_type, kTsIpv6Range);
}

TEST(Narrowing, ProtocolAndPortsKept)
{
    // Mobility Header (135) only, on any port.
    const std::vector<TrafficSelector> in{R("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 135, 0, 0xFFFF),
                                          R("2001:db8:100::", "2001:db8:1ff::", 6, 80, 443)};
    auto out = narrow_initiator_ts(in, kHoa, std::vector<Prefix6>{kMnp});
    ASSERT_GE(out.size(), 3u);
    EXPECT_EQ(out[0].ip_protocol, 135);
    EXPECT_EQ(out[0].start, R("2001:db8:1::100", "2001:db8:1::100").start);
    const TrafficSelector& last = out.back();
    EXPECT_EQ(last.ip_protocol, 6);
    EXPECT_EQ(last.start_port, 80);
    EXPECT_EQ(last.end_port, 443);
    EXPECT_EQ(last.end, ts_of(kMnp).end) << "clipped to the prefix";
    EXPECT_NE(ts_text(last).find("[6/80-443]"), std::string::npos);
}

TEST(Narrowing, MalformedRangesDropped)
{
    // A range upside down, and ports upside down over the home address itself.
    const std::vector<TrafficSelector> in{R("2001:db8:1::200", "2001:db8:1::100"), R("2001:db8:1::100", "2001:db8:1::100", 0, 9, 8)};
    EXPECT_TRUE(narrow_initiator_ts(in, kHoa, std::vector<Prefix6>{kMnp}).empty());
    EXPECT_TRUE(narrow_responder_ts(in).empty());
}

// ---- identities ----

TEST(Identity, CanonicalTexts)
{
    EXPECT_EQ(canonical_id("mr1.example.net"), "fqdn:mr1.example.net");
    EXPECT_EQ(canonical_id("fqdn:mr1.example.net"), "fqdn:mr1.example.net");
    EXPECT_EQ(canonical_id("mr@example.net"), "email:mr@example.net");
    EXPECT_EQ(canonical_id("192.0.2.7"), "ip:192.0.2.7");
    EXPECT_EQ(canonical_id("ip:2001:DB8::0:1"), "ip:2001:db8::1");
    EXPECT_EQ(canonical_id("2001:db8::1"), "ip:2001:db8::1");
    EXPECT_EQ(canonical_id("keyid:0A0b"), "keyid:0a0b");
    EXPECT_FALSE(canonical_id(""));
    EXPECT_FALSE(canonical_id("fqdn:"));
    EXPECT_FALSE(canonical_id("ip:not-an-address"));
    EXPECT_FALSE(canonical_id("keyid:xyz"));
    EXPECT_FALSE(canonical_id("weird:thing"));
}

TEST(Identity, PayloadsMatchTheSetting)
{
    for (const char* s : {"fqdn:mr1.example.net", "email:mr@example.net", "ip:192.0.2.7", "ip:2001:db8::1", "keyid:0a0b0c"}) {
        const IdPayload p = id_payload(s, false);
        EXPECT_EQ(canonical_id(p), std::optional<std::string>(s)) << s;
    }
    EXPECT_EQ(id_payload("ip:192.0.2.7", true).id_type, id_type::ipv4);
    EXPECT_EQ(id_payload("ip:2001:db8::1", true).id_type, id_type::ipv6);
    EXPECT_EQ(id_payload("email:a@b", true).id_type, id_type::rfc822);
    EXPECT_TRUE(id_payload("fqdn:x", true).responder);
    IdPayload spaced{false, id_type::fqdn, {'a', ' ', 'b'}};
    EXPECT_FALSE(canonical_id(spaced)) << "not printable without spaces";
    IdPayload v4short{false, id_type::ipv4, {1, 2, 3}};
    EXPECT_FALSE(canonical_id(v4short));
    IdPayload dn{false, id_type::der_asn1_dn, {0x30, 0}};
    EXPECT_FALSE(canonical_id(dn));
}

} // namespace
