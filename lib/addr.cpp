#include "addr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

namespace nemo {

std::optional<Ipv4Addr> Ipv4Addr::parse(std::string_view text)
{
    if (text.size() > INET_ADDRSTRLEN - 1) return std::nullopt;
    char buf[INET_ADDRSTRLEN] = {};
    text.copy(buf, text.size());
    uint8_t raw[4];
    if (inet_pton(AF_INET, buf, raw) != 1) return std::nullopt;
    return from_bytes(raw);
}

std::string Ipv4Addr::str() const
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", value >> 24, (value >> 16) & 0xFF, (value >> 8) & 0xFF,
                  value & 0xFF);
    return buf;
}

std::optional<Ipv6Addr> Ipv6Addr::parse(std::string_view text)
{
    if (text.size() > INET6_ADDRSTRLEN - 1) return std::nullopt;
    char buf[INET6_ADDRSTRLEN] = {};
    text.copy(buf, text.size());
    Ipv6Addr a;
    if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
    return a;
}

std::string Ipv6Addr::str() const
{
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

Ipv6Addr Ipv6Addr::v4_mapped(Ipv4Addr v4)
{
    Ipv6Addr a;
    a.bytes[10] = 0xFF;
    a.bytes[11] = 0xFF;
    v4.to_bytes(a.bytes.data() + 12);
    return a;
}

bool Ipv6Addr::is_v4_mapped() const
{
    for (int i = 0; i < 10; ++i)
        if (bytes[i] != 0) return false;
    return bytes[10] == 0xFF && bytes[11] == 0xFF;
}

bool Ipv6Addr::is_unspecified() const { return *this == Ipv6Addr{}; }

bool Ipv6Addr::is_loopback() const
{
    Ipv6Addr one;
    one.bytes[15] = 1;
    return *this == one;
}

Ipv6Addr Ipv6Addr::solicited_node() const
{
    Ipv6Addr a;
    a.bytes[0] = 0xFF;
    a.bytes[1] = 0x02;
    a.bytes[11] = 0x01;
    a.bytes[12] = 0xFF;
    a.bytes[13] = bytes[13];
    a.bytes[14] = bytes[14];
    a.bytes[15] = bytes[15];
    return a;
}

Ipv6Addr mask_addr(const Ipv6Addr& a, uint8_t len)
{
    Ipv6Addr m = a;
    for (unsigned i = 0; i < 16; ++i) {
        unsigned bits_before = i * 8;
        if (len >= bits_before + 8) continue;
        if (len <= bits_before) {
            m.bytes[i] = 0;
        } else {
            m.bytes[i] &= static_cast<uint8_t>(0xFF << (8 - (len - bits_before)));
        }
    }
    return m;
}

Prefix6 Prefix6::make(const Ipv6Addr& a, uint8_t len)
{
    if (len > 128) len = 128;
    return Prefix6{mask_addr(a, len), len};
}

std::optional<Prefix6> Prefix6::parse(std::string_view text)
{
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto addr = Ipv6Addr::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    auto len_text = text.substr(slash + 1);
    unsigned len = 0;
    auto [ptr, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (ec != std::errc{} || ptr != len_text.data() + len_text.size() || len_text.empty() || len > 128)
        return std::nullopt;
    // Host bits set ("2001:db8::1/48") is a typo an operator wants to hear about, not a silent fix.
    if (mask_addr(*addr, static_cast<uint8_t>(len)) != *addr) return std::nullopt;
    return Prefix6{*addr, static_cast<uint8_t>(len)};
}

std::string Prefix6::str() const { return addr.str() + "/" + std::to_string(len); }

bool Prefix6::contains(const Ipv6Addr& a) const
{
    // Two 64-bit masked compares: this runs per packet in the data plane.
    uint64_t x[2], y[2];
    std::memcpy(x, a.bytes.data(), 16);
    std::memcpy(y, addr.bytes.data(), 16);
    const auto mask_of = [](unsigned bits) -> uint64_t {
        if (bits == 0) return 0;
        if (bits >= 64) return ~uint64_t{0};
        return __builtin_bswap64(~uint64_t{0} << (64 - bits)); // big-endian bytes in a little-endian word
    };
    const unsigned l = len;
    const uint64_t m0 = mask_of(l > 64 ? 64 : l), m1 = mask_of(l > 64 ? l - 64 : 0);
    return ((x[0] ^ y[0]) & m0) == 0 && ((x[1] ^ y[1]) & m1) == 0;
}

std::optional<MacAddr> MacAddr::parse(std::string_view text)
{
    if (text.size() != 17) return std::nullopt;
    MacAddr m;
    for (int i = 0; i < 6; ++i) {
        const char* p = text.data() + i * 3;
        if (i < 5 && p[2] != ':') return std::nullopt;
        unsigned v = 0;
        auto [end, ec] = std::from_chars(p, p + 2, v, 16);
        if (ec != std::errc{} || end != p + 2) return std::nullopt;
        m.bytes[i] = static_cast<uint8_t>(v);
    }
    return m;
}

std::string MacAddr::str() const
{
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3],
                  bytes[4], bytes[5]);
    return buf;
}

MacAddr MacAddr::ipv6_multicast(const Ipv6Addr& group)
{
    return MacAddr{{0x33, 0x33, group.bytes[12], group.bytes[13], group.bytes[14], group.bytes[15]}};
}

} // namespace nemo
