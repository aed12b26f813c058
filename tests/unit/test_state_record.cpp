// The durable records (lib/state_record): every field survives a round trip, and bytes that are not a
// whole, intact record of the kind asked for are refused with a reason, never half-read.
#include <gtest/gtest.h>
#include <zlib.h>

#include <functional>
#include <string>
#include <vector>

#include "state_record.hpp"

using namespace nemo;

namespace {

Ipv6Addr v6(const char* s)
{
    auto a = Ipv6Addr::parse(s);
    EXPECT_TRUE(a) << s;
    return a.value_or(Ipv6Addr{});
}

// n distinct prefixes of varied lengths, host bits zero as the decoder demands.
std::vector<Prefix6> prefixes(std::size_t n)
{
    std::vector<Prefix6> out;
    for (std::size_t i = 0; i < n; ++i) {
        Ipv6Addr a = v6("2001:db8::");
        a.bytes[4] = static_cast<uint8_t>(i >> 8);
        a.bytes[5] = static_cast<uint8_t>(i);
        const auto len = static_cast<uint8_t>(48 + i % 81); // 48..128
        out.push_back(Prefix6::make(a, len));
    }
    return out;
}

void expect_same(const StoredBinding& a, const StoredBinding& b)
{
    EXPECT_EQ(a.binding.hoa, b.binding.hoa);
    EXPECT_EQ(a.binding.coa, b.binding.coa); // method, v6, v4, ports, peer, NAT flag
    EXPECT_EQ(a.binding.prefixes.size(), b.binding.prefixes.size());
    EXPECT_TRUE(a.binding.prefixes == b.binding.prefixes);
    EXPECT_EQ(a.binding.seq, b.binding.seq);
    EXPECT_EQ(a.binding.lifetime, b.binding.lifetime);
    EXPECT_EQ(a.binding.mobile_router, b.binding.mobile_router);
    EXPECT_EQ(a.binding.proxy_nd, b.binding.proxy_nd);
    EXPECT_EQ(a.binding.created, b.binding.created);
    EXPECT_EQ(a.binding.updated, b.binding.updated);
    EXPECT_EQ(a.binding.expires, b.binding.expires);
    EXPECT_EQ(a.sa_out_spi, b.sa_out_spi);
}

void expect_same(const MrChange& a, const MrChange& b)
{
    EXPECT_EQ(a.added, b.added);
    EXPECT_EQ(a.mr.hoa, b.mr.hoa);
    EXPECT_EQ(a.mr.mobile_router, b.mr.mobile_router);
    EXPECT_EQ(a.mr.prefixes.size(), b.mr.prefixes.size());
    EXPECT_TRUE(a.mr.prefixes == b.mr.prefixes);
    EXPECT_EQ(a.mr.methods, b.mr.methods);
    EXPECT_EQ(a.mr.ike_id, b.mr.ike_id);
}

void expect_same(const SaChange& a, const SaChange& b)
{
    EXPECT_EQ(a.added, b.added);
    EXPECT_EQ(a.sa.inbound, b.sa.inbound);
    EXPECT_EQ(a.sa.spi, b.sa.spi);
    EXPECT_EQ(a.sa.hoa, b.sa.hoa);
    EXPECT_EQ(a.sa.algorithm, b.sa.algorithm);
    EXPECT_TRUE(a.sa.enc_key == b.sa.enc_key); // no printing: keys
    EXPECT_TRUE(a.sa.auth_key == b.sa.auth_key);
    EXPECT_EQ(a.sa.esn, b.sa.esn);
    EXPECT_EQ(a.sa.window, b.sa.window);
    EXPECT_EQ(a.sa.life_bytes, b.sa.life_bytes);
    EXPECT_EQ(a.sa.life_packets, b.sa.life_packets);
}

// Every binding shape worth storing: each method, with and without NAT, router/host, proxy ND, from no
// prefix to more than 255 (an implicit-mode binding has all its router's provisioned ones), extreme numbers.
std::vector<StoredBinding> sample_bindings()
{
    std::vector<StoredBinding> out;
    for (int m = 0; m < kTunnelMethodCount; ++m)
        for (int variant = 0; variant < 4; ++variant) {
            StoredBinding s;
            Binding& b = s.binding;
            b.hoa = v6("2001:db8:1::100");
            b.hoa.bytes[15] = static_cast<uint8_t>(m * 4 + variant);
            b.coa.method = static_cast<TunnelMethod>(m);
            b.coa.v6 = v6("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe");
            b.coa.v4 = Ipv4Addr{0xC0000201u + static_cast<uint32_t>(variant)};
            b.coa.v4_port = variant == 3 ? 0xFFFF : static_cast<uint16_t>(4191 + variant);
            b.coa.peer = Ipv4Addr{variant == 2 ? 0xFFFFFFFFu : 0xCB007101u};
            b.coa.peer_port = static_cast<uint16_t>(65535 - variant);
            b.coa.behind_nat = (variant & 1) != 0;
            b.mobile_router = (variant & 2) != 0;
            b.proxy_nd = variant != 1;
            b.seq = variant == 0 ? 0 : static_cast<uint16_t>(0xFFFF - variant);
            b.lifetime = variant == 3 ? 0xFFFFFFFFu : 262140u;
            b.created = variant == 0 ? 0 : 1'700'000'000u + static_cast<uint64_t>(m);
            b.updated = variant == 3 ? ~uint64_t{0} : 1'700'000'100u;
            b.expires = variant == 3 ? ~uint64_t{0} - 1 : 1'700'262'240u;
            b.prefixes = prefixes(variant == 0 ? 0 : variant == 1 ? 1 : variant == 2 ? 32 : m % 2 ? 255 : 300);
            s.sa_out_spi = variant == 0 ? 0 : 0xFFFFFFF0u + static_cast<uint32_t>(m);
            out.push_back(s);
        }
    return out;
}

std::vector<MrChange> sample_mrs()
{
    std::vector<MrChange> out;
    for (int variant = 0; variant < 6; ++variant) {
        MrChange c;
        c.added = variant != 5;
        c.mr.hoa = v6("2001:db8:1::200");
        c.mr.hoa.bytes[15] = static_cast<uint8_t>(variant);
        c.mr.mobile_router = variant != 1;
        c.mr.methods = variant == 0 ? 0 : variant == 2 ? kAllIpv4Methods | method_bit(TunnelMethod::ipv6) : kNatMethods;
        c.mr.prefixes = prefixes(variant == 1 || variant == 5 ? 0 : variant == 3 ? 255 : variant == 4 ? 300 : 3);
        if (variant == 2 || variant == 4) c.mr.ike_id = "fqdn:router" + std::to_string(variant) + ".example";
        out.push_back(c);
    }
    return out;
}

KeyBytes key_of(std::size_t n, uint8_t seed)
{
    KeyBytes k(n);
    for (std::size_t i = 0; i < n; ++i) k[i] = static_cast<uint8_t>(seed + i * 7);
    return k;
}

std::vector<SaChange> sample_sas()
{
    std::vector<SaChange> out;
    const EspAlgorithm algs[] = {EspAlgorithm::aes_gcm_128, EspAlgorithm::aes_gcm_256, EspAlgorithm::aes_cbc_128_hmac_sha256};
    for (int variant = 0; variant < 6; ++variant) {
        SaChange c;
        c.added = variant != 4;
        c.sa.inbound = (variant & 1) != 0;
        c.sa.spi = variant == 0 ? 0 : variant == 5 ? 0xFFFFFFFFu : 0x1000u + static_cast<uint32_t>(variant);
        c.sa.hoa = v6("2001:db8:1::300");
        c.sa.algorithm = algs[variant % 3];
        // Real keys (20, 36, 16+32 bytes), none (a removal), and the longest a record holds.
        c.sa.enc_key = variant == 4 ? KeyBytes{} : key_of(variant == 3 ? 65535 : variant == 5 ? 1000 : 36, static_cast<uint8_t>(variant));
        c.sa.auth_key = variant == 2 ? key_of(32, 0x5a) : variant == 3 ? key_of(65535, 1) : KeyBytes{};
        c.sa.esn = variant >= 3;
        c.sa.window = variant == 0 ? 0 : variant == 3 ? 0xFFFFFFFFu : 64;
        c.sa.life_bytes = variant == 3 ? ~uint64_t{0} : static_cast<uint64_t>(variant) << 40;
        c.sa.life_packets = variant == 5 ? ~uint64_t{0} : static_cast<uint64_t>(variant);
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<SeqReservation> sample_seqs()
{
    return {{0, 0}, {1, 1}, {~uint64_t{0}, ~uint64_t{0}}, {0x0123456789abcdefULL, 0xFFFFFFFFULL}, {42, 1ULL << 32}};
}

// Every encoded sample of every kind, with the decoder of its own kind, as plain bytes.
struct Kind {
    const char* name;
    std::function<bool(std::span<const uint8_t>, std::string*)> decode;
};
const std::vector<Kind>& kinds()
{
    static const std::vector<Kind> k = {
        {"binding", [](std::span<const uint8_t> r, std::string* w) { return decode_binding(r, w).has_value(); }},
        {"mr", [](std::span<const uint8_t> r, std::string* w) { return decode_mr_change(r, w).has_value(); }},
        {"sa", [](std::span<const uint8_t> r, std::string* w) { return decode_sa_change(r, w).has_value(); }},
        {"seq", [](std::span<const uint8_t> r, std::string* w) { return decode_seq(r, w).has_value(); }},
    };
    return k;
}
// Samples (kept small: the byte-flip test decodes each once per byte and mask), by kind index.
std::vector<std::vector<uint8_t>> encoded_samples(std::size_t kind, bool small)
{
    std::vector<std::vector<uint8_t>> out;
    switch (kind) {
    case 0:
        for (const auto& b : sample_bindings())
            if (!small || b.binding.prefixes.size() <= 32) out.push_back(encode_binding(b));
        break;
    case 1:
        for (const auto& c : sample_mrs())
            if (!small || c.mr.prefixes.size() <= 32) out.push_back(encode_mr_change(c));
        break;
    case 2:
        for (const auto& c : sample_sas())
            if (!small || c.sa.enc_key.size() + c.sa.auth_key.size() <= 100) {
                KeyBytes k = encode_sa_change(c);
                out.emplace_back(k.begin(), k.end());
            }
        break;
    default:
        for (const auto& r : sample_seqs()) out.push_back(encode_seq(r));
    }
    return out;
}

// A record rebuilt from a body (format, kind, fields) with a valid CRC: for content the CRC cannot catch.
std::vector<uint8_t> with_crc(std::vector<uint8_t> body)
{
    const auto crc = static_cast<uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size())));
    for (int s = 24; s >= 0; s -= 8) body.push_back(static_cast<uint8_t>(crc >> s));
    return body;
}
std::vector<uint8_t> body_of(const std::vector<uint8_t>& rec) { return {rec.begin(), rec.end() - 4}; }

} // namespace

TEST(StateRecord, BindingRoundTripEveryShape)
{
    for (const StoredBinding& s : sample_bindings()) {
        SCOPED_TRACE(s.binding.hoa.str());
        std::string why;
        auto back = decode_binding(encode_binding(s), &why);
        ASSERT_TRUE(back) << why;
        expect_same(*back, s);
    }
}

TEST(StateRecord, MrChangeRoundTrip)
{
    for (const MrChange& c : sample_mrs()) {
        SCOPED_TRACE(c.mr.hoa.str() + " with " + std::to_string(c.mr.prefixes.size()) + " prefixes");
        std::string why;
        auto back = decode_mr_change(encode_mr_change(c), &why);
        ASSERT_TRUE(back) << why;
        expect_same(*back, c);
    }
}

TEST(StateRecord, SaChangeRoundTripKeysIncluded)
{
    for (const SaChange& c : sample_sas()) {
        SCOPED_TRACE("spi " + std::to_string(c.sa.spi));
        std::string why;
        const KeyBytes rec = encode_sa_change(c);
        auto back = decode_sa_change(rec, &why);
        ASSERT_TRUE(back) << why;
        expect_same(*back, c);
    }
}

TEST(StateRecord, SeqRoundTrip)
{
    for (const SeqReservation& r : sample_seqs()) {
        std::string why;
        auto back = decode_seq(encode_seq(r), &why);
        ASSERT_TRUE(back) << why;
        EXPECT_EQ(back->key, r.key);
        EXPECT_EQ(back->reserved, r.reserved);
    }
}

TEST(StateRecord, EncodingIsDeterministic)
{
    // The store's tests compare images as encoded records: that needs one encoding per value.
    for (const auto& s : sample_bindings()) EXPECT_EQ(encode_binding(s), encode_binding(*decode_binding(encode_binding(s), nullptr)));
}

TEST(StateRecord, AnySingleByteChangeIsCaughtByTheCrc)
{
    const uint8_t masks[] = {0x01, 0x10, 0x80, 0xFF};
    std::size_t tried = 0;
    for (std::size_t k = 0; k < kinds().size(); ++k)
        for (const auto& rec : encoded_samples(k, true)) {
            for (std::size_t i = 0; i < rec.size(); ++i)
                for (uint8_t m : masks) {
                    auto bad = rec;
                    bad[i] ^= m;
                    std::string why;
                    ASSERT_FALSE(kinds()[k].decode(bad, &why)) << kinds()[k].name << " byte " << i << " ^ " << int(m);
                    EXPECT_EQ(why, "checksum mismatch") << kinds()[k].name << " byte " << i;
                    ++tried;
                }
        }
    EXPECT_GT(tried, 10000u);
}

TEST(StateRecord, EveryTruncationFailsCleanly)
{
    for (std::size_t k = 0; k < kinds().size(); ++k)
        for (const auto& rec : encoded_samples(k, false)) {
            ASSERT_TRUE(kinds()[k].decode(rec, nullptr)) << kinds()[k].name;
            // Every length of the records up to 8 kB; of the larger ones (the 64 kB keys) the first and last
            // 100 and 300 between.
            std::vector<std::size_t> lengths;
            for (std::size_t n = 0; n < rec.size(); ++n)
                if (rec.size() <= 8192 || n < 100 || n + 100 >= rec.size() || n % (rec.size() / 300) == 0) lengths.push_back(n);
            for (std::size_t n : lengths) {
                // A copy of exactly n bytes: ASan sees any read past them.
                const std::vector<uint8_t> cut(rec.begin(), rec.begin() + static_cast<std::ptrdiff_t>(n));
                std::string why;
                ASSERT_FALSE(kinds()[k].decode(cut, &why)) << kinds()[k].name << " cut to " << n;
                EXPECT_FALSE(why.empty()) << kinds()[k].name << " cut to " << n;
                EXPECT_FALSE(kinds()[k].decode(cut, nullptr)); // no reason asked for: no crash either
            }
            // One byte too many is no record either.
            auto longer = rec;
            longer.push_back(0);
            EXPECT_FALSE(kinds()[k].decode(longer, nullptr));
        }
}

TEST(StateRecord, ShortBodyWithAValidCrcIsTruncatedNotHalfRead)
{
    // A body cut short and given a fresh CRC: the CRC passes, the reader must still see the end.
    for (std::size_t k = 0; k < kinds().size(); ++k)
        for (const auto& rec : encoded_samples(k, true)) {
            const auto body = body_of(rec);
            for (std::size_t n = 2; n < body.size(); ++n) {
                const auto cut = with_crc({body.begin(), body.begin() + static_cast<std::ptrdiff_t>(n)});
                std::string why;
                ASSERT_FALSE(kinds()[k].decode(cut, &why)) << kinds()[k].name << " body cut to " << n;
                EXPECT_FALSE(why.empty());
            }
            auto extra = body;
            extra.push_back(0x00);
            std::string why;
            EXPECT_FALSE(kinds()[k].decode(with_crc(extra), &why)) << kinds()[k].name;
            EXPECT_EQ(why, "trailing bytes in record") << kinds()[k].name;
        }
}

// Records written before IKEv2 have no ike_id: they still read, as an entry without one; one written
// with it reads it back.
TEST(StateRecord, MrRecordsBeforeAndAfterTheIkeIdentity)
{
    MrChange c = sample_mrs()[2];
    ASSERT_FALSE(c.mr.ike_id.empty());
    std::string why;
    auto with = decode_mr_change(encode_mr_change(c), &why);
    ASSERT_TRUE(with) << why;
    EXPECT_EQ(with->mr.ike_id, c.mr.ike_id);
    c.mr.ike_id.clear();
    const auto old_form = encode_mr_change(c); // what an older nemo-ha wrote: nothing after the prefixes
    auto without = decode_mr_change(old_form, &why);
    ASSERT_TRUE(without) << why;
    EXPECT_TRUE(without->mr.ike_id.empty());
    EXPECT_EQ(without->mr.prefixes.size(), c.mr.prefixes.size());
}

TEST(StateRecord, ARecordOfOneKindIsNoneOfAnother)
{
    for (std::size_t k = 0; k < kinds().size(); ++k)
        for (const auto& rec : encoded_samples(k, false))
            for (std::size_t other = 0; other < kinds().size(); ++other) {
                if (other == k) continue;
                std::string why;
                EXPECT_FALSE(kinds()[other].decode(rec, &why)) << kinds()[k].name << " as " << kinds()[other].name;
                EXPECT_EQ(why, "record of another kind") << kinds()[k].name << " as " << kinds()[other].name;
            }
}

TEST(StateRecord, UnknownFormatIsRefused)
{
    for (std::size_t k = 0; k < kinds().size(); ++k) {
        auto body = body_of(encoded_samples(k, true).front());
        body[0] = kStateRecordFormat + 1;
        std::string why;
        EXPECT_FALSE(kinds()[k].decode(with_crc(body), &why)) << kinds()[k].name;
        EXPECT_EQ(why, "record of an unknown format");
    }
}

TEST(StateRecord, ValuesOutOfRangeAreRefusedEvenWithAValidCrc)
{
    // Binding body: format, kind, hoa(16), method, flags, ... ; a prefix is 16 bytes and a length.
    StoredBinding s = sample_bindings()[5];
    s.binding.prefixes = {Prefix6::make(v6("2001:db8:5::"), 48)};
    const auto body = body_of(encode_binding(s));
    std::string why;
    auto bad = body;
    bad[18] = kTunnelMethodCount; // method
    EXPECT_FALSE(decode_binding(with_crc(bad), &why));
    EXPECT_EQ(why, "unknown tunnel method or flags");
    bad = body;
    bad[19] |= 0x08; // an unknown flag
    EXPECT_FALSE(decode_binding(with_crc(bad), &why));
    EXPECT_EQ(why, "unknown tunnel method or flags");
    bad = body;
    bad.back() = 129; // the prefix's length
    EXPECT_FALSE(decode_binding(with_crc(bad), &why));
    EXPECT_EQ(why, "a prefix with host bits set or longer than 128");
    bad = body;
    bad[bad.size() - 2] = 1; // a host bit of a /48
    EXPECT_FALSE(decode_binding(with_crc(bad), &why));
    EXPECT_EQ(why, "a prefix with host bits set or longer than 128");

    // MR change: format, kind, added, hoa(16), router, methods(2), count.
    MrChange c = sample_mrs()[0];
    const auto mbody = body_of(encode_mr_change(c));
    auto mbad = mbody;
    mbad[2] = 2;
    EXPECT_FALSE(decode_mr_change(with_crc(mbad), &why));
    EXPECT_EQ(why, "unknown flags");
    mbad = mbody;
    mbad[21] |= 0x40; // a method bit past the last method
    EXPECT_FALSE(decode_mr_change(with_crc(mbad), &why));
    EXPECT_EQ(why, "unknown flags");

    // SA change: format, kind, added, spi(4), inbound, hoa(16), algorithm, enc key length(2).
    const KeyBytes sa = encode_sa_change(sample_sas()[1]);
    auto sbody = body_of(std::vector<uint8_t>(sa.begin(), sa.end()));
    sbody[24] = 3;
    EXPECT_FALSE(decode_sa_change(with_crc(sbody), &why));
    EXPECT_EQ(why, "unknown flags or algorithm");
    // A key length past the record's end: truncated, not read past.
    sbody = body_of(std::vector<uint8_t>(sa.begin(), sa.end()));
    sbody[25] = 0xFF;
    sbody[26] = 0xFF;
    EXPECT_FALSE(decode_sa_change(with_crc(sbody), &why));
    EXPECT_EQ(why, "truncated record");
}

TEST(StateRecord, NothingAtAllIsNoRecord)
{
    for (const auto& k : kinds()) {
        std::string why;
        EXPECT_FALSE(k.decode({}, &why));
        EXPECT_EQ(why, "truncated record");
        const std::vector<uint8_t> zeros(64, 0);
        EXPECT_FALSE(k.decode(zeros, &why)) << k.name;
        EXPECT_FALSE(why.empty());
    }
}

TEST(StateRecord, BindingTimesBetweenClocks)
{
    // Mono 1000 s since boot, wall 1.7e9: created 400 s ago, updated 10 s ago, expires in 300 s.
    const uint64_t mono = 1000, wall = 1'700'000'000;
    Binding b;
    b.created = 600;
    b.updated = 990;
    b.expires = 1300;
    const Binding w = binding_to_wall(b, mono, wall);
    EXPECT_EQ(w.created, wall - 400);
    EXPECT_EQ(w.updated, wall - 10);
    EXPECT_EQ(w.expires, wall + 300);
    // Back on the same clocks: the same values.
    const Binding m = binding_to_mono(w, mono, wall);
    EXPECT_EQ(m.created, b.created);
    EXPECT_EQ(m.updated, b.updated);
    EXPECT_EQ(m.expires, b.expires);
    // After a reboot (mono restarted at 5, wall 100 s later): the same distances from the new now,
    // and a time before the new boot stays a set time (1), not 0 ("unset").
    const Binding r = binding_to_mono(w, 5, wall + 100);
    EXPECT_EQ(r.expires, 5 + 200u);
    EXPECT_EQ(r.updated, 1u);
    EXPECT_EQ(r.created, 1u);
    // Times now and now exactly.
    Binding now_b;
    now_b.created = mono;
    EXPECT_EQ(binding_to_wall(now_b, mono, wall).created, wall);
    EXPECT_EQ(binding_to_mono(binding_to_wall(now_b, mono, wall), mono, wall).created, mono);
    // Many times, both directions, round trip exact while no clamping happens.
    for (uint64_t t = 1; t < 5000; t += 7) {
        Binding x;
        x.created = t;
        x.updated = t + 1;
        x.expires = t + 2;
        const Binding y = binding_to_mono(binding_to_wall(x, mono, wall), mono, wall);
        ASSERT_EQ(y.created, t);
        ASSERT_EQ(y.updated, t + 1);
        ASSERT_EQ(y.expires, t + 2);
    }
}

TEST(StateRecord, UnsetTimesStayUnset)
{
    Binding b;
    b.created = 0;
    b.updated = 0;
    b.expires = 0;
    b.seq = 7;
    for (auto [mono, wall] : {std::pair<uint64_t, uint64_t>{1000, 1'700'000'000}, {1, 1}, {0, 5}, {5, 0}}) {
        const Binding w = binding_to_wall(b, mono, wall);
        EXPECT_EQ(w.created, 0u);
        EXPECT_EQ(w.updated, 0u);
        EXPECT_EQ(w.expires, 0u);
        const Binding m = binding_to_mono(b, mono, wall);
        EXPECT_EQ(m.created, 0u);
        EXPECT_EQ(m.updated, 0u);
        EXPECT_EQ(m.expires, 0u);
        EXPECT_EQ(m.seq, 7); // only the times move
    }
    // A set time never becomes 0 either, however far in the past of the other clock.
    Binding old;
    old.created = 1;
    EXPECT_EQ(binding_to_mono(old, 10, 1'700'000'000).created, 1u);
    EXPECT_EQ(binding_to_wall(old, 1'000'000, 10).created, 1u);
}
