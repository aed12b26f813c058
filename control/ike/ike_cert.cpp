#include "ike_cert.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "key_material.hpp"

namespace nemo::ike {

namespace {

struct X509Free {
    void operator()(X509* p) const { X509_free(p); }
};
struct StoreFree {
    void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct StoreCtxFree {
    void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct StackFree {
    void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const { BIO_free(p); }
};
struct EcdsaSigFree {
    void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct NamesFree {
    void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using Store = std::unique_ptr<X509_STORE, StoreFree>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, StoreCtxFree>;
using Stack = std::unique_ptr<STACK_OF(X509), StackFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Bio = std::unique_ptr<BIO, BioFree>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, EcdsaSigFree>;
using Names = std::unique_ptr<GENERAL_NAMES, NamesFree>;

// RFC 7427 appendix A: the AlgorithmIdentifiers of the two signature algorithms we make and accept.
// sha256WithRSAEncryption (1.2.840.113549.1.1.11) with NULL parameters (A.1.2).
constexpr std::array<uint8_t, 15> kAlgRsaSha256 = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                                   0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
// ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters (A.3.1).
constexpr std::array<uint8_t, 12> kAlgEcdsaSha256 = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                     0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

// A PEM key file with a passphrase is refused instead of prompting on the terminal.
int no_passphrase(char*, int, int, void*) { return -1; }

X509Ptr x509_from_der(std::span<const uint8_t> der)
{
    if (der.empty() || der.size() > (1u << 20)) return nullptr;
    const unsigned char* p = der.data();
    X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (x && p != der.data() + der.size()) return nullptr; // trailing bytes: not one certificate
    return x;
}

std::vector<uint8_t> cert_der(X509* x)
{
    unsigned char* buf = nullptr;
    const int n = i2d_X509(x, &buf);
    if (n <= 0) return {};
    std::vector<uint8_t> out(buf, buf + n);
    OPENSSL_free(buf);
    return out;
}

bool is_p256(EVP_PKEY* key)
{
    if (!EVP_PKEY_is_a(key, "EC")) return false;
    char name[64] = {};
    std::size_t n = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &n) != 1) return false;
    return std::strcmp(name, "prime256v1") == 0 || std::strcmp(name, "P-256") == 0;
}

std::vector<uint8_t> digest_sign(EVP_PKEY* key, const EVP_MD* md, std::span<const uint8_t> data)
{
    MdCtx ctx(EVP_MD_CTX_new());
    std::size_t n = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &n, data.data(), data.size()) != 1)
        return {};
    std::vector<uint8_t> sig(n);
    if (EVP_DigestSign(ctx.get(), sig.data(), &n, data.data(), data.size()) != 1) return {};
    sig.resize(n);
    return sig;
}

bool digest_verify(EVP_PKEY* key, const EVP_MD* md, std::span<const uint8_t> sig, std::span<const uint8_t> data)
{
    MdCtx ctx(EVP_MD_CTX_new());
    return ctx && !sig.empty() && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
           EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
}

// RFC 4754 7: r | s, each 32 bytes, from and to ECDSA-Sig-Value's DER.
std::vector<uint8_t> ecdsa_der_to_raw(std::span<const uint8_t> der)
{
    const unsigned char* p = der.data();
    EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!sig) return {};
    const BIGNUM *r = nullptr, *s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    std::vector<uint8_t> out(64);
    if (BN_bn2binpad(r, out.data(), 32) != 32 || BN_bn2binpad(s, out.data() + 32, 32) != 32) return {};
    return out;
}

std::vector<uint8_t> ecdsa_raw_to_der(std::span<const uint8_t> raw)
{
    if (raw.size() != 64) return {};
    EcdsaSig sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(raw.data(), 32, nullptr);
    BIGNUM* s = BN_bin2bn(raw.data() + 32, 32, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return {};
    }
    unsigned char* buf = nullptr;
    const int n = i2d_ECDSA_SIG(sig.get(), &buf);
    if (n <= 0) return {};
    std::vector<uint8_t> out(buf, buf + n);
    OPENSSL_free(buf);
    return out;
}

std::string library_reason()
{
    const unsigned long e = ERR_peek_last_error();
    std::string why = e ? std::string(": ") + ERR_reason_error_string(e) : std::string();
    ERR_clear_error();
    if (why == ": ") why.clear();
    return why;
}

} // namespace

struct CertStore::Impl {
    std::vector<X509Ptr> cas;
    Store store;
    X509Ptr own;
    Pkey key;
};

CertStore::CertStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CertStore::~CertStore() = default;

std::unique_ptr<CertStore> CertStore::load(const std::string& ca_file, const std::string& cert_file,
                                           const std::string& key_file, std::string* error)
{
    auto fail = [&](const std::string& what) {
        ERR_clear_error();
        if (error) *error = what;
        return nullptr;
    };
    auto impl = std::make_unique<Impl>();

    std::string text;
    if (auto e = nemo::read_file(ca_file, text)) return fail(*e);
    {
        Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
        while (bio) {
            X509Ptr ca(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
            if (!ca) break;
            impl->cas.push_back(std::move(ca));
        }
    }
    ERR_clear_error(); // the loop's end is a "no start line" error
    if (impl->cas.empty()) return fail(ca_file + ": no PEM certificate");
    impl->store.reset(X509_STORE_new());
    if (!impl->store) return fail("cannot allocate a certificate store");
    for (const auto& ca : impl->cas)
        if (X509_STORE_add_cert(impl->store.get(), ca.get()) != 1) return fail(ca_file + ": a CA certificate is refused");

    if (auto e = nemo::read_file(cert_file, text)) return fail(*e);
    {
        Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
        if (bio) impl->own.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    }
    if (!impl->own) return fail(cert_file + ": no PEM certificate");

    // The key's text in a string of its own, wiped once parsed (libcrypto decodes PEM keys into memory it
    // cleanses itself).
    std::string key_text;
    mode_t mode = 0;
    if (auto e = nemo::read_file(key_file, key_text, &mode)) return fail(*e);
    if (auto e = check_private(key_file, mode)) {
        wipe(key_text);
        return fail(key_file + ": " + *e);
    }
    {
        Bio bio(BIO_new_mem_buf(key_text.data(), static_cast<int>(key_text.size())));
        if (bio) impl->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    }
    wipe(key_text);
    if (!impl->key) return fail(key_file + ": no unencrypted PEM private key");
    if (X509_check_private_key(impl->own.get(), impl->key.get()) != 1)
        return fail(key_file + ": the key is not " + cert_file + "'s");
    return std::make_unique<CertStore>(std::move(impl));
}

std::vector<uint8_t> CertStore::own_cert_der() const { return cert_der(impl_->own.get()); }

std::vector<uint8_t> CertStore::certreq_data() const
{
    std::vector<uint8_t> out;
    for (const auto& ca : impl_->cas) {
        unsigned char* spki = nullptr;
        const int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(ca.get()), &spki);
        if (n <= 0) continue;
        std::array<uint8_t, 20> md{};
        unsigned len = 0;
        const int ok = EVP_Digest(spki, static_cast<std::size_t>(n), md.data(), &len, EVP_sha1(), nullptr);
        OPENSSL_free(spki);
        if (ok == 1 && len == md.size()) out.insert(out.end(), md.begin(), md.end());
    }
    ERR_clear_error();
    return out;
}

std::variant<CertStore::Verified, std::string> CertStore::verify(
    std::span<const uint8_t> cert_der_bytes, std::span<const std::vector<uint8_t>> intermediates) const
{
    X509Ptr cert = x509_from_der(cert_der_bytes);
    if (!cert) {
        ERR_clear_error();
        return std::string("the certificate is not DER X.509");
    }
    Stack chain(sk_X509_new_null());
    if (!chain) return std::string("out of memory");
    for (std::size_t i = 0; i < intermediates.size(); ++i) {
        X509Ptr x = x509_from_der(intermediates[i]);
        if (!x) {
            ERR_clear_error();
            return "intermediate certificate " + std::to_string(i + 1) + " is not DER X.509";
        }
        if (sk_X509_push(chain.get(), x.get()) <= 0) return std::string("out of memory");
        x.release(); // the stack owns it now
    }
    StoreCtx ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), impl_->store.get(), cert.get(), chain.get()) != 1) {
        ERR_clear_error();
        return std::string("cannot set up certificate verification");
    }
    if (X509_verify_cert(ctx.get()) != 1) {
        const int e = X509_STORE_CTX_get_error(ctx.get());
        ERR_clear_error();
        return std::string("certificate verification failed: ") + X509_verify_cert_error_string(e);
    }

    Verified v;
    unsigned char* name = nullptr;
    const int n = i2d_X509_NAME(X509_get_subject_name(cert.get()), &name);
    if (n > 0) {
        v.subject_der.assign(name, name + n);
        OPENSSL_free(name);
    }
    Names names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(names.get(), i);
        int type = 0;
        const ASN1_STRING* s = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(g, &type));
        if (!s) continue;
        const auto* d = ASN1_STRING_get0_data(s);
        const auto len = static_cast<std::size_t>(ASN1_STRING_length(s));
        const std::string text(reinterpret_cast<const char*>(d), len);
        switch (type) {
        case GEN_DNS: v.alt_names.push_back("fqdn:" + text); break;
        case GEN_EMAIL: v.alt_names.push_back("email:" + text); break;
        case GEN_IPADD: {
            char buf[INET6_ADDRSTRLEN] = {};
            if ((len == 4 && inet_ntop(AF_INET, d, buf, sizeof buf)) ||
                (len == 16 && inet_ntop(AF_INET6, d, buf, sizeof buf)))
                v.alt_names.push_back(std::string("ip:") + buf);
            break;
        }
        default: break; // other name forms are not IKE identities (RFC 7296 3.5)
        }
    }
    ERR_clear_error();
    return v;
}

std::vector<uint8_t> CertStore::sign(uint8_t auth_method, std::span<const uint8_t> signed_octets,
                                     std::string* error) const
{
    EVP_PKEY* key = impl_->key.get();
    const bool rsa = EVP_PKEY_is_a(key, "RSA");
    const bool ec = EVP_PKEY_is_a(key, "EC");
    auto fail = [&](const std::string& what) {
        if (error) *error = what + library_reason();
        return std::vector<uint8_t>{};
    };
    switch (auth_method) {
    case kAuthRsaSig: {
        if (!rsa) return fail("AUTH method 1 needs an RSA key");
        auto sig = digest_sign(key, EVP_sha1(), signed_octets);
        if (sig.empty()) return fail("RSA signature failed");
        return sig;
    }
    case kAuthEcdsaP256: {
        if (!is_p256(key)) return fail("AUTH method 9 needs a P-256 key");
        auto raw = ecdsa_der_to_raw(digest_sign(key, EVP_sha256(), signed_octets));
        if (raw.empty()) return fail("ECDSA signature failed");
        return raw;
    }
    case kAuthDigitalSig: {
        std::span<const uint8_t> alg;
        if (rsa)
            alg = kAlgRsaSha256;
        else if (ec)
            alg = kAlgEcdsaSha256;
        else
            return fail("AUTH method 14 needs an RSA or ECDSA key");
        auto sig = digest_sign(key, EVP_sha256(), signed_octets);
        if (sig.empty()) return fail("signature failed");
        std::vector<uint8_t> out;
        out.reserve(1 + alg.size() + sig.size());
        out.push_back(static_cast<uint8_t>(alg.size()));
        out.insert(out.end(), alg.begin(), alg.end());
        out.insert(out.end(), sig.begin(), sig.end());
        return out;
    }
    default: return fail("AUTH method " + std::to_string(auth_method) + " is not a signature method we make");
    }
}

bool verify_auth(std::span<const uint8_t> cert_der_bytes, uint8_t auth_method, std::span<const uint8_t> auth_data,
                 std::span<const uint8_t> signed_octets)
{
    X509Ptr cert = x509_from_der(cert_der_bytes);
    EVP_PKEY* key = cert ? X509_get0_pubkey(cert.get()) : nullptr;
    bool ok = false;
    if (key) {
        switch (auth_method) {
        case kAuthRsaSig:
            ok = EVP_PKEY_is_a(key, "RSA") && digest_verify(key, EVP_sha1(), auth_data, signed_octets);
            break;
        case kAuthEcdsaP256:
            ok = is_p256(key) && auth_data.size() == 64 &&
                 digest_verify(key, EVP_sha256(), ecdsa_raw_to_der(auth_data), signed_octets);
            break;
        case kAuthDigitalSig: {
            if (auth_data.empty() || auth_data.size() < 1u + auth_data[0]) break;
            const auto alg = auth_data.subspan(1, auth_data[0]);
            const auto sig = auth_data.subspan(1u + auth_data[0]);
            auto is = [&](std::span<const uint8_t> known) {
                return alg.size() == known.size() && std::equal(alg.begin(), alg.end(), known.begin());
            };
            if (is(kAlgRsaSha256))
                ok = EVP_PKEY_is_a(key, "RSA") && digest_verify(key, EVP_sha256(), sig, signed_octets);
            else if (is(kAlgEcdsaSha256))
                ok = EVP_PKEY_is_a(key, "EC") && digest_verify(key, EVP_sha256(), sig, signed_octets);
            break;
        }
        default: break;
        }
    }
    ERR_clear_error();
    return ok;
}

} // namespace nemo::ike
