// A cluster store's turn on the control thread (state.backend = etcd): what the writer's commits settled
// (this instance's changes written, or lost to another instance's: the BU is then answered again against
// the winner), and what the watch brought (every other instance's changes, published into this
// instance's fast-path tables). Then `show cluster`.
//
// Order within a turn: settled commits first (they name the revision this instance's own changes got),
// then the watch's events; an event for a key whose own change is still unsettled waits (deferred_) until
// it is, so that neither the own change nor a later one of another instance is lost.
#include <algorithm>

#include "control_plane.hpp"
#include "log.hpp"
#include "json.hpp"

namespace nemo::control {

void ControlPlane::cluster_start()
{
    ClusterSelf self;
    for (const Ipv4Addr& a : config_.ha.ipv4_addresses) self.ipv4.push_back(a.str());
    for (const Ipv6Addr& a : config_.ha.ipv6_addresses) self.ipv6.push_back(a.str());
    cluster_->set_bindings_accepted(cache_.bindings_of_self());
    cluster_->start(std::move(self));
    cluster_durable_ = store_->durable();
    log::printf(log::Level::notice, "nemo-ha: cluster: instance %s of cluster %s, %s", cluster_->instance().c_str(),
                config_.state.etcd.cluster.c_str(), store_->status().path.c_str());
}

bool ControlPlane::apply_cluster_binding(const ClusterEvent& e, uint64_t now)
{
    std::optional<Binding> b;
    if (e.record) {
        std::string why;
        auto sb = decode_binding(*e.record, &why);
        if (!sb || sb->binding.hoa != e.hoa) {
            stats_.inc(Counter::cluster_records_damaged);
            cache_.drop_unusable(e.hoa, e.mod_revision);
            return false;
        }
        b = binding_to_mono(sb->binding, now, wall_seconds());
        // A binding this instance cannot serve (its provisioning differs) is counted, not published;
        // what this instance had for it is superseded.
        if (!provisioning_.find(e.hoa)) {
            stats_.inc(Counter::cluster_changes_refused);
            cache_.drop_unusable(e.hoa, e.mod_revision);
            return false;
        }
    }
    const BindingEntry* before = cache_.find(e.hoa);
    // A plain copy and a flag rather than an optional: GCC 12 takes the optional's payload for unset.
    const bool had_coa = before != nullptr;
    const CareOf old_coa = had_coa ? before->binding.coa : CareOf{};
    std::string why;
    if (!cache_.apply_remote(e.hoa, b, e.mod_revision, e.origin, now, &why)) {
        stats_.inc(Counter::cluster_changes_refused);
        log::printf(log::Level::warning, "nemo-ha: cluster: %s's binding of %s not published here: %s", e.origin.c_str(),
                    e.hoa.str().c_str(), why.c_str());
        return false;
    }
    stats_.inc(Counter::cluster_changes_applied);
    if (e.written_ms && e.origin != cluster_->instance()) {
        const uint64_t ms = wall_ms();
        cluster_->note_lag_ms(ms > e.written_ms ? ms - e.written_ms : 0);
    }
    // The home link learns of a binding new or moved here as of one accepted here (RFC 6275 10.4.1).
    if (b && b->proxy_nd && (!had_coa || old_coa != b->coa)) restored_announce_.push_back(NdAnnounce{e.hoa, b->mobile_router});
    return true;
}

void ControlPlane::apply_cluster_mr(const ClusterEvent& e, uint64_t now)
{
    if (!e.record) return;
    // In revision order, this instance's own included (made here at once, and again here in etcd's
    // order): two instances' changes to one entry end alike everywhere.
    int64_t& seen = mr_revisions_[e.hoa];
    if (e.mod_revision <= seen) return;
    seen = e.mod_revision;
    std::string why;
    auto c = decode_mr_change(*e.record, &why);
    if (!c || c->mr.hoa != e.hoa) {
        stats_.inc(Counter::cluster_records_damaged);
        return;
    }
    // A removal takes the binding with it here too (the instance that removed it deletes it in etcd).
    if (!c->added && cache_.find(c->mr.hoa)) (void)cache_.apply_remote(c->mr.hoa, std::nullopt, 0, {}, now, &why);
    provisioning_.remove(c->mr.hoa);
    if (c->added) {
        if (auto err = provisioning_.add(c->mr, true)) {
            log::printf(log::Level::warning, "nemo-ha: cluster: %s's add mr %s not applied here: %s", e.origin.c_str(), e.hoa.str().c_str(),
                        err->c_str());
            return;
        }
    }
    operator_mrs_[c->mr.hoa] = *c;
}

void ControlPlane::cluster_poll(uint64_t now)
{
    // Read first: every loss settled up to it is in what take_settled returns below.
    const uint64_t durable = store_->durable();
    cluster_events_.clear();
    cluster_->take_events(cluster_events_);
    // The provisioning first: a BU decided again below is decided on the cluster's.
    for (const ClusterEvent& e : cluster_events_)
        if (e.kind == ClusterEvent::Kind::mr) apply_cluster_mr(e, now);
    settled_.clear();
    store_->take_settled(settled_);
    for (CasSettled& s : settled_) {
        for (const auto& [hoa, at] : s.written) {
            cache_.settle_written(hoa, at, s.batch);
            signaling_.settled(hoa, s.batch);
        }
        for (CasConflict& c : s.conflicts) {
            // A later change of this instance was decided on the lost one: it loses too and reports
            // for itself; only the BAs of what lost here are dropped.
            if (cache_.change_pending_after(c.hoa, s.batch)) {
                signaling_.lost(c.hoa, now, s.batch, rewrites_);
                continue;
            }
            ClusterEvent e;
            e.hoa = c.hoa;
            e.record = std::move(c.current);
            e.mod_revision = c.mod_revision;
            e.origin = c.origin;
            // The winner first, as the cache would have had it had its BU come first; then ours again.
            cache_.settle_written(c.hoa, c.exists ? CasBase::at(e.mod_revision) : CasBase{CasBase::Kind::absent, e.mod_revision}, s.batch);
            std::string why;
            if (!c.exists) (void)cache_.apply_remote(e.hoa, std::nullopt, e.mod_revision, e.origin, now, &why);
            else if (!e.record) {
                // Stored but not decodable (another envelope version, damage): the next change overwrites it.
                stats_.inc(Counter::cluster_records_damaged);
                cache_.drop_unusable(e.hoa, e.mod_revision);
            } else {
                (void)apply_cluster_binding(e, now);
            }
            signaling_.lost(c.hoa, now, s.batch, rewrites_);
        }
    }

    for (ClusterEvent& e : cluster_events_) {
        switch (e.kind) {
        case ClusterEvent::Kind::resync_begin:
            resyncing_ = true;
            resync_seen_.clear();
            stats_.inc(Counter::cluster_resyncs);
            continue;
        case ClusterEvent::Kind::resync_end: {
            // What the full read no longer holds is gone (its deletion was compacted away); what was
            // written after the read is not.
            std::vector<Ipv6Addr> gone;
            cache_.for_each([&](const BindingEntry& be) {
                if (be.rev > 0 && be.rev <= e.mod_revision && be.pending_batch == 0 && !resync_seen_.count(be.binding.hoa))
                    gone.push_back(be.binding.hoa);
            });
            std::string why;
            for (const Ipv6Addr& hoa : gone) (void)cache_.apply_remote(hoa, std::nullopt, e.mod_revision, {}, now, &why);
            resyncing_ = false;
            resync_seen_.clear();
            continue;
        }
        case ClusterEvent::Kind::mr: continue; // applied above
        case ClusterEvent::Kind::binding: break;
        }
        if (resyncing_) resync_seen_.insert(e.hoa);
        if (e.damaged) {
            stats_.inc(Counter::cluster_records_damaged);
            continue;
        }
        if (cache_.change_pending(e.hoa)) {
            auto [it, fresh] = deferred_.try_emplace(e.hoa, e);
            if (!fresh && it->second.mod_revision < e.mod_revision) it->second = std::move(e);
            continue;
        }
        if (e.mod_revision <= cache_.known_revision(e.hoa)) continue; // this instance's own, or older
        (void)apply_cluster_binding(e, now);
    }
    // Events that waited for an own change now settled: applied if they came after it.
    for (auto it = deferred_.begin(); it != deferred_.end();) {
        if (cache_.change_pending(it->first)) {
            ++it;
            continue;
        }
        if (it->second.mod_revision > cache_.known_revision(it->first)) (void)apply_cluster_binding(it->second, now);
        it = deferred_.erase(it);
    }
    cluster_durable_ = durable;

    if (now != cluster_second_) {
        cluster_second_ = now;
        cluster_->set_bindings_accepted(cache_.bindings_of_self());
        // DHAAD lists the other live instances after this one.
        std::vector<Ipv6Addr> v6;
        std::vector<Ipv4Addr> v4;
        for (const ClusterMemberView& m : cluster_->view().members) {
            if (!m.alive || m.instance == cluster_->instance()) continue;
            for (const auto& a : m.ipv6)
                if (auto p = Ipv6Addr::parse(a)) v6.push_back(*p);
            for (const auto& a : m.ipv4)
                if (auto p = Ipv4Addr::parse(a)) v4.push_back(*p);
        }
        signaling_.set_peer_addresses(std::move(v6), std::move(v4));
    }
}

std::string ControlPlane::show_cluster(bool json) const
{
    const ClusterView v = cluster_->view();
    const auto by_origin = cache_.bindings_by_origin();
    auto held_here = [&](const std::string& instance) {
        for (const auto& [name, n] : by_origin)
            if (name == instance) return n;
        return uint64_t{0};
    };
    const uint64_t now_ms = wall_ms();
    if (json) {
        Json j;
        j.begin_object().field("cluster", v.cluster).field("instance", v.instance).field("prefix", v.prefix);
        j.key("etcd").begin_object().field("healthy", v.healthy).key("endpoints").begin_array();
        for (const auto& ep : v.endpoints) {
            j.begin_object()
                .field("endpoint", ep.endpoint)
                .field("reachable", ep.reachable)
                .field("leader", ep.reachable && ep.leader != 0 && ep.leader == ep.member_id)
                .field("has_leader", ep.reachable && ep.leader != 0)
                .field("revision", ep.revision)
                .field("raft_term", ep.raft_term)
                .field("db_size", ep.db_size)
                .field("version", ep.version)
                .field("error", ep.error)
                .end_object();
        }
        j.end_array().end_object();
        j.key("watch")
            .begin_object()
            .field("connected", v.watch_connected)
            .field("endpoint", v.watch_endpoint)
            .field("error", v.watch_error)
            .field("revision", v.watch_revision)
            .field("events", v.events)
            .field("damaged", v.damaged)
            .field("resyncs", v.resyncs)
            .field("restarts", v.watch_restarts)
            .field("lag_samples", v.lag_samples)
            .field("lag_ms_median", v.lag_ms_median)
            .field("lag_ms_p99", v.lag_ms_p99)
            .field("lag_ms_max", v.lag_ms_max)
            .field("deferred", static_cast<uint64_t>(deferred_.size()))
            .field("bus_waiting", static_cast<uint64_t>(signaling_.waiting_bus()))
            .end_object();
        j.field("member_error", v.member_error);
        j.key("members").begin_array();
        for (const auto& m : v.members) {
            j.begin_object()
                .field("instance", m.instance)
                .field("alive", m.alive)
                .field("self", m.instance == v.instance)
                .field("bindings_accepted", m.bindings_accepted)
                .field("bindings_held_here", held_here(m.instance))
                .field("updated_ms_ago", m.updated_ms && now_ms > m.updated_ms ? now_ms - m.updated_ms : uint64_t{0})
                .field("watch_revision", m.watch_revision);
            j.key("ipv4").begin_array();
            for (const auto& a : m.ipv4) j.value(a);
            j.end_array().key("ipv6").begin_array();
            for (const auto& a : m.ipv6) j.value(a);
            j.end_array().end_object();
        }
        j.end_array();
        return j.end_object().str();
    }
    std::string out = "cluster " + v.cluster + ", instance " + v.instance + " (keys under " + v.prefix + ")\n";
    out += "etcd: " + std::string(v.healthy ? "healthy" : "NOT HEALTHY (no member answers with a leader)") + "\n";
    std::vector<std::vector<std::string>> rows = {{"  endpoint", "state", "revision", "db size", "version"}};
    for (const auto& ep : v.endpoints) {
        std::string state = !ep.reachable ? "unreachable: " + ep.error
                                          : ep.leader == 0 ? "no leader" : ep.leader == ep.member_id ? "leader" : "follower";
        rows.push_back({"  " + ep.endpoint, state, std::to_string(ep.revision), std::to_string(ep.db_size), ep.version});
    }
    out += text_table(rows);
    out += "watch: " + std::string(v.watch_connected ? "connected to " + v.watch_endpoint : "DISCONNECTED (" + v.watch_error + ")") +
           ", revision " + std::to_string(v.watch_revision) + ", " + std::to_string(v.events) + " events, lag " +
           (v.lag_samples ? "median " + std::to_string(static_cast<uint64_t>(v.lag_ms_median)) + " ms, p99 " +
                                std::to_string(static_cast<uint64_t>(v.lag_ms_p99)) + " ms over the last " + std::to_string(v.lag_samples)
                          : std::string("not measured yet")) +
           "\n";
    if (!v.member_error.empty()) out += "membership: " + v.member_error + "\n";
    rows = {{"  instance", "alive", "accepted", "held here", "addresses"}};
    for (const auto& m : v.members) {
        std::string addrs;
        for (const auto& a : m.ipv6) addrs += (addrs.empty() ? "" : " ") + a;
        for (const auto& a : m.ipv4) addrs += (addrs.empty() ? "" : " ") + a;
        rows.push_back({"  " + m.instance + (m.instance == v.instance ? " (self)" : ""), m.alive ? "yes" : "NO",
                        std::to_string(m.bindings_accepted), std::to_string(held_here(m.instance)), addrs});
    }
    out += "members:\n" + text_table(rows);
    return out;
}

} // namespace nemo::control
