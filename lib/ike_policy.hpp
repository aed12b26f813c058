// IKEv2's protocol decisions as pure functions (RFC 7296, RFC 4877, the draft's section 5.2): which of an
// initiator's proposals the home agent takes, for the IKE SA and for a CHILD_SA, and how a router's traffic
// selectors are narrowed to what its provisioning authorizes. The responder (control/ike/) acts on them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "addr.hpp"
#include "esp_transform.hpp"
#include "ike_message.hpp"

namespace nemo::ike {

// The IKE SA's algorithms: ENCR (with its key length), PRF, INTEG (none with an AEAD cipher), DH group.
struct IkeChoice {
    uint8_t proposal = 1; // the initiator's proposal number, echoed in the answer
    uint16_t encr = 0;
    uint16_t key_bits = 0;
    uint16_t prf = 0;
    uint16_t integ = integ::none;
    uint16_t dh = dh::none;
};

// A CHILD_SA's: the ESP transform of the SA table, ESN or not, the peer's SPI, and a DH group when the
// exchange does PFS (CREATE_CHILD_SA with a KE payload).
struct EspChoice {
    uint8_t proposal = 1;
    uint32_t peer_spi = 0;
    EspAlgorithm algorithm = EspAlgorithm::aes_gcm_128;
    bool esn = false;
    uint16_t dh = dh::none;
};

// What the operator allows (ike.* settings); by default everything this home agent implements.
struct IkeAlgorithms {
    std::vector<uint16_t> dh_groups{dh::ecp256, dh::curve25519, dh::modp2048};
    bool gcm128 = true, gcm256 = true, cbc128_sha256 = true;
};

// Why a choice failed: which notify the answer carries.
enum class NoChoice : uint8_t { no_proposal, wrong_ke_group };

// The first of the initiator's IKE proposals (RFC 7296 2.7: the initiator's order of preference) of
// which every transform type has one this home agent accepts; within a type the initiator's first.
// Proposals for another protocol are skipped; an AEAD cipher takes no INTEG but NONE.
// `ke_group`: the KE payload's group; within the chosen proposal it is taken when offered and allowed
// (saving the initiator an INVALID_KE_PAYLOAD round trip), else the initiator's first allowed group.
std::optional<IkeChoice> choose_ike_proposal(const SaPayload& sa, const IkeAlgorithms& allowed, uint16_t ke_group = dh::none);
// An ESP proposal. `ke_group`: the KE payload's group in a CREATE_CHILD_SA (PFS), dh::none without one
// (IKE_AUTH: any DH transform offered there is ignored, RFC 7296 1.2). A proposal whose SPI is not 4
// bytes, or zero, is skipped.
std::optional<EspChoice> choose_esp_proposal(const SaPayload& sa, uint16_t ke_group, const IkeAlgorithms& allowed);
// The SA payload of the answer: the chosen proposal alone, one transform per type, with our SPI (8
// bytes for IKE in a rekey, 4 for ESP, none in IKE_SA_INIT).
SaPayload answer_ike_proposal(const IkeChoice& c, std::span<const uint8_t> spi = {});
SaPayload answer_esp_proposal(const EspChoice& c, uint32_t our_spi);
// The IKE SA's cipher names, for `show ike` ("aes-gcm16-128/prf-hmac-sha256/ecp256").
std::string ike_choice_name(const IkeChoice& c);
std::string dh_group_name(uint16_t g);
// The ESP algorithm of the SA table that an ENCR + INTEG pair is.
std::optional<EspAlgorithm> esp_algorithm_of(uint16_t encr_id, uint16_t key_bits, uint16_t integ_id);

// Traffic selectors. The router's side (TSi) is narrowed to its home address and mobile network prefixes
// (RFC 4877 4.2, 4.3; the draft 5.2: BU/BA between the home address and the home agent, the mobile
// network's traffic to and from anywhere); the home agent's side (TSr) is left as proposed: "any"
// reaches the correspondents. Only IPv6 selectors are kept: the inner traffic is IPv6. Protocol and
// port ranges are kept as proposed. An empty result: TS_UNACCEPTABLE.
std::vector<TrafficSelector> narrow_initiator_ts(std::span<const TrafficSelector> proposed, const Ipv6Addr& hoa,
                                                 std::span<const Prefix6> prefixes);
std::vector<TrafficSelector> narrow_responder_ts(std::span<const TrafficSelector> proposed);
// The selector covering one prefix, all protocols and ports.
TrafficSelector ts_of(const Prefix6& p);
std::string ts_text(const TrafficSelector& ts); // "2001:db8::/48" or "a-b", with "proto/ports" when narrowed

// An IKE identity as operators write it (`mr ... ike-id=ID`, the PSK file): "fqdn:NAME", "email:ADDR",
// "ip:ADDR" or "keyid:HEX"; a bare name is an FQDN, a bare word with '@' an e-mail address, a bare
// address an IP address. The canonical text of an ID payload matches the canonical text of the setting.
std::optional<std::string> canonical_id(std::string_view text);
std::optional<std::string> canonical_id(const IdPayload& id);
// The ID payload for our own identity (canonical text), for IDr.
IdPayload id_payload(const std::string& canonical, bool responder);

} // namespace nemo::ike
