// Protocol numbers and type codes shared by the wire formats.
#pragma once

#include <cstdint>

namespace nemo::wire {

namespace ipproto {
inline constexpr uint8_t hop_by_hop = 0;
inline constexpr uint8_t icmp = 1;
inline constexpr uint8_t ipv4 = 4;
inline constexpr uint8_t tcp = 6;
inline constexpr uint8_t udp = 17;
inline constexpr uint8_t ipv6 = 41;
inline constexpr uint8_t routing = 43;
inline constexpr uint8_t fragment = 44;
inline constexpr uint8_t gre = 47;
inline constexpr uint8_t esp = 50;
inline constexpr uint8_t ah = 51;
inline constexpr uint8_t icmpv6 = 58;
inline constexpr uint8_t no_next = 59;
inline constexpr uint8_t dest_opts = 60;
inline constexpr uint8_t mobility = 135;
} // namespace ipproto

namespace ethertype {
inline constexpr uint16_t ipv4 = 0x0800;
inline constexpr uint16_t arp = 0x0806;
inline constexpr uint16_t vlan = 0x8100;
inline constexpr uint16_t ipv6 = 0x86DD;
} // namespace ethertype

} // namespace nemo::wire
