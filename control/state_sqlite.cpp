#include "state_sqlite.hpp"

#include "state_dir.hpp"
#include "state_salvage.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <unordered_set>
#include <utility>

#include "key_material.hpp"

namespace nemo::control {

namespace {

const char* kSchema = R"(
CREATE TABLE bindings (hoa BLOB PRIMARY KEY, rec BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE mr_changes (hoa BLOB PRIMARY KEY, rec BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE sa_changes (spi INTEGER PRIMARY KEY, rec BLOB NOT NULL);
CREATE TABLE seq_reserved (spi INTEGER PRIMARY KEY, rec BLOB NOT NULL);
)";

uint64_t file_size(const std::string& p)
{
    struct stat st{};
    return ::stat(p.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string errno_text(int e) { return std::strerror(e); }

// One prepared statement, finalized with its owner.
struct Stmt {
    sqlite3_stmt* s = nullptr;
    Stmt() = default;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt() { sqlite3_finalize(s); }
};

class SqliteState final : public SalvageableBackend {
public:
    SqliteState(std::string dir, int lock_fd) : dir_(std::move(dir)), path_(dir_ + "/state.db"), lock_fd_(lock_fd) {}
    ~SqliteState() override
    {
        close_db();
        if (lock_fd_ >= 0) ::close(lock_fd_); // releases the flock
    }

    // Opens the database; sets *damaged (and returns false) when SQLite finds the file damaged,
    // *error for anything else.
    bool open_db(bool* damaged, std::string* error) override;
    bool load(StateImage* image, bool* damaged, std::string* error) override;
    void close_db() override
    {
        for (auto* st : {&upsert_binding_, &erase_binding_, &upsert_mr_, &upsert_sa_, &upsert_seq_}) {
            sqlite3_finalize(st->s);
            st->s = nullptr;
        }
        if (db_) sqlite3_close(db_);
        db_ = nullptr;
    }
    // Moves the damaged files aside; returns the new name of state.db.
    std::optional<std::string> move_aside(std::string* error) override;
    // What was read before the damage showed is kept; the rest of the file is lost (counted as one).
    StateImage recover(const std::string&, StateImage&& read) override { return std::move(read); }

    std::optional<CommitError> commit(const StateBatch& b) override;
    uint64_t size_bytes() const override { return file_size(path_) + file_size(path_ + "-wal"); }
    const std::string& path() const override { return path_; }
    const char* name() const override { return "sqlite"; }

private:
    std::string why(const char* what) const
    {
        std::string m = path_ + ": " + what + ": " + sqlite3_errmsg(db_);
        if (int e = sqlite3_system_errno(db_)) m += " (" + errno_text(e) + ")";
        return m;
    }
    bool exec(const char* sql, std::string* error)
    {
        char* msg = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
        if (error) *error = path_ + ": " + (msg ? msg : "error");
        sqlite3_free(msg);
        return false;
    }
    // One integer of a PRAGMA, or nullopt (with rc) on error.
    std::optional<int64_t> pragma_int(const char* sql, int* rc)
    {
        Stmt st;
        *rc = sqlite3_prepare_v2(db_, sql, -1, &st.s, nullptr);
        if (*rc != SQLITE_OK) return std::nullopt;
        *rc = sqlite3_step(st.s);
        if (*rc != SQLITE_ROW) return std::nullopt;
        *rc = SQLITE_OK;
        return sqlite3_column_int64(st.s, 0);
    }
    bool prepare(Stmt& st, const char* sql, std::string* error)
    {
        if (sqlite3_prepare_v2(db_, sql, -1, &st.s, nullptr) == SQLITE_OK) return true;
        *error = why("prepare");
        return false;
    }
    // Runs a bound statement once; resets it for the next use.
    int run(Stmt& st)
    {
        const int rc = sqlite3_step(st.s);
        sqlite3_reset(st.s);
        sqlite3_clear_bindings(st.s);
        return rc;
    }
    // Reads every row of `sql` (key, rec); rows whose record does not decode are collected in `bad`.
    bool scan(const char* sql, const std::function<bool(const uint8_t*, int, std::span<const uint8_t>, std::string*)>& take,
              StateImage* image, bool* damaged, std::string* error);
    std::optional<CommitError> fail(const char* what)
    {
        const int ext = sqlite3_extended_errcode(db_);
        const int sys = sqlite3_system_errno(db_);
        CommitError e{why(what), (ext & 0xff) == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT};
        if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return e;
    }

    std::string dir_, path_;
    int lock_fd_ = -1;
    sqlite3* db_ = nullptr;
    Stmt upsert_binding_, erase_binding_, upsert_mr_, upsert_sa_, upsert_seq_;
};

bool is_damage(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_FORMAT;
}

bool SqliteState::open_db(bool* damaged, std::string* error)
{
    *damaged = false;
    // SQLite reads a file of one byte as an empty database (one of 2 to 99 bytes, rightly, as none): a
    // store cut to that would come back new and empty without a word. (0 bytes is what a new store is
    // until its first commit reaches the file: not told apart.)
    if (const uint64_t size = file_size(path_); size > 0 && size < 100) return *damaged = true, false;
    // The file holds SA keys: made here, private to nemo-ha's user whatever the umask and the directory's
    // mode (a state.dir made beforehand, by systemd's StateDirectory= say, is 0755). SQLite gives its log
    // the database's mode.
    if (const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600); fd >= 0) ::close(fd);
    int rc = sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        *error = db_ ? why("cannot open") : path_ + ": cannot open";
        return false;
    }
    sqlite3_extended_result_codes(db_, 1);
    // Exclusive locking before WAL: the log's index lives in the process, no -shm file beside it.
    if (!exec("PRAGMA locking_mode=EXCLUSIVE", error)) return false;
    const auto app = pragma_int("PRAGMA application_id", &rc);
    if (!app) {
        if (is_damage(rc)) return *damaged = true, false;
        *error = why("cannot read");
        return false;
    }
    // Asked once the header was read: a write version in it that this SQLite cannot write (byte 18 above
    // 2: a newer format, or damage) opens the file read-only too, and every commit would then fail.
    if (sqlite3_db_readonly(db_, "main") == 1) {
        *error = path_ + ": the database file is read-only (its permissions, or a file format version this SQLite "
                         "cannot write): nemo-ha must be able to write its state";
        return false;
    }
    const auto version = pragma_int("PRAGMA user_version", &rc);
    const auto tables = pragma_int("SELECT count(*) FROM sqlite_schema", &rc);
    if (!version || !tables) {
        if (is_damage(rc)) return *damaged = true, false;
        *error = why("cannot read");
        return false;
    }
    const bool fresh = *app == 0 && *version == 0 && *tables == 0;
    if (!fresh && *app != kStateApplicationId) {
        *error = path_ + ": not a nemo-ha state database (application id " + std::to_string(*app) +
                 "); move it away or set another state.dir";
        return false;
    }
    if (!fresh && *version != kStateSchemaVersion) {
        *error = path_ + ": state of format " + std::to_string(*version) + ", this nemo-ha reads format " +
                 std::to_string(kStateSchemaVersion) + (*version < kStateSchemaVersion ? " (an older nemo-ha wrote it" : " (a newer nemo-ha wrote it") +
                 "); nothing was changed: start the nemo-ha that wrote it, or move the file away to start empty";
        return false;
    }
    // Ours: one an earlier build left readable by others is made private.
    for (const std::string& p : {path_, path_ + "-wal"}) {
        struct stat st{};
        if (::stat(p.c_str(), &st) != 0 || private_to_owner(st.st_mode)) continue;
        if (::chmod(p.c_str(), st.st_mode & 0700) != 0) {
            *error = p + ": holds keys, readable by others, and cannot be made private: " + errno_text(errno);
            return false;
        }
    }
    // A WAL switch can fail on a damaged file too (it reads the header).
    {
        Stmt st;
        rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode=WAL", -1, &st.s, nullptr);
        if (rc == SQLITE_OK) rc = sqlite3_step(st.s);
        if (rc != SQLITE_ROW || std::strcmp(reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0)), "wal") != 0) {
            if (is_damage(rc)) return *damaged = true, false;
            *error = why("cannot switch to WAL mode");
            return false;
        }
    }
    // FULL: the log is synced at every commit, so a commit is durable when it returns. cell_size_check:
    // damaged pages are reported rather than read past.
    if (!exec("PRAGMA synchronous=FULL; PRAGMA cell_size_check=ON; PRAGMA cache_size=-262144", error)) return false;
    if (fresh) {
        const std::string create = std::string("BEGIN;") + kSchema + "PRAGMA application_id=" +
                                   std::to_string(kStateApplicationId) + "; PRAGMA user_version=" +
                                   std::to_string(kStateSchemaVersion) + "; COMMIT;";
        if (!exec(create.c_str(), error)) return false;
    }
    // quick_check walks every page: the damage SQLite can see is found now, not in the middle of a run.
    {
        Stmt st;
        rc = sqlite3_prepare_v2(db_, "PRAGMA quick_check(1)", -1, &st.s, nullptr);
        if (rc == SQLITE_OK) rc = sqlite3_step(st.s);
        if (rc != SQLITE_ROW) {
            if (is_damage(rc)) return *damaged = true, false;
            *error = why("cannot check");
            return false;
        }
        const char* verdict = reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0));
        if (!verdict || std::strcmp(verdict, "ok") != 0) return *damaged = true, false;
    }
    return prepare(upsert_binding_, "INSERT OR REPLACE INTO bindings (hoa, rec) VALUES (?1, ?2)", error) &&
           prepare(erase_binding_, "DELETE FROM bindings WHERE hoa = ?1", error) &&
           prepare(upsert_mr_, "INSERT OR REPLACE INTO mr_changes (hoa, rec) VALUES (?1, ?2)", error) &&
           prepare(upsert_sa_, "INSERT OR REPLACE INTO sa_changes (spi, rec) VALUES (?1, ?2)", error) &&
           prepare(upsert_seq_, "INSERT OR REPLACE INTO seq_reserved (spi, rec) VALUES (?1, ?2)", error);
}

bool SqliteState::scan(const char* sql,
                       const std::function<bool(const uint8_t*, int, std::span<const uint8_t>, std::string*)>& take,
                       StateImage* image, bool* damaged, std::string* error)
{
    Stmt st;
    int rc = sqlite3_prepare_v2(db_, sql, -1, &st.s, nullptr);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st.s);
        if (rc != SQLITE_ROW) break;
        const auto* key = static_cast<const uint8_t*>(sqlite3_column_blob(st.s, 0));
        const int key_len = sqlite3_column_bytes(st.s, 0);
        const auto* rec = static_cast<const uint8_t*>(sqlite3_column_blob(st.s, 1));
        const int rec_len = sqlite3_column_bytes(st.s, 1);
        std::string why_bad;
        if (!take(key, key_len, {rec, rec ? static_cast<std::size_t>(rec_len) : 0}, &why_bad)) {
            ++image->damaged;
            if (image->damage.size() < kMaxDamageMessages) image->damage.push_back(why_bad);
        }
    }
    if (rc == SQLITE_DONE) return true;
    if (is_damage(rc)) *damaged = true;
    else *error = why("cannot read");
    return false;
}

bool SqliteState::load(StateImage* image, bool* damaged, std::string* error)
{
    // Damaged records are removed (they were counted and reported): a restart does not count them again.
    StateBatch bad;
    std::vector<std::pair<std::vector<uint8_t>, int>> bad_keys; // key blobs of other lengths, by table
    auto key6 = [](const uint8_t* k, int n, Ipv6Addr* a) {
        if (n != 16 || !k) return false;
        *a = Ipv6Addr::from_bytes(k);
        return true;
    };
    auto ok = scan("SELECT hoa, rec FROM bindings", [&](const uint8_t* k, int n, std::span<const uint8_t> rec, std::string* why) {
        Ipv6Addr hoa;
        auto b = decode_binding(rec, why);
        if (!key6(k, n, &hoa) || !b || b->binding.hoa != hoa) {
            if (b && why->empty()) *why = "binding record under another home address's key";
            if (why->empty()) *why = "binding key not an IPv6 address";
            if (n == 16 && k) bad.bindings[Ipv6Addr::from_bytes(k)] = std::nullopt;
            else bad_keys.emplace_back(std::vector<uint8_t>(k, k + (k ? n : 0)), 0);
            return false;
        }
        image->bindings.push_back(std::move(*b));
        return true;
    }, image, damaged, error);
    ok = ok && scan("SELECT hoa, rec FROM mr_changes", [&](const uint8_t* k, int n, std::span<const uint8_t> rec, std::string* why) {
        Ipv6Addr hoa;
        auto c = decode_mr_change(rec, why);
        if (!key6(k, n, &hoa) || !c || c->mr.hoa != hoa) {
            if (why->empty()) *why = "operator change under another key";
            bad_keys.emplace_back(std::vector<uint8_t>(k, k + (k ? n : 0)), 1);
            return false;
        }
        image->mrs.push_back(std::move(*c));
        return true;
    }, image, damaged, error);
    std::vector<int64_t> bad_spis[2];
    auto spi_scan = [&](const char* sql, int table, auto&& decode) {
        Stmt st;
        int rc = sqlite3_prepare_v2(db_, sql, -1, &st.s, nullptr);
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            rc = sqlite3_step(st.s);
            if (rc != SQLITE_ROW) break;
            const int64_t spi = sqlite3_column_int64(st.s, 0);
            const auto* rec = static_cast<const uint8_t*>(sqlite3_column_blob(st.s, 1));
            const int rec_len = sqlite3_column_bytes(st.s, 1);
            std::string why_bad;
            if (!decode(spi, std::span<const uint8_t>(rec, rec ? static_cast<std::size_t>(rec_len) : 0), &why_bad)) {
                ++image->damaged;
                if (image->damage.size() < kMaxDamageMessages) image->damage.push_back(why_bad);
                bad_spis[table].push_back(spi);
            }
        }
        if (rc == SQLITE_DONE) return true;
        if (is_damage(rc)) *damaged = true;
        else *error = why("cannot read");
        return false;
    };
    ok = ok && spi_scan("SELECT spi, rec FROM sa_changes", 0, [&](int64_t spi, std::span<const uint8_t> rec, std::string* why) {
        auto c = decode_sa_change(rec, why);
        if (!c || c->sa.spi != spi) {
            if (why->empty()) *why = "SA change under another SPI";
            return false;
        }
        image->sas.push_back(std::move(*c));
        return true;
    });
    ok = ok && spi_scan("SELECT spi, rec FROM seq_reserved", 1, [&](int64_t spi, std::span<const uint8_t> rec, std::string* why) {
        auto r = decode_seq(rec, why);
        if (!r || spi < 0 || spi > 0xFFFFFFFF) {
            if (why->empty()) *why = "sequence reservation under a key that is no SPI";
            return false;
        }
        image->seqs[static_cast<uint32_t>(spi)] = *r;
        return true;
    });
    if (!ok) return false;
    if (bad.empty() && bad_keys.empty() && bad_spis[0].empty() && bad_spis[1].empty()) return true;
    // Remove them in one transaction, by key. A key changed on disk can make that unsafe, and then the
    // file itself is damaged: a damaged row under the key of a good one (the removal could take the good
    // one), or a row just read that the removal does not find (its b-tree is out of order; quick_check
    // does not look at key order), which would otherwise be counted again at every start.
    std::unordered_set<Ipv6Addr, Ipv6Hash> good;
    for (const StoredBinding& b : image->bindings) good.insert(b.binding.hoa);
    for (const auto& [hoa, v] : bad.bindings)
        if (good.count(hoa)) return *damaged = true, false;
    good.clear();
    for (const MrChange& c : image->mrs) good.insert(c.mr.hoa);
    for (const auto& [key, table] : bad_keys)
        if (table == 1 && key.size() == 16 && good.count(Ipv6Addr::from_bytes(key.data()))) return *damaged = true, false;
    if (!exec("BEGIN IMMEDIATE", error)) return false;
    bool missed = false;
    auto removed = [&](sqlite3_stmt* st) { return sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db_) > 0; };
    for (const auto& [hoa, v] : bad.bindings) {
        sqlite3_bind_blob(erase_binding_.s, 1, hoa.bytes.data(), 16, SQLITE_STATIC);
        missed |= !removed(erase_binding_.s);
        sqlite3_reset(erase_binding_.s);
        sqlite3_clear_bindings(erase_binding_.s);
    }
    for (const auto& [key, table] : bad_keys) {
        Stmt st;
        if (sqlite3_prepare_v2(db_, table == 0 ? "DELETE FROM bindings WHERE hoa = ?1" : "DELETE FROM mr_changes WHERE hoa = ?1",
                               -1, &st.s, nullptr) != SQLITE_OK) {
            missed = true;
            continue;
        }
        sqlite3_bind_blob(st.s, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
        missed |= !removed(st.s);
    }
    for (int t = 0; t < 2; ++t)
        for (int64_t spi : bad_spis[t]) {
            Stmt st;
            if (sqlite3_prepare_v2(db_, t == 0 ? "DELETE FROM sa_changes WHERE spi = ?1" : "DELETE FROM seq_reserved WHERE spi = ?1",
                                   -1, &st.s, nullptr) != SQLITE_OK) {
                missed = true;
                continue;
            }
            sqlite3_bind_int64(st.s, 1, spi);
            missed |= !removed(st.s);
        }
    if (missed) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        *damaged = true;
        return false;
    }
    if (!exec("COMMIT", error)) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return false;
    }
    return true;
}

std::optional<std::string> SqliteState::move_aside(std::string* error)
{
    // A name of its own: a second salvage in the same second must not replace the first one's file.
    const std::string base = path_ + ".damaged-" + std::to_string(wall_seconds());
    std::string aside = base;
    for (int n = 2; ::access(aside.c_str(), F_OK) == 0; ++n) aside = base + "." + std::to_string(n);
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        const std::string from = path_ + suffix;
        if (::access(from.c_str(), F_OK) != 0) continue;
        if (::rename(from.c_str(), (aside + suffix).c_str()) != 0) {
            *error = from + ": damaged, and cannot be moved aside: " + errno_text(errno);
            return std::nullopt;
        }
    }
    return aside;
}

std::optional<StateBackend::CommitError> SqliteState::commit(const StateBatch& b)
{
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("begin");
    for (const auto& [hoa, rec] : b.bindings) {
        Stmt& st = rec ? upsert_binding_ : erase_binding_;
        sqlite3_bind_blob(st.s, 1, hoa.bytes.data(), 16, SQLITE_STATIC);
        if (rec) sqlite3_bind_blob(st.s, 2, rec->data(), static_cast<int>(rec->size()), SQLITE_STATIC);
        if (run(st) != SQLITE_DONE) return fail("write");
    }
    for (const auto& [hoa, rec] : b.mrs) {
        sqlite3_bind_blob(upsert_mr_.s, 1, hoa.bytes.data(), 16, SQLITE_STATIC);
        sqlite3_bind_blob(upsert_mr_.s, 2, rec.data(), static_cast<int>(rec.size()), SQLITE_STATIC);
        if (run(upsert_mr_) != SQLITE_DONE) return fail("write");
    }
    for (const auto& [spi, rec] : b.sas) {
        sqlite3_bind_int64(upsert_sa_.s, 1, spi);
        sqlite3_bind_blob(upsert_sa_.s, 2, rec.data(), static_cast<int>(rec.size()), SQLITE_STATIC);
        if (run(upsert_sa_) != SQLITE_DONE) return fail("write");
    }
    for (const auto& [spi, rec] : b.seqs) {
        sqlite3_bind_int64(upsert_seq_.s, 1, spi);
        sqlite3_bind_blob(upsert_seq_.s, 2, rec.data(), static_cast<int>(rec.size()), SQLITE_STATIC);
        if (run(upsert_seq_) != SQLITE_DONE) return fail("write");
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return fail("commit");
    return std::nullopt;
}

} // namespace

std::unique_ptr<StateBackend> open_sqlite_state(const std::string& dir, bool refuse_damaged, StateImage* image,
                                                std::string* error)
{
    const uint64_t t0 = steady_ms();
    const int fd = open_dir_and_lock(dir, error);
    if (fd < 0) return nullptr;
    return open_or_salvage(std::make_unique<SqliteState>(dir, fd), refuse_damaged,
                           {"move the file away", "the database file itself is damaged"}, t0, image, error);
}

} // namespace nemo::control
