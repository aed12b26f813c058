// The control plane's counters, named after the RFC 4295 (mip6Ha*) and RFC 5488 (nemoHa*) home-agent
// objects where those exist, and nemoHa* names of our own otherwise. Written by the control thread,
// read by the CLI and by rte_telemetry's thread: relaxed atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace nemo::control {

#define NEMO_COUNTERS(X)                                                                                        \
    X(bus_received, "mip6HaBUsRecd", "Binding Updates that reached the decision")                               \
    X(bus_accepted, "mip6HaBUsAccepted", "Binding Updates accepted (status below 128)")                         \
    X(bu_acks_sent, "mip6HaBUAcksSent", "Binding Acknowledgements sent")                                        \
    X(status_128, "mip6HaReasonUnspecified", "BA status 128")                                                   \
    X(status_129, "mip6HaAdmProhibited", "BA status 129: administratively prohibited (no H flag)")             \
    X(status_130, "mip6HaInsufficientResource", "BA status 130: forwarding tables full")                        \
    X(status_131, "mip6HaHomeRegnNotSupported", "BA status 131")                                                \
    X(status_132, "mip6HaNotHomeSubnet", "BA status 132: home address not on the home prefix")                 \
    X(status_133, "mip6HaNotHomeAgentForThisMN", "BA status 133: not provisioned, or nothing to deregister")    \
    X(status_134, "mip6HaDupAddrDetectionFailed", "BA status 134")                                              \
    X(status_135, "mip6HaSeqNumberOutOfWindow", "BA status 135: sequence number not newer")                    \
    X(status_139, "mip6HaRegTypeChangeDisallowed", "BA status 139: R flag differs from the binding")           \
    X(status_140, "nemoHaBUAcksOperationNotPermitted", "BA status 140: mobile router operation not permitted") \
    X(status_141, "nemoHaBUAcksInvalidPrefix", "BA status 141: invalid mobile network prefix")                 \
    X(status_142, "nemoHaBUAcksNotAuthorizedForPrefix", "BA status 142: prefix not authorized")                \
    X(status_143, "nemoHaBUAcksForwardingSetupFailed", "BA status 143: implicit mode without prefixes")        \
    X(status_tunnel, "nemoHaBUAcksTunnelMethodNotSupported", "BA status 144 (draft): tunnel method")           \
    X(status_invalid_coa, "nemoHaBUAcksInvalidCareOfAddress", "BA status 145 (draft): invalid care-of")        \
    X(status_other, "nemoHaBUAcksOtherError", "BA with any other rejection status")                            \
    X(mr_requests_accepted, "nemoHaBURequestsAccepted", "Binding Updates with R accepted")                      \
    X(mr_requests_denied, "nemoHaBURequestsDenied", "Binding Updates with R rejected")                          \
    X(v4_registrations, "nemoHaV4CoaRegistrations", "accepted registrations of an IPv4 care-of address")       \
    X(v4_nat_registrations, "nemoHaV4CoaNatRegistrations", "of those, from behind a NAT")                      \
    X(v4_lifetime_zero_ignored, "nemoHaV4LifetimeZeroIgnored", "v4 BUs with lifetime 0, ignored (draft 7.2)") \
    X(drop_bad_checksum, "nemoHaMhDropBadChecksum", "Mobility Headers dropped: bad checksum")                  \
    X(drop_malformed, "nemoHaMhDropMalformed", "Mobility Headers dropped: truncated or malformed")             \
    X(drop_bad_option, "nemoHaMhDropBadOption", "Binding Updates dropped: malformed mobility option")          \
    X(drop_not_for_ha, "nemoHaMhDropNotForHa", "Mobility Headers of a type a home agent does not take")        \
    X(drop_hoa_invalid, "nemoHaBuDropHoaInvalid", "Binding Updates dropped: home address not unicast")         \
    X(drop_unprotected, "nemoHaBuDropUnprotected", "Binding Updates dropped: no SA of the home address")       \
    X(drop_not_ipv6, "nemoHaSignalDropNotIpv6", "punted signaling that is not a valid IPv6 packet")            \
    X(param_problems_sent, "nemoHaParamProblemsSent", "ICMPv6 Parameter Problems sent for Mobility Headers")   \
    X(binding_errors_sent, "nemoHaBindingErrorsSent", "Binding Errors sent (status 2)")                        \
    X(error_replies_suppressed, "nemoHaErrorRepliesSuppressed", "Parameter Problems, Binding Errors and BAs 133 not sent: over ha.error_replies_per_second") \
    X(bindings_created, "nemoHaBindingsCreated", "bindings created")                                           \
    X(announcements_dropped, "nemoHaNdAnnouncementsDropped", "unsolicited NAs for new home registrations not queued: queue full") \
    X(bindings_refreshed, "nemoHaBindingsRefreshed", "bindings refreshed or moved")                            \
    X(bindings_deregistered, "nemoHaBindingsDeregistered", "bindings removed by de-registration")              \
    X(bindings_expired, "nemoHaBindingsExpired", "bindings removed at the end of their lifetime")              \
    X(bindings_cleared, "nemoHaBindingsCleared", "bindings removed by the operator")                           \
    X(binding_events_not_logged, "nemoHaBindingEventsNotLogged", "binding events not logged: over log.binding_events_per_second") \
    X(cli_refused_peer, "nemoHaCliPeersRefused", "CLI connections refused: not root, nemo-ha's user or in the socket's group") \
    X(cli_refused_busy, "nemoHaCliBusy", "CLI connections refused: every slot, or the user's share of them, taken") \
    X(cli_timeouts, "nemoHaCliTimeouts", "CLI clients closed: no request, or reply not read, within the deadline") \
    X(cli_refused_size, "nemoHaCliTooLarge", "CLI requests refused: longer than the request limit, or a reply too large to build") \
    X(publish_failures, "nemoHaForwardingSetupFailures", "bindings the forwarding tables refused")             \
    X(prefix_lengths_refused, "nemoHaPrefixLengthsRefused", "of those, a new prefix length beyond ha.max_prefix_lengths (141)") \
    X(prefix_tables, "nemoHaPrefixTables", "gauge: tables of mobile network prefix lengths (at most ha.max_prefix_lengths)") \
    X(prefix_table_bytes, "nemoHaPrefixTableBytes", "gauge: memory those tables hold, bytes")                   \
    X(state_bus_refused, "nemoHaStateBusRefused", "BUs answered 130: the state store cannot make changes durable (disk full, I/O error)") \
    X(state_bindings_restored, "nemoHaStateBindingsRestored", "bindings restored from the state store at start") \
    X(state_bindings_expired_while_down, "nemoHaStateBindingsExpiredWhileDown", "stored bindings whose lifetime ended while nemo-ha was down") \
    X(state_bindings_unprovisioned, "nemoHaStateBindingsUnprovisioned", "stored bindings not restored: home address no longer provisioned, or the tables refused it") \
    X(state_records_damaged, "nemoHaStateRecordsDamaged", "stored records that did not decode (and a damaged file, one), not restored") \
    X(state_changes_not_reapplied, "nemoHaStateChangesNotReapplied", "stored operator changes (add mr, add sa) that could not be applied again at start") \
    X(cluster_bus_lost, "nemoHaClusterBusLost", "BUs whose change another instance's came before (compare-and-swap lost): answered again against it") \
    X(cluster_changes_applied, "nemoHaClusterChangesApplied", "other instances' binding changes applied here (the watch)") \
    X(cluster_changes_refused, "nemoHaClusterChangesRefused", "other instances' bindings the tables here refused (full, a prefix conflict)") \
    X(cluster_records_damaged, "nemoHaClusterRecordsDamaged", "values under the cluster's prefix that did not decode, ignored") \
    X(cluster_resyncs, "nemoHaClusterResyncs", "full reads of the cluster's state after the watch's revision was compacted") \
    X(reloads, "nemoHaReloads", "reloads of the provisioning and SA lines applied (SIGHUP, nemo-hactl reload)") \
    X(reloads_refused, "nemoHaReloadsRefused", "reloads refused whole: an error in the files, nothing changed") \
    X(reload_bindings_removed, "nemoHaReloadBindingsRemoved", "bindings removed by a reload: entry gone, or changed so that the binding no longer fits") \
    X(dhaad_requests, "nemoHaDhaadRequestsRecd", "DHAAD Requests received")                                   \
    X(dhaad_replies, "nemoHaDhaadRepliesSent", "DHAAD Replies sent")                                          \
    X(dhaad_no_ipv4, "nemoHaDhaadIgnoredNoIpv4", "DHAAD Requests with I unanswered: no IPv4 address (draft 6)") \
    X(mps_received, "mip6HaPrefixSolicitation", "Mobile Prefix Solicitations received")                       \
    X(mpa_sent, "mip6HaPrefixAdv", "Mobile Prefix Advertisements sent")                                       \
    X(icmp_dropped, "nemoHaIcmpDropped", "punted ICMPv6 dropped: bad checksum, malformed or not for the HA")

enum class Counter : uint16_t {
#define NEMO_COUNTER_ENUM(id, name, help) id,
    NEMO_COUNTERS(NEMO_COUNTER_ENUM)
#undef NEMO_COUNTER_ENUM
        count_
};
inline constexpr std::size_t kCounterCount = static_cast<std::size_t>(Counter::count_);

std::string_view counter_name(Counter c);
std::string_view counter_help(Counter c);

class Stats {
public:
    void inc(Counter c, uint64_t n = 1) { v_[idx(c)].fetch_add(n, std::memory_order_relaxed); }
    // For the few gauges among them (their help says so).
    void set(Counter c, uint64_t v) { v_[idx(c)].store(v, std::memory_order_relaxed); }
    uint64_t get(Counter c) const { return v_[idx(c)].load(std::memory_order_relaxed); }

    // The counter for a BA rejection status; `tunnel` and `invalid_coa` are the configured numbers.
    static Counter for_status(uint8_t status, uint8_t tunnel, uint8_t invalid_coa);

private:
    static std::size_t idx(Counter c) { return static_cast<std::size_t>(c); }
    std::array<std::atomic<uint64_t>, kCounterCount> v_{};
};

} // namespace nemo::control
