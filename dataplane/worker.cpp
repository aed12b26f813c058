// The burst loop: each frame classified once (lib/classify) and sent on to its job, as l3fwd's main
// loop does; outer IPv4 reassembly; TX.
// rte_ip_frag_table_del_expired_entries is still experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API 1
#include "worker.hpp"

#include <algorithm>
#include <bit>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "esp.hpp"
#include "worker_util.hpp"

namespace nemo::dp {

using namespace wire;

Worker::Worker(const WorkerConfig& cfg)
    : cfg_(cfg), rt_(cfg.runtime ? cfg.runtime : &own_runtime_),
      time_mask_(std::bit_ceil(std::max<uint32_t>(cfg.time_one_burst_in, 1)) - 1)
{
    rt_->timed_one_burst_in.store(time_mask_ + 1, std::memory_order_relaxed);
    classify_.ha_ipv4 = cfg_.self.ipv4;
    classify_.ha_ipv6 = cfg_.ha_ipv6;
    classify_.dhaad_anycast = cfg_.dhaad_anycast;
    classify_.udp_port = cfg_.self.udp_port;
    classify_.esp_udp_port = cfg_.esp_udp_port;
    classify_.ike = cfg_.ike;
    classify_.set_iid_filter();
    same_port_ = cfg_.access.port == cfg_.home.port;
    // The SAs' owners are taken modulo the table's lanes: a ring for each, or none is used.
    if (cfg_.handoff.size() > 1 && cfg_.sas && cfg_.sas->lanes() == cfg_.handoff.size() &&
        cfg_.reader_id < cfg_.handoff.size() &&
        std::find(cfg_.handoff.begin(), cfg_.handoff.end(), nullptr) == cfg_.handoff.end()) {
        hand_off_ = true;
        handoff_out_.resize(cfg_.handoff.size());
    }
    if (cfg_.sas) imb_ = std::make_unique<ImbManager>();
    ptb_limit_ = RateLimiter(cfg_.ptb_per_second, rte_get_tsc_hz());
    te_limit_ = RateLimiter(cfg_.ptb_per_second, rte_get_tsc_hz());
    punt_priority_limit_ = RateLimiter(cfg_.punt_priority_per_second, rte_get_tsc_hz());
    punt_bulk_limit_ = RateLimiter(cfg_.punt_bulk_per_second, rte_get_tsc_hz());
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
    for (HandoffBuf& b : handoff_out_) rte_pktmbuf_free_bulk(b.pkts, b.n);
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
    // Several workers: seal what the others handed over (the SAs this one owns), and hand over what
    // this turn received for SAs another owns.
    if (hand_off_) {
        take_handoff();
        flush_handoff();
    }
    // Packets whose missing fragments never came are given up on even when no fragment arrives.
    if (frag_tbl_ && (++polls_ & 0x3FF) == 0) {
        rte_ip_frag_table_del_expired_entries(frag_tbl_, frag_dr_.get(), rte_rdtsc());
        if (frag_dr_->cnt) {
            cfg_.counters->inc(DpCounter::frag_dropped, frag_dr_->cnt);
            rte_ip_frag_free_death_row(frag_dr_.get(), 0);
        }
    }
    flush();
    cfg_.tables->quiescent(cfg_.reader_id);
    cfg_.counters->inc(DpCounter::polls);
}

void Worker::handle_burst(uint16_t from_port, rte_mbuf** pkts, uint16_t n)
{
    LcoreCounters& ctr = *cfg_.counters;
    ctr.inc(DpCounter::rx, n);
    WorkerRuntime::bump(rt_->bursts, 1);
    timed_ = (burst_seq_++ & time_mask_) == 0;
    if (timed_) tsc_ = rte_rdtsc();
    rte_mbuf* down[kBurst];
    uint8_t* down_ip[kBurst]; // each one's IPv6 header
    uint16_t n_down = 0;
    UpstreamItem* up = up_; // a member: not constructed again for every burst
    uint16_t n_up = 0;
    // Gateway MACs found stay good while the neighbour table does not change; misses are asked again
    // every burst (lookup_neighbor asks the control thread to resolve them).
    if (const uint64_t ch = cfg_.neighbors ? cfg_.neighbors->changes() : 0; ch != gw_changes_) {
        gw4_valid_ = gw6_valid_ = false;
        gw_changes_ = ch;
    } else {
        gw4_valid_ = gw4_valid_ && gw4_ok_;
        gw6_valid_ = gw6_valid_ && gw6_ok_;
    }
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
        // Most frames are IPv6 to forward: classify_frame's answer for them, inline (lib/classify.hpp).
        uint8_t* frame = data(m);
        if (is_downstream_frame(frame, rte_pktmbuf_data_len(m), classify_)) [[likely]] {
            m->port = from_port;
            down_ip[n_down] = frame + wire::kEtherHeaderLen;
            down[n_down++] = m;
            continue;
        }
        const bool cksum_good = (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD;
        Classified c;
        // Then ESP (S) to the HA, inline too (lib/classify.hpp).
        if (is_esp_frame(frame, rte_pktmbuf_data_len(m), classify_, cksum_good, c)) {
            m->port = from_port;
            esp_open_prepare(m, c); // queued in open_, or dropped and counted
            continue;
        }
        c = classify_frame(bytes(m), classify_, cksum_good);
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
            punt(m, meta, PuntClass::priority);
            break;
        }
        case PacketClass::nd_solicit: answer_ns(m, c, side); break;
        case PacketClass::nd_to_control: {
            PuntMeta meta{PuntKind::nd, TunnelMethod::ipv6, from_port, 0, {}, MacAddr::from_bytes(data(m) + 6)};
            punt(m, meta, PuntClass::priority);
            break;
        }
        case PacketClass::signaling_v6: {
            PuntMeta meta{PuntKind::signaling, TunnelMethod::ipv6, from_port, 0, {}, MacAddr::from_bytes(data(m) + 6)};
            rte_pktmbuf_adj(m, c.l3_offset);
            punt(m, meta, PuntClass::bulk); // native: DHAAD, MPS, BUs from IPv6 care-of addresses
            break;
        }
        case PacketClass::ike:
            m->port = from_port;
            punt_ike(m, c, wire::kIkeUdpPort);
            break;
        case PacketClass::downstream:
            m->port = from_port;
            down_ip[n_down] = data(m) + c.l3_offset;
            down[n_down++] = m;
            break;
        case PacketClass::tunneled:
            m->port = from_port;
            if (c.method == TunnelMethod::esp || c.method == TunnelMethod::esp_udp) {
                esp_open_prepare(m, c); // queued in open_, or dropped and counted
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
    stage_done(Stage::classify, n);
    if (open_.n) {
        const uint16_t opened = open_.n;
        n_up = static_cast<uint16_t>(n_up + open_esp(up + n_up));
        stage_done(Stage::esp, opened);
    }
    if (n_down) downstream(down, down_ip, n_down);
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
    m->l2_len = c.l3_offset & 0x7Fu; // bit-fields: the Ethernet header (tagged frames never get here)
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

void Worker::flush()
{
    if (!tx_access_.n && !tx_home_.n) return;
    const bool timed = timed_; // the last burst's choice: what it queued is most of what leaves
    const uint64_t start = timed ? rte_rdtsc() : 0;
    const uint64_t queued = tx_access_.n + tx_home_.n;
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
    if (timed) rt_->stage(Stage::tx, start, queued);
}

} // namespace nemo::dp
