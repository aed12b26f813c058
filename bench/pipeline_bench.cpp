// The whole worker pipeline on one lcore: packets replayed from a pcap (net_pcap, infinite_rx) into
// nemo-ha's worker, out to net_null; and, in the same run on the same devices, a bare rx->tx forward
// as the baseline. Reports Mpps for both and their ratio.
//
//   pipeline_bench --pcap FILE --direction down|up --method ipip|gre|udp|ipv6|esp|esp-udp --bindings N
//                  [--seconds S] [--esp-alg aes-gcm-128|aes-gcm-256|aes-cbc-128-hmac-sha256]
//
// ESP methods give each binding an outbound SA (SPI 0x10000 + i) and an inbound one (SPI 0x20000 + i)
// of the chosen algorithm, with the keys scripts/gen_esp_pcaps.py seals the upstream pcaps with (router
// i's: 0x5A / 0xA5 bytes out, 0xC3 / 0x3C in, the first four the index, little-endian). A replayed pcap
// repeats its sequence numbers, so the inbound SAs have anti-replay off (SaConfig::anti_replay, as
// ipsec-secgw's window 0); everything else of the inbound path runs.
//
// The pcap's addresses follow scripts/gen_traffic_pcaps.py; the N bindings are published straight into
// the tables (signaling is not what is measured). Next hops are static gateways, as at a carrier.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#include <nmmintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "binding_tables.hpp"
#include "classify.hpp"
#include "neighbors.hpp"
#include "mempool_prefault.hpp"
#include "punt.hpp"
#include "sa_table.hpp"
#include "worker.hpp"

using namespace nemo;

namespace {

std::atomic<bool> g_stop{false};
uint16_t g_rx_port = 0, g_tx_port = 0;

int bare_forward(void*)
{
    rte_mbuf* pkts[32];
    while (!g_stop.load(std::memory_order_relaxed)) {
        const uint16_t n = rte_eth_rx_burst(g_rx_port, 0, pkts, 32);
        if (!n) continue;
        const uint16_t sent = rte_eth_tx_burst(g_tx_port, 0, pkts, n);
        if (sent < n) rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    }
    return 0;
}

// The least any binding-aware forwarder does: the bare forward plus, for each packet, one read of a
// cache line chosen by the packet's destination /64 in a table as large as nemo-ha's for the same
// number of bindings (huge pages, like nemo-ha's). It bounds the ratio nemo-ha could reach.
struct TouchTable {
    const uint64_t* lines = nullptr; // 8 words a line
    uint64_t mask = 0;               // lines - 1
    uint64_t sink = 0;
    uint16_t offset = 14 + 24; // the /64 that picks the line: the destination downstream, the inner
                               // source upstream
};
TouchTable g_touch;

int touch_forward(void*)
{
    rte_mbuf* pkts[32];
    uint64_t acc = 0;
    while (!g_stop.load(std::memory_order_relaxed)) {
        const uint16_t n = rte_eth_rx_burst(g_rx_port, 0, pkts, 32);
        if (!n) continue;
        uint64_t idx[32];
        for (uint16_t i = 0; i < n; ++i) {
            uint64_t prefix;
            std::memcpy(&prefix, rte_pktmbuf_mtod_offset(pkts[i], const uint8_t*, g_touch.offset), 8);
            idx[i] = _mm_crc32_u64(0, prefix) & g_touch.mask;
            rte_prefetch0(g_touch.lines + idx[i] * 8);
        }
        for (uint16_t i = 0; i < n; ++i) acc += g_touch.lines[idx[i] * 8];
        const uint16_t sent = rte_eth_tx_burst(g_tx_port, 0, pkts, n);
        if (sent < n) rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    }
    g_touch.sink = acc;
    return 0;
}

Ipv6Addr hoa_of(uint32_t i)
{
    Ipv6Addr a = *Ipv6Addr::parse("2001:db8:1::");
    const uint32_t v = i + 1;
    a.bytes[12] = static_cast<uint8_t>(v >> 24);
    a.bytes[13] = static_cast<uint8_t>(v >> 16);
    a.bytes[14] = static_cast<uint8_t>(v >> 8);
    a.bytes[15] = static_cast<uint8_t>(v);
    return a;
}

Prefix6 mnp_of(uint32_t i)
{
    Ipv6Addr a = *Ipv6Addr::parse("2001:db8::");
    const uint32_t hi = 0x1000 + (i >> 16);
    a.bytes[4] = static_cast<uint8_t>(hi >> 8);
    a.bytes[5] = static_cast<uint8_t>(hi);
    a.bytes[6] = static_cast<uint8_t>(i >> 8);
    a.bytes[7] = static_cast<uint8_t>(i);
    return Prefix6{a, 64};
}

double measure(lcore_function_t* fn, void* arg, unsigned lcore, double seconds)
{
    rte_eth_stats_reset(g_tx_port);
    g_stop = false;
    rte_eal_remote_launch(fn, arg, lcore);
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(seconds * 1000)));
    g_stop = true;
    rte_eal_wait_lcore(lcore);
    rte_eth_stats st{};
    rte_eth_stats_get(g_tx_port, &st);
    return static_cast<double>(st.opackets) / seconds / 1e6;
}

bool start(uint16_t port, rte_mempool* pool)
{
    rte_eth_conf conf{};
    return rte_eth_dev_configure(port, 1, 1, &conf) == 0 &&
           rte_eth_rx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr, pool) == 0 &&
           rte_eth_tx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr) == 0 && rte_eth_dev_start(port) == 0;
}

} // namespace

int main(int argc, char** argv)
{
    std::string pcap, direction = "down", method_name_arg = "ipip";
    uint32_t bindings = 1000;
    double seconds = 3;
    std::string only;
    std::string esp_alg_name = "aes-gcm-128";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--pcap") pcap = v;
        else if (k == "--direction") direction = v;
        else if (k == "--method") method_name_arg = v;
        else if (k == "--bindings") bindings = static_cast<uint32_t>(std::stoul(v));
        else if (k == "--seconds") seconds = std::stod(v);
        else if (k == "--esp-alg") esp_alg_name = v;
        else if (k == "--only") only = v; // base | nemo: one phase, for profiling
        else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 2;
        }
    }
    auto method = method_from_name(method_name_arg);
    const bool esp = method && (*method == TunnelMethod::esp || *method == TunnelMethod::esp_udp);
    const auto esp_alg = esp_algorithm_from_name(esp_alg_name);
    if (pcap.empty() || !method || (direction != "down" && direction != "up") || !esp_alg) {
        std::fprintf(stderr, "usage: pipeline_bench --pcap FILE --direction down|up --method ipip|gre|udp|ipv6|esp|esp-udp "
                             "--bindings N [--seconds S] [--esp-alg ALG]\n");
        return 2;
    }
    const std::string mem = bindings > 100000 ? "4096" : "1536";
    std::vector<std::string> eal = {argv[0], "--no-huge", "-m", mem, "--no-pci", "--no-shconf", "-l", "0-1",
                                    "--file-prefix=pipeline-bench", "--log-level=lib.eal:error",
                                    "--vdev=net_pcap0,rx_pcap=" + pcap + ",infinite_rx=1", "--vdev=net_null0,no-rx=1"};
    if (const char* env = getenv("NEMO_EAL_ARGS")) {
        eal = {argv[0]};
        std::string s = env;
        for (std::size_t i = 0; i < s.size();) {
            auto j = s.find(' ', i);
            if (j == std::string::npos) j = s.size();
            if (j > i) eal.push_back(s.substr(i, j - i));
            i = j + 1;
        }
    }
    std::vector<char*> eal_argv;
    for (auto& a : eal) eal_argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) return 1;
    const unsigned worker_lcore = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);

    // net_pcap with infinite_rx keeps the whole pcap in mbufs: room for 65536 packets and the pipeline.
    rte_mempool* pool = rte_pktmbuf_pool_create("bench_mbufs", 98303, 256, dp::kMbufPrivSize, RTE_MBUF_DEFAULT_BUF_SIZE,
                                                static_cast<int>(rte_socket_id()));
    if (pool) dp::prefault_mempool(pool);
    if (!pool || rte_eth_dev_get_port_by_name("net_pcap0", &g_rx_port) != 0 ||
        rte_eth_dev_get_port_by_name("net_null0", &g_tx_port) != 0 || !start(g_rx_port, pool) || !start(g_tx_port, pool)) {
        std::fprintf(stderr, "port setup failed\n");
        return 1;
    }

    // Tables with N bindings of the requested method, and static gateways.
    std::string err;
    dp::BindingTables::Params tp;
    tp.name = "bench";
    tp.capacity = bindings;
    tp.home_prefix = *Prefix6::parse("2001:db8:1::/64");
    auto tables = dp::BindingTables::create(tp, &err);
    auto neighbors = dp::Neighbors::create("bench", 1024, &err);
    if (!tables || !neighbors) {
        std::fprintf(stderr, "%s\n", err.c_str());
        return 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < bindings; ++i) {
        Binding b;
        b.hoa = hoa_of(i);
        b.coa.method = *method;
        b.coa.peer = Ipv4Addr{0x64400000u + i};
        b.coa.peer_port = 5555;
        b.coa.v6 = *Ipv6Addr::parse("2001:db8:ffff::5");
        b.prefixes = {mnp_of(i)};
        if (tables->publish(i, b, &err) != dp::BindingTables::PublishError::none) {
            std::fprintf(stderr, "publish %u: %s\n", i, err.c_str());
            return 1;
        }
    }
    // ESP: an outbound and an inbound SA for each binding.
    std::unique_ptr<dp::SaTable> sas;
    if (esp) {
        sas = std::make_unique<dp::SaTable>(tables->rcu(), /*allow_manual_gcm=*/true, /*lanes=*/1); // a lab
        tables->attach_sas(sas.get());
        std::vector<SaConfig> all;
        for (uint32_t i = 0; i < bindings; ++i) {
            for (bool inbound : {false, true}) {
                SaConfig sa;
                sa.inbound = inbound;
                sa.spi = (inbound ? 0x20000 : 0x10000) + i;
                sa.hoa = hoa_of(i);
                sa.algorithm = *esp_alg;
                sa.anti_replay = false;
                // Keys of its own for every SA (the table refuses shared keys).
                sa.enc_key.assign(esp_enc_key_len(*esp_alg), inbound ? 0xC3 : 0x5A);
                sa.auth_key.assign(esp_auth_key_len(*esp_alg), inbound ? 0x3C : 0xA5);
                std::memcpy(sa.enc_key.data(), &i, sizeof i);
                if (!sa.auth_key.empty()) std::memcpy(sa.auth_key.data(), &i, sizeof i);
                all.push_back(std::move(sa));
            }
        }
        if (auto e = sas->add_all(all)) {
            std::fprintf(stderr, "SAs: %s\n", e->c_str());
            return 1;
        }
    }
    const double publish_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto gw4 = *Ipv4Addr::parse("198.51.100.254");
    const auto gw6 = *Ipv6Addr::parse("2001:db8:1::fe");
    neighbors->set(gw4, *MacAddr::parse("02:00:00:00:00:fe"), true);
    neighbors->set(gw6, *MacAddr::parse("02:00:00:00:00:fe"), true);

    rte_ring* punt = rte_ring_create("bench_punt", 1024, static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
    dp::LcoreCounters counters;
    dp::WorkerConfig wc;
    wc.reader_id = 0;
    const bool down = direction == "down";
    wc.home.port = down ? g_rx_port : g_tx_port;
    wc.access.port = down ? g_tx_port : g_rx_port;
    wc.access.mtu = wc.home.mtu = 9000;
    wc.access.gateway4 = gw4;
    wc.home.gateway6 = gw6;
    wc.access.mac = wc.home.mac = *MacAddr::parse("02:00:00:00:00:01");
    wc.tables = tables.get();
    wc.neighbors = neighbors.get();
    wc.sas = sas.get();
    wc.punt = punt;
    wc.pool = pool;
    wc.self = dp::TunnelSelf{*Ipv4Addr::parse("198.51.100.1"), *Ipv6Addr::parse("2001:db8:1::1"), 4191};
    wc.ha_ipv6 = {wc.self.ipv6};
    wc.dhaad_anycast = home_agents_anycast(tp.home_prefix.value());
    wc.counters = &counters;
    wc.stop = &g_stop;
    dp::WorkerRuntime runtime; // one burst in 16 timed per stage, as the daemon's `show runtime`
    wc.runtime = &runtime;
    dp::Worker worker(wc);

    const double base = only == "nemo" ? 1 : measure(bare_forward, nullptr, worker_lcore, seconds);
    // The touch table: the size of nemo-ha's prefix table for this many bindings (ForwardTable: a
    // power of two of 64-byte buckets, one per key it may hold, capacity x 1.5 + 64).
    const std::size_t touch_bytes = std::max<std::size_t>(std::bit_ceil(bindings + bindings / 2 + 64) * std::size_t{64}, 2u << 20);
    void* touch_mem = mmap(nullptr, touch_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    double touch = 0;
    if (touch_mem != MAP_FAILED && only.empty()) {
        madvise(touch_mem, touch_bytes, MADV_HUGEPAGE);
        std::memset(touch_mem, 1, touch_bytes);
        g_touch.lines = static_cast<const uint64_t*>(touch_mem);
        g_touch.mask = std::bit_floor(touch_bytes / 64) - 1;
        if (!down) // Ethernet, IPv4, the method's header, then the inner IPv6 source
            g_touch.offset = static_cast<uint16_t>(14 + 20 + (*method == TunnelMethod::gre ? 4 : *method == TunnelMethod::udp ? 8 : 0) + 8);
        touch = measure(touch_forward, nullptr, worker_lcore, seconds);
    }
    const double nemo = only == "base" ? 0 : measure(dp::Worker::run, &worker, worker_lcore, seconds);
    const uint64_t encap = counters.encap[static_cast<std::size_t>(*method)].load();
    const uint64_t decap = counters.decap[static_cast<std::size_t>(*method)].load();
    std::printf("pcap=%s direction=%s method=%s%s%s bindings=%u publish_s=%.2f\n", pcap.c_str(), direction.c_str(),
                method_name_arg.c_str(), esp ? " esp_alg=" : "", esp ? esp_alg_name.c_str() : "", bindings, publish_s);
    if (touch > 0)
        std::printf("touch_forward_mpps=%.3f touch_ratio=%.3f (the bare forward plus one table line a packet)\n", touch,
                    touch / base);
    std::printf("bare_forward_mpps=%.3f nemo_mpps=%.3f ratio=%.3f %s=%lu no_binding=%lu spoofed=%lu\n", base, nemo,
                nemo / base, down ? "encap" : "decap", static_cast<unsigned long>(down ? encap : decap),
                static_cast<unsigned long>(counters.c[static_cast<std::size_t>(dp::DpCounter::no_binding)].load()),
                static_cast<unsigned long>(counters.c[static_cast<std::size_t>(dp::DpCounter::spoofed)].load()));
    if (nemo > 0) { // where the worker's time went: TSC cycles a packet per stage, and in all
        std::printf("cycles_per_packet total=%.0f", static_cast<double>(rte_get_tsc_hz()) / (nemo * 1e6));
        for (std::size_t i = 0; i < dp::kStageCount; ++i) {
            const uint64_t pk = runtime.packets[i].load(), cy = runtime.cycles[i].load();
            std::printf(" %s=%.0f", dp::stage_name(static_cast<dp::Stage>(i)), pk ? static_cast<double>(cy) / static_cast<double>(pk) : 0.0);
        }
        std::printf(" (stages of the timed bursts; the rest is RX and the loop)\n");
    }
    if (esp) { // where ESP packets that did not make it went
        uint64_t icv = 0, other = 0;
        for (const dp::SaEntry* e : sas->list()) {
            icv += e->get(dp::SaCounter::drop_icv);
            for (auto k : {dp::SaCounter::drop_padding, dp::SaCounter::drop_truncated, dp::SaCounter::drop_wrong_binding,
                           dp::SaCounter::drop_replayed, dp::SaCounter::drop_too_old})
                other += e->get(k);
        }
        std::printf("esp drop_icv=%lu other_sa_drops=%lu unknown_spi=%lu malformed=%lu no_sa=%lu\n", static_cast<unsigned long>(icv),
                    static_cast<unsigned long>(other),
                    static_cast<unsigned long>(counters.c[static_cast<std::size_t>(dp::DpCounter::esp_unknown_spi)].load()),
                    static_cast<unsigned long>(counters.c[static_cast<std::size_t>(dp::DpCounter::esp_malformed)].load()),
                    static_cast<unsigned long>(counters.c[static_cast<std::size_t>(dp::DpCounter::esp_no_sa)].load()));
    }
    if (touch_mem != MAP_FAILED) munmap(touch_mem, touch_bytes);
    rte_eth_dev_stop(g_rx_port);
    rte_eth_dev_stop(g_tx_port);
    sas.reset();
    tables.reset();
    neighbors.reset();
    rte_eal_cleanup();
    return 0;
}
