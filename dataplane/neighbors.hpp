// Link-layer addresses of next hops, IPv4 (ARP) and IPv6 (ND): read by the workers without locks,
// written by the control thread (static entries from the config, then what it learns). A worker that
// misses asks the control thread to resolve the address through a ring and drops the packet (counted).
// Gateways (not static) are resolved by the control thread at start and every
// dataplane.gateway_refresh_s after.
//
// Learned entries are bounded: at most `capacity` of them. Each ages: once it is max_age old the control
// thread asks for it again (probe), and removes it if nobody answers within the probe window. A full
// table evicts to make room (see learn()). A removed key's slot waits for the RCU grace period of the
// workers (the binding tables' QSBR variable, which they report to every loop turn): a worker in the
// middle of a lookup still reads a whole key and MAC, and the slot is reused only after every worker
// has passed a quiescent state. The table never calls into the RCU variable when it is destroyed.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "addr.hpp"
#include "addr_hash.hpp"

struct rte_hash;
struct rte_ring;
struct rte_rcu_qsbr;

namespace nemo::dp {

struct ResolveRequest {
    uint8_t family; // 4 or 6
    uint8_t pad[3];
    uint8_t addr[16];
};

// An IPv4 or IPv6 address as one key (the control thread's bookkeeping).
struct NeighborKey {
    uint8_t family = 0; // 4 or 6
    std::array<uint8_t, 16> b{};
    static NeighborKey of(Ipv4Addr a)
    {
        NeighborKey k;
        k.family = 4;
        std::memcpy(k.b.data(), &a.value, 4);
        return k;
    }
    static NeighborKey of(const Ipv6Addr& a)
    {
        NeighborKey k;
        k.family = 6;
        k.b = a.bytes;
        return k;
    }
    Ipv4Addr v4() const
    {
        Ipv4Addr a;
        std::memcpy(&a.value, b.data(), 4);
        return a;
    }
    Ipv6Addr v6() const { return Ipv6Addr::from_bytes(b.data()); }
    bool operator==(const NeighborKey&) const = default;
};

struct NeighborKeyHash {
    std::size_t operator()(const NeighborKey& k) const noexcept
    {
        return Ipv6Hash{}(Ipv6Addr::from_bytes(k.b.data())) ^ k.family;
    }
};

// What a learned entry came from: decides what a full table evicts first.
enum class NeighborOrigin : uint8_t {
    reply,        // an answer to our request: a next hop some worker needed
    solicitation, // a request addressed to us: the asker may never receive anything else from us
};

enum class LearnResult : uint8_t {
    added,
    refreshed,  // known: MAC (re)set, age restarted
    is_static,  // a static entry: left alone
    table_full, // no room, and nothing this origin may evict (or the hash refused the key)
};

class Neighbors {
public:
    // rcu: the QSBR variable the workers report quiescent states to; removed entries wait for it. Null
    // only where nothing reads the table concurrently with the control thread (tests, benchmarks).
    static std::unique_ptr<Neighbors> create(const std::string& name, uint32_t capacity, std::string* error,
                                             rte_rcu_qsbr* rcu = nullptr);
    ~Neighbors();

    // ---- workers ----
    std::optional<MacAddr> lookup(Ipv4Addr a) const;
    std::optional<MacAddr> lookup(const Ipv6Addr& a) const;
    void request(Ipv4Addr a) const;
    void request(const Ipv6Addr& a) const;
    // Bumped after every change to the table (an entry added, its MAC set again, or removed): a worker
    // that read it before a lookup may keep what the lookup found while it reads the same number.
    uint64_t changes() const { return changes_.load(std::memory_order_acquire); }

    // ---- the control thread ----
    // Static entries (is_static) are never replaced by learning, never age and do not count against the
    // capacity; set(..., false) learns as from a reply at the last time expire() was given.
    void set(Ipv4Addr a, const MacAddr& mac, bool is_static);
    void set(const Ipv6Addr& a, const MacAddr& mac, bool is_static);
    // Learns or refreshes an entry at time `now` (seconds). When the table is full the oldest entry
    // being probed goes first, then the oldest learned from a solicitation; an answer to our own request
    // may also evict the oldest other answer. Pinned entries (configured gateways) are never evicted.
    LearnResult learn(const NeighborKey& k, const MacAddr& mac, NeighborOrigin origin, uint64_t now, bool pinned = false);
    // Ageing, once a second or so: entries max_age_s old move to probing (returned in `probe`: ask for
    // them again); entries probing for probe_s without an answer are removed.
    void expire(uint64_t now, uint32_t max_age_s, uint32_t probe_s, std::vector<NeighborKey>& probe);
    std::optional<MacAddr> known(const NeighborKey& k) const;
    bool next_request(ResolveRequest& r);
    bool is_static(Ipv4Addr a) const { return statics_.count(NeighborKey::of(a)) != 0; }
    bool is_static(const Ipv6Addr& a) const { return statics_.count(NeighborKey::of(a)) != 0; }
    bool is_static(const NeighborKey& k) const { return statics_.count(k) != 0; }
    std::size_t learned() const { return entries_.size(); }

    // Read by the telemetry and CLI threads too.
    uint64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }
    uint64_t expired() const { return expired_.load(std::memory_order_relaxed); }
    uint64_t refused_full() const { return refused_full_.load(std::memory_order_relaxed); }

private:
    void set_key(const NeighborKey& k, const MacAddr& mac, bool is_static);
    Neighbors() = default;
    enum List : uint8_t { kReply, kSolicitation, kProbing, kLists };
    struct Entry {
        MacAddr mac;
        uint64_t since; // learned at (fresh lists), probing since (kProbing)
        List list;
        bool pinned;
        std::list<NeighborKey>::iterator pos;
    };
    bool hash_add(const NeighborKey& k, const MacAddr& mac);
    void hash_del(const NeighborKey& k);
    void move_to(Entry& e, const NeighborKey& k, List l, uint64_t since);
    bool evict_one(std::initializer_list<List> from);
    void reclaim();
    void remove(std::unordered_map<NeighborKey, Entry, NeighborKeyHash>::iterator it, bool from_hash);

    rte_hash* v4_ = nullptr;
    rte_hash* v6_ = nullptr;
    rte_ring* requests_ = nullptr;
    uint32_t capacity_ = 0;
    rte_rcu_qsbr* rcu_ = nullptr;
    struct Retired {
        uint64_t token;
        rte_hash* hash;
        int32_t pos;
    };
    std::deque<Retired> retired_;
    uint64_t last_now_ = 0;
    std::unordered_map<NeighborKey, MacAddr, NeighborKeyHash> statics_;
    std::unordered_map<NeighborKey, Entry, NeighborKeyHash> entries_;
    std::list<NeighborKey> lists_[kLists]; // oldest first
    std::atomic<uint64_t> changes_{0};
    std::atomic<uint64_t> evicted_{0};
    std::atomic<uint64_t> expired_{0};
    std::atomic<uint64_t> refused_full_{0};
};

} // namespace nemo::dp
