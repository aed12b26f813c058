// IPv4 and IPv6 addresses, IPv6 prefixes and MAC addresses: value types with text forms.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace nemo {

struct Ipv4Addr {
    uint32_t value = 0; // host byte order

    static Ipv4Addr from_bytes(const uint8_t* p)
    {
        return {(uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]}};
    }
    void to_bytes(uint8_t* p) const
    {
        p[0] = static_cast<uint8_t>(value >> 24);
        p[1] = static_cast<uint8_t>(value >> 16);
        p[2] = static_cast<uint8_t>(value >> 8);
        p[3] = static_cast<uint8_t>(value);
    }
    static std::optional<Ipv4Addr> parse(std::string_view text);
    std::string str() const;

    bool is_unspecified() const { return value == 0; }
    bool is_multicast() const { return (value >> 28) == 0xE; }
    bool is_broadcast() const { return value == 0xFFFFFFFFu; }
    bool is_loopback() const { return (value >> 24) == 127; }

    friend auto operator<=>(const Ipv4Addr&, const Ipv4Addr&) = default;
};

struct Ipv6Addr {
    std::array<uint8_t, 16> bytes{};

    static Ipv6Addr from_bytes(const uint8_t* p)
    {
        Ipv6Addr a;
        std::memcpy(a.bytes.data(), p, 16);
        return a;
    }
    void to_bytes(uint8_t* p) const { std::memcpy(p, bytes.data(), 16); }
    static std::optional<Ipv6Addr> parse(std::string_view text);
    std::string str() const;

    static Ipv6Addr v4_mapped(Ipv4Addr v4);
    bool is_v4_mapped() const;
    Ipv4Addr mapped_v4() const { return Ipv4Addr::from_bytes(bytes.data() + 12); }

    bool is_unspecified() const;
    bool is_loopback() const;
    bool is_multicast() const { return bytes[0] == 0xFF; }
    bool is_link_local() const { return bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80; }
    // A global or unique-local unicast address: what a home address or a care-of address must be.
    bool is_routable_unicast() const
    {
        return !is_unspecified() && !is_loopback() && !is_multicast() && !is_link_local() && !is_v4_mapped();
    }
    // Solicited-node multicast address (RFC 4291 2.7.1) for this address.
    Ipv6Addr solicited_node() const;

    friend auto operator<=>(const Ipv6Addr&, const Ipv6Addr&) = default;
    // Two 64-bit words, not a call to memcmp: the fast path compares addresses per packet.
    friend bool operator==(const Ipv6Addr& a, const Ipv6Addr& b)
    {
        uint64_t a0, a1, b0, b1;
        std::memcpy(&a0, a.bytes.data(), 8);
        std::memcpy(&a1, a.bytes.data() + 8, 8);
        std::memcpy(&b0, b.bytes.data(), 8);
        std::memcpy(&b1, b.bytes.data() + 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
};

struct Prefix6 {
    Ipv6Addr addr; // host bits are zero (parse and make() enforce it)
    uint8_t len = 0;

    static Prefix6 make(const Ipv6Addr& a, uint8_t len); // masks the host bits; len clamped to 128
    static std::optional<Prefix6> parse(std::string_view text); // "2001:db8::/48"
    std::string str() const;
    bool contains(const Ipv6Addr& a) const;
    bool contains(const Prefix6& p) const { return p.len >= len && contains(p.addr); }
    bool overlaps(const Prefix6& p) const { return contains(p) || p.contains(*this); }

    friend auto operator<=>(const Prefix6&, const Prefix6&) = default;
};

Ipv6Addr mask_addr(const Ipv6Addr& a, uint8_t len);

struct MacAddr {
    std::array<uint8_t, 6> bytes{};

    static MacAddr from_bytes(const uint8_t* p)
    {
        MacAddr m;
        std::memcpy(m.bytes.data(), p, 6);
        return m;
    }
    void to_bytes(uint8_t* p) const { std::memcpy(p, bytes.data(), 6); }
    static std::optional<MacAddr> parse(std::string_view text);
    std::string str() const;
    bool is_broadcast() const { return bytes == std::array<uint8_t, 6>{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}; }
    bool is_multicast() const { return (bytes[0] & 1) != 0; }
    // 33:33:xx:xx:xx:xx for an IPv6 multicast group (RFC 2464 7).
    static MacAddr ipv6_multicast(const Ipv6Addr& group);

    friend auto operator<=>(const MacAddr&, const MacAddr&) = default;
};

} // namespace nemo
