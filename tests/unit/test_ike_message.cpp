// IKEv2 messages (lib/ike_message): every payload kind through the builder and back; every prefix of a
// valid message refused; lengths, critical bits, proposal numbering and SK placement; bytes laid out
// by hand from RFC 7296 section 3 read field by field; and what the builder writes read back by
// tshark's ISAKMP dissector from a pcap.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "checksum.hpp"
#include "hex.hpp"
#include "ike_message.hpp"

// Field-by-field equality for the payload structures that do not declare one, so that whole payload
// lists compare with ==; defined here (the tests' need), found by argument-dependent lookup.
namespace nemo::ike {
bool operator==(const Header& a, const Header& b)
{
    return a.spi_i == b.spi_i && a.spi_r == b.spi_r && a.next_payload == b.next_payload && a.version == b.version &&
           a.exchange == b.exchange && a.flags == b.flags && a.message_id == b.message_id && a.length == b.length;
}
bool operator==(const Proposal& a, const Proposal& b)
{
    return a.number == b.number && a.protocol == b.protocol && a.spi == b.spi && a.transforms == b.transforms;
}
bool operator==(const SaPayload& a, const SaPayload& b) { return a.proposals == b.proposals; }
bool operator==(const KePayload& a, const KePayload& b) { return a.group == b.group && a.data == b.data; }
bool operator==(const IdPayload& a, const IdPayload& b)
{
    return a.responder == b.responder && a.id_type == b.id_type && a.data == b.data;
}
bool operator==(const CertPayload& a, const CertPayload& b) { return a.encoding == b.encoding && a.data == b.data; }
bool operator==(const CertReqPayload& a, const CertReqPayload& b) { return a.encoding == b.encoding && a.data == b.data; }
bool operator==(const AuthPayload& a, const AuthPayload& b) { return a.method == b.method && a.data == b.data; }
bool operator==(const NoncePayload& a, const NoncePayload& b) { return a.data == b.data; }
bool operator==(const NotifyPayload& a, const NotifyPayload& b)
{
    return a.protocol == b.protocol && a.spi == b.spi && a.type == b.type && a.data == b.data;
}
bool operator==(const DeletePayload& a, const DeletePayload& b)
{
    return a.protocol == b.protocol && a.spi_size == b.spi_size && a.spis == b.spis;
}
bool operator==(const VendorPayload& a, const VendorPayload& b) { return a.data == b.data; }
bool operator==(const TsPayload& a, const TsPayload& b) { return a.responder == b.responder && a.selectors == b.selectors; }
bool operator==(const CpPayload& a, const CpPayload& b) { return a.cfg_type == b.cfg_type && a.attributes == b.attributes; }
bool operator==(const SkPayload& a, const SkPayload& b)
{
    return a.first_inner == b.first_inner && a.offset == b.offset && a.body == b.body;
}
bool operator==(const UnknownPayload& a, const UnknownPayload& b)
{
    return a.type == b.type && a.critical == b.critical && a.body == b.body;
}
} // namespace nemo::ike

using namespace nemo;
using namespace nemo::ike;
using Kind = ParseError::Kind;

namespace {

std::vector<uint8_t> unhex(const std::string& h)
{
    std::vector<uint8_t> b;
    if (!parse_hex(h, b)) throw std::runtime_error("bad hex in test");
    return b;
}

// Bytes that differ from one another and from zero, so that a field read from the wrong place shows.
std::vector<uint8_t> pattern(std::size_t n, uint8_t seed)
{
    std::vector<uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
    return v;
}

std::string hexstr(std::span<const uint8_t> b)
{
    static const char* d = "0123456789abcdef";
    std::string s;
    for (uint8_t c : b) {
        s += d[c >> 4];
        s += d[c & 15];
    }
    return s;
}

Header init_header()
{
    Header h;
    h.spi_i = 0x0123456789ABCDEFull;
    h.spi_r = 0;
    h.exchange = Exchange::ike_sa_init;
    h.flags = hdr_flag::initiator;
    h.message_id = 0;
    return h;
}

SaPayload ike_sa()
{
    Proposal p;
    p.number = 1;
    p.protocol = proto::ike;
    p.transforms = {{tf::encr, encr::aes_gcm_16, 128}, {tf::prf, prf_id::hmac_sha2_256, {}}, {tf::dh, dh::ecp256, {}}};
    return SaPayload{{p}};
}

// The IKE_SA_INIT request the tshark test and several others use.
std::vector<Payload> sa_init_payloads()
{
    return {ike_sa(), KePayload{dh::ecp256, pattern(64, 0x11)}, NoncePayload{pattern(32, 0x22)},
            NotifyPayload{0, {}, notify::nat_detection_source_ip, pattern(20, 0x33)},
            NotifyPayload{0, {}, notify::nat_detection_destination_ip, pattern(20, 0x44)}};
}

// One payload of every kind the parser structures, plus one it does not know, and EAP.
std::vector<Payload> every_kind()
{
    Proposal esp;
    esp.number = 1;
    esp.protocol = proto::esp;
    esp.spi = {0xC0, 0xFF, 0xEE, 0x01};
    esp.transforms = {{tf::encr, encr::aes_cbc, 256}, {tf::integ, integ::hmac_sha2_256_128, {}}, {tf::esn, esn::no, {}}};
    Proposal esp2 = esp;
    esp2.number = 2;
    esp2.transforms = {{tf::encr, encr::aes_gcm_16, 128}, {tf::esn, esn::yes, {}}};
    TrafficSelector v4{7, 17, 500, 4500, {192, 0, 2, 1}, {192, 0, 2, 254}};
    TrafficSelector v6{8, 0, 0, 0xFFFF, pattern(16, 0x20), pattern(16, 0x80)};
    return {
        SaPayload{{esp, esp2}},
        KePayload{dh::curve25519, pattern(32, 1)},
        IdPayload{false, id_type::fqdn, {'m', 'r', '.', 'e', 'x'}},
        IdPayload{true, id_type::ipv6, pattern(16, 2)},
        CertPayload{4, pattern(40, 3)},
        CertReqPayload{4, pattern(20, 4)},
        AuthPayload{auth_method::psk, pattern(32, 5)},
        NoncePayload{pattern(16, 6)},
        NotifyPayload{proto::esp, {1, 2, 3, 4}, notify::rekey_sa, {}},
        NotifyPayload{0, {}, notify::cookie, pattern(8, 7)},
        DeletePayload{proto::esp, 4, {{1, 2, 3, 4}, {5, 6, 7, 8}}},
        DeletePayload{proto::ike, 0, {}},
        VendorPayload{pattern(16, 8)},
        TsPayload{false, {v4, v6}},
        TsPayload{true, {v6}},
        CpPayload{2, {{1, {10, 0, 0, 2}}, {8, {}}, {0x7FFF, pattern(17, 9)}}},
        UnknownPayload{200, false, pattern(5, 10)},
        UnknownPayload{uint8_t(PayloadType::eap), false, {1, 7, 0, 5, 1}},
    };
}

template <class T>
T expect_ok(const std::variant<T, ParseError>& r)
{
    if (const auto* e = std::get_if<ParseError>(&r)) {
        ADD_FAILURE() << "refused: " << kind_name(e->kind) << " payload " << int(e->payload) << ": " << e->what;
        return T{};
    }
    return std::get<T>(r);
}

template <class T>
ParseError expect_error(const std::variant<T, ParseError>& r)
{
    if (const auto* e = std::get_if<ParseError>(&r)) return *e;
    ADD_FAILURE() << "accepted what must be refused";
    return ParseError{Kind::truncated, 0, "accepted"};
}

// A message's bytes with its header length field set to its size (after a hand edit).
void fix_length(std::vector<uint8_t>& m)
{
    m[24] = static_cast<uint8_t>(m.size() >> 24);
    m[25] = static_cast<uint8_t>(m.size() >> 16);
    m[26] = static_cast<uint8_t>(m.size() >> 8);
    m[27] = static_cast<uint8_t>(m.size());
}

} // namespace

TEST(IkeMessage, HeaderRoundTrip)
{
    Header h = init_header();
    h.spi_r = 0xFEDCBA9876543210ull;
    h.next_payload = 33;
    h.version = 0x20;
    h.exchange = Exchange::informational;
    h.flags = hdr_flag::response | hdr_flag::initiator;
    h.message_id = 0xA1B2C3D4;
    h.length = 0x01020304;
    std::array<uint8_t, kHeaderLen> b{};
    write_header(h, b.data());
    EXPECT_EQ(hexstr(b), "0123456789abcdef" "fedcba9876543210" "21" "20" "25" "28" "a1b2c3d4" "01020304");
    const auto back = parse_header(b);
    ASSERT_TRUE(back);
    EXPECT_TRUE(*back == h);
    EXPECT_FALSE(parse_header(std::span<const uint8_t>(b).first(27)));
}

TEST(IkeMessage, GenericHeader)
{
    std::array<uint8_t, 4> b{};
    write_generic_header(41, true, 0x1234, b.data());
    EXPECT_EQ(hexstr(b), "29801234");
    write_generic_header(0, false, 4, b.data());
    EXPECT_EQ(hexstr(b), "00000004");
}

TEST(IkeMessage, EveryPayloadKindRoundTrips)
{
    const std::vector<Payload> ps = every_kind();
    Header h = init_header();
    h.exchange = Exchange::create_child_sa;
    h.message_id = 7;
    const std::vector<uint8_t> m = build_message(h, ps);
    ASSERT_FALSE(m.empty());
    const Message got = expect_ok(parse_message(m));
    EXPECT_EQ(got.header.length, m.size());
    EXPECT_EQ(got.header.next_payload, uint8_t(PayloadType::sa));
    EXPECT_EQ(got.header.message_id, 7u);
    EXPECT_EQ(got.header.exchange, Exchange::create_child_sa);
    ASSERT_EQ(got.payloads.size(), ps.size());
    for (std::size_t i = 0; i < ps.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(payload_type(got.payloads[i]), payload_type(ps[i]));
        EXPECT_TRUE(got.payloads[i] == ps[i]);
    }
    // And the same chain through encode_payloads / parse_payloads alone.
    uint8_t first = 0;
    const std::vector<uint8_t> chain = encode_payloads(ps, &first);
    EXPECT_EQ(first, uint8_t(PayloadType::sa));
    EXPECT_EQ(chain.size() + kHeaderLen, m.size());
    EXPECT_TRUE(expect_ok(parse_payloads(first, chain)) == ps);
}

TEST(IkeMessage, PayloadTypesAndFinders)
{
    const std::vector<Payload> ps = every_kind();
    const std::vector<PayloadType> want = {PayloadType::sa, PayloadType::ke, PayloadType::idi, PayloadType::idr,
        PayloadType::cert, PayloadType::certreq, PayloadType::auth, PayloadType::nonce, PayloadType::notify,
        PayloadType::notify, PayloadType::del, PayloadType::del, PayloadType::vendor, PayloadType::tsi,
        PayloadType::tsr, PayloadType::cp, static_cast<PayloadType>(200), PayloadType::eap};
    EXPECT_EQ(payload_types(ps), want);
    EXPECT_EQ(payload_type(SkPayload{}), PayloadType::sk);
    const auto* ke = ike::find<KePayload>(ps);
    ASSERT_NE(ke, nullptr);
    EXPECT_EQ(ke->group, dh::curve25519);
    const auto* ts = ike::find<TsPayload>(ps);
    ASSERT_NE(ts, nullptr);
    EXPECT_FALSE(ts->responder); // the first one, TSi
    EXPECT_EQ(ike::find<SkPayload>(ps), nullptr);
    const auto* cookie = find_notify(ps, notify::cookie);
    ASSERT_NE(cookie, nullptr);
    EXPECT_EQ(cookie->data, pattern(8, 7));
    EXPECT_EQ(find_notify(ps, notify::nat_detection_source_ip), nullptr);
}

TEST(IkeMessage, EveryPrefixRefused)
{
    const std::vector<uint8_t> m = build_message(init_header(), every_kind());
    ASSERT_TRUE(std::holds_alternative<Message>(parse_message(m)));
    for (std::size_t n = 0; n < m.size(); ++n) {
        SCOPED_TRACE(n);
        std::vector<uint8_t> p(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(n));
        // As cut (the header's length no longer agrees) ...
        EXPECT_TRUE(std::holds_alternative<ParseError>(parse_message(p)));
        // ... and with the length field made to agree, so that the payload walk itself meets the end.
        if (n >= kHeaderLen) {
            fix_length(p);
            const ParseError e = expect_error(parse_message(p));
            EXPECT_TRUE(e.kind == Kind::truncated || e.kind == Kind::bad_length) << kind_name(e.kind);
            EXPECT_TRUE(std::holds_alternative<ParseError>(
                parse_payloads(m[16], std::span<const uint8_t>(p).subspan(kHeaderLen))));
        }
    }
}

TEST(IkeMessage, HeaderLengthAndVersion)
{
    std::vector<uint8_t> m = build_message(init_header(), sa_init_payloads());
    {
        std::vector<uint8_t> longer = m;
        longer.push_back(0); // one byte more than the header says
        EXPECT_EQ(expect_error(parse_message(longer)).kind, Kind::bad_length);
        fix_length(longer); // and said: a byte after the last payload
        EXPECT_EQ(expect_error(parse_message(longer)).kind, Kind::bad_length);
    }
    m[17] = 0x10;
    EXPECT_EQ(expect_error(parse_message(m)).kind, Kind::bad_version);
    m[17] = 0x30;
    EXPECT_EQ(expect_error(parse_message(m)).kind, Kind::bad_version);
    m[17] = 0x2F; // a higher minor version is still IKEv2
    EXPECT_TRUE(std::holds_alternative<Message>(parse_message(m)));
    EXPECT_EQ(expect_error(parse_message(std::vector<uint8_t>(27))).kind, Kind::truncated);
}

TEST(IkeMessage, BadPayloadLengths)
{
    const std::vector<uint8_t> good = build_message(init_header(), sa_init_payloads());
    const std::size_t sa_len = (good[30] << 8) | good[31];
    const std::size_t ke_at = kHeaderLen + sa_len;
    ASSERT_EQ(good[16], uint8_t(PayloadType::sa));
    ASSERT_EQ(good[kHeaderLen], uint8_t(PayloadType::ke));
    auto with = [&](std::size_t at, uint8_t v) {
        std::vector<uint8_t> m = good;
        m[at] = v;
        return m;
    };
    // KE's length below its generic header, and beyond the message.
    auto e = expect_error(parse_message(with(ke_at + 3, 3)));
    EXPECT_EQ(e.kind, Kind::bad_length);
    EXPECT_EQ(e.payload, uint8_t(PayloadType::ke));
    std::vector<uint8_t> m = with(ke_at + 2, 0xFF);
    EXPECT_EQ(expect_error(parse_message(m)).kind, Kind::bad_length);
    // A KE payload of the generic header only (below its own 4-byte minimum).
    const std::vector<uint8_t> ke_chain = {0, 0, 0, 6, 0, 19};
    EXPECT_EQ(expect_error(parse_payloads(uint8_t(PayloadType::ke), ke_chain)).kind, Kind::malformed);
    // Inside the SA payload: the proposal's length, and the first transform's length.
    const std::size_t prop_at = kHeaderLen + 4;
    EXPECT_EQ(expect_error(parse_message(with(prop_at + 3, 7))).kind, Kind::malformed);
    EXPECT_EQ(expect_error(parse_message(with(prop_at + 3, uint8_t(good[prop_at + 3] + 1)))).kind, Kind::malformed);
    const std::size_t tf_at = prop_at + kProposalHeaderLen;
    EXPECT_EQ(expect_error(parse_message(with(tf_at + 3, 7))).kind, Kind::malformed);
    EXPECT_EQ(expect_error(parse_message(with(tf_at + 3, 0xFF))).kind, Kind::malformed);
    // The number of transforms disagreeing with the transforms that are there (either way).
    EXPECT_EQ(expect_error(parse_message(with(prop_at + 7, 2))).kind, Kind::malformed);
    EXPECT_EQ(expect_error(parse_message(with(prop_at + 7, 4))).kind, Kind::malformed);
    // The Last Substructure fields: 2/3 mean more follow, 0 none; anything else is refused.
    EXPECT_EQ(expect_error(parse_message(with(prop_at, 2))).kind, Kind::malformed);
    EXPECT_EQ(expect_error(parse_message(with(prop_at, 1))).kind, Kind::malformed);
    EXPECT_EQ(expect_error(parse_message(with(tf_at, 0))).kind, Kind::malformed);
    // A nonce shorter than RFC 7296 3.9's 16 octets.
    std::vector<Payload> ps = sa_init_payloads();
    ps[2] = NoncePayload{pattern(15, 1)};
    EXPECT_EQ(expect_error(parse_message(build_message(init_header(), ps))).kind, Kind::malformed);
}

TEST(IkeMessage, SubstructureLengths)
{
    auto refused = [](const Payload& p) {
        const std::vector<Payload> ps = {p};
        uint8_t first = 0;
        const std::vector<uint8_t> chain = encode_payloads(ps, &first);
        const auto r = parse_payloads(first, chain);
        return std::holds_alternative<ParseError>(r) && std::get<ParseError>(r).kind == Kind::malformed;
    };
    // Traffic selectors: an address of the wrong size for its type, and a type that is neither 7 nor 8.
    EXPECT_TRUE(refused(TsPayload{false, {{7, 0, 0, 0xFFFF, {1, 2, 3, 4}, pattern(16, 1)}}}));
    EXPECT_TRUE(refused(TsPayload{false, {{8, 0, 0, 0xFFFF, {1, 2, 3, 4}, {1, 2, 3, 4}}}}));
    EXPECT_TRUE(refused(TsPayload{false, {{9, 0, 0, 0xFFFF, {1, 2, 3, 4}, {1, 2, 3, 4}}}}));
    EXPECT_FALSE(refused(TsPayload{false, {{7, 0, 0, 0xFFFF, {1, 2, 3, 4}, {1, 2, 3, 4}}}}));
    // Delete: SPIs that do not all have the announced size; SPIs of size 0.
    EXPECT_TRUE(refused(DeletePayload{proto::esp, 4, {{1, 2, 3, 4}, {1, 2, 3}}}));
    EXPECT_TRUE(refused(DeletePayload{proto::ike, 0, {{}, {}}}));
    EXPECT_FALSE(refused(DeletePayload{proto::esp, 4, {{1, 2, 3, 4}}}));
    // The selector count of a TS payload, the SPI size of a Notify, a configuration attribute's length:
    // edited in the bytes.
    {
        const std::vector<Payload> ps = {TsPayload{false, {{7, 0, 0, 0xFFFF, {1, 2, 3, 4}, {1, 2, 3, 4}}}}};
        uint8_t first = 0;
        std::vector<uint8_t> c = encode_payloads(ps, &first);
        c[4] = 2;
        EXPECT_EQ(expect_error(parse_payloads(first, c)).kind, Kind::malformed);
        c[4] = 0;
        EXPECT_EQ(expect_error(parse_payloads(first, c)).kind, Kind::malformed);
    }
    {
        const std::vector<Payload> ps = {NotifyPayload{proto::esp, {1, 2, 3, 4}, notify::rekey_sa, {}}};
        uint8_t first = 0;
        std::vector<uint8_t> c = encode_payloads(ps, &first);
        c[5] = 5;
        EXPECT_EQ(expect_error(parse_payloads(first, c)).kind, Kind::malformed);
        c[5] = 3; // a shorter SPI is only a different split between SPI and data
        EXPECT_EQ(std::get<NotifyPayload>(expect_ok(parse_payloads(first, c)).at(0)).data, std::vector<uint8_t>{4});
    }
    {
        const std::vector<Payload> ps = {CpPayload{1, {{1, {10, 0, 0, 2}}}}};
        uint8_t first = 0;
        std::vector<uint8_t> c = encode_payloads(ps, &first);
        c[8 + 3] = 5;
        EXPECT_EQ(expect_error(parse_payloads(first, c)).kind, Kind::malformed);
    }
    // A TLV transform attribute whose length runs past its transform.
    {
        const std::vector<uint8_t> c = unhex(
            "0000" "0018"                    // SA generic header, 24 bytes
            "00000014" "01010001"            // proposal: last, length 20, #1, IKE, SPI size 0, 1 transform
            "0000000c" "01000014"            // transform: last, length 12, ENCR, AES-GCM-16
            "00050009");                     // TLV attribute type 5, length 9: past the transform
        EXPECT_EQ(expect_error(parse_payloads(uint8_t(PayloadType::sa), c)).kind, Kind::malformed);
    }
}

TEST(IkeMessage, TransformAttributes)
{
    // Key Length in TV form is read; a TV attribute of another type and a TLV attribute are skipped.
    const std::vector<uint8_t> c = unhex(
        "0000" "001c"                        // SA, 28 bytes
        "00000018" "01010001"                // proposal: last, 24 bytes, #1, IKE, SPI size 0, 1 transform
        "00000010" "0100000c"                // transform: last, 16 bytes, ENCR, AES-CBC
        "8005abcd"                           // TV attribute 5 (not Key Length): skipped
        "800e0100");                         // TV Key Length 256
    const auto ps = expect_ok(parse_payloads(uint8_t(PayloadType::sa), c));
    ASSERT_EQ(ps.size(), 1u);
    const auto& tr = std::get<SaPayload>(ps[0]).proposals.at(0).transforms.at(0);
    EXPECT_EQ(tr.type, tf::encr);
    EXPECT_EQ(tr.id, encr::aes_cbc);
    EXPECT_EQ(tr.key_length, 256);
    const std::vector<uint8_t> tlv = unhex(
        "0000" "001e"
        "0000001a" "01010001"
        "00000012" "0100000c"
        "00070002beef"                       // TLV attribute 7, 2 bytes: skipped
        "800e0080");                         // Key Length 128
    const auto ps2 = expect_ok(parse_payloads(uint8_t(PayloadType::sa), tlv));
    EXPECT_EQ(std::get<SaPayload>(ps2.at(0)).proposals.at(0).transforms.at(0).key_length, 128);
}

TEST(IkeMessage, CriticalUnknownPayload)
{
    // A Vendor ID, then an unknown type 150 (critical bit as given), then a Nonce.
    auto chain = [](uint8_t flags) {
        return unhex("96000008" "01020304"                 // Vendor ID, next 150
                     + std::string(flags ? "2880" : "2800") + "0006" "aabb" // type 150, next Nonce (40)
                     "00000014" "000102030405060708090a0b0c0d0e0f");       // Nonce, 16 bytes
    };
    const ParseError e = expect_error(parse_payloads(uint8_t(PayloadType::vendor), chain(1)));
    EXPECT_EQ(e.kind, Kind::unsupported_critical);
    EXPECT_EQ(e.payload, 150);
    const auto ps = expect_ok(parse_payloads(uint8_t(PayloadType::vendor), chain(0)));
    ASSERT_EQ(ps.size(), 3u);
    const auto& u = std::get<UnknownPayload>(ps[1]);
    EXPECT_EQ(u.type, 150);
    EXPECT_FALSE(u.critical);
    EXPECT_EQ(u.body, (std::vector<uint8_t>{0xAA, 0xBB}));
    EXPECT_EQ(std::get<NoncePayload>(ps[2]).data.size(), 16u);
    // The critical bit on a type this parser knows is ignored (RFC 7296 3.2).
    std::vector<uint8_t> known = chain(0);
    known[1] = 0x80;
    EXPECT_TRUE(std::holds_alternative<std::vector<Payload>>(parse_payloads(uint8_t(PayloadType::vendor), known)));
    // An unknown payload is written back with its critical bit.
    uint8_t first = 0;
    const std::vector<Payload> crit = {UnknownPayload{150, true, {1}}};
    EXPECT_EQ(hexstr(encode_payloads(crit, &first)), "0080000501");
    EXPECT_EQ(first, 150);
}

TEST(IkeMessage, ProposalNumbers)
{
    auto with_numbers = [](std::vector<uint8_t> numbers) {
        SaPayload sa;
        for (uint8_t n : numbers) {
            Proposal p = ike_sa().proposals[0];
            p.number = n;
            sa.proposals.push_back(p);
        }
        const std::vector<Payload> ps = {sa};
        return parse_message(build_message(init_header(), ps));
    };
    EXPECT_EQ(std::get<SaPayload>(expect_ok(with_numbers({1, 2, 3})).payloads.at(0)).proposals.size(), 3u);
    EXPECT_EQ(expect_error(with_numbers({2})).kind, Kind::malformed);
    EXPECT_EQ(expect_error(with_numbers({0})).kind, Kind::malformed);
    EXPECT_EQ(expect_error(with_numbers({1, 3})).kind, Kind::malformed);
    EXPECT_EQ(expect_error(with_numbers({1, 1})).kind, Kind::malformed);
    EXPECT_EQ(expect_error(with_numbers({1, 2, 2})).kind, Kind::malformed);
    // An SA payload without any proposal.
    const std::vector<Payload> empty = {SaPayload{}};
    EXPECT_EQ(expect_error(parse_message(build_message(init_header(), empty))).kind, Kind::malformed);
}

TEST(IkeMessage, SkMustBeLast)
{
    // An IKE_AUTH-like message: a Vendor ID, then SK, whose Next Payload (IDi) names the first payload
    // inside its ciphertext.
    Header h = init_header();
    h.exchange = Exchange::ike_auth;
    h.spi_r = 0x1111222233334444ull;
    h.message_id = 1;
    const std::vector<uint8_t> body = pattern(8 + 40 + 16, 0x50); // IV, ciphertext, ICV
    const std::vector<Payload> ps = {VendorPayload{{1, 2, 3, 4}}, SkPayload{uint8_t(PayloadType::idi), 0, body}};
    const std::vector<uint8_t> m = build_message(h, ps);
    const Message got = expect_ok(parse_message(m));
    ASSERT_EQ(got.payloads.size(), 2u);
    const auto& sk = std::get<SkPayload>(got.payloads[1]);
    EXPECT_EQ(sk.first_inner, uint8_t(PayloadType::idi));
    EXPECT_EQ(sk.offset, kHeaderLen + 8);
    EXPECT_EQ(m[sk.offset + 0], uint8_t(PayloadType::idi));
    EXPECT_EQ(sk.body, body);
    EXPECT_EQ(sk.offset + kGenericHeaderLen + sk.body.size(), m.size());
    // The same SK payload with a byte after it (its own length unchanged): refused.
    std::vector<uint8_t> longer = m;
    longer.push_back(0);
    fix_length(longer);
    const ParseError e = expect_error(parse_message(longer));
    EXPECT_EQ(e.kind, Kind::sk_not_last);
    EXPECT_EQ(e.payload, uint8_t(PayloadType::sk));
    // SK in front of a payload (the crypto must never write this).
    std::vector<uint8_t> front(kHeaderLen + 4 + 4 + 8);
    Header h2 = h;
    h2.next_payload = uint8_t(PayloadType::sk);
    h2.length = static_cast<uint32_t>(front.size());
    write_header(h2, front.data());
    write_generic_header(uint8_t(PayloadType::nonce), false, 8, &front[kHeaderLen]);
    write_generic_header(0, false, 8, &front[kHeaderLen + 8]);
    EXPECT_EQ(expect_error(parse_message(front)).kind, Kind::sk_not_last);
}

TEST(IkeMessage, HandLaidBytesFromRfc7296)
{
    // An IKE_SA_INIT response laid out by hand from RFC 7296 figures 4, 5, 6, 7, 8, 10, 15, 16 (3.1 -
    // 3.10), not through the builder.
    const std::vector<uint8_t> m = unhex(
        // 3.1 header: SPIi, SPIr, Next Payload SA (33), version 2.0, IKE_SA_INIT (34), flags R (0x20),
        // Message ID 0, Length 0x98 = 152
        "a1a2a3a4a5a6a7a8" "b1b2b3b4b5b6b7b8" "21" "20" "22" "20" "00000000" "00000098"
        // 3.3 SA: next KE (34), not critical, length 48
        "22" "00" "0030"
        //   3.3.1 proposal: last (0), reserved, length 44, #1, IKE (1), SPI size 0, 4 transforms
        "00" "00" "002c" "01" "01" "00" "04"
        //     3.3.2 transform: more (3), length 12, ENCR (1), AES-CBC (12), TV Key Length 256
        "03" "00" "000c" "01" "00" "000c" "800e0100"
        //     PRF (2) HMAC-SHA2-256 (5)
        "03" "00" "0008" "02" "00" "0005"
        //     INTEG (3) HMAC-SHA2-256-128 (12)
        "03" "00" "0008" "03" "00" "000c"
        //     last: DH (4) group 31
        "00" "00" "0008" "04" "00" "001f"
        // 3.4 KE: next Nonce (40), length 12, group 31, reserved, 4 bytes of (short) key data
        "28" "00" "000c" "001f" "0000" "deadbeef"
        // 3.9 Nonce: next Notify (41), length 20, 16 bytes
        "29" "00" "0014" "000102030405060708090a0b0c0d0e0f"
        // 3.10 Notify: next CERTREQ (38), length 12, protocol 0, SPI size 0, type 16388, 4 bytes of data
        "26" "00" "000c" "00" "00" "4004" "cafef00d"
        // 3.7 CERTREQ: next N (41), length 9, encoding 4, 4 bytes of CA hash
        "29" "00" "0009" "04" "01020304"
        // 3.10 Notify with an SPI: next Vendor ID (43), length 16, ESP (3), SPI size 4, REKEY_SA (16393)
        "2b" "00" "0010" "03" "04" "4009" "12345678" "99887766"
        // 3.12 Vendor ID: last, critical bit set (ignored on a known type), length 7, 3 bytes
        "00" "80" "0007" "6e656d");
    ASSERT_EQ(m.size(), 0x98u);
    const Message got = expect_ok(parse_message(m));
    EXPECT_EQ(got.header.spi_i, 0xA1A2A3A4A5A6A7A8ull);
    EXPECT_EQ(got.header.spi_r, 0xB1B2B3B4B5B6B7B8ull);
    EXPECT_EQ(got.header.next_payload, 33);
    EXPECT_EQ(got.header.version, 0x20);
    EXPECT_EQ(got.header.exchange, Exchange::ike_sa_init);
    EXPECT_EQ(got.header.flags, hdr_flag::response);
    EXPECT_EQ(got.header.message_id, 0u);
    EXPECT_EQ(got.header.length, 152u);
    ASSERT_EQ(got.payloads.size(), 7u);

    const auto& sa = std::get<SaPayload>(got.payloads[0]);
    ASSERT_EQ(sa.proposals.size(), 1u);
    const Proposal& p = sa.proposals[0];
    EXPECT_EQ(p.number, 1);
    EXPECT_EQ(p.protocol, proto::ike);
    EXPECT_TRUE(p.spi.empty());
    const std::vector<Transform> want = {{tf::encr, encr::aes_cbc, 256}, {tf::prf, prf_id::hmac_sha2_256, {}},
        {tf::integ, integ::hmac_sha2_256_128, {}}, {tf::dh, dh::curve25519, {}}};
    EXPECT_EQ(p.transforms, want);

    const auto& ke = std::get<KePayload>(got.payloads[1]);
    EXPECT_EQ(ke.group, 31);
    EXPECT_EQ(hexstr(ke.data), "deadbeef");
    EXPECT_EQ(hexstr(std::get<NoncePayload>(got.payloads[2]).data), "000102030405060708090a0b0c0d0e0f");
    const auto& nat = std::get<NotifyPayload>(got.payloads[3]);
    EXPECT_EQ(nat.protocol, 0);
    EXPECT_TRUE(nat.spi.empty());
    EXPECT_EQ(nat.type, notify::nat_detection_source_ip);
    EXPECT_EQ(hexstr(nat.data), "cafef00d");
    const auto& cr = std::get<CertReqPayload>(got.payloads[4]);
    EXPECT_EQ(cr.encoding, 4);
    EXPECT_EQ(hexstr(cr.data), "01020304");
    const auto& rekey = std::get<NotifyPayload>(got.payloads[5]);
    EXPECT_EQ(rekey.protocol, proto::esp);
    EXPECT_EQ(hexstr(rekey.spi), "12345678");
    EXPECT_EQ(rekey.type, notify::rekey_sa);
    EXPECT_EQ(hexstr(rekey.data), "99887766");
    EXPECT_EQ(hexstr(std::get<VendorPayload>(got.payloads[6]).data), "6e656d");

    // The builder writes the same bytes back (the critical bit on the known Vendor ID aside).
    std::vector<uint8_t> again = build_message(got.header, got.payloads);
    again[again.size() - 7 + 1] = 0x80;
    EXPECT_EQ(hexstr(again), hexstr(m));
}

TEST(IkeMessage, HandLaidAuthPayloads)
{
    // The payloads inside an IKE_AUTH's SK (as the crypto hands them over): IDi, AUTH, SA, TSi, TSr.
    const std::vector<uint8_t> c = unhex(
        // 3.5 IDi: next AUTH (39), length 12, FQDN (2), reserved, "mr.x"
        "27" "00" "000c" "02" "000000" "6d722e78"
        // 3.8 AUTH: next SA (33), length 12, PSK (2), reserved, 4 bytes
        "21" "00" "000c" "02" "000000" "a0a1a2a3"
        // 3.3 SA: next TSi (44), length 44; ESP proposal #1 with SPI 0x01020304, 3 transforms
        "2c" "00" "002c"
        "00" "00" "0028" "01" "03" "04" "03" "01020304"
        "03" "00" "000c" "01" "00" "0014" "800e0080"   // ENCR AES-GCM-16, Key Length 128
        "03" "00" "0008" "04" "00" "0000"              // DH none
        "00" "00" "0008" "05" "00" "0000"              // ESN no
        // 3.13 TSi: next TSr (45), length 24, 1 selector: IPv4 range, UDP, ports 500-4500
        "2d" "00" "0018" "01" "000000"
        "07" "11" "0010" "01f4" "1194" "c0000201" "c00002fe"
        // TSr: last, length 48, 1 selector: IPv6 range, any protocol, all ports, 2001:db8::/32
        "00" "00" "0030" "01" "000000"
        "08" "00" "0028" "0000" "ffff"
        "20010db8000000000000000000000000" "20010db8ffffffffffffffffffffffff");
    const auto ps = expect_ok(parse_payloads(uint8_t(PayloadType::idi), c));
    ASSERT_EQ(ps.size(), 5u);
    const auto& id = std::get<IdPayload>(ps[0]);
    EXPECT_FALSE(id.responder);
    EXPECT_EQ(id.id_type, id_type::fqdn);
    EXPECT_EQ(std::string(id.data.begin(), id.data.end()), "mr.x");
    const auto& auth = std::get<AuthPayload>(ps[1]);
    EXPECT_EQ(auth.method, auth_method::psk);
    EXPECT_EQ(hexstr(auth.data), "a0a1a2a3");
    const Proposal& p = std::get<SaPayload>(ps[2]).proposals.at(0);
    EXPECT_EQ(p.protocol, proto::esp);
    EXPECT_EQ(hexstr(p.spi), "01020304");
    const std::vector<Transform> want = {{tf::encr, encr::aes_gcm_16, 128}, {tf::dh, dh::none, {}}, {tf::esn, esn::no, {}}};
    EXPECT_EQ(p.transforms, want);
    const auto& tsi = std::get<TsPayload>(ps[3]);
    EXPECT_FALSE(tsi.responder);
    ASSERT_EQ(tsi.selectors.size(), 1u);
    EXPECT_EQ(tsi.selectors[0], (TrafficSelector{7, 17, 500, 4500, {192, 0, 2, 1}, {192, 0, 2, 254}}));
    const auto& tsr = std::get<TsPayload>(ps[4]);
    EXPECT_TRUE(tsr.responder);
    ASSERT_EQ(tsr.selectors.size(), 1u);
    EXPECT_EQ(tsr.selectors[0].ts_type, 8);
    EXPECT_EQ(tsr.selectors[0].end_port, 0xFFFF);
    EXPECT_EQ(hexstr(tsr.selectors[0].start), "20010db8000000000000000000000000");
    EXPECT_EQ(hexstr(tsr.selectors[0].end), "20010db8ffffffffffffffffffffffff");
    uint8_t first = 0;
    EXPECT_EQ(hexstr(encode_payloads(ps, &first)), hexstr(c));
    EXPECT_EQ(first, uint8_t(PayloadType::idi));
}

TEST(IkeMessage, OversizedPayloadNotBuilt)
{
    const std::vector<Payload> big = {VendorPayload{std::vector<uint8_t>(0xFFFF - 3)}};
    uint8_t first = 99;
    EXPECT_TRUE(encode_payloads(big, &first).empty());
    EXPECT_EQ(first, 0);
    EXPECT_TRUE(build_message(init_header(), big).empty());
    const std::vector<Payload> fits = {VendorPayload{std::vector<uint8_t>(0xFFFF - 4)}};
    EXPECT_EQ(encode_payloads(fits, &first).size(), 0xFFFFu);
}

// ---- tshark -------------------------------------------------------------------------------------

namespace {

// A classic pcap file (Ethernet link type) of IPv4/UDP datagrams from 192.0.2.1:500 to 192.0.2.2:500.
void write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& udp_payloads)
{
    std::ofstream f(path, std::ios::binary);
    auto u32 = [&](uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); }; // host order, as the magic says
    auto u16 = [&](uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
    u32(0xA1B2C3D4);
    u16(2);
    u16(4);
    u32(0);
    u32(0);
    u32(65535);
    u32(1);
    uint32_t sec = 1700000000;
    for (const auto& payload : udp_payloads) {
        std::vector<uint8_t> fr = unhex("020000000002" "020000000001" "0800");
        const std::size_t ip_len = 20 + 8 + payload.size();
        std::vector<uint8_t> ip = {0x45, 0, uint8_t(ip_len >> 8), uint8_t(ip_len), 0, 1, 0x40, 0, 64, 17, 0, 0,
                                   192, 0, 2, 1, 192, 0, 2, 2};
        const uint16_t ck = wire::finish_checksum(wire::sum_words(ip));
        ip[10] = uint8_t(ck >> 8);
        ip[11] = uint8_t(ck);
        const std::size_t udp_len = 8 + payload.size();
        // UDP checksum 0: none (allowed over IPv4).
        const std::vector<uint8_t> udp = {0x01, 0xF4, 0x01, 0xF4, uint8_t(udp_len >> 8), uint8_t(udp_len), 0, 0};
        fr.insert(fr.end(), ip.begin(), ip.end());
        fr.insert(fr.end(), udp.begin(), udp.end());
        fr.insert(fr.end(), payload.begin(), payload.end());
        u32(sec++);
        u32(0);
        u32(static_cast<uint32_t>(fr.size()));
        u32(static_cast<uint32_t>(fr.size()));
        f.write(reinterpret_cast<const char*>(fr.data()), static_cast<std::streamsize>(fr.size()));
    }
}

// tshark's fields, one line per packet, one column per field, repeated occurrences joined by ','.
std::vector<std::map<std::string, std::string>> tshark_fields(const std::string& pcap, const std::vector<std::string>& fields)
{
    std::string cmd = "tshark -r '" + pcap + "' -T fields -E separator=/t -E occurrence=a -E aggregator=,";
    for (const auto& f : fields) cmd += " -e " + f;
    cmd += " 2>/dev/null";
    std::vector<std::map<std::string, std::string>> out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    std::string all;
    std::array<char, 4096> buf{};
    while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) all.append(buf.data(), n);
    pclose(p);
    std::istringstream lines(all);
    std::string line;
    while (std::getline(lines, line)) {
        std::map<std::string, std::string> row;
        std::size_t start = 0;
        for (const auto& f : fields) {
            const std::size_t tab = line.find('\t', start);
            row[f] = line.substr(start, tab == std::string::npos ? std::string::npos : tab - start);
            start = tab == std::string::npos ? line.size() : tab + 1;
        }
        out.push_back(row);
    }
    return out;
}

std::string join(const std::vector<std::string>& v)
{
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
}

} // namespace

TEST(IkeMessage, TsharkReadsWhatWasBuilt)
{
    if (access("/usr/bin/tshark", X_OK) != 0) GTEST_SKIP() << "tshark is not installed";
    const Header h = init_header();
    const std::vector<Payload> ps = sa_init_payloads();
    const std::vector<uint8_t> init = build_message(h, ps);

    // IKE_AUTH-like: header and SK generic header written by hand, as the crypto will.
    Header ah = h;
    ah.spi_r = 0x8877665544332211ull;
    ah.exchange = Exchange::ike_auth;
    ah.message_id = 1;
    ah.next_payload = uint8_t(PayloadType::sk);
    const std::vector<uint8_t> sk_body = pattern(8 + 48 + 16, 0x60);
    std::vector<uint8_t> auth(kHeaderLen + kGenericHeaderLen + sk_body.size());
    ah.length = static_cast<uint32_t>(auth.size());
    write_header(ah, auth.data());
    write_generic_header(uint8_t(PayloadType::idi), false, uint16_t(kGenericHeaderLen + sk_body.size()), &auth[kHeaderLen]);
    std::copy(sk_body.begin(), sk_body.end(), auth.begin() + kHeaderLen + kGenericHeaderLen);
    ASSERT_TRUE(std::holds_alternative<Message>(parse_message(auth)));

    const std::string pcap = testing::TempDir() + "ike_message_" + std::to_string(getpid()) + ".pcap";
    write_pcap(pcap, {init, auth});
    const std::vector<std::string> fields = {"isakmp.ispi", "isakmp.rspi", "isakmp.exchangetype", "isakmp.flags",
        "isakmp.messageid", "isakmp.length", "isakmp.mjver", "isakmp.typepayload", "isakmp.payloadlength",
        "isakmp.prop.number", "isakmp.prop.protoid", "isakmp.prop.transforms", "isakmp.tf.type", "isakmp.tf.id.encr",
        "isakmp.tf.id.prf", "isakmp.tf.id.dh",
        "isakmp.ike2.attr.key_length", "isakmp.key_exchange.dh_group", "isakmp.key_exchange.data", "isakmp.nonce",
        "isakmp.notify.msgtype", "isakmp.notify.data", "isakmp.nextpayload", "_ws.expert.severity", "_ws.malformed"};
    const auto rows = tshark_fields(pcap, fields);
    std::remove(pcap.c_str());
    ASSERT_EQ(rows.size(), 2u);

    const auto& r = rows[0];
    EXPECT_EQ(r.at("isakmp.ispi"), "0123456789abcdef");
    EXPECT_EQ(r.at("isakmp.rspi"), "0000000000000000");
    EXPECT_EQ(r.at("isakmp.exchangetype"), "34");
    EXPECT_EQ(r.at("isakmp.flags"), "0x08");
    EXPECT_EQ(r.at("isakmp.messageid"), "0x00000000");
    EXPECT_EQ(r.at("isakmp.length"), std::to_string(init.size()));
    EXPECT_EQ(r.at("isakmp.mjver"), "0x02");
    // The payload chain as tshark walked it (it counts the SA's proposals and transforms as payloads
    // of types 2 and 3, as IKEv1 did), with the lengths each should have by RFC 7296's layout.
    std::vector<std::string> types, lengths;
    for (const Payload& p : ps) {
        types.push_back(std::to_string(int(payload_type(p))));
        std::size_t len = kGenericHeaderLen;
        std::vector<std::string> sub_types, sub_lengths;
        if (const auto* sa = std::get_if<SaPayload>(&p)) {
            for (const Proposal& pr : sa->proposals) {
                std::size_t plen = kProposalHeaderLen + pr.spi.size();
                std::vector<std::string> tlens;
                for (const Transform& t : pr.transforms) {
                    const std::size_t tlen = kTransformHeaderLen + (t.key_length ? 4 : 0);
                    tlens.push_back(std::to_string(tlen));
                    plen += tlen;
                }
                sub_types.push_back("2");
                sub_lengths.push_back(std::to_string(plen));
                for (const auto& tl : tlens) {
                    sub_types.push_back("3");
                    sub_lengths.push_back(tl);
                }
                len += plen;
            }
        } else if (const auto* ke = std::get_if<KePayload>(&p)) {
            len += 4 + ke->data.size();
        } else if (const auto* n = std::get_if<NoncePayload>(&p)) {
            len += n->data.size();
        } else if (const auto* no = std::get_if<NotifyPayload>(&p)) {
            len += 4 + no->spi.size() + no->data.size();
        }
        lengths.push_back(std::to_string(len));
        types.insert(types.end(), sub_types.begin(), sub_types.end());
        lengths.insert(lengths.end(), sub_lengths.begin(), sub_lengths.end());
    }
    EXPECT_EQ(r.at("isakmp.typepayload"), join(types));
    EXPECT_EQ(r.at("isakmp.payloadlength"), join(lengths));
    EXPECT_EQ(r.at("isakmp.prop.number"), "1");
    EXPECT_EQ(r.at("isakmp.prop.protoid"), "1");
    EXPECT_EQ(r.at("isakmp.prop.transforms"), "3");
    EXPECT_EQ(r.at("isakmp.tf.type"), "1,2,4");
    EXPECT_EQ(r.at("isakmp.tf.id.encr"), "20");
    EXPECT_EQ(r.at("isakmp.tf.id.prf"), "5");
    EXPECT_EQ(r.at("isakmp.tf.id.dh"), "19");
    EXPECT_EQ(r.at("isakmp.ike2.attr.key_length"), "128");
    EXPECT_EQ(r.at("isakmp.key_exchange.dh_group"), "19");
    EXPECT_EQ(r.at("isakmp.key_exchange.data"), hexstr(pattern(64, 0x11)));
    EXPECT_EQ(r.at("isakmp.nonce"), hexstr(pattern(32, 0x22)));
    EXPECT_EQ(r.at("isakmp.notify.msgtype"), "16388,16389");
    EXPECT_EQ(r.at("isakmp.notify.data"), hexstr(pattern(20, 0x33)) + "," + hexstr(pattern(20, 0x44)));
    EXPECT_EQ(r.at("_ws.malformed"), "");
    EXPECT_EQ(r.at("_ws.expert.severity"), "");

    const auto& a = rows[1];
    EXPECT_EQ(a.at("isakmp.ispi"), "0123456789abcdef");
    EXPECT_EQ(a.at("isakmp.rspi"), "8877665544332211");
    EXPECT_EQ(a.at("isakmp.exchangetype"), "35");
    EXPECT_EQ(a.at("isakmp.messageid"), "0x00000001");
    EXPECT_EQ(a.at("isakmp.length"), std::to_string(auth.size()));
    EXPECT_EQ(a.at("isakmp.typepayload"), "46");
    EXPECT_EQ(a.at("isakmp.payloadlength"), std::to_string(kGenericHeaderLen + sk_body.size()));
    // The header's Next Payload (SK), then SK's own (the first inner payload, IDi).
    EXPECT_EQ(a.at("isakmp.nextpayload"), "46,35");
    EXPECT_EQ(a.at("_ws.malformed"), "");
}
