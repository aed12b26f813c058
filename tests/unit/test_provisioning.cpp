#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <variant>
#include <vector>

#include "provision_text.hpp"
#include "provisioning.hpp"

using namespace nemo;
using namespace nemo::control;

namespace {
MrProvision mr(const char* line)
{
    auto r = parse_provision(line);
    EXPECT_TRUE(std::holds_alternative<MrProvision>(r)) << line;
    return std::get<MrProvision>(r);
}

std::string temp_file(const std::string& text)
{
    char path[] = "/tmp/nemo-prov-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    std::ofstream(path) << text;
    close(fd);
    return path;
}
} // namespace

TEST(Provisioning, AddFindRemove)
{
    ProvisioningStore s;
    EXPECT_FALSE(s.add(mr("2001:db8:1::100 prefixes=2001:db8:aaaa::/48")));
    ASSERT_TRUE(s.find(*Ipv6Addr::parse("2001:db8:1::100")));
    EXPECT_EQ(s.size(), 1u);
    EXPECT_TRUE(s.add(mr("2001:db8:1::100")).has_value()) << "duplicate without replace";
    EXPECT_FALSE(s.add(mr("2001:db8:1::100 prefixes=2001:db8:aaaa::/48,2001:db8:cccc::/48"), true));
    EXPECT_EQ(s.find(*Ipv6Addr::parse("2001:db8:1::100"))->prefixes.size(), 2u);
    EXPECT_TRUE(s.remove(*Ipv6Addr::parse("2001:db8:1::100")));
    EXPECT_FALSE(s.remove(*Ipv6Addr::parse("2001:db8:1::100")));
    EXPECT_EQ(s.size(), 0u);
    // Its prefixes are free again.
    EXPECT_FALSE(s.add(mr("2001:db8:1::200 prefixes=2001:db8:aaaa::/48")));
}

TEST(Provisioning, PrefixesOfDifferentRoutersMustNotOverlap)
{
    ProvisioningStore s;
    ASSERT_FALSE(s.add(mr("2001:db8:1::100 prefixes=2001:db8:aaaa::/48")));
    auto inside = s.add(mr("2001:db8:1::101 prefixes=2001:db8:aaaa:5::/64"));
    ASSERT_TRUE(inside);
    EXPECT_NE(inside->find("overlaps 2001:db8:aaaa::/48 of 2001:db8:1::100"), std::string::npos) << *inside;
    EXPECT_TRUE(s.add(mr("2001:db8:1::102 prefixes=2001:db8::/32"))) << "covering an existing one";
    EXPECT_TRUE(s.add(mr("2001:db8:1::103 prefixes=2001:db8:aaaa::/48"))) << "the same one";
    EXPECT_FALSE(s.add(mr("2001:db8:1::104 prefixes=2001:db8:aaab::/48"))) << "the neighbour is fine";
    EXPECT_FALSE(s.find(*Ipv6Addr::parse("2001:db8:1::101")));
    // Replacing an entry may keep its own prefixes.
    EXPECT_FALSE(s.add(mr("2001:db8:1::100 prefixes=2001:db8:aaaa::/48 methods=udp"), true));
}

TEST(Provisioning, FileErrorsNameFileAndLine)
{
    ProvisioningStore s;
    auto good = temp_file("# mobile routers\n\n2001:db8:1::100 prefixes=2001:db8:aaaa::/48\n2001:db8:1::101 host\r\n");
    EXPECT_FALSE(s.load_file(good));
    EXPECT_EQ(s.size(), 2u);
    auto bad = temp_file("2001:db8:1::200\n2001:db8:1::201 prefixes=nonsense\n");
    auto e = s.load_file(bad);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->rfind(bad + ":2: ", 0), 0u) << *e;
    EXPECT_NE(e->find("nonsense"), std::string::npos);
    auto overlap = temp_file("2001:db8:1::300 prefixes=2001:db8:aaaa:1::/64\n");
    auto e2 = s.load_file(overlap);
    ASSERT_TRUE(e2);
    EXPECT_NE(e2->find(":1: "), std::string::npos);
    EXPECT_TRUE(s.load_file("/nonexistent/nemo.prov"));
    std::remove(good.c_str());
    std::remove(bad.c_str());
    std::remove(overlap.c_str());
}

TEST(Provisioning, AMillionEntries)
{
    ProvisioningStore s;
    for (uint32_t i = 0; i < 1'000'000; ++i) {
        MrProvision m;
        m.hoa = *Ipv6Addr::parse("2001:db8:1::");
        m.hoa.bytes[12] = static_cast<uint8_t>(i >> 24);
        m.hoa.bytes[13] = static_cast<uint8_t>(i >> 16);
        m.hoa.bytes[14] = static_cast<uint8_t>(i >> 8);
        m.hoa.bytes[15] = static_cast<uint8_t>(i);
        Ipv6Addr p = *Ipv6Addr::parse("2001:db8::");
        p.bytes[2] = static_cast<uint8_t>(0x20 | (i >> 16));
        p.bytes[4] = static_cast<uint8_t>(i >> 8);
        p.bytes[5] = static_cast<uint8_t>(i);
        m.prefixes = {Prefix6::make(p, 48)};
        ASSERT_FALSE(s.add(m)) << i;
    }
    EXPECT_EQ(s.size(), 1'000'000u);
    Ipv6Addr probe = *Ipv6Addr::parse("2001:db8:1::");
    probe.bytes[13] = 0x0F;
    probe.bytes[14] = 0x42;
    probe.bytes[15] = 0x3F; // 999999
    ASSERT_TRUE(s.find(probe));
}

TEST(Provisioning, FileWithSecurityAssociations)
{
    const std::string key20(40, 'a'), key16(32, 'b'), auth(64, 'c');
    auto path = temp_file("2001:db8:1::100 prefixes=2001:db8:aaaa::/48\n"
                          "  sa in 0x1001 2001:db8:1::100 aes-gcm-128 enc=" + key20 + " esn window=2048\n"
                          "sa out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=" + key16 + " auth=" + auth + "\n");
    std::vector<SaConfig> got;
    auto collect = [&](const SaConfig& sa) -> std::optional<std::string> {
        got.push_back(sa);
        return std::nullopt;
    };
    ProvisioningStore s;
    EXPECT_FALSE(s.load_file(path, collect));
    EXPECT_EQ(s.size(), 1u);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(got[0].inbound);
    EXPECT_EQ(got[0].spi, 0x1001u);
    EXPECT_TRUE(got[0].esn);
    EXPECT_EQ(got[0].window, 2048u);
    EXPECT_FALSE(got[1].inbound);
    EXPECT_EQ(got[1].algorithm, EspAlgorithm::aes_cbc_128_hmac_sha256);
    EXPECT_EQ(got[1].auth_key.size(), 32u);

    // Where SAs are not taken, they are an error, not silently skipped.
    ProvisioningStore s2;
    auto e = s2.load_file(path);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->rfind(path + ":2: ", 0), 0u) << *e;
    // The SA table's refusal is reported with the line.
    ProvisioningStore s3;
    e = s3.load_file(path, [](const SaConfig&) -> std::optional<std::string> { return std::string("SPI 0x1001 exists"); });
    ASSERT_TRUE(e);
    EXPECT_NE(e->find(":2: SPI 0x1001 exists"), std::string::npos) << *e;
    // Keys in a file others may read: refused.
    ASSERT_EQ(chmod(path.c_str(), 0644), 0);
    got.clear();
    ProvisioningStore s4;
    e = s4.load_file(path, collect);
    ASSERT_TRUE(e);
    EXPECT_NE(e->find("chmod 600"), std::string::npos) << *e;
    EXPECT_TRUE(got.empty());
    std::remove(path.c_str());

    auto bad = temp_file("sa in 0x1001 2001:db8:1::100 des enc=00\n");
    ProvisioningStore s5;
    e = s5.load_file(bad, collect);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->rfind(bad + ":1: ", 0), 0u) << *e;
    std::remove(bad.c_str());
}

// Keys in key files (enc=@FILE): such a provisioning file may be readable by others, the key files may
// not. A bad SA line's error quotes no key.
TEST(Provisioning, SecurityAssociationsWithKeyFiles)
{
    const std::string key16 = "0102030405060708090a0b0c0d0e0f10", auth = std::string(64, 'c');
    auto enc = temp_file(key16 + "\n"), auth_file = temp_file(auth);
    ASSERT_EQ(chmod(enc.c_str(), 0600), 0);
    ASSERT_EQ(chmod(auth_file.c_str(), 0600), 0);
    auto path = temp_file("sa out 0x2001 2001:db8:1::100 aes-cbc-128-hmac-sha256 enc=@" + enc + " auth=@" + auth_file + "\n");
    ASSERT_EQ(chmod(path.c_str(), 0644), 0);
    std::vector<SaConfig> got;
    auto collect = [&](const SaConfig& sa) -> std::optional<std::string> {
        got.push_back(sa);
        return std::nullopt;
    };
    ProvisioningStore s;
    auto e = s.load_file(path, collect);
    EXPECT_FALSE(e) << *e;
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].enc_key.size(), 16u);
    EXPECT_EQ(got[0].enc_key[15], 0x10);
    // The key file readable by its group: refused, naming it.
    ASSERT_EQ(chmod(enc.c_str(), 0640), 0);
    ProvisioningStore s2;
    e = s2.load_file(path, collect);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->rfind(path + ":1: enc=@" + enc + ": holds keys", 0), 0u) << *e;
    // A bad SA line with a key on it: the message says what is wrong and quotes no key.
    auto bad = temp_file("sa in 0x1001 2001:db8:1::100 aes-gcm-129 enc=" + key16 + "cafebabe\n"
                         "sa in 0x1002 2001:db8:1::100 aes-gcm-128 enc " + key16 + "cafebabe\n");
    ASSERT_EQ(chmod(bad.c_str(), 0600), 0);
    ProvisioningStore s3;
    e = s3.load_file(bad, collect);
    ASSERT_TRUE(e);
    EXPECT_NE(e->find("not an algorithm"), std::string::npos) << *e;
    EXPECT_EQ(e->find("0102030405"), std::string::npos) << *e;
    EXPECT_EQ(e->find("cafebabe"), std::string::npos) << *e;
    // A key left over on the line (as if its enc= was forgotten): not quoted back either.
    auto bad2 = temp_file("sa in 0x1002 2001:db8:1::100 aes-gcm-128 enc=" + key16 + "00000000 " + key16 + "cafebabe\n");
    ASSERT_EQ(chmod(bad2.c_str(), 0600), 0);
    ProvisioningStore s4;
    e = s4.load_file(bad2, collect);
    ASSERT_TRUE(e);
    EXPECT_NE(e->find("unexpected <hidden>"), std::string::npos) << *e;
    EXPECT_EQ(e->find("cafebabe"), std::string::npos) << *e;
    for (const auto& p : {enc, auth_file, path, bad, bad2}) std::remove(p.c_str());
}
