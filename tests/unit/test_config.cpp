#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <variant>

#include "config.hpp"

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
