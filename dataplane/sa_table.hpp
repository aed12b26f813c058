// The security associations, as the workers and the control thread use them: SPI -> SA for inbound
// packets, home address -> outbound SA for what the home agent sends. The control thread changes the set
// (config, CLI); workers read an immutable snapshot published atomically and retired after an RCU grace
// period, so a lookup never locks. An SA's replay window and counters are its own mutable state: an SA's
// packets reach one worker (RSS hashes the tunnel's addresses), so the window has a single writer.
#pragma once

#include <atomic>
#include <cstdint>
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
    std::atomic<uint64_t> next_seq{1};   // outbound
    std::atomic<uint64_t> counters[static_cast<std::size_t>(SaCounter::count_)] = {};

    // The transform holds the expanded keys; the raw ones are not kept (zeroed, their lengths stay so
    // that `show sa` can say which keys the SA has).
    SaEntry(const SaConfig& c, std::unique_ptr<EspTransform> t) : cfg(c), transform(std::move(t)), window(c.window, c.esn)
    {
        for (auto* key : {&cfg.enc_key, &cfg.auth_key})
            for (auto& b : *key) *static_cast<volatile uint8_t*>(&b) = 0;
    }
    void inc(SaCounter k, uint64_t n = 1) { counters[static_cast<std::size_t>(k)].fetch_add(n, std::memory_order_relaxed); }
    uint64_t get(SaCounter k) const { return counters[static_cast<std::size_t>(k)].load(std::memory_order_relaxed); }
    // Past its packet or byte lifetime. Outbound, packets are counted by the sequence numbers handed
    // out, so that the packets of one burst, numbered before any of them is counted, cannot overshoot.
    bool expired() const
    {
        const uint64_t packets = cfg.inbound ? get(SaCounter::packets) : next_seq.load(std::memory_order_relaxed) - 1;
        return (cfg.life_packets && packets >= cfg.life_packets) || (cfg.life_bytes && get(SaCounter::bytes) >= cfg.life_bytes);
    }
};

class SaTable {
public:
    explicit SaTable(rte_rcu_qsbr* rcu) : rcu_(rcu), current_(new Snapshot) {}
    ~SaTable();

    // ---- readers ----
    SaEntry* inbound(uint32_t spi) const;
    SaEntry* outbound_for(const Ipv6Addr& hoa) const;

    // ---- the control thread ----
    std::optional<std::string> add(const SaConfig& sa);
    // Many at once, published as one snapshot (a start-up with many SAs would otherwise copy the table
    // once per SA). All or nothing; the message names the SA at fault.
    std::optional<std::string> add_all(std::span<const SaConfig> sas);
    bool remove(uint32_t spi);
    void reclaim();
    std::vector<const SaEntry*> list() const;

private:
    struct Snapshot {
        std::unordered_map<uint32_t, SaEntry*> by_spi;
        std::unordered_map<Ipv6Addr, SaEntry*, Ipv6Hash> outbound_by_hoa;
    };
    void publish(std::unique_ptr<Snapshot> next, SaEntry* gone);

    rte_rcu_qsbr* rcu_;
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
