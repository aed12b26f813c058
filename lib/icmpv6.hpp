// ICMPv6 (RFC 4443) messages a home agent receives or sends: DHAAD Request/Reply (RFC 6275 6.5, 6.6,
// RFC 3963 7, the draft's I flag and IPv4 addresses), Mobile Prefix Solicitation/Advertisement
// (RFC 6275 6.7, 6.8) with Prefix Information options, Parameter Problem, Packet Too Big,
// Neighbor Solicitation/Advertisement (RFC 4861 4.3, 4.4).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "addr.hpp"
#include "result.hpp"

namespace nemo::wire {

namespace icmp6 {
inline constexpr uint8_t dest_unreachable = 1;
inline constexpr uint8_t packet_too_big = 2;
inline constexpr uint8_t time_exceeded = 3;
inline constexpr uint8_t param_problem = 4;
inline constexpr uint8_t echo_request = 128;
inline constexpr uint8_t echo_reply = 129;
inline constexpr uint8_t neighbor_solicit = 135;
inline constexpr uint8_t neighbor_advert = 136;
inline constexpr uint8_t redirect = 137;
inline constexpr uint8_t dhaad_request = 144;
inline constexpr uint8_t dhaad_reply = 145;
inline constexpr uint8_t mobile_prefix_solicit = 146;
inline constexpr uint8_t mobile_prefix_advert = 147;
} // namespace icmp6

// Flags of the 16-bit word after the identifier in DHAAD messages.
namespace dhaad_flag {
inline constexpr uint16_t R = 0x8000; // mobile router (RFC 3963)
inline constexpr uint16_t I = 0x4000; // IPv4 home agent addresses wanted / present (the draft, NOTES.md)
} // namespace dhaad_flag

namespace mpa_flag {
inline constexpr uint16_t M = 0x8000;
inline constexpr uint16_t O = 0x4000;
} // namespace mpa_flag

namespace nd_opt {
inline constexpr uint8_t source_lladdr = 1;
inline constexpr uint8_t target_lladdr = 2;
inline constexpr uint8_t prefix_info = 3;
inline constexpr uint8_t mtu = 5;
} // namespace nd_opt

namespace pio_flag {
inline constexpr uint8_t L = 0x80;
inline constexpr uint8_t A = 0x40;
inline constexpr uint8_t R = 0x20; // router address (RFC 6275 7.2)
} // namespace pio_flag

namespace na_flag {
inline constexpr uint8_t R = 0x80;
inline constexpr uint8_t S = 0x40;
inline constexpr uint8_t O = 0x20;
} // namespace na_flag

inline constexpr std::size_t kIcmpv6HeaderLen = 4;
inline constexpr std::size_t kIpv6MinMtu = 1280;
// The link-local all-nodes multicast address (RFC 4291 2.7.1): where DAD answers and unsolicited
// Neighbor Advertisements go.
inline const Ipv6Addr kAllNodes = *Ipv6Addr::parse("ff02::1");

struct Icmpv6View {
    uint8_t type = 0;
    uint8_t code = 0;
    uint16_t checksum = 0;
    std::span<const uint8_t> message; // whole message, header included
    std::span<const uint8_t> body() const { return message.subspan(kIcmpv6HeaderLen); }
};

Result<Icmpv6View> parse_icmpv6(std::span<const uint8_t> bytes);
bool icmpv6_checksum_ok(const Icmpv6View& v, const Ipv6Addr& src, const Ipv6Addr& dst);
void fill_icmpv6_checksum(std::span<uint8_t> message, const Ipv6Addr& src, const Ipv6Addr& dst);

// --- DHAAD ---
struct DhaadRequest {
    uint16_t id = 0;
    uint16_t flags = 0;
};
inline constexpr std::size_t kMaxHomeAgentAddresses = 32;
struct DhaadReply {
    uint16_t id = 0;
    uint16_t flags = 0;
    std::array<Ipv6Addr, kMaxHomeAgentAddresses> addresses{}; // IPv4 ones as ::ffff:a.b.c.d
    uint8_t count = 0;
    std::span<const Ipv6Addr> list() const { return {addresses.data(), count}; }
};
Result<DhaadRequest> parse_dhaad_request(const Icmpv6View& v);
Result<DhaadReply> parse_dhaad_reply(const Icmpv6View& v);
Result<std::size_t> build_dhaad_request(std::span<uint8_t> out, const DhaadRequest& req, const Ipv6Addr& src,
                                        const Ipv6Addr& dst);
// IPv6 addresses in preference order, then the IPv4 ones as IPv4-mapped addresses (NOTES.md).
Result<std::size_t> build_dhaad_reply(std::span<uint8_t> out, uint16_t id, uint16_t flags,
                                      std::span<const Ipv6Addr> ha_v6, std::span<const Ipv4Addr> ha_v4,
                                      const Ipv6Addr& src, const Ipv6Addr& dst);

// --- Mobile Prefix Discovery ---
struct PrefixInfo {
    uint8_t prefix_len = 0;
    uint8_t flags = 0; // pio_flag::*
    uint32_t valid_lifetime = 0;
    uint32_t preferred_lifetime = 0;
    Ipv6Addr prefix;
    friend bool operator==(const PrefixInfo&, const PrefixInfo&) = default;
};
inline constexpr std::size_t kMaxPrefixInfo = 16;
struct MobilePrefixAdvert {
    uint16_t id = 0;
    uint16_t flags = 0; // mpa_flag::*
    std::array<PrefixInfo, kMaxPrefixInfo> prefixes{};
    uint8_t count = 0;
    std::span<const PrefixInfo> list() const { return {prefixes.data(), count}; }
};
Result<uint16_t> parse_mobile_prefix_solicit(const Icmpv6View& v); // the identifier
Result<MobilePrefixAdvert> parse_mobile_prefix_advert(const Icmpv6View& v);
Result<std::size_t> build_mobile_prefix_solicit(std::span<uint8_t> out, uint16_t id, const Ipv6Addr& src,
                                                const Ipv6Addr& dst);
Result<std::size_t> build_mobile_prefix_advert(std::span<uint8_t> out, const MobilePrefixAdvert& mpa,
                                               const Ipv6Addr& src, const Ipv6Addr& dst);

// --- errors: Parameter Problem and Packet Too Big carry as much of the invoking packet as fits in
// the IPv6 minimum MTU (RFC 4443 2.4(c)). ---
struct Icmpv6Error {
    uint8_t type = 0;
    uint8_t code = 0;
    uint32_t param = 0; // pointer (Parameter Problem) or MTU (Packet Too Big)
    std::span<const uint8_t> invoking;
};
Result<Icmpv6Error> parse_icmpv6_error(const Icmpv6View& v);
Result<std::size_t> build_param_problem(std::span<uint8_t> out, uint8_t code, uint32_t pointer,
                                        std::span<const uint8_t> invoking, const Ipv6Addr& src,
                                        const Ipv6Addr& dst);
Result<std::size_t> build_packet_too_big(std::span<uint8_t> out, uint32_t mtu, std::span<const uint8_t> invoking,
                                         const Ipv6Addr& src, const Ipv6Addr& dst);
// Time Exceeded (RFC 4443 3.3); code 0: hop limit exceeded in transit.
Result<std::size_t> build_time_exceeded(std::span<uint8_t> out, uint8_t code, std::span<const uint8_t> invoking,
                                        const Ipv6Addr& src, const Ipv6Addr& dst);

// Whether an ICMPv6 error of `type` may be sent about `invoking` (an IPv6 packet, header first) that
// arrived in a frame to a link-layer group address when `link_multicast` (RFC 4443 2.4 (e)): never about
// an ICMPv6 error or a Redirect, never to a source that names no single node (unspecified, multicast), and
// about packets to an IPv6 or link-layer multicast address only when it is a Packet Too Big.
bool icmpv6_error_allowed(std::span<const uint8_t> invoking, uint8_t type, bool link_multicast);

// --- Neighbor Discovery ---
struct NeighborMessage {
    uint8_t flags = 0; // na_flag::* (advertisements)
    Ipv6Addr target;
    std::optional<MacAddr> lladdr; // source (NS) or target (NA) link-layer address option
};
// Errors besides framing: code not 0, an option of length 0 (RFC 4861 4.6), a multicast target.
Result<NeighborMessage> parse_neighbor_solicit(const Icmpv6View& v);
Result<NeighborMessage> parse_neighbor_advert(const Icmpv6View& v);
// RFC 4861 7.1.1: a solicitation from the unspecified address (Duplicate Address Detection) is valid
// only to the target's solicited-node multicast address and without a Source Link-Layer Address option.
bool dad_solicit_valid(const NeighborMessage& ns, const Ipv6Addr& dst);
Result<std::size_t> build_neighbor_solicit(std::span<uint8_t> out, const NeighborMessage& ns, const Ipv6Addr& src,
                                           const Ipv6Addr& dst);
Result<std::size_t> build_neighbor_advert(std::span<uint8_t> out, const NeighborMessage& na, const Ipv6Addr& src,
                                          const Ipv6Addr& dst);

} // namespace nemo::wire
