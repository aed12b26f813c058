// The operator CLI end to end: the control plane serves its socket from a polling thread, as the control
// thread will; nemo-hactl (the real binary) and raw, hostile clients talk to it. Also the same state
// through DPDK telemetry.
#include <gtest/gtest.h>
#include <rte_eal.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <thread>
#include <variant>

#include "../unit/fixtures.hpp"
#include "cli_server.hpp"
#include "control_plane.hpp"
#include "ipv4.hpp"
#include "stats.hpp"

using namespace nemo;
using namespace nemo::control;

#ifndef NEMO_HACTL
#error "NEMO_HACTL must name the nemo-hactl binary"
#endif

// Every chmod() in this binary, the CLI server's included, comes through here (the definition in the
// executable wins over libc's). A socket bound with the umask's mode and chmod'ed afterwards is still
// loose when chmod is called: at that moment the watched path must not exist, or have its final mode.
std::atomic<const char*> g_watched{nullptr};
std::atomic<int> g_seen_loose{0};
extern "C" int chmod(const char* path, mode_t mode) noexcept
{
    if (const char* w = g_watched.load()) {
        struct stat st{};
        if (::lstat(w, &st) == 0 && (st.st_mode & 0777) != 0660) ++g_seen_loose;
    }
    return ::fchmodat(AT_FDCWD, path, mode, 0);
}

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

std::unique_ptr<ControlPlane> make_control_plane(const std::string& socket, unsigned capacity, std::string* err)
{
    const std::string text = "[ha]\nipv6 = 2001:db8:1::1\nipv4 = 192.0.2.1\nhome_prefix = 2001:db8:1::/64\n"
                             "allow_unprotected_signaling = yes\nbinding_capacity = " + std::to_string(capacity) + "\n"
                             "[cli]\nsocket = " + socket + "\n"
                             "[provisioning]\nmr = 2001:db8:1::100 router prefixes=2001:db8:aaaa::/48,2001:db8:bbbb:1::/64\n"
                             "[ipsec]\nallow_manual_gcm = yes\n"; // a lab: GCM SAs by hand
    auto cfg = parse_config_text(text, "cli-test.ini");
    if (auto* e = std::get_if<std::string>(&cfg)) {
        *err = *e;
        return nullptr;
    }
    auto cp = ControlPlane::create(std::get<Config>(cfg), err);
    if (cp && !cp->start_cli(err)) cp.reset();
    return cp;
}

// A registration of 2001:db8:1::100, as a worker would punt it; the number of replies.
std::size_t punt_bu(ControlPlane& cp)
{
    const auto& pkt = nemo::test::scapy_packet("bu_v4coa_ipip");
    auto v4 = wire::parse_ipv4(pkt);
    Punted p;
    p.via = TunnelMethod::ipip;
    p.outer_src = v4->hdr.src;
    p.ipv6 = v4->payload;
    std::vector<Outbound> out;
    cp.handle_signal(p, monotonic_seconds(), out);
    return out.size();
}

// Runs `f` in a child process that has become `uid`:`gid` (no supplementary groups) and returns what
// it returned; "setuid failed" when it could not drop.
std::string as_user(uid_t uid, gid_t gid, const std::function<std::string()>& f)
{
    int p[2];
    if (::pipe(p) != 0) return "pipe failed";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        std::string r = ::setgroups(0, nullptr) == 0 && ::setgid(gid) == 0 && ::setuid(uid) == 0 ? f() : "setuid failed";
        (void)!::write(p[1], r.data(), r.size());
        ::_exit(0);
    }
    ::close(p[1]);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    ::close(p[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) out += "[child status " + std::to_string(st) + "]";
    return out;
}

// One request over a raw connection; the whole reply (or "connect failed").
std::string ask(const std::string& socket, const std::string& line)
{
    int fd = connect_unix(socket);
    if (fd < 0) return "connect failed: " + std::string(std::strerror(errno));
    (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    std::string r = read_all(fd);
    ::close(fd);
    return r;
}

class CliTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char dir[] = "/tmp/nemo-cli-XXXXXX";
        ASSERT_TRUE(mkdtemp(dir));
        dir_ = dir;
        socket_ = dir_ + "/cli.sock";
        std::string err;
        cp_ = make_control_plane(socket_, 128, &err);
        ASSERT_TRUE(cp_) << err;
        ASSERT_EQ(punt_bu(*cp_), 1u);
        poller_ = std::thread([this] {
            while (!stop_) {
                cp_->poll(monotonic_seconds());
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        });
    }
    void TearDown() override
    {
        stop_poller();
        cp_.reset();
        std::filesystem::remove_all(dir_);
    }
    void stop_poller()
    {
        stop_ = true;
        if (poller_.joinable()) poller_.join();
    }
    // The socket's directory is 0700 (mkdtemp): opened for tests whose clients run as other users.
    void open_dir_to_others() { ASSERT_EQ(::chmod(dir_.c_str(), 0711), 0); }
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
    EXPECT_EQ(open.status, 1);
    EXPECT_NE(open.out.find(enc), std::string::npos) << open.out;
    EXPECT_NE(open.out.find("chmod 600"), std::string::npos) << open.out;
    EXPECT_EQ(open.out.find("0102030405"), std::string::npos) << open.out;
    EXPECT_EQ(ctl("add sa in 0x1002 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=@" + dir_ + "/absent auth=@" + auth).status, 1);
    // From standard input (a pipe here; a terminal gets a prompt without echo).
    auto piped = run("echo 1112131415161718191a1b1c1d1e1f20 | " + std::string(NEMO_HACTL) + " -s " + socket_ +
                     " add sa out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=- auth=@" + dir_ + "/auth2.key");
    EXPECT_EQ(piped.status, 1) << "no such auth file";
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
    EXPECT_EQ(none.status, 1) << "bad usage is refused, not unreachable";
    auto absent = run(std::string(NEMO_HACTL) + " -s " + dir_ + "/nothing.sock show stats");
    EXPECT_EQ(absent.status, 2);
    EXPECT_NE(absent.out.find("cannot reach"), std::string::npos);
}

// The exit statuses nemo-hactl documents, which scripts branch on: 0 done, 1 refused (by nemo-ha or by
// nemo-hactl itself: retrying will not help), 2 nemo-ha not reached or silent (retrying may).
TEST_F(CliTest, ExitStatusesScriptsCanRelyOn)
{
    struct Case {
        std::string args;
        int status;
    };
    const std::string absent = " -s " + dir_ + "/nothing.sock ";
    const std::vector<Case> cases = {
        {"show stats", 0},
        {"--json show bindings", 0},
        {"show version", 0},
        {"help", 0},
        {"add mr 2001:db8:1::300 host", 0},
        {"frobnicate", 1},                               // unknown command
        {"show bindings limit x", 1},                    // bad argument
        {"show binding not-an-address", 1},
        {"add mr 2001:db8:1::300 host", 1},              // refused add: already provisioned
        {"add mr 2001:db8:9::1", 1},                     // refused add: off the home prefix
        {"add sa in 0x1 2001:db8:1::100 aes-gcm-128 enc=@/nonexistent", 1}, // refused by nemo-hactl
        {"show runtime", 1},                             // no workers behind this control plane
        {"show stats rate --interval 0", 1},             // refused by nemo-hactl
        {"show stats rate --count", 1},
        {"show stats rate --colour red", 1},
        {"-s", 1},                                       // bad usage
        {"'show stats'", 1},                             // white space in an argument
        {"clear binding 2001:db8:1::999", 1},            // nothing to clear
    };
    for (const auto& c : cases) {
        auto r = c.args.rfind("-s", 0) == 0 ? run(std::string(NEMO_HACTL) + " " + c.args) : ctl(c.args);
        EXPECT_EQ(r.status, c.status) << c.args << ": " << r.out;
        if (c.status == 1) {
            EXPECT_FALSE(r.out.empty()) << c.args << ": a refusal says why";
        }
    }
    for (const char* args : {"show stats", "add mr 2001:db8:1::301 host", "frobnicate", "show stats rate"}) {
        auto r = run(std::string(NEMO_HACTL) + absent + args);
        EXPECT_EQ(r.status, 2) << args << ": " << r.out;
        EXPECT_NE(r.out.find("cannot reach"), std::string::npos) << args;
    }
    // A server that accepts and never answers: 2 as well (nemo-hactl waits 10 s).
    const std::string silent = dir_ + "/silent.sock";
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", silent.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::listen(fd, 4), 0);
    auto hung = run(std::string(NEMO_HACTL) + " -s " + silent + " show stats");
    EXPECT_EQ(hung.status, 2) << hung.out;
    EXPECT_NE(hung.out.find("no answer"), std::string::npos) << hung.out;
    ::close(fd);
}

// `show stats rate`: nemo-hactl reads `show stats --json` twice, an interval apart, and prints what
// moved with its rate; the real binary against a control plane whose data-plane counter a thread moves
// at a known pace.
TEST_F(CliTest, ShowStatsRatePrintsWhatMovedPerSecond)
{
    std::atomic<uint64_t> rx{0};
    std::atomic<bool> done{false};
    cp_->set_extra_stats([&rx] {
        return std::vector<std::pair<std::string, uint64_t>>{{"rx", rx.load()}, {"still", 42}};
    });
    // 1000 every 10 ms: about 100 000 a second.
    std::thread mover([&] {
        while (!done) {
            rx += 1000;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    auto r = ctl("show stats rate --interval 0.5");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("over 0.5"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("PER SECOND"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("dataplane.still"), std::string::npos) << "did not move: " << r.out;
    const auto at = r.out.find("dataplane.rx");
    ASSERT_NE(at, std::string::npos) << r.out;
    {
        std::istringstream line(r.out.substr(at));
        std::string name;
        uint64_t delta = 0;
        double rate = 0;
        line >> name >> delta >> rate;
        EXPECT_GT(rate, 40000) << r.out;  // a loaded machine sleeps longer than asked: a wide band
        EXPECT_LT(rate, 150000) << r.out;
        EXPECT_NEAR(rate, static_cast<double>(delta) / 0.5, static_cast<double>(delta) / 0.5 * 0.2) << r.out;
    }
    // --count: one report per interval; --json: one object a line.
    auto j = ctl("--json show stats rate --interval 0.2 --count 3");
    ASSERT_EQ(j.status, 0) << j.out;
    std::istringstream lines(j.out);
    std::string line;
    int reports = 0;
    while (std::getline(lines, line)) {
        ++reports;
        EXPECT_EQ(line.rfind("{\"interval_s\":", 0), 0u) << line;
        EXPECT_NE(line.find("\"dataplane.rx\":{\"delta\":"), std::string::npos) << line;
        EXPECT_EQ(line.find("dataplane.still"), std::string::npos) << line;
    }
    EXPECT_EQ(reports, 3) << j.out;
    done = true;
    mover.join();
    // Nothing moves: said so.
    cp_->set_extra_stats([] { return std::vector<std::pair<std::string, uint64_t>>{{"rx", 7}}; });
    auto idle = ctl("show stats rate --interval 0.2");
    ASSERT_EQ(idle.status, 0) << idle.out;
    EXPECT_EQ(idle.out.find("dataplane.rx"), std::string::npos) << idle.out;
    // Bad options: refused with the reason.
    auto bad = ctl("show stats rate --interval soon");
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.out.find("--interval takes seconds"), std::string::npos) << bad.out;
    bad = ctl("show stats rate --count 0");
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.out.find("--count takes a whole number"), std::string::npos) << bad.out;
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
    EXPECT_FALSE(CliServer::open(socket_, "", &err));
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

TEST_F(CliTest, NumbersAreDecimalOrHexNeverOctal)
{
    // Issue 10: `del sa 010` read octal (SPI 8) while the configuration read 010 as ten.
    const std::string keys = " 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=0102030405060708090a0b0c0d0e0f10 auth="
                             "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";
    ASSERT_EQ(ctl("add sa in 0400" + keys).status, 0);
    EXPECT_NE(ctl("show sa").out.find("in 0x190 "), std::string::npos) << "0400 is four hundred";
    EXPECT_EQ(ctl("show sa 0400").status, 0);
    EXPECT_EQ(ctl("show sa 256").status, 1) << "not octal 0400";
    auto ten = ctl("del sa 010");
    EXPECT_EQ(ten.status, 1);
    EXPECT_NE(ten.out.find("no SA with SPI 0xa (10)"), std::string::npos) << ten.out;
    auto hex = ctl("del sa 0x010");
    EXPECT_NE(hex.out.find("no SA with SPI 0x10 (16)"), std::string::npos) << hex.out;
    auto neg = ctl("del sa -1");
    EXPECT_EQ(neg.status, 1);
    EXPECT_NE(neg.out.find("'-1' is not a number"), std::string::npos) << neg.out;
    auto big = ctl("del sa 4294967296");
    EXPECT_NE(big.out.find("out of range (0 to 4294967295)"), std::string::npos) << big.out;
    EXPECT_NE(ctl("show bindings limit 1x").out.find("'1x' is not a number"), std::string::npos);
    // A key pasted where an SPI goes is not echoed back.
    const auto pasted = ctl("del sa 0102030405060708090a0b0c0d0e0f10cafebabe");
    EXPECT_EQ(pasted.status, 1);
    EXPECT_EQ(pasted.out.find("cafebabe"), std::string::npos) << pasted.out;
    auto removed = ctl("del sa 0400");
    EXPECT_EQ(removed.status, 0) << removed.out;
    EXPECT_NE(removed.out.find("removed SA 0x190 (400)"), std::string::npos);

    // The configuration reads numbers the same way.
    auto cfg = parse_config_text("[ha]\nipv6 = 2001:db8:1::1\nhome_prefix = 2001:db8:1::/64\nudp_port = 0x105f\n"
                                 "max_lifetime = 0600\n", "numbers.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(cfg)) << std::get<std::string>(cfg);
    EXPECT_EQ(std::get<Config>(cfg).ha.udp_port, 0x105f);
    EXPECT_EQ(std::get<Config>(cfg).ha.max_binding_lifetime, 600u);
}

// Issue 10: the socket was chmod'ed after bind, so it first existed with the umask's mode.
TEST(CliSocket, NeverExistsWithALooserMode)
{
    char dir[] = "/tmp/nemo-cli-mode-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    const std::string path = std::string(dir) + "/cli.sock";
    const mode_t old_umask = ::umask(0); // the most permissive: bind() alone would make it srwxrwxrwx
    g_seen_loose = 0;
    g_watched = path.c_str();
    std::string err;
    auto server = CliServer::open(path, "", &err);
    g_watched = nullptr;
    ::umask(old_umask);
    ASSERT_TRUE(server) << err;
    EXPECT_EQ(g_seen_loose.load(), 0) << "the socket was visible under its name before it had its mode";
    struct stat st{};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    // It works where it was renamed to, and the private directory it was bound in is gone.
    const int fd = connect_unix(path);
    EXPECT_GE(fd, 0);
    ::close(fd);
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++entries;
    EXPECT_EQ(entries, 1u);
    server.reset();
    std::filesystem::remove_all(dir);
}

TEST(CliSocket, CreationFunctionSetsModeAndGroupUnderAnyUmask)
{
    char dir[] = "/tmp/nemo-cli-mode-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    const std::string path = std::string(dir) + "/s.sock";
    const mode_t old_umask = ::umask(0);
    std::string err;
    const int fd = create_socket_file(path, 0660, gid_t{65534}, &err);
    ::umask(old_umask);
    ASSERT_GE(fd, 0) << err;
    struct stat st{};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    EXPECT_EQ(st.st_gid, 65534u);
    ::close(fd);
    // A name too long to be bound next to itself is an error, not a truncated path.
    const std::string deep = std::string(dir) + "/" + std::string(100 - std::strlen(dir), 'd');
    ASSERT_EQ(::mkdir(deep.c_str(), 0700), 0);
    EXPECT_LT(create_socket_file(deep + "/s", 0660, std::nullopt, &err), 0);
    EXPECT_NE(err.find("too long"), std::string::npos) << err;
    std::filesystem::remove_all(dir);
}

TEST(CliSocket, GroupFromConfigurationByNameOrNumber)
{
    char dir[] = "/tmp/nemo-cli-mode-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    const std::string path = std::string(dir) + "/cli.sock";
    std::string err;
    auto server = CliServer::open(path, "65534", &err);
    ASSERT_TRUE(server) << err;
    EXPECT_EQ(server->group(), 65534u);
    server.reset();
    if (const group* root = ::getgrgid(0)) {
        server = CliServer::open(path, root->gr_name, &err);
        ASSERT_TRUE(server) << err;
        EXPECT_EQ(server->group(), 0u);
        server.reset();
    }
    EXPECT_FALSE(CliServer::open(path, "no-such-group-nemo", &err));
    EXPECT_NE(err.find("cli.group: no group 'no-such-group-nemo'"), std::string::npos) << err;
    auto cfg = parse_config_text("[ha]\nipv6 = 2001:db8:1::1\nhome_prefix = 2001:db8:1::/64\n[cli]\ngroup = nemo-ops\n", "g.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(cfg)) << std::get<std::string>(cfg);
    EXPECT_EQ(std::get<Config>(cfg).cli_group, "nemo-ops");
    std::filesystem::remove_all(dir);
}

TEST(CliPeer, RuleAdmitsRootOwnUserAndGroupMembersOnly)
{
    const auto nobody_is_member = [](uid_t, gid_t) { return false; };
    EXPECT_TRUE(cli_peer_allowed({0, 100}, 50, 1000, nobody_is_member));
    EXPECT_TRUE(cli_peer_allowed({1000, 100}, 50, 1000, nobody_is_member)) << "nemo-ha's own user";
    EXPECT_TRUE(cli_peer_allowed({2000, 50}, 50, 1000, nobody_is_member)) << "primary group";
    EXPECT_FALSE(cli_peer_allowed({2000, 100}, 50, 1000, nobody_is_member));
    EXPECT_TRUE(cli_peer_allowed({2000, 100}, 50, 1000, [](uid_t u, gid_t g) { return u == 2000 && g == 50; }))
        << "supplementary group";
    EXPECT_TRUE(user_in_group(0, 0));
    EXPECT_FALSE(user_in_group(65534, 0)) << "nobody is not in root's group";
    EXPECT_FALSE(user_in_group(4000000000u, 0)) << "an unknown user is in no group";
}

// Issue 10: the peer's credentials were never checked; a socket (or directory) made looser by hand
// opened the CLI to every local user.
TEST_F(CliTest, PeerOutsideTheGroupIsRefusedAndCounted)
{
    open_dir_to_others();
    ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0); // an operator's mistake
    const std::string refused = as_user(65534, 65534, [&] { return ask(socket_, "show version\n"); });
    EXPECT_EQ(refused, "error\npermission denied: uid 65534 is not root, nemo-ha's user or a member of the CLI "
                       "socket's group 'root' (gid 0)\n");
    EXPECT_EQ(cp_->stats().get(Counter::cli_refused_peer), 1u);
    // A member of the socket's group, and root, are served.
    const std::string member = as_user(65534, 0, [&] { return ask(socket_, "show version\n"); });
    EXPECT_EQ(member.rfind("ok\nnemo-ha ", 0), 0u) << member;
    EXPECT_EQ(ask(socket_, "show version\n").rfind("ok\nnemo-ha ", 0), 0u);
    EXPECT_EQ(cp_->stats().get(Counter::cli_refused_peer), 1u);
    EXPECT_NE(ctl("show stats").out.find("nemoHaCliPeersRefused"), std::string::npos);
}

// Issue 10: one client could hold every slot.
TEST_F(CliTest, OneUserCannotHoldEverySlot)
{
    open_dir_to_others();
    std::vector<int> held;
    for (int i = 0; i < 40; ++i) held.push_back(connect_unix(socket_));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto mine = ctl("show version");
    EXPECT_EQ(mine.status, 1);
    EXPECT_NE(mine.out.find("busy: uid 0 already has 8 CLI connections open"), std::string::npos) << mine.out;
    EXPECT_GE(cp_->stats().get(Counter::cli_refused_busy), 32u);
    // Another user (in the socket's group) still gets in.
    const std::string other = as_user(65534, 0, [&] { return ask(socket_, "show version\n"); });
    EXPECT_EQ(other.rfind("ok\nnemo-ha ", 0), 0u) << other;
    for (int fd : held) ::close(fd);
    // Clients that go away without a request free their slots at once, not at the deadline.
    bool served = false;
    for (int i = 0; i < 20 && !served; ++i) {
        served = ctl("show version").status == 0;
        if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(served);
}

// A request over the limit and a reply too large to build are refused and counted.
TEST(CliSlots, OversizedRequestsAndRepliesAreCounted)
{
    char dir[] = "/tmp/nemo-cli-size-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    const std::string path = std::string(dir) + "/cli.sock";
    Stats stats;
    CliLimits limits;
    limits.max_request = 64;
    limits.max_reply = 16;
    std::string err;
    auto server = CliServer::open(path, "", &err, limits, &stats);
    ASSERT_TRUE(server) << err;
    const auto handler = [](const std::vector<std::string>& w) {
        return CliReply{true, w.size() > 1 ? std::string(100, 'x') : "fine", {}};
    };
    for (const std::string& req : {std::string(100, 'a') + "\n", std::string("show big\n")}) {
        int fd = connect_unix(path);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
        for (uint64_t t = 1000; t < 1010; ++t) server->poll(handler, t);
        EXPECT_EQ(read_all(fd, 500).rfind("error\n", 0), 0u);
        ::close(fd);
    }
    EXPECT_EQ(stats.get(Counter::cli_refused_size), 2u);
    server.reset();
    std::filesystem::remove_all(dir);
}

TEST(CliSlots, SilentClientsTimeOutAndAreCounted)
{
    char dir[] = "/tmp/nemo-cli-slot-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    const std::string path = std::string(dir) + "/cli.sock";
    Stats stats;
    CliLimits limits;
    limits.deadline_ms = 100;
    std::string err;
    auto server = CliServer::open(path, "", &err, limits, &stats);
    ASSERT_TRUE(server) << err;
    const auto handler = [](const std::vector<std::string>&) { return CliReply{true, "fine", {}}; };
    int fd = connect_unix(path);
    ASSERT_GE(fd, 0);
    server->poll(handler, 1000);
    server->poll(handler, 1100);
    EXPECT_EQ(server->clients(), 1u);
    EXPECT_EQ(stats.get(Counter::cli_timeouts), 0u);
    server->poll(handler, 1101);
    EXPECT_EQ(server->clients(), 0u);
    EXPECT_EQ(stats.get(Counter::cli_timeouts), 1u);
    char c;
    EXPECT_EQ(::recv(fd, &c, 1, 0), 0) << "closed by the server";
    ::close(fd);
    server.reset();
    std::filesystem::remove_all(dir);
}

// Issue 10: `show bindings limit N` built the whole reply (up to 64 MiB) in one control-loop turn while
// signaling waited. Now each turn builds at most one page.
TEST_F(CliTest, ShowBindingsIsBuiltAPagePerTurn)
{
    stop_poller();
    cp_.reset();
    std::string err;
    cp_ = make_control_plane(socket_, 2048, &err);
    ASSERT_TRUE(cp_) << err;
    constexpr std::size_t kBindings = 1000;
    const uint64_t now = monotonic_seconds();
    std::set<std::string> all;
    for (std::size_t i = 0; i < kBindings; ++i) {
        BuDecision d;
        d.outcome = BuOutcome::accepted;
        d.change = BindingChangeKind::upsert;
        char hoa[64];
        std::snprintf(hoa, sizeof hoa, "2001:db8:1::1:%zx", i + 1);
        d.binding.hoa = *Ipv6Addr::parse(hoa);
        d.binding.coa.v6 = *Ipv6Addr::parse("2001:db8:99::1");
        d.binding.lifetime = 600;
        d.binding.created = d.binding.updated = now;
        d.binding.expires = now + 600;
        std::string why;
        ASSERT_FALSE(cp_->cache().apply(d, now, &why)) << why;
        all.insert(d.binding.hoa.str());
    }
    for (const bool json : {false, true}) {
        int fd = connect_unix(socket_);
        ASSERT_GE(fd, 0);
        const std::string req = std::string(json ? "--json " : "") + "show bindings limit 100000\n";
        ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
        std::string got;
        std::size_t turns = 0, most_in_a_turn = 0, registered_meanwhile = 0;
        for (bool open = true; open && turns < 100;) {
            cp_->poll(monotonic_seconds());
            ++turns;
            std::string part;
            char buf[65536];
            for (;;) {
                pollfd p{fd, POLLIN, 0};
                if (::poll(&p, 1, 20) <= 0) break;
                const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
                if (n <= 0) {
                    open = false;
                    break;
                }
                part.append(buf, static_cast<std::size_t>(n));
            }
            std::size_t rows = 0;
            for (std::size_t at = part.find(json ? "\"hoa\":" : "\n2001:db8:1::1:"); at != std::string::npos;
                 at = part.find(json ? "\"hoa\":" : "\n2001:db8:1::1:", at + 1))
                ++rows;
            most_in_a_turn = std::max(most_in_a_turn, rows);
            got += part;
            // Signaling is handled between the parts.
            registered_meanwhile += punt_bu(*cp_);
        }
        ::close(fd);
        EXPECT_LE(most_in_a_turn, ControlPlane::kCliPageBindings) << (json ? "json" : "text");
        EXPECT_GE(turns, (kBindings + ControlPlane::kCliPageBindings - 1) / ControlPlane::kCliPageBindings);
        EXPECT_EQ(registered_meanwhile, turns);
        // Every binding, once, in order; the one registered meanwhile (::100) sorts before them all.
        std::vector<std::string> listed;
        for (std::size_t at = got.find("2001:db8:1::1:"); at != std::string::npos; at = got.find("2001:db8:1::1:", at + 1)) {
            const std::size_t end = got.find_first_of(" \"", at);
            listed.push_back(got.substr(at, end - at));
        }
        EXPECT_EQ(listed.size(), kBindings);
        EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), all);
        EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end(),
                                   [](const std::string& a, const std::string& b) { return *Ipv6Addr::parse(a) < *Ipv6Addr::parse(b); }));
        if (json) {
            EXPECT_EQ(got.rfind("ok\n{\"bindings\":[{\"hoa\":", 0), 0u) << got.substr(0, 80);
            EXPECT_NE(got.find("}],\"not_shown\":0}\n"), std::string::npos) << got.substr(got.size() - 80);
            EXPECT_EQ(got.find(",,"), std::string::npos);
            EXPECT_EQ(got.find("}{"), std::string::npos);
        } else {
            EXPECT_EQ(got.rfind("ok\nHOA ", 0), 0u);
            EXPECT_NE(got.find("\n1000 binding(s)\n"), std::string::npos) << got.substr(got.size() - 80);
        }
    }
    // A limit below the count still says how many were left out.
    cp_->poll(monotonic_seconds());
    std::thread t([&] {
        for (int i = 0; i < 200; ++i) {
            cp_->poll(monotonic_seconds());
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    const std::string limited = ask(socket_, "show bindings limit 300\n");
    t.join();
    EXPECT_NE(limited.find("300 binding(s), 701 more not shown"), std::string::npos) << limited.substr(limited.size() - 100);
}

// Issue 10: CLI buffers were not wiped; `add sa` requests carry keys.
TEST(CliSlots, RequestIsWipedOnceAnswered)
{
    char dir[] = "/tmp/nemo-cli-wipe-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    const std::string path = std::string(dir) + "/cli.sock";
    std::string err;
    auto server = CliServer::open(path, "", &err);
    ASSERT_TRUE(server) << err;
    std::vector<std::string> seen;
    int parts = 0;
    const auto handler = [&](const std::vector<std::string>& words) {
        seen = words;
        // A reply in parts keeps the client (and whatever it still holds) alive across turns.
        return CliReply{true, "", [&](std::string& out) {
                            out += "part\n";
                            return ++parts < 3;
                        }};
    };
    int fd = connect_unix(path);
    ASSERT_GE(fd, 0);
    const std::string req = "add sa in 0x1001 2001:db8:1::100 aes-gcm-128 enc=0102030405060708090a0b0c0d0e0f10cafebabe\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    server->poll(handler, 1000);
    ASSERT_EQ(seen.size(), 7u);
    EXPECT_EQ(seen[6], "enc=0102030405060708090a0b0c0d0e0f10cafebabe");
    EXPECT_EQ(server->clients(), 1u) << "still streaming";
    EXPECT_EQ(server->held_request_bytes(), 0u);
    server->poll(handler, 1001);
    server->poll(handler, 1002);
    EXPECT_EQ(read_all(fd, 200), "ok\npart\npart\npart\n");
    ::close(fd);
    server.reset();
    std::filesystem::remove_all(dir);
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

namespace {

// Completes the words as bash would: the completion script sourced, COMP_WORDS set, its function run.
CmdResult complete_words(const std::string& words, int cword)
{
    const std::string script = std::string(NEMO_FIXTURE_DIR) + "/../../scripts/nemo-hactl.bash-completion";
    const std::string body = "set -e; source '" + script + "'; spec=$(complete -p nemo-hactl); fn=${spec#*-F }; fn=${fn%% *}; "
                             "COMP_WORDS=(" + words + "); COMP_CWORD=" + std::to_string(cword) + "; COMP_LINE=\"${COMP_WORDS[*]}\"; "
                             "$fn nemo-hactl \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"; printf '%s\\n' \"${COMPREPLY[@]}\"";
    return run("bash -c '" + [&] {
        std::string quoted;
        for (char c : body) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return quoted;
    }() + "'");
}

} // namespace

// scripts/nemo-hactl.bash-completion loads in bash, registers for nemo-hactl, and completes commands
// and subcommands (past -s SOCKET and --json).
TEST(CliCompletion, BashCompletesCommandsAndSubcommands)
{
    auto sh = complete_words("nemo-hactl sh", 1);
    ASSERT_EQ(sh.status, 0) << sh.out;
    EXPECT_EQ(sh.out, "show\n");
    auto st = complete_words("nemo-hactl -s /run/x.sock --json show st", 5);
    ASSERT_EQ(st.status, 0) << st.out;
    EXPECT_EQ(st.out, "stats\nstate\n");
    EXPECT_EQ(complete_words("nemo-hactl show stats ''", 3).out, "rate\n");
    EXPECT_EQ(complete_words("nemo-hactl show ru", 2).out, "runtime\n");
    EXPECT_EQ(complete_words("nemo-hactl clear ''", 2).out, "binding\nruntime\n");
    EXPECT_EQ(complete_words("nemo-hactl show stats rate --i", 4).out, "--interval\n");
    EXPECT_EQ(complete_words("nemo-hactl add sa ''", 3).out, "in\nout\n");
    // Every command the usage lists is offered after `show`.
    auto show = complete_words("nemo-hactl show ''", 2);
    for (const char* c : {"bindings", "binding", "stats", "runtime", "state", "config", "mr", "sa", "version"})
        EXPECT_NE(show.out.find(std::string(c) + "\n"), std::string::npos) << c << ": " << show.out;
}
