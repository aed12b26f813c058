// Mobility Header (RFC 6275 6.1): the common header, Binding Update, Binding Acknowledgement and
// Binding Error, and the checksum over the IPv6 pseudo-header.
#pragma once

#include <cstdint>
#include <span>

#include "addr.hpp"
#include "mobility_options.hpp"
#include "result.hpp"

namespace nemo::wire {

namespace mh_type {
inline constexpr uint8_t binding_refresh_request = 0;
inline constexpr uint8_t home_test_init = 1;
inline constexpr uint8_t care_of_test_init = 2;
inline constexpr uint8_t home_test = 3;
inline constexpr uint8_t care_of_test = 4;
inline constexpr uint8_t binding_update = 5;
inline constexpr uint8_t binding_ack = 6;
inline constexpr uint8_t binding_error = 7;
} // namespace mh_type

// Binding Update flags (16-bit word after the sequence number).
namespace bu_flag {
inline constexpr uint16_t A = 0x8000; // acknowledge
inline constexpr uint16_t H = 0x4000; // home registration
inline constexpr uint16_t L = 0x2000; // link-local address compatibility
inline constexpr uint16_t K = 0x1000; // key management mobility capability
inline constexpr uint16_t M = 0x0800; // MAP registration (RFC 5380)
inline constexpr uint16_t R = 0x0400; // mobile router (RFC 3963)
} // namespace bu_flag

// Binding Acknowledgement flags (8-bit field after the status).
namespace ba_flag {
inline constexpr uint8_t K = 0x80;
inline constexpr uint8_t R = 0x40; // mobile router (RFC 3963)
} // namespace ba_flag

namespace ba_status {
inline constexpr uint8_t accepted = 0;
inline constexpr uint8_t accepted_prefix_discovery = 1;
inline constexpr uint8_t unspecified = 128;
inline constexpr uint8_t prohibited = 129;
inline constexpr uint8_t insufficient_resources = 130;
inline constexpr uint8_t home_registration_not_supported = 131;
inline constexpr uint8_t not_home_subnet = 132;
inline constexpr uint8_t not_home_agent_for_mn = 133;
inline constexpr uint8_t dad_failed = 134;
inline constexpr uint8_t sequence_out_of_window = 135;
inline constexpr uint8_t expired_home_nonce = 136;
inline constexpr uint8_t expired_care_of_nonce = 137;
inline constexpr uint8_t expired_nonces = 138;
inline constexpr uint8_t registration_type_change = 139;
inline constexpr uint8_t mobile_router_not_supported = 140;     // RFC 3963
inline constexpr uint8_t invalid_prefix = 141;                  // RFC 3963
inline constexpr uint8_t not_authorized_for_prefix = 142;       // RFC 3963
inline constexpr uint8_t forwarding_setup_failed = 143;         // RFC 3963
inline constexpr uint8_t default_tunnel_method_unsupported = 144; // the draft (NOTES.md)
inline constexpr uint8_t default_invalid_care_of = 145;           // the draft (NOTES.md)
} // namespace ba_status

namespace be_status {
inline constexpr uint8_t unknown_binding_for_hao = 1;
inline constexpr uint8_t unrecognized_mh_type = 2;
} // namespace be_status

inline constexpr std::size_t kMhFixedHeader = 6; // proto, len, type, reserved, checksum

// A Mobility Header whose length fields agree with the buffer. `message` is the exact MH
// ((Header Len + 1) * 8 octets); bytes after it, if any, belong to Payload Proto.
struct MhView {
    uint8_t payload_proto = 0;
    uint8_t header_len = 0; // in 8-octet units, not counting the first 8 octets
    uint8_t type = 0;
    uint16_t checksum = 0;
    std::span<const uint8_t> message;
    std::span<const uint8_t> data() const { return message.subspan(kMhFixedHeader); }
};

Result<MhView> parse_mh(std::span<const uint8_t> bytes);

// The checksum computed over the pseudo-header and the message with its checksum field taken as zero.
// src is the home address when a Home Address option is present; dst the final destination
// when a type 2 routing header is present (RFC 6275 6.1.1).
uint16_t mh_checksum(std::span<const uint8_t> message, const Ipv6Addr& src, const Ipv6Addr& dst);
bool mh_checksum_ok(const MhView& mh, const Ipv6Addr& src, const Ipv6Addr& dst);

struct BindingUpdate {
    uint16_t seq = 0;
    uint16_t flags = 0;    // bu_flag::*
    uint16_t lifetime = 0; // in units of 4 seconds
    MobilityOptions options;

    bool has(uint16_t flag) const { return (flags & flag) != 0; }
    uint32_t lifetime_seconds() const { return uint32_t{lifetime} * 4; }
};

struct BindingAck {
    uint8_t status = 0;
    uint8_t flags = 0; // ba_flag::*
    uint16_t seq = 0;
    uint16_t lifetime = 0; // in units of 4 seconds
    MobilityOptions options;

    bool has(uint8_t flag) const { return (flags & flag) != 0; }
};

struct BindingError {
    uint8_t status = 0;
    Ipv6Addr home_address;
    MobilityOptions options;
};

// Message parsers take a parsed MH of the right type. A Header Len too small for the message's
// fixed part is Errc::bad_length with offset 1 (the Header Len field, for a Parameter Problem).
Result<BindingUpdate> parse_binding_update(const MhView& mh, const OptionTypes& types = {});
Result<BindingAck> parse_binding_ack(const MhView& mh, const OptionTypes& types = {});
Result<BindingError> parse_binding_error(const MhView& mh, const OptionTypes& types = {});

// Builders write the whole Mobility Header (payload proto 59), options aligned and padded to a multiple
// of 8 octets, checksum filled in for the given pseudo-header addresses. They return the length written.
Result<std::size_t> build_binding_update(std::span<uint8_t> out, const BindingUpdate& bu, const Ipv6Addr& src,
                                         const Ipv6Addr& dst, const OptionTypes& types = {});
Result<std::size_t> build_binding_ack(std::span<uint8_t> out, const BindingAck& ba, const Ipv6Addr& src,
                                      const Ipv6Addr& dst, const OptionTypes& types = {});
Result<std::size_t> build_binding_error(std::span<uint8_t> out, const BindingError& be, const Ipv6Addr& src,
                                        const Ipv6Addr& dst, const OptionTypes& types = {});

} // namespace nemo::wire
