// Golden send/expect pcap pairs (tests/fixtures/golden, written by scripts/gen_golden_pcaps.py with
// scapy): the worker reads each send pcap from a net_pcap port (rx_pcap) and writes what it sends to
// another pcap (tx_pcap), which must hold exactly the expected frames, byte for byte, in order. One
// binding per case, over the case's tunnel method; see the generator for the rules each pair encodes.
#include <gtest/gtest.h>
#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_ip.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
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

struct Case {
    const char* name;
    TunnelMethod method;
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

    WorkerRig rig;
    static int instance = 0; // DPDK object names are short: a number, not the case's name
    ASSERT_TRUE(rig.init("gold" + std::to_string(instance++), &err)) << err;
    ASSERT_TRUE(rig.bind(c.method, &err)) << err;
    ASSERT_EQ(rte_vdev_init(vdev.c_str(), ("rx_pcap=" + send + ",tx_pcap=" + out).c_str()), 0);
    uint16_t port = 0;
    ASSERT_EQ(rte_eth_dev_get_port_by_name(vdev.c_str(), &port), 0);
    rte_eth_conf conf{};
    ASSERT_EQ(rte_eth_dev_configure(port, 1, 1, &conf), 0);
    ASSERT_EQ(rte_eth_rx_queue_setup(port, 0, 256, 0, nullptr, rig.pool), 0);
    ASSERT_EQ(rte_eth_tx_queue_setup(port, 0, 256, 0, nullptr), 0);
    ASSERT_EQ(rte_eth_dev_start(port), 0);
    rig.start_worker(port);
    // A finite rx_pcap: everything arrives in the first few polls.
    for (int i = 0; i < 64; ++i) rig.worker->poll();
    EXPECT_EQ(rig.counters.c[static_cast<std::size_t>(dp::DpCounter::rx)].load(), sent_in.size());
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
                                           Case{"up-udp-fragments", TunnelMethod::udp}),
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
