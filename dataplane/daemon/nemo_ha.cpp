// nemo-ha: the home agent daemon. EAL and ports from the configuration, the control plane on the main
// lcore, one worker on every other lcore; stops cleanly on SIGINT or SIGTERM; SIGHUP reloads the provisioning.
//
//   nemo-ha [--config FILE] [--section.key=value ...] [--check] [--help] [--version]
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <variant>
#include <vector>

#include "capture.hpp"
#include "classify.hpp"
#include "config.hpp"
#include "control_io.hpp"
#include "control_plane.hpp"
#include "default_config.hpp"
#include "dp_counters.hpp"
#include "dpdk_log.hpp"
#include "log.hpp"
#include "neighbors.hpp"
#include "mempool_prefault.hpp"
#include "metrics_collect.hpp"
#include "punt.hpp"
#include "service_notify.hpp"
#include "version.hpp"
#include "worker.hpp"

using namespace nemo;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }
// SIGHUP: the control loop reloads the provisioning and SA lines between two turns (control/reload.cpp).
std::atomic<bool> g_reload{false};
void on_hup(int) { g_reload.store(true); }

int fail(const std::string& msg)
{
    log::err("nemo-ha: " + msg);
    return 1;
}

// Configures and starts a port with `queues` RX and TX queues, with the checksum offloads it has.
// Returns an error message or "". With tx_ipv4_cksum (the access port, where IPv4 tunnels leave):
// whether the port computes IPv4 header checksums on TX, and if so the offload is turned on.
std::string start_port(uint16_t port, uint16_t queues, uint16_t mtu, rte_mempool* pool, bool* tx_ipv4_cksum = nullptr)
{
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port, &info) != 0) return "cannot read port information";
    if (info.max_rx_queues < queues || info.max_tx_queues < queues)
        return "has " + std::to_string(info.max_rx_queues) + " RX / " + std::to_string(info.max_tx_queues) +
               " TX queues; " + std::to_string(queues) + " workers need as many (net_af_packet: qpairs=N)";
    rte_eth_conf conf{};
    if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    if (tx_ipv4_cksum) {
        *tx_ipv4_cksum = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
        if (*tx_ipv4_cksum) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    }
    if (queues > 1) conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_IP & info.flow_type_rss_offloads;
    if (int rc = rte_eth_dev_configure(port, queues, queues, &conf); rc != 0) return "configure: " + std::to_string(rc);
    rte_eth_dev_set_mtu(port, mtu); // virtual devices may refuse; their MTU is the interface's
    for (uint16_t q = 0; q < queues; ++q) {
        if (rte_eth_rx_queue_setup(port, q, 1024, rte_eth_dev_socket_id(port), nullptr, pool) != 0)
            return "RX queue " + std::to_string(q);
        if (rte_eth_tx_queue_setup(port, q, 1024, rte_eth_dev_socket_id(port), nullptr) != 0)
            return "TX queue " + std::to_string(q);
    }
    if (rte_eth_dev_start(port) != 0) return "start failed";
    rte_eth_promiscuous_enable(port);
    return "";
}

} // namespace

int main(int argc, char** argv)
{
    dp::route_dpdk_log(); // before anything of DPDK's speaks
    control::CommandLine cl;
    auto loaded = control::load_config(argc, argv, cl, kDefaultConfig, "(built-in demo configuration)");
    if (cl.help) {
        std::printf("usage: nemo-ha [--config FILE] [--section.key=value ...] [--check]\n\n%s", cl.usage.c_str());
        return 0;
    }
    if (cl.version) {
        std::printf("nemo-ha %s\n", kVersion);
        return 0;
    }
    if (auto* e = std::get_if<std::string>(&loaded)) return fail(*e);
    std::signal(SIGHUP, on_hup); // from here on, not fatal: a SIGHUP during the start is acted on once running
    control::Config cfg = std::move(std::get<control::Config>(loaded)); // moved: no copy of the keys stays behind
    // --check answers on the terminal it was run from; a start logs where log.target says.
    const log::Target log_target = log::choose_target(cfg.log.target, std::getenv("JOURNAL_STREAM"), 2);
    if (!cl.check_only) log::configure(log_target, cfg.log.level);
    // What can be told before EAL starts is told the same way by --check and by a start.
    if (auto e = control::check_startable(cfg, control::free_hugepages())) return fail(*e);
    if (auto e = control::check_provisioning_file(cfg)) return fail(*e);
    if (cl.check_only) {
        std::printf("%s: configuration is valid\n", cfg.origin.c_str());
        return 0;
    }

    const auto started = std::chrono::steady_clock::now();
    control::ServiceNotify service; // systemd (Type=notify): READY, STATUS, the watchdog, STOPPING
    std::vector<std::string> eal_args = {argv[0]};
    eal_args.insert(eal_args.end(), cfg.eal_args.begin(), cfg.eal_args.end());
    std::vector<char*> eal_argv;
    for (auto& a : eal_args) eal_argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0)
        return fail("EAL initialisation failed (eal.args: check the --vdev and -l arguments)");
    log::configure(log_target, cfg.log.level); // EAL opened syslog under its own name and facility
    dp::Capture capture; // dpdk-dumpcap attaches over EAL's channel: up before the ports, down before EAL
    if (std::string e; !capture.start(cfg.capture, cfg.eal_args, &e)) return fail(e);

    // The state store right after EAL, before any port: one that cannot be used (another nemo-ha holds
    // it, not writable, another version, damaged with state.on_damage = refuse) stops the start early,
    // and its threads (the writer, the database's own) inherit the main lcore's CPUs, never a worker's.
    control::StateImage image;
    std::string store_err;
    auto store = control::StateStore::open(cfg.state, &image, &store_err);
    if (!store && cfg.state.backend != control::StateConfig::Backend::none) return fail(store_err);

    std::vector<unsigned> worker_lcores;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) worker_lcores.push_back(lcore);
    if (worker_lcores.empty()) return fail("no worker lcore: give EAL at least two (-l 0-1)");
    const auto queues = static_cast<uint16_t>(worker_lcores.size());

    uint16_t access_port = 0, home_port = 0;
    if (rte_eth_dev_get_port_by_name(cfg.access.port.c_str(), &access_port) != 0)
        return fail("access.port: no DPDK port named '" + cfg.access.port + "' (" + std::to_string(rte_eth_dev_count_avail()) +
                    " ports; vdev given in eal.args?)");
    if (rte_eth_dev_get_port_by_name(cfg.home.port.c_str(), &home_port) != 0)
        return fail("home.port: no DPDK port named '" + cfg.home.port + "'");

    rte_mempool* pool = rte_pktmbuf_pool_create("nemo_mbufs", cfg.mbufs, 256, dp::kMbufPrivSize,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
    if (!pool) return fail("cannot create the mbuf pool of " + std::to_string(cfg.mbufs) + " (raise EAL -m?)");
    dp::prefault_mempool(pool);
    bool access_ipv4_cksum = false;
    if (auto e = start_port(access_port, queues, cfg.access.mtu, pool, &access_ipv4_cksum); !e.empty())
        return fail("access port: " + e);
    if (home_port != access_port)
        if (auto e = start_port(home_port, queues, cfg.home.mtu, pool); !e.empty())
            return fail("home port: " + e);

    std::string err;
    cfg.sa_lanes = static_cast<unsigned>(worker_lcores.size()); // worker i keeps lane i of every SA
    auto cp = control::ControlPlane::create(cfg, &err, std::move(store), &image);
    wipe_keys(cfg.sas); // the SA table has its transforms (or the start has failed)
    if (!cp) return fail(err);
    if (!cp->start_cli(&err)) return fail(err);
    {
        std::size_t inbound = 0;
        for (const dp::SaEntry* sa : cp->sas().list()) inbound += sa->cfg.inbound ? 1 : 0;
        if (auto w = control::unprotected_signaling_warning(cfg.ha.allow_unprotected_signaling, inbound))
            log::warning("nemo-ha: " + *w);
    }
    // Entries the control thread removes wait for the workers' RCU grace period (the binding tables').
    auto neighbors = dp::Neighbors::create("nemo", 65536, &err, cp->tables().rcu());
    if (!neighbors) return fail(err);
    for (const auto& [a, m] : cfg.neighbors4) neighbors->set(a, m, true);
    for (const auto& [a, m] : cfg.neighbors6) neighbors->set(a, m, true);
    // Two punt classes, policed by the workers: the priority ring (ND, ARP, signaling from known care-of
    // addresses) is drained first every turn, the bulk ring (the rest) within a budget.
    rte_ring* punt = rte_ring_create("nemo_punt", 4096, static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
    rte_ring* punt_bulk = rte_ring_create("nemo_punt_bulk", 4096, static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
    rte_ring* inject = rte_ring_create("nemo_inject", 1024, static_cast<int>(rte_socket_id()), RING_F_SP_ENQ);
    if (!punt || !punt_bulk || !inject) return fail("cannot create the punt and inject rings");
    // Several workers: one handoff ring each, for the downstream ESP packets of the SAs it owns
    // (WorkerConfig::handoff). A turn hands over at most a burst from each port of each other worker.
    std::vector<rte_ring*> handoff;
    if (worker_lcores.size() > 1)
        for (std::size_t i = 0; i < worker_lcores.size(); ++i) {
            handoff.push_back(rte_ring_create(("nemo_handoff" + std::to_string(i)).c_str(), 2048,
                                              static_cast<int>(rte_socket_id()), RING_F_SC_DEQ));
            if (!handoff.back()) return fail("cannot create the workers' handoff rings");
        }

    auto side = [&](uint16_t port, const control::PortConfig& pc, uint16_t queue) {
        dp::PortSide s;
        s.port = port;
        s.queue = queue;
        rte_ether_addr mac;
        rte_eth_macaddr_get(port, &mac);
        s.mac = MacAddr::from_bytes(mac.addr_bytes);
        s.mtu = pc.mtu;
        s.gateway4 = pc.gateway4;
        s.gateway6 = pc.gateway6;
        return s;
    };
    // IPv4 tunnels leave from the access port: its checksum offload decides who computes the outer header's.
    dp::TunnelSelf self{cfg.ha.ipv4_addresses.front(), cfg.ha.ipv6_addresses.front(), cfg.ha.udp_port, access_ipv4_cksum};
    std::vector<dp::LcoreCounters> counters(worker_lcores.size());
    std::vector<dp::WorkerRuntime> runtimes(worker_lcores.size());
    std::vector<std::unique_ptr<dp::Worker>> workers;
    for (std::size_t i = 0; i < worker_lcores.size(); ++i) {
        dp::WorkerConfig wc;
        wc.reader_id = static_cast<unsigned>(i);
        wc.access = side(access_port, cfg.access, static_cast<uint16_t>(i));
        wc.home = side(home_port, cfg.home, static_cast<uint16_t>(i));
        wc.tables = &cp->tables();
        wc.neighbors = neighbors.get();
        wc.sas = &cp->sas();
        wc.punt = punt;
        wc.punt_bulk = punt_bulk;
        wc.punt_priority_per_second = cfg.punt_priority_per_second;
        wc.punt_bulk_per_second = cfg.punt_bulk_per_second;
        wc.inject = inject;
        wc.handoff = handoff;
        wc.pool = pool;
        wc.self = self;
        wc.ike = cfg.ike.enabled;
        wc.ha_ipv6 = cfg.ha.ipv6_addresses;
        wc.dhaad_anycast = home_agents_anycast(cfg.ha.home_prefix);
        wc.ptb_per_second = cfg.ptb_per_second;
        wc.reassembly_flows = cfg.reassembly_flows;
        wc.reassembly_timeout_ms = cfg.reassembly_timeout_ms;
        wc.counters = &counters[i];
        wc.runtime = &runtimes[i];
        wc.stop = &g_stop;
        workers.push_back(std::make_unique<dp::Worker>(wc));
        if (!workers.back()->ok())
            return fail("cannot create the IPv4 reassembly table of " + std::to_string(cfg.reassembly_flows) +
                        " flows (raise EAL -m, or lower dataplane.reassembly_flows)");
    }
    dp::ControlIoConfig ioc;
    ioc.access = side(access_port, cfg.access, 0);
    ioc.home = side(home_port, cfg.home, 0);
    ioc.punt = punt;
    ioc.punt_bulk = punt_bulk;
    ioc.inject = inject;
    ioc.pool = pool;
    ioc.neighbors = neighbors.get();
    ioc.sas = &cp->sas();
    ioc.self = self;
    ioc.gateway_refresh_s = cfg.gateway_refresh_s;
    ioc.ha_ipv4 = cfg.ha.ipv4_addresses;
    ioc.ha_ipv6 = cfg.ha.ipv6_addresses;
    ioc.neighbor_max_age_s = cfg.neighbor_max_age_s;
    dp::ControlIo io(*cp, ioc);
    cp->set_extra_stats([&counters, &io, access_port, home_port] {
        std::vector<std::pair<std::string, uint64_t>> out;
        auto sum = [&](auto pick) {
            uint64_t v = 0;
            for (const auto& c : counters) v += pick(c).load(std::memory_order_relaxed);
            return v;
        };
        for (std::size_t k = 0; k < dp::kDpCounterCount; ++k)
            out.emplace_back(dp::dp_counter_name(static_cast<dp::DpCounter>(k)), sum([k](const dp::LcoreCounters& c) -> auto& { return c.c[k]; }));
        for (std::size_t r = 1; r < static_cast<std::size_t>(DropReason::count_); ++r) {
            std::string name = std::string("drop_") + drop_reason_name(static_cast<DropReason>(r));
            for (char& ch : name)
                if (ch == '-') ch = '_';
            out.emplace_back(name, sum([r](const dp::LcoreCounters& c) -> auto& { return c.classify_drops[r]; }));
        }
        for (int m = 0; m < kTunnelMethodCount; ++m) {
            std::string name(method_name(static_cast<TunnelMethod>(m)));
            for (char& ch : name)
                if (ch == '-') ch = '_';
            out.emplace_back("encap_" + name, sum([m](const dp::LcoreCounters& c) -> auto& { return c.encap[m]; }));
            out.emplace_back("decap_" + name, sum([m](const dp::LcoreCounters& c) -> auto& { return c.decap[m]; }));
        }
        // Per worker lcore, what it received, sent and handed to the control thread (RSS spreads the
        // load: a worker at zero while the others are busy points at the port's hashing).
        for (std::size_t w = 0; w < counters.size(); ++w) {
            const std::string p = "worker" + std::to_string(w) + "_";
            out.emplace_back(p + "rx", counters[w].c[static_cast<std::size_t>(dp::DpCounter::rx)].load(std::memory_order_relaxed));
            out.emplace_back(p + "tx", counters[w].c[static_cast<std::size_t>(dp::DpCounter::tx)].load(std::memory_order_relaxed));
            out.emplace_back(p + "punted", counters[w].c[static_cast<std::size_t>(dp::DpCounter::punted)].load(std::memory_order_relaxed));
        }
        // The ports' own counters: packets, and what the NIC dropped before any worker saw it.
        auto port_stats = [&out](const std::string& name, uint16_t port) {
            rte_eth_stats st{};
            if (rte_eth_stats_get(port, &st) != 0) return;
            out.emplace_back("port_" + name + "_ipackets", st.ipackets);
            out.emplace_back("port_" + name + "_opackets", st.opackets);
            out.emplace_back("port_" + name + "_imissed", st.imissed);
            out.emplace_back("port_" + name + "_ierrors", st.ierrors);
            out.emplace_back("port_" + name + "_oerrors", st.oerrors);
            out.emplace_back("port_" + name + "_rx_nombuf", st.rx_nombuf);
        };
        port_stats("access", access_port);
        if (home_port != access_port) port_stats("home", home_port);
        for (auto& kv : io.stats()) out.push_back(std::move(kv));
        return out;
    });

    auto metrics = dp::start_metrics(cfg, {&cp->stats(), &cp->cache(), cp->store(), &io, counters, &cp->sas(), access_port, home_port,
                                           cfg.ha.status_tunnel_unsupported, cfg.ha.status_invalid_coa, cp->cluster(), cp->ike()}, &err);
    if (!metrics && !err.empty()) return fail(err);
    cp->set_runtime_stats([&counters, &runtimes] {
        std::vector<dp::RuntimeSample> out;
        for (std::size_t w = 0; w < runtimes.size(); ++w) out.push_back(dp::runtime_sample(runtimes[w], counters[w]));
        return out;
    });

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    // A reload reads the same command line and --config file again.
    cp->set_config_source([argc, argv] {
        control::CommandLine again;
        return control::load_config(argc, argv, again, kDefaultConfig, "(built-in demo configuration)");
    });
    for (std::size_t i = 0; i < workers.size(); ++i) rte_eal_remote_launch(dp::Worker::run, workers[i].get(), worker_lcores[i]);

    if (control::StateStore* st = cp->store()) {
        const control::StateStatus ss = st->status();
        log::printf(log::Level::info, "nemo-ha: state: restored %llu bindings from %s in %llu ms (%llu expired while down, %llu no longer "
                    "provisioned, %llu damaged records)",
                    static_cast<unsigned long long>(ss.restored_bindings), ss.path.c_str(),
                    static_cast<unsigned long long>(ss.load_ms + ss.restore_ms), static_cast<unsigned long long>(ss.expired_while_down),
                    static_cast<unsigned long long>(ss.unprovisioned), static_cast<unsigned long long>(ss.damaged));
    } else {
        log::notice("nemo-ha: state: none (state.backend = none): nothing survives a restart");
    }
    const auto forwarding_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    log::printf(log::Level::notice, "nemo-ha %s: %zu worker(s), access %s, home %s, CLI %s, outer IPv4 checksums by the %s; forwarding %lld ms after start", kVersion,
                workers.size(), cfg.access.port.c_str(), cfg.home.port.c_str(), cfg.cli_socket.c_str(),
                access_ipv4_cksum ? "NIC" : "CPU", static_cast<long long>(forwarding_ms));
    std::vector<control::Heartbeat> beats; // the watchdog is fed while each worker's poll counter moves
    for (std::size_t i = 0; i < workers.size(); ++i)
        beats.push_back({"worker " + std::to_string(i) + " (lcore " + std::to_string(worker_lcores[i]) + ")", &counters[i].c[static_cast<std::size_t>(dp::DpCounter::polls)]});
    service.ready("forwarding: " + std::to_string(workers.size()) + " worker(s), access " + cfg.access.port + ", home " + cfg.home.port, std::move(beats));
    while (!g_stop.load()) {
        const uint64_t now = control::monotonic_seconds();
        const unsigned handled = io.poll(now);
        cp->poll(now);
        if (metrics) metrics->turn();
        service.tick();
        if (g_reload.exchange(false)) cp->reload();
        if (handled == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }

    service.stopping();
    log::notice("nemo-ha: stopping");
    metrics.reset(); // its server reads the control plane
    rte_eal_mp_wait_lcore();
    for (uint16_t port : {access_port, home_port}) {
        rte_eth_dev_stop(port);
        rte_eth_dev_close(port);
        if (home_port == access_port) break;
    }
    workers.clear();
    cp.reset();
    neighbors.reset();
    rte_ring_free(punt);
    rte_ring_free(punt_bulk);
    rte_ring_free(inject);
    for (rte_ring* r : handoff) {
        void* m = nullptr;
        while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        rte_ring_free(r);
    }
    capture.stop();
    rte_mempool_free(pool);
    rte_eal_cleanup();
    return 0;
}
