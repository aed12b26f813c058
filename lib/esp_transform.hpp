// ESP's cryptographic transform for one SA, with intel-ipsec-mb: AES-GCM-128/256 (RFC 4106) and
// AES-128-CBC with HMAC-SHA-256-128 (RFC 3602, RFC 4868), 64-bit extended sequence numbers optional.
// Keys are expanded once when the SA is created; the transform is then read-only and shared by every
// lcore, each with its own multi-buffer manager (ImbManager). Keys are never printed.
//
// The worker hands a whole burst over at once (esp_encrypt_burst / esp_decrypt_burst): GCM runs through
// the direct API packet by packet, CBC with HMAC through the synchronous burst API in chunks of up to
// ImbManager::kJobs packets (the cipher-only burst and the hash-only burst over the whole chunk), so
// the SIMD lanes fill up without the job manager's queue and flush.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct IMB_MGR;
struct IMB_JOB;

namespace nemo {

enum class EspAlgorithm : uint8_t { aes_gcm_128, aes_gcm_256, aes_cbc_128_hmac_sha256 };
std::optional<EspAlgorithm> esp_algorithm_from_name(std::string_view name); // "aes-gcm-128", ...
std::string_view esp_algorithm_name(EspAlgorithm a);
// Key bytes each algorithm takes: GCM key + 4-byte salt (RFC 4106 8.1); CBC key; HMAC key.
std::size_t esp_enc_key_len(EspAlgorithm a);
std::size_t esp_auth_key_len(EspAlgorithm a);

// The last sequence number an outbound SA may send: 2^32-1, or 2^64-1 with extended sequence numbers.
// RFC 4303 3.3.3: the sender MUST NOT let the counter cycle; the SA is then spent and must be replaced.
constexpr uint64_t esp_last_seq(bool esn) { return esn ? ~uint64_t{0} : uint64_t{0xFFFFFFFF}; }
// Whether `next` (the counter, starting at 1) may still be sent. A 64-bit counter past its end reads 0.
constexpr bool esp_seq_available(uint64_t next, bool esn) { return next != 0 && next <= esp_last_seq(esn); }

// One per thread: intel-ipsec-mb's manager, set up for the best instruction set this CPU has.
class ImbManager {
public:
    ImbManager();
    ~ImbManager();
    ImbManager(const ImbManager&) = delete;
    ImbManager& operator=(const ImbManager&) = delete;
    IMB_MGR* get() const { return mgr_; }
    bool ok() const { return mgr_ != nullptr; }
    const char* arch() const { return arch_; }
    // Job structures the burst calls fill (CBC with HMAC), this manager's own: a chunk's worth.
    static constexpr std::size_t kJobs = 32;
    IMB_JOB* jobs() const { return jobs_.get(); }

private:
    IMB_MGR* mgr_ = nullptr;
    std::unique_ptr<IMB_JOB[]> jobs_; // destroyed in the .cpp, where IMB_JOB is complete
    const char* arch_ = "none";
};

class EspTransform;

// A fingerprint of one key (SHA-256 of the cipher key, GCM's salt left out, or of the HMAC key): tells
// whether two SAs share key material without keeping the keys themselves.
using KeyId = std::array<uint8_t, 32>;

// One packet of a burst. In: the SA's transform, the ESP packet, its length and full sequence number.
// Out: ok. For encryption `esp` holds [SPI, sequence number (8)][IV space][plaintext, padding and
// trailer (len)][ICV space (16)]; for decryption it is the whole ESP packet (header to ICV, len bytes).
struct EspJob {
    const EspTransform* t = nullptr;
    uint8_t* esp = nullptr;
    std::size_t len = 0;
    uint64_t seq = 0;
    bool esn = false;
    bool ok = false;
    // Scratch for opening CBC+HMAC: the computed ICV (the hash burst's output) and the received one
    // (saved before the ESN high half takes its place for the hash).
    alignas(16) uint8_t tag[16];
    alignas(16) uint8_t received[16];
};

// Each job may belong to a different SA. No allocation; up to any number of jobs.
void esp_encrypt_burst(ImbManager& m, std::span<EspJob> jobs);
void esp_decrypt_burst(ImbManager& m, std::span<EspJob> jobs);

class EspTransform {
public:
    static std::unique_ptr<EspTransform> create(EspAlgorithm alg, std::span<const uint8_t> enc_key,
                                                std::span<const uint8_t> auth_key, std::string* error);
    ~EspTransform();

    EspAlgorithm algorithm() const { return alg_; }
    bool cbc() const { return alg_ == EspAlgorithm::aes_cbc_128_hmac_sha256; }
    std::size_t iv_len() const { return cbc() ? 16 : 8; }
    std::size_t icv_len() const { return 16; }
    std::size_t block() const { return cbc() ? 16 : 4; } // padding alignment

    // One packet, as a burst of one. encrypt writes the IV, encrypts in place and writes the ICV; `seq`
    // is the full sequence number (its high half enters the ICV with ESN).
    bool encrypt(ImbManager& m, uint8_t* esp, std::size_t plain_len, uint64_t seq, bool esn) const;
    // Verifies the ICV and decrypts in place; the plaintext starts at 8 + iv_len(). False when the ICV
    // does not verify, the length cannot be right, or the low half of `seq` is not the packet's sequence
    // number. Verification and decryption are one pass (GCM) or a hash burst then a CBC burst: a
    // packet that fails is left decrypted in the buffer and the caller drops it; it never leaves.
    bool decrypt(ImbManager& m, uint8_t* esp, std::size_t esp_len, uint64_t seq, bool esn) const;

    // The fingerprints of its keys: one (GCM) or two (CBC, HMAC). Equal cipher keys give equal
    // fingerprints whatever the salt and the algorithm.
    std::span<const KeyId> key_ids() const;

private:
    friend void esp_encrypt_burst(ImbManager&, std::span<EspJob>);
    friend void esp_decrypt_burst(ImbManager&, std::span<EspJob>);
    EspTransform() = default;
    struct Keys;
    // The expanded keys live in the transform itself (a packet reaches them in one step from the SA);
    // the .cpp checks that Keys fits.
    static constexpr std::size_t kKeysBytes = 1792;
    const Keys& keys() const { return *reinterpret_cast<const Keys*>(keys_); }
    Keys& keys() { return *reinterpret_cast<Keys*>(keys_); }
    EspAlgorithm alg_{};
    alignas(64) unsigned char keys_[kKeysBytes];
};

} // namespace nemo
