#include "esp_transform.hpp"

#include <intel-ipsec-mb.h>

#include <array>
#include <new>
#include <cstring>

#include "bytes.hpp"
#include "key_material.hpp"

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
    jobs_ = std::make_unique<IMB_JOB[]>(kJobs); // before the manager: if this throws, nothing leaks
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
    KeyId ids[2];
    std::size_t n_ids = 0;
};

EspTransform::~EspTransform()
{
    // Key material does not outlive the SA in memory.
    keys().~Keys();
    secure_wipe(keys_, sizeof keys_);
}


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
    static_assert(sizeof(Keys) <= kKeysBytes && alignof(Keys) <= 64);
    Keys& k = *new (t->keys_) Keys();
    // The cipher key alone (GCM's last 4 bytes are salt): the same key under two salts is still shared.
    const std::size_t cipher_len = alg == EspAlgorithm::aes_gcm_256 ? 32 : 16;
    IMB_SHA256(m.get(), enc_key.data(), cipher_len, k.ids[k.n_ids++].data());
    if (!auth_key.empty()) IMB_SHA256(m.get(), auth_key.data(), auth_key.size(), k.ids[k.n_ids++].data());
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
        secure_wipe(block, sizeof block);
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

// An AES-128-CBC job with HMAC-SHA-256-128 (encrypt: cipher then hash; decrypt: hash then cipher, in
// place). The cipher covers [cipher_offset, + cipher_len) of `esp`, the hash [0, hash_len).
struct CbcHmacKeys {
    const void* enc_exp;
    const void* dec_exp;
    const uint8_t* ipad;
    const uint8_t* opad;
};

alignas(16) const uint8_t kZeroIv[16] = {};

void fill_cbc_hmac(IMB_JOB* j, const CbcHmacKeys& k, IMB_CIPHER_DIRECTION dir, uint8_t* esp,
                   std::size_t cipher_offset, std::size_t cipher_len, std::size_t hash_len, uint8_t* tag, void* user)
{
    j->cipher_mode = IMB_CIPHER_CBC;
    j->cipher_direction = dir;
    j->chain_order = dir == IMB_DIR_ENCRYPT ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
    j->key_len_in_bytes = 16;
    j->enc_keys = k.enc_exp;
    j->dec_keys = k.dec_exp;
    j->iv = esp + 8;
    j->iv_len_in_bytes = 16;
    j->src = esp;
    j->dst = esp + cipher_offset;
    j->cipher_start_src_offset_in_bytes = cipher_offset;
    j->msg_len_to_cipher_in_bytes = cipher_len;
    j->hash_alg = IMB_AUTH_HMAC_SHA_256;
    j->hash_start_src_offset_in_bytes = 0;
    j->msg_len_to_hash_in_bytes = hash_len;
    j->auth_tag_output = tag;
    j->auth_tag_output_len_in_bytes = 16;
    j->u.HMAC._hashed_auth_key_xor_ipad = k.ipad;
    j->u.HMAC._hashed_auth_key_xor_opad = k.opad;
    j->user_data = user;
    // The bursts set COMPLETED on the jobs they finish but never clear it: without this a slot would
    // still say COMPLETED from the chunk before.
    j->status = IMB_STATUS_BEING_PROCESSED;
}

// The 16-byte ICVs compared in constant time: two words each, every bit looked at whatever differs.
bool constant_time_equal16(const uint8_t* a, const uint8_t* b)
{
    uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a, 8);
    std::memcpy(&a1, a + 8, 8);
    std::memcpy(&b0, b, 8);
    std::memcpy(&b1, b + 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

// Where the ICV sits: after the header, the IV and the ciphertext.
uint8_t* icv_of(const EspJob& e, bool encrypting)
{
    return encrypting ? e.esp + 8 + e.t->iv_len() + e.len : e.esp + e.len - 16;
}

// With ESN the high half of the sequence number is authenticated as if it followed the payload (RFC
// 4303 2.2.1): it sits in the ICV's place while the hash runs.
void place_seq_hi(const EspJob& e, uint8_t* icv) { wire::store_be32(icv, static_cast<uint32_t>(e.seq >> 32)); }

// Runs a burst's CBC+HMAC packets in chunks of the manager's jobs: `prepare(e, job)` does a GCM packet
// itself and returns false, or fills `job` for a CBC one and returns true. A full chunk (or the last)
// goes through the synchronous burst calls, the cipher over all of it and the hash over all of it
// (encrypting: cipher first, the hash over the ciphertext; decrypting: the hash over the ciphertext
// first, then the cipher in place); `complete(e, job, ran)` then finishes each packet.
template <class Prepare, class Complete>
void run_cbc_chunks(ImbManager& m, std::span<EspJob> jobs, bool encrypt, Prepare prepare, Complete complete)
{
    IMB_MGR* mgr = m.get();
    IMB_JOB* chunk = m.jobs();
    EspJob* owner[ImbManager::kJobs];
    uint32_t n = 0;
    auto run = [&] {
        if (n == 0) return;
        // Every field was set from a transform made by create() and lengths checked in prepare.
        uint32_t done;
        if (encrypt) {
            done = IMB_SUBMIT_CIPHER_BURST_NOCHECK(mgr, chunk, n, IMB_CIPHER_CBC, IMB_DIR_ENCRYPT, IMB_KEY_128_BYTES);
            if (done == n) done = IMB_SUBMIT_HASH_BURST_NOCHECK(mgr, chunk, n, IMB_AUTH_HMAC_SHA_256);
        } else {
            done = IMB_SUBMIT_HASH_BURST_NOCHECK(mgr, chunk, n, IMB_AUTH_HMAC_SHA_256);
            if (done == n) done = IMB_SUBMIT_CIPHER_BURST_NOCHECK(mgr, chunk, n, IMB_CIPHER_CBC, IMB_DIR_DECRYPT, IMB_KEY_128_BYTES);
        }
        for (uint32_t i = 0; i < n; ++i) complete(*owner[i], chunk[i], done == n && chunk[i].status == IMB_STATUS_COMPLETED);
        n = 0;
    };
    for (EspJob& e : jobs) {
        if (!prepare(e, chunk[n])) continue;
        owner[n++] = &e;
        if (n == ImbManager::kJobs) run();
    }
    run();
}

} // namespace

void esp_encrypt_burst(ImbManager& m, std::span<EspJob> jobs)
{
    IMB_MGR* mgr = m.get();
    run_cbc_chunks(m, jobs, true, [mgr](EspJob& e, IMB_JOB& j) {
        const EspTransform& t = *e.t;
        const auto& k = t.keys();
        uint8_t* iv = e.esp + 8;
        uint8_t* plain = iv + t.iv_len();
        uint8_t* icv = plain + e.len;
        e.ok = false;
        if (t.alg_ != EspAlgorithm::aes_cbc_128_hmac_sha256) {
            // The explicit IV is the 64-bit sequence number: unique for the SA's life (RFC 4106 3.1).
            wire::store_be32(iv, static_cast<uint32_t>(e.seq >> 32));
            wire::store_be32(iv + 4, static_cast<uint32_t>(e.seq));
            const GcmInput in(k.salt, e.esp, e.seq, e.esn);
            gcm_context_data ctx;
            if (t.alg_ == EspAlgorithm::aes_gcm_128)
                IMB_AES128_GCM_ENC(mgr, &k.gcm, &ctx, plain, plain, e.len, in.nonce, in.aad, in.aad_len, icv, 16);
            else
                IMB_AES256_GCM_ENC(mgr, &k.gcm, &ctx, plain, plain, e.len, in.nonce, in.aad, in.aad_len, icv, 16);
            e.ok = true;
            return false;
        }
        if (e.len % 16 != 0) return false;
        // An unpredictable IV (RFC 3602 2.3): SPI, sequence number and its high half encrypted under the
        // SA's key, E(counter). The counter goes in the IV's place as one more block ahead of the
        // plaintext, and the job runs CBC from there with a zero IV: its first output block is
        // E(counter) (the IV), the rest the plaintext in CBC under that IV. One job in the manager's
        // lanes, no separate AES call per packet.
        std::memcpy(iv, e.esp, 8);
        wire::store_be32(iv + 8, static_cast<uint32_t>(e.seq >> 32));
        wire::store_be32(iv + 12, 0);
        if (e.esn) place_seq_hi(e, icv);
        // The tag straight into the ICV's place: the hash has read the high half there before.
        fill_cbc_hmac(&j, CbcHmacKeys{k.enc_exp, k.dec_exp, k.ipad, k.opad}, IMB_DIR_ENCRYPT, e.esp, 8, 16 + e.len, 8 + 16 + e.len + (e.esn ? 4 : 0), icv, &e);
        j.iv = kZeroIv;
        return true;
    }, [](EspJob& e, const IMB_JOB&, bool ran) { e.ok = ran; });
}

void esp_decrypt_burst(ImbManager& m, std::span<EspJob> jobs)
{
    IMB_MGR* mgr = m.get();
    run_cbc_chunks(m, jobs, false, [mgr](EspJob& e, IMB_JOB& j) {
        const EspTransform& t = *e.t;
        const auto& k = t.keys();
        e.ok = false;
        const std::size_t head = 8 + t.iv_len();
        if (e.len < head + 16 + (t.block() == 16 ? 16 : 4)) return false;
        // The low half of `seq` must be the packet's own: the caller infers only the high half.
        if (static_cast<uint32_t>(e.seq) != wire::load_be32(e.esp + 4)) return false;
        const std::size_t cipher_len = e.len - head - 16;
        uint8_t* cipher = e.esp + head;
        uint8_t* icv = cipher + cipher_len;
        if (t.alg_ != EspAlgorithm::aes_cbc_128_hmac_sha256) {
            if (cipher_len % 4 != 0) return false;
            const GcmInput in(k.salt, e.esp, e.seq, e.esn);
            gcm_context_data ctx;
            if (t.alg_ == EspAlgorithm::aes_gcm_128)
                IMB_AES128_GCM_DEC(mgr, &k.gcm, &ctx, cipher, cipher, cipher_len, in.nonce, in.aad, in.aad_len, e.tag, 16);
            else
                IMB_AES256_GCM_DEC(mgr, &k.gcm, &ctx, cipher, cipher, cipher_len, in.nonce, in.aad, in.aad_len, e.tag, 16);
            e.ok = constant_time_equal16(e.tag, icv);
            return false;
        }
        if (cipher_len % 16 != 0) return false;
        std::memcpy(e.received, icv, 16);
        if (e.esn) place_seq_hi(e, icv);
        fill_cbc_hmac(&j, CbcHmacKeys{k.enc_exp, k.dec_exp, k.ipad, k.opad}, IMB_DIR_DECRYPT, e.esp, head, cipher_len, head + cipher_len + (e.esn ? 4 : 0), e.tag, &e);
        return true;
    }, [](EspJob& e, const IMB_JOB&, bool ran) {
        if (e.esn) std::memcpy(icv_of(e, false), e.received, 4);
        e.ok = ran && constant_time_equal16(e.tag, e.received);
    });
}

namespace {
// One packet as a burst of one.
bool one(ImbManager& m, void (*burst)(ImbManager&, std::span<EspJob>), const EspTransform* t, uint8_t* esp,
         std::size_t len, uint64_t seq, bool esn)
{
    EspJob e;
    e.t = t;
    e.esp = esp;
    e.len = len;
    e.seq = seq;
    e.esn = esn;
    burst(m, {&e, 1});
    return e.ok;
}
} // namespace

std::span<const KeyId> EspTransform::key_ids() const { return {keys().ids, keys().n_ids}; }

bool EspTransform::encrypt(ImbManager& m, uint8_t* esp, std::size_t plain_len, uint64_t seq, bool esn) const
{
    return one(m, esp_encrypt_burst, this, esp, plain_len, seq, esn);
}

bool EspTransform::decrypt(ImbManager& m, uint8_t* esp, std::size_t esp_len, uint64_t seq, bool esn) const
{
    return one(m, esp_decrypt_burst, this, esp, esp_len, seq, esn);
}

} // namespace nemo
