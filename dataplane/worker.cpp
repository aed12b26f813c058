#include "worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstring>

#include "bytes.hpp"
#include "ecn.hpp"
#include "esp.hpp"
#include "inner_tc.hpp"
#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "punt.hpp"

namespace nemo::dp {

using namespace wire;

namespace {

uint8_t* data(rte_mbuf* m) { return rte_pktmbuf_mtod(m, uint8_t*); }
std::span<const uint8_t> bytes(rte_mbuf* m) { return {rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)}; }
} // namespace

Worker::Worker(const WorkerConfig& cfg) : cfg_(cfg)
{
    classify_.ha_ipv4 = cfg_.self.ipv4;
    classify_.ha_ipv6 = cfg_.ha_ipv6;
    classify_.dhaad_anycast = cfg_.dhaad_anycast;
    classify_.udp_port = cfg_.self.udp_port;
    classify_.esp_udp_port = cfg_.esp_udp_port;
    same_port_ = cfg_.access.port == cfg_.home.port;
    if (cfg_.sas) imb_ = std::make_unique<ImbManager>();
    ptb_tokens_ = cfg_.ptb_per_second;
    if (cfg_.reassembly_flows) {
        // Buckets of 16 (rte_ip_frag's associativity); a packet waits at most the timeout.
        const uint64_t max_cycles = rte_get_tsc_hz() / 1000 * cfg_.reassembly_timeout_ms;
        frag_tbl_ = rte_ip_frag_table_create(cfg_.reassembly_flows, 16, cfg_.reassembly_flows, max_cycles,
                                             static_cast<int>(rte_socket_id()));
        frag_dr_ = std::make_unique<rte_ip_frag_death_row>();
        ok_ = frag_tbl_ != nullptr;
    }
}

Worker::~Worker()
{
    if (frag_tbl_) {
        rte_ip_frag_free_death_row(frag_dr_.get(), 0);
        rte_ip_frag_table_destroy(frag_tbl_);
    }
}

int Worker::run(void* arg)
{
    auto* w = static_cast<Worker*>(arg);
    if (!w->cfg_.tables->register_reader(w->cfg_.reader_id)) return -1;
    while (!w->cfg_.stop->load(std::memory_order_relaxed)) w->poll();
    w->cfg_.tables->unregister_reader(w->cfg_.reader_id);
    return 0;
}

void Worker::poll()
{
    rte_mbuf* pkts[kBurst];
    uint16_t n = rte_eth_rx_burst(cfg_.access.port, cfg_.access.queue, pkts, kBurst);
    if (n) handle_burst(cfg_.access.port, pkts, n);
    if (!same_port_) {
        n = rte_eth_rx_burst(cfg_.home.port, cfg_.home.queue, pkts, kBurst);
        if (n) handle_burst(cfg_.home.port, pkts, n);
    }
    // Replies the control thread built (BA, DHAAD Reply, MPA, ARP and ND requests) leave from here.
    if (cfg_.inject) {
        n = static_cast<uint16_t>(rte_ring_mc_dequeue_burst(cfg_.inject, reinterpret_cast<void**>(pkts), kBurst, nullptr));
        for (uint16_t i = 0; i < n; ++i) queue_tx(side_of(pkts[i]->port), pkts[i]);
    }
    flush();
    cfg_.tables->quiescent(cfg_.reader_id);
}

void Worker::handle_burst(uint16_t from_port, rte_mbuf** pkts, uint16_t n)
{
    LcoreCounters& ctr = *cfg_.counters;
    ctr.inc(DpCounter::rx, n);
    rte_mbuf* down[kBurst];
    uint16_t down_l3[kBurst];
    uint16_t n_down = 0;
    UpstreamItem* up = up_; // a member: not constructed again for every burst
    uint16_t n_up = 0;
    uint16_t n_open = 0; // ESP packets to verify and decrypt as one burst
    gw4_valid_ = gw6_valid_ = false;
    const PortSide& side = side_of(from_port);
    // Headers of the whole burst in flight before the first is read.
    for (uint16_t i = 0; i < n; ++i) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (m->nb_segs != 1) {
            LcoreCounters::bump(ctr.classify_drops[static_cast<std::size_t>(DropReason::malformed)]);
            rte_pktmbuf_free(m);
            continue;
        }
        const bool cksum_good = (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
        Classified c = classify_frame(bytes(m), classify_, cksum_good);
        if (c.cls == PacketClass::ipv4_fragment) {
            m = reassemble(m, c);
            if (!m) continue; // waiting for more fragments, or dropped and counted
            c = classify_frame(bytes(m), classify_, true);
        }
        switch (c.cls) {
        case PacketClass::drop:
            LcoreCounters::bump(ctr.classify_drops[static_cast<std::size_t>(c.drop)]);
            rte_pktmbuf_free(m);
            break;
        case PacketClass::ipv4_fragment: // a reassembled packet is never one
            LcoreCounters::bump(ctr.classify_drops[static_cast<std::size_t>(DropReason::ipv4_fragment)]);
            rte_pktmbuf_free(m);
            break;
        case PacketClass::arp_request_for_us: answer_arp(m, c, side); break;
        case PacketClass::arp_to_control: {
            PuntMeta meta{PuntKind::arp, TunnelMethod::ipv6, from_port, 0, {}, MacAddr::from_bytes(data(m) + 6)};
            punt(m, meta);
            break;
        }
        case PacketClass::nd_solicit: answer_ns(m, c, side); break;
        case PacketClass::nd_to_control: {
            PuntMeta meta{PuntKind::nd, TunnelMethod::ipv6, from_port, 0, {}, MacAddr::from_bytes(data(m) + 6)};
            punt(m, meta);
            break;
        }
        case PacketClass::signaling_v6: {
            PuntMeta meta{PuntKind::signaling, TunnelMethod::ipv6, from_port, 0, {}, MacAddr::from_bytes(data(m) + 6)};
            rte_pktmbuf_adj(m, c.l3_offset);
            punt(m, meta);
            break;
        }
        case PacketClass::downstream:
            m->port = from_port;
            down_l3[n_down] = c.l3_offset;
            down[n_down++] = m;
            break;
        case PacketClass::tunneled:
            m->port = from_port;
            if (c.method == TunnelMethod::esp || c.method == TunnelMethod::esp_udp) {
                if (esp_open_prepare(m, c, n_open)) ++n_open;
            } else if (decapsulate(m, c, up[n_up])) {
                ++n_up;
            }
            break;
        }
    }
    if (frag_tbl_ && frag_dr_->cnt) {
        ctr.inc(DpCounter::frag_dropped, frag_dr_->cnt);
        rte_ip_frag_free_death_row(frag_dr_.get(), 0);
    }
    if (n_open) n_up = static_cast<uint16_t>(n_up + open_esp(n_open, up + n_up));
    if (n_down) downstream(down, down_l3, n_down);
    if (n_up) upstream(up, n_up);
}

// An outer IPv4 fragment to the HA: into the reassembly table. Returns the whole packet in one
// segment, with its IPv4 checksum, once the last fragment is in; null while it waits (the table holds
// the mbuf) or when it is dropped (counted here or, for what the table gives up on, after the burst).
rte_mbuf* Worker::reassemble(rte_mbuf* m, const Classified& c)
{
    LcoreCounters& ctr = *cfg_.counters;
    if (!frag_tbl_) {
        LcoreCounters::bump(ctr.classify_drops[static_cast<std::size_t>(DropReason::ipv4_fragment)]);
        rte_pktmbuf_free(m);
        return nullptr;
    }
    m->l2_len = c.l3_offset & 0x7Fu; // bit-fields: an Ethernet header with at most a VLAN tag
    m->l3_len = (c.inner_offset - c.l3_offset) & 0x1FFu;
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, c.l3_offset);
    rte_mbuf* whole = rte_ipv4_frag_reassemble_packet(frag_tbl_, frag_dr_.get(), m, rte_rdtsc(), ip);
    if (!whole) return nullptr;
    // Workers take single-segment packets: the fragments' data must fit the first mbuf.
    if (rte_pktmbuf_linearize(whole) != 0) {
        ctr.inc(DpCounter::reassembled_too_big);
        rte_pktmbuf_free(whole);
        return nullptr;
    }
    ip = rte_pktmbuf_mtod_offset(whole, rte_ipv4_hdr*, whole->l2_len);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    ctr.inc(DpCounter::reassembled);
    return whole;
}

void Worker::downstream(rte_mbuf** pkts, const uint16_t* l3, uint16_t n)
{
    LcoreCounters& ctr = *cfg_.counters;
    Ipv6Addr dsts[kBurst];
    const Ipv6Addr* ptrs[kBurst] = {};
    for (uint16_t i = 0; i < n; ++i) {
        std::memcpy(dsts[i].bytes.data(), data(pkts[i]) + l3[i] + 24, 16);
        ptrs[i] = &dsts[i];
    }
    Route routes[kBurst];
    cfg_.tables->route_bulk(ptrs, n, routes);
    uint16_t n_esp = 0;
    // Records, where the method needs one, are spread over memory: ask for all before reading the first.
    for (uint16_t i = 0; i < n; ++i)
        if (routes[i].needs_record() && routes[i].rec) rte_prefetch0(routes[i].rec);
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const Route& r = routes[i];
        // I, R and U forward from the route's word; IPv6-in-IPv6 and ESP from the record.
        const FastBinding* b = r.needs_record() ? r.rec : nullptr;
        if (!r.live() || (r.needs_record() && !b)) {
            ctr.inc(DpCounter::no_binding);
            rte_pktmbuf_free(m);
            continue;
        }
        const TunnelPeer peer = b ? TunnelPeer{b->method, b->peer, b->peer_port, b->coa6}
                                  : TunnelPeer{r.method(), Ipv4Addr{r.peer()}, r.port(), {}};
        const bool esp = peer.method == TunnelMethod::esp || peer.method == TunnelMethod::esp_udp;
        SaEntry* sa = esp && cfg_.sas ? cfg_.sas->outbound_for(b->hoa) : nullptr;
        if (esp && (!sa || sa->expired())) {
            ctr.inc(DpCounter::esp_no_sa);
            rte_pktmbuf_free(m);
            continue;
        }
        const bool v4 = uses_ipv4(peer.method);
        const PortSide& out = v4 ? cfg_.access : cfg_.home;
        uint8_t* ip = data(m) + l3[i];
        const uint32_t ip_len = kIpv6HeaderLen + load_be16(ip + 4);
        const uint16_t overhead = encap_overhead(peer.method);
        if (ip_len + overhead > out.mtu) {
            ctr.inc(DpCounter::too_big);
            send_packet_too_big(m, l3[i], out.mtu - overhead, side_of(m->port));
            rte_pktmbuf_free(m);
            continue;
        }
        MacAddr mac;
        const bool resolved = v4 ? (out.gateway4 ? gateway_mac4(mac) : lookup_neighbor(peer.v4, mac))
                                 : (out.gateway6 ? gateway_mac6(out, mac) : lookup_neighbor(peer.v6, mac));
        if (!resolved) {
            ctr.inc(DpCounter::no_neighbor);
            rte_pktmbuf_free(m);
            continue;
        }
        --ip[7]; // hop limit (classify refused those at 1)
        rte_pktmbuf_adj(m, l3[i]);
        // Trim link padding: the IPv6 payload length is the packet.
        if (rte_pktmbuf_pkt_len(m) > ip_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - ip_len));
        if (esp) {
            // Sealed with the rest of the burst's ESP packets, below.
            const uint8_t tc = inner_traffic_class(m);
            if (!esp_seal_prepare(m, *sa, seal_jobs_[n_esp])) {
                ctr.inc(DpCounter::no_mbuf);
                rte_pktmbuf_free(m);
                continue;
            }
            sealing_[n_esp++] = {m, sa, peer, mac, tc};
            continue;
        }
        const LinkHeader link{mac, out.mac};
        const bool sent = v4 ? encap_v4(m, cfg_.self, peer, &link)
                             : encapsulate(m, cfg_.self, peer) && to_link(m, out, ethertype::ipv6, mac);
        if (!sent) {
            ctr.inc(DpCounter::no_mbuf);
            rte_pktmbuf_free(m);
            continue;
        }
        LcoreCounters::bump(ctr.encap[static_cast<std::size_t>(peer.method)]);
        queue_tx(out, m);
    }
    if (n_esp) seal_esp(n_esp);
}

// The downstream ESP packets of a burst: encrypted together (intel-ipsec-mb fills its lanes), then
// wrapped in UDP (S+U) and IPv4 and sent from the access port.
void Worker::seal_esp(uint16_t n)
{
    LcoreCounters& ctr = *cfg_.counters;
    esp_encrypt_burst(*imb_, {seal_jobs_, n});
    for (uint16_t i = 0; i < n; ++i) {
        const Sealing& p = sealing_[i];
        rte_mbuf* m = p.m;
        if (!seal_jobs_[i].ok) {
            ctr.inc(DpCounter::esp_seal_failed);
            rte_pktmbuf_free(m);
            continue;
        }
        if (!esp_seal_finish(m, cfg_.self, p.peer, *p.sa, p.tc) || !to_link(m, cfg_.access, ethertype::ipv4, p.mac)) {
            ctr.inc(DpCounter::no_mbuf);
            rte_pktmbuf_free(m);
            continue;
        }
        LcoreCounters::bump(ctr.encap[static_cast<std::size_t>(p.peer.method)]);
        queue_tx(cfg_.access, m);
    }
}

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
    rte_pktmbuf_adj(m, c.inner_offset);
    return accept_inner(m, c, item);
}

// The inner IPv6 packet is at the front of the mbuf: check it, trim link padding, and hand signaling
// for the home agent to the control thread.
bool Worker::accept_inner(rte_mbuf* m, const Classified& c, UpstreamItem& item)
{
    LcoreCounters& ctr = *cfg_.counters;
    const uint8_t* ip = data(m);
    const uint32_t have = rte_pktmbuf_data_len(m);
    if (have < kIpv6HeaderLen || (ip[0] >> 4) != 6 || kIpv6HeaderLen + load_be16(ip + 4) > have) {
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
        punt(m, meta);
        return false;
    }
    item.m = m;
    item.c = c;
    return true;
}

namespace {
SaCounter replay_drop(ReplayWindow::Verdict v)
{
    return v == ReplayWindow::Verdict::too_old ? SaCounter::drop_too_old : SaCounter::drop_replayed;
}
} // namespace

// ESP in (S, S+U), first half: find the SA by SPI, check the sequence number against the window and the
// length against the algorithm, and queue the packet's verification and decryption. Every failure is
// counted on the SA (or globally when there is none).
bool Worker::esp_open_prepare(rte_mbuf* m, const Classified& c, unsigned slot)
{
    LcoreCounters& ctr = *cfg_.counters;
    auto drop = [&](DpCounter k) {
        ctr.inc(k);
        rte_pktmbuf_free(m);
        return false;
    };
    const uint8_t* outer = data(m) + c.l3_offset;
    const std::size_t end = c.l3_offset + load_be16(outer + 2); // the IPv4 total length bounds the ESP packet
    if (end > rte_pktmbuf_data_len(m) || end < c.inner_offset) return drop(DpCounter::esp_malformed);
    uint8_t* esp = data(m) + c.inner_offset;
    const std::size_t esp_len = end - c.inner_offset;
    if (c.method == TunnelMethod::esp_udp) {
        switch (classify_udp_encap({esp, esp_len})) {
        case UdpEncapKind::nat_keepalive: return drop(DpCounter::nat_keepalive);
        case UdpEncapKind::ike: return drop(DpCounter::ike_on_4500);
        case UdpEncapKind::malformed: return drop(DpCounter::esp_malformed);
        case UdpEncapKind::esp: break;
        }
    }
    if (!cfg_.sas || esp_len < kEspHeaderLen) return drop(DpCounter::esp_malformed);
    SaEntry* sa = cfg_.sas->inbound(load_be32(esp));
    if (!sa) return drop(DpCounter::esp_unknown_spi);
    auto sa_drop = [&](SaCounter k) {
        sa->inc(k);
        rte_pktmbuf_free(m);
        return false;
    };
    if (sa->expired()) return sa_drop(SaCounter::drop_expired);
    const uint64_t seq = sa->window.infer(load_be32(esp + 4));
    if (auto v = sa->window.check(seq); v != ReplayWindow::Verdict::ok) return sa_drop(replay_drop(v));
    const EspTransform& t = *sa->transform;
    if (esp_len < kEspHeaderLen + t.iv_len() + t.icv_len() + kEspTrailerLen) return sa_drop(SaCounter::drop_truncated);
    UpstreamItem& o = opening_[slot];
    note_outer(m, c, o);
    o.sa = sa;
    o.c = c;
    o.m = m;
    EspJob& job = open_jobs_[slot];
    job.t = &t;
    job.esp = esp;
    job.len = esp_len;
    job.seq = seq;
    job.esn = sa->cfg.esn;
    return true;
}

// ESP in, second half, for the burst: verify and decrypt every queued packet at once, then per packet
// move the window, check the trailer and leave the inner IPv6 packet at the front of the mbuf. Returns
// how many items it wrote to `items`.
uint16_t Worker::open_esp(uint16_t n, UpstreamItem* items)
{
    esp_decrypt_burst(*imb_, {open_jobs_, n});
    uint16_t out = 0;
    for (uint16_t i = 0; i < n; ++i) {
        const UpstreamItem& o = opening_[i];
        const EspJob& job = open_jobs_[i];
        rte_mbuf* m = o.m;
        SaEntry* sa = o.sa;
        auto sa_drop = [&](SaCounter k) {
            sa->inc(k);
            rte_pktmbuf_free(m);
        };
        if (!job.ok) {
            sa_drop(SaCounter::drop_icv);
            continue;
        }
        // Checked again: earlier packets of this burst may have used up the SA's lifetime.
        if (sa->expired()) {
            sa_drop(SaCounter::drop_expired);
            continue;
        }
        // Checked again: an earlier packet of this burst may have carried the same number.
        if (auto v = sa->window.check(job.seq); v != ReplayWindow::Verdict::ok) {
            sa_drop(replay_drop(v));
            continue;
        }
        sa->window.accept(job.seq); // only after the ICV verified: a forgery must not move the window
        const std::size_t head = kEspHeaderLen + job.t->iv_len();
        auto trailer = parse_esp_trailer({job.esp + head, job.len - head - job.t->icv_len()});
        if (!trailer || trailer->next_header != ipproto::ipv6) {
            sa_drop(SaCounter::drop_padding);
            continue;
        }
        sa->inc(SaCounter::packets);
        sa->inc(SaCounter::bytes, job.len);
        rte_pktmbuf_adj(m, static_cast<uint16_t>(o.c.inner_offset + head));
        const uint32_t have = rte_pktmbuf_data_len(m);
        if (have > trailer->inner.size()) rte_pktmbuf_trim(m, static_cast<uint16_t>(have - trailer->inner.size()));
        items[out] = o;
        if (accept_inner(m, o.c, items[out])) ++out;
    }
    return out;
}

// Phase two, for the burst: one bulk lookup of the inner sources, then the tunnel check and forwarding.
void Worker::upstream(UpstreamItem* items, uint16_t n)
{
    LcoreCounters& ctr = *cfg_.counters;
    const Ipv6Addr* srcs[kBurst] = {};
    for (uint16_t i = 0; i < n; ++i) srcs[i] = &items[i].src;
    Route routes[kBurst];
    cfg_.tables->route_bulk(srcs, n, routes);
    for (uint16_t i = 0; i < n; ++i)
        if (routes[i].needs_record() && routes[i].rec) rte_prefetch0(routes[i].rec);
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
        const uint8_t inner_tc = static_cast<uint8_t>(((ip[0] & 0x0F) << 4) | (ip[1] >> 4));
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
        if (ip[7] <= 1) {
            LcoreCounters::bump(ctr.classify_drops[static_cast<std::size_t>(DropReason::ttl_exceeded)]);
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
        LcoreCounters::bump(ctr.decap[static_cast<std::size_t>(c.method)]);
        queue_tx(cfg_.home, m);
    }
}

// Next hops that are gateways are looked up once per burst; others per packet. A miss asks the control
// thread to resolve the address.
bool Worker::gateway_mac4(MacAddr& mac)
{
    if (!gw4_valid_) {
        gw4_ok_ = lookup_neighbor(*cfg_.access.gateway4, gw4_);
        gw4_valid_ = true;
    }
    mac = gw4_;
    return gw4_ok_;
}

bool Worker::gateway_mac6(const PortSide& side, MacAddr& mac)
{
    if (!gw6_valid_) {
        gw6_ok_ = lookup_neighbor(*side.gateway6, gw6_);
        gw6_valid_ = true;
    }
    mac = gw6_;
    return gw6_ok_;
}

template <class Addr>
bool Worker::lookup_neighbor(const Addr& a, MacAddr& mac) const
{
    if (auto m = cfg_.neighbors->lookup(a)) {
        mac = *m;
        return true;
    }
    cfg_.neighbors->request(a);
    return false;
}

void Worker::learn_copy(rte_mbuf* m, PuntKind kind, uint16_t port)
{
    // The control thread learns the asker's link-layer address from a copy; neighbour traffic is rare.
    rte_mbuf* copy = rte_pktmbuf_copy(m, cfg_.pool, 0, UINT32_MAX);
    if (!copy) {
        cfg_.counters->inc(DpCounter::no_mbuf);
        return;
    }
    punt(copy, PuntMeta{kind, TunnelMethod::ipv6, port, 0, {}, MacAddr::from_bytes(data(m) + 6)});
}

void Worker::answer_arp(rte_mbuf* m, const Classified& c, const PortSide& side)
{
    learn_copy(m, PuntKind::arp, side.port);
    uint8_t* l3 = data(m) + c.l3_offset;
    auto req = parse_arp({l3, kArpLen});
    ArpPacket reply{arp_op::reply, side.mac, cfg_.self.ipv4, req->sender_mac, req->sender_ip};
    write_arp(l3, reply);
    std::memcpy(data(m), req->sender_mac.bytes.data(), 6);
    side.mac.to_bytes(data(m) + 6);
    cfg_.counters->inc(DpCounter::arp_replies);
    queue_tx(side, m);
}

void Worker::answer_ns(rte_mbuf* m, const Classified& c, const PortSide& side)
{
    uint8_t* l3 = data(m) + c.l3_offset;
    const std::size_t l3_len = rte_pktmbuf_data_len(m) - c.l3_offset;
    auto malformed = [&] {
        LcoreCounters::bump(cfg_.counters->classify_drops[static_cast<std::size_t>(DropReason::malformed)]);
        rte_pktmbuf_free(m);
    };
    auto ip = parse_ipv6({l3, l3_len});
    if (!ip || ip->hdr.hop_limit != 255) return malformed(); // RFC 4861 7.1.1
    auto icmp = parse_icmpv6(ip->payload);
    if (!icmp || !icmpv6_checksum_ok(*icmp, ip->hdr.src, ip->hdr.dst)) return malformed();
    auto ns = parse_neighbor_solicit(*icmp);
    if (!ns) return malformed();
    const bool own = std::find(cfg_.ha_ipv6.begin(), cfg_.ha_ipv6.end(), ns->target) != cfg_.ha_ipv6.end();
    bool proxied = false;
    if (!own) {
        // Draft section 8 / RFC 6275 10.4.1: defend a home address while its binding lives.
        const FastBinding* b = cfg_.tables->lookup_downstream(ns->target);
        proxied = b && b->proxy_nd && b->hoa == ns->target;
    }
    if (!own && !proxied) {
        LcoreCounters::bump(cfg_.counters->classify_drops[static_cast<std::size_t>(DropReason::not_for_us)]);
        rte_pktmbuf_free(m);
        return;
    }
    const bool dad = ip->hdr.src.is_unspecified();
    if (!dad && ns->lladdr) learn_copy(m, PuntKind::nd, side.port);
    static const Ipv6Addr kAllNodes = *Ipv6Addr::parse("ff02::1");
    const Ipv6Addr dst = dad ? kAllNodes : ip->hdr.src;
    const Ipv6Addr src = own ? ns->target : cfg_.ha_ipv6.front();
    const MacAddr dst_mac = dad ? MacAddr::ipv6_multicast(dst) : MacAddr::from_bytes(data(m) + 6);
    NeighborMessage na{static_cast<uint8_t>((own ? na_flag::R | na_flag::O : 0) | (dad ? 0 : na_flag::S)), ns->target,
                       side.mac};
    // Rewrite in place: Ethernet, IPv6 header, then the advertisement.
    const std::size_t need = c.l3_offset + kIpv6HeaderLen + 32;
    if (rte_pktmbuf_data_len(m) < need && !rte_pktmbuf_append(m, static_cast<uint16_t>(need - rte_pktmbuf_data_len(m)))) {
        cfg_.counters->inc(DpCounter::no_mbuf);
        rte_pktmbuf_free(m);
        return;
    }
    if (rte_pktmbuf_data_len(m) > need) rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - need));
    auto len = build_neighbor_advert({l3 + kIpv6HeaderLen, 32}, na, src, dst);
    write_ipv6_header(l3, Ipv6Header{0, 0, static_cast<uint16_t>(*len), ipproto::icmpv6, 255, src, dst});
    dst_mac.to_bytes(data(m));
    side.mac.to_bytes(data(m) + 6);
    cfg_.counters->inc(DpCounter::na_sent);
    queue_tx(side, m);
}

void Worker::punt(rte_mbuf* m, const PuntMeta& meta)
{
    *punt_meta(m) = meta;
    if (rte_ring_mp_enqueue(cfg_.punt, m) != 0) {
        cfg_.counters->inc(DpCounter::punt_full);
        rte_pktmbuf_free(m);
        return;
    }
    cfg_.counters->inc(DpCounter::punted);
}

void Worker::send_packet_too_big(rte_mbuf* m, uint16_t l3, uint32_t mtu, const PortSide& side)
{
    // Token bucket, refilled once a second: an error storm must not become a reply storm.
    const uint64_t now = rte_get_tsc_cycles(), hz = rte_get_tsc_hz();
    if (now - ptb_last_tsc_ >= hz) {
        ptb_tokens_ = cfg_.ptb_per_second;
        ptb_last_tsc_ = now;
    }
    if (ptb_tokens_ == 0 || cfg_.ha_ipv6.empty()) return;
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
    --ptb_tokens_;
    cfg_.counters->inc(DpCounter::ptb_sent);
    queue_tx(side, r);
}

bool Worker::to_link(rte_mbuf* m, const PortSide& side, uint16_t type, const MacAddr& dst)
{
    auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kEtherHeaderLen));
    if (!eth) return false;
    write_ether_header(eth, dst, side.mac, type);
    return true;
}

void Worker::queue_tx(const PortSide& side, rte_mbuf* m)
{
    TxBuf& b = &side == &cfg_.access ? tx_access_ : tx_home_;
    if (b.n == sizeof b.pkts / sizeof b.pkts[0]) flush();
    b.pkts[b.n++] = m;
}

void Worker::flush()
{
    for (auto [buf, side] : {std::pair{&tx_access_, &cfg_.access}, std::pair{&tx_home_, &cfg_.home}}) {
        if (!buf->n) continue;
        const uint16_t sent = rte_eth_tx_burst(side->port, side->queue, buf->pkts, buf->n);
        cfg_.counters->inc(DpCounter::tx, sent);
        if (sent < buf->n) {
            cfg_.counters->inc(DpCounter::tx_full, buf->n - sent);
            rte_pktmbuf_free_bulk(buf->pkts + sent, buf->n - sent);
        }
        buf->n = 0;
    }
}

} // namespace nemo::dp
