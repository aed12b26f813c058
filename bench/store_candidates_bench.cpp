// The embedded-store candidates for the binding cache -- LMDB, SQLite (WAL), RocksDB -- measured on the
// binding cache's workload, with a hand-written append log (write + fdatasync) as the baseline that
// every durable commit has to pay at least.
//
//   store_candidates_bench [--dir D] [--rounds R] [--small N] [--big N]
//                          [--commits1 N] [--commits64 N] [--commits1024 N]
//                          [--robust-records N] [--flips N] [--truncs N] [--hang-s S]
//                          [--no-timing] [--no-robust] [--only NAME,...] [--lmdb-map-mib M] [--keep]
//
// A record is one binding: a 16-byte key (an IPv6 home address) and a 96-byte opaque value that carries
// its own hash, so that a read can tell intact data from wrong data. Every transaction ends with a
// durable sync, each database in its own way:
//   LMDB     default flags (no MDB_NOSYNC, no MDB_WRITEMAP): write() of the pages, then fdatasync
//   SQLite   locking_mode=EXCLUSIVE, journal_mode=WAL, synchronous=FULL, a WITHOUT ROWID table keyed
//            by a BLOB, a prepared INSERT OR REPLACE between BEGIN IMMEDIATE and COMMIT
//   RocksDB  one WriteBatch written with WriteOptions::sync = true; otherwise default options
//
// Timing, --rounds times: commit latency and records/s for transactions of 1, 64 and 1024 random
// refreshes of existing keys in a store of --small and of --big records, the candidates taking turns
// commit by commit; the bytes on disk per record as left after the writes (store still open: SQLite's
// -wal and RocksDB's WAL included); the time to open the closed store and read all its records, with the
// directory's pages first dropped from the page cache (cold) and again at once (warm), the candidates
// one after the other in an order that rotates. The --big stores are loaded once, before the rounds.
//
// Robustness: a store of --robust-records records, copied; in each copy one byte of a file is flipped
// (at --flips evenly spread offsets) or the file is truncated (at --truncs offsets); a child process
// (fork + exec of this program, so that no library's state is inherited half-way) opens the copy as the
// daemon would (read-write, create if missing) and reads everything. Its outcome: a clean error, all
// records intact, wrong data (records missing or not as written, no error), a crash (signal), or hung
// (killed after --hang-s). The main data file is LMDB's data.mdb, SQLite's database after a clean close
// (checkpointed) and RocksDB's table file after a flush; the log file is SQLite's -wal and RocksDB's
// WAL as a power cut would leave them (copied while the store is open, after a synced commit).
//
// Run it on a real disk: on tmpfs a sync costs nothing and the figures mean nothing.
#include <fcntl.h>
#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr size_t kKeyLen = 16;
constexpr size_t kValLen = 96;
constexpr size_t kHashAt = kValLen - 8;

struct Record {
    uint8_t key[kKeyLen];
    uint8_t val[kValLen];
};

uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t fnv1a(const uint8_t* p, size_t n, uint64_t h = 0xcbf29ce484222325ULL)
{
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

void put_le64(uint8_t* p, uint64_t v)
{
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t get_le64(const uint8_t* p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

// Home addresses share one /64 (as a home network's do); the interface identifier is a bijection of
// the binding's index, so keys are distinct and arrive in random key order.
void make_key(uint64_t index, uint8_t* key)
{
    static constexpr uint8_t kPrefix[8] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0xaa, 0x00, 0x00};
    std::memcpy(key, kPrefix, 8);
    const uint64_t iid = splitmix64(index);
    for (int i = 0; i < 8; ++i) key[8 + i] = static_cast<uint8_t>(iid >> (56 - 8 * i));
}

void make_record(uint64_t index, uint32_t version, Record& r)
{
    make_key(index, r.key);
    put_le64(r.val, index);
    for (int i = 0; i < 4; ++i) r.val[8 + i] = static_cast<uint8_t>(version >> (8 * i));
    uint64_t s = splitmix64(index * 0x100000001ULL ^ version);
    for (size_t i = 12; i < kHashAt; i += 8) {
        s = splitmix64(s);
        for (size_t j = 0; j < 8 && i + j < kHashAt; ++j) r.val[i + j] = static_cast<uint8_t>(s >> (8 * j));
    }
    put_le64(r.val + kHashAt, fnv1a(r.val, kHashAt, fnv1a(r.key, kKeyLen)));
}

// True when the record is one this program wrote for an index below `records`.
bool record_ok(const uint8_t* k, size_t klen, const uint8_t* v, size_t vlen, uint64_t records)
{
    if (klen != kKeyLen || vlen != kValLen) return false;
    if (get_le64(v + kHashAt) != fnv1a(v, kHashAt, fnv1a(k, kKeyLen))) return false;
    const uint64_t index = get_le64(v);
    if (index >= records) return false;
    uint8_t want[kKeyLen];
    make_key(index, want);
    return std::memcmp(want, k, kKeyLen) == 0;
}

using ScanFn = std::function<void(const uint8_t*, size_t, const uint8_t*, size_t)>;

class Store {
public:
    virtual ~Store() = default;
    // Opens the store in `dir` (an existing directory), creating it when missing, as the daemon would.
    virtual bool open(const std::string& dir, std::string& err) = 0;
    // One durable transaction.
    virtual bool commit(const Record* recs, size_t n, std::string& err) = 0;
    virtual bool scan(const ScanFn& fn, std::string& err) = 0;
    // Leaves the data in the main data file, where the robustness test corrupts it.
    virtual bool settle(std::string&) { return true; }
    virtual void close() = 0;
    // Bytes of the pages the B-tree uses now (below the file's high-water mark); negative when not a B-tree.
    virtual double live_bytes() { return -1; }
    // False for the append log, which keeps every version of a record.
    virtual bool is_map() const { return true; }
};

class LmdbStore final : public Store {
public:
    explicit LmdbStore(size_t map_bytes) : map_bytes_(map_bytes) {}
    ~LmdbStore() override { close(); }

    bool open(const std::string& dir, std::string& err) override
    {
        int rc = mdb_env_create(&env_);
        if (rc == 0) rc = mdb_env_set_mapsize(env_, map_bytes_);
        if (rc == 0) rc = mdb_env_open(env_, dir.c_str(), 0, 0644);
        MDB_txn* txn = nullptr;
        if (rc == 0) rc = mdb_txn_begin(env_, nullptr, 0, &txn);
        if (rc == 0) {
            rc = mdb_dbi_open(txn, nullptr, 0, &dbi_);
            if (rc == 0) rc = mdb_txn_commit(txn);
            else mdb_txn_abort(txn);
        }
        if (rc != 0) {
            err = mdb_strerror(rc);
            close();
            return false;
        }
        return true;
    }

    bool commit(const Record* recs, size_t n, std::string& err) override
    {
        MDB_txn* txn = nullptr;
        int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
        for (size_t i = 0; rc == 0 && i < n; ++i) {
            MDB_val k{kKeyLen, const_cast<uint8_t*>(recs[i].key)};
            MDB_val v{kValLen, const_cast<uint8_t*>(recs[i].val)};
            rc = mdb_put(txn, dbi_, &k, &v, 0);
        }
        if (rc == 0) {
            rc = mdb_txn_commit(txn);
        } else if (txn) {
            mdb_txn_abort(txn);
        }
        if (rc != 0) err = mdb_strerror(rc);
        return rc == 0;
    }

    bool scan(const ScanFn& fn, std::string& err) override
    {
        MDB_txn* txn = nullptr;
        MDB_cursor* cur = nullptr;
        int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
        if (rc == 0) rc = mdb_cursor_open(txn, dbi_, &cur);
        MDB_val k, v;
        if (rc == 0) {
            for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
                fn(static_cast<const uint8_t*>(k.mv_data), k.mv_size, static_cast<const uint8_t*>(v.mv_data),
                   v.mv_size);
            if (rc == MDB_NOTFOUND) rc = 0;
        }
        if (cur) mdb_cursor_close(cur);
        if (txn) mdb_txn_abort(txn);
        if (rc != 0) err = mdb_strerror(rc);
        return rc == 0;
    }

    double live_bytes() override
    {
        MDB_txn* txn = nullptr;
        MDB_stat st{};
        if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) != 0) return -1;
        const int rc = mdb_stat(txn, dbi_, &st);
        mdb_txn_abort(txn);
        if (rc != 0) return -1;
        return static_cast<double>(st.ms_psize) *
               static_cast<double>(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages);
    }

    void close() override
    {
        if (env_) mdb_env_close(env_);
        env_ = nullptr;
    }

private:
    size_t map_bytes_;
    MDB_env* env_ = nullptr;
    MDB_dbi dbi_{};
};

class SqliteStore final : public Store {
public:
    ~SqliteStore() override { close(); }

    bool open(const std::string& dir, std::string& err) override
    {
        const std::string path = dir + "/bindings.db";
        if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK)
            return fail(err);
        // Exclusive before WAL: the WAL index then lives in the heap, with no -shm file.
        std::string mode;
        if (!exec("PRAGMA locking_mode=EXCLUSIVE", nullptr) || !exec("PRAGMA journal_mode=WAL", &mode) ||
            !exec("PRAGMA synchronous=FULL", nullptr) ||
            !exec("CREATE TABLE IF NOT EXISTS bindings(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
                  nullptr))
            return fail(err);
        if (mode != "wal") {
            err = "journal_mode is " + mode + ", not wal";
            close();
            return false;
        }
        if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO bindings(k, v) VALUES(?1, ?2)", -1, &put_, nullptr) !=
                SQLITE_OK ||
            sqlite3_prepare_v2(db_, "BEGIN IMMEDIATE", -1, &begin_, nullptr) != SQLITE_OK ||
            sqlite3_prepare_v2(db_, "COMMIT", -1, &commit_, nullptr) != SQLITE_OK)
            return fail(err);
        return true;
    }

    bool commit(const Record* recs, size_t n, std::string& err) override
    {
        if (!step_done(begin_)) return error(err);
        for (size_t i = 0; i < n; ++i) {
            sqlite3_bind_blob(put_, 1, recs[i].key, kKeyLen, SQLITE_STATIC);
            sqlite3_bind_blob(put_, 2, recs[i].val, kValLen, SQLITE_STATIC);
            if (!step_done(put_)) {
                error(err);
                exec("ROLLBACK", nullptr);
                return false;
            }
        }
        if (!step_done(commit_)) {
            error(err);
            exec("ROLLBACK", nullptr);
            return false;
        }
        return true;
    }

    bool scan(const ScanFn& fn, std::string& err) override
    {
        sqlite3_stmt* q = nullptr;
        if (sqlite3_prepare_v2(db_, "SELECT k, v FROM bindings", -1, &q, nullptr) != SQLITE_OK) return error(err);
        int rc;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW)
            fn(static_cast<const uint8_t*>(sqlite3_column_blob(q, 0)), static_cast<size_t>(sqlite3_column_bytes(q, 0)),
               static_cast<const uint8_t*>(sqlite3_column_blob(q, 1)), static_cast<size_t>(sqlite3_column_bytes(q, 1)));
        if (rc != SQLITE_DONE) error(err);
        sqlite3_finalize(q);
        return rc == SQLITE_DONE;
    }

    double live_bytes() override
    {
        std::string pages, free_pages, page_size;
        if (!exec("PRAGMA page_count", &pages) || !exec("PRAGMA freelist_count", &free_pages) ||
            !exec("PRAGMA page_size", &page_size))
            return -1;
        return (std::stod(pages) - std::stod(free_pages)) * std::stod(page_size);
    }

    void close() override
    {
        for (sqlite3_stmt** s : {&put_, &begin_, &commit_}) {
            if (*s) sqlite3_finalize(*s);
            *s = nullptr;
        }
        if (db_) sqlite3_close(db_);
        db_ = nullptr;
    }

private:
    bool error(std::string& err)
    {
        err = db_ ? sqlite3_errmsg(db_) : "out of memory";
        return false;
    }
    bool fail(std::string& err)
    {
        error(err);
        close();
        return false;
    }
    bool step_done(sqlite3_stmt* s)
    {
        const int rc = sqlite3_step(s);
        sqlite3_reset(s);
        return rc == SQLITE_DONE;
    }
    bool exec(const char* sql, std::string* first_column)
    {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return false;
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW)
            if (first_column && sqlite3_column_text(s, 0))
                *first_column = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
        return rc == SQLITE_DONE;
    }

    sqlite3* db_ = nullptr;
    sqlite3_stmt* put_ = nullptr;
    sqlite3_stmt* begin_ = nullptr;
    sqlite3_stmt* commit_ = nullptr;
};

class RocksStore final : public Store {
public:
    explicit RocksStore(rocksdb::WALRecoveryMode mode) : mode_(mode) {}
    ~RocksStore() override { close(); }

    bool open(const std::string& dir, std::string& err) override
    {
        rocksdb::Options options;
        options.create_if_missing = true;
        options.wal_recovery_mode = mode_;
        rocksdb::DB* db = nullptr;
        const rocksdb::Status s = rocksdb::DB::Open(options, dir, &db);
        if (!s.ok()) {
            err = s.ToString();
            return false;
        }
        db_.reset(db);
        return true;
    }

    bool commit(const Record* recs, size_t n, std::string& err) override
    {
        rocksdb::WriteBatch batch;
        for (size_t i = 0; i < n; ++i)
            batch.Put(rocksdb::Slice(reinterpret_cast<const char*>(recs[i].key), kKeyLen),
                      rocksdb::Slice(reinterpret_cast<const char*>(recs[i].val), kValLen));
        rocksdb::WriteOptions wo;
        wo.sync = true;
        const rocksdb::Status s = db_->Write(wo, &batch);
        if (!s.ok()) err = s.ToString();
        return s.ok();
    }

    bool scan(const ScanFn& fn, std::string& err) override
    {
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
        for (it->SeekToFirst(); it->Valid(); it->Next())
            fn(reinterpret_cast<const uint8_t*>(it->key().data()), it->key().size(),
               reinterpret_cast<const uint8_t*>(it->value().data()), it->value().size());
        if (!it->status().ok()) err = it->status().ToString();
        return it->status().ok();
    }

    bool settle(std::string& err) override
    {
        const rocksdb::Status s = db_->Flush(rocksdb::FlushOptions());
        if (!s.ok()) err = s.ToString();
        return s.ok();
    }

    void close() override
    {
        if (db_) db_->Close();
        db_.reset();
    }

private:
    rocksdb::WALRecoveryMode mode_;
    std::unique_ptr<rocksdb::DB> db_;
};

// The baseline: records appended to one file, one write() and one fdatasync per commit.
class AppendLog final : public Store {
public:
    ~AppendLog() override { close(); }

    bool open(const std::string& dir, std::string& err) override
    {
        path_ = dir + "/log";
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0) err = std::strerror(errno);
        return fd_ >= 0;
    }

    bool commit(const Record* recs, size_t n, std::string& err) override
    {
        const size_t bytes = n * sizeof(Record);
        const ssize_t w = ::write(fd_, recs, bytes);
        if (w != static_cast<ssize_t>(bytes) || ::fdatasync(fd_) != 0) {
            err = std::strerror(errno);
            return false;
        }
        return true;
    }

    bool scan(const ScanFn& fn, std::string& err) override
    {
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            err = std::strerror(errno);
            return false;
        }
        std::vector<Record> buf(8192);
        ssize_t got;
        while ((got = ::read(fd, buf.data(), buf.size() * sizeof(Record))) > 0) {
            for (size_t i = 0; i < static_cast<size_t>(got) / sizeof(Record); ++i)
                fn(buf[i].key, kKeyLen, buf[i].val, kValLen);
        }
        if (got < 0) err = std::strerror(errno);
        ::close(fd);
        return got == 0;
    }

    void close() override
    {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    bool is_map() const override { return false; }

private:
    std::string path_;
    int fd_ = -1;
};

struct Options {
    std::string dir = "/var/tmp/nemo-cand";
    int rounds = 3;
    uint64_t small = 1000;
    uint64_t big = 1000000;
    int commits[3] = {200, 100, 30};  // for B = 1, 64, 1024
    uint64_t robust_records = 10000;
    int flips = 200;
    int truncs = 50;
    double hang_s = 5;
    bool timing = true;
    bool robust = true;
    bool keep = false;
    std::vector<std::string> only;  // empty: all
    size_t lmdb_map_bytes = size_t{4} << 30;
};

constexpr size_t kBatches[3] = {1, 64, 1024};
const char* const kCandidates[] = {"append-log", "lmdb", "sqlite-wal", "rocksdb"};
// The robustness test's: the three, and RocksDB's other WAL recovery modes (on the damaged WAL only).
const char* const kRobustCandidates[] = {"lmdb", "sqlite-wal", "rocksdb", "rocksdb/tail", "rocksdb/absolute"};

std::unique_ptr<Store> make_store(const std::string& name, const Options& opt)
{
    if (name == "lmdb") return std::make_unique<LmdbStore>(opt.lmdb_map_bytes);
    if (name == "sqlite-wal") return std::make_unique<SqliteStore>();
    if (name == "rocksdb") return std::make_unique<RocksStore>(rocksdb::WALRecoveryMode::kPointInTimeRecovery);
    // Variants for the WAL-damage test only: what the recovery mode changes when the log is damaged.
    if (name == "rocksdb/tail")
        return std::make_unique<RocksStore>(rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords);
    if (name == "rocksdb/absolute") return std::make_unique<RocksStore>(rocksdb::WALRecoveryMode::kAbsoluteConsistency);
    if (name == "append-log") return std::make_unique<AppendLog>();
    return nullptr;
}

[[noreturn]] void die(const std::string& what)
{
    std::fprintf(stderr, "store_candidates_bench: %s\n", what.c_str());
    std::exit(1);
}

double now_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double quantile(std::vector<double> v, double q)
{
    std::sort(v.begin(), v.end());
    const size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
}

double median(const std::vector<double>& v)
{
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    const size_t n = s.size();
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

struct Scan {
    uint64_t records = 0;
    uint64_t bad = 0;
};

// Reads every record, counting those not as written and, for a map, keys out of strict order.
bool scan_all(Store& s, uint64_t records, Scan& out, std::string& err)
{
    uint8_t prev[kKeyLen];
    const bool ordered = s.is_map();
    return s.scan(
        [&](const uint8_t* k, size_t kl, const uint8_t* v, size_t vl) {
            bool ok = record_ok(k, kl, v, vl, records);
            if (ok && ordered && out.records > 0 && std::memcmp(prev, k, kKeyLen) >= 0) ok = false;
            if (ok) std::memcpy(prev, k, kKeyLen);
            out.bad += !ok;
            ++out.records;
        },
        err);
}

struct DiskUse {
    uint64_t allocated = 0;
    uint64_t apparent = 0;
    uint64_t log_apparent = 0;  // SQLite's -wal, RocksDB's *.log
};

DiskUse disk_use(const std::string& dir)
{
    DiskUse u;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        struct stat st;
        if (e.is_regular_file() && ::stat(e.path().c_str(), &st) == 0) {
            u.allocated += static_cast<uint64_t>(st.st_blocks) * 512;
            u.apparent += static_cast<uint64_t>(st.st_size);
            const std::string f = e.path().filename();
            if (e.path().extension() == ".log" || (f.size() > 4 && f.compare(f.size() - 4, 4, "-wal") == 0))
                u.log_apparent += static_cast<uint64_t>(st.st_size);
        }
    }
    return u;
}

// Drops the directory's pages from the page cache (written back first: dirty pages stay), so that the
// next open reads from the disk; returns the fraction of its pages still resident afterwards.
double evict(const std::string& dir)
{
    uint64_t pages = 0, resident = 0;
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    for (const auto& e : fs::directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ::fsync(fd);
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        struct stat st;
        if (::fstat(fd, &st) == 0 && st.st_size > 0) {
            const size_t len = static_cast<size_t>(st.st_size);
            void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
            if (m != MAP_FAILED) {
                std::vector<unsigned char> vec((len + page - 1) / page);
                if (::mincore(m, len, vec.data()) == 0)
                    for (unsigned char c : vec) resident += c & 1;
                pages += vec.size();
                ::munmap(m, len);
            }
        }
        ::close(fd);
    }
    return pages ? static_cast<double>(resident) / static_cast<double>(pages) : 0;
}

void make_dir(const std::string& dir)
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) die("cannot create " + dir + ": " + ec.message());
}

void fill(Store& s, uint64_t from, uint64_t to, size_t batch)
{
    std::vector<Record> recs(batch);
    std::string err;
    for (uint64_t i = from; i < to;) {
        size_t n = 0;
        for (; n < batch && i < to; ++n, ++i) make_record(i, 0, recs[n]);
        if (!s.commit(recs.data(), n, err)) die("load: " + err);
    }
}

// ---------------------------------------------------------------- timing

// One value per round for each metric, printed in the order first measured.
struct Metrics {
    std::vector<std::string> order;
    std::map<std::string, std::vector<double>> values;
    void add(const std::string& metric, double v)
    {
        if (!values.count(metric)) order.push_back(metric);
        values[metric].push_back(v);
    }
};

// What a sync costs on this disk without any database: 112 B appended, and 4 KiB overwritten in place,
// each followed by fdatasync.
void sync_probe(const std::string& dir, int commits, Metrics& m)
{
    const std::string path = dir + "/probe";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die("probe: " + std::string(std::strerror(errno)));
    std::vector<uint8_t> buf(4096, 0x5a);
    for (int overwrite = 0; overwrite < 2; ++overwrite) {
        std::vector<double> lat;
        for (int c = 0; c < commits; ++c) {
            const double t0 = now_s();
            const ssize_t w = overwrite ? ::pwrite(fd, buf.data(), buf.size(), 0) : ::write(fd, buf.data(), sizeof(Record));
            if (w < 0 || ::fdatasync(fd) != 0) die("probe: " + std::string(std::strerror(errno)));
            lat.push_back(now_s() - t0);
        }
        const std::string tag = overwrite ? "overwrite 4 KiB + fdatasync" : "append 112 B + fdatasync";
        m.add(tag + " median ms", 1e3 * median(lat));
        m.add(tag + " p99 ms", 1e3 * quantile(lat, 0.99));
    }
    ::close(fd);
    fs::remove(path);
}

struct Candidate {
    std::string name;
    std::unique_ptr<Store> store;
    Metrics* metrics = nullptr;
};

// Transactions of kBatches[phase] random refreshes, the same ones for every candidate. The candidates
// take turns commit by commit (in an order that rotates), so that all of them meet the same disk: this
// VM's sync cost drifts between ~0.3 and ~4 ms from one minute to the next.
void refresh_phase(std::vector<Candidate>& cands, uint64_t records, int phase, const Options& opt, uint64_t& seed,
                   uint32_t& version, const std::string& at)
{
    const size_t b = kBatches[phase];
    const size_t commits = static_cast<size_t>(opt.commits[phase]);
    const size_t n = cands.size();
    std::vector<Record> recs(b * commits);
    for (auto& r : recs) make_record((seed = splitmix64(seed)) % records, ++version, r);
    std::vector<std::vector<double>> lat(n);
    std::string err;
    for (size_t c = 0; c < commits; ++c) {
        for (size_t j = 0; j < n; ++j) {
            const size_t k = (j + c) % n;
            const double t0 = now_s();
            if (!cands[k].store->commit(recs.data() + b * c, b, err)) die(cands[k].name + " commit: " + err);
            lat[k].push_back(now_s() - t0);
        }
    }
    const std::string tag = "B=" + std::to_string(b) + " @" + at;
    for (size_t k = 0; k < n; ++k) {
        double total = 0;
        for (double t : lat[k]) total += t;
        Metrics& m = *cands[k].metrics;
        m.add(tag + " commit median ms", 1e3 * median(lat[k]));
        m.add(tag + " commit p99 ms", 1e3 * quantile(lat[k], 0.99));
        m.add(tag + " records/s", static_cast<double>(b * commits) / total);
    }
}

std::string big_dir(const std::string& name, const Options& opt) { return opt.dir + "/big-" + name; }

// The --big store is loaded once and reused by every round: loading a million records in random order
// costs tens of seconds, and it is not a cost the daemon pays (bindings arrive over time).
void load_big(const std::string& name, const Options& opt, Metrics& m)
{
    const std::string dir = big_dir(name, opt);
    make_dir(dir);
    std::unique_ptr<Store> s = make_store(name, opt);
    std::string err;
    if (!s->open(dir, err)) die(name + " open: " + err);
    const double t0 = now_s();
    fill(*s, 0, opt.big, 10000);
    m.add("load " + std::to_string(opt.big) + " once, 10k/commit s", now_s() - t0);
    s->close();
}

void open_all(std::vector<Candidate>& cands, const std::string& prefix, const Options& opt)
{
    std::string err;
    for (Candidate& c : cands) {
        const std::string dir = prefix + c.name;
        make_dir(dir);
        c.store = make_store(c.name, opt);
        if (!c.store->open(dir, err)) die(c.name + " open: " + err);
    }
}

void time_round(std::vector<Candidate>& cands, int round, const Options& opt)
{
    uint64_t seed = 0x5eed0000ULL + static_cast<uint64_t>(round);
    uint32_t version = 0x10000u * static_cast<uint32_t>(round + 1);
    const std::string small = std::to_string(opt.small), big = std::to_string(opt.big);

    open_all(cands, opt.dir + "/small-", opt);
    for (Candidate& c : cands) fill(*c.store, 0, opt.small, 1024);
    for (int p = 0; p < 3; ++p) refresh_phase(cands, opt.small, p, opt, seed, version, small);
    for (Candidate& c : cands) {
        c.store->close();
        fs::remove_all(opt.dir + "/small-" + c.name);
    }

    open_all(cands, opt.dir + "/big-", opt);
    for (int p = 0; p < 3; ++p) refresh_phase(cands, opt.big, p, opt, seed, version, big);
    const double n = static_cast<double>(opt.big);
    for (Candidate& c : cands) {
        const DiskUse u = disk_use(big_dir(c.name, opt));
        c.metrics->add("disk @" + big + " allocated B/record", static_cast<double>(u.allocated) / n);
        c.metrics->add("disk @" + big + " apparent B/record", static_cast<double>(u.apparent) / n);
        c.metrics->add("  of which WAL (-wal, *.log) B/record", static_cast<double>(u.log_apparent) / n);
        const double live = c.store->live_bytes();
        c.metrics->add("  B-tree pages in use B/record", live < 0 ? -1 : live / n);
        const double tc = now_s();
        c.store->close();
        c.metrics->add("close ms", 1e3 * (now_s() - tc));
    }

    // The reads one candidate at a time, in an order that rotates with the round.
    std::string err;
    for (size_t j = 0; j < cands.size(); ++j) {
        Candidate& c = cands[(j + static_cast<size_t>(round)) % cands.size()];
        const std::string dir = big_dir(c.name, opt);
        for (const char* temp : {"cold", "warm"}) {
            if (std::strcmp(temp, "cold") == 0) c.metrics->add("page cache left after eviction %", 100 * evict(dir));
            const double tr = now_s();
            if (!c.store->open(dir, err)) die(c.name + " reopen: " + err);
            Scan sc;
            if (!scan_all(*c.store, opt.big, sc, err)) die(c.name + " read: " + err);
            const double read_s = now_s() - tr;
            c.store->close();
            if (sc.bad || (c.store->is_map() && sc.records != opt.big))
                die(c.name + " read back " + std::to_string(sc.records) + " records, " + std::to_string(sc.bad) +
                    " bad");
            c.metrics->add(std::string(temp) + " open + read all " + big + " s", read_s);
        }
    }
}

std::string num(double v)
{
    char b[32];
    if (v < 0) return "n/a";
    if (v >= 1e6) std::snprintf(b, sizeof b, "%.3gM", v / 1e6);
    else if (v >= 1e3) std::snprintf(b, sizeof b, "%.3gk", v / 1e3);
    else std::snprintf(b, sizeof b, "%.3g", v);
    return b;
}

// One row per metric: median [min-max] over the rounds, and for every column but the first the median
// over rounds of its ratio to the first column in the same round.
void print_table(const std::vector<std::string>& columns, const std::map<std::string, Metrics>& all)
{
    const Metrics& first = all.at(columns[0]);
    std::printf("%-38s", "metric");
    for (const std::string& c : columns) std::printf(" | %-30s", c.c_str());
    std::printf("\n");
    for (const std::string& metric : first.order) {
        const std::vector<double>& baseline = first.values.at(metric);
        std::printf("%-38s", metric.c_str());
        for (const std::string& c : columns) {
            const std::vector<double>& v = all.at(c).values.at(metric);
            std::string cell = num(median(v)) + " [" + num(*std::min_element(v.begin(), v.end())) + "-" +
                               num(*std::max_element(v.begin(), v.end())) + "]";
            bool ratio = c != columns[0];
            std::vector<double> r;
            for (size_t i = 0; ratio && i < v.size(); ++i) {
                if (baseline[i] <= 0) ratio = false;
                else r.push_back(v[i] / baseline[i]);
            }
            if (ratio) cell += " (" + num(median(r)) + "x)";
            std::printf(" | %-30s", cell.c_str());
        }
        std::printf("\n");
    }
}

// ---------------------------------------------------------------- robustness

enum Outcome { kIntact, kWrong, kError, kCrash, kHung, kOther, kOutcomes };
const char* const kOutcomeNames[] = {"intact", "wrong data", "clean error", "crash", "hung", "other exit"};

// Exit codes of --child-read.
constexpr int kExitIntact = 0, kExitError = 3, kExitWrong = 4;

int child_read(const std::string& name, const std::string& dir, uint64_t records, const Options& opt)
{
    std::unique_ptr<Store> s = make_store(name, opt);
    if (!s) return 2;
    std::string err;
    try {
        if (!s->open(dir, err)) {
            std::fprintf(stderr, "open: %s\n", err.c_str());
            return kExitError;
        }
        Scan sc;
        if (!scan_all(*s, records, sc, err)) {
            std::fprintf(stderr, "read: %s\n", err.c_str());
            return kExitError;
        }
        s->close();
        if (sc.bad || sc.records != records) {
            std::fprintf(stderr, "read %" PRIu64 " records, %" PRIu64 " not as written\n", sc.records, sc.bad);
            return kExitWrong;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exception: %s\n", e.what());
        return kExitError;
    }
    return kExitIntact;
}

struct Tally {
    int n[kOutcomes] = {};
    std::map<std::string, int> signals;
    std::map<std::string, int> messages;  // first line of the child's output, digits folded
};

// First line of the child's output, with numbers folded so that like errors count together.
std::string first_line(const std::string& path)
{
    std::string line;
    if (FILE* f = std::fopen(path.c_str(), "r")) {
        int c;
        while ((c = std::fgetc(f)) != EOF && c != '\n' && line.size() < 200) line += static_cast<char>(c);
        std::fclose(f);
    }
    std::string out;
    for (char c : line) {
        if (c >= '0' && c <= '9') {
            if (out.empty() || out.back() != '#') out += '#';
        } else {
            out += c;
        }
    }
    return out.substr(0, 90);
}

Outcome run_child(const std::string& name, const std::string& dir, uint64_t records, const Options& opt, Tally& t)
{
    const std::string out = dir + ".out";
    const std::string recs = std::to_string(records);
    const std::string map_mib = std::to_string(opt.lmdb_map_bytes >> 20);
    const pid_t pid = ::fork();
    if (pid < 0) die("fork: " + std::string(std::strerror(errno)));
    if (pid == 0) {
        const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        const struct rlimit no_core = {0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);
        ::execl("/proc/self/exe", "store_candidates_bench", "--lmdb-map-mib", map_mib.c_str(), "--child-read",
                name.c_str(), dir.c_str(), recs.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int st = 0;
    const double deadline = now_s() + opt.hang_s;
    Outcome o = kOther;
    for (;;) {
        const pid_t w = ::waitpid(pid, &st, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) die("waitpid: " + std::string(std::strerror(errno)));
        if (now_s() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &st, 0);
            o = kHung;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (o != kHung) {
        if (WIFSIGNALED(st)) {
            o = kCrash;
            ++t.signals[sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?"];
        } else if (WIFEXITED(st)) {
            const int code = WEXITSTATUS(st);
            o = code == kExitIntact ? kIntact : code == kExitError ? kError : code == kExitWrong ? kWrong : kOther;
        }
    }
    if (o == kError || o == kWrong || o == kOther || o == kCrash) ++t.messages[first_line(out)];
    ++t.n[o];
    fs::remove(out);
    return o;
}

void copy_dir(const std::string& from, const std::string& to)
{
    std::error_code ec;
    fs::copy(from, to, fs::copy_options::recursive, ec);
    if (ec) die("copy " + from + ": " + ec.message());
}

// The file to damage: a fixed name, or the largest with the given extension (RocksDB's numbered files).
std::string target_file(const std::string& dir, const std::string& name)
{
    if (name[0] != '.') return dir + "/" + name;
    std::string best;
    uintmax_t best_size = 0;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == name && e.file_size() >= best_size) {
            best = e.path().filename();
            best_size = e.file_size();
        }
    if (best.empty()) die("no " + name + " file in " + dir);
    return dir + "/" + best;
}

struct Target {
    std::string label;  // "main file data.mdb" ...
    Tally flip, trunc;
    int pristine = kOther;
    uint64_t size = 0;
};

Target damage(const std::string& name, const std::string& snapshot, const std::string& file, const std::string& what,
              const Options& opt)
{
    Target t;
    const std::string rel = fs::path(target_file(snapshot, file)).filename();
    t.label = what + " " + (file[0] == '.' ? "*" + file : rel);
    t.size = fs::file_size(snapshot + "/" + rel);
    const std::string work = snapshot + "-case";
    Tally scratch;
    copy_dir(snapshot, work);
    t.pristine = run_child(name, work, opt.robust_records, opt, scratch);
    fs::remove_all(work);
    for (int k = 0; k < opt.flips + opt.truncs; ++k) {
        copy_dir(snapshot, work);
        const std::string path = work + "/" + rel;
        const bool flip = k < opt.flips;
        if (flip) {
            const off_t off = static_cast<off_t>((2 * static_cast<uint64_t>(k) + 1) * t.size / (2 * static_cast<uint64_t>(opt.flips)));
            const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
            uint8_t b;
            if (fd < 0 || ::pread(fd, &b, 1, off) != 1) die("read " + path);
            b ^= 0xff;
            if (::pwrite(fd, &b, 1, off) != 1) die("write " + path);
            ::close(fd);
        } else {
            const off_t off = static_cast<off_t>(static_cast<uint64_t>(k - opt.flips) * t.size / static_cast<uint64_t>(opt.truncs));
            if (::truncate(path.c_str(), off) != 0) die("truncate " + path);
        }
        run_child(name, work, opt.robust_records, opt, flip ? t.flip : t.trunc);
        fs::remove_all(work);
    }
    return t;
}

std::vector<Target> robust_candidate(const std::string& name, const Options& opt)
{
    std::string leaf = name;
    std::replace(leaf.begin(), leaf.end(), '/', '-');
    const std::string root = opt.dir + "/r-" + leaf;
    const bool variant = name.find('/') != std::string::npos;
    const std::string src = root + "/src", log_snap = root + "/log", main_snap = root + "/main";
    make_dir(src);
    std::unique_ptr<Store> s = make_store(name, opt);
    std::string err;
    if (!s->open(src, err)) die(name + " open: " + err);
    fill(*s, 0, opt.robust_records, 1024);
    std::vector<Target> out;
    // A copy taken while open after a synced commit is what a power cut leaves.
    const bool rocks = name.rfind("rocksdb", 0) == 0;
    const bool has_log = name == "sqlite-wal" || rocks;
    if (has_log) copy_dir(src, log_snap);
    if (!s->settle(err)) die(name + " settle: " + err);
    s->close();
    copy_dir(src, main_snap);
    const char* main_file = name == "lmdb" ? "data.mdb" : name == "sqlite-wal" ? "bindings.db" : ".sst";
    if (!variant) out.push_back(damage(name, main_snap, main_file, "main", opt));
    if (has_log) out.push_back(damage(name, log_snap, rocks ? ".log" : "bindings.db-wal", "log", opt));
    fs::remove_all(root);
    return out;
}

void print_robust(const std::map<std::string, std::vector<Target>>& all, const Options& opt)
{
    std::printf("\nRobustness: %" PRIu64 "-record store; one child process per damaged copy; --hang-s %.3g\n\n",
                opt.robust_records, opt.hang_s);
    std::printf("%-16s | %-28s | %-9s | %-8s | %5s", "db", "file (bytes)", "damage", "pristine", "cases");
    for (int o = 0; o < kOutcomes; ++o) std::printf(" | %-11s", kOutcomeNames[o]);
    std::printf(" | signals\n");
    for (const char* c : kRobustCandidates) {
        if (!all.count(c)) continue;
        for (const Target& t : all.at(c)) {
            for (const Tally* tl : {&t.flip, &t.trunc}) {
                int cases = 0;
                for (int o = 0; o < kOutcomes; ++o) cases += tl->n[o];
                std::string sigs;
                for (const auto& [sig, n] : tl->signals) sigs += "SIG" + sig + " " + std::to_string(n) + " ";
                const std::string file = t.label + " (" + std::to_string(t.size) + ")";
                std::printf("%-16s | %-28s | %-9s | %-8s | %5d", c, file.c_str(), tl == &t.flip ? "flip 1 B" : "truncate",
                            kOutcomeNames[t.pristine], cases);
                for (int o = 0; o < kOutcomes; ++o) std::printf(" | %-11d", tl->n[o]);
                std::printf(" | %s\n", sigs.c_str());
            }
        }
    }
    std::printf("\nWhat the children said (first line, numbers folded to #), with counts:\n");
    for (const char* c : kRobustCandidates) {
        if (!all.count(c)) continue;
        std::map<std::string, int> msgs;
        for (const Target& t : all.at(c))
            for (const Tally* tl : {&t.flip, &t.trunc})
                for (const auto& [m, n] : tl->messages) msgs[t.label + ": " + (m.empty() ? "(nothing)" : m)] += n;
        for (const auto& [m, n] : msgs) std::printf("  %-16s %4d  %s\n", c, n, m.c_str());
    }
}

// ---------------------------------------------------------------- main

uint64_t parse_u64(const char* s, const char* flag)
{
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s, &end, 10);
    if (errno || !end || *end || end == s || s[0] == '-') die(std::string("bad number for ") + flag);
    return v;
}

Options parse(int argc, char** argv, int& child_at)
{
    Options o;
    child_at = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) die("missing value for " + a);
            return argv[++i];
        };
        auto positive = [&](uint64_t max) {
            const char* flag = argv[i];
            const uint64_t v = parse_u64(next(), flag);
            if (v == 0 || v > max) die(std::string("out of range: ") + flag);
            return v;
        };
        if (a == "--child-read") {
            if (i + 3 >= argc) die("--child-read NAME DIR RECORDS");
            child_at = i + 1;
            break;
        }
        if (a == "--dir") o.dir = next();
        else if (a == "--rounds") o.rounds = static_cast<int>(positive(100));
        else if (a == "--small") o.small = positive(uint64_t{1} << 32);
        else if (a == "--big") o.big = positive(uint64_t{1} << 32);
        else if (a == "--commits1") o.commits[0] = static_cast<int>(positive(1000000));
        else if (a == "--commits64") o.commits[1] = static_cast<int>(positive(1000000));
        else if (a == "--commits1024") o.commits[2] = static_cast<int>(positive(1000000));
        else if (a == "--robust-records") o.robust_records = positive(uint64_t{1} << 32);
        else if (a == "--flips") o.flips = static_cast<int>(positive(100000));
        else if (a == "--truncs") o.truncs = static_cast<int>(positive(100000));
        else if (a == "--hang-s") o.hang_s = static_cast<double>(positive(3600));
        else if (a == "--lmdb-map-mib") o.lmdb_map_bytes = static_cast<size_t>(positive(uint64_t{1} << 24)) << 20;
        else if (a == "--no-timing") o.timing = false;
        else if (a == "--no-robust") o.robust = false;
        else if (a == "--keep") o.keep = true;
        else if (a == "--only") {
            std::string list = next();
            for (size_t at = 0; at <= list.size();) {
                const size_t comma = std::min(list.find(',', at), list.size());
                o.only.push_back(list.substr(at, comma - at));
                if (!make_store(o.only.back(), o)) die("--only: no candidate " + o.only.back());
                at = comma + 1;
            }
        }
        else die("unknown argument " + a + " (see the comment at the top of bench/store_candidates_bench.cpp)");
    }
    if (o.big < o.small) die("--big must be at least --small");
    return o;
}

}  // namespace

int main(int argc, char** argv)
{
    int child_at = 0;
    const Options opt = parse(argc, argv, child_at);
    if (child_at)
        return child_read(argv[child_at], argv[child_at + 1], parse_u64(argv[child_at + 2], "--child-read"), opt);

    // Refuse a directory that is there already: it is removed at the end.
    if (fs::exists(opt.dir)) die(opt.dir + " exists; remove it or choose another --dir");
    make_dir(opt.dir);
    struct statfs sf;
    if (::statfs(opt.dir.c_str(), &sf) == 0 && sf.f_type == 0x01021994 /* TMPFS_MAGIC */)
        std::fprintf(stderr, "warning: %s is on tmpfs: syncs cost nothing there\n", opt.dir.c_str());
    std::printf("store_candidates_bench: %s; LMDB %s, SQLite %s, RocksDB %d.%d.%d\n", opt.dir.c_str(),
                MDB_VERSION_STRING, sqlite3_libversion(), ROCKSDB_MAJOR, ROCKSDB_MINOR, ROCKSDB_PATCH);
    const double t_start = now_s();

    auto chosen = [&](const char* c) {
        return opt.only.empty() || std::find(opt.only.begin(), opt.only.end(), c) != opt.only.end();
    };
    if (opt.timing) {
        std::vector<std::string> cands;
        for (const char* c : kCandidates)
            if (chosen(c)) cands.push_back(c);
        std::map<std::string, Metrics> all, probe;
        for (const std::string& c : cands) {
            const double t0 = now_s();
            load_big(c, opt, all[c]);
            std::printf("load    %-10s %6.1f s\n", c.c_str(), now_s() - t0);
            std::fflush(stdout);
        }
        std::vector<Candidate> open;
        for (const std::string& c : cands) open.push_back({c, nullptr, &all[c]});
        for (int r = 0; r < opt.rounds; ++r) {
            const double t0 = now_s();
            sync_probe(opt.dir, opt.commits[0], probe["disk"]);
            time_round(open, r, opt);
            std::printf("round %d %6.1f s\n", r + 1, now_s() - t0);
            std::fflush(stdout);
        }
        std::printf("\nSync on this disk, no database (once per round, before the candidates): median [min-max]\n\n");
        print_table({"disk"}, probe);
        std::printf("\nTiming: median [min-max] over %d rounds, candidates in turn; (x) is the median over rounds of "
                    "the ratio to %s in the same round\n\n",
                    opt.rounds, cands[0].c_str());
        print_table(cands, all);
        for (const std::string& c : cands) fs::remove_all(big_dir(c, opt));
    }
    if (opt.robust) {
        std::map<std::string, std::vector<Target>> all;
        for (const char* c : kRobustCandidates) {
            if (!chosen(c)) continue;
            const double t0 = now_s();
            all[c] = robust_candidate(c, opt);
            std::printf("robustness %-16s %6.1f s\n", c, now_s() - t0);
            std::fflush(stdout);
        }
        print_robust(all, opt);
    }
    std::printf("\ntotal %.0f s\n", now_s() - t_start);
    if (!opt.keep) fs::remove_all(opt.dir);
    return 0;
}
