// The running side of a cluster store (state.backend = etcd): this instance's membership (a key under
// a lease of its own, kept alive), the watch that brings every other instance's changes, and what
// `show cluster` tells (members, etcd's health, the watch and its lag).
//
// Two threads of its own: the watch's (EtcdWatch) and a housekeeping one (membership, health, a full
// read of the prefix when the watch's revision was compacted). The control thread takes the watch's
// events each turn (take_events) and applies them (cluster_sync.cpp); nothing here touches the
// binding cache.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "addr.hpp"
#include "etcd_client.hpp"
#include "state_store.hpp"

namespace nemo::control {

// One change of the shared state, as the watch (or a full read after a compaction) brought it.
struct ClusterEvent {
    enum class Kind : uint8_t { binding, mr, resync_begin, resync_end };
    Kind kind = Kind::binding;
    Ipv6Addr hoa;
    std::optional<std::vector<uint8_t>> record; // nullopt: deleted (or a damaged value: see `damaged`)
    int64_t mod_revision = 0;                   // resync_end: the revision of the read
    std::string origin;                         // the instance that wrote it
    uint64_t written_ms = 0;
    bool damaged = false;                       // a value that did not decode (counted, ignored)
};

struct ClusterMemberView {
    std::string instance;
    bool alive = false; // its key (under its lease) is there
    uint64_t bindings_accepted = 0;
    std::vector<std::string> ipv4, ipv6;
    uint64_t updated_ms = 0;
    int64_t watch_revision = 0;
};

struct ClusterView {
    std::string cluster, instance, prefix;
    std::vector<EtcdEndpointStatus> endpoints;
    bool healthy = false; // an endpoint answered and names a leader
    bool watch_connected = false;
    std::string watch_endpoint, watch_error;
    int64_t watch_revision = 0;
    uint64_t events = 0, damaged = 0, resyncs = 0, watch_restarts = 0;
    uint64_t lag_samples = 0;
    double lag_ms_median = 0, lag_ms_p99 = 0, lag_ms_max = 0;
    std::vector<ClusterMemberView> members;
    std::string member_error; // keeping this instance's membership failed (the last reason)
};

struct ClusterSelf {
    std::vector<std::string> ipv4, ipv6; // the home-agent addresses this instance serves (DHAAD)
};

class EtcdCluster {
public:
    static constexpr unsigned kMemberTtlS = 5;       // an instance is gone this long after it stopped
    static constexpr unsigned kHousekeepingMs = 1000; // keep-alive, member record, health
    static constexpr std::size_t kLagSamples = 4096;
    static constexpr unsigned kWatchStallS = 10;      // a connected watch behind etcd this long is restarted

    EtcdCluster(const EtcdStateConfig& cfg, EtcdOptions opts, int64_t start_revision);
    ~EtcdCluster();

    // Starts membership and the watch (from the revision after the start's read).
    void start(ClusterSelf self);
    const std::string& prefix() const { return prefix_; }
    const std::string& instance() const { return cfg_.instance; }

    // ---- the control thread ----
    void take_events(std::vector<ClusterEvent>& out);
    void note_lag_ms(uint64_t ms);
    void set_bindings_accepted(uint64_t n) { accepted_.store(n, std::memory_order_relaxed); }

    // ---- any thread ----
    ClusterView view() const;
    // The last health check found a member that answers and names a leader (true until the first one).
    bool healthy() const { return healthy_.load(std::memory_order_acquire); }

private:
    void housekeeping();
    void keep_membership(EtcdClient& c, uint64_t now_ms);
    void resync(EtcdClient& c);
    void check_watch_progress(int64_t etcd_rev);
    void push(std::vector<ClusterEvent>&& evs);
    ClusterEvent event_of(const EtcdKv& kv, bool deleted);

    EtcdStateConfig cfg_;
    EtcdOptions opts_;
    std::string prefix_;
    int64_t start_revision_;
    ClusterSelf self_;
    std::unique_ptr<EtcdWatch> watch_;

    mutable std::mutex mu_;
    std::condition_variable wake_;
    bool stop_ = false;
    bool compacted_ = false;
    std::vector<ClusterEvent> inbox_;
    std::deque<uint64_t> lag_; // the last kLagSamples
    ClusterView view_;          // endpoints, members, errors (housekeeping's)
    std::atomic<uint64_t> accepted_{0}, events_{0}, damaged_{0}, resyncs_{0};
    std::atomic<bool> healthy_{true};
    std::atomic<uint64_t> watch_restarts_{0};
    uint64_t resync_retry_ms_ = 0;            // under mu_
    int64_t stalled_at_rev_ = 0;              // housekeeping's
    uint64_t stalled_since_ms_ = 0;
    std::string watch_endpoint_, watch_error_;
    int64_t member_lease_ = 0;
    uint64_t started_ms_ = 0;
    std::thread thread_;
};

} // namespace nemo::control
