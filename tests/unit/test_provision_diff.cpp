#include <gtest/gtest.h>

#include "provision_diff.hpp"
#include "provision_text.hpp"

using namespace nemo;

namespace {
MrProvision mr(std::string_view line) { return std::get<MrProvision>(parse_provision(line)); }

KeyId key(uint8_t b)
{
    KeyId k{};
    k.fill(b);
    return k;
}

SaDigest sa(uint32_t spi, uint8_t k, bool inbound = true)
{
    SaConfig c;
    c.spi = spi;
    c.inbound = inbound;
    c.hoa = *Ipv6Addr::parse("2001:db8:1::100");
    c.algorithm = EspAlgorithm::aes_cbc_128_hmac_sha256;
    const KeyId keys[2] = {key(k), key(static_cast<uint8_t>(k + 100))};
    return sa_digest(c, keys);
}

Binding binding(std::string_view hoa, TunnelMethod m, std::vector<std::string_view> prefixes, bool router = true)
{
    Binding b;
    b.hoa = *Ipv6Addr::parse(hoa);
    b.coa.method = m;
    b.mobile_router = router;
    for (auto p : prefixes) b.prefixes.push_back(*Prefix6::parse(p));
    return b;
}
constexpr MethodSet kHa = method_bit(TunnelMethod::ipip) | method_bit(TunnelMethod::udp) | method_bit(TunnelMethod::gre);
} // namespace

TEST(ProvisionDiff, AddedRemovedChangedUnchanged)
{
    const std::vector<MrProvision> before = {mr("2001:db8:1::1 router prefixes=2001:db8:a::/48"),
                                             mr("2001:db8:1::2 router prefixes=2001:db8:b::/48"),
                                             mr("2001:db8:1::3 router methods=ipip")};
    const std::vector<MrProvision> after = {mr("2001:db8:1::4 host"),
                                            mr("2001:db8:1::3 router methods=ipip,udp"),
                                            mr("2001:db8:1::1 router prefixes=2001:db8:a::/48")};
    const MrChangeSet d = diff_provisioning(before, after);
    ASSERT_EQ(d.added.size(), 1u);
    EXPECT_EQ(d.added[0].hoa.str(), "2001:db8:1::4");
    ASSERT_EQ(d.removed.size(), 1u);
    EXPECT_EQ(d.removed[0].str(), "2001:db8:1::2");
    ASSERT_EQ(d.changed.size(), 1u);
    EXPECT_EQ(d.changed[0].hoa.str(), "2001:db8:1::3");
    EXPECT_EQ(d.changed[0].methods, method_bit(TunnelMethod::ipip) | method_bit(TunnelMethod::udp)); // the new one
    EXPECT_EQ(d.unchanged, 1u);
}

TEST(ProvisionDiff, SameSetIsAllUnchangedWhateverTheOrder)
{
    const std::vector<MrProvision> a = {mr("2001:db8:1::1 router prefixes=2001:db8:a::/48,2001:db8:c::/48"),
                                        mr("2001:db8:1::2 host")};
    const std::vector<MrProvision> b = {mr("2001:db8:1::2 host"),
                                        mr("2001:db8:1::1 router prefixes=2001:db8:c::/48,2001:db8:a::/48")};
    const MrChangeSet d = diff_provisioning(a, b);
    EXPECT_TRUE(d.added.empty());
    EXPECT_TRUE(d.removed.empty());
    EXPECT_TRUE(d.changed.empty());
    EXPECT_EQ(d.unchanged, 2u);
    EXPECT_EQ(diff_provisioning({}, {}).unchanged, 0u);
}

TEST(ProvisionDiff, EachFieldIsAChange)
{
    const MrProvision base = mr("2001:db8:1::1 router prefixes=2001:db8:a::/48 methods=ipip");
    EXPECT_EQ(diff_provisioning({mr("2001:db8:1::1 router methods=ipip")}, {mr("2001:db8:1::1 host methods=ipip")}).changed.size(), 1u);
    for (const char* line : {"2001:db8:1::1 router prefixes=2001:db8:a::/56 methods=ipip",
                             "2001:db8:1::1 router prefixes=2001:db8:a::/48",
                             "2001:db8:1::1 router methods=ipip"}) {
        const MrChangeSet d = diff_provisioning({base}, {mr(line)});
        EXPECT_EQ(d.changed.size(), 1u) << line;
        EXPECT_EQ(d.unchanged, 0u) << line;
    }
}

TEST(ProvisionDiff, Sas)
{
    const std::vector<SaDigest> before = {sa(0x1001, 1), sa(0x1002, 2), sa(0x2001, 3, false)};
    const std::vector<SaDigest> after = {sa(0x2001, 3, false), sa(0x1003, 4), sa(0x1002, 9)};
    const SaChangeSet d = diff_sas(before, after);
    EXPECT_EQ(d.added, std::vector<uint32_t>{0x1003});
    EXPECT_EQ(d.removed, std::vector<uint32_t>{0x1001});
    EXPECT_EQ(d.changed, std::vector<uint32_t>{0x1002});
    EXPECT_EQ(d.unchanged, 1u);
}

TEST(ProvisionDiff, EverySaFieldIsAChangeAndTheMessageNamesItWithoutKeys)
{
    const SaDigest a = sa(0x1001, 1);
    struct Case {
        const char* field;
        void (*edit)(SaDigest&);
    };
    const Case cases[] = {
        {"keys", [](SaDigest& d) { d.keys[1] = key(77); }},
        {"algorithm", [](SaDigest& d) { d.algorithm = EspAlgorithm::aes_gcm_128; }},
        {"direction", [](SaDigest& d) { d.inbound = false; }},
        {"home address", [](SaDigest& d) { d.hoa = *Ipv6Addr::parse("2001:db8:1::101"); }},
        {"esn", [](SaDigest& d) { d.esn = true; }},
        {"window", [](SaDigest& d) { d.window = 64; }},
        {"lifetime", [](SaDigest& d) { d.life_packets = 5; }},
    };
    for (const Case& c : cases) {
        SaDigest b = a;
        c.edit(b);
        const SaChangeSet d = diff_sas({a}, {b});
        EXPECT_EQ(d.changed, std::vector<uint32_t>{0x1001}) << c.field;
        const std::string msg = sa_change_error(a, b);
        EXPECT_NE(msg.find(c.field), std::string::npos) << msg;
        EXPECT_NE(msg.find("0x1001"), std::string::npos) << msg;
        EXPECT_EQ(msg.find("0101"), std::string::npos) << msg; // no fingerprint bytes either
    }
}

TEST(ProvisionDiff, BindingFits)
{
    const MrProvision p = mr("2001:db8:1::1 router prefixes=2001:db8:a::/48,2001:db8:b::/48 methods=ipip,udp");
    EXPECT_TRUE(binding_fits(binding("2001:db8:1::1", TunnelMethod::ipip, {"2001:db8:a::/48"}), p, kHa));
    EXPECT_TRUE(binding_fits(binding("2001:db8:1::1", TunnelMethod::udp, {"2001:db8:a:1::/64", "2001:db8:b::/48"}), p, kHa));
    EXPECT_TRUE(binding_fits(binding("2001:db8:1::1", TunnelMethod::udp, {}, false), p, kHa));
    // A method the entry no longer allows, a prefix outside its prefixes, a router made a host.
    EXPECT_FALSE(binding_fits(binding("2001:db8:1::1", TunnelMethod::gre, {"2001:db8:a::/48"}), p, kHa));
    EXPECT_FALSE(binding_fits(binding("2001:db8:1::1", TunnelMethod::ipip, {"2001:db8:c::/48"}), p, kHa));
    EXPECT_FALSE(binding_fits(binding("2001:db8:1::1", TunnelMethod::ipip, {"2001:db8::/32"}), p, kHa));
    EXPECT_FALSE(binding_fits(binding("2001:db8:1::1", TunnelMethod::ipip, {}), mr("2001:db8:1::1 host"), kHa));
    // No methods named: the home agent's decide.
    const MrProvision any = mr("2001:db8:1::1 router prefixes=2001:db8:a::/48");
    EXPECT_TRUE(binding_fits(binding("2001:db8:1::1", TunnelMethod::gre, {"2001:db8:a::/48"}), any, kHa));
    EXPECT_FALSE(binding_fits(binding("2001:db8:1::1", TunnelMethod::ipv6, {"2001:db8:a::/48"}), any, kHa));
    // Named methods the home agent does not enable do not count.
    EXPECT_FALSE(binding_fits(binding("2001:db8:1::1", TunnelMethod::ipv6, {}), mr("2001:db8:1::1 router methods=ipv6"), kHa));
}
