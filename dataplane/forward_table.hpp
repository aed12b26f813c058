// The exact-match table the fast path forwards from: a 16-byte key (an address masked to a prefix
// length) to a route. A bucket is one cache line with two entries, and an entry holds the key, the
// route's forwarding word and the binding's record pointer: for the IPv4 tunnel methods without keys
// (I, R, U) one cache line answers a packet, with no further memory access. IPv6-in-IPv6 and ESP need
// the record (an IPv6 care-of address, the home address for the SA) and read it through the pointer.
//
// Open addressing over buckets (linear probing), at most half full: a lookup reads one bucket almost
// always. Readers never lock and never write. One writer (the control thread): an entry is written key
// first, then its word with release order; a deleted entry stays a tombstone until an RCU grace period
// has passed, so a reader that matched a key never sees that slot reused under it. Re-pointing a key
// stores the record, then the word, each atomically: a reader sees the old route or the new one.
//
// The buckets live in DPDK's memory when the EAL has hugepages, and otherwise in anonymous memory with
// transparent huge pages asked for: with 4 KiB pages a table of a million keys costs a TLB miss per
// packet on top of the cache miss.
#pragma once

#include <nmmintrin.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tunnel_method.hpp"

struct rte_rcu_qsbr;

namespace nemo::dp {

struct FastBinding;

// One route in a word: bits 0-7 the state (0 empty, 1 and 2 deleted; 3 + method live), bit 8 set when
// the record must be read (IPv6-in-IPv6, ESP), bits 16-31 the far end's UDP port, bits 32-63 its IPv4
// address. The IPv4 methods without keys forward from the word alone.
struct Route {
    uint64_t word = 0;
    // The binding's record, from the same cache line. Read it when needs_record(); it may be newer than
    // the word (then its own fields decide) and is null when the binding just went away.
    const FastBinding* rec = nullptr;

    static constexpr uint64_t kEmpty = 0, kTombPending = 1, kTombFree = 2, kLiveBase = 3;
    static constexpr uint64_t kNeedsRecord = 1u << 8;

    static uint64_t make(TunnelMethod m, uint32_t peer, uint16_t port)
    {
        const bool rec = m == TunnelMethod::ipv6 || m == TunnelMethod::esp || m == TunnelMethod::esp_udp;
        return (kLiveBase + static_cast<uint64_t>(m)) | (rec ? kNeedsRecord : 0) | (uint64_t{port} << 16) |
               (uint64_t{peer} << 32);
    }
    static bool live_word(uint64_t w) { return (w & 0xFF) >= kLiveBase; }
    // The method, as an index below kTunnelMethodCount, when the route is live and forwards from its
    // word alone (I, R, U); kTunnelMethodCount or more otherwise (dead, or the record is needed).
    uint64_t word_only_method() const { return (word & (kNeedsRecord | 0xFF)) - kLiveBase; }
    bool live() const { return live_word(word); }
    bool needs_record() const { return (word & kNeedsRecord) != 0; }
    TunnelMethod method() const { return static_cast<TunnelMethod>((word & 0xFF) - kLiveBase); }
    uint16_t port() const { return static_cast<uint16_t>(word >> 16); }
    uint32_t peer() const { return static_cast<uint32_t>(word >> 32); }
};

class ForwardTable {
public:
    struct Key {
        uint64_t w[2];
        bool operator==(const Key&) const = default;
    };
    // Room for `max_keys` live keys (and as many deleted ones waiting for their grace period).
    static std::unique_ptr<ForwardTable> create(uint32_t max_keys, rte_rcu_qsbr* rcu, std::string* error);
    ~ForwardTable();
    ForwardTable(const ForwardTable&) = delete;
    ForwardTable& operator=(const ForwardTable&) = delete;

    // ---- readers ----
    static uint32_t hash(const Key& k);
    // The bucket a key starts at, for prefetching a burst's buckets before the first is read.
    const void* bucket_of(uint32_t hash) const { return &buckets_[hash & mask_]; }
    // Route of `k` (hash(k) = h); false when absent.
    bool lookup(const Key& k, uint32_t h, Route& out) const;
    bool lookup(const Key& k, Route& out) const { return lookup(k, hash(k), out); }

    // ---- the writer ----
    // Inserts `k` or re-points it. False when the table holds max_keys live keys already.
    bool set(const Key& k, uint64_t word, const FastBinding* rec);
    // Removes `k`; false when it was absent.
    bool erase(const Key& k);
    // Deleted slots whose grace period is over become reusable. Returns how many still wait.
    std::size_t reclaim();
    uint32_t size() const { return live_; }
    uint32_t tombstones() const { return tombs_; } // deleted slots not yet empty again
    std::size_t bytes() const { return bytes_; } // the buckets' memory
    bool in_dpdk_heap() const { return rte_memory_; }
    // How many buckets past its first a live key sits (nullopt: absent). For diagnostics and tests.
    std::optional<uint32_t> distance(const Key& k) const;
    uint32_t max_probe() const { return max_probe_.load(std::memory_order_relaxed); }

private:
    struct Entry {
        uint64_t key[2];
        std::atomic<uint64_t> word;
        std::atomic<const FastBinding*> rec;
    };
    struct alignas(64) Bucket {
        Entry e[2];
    };
    static_assert(sizeof(Bucket) == 64);
    static constexpr unsigned kWays = 2;

    ForwardTable() = default;
    Entry& entry(uint32_t slot) { return buckets_[slot / kWays].e[slot % kWays]; }
    // The slot holding `k` live, or -1.
    int64_t find(const Key& k, uint32_t h) const;

    Bucket* buckets_ = nullptr;
    std::size_t bytes_ = 0;
    bool rte_memory_ = false;
    uint32_t mask_ = 0;         // buckets - 1
    uint32_t max_keys_ = 0;
    uint32_t live_ = 0;
    uint32_t tombs_ = 0;
    // The longest probe any live key needed, in buckets past its first: a lookup reads no further.
    std::atomic<uint32_t> max_probe_{0};
    rte_rcu_qsbr* rcu_ = nullptr;
    struct Pending {
        uint64_t token;
        uint32_t slot;
    };
    std::vector<Pending> pending_; // deleted slots waiting for a grace period, oldest first
};

// Inline: the fast path looks a key up per packet (BindingTables::route_bulk).
inline uint32_t ForwardTable::hash(const Key& k)
{
    return static_cast<uint32_t>(_mm_crc32_u64(_mm_crc32_u64(0x9E3779B9u, k.w[0]), k.w[1]));
}

// The fast path's probe: the same walk as find(), over entries rather than slot numbers. Written
// out rather than built on find(), which measured 15 % slower in BM_DownstreamBulk.
inline bool ForwardTable::lookup(const Key& k, uint32_t h, Route& out) const
{
    const uint32_t probes = max_probe_.load(std::memory_order_acquire);
    for (uint32_t i = 0; i <= probes; ++i) {
        for (const Entry& e : buckets_[(h + i) & mask_].e) {
            // The word first: a key is read only once a live word published it (the writer stores
            // keys into free slots while readers run).
            const uint64_t w = e.word.load(std::memory_order_acquire);
            if (Route::live_word(w) && e.key[0] == k.w[0] && e.key[1] == k.w[1]) {
                out.word = w;
                out.rec = e.rec.load(std::memory_order_acquire);
                return true;
            }
            if (w == Route::kEmpty) return false;
        }
    }
    return false;
}

} // namespace nemo::dp
