#include "ipv6.hpp"

#include <cstring>

#include "bytes.hpp"
#include "proto.hpp"

namespace nemo::wire {

Result<Ipv6View> parse_ipv6(std::span<const uint8_t> bytes)
{
    if (bytes.size() < kIpv6HeaderLen) return err(Errc::truncated, "IPv6 header");
    const uint8_t* p = bytes.data();
    if ((p[0] >> 4) != 6) return err(Errc::bad_version, "IPv6 version", 0);
    Ipv6View v;
    const uint32_t w = load_be32(p);
    v.hdr.traffic_class = static_cast<uint8_t>(w >> 20);
    v.hdr.flow_label = w & 0xFFFFF;
    v.hdr.payload_len = load_be16(p + 4);
    v.hdr.next_header = p[6];
    v.hdr.hop_limit = p[7];
    v.hdr.src = Ipv6Addr::from_bytes(p + 8);
    v.hdr.dst = Ipv6Addr::from_bytes(p + 24);
    if (kIpv6HeaderLen + v.hdr.payload_len > bytes.size())
        return err(Errc::truncated, "IPv6 payload (shorter than Payload Length)", 4);
    v.payload = bytes.subspan(kIpv6HeaderLen, v.hdr.payload_len);
    return v;
}

namespace {

// Destination options: Pad1, PadN, the Home Address option; others by their action bits (RFC 8200 4.2).
Result<std::optional<Ipv6Addr>> walk_dest_options(std::span<const uint8_t> hdr, std::size_t base)
{
    std::optional<Ipv6Addr> hao;
    std::size_t i = 2;
    while (i < hdr.size()) {
        const uint8_t type = hdr[i];
        if (type == 0) {
            ++i;
            continue;
        }
        if (i + 2 > hdr.size()) return err(Errc::truncated, "destination option", base + i);
        const uint8_t len = hdr[i + 1];
        if (i + 2 + len > hdr.size()) return err(Errc::truncated, "destination option", base + i + 1);
        if (type == kHomeAddressOption) {
            if (len != 16) return err(Errc::bad_length, "home address option", base + i + 1);
            if (hao) return err(Errc::bad_value, "duplicate home address option", base + i);
            hao = Ipv6Addr::from_bytes(hdr.data() + i + 2);
        } else if (type != 1 && (type & 0xC0) != 0) {
            return err(Errc::unknown_type, "destination option that must not be skipped", base + i);
        }
        i += 2 + std::size_t{len};
    }
    return hao;
}

} // namespace

Result<Ipv6Packet> parse_ipv6_packet(std::span<const uint8_t> bytes)
{
    auto v = parse_ipv6(bytes);
    if (!v) return v.error();
    Ipv6Packet pkt;
    pkt.hdr = v->hdr;
    const std::span<const uint8_t> all = bytes.first(kIpv6HeaderLen + v->hdr.payload_len);
    std::size_t off = kIpv6HeaderLen;
    uint8_t nh = v->hdr.next_header;
    std::size_t next_header_field = 6;
    for (;;) {
        if (nh != ipproto::hop_by_hop && nh != ipproto::dest_opts && nh != ipproto::routing && nh != ipproto::ah) {
            if (nh == ipproto::fragment) return err(Errc::unsupported, "IPv6 fragment", next_header_field);
            break;
        }
        if (nh == ipproto::hop_by_hop && off != kIpv6HeaderLen)
            return err(Errc::bad_value, "hop-by-hop header not first", next_header_field);
        if (off + 2 > all.size()) return err(Errc::truncated, "IPv6 extension header", off);
        const std::size_t len = nh == ipproto::ah ? (std::size_t{all[off + 1]} + 2) * 4
                                                  : (std::size_t{all[off + 1]} + 1) * 8;
        if (off + len > all.size()) return err(Errc::truncated, "IPv6 extension header", off + 1);
        const auto hdr = all.subspan(off, len);
        if (nh == ipproto::dest_opts) {
            auto hao = walk_dest_options(hdr, off);
            if (!hao) return hao.error();
            if (*hao) {
                if (pkt.home_address) return err(Errc::bad_value, "duplicate home address option", off);
                pkt.home_address = **hao;
            }
        } else if (nh == ipproto::routing) {
            if (len < 8) return err(Errc::truncated, "routing header", off);
            const uint8_t rtype = hdr[2];
            const uint8_t segments_left = hdr[3];
            if (rtype == 2) {
                if (hdr[1] != 2) return err(Errc::bad_length, "type 2 routing header", off + 1);
                if (segments_left > 1) return err(Errc::bad_value, "type 2 routing header segments left", off + 3);
                if (pkt.rh2_home_address) return err(Errc::bad_value, "duplicate type 2 routing header", off);
                pkt.rh2_home_address = Ipv6Addr::from_bytes(hdr.data() + 8);
            } else if (segments_left != 0) {
                return err(Errc::unknown_type, "routing header type", off + 2);
            }
        }
        next_header_field = off;
        nh = hdr[0];
        off += len;
    }
    pkt.upper_proto = nh;
    pkt.upper_offset = off;
    pkt.upper = all.subspan(off);
    return pkt;
}

void write_ipv6_header(uint8_t* out, const Ipv6Header& h)
{
    store_be32(out, (6u << 28) | (uint32_t{h.traffic_class} << 20) | (h.flow_label & 0xFFFFF));
    store_be16(out + 4, h.payload_len);
    out[6] = h.next_header;
    out[7] = h.hop_limit;
    h.src.to_bytes(out + 8);
    h.dst.to_bytes(out + 24);
}

void write_hao_dest_opts(uint8_t* out, uint8_t next_header, const Ipv6Addr& home_address)
{
    // The Home Address option's alignment is 8n+6: PadN of 4 octets puts it there.
    out[0] = next_header;
    out[1] = 2; // (2 + 1) * 8 = 24 octets
    out[2] = 1; // PadN
    out[3] = 2;
    out[4] = 0;
    out[5] = 0;
    out[6] = kHomeAddressOption;
    out[7] = 16;
    home_address.to_bytes(out + 8);
}

void write_rh2(uint8_t* out, uint8_t next_header, const Ipv6Addr& home_address)
{
    out[0] = next_header;
    out[1] = 2;
    out[2] = 2; // routing type 2
    out[3] = 1; // segments left
    std::memset(out + 4, 0, 4);
    home_address.to_bytes(out + 8);
}

} // namespace nemo::wire
