// The cluster backend (control/state_etcd) against a real etcd (etcd_fixture.hpp starts it on loopback):
// two instances' backends on one cluster, so that the compare-and-swap, the leases, the start's read and
// the report of what a commit settled are etcd's own behaviour, not a model of it.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "cluster_record.hpp"
#include "etcd_fixture.hpp"
#include "state_etcd.hpp"
#include "state_test_util.hpp"

using namespace nemo;
using namespace nemo::control;
using namespace nemo::control::state_test;

namespace {

StateConfig config_of(const test::EtcdCluster& etcd, const std::string& instance, unsigned max_txn_ops = 128)
{
    StateConfig c;
    c.backend = StateConfig::Backend::etcd;
    c.etcd.endpoints = etcd.endpoints();
    c.etcd.cluster = "t";
    c.etcd.instance = instance;
    c.etcd.max_txn_ops = max_txn_ops;
    c.etcd.timeout_ms = 1000;
    return c;
}

// A binding of `i` with sequence number `seq`, expiring `life` seconds from now (wall clock).
StoredBinding live_binding(uint32_t i, uint16_t seq, uint64_t life = 3600)
{
    StoredBinding b = make_binding(i, seq);
    b.binding.updated = wall_seconds();
    b.binding.expires = b.binding.updated + life;
    return b;
}

StateBatch put(const StoredBinding& b, CasBase base)
{
    StateBatch s;
    s.bindings[b.binding.hoa] = encode_binding(b);
    if (base.kind != CasBase::Kind::any) s.binding_base[b.binding.hoa] = base;
    return s;
}

std::unique_ptr<StateBackend> open_ok(const StateConfig& c, StateImage* im)
{
    std::string err;
    auto b = open_etcd_state(c, im, &err);
    EXPECT_TRUE(b) << err;
    return b;
}

uint16_t seq_of(const std::vector<uint8_t>& rec)
{
    auto b = decode_binding(rec, nullptr);
    return b ? b->binding.seq : 0;
}

class StateEtcd : public ::testing::Test {
protected:
    static void SetUpTestSuite() { etcd_ = new test::EtcdCluster(1); }
    static void TearDownTestSuite()
    {
        delete etcd_;
        etcd_ = nullptr;
    }
    void SetUp() override
    {
        ASSERT_TRUE(etcd_->ok()) << etcd_->error();
        // Each test on an empty cluster prefix.
        EtcdClient c(etcd_->options());
        EtcdTxn t;
        t.success.push_back({EtcdOp::Kind::del, "/nemo-ha/t/", {}, etcd_prefix_end("/nemo-ha/t/"), 0});
        auto r = c.txn(t);
        ASSERT_TRUE(std::holds_alternative<EtcdTxnResult>(r));
    }
    static test::EtcdCluster* etcd_;
};
test::EtcdCluster* StateEtcd::etcd_ = nullptr;

TEST_F(StateEtcd, TheSecondWriterOfANewBindingLosesAndHearsTheFirstOne)
{
    StateImage ia, ib;
    auto a = open_ok(config_of(*etcd_, "ha-a"), &ia);
    auto b = open_ok(config_of(*etcd_, "ha-b"), &ib);
    ASSERT_TRUE(a && b);
    StateBatch ba = put(live_binding(1, 10), CasBase::absent_key());
    CasSettled sa;
    ASSERT_FALSE(a->commit_cas(ba, &sa));
    EXPECT_TRUE(ba.empty()) << "what was settled leaves the batch";
    ASSERT_EQ(sa.written.size(), 1u);
    ASSERT_EQ(sa.written[0].second.kind, CasBase::Kind::revision);
    const int64_t rev = sa.written[0].second.revision;
    EXPECT_TRUE(sa.conflicts.empty());

    // B decided on "no binding" too: it loses, and is told A's binding and revision.
    StateBatch bb = put(live_binding(1, 10), CasBase::absent_key());
    CasSettled sb;
    ASSERT_FALSE(b->commit_cas(bb, &sb));
    EXPECT_TRUE(bb.empty());
    EXPECT_TRUE(sb.written.empty());
    ASSERT_EQ(sb.conflicts.size(), 1u);
    EXPECT_EQ(sb.conflicts[0].hoa, hoa_of(1));
    EXPECT_EQ(sb.conflicts[0].mod_revision, rev);
    EXPECT_EQ(sb.conflicts[0].origin, "ha-a");
    ASSERT_TRUE(sb.conflicts[0].current);
    EXPECT_EQ(seq_of(*sb.conflicts[0].current), 10);

    // Decided again on A's revision, B's next sequence number is written.
    StateBatch bb2 = put(live_binding(1, 11), CasBase::at(rev));
    CasSettled sb2;
    ASSERT_FALSE(b->commit_cas(bb2, &sb2));
    ASSERT_EQ(sb2.written.size(), 1u);
    EXPECT_GT(sb2.written[0].second.revision, rev);

    // A's change decided on its own earlier one (own) now loses: B's came in between.
    StateBatch ba2 = put(live_binding(1, 11), CasBase::own_change());
    CasSettled sa2;
    ASSERT_FALSE(a->commit_cas(ba2, &sa2));
    ASSERT_EQ(sa2.conflicts.size(), 1u);
    EXPECT_EQ(sa2.conflicts[0].origin, "ha-b");
    // And a change decided on that lost one loses too, without asking etcd whether it could have won.
    StateBatch ba3 = put(live_binding(1, 12), CasBase::own_change());
    CasSettled sa3;
    ASSERT_FALSE(a->commit_cas(ba3, &sa3));
    EXPECT_EQ(sa3.conflicts.size(), 1u);
    EXPECT_TRUE(sa3.written.empty());
}

TEST_F(StateEtcd, ALosingKeyDoesNotHoldBackTheOthersOfItsTransaction)
{
    StateImage ia, ib;
    auto a = open_ok(config_of(*etcd_, "ha-a", 3), &ia); // three bindings a transaction: several chunks
    auto b = open_ok(config_of(*etcd_, "ha-b"), &ib);
    StateBatch first = put(live_binding(5, 1), CasBase::absent_key());
    ASSERT_FALSE(b->commit_cas(first, nullptr));
    StateBatch many;
    for (uint32_t i = 1; i <= 10; ++i) {
        many.bindings[hoa_of(i)] = encode_binding(live_binding(i, 2));
        many.binding_base[hoa_of(i)] = CasBase::absent_key();
    }
    CasSettled s;
    ASSERT_FALSE(a->commit_cas(many, &s));
    EXPECT_TRUE(many.empty());
    EXPECT_EQ(s.written.size(), 9u);
    ASSERT_EQ(s.conflicts.size(), 1u);
    EXPECT_EQ(s.conflicts[0].hoa, hoa_of(5));

    // A third instance starting now reads all ten, each with its revision and writer.
    StateImage ic;
    auto c = open_ok(config_of(*etcd_, "ha-c"), &ic);
    ASSERT_EQ(ic.bindings.size(), 10u);
    ASSERT_EQ(ic.binding_revisions.size(), 10u);
    std::size_t by_b = 0;
    for (std::size_t i = 0; i < ic.bindings.size(); ++i) {
        EXPECT_GT(ic.binding_revisions[i], 0);
        if (ic.binding_origins[i] == "ha-b") {
            ++by_b;
            EXPECT_EQ(ic.bindings[i].binding.hoa, hoa_of(5));
            EXPECT_EQ(ic.bindings[i].binding.seq, 1);
        }
    }
    EXPECT_EQ(by_b, 1u);
}

// A commit of 256 bindings or more goes as two transactions at once (two connections): both halves are
// settled, the losers of each reported, whichever half a loser is in.
TEST_F(StateEtcd, TwoTransactionsAtOnceAreBothSettled)
{
    StateImage ia, ib;
    auto a = open_ok(config_of(*etcd_, "ha-a", 1024), &ia);
    auto b = open_ok(config_of(*etcd_, "ha-b"), &ib);
    for (uint32_t i : {1u, 300u}) {
        StateBatch first = put(live_binding(i, 1), CasBase::absent_key());
        ASSERT_FALSE(b->commit_cas(first, nullptr));
    }
    StateBatch many;
    for (uint32_t i = 1; i <= 300; ++i) {
        many.bindings[hoa_of(i)] = encode_binding(live_binding(i, 2));
        many.binding_base[hoa_of(i)] = CasBase::absent_key();
    }
    CasSettled s;
    ASSERT_FALSE(a->commit_cas(many, &s));
    EXPECT_TRUE(many.empty());
    EXPECT_EQ(s.written.size(), 298u);
    ASSERT_EQ(s.conflicts.size(), 2u);
    std::set<int64_t> revisions;
    for (const auto& [h, at] : s.written) revisions.insert(at.revision);
    EXPECT_EQ(revisions.size(), 2u) << "two transactions, each at its own revision";
    StateImage ic;
    auto c = open_ok(config_of(*etcd_, "ha-c"), &ic);
    EXPECT_EQ(ic.bindings.size(), 300u);
}

TEST_F(StateEtcd, AnAnswerLostToATimeoutIsRecognisedAsItsOwnWrite)
{
    StateImage ia;
    auto a = open_ok(config_of(*etcd_, "ha-a"), &ia);
    const StoredBinding sb = live_binding(3, 7);
    // As if A's earlier attempt had gone through and its answer been lost: the value is there, A's own.
    EtcdClient c(etcd_->options());
    ASSERT_FALSE(c.put(cluster_binding_key(cluster_prefix("t"), hoa_of(3)), encode_cluster_value(1, "ha-a", encode_binding(sb))));
    StateBatch again = put(sb, CasBase::absent_key());
    CasSettled s;
    ASSERT_FALSE(a->commit_cas(again, &s));
    EXPECT_TRUE(s.conflicts.empty()) << "its own write is not another instance's";
    ASSERT_EQ(s.written.size(), 1u);
    // The same bytes from another instance are a conflict.
    StateImage ib;
    auto b = open_ok(config_of(*etcd_, "ha-b"), &ib);
    StateBatch theirs = put(sb, CasBase::absent_key());
    CasSettled s2;
    ASSERT_FALSE(b->commit_cas(theirs, &s2));
    EXPECT_EQ(s2.conflicts.size(), 1u);
}

TEST_F(StateEtcd, ABindingLeavesEtcdWithItsLeaseAndDeletesAreCompareAndSwapped)
{
    StateImage ia;
    auto a = open_ok(config_of(*etcd_, "ha-a"), &ia);
    StateBatch s = put(live_binding(1, 1, 2), CasBase::absent_key()); // lifetime 2 s: lease of 3 s
    s.bindings[hoa_of(2)] = encode_binding(live_binding(2, 1));
    s.binding_base[hoa_of(2)] = CasBase::absent_key();
    CasSettled st;
    ASSERT_FALSE(a->commit_cas(s, &st));
    ASSERT_EQ(st.written.size(), 2u);
    int64_t rev2 = 0;
    for (const auto& [h, at] : st.written)
        if (h == hoa_of(2)) rev2 = at.revision;
    EtcdClient c(etcd_->options());
    const std::string k1 = cluster_binding_key(cluster_prefix("t"), hoa_of(1));
    auto present = [&](const std::string& k) {
        auto r = c.range(k, "");
        return std::holds_alternative<EtcdRange>(r) && !std::get<EtcdRange>(r).kvs.empty();
    };
    ASSERT_TRUE(present(k1));
    EXPECT_TRUE(wait_until([&] { return !present(k1); }, 8000)) << "the lease did not end the binding";
    EXPECT_TRUE(present(cluster_binding_key(cluster_prefix("t"), hoa_of(2))));

    // A removal decided on an older revision loses; on the current one it deletes.
    StateBatch del;
    del.bindings[hoa_of(2)] = std::nullopt;
    del.binding_base[hoa_of(2)] = CasBase::at(rev2 - 1);
    CasSettled sd;
    ASSERT_FALSE(a->commit_cas(del, &sd));
    EXPECT_EQ(sd.conflicts.size(), 1u);
    del.bindings[hoa_of(2)] = std::nullopt;
    del.binding_base[hoa_of(2)] = CasBase::at(rev2);
    CasSettled sd2;
    ASSERT_FALSE(a->commit_cas(del, &sd2));
    ASSERT_EQ(sd2.written.size(), 1u);
    EXPECT_EQ(sd2.written[0].second.kind, CasBase::Kind::absent);
    EXPECT_FALSE(present(cluster_binding_key(cluster_prefix("t"), hoa_of(2))));
}

TEST_F(StateEtcd, OperatorChangesAreSharedAndADamagedValueIsReportedNotUsed)
{
    StateImage ia;
    auto a = open_ok(config_of(*etcd_, "ha-a"), &ia);
    StateBatch s;
    const MrChange mr = make_mr(4, true);
    s.mrs[mr.mr.hoa] = encode_mr_change(mr);
    ASSERT_FALSE(a->commit_cas(s, nullptr));
    EtcdClient c(etcd_->options());
    ASSERT_FALSE(c.put(cluster_binding_key(cluster_prefix("t"), hoa_of(9)), "not an envelope"));
    StateImage ib;
    auto b = open_ok(config_of(*etcd_, "ha-b"), &ib);
    ASSERT_EQ(ib.mrs.size(), 1u);
    EXPECT_EQ(ib.mrs[0].mr.hoa, mr.mr.hoa);
    EXPECT_EQ(ib.damaged, 1u);
    ASSERT_EQ(ib.damage.size(), 1u);
    EXPECT_TRUE(ib.bindings.empty());
}

TEST_F(StateEtcd, AValueThatDoesNotDecodeIsAConflictThatSaysItExists)
{
    StateImage ia;
    auto a = open_ok(config_of(*etcd_, "ha-a"), &ia);
    EtcdClient c(etcd_->options());
    ASSERT_FALSE(c.put(cluster_binding_key(cluster_prefix("t"), hoa_of(6)), "written by a later envelope version"));
    StateBatch s = put(live_binding(6, 1), CasBase::absent_key());
    CasSettled st;
    ASSERT_FALSE(a->commit_cas(s, &st));
    ASSERT_EQ(st.conflicts.size(), 1u);
    EXPECT_TRUE(st.conflicts[0].exists) << "an undecodable value is not an absent one: comparing on absence would lose for ever";
    EXPECT_FALSE(st.conflicts[0].current);
    EXPECT_GT(st.conflicts[0].mod_revision, 0);
    // Decided again on that revision, the change overwrites it.
    StateBatch again = put(live_binding(6, 2), CasBase::at(st.conflicts[0].mod_revision));
    CasSettled st2;
    ASSERT_FALSE(a->commit_cas(again, &st2));
    EXPECT_EQ(st2.written.size(), 1u);
}

TEST_F(StateEtcd, EspRecordsAreRefusedNeverCalledDurable)
{
    StateImage ia;
    auto a = open_ok(config_of(*etcd_, "ha-a"), &ia);
    StateBatch s;
    s.seqs[7] = encode_seq(SeqReservation{1, 65536});
    CasSettled st;
    auto e = a->commit_cas(s, &st);
    ASSERT_TRUE(e);
    EXPECT_NE(e->message.find("not kept in a cluster"), std::string::npos);
}

TEST_F(StateEtcd, ASecondLiveInstanceOfOneNameIsRefusedAndAStoppedOnesNameIsFree)
{
    StateImage ia;
    auto a = open_ok(config_of(*etcd_, "ha-a"), &ia);
    ASSERT_TRUE(a && a->cluster());
    a->cluster()->start(ClusterSelf{{"198.51.100.1"}, {"2001:db8:1::1"}});
    // Its membership is written by its housekeeping thread within a second.
    EtcdClient c(etcd_->options());
    ASSERT_TRUE(wait_until([&] {
        auto r = c.range(cluster_member_key(cluster_prefix("t"), "ha-a"), "");
        return std::holds_alternative<EtcdRange>(r) && !std::get<EtcdRange>(r).kvs.empty();
    }, 5000));
    StateImage ib;
    std::string err;
    EXPECT_FALSE(open_etcd_state(config_of(*etcd_, "ha-a"), &ib, &err));
    EXPECT_NE(err.find("another instance of that name is alive"), std::string::npos) << err;
    StateImage ic;
    EXPECT_TRUE(open_ok(config_of(*etcd_, "ha-c"), &ic)) << "another name is welcome";
    a.reset(); // a clean stop revokes its membership
    StateImage id;
    EXPECT_TRUE(open_ok(config_of(*etcd_, "ha-a"), &id));
}

TEST(StateEtcdDown, NoEtcdRefusesTheStartAndFailsACommitKeepingTheChange)
{
    test::EtcdCluster etcd(1);
    ASSERT_TRUE(etcd.ok()) << etcd.error();
    StateImage im;
    auto a = open_ok(config_of(etcd, "ha-a"), &im);
    const StateConfig cfg = config_of(etcd, "ha-a");
    etcd.kill(0);
    StateBatch s = put(live_binding(1, 1), CasBase::absent_key());
    CasSettled st;
    const auto t0 = std::chrono::steady_clock::now();
    auto e = a->commit_cas(s, &st);
    ASSERT_TRUE(e);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    EXPECT_EQ(s.bindings.size(), 1u) << "a failed commit keeps the change for the retry";
    EXPECT_TRUE(st.empty());
    StateImage im2;
    std::string err;
    EXPECT_FALSE(open_etcd_state(cfg, &im2, &err));
    EXPECT_NE(err.find("etcd"), std::string::npos) << err;
}

} // namespace
