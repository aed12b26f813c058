// S and S+U: ESP tunnel mode (RFC 4303) with the binding's outbound SA, directly over IPv4 or in UDP
// port 4500 (RFC 3948, for NAT traversal; UDP checksum zero as RFC 3948 2.1 allows).
#include <rte_mbuf.h>

#include <cstring>

#include "encap.hpp"
#include "esp.hpp"
#include "inner_tc.hpp"
#include "proto.hpp"
#include "sa_table.hpp"
#include "udp.hpp"

namespace nemo::dp {

bool encap_esp(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer, SaEntry& sa, ImbManager& imb)
{
    const EspTransform& t = *sa.transform;
    const uint8_t tc = inner_traffic_class(m);
    const uint32_t inner = rte_pktmbuf_pkt_len(m);
    const std::size_t pad = wire::esp_pad_len(inner, t.block());
    const std::size_t plain = inner + pad + wire::kEspTrailerLen;
    auto* tail = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(pad + wire::kEspTrailerLen + t.icv_len())));
    if (!tail) return false;
    wire::write_esp_trailer(tail, pad, wire::ipproto::ipv6);
    auto* esp = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(wire::kEspHeaderLen + t.iv_len())));
    if (!esp) return false;
    const uint64_t seq = sa.next_seq.fetch_add(1, std::memory_order_relaxed);
    wire::write_esp_header(esp, sa.cfg.spi, static_cast<uint32_t>(seq));
    if (!t.encrypt(imb, esp, plain, seq, sa.cfg.esn)) return false;
    sa.inc(SaCounter::packets);
    sa.inc(SaCounter::bytes, rte_pktmbuf_pkt_len(m));
    uint8_t protocol = wire::ipproto::esp;
    if (peer.method == TunnelMethod::esp_udp) {
        const uint32_t len = rte_pktmbuf_pkt_len(m) + wire::kUdpHeaderLen;
        auto* u = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, wire::kUdpHeaderLen));
        if (!u) return false;
        wire::write_udp_header({u, len}, wire::kEspInUdpPort, peer.port);
        protocol = wire::ipproto::udp;
    }
    return prepend_outer_ipv4(m, self, peer.v4, protocol, tc);
}

} // namespace nemo::dp
