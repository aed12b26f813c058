// ESP (RFC 4303) header and trailer layout, and the UDP encapsulation of RFC 3948. Cryptography is
// elsewhere: these functions only frame and check what surrounds the ciphertext.
#pragma once

#include <bit>
#include <cstdint>
#include <span>

#include "bytes.hpp"
#include "result.hpp"

namespace nemo::wire {

inline constexpr std::size_t kEspHeaderLen = 8;  // SPI + sequence number
inline constexpr std::size_t kEspTrailerLen = 2; // pad length + next header
inline constexpr uint16_t kEspInUdpPort = 4500;
inline constexpr uint16_t kIkeUdpPort = 500; // IKEv2 (RFC 7296 2): port 500, then 4500 with the non-ESP marker

struct EspView {
    uint32_t spi = 0;
    uint32_t seq = 0;
    std::span<const uint8_t> body; // IV, ciphertext and ICV, as the SA's algorithm lays them out
};

// Errors: truncated; bad_value for SPI 0 (reserved, RFC 4303 2.1).
Result<EspView> parse_esp(std::span<const uint8_t> bytes);
inline void write_esp_header(uint8_t* out, uint32_t spi, uint32_t seq) // inline: once per packet sealed
{
    store_be32(out, spi);
    store_be32(out + 4, seq);
}

// The decrypted payload, split into the inner packet and its trailer.
struct EspTrailer {
    uint8_t pad_len = 0;
    uint8_t next_header = 0;
    std::span<const uint8_t> inner; // plaintext without padding and trailer
};

// `plaintext` is everything decrypted (inner packet, padding, pad length, next header).
// Errors: truncated; bad_length when Pad Length runs past the start; bad_value when the padding is not
// the 1, 2, 3, ... sequence RFC 4303 2.4 prescribes for the default scheme.
Result<EspTrailer> parse_esp_trailer(std::span<const uint8_t> plaintext);

// Padding needed after `inner_len` octets so that inner + padding + trailer is a multiple of `block`
// (at least 4, RFC 4303 2.4). Cipher blocks are powers of two; another `block` is rounded up to one.
// Inline and without a division: the worker calls it for every ESP packet.
inline std::size_t esp_pad_len(std::size_t inner_len, std::size_t block)
{
    const std::size_t b = block <= 4 ? 4 : std::bit_ceil(block);
    return (b - ((inner_len + kEspTrailerLen) & (b - 1))) & (b - 1);
}

// Writes padding and trailer after the inner packet: `out` starts right after it and must hold
// pad_len + 2 octets. Returns the number of octets written.
inline std::size_t write_esp_trailer(uint8_t* out, std::size_t pad_len, uint8_t next_header)
{
    for (std::size_t i = 0; i < pad_len; ++i) out[i] = static_cast<uint8_t>(i + 1);
    out[pad_len] = static_cast<uint8_t>(pad_len);
    out[pad_len + 1] = next_header;
    return pad_len + kEspTrailerLen;
}

// What a UDP datagram on port 4500 carries (RFC 3948 2.2, 2.3, and the IKE non-ESP marker).
enum class UdpEncapKind : uint8_t { esp, nat_keepalive, ike, malformed };
UdpEncapKind classify_udp_encap(std::span<const uint8_t> udp_payload);

} // namespace nemo::wire
