// The control thread's side of the data plane: it takes what the workers punted (signaling, ARP and
// Neighbor Advertisements), feeds the control plane, and hands the replies back to the workers through
// the inject ring as whole frames. It also resolves next hops the workers asked for.
// One file per job: punt_dispatch.cpp (the turn), neighbor_learning.cpp, neighbor_resolution.cpp,
// reply_framing.cpp, reply_sealing.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <unordered_map>

#include "control_plane.hpp"
#include "encap.hpp"
#include "neighbors.hpp"
#include "punt.hpp"
#include "sa_table.hpp"
#include "worker.hpp"

struct rte_ring;
struct rte_mempool;

namespace nemo::dp {

struct ControlIoConfig {
    PortSide access;
    PortSide home;
    rte_ring* punt = nullptr;
    rte_ring* inject = nullptr;
    rte_mempool* pool = nullptr;
    Neighbors* neighbors = nullptr;
    SaTable* sas = nullptr;
    TunnelSelf self;
    uint32_t gateway_refresh_s = 30; // gateways (not static) are asked for again this often
};

class ControlIo {
public:
    ControlIo(control::ControlPlane& cp, const ControlIoConfig& cfg) : cp_(cp), cfg_(cfg) {}
    // One turn; returns how many packets it handled (0 lets the caller rest).
    unsigned poll(uint64_t now);
    // Read by the telemetry and CLI threads too.
    uint64_t inject_full() const { return inject_full_.load(std::memory_order_relaxed); }
    uint64_t replies_without_sa() const { return no_sa_.load(std::memory_order_relaxed); }
    uint64_t no_mbuf() const { return no_mbuf_.load(std::memory_order_relaxed); }

private:
    void on_signaling(struct rte_mbuf* m, uint64_t now);
    void glean(const PuntMeta& meta, std::span<const uint8_t> ipv6);
    void on_arp(struct rte_mbuf* m);
    void on_na(struct rte_mbuf* m);
    void resolve(uint64_t now);
    void probe_gateways(uint64_t now);
    // Builds a frame around an IPv6 packet and queues it for the workers.
    void send(const control::Outbound& out, uint16_t port, const MacAddr& dst_mac);
    void send_frame(struct rte_mbuf* m, uint16_t port);
    // Seals a reply with the home address's outbound SA; false when it could not (m freed, counted).
    bool seal_reply(struct rte_mbuf* m, const control::Outbound& out, const TunnelPeer& peer);
    const PortSide& side_of(uint16_t port) const { return port == cfg_.access.port ? cfg_.access : cfg_.home; }

    control::ControlPlane& cp_;
    ControlIoConfig cfg_;
    std::vector<control::Outbound> out_;
    std::unordered_map<uint64_t, uint64_t> asked_; // address hash -> the second after the last request
    uint64_t asked_pruned_at_ = 0;
    // Gateways that are not static are resolved at start and every dataplane.gateway_refresh_s after, so that
    // the first packets find them and a changed MAC is learned.
    uint64_t next_gateway_probe_ = 0;
    std::atomic<uint64_t> inject_full_{0};
    std::atomic<uint64_t> no_sa_{0};
    std::atomic<uint64_t> no_mbuf_{0}; // replies and resolution requests lost for want of an mbuf (or room in one)
    ImbManager imb_; // the control thread's own, for replies through an SA
};

} // namespace nemo::dp
