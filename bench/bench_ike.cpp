// IKEv2 on one core: (a) new IKE SAs per second through the responder (control/ike/ike_responder) with
// ECP-256, AES-GCM-128 and a PSK: IKE_SA_INIT + IKE_AUTH with a CHILD_SA per iteration, from the test
// initiator (tests/unit/ike_initiator.hpp), the responder's SA changes going to a fake host; the time spent
// inside the responder (handle + poll) is measured apart, for its own rate; (b) one ECP-256 DH operation
// (generate + shared_secret), the floor of what an IKE_SA_INIT costs each side. The ratio (a)/(b) says
// how close the whole exchange comes to that cost (each side does one DH operation per IKE SA). Rates are
// per CPU second of this thread (the machine may be shared); the responder's share is its thread CPU time.
//
//   build/bench/bench_ike --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <time.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "ike_crypto.hpp"
#include "ike_initiator.hpp"
#include "ike_responder.hpp"
#include "log.hpp"

using namespace nemo;
using namespace nemo::ike;

namespace {

// The thread's CPU time: the machine may be shared, and only this thread's work is the responder's.
std::chrono::nanoseconds thread_cpu()
{
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

// A host that takes every change (the SA table's own cost is measured by control_bench and esp_bench).
class BenchHost : public IkeHost {
public:
    std::map<uint32_t, SaConfig> sas;
    IkePeer mr;
    std::optional<std::string> change_sas(std::span<const uint32_t> gone, std::span<const SaConfig> add) override
    {
        for (uint32_t spi : gone) sas.erase(spi);
        for (const SaConfig& a : add) sas[a.spi] = a;
        return std::nullopt;
    }
    bool spi_taken(uint32_t spi) const override { return sas.count(spi) != 0; }
    std::optional<uint32_t> outbound_spi(const Ipv6Addr& hoa, bool* negotiated) const override
    {
        for (const auto& [spi, s] : sas)
            if (!s.inbound && s.hoa == hoa) {
                *negotiated = true;
                return spi;
            }
        return std::nullopt;
    }
    uint64_t inbound_packets(uint32_t) const override { return 0; }
    std::optional<IkePeer> peer(const std::string& id) const override
    {
        if (id == mr.id) return mr;
        return std::nullopt;
    }
};

void BM_IkeSaSetup(benchmark::State& state)
{
    BenchHost host;
    test::Initiator proto_mr;
    host.mr.id = proto_mr.id;
    host.mr.hoa = *Ipv6Addr::parse("2001:db8:1::100");
    host.mr.prefixes = {*Prefix6::parse("2001:db8:100::/48")};
    host.mr.psk = proto_mr.psk;
    IkeConfig cfg;
    cfg.id = "fqdn:ha.example.net";
    cfg.local = *Ipv4Addr::parse("192.0.2.1");
    IkeResponder r(cfg, host);
    // INITIAL_CONTACT: each new IKE SA replaces the last one, so the tables stay one router's size.
    NotifyPayload ic;
    ic.type = notify::initial_contact;
    const std::vector<TrafficSelector> any{test::ts_any6()};
    uint64_t now = 1'000'000;
    std::chrono::nanoseconds in_responder{0};
    std::vector<Datagram> out;
    int64_t failed = 0;
    auto through = [&](Datagram d) {
        out.clear();
        const auto t0 = thread_cpu();
        r.handle(std::move(d), now, out);
        r.poll(now, out);
        in_responder += thread_cpu() - t0;
    };
    for (auto _ : state) {
        test::Initiator mr;
        mr.responder_id = cfg.id;
        through(mr.init());
        if (out.size() != 1 || !mr.on_init(out[0])) {
            ++failed;
            continue;
        }
        through(mr.auth(any, any, {}, {ic}));
        if (out.size() != 1 || !mr.on_auth(out[0]) || mr.children.size() != 1) ++failed;
        benchmark::DoNotOptimize(mr.children);
        ++now;
    }
    if (failed) state.SkipWithError("an exchange failed");
    const double iters = static_cast<double>(state.iterations());
    state.counters["ike_sas_per_s"] = benchmark::Counter(iters, benchmark::Counter::kIsRate);
    const double resp_s = std::chrono::duration<double>(in_responder).count();
    state.counters["responder_ike_sas_per_s"] = resp_s > 0 ? iters / resp_s : 0;
    state.counters["responder_us_per_sa"] = iters > 0 ? resp_s * 1e6 / iters : 0;
    state.counters["established"] = static_cast<double>(r.get(IkeCounter::established));
}
BENCHMARK(BM_IkeSaSetup)->Unit(benchmark::kMicrosecond);

void BM_Ecp256Dh(benchmark::State& state)
{
    std::string err;
    auto peer = DhKey::generate(DhGroup::ecp256, &err);
    const std::vector<uint8_t> peer_pub = peer->public_value();
    for (auto _ : state) {
        auto k = DhKey::generate(DhGroup::ecp256, &err);
        auto g = k->shared_secret(peer_pub);
        benchmark::DoNotOptimize(g);
    }
    state.counters["dh_ops_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Ecp256Dh)->Unit(benchmark::kMicrosecond);

} // namespace

int main(int argc, char** argv)
{
    // The responder logs each IKE SA at info; the benchmark measures the exchange, not the terminal.
    log::configure(log::Target::stderr_plain, log::Level::warning);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
