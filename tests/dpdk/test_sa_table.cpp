// The SA table as the control thread fills it: many SAs published as one snapshot, all or nothing.
#include <gtest/gtest.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <vector>

#include "sa_table.hpp"
#include "rcu_fixture.hpp"

using namespace nemo;

namespace {

using test::Rcu;

SaConfig sa(bool inbound, uint32_t spi, uint32_t router)
{
    SaConfig c;
    c.inbound = inbound;
    c.spi = spi;
    c.hoa = *Ipv6Addr::parse("2001:db8:1::");
    c.hoa.bytes[12] = static_cast<uint8_t>(router >> 24);
    c.hoa.bytes[13] = static_cast<uint8_t>(router >> 16);
    c.hoa.bytes[14] = static_cast<uint8_t>(router >> 8);
    c.hoa.bytes[15] = static_cast<uint8_t>(router);
    c.algorithm = EspAlgorithm::aes_gcm_128;
    // A key of its own for every SPI (two SAs may not share one).
    c.enc_key.assign(20, 0x5A);
    for (int i = 0; i < 4; ++i) c.enc_key[i] = static_cast<uint8_t>(spi >> (8 * i));
    return c;
}

TEST(SaTable, ManyAtOnceAllOrNothing)
{
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable table(rcu.v, /*allow_manual_gcm=*/true);
    constexpr uint32_t kRouters = 5000;
    std::vector<SaConfig> batch;
    for (uint32_t r = 0; r < kRouters; ++r) {
        batch.push_back(sa(true, 0x10000 + r, r));
        batch.push_back(sa(false, 0x20000 + r, r));
    }
    ASSERT_FALSE(table.add_all(batch));
    EXPECT_EQ(table.list().size(), 2u * kRouters);
    // The raw keys do not stay in memory once expanded: wiped.
    const dp::SaEntry* first = table.inbound(0x10001);
    ASSERT_TRUE(first);
    EXPECT_TRUE(first->cfg.enc_key.empty());
    EXPECT_EQ(format_sa(first->cfg), "in 0x10001 2001:db8:1::1 aes-gcm-128 enc=<hidden>");
    for (uint32_t r = 0; r < kRouters; r += 499) {
        ASSERT_TRUE(table.inbound(0x10000 + r));
        EXPECT_EQ(table.inbound(0x10000 + r)->cfg.hoa, sa(true, 0, r).hoa);
        ASSERT_TRUE(table.outbound_for(sa(false, 0, r).hoa));
        EXPECT_EQ(table.outbound_for(sa(false, 0, r).hoa)->cfg.spi, 0x20000 + r);
        EXPECT_FALSE(table.inbound(0x20000 + r)) << "an outbound SPI is not an inbound SA";
    }

    // A batch with one SA in conflict (its SPI is taken) publishes none of its SAs, and says which.
    std::vector<SaConfig> bad = {sa(true, 0x30000, kRouters), sa(true, 0x10005, kRouters + 1), sa(true, 0x30001, kRouters + 2)};
    auto e = table.add_all(bad);
    ASSERT_TRUE(e);
    EXPECT_NE(e->find("SPI 65541 is in use"), std::string::npos) << *e;
    EXPECT_FALSE(table.inbound(0x30000));
    EXPECT_FALSE(table.inbound(0x30001));
    // Two outbound SAs for one home address in the same batch: refused too.
    e = table.add_all(std::vector<SaConfig>{sa(false, 0x40000, kRouters + 5), sa(false, 0x40001, kRouters + 5)});
    ASSERT_TRUE(e);
    EXPECT_NE(e->find("already has an outbound SA"), std::string::npos) << *e;
    EXPECT_EQ(table.list().size(), 2u * kRouters);
    table.reclaim();
}

SaConfig cbc(bool inbound, uint32_t spi, uint32_t router, uint8_t enc_seed, uint8_t auth_seed)
{
    SaConfig c = sa(inbound, spi, router);
    c.algorithm = EspAlgorithm::aes_cbc_128_hmac_sha256;
    c.enc_key.assign(16, enc_seed);
    c.auth_key.assign(32, auth_seed);
    return c;
}

// RFC 4106 section 2: AES-GCM MUST be used with automated key management; every SA here is keyed by
// hand, so GCM needs the lab switch. CBC with HMAC does not.
TEST(SaTable, Rfc4106_2_ManualGcmNeedsTheLabSwitch)
{
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable table(rcu.v);
    auto e = table.add(sa(true, 0x1001, 1));
    ASSERT_TRUE(e);
    EXPECT_NE(e->find("RFC 4106 section 2"), std::string::npos) << *e;
    EXPECT_NE(e->find("ipsec.allow_manual_gcm = yes"), std::string::npos) << *e;
    SaConfig g256 = sa(false, 0x2001, 1);
    g256.algorithm = EspAlgorithm::aes_gcm_256;
    g256.enc_key.assign(36, 0x77);
    EXPECT_TRUE(table.add(g256));
    EXPECT_TRUE(table.list().empty());
    EXPECT_FALSE(table.add(cbc(true, 0x1001, 1, 0x11, 0x22)));
    dp::SaTable lab(rcu.v, /*allow_manual_gcm=*/true);
    EXPECT_FALSE(lab.add(sa(true, 0x1001, 1)));
    lab.reclaim();
    table.reclaim();
}

// No two SAs share key material (RFC 4301 4.5.2; for GCM a shared key repeats nonces, RFC 4106 section
// 2): not an in/out pair, not two routers, not under another salt or algorithm, in one batch or not.
TEST(SaTable, Rfc4106_2_NoTwoSasShareAKey)
{
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable table(rcu.v, /*allow_manual_gcm=*/true);
    const SaConfig in = sa(true, 0x1001, 1);
    ASSERT_FALSE(table.add(in));
    auto refused = [&](SaConfig c, const char* what) {
        auto e = table.add(c);
        ASSERT_TRUE(e) << what;
        EXPECT_NE(e->find("shares key material with the SA of SPI 0x1001"), std::string::npos) << *e;
        EXPECT_NE(e->find("RFC 4301 4.5.2"), std::string::npos) << *e;
        EXPECT_NE(e->find("RFC 4106 section 2"), std::string::npos) << *e;
    };
    SaConfig out = in;
    out.inbound = false;
    out.spi = 0x2001;
    refused(out, "the pair's other half with the same key and salt");
    out.enc_key[19] ^= 1;
    refused(out, "the same key under another salt");
    SaConfig other_router = in;
    other_router.spi = 0x1002;
    other_router.hoa.bytes[15] = 2;
    refused(other_router, "another router");
    SaConfig as_cbc = cbc(false, 0x2001, 1, 0, 0x22);
    as_cbc.enc_key.assign(in.enc_key.begin(), in.enc_key.begin() + 16);
    refused(as_cbc, "the same AES key with another algorithm");
    EXPECT_EQ(table.list().size(), 1u);

    // CBC with HMAC: a shared authentication key is shared key material too.
    ASSERT_FALSE(table.add(cbc(true, 0x3001, 3, 0x31, 0x32)));
    auto e = table.add(cbc(false, 0x4001, 3, 0x41, 0x32));
    ASSERT_TRUE(e);
    EXPECT_NE(e->find("SPI 0x3001"), std::string::npos) << *e;
    // In one batch: refused too, and nothing of the batch is published.
    e = table.add_all(std::vector<SaConfig>{cbc(true, 0x5001, 5, 0x51, 0x52), cbc(false, 0x5002, 5, 0x51, 0x53)});
    ASSERT_TRUE(e);
    EXPECT_NE(e->find("SPI 0x5001"), std::string::npos) << *e;
    EXPECT_FALSE(table.inbound(0x5001));
    // A batch refused does not keep its keys reserved, and a deleted SA frees its keys.
    EXPECT_FALSE(table.add(cbc(true, 0x5001, 5, 0x51, 0x52)));
    ASSERT_TRUE(table.remove(0x1001));
    EXPECT_FALSE(table.add(other_router));
    table.reclaim();
}

} // namespace
