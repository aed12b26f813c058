// The binding tables the workers read and the control thread writes (DESIGN.md "Threads and tables").
//
// Downstream: IPv6 destination -> route. Home addresses have a table of their own, consulted only for
// destinations on the home prefix (home addresses are there, mobile network prefixes never are: the BU
// decision refuses both otherwise); mobile network prefixes have one table per prefix length in use,
// longest prefix first. Upstream needs no table of its own: the inner source is looked up the same way,
// and the packet is accepted only when it came through that binding's tunnel (method, far end, port).
// That is the whole anti-spoofing rule in one lookup, and it lets two bindings share a far end (two
// routers behind one NAT on different ports, or one public address).
//
// The tables are ForwardTables (forward_table.hpp): an entry holds the route's forwarding word next to
// its key, so that a packet of the I, R and U methods costs one cache line and no record.
//
// A prefix table costs its full size up front (pre-faulted) and every downstream miss probes each one, so
// at most Params::max_prefix_lengths of them exist at once (ha.max_prefix_lengths): a binding needing one
// more is refused, and a table whose last key went is freed after an RCU grace period.
//
// Readers never lock: each reader reports a quiescent state once per loop turn to an rte_rcu_qsbr
// variable. A published record is immutable: a change publishes a new record, re-points every key, and
// frees the old one only after a grace period. One writer: the control thread.
#pragma once

#include <array>
#include <atomic>
#include <cstring>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "addr.hpp"
#include "binding.hpp"
#include "forward_table.hpp"

struct rte_rcu_qsbr;

namespace nemo::dp {

class SaTable;

// What a worker needs to forward one binding's traffic. Immutable once published.
struct alignas(64) FastBinding {
    uint32_t id = 0;         // the binding's slot, stable for its life (per-binding counters index)
    uint32_t generation = 0; // bumps with every publish
    TunnelMethod method = TunnelMethod::ipv6;
    bool behind_nat = false;
    bool proxy_nd = false;   // the HoA is defended on the home link (every home registration)
    bool router = false;     // a mobile router (the BU had R): its Neighbor Advertisements set the Router bit
    uint16_t peer_port = 0;  // UDP methods: the MR's port as seen
    Ipv4Addr peer;           // IPv4 methods: the tunnel's far end as seen
    Ipv6Addr hoa;
    Ipv6Addr coa6;           // method ipv6
    uint64_t seal = 0;       // seal_of(id, generation): lets tests catch torn or recycled records

    static uint64_t seal_of(uint32_t id, uint32_t generation)
    {
        return (uint64_t{id} * 0x9E3779B97F4A7C15ull) ^ (uint64_t{generation} << 1) ^ 0x5EA1ull;
    }
};

class BindingTables {
public:
    struct Params {
        std::string name = "nemo";  // names the process's DPDK objects of these tables (unique per process)
        uint32_t capacity = 65536;  // bindings; also the size of each per-length prefix table
        uint32_t max_readers = 64;  // RCU reader slots (worker lcores, test threads)
        // Destinations on it are looked up among home addresses only, others among prefixes only.
        // Unset: both, home addresses first.
        std::optional<Prefix6> home_prefix;
        // Prefix tables (one per prefix length) that may exist at once.
        uint32_t max_prefix_lengths = 4;
    };
    // Null on failure, with the reason in *error.
    static std::unique_ptr<BindingTables> create(const Params& params, std::string* error);
    ~BindingTables();
    BindingTables(const BindingTables&) = delete;
    BindingTables& operator=(const BindingTables&) = delete;

    // ---- readers ----
    rte_rcu_qsbr* rcu() const { return rcu_; }
    // RCU reader registration and reports touch only the RCU variable, not the tables: const.
    bool register_reader(unsigned reader_id) const; // then online; call from the reader thread
    void unregister_reader(unsigned reader_id) const;
    void quiescent(unsigned reader_id) const;       // once per loop turn

    static constexpr unsigned kMaxBulk = 64;
    // One destination: route_bulk with one key (the same walk over the tables).
    Route route(const Ipv6Addr& dst) const;
    const FastBinding* lookup_downstream(const Ipv6Addr& dst) const
    {
        const Route r = route(dst);
        return r.live() ? r.rec : nullptr;
    }
    // False when no binding can route `dst`: no key of a table lies in dst's /48 (keys shorter than /48
    // make it always true). A bit of an 8 KiB map that stays in cache: the upstream path asks it before
    // looking a decapsulated packet's destination up (RFC 3963 6.5), so that traffic to the Internet
    // pays no second table lookup. True may be a false positive; false is exact.
    bool may_route(const Ipv6Addr& dst) const
    {
        if (cover_all_.load(std::memory_order_relaxed)) return true;
        const uint32_t i = cover_index(dst);
        return (cover_[i >> 6].load(std::memory_order_acquire) >> (i & 63)) & 1;
    }
    // Up to 64 destinations; out[i] is null where nothing matches.
    void lookup_downstream_bulk(const Ipv6Addr* const* dsts, unsigned n, const FastBinding** out) const;
    // The fast path's lookup: up to 64 destinations to routes (out[i].live() false where nothing
    // matches). The first bucket of every key is prefetched before the first is read, and the records
    // of the routes that need theirs before the caller reads them.
    // The same over addresses in place: 16 bytes at addrs[i] + at (a packet's IPv6 header and 24 for
    // its destination, say).
    void route_bulk(const uint8_t* const* addrs, unsigned n, Route* out, unsigned at = 0) const;
    void route_bulk(const Ipv6Addr* const* dsts, unsigned n, Route* out) const
    {
        const uint8_t* p[kMaxBulk] = {}; // initialized: GCC 12 warns of a const array argument otherwise
        n = n < kMaxBulk ? n : kMaxBulk;
        for (unsigned i = 0; i < n; ++i) p[i] = dsts[i]->bytes.data();
        route_bulk(p, n, out);
    }
    // The binding owning `inner_src`, if the packet came through its tunnel; null otherwise.
    const FastBinding* match_upstream(const Ipv6Addr& inner_src, TunnelMethod via, Ipv4Addr outer_src,
                                      uint16_t outer_sport) const
    {
        const Route r = route(inner_src);
        return came_through(r, via, outer_src, outer_sport) ? r.rec : nullptr;
    }
    void match_upstream_bulk(const Ipv6Addr* const* inner_srcs, const Ipv4Addr* outer_srcs,
                             const uint16_t* outer_sports, TunnelMethod via, unsigned n,
                             const FastBinding** out) const;
    // Whether a packet that arrived through a tunnel of `via` came through b's: the same method and far
    // end, that is the IPv6 care-of address for IPv6-in-IPv6 (outer_src6), the IPv4 one otherwise, and the
    // UDP port for U and S+U.
    static bool came_through(const FastBinding& b, TunnelMethod via, Ipv4Addr outer_src, uint16_t outer_sport,
                             const Ipv6Addr* outer_src6 = nullptr)
    {
        return tunnel_matches(b.method, b.peer.value, b.peer_port, &b.coa6, via, outer_src, outer_sport, outer_src6);
    }
    // The same for a route: from its word for the methods that forward from it, else from its record.
    static bool came_through(const Route& r, TunnelMethod via, Ipv4Addr outer_src, uint16_t outer_sport,
                             const Ipv6Addr* outer_src6 = nullptr)
    {
        if (!r.live()) return false;
        if (r.needs_record()) return r.rec && came_through(*r.rec, via, outer_src, outer_sport, outer_src6);
        return tunnel_matches(r.method(), r.peer(), r.port(), nullptr, via, outer_src, outer_sport, outer_src6);
    }
    // The forwarding word of a record (forward_table.hpp).
    static uint64_t route_word(const FastBinding& b) { return Route::make(b.method, b.peer.value, b.peer_port); }

    // ---- the writer (control thread only) ----
    // Publishes binding `b` in slot `id` (< capacity): its HoA and its prefixes. Replaces what the slot
    // had. On failure (a key owned by another slot, a table full) the slot's previous state is left as it
    // was and *error says why.
    // too_many_lengths: a prefix length that has no table, and Params::max_prefix_lengths tables exist.
    enum class PublishError : uint8_t { none, conflict, full, bad_slot, too_many_lengths };
    PublishError publish(uint32_t id, const Binding& b, std::string* error);
    void withdraw(uint32_t id);
    // From now on every binding's slot is told to `sas` (SaTable::bind_slot), so that a route's record
    // leads to its outbound SA by the record's id (SaTable::outbound_for(slot, hoa)). Those published
    // already are told at once.
    void attach_sas(SaTable* sas);
    // Frees retired records whose grace period is over; returns how many are still waiting.
    std::size_t reclaim();
    std::size_t published() const { return published_count_; }
    // Memory of the forwarding tables' buckets outside DPDK's heap (anonymous memory, when the EAL has
    // no hugepages); records and writer state are on the C++ heap.
    std::size_t table_bytes_outside_dpdk() const;
    // The prefix tables that exist (emptied ones waiting for their grace period included) and the memory of
    // their buckets, wherever it lives.
    std::size_t prefix_tables() const;
    std::size_t prefix_table_bytes() const;
    uint32_t capacity() const { return params_.capacity; }

private:
    explicit BindingTables(const Params& p) : params_(p) {}
    // The tunnel-origin rule itself, over a binding's far end (coa6: its IPv6 care-of address, if known).
    static bool tunnel_matches(TunnelMethod method, uint32_t peer, uint16_t peer_port, const Ipv6Addr* coa6,
                               TunnelMethod via, Ipv4Addr outer_src, uint16_t outer_sport, const Ipv6Addr* outer_src6)
    {
        if (method != via) return false;
        if (via == TunnelMethod::ipv6) return coa6 && outer_src6 && *coa6 == *outer_src6;
        if (peer != outer_src.value) return false;
        return (via != TunnelMethod::udp && via != TunnelMethod::esp_udp) || peer_port == outer_sport;
    }

    struct Slot {
        FastBinding* rec = nullptr;
        Ipv6Addr hoa;
        std::vector<Prefix6> keys; // mobile network prefixes
    };
    struct Retired {
        uint64_t token;
        FastBinding* rec;
    };

    ForwardTable* table_for(uint8_t len, std::string* error);
    void count_length(uint8_t len, int delta);
    // Frees the tables that lost their last key a grace period ago, but those of the lengths in *keep.
    void free_empty_tables(const std::array<bool, 129>* keep = nullptr);
    void retire(FastBinding* rec);
    // A binding may have several prefixes of one length: a prefix table takes more keys than bindings.
    uint32_t prefix_keys() const { return params_.capacity + params_.capacity / 2 + 64; }

    static uint32_t cover_index(const Ipv6Addr& a)
    {
        uint64_t w;
        std::memcpy(&w, a.bytes.data(), 8);
        w &= 0x0000FFFFFFFFFFFFull; // the /48 (the first six bytes on a little-endian CPU, as DPDK's x86)
        return static_cast<uint32_t>((w * 0x9E3779B97F4A7C15ull) >> 48);
    }
    // The writer's side of may_route: added before a key is published, removed after it is erased.
    void cover_add(const Ipv6Addr& a, uint8_t len);
    void cover_remove(const Ipv6Addr& a, uint8_t len);

    Params params_;
    std::array<std::atomic<uint64_t>, 1024> cover_{}; // bit per /48 hash: some key lies there
    std::vector<uint32_t> cover_count_ = std::vector<uint32_t>(65536); // keys per bit (writer only)
    uint32_t short_keys_ = 0;                                           // keys shorter than /48
    std::atomic<bool> cover_all_{false};
    uint64_t home_mask_[2] = {}, home_value_[2] = {}; // the home prefix as two masked words
    rte_rcu_qsbr* rcu_ = nullptr;
    std::array<std::unique_ptr<ForwardTable>, 129> down_{}; // mobile network prefixes per length; made on first use
    std::unique_ptr<ForwardTable> home_;                     // home addresses
    std::array<std::atomic<uint64_t>, 3> lengths_{}; // bit L: table L has keys (readers skip the rest)
    std::array<uint32_t, 129> length_keys_{};        // writer's count of keys per length
    // For a table whose last key went: the RCU token after which no reader can still be probing it.
    std::array<std::optional<uint64_t>, 129> empty_since_{};
    std::vector<Slot> slots_;
    SaTable* sas_ = nullptr;
    std::vector<Retired> retired_;
    uint32_t generation_ = 0;
    std::size_t published_count_ = 0;
};

} // namespace nemo::dp
