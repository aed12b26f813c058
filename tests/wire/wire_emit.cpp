// Builds one packet of each kind the home agent sends, with lib/'s builders only, and writes them to a
// pcap (Ethernet link type) for scapy and tshark to judge: tests/wire/check_emitted.py.
//
//   wire_emit OUT.pcap
//
// Every value here is mirrored by an assertion in check_emitted.py.
#include "../common/addresses.hpp"
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "esp.hpp"
#include "ethernet.hpp"
#include "gre.hpp"
#include "icmpv6.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"
#include "mobility_header.hpp"
#include "proto.hpp"
#include "udp.hpp"

using namespace nemo;
using namespace nemo::wire;
using namespace nemo::test;

namespace {

const MacAddr kMacHa = *MacAddr::parse("02:00:00:00:00:01");
const MacAddr kMacPeer = *MacAddr::parse("02:00:00:00:00:02");

using Bytes = std::vector<uint8_t>;

Bytes ether(uint16_t type, const Bytes& payload)
{
    Bytes f(kEtherHeaderLen);
    write_ether_header(f.data(), kMacPeer, kMacHa, type);
    f.insert(f.end(), payload.begin(), payload.end());
    return f;
}

Bytes ipv6(uint8_t nh, const Ipv6Addr& src, const Ipv6Addr& dst, const Bytes& payload)
{
    Bytes p(kIpv6HeaderLen);
    write_ipv6_header(p.data(), Ipv6Header{0, 0, static_cast<uint16_t>(payload.size()), nh, 64, src, dst});
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}

Bytes ipv4(uint8_t proto, Ipv4Addr src, Ipv4Addr dst, const Bytes& payload)
{
    Bytes p(kIpv4MinHeaderLen);
    Ipv4Header h;
    h.total_len = static_cast<uint16_t>(p.size() + payload.size());
    h.id = 0x4242;
    h.frag = kIpv4FlagDF;
    h.protocol = proto;
    h.src = src;
    h.dst = dst;
    write_ipv4_header(p.data(), h);
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}

template <class F>
Bytes build(F&& f)
{
    Bytes b(2048);
    auto len = f(std::span<uint8_t>(b));
    if (!len) {
        std::fprintf(stderr, "wire_emit: %s\n", len.error().message().c_str());
        std::exit(1);
    }
    b.resize(*len);
    return b;
}

Bytes ba_v4(uint8_t status, uint16_t v4flags)
{
    BindingAck ba;
    ba.status = status;
    ba.flags = status < 128 ? ba_flag::R : 0;
    ba.seq = 1000;
    ba.lifetime = status < 128 ? 150 : 0;
    ba.options.ipv4_coa = Ipv4CoaOption{v4flags, 0, kCoa4};
    return ipv4(ipproto::ipv6, kHa4, kCoa4,
                ipv6(ipproto::mobility, kHa6, kHoa, build([&](auto out) { return build_binding_ack(out, ba, kHa6, kHoa); })));
}

Bytes echo_request(const Ipv6Addr& src, const Ipv6Addr& dst)
{
    Bytes icmp = {icmp6::echo_request, 0, 0, 0, 0x12, 0x34, 0, 1, 'n', 'e', 'm', 'o'};
    fill_icmpv6_checksum(icmp, src, dst);
    return ipv6(ipproto::icmpv6, src, dst, icmp);
}

void write_pcap(const std::string& path, const std::vector<Bytes>& frames)
{
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) {
        std::perror(path.c_str());
        std::exit(1);
    }
    const uint32_t global[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 /* Ethernet */};
    std::fwrite(global, sizeof global, 1, f);
    uint32_t t = 0;
    for (const Bytes& fr : frames) {
        const uint32_t rec[4] = {++t, 0, static_cast<uint32_t>(fr.size()), static_cast<uint32_t>(fr.size())};
        std::fwrite(rec, sizeof rec, 1, f);
        std::fwrite(fr.data(), 1, fr.size(), f);
    }
    std::fclose(f);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: wire_emit OUT.pcap\n");
        return 2;
    }
    std::vector<Bytes> frames;

    // 1. BA accepting an IPv4 CoA registration, option echoed.
    frames.push_back(ether(ethertype::ipv4, ba_v4(0, v4flag::I)));
    // 2. BA 144 with the supported methods I and U.
    frames.push_back(ether(ethertype::ipv4, ba_v4(144, v4flag::I | v4flag::U)));
    // 3. BA to an IPv6 CoA through a type 2 routing header.
    {
        BindingAck ba;
        ba.flags = ba_flag::R;
        ba.seq = 7;
        ba.lifetime = 100;
        Bytes ext(kRh2Len);
        write_rh2(ext.data(), ipproto::mobility, kHoa);
        Bytes mh = build([&](auto out) { return build_binding_ack(out, ba, kHa6, kHoa); });
        ext.insert(ext.end(), mh.begin(), mh.end());
        frames.push_back(ether(ethertype::ipv6, ipv6(ipproto::routing, kHa6, kCoa6, ext)));
    }
    // 4. BU with the IPv4 CoA option (U, port 5555) and two prefixes, over IPv4.
    {
        BindingUpdate bu;
        bu.seq = 4242;
        bu.flags = bu_flag::A | bu_flag::H | bu_flag::R;
        bu.lifetime = 100;
        bu.options.ipv4_coa = Ipv4CoaOption{v4flag::U, 5555, kCoa4};
        bu.options.add_prefix(*Prefix6::parse("2001:db8:aaaa::/48"));
        bu.options.add_prefix(*Prefix6::parse("2001:db8:bbbb:1::/64"));
        Bytes mh = build([&](auto out) { return build_binding_update(out, bu, kHoa, kHa6); });
        frames.push_back(ether(ethertype::ipv4, ipv4(ipproto::ipv6, kCoa4, kHa4, ipv6(ipproto::mobility, kHoa, kHa6, mh))));
    }
    // 5. BU from an IPv6 CoA with a Home Address option and an Alternate CoA option.
    {
        BindingUpdate bu;
        bu.seq = 9;
        bu.flags = bu_flag::A | bu_flag::H;
        bu.lifetime = 10;
        bu.options.alternate_coa = kCoa6;
        Bytes ext(kHaoDestOptsLen);
        write_hao_dest_opts(ext.data(), ipproto::mobility, kHoa);
        Bytes mh = build([&](auto out) { return build_binding_update(out, bu, kHoa, kHa6); });
        ext.insert(ext.end(), mh.begin(), mh.end());
        frames.push_back(ether(ethertype::ipv6, ipv6(ipproto::dest_opts, kCoa6, kHa6, ext)));
    }
    // 6. Binding Error, status 2.
    frames.push_back(ether(ethertype::ipv6, ipv6(ipproto::mobility, kHa6, kHoa, build([&](auto out) {
        return build_binding_error(out, BindingError{be_status::unrecognized_mh_type, kHoa, {}}, kHa6, kHoa);
    }))));
    // 7. DHAAD Reply with R and I: two IPv6 home agents, then one IPv4 address mapped.
    {
        std::vector<Ipv6Addr> v6 = {kHa6, *Ipv6Addr::parse("2001:db8:1::2")};
        std::vector<Ipv4Addr> v4 = {kHa4};
        frames.push_back(ether(ethertype::ipv6, ipv6(ipproto::icmpv6, kHa6, kCoa6, build([&](auto out) {
            return build_dhaad_reply(out, 0x1234, dhaad_flag::R | dhaad_flag::I, v6, v4, kHa6, kCoa6);
        }))));
    }
    // 8. Mobile Prefix Advertisement with one prefix.
    {
        MobilePrefixAdvert a;
        a.id = 0x0102;
        a.flags = mpa_flag::M;
        a.prefixes[0] = PrefixInfo{64, pio_flag::L | pio_flag::A, 86400, 14400, *Ipv6Addr::parse("2001:db8:1::")};
        a.count = 1;
        frames.push_back(ether(ethertype::ipv6, ipv6(ipproto::icmpv6, kHa6, kHoa, build([&](auto out) {
            return build_mobile_prefix_advert(out, a, kHa6, kHoa);
        }))));
    }
    // 9. Neighbor Advertisement for a defended home address (proxy ND: R clear, S and O set).
    frames.push_back(ether(ethertype::ipv6, ipv6(ipproto::icmpv6, kHa6, kCn, build([&](auto out) {
        return build_neighbor_advert(out, {na_flag::S | na_flag::O, kHoa, kMacHa}, kHa6, kCn);
    }))));
    // 10. Packet Too Big (MTU 1452) quoting an oversized packet: cut to the minimum MTU.
    {
        Bytes big = ipv6(ipproto::no_next, kCn, kHoa, Bytes(1400, 0xAB));
        frames.push_back(ether(ethertype::ipv6, ipv6(ipproto::icmpv6, kHa6, kCn, build([&](auto out) {
            return build_packet_too_big(out, 1452, big, kHa6, kCn);
        }))));
    }
    // 11. IPv6 in UDP in IPv4: HA port 4191 to the MR's port 5555, UDP checksum computed.
    {
        Bytes inner = echo_request(kCn, kHoa);
        Bytes udp(kUdpHeaderLen);
        udp.insert(udp.end(), inner.begin(), inner.end());
        write_udp_header(udp, 4191, 5555);
        fill_udp_checksum_v4(udp, kHa4, kCoa4);
        frames.push_back(ether(ethertype::ipv4, ipv4(ipproto::udp, kHa4, kCoa4, udp)));
    }
    // 12. GRE with checksum, key and sequence number.
    {
        Bytes inner = echo_request(kCn, kHoa);
        GreHeader h{ethertype::ipv6, true, 0xDEADBEEF, 7};
        Bytes gre(h.size());
        gre.insert(gre.end(), inner.begin(), inner.end());
        write_gre(gre, h);
        frames.push_back(ether(ethertype::ipv4, ipv4(ipproto::gre, kHa4, kCoa4, gre)));
    }
    // 13. ESP framing with the NULL algorithm: header, inner packet, padding to 4, trailer.
    {
        Bytes inner = echo_request(kCn, kHoa);
        const std::size_t pad = esp_pad_len(inner.size(), 4);
        Bytes esp(kEspHeaderLen);
        write_esp_header(esp.data(), 0x1001, 42);
        esp.insert(esp.end(), inner.begin(), inner.end());
        esp.resize(esp.size() + pad + kEspTrailerLen);
        write_esp_trailer(esp.data() + kEspHeaderLen + inner.size(), pad, ipproto::ipv6);
        frames.push_back(ether(ethertype::ipv4, ipv4(ipproto::esp, kHa4, kCoa4, esp)));
    }
    // 14. ARP reply for the HA's IPv4 address.
    {
        Bytes arp(kArpLen);
        write_arp(arp.data(), ArpPacket{arp_op::reply, kMacHa, kHa4, kMacPeer, kCoa4});
        frames.push_back(ether(ethertype::arp, arp));
    }
    // 15. Parameter Problem pointing at a Payload Proto field (offset 40 of the invoking packet).
    {
        Bytes bad = ipv6(ipproto::mobility, kHoa, kHa6, Bytes{6, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        frames.push_back(ether(ethertype::ipv6, ipv6(ipproto::icmpv6, kHa6, kHoa, build([&](auto out) {
            return build_param_problem(out, 0, 40, bad, kHa6, kHoa);
        }))));
    }
    write_pcap(argv[1], frames);
    return 0;
}
