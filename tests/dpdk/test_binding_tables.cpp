#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <optional>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "binding_tables.hpp"
#include "unpin.hpp"

using namespace nemo;
using namespace nemo::dp;

namespace {

std::atomic<int> table_counter{0};

std::unique_ptr<BindingTables> make_tables(uint32_t capacity = 1024, std::optional<Prefix6> home = std::nullopt,
                                           uint32_t max_prefix_lengths = 4)
{
    std::string err;
    BindingTables::Params p;
    p.max_prefix_lengths = max_prefix_lengths;
    p.home_prefix = home;
    p.name = "t" + std::to_string(table_counter++);
    p.capacity = capacity;
    p.max_readers = 8;
    auto t = BindingTables::create(p, &err);
    EXPECT_TRUE(t) << err;
    return t;
}

Ipv6Addr hoa_of(uint32_t i)
{
    Ipv6Addr a = *Ipv6Addr::parse("2001:db8:1::");
    a.bytes[12] = static_cast<uint8_t>(i >> 24);
    a.bytes[13] = static_cast<uint8_t>(i >> 16);
    a.bytes[14] = static_cast<uint8_t>(i >> 8);
    a.bytes[15] = static_cast<uint8_t>(i);
    return a;
}

Prefix6 mnp_of(uint32_t i, uint8_t len = 48)
{
    Ipv6Addr a = *Ipv6Addr::parse("2001:db8::");
    a.bytes[2] = static_cast<uint8_t>(0x10 | (i >> 16));
    a.bytes[4] = static_cast<uint8_t>(i >> 8);
    a.bytes[5] = static_cast<uint8_t>(i);
    return Prefix6::make(a, len);
}

Binding binding_v4(uint32_t i, TunnelMethod m = TunnelMethod::ipip, uint16_t port = 0)
{
    Binding b;
    b.hoa = hoa_of(i);
    b.coa.method = m;
    b.coa.peer = Ipv4Addr{0x0A000000u + i};
    b.coa.peer_port = port;
    b.prefixes = {mnp_of(i)};
    return b;
}

Ipv6Addr inside(const Prefix6& p, uint8_t last = 7)
{
    Ipv6Addr a = p.addr;
    a.bytes[15] = last;
    return a;
}

} // namespace

TEST(BindingTables, PublishLookupWithdraw)
{
    auto t = make_tables();
    std::string err;
    ASSERT_EQ(t->publish(3, binding_v4(3), &err), BindingTables::PublishError::none) << err;
    const FastBinding* r = t->lookup_downstream(hoa_of(3));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->id, 3u);
    EXPECT_EQ(r->method, TunnelMethod::ipip);
    EXPECT_EQ(r->peer.value, 0x0A000003u);
    EXPECT_EQ(t->lookup_downstream(inside(mnp_of(3))), r);
    EXPECT_EQ(t->lookup_downstream(inside(mnp_of(4))), nullptr);
    EXPECT_EQ(t->match_upstream(inside(mnp_of(3)), TunnelMethod::ipip, Ipv4Addr{0x0A000003u}, 0), r);
    EXPECT_EQ(t->match_upstream(hoa_of(3), TunnelMethod::ipip, Ipv4Addr{0x0A000003u}, 0), r);
    EXPECT_EQ(t->match_upstream(inside(mnp_of(3)), TunnelMethod::gre, Ipv4Addr{0x0A000003u}, 0), nullptr)
        << "another method";
    EXPECT_EQ(t->match_upstream(inside(mnp_of(3)), TunnelMethod::ipip, Ipv4Addr{0x0A000004u}, 0), nullptr)
        << "spoofed outer source";
    EXPECT_EQ(t->match_upstream(inside(mnp_of(4)), TunnelMethod::ipip, Ipv4Addr{0x0A000003u}, 0), nullptr)
        << "inner source outside the binding's prefixes";
    EXPECT_EQ(t->published(), 1u);

    t->withdraw(3);
    EXPECT_EQ(t->lookup_downstream(hoa_of(3)), nullptr);
    EXPECT_EQ(t->lookup_downstream(inside(mnp_of(3))), nullptr);
    EXPECT_EQ(t->match_upstream(inside(mnp_of(3)), TunnelMethod::ipip, Ipv4Addr{0x0A000003u}, 0), nullptr);
    EXPECT_EQ(t->published(), 0u);
    EXPECT_EQ(t->reclaim(), 0u) << "no readers registered: everything is reclaimable";
}

TEST(BindingTables, HomePrefixSplitsTheLookup)
{
    auto t = make_tables(1024, *Prefix6::parse("2001:db8:1::/64"));
    std::string err;
    ASSERT_EQ(t->publish(9, binding_v4(9), &err), BindingTables::PublishError::none) << err;
    EXPECT_EQ(t->lookup_downstream(hoa_of(9))->id, 9u);
    EXPECT_EQ(t->lookup_downstream(inside(mnp_of(9)))->id, 9u);
    EXPECT_EQ(t->lookup_downstream(*Ipv6Addr::parse("2001:db8:1::9999")), nullptr);
    const Ipv6Addr a = hoa_of(9), b = inside(mnp_of(9)), c = *Ipv6Addr::parse("2001:db8:1::9999");
    const Ipv6Addr* dsts[] = {&a, &b, &c};
    const FastBinding* out[3];
    t->lookup_downstream_bulk(dsts, 3, out);
    EXPECT_EQ(out[0]->id, 9u);
    EXPECT_EQ(out[1]->id, 9u);
    EXPECT_EQ(out[2], nullptr);
    // A home address moving to another slot is a conflict while the first slot holds it.
    EXPECT_EQ(t->publish(10, binding_v4(9), &err), BindingTables::PublishError::conflict);
}

TEST(BindingTables, LongestPrefixWins)
{
    auto t = make_tables();
    std::string err;
    Binding wide = binding_v4(1);
    wide.prefixes = {*Prefix6::parse("2001:db8:aa00::/40")};
    Binding narrow = binding_v4(2);
    narrow.prefixes = {*Prefix6::parse("2001:db8:aaaa::/48")};
    ASSERT_EQ(t->publish(1, wide, &err), BindingTables::PublishError::none);
    ASSERT_EQ(t->publish(2, narrow, &err), BindingTables::PublishError::none);
    EXPECT_EQ(t->lookup_downstream(*Ipv6Addr::parse("2001:db8:aaaa::1"))->id, 2u);
    EXPECT_EQ(t->lookup_downstream(*Ipv6Addr::parse("2001:db8:aabb::1"))->id, 1u);
    const Ipv6Addr a = *Ipv6Addr::parse("2001:db8:aaaa::1"), b = *Ipv6Addr::parse("2001:db8:aabb::1"),
                   c = *Ipv6Addr::parse("2001:db9::1");
    const Ipv6Addr* dsts[] = {&a, &b, &c, &a};
    const FastBinding* out[4];
    t->lookup_downstream_bulk(dsts, 4, out);
    EXPECT_EQ(out[0]->id, 2u);
    EXPECT_EQ(out[1]->id, 1u);
    EXPECT_EQ(out[2], nullptr);
    EXPECT_EQ(out[3]->id, 2u);
}

TEST(BindingTables, UpdateRepointsAndWithdrawsStaleKeys)
{
    auto t = make_tables();
    std::string err;
    Binding b = binding_v4(5);
    b.prefixes = {mnp_of(5), mnp_of(6, 64)};
    ASSERT_EQ(t->publish(5, b, &err), BindingTables::PublishError::none);
    const FastBinding* first = t->lookup_downstream(hoa_of(5));
    // Move to a UDP tunnel behind a NAT, dropping one prefix.
    Binding moved = binding_v4(5, TunnelMethod::udp, 40000);
    moved.coa.peer = Ipv4Addr{0xCB007107};
    moved.coa.behind_nat = true;
    ASSERT_EQ(t->publish(5, moved, &err), BindingTables::PublishError::none) << err;
    const FastBinding* second = t->lookup_downstream(hoa_of(5));
    ASSERT_TRUE(second);
    EXPECT_NE(first, second);
    EXPECT_GT(second->generation, 0u);
    EXPECT_EQ(second->method, TunnelMethod::udp);
    EXPECT_TRUE(second->behind_nat);
    EXPECT_EQ(t->lookup_downstream(inside(mnp_of(6, 64))), nullptr) << "dropped prefix withdrawn";
    EXPECT_EQ(t->lookup_downstream(inside(mnp_of(5))), second);
    EXPECT_EQ(t->match_upstream(hoa_of(5), TunnelMethod::ipip, Ipv4Addr{0x0A000005u}, 0), nullptr) << "old tunnel";
    EXPECT_EQ(t->match_upstream(hoa_of(5), TunnelMethod::udp, Ipv4Addr{0xCB007107}, 40000), second);
    EXPECT_EQ(t->match_upstream(hoa_of(5), TunnelMethod::udp, Ipv4Addr{0xCB007107}, 40001), nullptr) << "port";
    const Ipv6Addr in5 = inside(mnp_of(5)), in6 = inside(mnp_of(6, 64));
    const Ipv6Addr* srcs[] = {&in5, &in5, &in6};
    const Ipv4Addr outer[] = {Ipv4Addr{0xCB007107}, Ipv4Addr{0xCB007107}, Ipv4Addr{0xCB007107}};
    const uint16_t ports[] = {40000, 1, 40000};
    const FastBinding* out[3];
    t->match_upstream_bulk(srcs, outer, ports, TunnelMethod::udp, 3, out);
    EXPECT_EQ(out[0], second);
    EXPECT_EQ(out[1], nullptr);
    EXPECT_EQ(out[2], nullptr);
    EXPECT_EQ(t->published(), 1u);
}

TEST(BindingTables, ConflictsLeaveBothBindingsIntact)
{
    auto t = make_tables();
    std::string err;
    ASSERT_EQ(t->publish(1, binding_v4(1), &err), BindingTables::PublishError::none);
    Binding thief = binding_v4(2);
    thief.prefixes = {mnp_of(1)};
    EXPECT_EQ(t->publish(2, thief, &err), BindingTables::PublishError::conflict);
    EXPECT_NE(err.find("already forwarded"), std::string::npos);
    EXPECT_EQ(t->lookup_downstream(inside(mnp_of(1)))->id, 1u);
    EXPECT_EQ(t->lookup_downstream(hoa_of(2)), nullptr);
    // Two bindings may share a tunnel far end (one public address, two routers).
    Binding same_tunnel = binding_v4(3);
    same_tunnel.coa.peer = Ipv4Addr{0x0A000001u};
    EXPECT_EQ(t->publish(3, same_tunnel, &err), BindingTables::PublishError::none);
    EXPECT_EQ(t->match_upstream(hoa_of(3), TunnelMethod::ipip, Ipv4Addr{0x0A000001u}, 0)->id, 3u);
    EXPECT_EQ(t->match_upstream(hoa_of(1), TunnelMethod::ipip, Ipv4Addr{0x0A000001u}, 0)->id, 1u);
    EXPECT_EQ(t->publish(5000, binding_v4(4), &err), BindingTables::PublishError::bad_slot);
}

TEST(BindingTables, FullTableRollsBack)
{
    auto t = make_tables(64);
    std::string err;
    uint32_t ok = 0;
    BindingTables::PublishError last = BindingTables::PublishError::none;
    for (uint32_t i = 0; i < 64 && last == BindingTables::PublishError::none; ++i) {
        Binding b = binding_v4(i);
        for (uint32_t j = 1; j < 4; ++j) b.prefixes.push_back(mnp_of(1000 + i * 4 + j));
        last = t->publish(i, b, &err);
        if (last == BindingTables::PublishError::none) ++ok;
    }
    ASSERT_EQ(last, BindingTables::PublishError::full) << "a /48 table of 64 cannot take 64 x 4 prefixes";
    EXPECT_EQ(t->published(), ok);
    // The failed binding left nothing behind; the earlier ones all still resolve.
    EXPECT_EQ(t->lookup_downstream(hoa_of(ok)), nullptr);
    for (uint32_t i = 0; i < ok; ++i) ASSERT_EQ(t->lookup_downstream(inside(mnp_of(i)))->id, i);
}

// Every prefix length costs a table of the full size, pre-faulted, that every downstream miss probes: at
// most max_prefix_lengths exist, a binding needing one more is refused with nothing changed, and a table
// whose last key went is freed (after the grace period), making room for another length.
TEST(BindingTables, PrefixLengthsAreBounded)
{
    auto t = make_tables(64, std::nullopt, 2);
    std::string err;
    EXPECT_EQ(t->prefix_tables(), 0u);
    EXPECT_EQ(t->prefix_table_bytes(), 0u);
    Binding a = binding_v4(1);
    a.prefixes = {mnp_of(1, 48), mnp_of(2, 48)};
    ASSERT_EQ(t->publish(1, a, &err), BindingTables::PublishError::none) << err;
    EXPECT_EQ(t->prefix_tables(), 1u) << "one table per length, not per prefix";
    const std::size_t one = t->prefix_table_bytes();
    EXPECT_GT(one, 0u);
    Binding b = binding_v4(2);
    b.prefixes = {mnp_of(3, 56)};
    ASSERT_EQ(t->publish(2, b, &err), BindingTables::PublishError::none) << err;
    EXPECT_EQ(t->prefix_tables(), 2u);
    EXPECT_EQ(t->prefix_table_bytes(), 2 * one);

    // A third length: refused, and nothing of the binding is published.
    Binding c = binding_v4(3);
    c.prefixes = {mnp_of(4, 48), mnp_of(5, 64)};
    EXPECT_EQ(t->publish(3, c, &err), BindingTables::PublishError::too_many_lengths);
    EXPECT_NE(err.find("ha.max_prefix_lengths"), std::string::npos) << err;
    EXPECT_EQ(t->prefix_tables(), 2u);
    EXPECT_FALSE(t->lookup_downstream(hoa_of(3)));
    EXPECT_FALSE(t->lookup_downstream(inside(mnp_of(4, 48))));
    // A refresh of an existing binding adding a third length is refused too, and keeps what it had.
    Binding a2 = a;
    a2.prefixes.push_back(mnp_of(6, 60));
    EXPECT_EQ(t->publish(1, a2, &err), BindingTables::PublishError::too_many_lengths);
    EXPECT_EQ(t->lookup_downstream(inside(mnp_of(2, 48)))->id, 1u);
    // Lengths already in use take any number of prefixes.
    c.prefixes = {mnp_of(4, 48), mnp_of(5, 56)};
    EXPECT_EQ(t->publish(3, c, &err), BindingTables::PublishError::none) << err;

    // The /56s go: their table is freed once no reader can be in it, and /64 fits.
    c.prefixes = {mnp_of(4, 48)};
    ASSERT_EQ(t->publish(3, c, &err), BindingTables::PublishError::none) << err;
    t->withdraw(2);
    t->reclaim();
    EXPECT_EQ(t->prefix_tables(), 1u);
    EXPECT_EQ(t->prefix_table_bytes(), one);
    EXPECT_FALSE(t->lookup_downstream(inside(mnp_of(3, 56))));
    Binding d = binding_v4(4);
    d.prefixes = {mnp_of(7, 64)};
    EXPECT_EQ(t->publish(4, d, &err), BindingTables::PublishError::none) << err;
    EXPECT_EQ(t->lookup_downstream(inside(mnp_of(7, 64)))->id, 4u);
    EXPECT_EQ(t->lookup_downstream(inside(mnp_of(4, 48)))->id, 3u);
}

// A reader inside a table when its last key goes keeps it alive: the table is freed only after every
// reader has reported a quiescent state since.
TEST(BindingTables, EmptiedTableOutlivesItsReaders)
{
    auto t = make_tables(64, std::nullopt, 2);
    std::string err;
    ASSERT_TRUE(t->register_reader(0));
    Binding a = binding_v4(1);
    a.prefixes = {mnp_of(1, 56)};
    ASSERT_EQ(t->publish(1, a, &err), BindingTables::PublishError::none) << err;
    t->withdraw(1);
    t->reclaim();
    EXPECT_EQ(t->prefix_tables(), 1u) << "the reader has not reported since";
    t->quiescent(0);
    t->reclaim();
    EXPECT_EQ(t->prefix_tables(), 0u);
    t->unregister_reader(0);
}

// Readers look up without pause while the writer adds, changes and removes bindings as fast as it can.
// Every record a reader sees must be whole (its seal matches its id and generation) and must belong to
// the slot the key maps to. A record freed too early shows up as a broken seal, or as a use-after-free
// under the ASan build.
TEST(BindingTables, ConcurrentReadersNeverSeeTornOrFreedRecords)
{
    // Slot 0 alone uses /60, /61 and /62, one at a time: their tables are emptied, freed and made again
    // under the readers. Five lengths at once are allowed; a sixth is briefly needed while a freed table
    // waits for its grace period, and refused then.
    auto t = make_tables(256, std::nullopt, 5);
    constexpr uint32_t kSlots = 200;
    constexpr int kReaders = 2;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> lookups{0}, hits{0}, bad{0};

    std::vector<std::thread> readers;
    for (int r = 0; r < kReaders; ++r) {
        readers.emplace_back([&, r] {
            unpin_from_main_lcore();
            ASSERT_TRUE(t->register_reader(static_cast<unsigned>(r)));
            std::mt19937 rng(static_cast<unsigned>(r));
            uint64_t n = 0, h = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                for (int k = 0; k < 32; ++k) {
                    const auto i = static_cast<uint32_t>(rng() % kSlots);
                    const Ipv6Addr dst = (k & 1) ? hoa_of(i) : inside(mnp_of(i));
                    const FastBinding* rec = t->lookup_downstream(dst);
                    ++n;
                    if (!rec) continue;
                    ++h;
                    if (rec->seal != FastBinding::seal_of(rec->id, rec->generation) || rec->id != i ||
                        rec->hoa != hoa_of(i) || rec->peer.value != 0x0A000000u + i)
                        bad.fetch_add(1);
                }
                t->quiescent(static_cast<unsigned>(r));
            }
            lookups += n;
            hits += h;
            t->unregister_reader(static_cast<unsigned>(r));
        });
    }

    std::mt19937 rng(42);
    std::string err;
    uint64_t changes = 0, full = 0, tables_freed = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < until) {
        const auto i = changes % 8 == 0 ? 0u : static_cast<uint32_t>(rng() % kSlots);
        if (rng() % 4 == 0) {
            t->withdraw(i);
        } else {
            // Alternate the method and prefix length so that successive records of a slot differ.
            Binding b = binding_v4(i, rng() % 2 ? TunnelMethod::ipip : TunnelMethod::gre);
            b.prefixes = {mnp_of(i, i == 0 ? static_cast<uint8_t>(60 + changes % 3) : rng() % 2 ? 48 : 56)};
            // A table can be briefly full while readers hold up the grace period that frees deleted
            // keys (two cores, three threads): that is an answer (BA 130), not a fault.
            const auto r = t->publish(i, b, &err);
            if (r == BindingTables::PublishError::full || r == BindingTables::PublishError::too_many_lengths) {
                ++full;
                std::this_thread::yield();
            }
            else if (r != BindingTables::PublishError::none) ADD_FAILURE() << err;
        }
        ++changes;
        const std::size_t before = t->prefix_tables();
        t->reclaim();
        if (t->prefix_tables() < before) ++tables_freed;
    }
    stop = true;
    for (auto& th : readers) th.join();
    while (t->reclaim() != 0) {
    }
    EXPECT_EQ(bad.load(), 0u);
    EXPECT_GT(changes, 1000u);
    EXPECT_GT(hits.load(), 1000u) << "readers must actually have seen records while they changed";
    EXPECT_GT(tables_freed, 10u) << "prefix tables must actually have been freed (and made again) under the readers";
    RecordProperty("changes", std::to_string(changes));
    RecordProperty("lookups", std::to_string(lookups.load()));
    RecordProperty("refused_full", std::to_string(full));
    RecordProperty("tables_freed", std::to_string(tables_freed));
}

// may_route: a cheap, exact "no" for destinations no key can match (the upstream path asks it before its
// second lookup, RFC 3963 6.5). Every key's /48 is covered while the key lives, a move keeps the cover
// (added before the old keys go), and keys shorter than /48 make every answer "maybe".
TEST(BindingTables, MayRouteCoversEveryKeyWhileItLives)
{
    auto t = make_tables();
    std::string err;
    const Ipv6Addr internet = *Ipv6Addr::parse("2001:db8:cccc::1");
    EXPECT_FALSE(t->may_route(internet));
    EXPECT_FALSE(t->may_route(inside(mnp_of(3))));
    for (uint32_t i = 0; i < 200; ++i)
        ASSERT_EQ(t->publish(i, binding_v4(i), &err), BindingTables::PublishError::none) << err;
    for (uint32_t i = 0; i < 200; ++i) {
        EXPECT_TRUE(t->may_route(inside(mnp_of(i)))) << i;
        EXPECT_TRUE(t->may_route(hoa_of(i))) << i;
    }
    EXPECT_FALSE(t->may_route(internet)) << "a /48 no key lies in (a collision would need a retune of the test)";
    // A binding moved to another prefix: the new /48 is covered, the old one no longer.
    Binding moved = binding_v4(7);
    moved.prefixes = {mnp_of(1000)};
    ASSERT_EQ(t->publish(7, moved, &err), BindingTables::PublishError::none) << err;
    EXPECT_TRUE(t->may_route(inside(mnp_of(1000))));
    EXPECT_FALSE(t->may_route(inside(mnp_of(7))));
    for (uint32_t i = 0; i < 200; ++i) t->withdraw(i);
    EXPECT_FALSE(t->may_route(inside(mnp_of(3))));
    EXPECT_FALSE(t->may_route(inside(mnp_of(1000))));
    // A prefix shorter than /48 may match anything.
    Binding wide = binding_v4(1);
    wide.prefixes = {Prefix6::make(*Ipv6Addr::parse("2001:db8::"), 32)};
    ASSERT_EQ(t->publish(1, wide, &err), BindingTables::PublishError::none) << err;
    EXPECT_TRUE(t->may_route(internet));
    t->withdraw(1);
    EXPECT_FALSE(t->may_route(internet));
}
