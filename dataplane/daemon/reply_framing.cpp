// Replies the control plane built, framed for the wire: the tunnel they go back through (sealed with
// ESP when they came through an SA), an Ethernet header, and the inject ring to the workers.
#include "control_io.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>

#include "ethernet.hpp"
#include "proto.hpp"

namespace nemo::dp {

using namespace wire;

void ControlIo::send_frame(rte_mbuf* m, uint16_t port)
{
    m->port = port;
    // Behind what waits already, so that frames keep their order.
    if (inject_backlog_.empty() && rte_ring_sp_enqueue(cfg_.inject, m) == 0) return;
    if (inject_backlog_.size() >= kMaxInjectBacklog) {
        inject_full_.fetch_add(1, std::memory_order_relaxed);
        rte_pktmbuf_free(m);
        return;
    }
    inject_backlog_.push_back(m);
    inject_deferred_.fetch_add(1, std::memory_order_relaxed);
}

void ControlIo::flush_inject_backlog()
{
    while (!inject_backlog_.empty() && rte_ring_sp_enqueue(cfg_.inject, inject_backlog_.front()) == 0) inject_backlog_.pop_front();
}

ControlIo::~ControlIo()
{
    for (rte_mbuf* m : inject_backlog_) rte_pktmbuf_free(m);
}

void ControlIo::send(const control::Outbound& out, uint16_t port, const MacAddr& dst_mac)
{
    if (out.ipv6.empty()) return;
    rte_mbuf* m = rte_pktmbuf_alloc(cfg_.pool);
    auto* p = m ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(out.ipv6.size()))) : nullptr;
    if (!p) {
        no_mbuf_.fetch_add(1, std::memory_order_relaxed);
        rte_pktmbuf_free(m);
        return;
    }
    std::memcpy(p, out.ipv6.data(), out.ipv6.size());
    uint16_t type = ethertype::ipv6;
    const TunnelPeer peer{out.via, out.v4_dst, out.v4_dst_port, {}};
    if (out.via == TunnelMethod::esp || out.via == TunnelMethod::esp_udp) {
        if (!seal_reply(m, out, peer)) return;
        type = ethertype::ipv4;
    } else if (uses_ipv4(out.via)) {
        if (!encapsulate(m, cfg_.self, peer)) {
            no_mbuf_.fetch_add(1, std::memory_order_relaxed); // no headroom for the tunnel
            rte_pktmbuf_free(m);
            return;
        }
        type = ethertype::ipv4;
    }
    auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kEtherHeaderLen));
    if (!eth) {
        no_mbuf_.fetch_add(1, std::memory_order_relaxed);
        rte_pktmbuf_free(m);
        return;
    }
    write_ether_header(eth, dst_mac, side_of(port).mac, type);
    send_frame(m, port);
}

} // namespace nemo::dp
