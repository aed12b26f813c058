// dataplane/daemon/metrics_collect: what the endpoint exports, from real counters, an SA table and the
// control loop's snapshot; the text judged by promtool.
#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "metrics_collect.hpp"
#include "rcu_fixture.hpp"

using namespace nemo;

namespace {

using test::Rcu;

// The value of the one series `name{labels}` (labels as written, in order), or -1.
double value(const std::string& text, const std::string& series)
{
    const std::string head = series + " ";
    for (std::size_t at = 0; (at = text.find(head, at)) != std::string::npos; at += head.size())
        if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + head.size()));
    return -1;
}

int promtool_status(const std::string& text, std::string* said)
{
    char path[] = "/tmp/nemo-metrics-collect-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return -1;
    close(fd);
    const std::string cmd = std::string(NEMO_PROMTOOL) + " check metrics < " + path + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return -1;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) *said += buf;
    const int st = pclose(p);
    unlink(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

SaConfig sa(bool inbound, uint32_t spi, uint8_t fill)
{
    SaConfig c;
    c.inbound = inbound;
    c.spi = spi;
    c.hoa = *Ipv6Addr::parse("2001:db8:1::200");
    c.algorithm = EspAlgorithm::aes_gcm_128;
    c.enc_key.assign(20, fill);
    c.enc_key[0] = 0x7E; // a key of its own for each
    c.enc_key[1] = static_cast<uint8_t>(spi);
    return c;
}

template <class Bytes>
std::string to_hex(const Bytes& b)
{
    std::string out;
    char buf[3];
    for (uint8_t x : b) {
        std::snprintf(buf, sizeof buf, "%02x", x);
        out += buf;
    }
    return out;
}

constexpr uint16_t kNoPort = RTE_MAX_ETHPORTS - 1; // no device: no port series

} // namespace

TEST(MetricsCollect, LabelsNotNamesAndPromtoolAcceptsIt)
{
    control::Stats stats;
    std::vector<dp::LcoreCounters> workers(2);
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable sas(rcu.v, /*allow_manual_gcm=*/true);
    const SaConfig in = sa(true, 0x1001, 0xA5), out = sa(false, 0x2001, 0xC3);
    const std::string in_key = to_hex(in.enc_key), out_key = to_hex(out.enc_key);
    ASSERT_FALSE(sas.add(in));
    ASSERT_FALSE(sas.add(out));
    ASSERT_TRUE(sas.outbound_for(out.hoa)->take_seq());
    ASSERT_TRUE(sas.outbound_for(out.hoa)->take_seq());
    sas.inbound(0x1001)->inc(dp::SaCounter::drop_replayed, 4);
    sas.outbound_for(out.hoa)->inc(dp::SaCounter::seq_abandoned, 6);

    stats.inc(control::Counter::status_tunnel);
    stats.inc(control::Counter::status_135, 2);
    stats.inc(control::Counter::drop_bad_checksum, 3);
    stats.inc(control::Counter::bindings_expired, 9);
    stats.set(control::Counter::prefix_tables, 2);
    workers[1].classify_drops[static_cast<std::size_t>(DropReason::vlan_tagged)] = 7;
    workers[1].encap[static_cast<std::size_t>(TunnelMethod::esp_udp)] = 5;
    workers[0].inc(dp::DpCounter::no_binding, 11);
    workers[0].inc(dp::DpCounter::rx, 12);

    dp::MetricsSources src;
    src.stats = &stats;
    src.workers = workers;
    src.sas = &sas;
    src.access_port = src.home_port = kNoPort;
    src.status_tunnel = 150; // ha.status_tunnel_unsupported
    dp::MetricsCollector c(src);
    for (int i = 0; i < 5; ++i) c.turn();
    const std::string text = c.render();

    EXPECT_EQ(value(text, R"(nemo_ha_binding_acks_rejected_total{status="150"})"), 1) << "the configured status";
    EXPECT_EQ(value(text, R"(nemo_ha_binding_acks_rejected_total{status="144"})"), -1);
    EXPECT_EQ(value(text, R"(nemo_ha_binding_acks_rejected_total{status="135"})"), 2);
    EXPECT_EQ(value(text, R"(nemo_ha_signaling_dropped_total{reason="bad_checksum"})"), 3);
    EXPECT_EQ(value(text, R"(nemo_ha_bindings_removed_total{reason="expired"})"), 9);
    EXPECT_EQ(value(text, "nemo_ha_prefix_tables"), 2);
    EXPECT_NE(text.find("# TYPE nemo_ha_prefix_tables gauge\n"), std::string::npos);
    EXPECT_NE(text.find("mip6HaSeqNumberOutOfWindow"), std::string::npos) << "RFC 4295 names in HELP";
    EXPECT_EQ(value(text, R"(nemo_ha_worker_classify_dropped_total{worker="1",reason="vlan-tagged"})"), 7);
    EXPECT_EQ(value(text, R"(nemo_ha_worker_classify_dropped_total{worker="0",reason="vlan-tagged"})"), 0);
    EXPECT_EQ(value(text, R"(nemo_ha_worker_encapsulated_total{worker="1",method="esp-udp"})"), 5);
    EXPECT_EQ(value(text, R"(nemo_ha_worker_dropped_total{worker="0",reason="no_binding"})"), 11);
    EXPECT_EQ(value(text, R"(nemo_ha_worker_rx_total{worker="0"})"), 12);
    EXPECT_EQ(value(text, "nemo_ha_control_loop_turns_total"), 5);
    EXPECT_EQ(value(text, R"(nemo_ha_sa_sequence_numbers_used{spi="0x2001",direction="out"})"), 2);
    EXPECT_EQ(value(text, R"(nemo_ha_sa_sequence_numbers_abandoned_total{spi="0x2001",direction="out"})"), 6);
    EXPECT_EQ(value(text, R"(nemo_ha_sa_dropped_total{spi="0x1001",direction="in",reason="replayed"})"), 4);
    EXPECT_EQ(value(text, R"(nemo_ha_sa_info{spi="0x1001",direction="in",hoa="2001:db8:1::200",algorithm="aes-gcm-128"})"), 1);
    EXPECT_EQ(text.find("\nnemo_ha_port_"), std::string::npos) << "no samples for a port that is not there";
    EXPECT_NE(text.find("\n# TYPE nemo_ha_port_received_packets_total counter\n"), std::string::npos);
    for (const std::string& k : {in_key, out_key}) {
        EXPECT_EQ(text.find(k), std::string::npos);
        EXPECT_EQ(text.find(k.substr(4, 16)), std::string::npos);
    }
    EXPECT_EQ(text.find("metrics error"), std::string::npos) << text;
    std::string said;
    EXPECT_EQ(promtool_status(text, &said), 0) << said;
    EXPECT_EQ(said, "") << "no lint problem";

    // The SA list is the control loop's copy: a removed SA stays until the next publication, a second on.
    ASSERT_TRUE(sas.remove(0x1001));
    c.turn();
    EXPECT_EQ(value(c.render(), R"(nemo_ha_sa_packets_total{spi="0x1001",direction="in"})"), 0) << "the copy of before";
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    c.turn();
    const std::string later = c.render();
    EXPECT_EQ(value(later, R"(nemo_ha_sa_packets_total{spi="0x1001",direction="in"})"), -1) << "gone from the next copy";
    EXPECT_EQ(value(later, R"(nemo_ha_sa_packets_total{spi="0x2001",direction="out"})"), 0);
    EXPECT_LT(value(later, "nemo_ha_snapshot_age_seconds"), 0.5);
    sas.reclaim();
}

TEST(MetricsCollect, HeartbeatAgeRisesForTheStalledWorkerOnly)
{
    control::Stats stats;
    std::vector<dp::LcoreCounters> workers(2);
    dp::MetricsSources src;
    src.stats = &stats;
    src.workers = workers;
    src.access_port = src.home_port = kNoPort;
    dp::MetricsCollector c(src);
    c.turn();
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    workers[0].inc(dp::DpCounter::polls); // worker 0 advances; worker 1 does not
    const std::string text = c.render();
    EXPECT_LT(value(text, R"(nemo_ha_worker_heartbeat_age_seconds{worker="0"})"), 0.2);
    EXPECT_GE(value(text, R"(nemo_ha_worker_heartbeat_age_seconds{worker="1"})"), 1.1);
    // The control loop did not turn for as long.
    EXPECT_GE(value(text, "nemo_ha_control_loop_last_turn_age_seconds"), 1.1);
    c.turn();
    EXPECT_LT(value(c.render(), "nemo_ha_control_loop_last_turn_age_seconds"), 0.2);
}

// The server's thread renders while the control loop turns, changes the SA set and frees removed SAs:
// render() reads only the copy (run under ASan or TSan, a read of a freed SA would show).
TEST(MetricsCollect, RenderWhileTheControlLoopChangesTheSas)
{
    control::Stats stats;
    std::vector<dp::LcoreCounters> workers(1);
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable sas(rcu.v, /*allow_manual_gcm=*/true);
    dp::MetricsSources src;
    src.stats = &stats;
    src.workers = workers;
    src.sas = &sas;
    src.access_port = src.home_port = kNoPort;
    dp::MetricsCollector c(src);
    std::atomic<bool> stop{false};
    std::atomic<int> renders{0}, bad{0};
    std::thread server([&] {
        while (!stop.load()) {
            const std::string t = c.render();
            if (t.find("# TYPE nemo_ha_sa_packets_total counter\n") == std::string::npos) ++bad;
            ++renders;
        }
    });
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
    uint32_t spi = 0x5000;
    while (std::chrono::steady_clock::now() < until) {
        ASSERT_FALSE(sas.add(sa(true, spi, 0x11)));
        c.turn();
        stats.inc(control::Counter::bus_received);
        workers[0].inc(dp::DpCounter::polls);
        ASSERT_TRUE(sas.remove(spi));
        sas.reclaim();
        c.turn();
        ++spi;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stop = true;
    server.join();
    EXPECT_GT(renders.load(), 10);
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(value(c.render(), "nemo_ha_control_loop_turns_total"), 100);
}
