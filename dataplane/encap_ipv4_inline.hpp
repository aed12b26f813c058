// The IPv4 encapsulations' bodies, inline: encap_ipv4.cpp exports them (encap.hpp), and the
// downstream loop (worker_downstream.cpp) takes them inline, saving a call and its register saves on
// every packet of the I, R and U methods.
#pragma once

#include <rte_mbuf.h>

#include "bytes.hpp"
#include "checksum.hpp"
#include "ecn.hpp"
#include "encap.hpp"
#include "ethernet.hpp"
#include "gre.hpp"
#include "inner_tc.hpp"
#include "ipv4.hpp"
#include "proto.hpp"
#include "udp.hpp"

namespace nemo::dp::inline_encap {

// The words of the outer IPv4 header that are the same for every packet of one protocol: DF (word 1),
// TTL 64 and the protocol (word 2, checksum zero). write_outer_ipv4 and the downstream fast path's
// templates (encap_template.hpp) both take them from here.
struct OuterIpv4Fixed {
    uint32_t w1, w2;
};
inline OuterIpv4Fixed outer_ipv4_fixed(uint8_t protocol)
{
    return {wire::kIpv4FlagDF, (64u << 24) | (uint32_t{protocol} << 16)};
}

// What an IPv4 method without keys puts after the outer IPv4 header: the IPv4 protocol and the length
// of its own header (0 for I, 4 for R's basic GRE header, 8 for U's UDP header). False for the others.
inline bool v4_method_layout(TunnelMethod m, uint8_t& protocol, uint16_t& method_len)
{
    switch (m) {
    case TunnelMethod::ipip: protocol = wire::ipproto::ipv6, method_len = 0; return true;
    case TunnelMethod::gre: protocol = wire::ipproto::gre, method_len = 4; return true;
    case TunnelMethod::udp: protocol = wire::ipproto::udp, method_len = wire::kUdpHeaderLen; return true;
    default: return false;
    }
}

// The outer IPv4 header at p, for `total` bytes of IPv4 packet: DF set, so an atomic datagram whose
// Identification carries no meaning and is 0 (RFC 6864); DSCP and ECN from the inner traffic class
// (RFC 6040 normal mode); the checksum computed here or left to the NIC.
[[gnu::always_inline]] inline void write_outer_ipv4(uint8_t* p, rte_mbuf* m, const TunnelSelf& self, Ipv4Addr dst, uint8_t protocol,
                             uint8_t inner_tc, uint32_t total, uint16_t l2_len)
{
    const uint32_t w0 = (0x45u << 24) | (uint32_t{outer_tos_on_encap(inner_tc)} << 16) | (total & 0xFFFF);
    const auto [w1, w2] = outer_ipv4_fixed(protocol);
    uint16_t csum = 0;
    if (self.ipv4_cksum_offload) {
        m->l2_len = l2_len & 0x7Fu;
        m->l3_len = wire::kIpv4MinHeaderLen;
        m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
    } else {
        csum = wire::finish_checksum(uint64_t{w0} + w1 + w2 + self.ipv4.value + dst.value);
    }
    wire::store_be32(p, w0);
    wire::store_be32(p + 4, w1);
    wire::store_be32(p + 8, w2 | csum);
    wire::store_be32(p + 12, self.ipv4.value);
    wire::store_be32(p + 16, dst.value);
}


// With room for `method_len` bytes of the method's header between the IPv4 header and what the mbuf
// held, and with `link` the Ethernet header, in one prepend. Returns where the method's header goes, or
// null without headroom (the mbuf is then unchanged).
[[gnu::always_inline]] inline uint8_t* push_outer_ipv4(rte_mbuf* m, const TunnelSelf& self, Ipv4Addr dst, uint8_t protocol,
                                                       uint8_t inner_tc, uint16_t method_len, const LinkHeader* link)
{
    const uint32_t payload = rte_pktmbuf_pkt_len(m);
    const uint16_t l2 = link ? wire::kEtherHeaderLen : 0;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(l2 + wire::kIpv4MinHeaderLen + method_len)));
    if (!p) return nullptr;
    if (link) wire::write_ether_header(p, link->dst, link->src, wire::ethertype::ipv4);
    uint8_t* ip = p + l2;
    write_outer_ipv4(ip, m, self, dst, protocol, inner_tc, static_cast<uint32_t>(wire::kIpv4MinHeaderLen + method_len + payload),
                     wire::kEtherHeaderLen);
    return ip + wire::kIpv4MinHeaderLen;
}

[[gnu::always_inline]] inline bool encap_v4(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer, const LinkHeader* link)
{
    uint8_t protocol;
    uint16_t method_len;
    if (!v4_method_layout(peer.method, protocol, method_len)) return false;
    const uint32_t inner = rte_pktmbuf_pkt_len(m);
    uint8_t* h = inline_encap::push_outer_ipv4(m, self, peer.v4, protocol, inner_traffic_class(m), method_len, link);
    if (!h) return false;
    // GRE (RFC 2784): no checksum, key or sequence number, protocol type IPv6.
    if (peer.method == TunnelMethod::gre) wire::write_gre_basic(h, wire::ethertype::ipv6);
    if (peer.method == TunnelMethod::udp) wire::write_udp_header({h, inner + wire::kUdpHeaderLen}, self.udp_port, peer.port);
    return true;
}

} // namespace nemo::dp::inline_encap
