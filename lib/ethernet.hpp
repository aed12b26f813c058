// Ethernet II framing with at most one 802.1Q tag, and ARP for IPv4 over Ethernet (RFC 826).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "addr.hpp"
#include "bytes.hpp"
#include "result.hpp"

namespace nemo::wire {

inline constexpr std::size_t kEtherHeaderLen = 14;
inline constexpr std::size_t kArpLen = 28;

struct EtherView {
    MacAddr dst;
    MacAddr src;
    std::optional<uint16_t> vlan_tci;
    uint16_t ethertype = 0;
    std::size_t header_len = kEtherHeaderLen;
    std::span<const uint8_t> payload;
};

Result<EtherView> parse_ether(std::span<const uint8_t> bytes);
inline void write_ether_header(uint8_t* out, const MacAddr& dst, const MacAddr& src, uint16_t ethertype)
{
    dst.to_bytes(out);
    src.to_bytes(out + 6);
    store_be16(out + 12, ethertype);
}

namespace arp_op {
inline constexpr uint16_t request = 1;
inline constexpr uint16_t reply = 2;
} // namespace arp_op

struct ArpPacket {
    uint16_t op = 0;
    MacAddr sender_mac;
    Ipv4Addr sender_ip;
    MacAddr target_mac;
    Ipv4Addr target_ip;
};

// Errors: truncated; bad_value when hardware/protocol types or sizes are not Ethernet/IPv4.
Result<ArpPacket> parse_arp(std::span<const uint8_t> bytes);
void write_arp(uint8_t* out, const ArpPacket& arp);

} // namespace nemo::wire
