// The downstream fast path's outer headers: for each IPv4 method (I, R, U; S and S+U in front of the
// ESP packet) the Ethernet header, the outer IPv4 header and the method's header as one template, built
// once per burst (the gateway's MAC may change between bursts), copied in front of each packet with
// three 16-byte stores and patched where a packet differs: the IPv4 total length, DSCP and ECN, the far
// end's address, its checksum (the fixed words' sum is kept, so a packet adds three words), and for U
// and S+U the port and length. The bytes are those inline_encap::encap_v4 and esp_seal_finish write
// (tests/dpdk/test_encap_template.cpp holds them equal for every method, offload or not, over random
// packets and peers); it is the same encapsulation with the per-packet work that does not depend on the
// packet done once.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <cstring>

#include "bytes.hpp"
#include "checksum.hpp"
#include "ecn.hpp"
#include "encap.hpp"
#include "encap_ipv4_inline.hpp"
#include "esp.hpp"
#include "ethernet.hpp"
#include "gre.hpp"
#include "ipv4.hpp"
#include "proto.hpp"
#include "udp.hpp"

namespace nemo::dp {

struct alignas(64) OuterTemplate {
    alignas(64) uint8_t h[48] = {}; // Ethernet, IPv4, then GRE or UDP (none for S): `len` bytes of it
    uint16_t len = 0;               // 34 (I, S), 38 (R), 42 (U, S+U); 0: not built (no fast path for the method)
    uint16_t room = 0;              // the largest inner packet that fits the port's MTU
    bool offload = false;           // the NIC computes the IPv4 checksum
    bool udp = false;
    uint64_t sum = 0;               // the IPv4 header's words that are the same for every packet

    static constexpr uint16_t kIpAt = wire::kEtherHeaderLen;
    // For method m (ipip, gre, udp, esp or esp_udp) out of a port of `mtu` bytes: false for IPv6-in-IPv6.
    // For S and S+U what follows the template is the ESP packet (esp_seal_fast.hpp), the UDP source port
    // 4500 (RFC 3948).
    bool build(TunnelMethod m, const TunnelSelf& self, const LinkHeader& link, uint16_t mtu)
    {
        uint8_t protocol;
        uint16_t method_len;
        if (!layout(m, protocol, method_len)) return false;
        std::memset(h, 0, sizeof h);
        len = static_cast<uint16_t>(kIpAt + wire::kIpv4MinHeaderLen + method_len);
        const uint16_t overhead = encap_overhead(m); // what fits_tunnel allows for, the same room
        room = mtu > overhead ? static_cast<uint16_t>(mtu - overhead) : 0;
        offload = self.ipv4_cksum_offload;
        udp = m == TunnelMethod::udp || m == TunnelMethod::esp_udp;
        wire::write_ether_header(h, link.dst, link.src, wire::ethertype::ipv4);
        uint8_t* ip = h + kIpAt;
        // As write_outer_ipv4: version and length, its fixed words, the HA's address.
        const auto [w1, w2] = inline_encap::outer_ipv4_fixed(protocol);
        wire::store_be32(ip, 0x45u << 24);
        wire::store_be32(ip + 4, w1);
        wire::store_be32(ip + 8, w2);
        wire::store_be32(ip + 12, self.ipv4.value);
        sum = uint64_t{w1} + w2 + self.ipv4.value;
        uint8_t* after = ip + wire::kIpv4MinHeaderLen;
        if (m == TunnelMethod::gre) wire::write_gre_basic(after, wire::ethertype::ipv6);
        if (udp) wire::store_be16(after, m == TunnelMethod::udp ? self.udp_port : wire::kEspInUdpPort); // the rest per packet
        return true;
    }

    // The outer IPv4 protocol and the length of the method's header after it: encap_v4's for I, R and U;
    // ESP directly (S) or in UDP (S+U) as esp_seal_finish puts them.
    static bool layout(TunnelMethod m, uint8_t& protocol, uint16_t& method_len)
    {
        switch (m) {
        case TunnelMethod::esp: protocol = wire::ipproto::esp, method_len = 0; return true;
        case TunnelMethod::esp_udp: protocol = wire::ipproto::udp, method_len = wire::kUdpHeaderLen; return true;
        default: return inline_encap::v4_method_layout(m, protocol, method_len);
        }
    }

    // Whether the IPv6 packet of `ip_len` bytes at `ip`, in m's data, fits here: the MTU, and the
    // headroom for the template in front of it.
    bool fits(const rte_mbuf* m, const uint8_t* ip, uint32_t ip_len) const
    {
        return ip_len <= room && ip - static_cast<const uint8_t*>(m->buf_addr) >= len;
    }

    // Puts the template in front of that packet (fits() said yes; the mbuf is one segment), tunnelled
    // to `peer` (and `port`, for U and S+U) with outer traffic class `tos`; what lay before the IPv6
    // header and any link padding after it go. For S and S+U `ip6` is the ESP packet, `ip_len` its length.
    [[gnu::always_inline]] void apply(rte_mbuf* m, uint8_t* ip6, uint32_t ip_len, uint32_t peer, uint16_t port,
                                      uint8_t tos) const
    {
        uint8_t* p = ip6 - len;
        // Three 16-byte copies cover 34 to 48 bytes: the last overlaps the second and ends at len.
        std::memcpy(p, h, 16);
        std::memcpy(p + 16, h + 16, 16);
        std::memcpy(p + len - 16, h + len - 16, 16);
        const uint32_t total = len - kIpAt + ip_len;
        const uint32_t w0 = (0x45u << 24) | (uint32_t{outer_tos_on_encap(tos)} << 16) | total;
        uint8_t* ip = p + kIpAt;
        wire::store_be32(ip, w0);
        wire::store_be32(ip + 16, peer);
        if (offload) {
            m->l2_len = kIpAt & 0x7Fu;
            m->l3_len = wire::kIpv4MinHeaderLen;
            m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
        } else {
            wire::store_be16(ip + 10, wire::finish_checksum(sum + w0 + peer));
        }
        if (udp) {
            wire::store_be16(ip + 22, port);
            wire::store_be16(ip + 24, static_cast<uint16_t>(wire::kUdpHeaderLen + ip_len));
        }
        m->data_off = static_cast<uint16_t>(p - static_cast<uint8_t*>(m->buf_addr));
        m->data_len = static_cast<uint16_t>(len + ip_len);
        m->pkt_len = len + ip_len;
    }
};
static_assert(sizeof(OuterTemplate) == 64, "one cache line, indexed by a shift");

} // namespace nemo::dp
