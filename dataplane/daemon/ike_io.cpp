// IKEv2's datagrams between the wire and the responder (control/ike): what a worker punted (port 500,
// or 4500 without its non-ESP marker) goes in; answers and the responder's own requests go out as
// UDP/IPv4 from the home agent's address, through the inject ring, to the MAC the peer's frames came from.
#include <rte_mbuf.h>

#include <cstring>

#include "checksum.hpp"
#include "control_io.hpp"
#include "esp.hpp"
#include "ethernet.hpp"
#include "ipv4.hpp"
#include "proto.hpp"
#include "udp.hpp"

namespace nemo::dp {

using namespace wire;

void ControlIo::on_ike(rte_mbuf* m, uint64_t now_ms)
{
    const PuntMeta meta = *punt_meta(m);
    ike::Datagram d;
    d.peer = meta.outer_src;
    d.peer_port = meta.outer_sport;
    d.local_port = meta.local_port;
    d.link_mac = meta.src_mac;
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    d.bytes.assign(p, p + rte_pktmbuf_data_len(m));
    ike_out_.clear();
    cp_.handle_ike(std::move(d), now_ms, ike_out_);
    for (const ike::Datagram& o : ike_out_) send_ike(o);
}

void ControlIo::ike_turn(uint64_t now_ms)
{
    ike_out_.clear();
    cp_.ike_poll(now_ms, ike_out_);
    for (const ike::Datagram& o : ike_out_) send_ike(o);
}

void ControlIo::send_ike(const ike::Datagram& d)
{
    const std::size_t marker = d.local_port == kEspInUdpPort ? 4 : 0;
    const std::size_t udp_len = kUdpHeaderLen + marker + d.bytes.size();
    const std::size_t total = kEtherHeaderLen + kIpv4MinHeaderLen + udp_len;
    // Our messages stay within one unfragmented datagram (PSK exchanges are a few hundred bytes); one
    // that would not fit the access MTU is dropped and counted rather than sent in fragments.
    if (kIpv4MinHeaderLen + udp_len > cfg_.access.mtu) {
        ike_too_big_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(cfg_.pool);
    auto* p = m ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(total))) : nullptr;
    if (!p) {
        no_mbuf_.fetch_add(1, std::memory_order_relaxed);
        rte_pktmbuf_free(m);
        return;
    }
    write_ether_header(p, d.link_mac, cfg_.access.mac, ethertype::ipv4);
    uint8_t* ip = p + kEtherHeaderLen;
    Ipv4Header h;
    h.total_len = static_cast<uint16_t>(kIpv4MinHeaderLen + udp_len);
    h.frag = kIpv4FlagDF;
    h.ttl = 64;
    h.protocol = ipproto::udp;
    h.src = cfg_.self.ipv4;
    h.dst = d.peer;
    write_ipv4_header(ip, h);
    uint8_t* udp = ip + kIpv4MinHeaderLen;
    if (marker) std::memset(udp + kUdpHeaderLen, 0, marker);
    std::memcpy(udp + kUdpHeaderLen + marker, d.bytes.data(), d.bytes.size());
    write_udp_header({udp, udp_len}, d.local_port, d.peer_port);
    fill_udp_checksum_v4({udp, udp_len}, cfg_.self.ipv4, d.peer);
    ike_sent_.fetch_add(1, std::memory_order_relaxed);
    send_frame(m, cfg_.access.port);
}

} // namespace nemo::dp
