// Golden send/expect pcap pairs (tests/fixtures/golden, written by scripts/gen_golden_pcaps.py with
// scapy): the worker reads each send pcap from a net_pcap port (rx_pcap) and writes what it sends to
// another pcap (tx_pcap), which must hold exactly the expected frames, byte for byte, in order; and the
// counters must be what <case>-counters.txt says, every one it does not list zero. One binding per case,
// over the case's tunnel method (a mobile host's for arp-nd; SAs for the ESP pairs); see the generator for
// the rules each pair encodes.
#include <gtest/gtest.h>
#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_ip.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bytes.hpp"
#include "worker_rig.hpp"

using namespace nemo;
using namespace nemo::test;

namespace {

using Frame = std::vector<uint8_t>;

// The frames of a classic pcap file (either byte order, micro- or nanosecond timestamps).
std::vector<Frame> read_pcap(const std::string& path, std::string* err)
{
    std::ifstream in(path, std::ios::binary);
    const std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<Frame> frames;
    if (b.size() < 24) {
        *err = path + ": not a pcap file";
        return frames;
    }
    const uint32_t magic = wire::load_be32(b.data());
    const bool swapped = magic == 0xD4C3B2A1 || magic == 0x4D3CB2A1; // little-endian on the wire
    if (!swapped && magic != 0xA1B2C3D4 && magic != 0xA1B23C4D) {
        *err = path + ": not a pcap file";
        return frames;
    }
    auto u32 = [&](std::size_t at) {
        const uint32_t v = wire::load_be32(b.data() + at);
        return swapped ? __builtin_bswap32(v) : v;
    };
    for (std::size_t at = 24; at + 16 <= b.size();) {
        const uint32_t len = u32(at + 8);
        if (at + 16 + len > b.size()) {
            *err = path + ": truncated record";
            break;
        }
        frames.emplace_back(b.begin() + static_cast<long>(at + 16), b.begin() + static_cast<long>(at + 16 + len));
        at += 16 + len;
    }
    return frames;
}

std::string hex(const Frame& f)
{
    std::ostringstream o;
    for (std::size_t i = 0; i < f.size(); ++i) {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%02x", f[i]);
        o << buf << (i % 16 == 15 ? "\n" : " ");
    }
    return o.str();
}

// The counters as `show stats` names them (nemo_ha.cpp), and each SA's as sa.0x<spi>.<counter>.
std::map<std::string, uint64_t> counters_of(const dp::LcoreCounters& c, const dp::SaTable* sas)
{
    std::map<std::string, uint64_t> out;
    auto dashes = [](std::string n) {
        for (char& ch : n)
            if (ch == '-') ch = '_';
        return n;
    };
    for (std::size_t k = 0; k < dp::kDpCounterCount; ++k) out[dp::dp_counter_name(static_cast<dp::DpCounter>(k))] = c.c[k].load();
    for (std::size_t r = 1; r < static_cast<std::size_t>(DropReason::count_); ++r)
        out[dashes(std::string("drop_") + drop_reason_name(static_cast<DropReason>(r)))] = c.classify_drops[r].load();
    for (int m = 0; m < kTunnelMethodCount; ++m) {
        const std::string name = dashes(std::string(method_name(static_cast<TunnelMethod>(m))));
        out["encap_" + name] = c.encap[static_cast<std::size_t>(m)].load();
        out["decap_" + name] = c.decap[static_cast<std::size_t>(m)].load();
    }
    if (sas)
        for (const dp::SaEntry* e : sas->list()) {
            char spi[16];
            std::snprintf(spi, sizeof spi, "0x%x", e->cfg.spi);
            for (std::size_t k = 0; k < static_cast<std::size_t>(dp::SaCounter::count_); ++k)
                out[std::string("sa.") + spi + "." + dp::sa_counter_name(static_cast<dp::SaCounter>(k))] =
                    e->get(static_cast<dp::SaCounter>(k));
        }
    return out;
}

// <case>-counters.txt: `name value` lines, `#` to the end of a line a comment.
std::map<std::string, uint64_t> read_counters(const std::string& path, std::string* err)
{
    std::ifstream in(path);
    std::map<std::string, uint64_t> out;
    if (!in) {
        *err = path + ": cannot read";
        return out;
    }
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        line = line.substr(0, line.find('#'));
        std::istringstream words(line);
        std::string name;
        uint64_t value = 0;
        if (!(words >> name)) continue;
        std::string rest;
        if (!(words >> value) || (words >> rest) || out.count(name)) {
            *err = path + ":" + std::to_string(n) + ": expected `name value` once per name";
            return out;
        }
        out[name] = value;
    }
    return out;
}

// The ESP pairs' SAs (scripts/gen_golden_pcaps.py has the same): hand-keyed AES-CBC + HMAC-SHA-256.
constexpr uint32_t kSpiIn = 0x1001, kSpiOut = 0x2001;
std::vector<uint8_t> key_run(uint8_t first, std::size_t n)
{
    std::vector<uint8_t> k(n);
    for (std::size_t i = 0; i < n; ++i) k[i] = static_cast<uint8_t>(first + i);
    return k;
}

enum class Setup : uint8_t {
    router, // the scenario's mobile router: home address and prefix
    host,   // a mobile host: its home address only, defended on the home link
    esp,    // the router, with an inbound and an outbound SA
};

struct Case {
    const char* name;
    TunnelMethod method;
    Setup setup = Setup::router;
};

class Golden : public ::testing::TestWithParam<Case> {};

TEST_P(Golden, WorkerSendsExactlyTheExpectedFrames)
{
    const Case c = GetParam();
    const std::string dir = std::string(NEMO_FIXTURE_DIR) + "/golden/";
    const std::string send = dir + c.name + "-send.pcap", expect = dir + c.name + "-expect.pcap";
    const std::string out = "/tmp/nemo-golden-" + std::to_string(getpid()) + "-" + c.name + ".pcap";
    const std::string vdev = std::string("net_pcap_") + c.name;
    std::string err;
    const auto sent_in = read_pcap(send, &err);
    const auto expected = read_pcap(expect, &err);
    ASSERT_TRUE(err.empty()) << err;
    ASSERT_FALSE(sent_in.empty());

    const auto want = read_counters(dir + c.name + "-counters.txt", &err);
    ASSERT_TRUE(err.empty()) << err;
    ASSERT_LE(sent_in.size(), dp::kBurst) << "the generator's order of TX frames assumes one burst";

    std::unique_ptr<dp::SaTable> sas; // outlives the rig's worker
    WorkerRig rig;
    static int instance = 0; // DPDK object names are short: a number, not the case's name
    ASSERT_TRUE(rig.init("gold" + std::to_string(instance++), &err)) << err;
    ASSERT_TRUE(c.setup == Setup::host ? rig.bind_host(c.method, &err) : rig.bind(c.method, &err)) << err;
    if (c.setup == Setup::esp) {
        const EspAlgorithm alg = EspAlgorithm::aes_cbc_128_hmac_sha256;
        sas = std::make_unique<dp::SaTable>(rig.tables->rcu());
        ASSERT_FALSE(sas->add(make_sa(true, kSpiIn, kHoa, alg, key_run(0x10, 16), key_run(0x20, 32))));
        ASSERT_FALSE(sas->add(make_sa(false, kSpiOut, kHoa, alg, key_run(0x50, 16), key_run(0x60, 32))));
    }
    ASSERT_EQ(rte_vdev_init(vdev.c_str(), ("rx_pcap=" + send + ",tx_pcap=" + out).c_str()), 0);
    uint16_t port = 0;
    ASSERT_EQ(rte_eth_dev_get_port_by_name(vdev.c_str(), &port), 0);
    rte_eth_conf conf{};
    ASSERT_EQ(rte_eth_dev_configure(port, 1, 1, &conf), 0);
    ASSERT_EQ(rte_eth_rx_queue_setup(port, 0, 256, 0, nullptr, rig.pool), 0);
    ASSERT_EQ(rte_eth_tx_queue_setup(port, 0, 256, 0, nullptr), 0);
    ASSERT_EQ(rte_eth_dev_start(port), 0);
    rig.start_worker(port, sas.get());
    // A finite rx_pcap: everything arrives in the first poll (one burst), nothing after.
    for (int i = 0; i < 64; ++i) rig.worker->poll();
    EXPECT_EQ(rig.counters.c[static_cast<std::size_t>(dp::DpCounter::rx)].load(), sent_in.size());
    EXPECT_EQ(rig.counters.c[static_cast<std::size_t>(dp::DpCounter::polls)].load(), 64u); // the heartbeat: one a turn
    auto have = counters_of(rig.counters, sas.get());
    have.erase("polls"); // not a packet counter: checked above
    for (const auto& [name, value] : want) {
        const auto it = have.find(name);
        if (it == have.end())
            ADD_FAILURE() << c.name << "-counters.txt names no counter: " << name;
        else
            EXPECT_EQ(it->second, value) << "counter " << name;
    }
    for (const auto& [name, value] : have) {
        if (!want.count(name)) {
            EXPECT_EQ(value, 0u) << "counter " << name << " (not in " << c.name << "-counters.txt)";
        }
    }
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
    rte_vdev_uninit(vdev.c_str()); // closes the tx pcap
    rig.release();

    const auto got = read_pcap(out, &err);
    std::remove(out.c_str());
    ASSERT_TRUE(err.empty()) << err;
    ASSERT_EQ(got.size(), expected.size()) << "frames sent";
    for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i], expected[i]) << "frame " << i << "\ngot:\n" << hex(got[i]) << "\nexpected:\n" << hex(expected[i]);
}

INSTANTIATE_TEST_SUITE_P(Pairs, Golden,
                         ::testing::Values(Case{"down-ipip", TunnelMethod::ipip}, Case{"down-gre", TunnelMethod::gre},
                                           Case{"down-udp", TunnelMethod::udp}, Case{"down-ip6ip6", TunnelMethod::ipv6},
                                           Case{"up-ipip", TunnelMethod::ipip}, Case{"up-gre", TunnelMethod::gre},
                                           Case{"up-udp", TunnelMethod::udp}, Case{"up-ip6ip6", TunnelMethod::ipv6},
                                           Case{"up-ipip-fragments", TunnelMethod::ipip},
                                           Case{"up-udp-fragments", TunnelMethod::udp},
                                           // The error paths.
                                           Case{"up-ipip-spoofed", TunnelMethod::ipip},
                                           Case{"up-gre-spoofed", TunnelMethod::gre},
                                           Case{"up-udp-spoofed", TunnelMethod::udp},
                                           Case{"up-ip6ip6-spoofed", TunnelMethod::ipv6},
                                           Case{"down-ipip-time-exceeded", TunnelMethod::ipip},
                                           Case{"down-gre-time-exceeded", TunnelMethod::gre},
                                           Case{"down-udp-time-exceeded", TunnelMethod::udp},
                                           Case{"down-ip6ip6-time-exceeded", TunnelMethod::ipv6},
                                           Case{"up-ipip-time-exceeded", TunnelMethod::ipip},
                                           Case{"up-gre-time-exceeded", TunnelMethod::gre},
                                           Case{"up-udp-time-exceeded", TunnelMethod::udp},
                                           Case{"up-ip6ip6-time-exceeded", TunnelMethod::ipv6},
                                           Case{"down-ipip-too-big", TunnelMethod::ipip},
                                           Case{"down-gre-too-big", TunnelMethod::gre},
                                           Case{"down-udp-too-big", TunnelMethod::udp},
                                           Case{"down-ip6ip6-too-big", TunnelMethod::ipv6},
                                           Case{"up-ipip-too-big", TunnelMethod::ipip},
                                           Case{"up-udp-too-big", TunnelMethod::udp},
                                           Case{"arp-nd", TunnelMethod::ipip, Setup::host},
                                           Case{"nd-invalid-dad", TunnelMethod::ipip, Setup::host},
                                           Case{"up-esp", TunnelMethod::esp, Setup::esp},
                                           Case{"down-esp", TunnelMethod::esp, Setup::esp}),
                         [](const auto& p) {
                             std::string n = p.param.name;
                             for (char& ch : n)
                                 if (ch == '-') ch = '_';
                             return n;
                         });

// The downstream IPv4 pairs again with the access port's IPv4 checksum offload on (a ring port: the
// mbufs are visible). The worker must leave the checksum to the NIC: zero in the header, and
// RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM with the header lengths in the mbuf. Completed as a NIC
// would (DPDK's rte_ipv4_cksum), every frame is the golden one.
TEST(GoldenOffload, OuterIpv4ChecksumLeftToTheNic)
{
    for (const Case c : {Case{"down-ipip", TunnelMethod::ipip}, Case{"down-gre", TunnelMethod::gre},
                         Case{"down-udp", TunnelMethod::udp}}) {
        SCOPED_TRACE(c.name);
        const std::string dir = std::string(NEMO_FIXTURE_DIR) + "/golden/";
        std::string err;
        const auto in = read_pcap(dir + c.name + "-send.pcap", &err);
        const auto expected = read_pcap(dir + c.name + "-expect.pcap", &err);
        ASSERT_TRUE(err.empty()) << err;
        WorkerRig rig;
        const std::string name = std::string("offl_") + c.name;
        ASSERT_TRUE(rig.init(name, &err)) << err;
        ASSERT_TRUE(rig.bind(c.method, &err)) << err;
        ASSERT_TRUE(rig.open_ring_port(name, &err)) << err;
        rig.start_worker(rig.ring_port, nullptr, true);
        for (const Frame& f : in) ASSERT_TRUE(rig.receive(f.data(), f.size()));
        rig.worker->poll();
        const auto out = rig.sent();
        ASSERT_EQ(out.size(), expected.size());
        for (std::size_t i = 0; i < out.size(); ++i) {
            rte_mbuf* m = out[i];
            EXPECT_EQ(m->ol_flags & (RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM), RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM);
            EXPECT_EQ(m->l2_len, 14u);
            EXPECT_EQ(m->l3_len, 20u);
            auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
            EXPECT_EQ(ip->hdr_checksum, 0) << "left to the NIC";
            ip->hdr_checksum = rte_ipv4_cksum(ip);
            const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
            EXPECT_EQ(Frame(d, d + rte_pktmbuf_data_len(m)), expected[i]) << "frame " << i;
            rte_pktmbuf_free(m);
        }
    }
}

} // namespace
