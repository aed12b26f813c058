// IKEv2's cryptography (RFC 7296): Diffie-Hellman (MODP-2048 RFC 3526, ECP-256 RFC 5903, Curve25519
// RFC 8031), the PRF HMAC-SHA-256 (RFC 4868) and prf+, the key derivations of 2.14, 2.17 and 2.18, the
// Encrypted payload (3.14) with AES-GCM (RFC 5282) or AES-CBC with HMAC-SHA-256-128, PSK authentication
// (2.15), NAT detection hashes (2.23) and stateless cookies (2.6). Everything is OpenSSL 3's libcrypto
// through its EVP interfaces; nothing here depends on the message codec: where the IKE header is needed the
// caller hands over the bytes it built.
//
// Secrets (DH results, SKEYSEED, keys, AUTH values) are nemo::KeyBytes so that every copy is wiped when
// freed; no error text ever carries key bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "key_material.hpp"

namespace nemo::ike {

// ---- Diffie-Hellman (RFC 7296 2.14, 3.4) -------------------------------------------------------------

enum class DhGroup : uint16_t { modp2048 = 14, ecp256 = 19, curve25519 = 31 };

// The KE payload's data length for `g`: 256 (the modulus' length), 64 (RFC 5903 section 7: x || y), 32.
std::size_t dh_public_len(DhGroup g);
// The length of g^ir: 256, 32 (the x coordinate only, RFC 5903 section 7), 32.
std::size_t dh_shared_len(DhGroup g);

class DhKey { // one ephemeral key pair
public:
    static std::unique_ptr<DhKey> generate(DhGroup g, std::string* error);
    DhGroup group() const { return group_; }
    // The KE payload's data, exactly dh_public_len bytes (MODP left-padded with zeros).
    std::vector<uint8_t> public_value() const;
    // g^ir from the peer's KE data; nothing if the length is wrong or the value is invalid (ECP: not on
    // the curve; MODP: not 1 < y < p-1, or not in the prime-order subgroup; X25519: an all-zero result).
    // MODP's g^ir is left-padded to the modulus' length (2.14); ECP's is the x coordinate.
    std::optional<KeyBytes> shared_secret(std::span<const uint8_t> peer) const;
    ~DhKey();
    DhKey(const DhKey&) = delete;
    DhKey& operator=(const DhKey&) = delete;

    struct Impl;
    DhKey(DhGroup g, std::unique_ptr<Impl> impl);

private:
    DhGroup group_;
    std::unique_ptr<Impl> impl_;
};

// For tests and known-answer checks: a key pair from a given private value (big-endian for MODP and ECP,
// RFC 7748's 32 bytes for X25519).
std::unique_ptr<DhKey> dh_from_private(DhGroup g, std::span<const uint8_t> priv, std::string* error);

// ---- PRF and key derivation (2.13, 2.14, 2.17, 2.18) ---------------------------------------------------

inline constexpr std::size_t kPrfLen = 32; // HMAC-SHA-256's output, also SK_d's, SK_pi's and SK_pr's length

KeyBytes prf(std::span<const uint8_t> key, std::span<const uint8_t> data); // HMAC-SHA-256
// prf+ (2.13): T1 | T2 | ... truncated to `len`; `len` at most 255 * 32 (throws std::length_error beyond).
KeyBytes prf_plus(std::span<const uint8_t> key, std::span<const uint8_t> seed, std::size_t len);

// HMAC-SHA-256-128 (RFC 4868 2.6): the first 16 bytes of HMAC-SHA-256, the CBC suite's ICV.
std::array<uint8_t, 16> hmac_sha256_128(std::span<const uint8_t> key, std::span<const uint8_t> data);

enum class IkeCipher : uint8_t { aes_gcm16_128, aes_gcm16_256, aes_cbc_128_hmac_sha256 };
std::size_t ike_enc_key_len(IkeCipher c);   // GCM: 16/32 + 4 salt (RFC 5282 7.1); CBC: 16
std::size_t ike_integ_key_len(IkeCipher c); // GCM 0; HMAC-SHA-256-128: 32
std::size_t ike_iv_len(IkeCipher c);        // GCM 8 (nonce = salt | IV); CBC 16
inline constexpr std::size_t kIkeIcvLen = 16;   // GCM's tag and HMAC-SHA-256-128 alike
inline constexpr std::size_t kIkeHeaderLen = 28;
inline constexpr uint8_t kPayloadSk = 46;

struct IkeKeys {
    KeyBytes sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr;
};
// SKEYSEED = prf(Ni | Nr, g^ir); {SK_d|SK_ai|SK_ar|SK_ei|SK_er|SK_pi|SK_pr} = prf+(SKEYSEED, Ni | Nr |
// SPIi | SPIr) (2.14; HMAC takes keys of any length, so the whole Ni | Nr is its key).
IkeKeys derive_ike_keys(IkeCipher c, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                        std::span<const uint8_t> g_ir, uint64_t spi_i, uint64_t spi_r);
// IKE SA rekey (2.18): SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), then as above with the new SPIs.
IkeKeys derive_rekeyed_ike_keys(IkeCipher c, std::span<const uint8_t> old_sk_d, std::span<const uint8_t> g_ir,
                                std::span<const uint8_t> ni, std::span<const uint8_t> nr, uint64_t spi_i,
                                uint64_t spi_r);
// CHILD_SA keys (2.17): KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr); g_ir empty without PFS.
KeyBytes child_keymat(std::span<const uint8_t> sk_d, std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                      std::span<const uint8_t> nr, std::size_t len);

// ---- The Encrypted payload (3.14) ----------------------------------------------------------------------

// The whole message: header28 (its next-payload field rewritten to SK = 46 and its length field to the
// total) + the SK generic header (next = first_inner) + a random IV + the ciphertext of (inner | padding |
// pad length) + the ICV. GCM: nonce = salt | IV, AAD = IKE header | SK generic header (RFC 5282 5.1), no
// padding (block size 1). CBC: padding to 16 bytes, ICV = the first 16 bytes of HMAC-SHA-256 over
// everything before it. `enc_key` includes GCM's salt (its last 4 bytes). Throws std::invalid_argument on
// wrong key or header lengths (a caller's bug, not a peer's doing).
std::vector<uint8_t> seal_sk(IkeCipher c, std::span<const uint8_t> enc_key, std::span<const uint8_t> integ_key,
                             std::span<const uint8_t> header28, uint8_t first_inner, std::span<const uint8_t> inner);
// The same with a given IV (ike_iv_len bytes): for known-answer tests only; an IV must never repeat.
std::vector<uint8_t> seal_sk_with_iv(IkeCipher c, std::span<const uint8_t> enc_key,
                                     std::span<const uint8_t> integ_key, std::span<const uint8_t> header28,
                                     uint8_t first_inner, std::span<const uint8_t> inner,
                                     std::span<const uint8_t> iv);
// `msg` a whole received message, `sk_offset` where the SK payload's generic header starts (the last
// payload; what precedes it is authenticated too). The inner payload chain's bytes (padding removed), or
// nothing when the ICV fails or anything is malformed (the header's or the payload's length, a pad length
// beyond what is there, CBC not a multiple of 16). The ICV is compared in constant time and checked before
// anything decrypted is looked at.
std::optional<std::vector<uint8_t>> open_sk(IkeCipher c, std::span<const uint8_t> enc_key,
                                            std::span<const uint8_t> integ_key, std::span<const uint8_t> msg,
                                            std::size_t sk_offset);

// ---- Authentication with a pre-shared key (2.15) -------------------------------------------------------

// prf(SK_px, IDx'), IDx' the ID payload's body after its generic header (ID type, 3 reserved bytes, data).
KeyBytes signed_octets_mac(std::span<const uint8_t> sk_p, std::span<const uint8_t> id_body);
// RealMessage | NonceOfTheOtherSide | prf(SK_px, IDx').
std::vector<uint8_t> signed_octets(std::span<const uint8_t> real_message, std::span<const uint8_t> other_nonce,
                                   std::span<const uint8_t> id_mac);
// AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>).
KeyBytes psk_auth(std::span<const uint8_t> psk, std::span<const uint8_t> signed_octets);
bool psk_auth_equal(std::span<const uint8_t> a, std::span<const uint8_t> b); // constant time for equal lengths

// ---- Randomness, NAT detection, cookies -----------------------------------------------------------------

void random_bytes(std::span<uint8_t> out); // RAND_bytes; aborts on failure (never weak randomness)
uint64_t random_spi();                     // nonzero
// NAT detection (2.23): SHA-1(SPIi | SPIr | IP | port), IP 4 or 16 bytes, port in host order (hashed in
// network order).
std::array<uint8_t, 20> nat_detection_hash(uint64_t spi_i, uint64_t spi_r, std::span<const uint8_t> ip,
                                           uint16_t port);

// Stateless cookies (2.6): Cookie = <VersionIDofSecret> (4 bytes, big-endian) | HMAC-SHA-256(secret,
// Ni | IPi | SPIi). The secret is random and changes (rotate()); a cookie made with the previous secret is
// still accepted so that an initiator caught by a rotation is not turned away twice.
std::vector<uint8_t> make_cookie(uint32_t version, std::span<const uint8_t> secret, std::span<const uint8_t> ni,
                                 std::span<const uint8_t> ip_i, uint64_t spi_i);

class CookieSecrets {
public:
    CookieSecrets(); // a first random secret, version 1
    void rotate();   // a new random secret; the current one becomes the previous one
    uint32_t version() const { return version_; }
    std::vector<uint8_t> make(std::span<const uint8_t> ni, std::span<const uint8_t> ip_i, uint64_t spi_i) const;
    // True when `cookie` is what make() gives now or gave before the last rotate() (constant time).
    bool valid(std::span<const uint8_t> cookie, std::span<const uint8_t> ni, std::span<const uint8_t> ip_i,
               uint64_t spi_i) const;

private:
    uint32_t version_ = 1;
    KeyBytes current_, previous_;
};

} // namespace nemo::ike
