#include "gre.hpp"

#include "bytes.hpp"
#include "checksum.hpp"

namespace nemo::wire {

namespace {
constexpr uint16_t kMustBeZero = 0x4000 | 0x0800 | 0x0400; // R (routing), s (strict), recursion top bit
constexpr uint16_t kVersionMask = 0x0007;
} // namespace

Result<GreView> parse_gre(std::span<const uint8_t> bytes)
{
    if (bytes.size() < 4) return err(Errc::truncated, "GRE header");
    const uint16_t flags = load_be16(bytes.data());
    if ((flags & kVersionMask) != 0) return err(Errc::bad_version, "GRE version", 1);
    if ((flags & kMustBeZero) != 0) return err(Errc::bad_value, "GRE reserved bits 1-5", 0);
    GreView v;
    v.hdr.protocol = load_be16(bytes.data() + 2);
    v.hdr.checksum = (flags & gre_flag::C) != 0;
    std::size_t off = 4;
    const std::size_t need = 4 + (v.hdr.checksum ? 4 : 0) + ((flags & gre_flag::K) ? 4 : 0) +
                             ((flags & gre_flag::S) ? 4 : 0);
    if (bytes.size() < need) return err(Errc::truncated, "GRE optional fields");
    if (v.hdr.checksum) {
        if (!checksum_ok(sum_words(bytes))) return err(Errc::bad_checksum, "GRE checksum", 4);
        off += 4;
    }
    if (flags & gre_flag::K) {
        v.hdr.key = load_be32(bytes.data() + off);
        off += 4;
    }
    if (flags & gre_flag::S) {
        v.hdr.seq = load_be32(bytes.data() + off);
        off += 4;
    }
    v.payload = bytes.subspan(off);
    return v;
}

void write_gre(std::span<uint8_t> packet, const GreHeader& hdr)
{
    uint16_t flags = 0;
    if (hdr.checksum) flags |= gre_flag::C;
    if (hdr.key) flags |= gre_flag::K;
    if (hdr.seq) flags |= gre_flag::S;
    uint8_t* p = packet.data();
    write_gre_basic(p, hdr.protocol);
    store_be16(p, flags);
    std::size_t off = 4;
    if (hdr.checksum) {
        store_be32(p + off, 0);
        off += 4;
    }
    if (hdr.key) {
        store_be32(p + off, *hdr.key);
        off += 4;
    }
    if (hdr.seq) store_be32(p + off, *hdr.seq);
    if (hdr.checksum) store_be16(p + 4, inet_checksum(packet));
}

} // namespace nemo::wire
