#include "signaling.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "icmpv6.hpp"
#include "ipv6.hpp"
#include "mh_intake.hpp"
#include "proto.hpp"

namespace nemo::control {

using namespace wire;

namespace {

constexpr uint8_t kHopLimit = 64;
constexpr std::size_t kMaxReply = 1280;

// An IPv6 packet from `src` to `dst` (through a type 2 routing header to `rh2` when given) whose upper
// layer `build` writes; it returns the upper layer's length.
template <class Build>
std::vector<uint8_t> ipv6_packet(const Ipv6Addr& src, const Ipv6Addr& dst, const std::optional<Ipv6Addr>& rh2,
                                 uint8_t upper_proto, Build&& build)
{
    std::vector<uint8_t> p(kMaxReply);
    const std::size_t ext = rh2 ? kRh2Len : 0;
    auto upper = build(std::span<uint8_t>(p).subspan(kIpv6HeaderLen + ext));
    if (!upper) return {};
    if (rh2) write_rh2(p.data() + kIpv6HeaderLen, upper_proto, *rh2);
    write_ipv6_header(p.data(), Ipv6Header{0, 0, static_cast<uint16_t>(ext + *upper),
                                           rh2 ? ipproto::routing : upper_proto, kHopLimit, src, dst});
    p.resize(kIpv6HeaderLen + ext + *upper);
    return p;
}

// Answers go back the way the question came: in the same tunnel to the same outer source and port.
Outbound same_way(const Punted& in, std::vector<uint8_t> ipv6)
{
    return Outbound{std::move(ipv6), in.via, in.outer_src, in.outer_src_port};
}

} // namespace

std::vector<HomeRegistration> SignalingEndpoint::take_registrations() { return std::exchange(registered_, {}); }

void SignalingEndpoint::update_table_gauges()
{
    stats_.set(Counter::prefix_tables, cache_.prefix_tables());
    stats_.set(Counter::prefix_table_bytes, cache_.prefix_table_bytes());
}

bool SignalingEndpoint::error_reply_allowed(const Punted& in, const Ipv6Packet& ip, uint64_t now)
{
    // From the care-of address of the binding it names: the reply goes where the binding already sends.
    if (const BindingEntry* e = cache_.find(ip.checksum_src())) {
        const CareOf& c = e->binding.coa;
        const bool udp = in.via == TunnelMethod::udp || in.via == TunnelMethod::esp_udp;
        if (in.via == TunnelMethod::ipv6 ? c.method == TunnelMethod::ipv6 && c.v6 == ip.hdr.src
                                         : c.method == in.via && c.peer == in.outer_src &&
                                               (!udp || c.peer_port == in.outer_src_port))
            return true;
    }
    if (error_replies_.take(now, params_.error_replies_per_second)) return true;
    stats_.inc(Counter::error_replies_suppressed);
    return false;
}

// RFC 4443 2.4 (e): no error to a source that names no single node (unspecified, multicast), nor about
// a packet to a multicast address; Binding Errors (RFC 6275 9.3.3) follow the same rule.
bool SignalingEndpoint::single_node_source(const Punted& in)
{
    if (icmpv6_error_allowed(in.ipv6, icmp6::param_problem, false)) return true;
    stats_.inc(Counter::error_replies_suppressed);
    return false;
}

void SignalingEndpoint::handle(const Punted& in, uint64_t now, std::vector<Outbound>& out)
{
    auto ip = parse_ipv6_packet(in.ipv6);
    if (!ip) {
        stats_.inc(Counter::drop_not_ipv6);
        return;
    }
    if (ip->upper_proto == ipproto::mobility) handle_mobility(in, *ip, now, out);
    else if (ip->upper_proto == ipproto::icmpv6) handle_icmpv6(in, *ip, out);
    else stats_.inc(Counter::drop_not_ipv6);
}

void SignalingEndpoint::handle_mobility(const Punted& in, const Ipv6Packet& ip, uint64_t now,
                                        std::vector<Outbound>& out)
{
    MhIntake intake = take_mobility_header(ip, params_.option_types);
    switch (intake.action) {
    case MhAction::drop:
        switch (intake.reason) {
        case MhDropReason::bad_checksum: stats_.inc(Counter::drop_bad_checksum); break;
        case MhDropReason::bad_option: stats_.inc(Counter::drop_bad_option); break;
        case MhDropReason::not_for_ha: stats_.inc(Counter::drop_not_for_ha); break;
        default: stats_.inc(Counter::drop_malformed); break;
        }
        return;
    case MhAction::param_problem: {
        if (!single_node_source(in)) return;
        if (!error_reply_allowed(in, ip, now)) return;
        // To the packet's source (RFC 6275 9.2), quoting it; from the address it was sent to.
        auto pkt = ipv6_packet(ip.hdr.dst, ip.hdr.src, std::nullopt, ipproto::icmpv6, [&](std::span<uint8_t> o) {
            return build_param_problem(o, 0, intake.pointer, in.ipv6, ip.hdr.dst, ip.hdr.src);
        });
        stats_.inc(Counter::param_problems_sent);
        out.push_back(same_way(in, std::move(pkt)));
        return;
    }
    case MhAction::binding_error: {
        if (!single_node_source(in)) return;
        if (!error_reply_allowed(in, ip, now)) return;
        BindingError be{intake.be_status, ip.checksum_src(), {}};
        auto pkt = ipv6_packet(ip.hdr.dst, ip.hdr.src, std::nullopt, ipproto::mobility, [&](std::span<uint8_t> o) {
            return build_binding_error(o, be, ip.hdr.dst, ip.hdr.src, params_.option_types);
        });
        stats_.inc(Counter::binding_errors_sent);
        out.push_back(same_way(in, std::move(pkt)));
        return;
    }
    case MhAction::process_bu: break;
    }

    stats_.inc(Counter::bus_received);
    BuArrival arrival;
    arrival.via = in.via;
    arrival.outer_src = in.outer_src;
    arrival.outer_src_port = in.outer_src_port;
    arrival.src = ip.hdr.src;
    arrival.dst = ip.hdr.dst;
    arrival.home_address_option = ip.home_address;
    const Ipv6Addr hoa = ip.home_address ? *ip.home_address : ip.hdr.src;
    arrival.protected_by_hoa_sa = in.sa_home_address && *in.sa_home_address == hoa;
    decide_and_answer(intake.bu, arrival, hoa, now, out, &in, &ip);
}

void SignalingEndpoint::decide_and_answer(const wire::BindingUpdate& bu, const BuArrival& arrival, const Ipv6Addr& hoa, uint64_t now,
                                          std::vector<Outbound>& out, const Punted* in, const Ipv6Packet* ip)
{
    const BindingEntry* cur = cache_.find(hoa);
    const bool existed = cur != nullptr;
    // A plain copy rather than an optional: GCC 12 takes the optional's payload for unset.
    const CareOf old_coa = cur ? cur->binding.coa : CareOf{};
    BuDecision d = decide_binding_update(bu, arrival, params_, provisioning_.find(hoa),
                                         cur ? &cur->binding : nullptr, now);
    std::string why;
    // A change that cannot be made durable is not made: the MR hears 130 and tries again later.
    if (store_ && d.change != BindingChangeKind::none && store_->refusing()) {
        stats_.inc(Counter::state_bus_refused);
        d.outcome = BuOutcome::rejected;
        d.change = BindingChangeKind::none;
        d.ba.status = ba_status::insufficient_resources;
        d.ba.flags = 0;
        d.ba.lifetime = 0;
    } else if (auto refused = cache_.apply(d, now, &why)) {
        // The tables could not take it: the binding stays as it was and the MR hears why.
        stats_.inc(Counter::publish_failures);
        if (refused->cause == dp::BindingTables::PublishError::too_many_lengths) stats_.inc(Counter::prefix_lengths_refused);
        d.outcome = BuOutcome::rejected;
        d.change = BindingChangeKind::none;
        d.ba.status = refused->status;
        d.ba.flags = 0;
        d.ba.lifetime = 0;
    }
    update_table_gauges();
    account(d, existed, bu.has(bu_flag::R));
    if (existed && d.outcome == BuOutcome::rejected) cache_.note_rejection(hoa, d.ba.status);
    // RFC 6275 10.4.1, RFC 3963 6.2: a new or moved home registration is announced on the home link; a
    // refresh from the same care-of address changes nothing the link must learn.
    if (d.outcome == BuOutcome::accepted && (!existed || old_coa != d.binding.coa)) {
        // Bounded for a data plane that stops taking them: an unannounced binding is still defended
        // (its solicitations answered), so dropping is the lesser harm; counted.
        if (registered_.size() < kMaxQueuedRegistrations) registered_.push_back(HomeRegistration{hoa, d.binding.mobile_router});
        else stats_.inc(Counter::announcements_dropped);
    }
    const bool changed = store_ && d.change != BindingChangeKind::none;
    // A cluster's change may lose to another instance's: the BU is kept to be answered again.
    WaitingBu* waiting = nullptr;
    if (clustered_ && changed) {
        WaitingBu& w = cas_pending_[hoa];
        w.bu = bu;
        w.arrival = arrival;
        w.batch = store_->staged_batch();
        waiting = &w;
    }
    if (!d.send_ba) return;
    if (d.ba.status == ba_status::not_home_agent_for_mn && in && !error_reply_allowed(*in, *ip, now)) return;

    const Ipv6Addr& final_dst = d.route.rh2_home_address ? *d.route.rh2_home_address : d.route.dst;
    auto pkt = ipv6_packet(d.route.src, d.route.dst, d.route.rh2_home_address, ipproto::mobility,
                           [&](std::span<uint8_t> o) {
                               return build_binding_ack(o, d.ba, d.route.src, final_dst, params_.option_types);
                           });
    stats_.inc(Counter::bu_acks_sent);
    const uint64_t after = changed ? store_->staged_batch() : 0;
    uint64_t token = 0;
    if (waiting) {
        token = ++next_token_;
        waiting->tokens.emplace_back(token, waiting->batch);
    }
    out.push_back(Outbound{std::move(pkt), d.route.via, d.route.v4_dst, d.route.v4_dst_port, after, token});
}

void SignalingEndpoint::settled(const Ipv6Addr& hoa, uint64_t batch)
{
    auto it = cas_pending_.find(hoa);
    if (it == cas_pending_.end()) return;
    if (it->second.batch <= batch) {
        cas_pending_.erase(it);
        return;
    }
    // A later change still waits; the BAs of the settled ones leave as they are.
    auto& t = it->second.tokens;
    t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& tb) { return tb.second <= batch; }), t.end());
}

void SignalingEndpoint::lost(const Ipv6Addr& hoa, uint64_t now, uint64_t batch, std::vector<BaRewrite>& rewrites)
{
    auto it = cas_pending_.find(hoa);
    if (it == cas_pending_.end()) return;
    if (it->second.batch > batch) {
        // The router's later BU waits in a later batch, which reports for itself; the BAs of the lost
        // changes go nowhere (the later BU is the one the router waits for).
        auto& t = it->second.tokens;
        for (const auto& [token, b] : t)
            if (b <= batch) rewrites.push_back(BaRewrite{token, std::nullopt});
        t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& tb) { return tb.second <= batch; }), t.end());
        return;
    }
    WaitingBu w = std::move(it->second);
    cas_pending_.erase(it);
    stats_.inc(Counter::cluster_bus_lost);
    std::vector<Outbound> again;
    decide_and_answer(w.bu, w.arrival, hoa, now, again, nullptr, nullptr);
    // The last BU's BA is replaced by the new answer; any earlier one's goes nowhere.
    for (std::size_t i = 0; i < w.tokens.size(); ++i) {
        BaRewrite r{w.tokens[i].first, std::nullopt};
        if (i + 1 == w.tokens.size() && !again.empty()) r.replacement = std::move(again.front());
        rewrites.push_back(std::move(r));
    }
}

void SignalingEndpoint::account(const BuDecision& d, bool existed, bool router)
{
    switch (d.outcome) {
    case BuOutcome::accepted:
        stats_.inc(Counter::bus_accepted);
        stats_.inc(existed ? Counter::bindings_refreshed : Counter::bindings_created);
        if (d.binding.mobile_router) stats_.inc(Counter::mr_requests_accepted);
        if (uses_ipv4(d.binding.coa.method)) {
            stats_.inc(Counter::v4_registrations);
            if (d.binding.coa.behind_nat) stats_.inc(Counter::v4_nat_registrations);
        }
        break;
    case BuOutcome::deregistered:
        stats_.inc(Counter::bus_accepted);
        stats_.inc(Counter::bindings_deregistered);
        break;
    case BuOutcome::rejected:
        stats_.inc(Stats::for_status(d.ba.status, params_.status_tunnel_unsupported, params_.status_invalid_coa));
        if (router) stats_.inc(Counter::mr_requests_denied);
        break;
    case BuOutcome::dropped_hoa_invalid: stats_.inc(Counter::drop_hoa_invalid); break;
    case BuOutcome::dropped_unprotected: stats_.inc(Counter::drop_unprotected); break;
    case BuOutcome::ignored_v4_lifetime_0: stats_.inc(Counter::v4_lifetime_zero_ignored); break;
    }
}

void SignalingEndpoint::handle_icmpv6(const Punted& in, const Ipv6Packet& ip, std::vector<Outbound>& out)
{
    auto msg = parse_icmpv6(ip.upper);
    if (!msg || !icmpv6_checksum_ok(*msg, ip.checksum_src(), ip.checksum_dst())) {
        stats_.inc(Counter::icmp_dropped);
        return;
    }
    const Ipv6Addr& self = params_.ipv6_addresses.empty() ? ip.hdr.dst : params_.ipv6_addresses.front();
    if (msg->type == icmp6::dhaad_request) {
        auto req = parse_dhaad_request(*msg);
        if (!req) {
            stats_.inc(Counter::icmp_dropped);
            return;
        }
        stats_.inc(Counter::dhaad_requests);
        const bool want_v4 = (req->flags & dhaad_flag::I) != 0;
        if (want_v4 && params_.ipv4_addresses.empty()) {
            stats_.inc(Counter::dhaad_no_ipv4); // draft 6: such a home agent does not reply
            return;
        }
        // RFC 3963 7: R is echoed when this HA serves mobile routers; the draft's I with the IPv4 list.
        uint16_t flags = 0;
        if ((req->flags & dhaad_flag::R) && params_.accept_mobile_routers) flags |= dhaad_flag::R;
        if (want_v4) flags |= dhaad_flag::I;
        // A cluster's other live instances follow this one's own addresses (draft 6: in preference order).
        std::vector<Ipv6Addr> v6(params_.ipv6_addresses.begin(), params_.ipv6_addresses.end());
        std::vector<Ipv4Addr> v4;
        if (want_v4) v4.assign(params_.ipv4_addresses.begin(), params_.ipv4_addresses.end());
        for (const Ipv6Addr& a : peer_v6_)
            if (std::find(v6.begin(), v6.end(), a) == v6.end()) v6.push_back(a);
        if (want_v4)
            for (const Ipv4Addr& a : peer_v4_)
                if (std::find(v4.begin(), v4.end(), a) == v4.end()) v4.push_back(a);
        auto pkt = ipv6_packet(self, ip.hdr.src, std::nullopt, ipproto::icmpv6, [&](std::span<uint8_t> o) {
            return build_dhaad_reply(o, req->id, flags, v6, v4, self, ip.hdr.src);
        });
        stats_.inc(Counter::dhaad_replies);
        out.push_back(same_way(in, std::move(pkt)));
        return;
    }
    if (msg->type == icmp6::mobile_prefix_solicit) {
        auto id = parse_mobile_prefix_solicit(*msg);
        if (!id) {
            stats_.inc(Counter::icmp_dropped);
            return;
        }
        stats_.inc(Counter::mps_received);
        MobilePrefixAdvert mpa;
        mpa.id = *id;
        mpa.prefixes[0] = PrefixInfo{params_.home_prefix.len, pio_flag::A, params_.home_prefix_valid_lifetime,
                                     params_.home_prefix_valid_lifetime, params_.home_prefix.addr};
        mpa.count = 1;
        // To the home address (draft 5.1.2): the source when tunneled, the HAO when sent natively.
        const Ipv6Addr hoa = ip.checksum_src();
        auto pkt = ipv6_packet(ip.hdr.dst, ip.hdr.src, ip.home_address, ipproto::icmpv6, [&](std::span<uint8_t> o) {
            return build_mobile_prefix_advert(o, mpa, ip.hdr.dst, hoa);
        });
        stats_.inc(Counter::mpa_sent);
        out.push_back(same_way(in, std::move(pkt)));
        return;
    }
    stats_.inc(Counter::icmp_dropped);
}

} // namespace nemo::control
