// IKEv2's cryptography (control/ike/ike_crypto) against known answers: RFC 5903 8.1 (ECP-256), RFC 7748
// 6.1 (X25519), RFC 4231 and RFC 4868 2.7.2.1 (HMAC-SHA-256 and its 128-bit truncation). Where no RFC has a
// vector (MODP-2048 with given private values, 2.14's key derivation, the rekey, KEYMAT, the Encrypted
// payload, PSK AUTH, NAT detection, cookies) the vectors were computed once, while writing this test, by an
// independent Python 3 script: hmac/hashlib for the PRF and prf+ (written out from RFC 7296 2.13, T1 =
// prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n)), pow() for MODP, and the `cryptography` package's AESGCM
// and Cipher(AES, CBC) for the sealed messages, which were built byte by byte from RFC 7296 3.14 and RFC
// 5282 (the script's expressions are quoted beside each vector).
//
// Key bytes are never printed: every comparison of secrets is EXPECT_TRUE(a == b).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "hex.hpp"
#include "ike_crypto.hpp"

using namespace nemo;
using namespace nemo::ike;

namespace {

std::vector<uint8_t> H(std::string_view hex)
{
    std::vector<uint8_t> b;
    if (!parse_hex(hex, b)) ADD_FAILURE() << "bad hex literal in the test";
    return b;
}

KeyBytes K(std::string_view hex)
{
    KeyBytes b;
    if (!parse_hex(hex, b)) ADD_FAILURE() << "bad hex literal in the test";
    return b;
}

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> range_bytes(uint8_t first, std::size_t n)
{
    std::vector<uint8_t> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(first + i);
    return b;
}

bool same(std::span<const uint8_t> a, std::span<const uint8_t> b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The nonces, SPIs and g^ir of the derivation vectors: Ni = 00..1f, Nr = 20..3f, g^ir = RFC 7748's X25519
// shared secret.
const std::vector<uint8_t> kNi = range_bytes(0x00, 32);
const std::vector<uint8_t> kNr = range_bytes(0x20, 32);
constexpr uint64_t kSpiI = 0x0102030405060708;
constexpr uint64_t kSpiR = 0x1112131415161718;
const char kX25519Shared[] = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
const char kP256Shared[] = "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de";

// ---- Diffie-Hellman ----------------------------------------------------------------------------------

TEST(IkeDh, PublicLengths)
{
    EXPECT_EQ(dh_public_len(DhGroup::modp2048), 256u);
    EXPECT_EQ(dh_public_len(DhGroup::ecp256), 64u);
    EXPECT_EQ(dh_public_len(DhGroup::curve25519), 32u);
}

// RFC 5903 section 8.1: i, g^i = gix | giy, r, g^r, g^ir = girx (section 7: only x is the shared secret).
TEST(IkeDh, Ecp256Rfc5903)
{
    std::string error;
    auto i = dh_from_private(DhGroup::ecp256, H("c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433"),
                             &error);
    auto r = dh_from_private(DhGroup::ecp256, H("c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53"),
                             &error);
    ASSERT_TRUE(i && r) << error;
    const auto gi = H("dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"
                      "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3");
    const auto gr = H("d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
                      "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab");
    EXPECT_TRUE(i->public_value() == gi);
    EXPECT_TRUE(r->public_value() == gr);
    auto s1 = i->shared_secret(gr);
    auto s2 = r->shared_secret(gi);
    ASSERT_TRUE(s1 && s2);
    EXPECT_TRUE(*s1 == K(kP256Shared));
    EXPECT_TRUE(*s2 == K(kP256Shared));
}

TEST(IkeDh, Ecp256RefusesPointsNotOnTheCurve)
{
    auto key = DhKey::generate(DhGroup::ecp256, nullptr);
    ASSERT_TRUE(key);
    auto gr = H("d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
                "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab");
    EXPECT_TRUE(key->shared_secret(gr).has_value()); // the untouched point is accepted
    auto bad = gr;
    bad[63] ^= 1; // y changed: not on the curve
    EXPECT_FALSE(key->shared_secret(bad).has_value());
    EXPECT_FALSE(key->shared_secret(std::vector<uint8_t>(64, 0)).has_value()); // (0, 0)
    EXPECT_FALSE(key->shared_secret(std::span(gr).first(63)).has_value());
    auto longer = gr;
    longer.push_back(0);
    EXPECT_FALSE(key->shared_secret(longer).has_value());
}

// RFC 7748 section 6.1: Alice's and Bob's private keys, public keys and K.
TEST(IkeDh, X25519Rfc7748)
{
    std::string error;
    auto a = dh_from_private(DhGroup::curve25519,
                             H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"), &error);
    auto b = dh_from_private(DhGroup::curve25519,
                             H("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"), &error);
    ASSERT_TRUE(a && b) << error;
    const auto apub = H("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    const auto bpub = H("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    EXPECT_TRUE(a->public_value() == apub);
    EXPECT_TRUE(b->public_value() == bpub);
    auto s1 = a->shared_secret(bpub);
    auto s2 = b->shared_secret(apub);
    ASSERT_TRUE(s1 && s2);
    EXPECT_TRUE(*s1 == K(kX25519Shared));
    EXPECT_TRUE(*s2 == K(kX25519Shared));
}

TEST(IkeDh, X25519RefusesLowOrderPoints)
{
    auto key = DhKey::generate(DhGroup::curve25519, nullptr);
    ASSERT_TRUE(key);
    // u = 0 and u = 1 are of small order: the result is all zeros (RFC 7748 6.1, RFC 8031 2.2).
    EXPECT_FALSE(key->shared_secret(std::vector<uint8_t>(32, 0)).has_value());
    auto one = std::vector<uint8_t>(32, 0);
    one[0] = 1;
    EXPECT_FALSE(key->shared_secret(one).has_value());
    EXPECT_FALSE(key->shared_secret(std::vector<uint8_t>(31, 9)).has_value());
}

// MODP-2048 has no RFC vector for given private values: g^x mod p by Python's pow(2, x, p) with p from RFC
// 3526, x_i = SHA-256("modp initiator"), x_r = SHA-256("modp responder").
const char kModpXi[] = "b01e71cff0b4aca7aed5ea199bd1e53e2d322a326bb8b74d2d0e695bc256d465";
const char kModpXr[] = "0af6f8704d425c6a970ed101c6b15e4e9d748e98a1731dc184801865d30c6565";
const char kModpGi[] =
    "70862465f9675a7f4325217decaa902bc9f82f766d932b06c48edd3c4899df1436126e06700ed30f5b2e4375dbf1b3c0db34eed3588d"
    "a31125988a8b1d4afd79c77d4b2590d930affefbf2c5de8956f7cff166d7a1d3c0cae828a257349cd3155dfe72a90d52331451886df0"
    "8e317de6573291e2cbd867e3c2d1457d00f57103d2b1cf9225f4a258dc1ccbaeff0b4158ff42116cd83ffc760b456688fb048b2b6e26"
    "9210eaf955c1498e391ffab69c18978884a5105dde26d96be8206857186c1caf4b457c3fd401a7964ffbff9081a3cae3f77c8167e703"
    "8939a2a3a10be7c5006922ab40206584d92ccddd54a27f926bbbafed573fc7d1b3bbaf505d410724";
const char kModpGr[] =
    "ddbdd9d0f670c5a2887d3c3de9b7efec39d529dde1cac98fe47f58630c95eae5c2fd074da3fae275b980d900fa061a367a229f0c96e7"
    "6074ffb20cb779f2b5d5c9eb0e979dfc5ddf9a258b0a632f818ba5b16c97bbf6bd924f92159b6ced9aef263846188a502d59c6b88752"
    "98c6c4ba94012bb773c781e438fbc5ea4e4b8f5c3b90266c03311a2d6785dd77e64efd27ae5e1a0b65837cc9b192ca4785f69cf6f0bb"
    "f4cbea1edabb3d9008921a2865e298367eced3c68ac9e898acaf9b142c63bd620091bbc15c0f4cf19fab0a99e07d1415f71f0a8dc26d"
    "35df0fd3d69641f5cc6f11629cb6e576907942fe1f4cfdcaae9e7a2448ced88c13bf9b1162565aa3";
const char kModpGir[] =
    "47412fe0edc475a1ba30cb87417332b8778ab364fba3f9d25d0465a41d119fb86eec0648f7eb8b60d9b89ece62e1fffcd1146b353020"
    "a151541dfb5d1e5c4aac150326d780622c7d32a9cababa1ca226f3836c186797814eb46ff78ae6c56edd98f05703fd210115ba42ceb4"
    "f1e4f0ba4a2455ce58e5fba8cdfa5e99a16b98e1ba11519940ea8bf0fb9a075296c55c62f367102e5effa42151017d7fb489ae8e64a2"
    "ebd3bc6e6d3d2c38a9687fe95e2edfc78b7ff7018b37a0236d2b16cba844aba568085432d7cf7b6521cf7263646f2f774cf9e5a6ab46"
    "03d9f5a2c19c78342350b6b023dfa4f39fef57ad1b4b6bc2e458266b2d9ecbf746d945c6e264c382";

// RFC 3526's 2048-bit prime.
const char kModpP[] =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A43"
    "1B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B"
    "1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED5290770"
    "96966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF";

TEST(IkeDh, Modp2048KnownAnswer)
{
    std::string error;
    auto i = dh_from_private(DhGroup::modp2048, H(kModpXi), &error);
    auto r = dh_from_private(DhGroup::modp2048, H(kModpXr), &error);
    ASSERT_TRUE(i && r) << error;
    EXPECT_TRUE(i->public_value() == H(kModpGi));
    EXPECT_TRUE(r->public_value() == H(kModpGr));
    auto s1 = i->shared_secret(H(kModpGr));
    auto s2 = r->shared_secret(H(kModpGi));
    ASSERT_TRUE(s1 && s2);
    EXPECT_EQ(s1->size(), 256u);
    EXPECT_TRUE(*s1 == K(kModpGir));
    EXPECT_TRUE(*s2 == K(kModpGir));
}

TEST(IkeDh, Modp2048RefusesInvalidValues)
{
    auto key = DhKey::generate(DhGroup::modp2048, nullptr);
    ASSERT_TRUE(key);
    EXPECT_TRUE(key->shared_secret(H(kModpGr)).has_value());
    std::vector<uint8_t> zero(256, 0), one(256, 0), two(256, 0);
    one[255] = 1;
    two[255] = 2;
    const auto p = H(kModpP);
    auto p_minus_1 = p, p_minus_2 = p;
    p_minus_1[255] -= 1; // p ends in ...ff
    p_minus_2[255] -= 2;
    // 1 < y < p-1 (RFC 7296 / SP 800-56A): 0, 1, p-1 and anything from p up are refused.
    EXPECT_FALSE(key->shared_secret(zero).has_value());
    EXPECT_FALSE(key->shared_secret(one).has_value());
    EXPECT_FALSE(key->shared_secret(p_minus_1).has_value());
    EXPECT_FALSE(key->shared_secret(p).has_value());
    EXPECT_FALSE(key->shared_secret(std::vector<uint8_t>(256, 0xff)).has_value());
    // g = 2 is in the subgroup of order q = (p-1)/2; p-2 is in range but outside it (pow(p-2, q, p) != 1,
    // checked in Python), refused by libcrypto's full public-key check.
    EXPECT_TRUE(key->shared_secret(two).has_value());
    EXPECT_FALSE(key->shared_secret(p_minus_2).has_value());
    // Lengths other than the modulus' (2.14: KE data is exactly 256 bytes).
    auto short_value = H(kModpGr);
    short_value.erase(short_value.begin());
    EXPECT_FALSE(key->shared_secret(short_value).has_value());
    EXPECT_FALSE(key->shared_secret({}).has_value());
}

TEST(IkeDh, GeneratedPairsAgree)
{
    for (DhGroup g : {DhGroup::modp2048, DhGroup::ecp256, DhGroup::curve25519}) {
        std::string error;
        auto a = DhKey::generate(g, &error);
        auto b = DhKey::generate(g, &error);
        ASSERT_TRUE(a && b) << error;
        EXPECT_EQ(a->group(), g);
        const auto pa = a->public_value(), pb = b->public_value();
        EXPECT_EQ(pa.size(), dh_public_len(g));
        EXPECT_EQ(pb.size(), dh_public_len(g));
        EXPECT_FALSE(pa == pb);
        auto s1 = a->shared_secret(pb), s2 = b->shared_secret(pa);
        ASSERT_TRUE(s1 && s2);
        EXPECT_EQ(s1->size(), dh_shared_len(g));
        EXPECT_TRUE(*s1 == *s2);
    }
}

// ---- PRF -----------------------------------------------------------------------------------------------

TEST(IkePrf, Rfc4231)
{
    EXPECT_TRUE(prf(std::vector<uint8_t>(20, 0x0b), bytes_of("Hi There")) ==
                K("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
    EXPECT_TRUE(prf(bytes_of("Jefe"), bytes_of("what do ya want for nothing?")) ==
                K("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
    EXPECT_TRUE(prf(std::vector<uint8_t>(20, 0xaa), std::vector<uint8_t>(50, 0xdd)) ==
                K("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"));
    // Test case 6: a key longer than SHA-256's block, hashed first.
    EXPECT_TRUE(prf(std::vector<uint8_t>(131, 0xaa), bytes_of("Test Using Larger Than Block-Size Key - Hash Key First")) ==
                K("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
}

TEST(IkePrf, Rfc4868)
{
    // 2.7.2.1, AUTH256-1 and AUTH256-2: PRF-HMAC-SHA-256 and HMAC-SHA-256-128.
    const auto k1 = std::vector<uint8_t>(32, 0x0b);
    EXPECT_TRUE(prf(k1, bytes_of("Hi There")) == K("198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"));
    const auto t1 = hmac_sha256_128(k1, bytes_of("Hi There"));
    EXPECT_TRUE(same(t1, H("198a607eb44bfbc69903a0f1cf2bbdc5")));
    const auto k2 = bytes_of("JefeJefeJefeJefeJefeJefeJefeJefe");
    const auto t2 = hmac_sha256_128(k2, bytes_of("what do ya want for nothing?"));
    EXPECT_TRUE(same(t2, H("167f928588c5cc2eef8e3093caa0e87c")));
    // RFC 4231 test case 5, the truncated one.
    const auto t5 = hmac_sha256_128(std::vector<uint8_t>(20, 0x0c), bytes_of("Test With Truncation"));
    EXPECT_TRUE(same(t5, H("a3b6167473100ee06e0c796c2955552b")));
}

TEST(IkePrf, PrfPlusIsTheChainOfPrf)
{
    const auto key = bytes_of("a prf+ key");
    const auto seed = bytes_of("the seed S");
    // T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02), T3 = prf(K, T2 | S | 0x03) (2.13).
    auto with = [](std::span<const uint8_t> a, std::span<const uint8_t> b, uint8_t n) {
        std::vector<uint8_t> v(a.begin(), a.end());
        v.insert(v.end(), b.begin(), b.end());
        v.push_back(n);
        return v;
    };
    const KeyBytes t1 = prf(key, with({}, seed, 1));
    const KeyBytes t2 = prf(key, with(t1, seed, 2));
    const KeyBytes t3 = prf(key, with(t2, seed, 3));
    KeyBytes expected(t1);
    expected.insert(expected.end(), t2.begin(), t2.end());
    expected.insert(expected.end(), t3.begin(), t3.end());
    EXPECT_TRUE(prf_plus(key, seed, 96) == expected);
    expected.resize(70);
    EXPECT_TRUE(prf_plus(key, seed, 70) == expected);
    EXPECT_EQ(prf_plus(key, seed, 255 * 32).size(), 255u * 32);
    EXPECT_THROW(prf_plus(key, seed, 255 * 32 + 1), std::length_error);
}

// ---- Key derivation --------------------------------------------------------------------------------------

// Python: skeyseed = prf(ni + nr, gir); km = prf+(skeyseed, ni + nr + pack('>QQ', spii, spir), n), split
// 32 | a | a | e | e | 32 | 32.
TEST(IkeKeys, DeriveCbc)
{
    const auto k = derive_ike_keys(IkeCipher::aes_cbc_128_hmac_sha256, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
    EXPECT_TRUE(k.sk_d == K("873cd5bd21d5d40481daa8b14d9ba50ba66f0fe9604764695d3714d94667b926"));
    EXPECT_TRUE(k.sk_ai == K("9302c66b947c55e0cf4e394c8fb0604c85818e0af336ec66259c2c3ead11d042"));
    EXPECT_TRUE(k.sk_ar == K("b0b6adb1cde3859f71fd5713b11c80630bc6653e6849aac8e0ce3a609f017841"));
    EXPECT_TRUE(k.sk_ei == K("a7f0d605c02db96f721d76bb7099af83"));
    EXPECT_TRUE(k.sk_er == K("8ea90083fb88845179dfff839f5de7a7"));
    EXPECT_TRUE(k.sk_pi == K("93fca39600e596e0e6cfe467ae5711adb853b46d93717b9a66e4cae8f4c28cb0"));
    EXPECT_TRUE(k.sk_pr == K("62dc95becee57c5e5c651784ac32e9088a7fb545519f037a1ac61416b887e8a7"));
}

TEST(IkeKeys, DeriveGcm256)
{
    const auto k = derive_ike_keys(IkeCipher::aes_gcm16_256, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
    EXPECT_TRUE(k.sk_d == K("873cd5bd21d5d40481daa8b14d9ba50ba66f0fe9604764695d3714d94667b926"));
    EXPECT_TRUE(k.sk_ai.empty());
    EXPECT_TRUE(k.sk_ar.empty());
    EXPECT_TRUE(k.sk_ei == K("9302c66b947c55e0cf4e394c8fb0604c85818e0af336ec66259c2c3ead11d042b0b6adb1"));
    EXPECT_TRUE(k.sk_er == K("cde3859f71fd5713b11c80630bc6653e6849aac8e0ce3a609f017841a7f0d605c02db96f"));
    EXPECT_TRUE(k.sk_pi == K("721d76bb7099af838ea90083fb88845179dfff839f5de7a793fca39600e596e0"));
    EXPECT_TRUE(k.sk_pr == K("e6cfe467ae5711adb853b46d93717b9a66e4cae8f4c28cb062dc95becee57c5e"));
    const auto g128 = derive_ike_keys(IkeCipher::aes_gcm16_128, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
    EXPECT_EQ(g128.sk_ei.size(), 20u);
    EXPECT_TRUE(std::equal(g128.sk_ei.begin(), g128.sk_ei.end(), k.sk_ei.begin()));
}

TEST(IkeKeys, EveryInputMatters)
{
    const auto base = derive_ike_keys(IkeCipher::aes_gcm16_128, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
    auto ni2 = kNi;
    ni2[31] ^= 1;
    EXPECT_FALSE(derive_ike_keys(IkeCipher::aes_gcm16_128, ni2, kNr, K(kX25519Shared), kSpiI, kSpiR).sk_d == base.sk_d);
    EXPECT_FALSE(derive_ike_keys(IkeCipher::aes_gcm16_128, kNi, kNr, K(kP256Shared), kSpiI, kSpiR).sk_d == base.sk_d);
    EXPECT_FALSE(derive_ike_keys(IkeCipher::aes_gcm16_128, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR + 1).sk_d ==
                 base.sk_d);
    EXPECT_FALSE(derive_ike_keys(IkeCipher::aes_gcm16_128, kNr, kNi, K(kX25519Shared), kSpiI, kSpiR).sk_d == base.sk_d);
}

// Python: skeyseed = prf(old_sk_d, gir_new + ni + nr), then as above with SPIs 2122..28 and 3132..38; old
// SK_d the CBC vector's, g^ir the RFC 5903 P-256 result.
TEST(IkeKeys, Rekey)
{
    const auto old = derive_ike_keys(IkeCipher::aes_cbc_128_hmac_sha256, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
    const auto k = derive_rekeyed_ike_keys(IkeCipher::aes_cbc_128_hmac_sha256, old.sk_d, K(kP256Shared), kNi, kNr,
                                           0x2122232425262728, 0x3132333435363738);
    EXPECT_TRUE(k.sk_d == K("2e9f6db4b34df4d61d1ec52c47cb1746cd8a68ac4129e3b7fed25267450a0c49"));
    EXPECT_TRUE(k.sk_ai == K("c4492bec77977c36ee43598ed7ae3b8e110731bc1af68c62616b8a1eb025179f"));
    EXPECT_TRUE(k.sk_ar == K("6dba0c00efc886343fbdb614be0129b8413b7a18d227a8c970489a92203f0208"));
    EXPECT_TRUE(k.sk_ei == K("6052545834bb69fe955172e6b92ba3e2"));
    EXPECT_TRUE(k.sk_er == K("394d7cf967489c10559650435e63bcea"));
    EXPECT_TRUE(k.sk_pi == K("60e97b37ec7c15742e653ed7104c05e1fa88aa605097ae1b067e886372e43ab7"));
    EXPECT_TRUE(k.sk_pr == K("0a5daf72274b3faf7722a3062ce327d85f482f29879ffd857828c5143f90445d"));
}

// Python: prf+(old_sk_d, ni + nr, 72) and prf+(old_sk_d, gir_new + ni + nr, 72).
TEST(IkeKeys, ChildKeymat)
{
    const auto ike = derive_ike_keys(IkeCipher::aes_cbc_128_hmac_sha256, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
    EXPECT_TRUE(child_keymat(ike.sk_d, {}, kNi, kNr, 72) ==
                K("809cd037f5cd591ba412eddf8c9c0138079ebee6bd157dc4f4d7775119a0b493a9cbc91929d5b87ac70bb38f513ba4d2"
                  "294f001411a254796ed750e33d166de2a574bbbb6a8530d8"));
    EXPECT_TRUE(child_keymat(ike.sk_d, K(kP256Shared), kNi, kNr, 72) ==
                K("bbe09f3ca7e86df087012541f1f766280c942dc0495d5f20e6ebc9b38ab2fabc0bb8f12f07f4213fe2bd9da304b3ce64"
                  "8208a51fbbc121d35171cfdcca3f6e54db4507fe0646964f"));
}

// ---- The Encrypted payload ---------------------------------------------------------------------------

// The header the caller built: SPIs, next payload 33 (SA), version 0x20, exchange 35 (IKE_AUTH), flags
// 0x08 (initiator), message ID 1, length 0: seal rewrites next payload and length.
const char kHeader[] = "01020304050607081112131415161718212023080000000100000000";
// An inner chain: a 12-byte payload (next 41), then a 12-byte Notify-like payload.
const char kInner[] = "2900000c00010203040506070000000c01000000c0000201";

struct CipherKeys {
    IkeCipher c;
    KeyBytes enc, integ;
};

std::vector<CipherKeys> all_ciphers()
{
    std::vector<CipherKeys> out;
    for (IkeCipher c : {IkeCipher::aes_gcm16_128, IkeCipher::aes_gcm16_256, IkeCipher::aes_cbc_128_hmac_sha256}) {
        const auto k = derive_ike_keys(c, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
        out.push_back({c, k.sk_ei, k.sk_ai});
    }
    return out;
}

// Python, CBC: pt = inner | zeros | pad length, padded to 16; m = header(next 46, length) | 23 00 len16 |
// iv | AES-CBC(SK_ei, iv, pt); sealed = m | HMAC-SHA-256(SK_ai, m)[:16]; iv = a0..af.
TEST(IkeSk, CbcKnownAnswer)
{
    const auto keys = derive_ike_keys(IkeCipher::aes_cbc_128_hmac_sha256, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
    const auto sealed = seal_sk_with_iv(IkeCipher::aes_cbc_128_hmac_sha256, keys.sk_ei, keys.sk_ai, H(kHeader), 35,
                                        H(kInner), range_bytes(0xa0, 16));
    EXPECT_TRUE(sealed == H("010203040506070811121314151617182e202308000000010000006023000044a0a1a2a3a4a5a6a7a8a9aaabac"
                            "adaeafed0ca91d4f9767db65171043ca74e5ee1a5dc37374ae9466b4e0db3887a7d3187a6c6e1b34f8582126cb"
                            "82118c42f29e"));
    const auto opened = open_sk(IkeCipher::aes_cbc_128_hmac_sha256, keys.sk_ei, keys.sk_ai, sealed, 28);
    ASSERT_TRUE(opened);
    EXPECT_TRUE(*opened == H(kInner));
}

// Python, GCM: pt = inner | 00; aad = header(next 46, length) | 23 00 len16; sealed = aad | iv |
// AESGCM(SK_ei[:-4]).encrypt(SK_ei[-4:] | iv, pt, aad); iv = c0..c7.
TEST(IkeSk, GcmKnownAnswer)
{
    const auto keys = derive_ike_keys(IkeCipher::aes_gcm16_256, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
    const auto sealed =
        seal_sk_with_iv(IkeCipher::aes_gcm16_256, keys.sk_ei, {}, H(kHeader), 35, H(kInner), range_bytes(0xc0, 8));
    EXPECT_TRUE(sealed == H("010203040506070811121314151617182e202308000000010000005123000035c0c1c2c3c4c5c6c7ed90f9fd36"
                            "8013e38abde96b2f08bc748e5f1a23085951fde3c452c6c03603779bfe66336fc8205881"));
    const auto opened = open_sk(IkeCipher::aes_gcm16_256, keys.sk_ei, {}, sealed, 28);
    ASSERT_TRUE(opened);
    EXPECT_TRUE(*opened == H(kInner));
}

TEST(IkeSk, RoundTripEveryCipherAndLength)
{
    for (const auto& k : all_ciphers()) {
        for (std::size_t n : {0u, 1u, 14u, 15u, 16u, 17u, 31u, 100u, 1500u}) {
            const auto inner = range_bytes(static_cast<uint8_t>(n), n);
            const auto sealed = seal_sk(k.c, k.enc, k.integ, H(kHeader), 35, inner);
            ASSERT_GE(sealed.size(), 28u + 4);
            EXPECT_EQ(sealed[16], kPayloadSk);
            EXPECT_EQ((std::size_t{sealed[24]} << 24 | std::size_t{sealed[25]} << 16 | std::size_t{sealed[26]} << 8 |
                       sealed[27]),
                      sealed.size());
            EXPECT_EQ(sealed[28], 35);
            if (k.c == IkeCipher::aes_cbc_128_hmac_sha256) {
                EXPECT_EQ((sealed.size() - 28 - 4 - 16 - 16) % 16, 0u);
            }
            const auto opened = open_sk(k.c, k.enc, k.integ, sealed, 28);
            ASSERT_TRUE(opened) << "cipher " << static_cast<int>(k.c) << " length " << n;
            EXPECT_TRUE(*opened == inner);
            // Two seals of the same message differ: random IVs.
            EXPECT_FALSE(seal_sk(k.c, k.enc, k.integ, H(kHeader), 35, inner) == sealed);
        }
    }
}

TEST(IkeSk, EverySingleBitFlipIsRefused)
{
    for (const auto& k : all_ciphers()) {
        const auto sealed = seal_sk(k.c, k.enc, k.integ, H(kHeader), 35, H(kInner));
        ASSERT_TRUE(open_sk(k.c, k.enc, k.integ, sealed, 28));
        for (std::size_t byte = 0; byte < sealed.size(); ++byte) {
            for (int bit = 0; bit < 8; ++bit) {
                auto m = sealed;
                m[byte] ^= static_cast<uint8_t>(1 << bit);
                EXPECT_FALSE(open_sk(k.c, k.enc, k.integ, m, 28).has_value())
                    << "cipher " << static_cast<int>(k.c) << " byte " << byte << " bit " << bit;
            }
        }
    }
}

TEST(IkeSk, TruncationsAndExtensionsAreRefused)
{
    for (const auto& k : all_ciphers()) {
        const auto sealed = seal_sk(k.c, k.enc, k.integ, H(kHeader), 35, H(kInner));
        for (std::size_t n = 0; n < sealed.size(); ++n) {
            const auto cut = std::span(sealed).first(n);
            EXPECT_FALSE(open_sk(k.c, k.enc, k.integ, cut, 28).has_value()) << "length " << n;
            // Even with both length fields made to agree with the cut, the ICV does not.
            if (n >= 32) {
                std::vector<uint8_t> m(cut.begin(), cut.end());
                m[24] = static_cast<uint8_t>(n >> 24);
                m[25] = static_cast<uint8_t>(n >> 16);
                m[26] = static_cast<uint8_t>(n >> 8);
                m[27] = static_cast<uint8_t>(n);
                m[30] = static_cast<uint8_t>((n - 28) >> 8);
                m[31] = static_cast<uint8_t>(n - 28);
                EXPECT_FALSE(open_sk(k.c, k.enc, k.integ, m, 28).has_value()) << "length " << n;
            }
        }
        auto longer = sealed;
        longer.push_back(0);
        EXPECT_FALSE(open_sk(k.c, k.enc, k.integ, longer, 28).has_value());
        EXPECT_FALSE(open_sk(k.c, k.enc, k.integ, sealed, 27).has_value());
        EXPECT_FALSE(open_sk(k.c, k.enc, k.integ, sealed, 32).has_value());
        EXPECT_FALSE(open_sk(k.c, k.enc, k.integ, sealed, sealed.size()).has_value());
        EXPECT_FALSE(open_sk(k.c, k.enc, k.integ, sealed, sealed.size() + 10).has_value());
    }
}

TEST(IkeSk, WrongKeysAreRefused)
{
    const auto ks = all_ciphers();
    for (const auto& k : ks) {
        const auto sealed = seal_sk(k.c, k.enc, k.integ, H(kHeader), 35, H(kInner));
        auto enc = k.enc;
        enc.back() ^= 1; // for GCM the salt
        const auto opened = open_sk(k.c, enc, k.integ, sealed, 28);
        if (k.integ.empty()) {
            EXPECT_FALSE(opened.has_value()); // AEAD: the key is the integrity check too
        } else if (opened.has_value()) {
            // CBC + HMAC: the ICV (right integrity key) verifies; a wrong cipher key only garbles the
            // plaintext, and its padding may happen to look valid (this failed one run in three).
            EXPECT_NE(*opened, H(kInner));
        }
        if (!k.integ.empty()) {
            auto integ = k.integ;
            integ[0] ^= 1;
            EXPECT_FALSE(open_sk(k.c, k.enc, integ, sealed, 28).has_value());
        }
        EXPECT_FALSE(open_sk(k.c, std::span(k.enc).first(k.enc.size() - 1), k.integ, sealed, 28).has_value());
    }
    EXPECT_THROW(seal_sk(IkeCipher::aes_gcm16_128, ks[1].enc, {}, H(kHeader), 35, H(kInner)), std::invalid_argument);
    const auto header = H(kHeader);
    EXPECT_THROW(seal_sk(ks[0].c, ks[0].enc, {}, std::span(header).first(27), 35, H(kInner)),
                 std::invalid_argument);
}

// A message whose ICV is right but whose decrypted pad length claims more than there is. CBC decrypts each
// block on its own, so: seal 16 bytes of 0x10 (plaintext = 16 x 0x10 | 15 zeros | pad length 15, two
// blocks), keep only the first ciphertext block (its last byte decrypts to 16, more than the 15 bytes
// before it), fix both length fields and recompute the ICV with the integrity key, as a peer that knows it
// could. Keeping both blocks the same way is accepted, so the refusal is the pad length's.
TEST(IkeSk, PadLengthBeyondPlaintextIsRefused)
{
    const auto keys = derive_ike_keys(IkeCipher::aes_cbc_128_hmac_sha256, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
    const auto sealed = seal_sk_with_iv(IkeCipher::aes_cbc_128_hmac_sha256, keys.sk_ei, keys.sk_ai, H(kHeader), 35,
                                        std::vector<uint8_t>(16, 0x10), range_bytes(0, 16));
    ASSERT_EQ(sealed.size(), 28u + 4 + 16 + 32 + 16);
    auto resealed = [&](std::size_t blocks) {
        std::vector<uint8_t> m(sealed.begin(), sealed.begin() + static_cast<std::ptrdiff_t>(28 + 4 + 16 + 16 * blocks));
        const std::size_t total = m.size() + kIkeIcvLen;
        m[26] = static_cast<uint8_t>(total >> 8);
        m[27] = static_cast<uint8_t>(total);
        m[30] = static_cast<uint8_t>((total - 28) >> 8);
        m[31] = static_cast<uint8_t>(total - 28);
        const auto icv = hmac_sha256_128(keys.sk_ai, m);
        m.insert(m.end(), icv.begin(), icv.end());
        return m;
    };
    EXPECT_FALSE(open_sk(IkeCipher::aes_cbc_128_hmac_sha256, keys.sk_ei, keys.sk_ai, resealed(1), 28).has_value());
    const auto whole = open_sk(IkeCipher::aes_cbc_128_hmac_sha256, keys.sk_ei, keys.sk_ai, resealed(2), 28);
    ASSERT_TRUE(whole);
    EXPECT_TRUE(*whole == std::vector<uint8_t>(16, 0x10));
}

// What precedes the SK payload is authenticated too (GCM: in the AAD; CBC: under the ICV). A payload is
// put between the header and SK; with CBC the ICV is recomputed (as the sender would have) and the message
// opens at the new offset, but not once that payload is changed; with GCM the AAD no longer matches what
// was sealed, so it is refused outright.
TEST(IkeSk, PayloadsBeforeSkAreAuthenticated)
{
    const std::vector<uint8_t> extra = {46, 0, 0, 8, 1, 2, 3, 4};
    for (const auto& k : all_ciphers()) {
        const auto sealed = seal_sk(k.c, k.enc, k.integ, H(kHeader), 35, H(kInner));
        std::vector<uint8_t> m(sealed.begin(), sealed.begin() + 28);
        m.insert(m.end(), extra.begin(), extra.end());
        m.insert(m.end(), sealed.begin() + 28, sealed.end());
        m[27] = static_cast<uint8_t>(m[27] + extra.size());
        if (k.c == IkeCipher::aes_cbc_128_hmac_sha256) {
            const auto icv = hmac_sha256_128(k.integ, std::span(m).first(m.size() - kIkeIcvLen));
            std::copy(icv.begin(), icv.end(), m.end() - kIkeIcvLen);
            const auto opened = open_sk(k.c, k.enc, k.integ, m, 28 + extra.size());
            ASSERT_TRUE(opened);
            EXPECT_TRUE(*opened == H(kInner));
            m[33] ^= 1;
        }
        EXPECT_FALSE(open_sk(k.c, k.enc, k.integ, m, 28 + extra.size()).has_value());
        EXPECT_FALSE(open_sk(k.c, k.enc, k.integ, sealed, 29).has_value());
    }
}

// ---- PSK AUTH, NAT detection, cookies, randomness -----------------------------------------------------

// Python: idmac = prf(SK_pi, 02 000000 "ha.example.net"); so = real | Nr | idmac; AUTH = prf(prf(psk,
// b"Key Pad for IKEv2"), so); SK_pi the rekey vector's, real = (00112233..ff) x 5.
TEST(IkePsk, Rfc7296Formula)
{
    const auto old = derive_ike_keys(IkeCipher::aes_cbc_128_hmac_sha256, kNi, kNr, K(kX25519Shared), kSpiI, kSpiR);
    const auto k = derive_rekeyed_ike_keys(IkeCipher::aes_cbc_128_hmac_sha256, old.sk_d, K(kP256Shared), kNi, kNr,
                                           0x2122232425262728, 0x3132333435363738);
    std::vector<uint8_t> id_body = {2, 0, 0, 0};
    const auto fqdn = bytes_of("ha.example.net");
    id_body.insert(id_body.end(), fqdn.begin(), fqdn.end());
    const auto mac = signed_octets_mac(k.sk_pi, id_body);
    EXPECT_TRUE(mac == K("73a490d4b652e395598a0f6ebc81375acb0b87fee6d786cd23c6a3bd46d3686e"));
    std::vector<uint8_t> real;
    for (int i = 0; i < 5; ++i) {
        const auto part = H("00112233445566778899aabbccddeeff");
        real.insert(real.end(), part.begin(), part.end());
    }
    const auto so = signed_octets(real, kNr, mac);
    EXPECT_EQ(so.size(), real.size() + kNr.size() + mac.size());
    const auto auth = psk_auth(bytes_of("a pre-shared key for tests"), so);
    EXPECT_TRUE(auth == K("db6d85ea9d56f4c2eae332bb44238a0742137eb9df68ed2a9c118f066ea1577e"));
    EXPECT_TRUE(psk_auth_equal(auth, K("db6d85ea9d56f4c2eae332bb44238a0742137eb9df68ed2a9c118f066ea1577e")));
    auto other = auth;
    other[31] ^= 1;
    EXPECT_FALSE(psk_auth_equal(auth, other));
    EXPECT_FALSE(psk_auth_equal(auth, std::span(auth).first(31)));
    EXPECT_FALSE(psk_auth(bytes_of("a pre-shared key for tests!"), so) == auth);
}

// Python: sha1(pack('>QQ', spii, spir) + 192.0.2.1 + pack('>H', 4500)).
TEST(IkeNat, DetectionHash)
{
    const std::vector<uint8_t> ip = {192, 0, 2, 1};
    const auto h = nat_detection_hash(kSpiI, kSpiR, ip, 4500);
    EXPECT_TRUE(same(h, H("5184f43875ff7d9e3dfdc92bd1dee1a08204de3e")));
    EXPECT_FALSE(nat_detection_hash(kSpiI, kSpiR, ip, 500) == h);
    EXPECT_FALSE(nat_detection_hash(kSpiI, 0, ip, 4500) == h);
}

// Python: pack('>I', 7) + prf(0x5a * 32, ni + 192.0.2.1 + pack('>Q', spii)).
TEST(IkeCookie, Format)
{
    const std::vector<uint8_t> ip = {192, 0, 2, 1};
    const auto c = make_cookie(7, std::vector<uint8_t>(32, 0x5a), kNi, ip, kSpiI);
    EXPECT_TRUE(c == H("00000007d44a28e47af4baf4003f1fa784f2f7d774b25f6c4b2c7640db43825bfe349c1c"));
}

TEST(IkeCookie, SecretsRotate)
{
    const std::vector<uint8_t> ip = {192, 0, 2, 1}, ip2 = {192, 0, 2, 2};
    CookieSecrets s;
    const auto c1 = s.make(kNi, ip, kSpiI);
    EXPECT_TRUE(s.valid(c1, kNi, ip, kSpiI));
    EXPECT_FALSE(s.valid(c1, kNi, ip2, kSpiI));
    EXPECT_FALSE(s.valid(c1, kNr, ip, kSpiI));
    EXPECT_FALSE(s.valid(c1, kNi, ip, kSpiI + 1));
    auto bad = c1;
    bad.back() ^= 1;
    EXPECT_FALSE(s.valid(bad, kNi, ip, kSpiI));
    s.rotate();
    const auto c2 = s.make(kNi, ip, kSpiI);
    EXPECT_FALSE(c1 == c2);
    EXPECT_TRUE(s.valid(c1, kNi, ip, kSpiI)); // the previous secret still counts
    EXPECT_TRUE(s.valid(c2, kNi, ip, kSpiI));
    s.rotate();
    EXPECT_FALSE(s.valid(c1, kNi, ip, kSpiI)); // two rotations ago: no longer
    EXPECT_TRUE(s.valid(c2, kNi, ip, kSpiI));
}

TEST(IkeRandom, SpisAndBytes)
{
    std::vector<uint64_t> spis;
    for (int i = 0; i < 64; ++i) {
        spis.push_back(random_spi());
        EXPECT_NE(spis.back(), 0u);
    }
    std::sort(spis.begin(), spis.end());
    EXPECT_TRUE(std::adjacent_find(spis.begin(), spis.end()) == spis.end());
    std::vector<uint8_t> a(32), b(32);
    random_bytes(a);
    random_bytes(b);
    EXPECT_FALSE(a == b);
}

} // namespace
