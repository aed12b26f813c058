// GRE (RFC 2784) with the Key and Sequence Number extensions (RFC 2890).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "bytes.hpp"
#include "result.hpp"

namespace nemo::wire {

namespace gre_flag {
inline constexpr uint16_t C = 0x8000; // checksum present
inline constexpr uint16_t K = 0x2000; // key present
inline constexpr uint16_t S = 0x1000; // sequence number present
} // namespace gre_flag

struct GreHeader {
    uint16_t protocol = 0;
    bool checksum = false;
    std::optional<uint32_t> key;
    std::optional<uint32_t> seq;

    std::size_t size() const { return 4 + (checksum ? 4 : 0) + (key ? 4 : 0) + (seq ? 4 : 0); }
};

// The 4-byte header without checksum, key or sequence number (what the tunnels send, RFC 2784):
// inline, once per packet.
inline void write_gre_basic(uint8_t* p, uint16_t protocol)
{
    store_be16(p, 0);
    store_be16(p + 2, protocol);
}

struct GreView {
    GreHeader hdr;
    std::span<const uint8_t> payload;
};

// Errors: truncated; bad_version (version not 0); bad_value (routing bit or bits 4-5 set: RFC 2784 says
// discard unless RFC 1701 is implemented); bad_checksum when C is set and the checksum fails.
Result<GreView> parse_gre(std::span<const uint8_t> bytes);

// Writes the header for `hdr` at the start of `packet` (header followed by payload) and, when
// hdr.checksum is set, the checksum over the whole of `packet`.
void write_gre(std::span<uint8_t> packet, const GreHeader& hdr);

} // namespace nemo::wire
