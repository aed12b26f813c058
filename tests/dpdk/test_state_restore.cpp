// The control plane over a state store: a BA waits for the sync that holds its change, a new control
// plane on the same store has every binding back (with its remaining lifetime, in the fast-path tables,
// announced again), what expired while down is dropped and counted, operator changes survive, outbound
// ESP sequence numbers continue above their reservation, and a store that cannot write turns BUs into
// BA 130 until it can again.
#include "../common/addresses.hpp"
#include <gtest/gtest.h>

#include <rte_eal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <variant>

#include "config.hpp"
#include "control_plane.hpp"
#include "ipv6.hpp"
#include "mobility_header.hpp"
#include "proto.hpp"
#include "router_bu.hpp"
#include "seq_reserve.hpp"
#include "state_rocksdb.hpp"
#include "state_store.hpp"

using namespace nemo;
using namespace nemo::wire;
using namespace nemo::test;
using namespace nemo::control;

namespace {

const Ipv6Addr kMr1 = *Ipv6Addr::parse("2001:db8:1::100");
const Ipv6Addr kMr2 = *Ipv6Addr::parse("2001:db8:1::200");
const Ipv6Addr kHostInMnp = *Ipv6Addr::parse("2001:db8:aaaa::5");
const Ipv4Addr kNatOuter = *Ipv4Addr::parse("203.0.113.7");

const char* kCbcOut = "out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=1112131415161718191a1b1c1d1e1f20 "
                      "auth=404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";

// A backend that fails every commit while `fail` is set, as a full disk does, and otherwise passes
// commits to a real store of the default backend.
class FlakyBackend : public StateBackend {
public:
    FlakyBackend(std::unique_ptr<StateBackend> real, std::atomic<bool>* fail) : real_(std::move(real)), fail_(fail) {}
    std::optional<CommitError> commit(const StateBatch& b) override
    {
        if (fail_->load()) return CommitError{real_->path() + ": database or disk is full", true};
        return real_->commit(b);
    }
    uint64_t size_bytes() const override { return real_->size_bytes(); }
    const std::string& path() const override { return real_->path(); }
    const char* name() const override { return "flaky"; }

private:
    std::unique_ptr<StateBackend> real_;
    std::atomic<bool>* fail_;
};

class StateRestoreTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/nemo-state-test-XXXXXX";
        ASSERT_TRUE(::mkdtemp(tmpl));
        dir = tmpl;
    }
    void TearDown() override
    {
        cp.reset();
        std::filesystem::remove_all(dir);
    }
    Config config(const std::string& extra = "")
    {
        static int n = 0;
        const std::string text = "[ha]\nipv6 = 2001:db8:1::1\nipv4 = 192.0.2.1\nhome_prefix = 2001:db8:1::/64\n"
                                 "allow_unprotected_signaling = yes\nbinding_capacity = 64\nmethods = ipip,gre,udp,esp\n"
                                 "[cli]\nsocket = " + dir + "/cli" + std::to_string(n++) + ".sock\n"
                                 "[provisioning]\nmr = 2001:db8:1::100 router prefixes=2001:db8:aaaa::/48\n"
                                 "mr = 2001:db8:1::200 router prefixes=2001:db8:cccc::/48\n" + extra;
        auto cfg = parse_config_text(text, "state-test.ini");
        EXPECT_TRUE(std::holds_alternative<Config>(cfg)) << std::get<std::string>(cfg);
        return std::get<Config>(cfg);
    }
    // A control plane over the store in `dir` (opened here), as the daemon makes it.
    void start(const std::string& extra = "")
    {
        cp.reset();
        StateConfig sc;
        sc.dir = dir;
        std::string err;
        image = StateImage{};
        auto store = StateStore::open(sc, &image, &err);
        ASSERT_TRUE(store) << err;
        cp = ControlPlane::create(config(extra), &err, std::move(store), &image);
        ASSERT_TRUE(cp) << err;
    }
    // A registration through the IPv4 tunnel `via` from `outer` (a NAT's address when it differs from
    // the IPv4 CoA option's); the replies.
    std::vector<Outbound> register_bu(const Ipv6Addr& hoa, uint16_t seq, const Prefix6& mnp, TunnelMethod via = TunnelMethod::ipip,
                                      Ipv4Addr outer = kCoa4, uint16_t lifetime = 100, uint16_t sport = 0)
    {
        const std::vector<uint8_t> pkt = tunneled_router_bu(hoa, seq, mnp, via, lifetime);
        Punted p;
        p.ipv6 = pkt;
        p.via = via;
        p.outer_src = outer;
        p.outer_src_port = sport;
        std::vector<Outbound> out;
        cp->handle_signal(p, monotonic_seconds(), out);
        return out;
    }
    static uint8_t status_of(const Outbound& o)
    {
        auto ip = parse_ipv6_packet(o.ipv6);
        auto ba = parse_binding_ack(*parse_mh(ip->upper));
        return ba ? ba->status : 0xff;
    }
    // Ends the turn (the store gets the batch) and waits until `batch` is durable.
    bool turn_until_durable(uint64_t batch, int ms = 5000)
    {
        cp->poll(monotonic_seconds());
        for (int i = 0; i < ms / 5 && cp->state_durable() < batch; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return cp->state_durable() >= batch;
    }

    std::string dir;
    StateImage image;
    std::unique_ptr<ControlPlane> cp;
};

TEST_F(StateRestoreTest, BaOfAChangeWaitsForTheSyncThatHoldsIt)
{
    start();
    auto out = register_bu(kMr1, 10, *Prefix6::parse("2001:db8:aaaa::/48"));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(status_of(out[0]), 0);
    // The change is staged, not yet durable: the BA may not leave yet.
    ASSERT_NE(out[0].after_batch, 0u);
    EXPECT_LT(cp->state_durable(), out[0].after_batch);
    EXPECT_TRUE(turn_until_durable(out[0].after_batch));
    // A rejection changes nothing: it need not wait (135: the same sequence number again).
    auto again = register_bu(kMr1, 10, *Prefix6::parse("2001:db8:aaaa::/48"));
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(status_of(again[0]), ba_status::sequence_out_of_window);
    EXPECT_EQ(again[0].after_batch, 0u);
}

TEST_F(StateRestoreTest, ARestartHasEveryBindingBackWithItsRemainingLifetime)
{
    start();
    auto a = register_bu(kMr1, 10, *Prefix6::parse("2001:db8:aaaa::/48"), TunnelMethod::gre);
    // The second from behind a NAT: the outer source differs from the option's care-of address.
    auto b = register_bu(kMr2, 20, *Prefix6::parse("2001:db8:cccc::/48"), TunnelMethod::udp, kNatOuter, 100, 40000);
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    ASSERT_TRUE(turn_until_durable(b[0].after_batch));
    const Binding before1 = cp->cache().find(kMr1)->binding;
    const Binding before2 = cp->cache().find(kMr2)->binding;
    const uint64_t left_before = before1.expires - monotonic_seconds();
    cp.reset(); // as a crash after the sync: nothing more is written by a control plane that is gone

    start();
    ASSERT_EQ(cp->cache().size(), 2u);
    for (const Binding* was : {&before1, &before2}) {
        const BindingEntry* e = cp->cache().find(was->hoa);
        ASSERT_TRUE(e) << was->hoa.str();
        EXPECT_EQ(e->binding.coa, was->coa);
        EXPECT_EQ(e->binding.seq, was->seq);
        EXPECT_EQ(e->binding.prefixes, was->prefixes);
        EXPECT_EQ(e->binding.mobile_router, was->mobile_router);
        EXPECT_EQ(e->binding.lifetime, was->lifetime);
    }
    EXPECT_TRUE(cp->cache().find(kMr2)->binding.coa.behind_nat);
    const uint64_t left_after = cp->cache().find(kMr1)->binding.expires - monotonic_seconds();
    EXPECT_LE(left_after, left_before);
    EXPECT_GE(left_after + 2, left_before);
    // In the fast path: the mobile network prefix routes to the restored binding.
    EXPECT_TRUE(cp->tables().lookup_downstream(kHostInMnp));
    EXPECT_TRUE(cp->tables().lookup_downstream(kMr1));
    // Announced again, and counted.
    auto ann = cp->take_announcements();
    EXPECT_EQ(ann.size(), 2u);
    EXPECT_EQ(cp->stats().get(Counter::state_bindings_restored), 2u);
    EXPECT_EQ(cp->store()->status().restored_bindings, 2u);
    // A refresh continues the sequence numbers the restored binding holds.
    auto r = register_bu(kMr1, 10, *Prefix6::parse("2001:db8:aaaa::/48"), TunnelMethod::gre);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(status_of(r[0]), ba_status::sequence_out_of_window);
}

// `show state` (text and JSON) and telemetry /nemo/state say what the start restored and how the
// store syncs.
TEST_F(StateRestoreTest, ShowStateAndTelemetrySayWhatWasRestoredAndHowTheStoreSyncs)
{
    start();
    auto a = register_bu(kMr1, 1, *Prefix6::parse("2001:db8:aaaa::/48"));
    ASSERT_TRUE(turn_until_durable(a[0].after_batch));
    cp.reset();
    start();
    auto json = cp->run_command({"--json", "show", "state"}, monotonic_seconds());
    ASSERT_TRUE(json.ok);
    EXPECT_NE(json.body.find("\"backend\":\"rocksdb\""), std::string::npos) << json.body;
    EXPECT_NE(json.body.find("\"path\":\"" + dir + "/db\""), std::string::npos) << json.body;
    EXPECT_NE(json.body.find("\"bindings\":1"), std::string::npos) << json.body;
    EXPECT_NE(json.body.find("\"refusing\":false"), std::string::npos) << json.body;
    auto text = cp->run_command({"show", "state"}, monotonic_seconds());
    ASSERT_TRUE(text.ok);
    EXPECT_NE(text.body.find("restored at start"), std::string::npos) << text.body;
    EXPECT_NE(text.body.find("1 bindings in"), std::string::npos) << text.body;
    EXPECT_FALSE(cp->run_command({"show", "state", "extra"}, monotonic_seconds()).ok);

    const std::string path = std::string(rte_eal_get_runtime_dir()) + "/dpdk_telemetry.v2";
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << path;
    char buf[65536];
    ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0); // the greeting
    const char* cmd = "/nemo/state";
    (void)!::send(fd, cmd, std::strlen(cmd), 0);
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    const std::string tel(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    ::close(fd);
    EXPECT_NE(tel.find("\"backend\":\"rocksdb\""), std::string::npos) << tel;
    EXPECT_NE(tel.find("\"restored_bindings\":1"), std::string::npos) << tel;
    EXPECT_NE(tel.find("\"refusing\":0"), std::string::npos) << tel;
}

TEST_F(StateRestoreTest, AnnouncementsOfARestoreComeAShareAtATime)
{
    start();
    auto a = register_bu(kMr1, 1, *Prefix6::parse("2001:db8:aaaa::/48"));
    auto b = register_bu(kMr2, 1, *Prefix6::parse("2001:db8:cccc::/48"));
    ASSERT_TRUE(turn_until_durable(b[0].after_batch));
    cp.reset();
    start();
    EXPECT_EQ(cp->take_announcements(1).size(), 1u);
    EXPECT_EQ(cp->take_announcements(5).size(), 1u);
    EXPECT_EQ(cp->take_announcements(5).size(), 0u);
}

TEST_F(StateRestoreTest, WhatExpiredWhileDownOrIsNoLongerProvisionedIsDroppedAndCounted)
{
    {
        StateConfig sc;
        sc.dir = dir;
        std::string err;
        StateImage im;
        auto store = StateStore::open(sc, &im, &err);
        ASSERT_TRUE(store) << err;
        const uint64_t wall = wall_seconds();
        auto stored = [&](const Ipv6Addr& hoa, uint64_t expires) {
            StoredBinding s;
            s.binding.hoa = hoa;
            s.binding.coa.method = TunnelMethod::ipip;
            s.binding.coa.v4 = s.binding.coa.peer = kCoa4;
            s.binding.seq = 5;
            s.binding.lifetime = 100;
            s.binding.mobile_router = true;
            s.binding.proxy_nd = true;
            s.binding.created = s.binding.updated = wall - 50;
            s.binding.expires = expires;
            return s;
        };
        store->put_binding(stored(kMr1, wall - 1));                                 // expired while down
        store->put_binding(stored(kMr2, wall + 60));                                // alive
        store->put_binding(stored(*Ipv6Addr::parse("2001:db8:1::999"), wall + 60)); // not provisioned
        ASSERT_TRUE(store->sync_now(&err)) << err;
    }
    start();
    EXPECT_EQ(cp->cache().size(), 1u);
    EXPECT_TRUE(cp->cache().find(kMr2));
    EXPECT_EQ(cp->stats().get(Counter::state_bindings_expired_while_down), 1u);
    EXPECT_EQ(cp->stats().get(Counter::state_bindings_unprovisioned), 1u);
    // Removed from the store too: the next start does not count them again.
    std::string err;
    ASSERT_TRUE(cp->store()->sync_now(&err)) << err;
    start();
    EXPECT_EQ(cp->stats().get(Counter::state_bindings_expired_while_down), 0u);
    EXPECT_EQ(cp->stats().get(Counter::state_bindings_unprovisioned), 0u);
    EXPECT_EQ(cp->stats().get(Counter::state_bindings_restored), 1u);
}

TEST_F(StateRestoreTest, OperatorChangesSurviveARestart)
{
    const std::string lab = "[ipsec]\nallow_manual_gcm = yes\n";
    start(lab);
    auto ctl = [&](const std::vector<std::string>& w) { return cp->run_command(w, monotonic_seconds()); };
    EXPECT_TRUE(ctl({"add", "mr", "2001:db8:1::300", "router", "prefixes=2001:db8:dddd::/48"}).ok);
    EXPECT_TRUE(ctl({"del", "mr", "2001:db8:1::200"}).ok); // one of the configuration's
    std::vector<std::string> add_sa = {"add", "sa"};
    for (const auto& word : std::vector<std::string>{"out", "0x2001", "2001:db8:1::100", "aes-cbc-128-hmac-sha256",
                                                     "enc=1112131415161718191a1b1c1d1e1f20",
                                                     "auth=404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"})
        add_sa.push_back(word);
    auto r = ctl(add_sa);
    EXPECT_TRUE(r.ok) << r.body;
    // Its first block of sequence numbers is durable when the command answers: it may send at once.
    ASSERT_TRUE(cp->sas().outbound_for(kMr1));
    EXPECT_TRUE(cp->sas().outbound()[0]->take_seq());
    cp.reset();

    start(lab);
    EXPECT_TRUE(cp->provisioning().find(*Ipv6Addr::parse("2001:db8:1::300")));
    EXPECT_FALSE(cp->provisioning().find(kMr2));
    EXPECT_TRUE(cp->provisioning().find(kMr1));
    const dp::SaEntry* sa = cp->sas().outbound_for(kMr1);
    ASSERT_TRUE(sa);
    EXPECT_EQ(sa->cfg.spi, 0x2001u);
    // The keys came back: the restored SA has the same key fingerprint as the one added.
    EXPECT_NE(SeqReserver::key_of(*sa), 0u);

    EXPECT_TRUE(ctl({"del", "sa", "0x2001"}).ok);
    cp.reset();
    start(lab);
    EXPECT_FALSE(cp->sas().outbound_for(kMr1));
    EXPECT_EQ(cp->stats().get(Counter::state_changes_not_reapplied), 0u);
}

TEST_F(StateRestoreTest, OutboundSequenceNumbersContinueAboveTheirReservation)
{
    const std::string sa = std::string("[ipsec]\nsa = ") + kCbcOut + "\n";
    start(sa);
    dp::SaEntry* e = cp->sas().outbound()[0];
    // Only what the store made durable may be sent.
    const uint64_t ceiling = e->seq_ceiling.load();
    EXPECT_GE(ceiling, 1u + kMinSeqBlock / 2);
    e->next_seq.store(ceiling + 1);
    EXPECT_FALSE(e->take_seq());
    EXPECT_EQ(e->get(dp::SaCounter::drop_unreserved), 1u);
    // Running low: the next turns reserve further, and the ceiling rises once durable.
    e->next_seq.store(ceiling - 10);
    for (int i = 0; i < 100 && e->seq_ceiling.load() == ceiling; ++i) {
        cp->poll(monotonic_seconds());
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const uint64_t raised = e->seq_ceiling.load();
    EXPECT_GT(raised, ceiling);
    const uint64_t sent = *e->take_seq();
    cp.reset(); // a crash: every number up to the ceiling may have been sent

    start(sa);
    dp::SaEntry* after = cp->sas().outbound()[0];
    EXPECT_GT(after->next_seq.load(), raised);
    const auto next = after->take_seq();
    ASSERT_TRUE(next);
    EXPECT_GT(*next, sent);
    cp.reset();

    // Other keys under the same SPI: a new SA, counting from 1.
    const std::string other = "[ipsec]\nsa = out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=2122232425262728292a2b2c2d2e2f30 "
                              "auth=505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f\n";
    start(other);
    EXPECT_EQ(*cp->sas().outbound()[0]->take_seq(), 1u);
}

TEST_F(StateRestoreTest, AStoreThatCannotWriteTurnsBusInto130UntilItCan)
{
    std::atomic<bool> fail{false};
    StateConfig sc;
    sc.dir = dir;
    std::string err;
    image = StateImage{};
    auto real = open_rocksdb_state(dir, false, &image, &err);
    ASSERT_TRUE(real) << err;
    auto store = std::make_unique<StateStore>(std::make_unique<FlakyBackend>(std::move(real), &fail));
    cp = ControlPlane::create(config(), &err, std::move(store), &image);
    ASSERT_TRUE(cp) << err;

    auto ok = register_bu(kMr1, 1, *Prefix6::parse("2001:db8:aaaa::/48"));
    ASSERT_TRUE(turn_until_durable(ok[0].after_batch));
    fail = true;
    // Accepted before the failure is known; its BA never becomes sendable while the disk is full.
    auto lost = register_bu(kMr1, 2, *Prefix6::parse("2001:db8:aaaa::/48"));
    ASSERT_EQ(lost.size(), 1u);
    EXPECT_FALSE(turn_until_durable(lost[0].after_batch, 300));
    EXPECT_TRUE(cp->store()->refusing());
    EXPECT_NE(cp->store()->status().error.find("full"), std::string::npos);
    auto refused = register_bu(kMr1, 3, *Prefix6::parse("2001:db8:aaaa::/48"));
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(status_of(refused[0]), ba_status::insufficient_resources);
    EXPECT_EQ(refused[0].after_batch, 0u);
    EXPECT_EQ(cp->stats().get(Counter::state_bus_refused), 1u);
    EXPECT_EQ(cp->cache().find(kMr1)->binding.seq, 2u); // the refused BU changed nothing
    // Operator changes are refused too, rather than made in memory only.
    EXPECT_FALSE(cp->run_command({"add", "mr", "2001:db8:1::300"}, monotonic_seconds()).ok);
    EXPECT_FALSE(cp->provisioning().find(*Ipv6Addr::parse("2001:db8:1::300")));

    fail = false; // space again: the pending change is retried and made durable
    EXPECT_TRUE(turn_until_durable(lost[0].after_batch, 3000));
    EXPECT_FALSE(cp->store()->refusing());
    auto back = register_bu(kMr1, 4, *Prefix6::parse("2001:db8:aaaa::/48"));
    EXPECT_EQ(status_of(back[0]), 0);
    ASSERT_TRUE(turn_until_durable(back[0].after_batch));
    cp.reset();
    start();
    ASSERT_TRUE(cp->cache().find(kMr1));
    EXPECT_EQ(cp->cache().find(kMr1)->binding.seq, 4u);
}

} // namespace
