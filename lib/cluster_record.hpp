// How a cluster of home agents keeps its shared state in etcd: the key of each record and the envelope
// around the record bytes of state_record.hpp.
//
// Keys, under /nemo-ha/<cluster>/:
//   b/<home address>     a binding (its lifetime is also an etcd lease: see state_etcd.hpp)
//   mr/<home address>    an operator's change to the mobile routers (`add mr`, `del mr`)
//   members/<instance>   a live instance (under a lease of its own, kept alive while it runs)
// Envelope of b/ and mr/ values: format byte 'N', version 1, the writer's wall clock in ms (8 bytes,
// big-endian: the watch lag is measured from it), the writing instance's name (1 length byte), then
// the record. Anything else decodes to nullopt with the reason.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "addr.hpp"

namespace nemo {

inline constexpr std::size_t kMaxInstanceName = 63;

// A cluster or instance name: 1-63 of [A-Za-z0-9._-]. Nullopt when valid, else why not.
std::optional<std::string> cluster_name_problem(std::string_view name);

std::string cluster_prefix(std::string_view cluster); // "/nemo-ha/<cluster>/"

enum class ClusterKey : uint8_t { binding, mr, member, other };
struct ParsedClusterKey {
    ClusterKey kind = ClusterKey::other;
    Ipv6Addr hoa;        // binding, mr
    std::string name;    // member
};
std::string cluster_binding_key(std::string_view prefix, const Ipv6Addr& hoa);
std::string cluster_mr_key(std::string_view prefix, const Ipv6Addr& hoa);
std::string cluster_member_key(std::string_view prefix, std::string_view instance);
// `key` with `prefix` taken off, parsed; `other` for anything not ours (or a malformed address).
ParsedClusterKey parse_cluster_key(std::string_view prefix, std::string_view key);

struct ClusterEnvelope {
    uint64_t written_ms = 0;
    std::string origin;
    std::vector<uint8_t> record;
};
std::string encode_cluster_value(uint64_t written_ms, std::string_view origin, std::span<const uint8_t> record);
std::optional<ClusterEnvelope> decode_cluster_value(std::string_view value, std::string* why);

// The lease a binding expiring at `expires_wall` (Unix s) is kept under: one per expiry second, shared
// by the bindings of that second, whoever wrote them. The TTL etcd is asked for at `now_wall`: until a
// second after the expiry (so that the key outlives the binding, never the reverse), at least 2 s.
int64_t binding_lease_ttl(uint64_t expires_wall, uint64_t now_wall);

} // namespace nemo
