// ForwardTable (dataplane/forward_table.hpp): exact-match lookups, probing past full buckets, deleted
// slots reused only after an RCU grace period, the key limit, and readers racing the writer.
#include <gtest/gtest.h>

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <vector>

#include "forward_table.hpp"
#include "rcu_fixture.hpp"
#include "unpin.hpp"

using namespace nemo;
using namespace nemo::dp;

namespace {

using Key = ForwardTable::Key;

using test::Rcu;

std::unique_ptr<ForwardTable> make(uint32_t max_keys, rte_rcu_qsbr* rcu)
{
    std::string err;
    auto t = ForwardTable::create(max_keys, rcu, &err);
    EXPECT_TRUE(t) << err;
    return t;
}

Key key(uint64_t i) { return Key{{0x20010db800000000ull | i, 0}}; }

// Keys whose first bucket is `bucket` in a table of `buckets` buckets, found by trying.
std::vector<Key> colliding(uint32_t bucket, uint32_t buckets, std::size_t n)
{
    std::vector<Key> out;
    for (uint64_t i = 1; out.size() < n; ++i)
        if ((ForwardTable::hash(key(i)) & (buckets - 1)) == bucket) out.push_back(key(i));
    return out;
}

uint64_t word(uint32_t i) { return Route::make(TunnelMethod::gre, 0x0A000000u + i, static_cast<uint16_t>(i)); }

} // namespace

TEST(ForwardTable, WordCarriesTheRoute)
{
    const uint64_t w = Route::make(TunnelMethod::udp, 0xC0000201u, 40000);
    Route r{w, nullptr};
    EXPECT_TRUE(r.live());
    EXPECT_FALSE(r.needs_record());
    EXPECT_EQ(r.method(), TunnelMethod::udp);
    EXPECT_EQ(r.peer(), 0xC0000201u);
    EXPECT_EQ(r.port(), 40000);
    for (TunnelMethod m : {TunnelMethod::ipv6, TunnelMethod::esp, TunnelMethod::esp_udp})
        EXPECT_TRUE((Route{Route::make(m, 1, 2), nullptr}.needs_record())) << static_cast<int>(m);
    EXPECT_FALSE(Route{}.live());
}

TEST(ForwardTable, SetLookupRepointErase)
{
    Rcu rcu;
    auto t = make(64, rcu.v);
    int recs[40];
    for (uint32_t i = 0; i < 40; ++i)
        ASSERT_TRUE(t->set(key(i), word(i), reinterpret_cast<const FastBinding*>(&recs[i])));
    EXPECT_EQ(t->size(), 40u);
    for (uint32_t i = 0; i < 40; ++i) {
        Route r;
        ASSERT_TRUE(t->lookup(key(i), r)) << i;
        EXPECT_EQ(r.word, word(i));
        EXPECT_EQ(r.rec, reinterpret_cast<const FastBinding*>(&recs[i]));
    }
    Route r;
    EXPECT_FALSE(t->lookup(key(1000), r));
    // Re-pointing keeps one entry.
    ASSERT_TRUE(t->set(key(7), word(99), nullptr));
    EXPECT_EQ(t->size(), 40u);
    ASSERT_TRUE(t->lookup(key(7), r));
    EXPECT_EQ(r.word, word(99));
    EXPECT_TRUE(t->erase(key(7)));
    EXPECT_FALSE(t->erase(key(7)));
    EXPECT_FALSE(t->lookup(key(7), r));
    EXPECT_EQ(t->size(), 39u);
}

TEST(ForwardTable, KeysOfOneBucketProbeOnAndSurviveDeletesBeforeThem)
{
    Rcu rcu;
    auto t = make(8, rcu.v); // 8 buckets of 2
    const auto keys = colliding(5, 8, 5);
    for (uint32_t i = 0; i < keys.size(); ++i) ASSERT_TRUE(t->set(keys[i], word(i), nullptr));
    EXPECT_EQ(t->distance(keys[0]), 0u);
    EXPECT_EQ(t->distance(keys[2]), 1u);
    EXPECT_EQ(t->distance(keys[4]), 2u);
    EXPECT_EQ(t->max_probe(), 2u);
    ASSERT_TRUE(t->erase(keys[1]));
    ASSERT_TRUE(t->erase(keys[2]));
    for (uint32_t i : {0u, 3u, 4u}) {
        Route r;
        ASSERT_TRUE(t->lookup(keys[i], r)) << i << ": a deleted slot must not end the probe";
        EXPECT_EQ(r.word, word(i));
    }
}

TEST(ForwardTable, DeletedSlotReusedOnlyAfterAGracePeriod)
{
    Rcu rcu;
    ASSERT_EQ(rte_rcu_qsbr_thread_register(rcu.v, 0), 0);
    rte_rcu_qsbr_thread_online(rcu.v, 0); // a reader that has not reported yet
    auto t = make(8, rcu.v);
    const auto keys = colliding(2, 8, 4);
    ASSERT_TRUE(t->set(keys[0], word(0), nullptr));
    ASSERT_TRUE(t->set(keys[1], word(1), nullptr)); // bucket 2 full
    ASSERT_TRUE(t->erase(keys[0]));
    EXPECT_EQ(t->reclaim(), 1u) << "the reader may still be reading the deleted entry";
    ASSERT_TRUE(t->set(keys[2], word(2), nullptr));
    EXPECT_EQ(t->distance(keys[2]), 1u) << "the deleted slot was reused within its grace period";
    rte_rcu_qsbr_quiescent(rcu.v, 0);
    EXPECT_EQ(t->reclaim(), 0u);
    ASSERT_TRUE(t->set(keys[3], word(3), nullptr));
    EXPECT_EQ(t->distance(keys[3]), 0u) << "after the grace period the slot is free again";
    rte_rcu_qsbr_thread_offline(rcu.v, 0);
    rte_rcu_qsbr_thread_unregister(rcu.v, 0);
}

// Deleted slots become empty again once no key lies beyond them, so that a lookup of an absent key
// stops where the probe runs end instead of running over every slot that ever held a key.
TEST(ForwardTable, DeletedRunsBecomeEmptyWhenNothingLiesBeyond)
{
    Rcu rcu;
    auto t = make(8, rcu.v); // 8 buckets of 2
    const auto keys = colliding(5, 8, 5); // buckets 5, 5, 6, 6, 7
    for (uint32_t i = 0; i < keys.size(); ++i) ASSERT_TRUE(t->set(keys[i], word(i), nullptr));
    for (uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(t->erase(keys[i]));
    t->reclaim();
    EXPECT_EQ(t->tombstones(), 4u) << "the last key is reached through them";
    Route r;
    ASSERT_TRUE(t->lookup(keys[4], r));
    ASSERT_TRUE(t->erase(keys[4]));
    t->reclaim();
    EXPECT_EQ(t->tombstones(), 0u) << "nothing lies beyond any more";
    EXPECT_EQ(t->size(), 0u);
    // The table works as new.
    for (uint32_t i = 0; i < keys.size(); ++i) ASSERT_TRUE(t->set(keys[i], word(i), nullptr));
    EXPECT_EQ(t->distance(keys[4]), 2u);
    for (uint32_t i = 0; i < keys.size(); ++i) EXPECT_TRUE(t->lookup(keys[i], r)) << i;
}

// A table the process cannot get memory for is a clear error at creation, not a crash later. In a child
// whose address space is capped 256 MiB above what it uses, a table of 16 million keys (1 GiB).
TEST(ForwardTable, NoMemoryIsAnError)
{
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::ifstream statm("/proc/self/statm");
        unsigned long pages = 0;
        statm >> pages;
        const rlim_t cap = pages * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (256ul << 20);
        const rlimit lim{cap, cap};
        if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(3);
        std::string err;
        auto t = ForwardTable::create(16'000'000, nullptr, &err);
        if (t) _exit(1);
        _exit(err.find("forwarding table") != std::string::npos ? 0 : 2);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "the child crashed";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: a table was made; 2: the error does not say what; 3: no cap";
}

TEST(ForwardTable, RefusesKeysBeyondItsLimit)
{
    Rcu rcu;
    auto t = make(8, rcu.v);
    for (uint32_t i = 0; i < 8; ++i) ASSERT_TRUE(t->set(key(i), word(i), nullptr));
    EXPECT_FALSE(t->set(key(8), word(8), nullptr));
    EXPECT_TRUE(t->set(key(3), word(33), nullptr)) << "re-pointing needs no room";
    ASSERT_TRUE(t->erase(key(0)));
    EXPECT_TRUE(t->set(key(8), word(8), nullptr));
}

// A reader looking keys up while the writer deletes and re-inserts them, re-points them and fills freed
// slots with other keys must only ever see a key's own words.
TEST(ForwardTable, ReadersNeverSeeAnotherKeysRoute)
{
    Rcu rcu;
    auto t = make(64, rcu.v);
    constexpr uint32_t kKeys = 96; // more than fit at once: freed slots get other keys
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> seen{0}, wrong{0};
    ASSERT_EQ(rte_rcu_qsbr_thread_register(rcu.v, 1), 0);
    std::atomic<bool> started{false};
    std::thread reader([&] {
        unpin_from_main_lcore();
        rte_rcu_qsbr_thread_online(rcu.v, 1);
        started = true;
        for (uint32_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
            const uint32_t i = n % kKeys;
            Route r;
            if (t->lookup(key(i), r)) {
                seen.fetch_add(1, std::memory_order_relaxed);
                // Two words per key: word(i) and word(i + 1000).
                if (r.word != word(i) && r.word != word(i + 1000)) wrong.fetch_add(1, std::memory_order_relaxed);
            }
            if (n % 64 == 0) rte_rcu_qsbr_quiescent(rcu.v, 1);
        }
        rte_rcu_qsbr_thread_offline(rcu.v, 1);
    });
    while (!started) std::this_thread::yield();
    // Until the reader has made enough lookups (and at least 20 000 writer rounds).
    for (uint32_t round = 0; round < 20000 || seen.load(std::memory_order_relaxed) < 100000; ++round) {
        const uint32_t i = round % kKeys;
        if (!t->erase(key(i))) t->set(key(i), round % 2 ? word(i) : word(i + 1000), nullptr);
        t->set(key((i + 17) % kKeys), word((i + 17) % kKeys + 1000), nullptr);
        t->reclaim();
    }
    stop = true;
    reader.join();
    rte_rcu_qsbr_thread_unregister(rcu.v, 1);
    EXPECT_GT(seen.load(), 0u);
    EXPECT_EQ(wrong.load(), 0u);
}
