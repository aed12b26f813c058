// What a reload changes: the provisioning and the security associations in force against those a
// reloaded configuration asks for, compared entry by entry (mobile nodes by home address, SAs by SPI).
// Pure functions over plain values, no keys: an SA is compared by the fingerprints of its keys
// (EspTransform::key_ids), so the raw keys never need to outlive their transforms.
//
// Policy (README, "Reload"):
//  - a mobile node added is provisioned; one removed loses its binding; one changed (router/host,
//    prefixes, methods) is provisioned anew and keeps its binding only while the binding still fits it
//    (binding_fits); one unchanged is left alone, binding and table entries included.
//  - an SA added is installed; one removed is deleted; an SA whose SPI stays but whose keys, algorithm,
//    direction, home address or parameters change is *refused* (sa_change_error): an SPI names one SA
//    (RFC 4301 4.1), and replacing it in place would restart its sequence numbers, hence, under the same
//    key, repeat GCM nonces (RFC 4106 section 2). The operator rekeys under a new SPI.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "binding.hpp"
#include "esp_transform.hpp"
#include "sa_text.hpp"

namespace nemo {

// An SA without its keys: what identifies it and what a change to it would be.
struct SaDigest {
    uint32_t spi = 0;
    bool inbound = true;
    Ipv6Addr hoa;
    EspAlgorithm algorithm = EspAlgorithm::aes_gcm_128;
    bool esn = false;
    uint32_t window = 0;
    uint64_t life_bytes = 0, life_packets = 0;
    std::vector<KeyId> keys; // fingerprints, in the transform's order

    friend bool operator==(const SaDigest&, const SaDigest&) = default;
};
// The digest of a configured SA whose key fingerprints are known.
SaDigest sa_digest(const SaConfig& sa, std::span<const KeyId> keys);

struct MrChangeSet {
    std::vector<MrProvision> added;
    std::vector<Ipv6Addr> removed;
    std::vector<MrProvision> changed; // the new provisioning
    std::size_t unchanged = 0;
};
struct SaChangeSet {
    std::vector<uint32_t> added;   // SPIs of the new set
    std::vector<uint32_t> removed; // SPIs of the old set
    std::vector<uint32_t> changed; // SPIs in both, with different digests
    std::size_t unchanged = 0;
};

bool same_provision(const MrProvision& a, const MrProvision& b);
// Every list sorted (by home address, by SPI), so that what is applied and said is in a stable order.
MrChangeSet diff_provisioning(const std::vector<MrProvision>& before, const std::vector<MrProvision>& after);
SaChangeSet diff_sas(const std::vector<SaDigest>& before, const std::vector<SaDigest>& after);

// What is wrong with changing SA `spi` in place (a reload refuses it): the message, naming what changed
// but never a key.
std::string sa_change_error(const SaDigest& before, const SaDigest& after);

// Whether a binding may stay under a changed provisioning: the same kind (router or host, as registered),
// its method still allowed (by `ha_methods` and, when it names any, the entry), every prefix it forwards still
// inside one the entry authorizes (bu_decision's rule for a BU).
bool binding_fits(const Binding& b, const MrProvision& mr, MethodSet ha_methods);

} // namespace nemo
