#include "bu_decision.hpp"

#include <algorithm>

namespace nemo {

using namespace wire;

const char* outcome_name(BuOutcome o)
{
    switch (o) {
    case BuOutcome::accepted: return "accepted";
    case BuOutcome::deregistered: return "deregistered";
    case BuOutcome::rejected: return "rejected";
    case BuOutcome::dropped_hoa_invalid: return "dropped-hoa-invalid";
    case BuOutcome::dropped_unprotected: return "dropped-unprotected";
    case BuOutcome::ignored_v4_lifetime_0: return "ignored-v4-lifetime-0";
    }
    return "unknown";
}

bool seq_newer(uint16_t a, uint16_t b)
{
    const uint16_t diff = static_cast<uint16_t>(a - b);
    return diff != 0 && diff < 0x8000;
}

namespace {

bool v4_unicast(Ipv4Addr a) { return !a.is_unspecified() && !a.is_multicast() && !a.is_broadcast() && !a.is_loopback(); }

// Checks a mobile network prefix can be forwarded at all (RFC 3963 6.2: otherwise 141).
bool prefix_valid(const Prefix6& p, const HaParams& params)
{
    if (p.len == 0 || p.len > 128) return false;
    if (p.addr.is_multicast() || p.addr.is_link_local() || p.addr.is_loopback() || p.addr.is_v4_mapped()) return false;
    if (p.addr.is_unspecified()) return false;
    return !p.overlaps(params.home_prefix);
}

bool prefix_authorized(const Prefix6& p, const MrProvision& mr)
{
    return std::any_of(mr.prefixes.begin(), mr.prefixes.end(), [&](const Prefix6& allowed) { return allowed.contains(p); });
}

class Decider {
public:
    Decider(const BindingUpdate& bu, const BuArrival& a, const HaParams& params, const MrProvision* mr,
            const Binding* cur, uint64_t now)
        : bu_(bu), a_(a), p_(params), mr_(mr), cur_(cur), now_(now)
    {
        hoa_ = a.home_address_option ? *a.home_address_option : a.src;
        d_.route = reply_route();
        d_.ba.seq = bu.seq;
        if (bu.options.ipv4_coa) d_.ba.options.ipv4_coa = bu.options.ipv4_coa; // draft 7.3: always echoed
    }

    BuDecision run();

private:
    BaRoute reply_route() const
    {
        BaRoute r;
        r.via = a_.via;
        r.src = a_.dst;
        if (a_.via == TunnelMethod::ipv6) {
            r.dst = a_.src;
            r.rh2_home_address = a_.home_address_option;
        } else {
            r.v4_dst = a_.outer_src;
            r.v4_dst_port = a_.outer_src_port;
            r.dst = hoa_;
        }
        return r;
    }

    BuDecision reject(uint8_t status)
    {
        d_.outcome = BuOutcome::rejected;
        d_.send_ba = true;
        d_.ba.status = status;
        d_.ba.lifetime = 0;
        d_.ba.flags = 0; // R only with a status below 128 (RFC 3963 6.3)
        return d_;
    }
    BuDecision out_of_window()
    {
        BuDecision r = reject(ba_status::sequence_out_of_window);
        r.ba.seq = cur_->seq; // RFC 6275 9.5.1: the last accepted number
        return r;
    }
    BuDecision drop(BuOutcome why)
    {
        d_.outcome = why;
        d_.send_ba = false;
        return d_;
    }

    // The care-of the BU asks for, or the status that refuses it.
    std::optional<uint8_t> resolve_care_of(CareOf& coa, bool& is_dereg) const;
    std::optional<uint8_t> resolve_prefixes(std::vector<Prefix6>& out) const;

    const BindingUpdate& bu_;
    const BuArrival& a_;
    const HaParams& p_;
    const MrProvision* mr_;
    const Binding* cur_;
    uint64_t now_;
    Ipv6Addr hoa_;
    mutable std::optional<uint16_t> supported_flags_;
    BuDecision d_;
};

std::optional<uint8_t> Decider::resolve_care_of(CareOf& coa, bool& is_dereg) const
{
    const auto& v4 = bu_.options.ipv4_coa;
    if (v4) {
        // Draft 4.2: a BU with the IPv4 CoA option is always encapsulated in IPv4. Sent natively, nothing
        // has seen the IPv4 path it names (no outer source to compare, no NAT to detect): tunneling to it
        // would send the binding's traffic to an address nobody verified. The CoA is invalid (145).
        if (!uses_ipv4(a_.via)) return p_.status_invalid_coa;
        // draft 7.2: checks in this order; NOTES.md adds NAT detection and the MR's allowed methods.
        if (bu_.options.alternate_coa) return p_.status_invalid_coa;
        auto method = method_from_v4flags(v4->flags);
        MethodSet supported = p_.methods & kAllIpv4Methods;
        if (mr_ && mr_->methods) supported &= mr_->methods;
        const bool via_ipv4 = uses_ipv4(a_.via);
        const bool nat = via_ipv4 && a_.outer_src != v4->coa;
        if (nat) supported &= kNatMethods;
        if (!method || !has_method(supported, *method)) {
            supported_flags_ = v4flags_of(supported); // draft 4.3: the BA names what would work
            return p_.status_tunnel_unsupported;
        }
        if (!v4_unicast(v4->coa)) return p_.status_invalid_coa;
        coa.method = *method;
        coa.v4 = v4->coa;
        coa.v4_port = v4->port;
        coa.peer = via_ipv4 ? a_.outer_src : v4->coa;
        const bool udp = *method == TunnelMethod::udp || *method == TunnelMethod::esp_udp;
        const bool arrived_in_udp = a_.via == TunnelMethod::udp || a_.via == TunnelMethod::esp_udp;
        if (udp) {
            coa.peer_port = arrived_in_udp ? a_.outer_src_port : v4->port;
            if (coa.peer_port == 0) return p_.status_invalid_coa;
        }
        coa.behind_nat = nat || (udp && arrived_in_udp && v4->port != 0 && v4->port != a_.outer_src_port);
        if (!v4_unicast(coa.peer)) return p_.status_invalid_coa;
        is_dereg = false;
        return std::nullopt;
    }
    if (uses_ipv4(a_.via)) {
        // Tunneled from IPv4 without the option: the care-of would be the home address. Only a
        // de-registration makes sense; anything else names no usable care-of address.
        is_dereg = true;
        if (bu_.lifetime != 0) return p_.status_invalid_coa;
        return std::nullopt;
    }
    coa.method = TunnelMethod::ipv6;
    coa.v6 = bu_.options.alternate_coa ? *bu_.options.alternate_coa : a_.src;
    is_dereg = bu_.lifetime == 0 || coa.v6 == hoa_;
    if (!is_dereg && (!coa.v6.is_routable_unicast() || p_.home_prefix.contains(coa.v6))) return p_.status_invalid_coa;
    if (!is_dereg && !has_method(p_.methods, TunnelMethod::ipv6)) return p_.status_tunnel_unsupported;
    return std::nullopt;
}

std::optional<uint8_t> Decider::resolve_prefixes(std::vector<Prefix6>& out) const
{
    const auto listed = bu_.options.mobile_network_prefixes();
    if (listed.empty()) {
        // Implicit mode: the provisioned prefixes, or 143 when there are none (RFC 3963 6.2).
        if (mr_->prefixes.empty()) return ba_status::forwarding_setup_failed;
        out = mr_->prefixes;
        return std::nullopt;
    }
    for (const Prefix6& pfx : listed)
        if (!prefix_valid(pfx, p_)) return ba_status::invalid_prefix;
    for (const Prefix6& pfx : listed)
        if (!prefix_authorized(pfx, *mr_)) return ba_status::not_authorized_for_prefix;
    out.assign(listed.begin(), listed.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return std::nullopt;
}

BuDecision Decider::run()
{
    // RFC 6275 9.5.1 / NOTES.md rule 3: a home address that is not routable unicast is dropped silently.
    if (!hoa_.is_routable_unicast()) return drop(BuOutcome::dropped_hoa_invalid);
    // Draft 5.2 / NOTES.md: a BU is authorized only through an SA bound to its home address.
    if (!a_.protected_by_hoa_sa && !p_.allow_unprotected_signaling) return drop(BuOutcome::dropped_unprotected);
    // Draft 7.2: with the IPv4 CoA option, lifetime 0 means "ignore", checked before anything else.
    if (bu_.options.ipv4_coa && bu_.lifetime == 0) return drop(BuOutcome::ignored_v4_lifetime_0);

    const bool want_router = bu_.has(bu_flag::R);
    if (!bu_.has(bu_flag::H)) {
        // RFC 6275 9.5.1: against an existing binding (here always a home registration) the H bit may not
        // change: 139, the binding untouched. The sequence number check comes first, as in 9.5.1.
        if (cur_) {
            if (!seq_newer(bu_.seq, cur_->seq)) return out_of_window();
            return reject(ba_status::registration_type_change);
        }
        // This node serves home registrations only: no correspondent registration (route optimization).
        return reject(want_router ? ba_status::mobile_router_not_supported : ba_status::prohibited);
    }

    CareOf coa;
    bool is_dereg = false;
    if (auto status = resolve_care_of(coa, is_dereg)) {
        if (supported_flags_ && d_.ba.options.ipv4_coa) d_.ba.options.ipv4_coa->flags = *supported_flags_;
        return reject(*status);
    }

    if (!p_.home_prefix.contains(hoa_)) return reject(ba_status::not_home_subnet);
    if (!mr_) return reject(ba_status::not_home_agent_for_mn);

    if (cur_ && !seq_newer(bu_.seq, cur_->seq)) return out_of_window();

    if (is_dereg) {
        if (!cur_) return reject(ba_status::not_home_agent_for_mn);
        // RFC 3963 6.7: de-registration ignores the R flag and any prefixes.
        d_.outcome = BuOutcome::deregistered;
        d_.send_ba = true;
        d_.ba.status = ba_status::accepted;
        d_.ba.lifetime = 0;
        d_.ba.flags = want_router ? ba_flag::R : 0;
        d_.change = BindingChangeKind::remove;
        d_.binding = *cur_;
        d_.binding.seq = bu_.seq;
        return d_;
    }

    if (want_router && (!p_.accept_mobile_routers || !mr_->mobile_router))
        return reject(ba_status::mobile_router_not_supported);
    if (cur_ && cur_->mobile_router != want_router) return reject(ba_status::registration_type_change);

    std::vector<Prefix6> prefixes;
    if (want_router) {
        if (auto status = resolve_prefixes(prefixes)) return reject(*status);
    }

    constexpr uint32_t kMaxExpressible = 0xFFFFu * 4; // the BA's Lifetime field, in 4-second units
    const uint32_t granted =
        std::min({bu_.lifetime_seconds(), p_.max_binding_lifetime, p_.home_prefix_valid_lifetime, kMaxExpressible});
    Binding& b = d_.binding;
    b.hoa = hoa_;
    b.coa = coa;
    b.prefixes = std::move(prefixes);
    b.seq = bu_.seq;
    b.lifetime = granted / 4 * 4; // what the BA can express in 4-second units
    b.mobile_router = want_router;
    // Every home registration is defended on the home link: hosts (RFC 6275 10.4.1) and routers too
    // (RFC 3963 6.2, NOTES.md rule 12), with the Router bit for the latter.
    b.proxy_nd = true;
    b.created = cur_ ? cur_->created : now_;
    b.updated = now_;
    b.expires = now_ + b.lifetime;

    d_.outcome = BuOutcome::accepted;
    d_.send_ba = true;
    d_.change = BindingChangeKind::upsert;
    d_.ba.status = ba_status::accepted;
    d_.ba.flags = want_router ? ba_flag::R : 0;
    d_.ba.lifetime = static_cast<uint16_t>(b.lifetime / 4);
    // Draft 9 (after RFC 5555 4.1): a router behind a NAT is told so in the BA, with UDP required; it
    // cannot see the NAT itself, and must keep the mapping alive. Refresh time 0: its own keepalive
    // setting (RFC 5555's default when the HA names none).
    if (coa.behind_nat) d_.ba.options.nat_detection = wire::NatDetectionOption{true, 0};
    return d_;
}

} // namespace

BuDecision decide_binding_update(const BindingUpdate& bu, const BuArrival& arrival, const HaParams& params,
                                 const MrProvision* provision, const Binding* current, uint64_t now)
{
    return Decider(bu, arrival, params, provision, current, now).run();
}

} // namespace nemo
