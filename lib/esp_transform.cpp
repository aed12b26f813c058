#include "esp_transform.hpp"

#include <intel-ipsec-mb.h>

#include <array>
#include <cstring>

#include "bytes.hpp"

namespace nemo {

std::optional<EspAlgorithm> esp_algorithm_from_name(std::string_view n)
{
    if (n == "aes-gcm-128") return EspAlgorithm::aes_gcm_128;
    if (n == "aes-gcm-256") return EspAlgorithm::aes_gcm_256;
    if (n == "aes-cbc-128-hmac-sha256") return EspAlgorithm::aes_cbc_128_hmac_sha256;
    return std::nullopt;
}

std::string_view esp_algorithm_name(EspAlgorithm a)
{
    switch (a) {
    case EspAlgorithm::aes_gcm_128: return "aes-gcm-128";
    case EspAlgorithm::aes_gcm_256: return "aes-gcm-256";
    case EspAlgorithm::aes_cbc_128_hmac_sha256: return "aes-cbc-128-hmac-sha256";
    }
    return "?";
}

std::size_t esp_enc_key_len(EspAlgorithm a)
{
    switch (a) {
    case EspAlgorithm::aes_gcm_128: return 16 + 4;
    case EspAlgorithm::aes_gcm_256: return 32 + 4;
    case EspAlgorithm::aes_cbc_128_hmac_sha256: return 16;
    }
    return 0;
}

std::size_t esp_auth_key_len(EspAlgorithm a) { return a == EspAlgorithm::aes_cbc_128_hmac_sha256 ? 32 : 0; }

ImbManager::ImbManager()
{
    mgr_ = alloc_mb_mgr(0);
    if (!mgr_) return;
    IMB_ARCH arch{};
    init_mb_mgr_auto(mgr_, &arch);
    switch (arch) {
    case IMB_ARCH_AVX512: arch_ = "avx512"; break;
    case IMB_ARCH_AVX2: arch_ = "avx2"; break;
    case IMB_ARCH_AVX: arch_ = "avx"; break;
    case IMB_ARCH_SSE: arch_ = "sse"; break;
    default: arch_ = "other"; break;
    }
}

ImbManager::~ImbManager()
{
    if (mgr_) free_mb_mgr(mgr_);
}

struct EspTransform::Keys {
    alignas(64) gcm_key_data gcm;
    std::array<uint8_t, 4> salt{};
    alignas(16) uint32_t enc_exp[4 * 15];
    alignas(16) uint32_t dec_exp[4 * 15];
    alignas(16) uint8_t ipad[32];
    alignas(16) uint8_t opad[32];
};

EspTransform::~EspTransform()
{
    if (k_) {
        // Key material does not outlive the SA in memory.
        volatile uint8_t* p = reinterpret_cast<volatile uint8_t*>(k_.get());
        for (std::size_t i = 0; i < sizeof(Keys); ++i) p[i] = 0;
    }
}

std::size_t EspTransform::iv_len() const { return alg_ == EspAlgorithm::aes_cbc_128_hmac_sha256 ? 16 : 8; }
std::size_t EspTransform::block() const { return alg_ == EspAlgorithm::aes_cbc_128_hmac_sha256 ? 16 : 4; }

std::unique_ptr<EspTransform> EspTransform::create(EspAlgorithm alg, std::span<const uint8_t> enc_key,
                                                   std::span<const uint8_t> auth_key, std::string* error)
{
    if (enc_key.size() != esp_enc_key_len(alg) || auth_key.size() != esp_auth_key_len(alg)) {
        *error = std::string(esp_algorithm_name(alg)) + " takes a " + std::to_string(esp_enc_key_len(alg)) +
                 "-byte encryption key" +
                 (esp_auth_key_len(alg) ? " and a " + std::to_string(esp_auth_key_len(alg)) + "-byte authentication key"
                                        : std::string(" (key and salt) and no authentication key"));
        return nullptr;
    }
    ImbManager m;
    if (!m.ok()) {
        *error = "intel-ipsec-mb: cannot allocate a manager";
        return nullptr;
    }
    std::unique_ptr<EspTransform> t(new EspTransform);
    t->alg_ = alg;
    t->k_ = std::make_unique<Keys>();
    Keys& k = *t->k_;
    switch (alg) {
    case EspAlgorithm::aes_gcm_128:
        IMB_AES128_GCM_PRE(m.get(), enc_key.data(), &k.gcm);
        std::memcpy(k.salt.data(), enc_key.data() + 16, 4);
        break;
    case EspAlgorithm::aes_gcm_256:
        IMB_AES256_GCM_PRE(m.get(), enc_key.data(), &k.gcm);
        std::memcpy(k.salt.data(), enc_key.data() + 32, 4);
        break;
    case EspAlgorithm::aes_cbc_128_hmac_sha256: {
        IMB_AES_KEYEXP_128(m.get(), enc_key.data(), k.enc_exp, k.dec_exp);
        // HMAC (RFC 2104): the hash states after one block of key XOR ipad / opad, computed once.
        uint8_t block[64];
        for (int pass = 0; pass < 2; ++pass) {
            std::memset(block, pass == 0 ? 0x36 : 0x5C, sizeof block);
            for (std::size_t i = 0; i < auth_key.size(); ++i) block[i] ^= auth_key[i];
            IMB_SHA256_ONE_BLOCK(m.get(), block, pass == 0 ? k.ipad : k.opad);
        }
        std::memset(block, 0, sizeof block);
        break;
    }
    }
    return t;
}

namespace {

// What GCM takes besides the data (RFC 4106): the nonce (salt and the packet's explicit IV) and the
// additional authenticated data (SPI and sequence number, 32 or 64 bits of it, section 5).
struct GcmInput {
    uint8_t nonce[12];
    uint8_t aad[12];
    std::size_t aad_len;

    GcmInput(const std::array<uint8_t, 4>& salt, const uint8_t* esp, uint64_t seq, bool esn)
    {
        std::memcpy(nonce, salt.data(), 4);
        std::memcpy(nonce + 4, esp + 8, 8);
        std::memcpy(aad, esp, 4);
        if (esn) {
            wire::store_be32(aad + 4, static_cast<uint32_t>(seq >> 32));
            wire::store_be32(aad + 8, static_cast<uint32_t>(seq));
            aad_len = 12;
        } else {
            std::memcpy(aad + 4, esp + 4, 4);
            aad_len = 8;
        }
    }
};

// Runs one job to completion (no other job is in flight on this manager).
bool run(IMB_MGR* mgr, IMB_JOB* job)
{
    IMB_JOB* done = IMB_SUBMIT_JOB(mgr);
    while (!done) done = IMB_FLUSH_JOB(mgr);
    (void)job;
    return done->status == IMB_STATUS_COMPLETED;
}

// An AES-128-CBC job (encrypt or decrypt) over [offset, offset + len) of src into dst.
IMB_JOB* cbc_job(IMB_MGR* mgr, const void* enc_exp, const void* dec_exp, IMB_CIPHER_DIRECTION dir, const uint8_t* iv,
                 const uint8_t* src, uint8_t* dst, std::size_t offset, std::size_t len)
{
    IMB_JOB* j = IMB_GET_NEXT_JOB(mgr);
    j->cipher_mode = IMB_CIPHER_CBC;
    j->cipher_direction = dir;
    j->chain_order = dir == IMB_DIR_ENCRYPT ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
    j->hash_alg = IMB_AUTH_NULL;
    j->key_len_in_bytes = 16;
    j->enc_keys = enc_exp;
    j->dec_keys = dec_exp;
    j->iv = iv;
    j->iv_len_in_bytes = 16;
    j->src = src;
    j->dst = dst;
    j->cipher_start_src_offset_in_bytes = offset;
    j->msg_len_to_cipher_in_bytes = len;
    return j;
}

// Adds HMAC-SHA-256-128 over [0, hash_len) of the job's source, into tag.
void with_hmac(IMB_JOB* j, const uint8_t* ipad, const uint8_t* opad, std::size_t hash_len, uint8_t* tag)
{
    j->hash_alg = IMB_AUTH_HMAC_SHA_256;
    j->hash_start_src_offset_in_bytes = 0;
    j->msg_len_to_hash_in_bytes = hash_len;
    j->auth_tag_output = tag;
    j->auth_tag_output_len_in_bytes = 16;
    j->u.HMAC._hashed_auth_key_xor_ipad = ipad;
    j->u.HMAC._hashed_auth_key_xor_opad = opad;
}

bool constant_time_equal(const uint8_t* a, const uint8_t* b, std::size_t n)
{
    uint8_t diff = 0;
    for (std::size_t i = 0; i < n; ++i) diff |= static_cast<uint8_t>(a[i] ^ b[i]);
    return diff == 0;
}

} // namespace

bool EspTransform::encrypt(ImbManager& m, uint8_t* esp, std::size_t plain_len, uint64_t seq, bool esn) const
{
    IMB_MGR* mgr = m.get();
    const Keys& k = *k_;
    uint8_t* iv = esp + 8;
    uint8_t* plain = iv + iv_len();
    uint8_t* icv = plain + plain_len;
    if (alg_ != EspAlgorithm::aes_cbc_128_hmac_sha256) {
        // The explicit IV is the 64-bit sequence number: unique for the SA's life, as RFC 4106 3.1 asks.
        wire::store_be32(iv, static_cast<uint32_t>(seq >> 32));
        wire::store_be32(iv + 4, static_cast<uint32_t>(seq));
        const GcmInput in(k.salt, esp, seq, esn);
        gcm_context_data ctx;
        if (alg_ == EspAlgorithm::aes_gcm_128)
            IMB_AES128_GCM_ENC(mgr, &k.gcm, &ctx, plain, plain, plain_len, in.nonce, in.aad, in.aad_len, icv, 16);
        else
            IMB_AES256_GCM_ENC(mgr, &k.gcm, &ctx, plain, plain, plain_len, in.nonce, in.aad, in.aad_len, icv, 16);
        return true;
    }
    if (plain_len % 16 != 0) return false;
    // An unpredictable IV (RFC 3602 2.3): the sequence number and SPI encrypted under the SA's key.
    alignas(16) uint8_t counter[16] = {};
    std::memcpy(counter, esp, 8);
    wire::store_be32(counter + 8, static_cast<uint32_t>(seq >> 32));
    static const uint8_t zero_iv[16] = {};
    if (!run(mgr, cbc_job(mgr, k.enc_exp, k.dec_exp, IMB_DIR_ENCRYPT, zero_iv, counter, iv, 0, 16))) return false;

    // With ESN the high half of the sequence number is authenticated as if it followed the payload
    // (RFC 4303 2.2.1): it sits in the ICV's place while the hash runs, then the ICV replaces it.
    if (esn) wire::store_be32(icv, static_cast<uint32_t>(seq >> 32));
    alignas(16) uint8_t tag[32];
    IMB_JOB* j = cbc_job(mgr, k.enc_exp, k.dec_exp, IMB_DIR_ENCRYPT, iv, esp, plain, 8 + 16, plain_len);
    with_hmac(j, k.ipad, k.opad, 8 + 16 + plain_len + (esn ? 4 : 0), tag);
    if (!run(mgr, j)) return false;
    std::memcpy(icv, tag, 16);
    return true;
}

bool EspTransform::decrypt(ImbManager& m, uint8_t* esp, std::size_t esp_len, uint64_t seq, bool esn) const
{
    IMB_MGR* mgr = m.get();
    const Keys& k = *k_;
    const std::size_t head = 8 + iv_len();
    if (esp_len < head + 16 + (block() == 16 ? 16 : 4)) return false;
    // The low half of `seq` must be the packet's own: the caller infers only the high half.
    if (static_cast<uint32_t>(seq) != wire::load_be32(esp + 4)) return false;
    const std::size_t cipher_len = esp_len - head - 16;
    uint8_t* iv = esp + 8;
    uint8_t* cipher = esp + head;
    uint8_t* icv = cipher + cipher_len;
    alignas(16) uint8_t tag[32];
    if (alg_ != EspAlgorithm::aes_cbc_128_hmac_sha256) {
        if (cipher_len % 4 != 0) return false;
        const GcmInput in(k.salt, esp, seq, esn);
        // GCM decrypts and authenticates in one pass: decrypt into place, compare, and on mismatch the
        // caller drops the packet (it never leaves the buffer).
        gcm_context_data ctx;
        if (alg_ == EspAlgorithm::aes_gcm_128)
            IMB_AES128_GCM_DEC(mgr, &k.gcm, &ctx, cipher, cipher, cipher_len, in.nonce, in.aad, in.aad_len, tag, 16);
        else
            IMB_AES256_GCM_DEC(mgr, &k.gcm, &ctx, cipher, cipher, cipher_len, in.nonce, in.aad, in.aad_len, tag, 16);
        return constant_time_equal(tag, icv, 16);
    }
    if (cipher_len % 16 != 0) return false;
    // Authenticate first (encrypt-then-MAC), then decrypt: a forged packet is never decrypted.
    uint8_t saved[4];
    if (esn) {
        std::memcpy(saved, icv, 4);
        // The ICV is needed for the comparison: keep it, and authenticate with seq_hi in its place.
    }
    alignas(16) uint8_t received[16];
    std::memcpy(received, icv, 16);
    if (esn) wire::store_be32(icv, static_cast<uint32_t>(seq >> 32));
    IMB_JOB* j = IMB_GET_NEXT_JOB(mgr);
    j->cipher_mode = IMB_CIPHER_NULL;
    j->cipher_direction = IMB_DIR_DECRYPT;
    j->chain_order = IMB_ORDER_HASH_CIPHER;
    j->src = esp;
    j->dst = esp;
    j->cipher_start_src_offset_in_bytes = 0;
    j->msg_len_to_cipher_in_bytes = 0;
    with_hmac(j, k.ipad, k.opad, head + cipher_len + (esn ? 4 : 0), tag);
    const bool hashed = run(mgr, j);
    if (esn) std::memcpy(icv, saved, 4);
    if (!hashed || !constant_time_equal(tag, received, 16)) return false;
    j = cbc_job(mgr, k.enc_exp, k.dec_exp, IMB_DIR_DECRYPT, iv, esp, cipher, head, cipher_len);
    return run(mgr, j);
}

} // namespace nemo
