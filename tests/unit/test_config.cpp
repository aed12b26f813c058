#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <variant>
#include <vector>

#include "config.hpp"
#include "encap.hpp"
#include "provision_text.hpp"

using namespace nemo;
using namespace nemo::control;

namespace {

const char* kGood = R"(# a home agent
[ha]
ipv6 = 2001:db8:1::1
ipv6 = 2001:db8:1::2
ipv4 = 192.0.2.1
home_prefix = 2001:db8:1::/64
max_lifetime = 600
methods = ipip,udp
allow_unprotected_signaling = yes
ipv4_coa_option_type = 200
binding_capacity = 1000

[cli]
socket = /tmp/nemo-test.sock

[provisioning]
mr = 2001:db8:1::100 router prefixes=2001:db8:aaaa::/48
mr = 2001:db8:1::101 host

[eal]
args = --no-huge -m 256 --no-pci
)";

std::string error_of(const std::string& text)
{
    auto r = parse_config_text(text, "ha.ini");
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

// kGood with one line replaced (or added after [ha] when `old` is empty).
std::string with(const std::string& old, const std::string& now)
{
    std::string t = kGood;
    if (old.empty()) return t.insert(t.find("[ha]\n") + 5, now + "\n");
    auto p = t.find(old);
    EXPECT_NE(p, std::string::npos) << old;
    return t.replace(p, old.size(), now);
}

} // namespace

TEST(Config, GoodFile)
{
    auto r = parse_config_text(kGood, "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<std::string>(r);
    const Config& c = std::get<Config>(r);
    EXPECT_EQ(c.ha.ipv6_addresses.size(), 2u);
    EXPECT_EQ(c.ha.ipv4_addresses[0].str(), "192.0.2.1");
    EXPECT_EQ(c.ha.home_prefix.str(), "2001:db8:1::/64");
    EXPECT_EQ(c.ha.max_binding_lifetime, 600u);
    EXPECT_EQ(c.ha.methods, method_bit(TunnelMethod::ipip) | method_bit(TunnelMethod::udp));
    EXPECT_TRUE(c.ha.allow_unprotected_signaling);
    EXPECT_EQ(c.ha.option_types.ipv4_coa, 200);
    EXPECT_EQ(c.ha.status_tunnel_unsupported, 144);
    EXPECT_EQ(c.binding_capacity, 1000u);
    EXPECT_EQ(c.cli_socket, "/tmp/nemo-test.sock");
    ASSERT_EQ(c.mrs.size(), 2u);
    EXPECT_FALSE(c.mrs[1].mobile_router);
    EXPECT_EQ(c.eal_args.size(), 4u);
    const std::string shown = render_config(c);
    EXPECT_NE(shown.find("methods = ipip,udp"), std::string::npos);
    // What render_config writes reads back to the same settings.
    auto again = parse_config_text(shown, "rendered");
    ASSERT_TRUE(std::holds_alternative<Config>(again)) << std::get<std::string>(again);
    EXPECT_EQ(std::get<Config>(again).ha.methods, c.ha.methods);
    EXPECT_EQ(std::get<Config>(again).ha.ipv6_addresses, c.ha.ipv6_addresses);
}

TEST(Config, DefaultsFromNotes)
{
    auto r = parse_config_text("[ha]\nipv6 = 2001:db8:1::1\nhome_prefix = 2001:db8:1::/64\n", "min.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<std::string>(r);
    const Config& c = std::get<Config>(r);
    EXPECT_EQ(c.ha.option_types.ipv4_coa, 18);
    EXPECT_EQ(c.ha.status_tunnel_unsupported, 144);
    EXPECT_EQ(c.ha.status_invalid_coa, 145);
    EXPECT_EQ(c.ha.udp_port, 4191);
    EXPECT_FALSE(c.ha.allow_unprotected_signaling);
}

TEST(Config, ErrorsNameFileLineAndKey)
{
    EXPECT_EQ(error_of(with("home_prefix = 2001:db8:1::/64", "home_prefix = 2001:db8:1::1/64")).rfind("ha.ini:6: ha.home_prefix: ", 0), 0u);
    EXPECT_EQ(error_of(with("ipv6 = 2001:db8:1::2", "ipv6 = ff02::1")).rfind("ha.ini:4: ha.ipv6: 'ff02::1'", 0), 0u);
    EXPECT_EQ(error_of(with("max_lifetime = 600", "max_lifetime = soon")).rfind("ha.ini:7: ha.max_lifetime: ", 0), 0u);
    EXPECT_EQ(error_of(with("methods = ipip,udp", "methods = ipip,teleport")).rfind("ha.ini:8: ha.methods: 'teleport'", 0), 0u);
    EXPECT_EQ(error_of(with("methods = ipip,udp", "methods = esp,esp-udp")), "") << "ESP methods exist";
    EXPECT_EQ(error_of(with("", "colour = blue")).rfind("ha.ini:3:", 0), 0u);
    EXPECT_NE(error_of(std::string(kGood) + "[ipsec]\nsa = in 0x1001 2001:db8:1::100 aes-gcm-128 enc=00\n").find("ha.ini:23: ipsec.sa: "),
              std::string::npos);
    EXPECT_EQ(error_of(with("allow_unprotected_signaling = yes", "allow_unprotected_signaling = maybe")).rfind("ha.ini:9:", 0), 0u);
    EXPECT_EQ(error_of(with("ipv4_coa_option_type = 200", "ipv4_coa_option_type = 6")).rfind("ha.ini:10:", 0), 0u);
    EXPECT_EQ(error_of(with("ipv4_coa_option_type = 200", "ipv4_coa_option_type = 32")).rfind("ha.ini:10:", 0), 0u);
    EXPECT_NE(error_of(with("", "status_invalid_coa = 135")).find("ha.status_invalid_coa"), std::string::npos);
    EXPECT_NE(error_of(with("", "status_invalid_coa = 144")).find("must differ"), std::string::npos);
    EXPECT_EQ(error_of(with("binding_capacity = 1000", "binding_capacity = 0")).rfind("ha.ini:11:", 0), 0u);
    // The second mr line is at fault: its line is named.
    EXPECT_EQ(error_of(with("mr = 2001:db8:1::101 host", "mr = 2001:db8:1::101 hots")).rfind("ha.ini:18: provisioning.mr: ", 0), 0u);
    EXPECT_NE(error_of(with("mr = 2001:db8:1::101 host", "mr = 2001:db8:2::101 host")).find("not on the home prefix"), std::string::npos);
    // Unknown keys and sections.
    EXPECT_EQ(error_of(with("", "colour = blue")).rfind("ha.ini:3: ha.colour: ", 0), 0u);
    // Reassembly that could hold more than half the mbufs is refused, with the way out.
    const std::string dp = std::string(kGood) + "[dataplane]\nmbufs = 8191\nreassembly_flows = ";
    EXPECT_EQ(error_of(dp + "511\n"), "");
    EXPECT_NE(error_of(dp + "600\n").find("dataplane.reassembly_flows: 600 flows could hold 4800 mbufs"), std::string::npos)
        << error_of(dp + "600\n");
    EXPECT_NE(error_of(dp + "0\nreassembly_timeout_ms = 0\n").find("dataplane.reassembly_timeout_ms"), std::string::npos);
    EXPECT_NE(error_of(dp + "0\ngateway_refresh_s = 0\n").find("dataplane.gateway_refresh_s"), std::string::npos);
    EXPECT_EQ(error_of(dp + "0\ngateway_refresh_s = 5\n"), "");
    EXPECT_NE(error_of(dp + "0\nneighbor_max_age_s = 1\n").find("dataplane.neighbor_max_age_s"), std::string::npos);
    EXPECT_EQ(error_of(dp + "0\nneighbor_max_age_s = 60\n"), "");
    EXPECT_NE(error_of(std::string(kGood) + "[nonsense]\nx = 1\n").find("nonsense.x"), std::string::npos);
    // Required keys.
    EXPECT_NE(error_of("[ha]\nipv6 = 2001:db8:1::1\n").find("ha.home_prefix: required"), std::string::npos);
    EXPECT_NE(error_of("[ha]\nhome_prefix = 2001:db8:1::/64\n").find("ha.ipv6: required"), std::string::npos);
    // Single-valued keys given twice.
    EXPECT_NE(error_of(with("", "max_lifetime = 10")).find("ha.max_lifetime"), std::string::npos);
}

TEST(Config, CommandLineOverridesAndNamesItself)
{
    char path[] = "/tmp/nemo-cfg-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    std::ofstream(path) << kGood;
    close(fd);
    CommandLine cl;
    const char* argv[] = {"nemo-ha", "--config", path, "--ha.max_lifetime=1200"};
    auto r = load_config(4, argv, cl);
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<std::string>(r);
    EXPECT_EQ(std::get<Config>(r).ha.max_binding_lifetime, 1200u);

    const char* bad[] = {"nemo-ha", "--config", path, "--ha.max_lifetime=forever"};
    auto e = load_config(4, bad, cl);
    ASSERT_TRUE(std::holds_alternative<std::string>(e));
    EXPECT_EQ(std::get<std::string>(e).rfind("command line: --ha.max_lifetime: ", 0), 0u) << std::get<std::string>(e);

    const char* unknown[] = {"nemo-ha", "--frobnicate"};
    EXPECT_TRUE(std::holds_alternative<std::string>(load_config(2, unknown, cl)));
    const char* missing[] = {"nemo-ha", "--config", "/nonexistent.ini"};
    EXPECT_NE(std::get<std::string>(load_config(3, missing, cl)).find("cannot open"), std::string::npos);
    const char* help[] = {"nemo-ha", "--help"};
    (void)load_config(2, help, cl);
    EXPECT_TRUE(cl.help);
    EXPECT_NE(cl.usage.find("ha.home_prefix"), std::string::npos);
    std::remove(path);
}

namespace {
// Whitespace collapsed, so that a phrase is found however Program_options wrapped it.
std::string one_line(const std::string& s)
{
    std::string out;
    for (char ch : s) {
        const bool space = ch == ' ' || ch == '\n' || ch == '\t';
        if (space && (out.empty() || out.back() == ' ')) continue;
        out += space ? ' ' : ch;
    }
    return out;
}

const char* kPorts = "[access]\nport = net_null0\n[home]\nport = net_null1\n";
const std::string kGcmLine = "sa = in 0x1001 2001:db8:1::100 aes-gcm-128 enc=0102030405060708090a0b0c0d0e0f10cafebabe\n";
const std::string kCbcLine = "sa = out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=1112131415161718191a1b1c1d1e1f20 "
                             "auth=404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\n";

std::string write_temp(const std::string& text, mode_t mode)
{
    char path[] = "/tmp/nemo-cfg-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    std::ofstream(path) << text;
    close(fd);
    EXPECT_EQ(chmod(path, mode), 0);
    return path;
}

std::variant<Config, std::string> load(std::vector<std::string> args)
{
    args.insert(args.begin(), "nemo-ha");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    CommandLine cl;
    return load_config(static_cast<int>(argv.size()), argv.data(), cl);
}
std::string load_error(const std::variant<Config, std::string>& r)
{
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}
} // namespace

TEST(Config, HelpListsEveryMethodAndTheTrueDefault)
{
    CommandLine cl;
    const char* help[] = {"nemo-ha", "--help"};
    (void)load_config(2, help, cl);
    const std::string usage = one_line(cl.usage);
    EXPECT_NE(usage.find("ipv6,ipip,gre,udp,esp,esp-udp"), std::string::npos) << usage;
    // The default the help states is the one a configuration without ha.methods gets.
    auto r = parse_config_text("[ha]\nipv6 = 2001:db8:1::1\nhome_prefix = 2001:db8:1::/64\n", "min.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<std::string>(r);
    const std::string dflt = "(default " + format_methods(std::get<Config>(r).ha.methods) + ")";
    EXPECT_EQ(dflt, "(default ipv6,ipip,gre,udp)");
    EXPECT_NE(usage.find(dflt), std::string::npos) << usage;
}

// Only the first ha.ipv4 is served (ARP, classification, tunnel source), so DHAAD replies (draft 6)
// must not advertise others: a second one is refused.
TEST(Config, OneIpv4HomeAgentAddressServedAndAdvertised)
{
    const std::string e = error_of(with("", "ipv4 = 192.0.2.2"));
    EXPECT_EQ(e.rfind("ha.ini:6: ha.ipv4: only one IPv4 home-agent address is served", 0), 0u) << e;
    EXPECT_EQ(error_of(kGood), "");
}

TEST(Config, MrLinesAskOnlyForEnabledMethods)
{
    // kGood enables ipip and udp.
    const std::string e = error_of(with("mr = 2001:db8:1::101 host", "mr = 2001:db8:1::101 host methods=udp,gre,esp"));
    EXPECT_EQ(e.rfind("ha.ini:18: provisioning.mr: 2001:db8:1::101 asks for gre,esp, which ha.methods (ipip,udp)", 0), 0u) << e;
    EXPECT_EQ(error_of(with("mr = 2001:db8:1::101 host", "mr = 2001:db8:1::101 host methods=udp")), "");

    // The provisioning file, read as the daemon reads it.
    char path[] = "/tmp/nemo-prov-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    auto cfg = std::get<Config>(parse_config_text(kGood, "ha.ini"));
    cfg.provisioning_file = path;
    std::ofstream(path) << "# routers\n2001:db8:1::200 router prefixes=2001:db8:cccc::/48 methods=ipip\n";
    EXPECT_EQ(check_provisioning_file(cfg), std::nullopt);
    std::ofstream(path) << "2001:db8:1::200 router methods=ipip\n2001:db8:1::201 router methods=esp-udp\n";
    auto bad = check_provisioning_file(cfg);
    ASSERT_TRUE(bad);
    EXPECT_NE(bad->find("2001:db8:1::201 asks for esp-udp, which ha.methods (ipip,udp) does not enable"), std::string::npos) << *bad;
    // Whatever else the daemon would refuse at start is refused here too (a prefix of a config mr line).
    std::ofstream(path) << "2001:db8:1::200 router prefixes=2001:db8:aaaa:1::/64\n";
    bad = check_provisioning_file(cfg);
    ASSERT_TRUE(bad);
    EXPECT_NE(bad->find(std::string(path) + ":1: "), std::string::npos) << *bad;
    std::remove(path);
    cfg.provisioning_file = "/nonexistent/routers.txt";
    EXPECT_TRUE(check_provisioning_file(cfg));
}

TEST(Config, EalArgumentsThatCannotWork)
{
    auto eal = [](const std::string& args, const std::string& extra = "") {
        return error_of(with("args = --no-huge -m 256 --no-pci", "args = " + args) + extra);
    };
    // EAL: "--legacy-mem is not compatible with --in-memory", and --no-huge implies --legacy-mem.
    EXPECT_EQ(eal("--no-huge --in-memory -m 256").rfind("ha.ini:21: eal.args: --in-memory cannot be used with --no-huge", 0), 0u)
        << eal("--no-huge --in-memory -m 256");
    EXPECT_NE(eal("--legacy-mem --in-memory").find("--in-memory cannot be used with --legacy-mem"), std::string::npos);
    EXPECT_EQ(eal("--in-memory"), "");
    EXPECT_NE(eal("--no-huge --socket-mem=512").find("--socket-mem reserves hugepages"), std::string::npos);
    EXPECT_NE(eal("-m 256 --socket-mem 512").find("-m and --socket-mem"), std::string::npos);
    // The control thread and at least one worker.
    EXPECT_NE(eal("--no-huge -l 0").find("names 1 lcore(s)"), std::string::npos);
    EXPECT_NE(eal("--no-huge -c 0x1").find("names 1 lcore(s)"), std::string::npos);
    EXPECT_EQ(eal("--no-huge -l 0-1"), "");
    EXPECT_EQ(eal("--no-huge -l0,2"), "");
    EXPECT_EQ(eal("--no-huge -c 3"), "");

    // Ports name a vdev of eal.args or a PCI device EAL may probe.
    EXPECT_EQ(eal("--no-huge --vdev=net_null0,size=64 --vdev net_null1", kPorts), "");
    const std::string missing = eal("--no-huge --vdev=net_null0", kPorts);
    EXPECT_EQ(missing.rfind("ha.ini:25: home.port: 'net_null1' is neither a --vdev of eal.args (net_null0) nor a PCI address", 0), 0u)
        << missing;
    const std::string pci = "[access]\nport = 0000:3b:00.0\n[home]\nport = 0000:3b:00.1\n";
    EXPECT_EQ(eal("--no-huge", pci), "");
    EXPECT_NE(eal("--no-pci", pci).find("access.port: '0000:3b:00.0' is a PCI device, and eal.args has --no-pci"), std::string::npos);
    EXPECT_NE(eal("-a 3b:00.0", pci).find("home.port: '0000:3b:00.1' is a PCI device that eal.args' -a list leaves out"),
              std::string::npos);
    EXPECT_EQ(eal("-a 3b:00.0 --allow=0000:3b:00.1,rxq_cqe_comp_en=0", pci), "");
    EXPECT_EQ(eal("--no-huge", "[access]\nport = 10000:01:00.7\n"), "") << "a domain behind a VMD bridge";
    EXPECT_NE(eal("--no-huge", "[access]\nport = 0000:3b:00.8\n").find("neither a --vdev"), std::string::npos);
    // DPDK names PCI ports in full: the short form names no port.
    EXPECT_NE(eal("", "[access]\nport = 3b:00.0\n").find("nor a PCI address in full"), std::string::npos);
}

TEST(Config, StartableNeedsPortsAddressAndHugepagesWithoutNoHuge)
{
    auto cfg_of = [](const std::string& args) {
        auto r = parse_config_text(with("args = --no-huge -m 256 --no-pci", "args = " + args) + kPorts, "ha.ini");
        EXPECT_TRUE(std::holds_alternative<Config>(r)) << std::get<std::string>(r);
        return std::get<Config>(r);
    };
    const Config with_huge = cfg_of("--vdev=net_null0 --vdev=net_null1");
    const auto e = check_startable(with_huge, 0);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->rfind("ha.ini: eal.args: this machine has no free hugepages", 0), 0u) << *e;
    EXPECT_EQ(check_startable(with_huge, 512), std::nullopt);
    EXPECT_EQ(check_startable(with_huge, std::nullopt), std::nullopt) << "unknown is not held against it";
    EXPECT_EQ(check_startable(cfg_of("--no-huge --vdev=net_null0 --vdev=net_null1"), 0), std::nullopt);

    Config c = with_huge;
    c.home.port.clear();
    EXPECT_NE(check_startable(c, 512).value_or("").find("home.port: required"), std::string::npos);
    c = with_huge;
    c.ha.ipv4_addresses.clear();
    EXPECT_NE(check_startable(c, 512).value_or("").find("ha.ipv4: required"), std::string::npos);
}

// RFC 8201 / RFC 8200 5: every link carries 1280-byte IPv6 packets, and RFC 4443 2.4 bars a Packet Too
// Big below that; a tunnel's link needs 1280 plus its encapsulation.
TEST(Config, MtuFloorsRfc8201)
{
    EXPECT_NE(error_of(std::string(kGood) + "[home]\nmtu = 1279\n").find("home.mtu: '1279'"), std::string::npos);
    // kGood enables ipip (20 bytes) and udp (28): the access side needs 1308.
    EXPECT_EQ(min_access_mtu(method_bit(TunnelMethod::ipip) | method_bit(TunnelMethod::udp)), 1280 + dp::encap_overhead(TunnelMethod::udp));
    const std::string e = error_of(std::string(kGood) + "[access]\nmtu = 1307\n");
    EXPECT_EQ(e.rfind("ha.ini:23: access.mtu: 1307 cannot carry a 1280-byte IPv6 packet (RFC 8201) in udp (28 bytes of "
                      "encapsulation): at least 1308 with ha.methods = ipip,udp", 0), 0u) << e;
    EXPECT_EQ(error_of(std::string(kGood) + "[access]\nmtu = 1308\n"), "");
    EXPECT_NE(error_of(with("methods = ipip,udp", "methods = ipip,esp-udp") + "[access]\nmtu = 1308\n").find("in esp-udp"),
              std::string::npos);
    // IPv6-in-IPv6 leaves from the home port; without it the home side needs only 1280.
    EXPECT_EQ(error_of(std::string(kGood) + "[home]\nmtu = 1280\n"), "");
    EXPECT_NE(error_of(with("methods = ipip,udp", "methods = ipv6,ipip") + "[home]\nmtu = 1280\n").find("home.mtu: 1280 cannot carry"),
              std::string::npos);
    EXPECT_EQ(min_home_mtu(method_bit(TunnelMethod::ipv6)), 1320);
    EXPECT_EQ(min_access_mtu(method_bit(TunnelMethod::ipv6)), 1280);
}

TEST(Config, NoInboundSaAndNoUnprotectedSignalingWarnsAtStart)
{
    const auto w = unprotected_signaling_warning(false, 0);
    ASSERT_TRUE(w);
    EXPECT_NE(w->find("EVERY Binding Update will be dropped"), std::string::npos);
    EXPECT_NE(w->find("nemoHaBuDropUnprotected"), std::string::npos);
    EXPECT_EQ(unprotected_signaling_warning(true, 0), std::nullopt);
    EXPECT_EQ(unprotected_signaling_warning(false, 1), std::nullopt);
}


// RFC 4106 section 2: a hand-keyed AES-GCM SA is refused unless ipsec.allow_manual_gcm is set, with its
// line named; AES-CBC with HMAC needs no switch.
TEST(Config, Rfc4106_2_ManualGcmNeedsTheLabSwitch)
{
    const std::string e = error_of(std::string(kGood) + "[ipsec]\n" + kGcmLine);
    EXPECT_EQ(e.rfind("ha.ini:23: ipsec.sa: ", 0), 0u) << e;
    EXPECT_NE(e.find("RFC 4106 section 2"), std::string::npos) << e;
    EXPECT_EQ(e.find("cafebabe"), std::string::npos) << e;
    EXPECT_EQ(error_of(std::string(kGood) + "[ipsec]\n" + kCbcLine), "");
    auto lab = parse_config_text(std::string(kGood) + "[ipsec]\nallow_manual_gcm = yes\n" + kGcmLine, "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(lab)) << std::get<std::string>(lab);
    EXPECT_TRUE(std::get<Config>(lab).allow_manual_gcm);
    EXPECT_NE(render_config(std::get<Config>(lab)).find("allow_manual_gcm = yes"), std::string::npos);
    EXPECT_NE(error_of(std::string(kGood) + "[ipsec]\nallow_manual_gcm = perhaps\n").find("ipsec.allow_manual_gcm"), std::string::npos);
}

// The daemon's command line is visible to every local user (ps): an SA there takes its keys from files.
TEST(Config, CommandLineSaKeysOnlyFromFiles)
{
    const std::string cfg = write_temp(kGood, 0644);
    const std::string key = write_temp("0102030405060708090a0b0c0d0e0f10cafebabe\n", 0600);
    auto r = load({"--config", cfg, "--ipsec.allow_manual_gcm=yes",
                   "--ipsec.sa=in 0x1001 2001:db8:1::100 aes-gcm-128 enc=0102030405060708090a0b0c0d0e0f10cafebabe"});
    const std::string e = load_error(r);
    EXPECT_EQ(e.rfind("command line: --ipsec.sa: ", 0), 0u) << e;
    EXPECT_NE(e.find("enc=@FILE"), std::string::npos) << e;
    EXPECT_EQ(e.find("cafebabe"), std::string::npos) << e;
    r = load({"--config", cfg, "--ipsec.allow_manual_gcm=yes", "--ipsec.sa=in 0x1001 2001:db8:1::100 aes-gcm-128 enc=@" + key});
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << load_error(r);
    ASSERT_EQ(std::get<Config>(r).sas.size(), 1u);
    EXPECT_EQ(std::get<Config>(r).sas[0].enc_key.size(), 20u);
    std::remove(cfg.c_str());
    std::remove(key.c_str());
}

// A configuration file with keys on its lines is refused when group or others may read it, as the
// provisioning file is (one rule, check_private); with keys in files it may be readable.
TEST(Config, FileWithLiteralKeysMustBePrivate)
{
    const std::string text = std::string(kGood) + "[ipsec]\n" + kCbcLine;
    const std::string open = write_temp(text, 0644);
    const std::string e = load_error(load({"--config", open}));
    EXPECT_EQ(e.rfind(open + ": holds keys", 0), 0u) << e;
    EXPECT_NE(e.find("chmod 600 " + open), std::string::npos) << e;
    EXPECT_NE(e.find("enc=@FILE"), std::string::npos) << e;
    EXPECT_EQ(e.find("404142"), std::string::npos) << e;
    ASSERT_EQ(chmod(open.c_str(), 0600), 0);
    EXPECT_EQ(load_error(load({"--config", open})), "");
    const std::string enc = write_temp("1112131415161718191a1b1c1d1e1f20", 0600);
    const std::string auth = write_temp("404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f", 0600);
    const std::string by_file = write_temp(std::string(kGood) + "[ipsec]\nsa = out 0x2001 2001:db8:1::100 "
                                           "aes-cbc-128-hmac-sha256 enc=@" + enc + " auth=@" + auth + "\n", 0644);
    auto r = load({"--config", by_file});
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << load_error(r);
    EXPECT_EQ(std::get<Config>(r).sas.at(0).auth_key.size(), 32u);
    for (const auto& p : {open, enc, auth, by_file}) std::remove(p.c_str());
}

TEST(Config, PuntRatesPerClass)
{
    auto r = parse_config_text(std::string(kGood) + "[dataplane]\npunt_priority_per_second = 0x100\npunt_bulk_per_second = 500\n", "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<std::string>(r);
    EXPECT_EQ(std::get<Config>(r).punt_priority_per_second, 256u);
    EXPECT_EQ(std::get<Config>(r).punt_bulk_per_second, 500u);
    const std::string text = render_config(std::get<Config>(r));
    EXPECT_NE(text.find("punt_bulk_per_second = 500"), std::string::npos);
    EXPECT_NE(error_of(std::string(kGood) + "[dataplane]\npunt_bulk_per_second = 0\n").find("dataplane.punt_bulk_per_second: '0'"),
              std::string::npos);
    auto d = parse_config_text(kGood, "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(d));
    EXPECT_EQ(std::get<Config>(d).punt_priority_per_second, 50000u);
    EXPECT_EQ(std::get<Config>(d).punt_bulk_per_second, 10000u);
}

TEST(Config, MetricsListenOffByDefaultIpv4AndBracketedIpv6)
{
    auto d = parse_config_text(kGood, "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(d));
    EXPECT_FALSE(std::get<Config>(d).metrics_listen) << "no endpoint unless asked for";
    auto empty = parse_config_text(std::string(kGood) + "[metrics]\nlisten =\n", "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(empty)) << std::get<std::string>(empty);
    EXPECT_FALSE(std::get<Config>(empty).metrics_listen) << "empty is off";

    auto v4 = parse_config_text(std::string(kGood) + "[metrics]\nlisten = 127.0.0.1:9464\n", "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(v4)) << std::get<std::string>(v4);
    const auto& l4 = *std::get<Config>(v4).metrics_listen;
    EXPECT_FALSE(l4.v6);
    EXPECT_EQ(l4.ipv4.str(), "127.0.0.1");
    EXPECT_EQ(l4.port, 9464);
    EXPECT_EQ(l4.str(), "127.0.0.1:9464");
    // render_config shows it, and what it shows reads back.
    const std::string shown = render_config(std::get<Config>(v4));
    EXPECT_NE(shown.find("[metrics]\nlisten = 127.0.0.1:9464\n"), std::string::npos) << shown;
    auto again = parse_config_text(shown, "rendered");
    ASSERT_TRUE(std::holds_alternative<Config>(again)) << std::get<std::string>(again);
    EXPECT_EQ(std::get<Config>(again).metrics_listen->str(), "127.0.0.1:9464");

    auto v6 = parse_config_text(std::string(kGood) + "[metrics]\nlisten = [2001:db8::5]:0x2000\n", "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(v6)) << std::get<std::string>(v6);
    const auto& l6 = *std::get<Config>(v6).metrics_listen;
    EXPECT_TRUE(l6.v6);
    EXPECT_EQ(l6.ipv6.str(), "2001:db8::5");
    EXPECT_EQ(l6.port, 0x2000);
    EXPECT_EQ(l6.str(), "[2001:db8::5]:8192");
    auto any = parse_listen_address("[::]:9464");
    ASSERT_TRUE(std::holds_alternative<ListenAddress>(any));
    EXPECT_TRUE(std::get<ListenAddress>(any).ipv6.is_unspecified());
    ASSERT_TRUE(std::holds_alternative<ListenAddress>(parse_listen_address("0.0.0.0:1")));
}

TEST(Config, MetricsListenErrorsNameTheLineAndWhatIsWrong)
{
    const std::string base = std::string(kGood) + "[metrics]\nlisten = "; // listen is line 23
    auto err = [&](const std::string& v) { return error_of(base + v + "\n"); };
    EXPECT_EQ(err("127.0.0.1:9464"), "");
    EXPECT_EQ(err("127.0.0.1").rfind("ha.ini:23: metrics.listen: '127.0.0.1' is not ADDR:PORT", 0), 0u) << err("127.0.0.1");
    EXPECT_NE(err("127.0.0.1:0").find("'0' is not a port from 1 to 65535"), std::string::npos) << err("127.0.0.1:0");
    EXPECT_NE(err("127.0.0.1:65536").find("'65536' is not a port"), std::string::npos);
    EXPECT_NE(err("127.0.0.1:").find("'' is not a port"), std::string::npos);
    EXPECT_NE(err("127.0.0.1:http").find("'http' is not a port"), std::string::npos);
    EXPECT_NE(err("localhost:9464").find("'localhost' is not an IPv4 address"), std::string::npos);
    EXPECT_NE(err("::1:9464").find("an IPv6 address goes in brackets"), std::string::npos) << err("::1:9464");
    EXPECT_NE(err("[::1]9464").find("is not [IPv6]:PORT"), std::string::npos);
    EXPECT_NE(err("[::1]").find("is not [IPv6]:PORT"), std::string::npos);
    EXPECT_NE(err("[::1:9464").find("is not [IPv6]:PORT"), std::string::npos);
    EXPECT_NE(err("[1.2.3.4]:9464").find("'1.2.3.4' is not an IPv6 address"), std::string::npos);
    EXPECT_NE(err("[ff02::1]:9464").find("multicast"), std::string::npos);
    EXPECT_NE(err("224.0.0.1:9464").find("multicast"), std::string::npos);
    EXPECT_NE(err("255.255.255.255:9464").find("broadcast"), std::string::npos);
    // From the command line, it says so.
    const char* argv[] = {"nemo-ha", "--metrics.listen=1.2.3:80"};
    CommandLine cl;
    auto r = load_config(2, argv, cl, kGood, "(built-in)");
    ASSERT_TRUE(std::holds_alternative<std::string>(r));
    EXPECT_EQ(std::get<std::string>(r).rfind("command line: --metrics.listen: '1.2.3:80'", 0), 0u) << std::get<std::string>(r);
}

TEST(Config, LogSection)
{
    auto defaults = parse_config_text(kGood, "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(defaults)) << std::get<std::string>(defaults);
    EXPECT_EQ(std::get<Config>(defaults).log.target, log::TargetSetting::automatic);
    EXPECT_EQ(std::get<Config>(defaults).log.level, log::Level::info);
    EXPECT_EQ(std::get<Config>(defaults).log.binding_events_per_second, 100u);

    const std::string t = std::string(kGood) + "[log]\ntarget = journal\nlevel = debug\nbinding_events_per_second = 0\n";
    auto r = parse_config_text(t, "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<std::string>(r);
    const Config& c = std::get<Config>(r);
    EXPECT_EQ(c.log.target, log::TargetSetting::journal);
    EXPECT_EQ(c.log.level, log::Level::debug);
    EXPECT_EQ(c.log.binding_events_per_second, 0u);
    for (auto [text, target] : {std::pair{"auto", log::TargetSetting::automatic}, std::pair{"stderr", log::TargetSetting::stderr_plain},
                                std::pair{"syslog", log::TargetSetting::syslog}}) {
        auto x = parse_config_text(std::string(kGood) + "[log]\ntarget = " + text + "\n", "ha.ini");
        ASSERT_TRUE(std::holds_alternative<Config>(x)) << text;
        EXPECT_EQ(std::get<Config>(x).log.target, target) << text;
    }
    // render_config shows the section, and it reads back.
    const std::string shown = render_config(c);
    EXPECT_NE(shown.find("[log]\ntarget = journal\nlevel = debug\nbinding_events_per_second = 0\n"), std::string::npos) << shown;
    auto again = parse_config_text(shown, "rendered");
    ASSERT_TRUE(std::holds_alternative<Config>(again)) << std::get<std::string>(again);
    EXPECT_EQ(std::get<Config>(again).log.level, log::Level::debug);
    EXPECT_EQ(std::get<Config>(again).log.target, log::TargetSetting::journal);

    // Errors name the line and say what is accepted.
    const std::string base = std::string(kGood) + "[log]\n";
    EXPECT_EQ(error_of(base + "target = console\n"), "ha.ini:23: log.target: 'console' is not auto, stderr, journal or syslog");
    EXPECT_EQ(error_of(base + "level = loud\n"), "ha.ini:23: log.level: 'loud' is not err, warning, notice, info or debug");
    EXPECT_EQ(error_of(base + "level = info\nbinding_events_per_second = -1\n"),
              "ha.ini:24: log.binding_events_per_second: '-1' is not a number from 0 to 1000000");
    EXPECT_NE(error_of(base + "binding_events_per_second = 1000001\n").find("log.binding_events_per_second"), std::string::npos);
    EXPECT_NE(error_of(base + "colour = blue\n").find("log.colour"), std::string::npos);

    // The command line wins, as for every key.
    const char* argv[] = {"nemo-ha", "--log.level=err", "--log.target=syslog"};
    CommandLine cl;
    auto cmd = load_config(3, argv, cl, kGood, "(built-in)");
    ASSERT_TRUE(std::holds_alternative<Config>(cmd)) << std::get<std::string>(cmd);
    EXPECT_EQ(std::get<Config>(cmd).log.level, log::Level::err);
    EXPECT_EQ(std::get<Config>(cmd).log.target, log::TargetSetting::syslog);
    const char* bad_argv[] = {"nemo-ha", "--log.level=verbose"};
    auto bad = load_config(2, bad_argv, cl, kGood, "(built-in)");
    ASSERT_TRUE(std::holds_alternative<std::string>(bad));
    EXPECT_EQ(std::get<std::string>(bad), "command line: --log.level: 'verbose' is not err, warning, notice, info or debug");
}

// A key an editor wrapped off its `sa =` line is a line without `=`: Boost's own message would quote it.
TEST(Config, ALineThatIsNotIniNamesItsNumberNeverItsText)
{
    const std::string key = "00112233445566778899aabbccddeeff";
    const std::string t = std::string(kGood) + "[ipsec]\nsa = in 0x1001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=\n" + key + "\n";
    const std::string e = error_of(t);
    ASSERT_FALSE(e.empty());
    EXPECT_EQ(e.find(key), std::string::npos) << e;
    EXPECT_EQ(e.find("ha.ini:24: not a `key = value` line"), 0u) << e;
}

// state.backend = etcd (a cluster): its keys, each refused with the line that is wrong; ESP refused.
TEST(Config, EtcdStateSection)
{
    const std::string etcd = "[state]\nbackend = etcd\netcd_endpoints = 127.0.0.1:2379,etcd-2.example:2379\ncluster = east\ninstance = ha-1\n"
                             "etcd_max_txn_ops = 1024\netcd_timeout_ms = 500\n";
    auto r = parse_config_text(std::string(kGood) + etcd, "ha.ini");
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<std::string>(r);
    const Config& c = std::get<Config>(r);
    EXPECT_EQ(c.state.backend, StateConfig::Backend::etcd);
    EXPECT_EQ(c.state.etcd.endpoints, (std::vector<std::string>{"127.0.0.1:2379", "etcd-2.example:2379"}));
    EXPECT_EQ(c.state.etcd.cluster, "east");
    EXPECT_EQ(c.state.etcd.instance, "ha-1");
    EXPECT_EQ(c.state.etcd.max_txn_ops, 1024u);
    EXPECT_EQ(c.state.etcd.timeout_ms, 500u);
    // Shown by `show config`, and read back the same.
    auto again = parse_config_text(render_config(c), "shown");
    ASSERT_TRUE(std::holds_alternative<Config>(again)) << std::get<std::string>(again);
    EXPECT_EQ(std::get<Config>(again).state.etcd.endpoints, c.state.etcd.endpoints);

    auto err = [&](const std::string& state_lines) { return error_of(std::string(kGood) + "[state]\n" + state_lines); };
    EXPECT_NE(err("backend = etcd\n").find("state.etcd_endpoints"), std::string::npos);
    EXPECT_NE(err("backend = etcd\netcd_endpoints = 127.0.0.1\n").find("'127.0.0.1' is not HOST:PORT"), std::string::npos);
    EXPECT_NE(err("backend = etcd\netcd_endpoints = 127.0.0.1:0\n").find("is not HOST:PORT"), std::string::npos);
    EXPECT_NE(err("backend = etcd\netcd_endpoints = a:1\ninstance = a/b\n").find("state.instance"), std::string::npos);
    EXPECT_NE(err("backend = etcd\netcd_endpoints = a:1\ncluster = \n").find("state.cluster"), std::string::npos);
    EXPECT_NE(err("backend = etcd\netcd_endpoints = a:1\netcd_cert = /c.pem\n").find("state.etcd_key"), std::string::npos);
    EXPECT_NE(err("backend = etcd\netcd_endpoints = a:1\netcd_cert = /c.pem\netcd_key = /k.pem\n").find("state.etcd_ca"), std::string::npos);
    EXPECT_NE(err("backend = etcd\netcd_endpoints = a:1\netcd_ca = ca.pem\n").find("absolute path"), std::string::npos);
    EXPECT_NE(err("backend = etcd\netcd_endpoints = a:1\netcd_max_txn_ops = 0\n").find("state.etcd_max_txn_ops"), std::string::npos);
    EXPECT_NE(err("backend = rocksdb\netcd_endpoints = a:1\n").find("is for state.backend = etcd"), std::string::npos);
    EXPECT_EQ(err("backend = etcd\netcd_endpoints = a:1\netcd_ca = /ca.pem\netcd_cert = /c.pem\netcd_key = /k.pem\n"), "");
    // A cluster keeps no ESP SAs: refused with why, not left to fail later.
    EXPECT_NE(error_of(with("methods = ipip,udp", "methods = ipip,esp") + "[state]\nbackend = etcd\netcd_endpoints = a:1\n").find("ha.methods"),
              std::string::npos);
    EXPECT_NE(error_of(std::string(kGood) + "[ipsec]\n" + kCbcLine + "[state]\nbackend = etcd\netcd_endpoints = a:1\n").find("ipsec.sa: ESP SAs are not kept in a cluster"),
              std::string::npos);
}

// [ike]: off by default; on, it needs the PSK file; numbers range-checked; refused in a cluster.
namespace {
std::variant<Config, std::string> load_good(std::vector<std::string> more)
{
    static const std::string cfg = write_temp(kGood, 0644);
    more.insert(more.begin(), {"--config", cfg});
    return load(more);
}
} // namespace

TEST(Config, IkeSection)
{
    auto off = load_good({});
    ASSERT_TRUE(std::holds_alternative<Config>(off)) << load_error(off);
    EXPECT_FALSE(std::get<Config>(off).ike.enabled);
    EXPECT_NE(load_error(load_good({"--ike.enabled=yes"})).find("ike.psk_file"), std::string::npos);
    auto on = load_good({"--ike.enabled=yes", "--ike.psk_file=/etc/nemo-ha/ike.psk", "--ike.id=ha.example", "--ike.dpd_s=5"});
    ASSERT_TRUE(std::holds_alternative<Config>(on)) << load_error(on);
    const IkeSettings& k = std::get<Config>(on).ike;
    EXPECT_TRUE(k.enabled);
    EXPECT_EQ(k.id, "fqdn:ha.example");
    EXPECT_EQ(k.dpd_s, 5u);
    EXPECT_NE(load_error(load_good({"--ike.enabled=maybe"})).find("maybe"), std::string::npos);
    EXPECT_NE(load_error(load_good({"--ike.psk_file=relative.psk"})).find("absolute"), std::string::npos);
    EXPECT_NE(load_error(load_good({"--ike.inits_per_turn=0"})).find("ike.inits_per_turn"), std::string::npos);
    EXPECT_NE(load_error(load_good({"--ike.id=bad:thing"})).find("IKE identity"), std::string::npos);
    EXPECT_NE(load_error(load_good({"--ike.enabled=yes", "--ike.psk_file=/x", "--state.backend=etcd", "--state.etcd_endpoints=127.0.0.1:2379"}))
                  .find("cluster"),
              std::string::npos);
}
