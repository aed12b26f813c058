// libFuzzer target: the data plane as a hostile peer sees it. Each input is a run of frames
// ([length, 2 bytes big-endian][frame]...) received by a Worker on a ring port (tests/dpdk/worker_rig.hpp)
// that has a binding of every tunnel method and ESP SAs of both algorithms families; the worker's state
// (reassembly table, replay windows) carries over from input to input, as it would on the wire. Whatever
// comes in, the worker must not crash, and every mbuf it does not keep must come back to the pool.
#include <rte_eal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../dpdk/worker_rig.hpp"

using namespace nemo;
using namespace nemo::test;

namespace {

WorkerRig* g_rig = nullptr;
dp::SaTable* g_sas = nullptr;

Prefix6 prefix_n(unsigned n)
{
    Ipv6Addr a = kMnpA.addr;
    a.bytes[5] = static_cast<uint8_t>(0x10 + n);
    return Prefix6{a, 48};
}

Ipv6Addr hoa_n(unsigned n)
{
    Ipv6Addr a = kHoa;
    a.bytes[15] = static_cast<uint8_t>(0x10 + n);
    return a;
}

// Keys of its own for every SA (the table refuses shared keys): the SPI in the first bytes.
SaConfig sa(bool inbound, uint32_t spi, const Ipv6Addr& hoa, EspAlgorithm alg)
{
    std::vector<uint8_t> enc(esp_enc_key_len(alg), 0x42), auth(esp_auth_key_len(alg), 0x24);
    std::memcpy(enc.data(), &spi, sizeof spi);
    if (!auth.empty()) std::memcpy(auth.data(), &spi, sizeof spi);
    return make_sa(inbound, spi, hoa, alg, std::move(enc), std::move(auth));
}

bool set_up()
{
    static std::string prefix = "--file-prefix=fuzz-worker-" + std::to_string(getpid());
    std::vector<std::string> args = {"fuzz_worker", "--no-huge", "-m", "512", "--no-pci", "--no-shconf", "-l", "0",
                                     "--log-level=*:crit", prefix};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) return false;
    auto* rig = new WorkerRig;
    std::string err;
    if (!rig->init("fz", &err) || !rig->bind(TunnelMethod::ipip, &err) || !rig->open_ring_port("fz", &err)) {
        std::fprintf(stderr, "fuzz_worker: %s\n", err.c_str());
        return false;
    }
    // Another router per method, all behind the same care-of address (allowed: a shared NAT).
    const TunnelMethod others[] = {TunnelMethod::gre, TunnelMethod::udp, TunnelMethod::esp, TunnelMethod::esp_udp,
                                   TunnelMethod::ipv6};
    for (unsigned i = 0; i < std::size(others); ++i) {
        Binding b;
        b.hoa = hoa_n(i);
        b.coa.method = others[i];
        b.coa.peer = kCoa4;
        b.coa.peer_port = kMrPort;
        b.coa.v6 = kCoa6;
        b.prefixes = {prefix_n(i)};
        if (rig->tables->publish(1 + i, b, &err) != dp::BindingTables::PublishError::none) return false;
    }
    g_sas = new dp::SaTable(rig->tables->rcu(), /*allow_manual_gcm=*/true); // a lab
    if (g_sas->add(sa(true, 0x100, hoa_n(2), EspAlgorithm::aes_gcm_128)) ||
        g_sas->add(sa(false, 0x200, hoa_n(2), EspAlgorithm::aes_gcm_256)) ||
        g_sas->add(sa(true, 0x101, hoa_n(3), EspAlgorithm::aes_cbc_128_hmac_sha256)) ||
        g_sas->add(sa(false, 0x201, hoa_n(3), EspAlgorithm::aes_cbc_128_hmac_sha256)))
        return false;
    rig->start_worker(rig->ring_port, g_sas, false, 16);
    g_rig = rig;
    return true;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    if (!set_up()) {
        std::fprintf(stderr, "fuzz_worker: set-up failed\n");
        std::abort();
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    WorkerRig& rig = *g_rig;
    std::size_t at = 0;
    for (int frames = 0; frames < 48 && at + 2 <= size; ++frames) {
        const std::size_t len = std::min<std::size_t>((std::size_t{data[at]} << 8 | data[at + 1]) % 1601, size - at - 2);
        if (len) rig.receive(data + at + 2, len);
        at += 2 + len;
    }
    rig.worker->poll();
    rig.worker->poll();
    for (rte_mbuf* m : rig.sent()) rte_pktmbuf_free(m);
    void* m;
    while (rte_ring_dequeue(rig.punt, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    // Every mbuf is back but those the reassembly table holds (at most 16 packets of 8 fragments).
    if (rte_mempool_in_use_count(rig.pool) > 16 * 8) {
        std::fprintf(stderr, "fuzz_worker: %u mbufs not returned\n", rte_mempool_in_use_count(rig.pool));
        std::abort();
    }
    return 0;
}
