// The control thread's side of the data plane: it takes what the workers punted (signaling, ARP and
// Neighbor Discovery), feeds the control plane, and hands the replies back to the workers through
// the inject ring as whole frames. It also resolves next hops the workers asked for.
// One file per job: punt_dispatch.cpp (the turn; the order of the two punt rings: punt_drain.hpp), neighbor_learning.cpp, neighbor_resolution.cpp,
// reply_framing.cpp, reply_sealing.cpp, nd_announce.cpp (unsolicited proxy Neighbor Advertisements),
// reply_holding.cpp (BAs waiting for their change to be durable).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "control_plane.hpp"
#include "encap.hpp"
#include "neighbor_policy.hpp"
#include "neighbors.hpp"
#include "punt.hpp"
#include "punt_drain.hpp"
#include "sa_table.hpp"
#include "worker.hpp"

struct rte_ring;
struct rte_mempool;

namespace nemo::dp {

struct ControlIoConfig {
    PortSide access;
    PortSide home;
    rte_ring* punt = nullptr;      // the priority class (nemo_punt): ND, ARP, signaling from known care-of addresses
    rte_ring* punt_bulk = nullptr; // everything else the workers punt (nemo_punt_bulk); null: none
    PuntDrainLimits punt_limits;
    rte_ring* inject = nullptr;
    rte_mempool* pool = nullptr;
    Neighbors* neighbors = nullptr;
    SaTable* sas = nullptr;
    TunnelSelf self;
    uint32_t gateway_refresh_s = 30; // gateways (not static) are asked for again this often
    // Our addresses: ARP requests and Neighbor Solicitations for them teach the asker's address.
    std::vector<Ipv4Addr> ha_ipv4;
    std::vector<Ipv6Addr> ha_ipv6;
    uint32_t neighbor_max_age_s = 300; // dataplane.neighbor_max_age_s
};

class ControlIo {
public:
    // How long an answer to our ARP request or NS is awaited (and a probed entry kept unanswered).
    static constexpr uint32_t kAnswerWindowS = 3;
    // Questions awaiting an answer at once; beyond, resolution requests are dropped (counted).
    static constexpr std::size_t kMaxAsked = 4096;

    ControlIo(control::ControlPlane& cp, const ControlIoConfig& cfg) : cp_(cp), cfg_(cfg) {}
    // Unsolicited NAs waiting for their repeats at once; beyond, new ones are dropped (counted).
    static constexpr std::size_t kMaxAnnouncing = 4096;
    // A BA whose change is not durable after this long is dropped (counted): the router has retransmitted
    // by then (RFC 6275 InitialBindackTimeoutFirstReg is 1.5 s, a refresh's 1 s), and an answer that
    // arrives later helps nobody. At most kMaxHeld wait at once.
    static constexpr uint64_t kHoldMaxMs = 1000;
    static constexpr std::size_t kMaxHeld = 65536;
    // Frames the inject ring had no room for wait here, in order, and go first at the next turn (a burst
    // of BUs answered at once outruns the workers' draining); beyond this many they are dropped (counted).
    static constexpr std::size_t kMaxInjectBacklog = 8192;
    ~ControlIo();

    // One turn; returns how many packets it handled (0 lets the caller rest). now: monotonic seconds;
    // now_ms: monotonic milliseconds (the repeats of unsolicited NAs are spaced on it).
    unsigned poll(uint64_t now, uint64_t now_ms);
    unsigned poll(uint64_t now);
    // Announces a home address to the home link: kNaAnnounceCount unsolicited NAs, the first at the
    // next turn. Each turn queues what the control plane's take_announcements() returns.
    void queue_announcement(const control::NdAnnounce& a, uint64_t now_ms);
    // Read by the telemetry and CLI threads too.
    uint64_t inject_full() const { return inject_full_.load(std::memory_order_relaxed); }
    uint64_t replies_without_sa() const { return no_sa_.load(std::memory_order_relaxed); }
    uint64_t no_mbuf() const { return no_mbuf_.load(std::memory_order_relaxed); }
    // Every counter of the control thread's data-plane side, named for `show stats` (control_*).
    std::vector<std::pair<std::string, uint64_t>> stats() const;

private:
    void on_signaling(struct rte_mbuf* m, uint64_t now);
    void on_arp(struct rte_mbuf* m, uint64_t now);
    void on_nd(struct rte_mbuf* m, uint64_t now);
    // ike_io.cpp: IKE messages to the responder, and what it sends (answers, its own requests) framed
    // as UDP/IPv4 from the home agent's address, with the non-ESP marker on port 4500.
    void on_ike(struct rte_mbuf* m, uint64_t now_ms);
    void ike_turn(uint64_t now_ms);
    void send_ike(const ike::Datagram& d);
    // Applies lib/neighbor_policy to what a frame claims, and counts what it refuses.
    void learn(const NeighborKey& k, const MacAddr& mac, NeighborEvidence ev, uint64_t now);
    bool is_ours(Ipv4Addr a) const;
    bool is_ours(const Ipv6Addr& a) const;
    bool is_gateway(const NeighborKey& k) const;
    // True (once) when k is an address we asked about and are still waiting for.
    bool answers_our_question(const NeighborKey& k, uint64_t now);
    // Sends the held BAs whose change is durable now, drops those held too long.
    void release_held(uint64_t now_ms);
    // A cluster's BAs answered again (ControlPlane::take_ba_rewrites): replaced or dropped where held.
    void rewrite_held();
    void hold(control::Outbound&& out, uint16_t port, const MacAddr& dst_mac);
    void resolve(uint64_t now);
    void announce(uint64_t now_ms);
    void age_neighbors(uint64_t now);
    void probe_gateways(uint64_t now);
    // Asks the link for k (ARP request or NS), at most once a second per address.
    void ask(const NeighborKey& k, uint64_t now);
    // After the control plane answered a peer on link: its address is asked for, so that traffic to it
    // finds a next hop (its frame's source is not taken on trust).
    void ask_for_peer(const PuntMeta& meta, std::span<const uint8_t> ipv6, uint64_t now);
    // Builds a frame around an IPv6 packet and queues it for the workers.
    void send(const control::Outbound& out, uint16_t port, const MacAddr& dst_mac);
    void send_frame(struct rte_mbuf* m, uint16_t port);
    // Seals a reply with the home address's outbound SA; false when it could not (m freed, counted).
    bool seal_reply(struct rte_mbuf* m, const control::Outbound& out, const TunnelPeer& peer);
    const PortSide& side_of(uint16_t port) const { return port == cfg_.access.port ? cfg_.access : cfg_.home; }

    control::ControlPlane& cp_;
    ControlIoConfig cfg_;
    std::vector<control::Outbound> out_;
    std::vector<ike::Datagram> ike_out_;
    std::atomic<uint64_t> ike_sent_{0}, ike_too_big_{0};
    std::unordered_map<NeighborKey, uint64_t, NeighborKeyHash> asked_; // address -> the second it was last asked
    uint64_t asked_pruned_at_ = 0;
    uint64_t aged_at_ = 0;
    std::vector<NeighborKey> probe_;
    struct Announcing {
        control::NdAnnounce what;
        uint64_t next_ms;
        unsigned sent;
    };
    std::vector<Announcing> announcing_;
    struct Held {
        control::Outbound out;
        uint16_t port;
        MacAddr dst_mac;
        uint64_t since_ms;
    };
    std::deque<Held> held_; // in batch order
    uint64_t turn_ms_ = 0;
    std::atomic<uint64_t> ba_held_{0}, ba_withheld_{0};
    std::atomic<uint64_t> ba_answered_again_{0}, ba_superseded_{0};
    // Gateways that are not static are resolved at start and every dataplane.gateway_refresh_s after, so that
    // the first packets find them and a changed MAC is learned.
    uint64_t next_gateway_probe_ = 0;
    std::atomic<uint64_t> inject_full_{0}, inject_deferred_{0};
    std::deque<struct rte_mbuf*> inject_backlog_;
    void flush_inject_backlog();
    std::atomic<uint64_t> no_sa_{0};
    std::atomic<uint64_t> punt_priority_{0}; // packets taken from each punt class
    std::atomic<uint64_t> punt_bulk_{0};
    std::atomic<uint64_t> no_mbuf_{0}; // replies and resolution requests lost for want of an mbuf (or room in one)
    // Neighbour learning: what was learned, and every refusal by its reason.
    std::atomic<uint64_t> nb_learned_{0};
    std::atomic<uint64_t> nb_unsolicited_{0};
    std::atomic<uint64_t> nb_static_{0};
    std::atomic<uint64_t> nb_gateway_{0};
    std::atomic<uint64_t> nb_invalid_{0}; // unparsable, bad checksum, hop limit not 255 (RFC 4861 7.1)
    std::atomic<uint64_t> asked_full_{0}; // resolution requests dropped: kMaxAsked questions open
    std::atomic<uint64_t> na_sent_{0};    // unsolicited NAs sent (each repeat counts)
    std::atomic<uint64_t> na_dropped_{0}; // announcements refused: kMaxAnnouncing waiting
    ImbManager imb_; // the control thread's own, for replies through an SA
};

} // namespace nemo::dp
