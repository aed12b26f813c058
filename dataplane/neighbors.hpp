// Link-layer addresses of next hops, IPv4 (ARP) and IPv6 (ND): read by the workers without locks,
// written by the control thread (static entries from the config, then what it learns). A worker that
// misses asks the control thread to resolve the address through a ring and drops the packet (counted).
// Gateways (not static) are resolved by the control thread at start and every
// dataplane.gateway_refresh_s after.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "addr.hpp"
#include "addr_hash.hpp"

struct rte_hash;
struct rte_ring;

namespace nemo::dp {

struct ResolveRequest {
    uint8_t family; // 4 or 6
    uint8_t pad[3];
    uint8_t addr[16];
};

class Neighbors {
public:
    static std::unique_ptr<Neighbors> create(const std::string& name, uint32_t capacity, std::string* error);
    ~Neighbors();

    // ---- workers ----
    std::optional<MacAddr> lookup(Ipv4Addr a) const;
    std::optional<MacAddr> lookup(const Ipv6Addr& a) const;
    void request(Ipv4Addr a) const;
    void request(const Ipv6Addr& a) const;

    // ---- the control thread ----
    // Static entries are never replaced by learning. Entries are never deleted (a MAC is a value: a
    // reader sees the old or the new one, both whole).
    void set(Ipv4Addr a, const MacAddr& mac, bool is_static);
    void set(const Ipv6Addr& a, const MacAddr& mac, bool is_static);
    bool next_request(ResolveRequest& r);
    bool is_static(Ipv4Addr a) const { return static_v4_.count(a.value) != 0; }
    bool is_static(const Ipv6Addr& a) const { return static_v6_.count(a) != 0; }

private:
    Neighbors() = default;
    rte_hash* v4_ = nullptr;
    rte_hash* v6_ = nullptr;
    rte_ring* requests_ = nullptr;
    std::unordered_set<uint32_t> static_v4_;
    std::unordered_set<Ipv6Addr, Ipv6Hash> static_v6_;
};

} // namespace nemo::dp
