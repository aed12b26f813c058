// The durable store (control/state_store) and its SQLite backend (control/state_sqlite): what is
// committed comes back after a reopen, the writer coalesces and retries, and a damaged, foreign,
// read-only or full store gives an image that can be trusted or an error naming the path, never a crash.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "state_sqlite.hpp"
#include "state_store.hpp"
#include "state_test_util.hpp"

using namespace nemo;
using namespace nemo::control;
using namespace nemo::control::state_test;

namespace {

// The SQLite backend: this file's subject (RocksDB's own: test_state_rocksdb.cpp).
std::unique_ptr<StateStore> open_store(const fs::path& dir, StateImage* image, std::string* error, bool refuse = false)
{
    return open_backend(StateConfig::Backend::sqlite, dir, image, error, refuse);
}

// A backend in memory whose commits can be held (to see what waits) or made to fail.
struct FakeDisk {
    std::mutex mu;
    std::condition_variable cv;
    bool hold = false, fail = false;
    int started = 0;
    std::vector<StateBatch> committed;

    void set(bool h, bool f)
    {
        {
            std::lock_guard lk(mu);
            hold = h;
            fail = f;
        }
        cv.notify_all();
    }
    int started_count()
    {
        std::lock_guard lk(mu);
        return started;
    }
};

class FakeBackend final : public StateBackend {
public:
    explicit FakeBackend(std::shared_ptr<FakeDisk> d) : d_(std::move(d)) {}
    std::optional<CommitError> commit(const StateBatch& b) override
    {
        std::unique_lock lk(d_->mu);
        ++d_->started;
        d_->cv.notify_all();
        d_->cv.wait(lk, [&] { return !d_->hold; });
        if (d_->fail) return CommitError{path_ + ": write: database or disk is full", true};
        d_->committed.push_back(b);
        return std::nullopt;
    }
    uint64_t size_bytes() const override { return 0; }
    const std::string& path() const override { return path_; }
    const char* name() const override { return "fake"; }

private:
    std::shared_ptr<FakeDisk> d_;
    const std::string path_ = "/fake/state.db";
};

uint16_t seq_in(const std::optional<std::vector<uint8_t>>& rec)
{
    if (!rec) return 0;
    auto b = decode_binding(*rec, nullptr);
    return b ? b->binding.seq : 0;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// The writer: coalescing, durable(), retries (over a backend in memory)

TEST(StateStoreWriter, WaitingBatchesAreCoalescedAndTheLastValueWins)
{
    auto disk = std::make_shared<FakeDisk>();
    disk->set(true, false);
    StateStore st(std::make_unique<FakeBackend>(disk));
    const Ipv6Addr a = hoa_of(1), b = hoa_of(2);
    EXPECT_EQ(st.staged_batch(), 1u);
    st.put_binding(make_binding(1, 1));
    st.flush(); // batch 1: the writer takes it and is held in its commit
    ASSERT_TRUE(wait_until([&] { return disk->started_count() == 1; }, 2000));
    st.put_binding(make_binding(1, 2));
    st.put_binding(make_binding(2, 1));
    st.flush(); // batch 2
    st.put_binding(make_binding(1, 3));
    st.erase_binding(b);
    st.put_seq(7, {0xabc, 100});
    st.put_seq(7, {0xabc, 200}); // twice in one batch: the later
    st.flush(); // batch 3
    EXPECT_EQ(st.staged_batch(), 4u);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(st.durable(), 0u) << "durable before its commit returned";
    disk->set(false, false);
    ASSERT_TRUE(wait_until([&] { return st.durable() == 3; }, 2000)) << st.durable();
    std::lock_guard lk(disk->mu);
    ASSERT_EQ(disk->committed.size(), 2u) << "batches 2 and 3 waited together: one commit";
    EXPECT_EQ(disk->started, 2);
    const StateBatch& first = disk->committed[0];
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(seq_in(first.bindings.at(a)), 1);
    const StateBatch& second = disk->committed[1];
    EXPECT_EQ(second.size(), 3u);
    EXPECT_EQ(seq_in(second.bindings.at(a)), 3);
    EXPECT_FALSE(second.bindings.at(b).has_value()) << "the removal came last";
    auto seq = decode_seq(second.seqs.at(7), nullptr);
    ASSERT_TRUE(seq);
    EXPECT_EQ(seq->reserved, 200u);
    const StateStatus s = st.status();
    EXPECT_EQ(s.syncs, 2u);
    EXPECT_EQ(s.records_written, 4u);
    EXPECT_EQ(s.staged, 4u);
    EXPECT_EQ(s.durable, 3u);
    EXPECT_FALSE(s.refusing);
    EXPECT_EQ(s.backend, "fake");
}

// A cluster store's compare-and-swap bases (state_etcd): a change decided on this instance's own earlier
// one (`own`) is written against that one's base when both wait in one commit; a base decided anew
// (a revision seen from another instance) replaces it; an unconditional change drops it.
TEST(StateStoreWriter, CoalescingKeepsTheFirstChangesCompareAndSwapBase)
{
    const Ipv6Addr a = hoa_of(1), b = hoa_of(2), c = hoa_of(3);
    StateBatch first, later;
    first.bindings[a] = encode_binding(make_binding(1, 1));
    first.binding_base[a] = CasBase::at(7);
    first.bindings[b] = encode_binding(make_binding(2, 1));
    first.binding_base[b] = CasBase::absent_key();
    first.bindings[c] = encode_binding(make_binding(3, 1));
    first.binding_base[c] = CasBase::at(9);
    later.bindings[a] = encode_binding(make_binding(1, 2));
    later.binding_base[a] = CasBase::own_change();
    later.bindings[b] = encode_binding(make_binding(2, 2));
    later.binding_base[b] = CasBase::at(12);
    later.bindings[c] = std::nullopt; // unconditional
    first.merge(std::move(later));
    EXPECT_EQ(seq_in(first.bindings.at(a)), 2);
    EXPECT_EQ(first.binding_base.at(a), CasBase::at(7)) << "own change kept the first one's base";
    EXPECT_EQ(first.binding_base.at(b), CasBase::at(12));
    EXPECT_EQ(first.binding_base.count(c), 0u);

    // Staged twice in one turn: the same rule.
    auto disk = std::make_shared<FakeDisk>();
    disk->set(true, false);
    StateStore st(std::make_unique<FakeBackend>(disk));
    st.put_binding(make_binding(1, 1), CasBase::at(3));
    st.put_binding(make_binding(1, 2), CasBase::own_change());
    st.put_binding(make_binding(2, 1), CasBase::own_change()); // nothing of its own before it: kept as own
    st.flush();
    disk->set(false, false);
    ASSERT_TRUE(wait_until([&] { return st.durable() == 1; }, 2000));
    std::lock_guard lk(disk->mu);
    ASSERT_EQ(disk->committed.size(), 1u);
    EXPECT_EQ(disk->committed[0].binding_base.at(a), CasBase::at(3));
    EXPECT_EQ(disk->committed[0].binding_base.at(b), CasBase::own_change());
}

// What a shared store's commit settled reaches the control thread no later than durable() moving past
// it: a BA that lost must be answered again before it could leave as accepted.
TEST(StateStoreWriter, SettledReportsComeBeforeDurable)
{
    struct Settling final : StateBackend {
        std::optional<CommitError> commit(const StateBatch&) override { return std::nullopt; }
        std::optional<CommitError> commit_cas(StateBatch& b, CasSettled* s) override
        {
            for (const auto& [hoa, rec] : b.bindings) {
                if (rec && seq_in(rec) == 13) s->conflicts.push_back(CasConflict{hoa, false, std::nullopt, 42, "other"});
                else s->written.emplace_back(hoa, CasBase::at(100));
            }
            b = StateBatch{};
            return std::nullopt;
        }
        uint64_t size_bytes() const override { return 0; }
        const std::string& path() const override { return p; }
        const char* name() const override { return "settling"; }
        std::string p = "/x";
    };
    StateStore st(std::make_unique<Settling>());
    std::vector<CasSettled> got;
    for (int round = 1; round <= 50; ++round) {
        st.put_binding(make_binding(1, round == 25 ? 13 : 1), CasBase::absent_key());
        st.flush();
        // Whenever durable() has moved to this batch, its report has been posted.
        const uint64_t want = st.staged_batch() - 1;
        ASSERT_TRUE(wait_until([&] { return st.durable() >= want; }, 2000));
        std::vector<CasSettled> now;
        st.take_settled(now);
        ASSERT_EQ(now.size(), 1u) << "round " << round;
        EXPECT_EQ(now[0].batch, want);
        for (auto& n : now) got.push_back(std::move(n));
    }
    std::size_t conflicts = 0;
    for (const auto& g : got) conflicts += g.conflicts.size();
    EXPECT_EQ(conflicts, 1u);
    EXPECT_EQ(got[24].conflicts.at(0).mod_revision, 42);
}

TEST(StateStoreWriter, DurableAdvancesOnlyWhenTheCommitReturns)
{
    auto disk = std::make_shared<FakeDisk>();
    StateStore st(std::make_unique<FakeBackend>(disk));
    st.put_binding(make_binding(1));
    std::string err;
    ASSERT_TRUE(st.sync_now(&err)) << err;
    EXPECT_EQ(st.durable(), 1u);
    disk->set(true, false);
    st.put_binding(make_binding(2));
    const uint64_t id = st.staged_batch();
    st.flush();
    ASSERT_TRUE(wait_until([&] { return disk->started_count() == 2; }, 2000));
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(st.durable(), 1u);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    disk->set(false, false);
    ASSERT_TRUE(wait_until([&] { return st.durable() == id; }, 2000));
}

TEST(StateStoreWriter, SyncNow)
{
    auto disk = std::make_shared<FakeDisk>();
    StateStore st(std::make_unique<FakeBackend>(disk));
    std::string err;
    auto t0 = Clock::now();
    EXPECT_TRUE(st.sync_now(&err)) << "nothing staged: nothing to wait for";
    EXPECT_LT(ms_since(t0), 100u);
    EXPECT_EQ(disk->started_count(), 0) << "no commit for nothing";

    st.put_mr(make_mr(1, true));
    const uint64_t id = st.staged_batch();
    EXPECT_TRUE(st.sync_now(&err)) << err;
    EXPECT_GE(st.durable(), id);
    EXPECT_GT(st.staged_batch(), id) << "the next changes get a new batch";

    // Held: sync_now gives up at its timeout, and says so.
    disk->set(true, false);
    st.put_binding(make_binding(3));
    t0 = Clock::now();
    EXPECT_FALSE(st.sync_now(&err, 100));
    EXPECT_GE(ms_since(t0), 100u);
    EXPECT_LT(ms_since(t0), 1000u);
    EXPECT_EQ(err, "the state store did not sync within 100 ms");
    disk->set(false, false);
    // Nothing new staged: it waits for the batch already handed over.
    EXPECT_TRUE(st.sync_now(&err)) << err;
    EXPECT_EQ(st.durable(), st.staged_batch() - 1);
}

TEST(StateStoreWriter, FailedCommitsAreRetriedAndNothingIsLost)
{
    auto disk = std::make_shared<FakeDisk>();
    disk->set(false, true);
    StateStore st(std::make_unique<FakeBackend>(disk));
    st.put_binding(make_binding(1));
    st.put_sa(make_sa(0x100, true));
    st.flush();
    ASSERT_TRUE(wait_until([&] { return st.status().sync_failures >= 1; }, 2000));
    EXPECT_TRUE(st.refusing());
    EXPECT_EQ(st.durable(), 0u);
    StateStatus s = st.status();
    EXPECT_TRUE(s.refusing);
    EXPECT_TRUE(contains(s.error, "/fake/state.db")) << s.error;

    // Nothing new: sync_now waits for the next try, a second later, and reports its failure.
    std::string err;
    auto t0 = Clock::now();
    EXPECT_FALSE(st.sync_now(&err, 5000));
    EXPECT_LT(ms_since(t0), 2500u) << "retried every second";
    EXPECT_TRUE(contains(err, "/fake/state.db")) << err;

    // Staged while failing, then the disk heals: everything commits, in one transaction.
    st.put_binding(make_binding(2));
    st.erase_binding(hoa_of(1));
    st.put_binding(make_binding(3));
    const uint64_t last = st.staged_batch();
    st.flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(st.durable(), 0u);
    disk->set(false, false);
    t0 = Clock::now();
    ASSERT_TRUE(wait_until([&] { return st.durable() == last; }, 3000));
    EXPECT_LT(ms_since(t0), 2000u);
    EXPECT_FALSE(st.refusing());
    s = st.status();
    EXPECT_TRUE(s.error.empty()) << s.error;
    EXPECT_GE(s.sync_failures, 2u);
    std::lock_guard lk(disk->mu);
    ASSERT_EQ(disk->committed.size(), 1u);
    const StateBatch& b = disk->committed[0];
    EXPECT_EQ(b.bindings.size(), 3u);
    EXPECT_FALSE(b.bindings.at(hoa_of(1)).has_value());
    EXPECT_TRUE(b.bindings.at(hoa_of(2)).has_value());
    EXPECT_TRUE(b.bindings.at(hoa_of(3)).has_value());
    EXPECT_EQ(b.sas.count(0x100), 1u);
}

TEST(StateStoreWriter, StopWithAStoreThatCannotBeWrittenDoesNotHang)
{
    auto disk = std::make_shared<FakeDisk>();
    disk->set(false, true);
    auto st = std::make_unique<StateStore>(std::make_unique<FakeBackend>(disk));
    st->put_binding(make_binding(1));
    st->flush();
    ASSERT_TRUE(wait_until([&] { return st->refusing(); }, 2000));
    st->put_binding(make_binding(2)); // staged, never flushed: the destructor hands it over
    const int before = disk->started_count();
    const auto t0 = Clock::now();
    testing::internal::CaptureStderr();
    st.reset();
    const std::string said = testing::internal::GetCapturedStderr();
    EXPECT_LT(ms_since(t0), 1500u);
    // What is lost is said, not lost in silence.
    EXPECT_NE(said.find("stopping with 2 changes not durable"), std::string::npos) << said;
    // One last try at the stop (two when a retry was under way).
    EXPECT_GE(disk->started_count(), before + 1);
    EXPECT_LE(disk->started_count(), before + 2);
}

TEST(StateStoreWriter, CleanStopCommitsWhatIsStagedAndQueued)
{
    auto disk = std::make_shared<FakeDisk>();
    std::thread release;
    {
        StateStore st(std::make_unique<FakeBackend>(disk));
        disk->set(true, false);
        st.put_binding(make_binding(1));
        st.flush();
        ASSERT_TRUE(wait_until([&] { return disk->started_count() == 1; }, 2000));
        st.put_binding(make_binding(2));
        st.flush();                      // queued behind the held commit
        st.put_binding(make_binding(3)); // staged only
        // Released while the destructor waits for the writer.
        release = std::thread([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            disk->set(false, false);
        });
    }
    release.join();
    std::lock_guard lk(disk->mu);
    std::size_t n = 0;
    for (const auto& b : disk->committed) n += b.bindings.size();
    EXPECT_EQ(n, 3u);
}

// ---------------------------------------------------------------------------------------------
// The SQLite store

TEST(StateStore, CommitThenReopenGivesTheSameImage)
{
    TempDir t;
    const fs::path dir = t.path / "state"; // absent: made by the open
    Canon want;
    {
        StateImage im;
        std::string err;
        auto st = open_store(dir, &im, &err);
        ASSERT_TRUE(st) << err;
        EXPECT_TRUE(im.bindings.empty());
        EXPECT_EQ(im.damaged, 0u);
        EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all) << "it holds SA keys";
        put_every_kind(*st, &want);
        ASSERT_TRUE(st->sync_now(&err)) << err;
        const StateStatus s = st->status();
        EXPECT_EQ(s.backend, "sqlite");
        EXPECT_EQ(s.path, (dir / "state.db").string());
        EXPECT_GE(s.syncs, 1u);
        EXPECT_EQ(s.records_written, 200u + 5 + 4 + 3);
        EXPECT_GT(s.size_bytes, 200u * 100);
        EXPECT_GT(s.last_sync_wall_ms, 0u);
        EXPECT_FALSE(s.refusing);
    }
    StateImage im;
    std::string err;
    auto st = open_store(dir, &im, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_EQ(im.damaged, 0u);
    EXPECT_TRUE(im.salvaged_from.empty());
    const Canon got = canon(im);
    EXPECT_TRUE(got == want) << got.summary() << " vs " << want.summary();
    expect_sa_keys_back(im);
}

TEST(StateStore, TheFilesArePrivateInADirOthersMayRead)
{
    // The store holds SA keys. A state.dir made beforehand (by a package, by systemd's StateDirectory=,
    // 0755 by default) does not protect them: the files themselves must be private to their owner.
    TempDir t;
    ASSERT_EQ(::chmod(t.path.c_str(), 0755), 0);
    const mode_t old_mask = ::umask(022);
    StateImage im;
    std::string err;
    auto st = open_store(t.path, &im, &err);
    ::umask(old_mask);
    ASSERT_TRUE(st) << err;
    st->put_sa(make_sa(0x100, true));
    ASSERT_TRUE(st->sync_now(&err)) << err;
    for (const char* name : {"state.db", "state.db-wal", "lock"}) {
        const fs::path p = t.path / name;
        if (!fs::exists(p)) continue;
        const auto perms = fs::status(p).permissions();
        EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none)
            << p << " mode " << std::oct << static_cast<unsigned>(perms);
    }
    EXPECT_TRUE(fs::exists(t.path / "state.db-wal")) << "the log, while the store is open";
    // A file an earlier build left readable by others is made private at the next open.
    st.reset();
    ASSERT_EQ(::chmod((t.path / "state.db").c_str(), 0644), 0);
    st = open_store(t.path, &im, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_EQ(fs::status(t.path / "state.db").permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(im.sas.size(), 1u);
}

TEST(StateStore, EraseOverwriteAndLastWins)
{
    TempDir t;
    std::string err;
    {
        StateImage im;
        auto st = open_store(t.path, &im, &err);
        ASSERT_TRUE(st) << err;
        for (uint32_t i = 0; i < 6; ++i) st->put_binding(make_binding(i));
        ASSERT_TRUE(st->sync_now(&err)) << err;
        st->erase_binding(hoa_of(0));
        st->erase_binding(hoa_of(1000)); // never stored: nothing to do
        st->put_binding(make_binding(1, 9));
        st->put_binding(make_binding(2, 5));
        st->flush();
        st->put_binding(make_binding(2, 6)); // a later batch for one key: the last wins
        st->erase_binding(hoa_of(3));        // stored, then removed in a later batch
        st->put_binding(make_binding(4, 2));
        st->erase_binding(hoa_of(4)); // put and removed in one batch
        st->erase_binding(hoa_of(5));
        st->put_binding(make_binding(5, 7)); // removed and put back in one batch
        ASSERT_TRUE(st->sync_now(&err)) << err;
    }
    StateImage im;
    auto st = open_store(t.path, &im, &err);
    ASSERT_TRUE(st) << err;
    std::map<Ipv6Addr, uint16_t> seqs;
    for (const auto& b : im.bindings) seqs[b.binding.hoa] = b.binding.seq;
    const std::map<Ipv6Addr, uint16_t> want = {{hoa_of(1), 9}, {hoa_of(2), 6}, {hoa_of(5), 7}};
    EXPECT_EQ(seqs, want);
}

TEST(StateStore, ADestructorCommitsWhatWasStaged)
{
    expect_destructor_commits_what_was_staged(StateConfig::Backend::sqlite);
}

TEST(StateStore, ASecondOpenWhileTheFirstHoldsItIsRefused)
{
    expect_second_open_refused(StateConfig::Backend::sqlite);
}

TEST(StateStore, BackendNoneOpensNothing)
{
    StateConfig cfg;
    cfg.backend = StateConfig::Backend::none;
    cfg.dir = "/nonexistent/never-made";
    StateImage im;
    std::string err;
    EXPECT_FALSE(StateStore::open(cfg, &im, &err));
    EXPECT_FALSE(fs::exists(cfg.dir));
}

TEST(StateStore, ADirThatCannotBeUsedIsNamed)
{
    TempDir t;
    expect_unusable_dirs_named(StateConfig::Backend::sqlite, t.path);
}

// ---------------------------------------------------------------------------------------------
// Files that are not (or no longer) this nemo-ha's store

namespace {
void sql(const fs::path& db, const std::string& text)
{
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    char* msg = nullptr;
    const int rc = sqlite3_exec(h, text.c_str(), nullptr, nullptr, &msg);
    EXPECT_EQ(rc, SQLITE_OK) << (msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(h);
}

// Opens dir and expects a refusal whose message has every one of `parts`, state.db left as it was.
void expect_refused_untouched(const fs::path& dir, const std::vector<std::string>& parts)
{
    const fs::path db = dir / "state.db";
    const std::string before = slurp(db);
    ASSERT_FALSE(before.empty());
    const auto mode = fs::status(db).permissions();
    StateImage im;
    std::string err;
    EXPECT_FALSE(open_store(dir, &im, &err));
    EXPECT_TRUE(contains(err, db.string())) << err;
    for (const auto& p : parts) EXPECT_TRUE(contains(err, p)) << "'" << p << "' not in: " << err;
    EXPECT_TRUE(slurp(db) == before) << "the refused file was changed";
    EXPECT_EQ(fs::status(db).permissions(), mode) << "the refused file's mode was changed";
    for (const auto& e : fs::directory_iterator(dir))
        EXPECT_TRUE(e.path().filename() == "state.db" || e.path().filename() == "lock") << "left behind: " << e.path();
}
} // namespace

TEST(StateStore, AForeignDatabaseIsRefusedAndLeftAlone)
{
    TempDir t;
    sql(t.path / "state.db", "CREATE TABLE accounts (name TEXT, balance INTEGER); INSERT INTO accounts VALUES ('a', 1);");
    expect_refused_untouched(t.path, {"not a nemo-ha state database", "application id 0"});
}

TEST(StateStore, AStoreOfAnotherSchemaVersionIsRefusedAndLeftAlone)
{
    for (int version : {0, 2}) {
        SCOPED_TRACE(version);
        TempDir t;
        {
            StateImage im;
            std::string err;
            auto st = open_store(t.path, &im, &err);
            ASSERT_TRUE(st) << err;
            st->put_binding(make_binding(1));
        }
        sql(t.path / "state.db", "PRAGMA user_version=" + std::to_string(version));
        expect_refused_untouched(t.path, {"state of format " + std::to_string(version), "this nemo-ha reads format 1",
                                          version < 1 ? "an older nemo-ha wrote it" : "a newer nemo-ha wrote it",
                                          "nothing was changed"});
    }
}

TEST(StateStore, AFileThisSqliteCanReadButNotWriteIsRefused)
{
    // Byte 18 of the header, the write version, above 2 (a newer file format, or a flipped bit): SQLite
    // opens such a file read-only, and a store that opened would fail every commit.
    TempDir t;
    {
        StateImage im;
        std::string err;
        auto st = open_store(t.path, &im, &err);
        ASSERT_TRUE(st) << err;
        st->put_binding(make_binding(1));
    }
    std::string db = slurp(t.path / "state.db");
    db[18] = 3;
    spit(t.path / "state.db", db);
    expect_refused_untouched(t.path, {"read-only", "file format version"});
}

TEST(StateStore, AFileOfOneByteIsDamagedNotNew)
{
    // SQLite reads a file of one byte as an empty database; of 2 to 99 bytes, as none. Both are a store
    // cut short, not a new one.
    for (const std::string& bytes : {std::string("S"), std::string("SQ"), std::string(99, 'x')}) {
        SCOPED_TRACE(bytes.size());
        TempDir t;
        spit(t.path / "state.db", bytes);
        StateImage im;
        std::string err;
        EXPECT_FALSE(open_store(t.path, &im, &err, true));
        EXPECT_TRUE(contains(err, (t.path / "state.db").string() + ": damaged")) << err;
        auto st = open_store(t.path, &im, &err);
        ASSERT_TRUE(st) << err;
        EXPECT_FALSE(im.salvaged_from.empty());
        EXPECT_EQ(im.damaged, 1u);
    }
}

TEST(StateStore, EverySalvageKeepsItsOwnDamagedFile)
{
    // Salvages in quick succession (a start that fails and is retried at once): each damaged file is
    // kept aside under a name of its own, none replaced by the next.
    TempDir t;
    std::vector<std::string> aside;
    for (int round = 0; round < 3; ++round) {
        spit(t.path / "state.db", "S" + std::to_string(round)); // damaged (2 bytes, no database)
        StateImage im;
        std::string err;
        auto st = open_store(t.path, &im, &err);
        ASSERT_TRUE(st) << err;
        ASSERT_FALSE(im.salvaged_from.empty());
        aside.push_back(im.salvaged_from);
    }
    EXPECT_NE(aside[0], aside[1]);
    EXPECT_NE(aside[1], aside[2]);
    EXPECT_NE(aside[0], aside[2]);
    for (int round = 0; round < 3; ++round) EXPECT_EQ(slurp(aside[static_cast<std::size_t>(round)]), "S" + std::to_string(round));
}

TEST(StateStore, AnEmptyFileIsANewStore)
{
    // What SQLite makes of a file of 0 bytes: an empty database, so a new store (see the damage tests:
    // a store truncated to nothing is not told from one never written).
    TempDir t;
    spit(t.path / "state.db", "");
    StateImage im;
    std::string err;
    auto st = open_store(t.path, &im, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_TRUE(im.bindings.empty());
    st->put_binding(make_binding(1));
    ASSERT_TRUE(st->sync_now(&err)) << err;
}

// ---------------------------------------------------------------------------------------------
// Damage: a store of 2000 bindings, cut short and with bytes flipped, in state.db and in its log

namespace {

constexpr uint32_t kDamageBindings = 2000;
constexpr uint32_t kMarker = 0xFFFF0000; // the binding each damaged store must still take

struct DamageTemplate {
    std::string db;         // state.db of a cleanly closed store
    Canon image;            // what it holds
    std::string wal_db;     // state.db while the log below holds later commits
    std::string wal;        // state.db-wal with kWalCommits commits
    std::vector<Canon> states; // the image after each of the log's commits; [0]: before them
};

constexpr int kWalCommits = 8;

const DamageTemplate& damage_template()
{
    static const DamageTemplate t = [] {
        DamageTemplate d;
        TempDir dir(true);
        std::string err;
        {
            StateImage im;
            auto st = open_store(dir.path, &im, &err);
            EXPECT_TRUE(st) << err;
            if (st) put_damage_base(*st, kDamageBindings, 0, &d.image);
        }
        d.db = slurp(dir.path / "state.db");
        EXPECT_FALSE(fs::exists(dir.path / "state.db-wal")) << "a clean close leaves no log";
        // Reopened, several commits kept in the log (a copy taken while the store is open: the log is
        // not checkpointed until the close).
        StateImage im;
        auto st = open_store(dir.path, &im, &err);
        EXPECT_TRUE(st) << err;
        d.states.push_back(d.image);
        Canon now = d.image;
        for (int c = 0; c < kWalCommits; ++c) {
            put_log_commit(*st, kDamageBindings, c, &now);
            EXPECT_TRUE(st->sync_now(&err)) << err;
            d.states.push_back(now);
        }
        d.wal_db = slurp(dir.path / "state.db");
        d.wal = slurp(dir.path / "state.db-wal");
        EXPECT_GT(d.wal.size(), 32u);
        return d;
    }();
    return t;
}

// Opens a damaged store in dir. It must either be refused with an error naming the path, or give an
// image of nothing but what was stored: the whole image (or, for a log, that of one of its commits),
// or a part with the damage counted. Then the store must take a commit and reopen clean with it.
// `exact`: only the whole image (or a commit's) is acceptable, no damage at all.
void open_damaged(const fs::path& dir, const std::string& label, const Canon& whole, const std::vector<Canon>& states,
                  bool exact, Outcomes* out)
{
    SCOPED_TRACE(label);
    StateImage im;
    std::string err;
    auto st = open_store(dir, &im, &err);
    if (!st) {
        ++out->refused;
        EXPECT_FALSE(exact) << err;
        EXPECT_TRUE(contains(err, dir.string())) << err;
        return;
    }
    Canon got = canon(im);
    if (std::getenv("NEMO_DAMAGE_VERBOSE"))
        std::cout << label << ": " << got.summary() << ", damaged " << im.damaged << (im.salvaged_from.empty() ? "" : ", salvaged")
                  << (im.damage.empty() ? "" : " (" + im.damage[0] + ")") << "\n";
    bool any_state = got == whole;
    bool earlier = false;
    for (std::size_t i = 0; i < states.size(); ++i)
        if (got == states[i]) {
            any_state = earlier = true;
            if (std::getenv("NEMO_DAMAGE_VERBOSE")) std::cout << label << ": the image after commit " << i << "\n";
        }
    if (im.damaged == 0 && im.salvaged_from.empty()) {
        EXPECT_TRUE(any_state) << "no damage reported, yet " << got.summary() << " of " << whole.summary();
        ++(earlier && !(got == whole) ? out->earlier : out->intact);
    } else {
        EXPECT_FALSE(exact) << im.damaged << " damaged; " << (im.damage.empty() ? "" : im.damage[0]);
        EXPECT_FALSE(im.damage.empty()) << "damage counted but not said";
        bool sub = got.subset_of(whole);
        for (const Canon& s : states) sub = sub || got.subset_of(s);
        EXPECT_TRUE(sub) << "a damaged store gave records that were never stored";
        if (!im.salvaged_from.empty()) {
            ++out->salvaged;
            EXPECT_TRUE(fs::exists(im.salvaged_from)) << im.salvaged_from;
        } else {
            ++out->records_removed;
        }
    }
    // Usable: a commit, and a reopen that finds it and no damage any more.
    const auto marker = make_binding(kMarker);
    st->put_binding(marker);
    ASSERT_TRUE(st->sync_now(&err, 5000)) << err;
    st.reset();
    StateImage again;
    st = open_store(dir, &again, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_EQ(again.damaged, 0u) << (again.damage.empty() ? "" : again.damage[0]);
    EXPECT_TRUE(again.salvaged_from.empty());
    got.put(marker);
    const Canon after = canon(again);
    EXPECT_TRUE(after == got) << after.summary() << " after the commit, " << got.summary() << " expected";
}

// A fresh store directory with these files.
void lay_out(const fs::path& dir, const std::string& db, const std::string* wal)
{
    fs::remove_all(dir);
    fs::create_directory(dir);
    spit(dir / "state.db", db);
    if (wal) spit(dir / "state.db-wal", *wal);
}

// The template with one of its files damaged at each offset: state.db (as cleanly closed), or the log
// (over the state.db it goes with). Each copy is opened in a directory of its own under tmp (see
// open_damaged), up to the first fatal failure.
struct DamagedFile {
    bool log;                  // the log, else state.db
    const Canon& whole;        // open_damaged's `whole`, `states` and `exact`
    const std::vector<Canon>& states;
    bool exact;
};

void open_cut_copies(const fs::path& tmp, const DamagedFile& f, const std::vector<std::size_t>& cuts, Outcomes* out)
{
    const DamageTemplate& t = damage_template();
    const std::string& file = f.log ? t.wal : t.db;
    for (std::size_t cut : cuts) {
        if (!f.log && cut == 0) continue; // an empty state.db: a new store (AnEmptyFileIsANewStore)
        const fs::path dir = tmp / ((f.log ? "walcut-" : "cut-") + std::to_string(cut));
        const std::string bytes = file.substr(0, cut);
        lay_out(dir, f.log ? t.wal_db : bytes, f.log ? &bytes : nullptr);
        open_damaged(dir, (f.log ? "log" : "state.db") + std::string(" cut to ") + std::to_string(cut) + " of " +
                              std::to_string(file.size()),
                     f.whole, f.states, f.exact, out);
        if (::testing::Test::HasFatalFailure()) return;
        fs::remove_all(dir);
    }
}

// Flips every other byte by 0xFF, the rest by `mask`.
void open_flipped_copies(const fs::path& tmp, const DamagedFile& f, const std::vector<std::size_t>& offsets, uint8_t mask,
                         Outcomes* out)
{
    const DamageTemplate& t = damage_template();
    const std::string& file = f.log ? t.wal : t.db;
    int n = 0;
    for (std::size_t off : offsets) {
        std::string bad = file;
        bad[off] = static_cast<char>(bad[off] ^ (n++ % 2 ? 0xFF : mask));
        const fs::path dir = tmp / ((f.log ? "walflip-" : "flip-") + std::to_string(off));
        lay_out(dir, f.log ? t.wal_db : bad, f.log ? &bad : nullptr);
        open_damaged(dir, (f.log ? "log" : "state.db") + std::string(" byte ") + std::to_string(off) + " flipped", f.whole,
                     f.states, f.exact, out);
        if (::testing::Test::HasFatalFailure()) return;
        fs::remove_all(dir);
    }
}

} // namespace

TEST(StateStoreDamage, StateDbCutShort)
{
    const DamageTemplate& t = damage_template();
    TempDir tmp(true);
    Outcomes out;
    const auto t0 = Clock::now();
    std::vector<std::size_t> cuts = spread(t.db.size(), 60);
    for (std::size_t c : {1ul, 15ul, 16ul, 50ul, 99ul, 100ul, 101ul, 4095ul, 4096ul, 4097ul, 8192ul, t.db.size() - 1})
        cuts.push_back(c);
    ASSERT_NO_FATAL_FAILURE(open_cut_copies(tmp.path, {false, t.image, {}, false}, cuts, &out));
    std::cout << "state.db cut at " << cuts.size() << " offsets in " << ms_since(t0) << " ms: " << out.str() << "\n";
    EXPECT_GT(out.salvaged, 0) << "no cut reached the salvage";
}

TEST(StateStoreDamage, StateDbByteFlipped)
{
    const DamageTemplate& t = damage_template();
    TempDir tmp(true);
    Outcomes out;
    const auto t0 = Clock::now();
    std::vector<std::size_t> offsets = spread(t.db.size(), 220);
    // The header's fields one by one: size, format, counters, version, application id.
    for (std::size_t h : {0ul, 16ul, 17ul, 18ul, 19ul, 20ul, 21ul, 28ul, 31ul, 44ul, 47ul, 52ul, 56ul, 63ul, 71ul, 95ul, 100ul, 103ul, 105ul})
        offsets.push_back(h);
    ASSERT_NO_FATAL_FAILURE(open_flipped_copies(tmp.path, {false, t.image, {}, false}, offsets, 0x04, &out));
    std::cout << "state.db flipped at " << offsets.size() << " offsets in " << ms_since(t0) << " ms: " << out.str() << "\n";
    EXPECT_GT(out.records_removed, 0) << "no flip hit a record";
    EXPECT_GT(out.salvaged + out.refused, 0) << "no flip hit SQLite's own structure";
}

TEST(StateStoreDamage, LogCutShortGivesAnEarlierCommit)
{
    // SQLite's log ends at its first frame that is not whole: a cut log is an earlier commit, exactly.
    const DamageTemplate& t = damage_template();
    TempDir tmp(true);
    Outcomes out;
    const auto t0 = Clock::now();
    std::vector<std::size_t> cuts = spread(t.wal.size(), 60);
    for (std::size_t c : {0ul, 8ul, 31ul, 32ul, 33ul, 32ul + 24 + 4096, t.wal.size() - 1}) cuts.push_back(c);
    ASSERT_NO_FATAL_FAILURE(open_cut_copies(tmp.path, {true, t.states.back(), t.states, true}, cuts, &out));
    std::cout << "log cut at " << cuts.size() << " offsets in " << ms_since(t0) << " ms: " << out.str() << "\n";
    EXPECT_GT(out.earlier, 0);
}

TEST(StateStoreDamage, LogByteFlippedGivesAnEarlierCommit)
{
    const DamageTemplate& t = damage_template();
    TempDir tmp(true);
    Outcomes out;
    const auto t0 = Clock::now();
    std::vector<std::size_t> offsets = spread(t.wal.size(), 100);
    for (std::size_t h : {0ul, 4ul, 8ul, 12ul, 16ul, 24ul, 28ul, 32ul, 36ul, 40ul, 48ul, 56ul}) offsets.push_back(h);
    ASSERT_NO_FATAL_FAILURE(open_flipped_copies(tmp.path, {true, t.states.back(), t.states, true}, offsets, 0x20, &out));
    std::cout << "log flipped at " << offsets.size() << " offsets in " << ms_since(t0) << " ms: " << out.str() << "\n";
    EXPECT_GT(out.earlier, 0);
}

namespace {
// A store of 100 bindings whose binding `victim` has its key (not its record) changed on disk to `key`:
// what a flipped bit in a key does, made on purpose. Returns the image before the change.
Canon store_with_changed_key(const fs::path& dir, uint32_t* victim, const std::function<Ipv6Addr(uint32_t)>& key)
{
    Canon before;
    {
        StateImage im;
        std::string err;
        auto st = open_store(dir, &im, &err);
        EXPECT_TRUE(st) << err;
        if (!st) return before;
        for (uint32_t i = 0; i < 100; ++i) {
            st->put_binding(make_binding(i));
            before.put(make_binding(i));
        }
    }
    std::string db = slurp(dir / "state.db");
    // A row is its key blob then its record, which starts with format 1, kind 1 and the address again.
    // Interior pages copy some rows: take a binding whose row is in the file once.
    for (uint32_t i = 50; i < 70; ++i) {
        const Ipv6Addr k = hoa_of(i);
        std::string row(k.bytes.begin(), k.bytes.end());
        row += std::string("\x01\x01", 2) + row;
        const auto at = db.find(row);
        if (at == std::string::npos || db.find(row, at + 1) != std::string::npos) continue;
        const Ipv6Addr to = key(i);
        std::copy(to.bytes.begin(), to.bytes.end(), db.begin() + static_cast<std::ptrdiff_t>(at));
        spit(dir / "state.db", db);
        *victim = i;
        return before;
    }
    ADD_FAILURE() << "no binding's row found once in the file";
    return before;
}

// The open after such a change: the victim is lost (counted), every other binding kept, and the store
// takes a commit and reopens without damage.
void expect_changed_key_handled(const fs::path& dir, const Canon& before, uint32_t victim)
{
    StateImage im;
    std::string err;
    auto st = open_store(dir, &im, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_GE(im.damaged, 1u);
    Canon want = before;
    want.bindings.erase(hoa_of(victim));
    const Canon got = canon(im);
    EXPECT_TRUE(got == want) << got.summary() << ", " << want.summary() << " expected";
    st->put_binding(make_binding(kMarker));
    ASSERT_TRUE(st->sync_now(&err)) << err;
    st.reset();
    StateImage again;
    st = open_store(dir, &again, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_EQ(again.damaged, 0u) << "counted again: " << (again.damage.empty() ? "" : again.damage[0]);
    want.put(make_binding(kMarker));
    const Canon after = canon(again);
    EXPECT_TRUE(after == want) << after.summary() << " after the commit, " << want.summary() << " expected";
}
} // namespace

TEST(StateStoreDamage, AKeyChangedToAnotherRowsKeyCostsOnlyItsOwnRow)
{
    // Two rows under one key: removing the damaged one by its key may remove the good one instead.
    TempDir tmp(true);
    uint32_t victim = 0;
    const Canon before = store_with_changed_key(tmp.path, &victim, [](uint32_t i) { return hoa_of(i - 1); });
    if (HasFailure()) return;
    expect_changed_key_handled(tmp.path, before, victim);
}

TEST(StateStoreDamage, AKeyChangedOutOfOrderIsNotCountedAtEveryStart)
{
    // A key past every other: the b-tree is out of order, and a removal by that key does not find it.
    TempDir tmp(true);
    uint32_t victim = 0;
    const Canon before = store_with_changed_key(tmp.path, &victim, [](uint32_t i) { return hoa_of(0xFFFFFF00u + i); });
    if (HasFailure()) return;
    expect_changed_key_handled(tmp.path, before, victim);
}

TEST(StateStoreDamage, RefuseDamagedLeavesTheFileInPlace)
{
    const DamageTemplate& t = damage_template();
    TempDir tmp(true);
    const std::string bad = t.db.substr(0, t.db.size() / 2);
    lay_out(tmp.path, bad, nullptr);
    StateImage im;
    std::string err;
    EXPECT_FALSE(open_store(tmp.path, &im, &err, true));
    EXPECT_TRUE(contains(err, (tmp.path / "state.db").string() + ": damaged")) << err;
    EXPECT_TRUE(contains(err, "state.on_damage = refuse")) << err;
    EXPECT_TRUE(slurp(tmp.path / "state.db") == bad) << "the damaged file was changed";
    for (const auto& e : fs::directory_iterator(tmp.path))
        EXPECT_FALSE(contains(e.path().filename().string(), "damaged")) << "moved aside: " << e.path();
    // The same file without refuse_damaged: salvaged (so the refusal above was of damage, not of anything else).
    auto st = open_store(tmp.path, &im, &err, false);
    ASSERT_TRUE(st) << err;
    EXPECT_FALSE(im.salvaged_from.empty());
    EXPECT_TRUE(slurp(im.salvaged_from) == bad) << "the file kept aside is the damaged one, as it was";
    EXPECT_TRUE(canon(im).subset_of(t.image));
}

// ---------------------------------------------------------------------------------------------
// A read-only and a full file system (small tmpfs mounts: root only)

namespace {
class ReadOnlyDir : public TmpfsTest {
    const char* size() const override { return "4m"; }
};
class FullDisk : public TmpfsTest {
    const char* size() const override { return "2m"; }
};
} // namespace

TEST_F(ReadOnlyDir, OpenSaysTheDirIsReadOnly)
{
    const fs::path dir = mnt_ / "state";
    std::string err;
    {
        StateImage im;
        auto st = open_store(dir, &im, &err);
        ASSERT_TRUE(st) << err;
        st->put_binding(make_binding(1));
    }
    ASSERT_TRUE(remount(true)) << std::strerror(errno);
    StateImage im;
    EXPECT_FALSE(open_store(dir, &im, &err));
    EXPECT_TRUE(contains(err, dir.string())) << err;
    EXPECT_TRUE(contains(err, "Read-only file system")) << err;
    // A state.dir still to be made there: the same.
    EXPECT_FALSE(open_store(mnt_ / "other", &im, &err));
    EXPECT_TRUE(contains(err, (mnt_ / "other").string())) << err;
}

TEST_F(FullDisk, CommitsFailThenResumeWhenSpaceIsFreedAndNothingIsLost)
{
    // Space taken by something else, freed later.
    const fs::path filler = mnt_ / "filler";
    spit(filler, std::string(768 * 1024, 'x'));
    const fs::path dir = mnt_ / "state";
    std::string err;
    Canon want;
    uint32_t next = 0;
    {
        StateImage im;
        auto st = open_store(dir, &im, &err);
        ASSERT_TRUE(st) << err;
        // Batches of 10 bindings of ~4.4 kB until one does not fit.
        bool failed = false;
        for (int batch = 0; batch < 200 && !failed; ++batch) {
            for (int k = 0; k < 10; ++k) {
                const auto b = make_binding(next++, 1, 255);
                st->put_binding(b);
                want.put(b);
            }
            failed = !st->sync_now(&err, 5000);
        }
        ASSERT_TRUE(failed) << "2 MB never filled";
        EXPECT_TRUE(st->refusing());
        EXPECT_TRUE(contains(err, (dir / "state.db").string())) << err;
        StateStatus s = st->status();
        EXPECT_TRUE(s.refusing);
        EXPECT_TRUE(contains(s.error, (dir / "state.db").string())) << s.error;
        EXPECT_GE(s.sync_failures, 1u);
        const uint64_t durable_at_failure = st->durable();

        // Changes staged while it fails: a removal of a durable binding, and new ones.
        st->erase_binding(hoa_of(0));
        want.bindings.erase(hoa_of(0));
        for (int k = 0; k < 5; ++k) {
            const auto b = make_binding(next++, 2, 10);
            st->put_binding(b);
            want.put(b);
        }
        const uint64_t last = st->staged_batch();
        st->flush();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        EXPECT_EQ(st->durable(), durable_at_failure);

        ASSERT_TRUE(fs::remove(filler));
        const auto t0 = Clock::now();
        EXPECT_TRUE(wait_until([&] { return st->durable() >= last; }, 5000)) << st->status().error;
        const uint64_t took = ms_since(t0);
        EXPECT_LE(took, 2000u);
        std::cout << "commits resumed " << took << " ms after the space was freed; " << next << " bindings\n";
        EXPECT_FALSE(st->refusing());
        s = st->status();
        EXPECT_TRUE(s.error.empty()) << s.error;
    }
    StateImage im;
    auto st = open_store(dir, &im, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_EQ(im.damaged, 0u);
    const Canon got = canon(im);
    EXPECT_TRUE(got == want) << got.summary() << " vs " << want.summary() << " staged";
}
