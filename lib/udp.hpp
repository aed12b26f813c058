// UDP (RFC 768) with its checksum over the IPv4 or IPv6 pseudo-header.
#pragma once

#include <cstdint>
#include <span>

#include "addr.hpp"
#include "bytes.hpp"
#include "result.hpp"

namespace nemo::wire {

inline constexpr std::size_t kUdpHeaderLen = 8;

struct UdpView {
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint16_t length = 0;
    uint16_t checksum = 0;
    std::span<const uint8_t> datagram; // header and payload, bounded by Length
    std::span<const uint8_t> payload;
};

// Errors: truncated, bad_length (Length below 8 or past the buffer). Checksums are checked apart.
Result<UdpView> parse_udp(std::span<const uint8_t> bytes);

// Over IPv4 a zero checksum means "none" and passes; over IPv6 it does not (RFC 8200 8.1).
bool udp_checksum_ok_v4(const UdpView& udp, Ipv4Addr src, Ipv4Addr dst);
bool udp_checksum_ok_v6(const UdpView& udp, const Ipv6Addr& src, const Ipv6Addr& dst);

// Writes the 8-octet header; the payload must already follow it in `datagram` (header + payload).
// The checksum is computed when a pseudo-header is given, else left zero (IPv4 only).
// Inline: the encapsulations write one per packet.
inline void write_udp_header(std::span<uint8_t> datagram, uint16_t src_port, uint16_t dst_port)
{
    store_be16(datagram.data(), src_port);
    store_be16(datagram.data() + 2, dst_port);
    store_be16(datagram.data() + 4, static_cast<uint16_t>(datagram.size()));
    store_be16(datagram.data() + 6, 0);
}
void fill_udp_checksum_v4(std::span<uint8_t> datagram, Ipv4Addr src, Ipv4Addr dst);
void fill_udp_checksum_v6(std::span<uint8_t> datagram, const Ipv6Addr& src, const Ipv6Addr& dst);

} // namespace nemo::wire
