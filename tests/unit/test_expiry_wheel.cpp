#include <gtest/gtest.h>

#include <map>
#include <random>

#include "expiry_wheel.hpp"

using namespace nemo;
using namespace nemo::control;

namespace {
Ipv6Addr addr(uint32_t i)
{
    Ipv6Addr a;
    a.bytes[0] = 0x20;
    a.bytes[12] = static_cast<uint8_t>(i >> 24);
    a.bytes[13] = static_cast<uint8_t>(i >> 16);
    a.bytes[14] = static_cast<uint8_t>(i >> 8);
    a.bytes[15] = static_cast<uint8_t>(i);
    return a;
}
} // namespace

TEST(ExpiryWheel, FiresAtTheSecondNotBefore)
{
    ExpiryWheel w;
    w.schedule(addr(1), 1000, 0);
    int fired = 0;
    w.advance(999, [&](const Ipv6Addr&, uint64_t) { ++fired; });
    EXPECT_EQ(fired, 0);
    w.advance(1000, [&](const Ipv6Addr& a, uint64_t t) {
        EXPECT_EQ(a, addr(1));
        EXPECT_EQ(t, 1000u);
        ++fired;
    });
    EXPECT_EQ(fired, 1);
    w.advance(5000, [&](const Ipv6Addr&, uint64_t) { ++fired; });
    EXPECT_EQ(fired, 1) << "fires once";
}

TEST(ExpiryWheel, PastDueFiresAtNextAdvanceAndLongHorizon)
{
    ExpiryWheel w;
    w.advance(100, [](const Ipv6Addr&, uint64_t) {});
    w.schedule(addr(2), 50, 100);                        // already in the past
    w.schedule(addr(3), 100 + ExpiryWheel::kSlots - 1, 100); // the longest lifetime
    std::vector<uint64_t> at;
    w.advance(101, [&](const Ipv6Addr&, uint64_t t) { at.push_back(t); });
    ASSERT_EQ(at.size(), 1u);
    w.advance(100 + ExpiryWheel::kSlots - 2, [&](const Ipv6Addr&, uint64_t t) { at.push_back(t); });
    EXPECT_EQ(at.size(), 1u) << "not early, even a full turn later";
    w.advance(100 + ExpiryWheel::kSlots - 1, [&](const Ipv6Addr&, uint64_t t) { at.push_back(t); });
    EXPECT_EQ(at.size(), 2u);
}

TEST(ExpiryWheel, MatchesAReferenceSchedule)
{
    ExpiryWheel w;
    std::multimap<uint64_t, uint32_t> ref;
    std::mt19937 rng(1);
    uint64_t now = 10;
    w.advance(now, [](const Ipv6Addr&, uint64_t) {});
    for (int step = 0; step < 2000; ++step) {
        for (int k = 0; k < 5; ++k) {
            const uint32_t id = static_cast<uint32_t>(rng());
            const uint64_t exp = now + 1 + rng() % 3000;
            w.schedule(addr(id), exp, now);
            ref.emplace(exp, id);
        }
        now += rng() % 7;
        std::multiset<uint32_t> got, want;
        w.advance(now, [&](const Ipv6Addr& a, uint64_t) {
            got.insert((uint32_t{a.bytes[12]} << 24) | (uint32_t{a.bytes[13]} << 16) | (uint32_t{a.bytes[14]} << 8) | a.bytes[15]);
        });
        while (!ref.empty() && ref.begin()->first <= now) {
            want.insert(ref.begin()->second);
            ref.erase(ref.begin());
        }
        ASSERT_EQ(got, want) << "at " << now;
    }
}

// The wheel starts from the clock, not from the first expiry: a long lifetime scheduled first must not
// push a shorter one scheduled after it (before any advance) to the long one's second. Otherwise the short
// one fires late with a second that no longer matches its binding, and BindingCache::expire skips it
// for good (a BU punted before the control loop's first turn, after any restart under load).
TEST(ExpiryWheel, StartsFromTheClockNotFromTheFirstExpiry)
{
    ExpiryWheel w;
    const uint64_t now = 1000;
    w.schedule(addr(1), now + 3600, now); // long lifetime, scheduled first
    w.schedule(addr(2), now + 10, now);   // short lifetime, scheduled second, no advance yet
    std::vector<std::pair<uint32_t, uint64_t>> fired;
    auto due = [&](const Ipv6Addr& a, uint64_t t) { fired.emplace_back(a.bytes[15], t); };
    w.advance(now + 9, due);
    EXPECT_TRUE(fired.empty());
    w.advance(now + 10, due);
    ASSERT_EQ(fired.size(), 1u) << "the short lifetime fires on time";
    EXPECT_EQ(fired[0], (std::pair<uint32_t, uint64_t>{2, now + 10})) << "at its own second";
    w.advance(now + 3600, due);
    ASSERT_EQ(fired.size(), 2u);
    EXPECT_EQ(fired[1], (std::pair<uint32_t, uint64_t>{1, now + 3600}));
}
