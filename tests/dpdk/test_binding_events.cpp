// The binding cache tells its observer (the log's binding events) of every change it makes, with what
// changed, and of nothing else: not a refused upsert, not a restored binding, not a removal of nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <vector>

#include "binding_cache.hpp"
#include "binding_tables.hpp"

using namespace nemo;
using namespace nemo::control;

namespace {

std::atomic<int> counter{0};

struct Seen {
    BindingEvent event;
    Binding binding;
    std::optional<CareOf> before;
    uint64_t now;
};

class BindingEvents : public ::testing::Test {
protected:
    void SetUp() override
    {
        dp::BindingTables::Params p;
        p.name = "ev" + std::to_string(counter++);
        p.capacity = 2;
        p.home_prefix = *Prefix6::parse("2001:db8:1::/64");
        std::string err;
        tables_ = dp::BindingTables::create(p, &err);
        ASSERT_TRUE(tables_) << err;
        cache_.emplace(*tables_);
        cache_->set_observer([this](BindingEvent e, const Binding& b, const CareOf* before, uint64_t now) {
            seen_.push_back(Seen{e, b, before ? std::optional<CareOf>(*before) : std::nullopt, now});
        });
    }

    static Binding binding(const char* hoa, const char* coa, TunnelMethod m, uint16_t seq, uint64_t now)
    {
        Binding b;
        b.hoa = *Ipv6Addr::parse(hoa);
        b.coa.method = m;
        b.coa.v4 = *Ipv4Addr::parse(coa);
        b.coa.peer = b.coa.v4;
        b.seq = seq;
        b.lifetime = 100;
        b.created = b.updated = now;
        b.expires = now + 100;
        return b;
    }
    std::optional<BindingCache::Refusal> upsert(const Binding& b, uint64_t now)
    {
        BuDecision d;
        d.outcome = BuOutcome::accepted;
        d.change = BindingChangeKind::upsert;
        d.binding = b;
        std::string why;
        return cache_->apply(d, now, &why);
    }
    void deregister(Binding b, uint16_t seq, uint64_t now)
    {
        BuDecision d;
        d.outcome = BuOutcome::deregistered;
        d.change = BindingChangeKind::remove;
        b.seq = seq;
        d.binding = b;
        std::string why;
        EXPECT_FALSE(cache_->apply(d, now, &why));
    }

    std::unique_ptr<dp::BindingTables> tables_;
    std::optional<BindingCache> cache_;
    std::vector<Seen> seen_;
};

} // namespace

TEST_F(BindingEvents, EveryChangeOnceWithWhatChanged)
{
    const Binding a = binding("2001:db8:1::100", "198.51.100.10", TunnelMethod::udp, 1, 1000);
    ASSERT_FALSE(upsert(a, 1000));
    Binding again = a;
    again.seq = 2;
    ASSERT_FALSE(upsert(again, 1010));
    Binding moved = binding("2001:db8:1::100", "198.51.100.10", TunnelMethod::gre, 3, 1020);
    ASSERT_FALSE(upsert(moved, 1020));
    deregister(moved, 4, 1030);
    deregister(moved, 5, 1031); // nothing left to remove: no event
    ASSERT_EQ(seen_.size(), 4u);
    EXPECT_EQ(seen_[0].event, BindingEvent::created);
    EXPECT_EQ(seen_[0].binding.seq, 1);
    EXPECT_FALSE(seen_[0].before);
    EXPECT_EQ(seen_[1].event, BindingEvent::refreshed);
    EXPECT_EQ(seen_[1].binding.seq, 2);
    EXPECT_EQ(seen_[1].now, 1010u);
    EXPECT_EQ(seen_[2].event, BindingEvent::moved);
    ASSERT_TRUE(seen_[2].before);
    EXPECT_EQ(seen_[2].before->method, TunnelMethod::udp);
    EXPECT_EQ(seen_[2].binding.coa.method, TunnelMethod::gre);
    EXPECT_EQ(seen_[3].event, BindingEvent::deregistered);
    EXPECT_EQ(seen_[3].binding.seq, 4) << "the de-registration's sequence number";
    EXPECT_EQ(seen_[3].binding.coa.method, TunnelMethod::gre);

    // Operator clear, and expiry.
    ASSERT_FALSE(upsert(binding("2001:db8:1::101", "198.51.100.11", TunnelMethod::ipip, 7, 2000), 2000));
    ASSERT_FALSE(upsert(binding("2001:db8:1::102", "198.51.100.12", TunnelMethod::ipip, 8, 2000), 2000));
    // Full (capacity 2): refused, no event.
    ASSERT_TRUE(upsert(binding("2001:db8:1::103", "198.51.100.13", TunnelMethod::ipip, 9, 2000), 2000));
    ASSERT_EQ(seen_.size(), 6u);
    EXPECT_TRUE(cache_->clear(*Ipv6Addr::parse("2001:db8:1::101"), 2050));
    EXPECT_FALSE(cache_->clear(*Ipv6Addr::parse("2001:db8:1::101"), 2051));
    ASSERT_EQ(seen_.size(), 7u);
    EXPECT_EQ(seen_[6].event, BindingEvent::cleared);
    EXPECT_EQ(seen_[6].binding.hoa.str(), "2001:db8:1::101");
    EXPECT_EQ(seen_[6].now, 2050u);
    EXPECT_EQ(cache_->expire(2100).size(), 1u);
    ASSERT_EQ(seen_.size(), 8u);
    EXPECT_EQ(seen_[7].event, BindingEvent::expired);
    EXPECT_EQ(seen_[7].binding.hoa.str(), "2001:db8:1::102");
    EXPECT_EQ(seen_[7].binding.seq, 8);
}

TEST_F(BindingEvents, RestoredBindingsAreNoEvents)
{
    std::string why;
    ASSERT_TRUE(cache_->restore(binding("2001:db8:1::100", "198.51.100.10", TunnelMethod::udp, 1, 1000), 1000, &why)) << why;
    EXPECT_TRUE(seen_.empty());
    // What follows the restore is told again.
    ASSERT_FALSE(upsert(binding("2001:db8:1::100", "198.51.100.10", TunnelMethod::udp, 2, 1001), 1001));
    ASSERT_EQ(seen_.size(), 1u);
    EXPECT_EQ(seen_[0].event, BindingEvent::refreshed);
}
