// The SA table as the control thread fills it: many SAs published as one snapshot, all or nothing.
#include <gtest/gtest.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
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

namespace {

// Lanes: each worker takes sequence numbers from a block of its own and counts on its own line.
TEST(SaLanes, BlocksNeverRepeatAndEachLaneSendsInOrder)
{
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable table(rcu.v, true, /*lanes=*/2);
    ASSERT_FALSE(table.add(sa(false, 0x501, 1)));
    dp::SaEntry* e = table.outbound_for(sa(false, 0, 1).hoa);
    ASSERT_TRUE(e);
    dp::SaLane* a = e->lane(0);
    dp::SaLane* b = e->lane(1);
    ASSERT_TRUE(a && b);
    EXPECT_FALSE(e->lane(2)) << "no lane past those the table was made with";
    std::vector<uint64_t> seen;
    uint64_t last_a = 0, last_b = 0, top = 0;
    // RFC 4303 3.4.3's smallest window takes every number: none is 32 below one handed out before it.
    auto in_window = [&](uint64_t x) {
        EXPECT_LT(top, x + dp::kSeqReorder) << x << " after " << top;
        top = std::max(top, x);
    };
    // Interleaved unevenly, with the shared counter (the control thread's) in between.
    for (int i = 0; i < 100; ++i) {
        auto x = e->take_seq(*a);
        ASSERT_TRUE(x);
        EXPECT_GT(*x, last_a);
        last_a = *x;
        in_window(*x);
        seen.push_back(*x);
        if (i % 3 == 0) {
            auto y = e->take_seq(*b);
            ASSERT_TRUE(y);
            EXPECT_GT(*y, last_b);
            last_b = *y;
            in_window(*y);
            seen.push_back(*y);
        }
        if (i % 7 == 0) {
            seen.push_back(*e->take_seq());
            top = std::max(top, seen.back());
        }
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a sequence number was handed out twice";
    EXPECT_EQ(seen.front(), 1u);
    // The first block of a lane starts where the counter was: lane a's first number was 1.
    // Lane b, three times slower than a, falls more than 32 behind within one block: it abandons the
    // rest and claims half as many next time. What is skipped is what lanes hold unsent and what b
    // abandoned, a small share.
    EXPECT_LE(seen.back(), seen.size() + 2 * dp::kSeqBlock) << "blocks skip at most what lanes hold unsent";

    // Counted on the lanes, read as one.
    e->count(a, 100);
    e->count(b, 50);
    e->count(nullptr, 7);
    EXPECT_EQ(e->get(dp::SaCounter::packets), 3u);
    EXPECT_EQ(e->get(dp::SaCounter::bytes), 157u);
    table.reclaim();
}

// A lane's block stops at the ceiling the state store has made durable and at the counter's end: no
// number above either is sent, from a block or otherwise (RFC 4303 3.3.3).
TEST(SaLanes, BlockStopsAtTheCeilingAndTheEnd)
{
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable table(rcu.v, true, 1);
    ASSERT_FALSE(table.add(sa(false, 0x601, 2)));
    dp::SaEntry* e = table.outbound_for(sa(false, 0, 2).hoa);
    ASSERT_TRUE(e);
    dp::SaLane& l = *e->lane(0);
    e->seq_ceiling.store(5);
    for (uint64_t want = 1; want <= 5; ++want) EXPECT_EQ(e->take_seq(l), want);
    EXPECT_FALSE(e->take_seq(l)) << "6 is above the ceiling";
    EXPECT_EQ(e->get(dp::SaCounter::drop_unreserved), 1u);
    e->seq_ceiling.store(esp_last_seq(false)); // the reservation rose
    EXPECT_EQ(e->take_seq(l), 6u);
    // Another sender takes the next block's first number: l's held numbers, still within 32, go on.
    EXPECT_EQ(e->take_seq(), 6u + dp::seq_block_for(1));
    EXPECT_EQ(e->take_seq(l), 7u);

    // The end of a 32-bit counter: 2^32 - 1 is the last number sent, from a block too.
    dp::SaLane fresh;
    e->next_seq.store(0xFFFFFFFDull);
    EXPECT_EQ(e->take_seq(fresh), 0xFFFFFFFDull);
    EXPECT_EQ(e->take_seq(fresh), 0xFFFFFFFEull);
    EXPECT_EQ(e->take_seq(fresh), 0xFFFFFFFFull);
    EXPECT_FALSE(e->take_seq(fresh));
    EXPECT_FALSE(e->take_seq());
    EXPECT_TRUE(e->exhausted());
    // Lane l still holds numbers of its block claimed before, far below what was sent since: they are
    // abandoned (a receiver would drop them), and counted; no block is left to claim.
    EXPECT_FALSE(e->take_seq(l));
    EXPECT_EQ(e->get(dp::SaCounter::seq_abandoned), 6u + dp::seq_block_for(1) - 8) << "8 up to the block's end";
    EXPECT_FALSE(e->take_seq(l));
    EXPECT_EQ(e->get(dp::SaCounter::seq_abandoned), 6u + dp::seq_block_for(1) - 8) << "counted once";
    table.reclaim();
}

// RFC 4303 3.4.3: a receiver's window may be as small as 32. A lane that sat idle while another sent
// must not resume with the rest of its old block, now far left of that window: it abandons it.
TEST(SaLanes, AnIdleLaneNeverSendsBelowTheSmallestWindow)
{
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable table(rcu.v, true, /*lanes=*/3);
    ASSERT_FALSE(table.add(sa(false, 0x511, 3)));
    dp::SaEntry* e = table.outbound_for(sa(false, 0, 3).hoa);
    ASSERT_TRUE(e);
    dp::SaLane &a = *e->lane(0), &b = *e->lane(1), &c = *e->lane(2);
    EXPECT_EQ(e->take_seq(a), 1u); // a holds 2..seq_block_for(3)
    uint64_t top = 0;
    std::vector<uint64_t> sent{1};
    for (int i = 0; i < 200; ++i) {
        auto y = e->take_seq(b);
        ASSERT_TRUE(y);
        top = std::max(top, *y);
        sent.push_back(*y);
    }
    auto x = e->take_seq(a);
    ASSERT_TRUE(x);
    EXPECT_GT(*x, top) << "a resumed below the window: " << *x << " after " << top;
    EXPECT_EQ(e->get(dp::SaCounter::seq_abandoned), dp::seq_block_for(3) - 1) << "what a held, 2 and on, counted";
    sent.push_back(*x);
    // Three lanes numbering one packet each in turn: each packet is still within 32 of the highest
    // numbered before it, and with blocks of 32 / 3 no lane abandons one: what the counter moved is
    // exactly what was handed out and what the lanes hold now beyond what they held before.
    auto held = [&] { return (a.end - a.next) + (b.end - b.next) + (c.end - c.next); };
    const uint64_t before = e->next_seq.load(), held_before = held();
    for (int i = 0; i < 300; ++i) {
        dp::SaLane& l = i % 3 == 0 ? a : i % 3 == 1 ? b : c;
        auto s = e->take_seq(l);
        ASSERT_TRUE(s);
        EXPECT_LT(top, *s + dp::kSeqReorder) << "packet " << i;
        top = std::max(top, *s);
        sent.push_back(*s);
    }
    EXPECT_EQ(e->next_seq.load() - before + held_before, 300 + held()) << "a block was abandoned while the lanes took turns";
    EXPECT_EQ(e->get(dp::SaCounter::seq_abandoned), dp::seq_block_for(3) - 1);
    std::sort(sent.begin(), sent.end());
    EXPECT_EQ(std::adjacent_find(sent.begin(), sent.end()), sent.end()) << "a sequence number was handed out twice";
    table.reclaim();
}

// The slot array: a binding's slot leads to the outbound SA of its home address, follows SA changes,
// and never leads to the SA of another home address when the slot changes hands.
TEST(SaSlots, SlotLeadsToTheSaOfItsHomeAddressOnly)
{
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable table(rcu.v, true, 1);
    const Ipv6Addr h1 = sa(false, 0, 1).hoa, h2 = sa(false, 0, 2).hoa;
    table.attach_slots(8);
    table.bind_slot(3, &h1);
    EXPECT_FALSE(table.outbound_for(3, h1)) << "no SA yet";
    ASSERT_FALSE(table.add(sa(false, 0x701, 1)));
    ASSERT_TRUE(table.outbound_for(3, h1));
    EXPECT_EQ(table.outbound_for(3, h1)->cfg.spi, 0x701u);
    // A rekey: the slot follows the new SA.
    ASSERT_FALSE(table.change(std::vector<uint32_t>{0x701}, std::vector<SaConfig>{sa(false, 0x702, 1)}));
    ASSERT_TRUE(table.outbound_for(3, h1));
    EXPECT_EQ(table.outbound_for(3, h1)->cfg.spi, 0x702u);
    // The slot goes to another router (h2, no SA): a reader still holding h1's record asks with h1 and
    // is answered by the home address, never with a stale pointer; h2 has none.
    table.bind_slot(3, &h2);
    EXPECT_FALSE(table.outbound_for(3, h2));
    ASSERT_TRUE(table.outbound_for(3, h1));
    EXPECT_EQ(table.outbound_for(3, h1)->cfg.hoa, h1);
    ASSERT_FALSE(table.add(sa(false, 0x801, 2)));
    ASSERT_TRUE(table.outbound_for(3, h2));
    EXPECT_EQ(table.outbound_for(3, h2)->cfg.spi, 0x801u);
    // Removed: the slot lets go.
    EXPECT_TRUE(table.remove(0x801));
    EXPECT_FALSE(table.outbound_for(3, h2));
    table.bind_slot(3, nullptr);
    EXPECT_FALSE(table.outbound_for(3, h2));
    EXPECT_FALSE(table.outbound_for(9, h1) == nullptr) << "a slot past the array falls back to the home address";
    table.reclaim();
}

// The workers' SPI index agrees with the table across many SAs and changes.
TEST(SaSlots, SpiIndexFindsEveryInboundSa)
{
    Rcu rcu;
    ASSERT_TRUE(rcu.v);
    dp::SaTable table(rcu.v, true);
    EXPECT_FALSE(table.inbound(0x1234)) << "an empty table";
    std::vector<SaConfig> batch;
    for (uint32_t r = 0; r < 3000; ++r) batch.push_back(sa(true, 0x100 + r * 7919, r));
    ASSERT_FALSE(table.add_all(batch));
    for (uint32_t r = 0; r < 3000; ++r) {
        const dp::SaEntry* e = table.inbound(0x100 + r * 7919);
        ASSERT_TRUE(e) << r;
        EXPECT_EQ(e->cfg.spi, 0x100 + r * 7919);
    }
    EXPECT_FALSE(table.inbound(0x101));
    EXPECT_TRUE(table.remove(0x100));
    EXPECT_FALSE(table.inbound(0x100));
    EXPECT_TRUE(table.inbound(0x100 + 7919));
    table.reclaim();
}

} // namespace
