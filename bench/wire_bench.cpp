// Micro-benchmarks of the signaling wire formats: what one BU costs to parse and validate, one BA to
// build, and the Internet checksum per size. BM_Baseline_* measure a plain copy of the same bytes in the
// same run, so that figures are read as ratios on a shared, noisy machine.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "checksum.hpp"
#include "ipv6.hpp"
#include "mobility_header.hpp"
#include "proto.hpp"

using namespace nemo;
using namespace nemo::wire;

namespace {

const Ipv6Addr kHoa = *Ipv6Addr::parse("2001:db8:1::100");
const Ipv6Addr kHa = *Ipv6Addr::parse("2001:db8:1::1");

// IPv6 header + a BU with the IPv4 CoA option and `prefixes` Mobile Network Prefix options.
std::vector<uint8_t> make_bu_packet(int prefixes)
{
    BindingUpdate bu;
    bu.seq = 1000;
    bu.flags = bu_flag::A | bu_flag::H | bu_flag::R;
    bu.lifetime = 150;
    bu.options.ipv4_coa = Ipv4CoaOption{v4flag::I, 0, *Ipv4Addr::parse("198.51.100.10")};
    for (int i = 0; i < prefixes; ++i) {
        auto p = *Ipv6Addr::parse("2001:db8:aaaa::");
        p.bytes[5] = static_cast<uint8_t>(i);
        bu.options.add_prefix(Prefix6::make(p, 48));
    }
    std::vector<uint8_t> pkt(1500);
    auto len = build_binding_update(std::span(pkt).subspan(kIpv6HeaderLen), bu, kHoa, kHa);
    write_ipv6_header(pkt.data(), Ipv6Header{0, 0, static_cast<uint16_t>(*len), ipproto::mobility, 64, kHoa, kHa});
    pkt.resize(kIpv6HeaderLen + *len);
    return pkt;
}

void BM_BuParseValidate(benchmark::State& state)
{
    const auto pkt = make_bu_packet(static_cast<int>(state.range(0)));
    for (auto _ : state) {
        auto ip = parse_ipv6_packet(pkt);
        auto mh = parse_mh(ip->upper);
        bool ok = mh_checksum_ok(*mh, ip->checksum_src(), ip->checksum_dst());
        auto bu = parse_binding_update(*mh);
        benchmark::DoNotOptimize(ok);
        benchmark::DoNotOptimize(bu);
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["bytes"] = static_cast<double>(pkt.size());
}
BENCHMARK(BM_BuParseValidate)->Arg(1)->Arg(8);

void BM_BaBuild(benchmark::State& state)
{
    BindingAck ba;
    ba.status = 0;
    ba.flags = ba_flag::R;
    ba.seq = 1000;
    ba.lifetime = 150;
    ba.options.ipv4_coa = Ipv4CoaOption{v4flag::I, 0, *Ipv4Addr::parse("198.51.100.10")};
    std::vector<uint8_t> out(256);
    for (auto _ : state) {
        auto len = build_binding_ack(out, ba, kHa, kHoa);
        benchmark::DoNotOptimize(len);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaBuild);

void BM_Checksum(benchmark::State& state)
{
    std::vector<uint8_t> data(static_cast<std::size_t>(state.range(0)), 0xA5);
    for (auto _ : state) {
        uint16_t c = inet_checksum(data);
        benchmark::DoNotOptimize(c);
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Checksum)->Arg(64)->Arg(512)->Arg(1500);

// Baseline for BM_Checksum: copying the same number of bytes.
void BM_Baseline_Copy(benchmark::State& state)
{
    std::vector<uint8_t> src(static_cast<std::size_t>(state.range(0)), 0xA5);
    std::vector<uint8_t> dst(src.size());
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data(), src.size());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Baseline_Copy)->Arg(64)->Arg(512)->Arg(1500);

} // namespace

BENCHMARK_MAIN();
