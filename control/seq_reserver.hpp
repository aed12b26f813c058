// Outbound ESP sequence numbers reserved ahead in the state store: an SA sends only numbers up to a
// ceiling the store has made durable (SaEntry::seq_ceiling), and a restart continues above the last
// ceiling stored under the SA's key. The blocks' size: lib/seq_reserve.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "sa_table.hpp"
#include "state_store.hpp"

namespace nemo::control {

class SeqReserver {
public:
    SeqReserver(dp::SaTable& sas, StateStore& store) : sas_(sas), store_(store) {}

    // At start, before the workers send: every outbound SA continues above what `stored` reserved under
    // its key, and its first block is made durable. False with *error when the store cannot sync (the
    // SAs then send nothing until a later reservation is durable).
    bool start(const std::unordered_map<uint32_t, SeqReservation>& stored, uint64_t now_ms, std::string* error);
    // Each control-loop turn: raises the ceilings whose reservation is durable, and stages a new
    // reservation for every SA running low (or new: `add sa`). Looks at most every 100 ms unless forced.
    void poll(uint64_t now_ms, bool force = false);

    // The first bytes of the SA's key fingerprint: what its reservations are stored under.
    static uint64_t key_of(const dp::SaEntry& sa);

private:
    struct Track {
        uint64_t key = 0;
        uint64_t pending_batch = 0; // 0: none staged
        uint64_t pending_ceiling = 0;
        uint64_t last_next = 0, last_ms = 0, rate = 0;
    };
    dp::SaTable& sas_;
    StateStore& store_;
    std::unordered_map<uint32_t, Track> tracks_; // by SPI
    uint64_t polled_ms_ = 0;
};

} // namespace nemo::control
