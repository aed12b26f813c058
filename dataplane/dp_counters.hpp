// Per-lcore data-plane counters: one cache-line-aligned block per worker, written only by it, summed
// when someone asks (CLI, telemetry). Every dropped packet is counted under a named reason.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "classify.hpp"
#include "tunnel_method.hpp"

namespace nemo::dp {

#define NEMO_DP_COUNTERS(X)                                                                       \
    X(polls, "poll turns (both ports polled once a turn): a worker's heartbeat, read by the watchdog") \
    X(rx, "packets received")                                                                     \
    X(tx, "packets sent")                                                                         \
    X(tx_full, "dropped: TX queue full")                                                          \
    X(punted, "handed to the control thread")                                                     \
    X(punt_full, "dropped: punt ring full")                                                       \
    X(punted_bulk, "handed to the control thread in the bulk class (not from a known sender)")    \
    X(punt_policed_priority, "dropped: over the priority punt class's rate (dataplane.punt_priority_per_second)") \
    X(punt_policed_bulk, "dropped: over the bulk punt class's rate (dataplane.punt_bulk_per_second)") \
    X(no_binding, "dropped: IPv6 destination without a binding")                                  \
    X(spoofed, "dropped: inner source not the binding's, or not through its tunnel")              \
    X(bad_inner, "dropped: decapsulated payload not a valid IPv6 packet")                        \
    X(ecn_drop, "dropped: outer CE over a not-ECT inner packet (RFC 6040)")                       \
    X(too_big, "dropped: larger than the tunnel MTU (Packet Too Big sent when not rate limited)") \
    X(ptb_sent, "ICMPv6 Packet Too Big sent")                                                     \
    X(te_sent, "ICMPv6 Time Exceeded sent (hop limit exhausted here, RFC 4443 3.3)")              \
    X(icmp_suppressed, "ICMPv6 errors not sent: rate limited, or not allowed (RFC 4443 2.4 (e), (f))") \
    X(inner_scope, "dropped: decapsulated packet to a link-local, multicast, loopback or unspecified address") \
    X(mn_to_mn, "upstream packets sent on into another binding's tunnel (RFC 3963 6.5)")           \
    X(no_neighbor, "dropped: next hop not resolved yet")                                          \
    X(no_mbuf, "dropped: no mbuf, or no room in one, for a reply or tunnel headers")              \
    X(reassembled, "IPv4 packets reassembled from fragments")                                      \
    X(frag_dropped, "dropped: IPv4 fragments given up on (timeout, table full, overlaps, too many)") \
    X(reassembled_too_big, "dropped: reassembled IPv4 packet larger than one mbuf")               \
    X(esp_unknown_spi, "dropped: ESP with an SPI of no inbound SA")                                \
    X(esp_malformed, "dropped: ESP too short, or not IPv6 inside")                                  \
    X(esp_no_sa, "dropped: ESP binding without an outbound SA")                                     \
    X(esp_sa_exhausted, "dropped: the outbound SA has used its last sequence number (RFC 4303 3.3.3)") \
    X(esp_handed_off, "downstream ESP packets handed to the worker that owns their SA (several workers)") \
    X(esp_handoff_full, "dropped: the handoff ring of the worker that owns the SA was full")          \
    X(esp_seal_failed, "dropped: intel-ipsec-mb refused to encrypt (an internal error)")            \
    X(esp_dummy, "ESP dummy packets (next header 59, RFC 4303 2.6), dropped quietly")              \
    X(nat_keepalive, "NAT keepalives received on port 4500 (dropped quietly, RFC 3948)")            \
    X(ike_on_4500, "dropped: IKE on port 4500 with ike.enabled off (SAs are configured)")            \
    X(ike_punted, "IKE messages (ports 500 and 4500) handed to the control thread")                   \
    X(ike_malformed, "dropped: an IKE datagram whose UDP length does not fit")                        \
    X(arp_replies, "ARP replies sent")                                                            \
    X(na_sent, "Neighbor Advertisements sent (own addresses and proxied home addresses)")

enum class DpCounter : uint16_t {
#define NEMO_DP_ENUM(id, help) id,
    NEMO_DP_COUNTERS(NEMO_DP_ENUM)
#undef NEMO_DP_ENUM
        count_
};
inline constexpr std::size_t kDpCounterCount = static_cast<std::size_t>(DpCounter::count_);
const char* dp_counter_name(DpCounter c);

struct alignas(64) LcoreCounters {
    std::array<std::atomic<uint64_t>, kDpCounterCount> c{};
    std::array<std::atomic<uint64_t>, static_cast<std::size_t>(DropReason::count_)> classify_drops{};
    std::array<std::atomic<uint64_t>, kTunnelMethodCount> encap{};
    std::array<std::atomic<uint64_t>, kTunnelMethodCount> decap{};

    // Single writer: a relaxed load and store, no locked instruction on the fast path.
    static void bump(std::atomic<uint64_t>& a, uint64_t n = 1)
    {
        a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void inc(DpCounter k, uint64_t n = 1) { bump(c[static_cast<std::size_t>(k)], n); }
};

} // namespace nemo::dp
