// The control thread's signaling endpoint: Mobility Headers (Binding Updates) and the ICMPv6 messages a
// home agent answers (DHAAD, Mobile Prefix Solicitation), as workers punt them. It feeds them to the
// decisions in lib/, applies what they decide to the binding cache, and produces the replies.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "binding_cache.hpp"
#include "ha_params.hpp"
#include "ipv6.hpp"
#include "mobility_header.hpp"
#include "provisioning.hpp"
#include "reply_limiter.hpp"
#include "state_store.hpp"
#include "stats.hpp"

namespace nemo::control {

// A packet a worker handed to the control thread: the IPv6 packet, decapsulated if it came through a
// tunnel, and how it came.
struct Punted {
    std::span<const uint8_t> ipv6;
    TunnelMethod via = TunnelMethod::ipv6; // ipv6: native; else the IPv4 tunnel it arrived in
    Ipv4Addr outer_src;
    uint16_t outer_src_port = 0;
    std::optional<Ipv6Addr> sa_home_address; // the HoA of the SA that protected it, if any
};

// A reply for the data plane to send: an IPv6 packet, and the tunnel to put it in (none for ipv6).
struct Outbound {
    std::vector<uint8_t> ipv6;
    TunnelMethod via = TunnelMethod::ipv6;
    Ipv4Addr v4_dst;
    uint16_t v4_dst_port = 0;
    uint64_t after_batch = 0; // the state store's batch that must be durable before it leaves; 0: none
    uint64_t token = 0;       // a cluster's BA that may be answered again (BaRewrite); 0: none
};

// A held BA answered again: its BU lost a compare-and-swap to another instance's change (cluster).
struct BaRewrite {
    uint64_t token = 0;
    std::optional<Outbound> replacement; // nullopt: the BA goes nowhere (a later BU's answer stands)
};

// A home registration accepted with a new or a moved care-of address: the home link must hear of it.
struct HomeRegistration {
    Ipv6Addr hoa;
    bool router = false; // the BU had R
};

class SignalingEndpoint {
public:
    SignalingEndpoint(const HaParams& params, const ProvisioningStore& provisioning, BindingCache& cache, Stats& stats)
        : params_(params), provisioning_(provisioning), cache_(cache), stats_(stats)
    {
    }

    void handle(const Punted& in, uint64_t now, std::vector<Outbound>& out);
    // The durable store (null: none): while it refuses, BUs that would change a binding get 130, and a BA
    // of a change waits for the batch that holds it.
    void set_store(const StateStore* store) { store_ = store; }

    static constexpr std::size_t kMaxQueuedRegistrations = 4096;

    // ---- a cluster store (cluster_sync.cpp) ----
    // Keeps each BU whose change waits for the cluster store, to answer it again if it loses.
    void set_clustered(bool on) { clustered_ = on; }
    // This instance's change of `hoa` up to `batch` settled as written: its BUs need no second answer.
    void settled(const Ipv6Addr& hoa, uint64_t batch);
    // Another instance's change of `hoa` came first (the cache holds it now): the waiting BU is decided
    // again against it, as if it had come first; its held BAs are rewritten.
    // `batch`: the batch that lost; a BU of a later batch waits for that one's own report.
    void lost(const Ipv6Addr& hoa, uint64_t now, uint64_t batch, std::vector<BaRewrite>& rewrites);
    std::size_t waiting_bus() const { return cas_pending_.size(); }
    // What DHAAD replies list after this instance's own addresses: the other live instances'.
    void set_peer_addresses(std::vector<Ipv6Addr> v6, std::vector<Ipv4Addr> v4)
    {
        peer_v6_ = std::move(v6);
        peer_v4_ = std::move(v4);
    }

    // The home registrations accepted since the last call (RFC 6275 10.4.1: each is announced).
    std::vector<HomeRegistration> take_registrations();
    // Sets the gauges of the prefix tables' number and memory.
    void update_table_gauges();

private:
    void handle_mobility(const Punted& in, const wire::Ipv6Packet& ip, uint64_t now, std::vector<Outbound>& out);
    void handle_icmpv6(const Punted& in, const wire::Ipv6Packet& ip, std::vector<Outbound>& out);
    void account(const BuDecision& d, bool existed, bool router);
    // Decides a BU against the cache and answers it (the tail of handle_mobility, and lost()). `in`/`ip`:
    // the packet, for the error-reply limit (null: a second answer, always allowed).
    void decide_and_answer(const wire::BindingUpdate& bu, const BuArrival& arrival, const Ipv6Addr& hoa, uint64_t now,
                           std::vector<Outbound>& out, const Punted* in, const wire::Ipv6Packet* ip);
    // Whether an error reply for this packet may go: always to a binding's own care-of address, to anyone
    // else within ha.error_replies_per_second (counted when not).
    bool error_reply_allowed(const Punted& in, const wire::Ipv6Packet& ip, uint64_t now);
    bool single_node_source(const Punted& in);

    const HaParams& params_;
    const ProvisioningStore& provisioning_;
    BindingCache& cache_;
    Stats& stats_;
    ReplyLimiter error_replies_;
    std::vector<HomeRegistration> registered_;
    const StateStore* store_ = nullptr;
    bool clustered_ = false;
    struct WaitingBu {
        wire::BindingUpdate bu;
        BuArrival arrival;
        uint64_t batch = 0;               // the batch its change went in
        // Its BA and those of earlier BUs of the same router still held, each with its change's batch.
        std::vector<std::pair<uint64_t, uint64_t>> tokens;
    };
    std::unordered_map<Ipv6Addr, WaitingBu, Ipv6Hash> cas_pending_;
    uint64_t next_token_ = 0;
    std::vector<Ipv6Addr> peer_v6_;
    std::vector<Ipv4Addr> peer_v4_;
};

} // namespace nemo::control
