#include <gtest/gtest.h>

#include "provision_text.hpp"

using namespace nemo;

namespace {
std::string error_of(std::string_view line)
{
    auto r = parse_provision(line);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}
} // namespace

TEST(ProvisionText, FullLineRoundTrip)
{
    auto r = parse_provision("2001:db8:1::100 router prefixes=2001:db8:aaaa::/48,2001:db8:bbbb::/48 methods=ipip,udp");
    ASSERT_TRUE(std::holds_alternative<MrProvision>(r)) << std::get<std::string>(r);
    const auto& mr = std::get<MrProvision>(r);
    EXPECT_EQ(mr.hoa.str(), "2001:db8:1::100");
    EXPECT_TRUE(mr.mobile_router);
    ASSERT_EQ(mr.prefixes.size(), 2u);
    EXPECT_EQ(mr.methods, method_bit(TunnelMethod::ipip) | method_bit(TunnelMethod::udp));
    EXPECT_EQ(format_provision(mr),
              "2001:db8:1::100 router prefixes=2001:db8:aaaa::/48,2001:db8:bbbb::/48 methods=ipip,udp");
}

TEST(ProvisionText, Defaults)
{
    auto r = parse_provision("  2001:db8:1::101\t");
    ASSERT_TRUE(std::holds_alternative<MrProvision>(r));
    EXPECT_TRUE(std::get<MrProvision>(r).mobile_router);
    EXPECT_EQ(std::get<MrProvision>(r).methods, 0);
    auto host = parse_provision("2001:db8:1::102 host");
    EXPECT_FALSE(std::get<MrProvision>(host).mobile_router);
}

// ike-id= binds an IKEv2 identity (canonical form kept) to the home address.
TEST(ProvisionText, IkeIdentity)
{
    auto r = parse_provision("2001:db8:1::100 router prefixes=2001:db8:aaaa::/48 ike-id=r1.example");
    ASSERT_TRUE(std::holds_alternative<MrProvision>(r)) << std::get<std::string>(r);
    EXPECT_EQ(std::get<MrProvision>(r).ike_id, "fqdn:r1.example");
    EXPECT_EQ(format_provision(std::get<MrProvision>(r)), "2001:db8:1::100 router prefixes=2001:db8:aaaa::/48 ike-id=fqdn:r1.example");
    EXPECT_EQ(std::get<MrProvision>(parse_provision("2001:db8:1::101 ike-id=email:r@example.net")).ike_id, "email:r@example.net");
    EXPECT_EQ(std::get<MrProvision>(parse_provision("2001:db8:1::102 ike-id=198.51.100.10")).ike_id, "ip:198.51.100.10");
    EXPECT_TRUE(std::get<MrProvision>(parse_provision("2001:db8:1::103")).ike_id.empty());
    EXPECT_NE(error_of("2001:db8:1::100 ike-id=").find("IKE identity"), std::string::npos);
    EXPECT_NE(error_of("2001:db8:1::100 ike-id=ip:300.1.1.1").find("ip:300.1.1.1"), std::string::npos);
    EXPECT_NE(error_of("2001:db8:1::100 ike-id=a ike-id=b").find("twice"), std::string::npos);
}

TEST(ProvisionText, ErrorsNameTheWord)
{
    EXPECT_NE(error_of("").find("empty"), std::string::npos);
    EXPECT_NE(error_of("not-an-address").find("not-an-address"), std::string::npos);
    EXPECT_NE(error_of("fe80::1").find("unicast"), std::string::npos);
    EXPECT_NE(error_of("2001:db8:1::100 prefixes=2001:db8::1/48").find("2001:db8::1/48"), std::string::npos);
    EXPECT_NE(error_of("2001:db8:1::100 prefixes=::/0").find("::/0"), std::string::npos);
    EXPECT_NE(error_of("2001:db8:1::100 prefixes=2001:db8::/32,2001:db8:5::/48").find("overlap"), std::string::npos);
    EXPECT_NE(error_of("2001:db8:1::100 methods=ipip,carrier-pigeon").find("carrier-pigeon"), std::string::npos);
    EXPECT_NE(error_of("2001:db8:1::100 router host").find("twice"), std::string::npos);
    EXPECT_NE(error_of("2001:db8:1::100 colour=blue").find("colour=blue"), std::string::npos);
    EXPECT_NE(error_of("2001:db8:1::100 host prefixes=2001:db8:aaaa::/48").find("host"), std::string::npos);
}
