// The neighbour table itself: bounded by ageing and eviction, static and pinned entries kept, and
// removal safe for workers reading it at the same time (RCU).
#include <gtest/gtest.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <thread>

#include "neighbors.hpp"

using namespace nemo;
using namespace nemo::dp;

namespace {

int instance = 0;

std::unique_ptr<Neighbors> make(uint32_t capacity, rte_rcu_qsbr* rcu = nullptr)
{
    std::string err;
    auto n = Neighbors::create("nbt" + std::to_string(instance++), capacity, &err, rcu);
    EXPECT_TRUE(n) << err;
    return n;
}

Ipv4Addr v4(uint32_t host) { return Ipv4Addr{0xC0000200u + host}; } // 192.0.2.host (and beyond)
NeighborKey k4(uint32_t host) { return NeighborKey::of(v4(host)); }
// A MAC that says which address it belongs to: a reader can tell a torn or misplaced entry.
MacAddr mac_of(uint32_t host)
{
    return MacAddr{{0x02, 0x00, static_cast<uint8_t>(host >> 24), static_cast<uint8_t>(host >> 16),
                    static_cast<uint8_t>(host >> 8), static_cast<uint8_t>(host)}};
}

TEST(Neighbors, FullTableEvictsWhatASolicitationTaughtBeforeAnyAnswerToUs)
{
    auto n = make(4);
    for (uint32_t h = 1; h <= 4; ++h) EXPECT_EQ(n->learn(k4(h), mac_of(h), NeighborOrigin::solicitation, h), LearnResult::added);
    // An answer to our own request makes room: the oldest solicitation goes.
    EXPECT_EQ(n->learn(k4(10), mac_of(10), NeighborOrigin::reply, 10), LearnResult::added);
    EXPECT_FALSE(n->lookup(v4(1)));
    EXPECT_EQ(n->lookup(v4(10)), mac_of(10));
    EXPECT_EQ(n->evicted(), 1u);
    // A new solicitation evicts only other solicitations.
    for (uint32_t h = 11; h <= 13; ++h) n->learn(k4(h), mac_of(h), NeighborOrigin::reply, h);
    EXPECT_EQ(n->learned(), 4u);
    EXPECT_EQ(n->learn(k4(20), mac_of(20), NeighborOrigin::solicitation, 20), LearnResult::table_full);
    EXPECT_FALSE(n->lookup(v4(20)));
    EXPECT_EQ(n->refused_full(), 1u);
    // An answer evicts the oldest answer when nothing else is left.
    EXPECT_EQ(n->learn(k4(21), mac_of(21), NeighborOrigin::reply, 21), LearnResult::added);
    EXPECT_FALSE(n->lookup(v4(10)));
    EXPECT_EQ(n->learned(), 4u);
}

TEST(Neighbors, PinnedEntriesAreNeverEvicted)
{
    auto n = make(2);
    n->learn(k4(1), mac_of(1), NeighborOrigin::reply, 1, /*pinned=*/true);
    n->learn(k4(2), mac_of(2), NeighborOrigin::reply, 2);
    n->learn(k4(3), mac_of(3), NeighborOrigin::reply, 3);
    EXPECT_EQ(n->lookup(v4(1)), mac_of(1)) << "the gateway was evicted";
    EXPECT_FALSE(n->lookup(v4(2)));
    EXPECT_EQ(n->lookup(v4(3)), mac_of(3));
}

TEST(Neighbors, StaticEntriesNeverChangeByLearningNorCountAgainstTheCapacity)
{
    auto n = make(1);
    n->set(v4(1), mac_of(1), true);
    EXPECT_EQ(n->learn(k4(1), mac_of(99), NeighborOrigin::reply, 5), LearnResult::is_static);
    EXPECT_EQ(n->lookup(v4(1)), mac_of(1));
    EXPECT_EQ(n->learn(k4(2), mac_of(2), NeighborOrigin::reply, 5), LearnResult::added);
    std::vector<NeighborKey> probe;
    n->expire(1'000'000, 60, 3, probe);
    n->expire(1'000'010, 60, 3, probe);
    EXPECT_EQ(n->lookup(v4(1)), mac_of(1)) << "a static entry aged out";
}

TEST(Neighbors, AnEntryMaxAgeOldIsProbedThenRemovedWhenSilent)
{
    auto n = make(8);
    n->learn(k4(1), mac_of(1), NeighborOrigin::reply, 100);
    n->learn(k4(2), mac_of(2), NeighborOrigin::solicitation, 100);
    std::vector<NeighborKey> probe;
    n->expire(159, 60, 3, probe);
    EXPECT_TRUE(probe.empty());
    n->expire(160, 60, 3, probe);
    ASSERT_EQ(probe.size(), 2u);
    EXPECT_EQ(probe[0], k4(1));
    EXPECT_EQ(probe[1], k4(2));
    EXPECT_EQ(n->lookup(v4(1)), mac_of(1)) << "still used while the probe is out";
    // ::1 answers the probe; ::2 does not.
    n->learn(k4(1), mac_of(1), NeighborOrigin::reply, 161);
    probe.clear();
    n->expire(163, 60, 3, probe);
    EXPECT_TRUE(probe.empty());
    EXPECT_EQ(n->lookup(v4(1)), mac_of(1));
    EXPECT_FALSE(n->lookup(v4(2)));
    EXPECT_EQ(n->expired(), 1u);
    EXPECT_EQ(n->learned(), 1u);
    // Removed slots are reused: the table keeps taking entries as old ones go.
    for (uint32_t round = 0; round < 50; ++round) {
        const uint64_t t = 1000 + round * 100;
        for (uint32_t h = 0; h < 8; ++h) n->learn(k4(100 + round * 8 + h), mac_of(h), NeighborOrigin::reply, t);
        n->expire(t + 60, 60, 3, probe);
        n->expire(t + 63, 60, 3, probe);
    }
    EXPECT_EQ(n->refused_full(), 0u);
}

// A removed key's slot is not reused before every reader has passed a quiescent state: a worker that
// was in the middle of a lookup must not find another address's MAC under the key it compared.
TEST(Neighbors, ARemovedSlotWaitsForTheReadersGracePeriod)
{
    const std::size_t sz = rte_rcu_qsbr_get_memsize(1);
    auto* rcu = static_cast<rte_rcu_qsbr*>(rte_zmalloc("nbt_rcu_gp", sz, RTE_CACHE_LINE_SIZE));
    ASSERT_TRUE(rcu);
    ASSERT_EQ(rte_rcu_qsbr_init(rcu, 1), 0);
    auto n = make(4, rcu);
    // A reader that is online and never reports: no grace period ends.
    ASSERT_EQ(rte_rcu_qsbr_thread_register(rcu, 0), 0);
    rte_rcu_qsbr_thread_online(rcu, 0);
    uint32_t h = 1, added = 0;
    for (; h < 1000; ++h) {
        if (n->learn(k4(h), mac_of(h), NeighborOrigin::reply, h) != LearnResult::added) break;
        ++added;
    }
    EXPECT_LT(h, 1000u) << "evicted slots were reused before the reader's grace period";
    EXPECT_GT(added, 4u);
    EXPECT_GE(n->refused_full(), 1u);
    rte_rcu_qsbr_quiescent(rcu, 0);
    EXPECT_EQ(n->learn(k4(2000), mac_of(2000), NeighborOrigin::reply, 2000), LearnResult::added)
        << "slots not given back after the grace period";
    rte_rcu_qsbr_thread_offline(rcu, 0);
    rte_rcu_qsbr_thread_unregister(rcu, 0);
    n.reset();
    rte_free(rcu);
}

// Workers read while the control thread evicts and ages: every hit is the key's own MAC, the static
// entry is always there, and removed slots come back once the reader has passed a quiescent state
// (while it runs, a slot may still wait for it: those adds are refused and counted, never reused early).
TEST(Neighbors, RemovalIsSafeForAConcurrentReader)
{
    const std::size_t sz = rte_rcu_qsbr_get_memsize(1);
    auto* rcu = static_cast<rte_rcu_qsbr*>(rte_zmalloc("nbt_rcu", sz, RTE_CACHE_LINE_SIZE));
    ASSERT_TRUE(rcu);
    ASSERT_EQ(rte_rcu_qsbr_init(rcu, 1), 0);
    auto n = make(64, rcu);
    n->set(v4(0), mac_of(0), true);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> wrong{0}, hits{0}, static_missing{0}, rounds{0};
    std::thread reader([&] {
        rte_rcu_qsbr_thread_register(rcu, 0);
        rte_rcu_qsbr_thread_online(rcu, 0);
        uint32_t h = 1;
        while (!stop.load(std::memory_order_relaxed)) {
            for (int i = 0; i < 64; ++i, h = h % 4096 + 1) {
                if (auto m = n->lookup(v4(h))) {
                    ++hits;
                    if (!(*m == mac_of(h))) ++wrong;
                }
            }
            if (n->lookup(v4(0)) != mac_of(0)) ++static_missing;
            rte_rcu_qsbr_quiescent(rcu, 0);
            ++rounds;
        }
        rte_rcu_qsbr_thread_offline(rcu, 0);
        rte_rcu_qsbr_thread_unregister(rcu, 0);
    });
    uint64_t t = 1;
    std::vector<NeighborKey> probe;
    // As long as it takes the reader (sharing the machine) to pass 2000 quiescent states.
    for (uint32_t i = 0; (i < 200'000 || rounds.load() < 2000) && i < 20'000'000; ++i) {
        const uint32_t h = i % 4096 + 1;
        n->learn(k4(h), mac_of(h), i % 3 ? NeighborOrigin::reply : NeighborOrigin::solicitation, t);
        if (i % 1000 == 0) n->expire(++t, 5, 3, probe);
    }
    stop = true;
    reader.join();
    EXPECT_EQ(wrong.load(), 0u);
    EXPECT_EQ(static_missing.load(), 0u);
    EXPECT_GT(hits.load(), 0u);
    // How many evictions found a slot depends on how often the reader ran (the machine is shared);
    // that a waiting slot is never reused is ARemovedSlotWaitsForTheReadersGracePeriod's to prove.
    EXPECT_GT(n->evicted(), 0u);
    EXPECT_LE(n->learned(), 64u);
    // With the reader gone every grace period is over: the slots come back, new entries find room.
    for (uint32_t h = 5000; h < 5000 + 64; ++h)
        EXPECT_EQ(n->learn(k4(h), mac_of(h), NeighborOrigin::reply, t), LearnResult::added) << h;
    n.reset();
    rte_free(rcu);
}

} // namespace
