// The SA table as the control thread fills it: many SAs published as one snapshot, all or nothing.
#include <gtest/gtest.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <vector>

#include "sa_table.hpp"

using namespace nemo;

namespace {

struct Rcu {
    rte_rcu_qsbr* v = nullptr;
    Rcu()
    {
        const std::size_t size = rte_rcu_qsbr_get_memsize(4);
        v = static_cast<rte_rcu_qsbr*>(rte_zmalloc("sa_test_rcu", size, RTE_CACHE_LINE_SIZE));
        if (v) rte_rcu_qsbr_init(v, 4);
    }
    ~Rcu() { rte_free(v); }
};

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
    c.enc_key.assign(20, static_cast<uint8_t>(spi));
    return c;
}

TEST(SaTable, ManyAtOnceAllOrNothing)
{
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable table(rcu.v);
    constexpr uint32_t kRouters = 5000;
    std::vector<SaConfig> batch;
    for (uint32_t r = 0; r < kRouters; ++r) {
        batch.push_back(sa(true, 0x10000 + r, r));
        batch.push_back(sa(false, 0x20000 + r, r));
    }
    ASSERT_FALSE(table.add_all(batch));
    EXPECT_EQ(table.list().size(), 2u * kRouters);
    // The raw keys do not stay in memory once expanded: zeroed, their lengths kept.
    const dp::SaEntry* first = table.inbound(0x10001); // keyed with 0x01 bytes
    ASSERT_TRUE(first);
    EXPECT_EQ(first->cfg.enc_key, std::vector<uint8_t>(20, 0));
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

} // namespace
