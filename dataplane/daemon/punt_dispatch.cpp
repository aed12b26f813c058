// The control thread's turn over the punt rings (priority first, then bulk within its budget:
// punt_drain.hpp): each punted packet goes to the job it is for (signaling to the control plane, ARP and
// ND to neighbour learning), then next hops are resolved and learned neighbours aged.
#include "control_io.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "punt.hpp"
#include "punt_drain.hpp"

namespace nemo::dp {

unsigned ControlIo::poll(uint64_t now)
{
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch());
    return poll(now, static_cast<uint64_t>(ms.count()));
}

unsigned ControlIo::poll(uint64_t now, uint64_t now_ms)
{
    turn_ms_ = now_ms;
    flush_inject_backlog(); // what the workers had no room for last turn goes first
    rewrite_held();       // before anything held leaves: a lost compare-and-swap changes the answer
    release_held(now_ms); // the last turn's changes may be durable now
    const PuntDrained n = drain_punts(cfg_.punt, cfg_.punt_bulk, cfg_.punt_limits, [&](rte_mbuf* m, bool) {
        switch (punt_meta(m)->kind) {
        case PuntKind::signaling: on_signaling(m, now); break;
        case PuntKind::arp: on_arp(m, now); break;
        case PuntKind::nd: on_nd(m, now); break;
        case PuntKind::ike: on_ike(m, now_ms); break;
        }
        rte_pktmbuf_free(m);
    });
    punt_priority_.fetch_add(n.priority, std::memory_order_relaxed);
    punt_bulk_.fetch_add(n.bulk, std::memory_order_relaxed);
    // The registrations this turn accepted (and what the last control-plane turn did) are announced.
    for (const auto& a : cp_.take_announcements(kMaxAnnouncing - std::min(kMaxAnnouncing, announcing_.size())))
        queue_announcement(a, now_ms);
    ike_turn(now_ms);
    announce(now_ms);
    age_neighbors(now);
    probe_gateways(now);
    resolve(now);
    return n.priority + n.bulk;
}

void ControlIo::on_signaling(rte_mbuf* m, uint64_t now)
{
    const PuntMeta meta = *punt_meta(m);
    control::Punted p;
    p.ipv6 = {rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)};
    p.via = meta.via;
    p.outer_src = meta.outer_src;
    p.outer_src_port = meta.outer_sport;
    if (meta.via_sa) p.sa_home_address = meta.sa_hoa;
    out_.clear();
    cp_.handle_signal(p, now, out_);
    const uint64_t durable = cp_.state_durable();
    for (auto& o : out_) {
        if (o.after_batch > durable) hold(std::move(o), meta.in_port, meta.src_mac);
        else send(o, meta.in_port, meta.src_mac);
    }
    if (!out_.empty()) ask_for_peer(meta, p.ipv6, now);
}

std::vector<std::pair<std::string, uint64_t>> ControlIo::stats() const
{
    auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    return {
        {"control_inject_full", inject_full()},
        {"control_inject_deferred", v(inject_deferred_)},
        {"control_replies_without_sa", replies_without_sa()},
        {"control_no_mbuf", no_mbuf()},
        {"control_punt_priority", v(punt_priority_)},
        {"control_punt_bulk", v(punt_bulk_)},
        {"control_ba_held", v(ba_held_)},
        {"control_ba_withheld", v(ba_withheld_)},
        {"control_ba_answered_again", v(ba_answered_again_)},
        {"control_ba_superseded", v(ba_superseded_)},
        {"control_na_unsolicited_sent", v(na_sent_)},
        {"control_na_unsolicited_dropped", v(na_dropped_)},
        {"control_neighbor_learned", v(nb_learned_)},
        {"control_neighbor_refused_unsolicited", v(nb_unsolicited_)},
        {"control_neighbor_refused_static", v(nb_static_)},
        {"control_neighbor_refused_gateway", v(nb_gateway_)},
        {"control_neighbor_refused_full", cfg_.neighbors->refused_full()},
        {"control_neighbor_invalid", v(nb_invalid_)},
        {"control_neighbor_evicted", cfg_.neighbors->evicted()},
        {"control_neighbor_expired", cfg_.neighbors->expired()},
        {"control_neighbor_questions_full", v(asked_full_)},
        {"control_ike_sent", v(ike_sent_)},
        {"control_ike_too_big", v(ike_too_big_)},
    };
}

} // namespace nemo::dp
