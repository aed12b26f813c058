// Control-plane benchmarks on one thread (needs EAL; run it as documented in bench/README.md):
//   BM_BuToBa/N        a BU packet in, decision, binding cache and tables updated, BA packet out,
//                      with N mobile routers provisioned (and as many bindings built up as it runs)
//   BM_DecisionOnly/N  the pure decide_binding_update() alone, as the baseline of the same run
//   BM_DownstreamBulk/N  bursts of 32 destination lookups in tables holding N bindings
//   BM_UpstreamBulk/N    bursts of 32 upstream checks (inner source lookup + tunnel far end match)
//   BM_TableMemory/N   bytes per binding (tables + records + cache entry), reported as a counter
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <rte_eal.h>
#include <rte_malloc.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_eal.hpp"
#include "bench_routers.hpp"
#include "bu_decision.hpp"
#include "control_plane.hpp"
#include "ipv6.hpp"
#include "mobility_header.hpp"
#include "proto.hpp"

using namespace nemo;
using namespace nemo::wire;
using namespace nemo::control;

namespace {

using nemo::bench::coa_of;
using nemo::bench::hoa_of;
using nemo::bench::kHa6;
using nemo::bench::kHome;
using nemo::bench::mnp_of;


// Built once per size and kept for every benchmark of that size; freed before EAL is.
std::map<uint32_t, std::unique_ptr<ControlPlane>> g_planes;
std::map<uint32_t, std::unique_ptr<dp::BindingTables>> g_tables;

// A control plane with routers 0..n-1 provisioned (each a HoA and one prefix).
std::unique_ptr<ControlPlane> provisioned_plane(uint32_t n)
{
    Config c;
    c.ha.home_prefix = kHome;
    c.ha.ipv6_addresses = {kHa6};
    c.ha.allow_unprotected_signaling = true;
    c.binding_capacity = n;
    c.origin = "bench";
    std::string err;
    auto cp = ControlPlane::create(c, &err);
    if (!cp) throw std::runtime_error(err);
    for (uint32_t i = 0; i < n; ++i) {
        MrProvision mr;
        mr.hoa = hoa_of(i);
        mr.prefixes = {mnp_of(i)};
        if (auto e = cp->provisioning().add(mr)) throw std::runtime_error(*e);
    }
    return cp;
}

// One control plane per size: provisioning N routers is not what is measured.
ControlPlane& control_plane(uint32_t n)
{
    auto& cp = g_planes[n];
    if (!cp) cp = provisioned_plane(n);
    return *cp;
}

// The inner IPv6 packet of a v4 BU (IPv4 CoA option, I, one MNP) from router i.
std::vector<uint8_t> bu_packet(uint32_t i, uint16_t seq)
{
    BindingUpdate bu;
    bu.seq = seq;
    bu.flags = bu_flag::A | bu_flag::H | bu_flag::R;
    bu.lifetime = 150;
    bu.options.ipv4_coa = Ipv4CoaOption{v4flag::I, 0, coa_of(i)};
    bu.options.add_prefix(mnp_of(i));
    std::vector<uint8_t> p(256);
    auto len = build_binding_update(std::span(p).subspan(40), bu, hoa_of(i), kHa6);
    write_ipv6_header(p.data(), Ipv6Header{0, 0, static_cast<uint16_t>(*len), ipproto::mobility, 64, hoa_of(i), kHa6});
    p.resize(40 + *len);
    return p;
}

void BM_BuToBa(benchmark::State& state)
{
    const auto n = static_cast<uint32_t>(state.range(0));
    ControlPlane& cp = control_plane(n);
    std::mt19937 rng(7);
    // Sequence numbers live as long as the control plane: Google Benchmark calls this more than once.
    static std::map<uint32_t, std::vector<uint16_t>> seqs;
    std::vector<uint16_t>& seq = seqs[n];
    seq.resize(n, 0);
    std::vector<Outbound> out;
    out.reserve(4);
    uint64_t accepted_before = cp.stats().get(Counter::bus_accepted);
    // Packets are prepared outside the timed region in batches: building the BU is the MR's work.
    constexpr std::size_t kBatch = 1024;
    std::vector<std::vector<uint8_t>> batch(kBatch);
    std::vector<uint32_t> who(kBatch);
    std::size_t next = kBatch;
    for (auto _ : state) {
        if (next == kBatch) {
            state.PauseTiming();
            for (std::size_t k = 0; k < kBatch; ++k) {
                who[k] = static_cast<uint32_t>(rng() % n);
                batch[k] = bu_packet(who[k], ++seq[who[k]]);
            }
            next = 0;
            state.ResumeTiming();
        }
        Punted p;
        p.via = TunnelMethod::ipip;
        p.outer_src = coa_of(who[next]);
        p.ipv6 = batch[next++];
        out.clear();
        cp.handle_signal(p, 1000, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations());
    const uint64_t accepted = cp.stats().get(Counter::bus_accepted) - accepted_before;
    state.counters["accepted_ratio"] = static_cast<double>(accepted) / static_cast<double>(state.iterations());
    state.counters["bindings"] = static_cast<double>(cp.cache().size());
}
BENCHMARK(BM_BuToBa)->Arg(1000)->Arg(1000000)->Unit(benchmark::kNanosecond);

void BM_DecisionOnly(benchmark::State& state)
{
    const auto n = static_cast<uint32_t>(state.range(0));
    ControlPlane& cp = control_plane(n);
    std::mt19937 rng(9);
    const HaParams& params = cp.config().ha;
    BuArrival a;
    a.via = TunnelMethod::ipip;
    a.dst = kHa6;
    a.protected_by_hoa_sa = true;
    BindingUpdate bu;
    bu.flags = bu_flag::A | bu_flag::H | bu_flag::R;
    bu.lifetime = 150;
    uint16_t seq = 0;
    for (auto _ : state) {
        const auto i = static_cast<uint32_t>(rng() % n);
        a.src = hoa_of(i);
        a.outer_src = coa_of(i);
        bu.seq = ++seq;
        bu.options.ipv4_coa = Ipv4CoaOption{v4flag::I, 0, coa_of(i)};
        bu.options.mnp_count = 0;
        bu.options.add_prefix(mnp_of(i));
        const MrProvision* mr = cp.provisioning().find(a.src);
        auto d = decide_binding_update(bu, a, params, mr, nullptr, 1000);
        benchmark::DoNotOptimize(d);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecisionOnly)->Arg(1000)->Arg(1000000);

// Tables with n bindings published directly (no signaling), shared by the lookup benchmarks.
dp::BindingTables& tables_with(uint32_t n)
{
    auto& t = g_tables[n];
    if (!t) {
        std::string err;
        dp::BindingTables::Params p;
        p.name = "bench" + std::to_string(n);
        p.capacity = n;
        p.home_prefix = kHome;
        t = dp::BindingTables::create(p, &err);
        if (!t) throw std::runtime_error(err);
        for (uint32_t i = 0; i < n; ++i) {
            Binding b;
            b.hoa = hoa_of(i);
            b.coa.method = TunnelMethod::ipip;
            b.coa.peer = coa_of(i);
            b.prefixes = {mnp_of(i)};
            if (t->publish(i, b, &err) != dp::BindingTables::PublishError::none) throw std::runtime_error(err);
        }
    }
    return *t;
}

// Bursts of 32 lookups over `addrs` (a power-of-two pool, walked in order): items per second and the
// share that found a binding.
template <class Lookup>
void run_bursts(benchmark::State& state, const std::vector<Ipv6Addr>& addrs, Lookup lookup)
{
    std::vector<const Ipv6Addr*> ptrs(addrs.size());
    for (std::size_t i = 0; i < addrs.size(); ++i) ptrs[i] = &addrs[i];
    const dp::FastBinding* out[32];
    std::size_t pos = 0, hits = 0;
    for (auto _ : state) {
        lookup(&ptrs[pos], pos, out);
        for (auto* r : out) hits += r != nullptr;
        pos = (pos + 32) & (addrs.size() - 1);
    }
    state.SetItemsProcessed(state.iterations() * 32);
    state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(state.iterations() * 32);
}

void BM_DownstreamBulk(benchmark::State& state)
{
    const auto n = static_cast<uint32_t>(state.range(0));
    dp::BindingTables& t = tables_with(n);
    // A large pool of destinations inside random mobile network prefixes, walked in order.
    std::mt19937 rng(3);
    std::vector<Ipv6Addr> dsts(1 << 16);
    for (auto& d : dsts) {
        d = mnp_of(static_cast<uint32_t>(rng() % n)).addr;
        d.bytes[15] = static_cast<uint8_t>(rng());
    }
    run_bursts(state, dsts, [&](const Ipv6Addr* const* addrs, std::size_t, const dp::FastBinding** out) {
        t.lookup_downstream_bulk(addrs, 32, out);
    });
}
BENCHMARK(BM_DownstreamBulk)->Arg(1000)->Arg(1000000);

void BM_UpstreamBulk(benchmark::State& state)
{
    const auto n = static_cast<uint32_t>(state.range(0));
    dp::BindingTables& t = tables_with(n);
    // Decapsulated packets: inner source in a random router's prefix, outer source its care-of address.
    std::mt19937 rng(5);
    std::vector<Ipv6Addr> srcs(1 << 16);
    std::vector<Ipv4Addr> outer(srcs.size());
    for (std::size_t i = 0; i < srcs.size(); ++i) {
        const auto r = static_cast<uint32_t>(rng() % n);
        srcs[i] = mnp_of(r).addr;
        srcs[i].bytes[15] = static_cast<uint8_t>(rng());
        outer[i] = coa_of(r);
    }
    run_bursts(state, srcs, [&](const Ipv6Addr* const* addrs, std::size_t pos, const dp::FastBinding** out) {
        t.match_upstream_bulk(addrs, &outer[pos], nullptr, TunnelMethod::ipip, 32, out);
    });
}
BENCHMARK(BM_UpstreamBulk)->Arg(1000)->Arg(1000000);

// Memory that n bindings take: the forwarding tables' buckets (which need not be in DPDK's heap), DPDK
// heap, and C++ heap (records, cache entries), per binding.
void BM_TableMemory(benchmark::State& state)
{
    const auto n = static_cast<uint32_t>(state.range(0));
    for (auto _ : state) {
        rte_malloc_socket_stats before{}, after{};
        rte_malloc_get_socket_stats(0, &before);
        const auto heap_before = mallinfo2().uordblks;
        {
            auto cp = provisioned_plane(n);
            const auto heap_prov = mallinfo2().uordblks;
            std::vector<Outbound> out;
            for (uint32_t i = 0; i < n; ++i) {
                auto pkt = bu_packet(i, 1);
                Punted p;
                p.via = TunnelMethod::ipip;
                p.outer_src = coa_of(i);
                p.ipv6 = pkt;
                out.clear();
                cp->handle_signal(p, 1000, out);
            }
            rte_malloc_get_socket_stats(0, &after);
            const auto heap_after = mallinfo2().uordblks;
            const std::size_t tables = cp->tables().table_bytes_outside_dpdk();
            state.counters["bytes_per_binding"] = static_cast<double>(
                (after.heap_allocsz_bytes - before.heap_allocsz_bytes) + (heap_after - heap_prov) + tables) / n;
            state.counters["anon_table_bytes_per_binding"] = static_cast<double>(tables) / n;
            state.counters["dpdk_bytes_per_binding"] =
                static_cast<double>(after.heap_allocsz_bytes - before.heap_allocsz_bytes) / n;
            state.counters["provisioning_bytes_per_mr"] = static_cast<double>(heap_prov - heap_before) / n;
            state.counters["bindings"] = static_cast<double>(cp->cache().size());
        }
    }
}
BENCHMARK(BM_TableMemory)->Arg(100000)->Iterations(1)->Unit(benchmark::kMillisecond);

} // namespace

// EAL arguments: NEMO_EAL_ARGS (space separated) or, by default, the no-hugepage set this project's
// machines need. With hugepages set up, e.g. NEMO_EAL_ARGS="-m 2048 --no-pci --no-shconf -l 0".
int main(int argc, char** argv)
{
    if (!nemo::bench::init_eal_from_env("control_bench")) return 1;
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    g_planes.clear();
    g_tables.clear();
    rte_eal_cleanup();
    return 0;
}
