// Upstream: the tunnel stripped, the inner packet checked (its source must be the binding's, through the binding's tunnel), then forwarded to the core.
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

// The outer header's traffic class (and source, for IPv6-in-IPv6), read before the tunnel is stripped.
void Worker::note_outer(rte_mbuf* m, const Classified& c, UpstreamItem& item)
{
    item.sa = nullptr;
    const uint8_t* outer = data(m) + c.l3_offset;
    item.outer_tos = c.method == TunnelMethod::ipv6 ? static_cast<uint8_t>(((outer[0] & 0x0F) << 4) | (outer[1] >> 4))
                                                    : outer[1];
    if (c.method == TunnelMethod::ipv6) item.outer_src6 = Ipv6Addr::from_bytes(outer + 8);
    item.src_mac = MacAddr::from_bytes(data(m) + 6);
}

// Phase one, per packet: strip the tunnel, then check the inner packet. Returns false when the packet is
// gone (dropped or punted).
bool Worker::decapsulate(rte_mbuf* m, const Classified& c, UpstreamItem& item)
{
    note_outer(m, c, item);
    // The outer header's length bounds the inner packet, not the mbuf, which holds the link's padding too.
    const uint8_t* outer = data(m) + c.l3_offset;
    const std::size_t end = c.l3_offset + (c.method == TunnelMethod::ipv6 ? kIpv6HeaderLen + load_be16(outer + 4)
                                                                          : std::size_t{load_be16(outer + 2)});
    // classify checked that the outer lengths lie within the frame and cover the tunnel header.
    const uint32_t avail = end > c.inner_offset ? static_cast<uint32_t>(end - c.inner_offset) : 0;
    rte_pktmbuf_adj(m, c.inner_offset);
    return check_inner(m, c, item, avail);
}

// The inner IPv6 packet is at the front of the mbuf, `avail` bytes long by the outer headers: check it,
// trim what follows it (link padding), and hand signaling for the home agent to the control thread.
bool Worker::accept_inner(rte_mbuf* m, const Classified& c, UpstreamItem& item, uint32_t avail)
{
    return check_inner(m, c, item, avail);
}

// accept_inner's body, inlined into decapsulate (this file); ESP's path takes accept_inner.
[[gnu::always_inline]] inline bool Worker::check_inner(rte_mbuf* m, const Classified& c, UpstreamItem& item, uint32_t avail)
{
    LcoreCounters& ctr = *cfg_.counters;
    const uint8_t* ip = data(m);
    const uint32_t have = rte_pktmbuf_data_len(m);
    if (avail < kIpv6HeaderLen || (ip[0] >> 4) != 6 || kIpv6HeaderLen + load_be16(ip + 4) > avail) {
        ctr.inc(DpCounter::bad_inner);
        rte_pktmbuf_free(m);
        return false;
    }
    const uint32_t ip_len = kIpv6HeaderLen + load_be16(ip + 4);
    if (have > ip_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(have - ip_len));
    item.src = Ipv6Addr::from_bytes(ip + 8);
    if (addressed_to_ha(ip + 24, classify_)) {
        PuntMeta meta{PuntKind::signaling, c.method, m->port, c.outer_sport, c.outer_src, item.src_mac};
        if (item.sa) {
            meta.via_sa = true;
            meta.sa_hoa = item.sa->cfg.hoa;
        }
        // Signaling through an SA, or through the tunnel of the sender's own binding (a refresh from a
        // known care-of address), goes first; the rest (new registrations, DHAAD, junk) after.
        const bool known = item.sa || BindingTables::came_through(cfg_.tables->route(item.src), c.method, c.outer_src,
                                                                  c.outer_sport, &item.outer_src6);
        punt(m, meta, known ? PuntClass::priority : PuntClass::bulk);
        return false;
    }
    item.m = m;
    item.c = c;
    return true;
}

// Phase two, for the burst: one bulk lookup of the inner sources and the tunnel check, then one of the
// inner destinations: traffic for a mobile network goes into its router's tunnel whatever its origin
// (RFC 3963 6.5), the rest to the core.
void Worker::upstream(UpstreamItem* items, uint16_t n)
{
    LcoreCounters& ctr = *cfg_.counters;
    const Ipv6Addr* srcs[kBurst] = {};
    for (uint16_t i = 0; i < n; ++i) srcs[i] = &items[i].src;
    Route routes[kBurst];
    cfg_.tables->route_bulk(srcs, n, routes); // records needed are prefetched
    Ipv6Addr dsts[kBurst];
    const Ipv6Addr* dst_ptrs[kBurst] = {};
    uint16_t kept[kBurst];
    uint16_t n_kept = 0;
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = items[i].m;
        const Classified& c = items[i].c;
        const Route& r = routes[i];
        if (!BindingTables::came_through(r, c.method, c.outer_src, c.outer_sport, &items[i].outer_src6)) {
            ctr.inc(DpCounter::spoofed);
            rte_pktmbuf_free(m);
            continue;
        }
        // ESP came through a route that needs its record: r.rec is set.
        if (items[i].sa && items[i].sa->cfg.hoa != r.rec->hoa) {
            // Came through the tunnel, but under another router's SA.
            items[i].sa->inc(SaCounter::drop_wrong_binding);
            rte_pktmbuf_free(m);
            continue;
        }
        uint8_t* ip = data(m);
        if (!forwardable_destination(ip + 24)) {
            ctr.inc(DpCounter::inner_scope);
            rte_pktmbuf_free(m);
            continue;
        }
        const uint8_t inner_tc = ipv6_traffic_class(ip);
        auto tc = inner_tc_on_decap(inner_tc, items[i].outer_tos);
        if (!tc) {
            ctr.inc(DpCounter::ecn_drop);
            rte_pktmbuf_free(m);
            continue;
        }
        if (*tc != inner_tc) {
            ip[0] = static_cast<uint8_t>((ip[0] & 0xF0) | (*tc >> 4));
            ip[1] = static_cast<uint8_t>((ip[1] & 0x0F) | (*tc << 4));
        }
        std::memcpy(dsts[n_kept].bytes.data(), ip + 24, 16);
        kept[n_kept++] = i;
    }
    // Only destinations some binding may route are looked up (most go to the Internet): ask[] lists
    // them in order, found[] has their routes.
    uint16_t ask[kBurst];
    uint16_t n_ask = 0;
    for (uint16_t k = 0; k < n_kept; ++k)
        if (cfg_.tables->may_route(dsts[k])) {
            dst_ptrs[n_ask] = &dsts[k];
            ask[n_ask++] = k;
        }
    Route found[kBurst];
    if (n_ask) cfg_.tables->route_bulk(dst_ptrs, n_ask, found);
    stage_done(Stage::lookup, n);
    for (uint16_t k = 0, j = 0; k < n_kept; ++k) {
        const uint16_t i = kept[k];
        const Route* d = j < n_ask && ask[j] == k ? &found[j++] : nullptr;
        rte_mbuf* m = items[i].m;
        uint8_t* ip = data(m);
        const uint32_t ip_len = rte_pktmbuf_data_len(m); // accept_inner trimmed it to the IPv6 length
        if (d && d->live() && (!d->needs_record() || d->rec)) {
            // For another mobile network or mobile node: into its tunnel, the hop limit decremented once;
            // errors about it go back through the tunnel it came from.
            if (!fits_tunnel(*d, ip, ip_len, m, &routes[i])) {
                rte_pktmbuf_free(m);
                continue;
            }
            --ip[7];
            ctr.inc(DpCounter::mn_to_mn);
            LcoreCounters::bump(ctr.decap[static_cast<std::size_t>(items[i].c.method)]);
            tunnel_out(m, *d);
            continue;
        }
        // To the core; a reassembled packet may be larger than the home link takes (RFC 4443 3.2).
        if (!may_forward(ip, ip_len, cfg_.home.mtu, m, &routes[i])) {
            rte_pktmbuf_free(m);
            continue;
        }
        --ip[7];
        MacAddr mac;
        const bool resolved = cfg_.home.gateway6 ? gateway_mac6(cfg_.home, mac)
                                                 : lookup_neighbor(Ipv6Addr::from_bytes(ip + 24), mac);
        if (!resolved) {
            ctr.inc(DpCounter::no_neighbor);
            rte_pktmbuf_free(m);
            continue;
        }
        if (!to_link(m, cfg_.home, ethertype::ipv6, mac)) {
            ctr.inc(DpCounter::no_mbuf);
            rte_pktmbuf_free(m);
            continue;
        }
        LcoreCounters::bump(ctr.decap[static_cast<std::size_t>(items[i].c.method)]);
        queue_tx(cfg_.home, m);
    }
    stage_done(Stage::encap, n_kept);
    if (seal_.n) seal_esp();
}

} // namespace nemo::dp
