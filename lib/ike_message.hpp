// IKEv2 messages (RFC 7296 section 3): the fixed header, the generic payload header and chain, and the
// payloads an IKE SA and its Child SAs need, parsed from and encoded to bytes. Pure code, no crypto:
// the Encrypted payload (SK) is handed over as bytes, and the plaintext found inside it is parsed with
// parse_payloads once the crypto has removed IV, padding and ICV.
//
// The parser is fed untrusted network input: every length is checked against what remains and against
// its structure's minimum, nothing is allocated beyond what the input's size accounts for, and there is
// no recursion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace nemo::ike {

enum class Exchange : uint8_t { ike_sa_init = 34, ike_auth = 35, create_child_sa = 36, informational = 37 };
enum class PayloadType : uint8_t { none = 0, sa = 33, ke = 34, idi = 35, idr = 36, cert = 37, certreq = 38, auth = 39,
    nonce = 40, notify = 41, del = 42, vendor = 43, tsi = 44, tsr = 45, sk = 46, cp = 47, eap = 48 };
namespace hdr_flag { inline constexpr uint8_t initiator = 0x08, version = 0x10, response = 0x20; }
inline constexpr std::size_t kHeaderLen = 28, kGenericHeaderLen = 4;
inline constexpr uint16_t kIkePort = 500, kNatTPort = 4500;
struct Header { uint64_t spi_i = 0, spi_r = 0; uint8_t next_payload = 0; uint8_t version = 0x20;
    Exchange exchange = Exchange::ike_sa_init; uint8_t flags = 0; uint32_t message_id = 0; uint32_t length = 0; };
// transform types and ids (RFC 7296 3.3.2 + IANA): ENCR=1 PRF=2 INTEG=3 DH=4 ESN=5
namespace tf { enum : uint8_t { encr = 1, prf = 2, integ = 3, dh = 4, esn = 5 }; }
namespace encr { enum : uint16_t { aes_cbc = 12, aes_gcm_16 = 20 }; }
namespace prf_id { enum : uint16_t { hmac_sha2_256 = 5 }; }
namespace integ { enum : uint16_t { none = 0, hmac_sha2_256_128 = 12 }; }
namespace dh { enum : uint16_t { none = 0, modp2048 = 14, ecp256 = 19, curve25519 = 31 }; }
namespace esn { enum : uint16_t { no = 0, yes = 1 }; }
namespace proto { enum : uint8_t { ike = 1, ah = 2, esp = 3 }; }
struct Transform { uint8_t type = 0; uint16_t id = 0; std::optional<uint16_t> key_length; // attribute 14 (TV)
    bool operator==(const Transform&) const = default; };
struct Proposal { uint8_t number = 1; uint8_t protocol = proto::ike; std::vector<uint8_t> spi; std::vector<Transform> transforms; };
struct SaPayload { std::vector<Proposal> proposals; };
struct KePayload { uint16_t group = 0; std::vector<uint8_t> data; };
struct IdPayload { bool responder = false; /* IDr (36) vs IDi (35) */ uint8_t id_type = 0; std::vector<uint8_t> data; };
namespace id_type { enum : uint8_t { ipv4 = 1, fqdn = 2, rfc822 = 3, ipv6 = 5, der_asn1_dn = 9, key_id = 11 }; }
struct CertPayload { uint8_t encoding = 4; /* X.509 signature */ std::vector<uint8_t> data; };
struct CertReqPayload { uint8_t encoding = 4; std::vector<uint8_t> data; };
struct AuthPayload { uint8_t method = 2; std::vector<uint8_t> data; };
namespace auth_method { enum : uint8_t { rsa_sig = 1, psk = 2, dss = 3, ecdsa_256 = 9, ecdsa_384 = 10, ecdsa_521 = 11, digital_signature = 14 }; }
struct NoncePayload { std::vector<uint8_t> data; };
struct NotifyPayload { uint8_t protocol = 0; std::vector<uint8_t> spi; uint16_t type = 0; std::vector<uint8_t> data; };
namespace notify { enum : uint16_t { unsupported_critical_payload = 1, invalid_ike_spi = 4, invalid_major_version = 5,
    invalid_syntax = 7, invalid_message_id = 9, invalid_spi = 11, no_proposal_chosen = 14, invalid_ke_payload = 17,
    authentication_failed = 24, single_pair_required = 34, no_additional_sas = 35, internal_address_failure = 36,
    failed_cp_required = 37, ts_unacceptable = 38, invalid_selectors = 39, temporary_failure = 43, child_sa_not_found = 44,
    initial_contact = 16384, set_window_size = 16385, additional_ts_possible = 16386, ipcomp_supported = 16387,
    nat_detection_source_ip = 16388, nat_detection_destination_ip = 16389, cookie = 16390, use_transport_mode = 16391,
    rekey_sa = 16393, esp_tfc_padding_not_supported = 16394, non_first_fragments_also = 16395,
    mobike_supported = 16396, additional_ip4_address = 16397, additional_ip6_address = 16398, no_additional_addresses = 16399,
    update_sa_addresses = 16400, cookie2 = 16401, no_nats_allowed = 16402, multiple_auth_supported = 16404,
    eap_only_authentication = 16417, ikev2_fragmentation_supported = 16430, signature_hash_algorithms = 16431 }; }
struct DeletePayload { uint8_t protocol = proto::esp; uint8_t spi_size = 4; std::vector<std::vector<uint8_t>> spis; };
struct VendorPayload { std::vector<uint8_t> data; };
struct TrafficSelector { uint8_t ts_type = 8; /* 7 IPv4 range, 8 IPv6 range */ uint8_t ip_protocol = 0;
    uint16_t start_port = 0, end_port = 0xFFFF; std::vector<uint8_t> start, end; // 4 or 16 bytes each
    bool operator==(const TrafficSelector&) const = default; };
struct TsPayload { bool responder = false; /* TSr (45) vs TSi (44) */ std::vector<TrafficSelector> selectors; };
struct CpPayload { uint8_t cfg_type = 1; std::vector<std::pair<uint16_t, std::vector<uint8_t>>> attributes; };
// The Encrypted payload (SK). Parsing stops at it (it MUST be the last payload): `offset` is where its
// generic header starts in the message, `first_inner` its Next Payload field, `body` everything after
// its generic header (IV, ciphertext, ICV), uninterpreted. Builders do not build SK (the crypto does,
// with write_header / write_generic_header below).
struct SkPayload { uint8_t first_inner = 0; std::size_t offset = 0; std::vector<uint8_t> body; };
struct UnknownPayload { uint8_t type = 0; bool critical = false; std::vector<uint8_t> body; };
using Payload = std::variant<SaPayload, KePayload, IdPayload, CertPayload, CertReqPayload, AuthPayload, NoncePayload,
    NotifyPayload, DeletePayload, VendorPayload, TsPayload, CpPayload, SkPayload, UnknownPayload>;
PayloadType payload_type(const Payload& p);  // the type number of a payload (IdPayload -> idi/idr by `responder`)

struct Message { Header header; std::vector<Payload> payloads; };
// Why a message or payload chain was refused; `unsupported_critical` carries the type for the
// UNSUPPORTED_CRITICAL_PAYLOAD notify (RFC 7296 2.5). The text never quotes payload bytes.
struct ParseError { enum class Kind : uint8_t { truncated, bad_length, bad_version, unsupported_critical, malformed, sk_not_last } kind;
    uint8_t payload = 0; std::string what; };

std::optional<Header> parse_header(std::span<const uint8_t> msg);                 // 28 bytes, no checks but size
std::variant<Message, ParseError> parse_message(std::span<const uint8_t> msg);    // header + payload chain (length field must equal msg size; major version 2)
// A chain of payloads alone (the plaintext inside SK, after the crypto removed IV, padding and ICV).
std::variant<std::vector<Payload>, ParseError> parse_payloads(uint8_t first, std::span<const uint8_t> bytes);
// The chain's bytes (next-payload fields and lengths filled in); *first gets the first payload's type.
std::vector<uint8_t> encode_payloads(std::span<const Payload> payloads, uint8_t* first);
// A whole message without SK: header (length and next_payload set from the payloads) + chain.
std::vector<uint8_t> build_message(Header h, std::span<const Payload> payloads);
void write_header(const Header& h, uint8_t* out28);                                // as given, nothing recomputed
void write_generic_header(uint8_t next, bool critical, uint16_t length, uint8_t* out4);
// Finders used by the state machine.
template <class T> const T* find(const std::vector<Payload>& ps);                  // the first payload of type T
const NotifyPayload* find_notify(const std::vector<Payload>& ps, uint16_t type);

// --- Additions beyond the interface above --------------------------------------------------------
//
// Notes on the builders: the payloads are written as given (a TrafficSelector's addresses, a Delete's
// SPIs, a Proposal's number are not checked, so that tests can build what the parser must refuse). An
// SkPayload in the list is written as its generic header (Next Payload = first_inner) and `body`, for
// a caller that already has the encrypted body; it only makes sense as the last one. A payload whose
// encoding does not fit its 16-bit length field (or a message over 2^32 - 1 bytes) makes
// encode_payloads and build_message return an empty vector (and *first = 0).

// A name for a ParseError kind ("truncated", "bad_length", ...), for logs.
const char* kind_name(ParseError::Kind k);
// The payloads' type numbers, in order (what the fuzz target and tests compare after a round trip).
std::vector<PayloadType> payload_types(const std::vector<Payload>& ps);

// The lengths of the fixed parts of each payload's body (after the 4-byte generic header).
inline constexpr std::size_t kProposalHeaderLen = 8, kTransformHeaderLen = 8, kTsHeaderLen = 8;
inline constexpr std::size_t kTsIpv4Len = 16, kTsIpv6Len = 40;
inline constexpr uint8_t kTsIpv4Range = 7, kTsIpv6Range = 8;
inline constexpr uint16_t kAttrKeyLength = 14;
inline constexpr std::size_t kNonceMin = 16, kNonceMax = 256; // RFC 7296 3.9

template <class T>
const T* find(const std::vector<Payload>& ps)
{
    for (const Payload& p : ps)
        if (const T* t = std::get_if<T>(&p)) return t;
    return nullptr;
}

} // namespace nemo::ike
