// ICMPv6 errors the worker originates (RFC 4443), rate limited per lcore (2.4 (f)).
#include "worker.hpp"

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstring>

#include "bytes.hpp"
#include "ecn.hpp"
#include "esp.hpp"
#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "inner_tc.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "worker_util.hpp"

namespace nemo::dp {

using namespace wire;

void Worker::send_packet_too_big(rte_mbuf* m, uint16_t l3, uint32_t mtu, const PortSide& side)
{
    // An error storm must not become a reply storm.
    if (cfg_.ha_ipv6.empty() || !ptb_limit_.take(rte_get_tsc_cycles())) return;
    rte_mbuf* r = rte_pktmbuf_alloc(cfg_.pool);
    if (!r) {
        cfg_.counters->inc(DpCounter::no_mbuf);
        return;
    }
    const uint8_t* frame = data(m);
    const std::span<const uint8_t> invoking{frame + l3, static_cast<std::size_t>(rte_pktmbuf_data_len(m) - l3)};
    const Ipv6Addr to = Ipv6Addr::from_bytes(frame + l3 + 8);
    // The pool's mbufs hold the IPv6 minimum MTU: this fails only if the pool was made with smaller ones.
    auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, kEtherHeaderLen + kIpv6MinMtu));
    if (!out) {
        cfg_.counters->inc(DpCounter::no_mbuf);
        rte_pktmbuf_free(r);
        return;
    }
    auto len = build_packet_too_big({out + kEtherHeaderLen + kIpv6HeaderLen, kIpv6MinMtu - kIpv6HeaderLen}, mtu,
                                    invoking, cfg_.ha_ipv6.front(), to); // room for any invoking packet: cannot fail
    write_ipv6_header(out + kEtherHeaderLen, Ipv6Header{0, 0, static_cast<uint16_t>(*len), ipproto::icmpv6, 64,
                                                        cfg_.ha_ipv6.front(), to});
    write_ether_header(out, MacAddr::from_bytes(frame + 6), side.mac, ethertype::ipv6);
    rte_pktmbuf_trim(r, static_cast<uint16_t>(kIpv6MinMtu - kIpv6HeaderLen - *len));
    cfg_.counters->inc(DpCounter::ptb_sent);
    queue_tx(side, r);
}

} // namespace nemo::dp
