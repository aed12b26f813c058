// The durable store over its default backend, RocksDB (control/state_rocksdb): what is committed comes
// back after a reopen, a store of another format or program is refused and left as it was, and a
// damaged (its log, tables, MANIFEST, CURRENT or OPTIONS cut short or with bytes flipped), read-only or
// full store gives an image that can be trusted or an error naming the path, never a crash or a hang.
// The writer itself (coalescing, retries) is tested over a backend in memory in test_state_store.cpp.
#include <gtest/gtest.h>
#include <grp.h>
#include <poll.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bytes.hpp"
#include "state_rocksdb.hpp"
#include "state_store.hpp"
#include "state_test_util.hpp"

using namespace nemo;
using namespace nemo::control;
using namespace nemo::control::state_test;

namespace {

// The RocksDB backend: this file's subject (SQLite's own: test_state_store.cpp).
std::unique_ptr<StateStore> open_store(const fs::path& dir, StateImage* image, std::string* error, bool refuse = false)
{
    return open_backend(StateConfig::Backend::rocksdb, dir, image, error, refuse);
}

// ---- RocksDB itself, for what the tests make or check behind the store's back ----

// The key and value nemo-ha keeps its format under (control/state_rocksdb.cpp).
const std::string kMetaKey = std::string("\0format", 7);
std::string meta_value(uint32_t format, const std::string& magic = "nemo-ha-state")
{
    std::string v = magic + std::string(4, '\0');
    wire::store_be32(reinterpret_cast<uint8_t*>(v.data() + magic.size()), format);
    return v;
}

// Every key and value of the database at `db`, read without changing it (a read-only open).
std::map<std::string, std::string> rocks_contents(const fs::path& db)
{
    std::map<std::string, std::string> out;
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s = rocksdb::DB::OpenForReadOnly(rocksdb::Options(), db.string(), &raw);
    EXPECT_TRUE(s.ok()) << db << ": " << s.ToString();
    if (!s.ok()) return out;
    std::unique_ptr<rocksdb::DB> h(raw);
    std::unique_ptr<rocksdb::Iterator> it(h->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out[it->key().ToString()] = it->value().ToString();
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
    it.reset();
    EXPECT_TRUE(h->Close().ok());
    return out;
}

// Writes these keys (an empty value removes one) into the database at `db`, made when absent.
void rocks_write(const fs::path& db, const std::vector<std::pair<std::string, std::string>>& kv)
{
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(o, db.string(), &raw);
    ASSERT_TRUE(s.ok()) << db << ": " << s.ToString();
    std::unique_ptr<rocksdb::DB> h(raw);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    for (const auto& [k, v] : kv) {
        const rocksdb::Status w = v.empty() ? h->Delete(wo, k) : h->Put(wo, k, v);
        ASSERT_TRUE(w.ok()) << w.ToString();
    }
    ASSERT_TRUE(h->Close().ok());
}

// The keys the store uses: a table's letter, then a home address or an SPI in network order.
std::string binding_key(const Ipv6Addr& hoa)
{
    std::string k(1, 'b');
    k.append(reinterpret_cast<const char*>(hoa.bytes.data()), 16);
    return k;
}

std::string as_string(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

// The files of a directory, by name.
using Files = std::map<std::string, std::string>;
Files files_of(const fs::path& dir)
{
    Files out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file()) out[e.path().filename().string()] = slurp(e.path());
    return out;
}

std::vector<std::string> names_ending(const Files& f, const std::string& end)
{
    std::vector<std::string> out;
    for (const auto& [name, bytes] : f)
        if (name.size() > end.size() && name.compare(name.size() - end.size(), end.size(), end) == 0) out.push_back(name);
    return out;
}

std::vector<std::string> names_starting(const Files& f, const std::string& start)
{
    std::vector<std::string> out;
    for (const auto& [name, bytes] : f)
        if (name.rfind(start, 0) == 0) out.push_back(name);
    return out;
}

// Entries of the state directory moved aside by a salvage.
std::vector<std::string> moved_aside(const fs::path& dir)
{
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (contains(e.path().filename().string(), "damaged")) out.push_back(e.path().string());
    return out;
}

// A store of `n` bindings, committed and closed.
Canon store_of(const fs::path& dir, uint32_t n)
{
    Canon want;
    StateImage im;
    std::string err;
    auto st = open_store(dir, &im, &err);
    EXPECT_TRUE(st) << err;
    if (!st) return want;
    for (uint32_t i = 0; i < n; ++i) {
        st->put_binding(make_binding(i));
        want.put(make_binding(i));
    }
    EXPECT_TRUE(st->sync_now(&err)) << err;
    return want;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// The RocksDB store

TEST(StateRocksdb, CommitThenReopenGivesTheSameImage)
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
        EXPECT_EQ(s.backend, "rocksdb");
        EXPECT_EQ(s.path, (dir / "db").string());
        EXPECT_GE(s.syncs, 1u);
        EXPECT_EQ(s.records_written, 200u + 5 + 4 + 3);
        EXPECT_GT(s.size_bytes, 200u * 100);
        EXPECT_GT(s.last_sync_wall_ms, 0u);
        EXPECT_FALSE(s.refusing);
        EXPECT_TRUE(fs::exists(dir / "db" / "CURRENT"));
    }
    // Twice: the first reopen replays the log (and writes it to a table), the second reads the table.
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(round);
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
    EXPECT_FALSE(names_ending(files_of(dir / "db"), ".sst").empty()) << "the log was written to a table";
}

TEST(StateRocksdb, EraseOverwriteAndLastWins)
{
    TempDir t;
    std::string err;
    {
        StateImage im;
        auto st = open_store(t.path, &im, &err);
        ASSERT_TRUE(st) << err;
        for (uint32_t i = 0; i < 6; ++i) st->put_binding(make_binding(i));
        st->put_mr(make_mr(1, true));
        st->put_sa(make_sa(0x200, true));
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
        st->put_mr(make_mr(1, false));       // the operator's later change of the same router
        st->put_sa(make_sa(0x200, false));
        ASSERT_TRUE(st->sync_now(&err)) << err;
    }
    for (int round = 0; round < 2; ++round) { // from the log, then from the table it was written to
        SCOPED_TRACE(round);
        StateImage im;
        auto st = open_store(t.path, &im, &err);
        ASSERT_TRUE(st) << err;
        std::map<Ipv6Addr, uint16_t> seqs;
        for (const auto& b : im.bindings) seqs[b.binding.hoa] = b.binding.seq;
        const std::map<Ipv6Addr, uint16_t> want = {{hoa_of(1), 9}, {hoa_of(2), 6}, {hoa_of(5), 7}};
        EXPECT_EQ(seqs, want);
        ASSERT_EQ(im.mrs.size(), 1u);
        EXPECT_FALSE(im.mrs[0].added);
        ASSERT_EQ(im.sas.size(), 1u);
        EXPECT_FALSE(im.sas[0].added);
        EXPECT_TRUE(im.sas[0].sa.enc_key.empty());
    }
}

TEST(StateRocksdb, ADestructorCommitsWhatWasStaged)
{
    expect_destructor_commits_what_was_staged(StateConfig::Backend::rocksdb);
}

TEST(StateRocksdb, ASecondOpenWhileTheFirstHoldsItIsRefused)
{
    expect_second_open_refused(StateConfig::Backend::rocksdb);
}

TEST(StateRocksdb, ADirThatCannotBeUsedIsNamed)
{
    TempDir t;
    expect_unusable_dirs_named(StateConfig::Backend::rocksdb, t.path);
    std::string err;
    StateImage im;
    // db a file, not RocksDB's directory.
    fs::create_directory(t.path / "d");
    spit(t.path / "d" / "db", "x");
    EXPECT_FALSE(open_store(t.path / "d", &im, &err));
    EXPECT_TRUE(contains(err, (t.path / "d" / "db").string())) << err;
    EXPECT_EQ(slurp(t.path / "d" / "db"), "x");
}

TEST(StateRocksdb, TheFilesCannotBeReadByOthersEvenInADirMadeOpen)
{
    // The store holds SA keys. A state.dir made beforehand (by a package, by systemd's StateDirectory=,
    // 0755 by default) is made 0700 at the open: RocksDB makes its directory and files with the
    // process's umask (0755, 0644 here), so the state.dir is what keeps others out.
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
    EXPECT_EQ(fs::status(t.path).permissions() & fs::perms::all, fs::perms::owner_all);
    EXPECT_EQ(fs::status(t.path / "lock").permissions() & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
    const std::vector<std::string> logs = names_ending(files_of(t.path / "db"), ".log");
    ASSERT_FALSE(logs.empty()) << "the log, while the store is open";
    if (::geteuid() != 0) GTEST_SKIP() << "reading as another user needs root";
    // Another user tries to read the log (which holds the SA's keys), and to list the directory.
    const fs::path log = t.path / "db" / logs.front();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
        const int fd = ::open(log.c_str(), O_RDONLY);
        const bool read_log = fd >= 0;
        const bool listed = ::access((t.path / "db").c_str(), X_OK) == 0;
        ::_exit(read_log ? 1 : listed ? 2 : 0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_NE(WEXITSTATUS(status), 3) << "could not become another user";
    EXPECT_NE(WEXITSTATUS(status), 1) << "another user read " << log;
    EXPECT_NE(WEXITSTATUS(status), 2) << "another user entered " << t.path / "db";
}

// ---------------------------------------------------------------------------------------------
// Databases that are not (or no longer) this nemo-ha's store: refused, and left as they were

namespace {
// Opens dir and expects a refusal whose message has every one of `parts`, the database's keys and
// values as they were, and nothing moved aside.
void expect_refused_untouched(const fs::path& dir, const std::vector<std::string>& parts)
{
    const fs::path db = dir / "db";
    const auto before = rocks_contents(db);
    ASSERT_FALSE(before.empty());
    const Files tables_before = files_of(db);
    StateImage im;
    std::string err;
    EXPECT_FALSE(open_store(dir, &im, &err));
    EXPECT_TRUE(contains(err, db.string())) << err;
    for (const auto& p : parts) EXPECT_TRUE(contains(err, p)) << "'" << p << "' not in: " << err;
    EXPECT_TRUE(rocks_contents(db) == before) << "the refused database's records were changed";
    // RocksDB's open writes its own files (a new MANIFEST, OPTIONS, its LOG) but leaves the tables.
    const Files after = files_of(db);
    for (const std::string& name : names_ending(tables_before, ".sst"))
        EXPECT_TRUE(after.count(name) && after.at(name) == tables_before.at(name)) << name << " was changed";
    EXPECT_TRUE(moved_aside(dir).empty());
}
} // namespace

TEST(StateRocksdb, AStoreOfAnotherFormatIsRefusedAndLeftAlone)
{
    for (uint32_t format : {0u, 2u, 0xFFFFFFFFu}) {
        SCOPED_TRACE(format);
        TempDir t;
        store_of(t.path, 10);
        // Once in a table, then rewritten (in the log): what a newer nemo-ha that has run here leaves.
        rocks_write(t.path / "db", {{kMetaKey, meta_value(format)}});
        expect_refused_untouched(t.path, {"state of format " + std::to_string(format), "this nemo-ha reads format 1",
                                          format < 1 ? "an older nemo-ha wrote it" : "a newer nemo-ha wrote it",
                                          "nothing was changed"});
    }
}

TEST(StateRocksdb, ADatabaseOfAnotherProgramIsRefusedAndLeftAlone)
{
    {
        SCOPED_TRACE("keys, no format key");
        TempDir t;
        rocks_write(t.path / "db", {{"account:1", "100"}, {"account:2", "200"}});
        expect_refused_untouched(t.path, {"not nemo-ha's state", "no format key"});
    }
    {
        SCOPED_TRACE("keys like nemo-ha's, no format key");
        TempDir t;
        rocks_write(t.path / "db", {{binding_key(hoa_of(1)), as_string(encode_binding(make_binding(1)))}});
        expect_refused_untouched(t.path, {"not nemo-ha's state", "no format key"});
    }
    {
        SCOPED_TRACE("a format key of another program");
        TempDir t;
        rocks_write(t.path / "db", {{kMetaKey, meta_value(1, "other-program")}, {"x", "y"}});
        expect_refused_untouched(t.path, {"not nemo-ha's state", "unknown format key"});
    }
    {
        // An empty RocksDB database (made, never written) is taken as a new store.
        TempDir t;
        rocks_write(t.path / "db", {});
        StateImage im;
        std::string err;
        auto st = open_store(t.path, &im, &err);
        ASSERT_TRUE(st) << err;
        st->put_binding(make_binding(1));
        ASSERT_TRUE(st->sync_now(&err)) << err;
    }
}

TEST(StateRocksdb, RecordsThatDoNotDecodeAreCountedRemovedAndNotCountedAgain)
{
    // RocksDB's checksums catch what the disk does; what they do not catch is a record written wrong
    // (a bug, an older build's record): it is counted and removed, and the rest of the store is used.
    TempDir t;
    Canon want = store_of(t.path, 20);
    std::vector<uint8_t> short_rec = encode_binding(make_binding(3));
    short_rec.resize(short_rec.size() / 2);
    rocks_write(t.path / "db", {
                                   {binding_key(hoa_of(3)), as_string(short_rec)},                       // cut short
                                   {binding_key(hoa_of(4)), as_string(encode_binding(make_binding(5)))}, // another's
                                   {"zzz", "a key of no table"},
                                   {std::string("m") + std::string(16, '\1'), "not an operator change"},
                                   {std::string("s\0\0\1\0", 5), "not an SA change"},
                                   {std::string("q\0\0\1\0", 5), "x"},
                               });
    want.bindings.erase(hoa_of(3));
    want.bindings.erase(hoa_of(4));
    StateImage im;
    std::string err;
    {
        auto st = open_store(t.path, &im, &err);
        ASSERT_TRUE(st) << err;
        EXPECT_EQ(im.damaged, 6u);
        EXPECT_EQ(im.damage.size(), 6u);
        EXPECT_TRUE(im.salvaged_from.empty()) << "records, not the database, were damaged";
        const Canon got = canon(im);
        EXPECT_TRUE(got == want) << got.summary() << " vs " << want.summary();
        st->put_binding(make_binding(3)); // the home address is usable again
        want.put(make_binding(3));
    }
    im = StateImage{};
    auto st = open_store(t.path, &im, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_EQ(im.damaged, 0u) << "counted again: " << (im.damage.empty() ? "" : im.damage[0]);
    const Canon got = canon(im);
    EXPECT_TRUE(got == want) << got.summary() << " vs " << want.summary();
}

// ---------------------------------------------------------------------------------------------
// Damage: a store of 2000 bindings in a table and 8 commits in its log, its files cut short and with
// bytes flipped, each opened in a child process (RocksDB reading damage it does not check may crash or
// hang: the parent lives to say so)

namespace {

constexpr uint32_t kDamageBindings = 2000;
constexpr uint32_t kMarker = 0xFFFF0000; // the binding each damaged store must still take
constexpr int kLogCommits = 8;

struct DamageTemplate {
    Files files;                  // db/ of a cleanly closed store
    std::string log, table, manifest, options; // the names of its live log, its (first) table, ...
    std::vector<Canon> states;    // [0]: what the table holds; [k]: after the log's commit k
    std::vector<std::size_t> log_ends; // the log's size after commit k ([0]: before the first)
};

const DamageTemplate& damage_template()
{
    static const DamageTemplate t = [] {
        DamageTemplate d;
        TempDir dir(true);
        std::string err;
        Canon now;
        {
            StateImage im;
            auto st = open_store(dir.path, &im, &err);
            EXPECT_TRUE(st) << err;
            if (st) put_damage_base(*st, kDamageBindings, 250, &now);
        }
        // Reopened: RocksDB writes the log it replays to a table, and a new log takes the next commits.
        StateImage im;
        auto st = open_store(dir.path, &im, &err);
        EXPECT_TRUE(st) << err;
        const fs::path db = dir.path / "db";
        const auto live_log = [&] {
            const auto logs = names_ending(files_of(db), ".log");
            return logs.empty() ? fs::path() : db / logs.back();
        };
        d.states.push_back(now);
        d.log_ends.push_back(fs::file_size(live_log()));
        for (int c = 0; c < kLogCommits; ++c) {
            put_log_commit(*st, kDamageBindings, c, &now);
            st->put_seq(0x1000, {static_cast<uint64_t>(c), 5000ULL + static_cast<uint64_t>(c)});
            now.put(0x1000, {static_cast<uint64_t>(c), 5000ULL + static_cast<uint64_t>(c)});
            EXPECT_TRUE(st->sync_now(&err)) << err;
            d.states.push_back(now);
            d.log_ends.push_back(fs::file_size(live_log()));
        }
        st.reset();
        d.files = files_of(db);
        const auto logs = names_ending(d.files, ".log");
        const auto tables = names_ending(d.files, ".sst");
        const auto manifests = names_starting(d.files, "MANIFEST-");
        const auto options = names_starting(d.files, "OPTIONS-");
        EXPECT_EQ(logs.size(), 1u) << "one live log";
        EXPECT_GE(tables.size(), 1u) << "the first commits in a table";
        EXPECT_EQ(manifests.size(), 1u);
        EXPECT_GE(options.size(), 1u);
        EXPECT_EQ(d.files.count("CURRENT"), 1u);
        if (logs.empty() || tables.empty() || manifests.empty() || options.empty()) return d;
        d.log = logs.back();
        d.table = tables.front();
        d.manifest = manifests.back();
        d.options = options.back();
        EXPECT_EQ(d.files[d.log].size(), d.log_ends.back()) << "a clean close leaves the log as it was";
        for (int c = 0; c < kLogCommits; ++c)
            EXPECT_LT(d.log_ends[static_cast<std::size_t>(c)], d.log_ends[static_cast<std::size_t>(c) + 1]);
        return d;
    }();
    return t;
}

// dir/db as the template's files, `name`'s with `bytes` instead (left out when there are none).
void lay_out_template(const fs::path& dir, const std::string& name, const std::optional<std::string>& bytes)
{
    fs::create_directories(dir / "db");
    for (const auto& [n, b] : damage_template().files)
        if (n != name) spit(dir / "db" / n, b);
        else if (bytes) spit(dir / "db" / n, *bytes);
}

// The store in dir opens salvaged, with the damage counted, and with every record of the template's last image.
void expect_salvaged_whole(const fs::path& dir)
{
    const DamageTemplate& t = damage_template();
    StateImage im;
    std::string err;
    auto st = open_store(dir, &im, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_FALSE(im.salvaged_from.empty());
    EXPECT_GE(im.damaged, 1u);
    const Canon got = canon(im);
    EXPECT_TRUE(got == t.states.back()) << got.summary() << ", " << t.states.back().summary() << " stored";
}

// Every record of `got` is one that was stored: its key's record in at least one of `states`.
bool only_stored(const Canon& got, const std::vector<Canon>& states)
{
    auto each = [&](const auto& mine, auto member) {
        for (const auto& [k, v] : mine) {
            bool stored = false;
            for (const Canon& s : states) {
                const auto& theirs = s.*member;
                auto it = theirs.find(k);
                if (it != theirs.end() && it->second == v) {
                    stored = true;
                    break;
                }
            }
            if (!stored) return false;
        }
        return true;
    };
    return each(got.bindings, &Canon::bindings) && each(got.mrs, &Canon::mrs) && each(got.sas, &Canon::sas) &&
           each(got.seqs, &Canon::seqs);
}

// What to accept of one damaged store.
struct Expect {
    bool earlier_ok = false; // a commit's image, undamaged, other than the last (a log's damage)
    int exact = -1;          // only the image after this commit, without damage (a log cut short)
};

// Opens the damaged store in dir and decides (in the child: no gtest here) what came of it: a letter
// for the outcome, then what was wrong ("" when nothing). It must either be refused with an error
// naming the path, or give an image of nothing but what was stored: the whole image (or, with
// earlier_ok, a commit's), or a part with the damage counted (records removed, or the database moved
// aside). Then the store must take a commit and reopen clean with it.
std::string judge_damaged(const fs::path& dir, const DamageTemplate& t, const Expect& ex)
{
    StateImage im;
    std::string err;
    auto st = open_store(dir, &im, &err);
    if (!st) {
        if (std::getenv("NEMO_DAMAGE_VERBOSE")) std::cerr << "refused: " << err << "\n";
        if (ex.exact >= 0) return "R" + std::string("refused: ") + err;
        if (!contains(err, dir.string())) return "Rthe error does not name the path: " + err;
        return "R";
    }
    std::size_t twice = 0;
    Canon got = canon(im, &twice);
    if (twice) return "Xa binding twice in one image";
    char outcome = 'I';
    int state = -1;
    for (std::size_t i = 0; i < t.states.size(); ++i)
        if (got == t.states[i]) state = static_cast<int>(i);
    const int last = static_cast<int>(t.states.size()) - 1;
    if (std::getenv("NEMO_DAMAGE_VERBOSE"))
        std::cerr << got.summary() << ", damaged " << im.damaged
                  << (im.salvaged_from.empty() ? "" : ", salvaged") << ", state " << state
                  << (im.damage.empty() ? "" : " (" + im.damage[0] + ")") << "\n";
    if (im.damaged == 0 && im.salvaged_from.empty()) {
        if (ex.exact >= 0 && state != ex.exact)
            return "Xnot the image after commit " + std::to_string(ex.exact) + " but " +
                   (state >= 0 ? "after commit " + std::to_string(state) : got.summary());
        if (state < 0) return "Xno damage reported, yet " + got.summary() + " of " + t.states.back().summary();
        if (state != last && !ex.earlier_ok) return "Xno damage reported, yet the image after commit " + std::to_string(state);
        outcome = state == last ? 'I' : 'E';
    } else {
        if (ex.exact >= 0) return "Xdamage reported: " + (im.damage.empty() ? std::string() : im.damage[0]);
        if (im.damage.empty()) return "Xdamage counted but not said";
        if (!only_stored(got, t.states)) return "Xa damaged store gave records that were never stored";
        if (!im.salvaged_from.empty()) {
            if (!fs::is_directory(im.salvaged_from)) return "Xnot kept aside: " + im.salvaged_from;
            outcome = 'S';
        } else {
            outcome = 'D';
        }
    }
    // Usable: a commit, and a reopen that finds it and no damage any more.
    const auto marker = make_binding(kMarker);
    st->put_binding(marker);
    if (!st->sync_now(&err, 10000)) return "Xthe commit after the open failed: " + err;
    st.reset();
    StateImage again;
    st = open_store(dir, &again, &err);
    if (!st) return "Xthe reopen failed: " + err;
    if (again.damaged != 0) return "Xthe reopen found damage: " + (again.damage.empty() ? std::string() : again.damage[0]);
    if (!again.salvaged_from.empty()) return "Xthe reopen salvaged again";
    got.put(marker);
    const Canon after = canon(again, &twice);
    if (!(after == got)) return "Xafter the commit " + after.summary() + ", " + got.summary() + " expected";
    return std::string(1, outcome);
}

// LeakSanitizer's check, in a build with it: the child ends with _exit, which skips the one at exit.
// Asked for with NEMO_DAMAGE_LEAKCHECK=1 (it warns in every child that the parent's RocksDB threads are
// not there to be stopped).
extern "C" int __lsan_do_recoverable_leak_check() __attribute__((weak));

// Runs fn in a child process and returns what it returned, or what became of the child: killed by a
// signal, exited (a sanitizer's report, on stderr), or still running after timeout_ms (killed).
std::string in_child(const std::function<std::string()>& fn, unsigned timeout_ms)
{
    int p[2];
    if (::pipe(p) != 0) return std::string("Xpipe: ") + std::strerror(errno);
    std::cout.flush();
    std::cerr.flush();
    const pid_t pid = ::fork();
    if (pid < 0) return std::string("Xfork: ") + std::strerror(errno);
    if (pid == 0) {
        ::close(p[0]);
        std::string r = fn();
        if (__lsan_do_recoverable_leak_check && std::getenv("NEMO_DAMAGE_LEAKCHECK") &&
            __lsan_do_recoverable_leak_check() != 0 && r.size() <= 1)
            r = "Xleaks (LeakSanitizer's report is on stderr)";
        std::size_t off = 0;
        while (off < r.size()) {
            const ssize_t n = ::write(p[1], r.data() + off, r.size() - off);
            if (n <= 0) break;
            off += static_cast<std::size_t>(n);
        }
        ::_exit(0); // no atexit handlers, no leak check: the parent's copy of the process is not ours to end
    }
    ::close(p[1]);
    std::string out;
    const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    bool hung = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
        if (left <= 0) {
            hung = true;
            break;
        }
        pollfd pfd{p[0], POLLIN, 0};
        const int r = ::poll(&pfd, 1, static_cast<int>(left));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        char buf[512];
        const ssize_t n = ::read(p[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(p[0]);
    if (hung) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (hung) return "Xhung: no answer within " + std::to_string(timeout_ms) + " ms";
    if (WIFSIGNALED(status)) return "Xcrashed: signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "Xexited " + std::to_string(WEXITSTATUS(status)) + " (see its stderr)";
    if (out.empty()) return "Xno answer";
    return out;
}

// Lays out db/ as the template's with `name` replaced by `bytes`, opens it in a child and counts
// the outcome; a failure is reported with `label`.
void open_damaged(const fs::path& dir, const std::string& label, const std::string& name, const std::string& bytes,
                  const Expect& ex, Outcomes* out)
{
    const DamageTemplate& t = damage_template();
    std::error_code ec;
    fs::remove_all(dir, ec);
    lay_out_template(dir, name, bytes);
    ::chmod(dir.c_str(), 0700);
    if (std::getenv("NEMO_DAMAGE_VERBOSE")) std::cerr << label << " -> ";
    const std::string r = in_child([&] { return judge_damaged(dir, t, ex); }, 60000);
    switch (r[0]) {
    case 'R': ++out->refused; break;
    case 'I': ++out->intact; break;
    case 'E': ++out->earlier; break;
    case 'D': ++out->records_removed; break;
    case 'S': ++out->salvaged; break;
    default: ++out->bad; break;
    }
    if (r.size() > 1) ADD_FAILURE() << label << ": " << r.substr(1);
    fs::remove_all(dir, ec);
}

std::vector<std::size_t> sorted_unique(std::vector<std::size_t> v, std::size_t below)
{
    std::erase_if(v, [&](std::size_t x) { return x >= below; });
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

// Cuts `name` at each of `cuts` and flips one byte at each of `flips`.
void damage_file(const std::string& name, std::vector<std::size_t> cuts, std::vector<std::size_t> flips,
                 const Expect& ex, Outcomes* out, int* ncuts, int* nflips)
{
    const DamageTemplate& t = damage_template();
    TempDir tmp(true);
    const std::string& whole = t.files.at(name);
    cuts = sorted_unique(cuts, whole.size());
    flips = sorted_unique(flips, whole.size());
    for (std::size_t cut : cuts)
        open_damaged(tmp.path / "s", name + " cut to " + std::to_string(cut) + " of " + std::to_string(whole.size()), name,
                     whole.substr(0, cut), ex, out);
    int n = 0;
    for (std::size_t off : flips) {
        std::string bad = whole;
        bad[off] = static_cast<char>(bad[off] ^ (n++ % 2 ? 0xFF : 0x04));
        open_damaged(tmp.path / "s", name + " byte " + std::to_string(off) + " flipped", name, bad, ex, out);
    }
    *ncuts += static_cast<int>(cuts.size());
    *nflips += static_cast<int>(flips.size());
}

} // namespace

TEST(StateRocksdbDamage, TheTemplateHasATableAndALiveLog)
{
    const DamageTemplate& t = damage_template();
    ASSERT_FALSE(t.log.empty());
    EXPECT_GT(t.files.at(t.table).size(), kDamageBindings * 50u);
    EXPECT_GT(t.files.at(t.log).size(), 0u);
    EXPECT_EQ(t.log_ends.front(), 0u) << "the reopen wrote nothing to the new log";
    // Undamaged, the copy opens as it was: the check of the damaged ones can pass.
    Outcomes out;
    TempDir tmp(true);
    open_damaged(tmp.path / "s", "undamaged", "", "", Expect{false, kLogCommits}, &out);
    EXPECT_EQ(out.intact, 1);
}

TEST(StateRocksdbDamage, ALogCutShortGivesTheCommitsBeforeTheCut)
{
    // Whatever is cut off the log's end is the last commits, whole: the ones before the cut all stay,
    // and a torn last record (a write that never returned) costs only its own commit.
    const DamageTemplate& t = damage_template();
    if (t.log.empty()) GTEST_FAIL() << "no template";
    const std::size_t size = t.log_ends.back();
    std::vector<std::size_t> cuts = spread(size, 20);
    for (std::size_t e : t.log_ends) // each record's bounds, its header
        for (std::size_t d : {0ul, 1ul, 7ul}) cuts.push_back(e + d), cuts.push_back(e > d ? e - d : 0);
    const std::size_t before_last = t.log_ends[kLogCommits - 1];
    for (std::size_t k = 1; k < 16; ++k) cuts.push_back(before_last + k * (size - before_last) / 16); // the last record torn
    cuts = sorted_unique(cuts, size);
    TempDir tmp(true);
    Outcomes out;
    const auto t0 = Clock::now();
    int torn = 0;
    for (std::size_t cut : cuts) {
        int whole_commits = 0;
        while (whole_commits < kLogCommits && t.log_ends[static_cast<std::size_t>(whole_commits) + 1] <= cut) ++whole_commits;
        if (cut > before_last) ++torn;
        open_damaged(tmp.path / "s", "log cut to " + std::to_string(cut) + " of " + std::to_string(size), t.log,
                     t.files.at(t.log).substr(0, cut), Expect{true, whole_commits}, &out);
    }
    std::cout << "log cut at " << cuts.size() << " offsets (" << torn << " in its last record) in " << ms_since(t0)
              << " ms: " << out.str() << "\n";
    EXPECT_GE(torn, 15);
    EXPECT_EQ(out.bad, 0);
    EXPECT_GT(out.earlier, 0);
}

TEST(StateRocksdbDamage, ALogWithBytesFlipped)
{
    const DamageTemplate& t = damage_template();
    if (t.log.empty()) GTEST_FAIL() << "no template";
    std::vector<std::size_t> flips = spread(t.log_ends.back(), 40);
    for (std::size_t e : t.log_ends) // every record's header: checksum, length, type
        for (std::size_t d : {0ul, 4ul, 6ul}) flips.push_back(e + d);
    Outcomes out;
    int ncuts = 0, nflips = 0;
    const auto t0 = Clock::now();
    damage_file(t.log, {}, flips, Expect{true, -1}, &out, &ncuts, &nflips);
    std::cout << "log flipped at " << nflips << " offsets in " << ms_since(t0) << " ms: " << out.str() << "\n";
    EXPECT_EQ(out.bad, 0);
    EXPECT_GT(out.salvaged, 0) << "no flip reached the salvage";
}

TEST(StateRocksdbDamage, ATableCutShortOrWithBytesFlipped)
{
    const DamageTemplate& t = damage_template();
    if (t.log.empty()) GTEST_FAIL() << "no template";
    const std::size_t size = t.files.at(t.table).size();
    std::vector<std::size_t> cuts = spread(size, 10);
    for (std::size_t back : {1ul, 8ul, 48ul, 53ul, 200ul}) cuts.push_back(size - back);
    std::vector<std::size_t> flips = spread(size, 40);
    for (std::size_t back = 1; back <= 53; back += 4) flips.push_back(size - back); // the footer
    for (std::size_t back = 60; back < 2000; back += 97) flips.push_back(size - back); // index, properties
    Outcomes out;
    int ncuts = 0, nflips = 0;
    const auto t0 = Clock::now();
    damage_file(t.table, cuts, flips, Expect{}, &out, &ncuts, &nflips);
    std::cout << "table cut at " << ncuts << " and flipped at " << nflips << " offsets in " << ms_since(t0)
              << " ms: " << out.str() << "\n";
    EXPECT_EQ(out.bad, 0);
    EXPECT_GT(out.salvaged, 0) << "no damage reached the salvage";
}

TEST(StateRocksdbDamage, TheManifestCurrentAndOptionsCutShortOrWithBytesFlipped)
{
    const DamageTemplate& t = damage_template();
    if (t.log.empty()) GTEST_FAIL() << "no template";
    Outcomes out;
    int ncuts = 0, nflips = 0;
    const auto t0 = Clock::now();
    const std::size_t manifest = t.files.at(t.manifest).size();
    std::vector<std::size_t> cuts = spread(manifest, 10);
    cuts.push_back(manifest - 1);
    damage_file(t.manifest, cuts, spread(manifest, 20), Expect{}, &out, &ncuts, &nflips);
    std::cout << t.manifest << " (" << manifest << " bytes): " << out.str() << "\n";
    Outcomes current;
    const std::size_t csize = t.files.at("CURRENT").size();
    damage_file("CURRENT", spread(csize, csize), spread(csize, csize), Expect{}, &current, &ncuts, &nflips);
    std::cout << "CURRENT (" << csize << " bytes): " << current.str() << "\n";
    Outcomes options;
    const std::size_t osize = t.files.at(t.options).size();
    damage_file(t.options, spread(osize, 3), spread(osize, 8), Expect{}, &options, &ncuts, &nflips);
    std::cout << t.options << " (" << osize << " bytes): " << options.str() << "\n";
    std::cout << "cut at " << ncuts << " and flipped at " << nflips << " offsets in " << ms_since(t0) << " ms\n";
    EXPECT_EQ(out.bad + current.bad + options.bad, 0);
}

namespace {
// The template with `name` replaced by `bytes`, opened with refuse_damaged: refused, nothing moved aside
// and `unchanged` (file names) as they were; then opened without it: salvaged. Returns that image.
StateImage refused_then_salvaged(const fs::path& dir, const std::string& name, const std::string& bytes,
                                 const std::vector<std::string>& unchanged)
{
    const DamageTemplate& t = damage_template();
    lay_out_template(dir, name, bytes);
    StateImage im;
    std::string err;
    EXPECT_FALSE(open_store(dir, &im, &err, true));
    EXPECT_TRUE(contains(err, (dir / "db").string() + ": damaged")) << err;
    EXPECT_TRUE(contains(err, "state.on_damage = refuse")) << err;
    EXPECT_TRUE(moved_aside(dir).empty()) << "moved aside";
    const Files now = files_of(dir / "db");
    for (const std::string& n : unchanged)
        EXPECT_TRUE(now.count(n) && now.at(n) == (n == name ? bytes : t.files.at(n))) << n << " was changed";
    // The same store without refuse_damaged: salvaged (so the refusal above was of damage).
    auto st = open_store(dir, &im, &err, false);
    EXPECT_TRUE(st) << err;
    EXPECT_FALSE(im.salvaged_from.empty());
    EXPECT_TRUE(fs::is_directory(im.salvaged_from));
    EXPECT_EQ(im.salvaged_from.rfind((dir / "db.damaged-").string(), 0), 0u) << im.salvaged_from;
    EXPECT_TRUE(only_stored(canon(im), t.states));
    return im;
}
} // namespace

TEST(StateRocksdbDamage, ABadBlockInATableCostsOnlyTheRecordsPastIt)
{
    // RocksDB's repair drops a table whole when one of its blocks is bad; what the open read of it before
    // the bad block (checked, and the newest of each key) is kept too.
    const DamageTemplate& t = damage_template();
    if (t.log.empty()) GTEST_FAIL() << "no template";
    TempDir tmp(true);
    std::string bad = t.files.at(t.table);
    const std::size_t off = bad.size() / 2; // among the bindings' blocks (they are most of the table)
    bad[off] = static_cast<char>(bad[off] ^ 0x10);
    lay_out_template(tmp.path, t.table, bad);
    StateImage im;
    std::string err;
    auto st = open_store(tmp.path, &im, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_FALSE(im.salvaged_from.empty());
    const Canon got = canon(im);
    EXPECT_TRUE(only_stored(got, t.states));
    const Canon& last = t.states.back();
    // The bindings of the blocks before the bad one: a third of them at least, as they were last.
    std::size_t kept = 0;
    for (uint32_t i = 0; i < kDamageBindings / 3; ++i) {
        const auto want = last.bindings.find(hoa_of(i));
        if (want == last.bindings.end()) continue; // removed by a commit of the log
        const auto it = got.bindings.find(hoa_of(i));
        kept += it != got.bindings.end() && it->second == want->second;
    }
    EXPECT_GE(kept, kDamageBindings / 3 - kLogCommits) << "of the first " << kDamageBindings / 3 << " bindings; " << got.summary();
}

TEST(StateRocksdbDamage, ADatabaseWithoutCurrentIsDamagedNotNew)
{
    // CURRENT names the MANIFEST. Without it a new database would be made over the tables (and delete
    // them as none of its own); RocksDB refuses to, as a log is there, and the store is salvaged.
    const DamageTemplate& t = damage_template();
    if (t.log.empty()) GTEST_FAIL() << "no template";
    TempDir tmp(true);
    lay_out_template(tmp.path, "CURRENT", std::nullopt);
    expect_salvaged_whole(tmp.path);
}

TEST(StateRocksdbDamage, ACurrentThatNamesNoManifestIsDamage)
{
    // A flipped digit in CURRENT names a MANIFEST that is not there: the store is damaged (and its
    // tables and log whole), not a store that cannot be opened.
    const DamageTemplate& t = damage_template();
    if (t.log.empty()) GTEST_FAIL() << "no template";
    TempDir tmp(true);
    lay_out_template(tmp.path, "CURRENT", "MANIFEST-999999\n");
    expect_salvaged_whole(tmp.path);
}

// Two kinds of damage RocksDB takes for no damage at all (known, not fixed: see the notes in each; run
// with --gtest_also_run_disabled_tests).

TEST(StateRocksdbDamage, DISABLED_AManifestCutShortLosesNoTable)
{
    // A MANIFEST cut short reads as an earlier version of the store, one that does not name the table
    // yet: RocksDB's open deletes the table as obsolete (its log was deleted when it was written), and
    // the store, whose format key was in it, is refused as "not nemo-ha's". A torn last record of a
    // MANIFEST (a crash while it was written) is safe: the table it would add is still in its log.
    // This is damage after the fact (the file system's), and it costs every record of the tables.
    const DamageTemplate& t = damage_template();
    if (t.log.empty()) GTEST_FAIL() << "no template";
    TempDir tmp(true);
    const std::string manifest = t.files.at(t.manifest);
    lay_out_template(tmp.path, t.manifest, manifest.substr(0, manifest.size() / 2));
    StateImage im;
    std::string err;
    auto st = open_store(tmp.path, &im, &err);
    if (st) {
        EXPECT_TRUE(im.damaged > 0 || !im.salvaged_from.empty() || canon(im) == t.states.back());
    } else {
        EXPECT_TRUE(contains(err, (tmp.path / "db").string())) << err;
    }
    bool table_kept = false;
    for (const auto& e : fs::recursive_directory_iterator(tmp.path))
        table_kept = table_kept || (e.path().filename() == t.table && slurp(e.path()) == t.files.at(t.table));
    EXPECT_TRUE(table_kept || (st && canon(im) == t.states.back())) << "the table and its records are gone; " << err;
}

TEST(StateRocksdbDamage, DISABLED_ALogRecordOfAnotherTypeIsDamageNotTheEnd)
{
    // A record type flipped to one of a recycled log's (5 to 8) reads as the end of the log: every commit
    // from there on is dropped with no damage reported. (Whatever else a flip in a record does, its
    // checksum catches; a cut is a torn tail, and costs only what was cut off.)
    const DamageTemplate& t = damage_template();
    if (t.log.empty()) GTEST_FAIL() << "no template";
    for (int record : {0, kLogCommits / 2}) {
        SCOPED_TRACE(record);
        TempDir tmp(true);
        std::string log = t.files.at(t.log);
        log[t.log_ends[static_cast<std::size_t>(record)] + 6] ^= 0x04; // type 1, a whole record, to 5
        lay_out_template(tmp.path, t.log, log);
        StateImage im;
        std::string err;
        auto st = open_store(tmp.path, &im, &err);
        if (!st) {
            EXPECT_TRUE(contains(err, (tmp.path / "db").string())) << err;
            continue;
        }
        const Canon got = canon(im);
        EXPECT_TRUE(im.damaged > 0 || !im.salvaged_from.empty() || got == t.states.back())
            << "no damage reported, and the image is the one after commit "
            << (std::find(t.states.begin(), t.states.end(), got) - t.states.begin()) << " of " << kLogCommits;
    }
}

TEST(StateRocksdbDamage, RefuseDamagedMovesNothingAndLosesNothing)
{
    const DamageTemplate& t = damage_template();
    if (t.log.empty()) GTEST_FAIL() << "no template";
    {
        // A flipped byte in the log's first record: RocksDB's open fails, and has changed nothing.
        SCOPED_TRACE("log");
        TempDir tmp(true);
        std::string bad = t.files.at(t.log);
        bad[100] = static_cast<char>(bad[100] ^ 0x10);
        refused_then_salvaged(tmp.path, t.log, bad, {t.table, t.log, t.manifest, "CURRENT"});
    }
    {
        // A flipped byte in the table's first block: RocksDB's open succeeds (it writes the log it
        // replays to a new table), the read of the store fails. The damaged table stays as it was,
        // and the log's commits are not lost to the refusal: the salvage has them.
        SCOPED_TRACE("table");
        TempDir tmp(true);
        std::string bad = t.files.at(t.table);
        bad[100] = static_cast<char>(bad[100] ^ 0x10);
        const StateImage im = refused_then_salvaged(tmp.path, t.table, bad, {t.table});
        const Canon got = canon(im);
        for (uint32_t c = 0; c < kLogCommits; ++c)
            EXPECT_EQ(got.bindings.count(hoa_of(kDamageBindings + c)), 1u) << "commit " << c << " of the log lost";
    }
}

TEST(StateRocksdbDamage, EverySalvageKeepsItsOwnDamagedCopy)
{
    // Salvages in quick succession (a start that fails and is retried at once, within one second):
    // each damaged database is kept aside under a name of its own, none lost to the next.
    TempDir tmp(true);
    std::vector<std::string> aside;
    for (int round = 0; round < 3; ++round) {
        SCOPED_TRACE(round);
        {
            StateImage im;
            std::string err;
            auto st = open_store(tmp.path, &im, &err);
            ASSERT_TRUE(st) << err;
            st->put_binding(make_binding(static_cast<uint32_t>(round)));
        }
        spit(tmp.path / "db" / "CURRENT", "damaged"); // no newline: RocksDB says it is corrupt
        StateImage im;
        std::string err;
        auto st = open_store(tmp.path, &im, &err);
        ASSERT_TRUE(st) << err;
        ASSERT_FALSE(im.salvaged_from.empty());
        aside.push_back(im.salvaged_from);
        EXPECT_EQ(im.bindings.size(), static_cast<std::size_t>(round) + 1) << "the repair read the log";
    }
    EXPECT_NE(aside[0], aside[1]);
    EXPECT_NE(aside[1], aside[2]);
    EXPECT_NE(aside[0], aside[2]);
    for (const std::string& a : aside) EXPECT_TRUE(fs::is_directory(a)) << a;
}

// ---------------------------------------------------------------------------------------------
// A read-only and a full file system (small tmpfs mounts: root only)

namespace {
class ReadOnlyDir : public TmpfsTest {
    const char* size() const override { return "4m"; }
};
class FullDisk : public TmpfsTest {
    const char* size() const override { return "8m"; }
};
} // namespace

TEST_F(ReadOnlyDir, OpenSaysTheDirIsReadOnly)
{
    const fs::path dir = mnt_ / "state";
    std::string err;
    const Canon want = store_of(dir, 10);
    ASSERT_TRUE(remount(true)) << std::strerror(errno);
    StateImage im;
    EXPECT_FALSE(open_store(dir, &im, &err));
    EXPECT_TRUE(contains(err, dir.string())) << err;
    EXPECT_TRUE(contains(err, "Read-only file system")) << err;
    // A state.dir still to be made there: the same.
    EXPECT_FALSE(open_store(mnt_ / "other", &im, &err));
    EXPECT_TRUE(contains(err, (mnt_ / "other").string())) << err;
    EXPECT_TRUE(contains(err, "Read-only file system")) << err;
    // Writable again: the store is as it was.
    ASSERT_TRUE(remount(false)) << std::strerror(errno);
    auto st = open_store(dir, &im, &err);
    ASSERT_TRUE(st) << err;
    EXPECT_TRUE(canon(im) == want);
}

TEST_F(FullDisk, CommitsFailThenResumeWhenSpaceIsFreedAndNothingIsLost)
{
    // Space taken by something else, freed later.
    const fs::path filler = mnt_ / "filler";
    // RocksDB resumes by writing what its log holds to a table: the space freed leaves room for it.
    spit(filler, std::string(6656 * 1024, 'x'));
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
        ASSERT_TRUE(failed) << "8 MB never filled";
        EXPECT_TRUE(st->refusing());
        EXPECT_TRUE(contains(err, (dir / "db").string())) << err;
        StateStatus s = st->status();
        EXPECT_TRUE(s.refusing);
        EXPECT_TRUE(contains(s.error, (dir / "db").string())) << s.error;
        EXPECT_GE(s.sync_failures, 1u);
        const uint64_t durable_at_failure = st->durable();
        std::cout << "full after " << next << " bindings: " << s.error << "\n";

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
        std::this_thread::sleep_for(std::chrono::milliseconds(1100)); // a retry, still full
        EXPECT_EQ(st->durable(), durable_at_failure);
        EXPECT_TRUE(st->refusing());

        ASSERT_TRUE(fs::remove(filler));
        const auto t0 = Clock::now();
        EXPECT_TRUE(wait_until([&] { return st->durable() >= last; }, 5000)) << st->status().error;
        const uint64_t took = ms_since(t0);
        EXPECT_LE(took, 2000u);
        std::cout << "commits resumed " << took << " ms after the space was freed; " << next << " bindings\n";
        EXPECT_FALSE(st->refusing());
        s = st->status();
        EXPECT_TRUE(s.error.empty()) << s.error;
        // And the next commit too.
        const auto b = make_binding(next++, 3, 1);
        st->put_binding(b);
        want.put(b);
        EXPECT_TRUE(st->sync_now(&err)) << err;
    }
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(round);
        StateImage im;
        auto st = open_store(dir, &im, &err);
        ASSERT_TRUE(st) << err;
        EXPECT_EQ(im.damaged, 0u) << (im.damage.empty() ? "" : im.damage[0]);
        EXPECT_TRUE(im.salvaged_from.empty());
        const Canon got = canon(im);
        EXPECT_TRUE(got == want) << got.summary() << " vs " << want.summary() << " staged";
    }
}
