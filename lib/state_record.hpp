// The records of nemo-ha's durable state, as bytes: one binding, one operator change to the mobile
// routers or SAs, one outbound SA's reserved sequence numbers. Every backend (the embedded store, a
// cluster store) keeps these bytes under a key and reads them back; what they mean is decided here.
//
// Each record starts with its format byte and ends with a CRC-32 of everything before it: the
// databases detect their own torn writes, not a flipped bit in a value, and a record that does not
// decode is reported, never half-used. Times are wall-clock (Unix seconds): a monotonic clock does not
// survive a reboot.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "binding.hpp"
#include "key_material.hpp"
#include "sa_text.hpp"

namespace nemo {

inline constexpr uint8_t kStateRecordFormat = 1;

// A binding as stored: created/updated/expires are Unix seconds here.
struct StoredBinding {
    Binding binding;
    uint32_t sa_out_spi = 0; // the outbound SA serving the home address when it was stored; 0: none
};

std::vector<uint8_t> encode_binding(const StoredBinding& b);
// Nullopt (and *why) when the bytes are not a whole, intact binding record of this format.
std::optional<StoredBinding> decode_binding(std::span<const uint8_t> rec, std::string* why);

// An operator's change to the mobile nodes (`add mr`, `del mr`): added carries the provision.
struct MrChange {
    bool added = true;
    MrProvision mr; // for a removal only mr.hoa matters
};
std::vector<uint8_t> encode_mr_change(const MrChange& c);
std::optional<MrChange> decode_mr_change(std::span<const uint8_t> rec, std::string* why);

// An operator's change to the SAs (`add sa`, `del sa`): added carries the whole SA, keys included, so
// the record is key material (KeyBytes: wiped when freed).
struct SaChange {
    bool added = true;
    SaConfig sa; // for a removal only sa.spi matters
};
KeyBytes encode_sa_change(const SaChange& c);
std::optional<SaChange> decode_sa_change(std::span<const uint8_t> rec, std::string* why);

// Sequence numbers an outbound SA may use: every number below `reserved` may have been sent. `key`
// tells the key it was reserved under (the first bytes of the key fingerprint), so that a new key under
// the same SPI starts again at 1.
struct SeqReservation {
    uint64_t key = 0;
    uint64_t reserved = 0;
};
std::vector<uint8_t> encode_seq(const SeqReservation& r);
std::optional<SeqReservation> decode_seq(std::span<const uint8_t> rec, std::string* why);

// A binding's times between the control plane's monotonic clock and the wall clock.
Binding binding_to_wall(const Binding& b, uint64_t now_mono, uint64_t now_wall);
Binding binding_to_mono(const Binding& b, uint64_t now_mono, uint64_t now_wall);

} // namespace nemo
