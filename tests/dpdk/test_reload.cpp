// A reload on a live control plane: the provisioning file (mobile nodes and SA lines) rewritten and
// read again. Unchanged entries keep their bindings, table slots, SAs (the same entries, sequence
// numbers and replay windows); removed ones lose their bindings (counted); added ones register; a file
// with an error, or an SA changed under its SPI, is refused whole and nothing changes; the operator's
// changes (add/del mr) stay applied over the files, as a restart applies them.
#include "../common/addresses.hpp"
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <new>
#include <variant>

#include "config.hpp"
#include "control_plane.hpp"
#include "ipv6.hpp"
#include "log.hpp"
#include "mobility_header.hpp"
#include "proto.hpp"
#include "router_bu.hpp"
#include "state_store.hpp"

using namespace nemo;
using namespace nemo::wire;
using namespace nemo::test;
using namespace nemo::control;

namespace {

const Ipv6Addr kMr1 = *Ipv6Addr::parse("2001:db8:1::100");
const Ipv6Addr kMr2 = *Ipv6Addr::parse("2001:db8:1::200");
const Ipv6Addr kMr3 = *Ipv6Addr::parse("2001:db8:1::300");
const Prefix6 kMnp1 = *Prefix6::parse("2001:db8:aaaa::/48");
const Prefix6 kMnp2 = *Prefix6::parse("2001:db8:cccc::/48");
const Prefix6 kMnp3 = *Prefix6::parse("2001:db8:dddd::/48");

// Keys of their own per SA (no two SAs may share one): `n` makes them differ.
std::string hex_of(unsigned n, std::size_t bytes)
{
    std::string s;
    char b[3];
    for (std::size_t i = 0; i < bytes; ++i) {
        std::snprintf(b, sizeof b, "%02x", static_cast<unsigned>((n * 37 + i * 11 + 1) & 0xff));
        s += b;
    }
    return s;
}
std::string sa_line(const char* dir, unsigned spi, const Ipv6Addr& hoa, unsigned keys)
{
    char s[16];
    std::snprintf(s, sizeof s, "0x%x", spi);
    return std::string("sa ") + dir + " " + s + " " + hoa.str() + " aes-cbc-128-hmac-sha256 enc=" + hex_of(keys, 16) +
           " auth=" + hex_of(keys + 1000, 32) + "\n";
}
const std::string kMr1Line = "2001:db8:1::100 router prefixes=2001:db8:aaaa::/48 methods=ipip,gre\n";
const std::string kMr2Line = "2001:db8:1::200 router prefixes=2001:db8:cccc::/48\n";
const std::string kMr3Line = "2001:db8:1::300 router prefixes=2001:db8:dddd::/48\n";

class ReloadTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/nemo-reload-test-XXXXXX";
        ASSERT_TRUE(::mkdtemp(tmpl));
        dir = tmpl;
        file = dir + "/routers.txt";
    }
    void TearDown() override
    {
        cp.reset();
        std::filesystem::remove_all(dir);
    }
    void write_file(const std::string& text)
    {
        // Written aside and renamed, as an editor or a deployment tool does; private: it holds keys.
        const std::string tmp = file + ".new";
        std::ofstream(tmp) << text;
        ::chmod(tmp.c_str(), 0600);
        std::filesystem::rename(tmp, file);
    }
    std::string config_text() const
    {
        return "[ha]\nipv6 = 2001:db8:1::1\nipv4 = 192.0.2.1\nhome_prefix = 2001:db8:1::/64\n"
               "allow_unprotected_signaling = yes\nbinding_capacity = 64\nmethods = ipip,gre,udp,esp\n"
               "[cli]\nsocket = " + dir + "/cli.sock\n[provisioning]\nfile = " + file + "\n" + extra;
    }
    Config config() const
    {
        auto c = parse_config_text(config_text(), "reload-test.ini");
        EXPECT_TRUE(std::holds_alternative<Config>(c)) << std::get<std::string>(c);
        return std::get<Config>(c);
    }
    void start(bool with_store = false)
    {
        cp.reset();
        std::string err;
        std::unique_ptr<StateStore> store;
        StateImage image;
        if (with_store) {
            StateConfig sc;
            sc.dir = dir + "/state";
            store = StateStore::open(sc, &image, &err);
            ASSERT_TRUE(store) << err;
        }
        cp = ControlPlane::create(config(), &err, std::move(store), &image);
        ASSERT_TRUE(cp) << err;
        // As the daemon does: the same configuration read again.
        cp->set_config_source([this]() { return parse_config_text(config_text(), "reload-test.ini"); });
    }
    ControlPlane::CliResult ctl(const std::vector<std::string>& w) { return cp->run_command(w, monotonic_seconds()); }

    uint8_t register_bu(const Ipv6Addr& hoa, uint16_t seq, const Prefix6& mnp, TunnelMethod via = TunnelMethod::ipip)
    {
        const std::vector<uint8_t> pkt = tunneled_router_bu(hoa, seq, mnp, via);
        Punted p;
        p.ipv6 = pkt;
        p.via = via;
        p.outer_src = kCoa4;
        std::vector<Outbound> out;
        cp->handle_signal(p, monotonic_seconds(), out);
        if (out.size() != 1) return 0xff;
        auto ip = parse_ipv6_packet(out[0].ipv6);
        auto ba = parse_binding_ack(*parse_mh(ip->upper));
        return ba ? ba->status : 0xfe;
    }
    static Ipv6Addr in(const Prefix6& p)
    {
        Ipv6Addr a = p.addr;
        a.bytes[15] = 5;
        return a;
    }

    std::string dir, file;
    std::string extra; // appended to the configuration
    std::unique_ptr<ControlPlane> cp;
};

TEST_F(ReloadTest, AddedWorkRemovedLoseTheirBindingsUnchangedAreUntouched)
{
    write_file(kMr1Line + kMr2Line + sa_line("in", 0x1001, kMr1, 1) + sa_line("out", 0x2001, kMr1, 2) +
               sa_line("in", 0x1002, kMr2, 3));
    start();
    ASSERT_EQ(register_bu(kMr1, 10, kMnp1), 0);
    ASSERT_EQ(register_bu(kMr2, 20, kMnp2), 0);
    EXPECT_EQ(register_bu(kMr3, 30, kMnp3), ba_status::not_home_agent_for_mn); // not provisioned yet
    const BindingEntry before = *cp->cache().find(kMr1);
    dp::SaEntry* in1 = cp->sas().inbound(0x1001);
    dp::SaEntry* out1 = cp->sas().outbound_for(kMr1);
    ASSERT_TRUE(in1 && out1);
    // State an SA carries that a replacement would lose: sequence numbers sent, packets seen.
    out1->next_seq.store(777);
    in1->window.accept(500);
    in1->window.accept(498);
    in1->inc(dp::SaCounter::packets, 2);

    // MR2 and its SA go, MR3 and an SA of its own come; MR1's lines are the same (another order).
    write_file("# rewritten\n" + sa_line("out", 0x2001, kMr1, 2) + kMr3Line + sa_line("in", 0x1003, kMr3, 4) + "\n" + kMr1Line +
               sa_line("in", 0x1001, kMr1, 1));
    auto r = ctl({"--json", "reload"});
    ASSERT_TRUE(r.ok) << r.body;
    EXPECT_NE(r.body.find("\"mobile_nodes\":{\"added\":1,\"removed\":1,\"changed\":0,\"unchanged\":1}"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"sas\":{\"added\":1,\"removed\":1,\"unchanged\":2}"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"bindings_removed\":1"), std::string::npos) << r.body;

    // Unchanged: the same binding in the same slot, the same SA entries with their state.
    const BindingEntry* after = cp->cache().find(kMr1);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->slot, before.slot);
    EXPECT_EQ(after->binding.seq, before.binding.seq);
    EXPECT_EQ(after->binding.created, before.binding.created);
    EXPECT_EQ(after->registrations, before.registrations);
    EXPECT_TRUE(cp->tables().lookup_downstream(in(kMnp1)));
    EXPECT_EQ(cp->sas().inbound(0x1001), in1);
    EXPECT_EQ(cp->sas().outbound_for(kMr1), out1);
    EXPECT_EQ(out1->next_seq.load(), 777u);
    EXPECT_EQ(in1->window.top(), 500u);
    EXPECT_EQ(in1->window.check(498), ReplayWindow::Verdict::replayed);
    EXPECT_EQ(in1->window.check(499), ReplayWindow::Verdict::ok);
    EXPECT_EQ(in1->get(dp::SaCounter::packets), 2u);

    // Removed: not provisioned, no binding, nothing forwarded to it, its SA gone; counted.
    EXPECT_FALSE(cp->provisioning().find(kMr2));
    EXPECT_FALSE(cp->cache().find(kMr2));
    EXPECT_FALSE(cp->tables().lookup_downstream(in(kMnp2)));
    EXPECT_FALSE(cp->sas().inbound(0x1002));
    EXPECT_EQ(cp->stats().get(Counter::reload_bindings_removed), 1u);
    EXPECT_EQ(cp->stats().get(Counter::reloads), 1u);
    EXPECT_EQ(cp->stats().get(Counter::reloads_refused), 0u);
    EXPECT_EQ(register_bu(kMr2, 21, kMnp2), ba_status::not_home_agent_for_mn);

    // Added: registers, and its SA is there.
    EXPECT_TRUE(cp->sas().inbound(0x1003));
    EXPECT_EQ(register_bu(kMr3, 31, kMnp3), 0);
    EXPECT_TRUE(cp->tables().lookup_downstream(in(kMnp3)));

    // The same file again: nothing to do, nothing touched.
    r = ctl({"reload"});
    ASSERT_TRUE(r.ok) << r.body;
    EXPECT_NE(r.body.find("0 added, 0 removed, 0 changed, 2 unchanged"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("bindings removed  0"), std::string::npos) << r.body;
    EXPECT_EQ(cp->sas().inbound(0x1001), in1);
    EXPECT_EQ(cp->stats().get(Counter::reloads), 2u);
}

TEST_F(ReloadTest, AFileWithAnErrorIsRefusedWholeAndTheOldStateStays)
{
    write_file(kMr1Line + kMr2Line + sa_line("in", 0x1001, kMr1, 1));
    start();
    ASSERT_EQ(register_bu(kMr1, 10, kMnp1), 0);
    ASSERT_EQ(register_bu(kMr2, 20, kMnp2), 0);
    const std::string key = hex_of(9, 16);

    struct Bad {
        std::string text, says;
    };
    const Bad bad[] = {
        // MR2 removed, MR3 added, then a line that does not parse: none of it may happen.
        {kMr1Line + kMr3Line + "2001:db8:1::400 router prefixes=2001:db8:eeee::/200\n", file + ":3: "},
        // An SA line that does not parse (a key of the wrong length; the message must not quote it).
        {kMr1Line + kMr3Line + "sa in 0x1009 2001:db8:1::300 aes-cbc-128-hmac-sha256 enc=" + key + "00 auth=" + hex_of(10, 32) + "\n",
         file + ":3: "},
        // Two entries claiming one prefix.
        {kMr1Line + kMr3Line + "2001:db8:1::400 router prefixes=2001:db8:dddd:1::/64\n", "overlaps"},
        // A method ha.methods does not enable.
        {kMr1Line + "2001:db8:1::300 router methods=esp-udp\n", "does not enable"},
        // A home address off the home prefix.
        {kMr1Line + "2001:db8:2::300 router\n", "not on the home prefix"},
        // An SA changed under its SPI: new keys.
        {kMr1Line + kMr3Line + sa_line("in", 0x1001, kMr1, 9), "0x1001 changes (keys)"},
        // Two SAs under one SPI (the first unchanged).
        {kMr1Line + kMr2Line + sa_line("in", 0x1001, kMr1, 1) + sa_line("in", 0x1001, kMr2, 5), "is in use"},
        // Two SAs sharing a key.
        {kMr1Line + kMr2Line + sa_line("in", 0x1001, kMr1, 1) + sa_line("in", 0x1005, kMr2, 1), "shares key material"},
    };
    uint64_t refused = 0;
    for (const Bad& b : bad) {
        write_file(b.text);
        auto r = ctl({"reload"});
        EXPECT_FALSE(r.ok) << b.says;
        EXPECT_NE(r.body.find("reload refused, nothing changed"), std::string::npos) << r.body;
        EXPECT_NE(r.body.find(b.says), std::string::npos) << r.body;
        EXPECT_EQ(r.body.find(key), std::string::npos) << "a key in the answer";
        EXPECT_EQ(cp->stats().get(Counter::reloads_refused), ++refused);
        // Nothing changed.
        EXPECT_TRUE(cp->provisioning().find(kMr2)) << b.says;
        EXPECT_FALSE(cp->provisioning().find(kMr3)) << b.says;
        EXPECT_TRUE(cp->cache().find(kMr1) && cp->cache().find(kMr2)) << b.says;
        EXPECT_TRUE(cp->tables().lookup_downstream(in(kMnp2))) << b.says;
        ASSERT_EQ(cp->sas().list().size(), 1u) << b.says;
        EXPECT_EQ(cp->sas().list()[0]->cfg.spi, 0x1001u);
    }
    EXPECT_EQ(cp->stats().get(Counter::reloads), 0u);
    EXPECT_EQ(cp->stats().get(Counter::reload_bindings_removed), 0u);

    // A file that cannot be read: refused too.
    std::filesystem::remove(file);
    auto r = ctl({"reload"});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.body.find(file), std::string::npos) << r.body;
    EXPECT_TRUE(cp->provisioning().find(kMr2));
}

TEST_F(ReloadTest, AChangedEntryKeepsItsBindingOnlyWhileItFits)
{
    write_file(kMr1Line + kMr2Line + kMr3Line);
    start();
    ASSERT_EQ(register_bu(kMr1, 10, kMnp1, TunnelMethod::gre), 0);
    ASSERT_EQ(register_bu(kMr2, 20, kMnp2), 0);
    ASSERT_EQ(register_bu(kMr3, 30, kMnp3), 0);
    const uint32_t slot2 = cp->cache().find(kMr2)->slot;
    // MR1 may no longer use GRE; MR2 gets a second prefix (its binding's is still authorized); MR3's
    // prefix moves to another.
    write_file("2001:db8:1::100 router prefixes=2001:db8:aaaa::/48 methods=ipip\n"
               "2001:db8:1::200 router prefixes=2001:db8:cccc::/48,2001:db8:bbbb::/48\n"
               "2001:db8:1::300 router prefixes=2001:db8:eeee::/48\n");
    auto r = ctl({"reload"});
    ASSERT_TRUE(r.ok) << r.body;
    EXPECT_NE(r.body.find("0 added, 0 removed, 3 changed, 0 unchanged"), std::string::npos) << r.body;
    EXPECT_FALSE(cp->cache().find(kMr1));
    ASSERT_TRUE(cp->cache().find(kMr2));
    EXPECT_EQ(cp->cache().find(kMr2)->slot, slot2);
    EXPECT_FALSE(cp->cache().find(kMr3));
    EXPECT_FALSE(cp->tables().lookup_downstream(in(kMnp3)));
    EXPECT_EQ(cp->stats().get(Counter::reload_bindings_removed), 2u);
    // The new provisioning decides the next BUs.
    EXPECT_EQ(register_bu(kMr1, 11, kMnp1, TunnelMethod::gre), ba_status::default_tunnel_method_unsupported);
    EXPECT_EQ(register_bu(kMr1, 12, kMnp1, TunnelMethod::ipip), 0);
    EXPECT_EQ(register_bu(kMr3, 31, *Prefix6::parse("2001:db8:eeee::/48")), 0);
}

TEST_F(ReloadTest, TheOperatorsChangesStayAppliedOverTheFilesAsAtARestart)
{
    write_file(kMr1Line + kMr2Line);
    start(/*with_store=*/true);
    ASSERT_TRUE(ctl({"add", "mr", "2001:db8:1::300", "router", "prefixes=2001:db8:dddd::/48"}).ok);
    ASSERT_TRUE(ctl({"del", "mr", "2001:db8:1::200"}).ok);
    ASSERT_EQ(register_bu(kMr3, 30, kMnp3), 0);
    // The file gains MR4 and keeps MR2: MR2 stays deleted (the operator's), MR3 stays (the operator's)
    // with its binding.
    write_file(kMr1Line + kMr2Line + "2001:db8:1::400 router\n");
    auto r = ctl({"reload"});
    ASSERT_TRUE(r.ok) << r.body;
    EXPECT_NE(r.body.find("1 added, 0 removed, 0 changed, 2 unchanged"), std::string::npos) << r.body;
    EXPECT_FALSE(cp->provisioning().find(kMr2));
    EXPECT_TRUE(cp->provisioning().find(kMr3));
    EXPECT_TRUE(cp->cache().find(kMr3));
    EXPECT_TRUE(cp->provisioning().find(*Ipv6Addr::parse("2001:db8:1::400")));
    // A file whose entry now overlaps the operator's: refused, saying so.
    write_file(kMr1Line + "2001:db8:1::400 router prefixes=2001:db8:dddd::/56\n");
    r = ctl({"reload"});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.body.find("the operator's add mr 2001:db8:1::300"), std::string::npos) << r.body;
    EXPECT_TRUE(cp->cache().find(kMr3));

    // A restart on the same store and files gives what the reload gave.
    write_file(kMr1Line + kMr2Line + "2001:db8:1::400 router\n");
    start(/*with_store=*/true);
    EXPECT_FALSE(cp->provisioning().find(kMr2));
    EXPECT_TRUE(cp->provisioning().find(kMr3));
    EXPECT_TRUE(cp->provisioning().find(*Ipv6Addr::parse("2001:db8:1::400")));
    EXPECT_EQ(cp->provisioning().size(), 3u);
}

// A stored `add mr` that a start could not apply again (the files now give its prefix to another router)
// is not applied over the files by a reload either: before, every reload was refused for it, and `del mr`
// could not take it back (not provisioned).
TEST_F(ReloadTest, AStoredChangeTheStartCouldNotApplyDoesNotBlockReloads)
{
    write_file(kMr1Line);
    start(/*with_store=*/true);
    ASSERT_TRUE(ctl({"add", "mr", "2001:db8:1::300", "router", "prefixes=2001:db8:dddd::/48"}).ok);
    // The files give MR3's prefix to another router: the stored add mr no longer applies at the start.
    write_file(kMr1Line + "2001:db8:1::400 router prefixes=2001:db8:dddd::/48\n");
    start(/*with_store=*/true);
    EXPECT_FALSE(cp->provisioning().find(kMr3));
    EXPECT_EQ(cp->stats().get(Counter::state_changes_not_reapplied), 1u);
    write_file(kMr1Line + "2001:db8:1::400 router prefixes=2001:db8:dddd::/48\n" + kMr2Line);
    const auto r = ctl({"reload"});
    ASSERT_TRUE(r.ok) << r.body;
    EXPECT_TRUE(cp->provisioning().find(kMr2));
    EXPECT_FALSE(cp->provisioning().find(kMr3));
}

// The event of a binding a reload removes says how long it had left (the removal's clock, not 0: with
// 0 it printed the binding's absolute expiry, and reset the binding events' rate limiter's second).
TEST_F(ReloadTest, ABindingARemovalDropsIsLoggedWithTheLifetimeItHadLeft)
{
    write_file(kMr1Line + kMr2Line);
    start();
    ASSERT_EQ(register_bu(kMr2, 20, kMnp2), 0);
    const std::string log_path = dir + "/events.log";
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    log::configure(log::Target::stderr_plain, log::Level::info, fd);
    write_file(kMr1Line);
    const auto r = ctl({"reload"});
    log::configure(log::Target::stderr_plain, log::Level::info, 2);
    ::close(fd);
    ASSERT_TRUE(r.ok) << r.body;
    std::ifstream in(log_path);
    std::stringstream text;
    text << in.rdbuf();
    const std::string all = text.str();
    // (std::string searches, not <regex>: GCC 12 warns inside <regex> under ASan, and warnings are errors.)
    const std::size_t line = all.find("binding removed hoa=" + kMr2.str() + " ");
    ASSERT_NE(line, std::string::npos) << all;
    const std::size_t at = all.find("remaining=", line);
    ASSERT_NE(at, std::string::npos) << all;
    const unsigned long remaining = std::stoul(all.substr(at + 10));
    // The BU asked for 100 units of 4 s; without the removal's clock this was the absolute expiry (400 +
    // the machine's uptime in seconds).
    EXPECT_LE(remaining, 400u) << all;
    EXPECT_GE(remaining, 390u) << all;
}

// What reading the files again throws (here the allocation a huge file would ask for) refuses the reload;
// it used to escape to the main loop and end the process.
TEST_F(ReloadTest, AnExceptionWhileReadingTheFilesRefusesTheReload)
{
    write_file(kMr1Line);
    start();
    ASSERT_EQ(register_bu(kMr1, 10, kMnp1), 0);
    cp->set_config_source([]() -> std::variant<Config, std::string> { throw std::bad_alloc(); });
    const auto r = ctl({"reload"});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.body.find("cannot read the configuration again"), std::string::npos) << r.body;
    EXPECT_EQ(cp->stats().get(Counter::reloads_refused), 1u);
    EXPECT_TRUE(cp->cache().find(kMr1)); // nothing changed
}

// A rekey with the old SA's key under the new SPI would start the sequence numbers at 1 again under that
// key (with GCM, nonces repeated): refused, and the old SA stays.
TEST_F(ReloadTest, ARekeyThatKeepsTheOldKeyIsRefused)
{
    write_file(kMr1Line + sa_line("out", 0x2001, kMr1, 1));
    start();
    dp::SaEntry* old = cp->sas().outbound_for(kMr1);
    ASSERT_TRUE(old);
    write_file(kMr1Line + sa_line("out", 0x2002, kMr1, 1)); // a new SPI, the same keys
    auto r = ctl({"reload"});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.body.find("has the key of the SA of SPI 0x2001 it replaces"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(hex_of(1, 16)), std::string::npos) << "no key in the answer";
    EXPECT_EQ(cp->sas().outbound_for(kMr1), old);
}

TEST_F(ReloadTest, ARekeyUnderANewSpiSwapsTheSasAtOnce)
{
    write_file(kMr1Line + sa_line("out", 0x2001, kMr1, 1));
    start(/*with_store=*/true);
    ASSERT_TRUE(cp->sas().outbound_for(kMr1));
    // The new outbound SA of the same home address, the old one's line gone: one reload.
    write_file(kMr1Line + sa_line("out", 0x2002, kMr1, 2));
    auto r = ctl({"reload"});
    ASSERT_TRUE(r.ok) << r.body;
    dp::SaEntry* now = cp->sas().outbound_for(kMr1);
    ASSERT_TRUE(now);
    EXPECT_EQ(now->cfg.spi, 0x2002u);
    EXPECT_FALSE(cp->sas().inbound(0x2001));
    EXPECT_EQ(cp->sas().list().size(), 1u);
    // With a store its first sequence numbers are reserved durably by the time the reload answers.
    EXPECT_TRUE(now->take_seq());
}

TEST_F(ReloadTest, OtherSettingsChangedAreSaidToNeedARestartAndNotApplied)
{
    write_file(kMr1Line);
    start();
    auto r = ctl({"--json", "reload"});
    ASSERT_TRUE(r.ok) << r.body;
    EXPECT_NE(r.body.find("\"restart_needed\":false"), std::string::npos) << r.body;
    // The configuration itself gains an mr line (applied) and another max_lifetime (not applied).
    extra = "mr = 2001:db8:1::200 router\n[ha]\nmax_lifetime = 77\n";
    const uint32_t lifetime = cp->config().ha.max_binding_lifetime;
    r = ctl({"--json", "reload"});
    ASSERT_TRUE(r.ok) << r.body;
    EXPECT_NE(r.body.find("\"restart_needed\":true"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"added\":1"), std::string::npos) << r.body;
    EXPECT_TRUE(cp->provisioning().find(kMr2));
    EXPECT_EQ(cp->config().ha.max_binding_lifetime, lifetime);
    r = ctl({"reload"});
    EXPECT_NE(r.body.find("apply at the next restart"), std::string::npos) << r.body;
}

TEST_F(ReloadTest, WithoutAConfigurationSourceAReloadIsRefused)
{
    write_file(kMr1Line);
    std::string err;
    cp = ControlPlane::create(config(), &err);
    ASSERT_TRUE(cp) << err;
    auto r = ctl({"reload"});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.body.find("no configuration"), std::string::npos) << r.body;
    EXPECT_EQ(cp->stats().get(Counter::reloads_refused), 1u);
}

} // namespace
