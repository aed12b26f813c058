// IKEv2 certificate authentication (RFC 7296 2.15, 3.6-3.8; RFC 7427 digital signatures; RFC 4754 ECDSA):
// the operator's CA(s), the home agent's own certificate and private key, chain verification of a peer's
// certificate, and the AUTH payload's signature made and checked over the signed octets (ike_crypto.hpp's
// signed_octets). OpenSSL 3's libcrypto, EVP and X509 interfaces only.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace nemo::ike {

// The AUTH payload's methods this module makes and checks (RFC 7296 3.8, RFC 7427 3).
inline constexpr uint8_t kAuthRsaSig = 1;        // RSASSA-PKCS1-v1_5 with SHA-1
inline constexpr uint8_t kAuthEcdsaP256 = 9;     // ECDSA P-256 with SHA-256, r | s (RFC 4754)
inline constexpr uint8_t kAuthDigitalSig = 14;   // RFC 7427: length | AlgorithmIdentifier | signature (SHA-256)

class CertStore { // the operator's CA(s) and the home agent's own certificate and key
public:
    // PEM files; the CA file may hold several certificates. The key file must be private to its owner
    // (nemo::check_private), and the key must be the certificate's. Errors name the file, never its content.
    static std::unique_ptr<CertStore> load(const std::string& ca_file, const std::string& cert_file,
                                           const std::string& key_file, std::string* error);
    ~CertStore();
    CertStore(const CertStore&) = delete;
    CertStore& operator=(const CertStore&) = delete;

    std::vector<uint8_t> own_cert_der() const;
    // The CERTREQ data for our CA(s): concatenated SHA-1 of each CA's SubjectPublicKeyInfo (RFC 7296 3.7).
    std::vector<uint8_t> certreq_data() const;

    // Verifies `cert_der` (with intermediates, may be empty) against the CAs; on success the subject DN (DER)
    // and the subjectAltNames ("fqdn:...", "email:...", "ip:..." with IPv4 dotted and IPv6 as inet_ntop
    // writes it) for identity matching; an error is text without key material.
    struct Verified {
        std::vector<uint8_t> subject_der;
        std::vector<std::string> alt_names;
    };
    std::variant<Verified, std::string> verify(std::span<const uint8_t> cert_der,
                                               std::span<const std::vector<uint8_t>> intermediates) const;

    // The AUTH data with our key over `signed_octets`: method 14 (RFC 7427, SHA-256: AlgorithmIdentifier
    // length, AlgorithmIdentifier, signature; RSA PKCS#1 v1.5 or ECDSA's DER signature), 1 (an RSA key,
    // PKCS#1 v1.5 over SHA-1, as RFC 7296 defines it) or 9 (a P-256 key, SHA-256, r | s, 64 bytes). Empty
    // and `error` set when the method does not fit the key.
    std::vector<uint8_t> sign(uint8_t auth_method, std::span<const uint8_t> signed_octets, std::string* error) const;

    struct Impl;
    explicit CertStore(std::unique_ptr<Impl> impl);

private:
    std::unique_ptr<Impl> impl_;
};

// Verifies a peer's AUTH (methods 1, 9, 14) over signed_octets with the public key of cert_der (which the
// caller has verified with CertStore::verify). False for anything else: another method, a method that does
// not fit the key, a 7427 AlgorithmIdentifier other than sha256WithRSAEncryption / ecdsa-with-SHA256.
bool verify_auth(std::span<const uint8_t> cert_der, uint8_t auth_method, std::span<const uint8_t> auth_data,
                 std::span<const uint8_t> signed_octets);

} // namespace nemo::ike
