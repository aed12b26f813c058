// The operator CLI end to end: the control plane serves its socket from a polling thread, as the control
// thread will; nemo-hactl (the real binary) and raw, hostile clients talk to it. Also the same state
// through DPDK telemetry.
#include <gtest/gtest.h>
#include <rte_eal.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <variant>

#include "../unit/fixtures.hpp"
#include "cli_server.hpp"
#include "control_plane.hpp"
#include "ipv4.hpp"

using namespace nemo;
using namespace nemo::control;

#ifndef NEMO_HACTL
#error "NEMO_HACTL must name the nemo-hactl binary"
#endif

namespace {

struct CmdResult {
    int status;
    std::string out;
};

CmdResult run(const std::string& cmd)
{
    std::string out;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

int connect_unix(const std::string& path, int type = SOCK_STREAM)
{
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    int fd = ::socket(AF_UNIX, type, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::string read_all(int fd, int timeout_ms = 3000)
{
    std::string out;
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

class CliTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char dir[] = "/tmp/nemo-cli-XXXXXX";
        ASSERT_TRUE(mkdtemp(dir));
        dir_ = dir;
        socket_ = dir_ + "/cli.sock";
        const std::string text = "[ha]\nipv6 = 2001:db8:1::1\nipv4 = 192.0.2.1\nhome_prefix = 2001:db8:1::/64\n"
                                 "allow_unprotected_signaling = yes\nbinding_capacity = 128\n"
                                 "[cli]\nsocket = " + socket_ + "\n"
                                 "[provisioning]\nmr = 2001:db8:1::100 router prefixes=2001:db8:aaaa::/48,2001:db8:bbbb:1::/64\n"
                                 "[ipsec]\nallow_manual_gcm = yes\n"; // a lab: GCM SAs by hand
        auto cfg = parse_config_text(text, "cli-test.ini");
        ASSERT_TRUE(std::holds_alternative<Config>(cfg)) << std::get<std::string>(cfg);
        std::string err;
        cp_ = ControlPlane::create(std::get<Config>(cfg), &err);
        ASSERT_TRUE(cp_) << err;
        ASSERT_TRUE(cp_->start_cli(&err)) << err;
        // A registration, as a worker would punt it.
        const auto& pkt = nemo::test::scapy_packet("bu_v4coa_ipip");
        auto v4 = wire::parse_ipv4(pkt);
        Punted p;
        p.via = TunnelMethod::ipip;
        p.outer_src = v4->hdr.src;
        p.ipv6 = v4->payload;
        std::vector<Outbound> out;
        cp_->handle_signal(p, monotonic_seconds(), out);
        ASSERT_EQ(out.size(), 1u);
        poller_ = std::thread([this] {
            while (!stop_) {
                cp_->poll(monotonic_seconds());
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        });
    }
    void TearDown() override
    {
        stop_ = true;
        if (poller_.joinable()) poller_.join();
        cp_.reset();
        std::remove(socket_.c_str());
        rmdir(dir_.c_str());
    }
    CmdResult ctl(const std::string& args) { return run(std::string(NEMO_HACTL) + " -s " + socket_ + " " + args); }

    std::string dir_, socket_;
    std::unique_ptr<ControlPlane> cp_;
    std::thread poller_;
    std::atomic<bool> stop_{false};
};

} // namespace

TEST_F(CliTest, ShowBindingsTableAndJson)
{
    auto r = ctl("show bindings");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("HOA"), std::string::npos);
    EXPECT_NE(r.out.find("2001:db8:1::100"), std::string::npos);
    EXPECT_NE(r.out.find("ipip"), std::string::npos);
    EXPECT_NE(r.out.find("198.51.100.10"), std::string::npos);
    EXPECT_NE(r.out.find("2001:db8:aaaa::/48 (+1)"), std::string::npos);
    EXPECT_NE(r.out.find("1 binding(s)"), std::string::npos);

    auto j = ctl("--json show bindings");
    ASSERT_EQ(j.status, 0);
    EXPECT_EQ(j.out.rfind("{\"bindings\":[{\"hoa\":\"2001:db8:1::100\"", 0), 0u) << j.out;
    EXPECT_NE(j.out.find("\"method\":\"ipip\""), std::string::npos);
    EXPECT_NE(j.out.find("\"prefixes\":[\"2001:db8:aaaa::/48\",\"2001:db8:bbbb:1::/64\"]"), std::string::npos);
}

TEST_F(CliTest, Filters)
{
    EXPECT_NE(ctl("show bindings prefix 2001:db8:aaaa:1::/64").out.find("2001:db8:1::100"), std::string::npos);
    EXPECT_NE(ctl("show bindings prefix 2001:db8:cccc::/48").out.find("0 binding(s)"), std::string::npos);
    EXPECT_NE(ctl("show bindings coa 198.51.100.10").out.find("1 binding(s)"), std::string::npos);
    EXPECT_NE(ctl("show bindings coa 198.51.100.11").out.find("0 binding(s)"), std::string::npos);
    EXPECT_NE(ctl("show bindings hoa 2001:db8:1::100").out.find("1 binding(s)"), std::string::npos);
    auto bad = ctl("show bindings prefix nonsense");
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.out.find("not a valid prefix"), std::string::npos);
    EXPECT_NE(bad.out.find("usage:"), std::string::npos);
    auto summary = ctl("--json show bindings summary");
    EXPECT_NE(summary.out.find("\"bindings\":1"), std::string::npos) << summary.out;
    EXPECT_NE(summary.out.find("\"ipip\":1"), std::string::npos);
}

TEST_F(CliTest, ShowAndClearBinding)
{
    auto r = ctl("show binding 2001:db8:1::100");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("sequence number"), std::string::npos);
    EXPECT_NE(r.out.find("1000"), std::string::npos);
    EXPECT_NE(r.out.find("2001:db8:bbbb:1::/64"), std::string::npos);
    EXPECT_EQ(ctl("show binding 2001:db8:1::999").status, 1);
    EXPECT_EQ(ctl("show binding banana").status, 1);
    EXPECT_EQ(ctl("clear binding 2001:db8:1::100").status, 0);
    EXPECT_EQ(ctl("show binding 2001:db8:1::100").status, 1);
    EXPECT_NE(ctl("show stats").out.find("nemoHaBindingsCleared"), std::string::npos);
    EXPECT_NE(ctl("--json show stats").out.find("\"nemoHaBindingsCleared\":1"), std::string::npos);
}

TEST_F(CliTest, StatsConfigVersion)
{
    auto s = ctl("--json show stats");
    ASSERT_EQ(s.status, 0);
    EXPECT_NE(s.out.find("\"mip6HaBUsRecd\":1"), std::string::npos) << s.out;
    EXPECT_NE(s.out.find("\"mip6HaBUsAccepted\":1"), std::string::npos);
    EXPECT_NE(s.out.find("\"nemoHaV4CoaRegistrations\":1"), std::string::npos);
    auto c = ctl("show config");
    EXPECT_NE(c.out.find("home_prefix = 2001:db8:1::/64"), std::string::npos) << c.out;
    EXPECT_NE(ctl("--json show config").out.find("\"ipv4_coa_option_type\":18"), std::string::npos);
    EXPECT_NE(ctl("show version").out.find("nemo-ha "), std::string::npos);
    EXPECT_EQ(ctl("help").status, 0);
}

TEST_F(CliTest, ProvisioningAtRunTime)
{
    EXPECT_EQ(ctl("add mr 2001:db8:1::200 router prefixes=2001:db8:cccc::/48 methods=udp").status, 0);
    auto dup = ctl("add mr 2001:db8:1::200 host");
    EXPECT_EQ(dup.status, 1);
    EXPECT_NE(dup.out.find("already provisioned"), std::string::npos);
    EXPECT_EQ(ctl("add mr --replace 2001:db8:1::200 host").status, 0);
    EXPECT_NE(ctl("show mr 2001:db8:1::200").out.find("2001:db8:1::200 host"), std::string::npos);
    auto overlap = ctl("add mr 2001:db8:1::201 prefixes=2001:db8:aaaa:7::/64");
    EXPECT_EQ(overlap.status, 1);
    EXPECT_NE(overlap.out.find("overlaps"), std::string::npos);
    EXPECT_EQ(ctl("add mr 2001:db8:9::1").status, 1) << "off the home prefix";
    EXPECT_EQ(ctl("add mr 2001:db8:1::202 methods=warp").status, 1);
    EXPECT_NE(ctl("show mr").out.find("2 of 2 provisioned"), std::string::npos);
    // Removing a router with a binding removes the binding too.
    auto del = ctl("del mr 2001:db8:1::100");
    EXPECT_EQ(del.status, 0);
    EXPECT_NE(del.out.find("and its binding"), std::string::npos);
    EXPECT_NE(ctl("show bindings").out.find("0 binding(s)"), std::string::npos);
    EXPECT_EQ(ctl("del mr 2001:db8:1::100").status, 1);
}

TEST_F(CliTest, SecurityAssociationsAtRunTime)
{
    const std::string key = "0102030405060708090a0b0c0d0e0f10cafebabe";
    auto add = ctl("add sa in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + key + " esn");
    ASSERT_EQ(add.status, 0) << add.out;
    EXPECT_EQ(add.out.find("cafebabe"), std::string::npos) << "keys are never printed";
    // Its own keys (the GCM key's AES half would be shared key material).
    EXPECT_EQ(ctl("add sa out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=1112131415161718191a1b1c1d1e1f20 auth="
                  "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f").status, 0);
    auto dup = ctl("add sa in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + key);
    EXPECT_EQ(dup.status, 1);
    EXPECT_NE(dup.out.find("in use"), std::string::npos);
    auto second_out = ctl("add sa out 0x2002 2001:db8:1::100 aes-gcm-128 enc=" + key);
    EXPECT_EQ(second_out.status, 1);
    EXPECT_NE(second_out.out.find("already has an outbound SA"), std::string::npos);
    auto bad = ctl("add sa in 0x1003 2001:db8:1::100 aes-gcm-128 enc=0102");
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.out.find("20 enc="), std::string::npos);
    auto show = ctl("show sa");
    ASSERT_EQ(show.status, 0);
    EXPECT_NE(show.out.find("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=<hidden> esn"), std::string::npos) << show.out;
    EXPECT_EQ(show.out.find("cafebabe"), std::string::npos);
    EXPECT_NE(ctl("--json show sa 0x2001").out.find("\"spi\":8193"), std::string::npos);
    EXPECT_EQ(ctl("show sa 0x9999").status, 1);
    EXPECT_EQ(ctl("del sa 0x1001").status, 0);
    EXPECT_EQ(ctl("del sa 0x1001").status, 1);
    EXPECT_EQ(ctl("del sa banana").status, 1);
    EXPECT_EQ(ctl("show sa").out.find("0x1001"), std::string::npos);
}

// RFC 4303 3.3.3: an outbound SA that has sent its last sequence number is shown as exhausted, with the
// packets it refused, in the table and in JSON.
TEST_F(CliTest, ShowSaSaysWhenAnSaIsExhausted)
{
    ASSERT_EQ(ctl("add sa out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=0102030405060708090a0b0c0d0e0f10 auth="
                  "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f").status, 0);
    auto* sa = cp_->sas().outbound_for(*Ipv6Addr::parse("2001:db8:1::100"));
    ASSERT_TRUE(sa);
    EXPECT_NE(ctl("--json show sa").out.find("\"exhausted\":false"), std::string::npos);
    sa->next_seq.store(uint64_t{1} << 32);
    EXPECT_FALSE(sa->take_seq());
    auto show = ctl("show sa");
    EXPECT_NE(show.out.find("EXHAUSTED"), std::string::npos) << show.out;
    EXPECT_NE(show.out.find("yes (1 dropped)"), std::string::npos) << show.out;
    auto json = ctl("--json show sa").out;
    EXPECT_NE(json.find("\"exhausted\":true"), std::string::npos) << json;
    EXPECT_NE(json.find("\"drop_exhausted\":1"), std::string::npos) << json;
}

// `add sa` with enc=@FILE / auth=@FILE / enc=-: nemo-hactl reads the key (a file only its owner may read,
// or standard input) and sends it, so the key is on no command line; errors name the file, never a key.
TEST_F(CliTest, AddSaReadsKeysFromFilesAndStandardInput)
{
    const std::string enc = dir_ + "/enc.key", auth = dir_ + "/auth.key";
    auto write = [](const std::string& path, const std::string& text, mode_t mode) {
        FILE* f = std::fopen(path.c_str(), "w");
        ASSERT_TRUE(f);
        std::fputs(text.c_str(), f);
        std::fclose(f);
        ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    };
    write(enc, "0102030405060708090a0b0c0d0e0f10\n", 0600);
    write(auth, "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\n", 0600);
    auto ok = ctl("add sa in 0x1001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=@" + enc + " auth=@" + auth);
    ASSERT_EQ(ok.status, 0) << ok.out;
    EXPECT_NE(ok.out.find("enc=<hidden> auth=<hidden>"), std::string::npos) << ok.out;
    // Readable by others: refused by nemo-hactl, naming the file.
    ASSERT_EQ(::chmod(enc.c_str(), 0644), 0);
    auto open = ctl("add sa in 0x1002 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=@" + enc + " auth=@" + auth);
    EXPECT_EQ(open.status, 2);
    EXPECT_NE(open.out.find(enc), std::string::npos) << open.out;
    EXPECT_NE(open.out.find("chmod 600"), std::string::npos) << open.out;
    EXPECT_EQ(open.out.find("0102030405"), std::string::npos) << open.out;
    EXPECT_EQ(ctl("add sa in 0x1002 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=@" + dir_ + "/absent auth=@" + auth).status, 2);
    // From standard input (a pipe here; a terminal gets a prompt without echo).
    auto piped = run("echo 1112131415161718191a1b1c1d1e1f20 | " + std::string(NEMO_HACTL) + " -s " + socket_ +
                     " add sa out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=- auth=@" + dir_ + "/auth2.key");
    EXPECT_EQ(piped.status, 2) << "no such auth file";
    write(dir_ + "/auth2.key", "505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f", 0400);
    piped = run("echo 1112131415161718191a1b1c1d1e1f20 | " + std::string(NEMO_HACTL) + " -s " + socket_ +
                " add sa out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=- auth=@" + dir_ + "/auth2.key");
    EXPECT_EQ(piped.status, 0) << piped.out;
    EXPECT_NE(ctl("show sa 0x2001").out.find("out 0x2001"), std::string::npos);
    // The daemon's socket itself takes hex only: a key file is for nemo-hactl to read.
    auto direct = cp_->run_command({"add", "sa", "in", "0x1003", "2001:db8:1::100", "aes-gcm-128", "enc=@" + enc}, 0);
    EXPECT_FALSE(direct.ok);
    EXPECT_NE(direct.body.find("nemo-hactl"), std::string::npos) << direct.body;
    std::remove(enc.c_str());
    std::remove(auth.c_str());
    std::remove((dir_ + "/auth2.key").c_str());
}

// Keys never appear in a message: not in a mistyped command that carries one.
TEST_F(CliTest, MistypedAddSaDoesNotEchoItsKey)
{
    auto r = ctl("ad sa in 0x1001 2001:db8:1::100 aes-gcm-128 enc=0102030405060708090a0b0c0d0e0f10cafebabe");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("unknown command 'ad sa in 0x1001 2001:db8:1::100 aes-gcm-128 enc=<hidden>'"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("cafebabe"), std::string::npos) << r.out;
}

// Without the lab switch the CLI refuses a hand-keyed GCM SA (RFC 4106 section 2), and in any case an SA
// whose key another SA has (its in/out pair included).
TEST(CliRefusals, Rfc4106_2_AddSaRefusesManualGcmAndSharedKeys)
{
    const std::string text = "[ha]\nipv6 = 2001:db8:1::1\nipv4 = 192.0.2.1\nhome_prefix = 2001:db8:1::/64\n"
                             "binding_capacity = 16\n[cli]\nsocket = /tmp/nemo-cli-refusals.sock\n";
    auto cfg = parse_config_text(text, "refusals.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(cfg)) << std::get<std::string>(cfg);
    std::string err;
    auto cp = ControlPlane::create(std::get<Config>(cfg), &err);
    ASSERT_TRUE(cp) << err;
    auto gcm = cp->run_command({"add", "sa", "in", "0x1001", "2001:db8:1::100", "aes-gcm-128",
                                "enc=0102030405060708090a0b0c0d0e0f10cafebabe"}, 0);
    EXPECT_FALSE(gcm.ok);
    EXPECT_NE(gcm.body.find("RFC 4106 section 2"), std::string::npos) << gcm.body;
    EXPECT_EQ(gcm.body.find("cafebabe"), std::string::npos) << gcm.body;
    const std::string enc = "enc=0102030405060708090a0b0c0d0e0f10",
                      auth = "auth=404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";
    ASSERT_TRUE(cp->run_command({"add", "sa", "in", "0x1001", "2001:db8:1::100", "aes-cbc-128-hmac-sha256", enc, auth}, 0).ok);
    auto pair = cp->run_command({"add", "sa", "out", "0x2001", "2001:db8:1::100", "aes-cbc-128-hmac-sha256", enc, auth}, 0);
    EXPECT_FALSE(pair.ok);
    EXPECT_NE(pair.body.find("shares key material"), std::string::npos) << pair.body;
    EXPECT_NE(pair.body.find("RFC 4301 4.5.2"), std::string::npos) << pair.body;
    EXPECT_EQ(pair.body.find("0102030405"), std::string::npos) << pair.body;
}

TEST_F(CliTest, BadCommandsGetMessageAndUsage)
{
    for (const char* cmd : {"frobnicate", "show", "show bindings limit", "show bindings limit x", "show bindings colour red",
                            "show stats now", "clear binding", "del mr", "show mr a b"}) {
        auto r = ctl(cmd);
        EXPECT_EQ(r.status, 1) << cmd;
        EXPECT_NE(r.out.find("error:"), std::string::npos) << cmd;
    }
    auto none = run(std::string(NEMO_HACTL) + " -s " + socket_);
    EXPECT_EQ(none.status, 2);
    auto absent = run(std::string(NEMO_HACTL) + " -s " + dir_ + "/nothing.sock show stats");
    EXPECT_EQ(absent.status, 2);
    EXPECT_NE(absent.out.find("cannot reach"), std::string::npos);
}

TEST_F(CliTest, HostileClientsDoNotStallOthers)
{
    // Clients that connect and say nothing, one that sends without a newline, one that floods.
    std::vector<int> idle;
    for (int i = 0; i < 5; ++i) idle.push_back(connect_unix(socket_));
    int partial = connect_unix(socket_);
    ASSERT_GE(partial, 0);
    ASSERT_EQ(::send(partial, "show sta", 8, 0), 8);
    int flood = connect_unix(socket_);
    std::string big(10000, 'x');
    (void)!::send(flood, big.data(), big.size(), MSG_NOSIGNAL);
    EXPECT_NE(read_all(flood).find("request longer than"), std::string::npos);
    ::close(flood);
    // Binary junk with a newline is just an unknown command.
    int junk = connect_unix(socket_);
    const char bytes[] = "\x01\x02\xff\xfe\n";
    (void)!::send(junk, bytes, sizeof bytes - 1, MSG_NOSIGNAL);
    EXPECT_EQ(read_all(junk).rfind("error\n", 0), 0u);
    ::close(junk);
    // Meanwhile a normal client is served at once.
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(ctl("show version").status, 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    for (int fd : idle) ::close(fd);
    ::close(partial);
}

TEST_F(CliTest, TooManyClientsAreTurnedAway)
{
    std::vector<int> held;
    for (int i = 0; i < 40; ++i) held.push_back(connect_unix(socket_));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto r = ctl("show version");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("busy"), std::string::npos);
    for (int fd : held) ::close(fd);
    // Once they go (or time out), service resumes.
    bool served = false;
    for (int i = 0; i < 50 && !served; ++i) {
        served = ctl("show version").status == 0;
        if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(served);
}

TEST_F(CliTest, SocketIsGroupOnly)
{
    struct stat st{};
    ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    // A second server on the same live socket is refused.
    std::string err;
    EXPECT_FALSE(CliServer::open(socket_, &err));
    EXPECT_NE(err.find("in use"), std::string::npos);
}

TEST_F(CliTest, TelemetryShowsCountersAndBindings)
{
    // The daemon adds its per-worker and per-port counters this way; telemetry serves them with the rest.
    cp_->set_extra_stats([] {
        return std::vector<std::pair<std::string, uint64_t>>{{"worker1_rx", 4242}, {"port_access_imissed", 7}};
    });
    const std::string path = std::string(rte_eal_get_runtime_dir()) + "/dpdk_telemetry.v2";
    int fd = connect_unix(path, SOCK_SEQPACKET);
    ASSERT_GE(fd, 0) << path;
    char buf[65536];
    ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0); // the greeting
    auto ask = [&](const char* cmd) {
        (void)!::send(fd, cmd, std::strlen(cmd), 0);
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    };
    auto stats = ask("/nemo/stats");
    EXPECT_NE(stats.find("\"mip6HaBUsAccepted\":1"), std::string::npos) << stats;
    auto dataplane = ask("/nemo/dataplane");
    EXPECT_NE(dataplane.find("\"worker1_rx\":4242"), std::string::npos) << dataplane;
    EXPECT_NE(dataplane.find("\"port_access_imissed\":7"), std::string::npos) << dataplane;
    auto bindings = ask("/nemo/bindings");
    EXPECT_NE(bindings.find("\"bindings\":1"), std::string::npos) << bindings;
    EXPECT_NE(bindings.find("\"method_ipip\":1"), std::string::npos);
    EXPECT_NE(bindings.find("\"method_esp_udp\":0"), std::string::npos);
    ::close(fd);
}

namespace {
std::string private_file(const std::string& text)
{
    char path[] = "/tmp/nemo-cp-XXXXXX";
    const int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    return path;
}
const std::string kCpBase = "[ha]\nipv6 = 2001:db8:1::1\nipv4 = 192.0.2.1\nhome_prefix = 2001:db8:1::/64\n"
                            "binding_capacity = 16\n[cli]\nsocket = /tmp/nemo-cp-refusals.sock\n";
} // namespace

// RFC 4106 section 2 for the provisioning file's `sa` lines too: refused with the file and line unless
// the lab switch is set.
TEST(CliRefusals, Rfc4106_2_ProvisioningFileGcmNeedsTheLabSwitch)
{
    const std::string prov = private_file("2001:db8:1::100\nsa in 0x1001 2001:db8:1::100 aes-gcm-128 "
                                          "enc=0102030405060708090a0b0c0d0e0f10cafebabe\n");
    auto cfg = parse_config_text(kCpBase + "[provisioning]\nfile = " + prov + "\n", "p.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(cfg)) << std::get<std::string>(cfg);
    std::string err;
    EXPECT_FALSE(ControlPlane::create(std::get<Config>(cfg), &err));
    EXPECT_EQ(err.rfind(prov + ":2: aes-gcm-128", 0), 0u) << err;
    EXPECT_NE(err.find("RFC 4106 section 2"), std::string::npos) << err;
    EXPECT_EQ(err.find("cafebabe"), std::string::npos) << err;
    auto lab = parse_config_text(kCpBase + "[provisioning]\nfile = " + prov + "\n[ipsec]\nallow_manual_gcm = yes\n", "p.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(lab));
    auto cp = ControlPlane::create(std::get<Config>(lab), &err);
    ASSERT_TRUE(cp) << err;
    EXPECT_EQ(cp->sas().list().size(), 1u);
    std::remove(prov.c_str());
}

// Once the SA table has the transforms, the configuration the control plane keeps has no keys left.
TEST(CliRefusals, KeptConfigurationHoldsNoKeys)
{
    auto cfg = parse_config_text(kCpBase + "[ipsec]\nsa = in 0x1001 2001:db8:1::100 aes-cbc-128-hmac-sha256 "
                                           "enc=0102030405060708090a0b0c0d0e0f10 auth=" + std::string(64, 'c') + "\n", "k.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(cfg)) << std::get<std::string>(cfg);
    std::string err;
    auto cp = ControlPlane::create(std::get<Config>(cfg), &err);
    ASSERT_TRUE(cp) << err;
    ASSERT_EQ(cp->config().sas.size(), 1u);
    EXPECT_TRUE(cp->config().sas[0].enc_key.empty());
    EXPECT_TRUE(cp->config().sas[0].auth_key.empty());
    ASSERT_EQ(cp->sas().list().size(), 1u);
    EXPECT_TRUE(cp->sas().list()[0]->cfg.enc_key.empty());
    EXPECT_NE(cp->run_command({"show", "config"}, 0).body.find("1 SA(s) configured"), std::string::npos);
}
