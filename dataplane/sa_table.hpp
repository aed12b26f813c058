// The security associations, as the workers and the control thread use them: SPI -> SA for inbound
// packets, home address -> outbound SA for what the home agent sends. The control thread changes the set
// (config, CLI); workers read an immutable snapshot published atomically and retired after an RCU grace
// period, so a lookup never locks. An SA's replay window and counters are its own mutable state: an SA's
// packets reach one worker (RSS hashes the tunnel's addresses), so the window has a single writer.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
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
    X(drop_wrong_binding, "dropped: inner source not this SA's home address or prefixes")

enum class SaCounter : uint8_t {
#define NEMO_SA_ENUM(id, help) id,
    NEMO_SA_COUNTERS(NEMO_SA_ENUM)
#undef NEMO_SA_ENUM
        count_
};
const char* sa_counter_name(SaCounter c);

struct SaEntry {
    SaConfig cfg;
    std::unique_ptr<EspTransform> transform;
    ReplayWindow window;                 // inbound
    std::atomic<uint64_t> next_seq{1};   // outbound; tests set it near the end
    // The last outbound sequence number that may be sent: with a state store, the high-water mark it has
    // made durable (a restart continues above it, so no number and no GCM nonce repeats under one key);
    // without one, the last the counter has.
    std::atomic<uint64_t> seq_ceiling;
    std::atomic<uint64_t> counters[static_cast<std::size_t>(SaCounter::count_)] = {};

    // The transform holds the expanded keys; the raw ones are not kept (wiped; `show sa` says which
    // keys an SA has from its algorithm).
    SaEntry(const SaConfig& c, std::unique_ptr<EspTransform> t, bool reserved_seq = false)
        : cfg(c), transform(std::move(t)), window(c.window, c.esn), seq_ceiling(reserved_seq ? 0 : esp_last_seq(c.esn))
    {
        wipe(cfg.enc_key);
        wipe(cfg.auth_key);
    }
    // The outbound SA's next sequence number, or none once the last one (esp_last_seq) has been sent:
    // the counter never cycles (RFC 4303 3.3.3) and the SA stays exhausted until an operator (or a key
    // exchange) replaces it. Each refusal is counted (drop_exhausted). Workers and the control thread
    // may seal through one SA at once, hence the compare-and-swap rather than an add that could wrap.
    std::optional<uint64_t> take_seq()
    {
        uint64_t v = next_seq.load(std::memory_order_relaxed);
        do {
            if (!esp_seq_available(v, cfg.esn)) {
                inc(SaCounter::drop_exhausted);
                return std::nullopt;
            }
            if (v > seq_ceiling.load(std::memory_order_relaxed)) {
                inc(SaCounter::drop_unreserved);
                return std::nullopt;
            }
        } while (!next_seq.compare_exchange_weak(v, v + 1, std::memory_order_relaxed));
        return v;
    }
    bool exhausted() const { return !cfg.inbound && !esp_seq_available(next_seq.load(std::memory_order_relaxed), cfg.esn); }
    void inc(SaCounter k, uint64_t n = 1) { counters[static_cast<std::size_t>(k)].fetch_add(n, std::memory_order_relaxed); }
    uint64_t get(SaCounter k) const { return counters[static_cast<std::size_t>(k)].load(std::memory_order_relaxed); }
    // Past its packet or byte lifetime. Outbound, packets are counted by the sequence numbers handed
    // out, so that the packets of one burst, numbered before any of them is counted, cannot overshoot
    // (an exhausted 64-bit counter reads 0: 0 - 1 is still the count handed out).
    bool expired() const
    {
        const uint64_t packets = cfg.inbound ? get(SaCounter::packets) : next_seq.load(std::memory_order_relaxed) - 1;
        return (cfg.life_packets && packets >= cfg.life_packets) || (cfg.life_bytes && get(SaCounter::bytes) >= cfg.life_bytes);
    }
};

// Every SA is keyed by hand. An SA is refused when it is AES-GCM and the lab switch is off (RFC 4106
// section 2, refuse_manual_gcm) or when it shares a key with another SA (kSharedKeyRule), its own pair
// included.
class SaTable {
public:
    explicit SaTable(rte_rcu_qsbr* rcu, bool allow_manual_gcm = false)
        : rcu_(rcu), allow_manual_gcm_(allow_manual_gcm), current_(new Snapshot)
    {
    }
    // From now on outbound SAs start with no sequence number to send (seq_ceiling 0) until the state
    // store's reservation raises it.
    void reserve_sequence_numbers() { reserved_seq_ = true; }
    ~SaTable();

    // ---- readers ----
    SaEntry* inbound(uint32_t spi) const;
    SaEntry* outbound_for(const Ipv6Addr& hoa) const;
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
    void reclaim();
    std::vector<const SaEntry*> list() const;
    // The outbound SAs, for the control thread's sequence-number reservations (which raise seq_ceiling).
    std::vector<SaEntry*> outbound() const;

private:
    struct Snapshot {
        std::unordered_map<uint32_t, SaEntry*> by_spi;
        std::unordered_map<Ipv6Addr, SaEntry*, Ipv6Hash> outbound_by_hoa;
    };
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
