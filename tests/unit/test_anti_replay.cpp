#include <gtest/gtest.h>

#include <random>
#include <set>

#include "anti_replay.hpp"

using namespace nemo;
using V = ReplayWindow::Verdict;

TEST(AntiReplay, FloorOf1024AndFirstPackets)
{
    ReplayWindow w(32);
    EXPECT_EQ(w.size(), 1024u);
    EXPECT_EQ(w.check(0), V::too_old) << "0 is never sent";
    EXPECT_EQ(w.check(1), V::ok);
    w.accept(1);
    EXPECT_EQ(w.check(1), V::replayed);
    EXPECT_EQ(w.check(2), V::ok);
}

TEST(AntiReplay, WindowEdges)
{
    ReplayWindow w(1024);
    w.accept(5000);
    EXPECT_EQ(w.check(5000), V::replayed);
    EXPECT_EQ(w.check(5000 - 1023), V::ok) << "the oldest still inside";
    EXPECT_EQ(w.check(5000 - 1024), V::too_old) << "the first outside";
    w.accept(5000 - 1023);
    EXPECT_EQ(w.check(5000 - 1023), V::replayed);
    w.accept(5001);
    EXPECT_EQ(w.check(5000 - 1023), V::too_old) << "slid out";
    EXPECT_EQ(w.check(5000), V::replayed) << "still remembered";
    // A jump further than the window forgets everything before.
    w.accept(100000);
    EXPECT_EQ(w.check(99999), V::ok);
    EXPECT_EQ(w.check(5001), V::too_old);
}

TEST(AntiReplay, MatchesAReferenceUnderRandomArrival)
{
    ReplayWindow w(1024);
    std::set<uint64_t> accepted;
    uint64_t top = 0;
    std::mt19937 rng(4);
    for (int i = 0; i < 20000; ++i) {
        const uint64_t base = top > 1500 ? top - 1500 : 1;
        const uint64_t seq = base + rng() % 1600;
        V expect;
        if (seq > top) expect = V::ok;
        else if (top - seq >= 1024) expect = V::too_old;
        else expect = accepted.count(seq) ? V::replayed : V::ok;
        ASSERT_EQ(w.check(seq), expect) << "seq " << seq << " top " << top;
        if (expect == V::ok && rng() % 4) {
            w.accept(seq);
            accepted.insert(seq);
            top = std::max(top, seq);
        }
    }
}

TEST(AntiReplay, ExtendedSequenceNumbersAcrossTheWrap)
{
    ReplayWindow w(1024, true);
    const uint64_t near_wrap = 0xFFFFFFF0ull;
    w.accept(near_wrap);
    EXPECT_EQ(w.infer(0xFFFFFFF5u), 0xFFFFFFF5ull);
    EXPECT_EQ(w.infer(0x00000003u), 0x100000003ull) << "the next subspace";
    w.accept(0x100000003ull);
    EXPECT_EQ(w.top(), 0x100000003ull);
    // The window now spans the wrap: a late packet from before it is still placed in the old subspace.
    EXPECT_EQ(w.infer(0xFFFFFFF8u), 0xFFFFFFF8ull);
    EXPECT_EQ(w.check(w.infer(0xFFFFFFF8u)), V::ok);
    EXPECT_EQ(w.check(w.infer(0xFFFFFFF0u)), V::replayed);
    EXPECT_EQ(w.infer(0x00000010u), 0x100000010ull);
    // Without ESN the low half is the number.
    ReplayWindow plain(1024, false);
    EXPECT_EQ(plain.infer(7), 7u);
}
