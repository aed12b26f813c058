#include "mr_decision.hpp"

#include <algorithm>

namespace nemo::mr {

using wire::ba_status::sequence_out_of_window;

const char* phase_name(Phase p)
{
    switch (p) {
    case Phase::idle: return "idle";
    case Phase::no_coa: return "no-coa";
    case Phase::registering: return "registering";
    case Phase::registered: return "registered";
    case Phase::refreshing: return "refreshing";
    case Phase::backing_off: return "backing-off";
    case Phase::legacy: return "legacy-ha";
    case Phase::no_method: return "no-method";
    case Phase::deregistering: return "deregistering";
    case Phase::stopped: return "stopped";
    }
    return "?";
}

const char* event_name(EventKind k)
{
    switch (k) {
    case EventKind::start: return "start";
    case EventKind::timer: return "timer";
    case EventKind::ba: return "ba";
    case EventKind::coa_changed: return "coa-changed";
    case EventKind::nat_detected: return "nat-detected";
    case EventKind::stop: return "stop";
    }
    return "?";
}

const char* report_name(Report r)
{
    switch (r) {
    case Report::none: return "none";
    case Report::registering: return "registering";
    case Report::retransmit: return "retransmit";
    case Report::registered: return "registered";
    case Report::refreshed: return "refreshed";
    case Report::refreshing: return "refreshing";
    case Report::method_refused: return "method-refused";
    case Report::no_common_method: return "no-common-method";
    case Report::rejected: return "rejected";
    case Report::seq_out_of_window: return "sequence-out-of-window";
    case Report::legacy_ha: return "legacy-ha";
    case Report::not_router_ha: return "ha-not-serving-routers";
    case Report::binding_expired: return "binding-expired";
    case Report::nat_detected: return "nat-detected";
    case Report::no_coa: return "no-care-of-address";
    case Report::deregistering: return "deregistering";
    case Report::deregistered: return "deregistered";
    case Report::dereg_unanswered: return "deregistration-unanswered";
    case Report::stopped: return "stopped";
    case Report::ignored: return "ignored";
    }
    return "?";
}

std::string CareOf::str() const
{
    switch (family) {
    case Family::none: return "none";
    case Family::v4: return v4.str();
    case Family::v6: return v6.str();
    }
    return "none";
}

std::string ba_status_name(uint8_t status, const MrSettings& s)
{
    if (status == s.status_tunnel_unsupported) return "tunnel-method-not-supported (" + std::to_string(status) + ")";
    if (status == s.status_invalid_coa) return "invalid-care-of-address (" + std::to_string(status) + ")";
    const char* name = nullptr;
    switch (status) {
    case 0: name = "accepted"; break;
    case 1: name = "accepted-prefix-discovery-necessary"; break;
    case 128: name = "reason-unspecified"; break;
    case 129: name = "administratively-prohibited"; break;
    case 130: name = "insufficient-resources"; break;
    case 131: name = "home-registration-not-supported"; break;
    case 132: name = "not-home-subnet"; break;
    case 133: name = "not-home-agent-for-this-mobile-node"; break;
    case 134: name = "duplicate-address-detection-failed"; break;
    case 135: name = "sequence-number-out-of-window"; break;
    case 136: name = "expired-home-nonce-index"; break;
    case 137: name = "expired-care-of-nonce-index"; break;
    case 138: name = "expired-nonces"; break;
    case 139: name = "registration-type-change-disallowed"; break;
    case 140: name = "mobile-router-operation-not-permitted"; break;
    case 141: name = "invalid-prefix"; break;
    case 142: name = "not-authorized-for-prefix"; break;
    case 143: name = "forwarding-setup-failed"; break;
    default: name = status < 128 ? "accepted-unknown" : "rejected-unknown"; break;
    }
    return std::string(name) + " (" + std::to_string(status) + ")";
}

MethodSet methods_offered(uint16_t f)
{
    using namespace wire::v4flag;
    MethodSet m = 0;
    if (f & I) m |= method_bit(TunnelMethod::ipip);
    if (f & R) m |= method_bit(TunnelMethod::gre);
    if (f & U) m |= method_bit(TunnelMethod::udp);
    if (f & S) m |= method_bit(TunnelMethod::esp);
    if ((f & S) && (f & U)) m |= method_bit(TunnelMethod::esp_udp);
    return m;
}

bool seq_after(uint16_t a, uint16_t b)
{
    const uint16_t diff = static_cast<uint16_t>(a - b);
    return diff != 0 && diff < 0x8000;
}

uint16_t lifetime_units(uint32_t seconds)
{
    return static_cast<uint16_t>(std::clamp<uint32_t>(seconds / 4, 1, 0xFFFF));
}

namespace {

std::string set_names(MethodSet set)
{
    std::string out;
    for (int i = 0; i < kTunnelMethodCount; ++i) {
        auto m = static_cast<TunnelMethod>(i);
        if (!has_method(set, m)) continue;
        if (!out.empty()) out += ",";
        out += method_name(m);
    }
    return out.empty() ? "none" : out;
}

class Stepper {
public:
    Stepper(MrState& st, const MrSettings& s, const Event& ev) : st_(st), s_(s), ev_(ev), now_(ev.now_ms) {}
    Action run();

private:
    Action on_start();
    Action on_timer();
    Action on_ba();
    Action on_coa_changed();
    Action on_nat();
    Action on_stop();

    // A new registration (first, new CoA, new method): a BU with a fresh back-off.
    Action begin(Report why, std::string detail, Phase phase = Phase::registering);
    // Picks the method for an IPv4 CoA, or ends in legacy / no_method.
    Action register_now(Report why, std::string detail);
    BuToSend registration_bu();
    BuToSend deregistration_bu();
    void arm_retransmit(uint64_t timeout);
    std::optional<TunnelMethod> choose_method() const;
    Action halt(Phase phase, Report why, std::string detail);
    Action report(Report why, std::string detail = {}) const { return Action{std::nullopt, why, std::move(detail)}; }

    MrState& st_;
    const MrSettings& s_;
    const Event& ev_;
    uint64_t now_;
};

std::optional<TunnelMethod> Stepper::choose_method() const
{
    for (TunnelMethod m : s_.preference) {
        if (!uses_ipv4(m) || has_method(st_.refused, m)) continue;
        if (st_.nat && !has_method(kNatMethods, m)) continue;
        return m;
    }
    return std::nullopt;
}

BuToSend Stepper::registration_bu()
{
    BuToSend out;
    out.coa = st_.coa;
    out.bu.seq = ++st_.seq;
    out.bu.flags = wire::bu_flag::A | wire::bu_flag::H | wire::bu_flag::R;
    // Draft 7.1: never lifetime 0 in an IPv4 CoA BU (lifetime_units is at least 1).
    out.bu.lifetime = lifetime_units(s_.lifetime_s);
    if (st_.coa.is_v4()) {
        const bool udp = st_.method == TunnelMethod::udp || st_.method == TunnelMethod::esp_udp;
        out.bu.options.ipv4_coa = wire::Ipv4CoaOption{v4flags_of(st_.method), udp ? s_.udp_port : uint16_t{0}, st_.coa.v4};
        out.via = st_.method;
    } else {
        out.via = TunnelMethod::ipv6;
    }
    // Draft 7.1: the MNP options go with the registration (explicit mode, RFC 3963 6.1.1).
    for (const Prefix6& p : s_.prefixes) out.bu.options.add_prefix(p);
    return out;
}

BuToSend Stepper::deregistration_bu()
{
    // RFC 3963 5.6 / RFC 6275 11.7.2: lifetime 0, no prefixes. From IPv4 it goes without the IPv4 CoA
    // option (with it, lifetime 0 is ignored: draft 7.2), tunneled as before: the HA reads it as a
    // de-registration (the care-of would be the home address).
    BuToSend out;
    out.coa = st_.coa;
    out.deregistration = true;
    out.bu.seq = ++st_.seq;
    out.bu.flags = wire::bu_flag::A | wire::bu_flag::H | wire::bu_flag::R;
    out.bu.lifetime = 0;
    out.via = st_.coa.is_v4() ? st_.method : TunnelMethod::ipv6;
    return out;
}

void Stepper::arm_retransmit(uint64_t timeout)
{
    st_.timeout_ms = timeout;
    st_.sent_at_ms = now_;
    st_.timer_at_ms = now_ + timeout;
    // A refresh in flight must still notice the binding's end.
    if (st_.expires_at_ms > now_) st_.timer_at_ms = std::min(st_.timer_at_ms, st_.expires_at_ms);
}

Action Stepper::halt(Phase phase, Report why, std::string detail)
{
    st_.phase = phase;
    st_.timer_at_ms = 0;
    st_.tunnel_up = false;
    return report(why, std::move(detail));
}

Action Stepper::begin(Report why, std::string detail, Phase phase)
{
    st_.phase = phase;
    st_.attempts = 1;
    Action a{registration_bu(), why, std::move(detail)};
    arm_retransmit(s_.initial_timeout_ms);
    return a;
}

Action Stepper::register_now(Report why, std::string detail)
{
    if (st_.coa.family == CareOf::Family::none) return halt(Phase::no_coa, Report::no_coa, "");
    if (st_.coa.is_v6()) {
        st_.method = TunnelMethod::ipv6; // RFC 3963: BU from the CoA, IPv6-in-IPv6 tunnel
        return begin(why, std::move(detail));
    }
    if (st_.legacy_ha)
        return halt(Phase::legacy, Report::legacy_ha, "the home agent ignores the IPv4 CoA option: no IPv4 registration");
    auto m = choose_method();
    if (!m)
        return halt(Phase::no_method, Report::no_common_method,
                    "no method left: refused " + set_names(st_.refused) + (st_.nat ? ", behind a NAT" : ""));
    st_.method = *m;
    return begin(why, std::move(detail));
}

Action Stepper::on_start()
{
    const uint16_t seq = st_.seq; // persisted by the program across restarts
    st_ = MrState{};
    st_.seq = seq;
    st_.coa = ev_.coa;
    return register_now(Report::registering, "start, care-of " + st_.coa.str());
}

Action Stepper::on_timer()
{
    if (st_.timer_at_ms == 0 || now_ < st_.timer_at_ms) return report(Report::ignored, "timer not due");
    std::string expired;
    if (st_.expires_at_ms != 0 && now_ >= st_.expires_at_ms) {
        st_.expires_at_ms = 0;
        st_.bound = false;
        st_.tunnel_up = false;
        expired = "binding expired; ";
        if (st_.phase == Phase::registered || st_.phase == Phase::refreshing) st_.phase = Phase::registering;
    }
    const Report expiry_or = expired.empty() ? Report::retransmit : Report::binding_expired;
    switch (st_.phase) {
    case Phase::registered: {
        Action a = begin(Report::refreshing, "refresh before the binding's end", Phase::refreshing);
        return a;
    }
    case Phase::registering:
    case Phase::refreshing: {
        // Draft 4.3: no BA after several BUs with the IPv4 CoA option: a legacy HA.
        if (st_.coa.is_v4() && !st_.ha_speaks_v4 && st_.attempts >= s_.legacy_after) {
            st_.legacy_ha = true;
            st_.bound = false;
            return halt(Phase::legacy, Report::legacy_ha,
                        expired + "no BA after " + std::to_string(st_.attempts) + " BUs with the IPv4 CoA option");
        }
        ++st_.attempts;
        Action a{registration_bu(), expiry_or,
                 expired + "no BA, attempt " + std::to_string(st_.attempts)};
        arm_retransmit(std::min(st_.timeout_ms * 2, s_.max_timeout_ms)); // RFC 6275 11.8
        return a;
    }
    case Phase::backing_off: {
        st_.phase = Phase::registering;
        ++st_.attempts;
        Action a{registration_bu(), expiry_or, expired + "retry after a rejection"};
        arm_retransmit(st_.timeout_ms); // doubled when the rejection came
        return a;
    }
    case Phase::deregistering: {
        if (st_.attempts >= s_.dereg_attempts) {
            st_.bound = false;
            return halt(Phase::stopped, Report::dereg_unanswered,
                        "no BA after " + std::to_string(st_.attempts) + " de-registration BUs");
        }
        ++st_.attempts;
        Action a{deregistration_bu(), Report::retransmit, "de-registration, attempt " + std::to_string(st_.attempts)};
        arm_retransmit(std::min(st_.timeout_ms * 2, s_.max_timeout_ms));
        return a;
    }
    default: st_.timer_at_ms = 0; return report(Report::ignored, "timer in phase " + std::string(phase_name(st_.phase)));
    }
}

Action Stepper::on_ba()
{
    const BaInfo& ba = ev_.ba;
    const bool waiting = st_.phase == Phase::registering || st_.phase == Phase::refreshing ||
                         st_.phase == Phase::deregistering;
    if (!waiting) return report(Report::ignored, "BA with no BU outstanding");
    if (ba.status == sequence_out_of_window) {
        // RFC 6275 11.7.1: the BA carries the HA's last accepted number; go on from there, at once.
        st_.seq = ba.seq;
        st_.last_status = ba.status;
        ++st_.attempts;
        std::string detail = "the HA's last accepted sequence number is " + std::to_string(ba.seq);
        Action a{st_.phase == Phase::deregistering ? deregistration_bu() : registration_bu(),
                 Report::seq_out_of_window, std::move(detail)};
        arm_retransmit(std::min(st_.timeout_ms * 2, s_.max_timeout_ms));
        return a;
    }
    if (ba.seq != st_.seq)
        return report(Report::ignored, "BA for sequence " + std::to_string(ba.seq) + ", expected " + std::to_string(st_.seq));
    st_.last_status = ba.status;

    if (st_.phase == Phase::deregistering) {
        st_.bound = false;
        st_.expires_at_ms = 0;
        if (ba.status < 128) return halt(Phase::stopped, Report::deregistered, "");
        return halt(Phase::stopped, Report::deregistered, "the HA answered " + ba_status_name(ba.status, s_));
    }

    if (st_.coa.is_v4()) {
        // Draft 4.3 / 7.4: a BA without the IPv4 CoA option comes from a legacy HA.
        if (!ba.ipv4_coa) {
            st_.legacy_ha = true;
            st_.bound = false;
            st_.expires_at_ms = 0;
            return halt(Phase::legacy, Report::legacy_ha,
                        "BA " + ba_status_name(ba.status, s_) + " without the IPv4 CoA option");
        }
        st_.ha_speaks_v4 = true;
        if (ba.status == s_.status_tunnel_unsupported) {
            // Draft 7.4: the echoed flags say what the HA offers; take the next of ours among them.
            const TunnelMethod was = st_.method;
            st_.refused |= method_bit(was);
            const MethodSet offered = methods_offered(ba.ipv4_coa->flags);
            st_.refused |= static_cast<MethodSet>(kAllIpv4Methods & ~offered);
            // NOTES.md (HA rule 7): behind a NAT the HA refuses I, R and S with the UDP methods only. Take
            // such an answer to a non-UDP method as the NAT indication: keepalive refreshes from now on.
            // (The flags cannot tell S+U from S and U: U without I and R is the sign.)
            const uint16_t f = ba.ipv4_coa->flags;
            const bool nat_hint = (f & wire::v4flag::U) != 0 && (f & (wire::v4flag::I | wire::v4flag::R)) == 0 &&
                                  !has_method(kNatMethods, was);
            if (nat_hint) st_.nat = true;
            auto next = choose_method();
            if (!next) {
                st_.bound = false;
                st_.expires_at_ms = 0;
                return halt(Phase::no_method, Report::no_common_method,
                            std::string(method_name(was)) + " refused; the HA offers " + set_names(offered) +
                                ", none of them in our list");
            }
            st_.method = *next;
            return begin(Report::method_refused, std::string(method_name(was)) + " refused; the HA offers " +
                                                     set_names(offered) + "; trying " +
                                                     std::string(method_name(*next)) +
                                                     (nat_hint ? " (UDP methods only: behind a NAT)" : ""));
        }
    }
    if (ba.status >= 128) {
        // Other rejections: back off and try again (RFC 6275 11.8's doubling, capped).
        st_.phase = Phase::backing_off;
        st_.timer_at_ms = now_ + st_.timeout_ms;
        if (st_.expires_at_ms > now_) st_.timer_at_ms = std::min(st_.timer_at_ms, st_.expires_at_ms);
        const uint64_t wait = st_.timeout_ms;
        st_.timeout_ms = std::min(st_.timeout_ms * 2, s_.max_timeout_ms);
        return report(Report::rejected, ba_status_name(ba.status, s_) + ", again in " + std::to_string(wait) + " ms");
    }
    if ((ba.flags & wire::ba_flag::R) == 0) {
        // RFC 3963 5.3: accepted without R: the HA does not serve mobile routers.
        return halt(Phase::no_method, Report::not_router_ha, "BA accepted without the R flag");
    }
    const uint32_t granted = uint32_t{ba.lifetime} * 4;
    if (granted == 0) {
        st_.phase = Phase::backing_off;
        st_.timer_at_ms = now_ + st_.timeout_ms;
        st_.timeout_ms = std::min(st_.timeout_ms * 2, s_.max_timeout_ms);
        return report(Report::rejected, "accepted with lifetime 0");
    }
    const bool refresh = st_.phase == Phase::refreshing;
    st_.phase = Phase::registered;
    st_.bound = true;
    st_.tunnel_up = true;
    st_.attempts = 0;
    st_.granted_s = granted;
    // RFC 6275 11.7.1: the lifetime runs from when the BU was sent.
    st_.expires_at_ms = st_.sent_at_ms + uint64_t{granted} * 1000;
    uint64_t refresh_at = st_.sent_at_ms + uint64_t{granted} * 10 * s_.refresh_percent;
    if (ba.refresh_interval && *ba.refresh_interval != 0)
        refresh_at = std::min(refresh_at, st_.sent_at_ms + uint64_t{*ba.refresh_interval} * 4000);
    if (ba.nat_detection) st_.nat = true;
    if (st_.nat) {
        uint64_t keep = uint64_t{s_.nat_keepalive_s} * 1000;
        if (ba.nat_detection && ba.nat_detection->refresh_time != 0)
            keep = keep == 0 ? uint64_t{ba.nat_detection->refresh_time} * 1000
                             : std::min(keep, uint64_t{ba.nat_detection->refresh_time} * 1000);
        if (keep != 0) refresh_at = std::min(refresh_at, now_ + keep);
    }
    st_.timer_at_ms = std::max(refresh_at, now_ + 1);
    st_.timeout_ms = s_.initial_timeout_ms;
    if (st_.coa.is_v4() && st_.nat && !has_method(kNatMethods, st_.method)) {
        // NAT detected in the BA but the method cannot cross it: a UDP method at once.
        return register_now(Report::nat_detected, "NAT detection in the BA; " + std::string(method_name(st_.method)) +
                                                      " cannot cross it");
    }
    return report(refresh ? Report::refreshed : Report::registered,
                  std::string(method_name(st_.method)) + ", lifetime " + std::to_string(granted) + " s");
}

Action Stepper::on_coa_changed()
{
    if (ev_.coa == st_.coa) return report(Report::ignored, "care-of address unchanged");
    const CareOf old = st_.coa;
    st_.coa = ev_.coa;
    if (st_.phase == Phase::idle || st_.phase == Phase::stopped || st_.phase == Phase::deregistering)
        return report(Report::ignored, "care-of address noted (not registering)");
    st_.nat = false; // a new access network: NAT unknown again
    st_.tunnel_up = false;
    // RFC 6275 11.7.1: a new CoA is registered at once, with a fresh back-off.
    return register_now(Report::registering, "care-of address " + old.str() + " -> " + st_.coa.str());
}

Action Stepper::on_nat()
{
    if (st_.nat) return report(Report::ignored, "NAT already known");
    st_.nat = true;
    const bool active = st_.phase == Phase::registering || st_.phase == Phase::registered ||
                        st_.phase == Phase::refreshing || st_.phase == Phase::backing_off;
    if (!active || !st_.coa.is_v4()) return report(Report::nat_detected, "noted");
    if (!has_method(kNatMethods, st_.method))
        return register_now(Report::nat_detected, std::string(method_name(st_.method)) + " cannot cross a NAT");
    if (st_.phase == Phase::registered && s_.nat_keepalive_s != 0)
        st_.timer_at_ms = std::min(st_.timer_at_ms, now_ + uint64_t{s_.nat_keepalive_s} * 1000);
    return report(Report::nat_detected, "refresh every " + std::to_string(s_.nat_keepalive_s) + " s");
}

Action Stepper::on_stop()
{
    if (st_.phase == Phase::idle || st_.phase == Phase::stopped || st_.phase == Phase::deregistering)
        return report(Report::ignored, "already stopping");
    const bool may_be_bound = st_.bound || st_.phase == Phase::registering || st_.phase == Phase::refreshing;
    if (!may_be_bound || st_.coa.family == CareOf::Family::none || (st_.coa.is_v4() && st_.legacy_ha)) {
        st_.bound = false;
        return halt(Phase::stopped, Report::stopped, "nothing to de-register");
    }
    st_.phase = Phase::deregistering;
    st_.tunnel_up = false;
    st_.attempts = 1;
    Action a{deregistration_bu(), Report::deregistering, "lifetime 0"};
    st_.expires_at_ms = 0;
    arm_retransmit(s_.initial_timeout_ms);
    return a;
}

Action Stepper::run()
{
    switch (ev_.kind) {
    case EventKind::start: return on_start();
    case EventKind::timer: return on_timer();
    case EventKind::ba: return on_ba();
    case EventKind::coa_changed: return on_coa_changed();
    case EventKind::nat_detected: return on_nat();
    case EventKind::stop: return on_stop();
    }
    return report(Report::ignored, "unknown event");
}

} // namespace

Action mr_step(MrState& st, const MrSettings& s, const Event& ev) { return Stepper(st, s, ev).run(); }

} // namespace nemo::mr
