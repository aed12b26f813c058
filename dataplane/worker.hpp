// The worker lcore: receive a burst from each port, classify every frame (lib/classify), reassemble
// outer IPv4 fragments, then decapsulate and check (upstream), look up and encapsulate (downstream),
// answer ARP and Neighbor Solicitations, and punt signaling to the control thread. A burst's ESP packets
// go to intel-ipsec-mb together, in each direction. It only reads the tables.
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
#include "neighbors.hpp"
#include "punt.hpp"
#include "sa_table.hpp"

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
    rte_ring* punt = nullptr;    // to the control thread
    rte_ring* inject = nullptr;  // from the control thread: whole frames, mbuf->port says where
    rte_mempool* pool = nullptr; // for Packet Too Big
    TunnelSelf self;
    std::vector<Ipv6Addr> ha_ipv6;
    Ipv6Addr dhaad_anycast;
    uint16_t esp_udp_port = 4500;
    uint32_t ptb_per_second = 100; // rate limit of ICMPv6 Packet Too Big per worker
    // Outer IPv4 reassembly (rte_ip_frag): packets in reassembly at once per worker (0: fragments are
    // dropped and counted), and how long a packet may wait for its missing fragments.
    uint32_t reassembly_flows = 0;
    uint32_t reassembly_timeout_ms = 2000;
    LcoreCounters* counters = nullptr;
    const std::atomic<bool>* stop = nullptr;
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
    void handle_burst(uint16_t from_port, struct rte_mbuf** pkts, uint16_t n);
    struct rte_mbuf* reassemble(struct rte_mbuf* m, const Classified& c);
    void downstream(struct rte_mbuf** pkts, const uint16_t* l3_offsets, uint16_t n);
    struct UpstreamItem {
        struct rte_mbuf* m;
        Classified c;
        Ipv6Addr src;
        Ipv6Addr outer_src6; // IPv6-in-IPv6 only
        SaEntry* sa;         // ESP only: the inbound SA it came through
        MacAddr src_mac;
        uint8_t outer_tos;
    };
    struct Sealing { // a downstream ESP packet between esp_seal_prepare and esp_seal_finish
        struct rte_mbuf* m;
        SaEntry* sa;
        TunnelPeer peer;
        MacAddr mac;
        uint8_t tc;
    };
    void seal_esp(uint16_t n);
    void note_outer(struct rte_mbuf* m, const Classified& c, UpstreamItem& item);
    bool decapsulate(struct rte_mbuf* m, const Classified& c, UpstreamItem& item);
    bool accept_inner(struct rte_mbuf* m, const Classified& c, UpstreamItem& item);
    bool esp_open_prepare(struct rte_mbuf* m, const Classified& c, unsigned slot);
    uint16_t open_esp(uint16_t n, UpstreamItem* items);
    void upstream(UpstreamItem* items, uint16_t n);
    bool gateway_mac4(MacAddr& mac);
    bool gateway_mac6(const PortSide& side, MacAddr& mac);
    template <class Addr>
    bool lookup_neighbor(const Addr& a, MacAddr& mac) const;
    void answer_arp(struct rte_mbuf* m, const Classified& c, const PortSide& side);
    void answer_ns(struct rte_mbuf* m, const Classified& c, const PortSide& side);
    void punt(struct rte_mbuf* m, const PuntMeta& meta);
    void learn_copy(struct rte_mbuf* m, PuntKind kind, uint16_t port);
    void send_packet_too_big(struct rte_mbuf* m, uint16_t l3_offset, uint32_t mtu, const PortSide& side);
    bool to_link(struct rte_mbuf* m, const PortSide& side, uint16_t ethertype, const MacAddr& dst);
    void queue_tx(const PortSide& side, struct rte_mbuf* m);
    void flush();
    const PortSide& side_of(uint16_t port) const { return port == cfg_.access.port ? cfg_.access : cfg_.home; }

    WorkerConfig cfg_;
    std::unique_ptr<ImbManager> imb_; // this lcore's intel-ipsec-mb manager
    ClassifyParams classify_;
    bool ok_ = true;
    struct rte_ip_frag_tbl* frag_tbl_ = nullptr;
    std::unique_ptr<::rte_ip_frag_death_row> frag_dr_; // fragments the table gave up on, to free
    bool same_port_;
    struct TxBuf {
        struct rte_mbuf* pkts[64];
        uint16_t n = 0;
    } tx_access_, tx_home_;
    static constexpr uint16_t kBurst = 32;
    // One burst's ESP work, each direction: the packets and intel-ipsec-mb's jobs for them.
    Sealing sealing_[kBurst];
    EspJob seal_jobs_[kBurst];
    UpstreamItem opening_[kBurst]; // ESP packets between esp_open_prepare and open_esp (m, c, sa set)
    EspJob open_jobs_[kBurst];
    UpstreamItem up_[kBurst]; // a burst's decapsulated packets, for the bulk lookup
    MacAddr gw4_, gw6_; // gateway MACs, looked up once per burst
    bool gw4_valid_ = false, gw6_valid_ = false, gw4_ok_ = false, gw6_ok_ = false;
    uint64_t ptb_tokens_ = 0;
    uint64_t ptb_last_tsc_ = 0;
};

} // namespace nemo::dp
