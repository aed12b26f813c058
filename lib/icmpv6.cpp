#include "icmpv6.hpp"

#include <algorithm>
#include <cstring>

#include "bytes.hpp"
#include "checksum.hpp"
#include "ipv6.hpp"
#include "proto.hpp"

namespace nemo::wire {

namespace {

constexpr std::size_t kFixed8 = 8; // type, code, checksum, and one 32-bit word
constexpr std::size_t kPioLen = 32;
constexpr std::size_t kNeighborFixed = 24; // header + flags/reserved + target

// Walks Neighbor Discovery options (8-octet units; a zero length is invalid, RFC 4861 4.6).
template <class F>
Result<bool> walk_nd_options(std::span<const uint8_t> opts, std::size_t base, F&& visit)
{
    std::size_t i = 0;
    while (i < opts.size()) {
        if (i + 2 > opts.size()) return err(Errc::truncated, "ND option", base + i);
        const std::size_t len = std::size_t{opts[i + 1]} * 8;
        if (len == 0) return err(Errc::bad_length, "ND option of length 0", base + i + 1);
        if (i + len > opts.size()) return err(Errc::truncated, "ND option", base + i + 1);
        auto r = visit(opts[i], opts.subspan(i, len), base + i);
        if (!r) return r.error();
        i += len;
    }
    return true;
}

Result<std::size_t> finish(std::span<uint8_t> out, std::size_t len, const Ipv6Addr& src, const Ipv6Addr& dst)
{
    fill_icmpv6_checksum(out.first(len), src, dst);
    return len;
}

void header(uint8_t* p, uint8_t type, uint8_t code)
{
    p[0] = type;
    p[1] = code;
    p[2] = 0;
    p[3] = 0;
}

Result<std::size_t> build_error(std::span<uint8_t> out, uint8_t type, uint8_t code, uint32_t param,
                                std::span<const uint8_t> invoking, const Ipv6Addr& src, const Ipv6Addr& dst)
{
    const std::size_t room = kIpv6MinMtu - kIpv6HeaderLen - kFixed8;
    const std::size_t copy = std::min(invoking.size(), room);
    if (out.size() < kFixed8 + copy) return err(Errc::buffer_too_small, "ICMPv6 error message");
    header(out.data(), type, code);
    store_be32(out.data() + 4, param);
    if (copy) std::memcpy(out.data() + kFixed8, invoking.data(), copy);
    return finish(out, kFixed8 + copy, src, dst);
}

Result<NeighborMessage> parse_neighbor(const Icmpv6View& v, uint8_t want_type, uint8_t lladdr_type)
{
    if (v.type != want_type) return err(Errc::unknown_type, "not the expected ND message", 0);
    if (v.code != 0) return err(Errc::bad_value, "ND code", 1);
    if (v.message.size() < kNeighborFixed) return err(Errc::truncated, "neighbor message");
    NeighborMessage m;
    m.flags = v.message[4];
    m.target = Ipv6Addr::from_bytes(v.message.data() + 8);
    if (m.target.is_multicast()) return err(Errc::bad_value, "ND target is multicast", 8);
    auto ok = walk_nd_options(v.message.subspan(kNeighborFixed), kNeighborFixed,
                              [&](uint8_t type, std::span<const uint8_t> opt, std::size_t) -> Result<bool> {
                                  if (type == lladdr_type && opt.size() >= 8) m.lladdr = MacAddr::from_bytes(opt.data() + 2);
                                  return true;
                              });
    if (!ok) return ok.error();
    return m;
}

Result<std::size_t> build_neighbor(std::span<uint8_t> out, uint8_t type, uint8_t lladdr_type,
                                   const NeighborMessage& m, const Ipv6Addr& src, const Ipv6Addr& dst)
{
    const std::size_t len = kNeighborFixed + (m.lladdr ? 8 : 0);
    if (out.size() < len) return err(Errc::buffer_too_small, "neighbor message");
    header(out.data(), type, 0);
    store_be32(out.data() + 4, 0);
    out[4] = m.flags;
    m.target.to_bytes(out.data() + 8);
    if (m.lladdr) {
        out[24] = lladdr_type;
        out[25] = 1;
        m.lladdr->to_bytes(out.data() + 26);
    }
    return finish(out, len, src, dst);
}

} // namespace

Result<Icmpv6View> parse_icmpv6(std::span<const uint8_t> bytes)
{
    if (bytes.size() < kIcmpv6HeaderLen) return err(Errc::truncated, "ICMPv6 header");
    Icmpv6View v;
    v.type = bytes[0];
    v.code = bytes[1];
    v.checksum = load_be16(bytes.data() + 2);
    v.message = bytes;
    return v;
}

bool icmpv6_checksum_ok(const Icmpv6View& v, const Ipv6Addr& src, const Ipv6Addr& dst)
{
    return checksum_ok(sum_words(
        v.message, pseudo_header_sum_v6(src, dst, static_cast<uint32_t>(v.message.size()), ipproto::icmpv6)));
}

void fill_icmpv6_checksum(std::span<uint8_t> message, const Ipv6Addr& src, const Ipv6Addr& dst)
{
    store_be16(message.data() + 2, 0);
    store_be16(message.data() + 2,
               finish_checksum(sum_words(message, pseudo_header_sum_v6(src, dst, static_cast<uint32_t>(message.size()),
                                                                        ipproto::icmpv6))));
}

Result<DhaadRequest> parse_dhaad_request(const Icmpv6View& v)
{
    if (v.type != icmp6::dhaad_request) return err(Errc::unknown_type, "not a DHAAD request", 0);
    if (v.code != 0) return err(Errc::bad_value, "DHAAD request code", 1);
    if (v.message.size() < kFixed8) return err(Errc::truncated, "DHAAD request");
    return DhaadRequest{load_be16(v.message.data() + 4), load_be16(v.message.data() + 6)};
}

Result<DhaadReply> parse_dhaad_reply(const Icmpv6View& v)
{
    if (v.type != icmp6::dhaad_reply) return err(Errc::unknown_type, "not a DHAAD reply", 0);
    if (v.message.size() < kFixed8) return err(Errc::truncated, "DHAAD reply");
    const std::size_t list = v.message.size() - kFixed8;
    if (list % 16 != 0) return err(Errc::bad_length, "DHAAD reply address list", kFixed8);
    if (list / 16 > kMaxHomeAgentAddresses) return err(Errc::bad_value, "DHAAD reply: too many addresses", kFixed8);
    DhaadReply r;
    r.id = load_be16(v.message.data() + 4);
    r.flags = load_be16(v.message.data() + 6);
    for (std::size_t i = 0; i < list / 16; ++i)
        r.addresses[r.count++] = Ipv6Addr::from_bytes(v.message.data() + kFixed8 + i * 16);
    return r;
}

Result<std::size_t> build_dhaad_request(std::span<uint8_t> out, const DhaadRequest& req, const Ipv6Addr& src,
                                        const Ipv6Addr& dst)
{
    if (out.size() < kFixed8) return err(Errc::buffer_too_small, "DHAAD request");
    header(out.data(), icmp6::dhaad_request, 0);
    store_be16(out.data() + 4, req.id);
    store_be16(out.data() + 6, req.flags);
    return finish(out, kFixed8, src, dst);
}

Result<std::size_t> build_dhaad_reply(std::span<uint8_t> out, uint16_t id, uint16_t flags,
                                      std::span<const Ipv6Addr> ha_v6, std::span<const Ipv4Addr> ha_v4,
                                      const Ipv6Addr& src, const Ipv6Addr& dst)
{
    const std::size_t count = ha_v6.size() + ha_v4.size();
    // The reply must fit the minimum MTU (RFC 6275 10.5): drop lowest-preference addresses past that.
    const std::size_t fit = (kIpv6MinMtu - kIpv6HeaderLen - kFixed8) / 16;
    const std::size_t n = std::min(count, fit);
    const std::size_t len = kFixed8 + n * 16;
    if (out.size() < len) return err(Errc::buffer_too_small, "DHAAD reply");
    header(out.data(), icmp6::dhaad_reply, 0);
    store_be16(out.data() + 4, id);
    store_be16(out.data() + 6, flags);
    uint8_t* p = out.data() + kFixed8;
    for (std::size_t i = 0; i < n; ++i, p += 16) {
        if (i < ha_v6.size()) ha_v6[i].to_bytes(p);
        else Ipv6Addr::v4_mapped(ha_v4[i - ha_v6.size()]).to_bytes(p);
    }
    return finish(out, len, src, dst);
}

Result<uint16_t> parse_mobile_prefix_solicit(const Icmpv6View& v)
{
    if (v.type != icmp6::mobile_prefix_solicit) return err(Errc::unknown_type, "not a mobile prefix solicitation", 0);
    if (v.code != 0) return err(Errc::bad_value, "mobile prefix solicitation code", 1);
    if (v.message.size() < kFixed8) return err(Errc::truncated, "mobile prefix solicitation");
    return load_be16(v.message.data() + 4);
}

Result<MobilePrefixAdvert> parse_mobile_prefix_advert(const Icmpv6View& v)
{
    if (v.type != icmp6::mobile_prefix_advert) return err(Errc::unknown_type, "not a mobile prefix advertisement", 0);
    if (v.message.size() < kFixed8) return err(Errc::truncated, "mobile prefix advertisement");
    MobilePrefixAdvert a;
    a.id = load_be16(v.message.data() + 4);
    a.flags = load_be16(v.message.data() + 6);
    auto ok = walk_nd_options(v.message.subspan(kFixed8), kFixed8,
                              [&](uint8_t type, std::span<const uint8_t> opt, std::size_t at) -> Result<bool> {
                                  if (type != nd_opt::prefix_info) return true;
                                  if (opt.size() != kPioLen) return err(Errc::bad_length, "prefix information option", at + 1);
                                  if (opt[2] > 128) return err(Errc::bad_value, "prefix information prefix length", at + 2);
                                  if (a.count == kMaxPrefixInfo) return err(Errc::bad_value, "too many prefix information options", at);
                                  PrefixInfo& pi = a.prefixes[a.count++];
                                  pi.prefix_len = opt[2];
                                  pi.flags = opt[3];
                                  pi.valid_lifetime = load_be32(opt.data() + 4);
                                  pi.preferred_lifetime = load_be32(opt.data() + 8);
                                  pi.prefix = Ipv6Addr::from_bytes(opt.data() + 16);
                                  return true;
                              });
    if (!ok) return ok.error();
    return a;
}

Result<std::size_t> build_mobile_prefix_solicit(std::span<uint8_t> out, uint16_t id, const Ipv6Addr& src,
                                                const Ipv6Addr& dst)
{
    if (out.size() < kFixed8) return err(Errc::buffer_too_small, "mobile prefix solicitation");
    header(out.data(), icmp6::mobile_prefix_solicit, 0);
    store_be16(out.data() + 4, id);
    store_be16(out.data() + 6, 0);
    return finish(out, kFixed8, src, dst);
}

Result<std::size_t> build_mobile_prefix_advert(std::span<uint8_t> out, const MobilePrefixAdvert& mpa,
                                               const Ipv6Addr& src, const Ipv6Addr& dst)
{
    const std::size_t len = kFixed8 + std::size_t{mpa.count} * kPioLen;
    if (out.size() < len) return err(Errc::buffer_too_small, "mobile prefix advertisement");
    header(out.data(), icmp6::mobile_prefix_advert, 0);
    store_be16(out.data() + 4, mpa.id);
    store_be16(out.data() + 6, mpa.flags);
    uint8_t* p = out.data() + kFixed8;
    for (const PrefixInfo& pi : mpa.list()) {
        p[0] = nd_opt::prefix_info;
        p[1] = kPioLen / 8;
        p[2] = pi.prefix_len;
        p[3] = pi.flags;
        store_be32(p + 4, pi.valid_lifetime);
        store_be32(p + 8, pi.preferred_lifetime);
        store_be32(p + 12, 0);
        pi.prefix.to_bytes(p + 16);
        p += kPioLen;
    }
    return finish(out, len, src, dst);
}

Result<Icmpv6Error> parse_icmpv6_error(const Icmpv6View& v)
{
    if (v.type >= 128) return err(Errc::unknown_type, "not an ICMPv6 error message", 0);
    if (v.message.size() < kFixed8) return err(Errc::truncated, "ICMPv6 error message");
    return Icmpv6Error{v.type, v.code, load_be32(v.message.data() + 4), v.message.subspan(kFixed8)};
}

Result<std::size_t> build_param_problem(std::span<uint8_t> out, uint8_t code, uint32_t pointer,
                                        std::span<const uint8_t> invoking, const Ipv6Addr& src,
                                        const Ipv6Addr& dst)
{
    return build_error(out, icmp6::param_problem, code, pointer, invoking, src, dst);
}

Result<std::size_t> build_packet_too_big(std::span<uint8_t> out, uint32_t mtu, std::span<const uint8_t> invoking,
                                         const Ipv6Addr& src, const Ipv6Addr& dst)
{
    return build_error(out, icmp6::packet_too_big, 0, mtu, invoking, src, dst);
}

Result<std::size_t> build_time_exceeded(std::span<uint8_t> out, uint8_t code, std::span<const uint8_t> invoking,
                                        const Ipv6Addr& src, const Ipv6Addr& dst)
{
    return build_error(out, icmp6::time_exceeded, code, 0, invoking, src, dst);
}

bool icmpv6_error_allowed(std::span<const uint8_t> invoking, uint8_t type, bool link_multicast)
{
    if (invoking.size() < kIpv6HeaderLen) return false;
    const uint8_t* h = invoking.data();
    const uint8_t* src = h + 8;
    const uint8_t* dst = h + 24;
    bool unspecified = true;
    for (int i = 0; i < 16; ++i) unspecified = unspecified && src[i] == 0;
    if (unspecified || src[0] == 0xFF) return false;                                  // (e.6)
    if ((dst[0] == 0xFF || link_multicast) && type != icmp6::packet_too_big) return false; // (e.3), (e.4)
    if (h[6] == ipproto::icmpv6) {                                                     // (e.1), (e.2)
        if (invoking.size() < kIpv6HeaderLen + 1) return false;
        const uint8_t t = h[kIpv6HeaderLen];
        if (t < 128 || t == icmp6::redirect) return false;
    }
    return true;
}

Result<NeighborMessage> parse_neighbor_solicit(const Icmpv6View& v)
{
    return parse_neighbor(v, icmp6::neighbor_solicit, nd_opt::source_lladdr);
}

Result<NeighborMessage> parse_neighbor_advert(const Icmpv6View& v)
{
    return parse_neighbor(v, icmp6::neighbor_advert, nd_opt::target_lladdr);
}

bool dad_solicit_valid(const NeighborMessage& ns, const Ipv6Addr& dst)
{
    return !ns.lladdr && dst == ns.target.solicited_node();
}

Result<std::size_t> build_neighbor_solicit(std::span<uint8_t> out, const NeighborMessage& ns, const Ipv6Addr& src,
                                           const Ipv6Addr& dst)
{
    NeighborMessage m = ns;
    m.flags = 0;
    return build_neighbor(out, icmp6::neighbor_solicit, nd_opt::source_lladdr, m, src, dst);
}

Result<std::size_t> build_neighbor_advert(std::span<uint8_t> out, const NeighborMessage& na, const Ipv6Addr& src,
                                          const Ipv6Addr& dst)
{
    return build_neighbor(out, icmp6::neighbor_advert, nd_opt::target_lladdr, na, src, dst);
}

} // namespace nemo::wire
