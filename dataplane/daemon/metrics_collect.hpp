// What nemo-ha exports at /metrics (control/metrics_server.hpp serves it; lib/metrics_text.hpp writes
// the format): every control-plane counter (control/stats.hpp), every data-plane counter per worker
// (dp_counters.hpp), the control thread's side of the rings (ControlIo::stats), the ports' counters,
// the IKEv2 responder's counters and gauges, every SA's counters (never a key: an SaEntry holds none, and only its SPI, direction, home address
// and algorithm are named), bindings by method and behind a NAT, the state store's status, and the
// health of the control loop and of each worker. Labels rather than names say which: worker, port,
// status, reason, method, spi, direction.
//
// render() runs on the server's thread. What it reads there directly is thread-safe: Stats (relaxed
// atomics), BindingCache::summary() (atomics), StateStore::status() (its own lock), ControlIo::stats()
// (atomics, and the neighbour table's atomic counters), the workers' LcoreCounters (atomics) and this
// collector's own atomics. What is not — the SA list (the control thread frees removed SAs after a grace
// period) and rte_eth_stats_get (ethdev calls belong to the lcores) — the control loop copies into a
// snapshot once a second (turn()), under a mutex, and render() serves that copy.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "binding_cache.hpp"
#include "config.hpp"
#include "control_io.hpp"
#include "dp_counters.hpp"
#include "metrics_server.hpp"
#include "metrics_text.hpp"
#include "sa_table.hpp"
#include "etcd_cluster.hpp"
#include "ike_responder.hpp"
#include "state_store.hpp"
#include "stats.hpp"

namespace nemo::dp {

struct MetricsSources {
    const control::Stats* stats = nullptr;
    const control::BindingCache* cache = nullptr;
    const control::StateStore* store = nullptr; // null: state.backend = none
    const ControlIo* io = nullptr;
    std::span<const LcoreCounters> workers;
    const SaTable* sas = nullptr;
    uint16_t access_port = 0, home_port = 0; // the same port: exported once, as port="access"
    uint8_t status_tunnel = 144, status_invalid_coa = 145; // ha.status_tunnel_unsupported, ha.status_invalid_coa
    const control::EtcdCluster* cluster = nullptr; // null: not a cluster (state.backend other than etcd)
    const ike::IkeResponder* ike = nullptr;        // null: ike.enabled = no; the control thread's, snapshotted
};

class MetricsCollector {
public:
    explicit MetricsCollector(const MetricsSources& s); // on the control thread: takes the first snapshot
    // The control loop, every turn: counts it, and publishes the snapshot when the last is a second old.
    void turn();
    // The exposition text (any thread).
    std::string render();

private:
    using Clock = std::chrono::steady_clock;
    struct SaSnap {
        uint32_t spi;
        bool inbound;
        std::string hoa, algorithm;
        uint64_t counters[static_cast<std::size_t>(SaCounter::count_)];
        uint64_t seq_used; // outbound: sequence numbers handed out
        bool exhausted, expired;
    };
    struct PortSnap {
        const char* side;
        bool ok;
        uint64_t ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf;
    };
    struct Snapshot {
        std::vector<SaSnap> sas;
        std::vector<std::pair<std::string, uint64_t>> ike; // IkeResponder::stats()
        std::vector<PortSnap> ports;
        Clock::time_point taken;
    };
    void publish(Clock::time_point now);    // the control thread
    void observe_workers(Clock::time_point now); // under mu_
    void render_control(MetricsText& t) const;

    MetricsSources src_;
    std::atomic<uint64_t> turns_{0};
    std::atomic<int64_t> last_turn_ns_{0};
    Clock::time_point next_publish_{};
    const double start_unix_;
    // Guards snap_ (the pointer: a scrape takes a reference and formats outside the lock, so a slow or
    // large scrape never holds up the control loop's publish) and the heartbeat state.
    std::mutex mu_;
    std::shared_ptr<const Snapshot> snap_ = std::make_shared<const Snapshot>();
    std::vector<uint64_t> last_polls_;
    std::vector<Clock::time_point> advanced_at_;
};

// The collector and its server, when metrics.listen asks for them.
struct MetricsEndpoint {
    explicit MetricsEndpoint(const MetricsSources& s) : collector(s) {}
    MetricsCollector collector;
    std::unique_ptr<control::MetricsServer> server; // stopped first (declared last)
    void turn() { collector.turn(); }
};
// Null with *error empty when metrics.listen is empty; null with *error when it cannot listen.
std::unique_ptr<MetricsEndpoint> start_metrics(const control::Config& cfg, const MetricsSources& s, std::string* error);

} // namespace nemo::dp
