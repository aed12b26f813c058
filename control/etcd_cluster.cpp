#include "etcd_cluster.hpp"

#include <unistd.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "cluster_record.hpp"
#include "log.hpp"

namespace nemo::control {

EtcdCluster::EtcdCluster(const EtcdStateConfig& cfg, EtcdOptions opts, int64_t start_revision)
    : cfg_(cfg), opts_(std::move(opts)), prefix_(cluster_prefix(cfg.cluster)), start_revision_(start_revision)
{
    view_.cluster = cfg.cluster;
    view_.instance = cfg.instance;
    view_.prefix = prefix_;
}

EtcdCluster::~EtcdCluster()
{
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    watch_.reset();
}

ClusterEvent EtcdCluster::event_of(const EtcdKv& kv, bool deleted)
{
    ClusterEvent e;
    const ParsedClusterKey k = parse_cluster_key(prefix_, kv.key);
    e.kind = k.kind == ClusterKey::mr ? ClusterEvent::Kind::mr : ClusterEvent::Kind::binding;
    e.hoa = k.hoa;
    e.mod_revision = kv.mod_revision;
    if (deleted) return e;
    std::string why;
    if (auto env = decode_cluster_value(kv.value, &why)) {
        e.record = std::move(env->record);
        e.origin = std::move(env->origin);
        e.written_ms = env->written_ms;
    } else {
        e.damaged = true;
    }
    return e;
}

void EtcdCluster::push(std::vector<ClusterEvent>&& evs)
{
    if (evs.empty()) return;
    std::lock_guard lk(mu_);
    for (auto& e : evs) inbox_.push_back(std::move(e));
}

void EtcdCluster::start(ClusterSelf self)
{
    self_ = std::move(self);
    started_ms_ = wall_ms();
    EtcdWatch::Callbacks cb;
    cb.events = [this](std::vector<EtcdEvent>&& events, int64_t) {
        std::vector<ClusterEvent> out;
        out.reserve(events.size());
        for (const EtcdEvent& ev : events) {
            const ParsedClusterKey k = parse_cluster_key(prefix_, ev.kv.key);
            if (k.kind != ClusterKey::binding && k.kind != ClusterKey::mr) continue; // members: read by housekeeping
            out.push_back(event_of(ev.kv, ev.type == EtcdEvent::Type::del));
            if (out.back().damaged) damaged_.fetch_add(1, std::memory_order_relaxed);
        }
        events_.fetch_add(out.size(), std::memory_order_relaxed);
        push(std::move(out));
    };
    cb.compacted = [this](int64_t) {
        {
            std::lock_guard lk(mu_);
            compacted_ = true;
        }
        wake_.notify_all();
    };
    cb.state = [this](bool connected, const std::string& endpoint, const std::string& error) {
        bool was_connected = false;
        {
            std::lock_guard lk(mu_);
            was_connected = watch_error_.empty();
            watch_endpoint_ = endpoint;
            watch_error_ = connected ? std::string() : error.empty() ? std::string("connecting") : error;
        }
        // Once per outage, not once per reconnect attempt; never under the lock the control thread takes.
        if (!connected && was_connected) log::printf(log::Level::warning, "nemo-ha: cluster: watch lost (%s): %s", endpoint.c_str(), error.c_str());
        else if (connected && !was_connected) log::printf(log::Level::notice, "nemo-ha: cluster: watch connected (%s)", endpoint.c_str());
    };
    watch_ = std::make_unique<EtcdWatch>(opts_, prefix_, start_revision_, std::move(cb));
    thread_ = std::thread([this] { housekeeping(); });
    pthread_setname_np(thread_.native_handle(), "nemo-cluster");
}

void EtcdCluster::take_events(std::vector<ClusterEvent>& out)
{
    std::lock_guard lk(mu_);
    if (inbox_.empty()) return;
    if (out.empty()) std::swap(out, inbox_);
    else {
        for (auto& e : inbox_) out.push_back(std::move(e));
        inbox_.clear();
    }
}

void EtcdCluster::note_lag_ms(uint64_t ms)
{
    std::lock_guard lk(mu_);
    lag_.push_back(ms);
    if (lag_.size() > kLagSamples) lag_.pop_front();
}

ClusterView EtcdCluster::view() const
{
    ClusterView v;
    std::vector<uint64_t> lag;
    {
        std::lock_guard lk(mu_);
        v = view_;
        v.watch_endpoint = watch_endpoint_;
        v.watch_error = watch_error_;
        lag.assign(lag_.begin(), lag_.end());
    }
    v.watch_connected = watch_ && watch_->connected();
    v.watch_revision = watch_ ? watch_->revision() : 0;
    v.events = events_.load(std::memory_order_relaxed);
    v.damaged = damaged_.load(std::memory_order_relaxed);
    v.resyncs = resyncs_.load(std::memory_order_relaxed);
    v.watch_restarts = watch_restarts_.load(std::memory_order_relaxed);
    v.lag_samples = lag.size();
    if (!lag.empty()) {
        std::sort(lag.begin(), lag.end());
        auto at = [&](double q) { return static_cast<double>(lag[std::min(lag.size() - 1, static_cast<std::size_t>(q * static_cast<double>(lag.size())))]); };
        v.lag_ms_median = at(0.5);
        v.lag_ms_p99 = at(0.99);
        v.lag_ms_max = static_cast<double>(lag.back());
    }
    return v;
}

void EtcdCluster::keep_membership(EtcdClient& c, uint64_t now_ms)
{
    std::string err;
    if (member_lease_ != 0) {
        auto ka = c.lease_keepalive(member_lease_);
        if (auto* e = std::get_if<EtcdError>(&ka)) err = e->message;
        else if (std::get<int64_t>(ka) <= 0) member_lease_ = 0; // expired while etcd was away: a new one
    }
    if (member_lease_ == 0 && err.empty()) {
        auto g = c.lease_grant(kMemberTtlS);
        if (auto* e = std::get_if<EtcdError>(&g)) err = e->message;
        else member_lease_ = std::get<int64_t>(g);
    }
    if (err.empty()) {
        nlohmann::json j;
        j["instance"] = cfg_.instance;
        j["ipv4"] = self_.ipv4;
        j["ipv6"] = self_.ipv6;
        j["bindings_accepted"] = accepted_.load(std::memory_order_relaxed);
        j["pid"] = static_cast<int64_t>(getpid());
        j["started_ms"] = started_ms_;
        j["updated_ms"] = now_ms;
        j["watch_revision"] = watch_ ? watch_->revision() : 0;
        if (auto e = c.put(cluster_member_key(prefix_, cfg_.instance), j.dump(), member_lease_)) err = e->message;
    }
    std::lock_guard lk(mu_);
    view_.member_error = err;
}

void EtcdCluster::resync(EtcdClient& c)
{
    auto r = c.range(prefix_, etcd_prefix_end(prefix_));
    if (auto* e = std::get_if<EtcdError>(&r)) {
        log::printf(log::Level::warning, "nemo-ha: cluster: the watch's revision was compacted and the full read failed: %s", e->message.c_str());
        std::lock_guard lk(mu_);
        resync_retry_ms_ = wall_ms() + kHousekeepingMs; // tried again after a pause, not in a spin
        return;
    }
    auto& rg = std::get<EtcdRange>(r);
    std::vector<ClusterEvent> evs;
    evs.push_back(ClusterEvent{ClusterEvent::Kind::resync_begin, {}, std::nullopt, rg.revision, {}, 0, false});
    for (const EtcdKv& kv : rg.kvs) {
        const ParsedClusterKey k = parse_cluster_key(prefix_, kv.key);
        if (k.kind != ClusterKey::binding && k.kind != ClusterKey::mr) continue;
        evs.push_back(event_of(kv, false));
    }
    evs.push_back(ClusterEvent{ClusterEvent::Kind::resync_end, {}, std::nullopt, rg.revision, {}, 0, false});
    push(std::move(evs));
    resyncs_.fetch_add(1, std::memory_order_relaxed);
    log::printf(log::Level::notice, "nemo-ha: cluster: the watch's revision was compacted: read %zu keys at revision %lld again",
                rg.kvs.size(), static_cast<long long>(rg.revision));
    {
        std::lock_guard lk(mu_);
        compacted_ = false;
    }
    watch_->restart(rg.revision + 1);
}

// The members' records are rewritten every second under the prefix, so a live watch's revision moves
// every second; one that stays behind etcd's for kWatchStallS while connected is stuck on a member that
// no longer sends (a frozen process, a hung disk) and is started again, from where it was.
void EtcdCluster::check_watch_progress(int64_t etcd_rev)
{
    if (!watch_) return;
    const int64_t w = watch_->revision();
    const uint64_t now = wall_ms();
    if (!watch_->connected() || etcd_rev <= w || w != stalled_at_rev_) {
        stalled_at_rev_ = w;
        stalled_since_ms_ = now;
        return;
    }
    if (now - stalled_since_ms_ < kWatchStallS * 1000) return;
    log::printf(log::Level::warning, "nemo-ha: cluster: the watch stayed at revision %lld for %u s while etcd reached %lld: reconnecting",
                static_cast<long long>(w), kWatchStallS, static_cast<long long>(etcd_rev));
    watch_restarts_.fetch_add(1, std::memory_order_relaxed);
    watch_->restart(w + 1);
    stalled_since_ms_ = now;
}

void EtcdCluster::housekeeping()
{
    EtcdClient c(opts_);
    std::unique_lock lk(mu_);
    while (!stop_) {
        const bool compacted = compacted_ && wall_ms() >= resync_retry_ms_;
        lk.unlock();
        if (compacted) resync(c);
        // Health first: BUs are refused on it (StateBackend::available) and membership may wait on etcd.
        std::vector<EtcdEndpointStatus> st = c.status_all();
        bool healthy = false;
        int64_t etcd_rev = 0;
        for (const auto& s : st) {
            healthy = healthy || (s.reachable && s.leader != 0);
            if (s.reachable && s.revision > etcd_rev) etcd_rev = s.revision;
        }
        check_watch_progress(etcd_rev);
        if (healthy != healthy_.exchange(healthy, std::memory_order_acq_rel))
            log::printf(healthy ? log::Level::notice : log::Level::err, "nemo-ha: cluster: etcd %s",
                        healthy ? "has a leader again: changes are made durable again" : "has no leader any more: BUs that would change a binding get BA 130");
        // Without a leader every write and linearizable read would only wait out its timeout: the
        // next health check comes sooner instead, and membership is renewed once etcd is back.
        if (healthy) keep_membership(c, wall_ms());
        std::vector<ClusterMemberView> members;
        const std::string mp = cluster_member_key(prefix_, "");
        std::variant<EtcdRange, EtcdError> r = EtcdError{"etcd has no leader", false, false};
        if (healthy) r = c.range(mp, etcd_prefix_end(mp));
        if (auto* rg = std::get_if<EtcdRange>(&r)) {
            for (const EtcdKv& kv : rg->kvs) {
                ClusterMemberView m;
                m.alive = true;
                m.instance = kv.key.substr(mp.size());
                auto j = nlohmann::json::parse(kv.value, nullptr, false);
                if (!j.is_discarded() && j.is_object()) {
                    auto strs = [&](const char* f) {
                        std::vector<std::string> v;
                        if (j.contains(f) && j[f].is_array())
                            for (const auto& x : j[f])
                                if (x.is_string()) v.push_back(x.get<std::string>());
                        return v;
                    };
                    m.ipv4 = strs("ipv4");
                    m.ipv6 = strs("ipv6");
                    if (j.contains("bindings_accepted") && j["bindings_accepted"].is_number_unsigned()) m.bindings_accepted = j["bindings_accepted"].get<uint64_t>();
                    if (j.contains("updated_ms") && j["updated_ms"].is_number_unsigned()) m.updated_ms = j["updated_ms"].get<uint64_t>();
                    if (j.contains("watch_revision") && j["watch_revision"].is_number()) m.watch_revision = j["watch_revision"].get<int64_t>();
                }
                members.push_back(std::move(m));
            }
        }
        lk.lock();
        view_.endpoints = std::move(st);
        view_.healthy = healthy;
        if (std::holds_alternative<EtcdRange>(r)) {
            // An instance that was here and is gone stays listed as not alive.
            for (auto& old : view_.members) {
                const bool present = std::any_of(members.begin(), members.end(), [&](const auto& m) { return m.instance == old.instance; });
                if (!present) {
                    old.alive = false;
                    members.push_back(old);
                }
            }
            std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.instance < b.instance; });
            view_.members = std::move(members);
        }
        wake_.wait_for(lk, std::chrono::milliseconds(kHousekeepingMs), [&] { return stop_ || (compacted_ && wall_ms() >= resync_retry_ms_); });
    }
    lk.unlock();
    // A clean stop says so at once: the others need not wait for the lease.
    if (member_lease_ != 0) (void)c.lease_revoke(member_lease_);
}

} // namespace nemo::control
