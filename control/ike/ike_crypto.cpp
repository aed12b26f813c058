#include "ike_crypto.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/err.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace nemo::ike {

namespace {

// Owners for libcrypto's objects, so that every early return frees what it made.
struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct BnFree {
    void operator()(BIGNUM* p) const { BN_clear_free(p); }
};
struct BnCtxFree {
    void operator()(BN_CTX* p) const { BN_CTX_free(p); }
};
struct ParamBldFree {
    void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
    void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct EcGroupFree {
    void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
};
struct EcPointFree {
    void operator()(EC_POINT* p) const { EC_POINT_clear_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;
using BnCtx = std::unique_ptr<BN_CTX, BnCtxFree>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree>;
using Params = std::unique_ptr<OSSL_PARAM, ParamFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using EcGroup = std::unique_ptr<EC_GROUP, EcGroupFree>;
using EcPoint = std::unique_ptr<EC_POINT, EcPointFree>;

// libcrypto's names for the groups: RFC 3526's group 14 is OpenSSL's "modp_2048" (not "ffdhe2048").
constexpr char kModpName[] = "modp_2048";
constexpr char kEcName[] = "P-256";

void set_error(std::string* error, const std::string& what)
{
    if (error) *error = what;
}

// A span's bytes for an API that takes a pointer even for zero bytes.
const unsigned char* ptr(std::span<const uint8_t> s)
{
    static const unsigned char none = 0;
    return s.empty() ? &none : s.data();
}

void append(KeyBytes& out, std::span<const uint8_t> s) { out.insert(out.end(), s.begin(), s.end()); }
void append(std::vector<uint8_t>& out, std::span<const uint8_t> s) { out.insert(out.end(), s.begin(), s.end()); }

void store_be64(uint8_t* p, uint64_t v)
{
    for (int i = 7; i >= 0; --i) {
        p[i] = static_cast<uint8_t>(v);
        v >>= 8;
    }
}

void store_be16(uint8_t* p, std::size_t v)
{
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

std::size_t load_be16(const uint8_t* p) { return (std::size_t{p[0]} << 8) | p[1]; }
std::size_t load_be32(const uint8_t* p)
{
    return (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) | p[3];
}

Bn modp_prime() { return Bn(BN_get_rfc3526_prime_2048(nullptr)); }

// A key from parameters (a peer's public value, or a private value we were given).
Pkey pkey_fromdata(const char* type, int selection, OSSL_PARAM* params)
{
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* key = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 || EVP_PKEY_fromdata(ctx.get(), &key, selection, params) <= 0)
        return nullptr;
    return Pkey(key);
}

Pkey modp_key(const BIGNUM* pub, const BIGNUM* priv)
{
    ParamBld bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kModpName, 0) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub) ||
        (priv && !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv)))
        return nullptr;
    Params params(OSSL_PARAM_BLD_to_param(bld.get()));
    if (!params) return nullptr;
    return pkey_fromdata("DH", priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get());
}

// `point` SEC 1's uncompressed form (04 | x | y); libcrypto refuses a point not on the curve.
Pkey ec_key(std::span<const uint8_t> point, const BIGNUM* priv)
{
    ParamBld bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, kEcName, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) ||
        (priv && !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv)))
        return nullptr;
    Params params(OSSL_PARAM_BLD_to_param(bld.get()));
    if (!params) return nullptr;
    return pkey_fromdata("EC", priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get());
}

// The peer's key for EVP_PKEY_derive, or nothing when its value is refused.
Pkey peer_key(DhGroup g, std::span<const uint8_t> peer)
{
    if (peer.size() != dh_public_len(g)) return nullptr;
    Pkey key;
    switch (g) {
    case DhGroup::modp2048: {
        // 1 < y < p-1 (RFC 7296 2.12 / SP 800-56A 5.6.2.3.1); EVP_PKEY_public_check below adds y^q = 1.
        Bn y(BN_bin2bn(peer.data(), static_cast<int>(peer.size()), nullptr));
        Bn p = modp_prime();
        Bn p_minus_1(BN_new());
        if (!y || !p || !p_minus_1 || !BN_sub(p_minus_1.get(), p.get(), BN_value_one())) return nullptr;
        if (BN_cmp(y.get(), BN_value_one()) <= 0 || BN_cmp(y.get(), p_minus_1.get()) >= 0) return nullptr;
        key = modp_key(y.get(), nullptr);
        break;
    }
    case DhGroup::ecp256: {
        std::vector<uint8_t> point(1 + peer.size());
        point[0] = 0x04;
        std::copy(peer.begin(), peer.end(), point.begin() + 1);
        key = ec_key(point, nullptr);
        break;
    }
    case DhGroup::curve25519:
        key.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
        return key; // every 32-byte string is a public value (RFC 7748 5); the zero result is refused later
    }
    if (!key) return nullptr;
    PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
    return key;
}

// The library's error queue holds nothing secret, but nothing of it is needed either: a failure here is
// reported by what failed.
void clear_errors() { ERR_clear_error(); }

} // namespace

struct DhKey::Impl {
    Pkey key;
};

DhKey::DhKey(DhGroup g, std::unique_ptr<Impl> impl) : group_(g), impl_(std::move(impl)) {}
DhKey::~DhKey() = default;

std::size_t dh_public_len(DhGroup g)
{
    switch (g) {
    case DhGroup::modp2048: return 256;
    case DhGroup::ecp256: return 64;
    case DhGroup::curve25519: return 32;
    }
    return 0;
}

std::size_t dh_shared_len(DhGroup g)
{
    switch (g) {
    case DhGroup::modp2048: return 256;
    case DhGroup::ecp256: return 32;
    case DhGroup::curve25519: return 32;
    }
    return 0;
}

std::unique_ptr<DhKey> DhKey::generate(DhGroup g, std::string* error)
{
    Pkey key;
    switch (g) {
    case DhGroup::modp2048: {
        PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
        char name[sizeof kModpName]; // OSSL_PARAM_construct_utf8_string takes a non-const buffer
        std::memcpy(name, kModpName, sizeof name);
        const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, name, 0),
                                     OSSL_PARAM_construct_end()};
        EVP_PKEY* k = nullptr;
        if (ctx && EVP_PKEY_keygen_init(ctx.get()) > 0 && EVP_PKEY_CTX_set_params(ctx.get(), params) > 0 &&
            EVP_PKEY_generate(ctx.get(), &k) > 0)
            key.reset(k);
        break;
    }
    case DhGroup::ecp256: key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", kEcName)); break;
    case DhGroup::curve25519: key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519")); break;
    }
    if (!key) {
        clear_errors();
        set_error(error, "DH group " + std::to_string(static_cast<unsigned>(g)) + ": key generation failed");
        return nullptr;
    }
    auto impl = std::make_unique<Impl>();
    impl->key = std::move(key);
    return std::make_unique<DhKey>(g, std::move(impl));
}

std::unique_ptr<DhKey> dh_from_private(DhGroup g, std::span<const uint8_t> priv, std::string* error)
{
    Pkey key;
    const std::string group = "DH group " + std::to_string(static_cast<unsigned>(g));
    switch (g) {
    case DhGroup::modp2048:
    case DhGroup::ecp256: {
        Bn x(BN_secure_new());
        if (!x || !BN_bin2bn(priv.data(), static_cast<int>(priv.size()), x.get())) break;
        BnCtx bctx(BN_CTX_new());
        if (!bctx) break;
        if (g == DhGroup::modp2048) {
            // The key pair needs its public value too: y = 2^x mod p.
            Bn p = modp_prime();
            Bn two(BN_new()), y(BN_new());
            if (!p || !two || !y || !BN_set_word(two.get(), 2) ||
                !BN_mod_exp(y.get(), two.get(), x.get(), p.get(), bctx.get()))
                break;
            key = modp_key(y.get(), x.get());
        } else {
            EcGroup grp(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
            if (!grp) break;
            EcPoint pt(EC_POINT_new(grp.get()));
            std::vector<uint8_t> point(65);
            if (!pt || !EC_POINT_mul(grp.get(), pt.get(), x.get(), nullptr, nullptr, bctx.get()) ||
                EC_POINT_point2oct(grp.get(), pt.get(), POINT_CONVERSION_UNCOMPRESSED, point.data(), point.size(),
                                   bctx.get()) != point.size())
                break;
            key = ec_key(point, x.get());
        }
        break;
    }
    case DhGroup::curve25519:
        if (priv.size() == 32)
            key.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size()));
        break;
    }
    if (!key) {
        clear_errors();
        set_error(error, group + ": the private value is refused");
        return nullptr;
    }
    auto impl = std::make_unique<DhKey::Impl>();
    impl->key = std::move(key);
    return std::make_unique<DhKey>(g, std::move(impl));
}

std::vector<uint8_t> DhKey::public_value() const
{
    std::vector<uint8_t> out;
    EVP_PKEY* k = impl_->key.get();
    switch (group_) {
    case DhGroup::modp2048: {
        BIGNUM* y = nullptr;
        if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PUB_KEY, &y) > 0) {
            Bn owned(y);
            out.resize(256);
            if (BN_bn2binpad(y, out.data(), static_cast<int>(out.size())) != 256) out.clear();
        }
        break;
    }
    case DhGroup::ecp256: {
        std::vector<uint8_t> point(65);
        std::size_t n = 0;
        if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(), point.size(),
                                            &n) > 0 &&
            n == 65 && point[0] == 0x04)
            out.assign(point.begin() + 1, point.end());
        break;
    }
    case DhGroup::curve25519: {
        out.resize(32);
        std::size_t n = out.size();
        if (EVP_PKEY_get_raw_public_key(k, out.data(), &n) <= 0 || n != 32) out.clear();
        break;
    }
    }
    clear_errors();
    return out;
}

std::optional<KeyBytes> DhKey::shared_secret(std::span<const uint8_t> peer) const
{
    Pkey pk = peer_key(group_, peer);
    if (!pk) {
        clear_errors();
        return std::nullopt;
    }
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->key.get(), nullptr));
    // 2.14: MODP's g^ir is padded with zeros to the modulus' length; libcrypto strips them unless told.
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
        (group_ == DhGroup::modp2048 && EVP_PKEY_CTX_set_dh_pad(ctx.get(), 1) <= 0) ||
        EVP_PKEY_derive_set_peer(ctx.get(), pk.get()) <= 0) {
        clear_errors();
        return std::nullopt;
    }
    KeyBytes out(dh_shared_len(group_));
    std::size_t n = out.size();
    if (EVP_PKEY_derive(ctx.get(), out.data(), &n) <= 0 || n != out.size()) {
        clear_errors();
        return std::nullopt;
    }
    // RFC 8031 2.2 / RFC 7748 6.1: an all-zero X25519 result means a low-order peer value.
    if (group_ == DhGroup::curve25519) {
        const std::array<uint8_t, 32> zero{};
        if (CRYPTO_memcmp(out.data(), zero.data(), zero.size()) == 0) return std::nullopt;
    }
    return out;
}

KeyBytes prf(std::span<const uint8_t> key, std::span<const uint8_t> data)
{
    KeyBytes out(kPrfLen);
    std::size_t n = 0;
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, ptr(key), key.size(), ptr(data), data.size(),
                   out.data(), out.size(), &n) ||
        n != kPrfLen) {
        // Only an allocation failure or a broken libcrypto gets here; a key derived from nothing must not
        // be used, and there is nothing sensible to return.
        std::fputs("nemo: HMAC-SHA-256 failed in libcrypto\n", stderr);
        std::abort();
    }
    return out;
}

KeyBytes prf_plus(std::span<const uint8_t> key, std::span<const uint8_t> seed, std::size_t len)
{
    if (len > 255 * kPrfLen) throw std::length_error("prf+: more than 255 blocks");
    KeyBytes out;
    out.reserve(len + kPrfLen);
    KeyBytes t; // T(n-1)
    KeyBytes input;
    for (unsigned n = 1; out.size() < len; ++n) {
        input.clear();
        append(input, t);
        append(input, seed);
        input.push_back(static_cast<uint8_t>(n));
        t = prf(key, input);
        append(out, t);
    }
    out.resize(len);
    return out;
}

std::array<uint8_t, 16> hmac_sha256_128(std::span<const uint8_t> key, std::span<const uint8_t> data)
{
    const KeyBytes full = prf(key, data);
    std::array<uint8_t, 16> icv{};
    std::copy_n(full.begin(), icv.size(), icv.begin());
    return icv;
}

std::size_t ike_enc_key_len(IkeCipher c)
{
    switch (c) {
    case IkeCipher::aes_gcm16_128: return 16 + 4;
    case IkeCipher::aes_gcm16_256: return 32 + 4;
    case IkeCipher::aes_cbc_128_hmac_sha256: return 16;
    }
    return 0;
}

std::size_t ike_integ_key_len(IkeCipher c) { return c == IkeCipher::aes_cbc_128_hmac_sha256 ? 32 : 0; }
std::size_t ike_iv_len(IkeCipher c) { return c == IkeCipher::aes_cbc_128_hmac_sha256 ? 16 : 8; }

namespace {

IkeKeys split_keys(IkeCipher c, std::span<const uint8_t> skeyseed, std::span<const uint8_t> ni,
                   std::span<const uint8_t> nr, uint64_t spi_i, uint64_t spi_r)
{
    KeyBytes seed;
    append(seed, ni);
    append(seed, nr);
    uint8_t spis[16];
    store_be64(spis, spi_i);
    store_be64(spis + 8, spi_r);
    append(seed, spis);
    const std::size_t a = ike_integ_key_len(c), e = ike_enc_key_len(c);
    const KeyBytes km = prf_plus(skeyseed, seed, 3 * kPrfLen + 2 * a + 2 * e);
    IkeKeys k;
    auto take = [&, at = std::size_t{0}](KeyBytes& out, std::size_t n) mutable {
        out.assign(km.begin() + static_cast<std::ptrdiff_t>(at), km.begin() + static_cast<std::ptrdiff_t>(at + n));
        at += n;
    };
    take(k.sk_d, kPrfLen);
    take(k.sk_ai, a);
    take(k.sk_ar, a);
    take(k.sk_ei, e);
    take(k.sk_er, e);
    take(k.sk_pi, kPrfLen);
    take(k.sk_pr, kPrfLen);
    return k;
}

} // namespace

IkeKeys derive_ike_keys(IkeCipher c, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                        std::span<const uint8_t> g_ir, uint64_t spi_i, uint64_t spi_r)
{
    KeyBytes nonces;
    append(nonces, ni);
    append(nonces, nr);
    const KeyBytes skeyseed = prf(nonces, g_ir);
    return split_keys(c, skeyseed, ni, nr, spi_i, spi_r);
}

IkeKeys derive_rekeyed_ike_keys(IkeCipher c, std::span<const uint8_t> old_sk_d, std::span<const uint8_t> g_ir,
                                std::span<const uint8_t> ni, std::span<const uint8_t> nr, uint64_t spi_i,
                                uint64_t spi_r)
{
    KeyBytes data;
    append(data, g_ir);
    append(data, ni);
    append(data, nr);
    const KeyBytes skeyseed = prf(old_sk_d, data);
    return split_keys(c, skeyseed, ni, nr, spi_i, spi_r);
}

KeyBytes child_keymat(std::span<const uint8_t> sk_d, std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                      std::span<const uint8_t> nr, std::size_t len)
{
    KeyBytes seed;
    append(seed, g_ir);
    append(seed, ni);
    append(seed, nr);
    return prf_plus(sk_d, seed, len);
}

// ---- The Encrypted payload ------------------------------------------------------------------------------

namespace {

constexpr std::size_t kSkHeaderLen = 4;
constexpr std::size_t kGcmSaltLen = 4;

bool is_gcm(IkeCipher c) { return c != IkeCipher::aes_cbc_128_hmac_sha256; }

const EVP_CIPHER* cipher_of(IkeCipher c)
{
    switch (c) {
    case IkeCipher::aes_gcm16_128: return EVP_aes_128_gcm();
    case IkeCipher::aes_gcm16_256: return EVP_aes_256_gcm();
    case IkeCipher::aes_cbc_128_hmac_sha256: return EVP_aes_128_cbc();
    }
    return nullptr;
}

// AES-GCM or AES-CBC in one go; for GCM `tag` is written (encrypt) or checked (decrypt). False on any
// failure, a wrong tag included.
bool run_cipher(IkeCipher c, bool encrypt, std::span<const uint8_t> key, std::span<const uint8_t> iv,
                std::span<const uint8_t> aad, std::span<const uint8_t> in, uint8_t* out, uint8_t* tag)
{
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return false;
    const int enc = encrypt ? 1 : 0;
    if (EVP_CipherInit_ex2(ctx.get(), cipher_of(c), nullptr, nullptr, enc, nullptr) != 1) return false;
    if (is_gcm(c) &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) != 1)
        return false;
    if (EVP_CipherInit_ex2(ctx.get(), nullptr, key.data(), iv.data(), enc, nullptr) != 1) return false;
    if (!is_gcm(c) && EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1) return false; // IKE pads itself
    int n = 0;
    if (!aad.empty() && EVP_CipherUpdate(ctx.get(), nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1)
        return false;
    int total = 0;
    if (!in.empty()) {
        if (EVP_CipherUpdate(ctx.get(), out, &n, in.data(), static_cast<int>(in.size())) != 1) return false;
        total = n;
    }
    if (is_gcm(c) && !encrypt &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kIkeIcvLen), tag) != 1)
        return false;
    // GCM's tag is compared here, in constant time (CRYPTO_memcmp inside libcrypto).
    if (EVP_CipherFinal_ex(ctx.get(), out + total, &n) != 1) return false;
    total += n;
    if (static_cast<std::size_t>(total) != in.size()) return false;
    if (is_gcm(c) && encrypt &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kIkeIcvLen), tag) != 1)
        return false;
    return true;
}

void check_keys(IkeCipher c, std::span<const uint8_t> enc_key, std::span<const uint8_t> integ_key)
{
    if (enc_key.size() != ike_enc_key_len(c) || integ_key.size() != ike_integ_key_len(c))
        throw std::invalid_argument("SK payload: wrong key length for the cipher");
}

} // namespace

std::vector<uint8_t> seal_sk_with_iv(IkeCipher c, std::span<const uint8_t> enc_key,
                                     std::span<const uint8_t> integ_key, std::span<const uint8_t> header28,
                                     uint8_t first_inner, std::span<const uint8_t> inner,
                                     std::span<const uint8_t> iv)
{
    check_keys(c, enc_key, integ_key);
    if (header28.size() != kIkeHeaderLen) throw std::invalid_argument("SK payload: IKE header not 28 bytes");
    if (iv.size() != ike_iv_len(c)) throw std::invalid_argument("SK payload: wrong IV length");
    const std::size_t block = is_gcm(c) ? 1 : 16;
    const std::size_t pad = (block - (inner.size() + 1) % block) % block;
    const std::size_t plain_len = inner.size() + pad + 1;
    const std::size_t sk_len = kSkHeaderLen + iv.size() + plain_len + kIkeIcvLen;
    const std::size_t total = kIkeHeaderLen + sk_len;
    if (sk_len > 0xffff) throw std::invalid_argument("SK payload: longer than 65535 bytes");

    std::vector<uint8_t> msg(total);
    std::copy(header28.begin(), header28.end(), msg.begin());
    msg[16] = kPayloadSk;
    msg[24] = static_cast<uint8_t>(total >> 24);
    msg[25] = static_cast<uint8_t>(total >> 16);
    msg[26] = static_cast<uint8_t>(total >> 8);
    msg[27] = static_cast<uint8_t>(total);
    uint8_t* sk = msg.data() + kIkeHeaderLen;
    sk[0] = first_inner;
    sk[1] = 0; // not critical, reserved
    store_be16(sk + 2, sk_len);
    std::copy(iv.begin(), iv.end(), sk + kSkHeaderLen);

    // inner | padding (zeros: any value is allowed, 3.14) | pad length
    KeyBytes plain(plain_len, 0);
    std::copy(inner.begin(), inner.end(), plain.begin());
    plain[plain_len - 1] = static_cast<uint8_t>(pad);

    uint8_t* ct = sk + kSkHeaderLen + iv.size();
    uint8_t* icv = ct + plain_len;
    bool ok;
    if (is_gcm(c)) {
        const std::size_t klen = enc_key.size() - kGcmSaltLen;
        uint8_t nonce[12];
        std::copy_n(enc_key.data() + klen, kGcmSaltLen, nonce);
        std::copy(iv.begin(), iv.end(), nonce + kGcmSaltLen);
        ok = run_cipher(c, true, enc_key.first(klen), nonce, std::span(msg).first(kIkeHeaderLen + kSkHeaderLen),
                        plain, ct, icv);
    } else {
        ok = run_cipher(c, true, enc_key, iv, {}, plain, ct, nullptr);
        if (ok) {
            const auto mac = hmac_sha256_128(integ_key, std::span(msg).first(total - kIkeIcvLen));
            std::copy(mac.begin(), mac.end(), icv);
        }
    }
    if (!ok) {
        clear_errors();
        std::fputs("nemo: AES encryption failed in libcrypto\n", stderr);
        std::abort(); // keys and lengths were checked: only a broken libcrypto fails here
    }
    return msg;
}

std::vector<uint8_t> seal_sk(IkeCipher c, std::span<const uint8_t> enc_key, std::span<const uint8_t> integ_key,
                             std::span<const uint8_t> header28, uint8_t first_inner, std::span<const uint8_t> inner)
{
    std::vector<uint8_t> iv(ike_iv_len(c));
    random_bytes(iv);
    return seal_sk_with_iv(c, enc_key, integ_key, header28, first_inner, inner, iv);
}

std::optional<std::vector<uint8_t>> open_sk(IkeCipher c, std::span<const uint8_t> enc_key,
                                            std::span<const uint8_t> integ_key, std::span<const uint8_t> msg,
                                            std::size_t sk_offset)
{
    if (enc_key.size() != ike_enc_key_len(c) || integ_key.size() != ike_integ_key_len(c)) return std::nullopt;
    if (msg.size() < kIkeHeaderLen || load_be32(msg.data() + 24) != msg.size()) return std::nullopt;
    if (sk_offset < kIkeHeaderLen || sk_offset > msg.size() || msg.size() - sk_offset < kSkHeaderLen)
        return std::nullopt;
    const std::size_t sk_len = load_be16(msg.data() + sk_offset + 2);
    if (sk_len != msg.size() - sk_offset) return std::nullopt; // SK is the last payload
    const std::size_t iv_len = ike_iv_len(c);
    if (sk_len < kSkHeaderLen + iv_len + 1 + kIkeIcvLen) return std::nullopt;
    const std::size_t ct_len = sk_len - kSkHeaderLen - iv_len - kIkeIcvLen;
    if (!is_gcm(c) && ct_len % 16 != 0) return std::nullopt;

    const auto iv = msg.subspan(sk_offset + kSkHeaderLen, iv_len);
    const auto ct = msg.subspan(sk_offset + kSkHeaderLen + iv_len, ct_len);
    const auto icv = msg.last(kIkeIcvLen);
    KeyBytes plain(ct_len);
    bool ok;
    if (is_gcm(c)) {
        const std::size_t klen = enc_key.size() - kGcmSaltLen;
        uint8_t nonce[12];
        std::copy_n(enc_key.data() + klen, kGcmSaltLen, nonce);
        std::copy(iv.begin(), iv.end(), nonce + kGcmSaltLen);
        std::array<uint8_t, kIkeIcvLen> tag{};
        std::copy(icv.begin(), icv.end(), tag.begin());
        ok = run_cipher(c, false, enc_key.first(klen), nonce, msg.first(sk_offset + kSkHeaderLen), ct,
                        plain.data(), tag.data());
    } else {
        // Encrypt-then-MAC: the ICV first, and nothing is decrypted unless it matches.
        const auto mac = hmac_sha256_128(integ_key, msg.first(msg.size() - kIkeIcvLen));
        ok = CRYPTO_memcmp(mac.data(), icv.data(), kIkeIcvLen) == 0 &&
             run_cipher(c, false, enc_key, iv, {}, ct, plain.data(), nullptr);
    }
    if (!ok) {
        clear_errors();
        return std::nullopt;
    }
    const std::size_t pad = plain.back();
    if (pad + 1 > plain.size()) return std::nullopt;
    return std::vector<uint8_t>(plain.begin(), plain.end() - static_cast<std::ptrdiff_t>(pad + 1));
}

// ---- PSK authentication ---------------------------------------------------------------------------------

KeyBytes signed_octets_mac(std::span<const uint8_t> sk_p, std::span<const uint8_t> id_body)
{
    return prf(sk_p, id_body);
}

std::vector<uint8_t> signed_octets(std::span<const uint8_t> real_message, std::span<const uint8_t> other_nonce,
                                   std::span<const uint8_t> id_mac)
{
    std::vector<uint8_t> out;
    out.reserve(real_message.size() + other_nonce.size() + id_mac.size());
    append(out, real_message);
    append(out, other_nonce);
    append(out, id_mac);
    return out;
}

KeyBytes psk_auth(std::span<const uint8_t> psk, std::span<const uint8_t> signed_octets_)
{
    static constexpr char kPad[] = "Key Pad for IKEv2"; // 17 bytes, no terminator (2.15)
    const auto pad = std::span(reinterpret_cast<const uint8_t*>(kPad), sizeof kPad - 1);
    const KeyBytes inner = prf(psk, pad);
    return prf(inner, signed_octets_);
}

bool psk_auth_equal(std::span<const uint8_t> a, std::span<const uint8_t> b)
{
    return a.size() == b.size() && CRYPTO_memcmp(ptr(a), ptr(b), a.size()) == 0;
}

// ---- Randomness, NAT detection, cookies -----------------------------------------------------------------

void random_bytes(std::span<uint8_t> out)
{
    if (out.empty()) return;
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
        std::fputs("nemo: RAND_bytes failed: no secure randomness, stopping\n", stderr);
        std::abort();
    }
}

uint64_t random_spi()
{
    uint64_t spi = 0;
    while (spi == 0) {
        uint8_t b[8];
        random_bytes(b);
        for (uint8_t x : b) spi = (spi << 8) | x;
    }
    return spi;
}

std::array<uint8_t, 20> nat_detection_hash(uint64_t spi_i, uint64_t spi_r, std::span<const uint8_t> ip,
                                           uint16_t port)
{
    std::vector<uint8_t> data(16 + ip.size() + 2);
    store_be64(data.data(), spi_i);
    store_be64(data.data() + 8, spi_r);
    std::copy(ip.begin(), ip.end(), data.begin() + 16);
    store_be16(data.data() + 16 + ip.size(), port);
    std::array<uint8_t, 20> out{};
    unsigned n = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha1(), nullptr) != 1 || n != out.size()) {
        std::fputs("nemo: SHA-1 failed in libcrypto\n", stderr);
        std::abort();
    }
    return out;
}

std::vector<uint8_t> make_cookie(uint32_t version, std::span<const uint8_t> secret, std::span<const uint8_t> ni,
                                 std::span<const uint8_t> ip_i, uint64_t spi_i)
{
    std::vector<uint8_t> data;
    append(data, ni);
    append(data, ip_i);
    uint8_t spi[8];
    store_be64(spi, spi_i);
    append(data, spi);
    const KeyBytes mac = prf(secret, data);
    std::vector<uint8_t> cookie(4 + mac.size());
    for (int i = 0; i < 4; ++i) cookie[i] = static_cast<uint8_t>(version >> (24 - 8 * i));
    std::copy(mac.begin(), mac.end(), cookie.begin() + 4);
    return cookie;
}

CookieSecrets::CookieSecrets() : current_(kPrfLen)
{
    random_bytes(current_);
}

void CookieSecrets::rotate()
{
    previous_ = std::move(current_);
    current_ = KeyBytes(kPrfLen);
    random_bytes(current_);
    ++version_;
}

std::vector<uint8_t> CookieSecrets::make(std::span<const uint8_t> ni, std::span<const uint8_t> ip_i,
                                         uint64_t spi_i) const
{
    return make_cookie(version_, current_, ni, ip_i, spi_i);
}

bool CookieSecrets::valid(std::span<const uint8_t> cookie, std::span<const uint8_t> ni,
                          std::span<const uint8_t> ip_i, uint64_t spi_i) const
{
    if (cookie.size() != 4 + kPrfLen) return false;
    const uint32_t v = static_cast<uint32_t>(load_be32(cookie.data()));
    const KeyBytes* secret = nullptr;
    if (v == version_)
        secret = &current_;
    else if (v + 1 == version_ && !previous_.empty())
        secret = &previous_;
    if (!secret) return false;
    const auto expected = make_cookie(v, *secret, ni, ip_i, spi_i);
    return psk_auth_equal(expected, cookie);
}

} // namespace nemo::ike
