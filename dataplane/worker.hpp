// The worker lcore: receive a burst from each port, classify every frame (lib/classify), reassemble
// outer IPv4 fragments, then decapsulate and check (upstream), look up and encapsulate (downstream),
// answer ARP and Neighbor Solicitations, and punt signaling to the control thread. A burst's ESP packets
// go to intel-ipsec-mb together, in each direction. It only reads the tables.
//
// One job a file: the burst loop and reassembly (worker.cpp), downstream forwarding
// (worker_downstream.cpp), decapsulation and upstream forwarding (worker_upstream.cpp), the ESP bursts
// (worker_esp.cpp), the ARP/ND responder (worker_arp_nd.cpp), ICMPv6 errors (worker_icmp.cpp), the punt
// path (worker_punt.cpp); next hops and TX are inline below.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "binding_tables.hpp"
#include "classify.hpp"
#include "dp_counters.hpp"
#include "encap.hpp"
#include "encap_template.hpp"
#include "esp_burst.hpp"
#include "ethernet.hpp"
#include "neighbors.hpp"
#include "punt.hpp"
#include "rate_limiter.hpp"
#include "sa_table.hpp"
#include "worker_runtime.hpp"

#include <rte_ethdev.h>
#include <rte_mbuf.h>

struct rte_ring;
struct rte_mempool;
struct rte_ip_frag_tbl;
struct rte_ip_frag_death_row;

namespace nemo::dp {

struct PortSide {
    uint16_t port = 0;
    uint16_t queue = 0;
    MacAddr mac;
    uint16_t mtu = 1500;
    std::optional<Ipv4Addr> gateway4; // next hop for IPv4; unset: the destination is on link
    std::optional<Ipv6Addr> gateway6;
};

struct WorkerConfig {
    unsigned reader_id = 0; // RCU reader slot
    PortSide access;        // IPv4 care-of side
    PortSide home;          // IPv6 home link and core; may be the same port as access
    const BindingTables* tables = nullptr;
    const Neighbors* neighbors = nullptr;
    const SaTable* sas = nullptr;       // ESP (S, S+U); null: no ESP
    rte_ring* punt = nullptr;      // to the control thread: the priority class (punt.hpp)
    rte_ring* punt_bulk = nullptr; // the bulk class; null: the priority ring takes both
    uint32_t punt_priority_per_second = 50000; // per worker, packets of each class to the control thread
    uint32_t punt_bulk_per_second = 10000;
    rte_ring* inject = nullptr;  // from the control thread: whole frames, mbuf->port says where
    // Several workers: a downstream packet into an ESP tunnel leaves through the worker that owns its SA
    // (SaEntry::owner), so that one lane numbers and sends every packet of an SA and they reach the
    // receiver in the order of their numbers (RFC 4303 3.4.3). handoff[i] is worker i's ring (any worker
    // enqueues, worker i dequeues), of the IPv6 packets alone, hop limit decremented; worker_handoff.cpp.
    // Fewer than two rings, or not one for each of the SA table's lanes: every worker seals what it
    // receives.
    std::vector<rte_ring*> handoff;
    rte_mempool* pool = nullptr; // for Packet Too Big
    TunnelSelf self;
    std::vector<Ipv6Addr> ha_ipv6;
    Ipv6Addr dhaad_anycast;
    uint16_t esp_udp_port = 4500;
    bool ike = false; // IKEv2 on: IKE on 500 and 4500 goes to the control thread (punt_ike)
    uint32_t ptb_per_second = 100; // rate limit per worker of ICMPv6 Packet Too Big, and of Time Exceeded
    // Outer IPv4 reassembly (rte_ip_frag): packets in reassembly at once per worker (0: fragments are
    // dropped and counted), and how long a packet may wait for its missing fragments.
    uint32_t reassembly_flows = 0;
    uint32_t reassembly_timeout_ms = 2000;
    LcoreCounters* counters = nullptr;
    WorkerRuntime* runtime = nullptr; // `show runtime`; null: the worker keeps its own, unread
    // One burst in this many (a power of two, rounded up) is timed for `show runtime`: reading the TSC
    // a few times a burst cost up to 10 % at 64 bytes in the pipeline benchmark (bench/README.md).
    uint32_t time_one_burst_in = 16;
    const std::atomic<bool>* stop = nullptr;
};

// Where an ICMPv6 error about a packet goes: out of the port it came in on, to its sender's MAC (packets
// from the core), or through the tunnel of the binding it came from (decapsulated packets).
struct ErrorReturn {
    const PortSide* side = nullptr;
    MacAddr mac;
    const Route* tunnel = nullptr; // set: through this tunnel instead
    bool link_multicast = false;   // the frame went to a link-layer group address (RFC 4443 2.4 (e.4))
};

class Worker {
public:
    explicit Worker(const WorkerConfig& cfg);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    // False when a resource the config asks for (the reassembly table) could not be had.
    bool ok() const { return ok_; }
    // One turn: a burst from each port, then a quiescent state report.
    void poll();
    // The lcore entry point: registers with RCU and polls until *stop.
    static int run(void* worker);

private:
    // worker.cpp
    void handle_burst(uint16_t from_port, rte_mbuf** pkts, uint16_t n);
    rte_mbuf* reassemble(rte_mbuf* m, const Classified& c);
    void flush();
    // worker_downstream.cpp
    void downstream(rte_mbuf** pkts, uint8_t* const* ips, uint16_t n); // ips: each packet's IPv6 header
    void downstream_general(rte_mbuf* m, const Route& r, uint8_t* ip, uint32_t ip_len);
    const OuterTemplate* outer_templates();
    inline bool seal_fast(rte_mbuf* m, const FastBinding& b, uint8_t* ip, uint32_t ip_len, const OuterTemplate* tpl);
    bool may_forward(const uint8_t* ip, uint32_t ip_len, uint32_t room, rte_mbuf* frame, const Route* back_tunnel);
    bool fits_tunnel(const Route& r, const uint8_t* ip, uint32_t ip_len, rte_mbuf* frame, const Route* back_tunnel);
    [[gnu::cold]] bool refuse_forward(const uint8_t* ip, uint32_t ip_len, uint32_t room, rte_mbuf* frame,
                                      const Route* back_tunnel);
    void tunnel_out(rte_mbuf* m, const Route& r);
    inline void to_tunnel(rte_mbuf* m, const Route& r); // tunnel_out's body, inlined in worker_downstream.cpp
    // worker_handoff.cpp
    // On (the constructor's check), the owner is below the rings' count: the SA table's lanes.
    bool hands_off(const SaEntry& sa) const { return hand_off_ && sa.owner() != cfg_.reader_id; }
    void hand_off(rte_mbuf* m, unsigned owner);
    void flush_handoff();
    void take_handoff();
    uint16_t take_handoff_burst();
    // worker_upstream.cpp
    void note_outer(rte_mbuf* m, const Classified& c, UpstreamItem& item);
    bool decapsulate(rte_mbuf* m, const Classified& c, UpstreamItem& item);
    bool accept_inner(rte_mbuf* m, const Classified& c, UpstreamItem& item, uint32_t avail);
    inline bool check_inner(rte_mbuf* m, const Classified& c, UpstreamItem& item, uint32_t avail);
    void upstream(UpstreamItem* items, uint16_t n);
    // worker_esp.cpp
    bool esp_open_prepare(rte_mbuf* m, const Classified& c);
    uint16_t open_esp(UpstreamItem* items);
    void seal_esp();
    // worker_arp_nd.cpp
    void answer_arp(rte_mbuf* m, const Classified& c, const PortSide& side);
    void answer_ns(rte_mbuf* m, const Classified& c, const PortSide& side);
    void learn_copy(rte_mbuf* m, PuntKind kind, uint16_t port);
    // worker_icmp.cpp
    void send_icmp_error(const uint8_t* invoking, uint32_t len, uint8_t type, uint8_t code, uint32_t param,
                         const ErrorReturn& back);
    // worker_punt.cpp
    void punt(rte_mbuf* m, const PuntMeta& meta, PuntClass cls);
    // An IKE message (port 500, or 4500 after its non-ESP marker) to the control thread: the mbuf cut
    // to the IKE message, policed with the bulk class (IKE_SA_INIT comes from anyone).
    void punt_ike(rte_mbuf* m, const Classified& c, uint16_t local_port);

    // Next hops and TX, per packet: inline.
    bool gateway_mac4(MacAddr& mac);
    bool gateway_mac6(const PortSide& side, MacAddr& mac);
    template <class Addr>
    bool lookup_neighbor(const Addr& a, MacAddr& mac) const;
    bool to_link(rte_mbuf* m, const PortSide& side, uint16_t ethertype, const MacAddr& dst);
    void queue_tx(const PortSide& side, rte_mbuf* m);
    const PortSide& side_of(uint16_t port) const { return port == cfg_.access.port ? cfg_.access : cfg_.home; }

    WorkerConfig cfg_;
    std::unique_ptr<ImbManager> imb_; // this lcore's intel-ipsec-mb manager
    ClassifyParams classify_;
    bool ok_ = true;
    rte_ip_frag_tbl* frag_tbl_ = nullptr;
    std::unique_ptr<::rte_ip_frag_death_row> frag_dr_; // fragments the table gave up on, to free
    bool same_port_;
    struct TxBuf {
        static constexpr uint16_t kSize = 64;
        rte_mbuf* pkts[kSize];
        uint16_t n = 0;
    } tx_access_, tx_home_;
    EspSealBurst seal_;  // a burst's downstream ESP packets
    struct HandoffBuf {
        static constexpr uint16_t kSize = 2 * kBurst; // a turn receives a burst from each port
        rte_mbuf* pkts[kSize];
        uint16_t n = 0;
    };
    std::vector<HandoffBuf> handoff_out_; // per owning worker: packets to hand it at the end of the turn
    bool hand_off_ = false;               // cfg_.handoff has a ring for every worker, this one's included
    EspOpenBurst open_;  // a burst's upstream ESP packets
    UpstreamItem up_[kBurst]; // a burst's decapsulated packets, for the bulk lookup
    Route routes_[kBurst];    // a downstream burst's routes (route_bulk writes every one it is asked for)
    OuterTemplate tpl_[kTunnelMethodCount]; // the downstream fast path's outer headers (encap_template.hpp)
    MacAddr tpl_mac_;                       // the gateway MAC they were built for (none built: I's len 0)
    MacAddr gw4_, gw6_; // gateway MACs, looked up once per burst at most (handle_burst)
    bool gw4_valid_ = false, gw6_valid_ = false, gw4_ok_ = false, gw6_ok_ = false;
    uint64_t gw_changes_ = 0; // Neighbors::changes() when gw4_ and gw6_ were looked up
    RateLimiter ptb_limit_, te_limit_; // ICMPv6 errors, each type at ptb_per_second
    RateLimiter punt_priority_limit_, punt_bulk_limit_;
    uint32_t polls_ = 0;
    WorkerRuntime own_runtime_;
    WorkerRuntime* rt_; // cfg_.runtime, or own_runtime_: never null, no test on the fast path
    uint64_t tsc_ = 0;  // where the running stage of the burst began (rte_rdtsc)
    uint32_t burst_seq_ = 0, time_mask_;
    bool timed_ = false; // this burst is timed (one in time_mask_ + 1)
    // The running stage of a timed burst ends here; the next begins.
    void stage_done(Stage s, uint64_t n)
    {
        if (timed_) tsc_ = rt_->stage(s, tsc_, n);
    }
};

// Whether a packet to forward (hop limit still to be decremented) may leave on a link with `room` bytes
// for it: its hop limit lasts another hop and it fits. Otherwise refuse_forward counts it and answers it
// with an ICMPv6 error; the caller frees the packet.
inline bool Worker::may_forward(const uint8_t* ip, uint32_t ip_len, uint32_t room, rte_mbuf* frame,
                                const Route* back_tunnel)
{
    if (ip[7] > 1 && ip_len <= room) [[likely]]
        return true;
    return refuse_forward(ip, ip_len, room, frame, back_tunnel);
}

// The same into r's tunnel: the room is the MTU of the port it leaves from less the method's overhead.
inline bool Worker::fits_tunnel(const Route& r, const uint8_t* ip, uint32_t ip_len, rte_mbuf* frame,
                                const Route* back_tunnel)
{
    const TunnelMethod method = r.method();
    const uint16_t mtu = (uses_ipv4(method) ? cfg_.access : cfg_.home).mtu;
    const uint16_t overhead = encap_overhead(method);
    return may_forward(ip, ip_len, mtu > overhead ? mtu - overhead : 0u, frame, back_tunnel);
}

// Next hops that are gateways are looked up once per burst; others per packet. A miss asks the control
// thread to resolve the address.
inline bool Worker::gateway_mac4(MacAddr& mac)
{
    if (!gw4_valid_) {
        gw4_ok_ = lookup_neighbor(*cfg_.access.gateway4, gw4_);
        gw4_valid_ = true;
    }
    mac = gw4_;
    return gw4_ok_;
}

inline bool Worker::gateway_mac6(const PortSide& side, MacAddr& mac)
{
    if (!gw6_valid_) {
        gw6_ok_ = lookup_neighbor(*side.gateway6, gw6_);
        gw6_valid_ = true;
    }
    mac = gw6_;
    return gw6_ok_;
}

template <class Addr>
inline bool Worker::lookup_neighbor(const Addr& a, MacAddr& mac) const
{
    if (auto m = cfg_.neighbors->lookup(a)) {
        mac = *m;
        return true;
    }
    cfg_.neighbors->request(a);
    return false;
}

inline bool Worker::to_link(rte_mbuf* m, const PortSide& side, uint16_t type, const MacAddr& dst)
{
    auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, wire::kEtherHeaderLen));
    if (!eth) return false;
    wire::write_ether_header(eth, dst, side.mac, type);
    return true;
}

inline void Worker::queue_tx(const PortSide& side, rte_mbuf* m)
{
    TxBuf& b = &side == &cfg_.access ? tx_access_ : tx_home_;
    if (b.n == TxBuf::kSize) flush();
    b.pkts[b.n++] = m;
}

} // namespace nemo::dp
