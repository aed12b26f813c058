// The ways a binding's traffic travels between the home agent and the mobile node, and how the draft's
// IPv4 Care-of Address option flags name them (NOTES.md, "What each flag combination means").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace nemo {

enum class TunnelMethod : uint8_t {
    ipv6,    // IPv6-in-IPv6 to an IPv6 care-of address (RFC 2473); also "arrived natively over IPv6"
    ipip,    // I: IPv6 directly in IPv4, protocol 41
    gre,     // R: GRE, protocol 47, protocol type 0x86DD
    udp,     // U: IPv6 in UDP in IPv4, HA port 4191
    esp,     // S: ESP tunnel mode over IPv4, protocol 50
    esp_udp, // S+U: ESP in UDP, port 4500
};
inline constexpr int kTunnelMethodCount = 6;

// A set of methods, one bit per TunnelMethod.
using MethodSet = uint8_t;
constexpr MethodSet method_bit(TunnelMethod m) { return static_cast<MethodSet>(1u << static_cast<unsigned>(m)); }
constexpr bool has_method(MethodSet set, TunnelMethod m) { return (set & method_bit(m)) != 0; }
inline constexpr MethodSet kAllIpv4Methods = method_bit(TunnelMethod::ipip) | method_bit(TunnelMethod::gre) |
                                             method_bit(TunnelMethod::udp) | method_bit(TunnelMethod::esp) |
                                             method_bit(TunnelMethod::esp_udp);
// Methods that work through a NAT: those carried in UDP.
inline constexpr MethodSet kNatMethods = method_bit(TunnelMethod::udp) | method_bit(TunnelMethod::esp_udp);

// The method a flags word asks for: exactly I, R, U, S, or S+U. Anything else (none, several
// transports, I+S, R+U, ...) is not a method.
std::optional<TunnelMethod> method_from_v4flags(uint16_t flags);
// The flags that name a method (0 for TunnelMethod::ipv6), and the union over a set.
uint16_t v4flags_of(TunnelMethod m);
uint16_t v4flags_of(MethodSet set);

inline bool uses_ipv4(TunnelMethod m) { return m != TunnelMethod::ipv6; }
std::string_view method_name(TunnelMethod m); // "ipv6", "ipip", "gre", "udp", "esp", "esp-udp"
std::optional<TunnelMethod> method_from_name(std::string_view name);

} // namespace nemo
