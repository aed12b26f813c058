// How far ahead an outbound SA's sequence numbers are reserved in the state store (RFC 4303 3.3.3 and
// RFC 4106 8.1: a number, and with GCM the nonce it makes, is never used twice under one key; a restart
// continues above the last reservation made durable, so only numbers never sent are skipped).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "esp_transform.hpp"

namespace nemo {

// A block lasts at least this long at the SA's current rate, and holds at least kMinSeqBlock numbers:
// a reservation is renewed long before it runs out (the control thread looks every 100 ms and a sync
// takes milliseconds), and a restart skips at most one block.
inline constexpr uint64_t kMinSeqBlock = uint64_t{1} << 16;
inline constexpr uint64_t kSeqBlockSeconds = 4;

// The new ceiling (the last number that may be sent once it is durable) for an SA whose next number is
// `next`, whose durable ceiling is `ceiling`, sending `rate_per_s` numbers a second; nullopt while at
// least half a block remains, or when the counter has nothing left to reserve.
inline std::optional<uint64_t> next_seq_reservation(uint64_t next, uint64_t ceiling, uint64_t rate_per_s, bool esn)
{
    const uint64_t last = esp_last_seq(esn);
    if (next == 0 || next > last || ceiling >= last) return std::nullopt;
    const uint64_t block = std::max(kMinSeqBlock, rate_per_s > last / kSeqBlockSeconds ? last : rate_per_s * kSeqBlockSeconds);
    const uint64_t remaining = ceiling >= next ? ceiling - next + 1 : 0;
    if (remaining >= block / 2) return std::nullopt;
    const uint64_t to = last - (next - 1) < block ? last : next - 1 + block;
    if (to <= ceiling) return std::nullopt;
    return to;
}

} // namespace nemo
