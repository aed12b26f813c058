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

// Packet Too Big and Time Exceeded about `invoking` (an IPv6 packet of `len` bytes, header first), from
// the home agent's first IPv6 address, back along `back`: out of the port the packet came in on to its
// sender's MAC, or through the tunnel of the binding it came from. Each type has its own per-lcore rate
// (RFC 4443 2.4 (f)); what 2.4 (e) forbids, or the rate refuses, is counted as suppressed.
void Worker::send_icmp_error(const uint8_t* invoking, uint32_t len, uint8_t type, uint8_t code, uint32_t param,
                             const ErrorReturn& back)
{
    LcoreCounters& ctr = *cfg_.counters;
    RateLimiter& limit = type == icmp6::packet_too_big ? ptb_limit_ : te_limit_;
    if (cfg_.ha_ipv6.empty() || !icmpv6_error_allowed({invoking, len}, type, back.link_multicast) ||
        !limit.take(rte_get_tsc_cycles())) {
        ctr.inc(DpCounter::icmp_suppressed);
        return;
    }
    rte_mbuf* r = rte_pktmbuf_alloc(cfg_.pool);
    if (!r) {
        ctr.inc(DpCounter::no_mbuf);
        return;
    }
    const Ipv6Addr to = Ipv6Addr::from_bytes(invoking + 8);
    const Ipv6Addr& from = cfg_.ha_ipv6.front();
    const uint16_t link = back.tunnel ? 0 : kEtherHeaderLen;
    // The pool's mbufs hold the IPv6 minimum MTU: this fails only if the pool was made with smaller ones.
    auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, static_cast<uint16_t>(link + kIpv6MinMtu)));
    if (!out) {
        ctr.inc(DpCounter::no_mbuf);
        rte_pktmbuf_free(r);
        return;
    }
    const std::span<uint8_t> body{out + link + kIpv6HeaderLen, kIpv6MinMtu - kIpv6HeaderLen};
    const std::span<const uint8_t> what{invoking, len};
    // Room for any invoking packet (it is cut to fit the minimum MTU): cannot fail.
    auto n = type == icmp6::packet_too_big ? build_packet_too_big(body, param, what, from, to)
                                           : build_time_exceeded(body, code, what, from, to);
    write_ipv6_header(out + link, Ipv6Header{0, 0, static_cast<uint16_t>(*n), ipproto::icmpv6, 64, from, to});
    rte_pktmbuf_trim(r, static_cast<uint16_t>(kIpv6MinMtu - kIpv6HeaderLen - *n));
    ctr.inc(type == icmp6::packet_too_big ? DpCounter::ptb_sent : DpCounter::te_sent);
    if (back.tunnel) {
        tunnel_out(r, *back.tunnel);
        return;
    }
    write_ether_header(out, back.mac, back.side->mac, ethertype::ipv6);
    queue_tx(*back.side, r);
}

} // namespace nemo::dp
