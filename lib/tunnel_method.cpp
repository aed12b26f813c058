#include "tunnel_method.hpp"

#include "mobility_options.hpp"

namespace nemo {

using wire::v4flag::I;
using wire::v4flag::R;
using wire::v4flag::S;
using wire::v4flag::U;

std::optional<TunnelMethod> method_from_v4flags(uint16_t flags)
{
    switch (flags & wire::v4flag::all) {
    case I: return TunnelMethod::ipip;
    case R: return TunnelMethod::gre;
    case U: return TunnelMethod::udp;
    case S: return TunnelMethod::esp;
    case S | U: return TunnelMethod::esp_udp;
    default: return std::nullopt;
    }
}

uint16_t v4flags_of(TunnelMethod m)
{
    switch (m) {
    case TunnelMethod::ipv6: return 0;
    case TunnelMethod::ipip: return I;
    case TunnelMethod::gre: return R;
    case TunnelMethod::udp: return U;
    case TunnelMethod::esp: return S;
    case TunnelMethod::esp_udp: return S | U;
    }
    return 0;
}

uint16_t v4flags_of(MethodSet set)
{
    uint16_t flags = 0;
    for (int i = 0; i < kTunnelMethodCount; ++i)
        if (has_method(set, static_cast<TunnelMethod>(i))) flags |= v4flags_of(static_cast<TunnelMethod>(i));
    return flags;
}

namespace {
constexpr std::string_view kNames[kTunnelMethodCount] = {"ipv6", "ipip", "gre", "udp", "esp", "esp-udp"};
}

std::string_view method_name(TunnelMethod m) { return kNames[static_cast<int>(m)]; }

std::optional<TunnelMethod> method_from_name(std::string_view name)
{
    for (int i = 0; i < kTunnelMethodCount; ++i)
        if (kNames[i] == name) return static_cast<TunnelMethod>(i);
    return std::nullopt;
}

} // namespace nemo
