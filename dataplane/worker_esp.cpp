// The ESP bursts (S, S+U): downstream packets sealed together, upstream packets opened together, through this lcore's intel-ipsec-mb manager.
#include "worker.hpp"

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstring>

#include "bytes.hpp"
#include "ecn.hpp"
#include "esp.hpp"
#include "esp_seal_fast.hpp"
#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "inner_tc.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "worker_util.hpp"

namespace nemo::dp {

using namespace wire;

namespace {
SaCounter replay_drop(ReplayWindow::Verdict v)
{
    return v == ReplayWindow::Verdict::too_old ? SaCounter::drop_too_old : SaCounter::drop_replayed;
}
} // namespace

// The downstream ESP packets of a burst: encrypted together (intel-ipsec-mb fills its lanes), then
// wrapped in UDP (S+U) and IPv4 and sent from the access port. Its callers have closed their stage
// (tsc_ is now): the time from there is the ESP stage's.
void Worker::seal_esp()
{
    LcoreCounters& ctr = *cfg_.counters;
    const uint16_t n = seal_.n;
    seal_.n = 0;
    esp_encrypt_burst(*imb_, {seal_.jobs, n});
    for (uint16_t i = 0; i < n; ++i) {
        const EspSealBurst::Item& p = seal_.items[i];
        rte_mbuf* m = p.m;
        if (!seal_.jobs[i].ok) {
            ctr.inc(DpCounter::esp_seal_failed);
            rte_pktmbuf_free(m);
            continue;
        }
        if (p.framed) {
            p.sa->count(p.lane, sealed_esp_len(seal_.jobs[i]));
            LcoreCounters::bump(ctr.encap[static_cast<std::size_t>(p.peer.method)]);
            queue_tx(cfg_.access, m);
            continue;
        }
        const LinkHeader link{p.mac, cfg_.access.mac};
        if (!esp_seal_finish(m, cfg_.self, p.peer, *p.sa, p.tc, p.lane, &link)) {
            ctr.inc(DpCounter::no_mbuf);
            rte_pktmbuf_free(m);
            continue;
        }
        LcoreCounters::bump(ctr.encap[static_cast<std::size_t>(p.peer.method)]);
        queue_tx(cfg_.access, m);
    }
    stage_done(Stage::esp, n);
}

// ESP in (S, S+U), first half: find the SA by SPI, check the sequence number against the window and the
// length against the algorithm, and queue the packet's verification and decryption. Every failure is
// counted on the SA (or globally when there is none).
bool Worker::esp_open_prepare(rte_mbuf* m, const Classified& c)
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
        case UdpEncapKind::ike:
            if (!classify_.ike) return drop(DpCounter::ike_on_4500);
            punt_ike(m, c, kEspInUdpPort);
            return false;
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
    if (sa->cfg.anti_replay)
        if (auto v = sa->window.check(seq); v != ReplayWindow::Verdict::ok) return sa_drop(replay_drop(v));
    const EspTransform& t = *sa->transform;
    if (esp_len < kEspHeaderLen + t.iv_len() + t.icv_len() + kEspTrailerLen) return sa_drop(SaCounter::drop_truncated);
    UpstreamItem& o = open_.items[open_.n];
    note_outer(m, c, o);
    o.sa = sa;
    o.c = c;
    o.m = m;
    EspJob& job = open_.jobs[open_.n++];
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
uint16_t Worker::open_esp(UpstreamItem* items)
{
    LcoreCounters& ctr = *cfg_.counters;
    const uint16_t n = open_.n;
    open_.n = 0;
    esp_decrypt_burst(*imb_, {open_.jobs, n});
    uint16_t out = 0;
    for (uint16_t i = 0; i < n; ++i) {
        const UpstreamItem& o = open_.items[i];
        const EspJob& job = open_.jobs[i];
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
        if (sa->cfg.anti_replay) {
            if (auto v = sa->window.check(job.seq); v != ReplayWindow::Verdict::ok) {
                sa_drop(replay_drop(v));
                continue;
            }
        }
        // Only after the ICV verified: a forgery must not move the window. Without anti-replay the
        // window still tells the high half of extended sequence numbers.
        if (sa->cfg.anti_replay || sa->cfg.esn) sa->window.accept(job.seq);
        const std::size_t head = kEspHeaderLen + job.t->iv_len();
        auto trailer = parse_esp_trailer({job.esp + head, job.len - head - job.t->icv_len()});
        if (trailer && trailer->next_header == ipproto::no_next) {
            // A dummy packet (RFC 4303 2.6): valid, and discarded without a fuss.
            ctr.inc(DpCounter::esp_dummy);
            rte_pktmbuf_free(m);
            continue;
        }
        if (!trailer || trailer->next_header != ipproto::ipv6) {
            sa_drop(SaCounter::drop_padding);
            continue;
        }
        sa->count(sa->lane(cfg_.reader_id), job.len);
        rte_pktmbuf_adj(m, static_cast<uint16_t>(o.c.inner_offset + head));
        const uint32_t have = rte_pktmbuf_data_len(m);
        if (have > trailer->inner.size()) rte_pktmbuf_trim(m, static_cast<uint16_t>(have - trailer->inner.size()));
        items[out] = o;
        if (accept_inner(m, o.c, items[out], rte_pktmbuf_data_len(m))) ++out;
    }
    return out;
}

} // namespace nemo::dp
