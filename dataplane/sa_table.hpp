// The security associations, as the workers and the control thread use them: SPI -> SA for inbound
// packets, home address -> outbound SA for what the home agent sends. The control thread changes the set
// (config, CLI); workers read an immutable snapshot published atomically and retired after an RCU grace
// period, so a lookup never locks. An SA's replay window and counters are its own mutable state: an SA's
// packets reach one worker (RSS hashes the tunnel's addresses), so the window has a single writer.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "addr_hash.hpp"
#include "anti_replay.hpp"
#include "esp_transform.hpp"
#include "sa_text.hpp"

struct rte_rcu_qsbr;

namespace nemo::dp {

#define NEMO_SA_COUNTERS(X)                                           \
    X(packets, "packets protected or verified")                      \
    X(bytes, "bytes protected or verified")                           \
    X(drop_replayed, "dropped: sequence number already seen")         \
    X(drop_too_old, "dropped: sequence number left of the window")    \
    X(drop_icv, "dropped: ICV does not verify")                       \
    X(drop_padding, "dropped: bad padding or next header")            \
    X(drop_truncated, "dropped: too short for the algorithm")         \
    X(drop_expired, "dropped: byte or packet lifetime exceeded")      \
    X(drop_exhausted, "dropped: the last sequence number was sent (RFC 4303 3.3.3)") \
    X(drop_unreserved, "dropped: sequence numbers beyond those the state store has made durable") \
    X(drop_wrong_binding, "dropped: inner source not this SA's home address or prefixes") \
    X(seq_abandoned, "outbound: sequence numbers a worker claimed and never sent, its block gone stale")

enum class SaCounter : uint8_t {
#define NEMO_SA_ENUM(id, help) id,
    NEMO_SA_COUNTERS(NEMO_SA_ENUM)
#undef NEMO_SA_ENUM
        count_
};
const char* sa_counter_name(SaCounter c);

// Sequence numbers a lane claims at once, at most. Each is sent once and in order on its lane, so the
// receiver sees every number at most once; lanes sealing through one SA at once interleave their
// blocks. One worker: strictly in order.
inline constexpr uint64_t kSeqBlock = 16;
// Several workers: a lane never numbers a packet more than kSeqReorder below the next number no lane
// has claimed. A lane whose held numbers fell further behind (it sat idle while others sent, or its
// burst left part of a block) abandons them, unsent and never reused, and claims afresh: half as many
// as before, so that a lane slower than the others wastes few numbers (its blocks grow back, doubling,
// each time it uses one up). Blocks are kSeqReorder / lanes (at most kSeqBlock), so lanes numbering
// one packet each in turn keep theirs.
// That bounds the numbering, not the wire: a lane numbers a burst (up to 32 packets) before it sends
// any of them, so while it seals, the other lanes may number and send theirs. With the workers at one
// pace (a burst each meanwhile), a packet reaches the receiver within kSeqReorder + 32 x (lanes - 1) of
// the highest number sent before it (64 with two workers; one worker: strictly in order); a worker
// held up between numbering and sending (descheduled) falls further behind. A receiver window smaller
// than that (RFC 4303 3.4.3 allows 32) may drop some packets when several workers seal through one SA.
inline constexpr uint64_t kSeqReorder = 32;
inline constexpr uint64_t seq_block_for(unsigned lanes)
{
    return std::clamp<uint64_t>(kSeqReorder / (lanes ? lanes : 1), 1, kSeqBlock);
}

// One lcore's share of an SA, written by that lcore alone (plain stores, no locked instruction) and
// read by the control thread: the packets and bytes it protected or verified and, outbound, a block of
// sequence numbers it claimed from the SA's counter. A cache line each, so lanes do not share one.
struct alignas(64) SaLane {
    uint64_t next = 0, end = 0; // outbound: the claimed numbers [next, end) not sent yet
    uint64_t block = kSeqBlock; // outbound: what it claims next: at most the SA's block, halved when it abandons one
    std::atomic<uint64_t> packets{0}, bytes{0};
};

struct SaEntry {
    SaConfig cfg;
    std::unique_ptr<EspTransform> transform;
    ReplayWindow window;                 // inbound
    std::atomic<uint64_t> next_seq{1};   // outbound: the next number no lane has claimed; tests set it near the end
    // The last outbound sequence number that may be sent: with a state store, the high-water mark it has
    // made durable (a restart continues above it, so no number and no GCM nonce repeats under one key);
    // without one, the last the counter has.
    std::atomic<uint64_t> seq_ceiling;
    std::atomic<uint64_t> counters[static_cast<std::size_t>(SaCounter::count_)] = {};

    // The transform holds the expanded keys; the raw ones are not kept (wiped; `show sa` says which
    // keys an SA has from its algorithm). `lanes`: the worker lcores that may use it (SaTable's).
    SaEntry(const SaConfig& c, std::unique_ptr<EspTransform> t, bool reserved_seq = false, unsigned lanes = 0)
        : cfg(c), transform(std::move(t)), window(c.window, c.esn), seq_ceiling(reserved_seq ? 0 : esp_last_seq(c.esn)),
          lanes_(lanes ? new SaLane[lanes] : nullptr), n_lanes_(lanes), owner_(lanes > 1 ? c.spi % lanes : 0),
          // An SA with a packet lifetime counts its packets by the numbers handed out (expired()): it
          // claims one at a time, so that numbers a lane holds unsent do not end it early.
          seq_block_(c.life_packets ? 1 : seq_block_for(lanes))
    {
        wipe(cfg.enc_key);
        wipe(cfg.auth_key);
    }
    // Lane i (a worker's reader id), or null past the lanes the table was made with.
    SaLane* lane(unsigned i) { return i < n_lanes_ ? &lanes_[i] : nullptr; }
    // Outbound, with several workers: the one that numbers and sends every packet of this SA (the
    // others hand theirs to it, WorkerConfig::handoff), so that they leave in the order of their
    // numbers. Its SPI modulo the lanes: fixed for the SA's life, and SPIs a key exchange draws at
    // random (or an operator numbers one after another) spread the SAs over the workers.
    unsigned owner() const { return owner_; }

    // The outbound SA's next sequence number, or none once the last one (esp_last_seq) has been sent:
    // the counter never cycles (RFC 4303 3.3.3) and the SA stays exhausted until an operator (or a key
    // exchange) replaces it. Each refusal is counted (drop_exhausted). Workers and the control thread
    // may seal through one SA at once, hence the compare-and-swap rather than an add that could wrap.
    std::optional<uint64_t> take_seq()
    {
        auto got = claim(1);
        if (!got) return std::nullopt;
        return got->first;
    }
    // The same from lane l's block: a plain increment, and a claim of the next block (one
    // compare-and-swap) every block (seq_block_for) or when the block is stale (kSeqReorder). Numbers
    // claimed and not sent, when the SA goes or the block is abandoned (counted seq_abandoned), are
    // skipped, never reused. A lane's first claim is the used-up case, so its block starts at the SA's.
    std::optional<uint64_t> take_seq(SaLane& l)
    {
        if (l.next != l.end) [[likely]] {
            // A relaxed read of the counter: its line is shared by the lanes, written once a block.
            if (next_seq.load(std::memory_order_relaxed) - l.next <= kSeqReorder) [[likely]]
                return l.next++;
            inc(SaCounter::seq_abandoned, l.end - l.next);
            l.next = l.end;
            l.block = std::max<uint64_t>(1, l.block / 2);
        } else {
            l.block = std::min(l.block * 2, seq_block_); // used up
        }
        auto got = claim(l.block);
        if (!got) return std::nullopt;
        l.next = got->first + 1;
        l.end = got->second;
        return got->first;
    }
    bool exhausted() const { return !cfg.inbound && !esp_seq_available(next_seq.load(std::memory_order_relaxed), cfg.esn); }
    void inc(SaCounter k, uint64_t n = 1) { counters[static_cast<std::size_t>(k)].fetch_add(n, std::memory_order_relaxed); }
    // A packet protected or verified, counted on lane l when there is one.
    void count(SaLane* l, uint64_t bytes)
    {
        if (!l) {
            inc(SaCounter::packets);
            inc(SaCounter::bytes, bytes);
            return;
        }
        l->packets.store(l->packets.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        l->bytes.store(l->bytes.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
    }
    // Packets and bytes are the shared counters plus every lane's.
    uint64_t get(SaCounter k) const
    {
        uint64_t v = counters[static_cast<std::size_t>(k)].load(std::memory_order_relaxed);
        if (k == SaCounter::packets || k == SaCounter::bytes)
            for (unsigned i = 0; i < n_lanes_; ++i)
                v += (k == SaCounter::packets ? lanes_[i].packets : lanes_[i].bytes).load(std::memory_order_relaxed);
        return v;
    }
    // Past its packet or byte lifetime. Outbound, packets are counted by the sequence numbers handed
    // out (claimed by a lane included), so that the packets of one burst, numbered before any of them
    // is counted, cannot overshoot (an exhausted 64-bit counter reads 0: 0 - 1 is still the count
    // handed out). An SA without lifetimes (the usual case) answers at once.
    bool expired() const
    {
        if (!cfg.life_packets && !cfg.life_bytes) [[likely]]
            return false;
        const uint64_t packets = cfg.inbound ? get(SaCounter::packets) : next_seq.load(std::memory_order_relaxed) - 1;
        return (cfg.life_packets && packets >= cfg.life_packets) || (cfg.life_bytes && get(SaCounter::bytes) >= cfg.life_bytes);
    }

private:
    // Up to `want` numbers from the counter, at least one: fewer when the ceiling or the end comes
    // first. [first, end) of what was claimed.
    std::optional<std::pair<uint64_t, uint64_t>> claim(uint64_t want)
    {
        uint64_t v = next_seq.load(std::memory_order_relaxed), take;
        do {
            if (!esp_seq_available(v, cfg.esn)) {
                inc(SaCounter::drop_exhausted);
                return std::nullopt;
            }
            const uint64_t ceiling = seq_ceiling.load(std::memory_order_relaxed);
            if (v > ceiling) {
                inc(SaCounter::drop_unreserved);
                return std::nullopt;
            }
            // v <= both bounds here, so this is at least 1 and cannot wrap. The last number (esp_last_seq)
            // is sendable: the counter moves past it to 2^32 or (64 bits) 0, unavailable from then on.
            const uint64_t left = std::min(ceiling, esp_last_seq(cfg.esn)) - v + 1;
            take = std::min(want, left);
        } while (!next_seq.compare_exchange_weak(v, v + take, std::memory_order_relaxed));
        return std::pair{v, v + take};
    }
    std::unique_ptr<SaLane[]> lanes_;
    unsigned n_lanes_;
    unsigned owner_;
    uint64_t seq_block_; // what a lane claims at once
};

// Every SA is keyed by hand. An SA is refused when it is AES-GCM and the lab switch is off (RFC 4106
// section 2, refuse_manual_gcm) or when it shares a key with another SA (kSharedKeyRule), its own pair
// included.
class SaTable {
public:
    // `lanes`: the worker lcores (reader ids 0..lanes-1) that keep a lane of each SA (SaLane); others,
    // and the control thread, take sequence numbers and count packets on the SA's shared counters.
    explicit SaTable(rte_rcu_qsbr* rcu, bool allow_manual_gcm = false, unsigned lanes = 0)
        : rcu_(rcu), allow_manual_gcm_(allow_manual_gcm), lanes_(lanes), current_(new Snapshot)
    {
        current_.load()->index();
    }
    unsigned lanes() const { return lanes_; } // what each SA's owner() is taken modulo
    // From now on outbound SAs start with no sequence number to send (seq_ceiling 0) until the state
    // store's reservation raises it.
    void reserve_sequence_numbers() { reserved_seq_ = true; }
    ~SaTable();

    // ---- readers ----
    SaEntry* inbound(uint32_t spi) const;
    SaEntry* outbound_for(const Ipv6Addr& hoa) const;
    // The fast path's: the outbound SA of the binding in slot `slot` (BindingTables' FastBinding::id),
    // one load from a slot array, checked against the binding's home address (a slot just given to
    // another binding, or a table without slots, falls back to the lookup by home address).
    SaEntry* outbound_for(uint32_t slot, const Ipv6Addr& hoa) const
    {
        if (slot < n_slots_) [[likely]] {
            SaEntry* sa = by_slot_[slot].load(std::memory_order_acquire);
            if (sa && sa->cfg.hoa == hoa) [[likely]]
                return sa;
        }
        return outbound_for(hoa);
    }
    SaEntry* any(uint32_t spi) const; // either direction (one SPI is one SA here, whichever way it goes)

    // ---- the control thread ----
    std::optional<std::string> add(const SaConfig& sa);
    // Many at once, published as one snapshot (a start-up with many SAs would otherwise copy the table
    // once per SA). All or nothing; the message names the SA at fault.
    std::optional<std::string> add_all(std::span<const SaConfig> sas);
    // Removes the SAs of `gone` and adds `sas` in one snapshot (a reload: a rekey under a new SPI may
    // reuse the home address of an outbound SA removed). All or nothing, as add_all.
    std::optional<std::string> change(std::span<const uint32_t> gone, std::span<const SaConfig> sas);
    bool remove(uint32_t spi);
    // The binding slots (BindingTables::attach_sas): `capacity` slots, then the home address each
    // binding slot holds (null: none), so that the slot array leads straight to its outbound SA.
    void attach_slots(uint32_t capacity);
    void bind_slot(uint32_t slot, const Ipv6Addr* hoa);
    void reclaim();
    std::vector<const SaEntry*> list() const;
    // The outbound SAs, for the control thread's sequence-number reservations (which raise seq_ceiling).
    std::vector<SaEntry*> outbound() const;

private:
    struct Snapshot {
        std::unordered_map<uint32_t, SaEntry*> by_spi;
        std::unordered_map<Ipv6Addr, SaEntry*, Ipv6Hash> outbound_by_hoa;
        // by_spi again for the workers: open addressing with linear probing in a power of two at least
        // twice the SAs (an empty cell has no entry), made once per snapshot.
        std::vector<std::pair<uint32_t, SaEntry*>> spi_cells;
        uint32_t spi_mask = 0;
        void index();
        SaEntry* find(uint32_t spi) const
        {
            for (uint32_t i = spi_hash(spi) & spi_mask;; i = (i + 1) & spi_mask) {
                const auto& c = spi_cells[i];
                if (!c.second || c.first == spi) return c.second;
            }
        }
        static uint32_t spi_hash(uint32_t spi) { return (spi * 0x9E3779B1u) ^ (spi >> 16); }
    };
    // The slot array's side of a change: the slots of these SAs' home addresses lead to them (or,
    // gone, to nothing).
    void point_slots(const std::vector<SaEntry*>& entries, bool present);
    void publish(std::unique_ptr<Snapshot> next, SaEntry* gone);
    struct KeyIdHash {
        std::size_t operator()(const KeyId& k) const
        {
            std::size_t h;
            std::memcpy(&h, k.data(), sizeof h);
            return h;
        }
    };
    using KeyOwners = std::unordered_map<KeyId, uint32_t, KeyIdHash>; // key fingerprint -> SPI

    rte_rcu_qsbr* rcu_;
    bool allow_manual_gcm_;
    bool reserved_seq_ = false;
    unsigned lanes_;
    std::unique_ptr<std::atomic<SaEntry*>[]> by_slot_;
    uint32_t n_slots_ = 0;
    std::unordered_map<Ipv6Addr, uint32_t, Ipv6Hash> slot_of_; // the control thread's: home address -> slot
    std::vector<Ipv6Addr> hoa_of_slot_;                         // and back (unspecified: none)
    KeyOwners key_owner_; // the control thread's alone
    std::atomic<Snapshot*> current_;
    std::vector<std::unique_ptr<SaEntry>> owned_;
    struct Retired {
        uint64_t token;
        Snapshot* snapshot;
        std::unique_ptr<SaEntry> entry;
    };
    std::vector<Retired> retired_;
};

} // namespace nemo::dp
