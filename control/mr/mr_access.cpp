// The access side, with the kernel's sockets: raw IPv4 sockets for protocol 41 (I) and 47 (R, GRE), a UDP
// socket per router (U, to the HA's port 4191), and for IPv6 care-of addresses a raw IPv6 socket to send
// and a packet socket to read IPv6-in-IPv6 and the BAs (the kernel does not take type 2 routing headers
// without its MIPv6 support). Every header is written and read with lib/ (ipv4, gre, ipv6).
#include "mr.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "esp.hpp"
#include "gre.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "udp.hpp"

namespace nemo::mr {

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

int raw_v4(int proto, const std::string& dev, std::string& err)
{
    int fd = ::socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (fd < 0) { err = errno_text("raw IPv4 socket"); return -1; }
    int one = 1;
    if (::setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) != 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev.c_str(), static_cast<socklen_t>(dev.size())) != 0) {
        err = errno_text("raw IPv4 socket options");
        ::close(fd);
        return -1;
    }
    return fd;
}

sockaddr_in sin_of(Ipv4Addr a, uint16_t port)
{
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(a.value);
    return sa;
}

} // namespace

bool Access::open(const Options& o, std::string& err)
{
    ifindex_ = static_cast<int>(::if_nametoindex(o.access_interface.c_str()));
    if (ifindex_ == 0) { err = "access interface " + o.access_interface + ": " + std::strerror(errno); return false; }
    raw41_ = raw_v4(wire::ipproto::ipv6, o.access_interface, err);
    if (raw41_ < 0) return false;
    raw47_ = raw_v4(wire::ipproto::gre, o.access_interface, err);
    if (raw47_ < 0) return false;
    raw50_ = raw_v4(wire::ipproto::esp, o.access_interface, err);
    if (raw50_ < 0) return false;
    raw_out_ = raw_v4(IPPROTO_RAW, o.access_interface, err);
    if (raw_out_ < 0) return false;
    // IPv6 care-of addresses: optional (an IPv4-only access network may have IPv6 disabled).
    raw6_ = ::socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
    if (raw6_ >= 0)
        (void)::setsockopt(raw6_, SOL_SOCKET, SO_BINDTODEVICE, o.access_interface.c_str(),
                           static_cast<socklen_t>(o.access_interface.size()));
    packet6_ = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IPV6));
    if (packet6_ >= 0) {
        sockaddr_ll ll{};
        ll.sll_family = AF_PACKET;
        ll.sll_protocol = htons(ETH_P_IPV6);
        ll.sll_ifindex = ifindex_;
        if (::bind(packet6_, reinterpret_cast<sockaddr*>(&ll), sizeof ll) != 0) {
            ::close(packet6_);
            packet6_ = -1;
        }
    }
    return true;
}

bool Access::open_udp(Router& r, std::string& err)
{
    const uint16_t port = r.settings.udp_port;
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { err = errno_text("UDP socket"); return false; }
    int one = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa = sin_of(Ipv4Addr{}, port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        err = errno_text(("UDP port " + std::to_string(port)).c_str());
        ::close(fd);
        return false;
    }
    r.udp_fd = fd;
    return true;
}

bool Access::send(Router& r, TunnelMethod via, const CareOf& coa, Ipv4Addr ha4, const Ipv6Addr& ha6,
                  std::span<const uint8_t> inner)
{
    uint8_t buf[65536];
    if (via == TunnelMethod::ipv6) {
        // RFC 2473 / RFC 3963: IPv6-in-IPv6 from the CoA. A packet already from the CoA (a BU with its Home
        // Address option) goes as it is: the caller passes `ha6`'s packet with `coa` unspecified.
        if (raw6_ < 0 || !coa.is_v6()) return false;
        std::size_t n = 0;
        auto p = wire::parse_ipv6(inner);
        if (p && p->hdr.src == coa.v6) {
            if (inner.size() > sizeof buf) return false;
            std::copy(inner.begin(), inner.end(), buf);
            n = inner.size();
        } else {
            if (inner.size() + wire::kIpv6HeaderLen > sizeof buf) return false;
            wire::Ipv6Header h;
            h.src = coa.v6;
            h.dst = ha6;
            h.next_header = wire::ipproto::ipv6;
            h.hop_limit = 64;
            h.payload_len = static_cast<uint16_t>(inner.size());
            wire::write_ipv6_header(buf, h);
            std::copy(inner.begin(), inner.end(), buf + wire::kIpv6HeaderLen);
            n = inner.size() + wire::kIpv6HeaderLen;
        }
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        ha6.to_bytes(sa.sin6_addr.s6_addr);
        return ::sendto(raw6_, buf, n, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == static_cast<ssize_t>(n);
    }
    if (!coa.is_v4()) return false;
    const uint8_t tclass = inner.size() >= 2 ? static_cast<uint8_t>(((inner[0] & 0x0F) << 4) | (inner[1] >> 4)) : 0;
    // Every IPv4 packet is written whole (lib/ipv4, gre, udp, esp) and sent on one IPPROTO_RAW socket: the
    // kernel adds nothing, and no checksum is left to an offload a veth would never finish.
    const bool gre = via == TunnelMethod::gre;
    const bool esp = via == TunnelMethod::esp || via == TunnelMethod::esp_udp;
    const bool udp = via == TunnelMethod::udp || via == TunnelMethod::esp_udp;
    const std::size_t hdr = wire::kIpv4MinHeaderLen + (gre ? 4 : 0) + (udp ? wire::kUdpHeaderLen : 0);
    std::size_t body = inner.size();
    if (esp) {
        // Draft 5.1: ESP tunnel mode, the IPv6 packet inside; S+U in UDP to 4500 (RFC 3948).
        if (!r.esp_tx) return false;
        body = esp_seal(*r.esp_tx, imb_, inner, std::span<uint8_t>(buf + hdr, sizeof buf - hdr));
        if (body == 0) return false;
    } else {
        if (inner.size() + hdr > sizeof buf) return false;
        std::copy(inner.begin(), inner.end(), buf + hdr);
    }
    std::span<uint8_t> l4(buf + wire::kIpv4MinHeaderLen, body + hdr - wire::kIpv4MinHeaderLen);
    if (udp && esp) {
        wire::write_udp_header(l4, r.settings.udp_port, wire::kEspInUdpPort);
        wire::fill_udp_checksum_v4(l4, coa.v4, ha4);
    } else if (gre) {
        wire::GreHeader g;
        g.protocol = wire::ethertype::ipv6;
        wire::write_gre(l4, g);
    } else if (udp) {
        // Draft 9: IPv6 in UDP to the HA's port, from the router's port.
        wire::write_udp_header(l4, r.settings.udp_port, kHaUdpPort);
        wire::fill_udp_checksum_v4(l4, coa.v4, ha4);
    }
    wire::Ipv4Header h;
    h.tos = tclass; // RFC 6040 normal mode: the inner DSCP and ECN
    h.total_len = static_cast<uint16_t>(body + hdr);
    h.id = ip_id_++;
    h.ttl = 64;
    h.protocol = gre ? wire::ipproto::gre : udp ? wire::ipproto::udp : esp ? wire::ipproto::esp : wire::ipproto::ipv6;
    h.src = coa.v4;
    h.dst = ha4;
    wire::write_ipv4_header(buf, h);
    sockaddr_in sa = sin_of(ha4, 0);
    const std::size_t n = body + hdr;
    return ::sendto(raw_out_, buf, n, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == static_cast<ssize_t>(n);
}

std::span<uint8_t> Access::receive(int fd, TunnelMethod kind, std::span<uint8_t> buf, const Options& o,
                                   uint64_t& dropped, bool& esp)
{
    esp = false;
    auto from_ha4 = [&](Ipv4Addr a) { return std::find(o.ha4.begin(), o.ha4.end(), a) != o.ha4.end(); };
    if (kind == TunnelMethod::udp) {
        sockaddr_in sa{};
        socklen_t len = sizeof sa;
        ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&sa), &len);
        if (n <= 0) return {};
        if (!from_ha4(Ipv4Addr{ntohl(sa.sin_addr.s_addr)})) { ++dropped; return {}; }
        auto payload = buf.first(static_cast<std::size_t>(n));
        if (ntohs(sa.sin_port) == wire::kEspInUdpPort) {
            // RFC 3948 2.2/2.3: ESP, or a NAT keepalive / IKE marker (dropped).
            if (wire::classify_udp_encap(payload) != wire::UdpEncapKind::esp) { ++dropped; return {}; }
            esp = true;
            return payload;
        }
        if (ntohs(sa.sin_port) != kHaUdpPort) { ++dropped; return {}; }
        return payload;
    }
    if (kind == TunnelMethod::ipv6) {
        sockaddr_ll ll{};
        socklen_t len = sizeof ll;
        ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&ll), &len);
        if (n <= 0 || ll.sll_pkttype == PACKET_OUTGOING) return {};
        auto p = wire::parse_ipv6(buf.first(static_cast<std::size_t>(n)));
        if (!p) return {};
        const bool from_ha = std::find(o.ha6.begin(), o.ha6.end(), p->hdr.src) != o.ha6.end();
        if (!from_ha) return {}; // not ours: the kernel's business
        if (p->hdr.next_header == wire::ipproto::ipv6) // IPv6-in-IPv6 from the HA
            return buf.subspan(wire::kIpv6HeaderLen, p->payload.size());
        return buf.first(static_cast<std::size_t>(n));                    // native signaling (BA with RH2)
    }
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) return {};
    auto v4 = wire::parse_ipv4(buf.first(static_cast<std::size_t>(n)));
    if (!v4) { ++dropped; return {}; }
    if (!from_ha4(v4->hdr.src)) { ++dropped; return {}; } // draft 7.5: only the HA's tunnel
    // The views point into `buf`, which is ours to change: hand the payload back writable.
    auto writable = [&](std::span<const uint8_t> part) {
        return buf.subspan(static_cast<std::size_t>(part.data() - buf.data()), part.size());
    };
    if (kind == TunnelMethod::gre) {
        auto g = wire::parse_gre(v4->payload);
        if (!g || g->hdr.protocol != wire::ethertype::ipv6) { ++dropped; return {}; }
        return writable(g->payload);
    }
    esp = kind == TunnelMethod::esp;
    return writable(v4->payload);
}

CareOf Access::current_coa(const Options& o) const
{
    if (o.coa_family != "ipv6" && o.coa4) return CareOf::ipv4(*o.coa4);
    if (o.coa_family == "ipv6" && o.coa6) return CareOf::ipv6(*o.coa6);
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return CareOf::none();
    std::optional<Ipv4Addr> v4;
    std::optional<Ipv6Addr> v6;
    for (ifaddrs* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || o.access_interface != i->ifa_name) continue;
        if (i->ifa_addr->sa_family == AF_INET && !v4) {
            // The first IPv4 address getifaddrs lists is the interface's primary one.
            v4 = Ipv4Addr{ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr)};
        } else if (i->ifa_addr->sa_family == AF_INET6 && !v6) {
            Ipv6Addr a = Ipv6Addr::from_bytes(reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr.s6_addr);
            if (a.is_routable_unicast()) v6 = a;
        }
    }
    ::freeifaddrs(list);
    if (o.coa6) v6 = o.coa6;
    if (o.coa4) v4 = o.coa4;
    if (o.coa_family == "ipv4") return v4 ? CareOf::ipv4(*v4) : CareOf::none();
    if (o.coa_family == "ipv6") return v6 ? CareOf::ipv6(*v6) : CareOf::none();
    if (v6 && !o.ha6.empty()) return CareOf::ipv6(*v6);
    return v4 ? CareOf::ipv4(*v4) : CareOf::none();
}

} // namespace nemo::mr
