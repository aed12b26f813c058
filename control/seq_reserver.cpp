#include "seq_reserver.hpp"

#include <cstring>
#include <unordered_set>

#include "seq_reserve.hpp"

namespace nemo::control {

uint64_t SeqReserver::key_of(const dp::SaEntry& sa)
{
    const auto ids = sa.transform->key_ids();
    uint64_t k = 0;
    if (!ids.empty()) std::memcpy(&k, ids[0].data(), sizeof k);
    return k;
}

bool SeqReserver::start(const std::unordered_map<uint32_t, SeqReservation>& stored, uint64_t now_ms, std::string* error)
{
    for (dp::SaEntry* sa : sas_.outbound()) {
        if (sa->cfg.negotiated) continue; // fresh keys: nothing to continue above
        auto it = stored.find(sa->cfg.spi);
        // Under the same key only: a new key under an old SPI starts again at 1.
        if (it != stored.end() && it->second.key == key_of(*sa) && it->second.reserved >= sa->next_seq.load())
            sa->next_seq.store(it->second.reserved + 1); // past the last number: exhausted, as it was
    }
    poll(now_ms, true);
    if (!store_.sync_now(error)) return false;
    poll(now_ms, true); // raises the ceilings now durable
    return true;
}

void SeqReserver::poll(uint64_t now_ms, bool force)
{
    if (!force && now_ms - polled_ms_ < 100) return;
    polled_ms_ = now_ms;
    const uint64_t durable = store_.durable();
    std::unordered_set<uint32_t> seen;
    for (dp::SaEntry* sa : sas_.outbound()) {
        if (sa->cfg.negotiated) continue; // IKEv2's SAs are never continued after a restart
        const uint32_t spi = sa->cfg.spi;
        seen.insert(spi);
        Track& t = tracks_[spi];
        const uint64_t key = key_of(*sa);
        if (t.key != key) t = Track{key, 0, 0, 0, now_ms, 0}; // a new SA (or new keys) under this SPI
        const uint64_t next = sa->next_seq.load(std::memory_order_relaxed);
        if (now_ms > t.last_ms && t.last_next != 0) t.rate = (next - t.last_next) * 1000 / (now_ms - t.last_ms);
        t.last_next = next;
        t.last_ms = now_ms;
        if (t.pending_batch != 0) {
            if (durable < t.pending_batch) continue;
            if (t.pending_ceiling > sa->seq_ceiling.load()) sa->seq_ceiling.store(t.pending_ceiling);
            t.pending_batch = 0;
        }
        if (auto to = next_seq_reservation(next, sa->seq_ceiling.load(), t.rate, sa->cfg.esn)) {
            store_.put_seq(spi, SeqReservation{key, *to});
            t.pending_batch = store_.staged_batch();
            t.pending_ceiling = *to;
        }
    }
    for (auto it = tracks_.begin(); it != tracks_.end();)
        it = seen.count(it->first) ? std::next(it) : tracks_.erase(it);
}

} // namespace nemo::control
