// `show runtime`: a worker on a ring port (worker_rig.hpp) times its stages per burst into its
// WorkerRuntime block; the control plane shows it, per worker, as text and JSON, and `clear runtime`
// starts it from zero again.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config.hpp"
#include "control_plane.hpp"
#include "ethernet.hpp"
#include "ipv4.hpp"
#include "ipv6.hpp"
#include "proto.hpp"
#include "worker_rig.hpp"
#include "worker_runtime.hpp"

using namespace nemo;
using namespace nemo::test;
using namespace nemo::wire;

namespace {

std::vector<uint8_t> ipv6_packet(const Ipv6Addr& src, const Ipv6Addr& dst, std::size_t payload = 32)
{
    std::vector<uint8_t> p(kIpv6HeaderLen + payload);
    write_ipv6_header(p.data(), Ipv6Header{0, 0, static_cast<uint16_t>(payload), ipproto::no_next, 64, src, dst});
    return p;
}

std::vector<uint8_t> ether(uint16_t type, const std::vector<uint8_t>& l3)
{
    std::vector<uint8_t> f(kEtherHeaderLen);
    write_ether_header(f.data(), kHaMac, kGwMac, type);
    f.insert(f.end(), l3.begin(), l3.end());
    return f;
}

// From the core to a host in the router's prefix: downstream.
std::vector<uint8_t> down_frame() { return ether(ethertype::ipv6, ipv6_packet(kCn, kHost)); }

// IPv6-in-IPv4 from the router's care-of address, from a host in its prefix to the correspondent: upstream.
std::vector<uint8_t> up_frame()
{
    const std::vector<uint8_t> inner = ipv6_packet(kHost, kCn);
    std::vector<uint8_t> p(kIpv4MinHeaderLen);
    Ipv4Header h;
    h.total_len = static_cast<uint16_t>(kIpv4MinHeaderLen + inner.size());
    h.protocol = ipproto::ipv6;
    h.src = kCoa4;
    h.dst = kHa4;
    write_ipv4_header(p.data(), h);
    p.insert(p.end(), inner.begin(), inner.end());
    return ether(ethertype::ipv4, p);
}

uint64_t stage_packets(const dp::WorkerRuntime& rt, dp::Stage s) { return rt.packets[static_cast<std::size_t>(s)].load(); }
uint64_t stage_cycles(const dp::WorkerRuntime& rt, dp::Stage s) { return rt.cycles[static_cast<std::size_t>(s)].load(); }

struct Runtime : ::testing::Test {
    WorkerRig rig;
    dp::WorkerRuntime rt;
    std::string name;
    uint32_t time_one_burst_in = 1; // every burst timed, unless a test says otherwise

    void SetUp() override { start(); }
    void start()
    {
        static int instance = 0;
        name = "rt" + std::to_string(instance++);
        std::string err;
        ASSERT_TRUE(rig.init(name, &err)) << err;
        ASSERT_TRUE(rig.bind(TunnelMethod::ipip, &err)) << err;
        ASSERT_TRUE(rig.open_ring_port(name, &err)) << err;
        rig.neighbors->set(kCn, kGwMac, true);
        rig.start_worker(rig.ring_port, nullptr, false, 64, [this](dp::WorkerConfig& wc) {
            wc.runtime = &rt;
            wc.time_one_burst_in = time_one_burst_in;
        });
    }
    void TearDown() override
    {
        rig.worker.reset();
        rig.release();
    }
    void receive(const std::vector<uint8_t>& f, int times)
    {
        for (int i = 0; i < times; ++i) ASSERT_TRUE(rig.receive(f.data(), f.size()));
    }
};

TEST_F(Runtime, DownstreamBurstMovesClassifyLookupEncapAndTx)
{
    rig.worker->poll(); // an empty turn: a poll, no burst, nothing timed
    EXPECT_EQ(rt.bursts.load(), 0u);
    for (std::size_t s = 0; s < dp::kStageCount; ++s) EXPECT_EQ(rt.cycles[s].load(), 0u) << s;
    receive(down_frame(), 8);
    rig.worker->poll();
    EXPECT_EQ(rig.sent_frames().size(), 8u);
    EXPECT_EQ(rt.bursts.load(), 1u);
    EXPECT_EQ(rig.counters.c[static_cast<std::size_t>(dp::DpCounter::polls)].load(), 2u);
    for (dp::Stage s : {dp::Stage::classify, dp::Stage::lookup, dp::Stage::encap, dp::Stage::tx}) {
        EXPECT_EQ(stage_packets(rt, s), 8u) << dp::stage_name(s);
        EXPECT_GT(stage_cycles(rt, s), 0u) << dp::stage_name(s);
    }
    EXPECT_EQ(stage_packets(rt, dp::Stage::esp), 0u);
    EXPECT_EQ(stage_cycles(rt, dp::Stage::esp), 0u);
    // A second burst adds to the first.
    const uint64_t classify_before = stage_cycles(rt, dp::Stage::classify);
    receive(down_frame(), 4);
    rig.worker->poll();
    EXPECT_EQ(rt.bursts.load(), 2u);
    EXPECT_EQ(stage_packets(rt, dp::Stage::encap), 12u);
    EXPECT_GT(stage_cycles(rt, dp::Stage::classify), classify_before);
    rig.sent_frames();
}

// The default: one burst in 16 timed, the first among them; bursts and packets counted on every one.
struct SampledRuntime : Runtime {
    void SetUp() override {}
};

TEST_F(SampledRuntime, OneBurstInNIsTimed)
{
    time_one_burst_in = 3; // rounded up to 4
    start();
    EXPECT_EQ(rt.timed_one_burst_in.load(), 4u);
    for (int burst = 0; burst < 9; ++burst) {
        receive(down_frame(), burst + 1);
        rig.worker->poll();
        rig.sent_frames();
    }
    EXPECT_EQ(rt.bursts.load(), 9u);
    EXPECT_EQ(rig.counters.c[static_cast<std::size_t>(dp::DpCounter::rx)].load(), 45u);
    // Timed: bursts 0, 4 and 8, of 1, 5 and 9 packets.
    for (dp::Stage s : {dp::Stage::classify, dp::Stage::lookup, dp::Stage::encap, dp::Stage::tx})
        EXPECT_EQ(stage_packets(rt, s), 15u) << dp::stage_name(s);
    EXPECT_EQ(dp::runtime_sample(rt, rig.counters).timed_one_burst_in, 4u);
}

TEST_F(Runtime, UpstreamBurstMovesLookupAndForwarding)
{
    receive(up_frame(), 5);
    rig.worker->poll();
    EXPECT_EQ(rig.sent_frames().size(), 5u);
    EXPECT_EQ(rig.counters.decap[static_cast<std::size_t>(TunnelMethod::ipip)].load(), 5u);
    for (dp::Stage s : {dp::Stage::classify, dp::Stage::lookup, dp::Stage::encap, dp::Stage::tx}) {
        EXPECT_EQ(stage_packets(rt, s), 5u) << dp::stage_name(s);
        EXPECT_GT(stage_cycles(rt, s), 0u) << dp::stage_name(s);
    }
}

// Frames the classifier drops are classified, and go no further.
TEST_F(Runtime, DroppedFramesCountOnlyInClassify)
{
    std::vector<uint8_t> junk = down_frame();
    junk[kEtherHeaderLen] = 0x45; // says IPv4 in an IPv6 frame
    receive(junk, 3);
    rig.worker->poll();
    EXPECT_EQ(rt.bursts.load(), 1u);
    EXPECT_EQ(stage_packets(rt, dp::Stage::classify), 3u);
    for (dp::Stage s : {dp::Stage::lookup, dp::Stage::encap, dp::Stage::tx}) EXPECT_EQ(stage_packets(rt, s), 0u) << dp::stage_name(s);
}

std::unique_ptr<control::ControlPlane> control_plane(const std::string& dir, std::string* err)
{
    const std::string text = "[ha]\nipv6 = 2001:db8:1::1\nipv4 = 192.0.2.1\nhome_prefix = 2001:db8:1::/64\n"
                             "[cli]\nsocket = " + dir + "/cli.sock\n";
    auto cfg = control::parse_config_text(text, "runtime-test.ini");
    if (auto* e = std::get_if<std::string>(&cfg)) {
        *err = *e;
        return nullptr;
    }
    return control::ControlPlane::create(std::get<control::Config>(cfg), err);
}

TEST_F(Runtime, ShowRuntimeTextJsonAndClear)
{
    char dir[] = "/tmp/nemo-rt-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    std::string err;
    auto cp = control_plane(dir, &err);
    ASSERT_TRUE(cp) << err;
    // Without workers (a control plane alone) the command says so, refused.
    auto none = cp->run_command({"show", "runtime"}, 0);
    EXPECT_FALSE(none.ok);
    EXPECT_NE(none.body.find("no workers"), std::string::npos) << none.body;
    cp->set_runtime_stats([this] { return std::vector<dp::RuntimeSample>{dp::runtime_sample(rt, rig.counters)}; });

    receive(down_frame(), 10);
    rig.worker->poll();
    rig.sent_frames();
    auto text = cp->run_command({"show", "runtime"}, 0);
    ASSERT_TRUE(text.ok) << text.body;
    EXPECT_NE(text.body.find("WORKER"), std::string::npos) << text.body;
    for (std::size_t s = 0; s < dp::kStageCount; ++s) EXPECT_NE(text.body.find(dp::stage_name(static_cast<dp::Stage>(s))), std::string::npos);
    // Worker 0: 1 poll, 1 burst, 10 packets, 10.0 a burst.
    EXPECT_NE(text.body.find("\n0  "), std::string::npos) << text.body;
    EXPECT_NE(text.body.find("10.0"), std::string::npos) << text.body;
    EXPECT_NE(text.body.find("one burst in 1\n"), std::string::npos) << text.body;

    auto json = cp->run_command({"--json", "show", "runtime"}, 0);
    ASSERT_TRUE(json.ok) << json.body;
    EXPECT_NE(json.body.find("\"tsc_hz\":" + std::to_string(rte_get_tsc_hz())), std::string::npos) << json.body;
    EXPECT_NE(json.body.find("\"bursts\":1,\"packets\":10,\"packets_per_burst\":10.000,\"timed_one_burst_in\":1"), std::string::npos) << json.body;
    EXPECT_NE(json.body.find("\"encap\":{\"packets\":10,\"cycles\":"), std::string::npos) << json.body;
    EXPECT_NE(json.body.find("\"esp\":{\"packets\":0,\"cycles\":0,\"cycles_per_packet\":0.000}"), std::string::npos) << json.body;

    auto cleared = cp->run_command({"clear", "runtime"}, 0);
    ASSERT_TRUE(cleared.ok) << cleared.body;
    json = cp->run_command({"--json", "show", "runtime"}, 0);
    EXPECT_NE(json.body.find("\"polls\":0,\"bursts\":0,\"packets\":0"), std::string::npos) << json.body;
    EXPECT_NE(json.body.find("\"encap\":{\"packets\":0,\"cycles\":0,"), std::string::npos) << json.body;
    // And counts on from there.
    receive(down_frame(), 3);
    rig.worker->poll();
    rig.sent_frames();
    json = cp->run_command({"--json", "show", "runtime"}, 0);
    EXPECT_NE(json.body.find("\"polls\":1,\"bursts\":1,\"packets\":3"), std::string::npos) << json.body;
    EXPECT_FALSE(cp->run_command({"show", "runtime", "now"}, 0).ok);
    cp.reset();
    std::filesystem::remove_all(dir);
}

} // namespace
