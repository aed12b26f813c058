#include <gtest/gtest.h>

#include "sa_text.hpp"

using namespace nemo;

namespace {
const std::string kGcmKey = "0102030405060708090a0b0c0d0e0f10cafebabe";
const std::string kCbcKey = "0102030405060708090a0b0c0d0e0f10";
const std::string kAuth = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";

std::string error_of(const std::string& line)
{
    auto r = parse_sa(line);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}
} // namespace

TEST(SaText, ParsesAndHidesKeys)
{
    auto r = parse_sa("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey + " esn window=2048");
    ASSERT_TRUE(std::holds_alternative<SaConfig>(r)) << std::get<std::string>(r);
    const SaConfig& sa = std::get<SaConfig>(r);
    EXPECT_TRUE(sa.inbound);
    EXPECT_EQ(sa.spi, 0x1001u);
    EXPECT_EQ(sa.enc_key.size(), 20u);
    EXPECT_TRUE(sa.esn);
    EXPECT_EQ(sa.window, 2048u);
    const std::string shown = format_sa(sa);
    EXPECT_EQ(shown, "in 0x1001 2001:db8:1::100 aes-gcm-128 enc=<hidden> esn window=2048");
    EXPECT_EQ(shown.find("cafebabe"), std::string::npos);

    auto cbc = parse_sa("out 4098 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=" + kCbcKey + " auth=" + kAuth);
    ASSERT_TRUE(std::holds_alternative<SaConfig>(cbc)) << std::get<std::string>(cbc);
    EXPECT_FALSE(std::get<SaConfig>(cbc).inbound);
    EXPECT_EQ(format_sa(std::get<SaConfig>(cbc)).find("4041"), std::string::npos);
}

TEST(SaText, ErrorsNeverEchoKeys)
{
    EXPECT_NE(error_of("sideways 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey).find("in or out"), std::string::npos);
    EXPECT_NE(error_of("in 7 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey).find("reserved"), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 fe80::1 aes-gcm-128 enc=" + kGcmKey).find("home address"), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 des enc=" + kGcmKey).find("algorithm"), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=0102").find("20 enc="), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 auth=" + kAuth).find("required"), std::string::npos);
    const auto bad = error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey + " secret=" + kGcmKey);
    EXPECT_NE(bad.find("'secret'"), std::string::npos);
    EXPECT_EQ(bad.find("cafebabe"), std::string::npos) << bad;
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=zz" + kGcmKey).find("hexadecimal"), std::string::npos);
    EXPECT_NE(error_of("in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + kGcmKey + " window=64").find("1024"), std::string::npos);
}
