#include <gtest/gtest.h>

#include <vector>

#include "watchdog_policy.hpp"

using namespace nemo;

namespace {
constexpr uint64_t kSec = 1'000'000;
}

TEST(WatchdogPolicy, StallThresholdIsHalfTheIntervalWithAFloor)
{
    EXPECT_EQ(watchdog_stall_after_us(10 * kSec), 5 * kSec);
    EXPECT_EQ(watchdog_stall_after_us(3 * kSec), 1'500'000u);
    EXPECT_EQ(watchdog_stall_after_us(2 * kSec), kWatchdogMinStallUs) << "exactly at the floor";
    EXPECT_EQ(watchdog_stall_after_us(100'000), kWatchdogMinStallUs) << "a tiny interval does not make a busy machine a stall";
    EXPECT_EQ(watchdog_stall_after_us(0), kWatchdogMinStallUs);
    EXPECT_EQ(watchdog_feed_every_us(10 * kSec), 2'500'000u);
    EXPECT_LT(watchdog_feed_every_us(10 * kSec), 10 * kSec / 2) << "at least twice an interval, as sd_watchdog_enabled(3) asks";
}

TEST(WatchdogPolicy, FirstSampleStartsTheClocksAndFeeds)
{
    WatchdogState st;
    const std::vector<uint64_t> beats = {0, 0};
    auto v = watchdog_decide(st, beats, 100 * kSec, kSec);
    EXPECT_TRUE(v.feed);
    EXPECT_FALSE(v.stalled);
    // Not started counters (still 0) have a full threshold from the first sample on.
    v = watchdog_decide(st, beats, 100 * kSec + kSec, kSec);
    EXPECT_TRUE(v.feed) << "exactly the threshold is not yet a stall";
    v = watchdog_decide(st, beats, 100 * kSec + kSec + 1, kSec);
    EXPECT_FALSE(v.feed);
    EXPECT_EQ(v.stalled_workers, 2u);
    ASSERT_TRUE(v.stalled);
    EXPECT_EQ(*v.stalled, 0u) << "equal stalls: the lowest index is named";
}

TEST(WatchdogPolicy, MovingHeartbeatsAreFedForever)
{
    WatchdogState st;
    std::vector<uint64_t> beats = {5, 7, 9};
    for (uint64_t t = 0; t < 600; ++t) {
        for (auto& b : beats) b += 1 + t % 3;
        auto v = watchdog_decide(st, beats, t * kSec / 2, kSec);
        ASSERT_TRUE(v.feed) << "at " << t;
        ASSERT_EQ(v.stalled_workers, 0u);
    }
}

TEST(WatchdogPolicy, OneStalledWorkerIsNamedAndWithholds)
{
    WatchdogState st;
    std::vector<uint64_t> beats = {0, 0, 0};
    watchdog_decide(st, beats, 0, 2 * kSec);
    uint64_t t = 0;
    WatchdogVerdict v;
    // Worker 1 stops at 1 s; the others keep going.
    for (; t <= 1 * kSec; t += 100'000) {
        for (auto& b : beats) ++b;
        v = watchdog_decide(st, beats, t, 2 * kSec);
        ASSERT_TRUE(v.feed);
    }
    const uint64_t stopped_at = t - 100'000;
    for (; t <= stopped_at + 2 * kSec; t += 100'000) {
        ++beats[0];
        ++beats[2];
        v = watchdog_decide(st, beats, t, 2 * kSec);
        ASSERT_TRUE(v.feed) << "within the threshold at " << t;
    }
    ++beats[0];
    ++beats[2];
    v = watchdog_decide(st, beats, t, 2 * kSec);
    EXPECT_FALSE(v.feed);
    EXPECT_EQ(v.stalled_workers, 1u);
    ASSERT_TRUE(v.stalled);
    EXPECT_EQ(*v.stalled, 1u);
    EXPECT_EQ(v.stalled_for_us, t - stopped_at);
    // It resumes: fed again at once.
    ++beats[1];
    v = watchdog_decide(st, beats, t + 1, 2 * kSec);
    EXPECT_TRUE(v.feed);
    EXPECT_FALSE(v.stalled);
    EXPECT_EQ(v.stalled_for_us, 0u);
}

TEST(WatchdogPolicy, TheLongestStallIsNamed)
{
    WatchdogState st;
    std::vector<uint64_t> beats = {1, 1, 1, 1};
    watchdog_decide(st, beats, 0, kSec);
    beats = {2, 2, 1, 2}; // worker 2 stops at 0
    watchdog_decide(st, beats, kSec / 2, kSec);
    beats = {2, 3, 1, 3}; // worker 0 stops at 0.5 s
    watchdog_decide(st, beats, kSec, kSec);
    beats = {2, 4, 1, 3}; // worker 3 stops at 1 s
    auto v = watchdog_decide(st, beats, 2 * kSec + 1, kSec);
    EXPECT_FALSE(v.feed);
    EXPECT_EQ(v.stalled_workers, 3u);
    ASSERT_TRUE(v.stalled);
    EXPECT_EQ(*v.stalled, 2u) << "neither the first nor the last stalled, the longest";
    EXPECT_EQ(v.stalled_for_us, 2 * kSec + 1);
}

TEST(WatchdogPolicy, AnyChangeIsProgress)
{
    WatchdogState st;
    std::vector<uint64_t> beats = {UINT64_MAX};
    watchdog_decide(st, beats, 0, kSec);
    beats = {0}; // wrapped
    EXPECT_TRUE(watchdog_decide(st, beats, 5 * kSec, kSec).feed);
    EXPECT_FALSE(watchdog_decide(st, beats, 6 * kSec + 1, kSec).feed) << "and the clock restarts from the change";
}

TEST(WatchdogPolicy, ClockGoingBackwardsIsNoTimePassed)
{
    WatchdogState st;
    std::vector<uint64_t> beats = {1};
    watchdog_decide(st, beats, 10 * kSec, kSec);
    EXPECT_TRUE(watchdog_decide(st, beats, 1 * kSec, kSec).feed);
    EXPECT_TRUE(watchdog_decide(st, beats, 11 * kSec, kSec).feed);
    EXPECT_FALSE(watchdog_decide(st, beats, 11 * kSec + 1, kSec).feed);
}

TEST(WatchdogPolicy, AnotherNumberOfWorkersRestartsTheClocks)
{
    WatchdogState st;
    std::vector<uint64_t> beats = {1, 1};
    watchdog_decide(st, beats, 0, kSec);
    EXPECT_FALSE(watchdog_decide(st, beats, 2 * kSec, kSec).feed);
    std::vector<uint64_t> three = {1, 1, 1};
    EXPECT_TRUE(watchdog_decide(st, three, 3 * kSec, kSec).feed);
    EXPECT_TRUE(watchdog_decide(st, three, 4 * kSec, kSec).feed);
    EXPECT_FALSE(watchdog_decide(st, three, 4 * kSec + 1, kSec).feed);
}

TEST(WatchdogPolicy, NoWorkersAlwaysFeeds)
{
    WatchdogState st;
    std::vector<uint64_t> none;
    EXPECT_TRUE(watchdog_decide(st, none, 0, kSec).feed);
    EXPECT_TRUE(watchdog_decide(st, none, 100 * kSec, kSec).feed);
}
