// The signaling packets of the mobile router, every one built and read with lib/: BU (draft 4.2 for IPv4
// CoAs, RFC 3963 / RFC 6275 11.7.1 for IPv6 CoAs), DHAAD Request with the I and R flags (draft 6, RFC 3963
// 7), Mobile Prefix Solicitation (RFC 6275 11.4.2), and what comes back: BA, DHAAD Reply, MPA, traffic.
#include "mr.hpp"

#include "icmpv6.hpp"
#include "ipv6.hpp"
#include "mobility_header.hpp"
#include "proto.hpp"

namespace nemo::mr {

namespace {
constexpr uint8_t kMh = 135;
constexpr uint8_t kIcmp6 = 58;
constexpr uint8_t kDestOpts = 60;

void ipv6_header(uint8_t* out, const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t next, std::size_t payload)
{
    wire::Ipv6Header h;
    h.src = src;
    h.dst = dst;
    h.next_header = next;
    h.hop_limit = 64;
    h.payload_len = static_cast<uint16_t>(payload);
    wire::write_ipv6_header(out, h);
}
} // namespace

std::size_t build_bu_packet(std::span<uint8_t> out, const BuToSend& b, const Ipv6Addr& hoa, const Ipv6Addr& ha6)
{
    if (out.size() < wire::kIpv6HeaderLen + wire::kHaoDestOptsLen) return 0;
    if (b.via == TunnelMethod::ipv6) {
        // RFC 6275 6.3 / 11.7.1: from the CoA, the HoA in a Home Address option; the MH checksum's
        // pseudo-header uses the HoA.
        auto mh = wire::build_binding_update(out.subspan(wire::kIpv6HeaderLen + wire::kHaoDestOptsLen), b.bu, hoa, ha6);
        if (!mh) return 0;
        wire::write_hao_dest_opts(out.data() + wire::kIpv6HeaderLen, kMh, hoa);
        ipv6_header(out.data(), b.coa.v6, ha6, kDestOpts, wire::kHaoDestOptsLen + *mh);
        return wire::kIpv6HeaderLen + wire::kHaoDestOptsLen + *mh;
    }
    // Draft 4.2: HoA -> HA, no Home Address option, in the IPv4 tunnel.
    auto mh = wire::build_binding_update(out.subspan(wire::kIpv6HeaderLen), b.bu, hoa, ha6);
    if (!mh) return 0;
    ipv6_header(out.data(), hoa, ha6, kMh, *mh);
    return wire::kIpv6HeaderLen + *mh;
}

std::size_t build_dhaad_packet(std::span<uint8_t> out, uint16_t id, const Ipv6Addr& src, const Ipv6Addr& anycast)
{
    if (out.size() < wire::kIpv6HeaderLen) return 0;
    wire::DhaadRequest req;
    req.id = id;
    req.flags = wire::dhaad_flag::R | wire::dhaad_flag::I;
    auto n = wire::build_dhaad_request(out.subspan(wire::kIpv6HeaderLen), req, src, anycast);
    if (!n) return 0;
    ipv6_header(out.data(), src, anycast, kIcmp6, *n);
    return wire::kIpv6HeaderLen + *n;
}

std::size_t build_mps_packet(std::span<uint8_t> out, uint16_t id, const Ipv6Addr& hoa, const Ipv6Addr& ha6)
{
    if (out.size() < wire::kIpv6HeaderLen) return 0;
    auto n = wire::build_mobile_prefix_solicit(out.subspan(wire::kIpv6HeaderLen), id, hoa, ha6);
    if (!n) return 0;
    ipv6_header(out.data(), hoa, ha6, kIcmp6, *n);
    return wire::kIpv6HeaderLen + *n;
}

Ipv6Addr anycast_of(const Prefix6& home_prefix)
{
    // RFC 2526 / RFC 6275 10.5: the prefix with interface identifier fdff:ffff:ffff:fffe (64-bit prefixes).
    Ipv6Addr a = home_prefix.addr;
    const uint8_t tail[8] = {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    for (int i = 0; i < 8; ++i) a.bytes[8 + i] = tail[i];
    return a;
}

Inbound classify_inbound(std::span<const uint8_t> pkt)
{
    Inbound in;
    auto p = wire::parse_ipv6_packet(pkt);
    if (!p) {
        in.why = p.error().message();
        return in;
    }
    in.dst = p->hdr.dst;
    if (p->upper_proto == kMh) {
        auto mh = wire::parse_mh(p->upper);
        if (!mh) { in.why = "MH: " + mh.error().message(); return in; }
        if (!wire::mh_checksum_ok(*mh, p->checksum_src(), p->checksum_dst())) { in.why = "MH checksum"; return in; }
        in.dst = p->checksum_dst();
        if (mh->type != wire::mh_type::binding_ack) { in.kind = Inbound::Kind::other_signaling; return in; }
        auto ba = wire::parse_binding_ack(*mh);
        if (!ba) { in.why = "BA: " + ba.error().message(); return in; }
        in.kind = Inbound::Kind::ba;
        in.ba.status = ba->status;
        in.ba.flags = ba->flags;
        in.ba.seq = ba->seq;
        in.ba.lifetime = ba->lifetime;
        in.ba.ipv4_coa = ba->options.ipv4_coa;
        in.ba.nat_detection = ba->options.nat_detection;
        in.ba.refresh_interval = ba->options.refresh_interval;
        return in;
    }
    if (p->upper_proto == kIcmp6) {
        auto v = wire::parse_icmpv6(p->upper);
        if (v && (v->type == wire::icmp6::dhaad_reply || v->type == wire::icmp6::mobile_prefix_advert)) {
            if (!wire::icmpv6_checksum_ok(*v, p->checksum_src(), p->checksum_dst())) { in.why = "ICMPv6 checksum"; return in; }
            if (v->type == wire::icmp6::dhaad_reply) {
                auto r = wire::parse_dhaad_reply(*v);
                if (!r) { in.why = "DHAAD reply: " + r.error().message(); return in; }
                in.kind = Inbound::Kind::dhaad_reply;
                in.id = r->id;
                for (const Ipv6Addr& a : r->list()) (a.is_v4_mapped() ? in.ha4_mapped : in.ha6).push_back(a);
                return in;
            }
            auto m = wire::parse_mobile_prefix_advert(*v);
            if (!m) { in.why = "MPA: " + m.error().message(); return in; }
            in.kind = Inbound::Kind::mpa;
            in.id = m->id;
            for (const auto& pi : m->list())
                in.prefixes.push_back({Prefix6::make(pi.prefix, pi.prefix_len), pi.valid_lifetime, pi.preferred_lifetime, 0});
            return in;
        }
    }
    in.kind = Inbound::Kind::data;
    return in;
}

} // namespace nemo::mr
