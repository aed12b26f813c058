// ESP's transform on one core: encrypt (encap) and verify+decrypt (decap) of one packet at a time, as
// the worker does, for each algorithm at 64, 512 and 1420 bytes of payload. scripts/bench_esp.sh runs it
// next to dpdk-test-crypto-perf (crypto_aesni_gcm / crypto_aesni_mb) in the same run for the ratio.
#include <benchmark/benchmark.h>

#include <vector>

#include "esp.hpp"
#include "esp_transform.hpp"
#include "proto.hpp"

using namespace nemo;

namespace {

struct Setup {
    std::unique_ptr<EspTransform> t;
    std::vector<uint8_t> buf;
    std::size_t plain = 0;
};

Setup make(EspAlgorithm alg, std::size_t payload)
{
    std::vector<uint8_t> enc(esp_enc_key_len(alg), 0x5A), auth(esp_auth_key_len(alg), 0xA5);
    std::string err;
    Setup s;
    s.t = EspTransform::create(alg, enc, auth, &err);
    const std::size_t pad = wire::esp_pad_len(payload, s.t->block());
    s.plain = payload + pad + wire::kEspTrailerLen;
    s.buf.assign(8 + s.t->iv_len() + s.plain + s.t->icv_len(), 0x33);
    wire::write_esp_header(s.buf.data(), 0x1001, 1);
    wire::write_esp_trailer(s.buf.data() + 8 + s.t->iv_len() + payload, pad, wire::ipproto::ipv6);
    return s;
}

void BM_EspEncrypt(benchmark::State& state)
{
    ImbManager m;
    auto s = make(static_cast<EspAlgorithm>(state.range(0)), static_cast<std::size_t>(state.range(1)));
    uint64_t seq = 1;
    for (auto _ : state) {
        wire::write_esp_header(s.buf.data(), 0x1001, static_cast<uint32_t>(seq));
        benchmark::DoNotOptimize(s.t->encrypt(m, s.buf.data(), s.plain, seq++, false));
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * state.range(1));
    state.SetLabel(std::string(esp_algorithm_name(static_cast<EspAlgorithm>(state.range(0)))));
}

void BM_EspDecrypt(benchmark::State& state)
{
    ImbManager m;
    auto s = make(static_cast<EspAlgorithm>(state.range(0)), static_cast<std::size_t>(state.range(1)));
    s.t->encrypt(m, s.buf.data(), s.plain, 1, false);
    const std::vector<uint8_t> sealed = s.buf;
    bool ok = true;
    for (auto _ : state) {
        // Decryption is in place: start each round from the sealed packet (a 64-1500 byte copy).
        std::copy(sealed.begin(), sealed.end(), s.buf.begin());
        ok &= s.t->decrypt(m, s.buf.data(), s.buf.size(), 1, false);
    }
    if (!ok) state.SkipWithError("ICV did not verify");
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * state.range(1));
    state.SetLabel(std::string(esp_algorithm_name(static_cast<EspAlgorithm>(state.range(0)))));
}

void sizes(benchmark::internal::Benchmark* b)
{
    for (int alg : {0, 1, 2})
        for (int size : {64, 512, 1420}) b->Args({alg, size});
}

BENCHMARK(BM_EspEncrypt)->Apply(sizes);
BENCHMARK(BM_EspDecrypt)->Apply(sizes);

} // namespace

BENCHMARK_MAIN();
