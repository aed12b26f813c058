#include "ethernet.hpp"

#include "bytes.hpp"
#include "proto.hpp"

namespace nemo::wire {

Result<EtherView> parse_ether(std::span<const uint8_t> bytes)
{
    if (bytes.size() < kEtherHeaderLen) return err(Errc::truncated, "Ethernet header");
    EtherView v;
    v.dst = MacAddr::from_bytes(bytes.data());
    v.src = MacAddr::from_bytes(bytes.data() + 6);
    v.ethertype = load_be16(bytes.data() + 12);
    if (v.ethertype == ethertype::vlan) {
        if (bytes.size() < kEtherHeaderLen + 4) return err(Errc::truncated, "802.1Q tag");
        v.vlan_tci = load_be16(bytes.data() + 14);
        v.ethertype = load_be16(bytes.data() + 16);
        v.header_len = kEtherHeaderLen + 4;
    }
    v.payload = bytes.subspan(v.header_len);
    return v;
}

Result<ArpPacket> parse_arp(std::span<const uint8_t> bytes)
{
    if (bytes.size() < kArpLen) return err(Errc::truncated, "ARP packet");
    const uint8_t* p = bytes.data();
    if (load_be16(p) != 1) return err(Errc::bad_value, "ARP hardware type", 0);
    if (load_be16(p + 2) != ethertype::ipv4) return err(Errc::bad_value, "ARP protocol type", 2);
    if (p[4] != 6 || p[5] != 4) return err(Errc::bad_value, "ARP address sizes", 4);
    ArpPacket a;
    a.op = load_be16(p + 6);
    a.sender_mac = MacAddr::from_bytes(p + 8);
    a.sender_ip = Ipv4Addr::from_bytes(p + 14);
    a.target_mac = MacAddr::from_bytes(p + 18);
    a.target_ip = Ipv4Addr::from_bytes(p + 24);
    return a;
}

void write_arp(uint8_t* out, const ArpPacket& a)
{
    store_be16(out, 1);
    store_be16(out + 2, ethertype::ipv4);
    out[4] = 6;
    out[5] = 4;
    store_be16(out + 6, a.op);
    a.sender_mac.to_bytes(out + 8);
    a.sender_ip.to_bytes(out + 14);
    a.target_mac.to_bytes(out + 18);
    a.target_ip.to_bytes(out + 24);
}

} // namespace nemo::wire
