#include "metrics_collect.hpp"
#include "log.hpp"

#include <rte_ethdev.h>

#include <cstdio>
#include <string_view>

#include "classify.hpp"
#include "version.hpp"

namespace nemo::dp {

namespace {

using control::Counter;

constexpr std::string_view kPrefix = "nemo_ha_";

std::string metric(std::string_view rest) { return std::string(kPrefix).append(rest); }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The control plane's counters by their identifiers (NEMO_COUNTERS' first column), which name the
// metrics; the RFC 4295/5488 object names stay in the HELP text.
constexpr std::string_view kCounterIds[] = {
#define NEMO_METRIC_ID(id, name, help) #id,
    NEMO_COUNTERS(NEMO_METRIC_ID)
#undef NEMO_METRIC_ID
};
static_assert(std::size(kCounterIds) == control::kCounterCount);

constexpr std::string_view kDpHelp[] = {
#define NEMO_METRIC_DP_HELP(id, help) help,
    NEMO_DP_COUNTERS(NEMO_METRIC_DP_HELP)
#undef NEMO_METRIC_DP_HELP
};
constexpr std::string_view kSaHelp[] = {
#define NEMO_METRIC_SA_HELP(id, help) help,
    NEMO_SA_COUNTERS(NEMO_METRIC_SA_HELP)
#undef NEMO_METRIC_SA_HELP
};

// Identifiers whose abbreviations would read badly as metric names.
constexpr std::pair<std::string_view, std::string_view> kRenamed[] = {
    {"bus_received", "binding_updates_received"},
    {"bus_accepted", "binding_updates_accepted"},
    {"bu_acks_sent", "binding_acks_sent"},
    {"state_bus_refused", "state_binding_updates_refused"},
};

std::string_view metric_id(std::string_view id)
{
    for (const auto& [from, to] : kRenamed)
        if (id == from) return to;
    return id;
}

// Control-plane counters that are one family with a label: the identifier's prefix (or the identifier)
// picks the family; the rest of it is the label's value.
struct Group {
    std::string_view prefix; // of the identifier
    std::string_view family;
    std::string_view label;
    std::string_view help;
};
constexpr Group kGroups[] = {
    {"status_", "binding_acks_rejected", "status", "Binding Acknowledgements sent with a rejection status, by status"},
    {"drop_", "signaling_dropped", "reason", "Mobility Headers and Binding Updates dropped, by reason"},
    {"cli_refused_", "cli_refused", "reason", "CLI connections and requests refused, by reason"},
    {"bindings_deregistered", "bindings_removed", "reason", "bindings removed, by reason"},
    {"bindings_expired", "bindings_removed", "reason", "bindings removed, by reason"},
    {"bindings_cleared", "bindings_removed", "reason", "bindings removed, by reason"},
};

const Group* group_of(std::string_view id)
{
    for (const Group& g : kGroups)
        if (starts_with(id, g.prefix)) return &g;
    return nullptr;
}

// The label value of a grouped counter: the BA status number (the configured ones for the draft's two),
// or the identifier's rest.
std::string group_value(const Group& g, std::string_view id, Counter c, const MetricsSources& s)
{
    if (c == Counter::status_tunnel) return std::to_string(s.status_tunnel);
    if (c == Counter::status_invalid_coa) return std::to_string(s.status_invalid_coa);
    if (g.prefix == "bindings_deregistered" || g.prefix == "bindings_expired" || g.prefix == "bindings_cleared")
        return std::string(id.substr(std::string_view("bindings_").size()));
    return std::string(id.substr(g.prefix.size()));
}

// ControlIo::stats() names (control_*): families with a label, and HELP for each.
struct IoName {
    std::string_view name;
    std::string_view family;
    std::string_view label, value; // empty: no label
    std::string_view help;
};
constexpr IoName kIo[] = {
    {"control_inject_full", "control_inject_full", {}, {}, "replies the control thread could not hand to the workers: inject ring full"},
    {"control_replies_without_sa", "control_replies_without_sa", {}, {}, "replies not sent: the home address has no outbound SA"},
    {"control_no_mbuf", "control_no_mbuf", {}, {}, "replies and resolution requests lost for want of an mbuf"},
    {"control_punt_priority", "control_punted", "class", "priority", "packets the control thread took from each punt class"},
    {"control_punt_bulk", "control_punted", "class", "bulk", "packets the control thread took from each punt class"},
    {"control_ba_held", "control_ba_held", {}, {}, "BAs held until their change was durable"},
    {"control_ba_withheld", "control_ba_withheld", {}, {}, "held BAs dropped: their change was not durable in time"},
    {"control_na_unsolicited_sent", "control_unsolicited_na_sent", {}, {}, "unsolicited Neighbor Advertisements sent (each repeat counts)"},
    {"control_na_unsolicited_dropped", "control_unsolicited_na_dropped", {}, {}, "unsolicited NAs not queued: too many waiting"},
    {"control_neighbor_learned", "control_neighbors_learned", {}, {}, "neighbour entries learned from ARP and ND"},
    {"control_neighbor_refused_unsolicited", "control_neighbors_refused", "reason", "unsolicited", "neighbour updates refused, by reason (lib/neighbor_policy)"},
    {"control_neighbor_refused_static", "control_neighbors_refused", "reason", "static", "neighbour updates refused, by reason (lib/neighbor_policy)"},
    {"control_neighbor_refused_gateway", "control_neighbors_refused", "reason", "gateway", "neighbour updates refused, by reason (lib/neighbor_policy)"},
    {"control_neighbor_refused_full", "control_neighbors_refused", "reason", "full", "neighbour updates refused, by reason (lib/neighbor_policy)"},
    {"control_neighbor_invalid", "control_neighbor_messages_invalid", {}, {}, "ARP and ND messages unparsable, with a bad checksum or hop limit not 255"},
    {"control_neighbor_evicted", "control_neighbors_evicted", {}, {}, "neighbour entries evicted"},
    {"control_neighbor_expired", "control_neighbors_expired", {}, {}, "neighbour entries removed: silent past dataplane.neighbor_max_age_s"},
    {"control_neighbor_questions_full", "control_neighbor_questions_full", {}, {}, "resolution requests dropped: too many questions open"},
};

double seconds_since(std::chrono::steady_clock::time_point then, std::chrono::steady_clock::time_point now)
{
    return std::chrono::duration<double>(now - then).count();
}

std::string spi_label(uint32_t spi)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", spi);
    return buf;
}

} // namespace

MetricsCollector::MetricsCollector(const MetricsSources& s)
    : src_(s),
      start_unix_(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()),
      last_polls_(s.workers.size(), 0),
      advanced_at_(s.workers.size(), Clock::now())
{
    const auto now = Clock::now();
    last_turn_ns_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    publish(now);
}

void MetricsCollector::turn()
{
    const auto now = Clock::now();
    // One writer: no locked instruction per turn.
    turns_.store(turns_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    last_turn_ns_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    if (now >= next_publish_) publish(now);
}

void MetricsCollector::publish(Clock::time_point now)
{
    next_publish_ = now + std::chrono::seconds(1);
    Snapshot next;
    next.taken = now;
    if (src_.sas) {
        for (const SaEntry* e : src_.sas->list()) {
            SaSnap s{};
            s.spi = e->cfg.spi;
            s.inbound = e->cfg.inbound;
            s.hoa = e->cfg.hoa.str();
            s.algorithm = std::string(esp_algorithm_name(e->cfg.algorithm));
            for (std::size_t k = 0; k < static_cast<std::size_t>(SaCounter::count_); ++k) s.counters[k] = e->get(static_cast<SaCounter>(k));
            s.seq_used = e->cfg.inbound ? 0 : e->next_seq.load(std::memory_order_relaxed) - 1;
            s.exhausted = e->exhausted();
            s.expired = e->expired();
            next.sas.push_back(std::move(s));
        }
    }
    if (src_.ike) next.ike = src_.ike->stats();
    auto port = [&](const char* side, uint16_t id) {
        rte_eth_stats st{};
        const bool ok = rte_eth_stats_get(id, &st) == 0;
        next.ports.push_back({side, ok, st.ipackets, st.opackets, st.ibytes, st.obytes, st.imissed, st.ierrors, st.oerrors, st.rx_nombuf});
    };
    port("access", src_.access_port);
    if (src_.home_port != src_.access_port) port("home", src_.home_port);
    auto fresh = std::make_shared<const Snapshot>(std::move(next));
    const std::lock_guard lock(mu_);
    snap_.swap(fresh); // the old copy is freed after the lock, or by the last scrape that holds it
    observe_workers(now);
}

void MetricsCollector::observe_workers(Clock::time_point now)
{
    for (std::size_t w = 0; w < src_.workers.size(); ++w) {
        const uint64_t p = src_.workers[w].c[static_cast<std::size_t>(DpCounter::polls)].load(std::memory_order_relaxed);
        if (p != last_polls_[w]) {
            last_polls_[w] = p;
            advanced_at_[w] = now;
        }
    }
}

void MetricsCollector::render_control(MetricsText& t) const
{
    // HELP of the grouped families: each member's object name and meaning.
    std::string group_help[std::size(kGroups)];
    for (std::size_t i = 0; i < control::kCounterCount; ++i) {
        const auto c = static_cast<Counter>(i);
        if (const Group* g = group_of(kCounterIds[i])) {
            std::string& h = group_help[g - kGroups];
            h += (h.empty() ? "" : "; ") + group_value(*g, kCounterIds[i], c, src_) + " " + std::string(control::counter_name(c)) +
                 ": " + std::string(control::counter_help(c));
        }
    }
    for (std::size_t i = 0; i < control::kCounterCount; ++i) {
        const auto c = static_cast<Counter>(i);
        const std::string_view id = kCounterIds[i];
        const uint64_t v = src_.stats->get(c);
        if (const Group* g = group_of(id)) {
            // Every member of the family is named in its HELP.
            std::string help = std::string(g->help) + " (";
            for (std::size_t j = 0; j < std::size(kGroups); ++j)
                if (kGroups[j].family == g->family && !group_help[j].empty())
                    help += (help.back() == '(' ? "" : "; ") + group_help[j];
            const std::string value = group_value(*g, id, c, src_);
            t.counter(metric(g->family), help + ")").add({{g->label, value}}, v);
            continue;
        }
        std::string_view help = control::counter_help(c);
        const bool gauge = starts_with(help, "gauge: ");
        if (gauge) help.remove_prefix(7);
        const std::string h = std::string(help) + " (" + std::string(control::counter_name(c)) + ")";
        if (gauge) t.gauge(metric(metric_id(id)), h).add({}, static_cast<double>(v));
        else t.counter(metric(metric_id(id)), h).add({}, v);
    }
}

std::string MetricsCollector::render()
{
    const auto now = Clock::now();
    MetricsText t;
    t.gauge(metric("build_info"), "nemo-ha's version (the value is always 1)").add({{"version", kVersion}}, 1.0);
    t.gauge(metric("start_time_seconds"), "when nemo-ha started, Unix seconds").add({}, start_unix_);

    // Health: a control loop that stops turning, a worker that stops polling.
    t.counter(metric("control_loop_turns"), "turns of the control loop").add({}, turns_.load(std::memory_order_relaxed));
    const Clock::time_point last_turn{Clock::duration(last_turn_ns_.load(std::memory_order_relaxed))};
    t.gauge(metric("control_loop_last_turn_age_seconds"), "seconds since the control loop last turned (it turns thousands of times a second)")
        .add({}, seconds_since(last_turn, now));

    if (src_.stats) render_control(t);

    // The data plane, per worker.
    auto dropped = t.counter(metric("worker_dropped"), [] {
        std::string h = "packets a worker dropped, by reason (";
        for (std::size_t k = 0; k < kDpCounterCount; ++k)
            if (starts_with(kDpHelp[k], "dropped: "))
                h += std::string(h.back() == '(' ? "" : "; ") + dp_counter_name(static_cast<DpCounter>(k)) + ": " +
                     std::string(kDpHelp[k].substr(9));
        return h + ")";
    }());
    std::string classify_help = "frames a worker's classifier dropped, by reason (lib/classify.hpp:";
    for (std::size_t r = 1; r < static_cast<std::size_t>(DropReason::count_); ++r)
        classify_help += std::string(" ") + drop_reason_name(static_cast<DropReason>(r));
    classify_help += ")";
    for (std::size_t w = 0; w < src_.workers.size(); ++w) {
        const LcoreCounters& lc = src_.workers[w];
        const std::string worker = std::to_string(w);
        for (std::size_t k = 0; k < kDpCounterCount; ++k) {
            const uint64_t v = lc.c[k].load(std::memory_order_relaxed);
            const char* id = dp_counter_name(static_cast<DpCounter>(k));
            if (starts_with(kDpHelp[k], "dropped: ")) dropped.add({{"worker", worker}, {"reason", id}}, v);
            else t.counter(metric(std::string("worker_") + id), std::string(kDpHelp[k])).add({{"worker", worker}}, v);
        }
        for (std::size_t r = 1; r < static_cast<std::size_t>(DropReason::count_); ++r)
            t.counter(metric("worker_classify_dropped"), classify_help)
                .add({{"worker", worker}, {"reason", drop_reason_name(static_cast<DropReason>(r))}},
                     lc.classify_drops[r].load(std::memory_order_relaxed));
        for (int m = 0; m < kTunnelMethodCount; ++m) {
            const std::string_view method = method_name(static_cast<TunnelMethod>(m));
            t.counter(metric("worker_encapsulated"), "packets a worker sent into a tunnel, by method")
                .add({{"worker", worker}, {"method", method}}, lc.encap[m].load(std::memory_order_relaxed));
            t.counter(metric("worker_decapsulated"), "packets a worker took out of a tunnel, by method")
                .add({{"worker", worker}, {"method", method}}, lc.decap[m].load(std::memory_order_relaxed));
        }
    }

    if (src_.io)
        for (const auto& [name, v] : src_.io->stats()) {
            const IoName* known = nullptr;
            for (const IoName& n : kIo)
                if (n.name == name) known = &n;
            if (!known) {
                // A counter added to ControlIo::stats() after this table: exported under its own name.
                t.counter(metric(name), "control thread: " + name).add({}, v);
                continue;
            }
            auto f = t.counter(metric(known->family), known->help);
            if (known->label.empty()) f.add({}, v);
            else f.add({{known->label, known->value}}, v);
        }

    // Bindings (atomics kept by the cache).
    if (src_.cache) {
        const control::BindingSummary b = src_.cache->summary();
        auto by_method = t.gauge(metric("bindings"), "bindings, by tunnel method");
        for (int m = 0; m < kTunnelMethodCount; ++m)
            by_method.add({{"method", method_name(static_cast<TunnelMethod>(m))}}, static_cast<double>(b.by_method[m]));
        t.gauge(metric("bindings_behind_nat"), "bindings whose care-of address is behind a NAT (draft: NAT detected)").add({}, static_cast<double>(b.behind_nat));
        t.gauge(metric("bindings_mobile_routers"), "bindings of mobile routers (R flag)").add({}, static_cast<double>(b.mobile_routers));
        t.gauge(metric("binding_prefixes"), "mobile network prefixes forwarded").add({}, static_cast<double>(b.prefixes));
        t.gauge(metric("binding_capacity"), "most bindings at once (ha.binding_capacity)").add({}, static_cast<double>(src_.cache->capacity()));
    }

    // The state store.
    if (!src_.store) {
        t.gauge(metric("state_info"), "the state store (the value is always 1)").add({{"backend", "none"}, {"path", ""}}, 1.0);
    } else {
        const control::StateStatus st = src_.store->status();
        t.gauge(metric("state_info"), "the state store (the value is always 1)").add({{"backend", st.backend}, {"path", st.path}}, 1.0);
        t.counter(metric("state_syncs"), "commits the state store made durable").add({}, st.syncs);
        t.counter(metric("state_sync_failures"), "commits that failed").add({}, st.sync_failures);
        t.counter(metric("state_records_written"), "records written to the state store").add({}, st.records_written);
        t.gauge(metric("state_size_bytes"), "the state store's size on disk").add({}, static_cast<double>(st.size_bytes));
        t.gauge(metric("state_refusing"), "1 while the store cannot make changes durable (BUs answered 130)").add({}, st.refusing ? 1.0 : 0.0);
        t.gauge(metric("state_batches_not_durable"), "batches staged and not yet durable").add({}, static_cast<double>(st.staged > st.durable ? st.staged - st.durable : 0));
        if (st.last_sync_wall_ms)
            t.gauge(metric("state_last_sync_timestamp_seconds"), "when the last commit ended, Unix seconds").add({}, static_cast<double>(st.last_sync_wall_ms) / 1e3);
        t.gauge(metric("state_last_sync_duration_seconds"), "how long the last commit took").add({}, static_cast<double>(st.last_sync_us) / 1e6);
        t.gauge(metric("state_max_sync_duration_seconds"), "the longest commit since start").add({}, static_cast<double>(st.max_sync_us) / 1e6);
        t.gauge(metric("state_restore_duration_seconds"), "how long reading and restoring the store took at start").add({}, static_cast<double>(st.load_ms + st.restore_ms) / 1e3);
    }

    // A cluster on etcd (its counters are in stats: nemo_ha_cluster_*_total).
    if (src_.cluster) {
        const control::ClusterView v = src_.cluster->view();
        t.gauge(metric("cluster_etcd_healthy"), "1 while an etcd member answers and names a leader").add({}, v.healthy ? 1.0 : 0.0);
        auto reach = t.gauge(metric("cluster_etcd_endpoint_up"), "1 while the etcd endpoint answers");
        for (const auto& ep : v.endpoints) reach.add({{"endpoint", ep.endpoint}}, ep.reachable ? 1.0 : 0.0);
        std::size_t alive = 0;
        for (const auto& m : v.members) alive += m.alive ? 1 : 0;
        t.gauge(metric("cluster_members_alive"), "instances of the cluster whose membership lease lives, this one included").add({}, static_cast<double>(alive));
        t.gauge(metric("cluster_watch_connected"), "1 while the watch of the cluster's prefix is connected").add({}, v.watch_connected ? 1.0 : 0.0);
        t.gauge(metric("cluster_watch_revision"), "the etcd revision the watch has reached").add({}, static_cast<double>(v.watch_revision));
        // Two gauges, not one with a quantile label: that label is a summary's alone (promtool refuses it).
        if (v.lag_samples) {
            t.gauge(metric("cluster_watch_lag_median_seconds"), "from another instance's commit to its binding published here, median of the last 4096 changes").add({}, v.lag_ms_median / 1e3);
            t.gauge(metric("cluster_watch_lag_p99_seconds"), "the same, 99th percentile").add({}, v.lag_ms_p99 / 1e3);
        }
    }

    {
        std::shared_ptr<const Snapshot> snap;
        std::vector<double> ages;
        {
            const std::lock_guard lock(mu_);
            observe_workers(now);
            for (std::size_t w = 0; w < src_.workers.size(); ++w) ages.push_back(seconds_since(advanced_at_[w], now));
            snap = snap_;
        }
        auto age = t.gauge(metric("worker_heartbeat_age_seconds"),
                           "seconds since the worker's poll count (nemo_ha_worker_polls_total) last advanced, as seen once a second and at each scrape");
        for (std::size_t w = 0; w < ages.size(); ++w) age.add({{"worker", std::to_string(w)}}, ages[w]);
        t.gauge(metric("snapshot_age_seconds"), "age of the control loop's copy the port and SA metrics come from (published once a second)")
            .add({}, seconds_since(snap->taken, now));

        auto port = [&](const char* name, const char* help, uint64_t PortSnap::*field) {
            auto f = t.counter(metric(name), help);
            for (const PortSnap& p : snap->ports)
                if (p.ok) f.add({{"port", p.side}}, p.*field);
        };
        port("port_received_packets", "packets the port received", &PortSnap::ipackets);
        port("port_sent_packets", "packets the port sent", &PortSnap::opackets);
        port("port_received_bytes", "bytes the port received", &PortSnap::ibytes);
        port("port_sent_bytes", "bytes the port sent", &PortSnap::obytes);
        port("port_missed", "packets the NIC dropped: no room in an RX queue (imissed)", &PortSnap::imissed);
        port("port_receive_errors", "erroneous packets received (ierrors)", &PortSnap::ierrors);
        port("port_send_errors", "packets the port failed to send (oerrors)", &PortSnap::oerrors);
        port("port_receive_no_mbuf", "RX mbuf allocation failures (rx_nombuf)", &PortSnap::rx_nombuf);

        auto info = t.gauge(metric("sa_info"), "each SA (the value is always 1): its home address and algorithm; never a key");
        auto packets = t.counter(metric("sa_packets"), kSaHelp[static_cast<std::size_t>(SaCounter::packets)]);
        auto bytes = t.counter(metric("sa_bytes"), kSaHelp[static_cast<std::size_t>(SaCounter::bytes)]);
        std::string drop_help = "packets an SA dropped, by reason (";
        for (std::size_t k = 0; k < static_cast<std::size_t>(SaCounter::count_); ++k) {
            const std::string_view id = sa_counter_name(static_cast<SaCounter>(k));
            if (!starts_with(id, "drop_")) continue;
            drop_help += std::string(drop_help.back() == '(' ? "" : "; ") + std::string(id.substr(5)) + ": " +
                         std::string(kSaHelp[k].substr(starts_with(kSaHelp[k], "dropped: ") ? 9 : 0));
        }
        auto drops = t.counter(metric("sa_dropped"), drop_help + ")");
        auto seq = t.gauge(metric("sa_sequence_numbers_used"), "outbound SA: sequence numbers handed out");
        auto abandoned = t.counter(metric("sa_sequence_numbers_abandoned"),
                                   kSaHelp[static_cast<std::size_t>(SaCounter::seq_abandoned)]);
        auto exhausted = t.gauge(metric("sa_exhausted"), "outbound SA: 1 once its last sequence number was sent (RFC 4303 3.3.3)");
        auto expired = t.gauge(metric("sa_expired"), "1 once the SA is past its packet or byte lifetime");
        for (const SaSnap& s : snap->sas) {
            const std::string spi = spi_label(s.spi);
            const std::string_view dir = s.inbound ? "in" : "out";
            info.add({{"spi", spi}, {"direction", dir}, {"hoa", s.hoa}, {"algorithm", s.algorithm}}, 1.0);
            packets.add({{"spi", spi}, {"direction", dir}}, s.counters[static_cast<std::size_t>(SaCounter::packets)]);
            bytes.add({{"spi", spi}, {"direction", dir}}, s.counters[static_cast<std::size_t>(SaCounter::bytes)]);
            for (std::size_t k = 0; k < static_cast<std::size_t>(SaCounter::count_); ++k) {
                const std::string_view id = sa_counter_name(static_cast<SaCounter>(k));
                if (starts_with(id, "drop_")) drops.add({{"spi", spi}, {"direction", dir}, {"reason", id.substr(5)}}, s.counters[k]);
            }
            if (!s.inbound) {
                seq.add({{"spi", spi}, {"direction", dir}}, static_cast<double>(s.seq_used));
                abandoned.add({{"spi", spi}, {"direction", dir}}, s.counters[static_cast<std::size_t>(SaCounter::seq_abandoned)]);
                exhausted.add({{"spi", spi}, {"direction", dir}}, s.exhausted ? 1.0 : 0.0);
            }
            expired.add({{"spi", spi}, {"direction", dir}}, s.expired ? 1.0 : 0.0);
        }
        for (const auto& [name, v] : snap->ike) {
            const std::string help(ike::ike_stat_help(name));
            if (ike::ike_stat_is_gauge(name)) t.gauge(metric(name), help).add({}, static_cast<double>(v));
            else t.counter(metric(name), help).add({}, v);
        }
    }
    std::string out = t.render();
    // A refused name or series is a bug here, not the scraper's problem: said in the scrape, as a comment.
    for (const auto& e : t.errors()) out += "# nemo-ha metrics error: " + e + "\n";
    return out;
}

std::unique_ptr<MetricsEndpoint> start_metrics(const control::Config& cfg, const MetricsSources& s, std::string* error)
{
    error->clear();
    if (!cfg.metrics_listen) return nullptr;
    auto ep = std::make_unique<MetricsEndpoint>(s);
    MetricsCollector* c = &ep->collector;
    ep->server = control::MetricsServer::start(*cfg.metrics_listen, [c] { return c->render(); }, error);
    if (!ep->server) return nullptr;
    log::printf(log::Level::info, "nemo-ha: metrics at http://%s/metrics", cfg.metrics_listen->str().c_str());
    return ep;
}

} // namespace nemo::dp
