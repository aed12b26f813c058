// IPv4 header (RFC 791): parse with header checksum and length checks (options skipped), and write.
#pragma once

#include <cstdint>
#include <span>

#include "addr.hpp"
#include "result.hpp"

namespace nemo::wire {

inline constexpr std::size_t kIpv4MinHeaderLen = 20;
inline constexpr uint16_t kIpv4FlagDF = 0x4000;
inline constexpr uint16_t kIpv4FlagMF = 0x2000;
inline constexpr uint16_t kIpv4FragOffsetMask = 0x1FFF;

struct Ipv4Header {
    uint8_t tos = 0;
    uint16_t total_len = 0;
    uint16_t id = 0;
    uint16_t frag = 0; // flags and fragment offset, as on the wire
    uint8_t ttl = 64;
    uint8_t protocol = 0;
    uint16_t checksum = 0;
    Ipv4Addr src;
    Ipv4Addr dst;

    bool is_fragment() const { return (frag & (kIpv4FlagMF | kIpv4FragOffsetMask)) != 0; }
};

struct Ipv4View {
    Ipv4Header hdr;
    uint8_t header_len = 0;            // IHL * 4
    std::span<const uint8_t> payload; // bounded by Total Length
};

enum class ChecksumCheck : bool { skip, verify };

// Errors: truncated, bad_version, bad_length (IHL < 5, Total Length smaller than the header or larger
// than the buffer), bad_checksum. `verify` may be skipped when a NIC has already checked it.
Result<Ipv4View> parse_ipv4(std::span<const uint8_t> bytes, ChecksumCheck check = ChecksumCheck::verify);

// Writes a 20-octet header (no options) with its checksum computed; hdr.checksum is ignored.
void write_ipv4_header(uint8_t* out, const Ipv4Header& hdr);

} // namespace nemo::wire
