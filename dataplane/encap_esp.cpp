// S and S+U: ESP tunnel mode (RFC 4303) with the binding's outbound SA, directly over IPv4 or in UDP
// port 4500 (RFC 3948, for NAT traversal; UDP checksum zero as RFC 3948 2.1 allows). Sealing is split
// in two so that the worker encrypts a whole burst at once between the halves.
#include <rte_mbuf.h>

#include <cstring>

#include "encap.hpp"
#include "encap_ipv4_inline.hpp"
#include "esp.hpp"
#include "inner_tc.hpp"
#include "proto.hpp"
#include "sa_table.hpp"
#include "udp.hpp"

namespace nemo::dp {

bool esp_seal_prepare(rte_mbuf* m, SaEntry& sa, EspJob& job, SaLane* lane)
{
    const EspTransform& t = *sa.transform;
    const uint32_t inner = rte_pktmbuf_pkt_len(m);
    const std::size_t pad = wire::esp_pad_len(inner, t.block());
    auto* tail = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(pad + wire::kEspTrailerLen + t.icv_len())));
    if (!tail) return false;
    wire::write_esp_trailer(tail, pad, wire::ipproto::ipv6);
    auto* esp = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(wire::kEspHeaderLen + t.iv_len())));
    if (!esp) return false;
    // Taken last, so that a packet refused for want of room does not use up the SA's lifetime. An
    // exhausted SA refuses (counted on the SA as drop_exhausted; the caller frees the packet).
    const std::optional<uint64_t> next = lane ? sa.take_seq(*lane) : sa.take_seq();
    if (!next) return false;
    const uint64_t seq = *next;
    wire::write_esp_header(esp, sa.cfg.spi, static_cast<uint32_t>(seq));
    job.t = &t;
    job.esp = esp;
    job.len = inner + pad + wire::kEspTrailerLen;
    job.seq = seq;
    job.esn = sa.cfg.esn;
    job.ok = false;
    return true;
}

bool esp_seal_finish(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer, SaEntry& sa, uint8_t inner_tc,
                     SaLane* lane, const LinkHeader* link)
{
    const uint32_t esp_len = rte_pktmbuf_pkt_len(m);
    sa.count(lane, esp_len);
    if (peer.method != TunnelMethod::esp_udp)
        return inline_encap::push_outer_ipv4(m, self, peer.v4, wire::ipproto::esp, inner_tc, 0, link) != nullptr;
    uint8_t* u = inline_encap::push_outer_ipv4(m, self, peer.v4, wire::ipproto::udp, inner_tc, wire::kUdpHeaderLen, link);
    if (!u) return false;
    wire::write_udp_header({u, esp_len + wire::kUdpHeaderLen}, wire::kEspInUdpPort, peer.port);
    return true;
}

bool encap_esp(rte_mbuf* m, const TunnelSelf& self, const TunnelPeer& peer, SaEntry& sa, ImbManager& imb)
{
    const uint8_t tc = inner_traffic_class(m);
    EspJob job;
    if (!esp_seal_prepare(m, sa, job)) return false;
    esp_encrypt_burst(imb, {&job, 1});
    return job.ok && esp_seal_finish(m, self, peer, sa, tc);
}

} // namespace nemo::dp
