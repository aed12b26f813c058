// control/etcd_client against real etcd clusters on loopback (etcd_fixture.hpp): transactions, paged
// ranges, leases, watches (through a member's death and a compaction), a cluster without quorum, one with
// no member left, and TLS with client certificates. No error message may quote a key or a value.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "etcd_client.hpp"
#include "etcd_fixture.hpp"

using namespace nemo::control;
using nemo::test::EtcdCluster;
using Clock = std::chrono::steady_clock;

namespace {

long ms_since(Clock::time_point t)
{
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

// Standard base64 (the gateway's encoding of keys and values), written out here to check against.
std::string base64(const std::string& in)
{
    static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < in.size(); i += 3) {
        const auto byte = [&](std::size_t k) { return k < in.size() ? static_cast<unsigned char>(in[k]) : 0u; };
        const unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
        out += abc[v >> 18 & 63];
        out += abc[v >> 12 & 63];
        out += i + 1 < in.size() ? abc[v >> 6 & 63] : '=';
        out += i + 2 < in.size() ? abc[v & 63] : '=';
    }
    return out;
}

// The error message quotes none of `secrets` (the keys and values of the test), raw or base64-encoded
// (the longest part of the encoding that does not depend on the bytes around the secret).
void expect_clean(const std::string& message, const std::vector<std::string>& secrets)
{
    EXPECT_FALSE(message.empty());
    for (const std::string& s : secrets) {
        EXPECT_EQ(message.find(s), std::string::npos) << "the error quotes a secret: " << message;
        const std::string b = base64(s).substr(0, s.size() / 3 * 4);
        if (!b.empty()) {
            EXPECT_EQ(message.find(b), std::string::npos) << "the error quotes a secret in base64: " << message;
        }
    }
}

template <typename T> const EtcdError& error_of(const std::variant<T, EtcdError>& r)
{
    static const EtcdError none{"(no error: the call succeeded)"};
    const auto* e = std::get_if<EtcdError>(&r);
    return e ? *e : none;
}

template <typename T> const T& value_of(const std::variant<T, EtcdError>& r)
{
    if (const auto* e = std::get_if<EtcdError>(&r)) ADD_FAILURE() << "etcd error: " << e->message;
    static const T none{};
    const auto* v = std::get_if<T>(&r);
    return v ? *v : none;
}

EtcdOp put_op(const std::string& k, const std::string& v, int64_t lease = 0)
{
    EtcdOp op;
    op.kind = EtcdOp::Kind::put;
    op.key = k;
    op.value = v;
    op.lease = lease;
    return op;
}

EtcdOp range_op(const std::string& k, const std::string& end = {})
{
    EtcdOp op;
    op.kind = EtcdOp::Kind::range;
    op.key = k;
    op.range_end = end;
    return op;
}

EtcdOp del_op(const std::string& k, const std::string& end = {})
{
    EtcdOp op;
    op.kind = EtcdOp::Kind::del;
    op.key = k;
    op.range_end = end;
    return op;
}

EtcdCompare cmp(const std::string& k, EtcdCompare::Target t, int64_t v)
{
    EtcdCompare c;
    c.key = k;
    c.target = t;
    c.value = v;
    return c;
}

// A put that happens once even when the client retries it on another member: create only.
int64_t create_key(EtcdClient& c, const std::string& k, const std::string& v)
{
    EtcdTxn t;
    t.compare.push_back(cmp(k, EtcdCompare::Target::version, 0));
    t.success.push_back(put_op(k, v));
    auto r = c.txn(t);
    if (auto* e = std::get_if<EtcdError>(&r)) {
        ADD_FAILURE() << "create: " << e->message;
        return 0;
    }
    auto& res = std::get<EtcdTxnResult>(r);
    EXPECT_TRUE(res.succeeded);
    return res.revision;
}

// What a watch reported, for the test thread to wait on.
struct WatchLog {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<EtcdEvent> events;
    std::vector<int64_t> compactions;
    struct State {
        bool connected;
        std::string endpoint, error;
    };
    std::vector<State> states;

    EtcdWatch::Callbacks callbacks()
    {
        EtcdWatch::Callbacks cb;
        cb.events = [this](std::vector<EtcdEvent>&& evs, int64_t) {
            std::lock_guard lk(mu);
            for (auto& e : evs) events.push_back(std::move(e));
            cv.notify_all();
        };
        cb.compacted = [this](int64_t rev) {
            std::lock_guard lk(mu);
            compactions.push_back(rev);
            cv.notify_all();
        };
        cb.state = [this](bool c, const std::string& ep, const std::string& err) {
            std::lock_guard lk(mu);
            states.push_back({c, ep, err});
            cv.notify_all();
        };
        return cb;
    }
    template <typename P> bool wait(P pred, unsigned ms = 10000)
    {
        std::unique_lock lk(mu);
        return cv.wait_for(lk, std::chrono::milliseconds(ms), [&] { return pred(*this); });
    }
    std::size_t event_count()
    {
        std::lock_guard lk(mu);
        return events.size();
    }
    std::string connected_endpoint()
    {
        std::lock_guard lk(mu);
        for (auto it = states.rbegin(); it != states.rend(); ++it)
            if (it->connected) return it->endpoint;
        return {};
    }
};

bool connected_somewhere(WatchLog& w)
{
    return !w.states.empty() && w.states.back().connected;
}

} // namespace

TEST(EtcdPrefixEnd, EtcdRule)
{
    EXPECT_EQ(etcd_prefix_end("a"), "b");
    EXPECT_EQ(etcd_prefix_end("nemo/"), "nemo0");
    EXPECT_EQ(etcd_prefix_end(std::string("a\xff", 2)), "b");
    EXPECT_EQ(etcd_prefix_end(std::string("\xff\xff", 2)), std::string(1, '\0'));
    EXPECT_EQ(etcd_prefix_end(""), std::string(1, '\0'));
}

// ---------------------------------------------------------------------------------------------------------
// One three-member cluster for the tests that kill nothing.

class EtcdShared : public ::testing::Test {
protected:
    static void SetUpTestSuite() { cluster_ = std::make_unique<EtcdCluster>(3); }
    static void TearDownTestSuite() { cluster_.reset(); }
    void SetUp() override
    {
        ASSERT_TRUE(cluster_->ok()) << cluster_->error();
        client_ = std::make_unique<EtcdClient>(cluster_->options());
    }
    static std::unique_ptr<EtcdCluster> cluster_;
    std::unique_ptr<EtcdClient> client_;
};
std::unique_ptr<EtcdCluster> EtcdShared::cluster_;

TEST_F(EtcdShared, TxnCompareAndSwap)
{
    const std::string key = std::string("cas/\x00\xff-key", 11); // bytes, not text
    const std::string v1 = "value-one", v2 = std::string("value-\x00two", 10);
    EtcdClient& c = *client_;

    // Create when version is 0.
    EtcdTxn create;
    create.compare.push_back(cmp(key, EtcdCompare::Target::version, 0));
    create.success.push_back(put_op(key, v1));
    create.failure.push_back(range_op(key));
    const EtcdTxnResult r1 = value_of(c.txn(create));
    ASSERT_TRUE(r1.succeeded);
    ASSERT_GT(r1.revision, 0);
    ASSERT_EQ(r1.ranges.size(), 1u);
    EXPECT_TRUE(r1.ranges[0].empty()); // a put's response: no keys

    // Again: the key exists, the failure branch reads it.
    const EtcdTxnResult r2 = value_of(c.txn(create));
    ASSERT_FALSE(r2.succeeded);
    ASSERT_EQ(r2.ranges.size(), 1u);
    ASSERT_EQ(r2.ranges[0].size(), 1u);
    EXPECT_EQ(r2.ranges[0][0].key, key);
    EXPECT_EQ(r2.ranges[0][0].value, v1);
    EXPECT_EQ(r2.ranges[0][0].mod_revision, r1.revision);
    EXPECT_EQ(r2.ranges[0][0].create_revision, r1.revision);
    EXPECT_EQ(r2.ranges[0][0].version, 1);
    EXPECT_EQ(r2.revision, r1.revision);

    // Update when mod_revision matches; the success branch's range sees the new value.
    EtcdTxn update;
    update.compare.push_back(cmp(key, EtcdCompare::Target::mod_revision, r1.revision));
    update.success.push_back(put_op(key, v2));
    update.success.push_back(range_op(key));
    update.failure.push_back(range_op(key));
    const EtcdTxnResult r3 = value_of(c.txn(update));
    ASSERT_TRUE(r3.succeeded);
    EXPECT_EQ(r3.revision, r1.revision + 1);
    ASSERT_EQ(r3.ranges.size(), 2u);
    EXPECT_TRUE(r3.ranges[0].empty());
    ASSERT_EQ(r3.ranges[1].size(), 1u);
    EXPECT_EQ(r3.ranges[1][0].value, v2);
    EXPECT_EQ(r3.ranges[1][0].version, 2);

    // The same compare again is stale: the failure branch returns the current kv.
    const EtcdTxnResult r4 = value_of(c.txn(update));
    ASSERT_FALSE(r4.succeeded);
    ASSERT_EQ(r4.ranges.size(), 1u);
    ASSERT_EQ(r4.ranges[0].size(), 1u);
    EXPECT_EQ(r4.ranges[0][0].value, v2);
    EXPECT_EQ(r4.ranges[0][0].mod_revision, r3.revision);

    // mod_revision 0 means "does not exist": false here.
    EtcdTxn absent;
    absent.compare.push_back(cmp(key, EtcdCompare::Target::mod_revision, 0));
    absent.success.push_back(put_op(key, v1));
    EXPECT_FALSE(value_of(c.txn(absent)).succeeded);
    const EtcdRange now = value_of(c.range(key, ""));
    ASSERT_EQ(now.kvs.size(), 1u);
    EXPECT_EQ(now.kvs[0].value, v2);
}

TEST_F(EtcdShared, SeveralOpsInOneTxn)
{
    EtcdClient& c = *client_;
    ASSERT_FALSE(c.put("multi/gone", "x").has_value());
    EtcdTxn t;
    t.success = {put_op("multi/a", "1"), put_op("multi/b", "2"), put_op("multi/c", "3"), del_op("multi/gone"),
                 range_op("multi/", etcd_prefix_end("multi/"))};
    const EtcdTxnResult r = value_of(c.txn(t));
    ASSERT_TRUE(r.succeeded); // no compare: always
    ASSERT_EQ(r.ranges.size(), 5u);
    ASSERT_EQ(r.ranges[4].size(), 3u); // the range at the end sees the txn's own writes
    const EtcdRange all = value_of(c.range("multi/", etcd_prefix_end("multi/")));
    ASSERT_EQ(all.kvs.size(), 3u);
    const char* names[] = {"multi/a", "multi/b", "multi/c"};
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(all.kvs[i].key, names[i]);
        EXPECT_EQ(all.kvs[i].value, std::to_string(i + 1));
        EXPECT_EQ(all.kvs[i].mod_revision, r.revision); // one revision for the whole transaction
    }
}

TEST_F(EtcdShared, RangePagesAreOneSnapshot)
{
    EtcdClient& c = *client_;
    const std::string prefix = "page/", end = etcd_prefix_end(prefix);
    auto key = [&](int i) {
        char b[16];
        snprintf(b, sizeof b, "%05d", i);
        return prefix + b;
    };
    EtcdTxn first;
    for (int i = 0; i < 2500; ++i) first.success.push_back(put_op(key(i), "old" + std::to_string(i)));
    const EtcdTxnResult r0 = value_of(c.txn(first));
    ASSERT_TRUE(r0.succeeded);
    // Every key changed and more added, in a later revision.
    EtcdTxn second;
    for (int i = 0; i < 2600; ++i) second.success.push_back(put_op(key(i), "new" + std::to_string(i)));
    const EtcdTxnResult r1 = value_of(c.txn(second));
    ASSERT_TRUE(r1.succeeded);

    // At the older revision, in pages of 1000: every page read there.
    const EtcdRange old = value_of(c.range(prefix, end, r0.revision, 1000));
    EXPECT_EQ(old.revision, r0.revision);
    ASSERT_EQ(old.kvs.size(), 2500u);
    for (int i = 0; i < 2500; ++i) {
        ASSERT_EQ(old.kvs[i].key, key(i));
        ASSERT_EQ(old.kvs[i].value, "old" + std::to_string(i)) << "page of key " << i << " read at another revision";
        ASSERT_EQ(old.kvs[i].mod_revision, r0.revision);
    }
    // The newest, in pages of 999 (not a divisor).
    const EtcdRange cur = value_of(c.range(prefix, end, 0, 999));
    EXPECT_EQ(cur.revision, r1.revision);
    ASSERT_EQ(cur.kvs.size(), 2600u);
    for (int i = 0; i < 2600; ++i) ASSERT_EQ(cur.kvs[i].value, "new" + std::to_string(i));

    // Paging while another client writes: the pages still add up to the state at one revision.
    std::atomic<bool> stop{false};
    std::atomic<int> written{0};
    std::thread writer([&] {
        EtcdClient w(cluster_->options());
        for (int n = 0; !stop.load(); ++n) {
            EtcdTxn t;
            t.success = {put_op(key(n % 2600), "busy" + std::to_string(n)), put_op(key(3000 + n), "added")};
            if (std::holds_alternative<EtcdTxnResult>(w.txn(t))) ++written;
        }
    });
    const auto t0 = Clock::now();
    while (written.load() == 0 && ms_since(t0) < 5000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EtcdRange busy;
    bool overlapped = false;
    for (int attempt = 0; attempt < 5 && !overlapped; ++attempt) {
        const int before = written.load();
        busy = value_of(c.range(prefix, end, 0, 50));
        overlapped = written.load() > before;
    }
    stop = true;
    writer.join();
    ASSERT_TRUE(overlapped) << "no write while the pages were read: the check below would prove little";
    const EtcdRange whole = value_of(c.range(prefix, end, busy.revision, 0)); // one request, one revision
    ASSERT_EQ(busy.kvs.size(), whole.kvs.size());
    for (std::size_t i = 0; i < whole.kvs.size(); ++i) {
        ASSERT_EQ(busy.kvs[i].key, whole.kvs[i].key);
        ASSERT_EQ(busy.kvs[i].mod_revision, whole.kvs[i].mod_revision);
        ASSERT_LE(busy.kvs[i].mod_revision, busy.revision);
    }

    // One key (no range_end), and one absent.
    const EtcdRange one = value_of(c.range(key(7), ""));
    ASSERT_EQ(one.kvs.size(), 1u);
    EXPECT_EQ(one.kvs[0].key, key(7));
    EXPECT_TRUE(value_of(c.range("page-none", "")).kvs.empty());
    // Every key of the store: an empty key with range_end "\0".
    EXPECT_GE(value_of(c.range("", std::string(1, '\0'), 0, 1000)).kvs.size(), whole.kvs.size());
}

TEST_F(EtcdShared, LeasesExpireAndRevoke)
{
    EtcdClient& c = *client_;
    const int64_t id = value_of(c.lease_grant(1));
    ASSERT_NE(id, 0);
    ASSERT_FALSE(c.put("lease/short", "v", id).has_value());
    const EtcdRange r = value_of(c.range("lease/short", ""));
    ASSERT_EQ(r.kvs.size(), 1u);
    EXPECT_EQ(r.kvs[0].lease, id);
    EXPECT_GT(value_of(c.lease_keepalive(id)), 0);
    // Gone after the TTL (etcd's lessor checks every 500 ms).
    const auto t0 = Clock::now();
    bool gone = false;
    while (!gone && ms_since(t0) < 10000) {
        gone = value_of(c.range("lease/short", "")).kvs.empty();
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(gone) << "the key of a 1 s lease is still there after 10 s";
    EXPECT_LE(value_of(c.lease_keepalive(id)), 0);

    // A put in a txn with a lease; revoking deletes at once.
    const int64_t id2 = value_of(c.lease_grant(60));
    ASSERT_NE(id2, 0);
    EtcdTxn t;
    t.success.push_back(put_op("lease/long", "secret-lease-value", id2));
    ASSERT_TRUE(value_of(c.txn(t)).succeeded);
    EXPECT_EQ(value_of(c.range("lease/long", "")).kvs.at(0).lease, id2);
    EXPECT_FALSE(c.lease_revoke(id2).has_value());
    EXPECT_TRUE(value_of(c.range("lease/long", "")).kvs.empty());
    // Revoking it again: etcd's "lease not found".
    const auto again = c.lease_revoke(id2);
    ASSERT_TRUE(again.has_value());
    EXPECT_FALSE(again->unreachable);
    EXPECT_NE(again->message.find("lease not found"), std::string::npos) << again->message;
}

TEST_F(EtcdShared, WatchGetsPutsAndDeletesInOrder)
{
    EtcdClient& c = *client_;
    const std::string prefix = "watch/";
    const int64_t r0 = value_of(c.range("watch/", etcd_prefix_end("watch/"))).revision;
    ASSERT_FALSE(c.put("watch/a", "va").has_value());
    ASSERT_FALSE(c.put("watchx", "outside").has_value()); // not under the prefix
    ASSERT_FALSE(c.put("watch/b", std::string("v\0b", 3)).has_value());
    EtcdTxn del;
    del.success.push_back(del_op("watch/a"));
    ASSERT_TRUE(value_of(c.txn(del)).succeeded);
    EtcdTxn two;
    two.success = {put_op("watch/c", "vc"), put_op("watch/d", "vd")};
    const int64_t r_two = value_of(c.txn(two)).revision;

    WatchLog log;
    {
        EtcdWatch w(cluster_->options(), prefix, r0 + 1, log.callbacks());
        ASSERT_TRUE(log.wait([](WatchLog& l) { return l.events.size() >= 5; }))
            << "events seen: " << log.event_count();
        std::lock_guard lk(log.mu);
        ASSERT_EQ(log.events.size(), 5u);
        const auto& e = log.events;
        EXPECT_EQ(e[0].type, EtcdEvent::Type::put);
        EXPECT_EQ(e[0].kv.key, "watch/a");
        EXPECT_EQ(e[0].kv.value, "va");
        EXPECT_EQ(e[0].kv.mod_revision, r0 + 1);
        EXPECT_EQ(e[1].kv.key, "watch/b");
        EXPECT_EQ(e[1].kv.value, std::string("v\0b", 3));
        EXPECT_EQ(e[1].kv.mod_revision, r0 + 3);
        EXPECT_EQ(e[2].type, EtcdEvent::Type::del);
        EXPECT_EQ(e[2].kv.key, "watch/a");
        EXPECT_EQ(e[2].kv.mod_revision, r0 + 4);
        EXPECT_EQ(e[3].kv.key, "watch/c");
        EXPECT_EQ(e[4].kv.key, "watch/d");
        EXPECT_EQ(e[3].kv.mod_revision, r_two);
        EXPECT_EQ(e[4].kv.mod_revision, r_two);
        EXPECT_EQ(w.revision(), r_two);
        EXPECT_TRUE(w.connected());
        ASSERT_FALSE(log.states.empty());
        EXPECT_TRUE(log.states.front().connected);
    }
    // From the middle: the delete on.
    WatchLog mid;
    auto w2 = std::make_unique<EtcdWatch>(cluster_->options(), prefix, r0 + 4, mid.callbacks());
    ASSERT_TRUE(mid.wait([](WatchLog& l) { return l.events.size() >= 3; }));
    {
        std::lock_guard lk(mid.mu);
        EXPECT_EQ(mid.events[0].type, EtcdEvent::Type::del);
        EXPECT_EQ(mid.events[0].kv.mod_revision, r0 + 4);
    }
    // Live: a new put arrives; progress notifications (every 1 s here) move revision() past other prefixes' writes.
    ASSERT_FALSE(c.put("watch/e", "ve").has_value());
    ASSERT_TRUE(mid.wait([](WatchLog& l) { return l.events.size() >= 4; }));
    ASSERT_FALSE(c.put("elsewhere", "x").has_value());
    const int64_t r_else = value_of(c.range("elsewhere", "")).revision;
    const auto t0 = Clock::now();
    while (w2->revision() < r_else && ms_since(t0) < 5000) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_GE(w2->revision(), r_else) << "no progress notification within 5 s";
    // The destructor stops a connected watch at once.
    EXPECT_TRUE(w2->connected());
    const auto t1 = Clock::now();
    w2.reset();
    EXPECT_LT(ms_since(t1), 500) << "the watch's destructor waited";
}

TEST_F(EtcdShared, StatusAndMembers)
{
    EtcdClient& c = *client_;
    const auto st = c.status_all();
    ASSERT_EQ(st.size(), 3u);
    std::set<uint64_t> ids;
    for (const auto& s : st) {
        EXPECT_TRUE(s.reachable) << s.endpoint << ": " << s.error;
        EXPECT_EQ(s.version, "3.4.23");
        EXPECT_NE(s.member_id, 0u);
        EXPECT_EQ(s.leader, st[0].leader);
        EXPECT_GT(s.raft_term, 0u);
        EXPECT_GT(s.raft_index, 0u);
        EXPECT_GT(s.revision, 0);
        EXPECT_GT(s.db_size, 0u);
        ids.insert(s.member_id);
    }
    EXPECT_EQ(ids.size(), 3u);
    EXPECT_TRUE(ids.count(st[0].leader)) << "the leader is not a member";
    const auto members = value_of(c.member_list());
    ASSERT_EQ(members.size(), 3u);
    std::set<std::string> urls;
    for (const auto& m : members) {
        EXPECT_TRUE(ids.count(m.id));
        EXPECT_FALSE(m.name.empty());
        for (const auto& u : m.client_urls) urls.insert(u);
    }
    for (const auto& ep : cluster_->endpoints()) EXPECT_TRUE(urls.count("http://" + ep)) << ep;
}

TEST_F(EtcdShared, ErrorsQuoteNoKeyOrValue)
{
    EtcdClient& c = *client_;
    const std::string key = "errs/secret-key-name", value = "secret-value-text";
    const std::vector<std::string> secrets = {key, value, "secret"};
    // A future revision.
    const auto r = c.range(key, "", 1000000000);
    ASSERT_TRUE(std::holds_alternative<EtcdError>(r));
    EXPECT_FALSE(error_of(r).unreachable);
    EXPECT_FALSE(error_of(r).compacted);
    expect_clean(error_of(r).message, secrets);
    // A key twice in one txn.
    EtcdTxn dup;
    dup.success = {put_op(key, value), put_op(key, value)};
    const auto d = c.txn(dup);
    ASSERT_TRUE(std::holds_alternative<EtcdError>(d));
    expect_clean(error_of(d).message, secrets);
    // A lease that does not exist.
    const auto p = c.put(key, value, 123456789);
    ASSERT_TRUE(p.has_value());
    expect_clean(p->message, secrets);
    EXPECT_TRUE(value_of(c.range(key, "")).kvs.empty());
}

// ---------------------------------------------------------------------------------------------------------
// Clusters of their own: members die.

TEST(EtcdFailover, WatchSurvivesTheDeathOfItsMember)
{
    EtcdCluster cl(3);
    ASSERT_TRUE(cl.ok()) << cl.error();
    EtcdClient c(cl.options());
    const int64_t r0 = value_of(c.range("f/", etcd_prefix_end("f/"))).revision;
    WatchLog log;
    EtcdWatch w(cl.options(), "f/", r0 + 1, log.callbacks());
    ASSERT_TRUE(log.wait(connected_somewhere));
    const std::string first = log.connected_endpoint();
    const std::size_t victim = cl.index_of(first);
    ASSERT_LT(victim, cl.size()) << first;

    for (int i = 0; i < 10; ++i) create_key(c, "f/k" + std::to_string(100 + i), "v");
    ASSERT_TRUE(log.wait([](WatchLog& l) { return l.events.size() >= 10; })) << log.event_count();

    cl.kill(victim);
    for (int i = 10; i < 20; ++i) create_key(c, "f/k" + std::to_string(100 + i), "v");
    ASSERT_TRUE(log.wait([](WatchLog& l) { return l.events.size() >= 20; }, 15000))
        << "events after the kill did not arrive: " << log.event_count();
    {
        std::lock_guard lk(log.mu);
        ASSERT_EQ(log.events.size(), 20u) << "an event came twice";
        for (int i = 0; i < 20; ++i) {
            EXPECT_EQ(log.events[i].kv.key, "f/k" + std::to_string(100 + i));
            if (i > 0) {
                EXPECT_GT(log.events[i].kv.mod_revision, log.events[i - 1].kv.mod_revision);
            }
        }
        bool broke = false;
        std::string now;
        for (const auto& s : log.states) {
            if (!s.connected && s.endpoint == first) broke = true;
            if (s.connected) now = s.endpoint;
        }
        EXPECT_TRUE(broke) << "no state callback for the broken stream";
        EXPECT_NE(now, first);
        EXPECT_FALSE(now.empty());
    }
    // status_all says which one is gone; the killed member comes back on its data.
    const auto st = c.status_all();
    ASSERT_EQ(st.size(), 3u);
    EXPECT_FALSE(st[victim].reachable);
    EXPECT_FALSE(st[victim].error.empty());
    ASSERT_TRUE(cl.restart(victim));
    ASSERT_TRUE(cl.wait_healthy(victim, 15000)) << cl.error() << cl.log_tail(victim);
    EXPECT_TRUE(c.status_all()[victim].reachable);
}

TEST(EtcdFailover, NoQuorumIsAnErrorNotAHang)
{
    EtcdCluster cl(3);
    ASSERT_TRUE(cl.ok()) << cl.error();
    EtcdClient c(cl.options(300, 1000));
    ASSERT_FALSE(c.put("q/warm", "v").has_value());
    WatchLog log;
    EtcdWatch w(cl.options(300, 1000), "q/", 0, log.callbacks());
    ASSERT_TRUE(log.wait(connected_somewhere));
    const std::size_t survivor = cl.index_of(log.connected_endpoint());
    ASSERT_LT(survivor, cl.size());
    for (std::size_t i = 0; i < 3; ++i)
        if (i != survivor) cl.kill(i);
    const std::vector<std::string> secrets = {"q/key-no-quorum", "value-no-quorum"};
    auto t0 = Clock::now();
    EtcdTxn t;
    t.compare.push_back(cmp(secrets[0], EtcdCompare::Target::version, 0));
    t.success.push_back(put_op(secrets[0], secrets[1]));
    const auto r = c.txn(t);
    const long took = ms_since(t0);
    ASSERT_TRUE(std::holds_alternative<EtcdError>(r)) << "a write without quorum succeeded";
    EXPECT_LT(took, 3 * 1000 + 1500) << error_of(r).message;
    expect_clean(error_of(r).message, secrets);
    // A (linearizable) read needs the leader too.
    t0 = Clock::now();
    const auto rr = c.range(secrets[0], "");
    EXPECT_TRUE(std::holds_alternative<EtcdError>(rr));
    EXPECT_LT(ms_since(t0), 3 * 1000 + 1500);
    expect_clean(error_of(rr).message, secrets);
    // The watch on the member left alone is ended by it ("require leader"): it does not sit on a member
    // that can no longer see the cluster's changes.
    ASSERT_TRUE(log.wait([](WatchLog& l) { return !l.states.back().connected; }, 10000))
        << "the watch on a member without a leader was not broken";
    std::lock_guard lk(log.mu);
    const std::string ep = cl.endpoint(survivor);
    std::string all;
    bool no_leader = false;
    for (const auto& s : log.states) {
        all += (s.connected ? "up " : "down ") + s.endpoint + " " + s.error + "\n";
        if (!s.connected && s.endpoint == ep && s.error.find("leader") != std::string::npos) no_leader = true;
    }
    EXPECT_TRUE(no_leader) << all;
}

TEST(EtcdFailover, NoMemberLeftIsUnreachable)
{
    EtcdCluster cl(3);
    ASSERT_TRUE(cl.ok()) << cl.error();
    EtcdClient c(cl.options(300, 1000));
    ASSERT_FALSE(c.put("u/warm", "v").has_value());
    for (std::size_t i = 0; i < 3; ++i) cl.kill(i);
    const std::vector<std::string> secrets = {"u/key-unreachable", "value-unreachable"};
    auto t0 = Clock::now();
    EtcdTxn t;
    t.success.push_back(put_op(secrets[0], secrets[1]));
    const auto r = c.txn(t);
    ASSERT_TRUE(std::holds_alternative<EtcdError>(r));
    EXPECT_TRUE(error_of(r).unreachable) << error_of(r).message;
    EXPECT_LT(ms_since(t0), 3 * 1000);
    expect_clean(error_of(r).message, secrets);
    for (const auto& ep : cl.endpoints()) EXPECT_NE(error_of(r).message.find(ep), std::string::npos) << ep;

    // With one endpoint that accepts connections and never answers: bounded by its request timeout.
    const int hole = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(bind(hole, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(listen(hole, 16), 0);
    ASSERT_EQ(getsockname(hole, reinterpret_cast<sockaddr*>(&a), &len), 0);
    EtcdOptions o = cl.options(300, 1000);
    o.endpoints.insert(o.endpoints.begin(), "127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
    EtcdClient c2(o);
    t0 = Clock::now();
    const auto r2 = c2.range(secrets[0], "");
    const long took = ms_since(t0);
    ASSERT_TRUE(std::holds_alternative<EtcdError>(r2));
    EXPECT_TRUE(error_of(r2).unreachable);
    EXPECT_GE(took, 900) << "the silent endpoint was not waited for";
    EXPECT_LT(took, 4 * 1000);
    expect_clean(error_of(r2).message, secrets);
    EXPECT_FALSE(c2.status_all()[1].reachable);
    EXPECT_FALSE(std::holds_alternative<std::vector<EtcdMember>>(c2.member_list()));

    // A watch there: it says it is not connected, and it stops at once, even connecting to the silent one.
    WatchLog log;
    auto w = std::make_unique<EtcdWatch>(o, "u/", 1, log.callbacks());
    ASSERT_TRUE(log.wait([](WatchLog& l) { return l.states.size() >= 3; }, 10000));
    EXPECT_FALSE(w->connected());
    {
        std::lock_guard lk(log.mu);
        for (const auto& s : log.states) {
            EXPECT_FALSE(s.connected);
            EXPECT_FALSE(s.error.empty());
        }
    }
    // Let it get into the silent endpoint's connection again, then destroy it.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    t0 = Clock::now();
    w.reset();
    EXPECT_LT(ms_since(t0), 500) << "the watch's destructor waited";
    close(hole);
}

TEST(EtcdCompaction, RangeAndWatchFromACompactedRevision)
{
    EtcdCluster cl(1);
    ASSERT_TRUE(cl.ok()) << cl.error();
    EtcdClient c(cl.options());
    int64_t rev = 0;
    for (int i = 0; i < 5; ++i) rev = create_key(c, "cmp/k" + std::to_string(i), "v");
    const int64_t old = rev - 3;
    const auto [status, body] = cl.post(0, "/v3/kv/compaction", "{\"revision\":\"" + std::to_string(rev) + "\",\"physical\":true}");
    ASSERT_EQ(status, 200) << body;

    const auto r = c.range("cmp/", etcd_prefix_end("cmp/"), old);
    ASSERT_TRUE(std::holds_alternative<EtcdError>(r));
    EXPECT_TRUE(error_of(r).compacted) << error_of(r).message;
    expect_clean(error_of(r).message, {"cmp/"});

    WatchLog log;
    EtcdWatch w(cl.options(), "cmp/", old, log.callbacks());
    ASSERT_TRUE(log.wait([](WatchLog& l) { return !l.compactions.empty(); })) << "no compacted callback";
    {
        std::lock_guard lk(log.mu);
        EXPECT_EQ(log.compactions[0], rev);
        EXPECT_TRUE(log.events.empty());
    }
    // It waits for restart(): a put now is not delivered.
    const int64_t r_late = create_key(c, "cmp/late", "v");
    EXPECT_FALSE(log.wait([](WatchLog& l) { return !l.events.empty(); }, 300)) << "events before restart()";
    EXPECT_EQ(log.compactions.size(), 1u);
    // The caller reads anew and restarts after that read.
    const EtcdRange now = value_of(c.range("cmp/", etcd_prefix_end("cmp/")));
    EXPECT_EQ(now.kvs.size(), 6u);
    w.restart(now.revision + 1);
    const int64_t r_next = create_key(c, "cmp/next", "v");
    ASSERT_TRUE(log.wait([](WatchLog& l) { return !l.events.empty(); })) << "nothing after restart()";
    std::lock_guard lk(log.mu);
    ASSERT_EQ(log.events.size(), 1u);
    EXPECT_EQ(log.events[0].kv.key, "cmp/next");
    EXPECT_EQ(log.events[0].kv.mod_revision, r_next);
    EXPECT_GT(r_next, r_late);
}

TEST(EtcdTls, ClientCertificates)
{
    EtcdCluster cl(1, true);
    ASSERT_TRUE(cl.ok()) << cl.error();
    const std::vector<std::string> secrets = {"tls/secret-key", "tls-secret-value"};
    EtcdClient c(cl.options());
    WatchLog log;
    EtcdWatch w(cl.options(), "tls/", 0, log.callbacks());
    ASSERT_TRUE(log.wait(connected_somewhere)) << (log.states.empty() ? "" : log.states.back().error);

    EtcdTxn t;
    t.compare.push_back(cmp(secrets[0], EtcdCompare::Target::version, 0));
    t.success.push_back(put_op(secrets[0], secrets[1]));
    const EtcdTxnResult r = value_of(c.txn(t));
    ASSERT_TRUE(r.succeeded);
    const EtcdRange got = value_of(c.range("tls/", etcd_prefix_end("tls/")));
    ASSERT_EQ(got.kvs.size(), 1u);
    EXPECT_EQ(got.kvs[0].value, secrets[1]);
    ASSERT_TRUE(log.wait([](WatchLog& l) { return !l.events.empty(); }));
    {
        std::lock_guard lk(log.mu);
        EXPECT_EQ(log.events[0].kv.key, secrets[0]);
        EXPECT_EQ(log.events[0].kv.mod_revision, r.revision);
    }
    EXPECT_TRUE(c.status_all()[0].reachable);

    // Without a client certificate: refused.
    EtcdOptions nocert = cl.options();
    nocert.tls.cert_file.clear();
    nocert.tls.key_file.clear();
    EtcdClient bad(nocert);
    const auto e = bad.txn(t);
    ASSERT_TRUE(std::holds_alternative<EtcdError>(e)) << "a client without a certificate was let in";
    std::vector<std::string> all = secrets;
    all.push_back("BEGIN"); // nothing of a PEM file either
    expect_clean(error_of(e).message, all);
    const auto er = bad.range(secrets[0], "");
    ASSERT_TRUE(std::holds_alternative<EtcdError>(er));
    expect_clean(error_of(er).message, all);
    WatchLog badlog;
    {
        EtcdWatch bw(nocert, "tls/", 0, badlog.callbacks());
        ASSERT_TRUE(badlog.wait([](WatchLog& l) { return !l.states.empty(); }));
        std::lock_guard lk(badlog.mu);
        EXPECT_FALSE(badlog.states[0].connected);
        expect_clean(badlog.states[0].error, all);
        EXPECT_TRUE(badlog.events.empty());
    }
    // Plain http to the https port: an error too.
    EtcdOptions plain = cl.options();
    plain.tls = {};
    EtcdClient p(plain);
    EXPECT_TRUE(std::holds_alternative<EtcdError>(p.range(secrets[0], "")));
}
