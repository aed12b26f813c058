// The mobile router's side of the draft (draft-wakikawa-nemo-v4tunnel 4.2, 7.1, 7.4, 9; RFC 3963 5;
// RFC 6275 11.7, 11.8) as a pure state machine: the router's state and one event in, what to send and
// when the next timer fires out. No I/O, no clock: every event carries `now` (milliseconds on the
// caller's monotonic clock). The program (control/mr/) sends what it is told and calls `mr_step` again
// when a timer fires or a packet arrives.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "addr.hpp"
#include "mobility_header.hpp"
#include "tunnel_method.hpp"

namespace nemo::mr {

// RFC 6275 13: INITIAL_BINDACK_TIMEOUT 1 s, MAX_BINDACK_TIMEOUT 32 s.
inline constexpr uint64_t kInitialBindackTimeoutMs = 1000;
inline constexpr uint64_t kMaxBindackTimeoutMs = 32000;

struct MrSettings {
    // IPv4 methods in the operator's order of preference (`udp,gre,ipip`); ipv6 is never listed here.
    std::vector<TunnelMethod> preference{TunnelMethod::udp, TunnelMethod::gre, TunnelMethod::ipip};
    uint32_t lifetime_s = 600;          // requested; never below 4 s (one BU unit) for a registration
    uint32_t nat_keepalive_s = 20;      // behind a NAT, a refresh BU at least this often; 0 = none
    unsigned legacy_after = 3;          // BUs with the IPv4 CoA option unanswered: the HA is legacy
    unsigned refresh_percent = 85;      // refresh at this share of the granted lifetime
    unsigned dereg_attempts = 3;        // de-registration BUs sent before giving up on the BA
    uint64_t initial_timeout_ms = kInitialBindackTimeoutMs;
    uint64_t max_timeout_ms = kMaxBindackTimeoutMs;
    std::vector<Prefix6> prefixes;      // explicit mode: one MNP option each; empty = implicit mode
    uint16_t udp_port = 0;              // the router's UDP port, sent in the IPv4 CoA option
    uint8_t status_tunnel_unsupported = wire::ba_status::default_tunnel_method_unsupported; // NOTES.md: 144
    uint8_t status_invalid_coa = wire::ba_status::default_invalid_care_of;                 // NOTES.md: 145
};

// The care-of address in use: none, IPv4 (the draft) or IPv6 (plain NEMO, RFC 3963).
struct CareOf {
    enum class Family : uint8_t { none, v4, v6 };
    Family family = Family::none;
    Ipv4Addr v4;
    Ipv6Addr v6;

    static CareOf none() { return {}; }
    static CareOf ipv4(Ipv4Addr a) { return {Family::v4, a, {}}; }
    static CareOf ipv6(const Ipv6Addr& a) { return {Family::v6, {}, a}; }
    bool is_v4() const { return family == Family::v4; }
    bool is_v6() const { return family == Family::v6; }
    std::string str() const;
    friend bool operator==(const CareOf&, const CareOf&) = default;
};

enum class Phase : uint8_t {
    idle,          // not started
    no_coa,        // started, no care-of address yet
    registering,   // BU sent, waiting for its BA (first registration, a new CoA, a new method)
    registered,    // binding accepted; the tunnel is up
    refreshing,    // registered, a refresh BU waits for its BA (the tunnel stays up until expiry)
    backing_off,   // rejected (not 144): retrying with the back-off
    legacy,        // the HA ignores the IPv4 CoA option: no IPv4 CoA BU is sent any more
    no_method,     // 144 and no method left that both sides implement: registration stopped
    deregistering, // stop: lifetime-0 BU sent, waiting for its BA
    stopped,       // stopped (de-registered, or nothing to de-register)
};
const char* phase_name(Phase p);

struct MrState {
    Phase phase = Phase::idle;
    uint16_t seq = 0;                  // the last sequence number sent (persisted by the program)
    CareOf coa;
    TunnelMethod method = TunnelMethod::ipv6; // the method of the BU in flight or of the binding
    MethodSet refused = 0;             // methods the HA answered 144 for (since the last start)
    bool nat = false;                  // behind a NAT: only UDP methods
    bool ha_speaks_v4 = false;         // a BA with the IPv4 CoA option came from this HA
    bool legacy_ha = false;            // concluded: the HA does not speak the draft
    bool bound = false;                // the HA has a binding for us (as far as we know)
    bool tunnel_up = false;            // traffic may go through the tunnel
    unsigned attempts = 0;             // BUs sent since the last BA for the current registration
    uint64_t timeout_ms = 0;           // the current retransmission interval
    uint64_t sent_at_ms = 0;           // when the BU in flight left
    uint64_t timer_at_ms = 0;          // the signaling timer's deadline (0: none)
    uint64_t expires_at_ms = 0;        // the binding's end, on the caller's clock (0: none)
    uint32_t granted_s = 0;            // the lifetime of the last accepted binding
    std::optional<uint8_t> last_status;
};

// What a Binding Acknowledgement said (the program parsed it with lib/mobility_header).
struct BaInfo {
    uint8_t status = 0;
    uint8_t flags = 0;
    uint16_t seq = 0;
    uint16_t lifetime = 0; // 4-second units
    std::optional<wire::Ipv4CoaOption> ipv4_coa;
    std::optional<wire::NatDetectionOption> nat_detection;
    std::optional<uint16_t> refresh_interval; // Binding Refresh Advice, 4-second units
};

enum class EventKind : uint8_t { start, timer, ba, coa_changed, nat_detected, stop };
const char* event_name(EventKind k);

struct Event {
    EventKind kind = EventKind::start;
    uint64_t now_ms = 0;
    BaInfo ba;      // kind == ba
    CareOf coa;     // start, coa_changed: the current care-of address (none when lost)

    static Event start(uint64_t now, CareOf c) { return {EventKind::start, now, {}, c}; }
    static Event timer(uint64_t now) { return {EventKind::timer, now, {}, {}}; }
    static Event ba_received(uint64_t now, const BaInfo& b) { return {EventKind::ba, now, b, {}}; }
    static Event coa_changed(uint64_t now, CareOf c) { return {EventKind::coa_changed, now, {}, c}; }
    static Event nat_detected(uint64_t now) { return {EventKind::nat_detected, now, {}, {}}; }
    static Event stop(uint64_t now) { return {EventKind::stop, now, {}, {}}; }
};

// A Binding Update to send. For an IPv4 CoA (`via` an IPv4 method) the program sends it from the home
// address to the HA's IPv6 address, in the tunnel of `via` to the HA's IPv4 address (draft 4.2); for an
// IPv6 CoA (`via` ipv6) from the CoA with a Home Address option (RFC 6275 6.3, 11.7.1).
struct BuToSend {
    wire::BindingUpdate bu;
    TunnelMethod via = TunnelMethod::ipv6;
    CareOf coa;
    bool deregistration = false;
};

// Why the router did what it did: one line each for the log and `nemo-mr status`.
enum class Report : uint8_t {
    none,
    registering,         // a first BU, or one for a new CoA or method
    retransmit,          // no BA in time: the same registration again, a longer wait
    registered,          // BA accepted
    refreshed,           // refresh accepted
    refreshing,          // refresh BU sent
    method_refused,      // 144: trying the next method (detail names both)
    no_common_method,    // 144 and nothing left: stopped trying this HA
    rejected,            // BA status >= 128 other than 144: backing off (detail: the status name)
    seq_out_of_window,   // 135: sequence number taken from the BA, BU sent again at once
    legacy_ha,           // no BA after legacy_after tries, or a BA without the IPv4 CoA option
    not_router_ha,       // accepted without the R flag: the HA does not serve mobile routers
    binding_expired,     // refresh not answered before the binding's end: tunnel down
    nat_detected,        // only UDP methods from now on, refreshed at the keepalive interval
    no_coa,              // no care-of address: nothing to register
    deregistering,       // stop: lifetime 0
    deregistered,        // stop acknowledged
    dereg_unanswered,    // stop: no BA after the de-registration attempts
    stopped,             // stopped with nothing to de-register
    ignored,             // an event that changes nothing (a stale BA, a timer early ...)
};
const char* report_name(Report r);

struct Action {
    std::optional<BuToSend> send;
    Report report = Report::none;
    std::string detail;
};

// One event: updates `st` and says what to send. The next timer is `st.timer_at_ms` (0: none); the caller
// feeds EventKind::timer once its clock reaches it. Pure: same state, settings and event, same answer.
Action mr_step(MrState& st, const MrSettings& s, const Event& ev);

// The BA status's name for reports ("tunnel-method-not-supported", "not-home-agent-for-mn", ...).
std::string ba_status_name(uint8_t status, const MrSettings& s = {});
// The methods a 144's IPv4 CoA option flags offer (I, R, U, S, S+U).
MethodSet methods_offered(uint16_t v4flags);
// RFC 6275 9.5.1: `a` later than `b` modulo 2^16.
bool seq_after(uint16_t a, uint16_t b);
// The lifetime field for `seconds`: 4-second units, at least 1, at most 0xFFFF.
uint16_t lifetime_units(uint32_t seconds);

} // namespace nemo::mr
