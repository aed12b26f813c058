#include "udp.hpp"

#include "bytes.hpp"
#include "checksum.hpp"
#include "proto.hpp"

namespace nemo::wire {

Result<UdpView> parse_udp(std::span<const uint8_t> bytes)
{
    if (bytes.size() < kUdpHeaderLen) return err(Errc::truncated, "UDP header");
    UdpView v;
    v.src_port = load_be16(bytes.data());
    v.dst_port = load_be16(bytes.data() + 2);
    v.length = load_be16(bytes.data() + 4);
    v.checksum = load_be16(bytes.data() + 6);
    if (v.length < kUdpHeaderLen) return err(Errc::bad_length, "UDP length below 8", 4);
    if (v.length > bytes.size()) return err(Errc::truncated, "UDP datagram (shorter than Length)", 4);
    v.datagram = bytes.first(v.length);
    v.payload = v.datagram.subspan(kUdpHeaderLen);
    return v;
}

bool udp_checksum_ok_v4(const UdpView& udp, Ipv4Addr src, Ipv4Addr dst)
{
    if (udp.checksum == 0) return true;
    return checksum_ok(sum_words(udp.datagram, pseudo_header_sum_v4(src, dst, udp.length, ipproto::udp)));
}

bool udp_checksum_ok_v6(const UdpView& udp, const Ipv6Addr& src, const Ipv6Addr& dst)
{
    if (udp.checksum == 0) return false;
    return checksum_ok(sum_words(udp.datagram, pseudo_header_sum_v6(src, dst, udp.length, ipproto::udp)));
}

namespace {
void store_udp_checksum(std::span<uint8_t> datagram, uint64_t pseudo)
{
    store_be16(datagram.data() + 6, 0);
    uint16_t c = finish_checksum(sum_words(datagram, pseudo));
    store_be16(datagram.data() + 6, c == 0 ? 0xFFFF : c); // zero means "no checksum" on the wire
}
} // namespace

void fill_udp_checksum_v4(std::span<uint8_t> datagram, Ipv4Addr src, Ipv4Addr dst)
{
    store_udp_checksum(datagram, pseudo_header_sum_v4(src, dst, static_cast<uint16_t>(datagram.size()), ipproto::udp));
}

void fill_udp_checksum_v6(std::span<uint8_t> datagram, const Ipv6Addr& src, const Ipv6Addr& dst)
{
    store_udp_checksum(datagram,
                       pseudo_header_sum_v6(src, dst, static_cast<uint32_t>(datagram.size()), ipproto::udp));
}

} // namespace nemo::wire
