#include "ipv4.hpp"

#include "bytes.hpp"
#include "checksum.hpp"

namespace nemo::wire {

Result<Ipv4View> parse_ipv4(std::span<const uint8_t> bytes, ChecksumCheck check)
{
    if (bytes.size() < kIpv4MinHeaderLen) return err(Errc::truncated, "IPv4 header");
    const uint8_t* p = bytes.data();
    if ((p[0] >> 4) != 4) return err(Errc::bad_version, "IPv4 version", 0);
    Ipv4View v;
    v.header_len = static_cast<uint8_t>((p[0] & 0x0F) * 4);
    if (v.header_len < kIpv4MinHeaderLen) return err(Errc::bad_length, "IPv4 header length (IHL)", 0);
    if (v.header_len > bytes.size()) return err(Errc::truncated, "IPv4 options", 0);
    v.hdr.tos = p[1];
    v.hdr.total_len = load_be16(p + 2);
    v.hdr.id = load_be16(p + 4);
    v.hdr.frag = load_be16(p + 6);
    v.hdr.ttl = p[8];
    v.hdr.protocol = p[9];
    v.hdr.checksum = load_be16(p + 10);
    v.hdr.src = Ipv4Addr::from_bytes(p + 12);
    v.hdr.dst = Ipv4Addr::from_bytes(p + 16);
    if (v.hdr.total_len < v.header_len) return err(Errc::bad_length, "IPv4 total length below header length", 2);
    if (v.hdr.total_len > bytes.size()) return err(Errc::truncated, "IPv4 packet (shorter than Total Length)", 2);
    if (check == ChecksumCheck::verify && !ipv4_header_checksum_ok(p, v.header_len))
        return err(Errc::bad_checksum, "IPv4 header checksum", 10);
    v.payload = bytes.subspan(v.header_len, v.hdr.total_len - v.header_len);
    return v;
}

void write_ipv4_header(uint8_t* out, const Ipv4Header& h)
{
    out[0] = 0x45;
    out[1] = h.tos;
    store_be16(out + 2, h.total_len);
    store_be16(out + 4, h.id);
    store_be16(out + 6, h.frag);
    out[8] = h.ttl;
    out[9] = h.protocol;
    store_be16(out + 10, 0);
    h.src.to_bytes(out + 12);
    h.dst.to_bytes(out + 16);
    // Five 32-bit words, folded: the header checksum without a general loop (every encapsulation).
    uint64_t sum = 0;
    for (int i = 0; i < 20; i += 4) sum += load_be32(out + i);
    store_be16(out + 10, finish_checksum(sum));
}

} // namespace nemo::wire
