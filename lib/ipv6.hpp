// IPv6 header (RFC 8200) and the extension headers Mobile IPv6 signaling uses: the Home Address
// destination option (RFC 6275 6.3) and the type 2 routing header (RFC 6275 6.4). Other extension
// headers are walked over.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "addr.hpp"
#include "result.hpp"

namespace nemo::wire {

inline constexpr std::size_t kIpv6HeaderLen = 40;
inline constexpr uint8_t kHomeAddressOption = 201;

struct Ipv6Header {
    uint8_t traffic_class = 0;
    uint32_t flow_label = 0;
    uint16_t payload_len = 0;
    uint8_t next_header = 0;
    uint8_t hop_limit = 0;
    Ipv6Addr src;
    Ipv6Addr dst;
};

// The fixed header only. `payload` is bounded by Payload Length (bytes past it are link padding).
struct Ipv6View {
    Ipv6Header hdr;
    std::span<const uint8_t> payload;
};
Result<Ipv6View> parse_ipv6(std::span<const uint8_t> bytes);

// The packet with its extension headers walked: what signaling processing needs.
struct Ipv6Packet {
    Ipv6Header hdr;
    std::optional<Ipv6Addr> home_address;     // from a Home Address destination option
    std::optional<Ipv6Addr> rh2_home_address; // from a type 2 routing header
    uint8_t upper_proto = 0;                  // first header that is not an extension header we walk
    std::size_t upper_offset = 0;             // its offset from the start of the IPv6 header
    std::span<const uint8_t> upper;           // from there to the end of the payload

    // Pseudo-header addresses for upper-layer checksums (RFC 6275 6.1.1, 6.3, 6.4).
    const Ipv6Addr& checksum_src() const { return home_address ? *home_address : hdr.src; }
    const Ipv6Addr& checksum_dst() const { return rh2_home_address ? *rh2_home_address : hdr.dst; }
};

// Walks Hop-by-Hop, Destination Options, Routing and AH headers. Stops at the first other header
// (Mobility Header, ICMPv6, UDP, ESP, ...). Errors: a Fragment header (unsupported: reassembly happens
// before this), a routing header of another type with segments left, a type 2 header with a bad length
// or more than one segment, a malformed or repeated Home Address option, and a destination option of
// unknown type whose action bits say not to skip it (unknown_type, offset of the option).
Result<Ipv6Packet> parse_ipv6_packet(std::span<const uint8_t> bytes);

void write_ipv6_header(uint8_t* out, const Ipv6Header& h);

// Extension headers that a home agent sends: each is 24 octets.
inline constexpr std::size_t kHaoDestOptsLen = 24;
inline constexpr std::size_t kRh2Len = 24;
void write_hao_dest_opts(uint8_t* out, uint8_t next_header, const Ipv6Addr& home_address);
void write_rh2(uint8_t* out, uint8_t next_header, const Ipv6Addr& home_address);

} // namespace nemo::wire
