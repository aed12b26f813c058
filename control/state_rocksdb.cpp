#include "state_rocksdb.hpp"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include "bytes.hpp"
#include "state_dir.hpp"
#include "state_salvage.hpp"

namespace nemo::control {

namespace {

// Keys: a table's letter, then its key (a home address, or an SPI in network order).
constexpr char kBinding = 'b', kMr = 'm', kSa = 's', kSeq = 'q';
const std::string kMetaKey = std::string("\0format", 7);
const std::string kMetaMagic = "nemo-ha-state";

std::string key6(char table, const Ipv6Addr& a)
{
    std::string k(17, table);
    std::memcpy(k.data() + 1, a.bytes.data(), 16);
    return k;
}

std::string key_spi(char table, uint32_t spi)
{
    std::string k(5, table);
    wire::store_be32(reinterpret_cast<uint8_t*>(k.data() + 1), spi);
    return k;
}

std::string meta_value()
{
    std::string v = kMetaMagic + std::string(4, '\0');
    wire::store_be32(reinterpret_cast<uint8_t*>(v.data() + kMetaMagic.size()), kRocksStateFormat);
    return v;
}

// RocksDB's own recovery from a full disk waits for as much free space as a memtable can hold (64 MB)
// and looks every 5 s; while it is under way DB::Resume() answers busy, so a disk with less free than
// that never resumed. The store retries every second, and commit() resumes: RocksDB's is turned off.
class OwnResume final : public rocksdb::EventListener {
public:
    void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status, bool* auto_recovery) override
    {
        *auto_recovery = false;
    }
};

rocksdb::Options db_options()
{
    rocksdb::Options o;
    o.create_if_missing = true;
    o.paranoid_checks = true;
    // A torn last log record is a write that never returned (no BA named it): dropped. Any other damaged
    // record is an error, not a silent stop of the replay (RocksDB's default would drop the rest).
    o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    // Two cores here, and DPDK's workers own the others: one flush and one compaction thread, at low
    // CPU priority, and little of RocksDB's own logging in the state directory.
    o.max_background_jobs = 2;
    o.env->SetBackgroundThreads(1, rocksdb::Env::LOW);
    o.env->SetBackgroundThreads(1, rocksdb::Env::HIGH);
    o.env->LowerThreadPoolCPUPriority(rocksdb::Env::LOW);
    o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
    o.keep_log_file_num = 2;
    o.max_log_file_size = 1 << 20;
    // The store is written all the time and read once, at start: a memtable that appends (and sorts
    // when it is flushed, on RocksDB's thread) rather than a skip list the writer walks at every insert
    // (half the writer's time at a million bindings).
    o.memtable_factory.reset(new rocksdb::VectorRepFactory());
    o.allow_concurrent_memtable_write = false;
    o.listeners.push_back(std::make_shared<OwnResume>());
    o.compression = rocksdb::kNoCompression; // records are small and mostly addresses: CPU better spent elsewhere
    return o;
}

uint64_t dir_bytes(const std::string& dir)
{
    std::error_code ec;
    uint64_t total = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.is_regular_file(ec)) total += e.file_size(ec);
    return total;
}

class RocksState final : public SalvageableBackend {
public:
    RocksState(const std::string& dir, int lock_fd) : path_(dir + "/db"), lock_fd_(lock_fd) {}
    ~RocksState() override
    {
        close_db();
        if (lock_fd_ >= 0) ::close(lock_fd_);
    }

    // Opens the database; *damaged (and false) when RocksDB reports damage, *error for anything else.
    bool open_db(bool* damaged, std::string* error) override;
    bool load(StateImage* image, bool* damaged, std::string* error) override;
    void close_db() override
    {
        if (db_) db_->Close();
        db_.reset();
    }
    std::optional<std::string> move_aside(std::string* error) override
    {
        // A name of its own: salvages in one second (a start retried at once) keep every damaged copy.
        const std::string base = path_ + ".damaged-" + std::to_string(wall_seconds());
        std::string aside = base;
        for (int n = 2; ::access(aside.c_str(), F_OK) == 0; ++n) aside = base + "." + std::to_string(n);
        if (::rename(path_.c_str(), aside.c_str()) != 0) {
            *error = path_ + ": damaged, and cannot be moved aside: " + std::strerror(errno);
            return std::nullopt;
        }
        return aside;
    }
    StateImage recover(const std::string& aside, StateImage&& read) override;

    std::optional<CommitError> commit(const StateBatch& b) override;
    uint64_t size_bytes() const override { return dir_bytes(path_); }
    const std::string& path() const override { return path_; }
    const char* name() const override { return "rocksdb"; }

private:
    std::string path_;
    int lock_fd_ = -1;
    std::unique_ptr<rocksdb::DB> db_;
    bool failed_ = false; // the last write failed: RocksDB stops writes until resumed
    rocksdb::WriteBatch batch_;
};

bool RocksState::open_db(bool* damaged, std::string* error)
{
    *damaged = false;
    struct stat st{};
    const bool existed = ::stat((path_ + "/CURRENT").c_str(), &st) == 0;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options(), path_, &raw);
    if (!s.ok()) {
        // A file of the store that is not there (CURRENT naming no MANIFEST) is damage too.
        if (s.IsCorruption() || (existed && s.IsPathNotFound())) return *damaged = true, false;
        *error = path_ + ": cannot open: " + s.ToString();
        return false;
    }
    db_.reset(raw);
    std::string meta;
    s = db_->Get(rocksdb::ReadOptions(), kMetaKey, &meta);
    if (s.IsNotFound()) {
        rocksdb::Iterator* any = db_->NewIterator(rocksdb::ReadOptions());
        any->SeekToFirst();
        const bool empty = !any->Valid() && any->status().ok();
        delete any;
        if (existed && !empty) {
            *error = path_ + ": a RocksDB database that is not nemo-ha's state (no format key); move it away or set another state.dir";
            return false;
        }
        rocksdb::WriteOptions wo;
        wo.sync = true;
        s = db_->Put(wo, kMetaKey, meta_value());
        if (!s.ok()) {
            *error = path_ + ": cannot write: " + s.ToString();
            return false;
        }
        return true;
    }
    if (!s.ok()) {
        if (s.IsCorruption()) return *damaged = true, false;
        *error = path_ + ": cannot read: " + s.ToString();
        return false;
    }
    if (meta.size() != kMetaMagic.size() + 4 || meta.compare(0, kMetaMagic.size(), kMetaMagic) != 0) {
        *error = path_ + ": not nemo-ha's state (unknown format key); move it away or set another state.dir";
        return false;
    }
    const uint32_t format = wire::load_be32(reinterpret_cast<const uint8_t*>(meta.data() + kMetaMagic.size()));
    if (format != kRocksStateFormat) {
        *error = path_ + ": state of format " + std::to_string(format) + ", this nemo-ha reads format " +
                 std::to_string(kRocksStateFormat) + (format < kRocksStateFormat ? " (an older nemo-ha wrote it" : " (a newer nemo-ha wrote it") +
                 "); nothing was changed: start the nemo-ha that wrote it, or move the directory away to start empty";
        return false;
    }
    return true;
}

bool RocksState::load(StateImage* image, bool* damaged, std::string* error)
{
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    std::vector<std::string> bad;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const rocksdb::Slice k = it->key();
        if (k == kMetaKey) continue;
        const rocksdb::Slice v = it->value();
        const std::span<const uint8_t> rec(reinterpret_cast<const uint8_t*>(v.data()), v.size());
        const auto* kb = reinterpret_cast<const uint8_t*>(k.data());
        std::string why;
        bool ok = false;
        if (k.size() == 17 && (k[0] == kBinding || k[0] == kMr)) {
            const Ipv6Addr hoa = Ipv6Addr::from_bytes(kb + 1);
            if (k[0] == kBinding) {
                if (auto b = decode_binding(rec, &why); b && b->binding.hoa == hoa) {
                    image->bindings.push_back(std::move(*b));
                    ok = true;
                } else if (b) {
                    why = "binding record under another home address's key";
                }
            } else if (auto c = decode_mr_change(rec, &why); c && c->mr.hoa == hoa) {
                image->mrs.push_back(std::move(*c));
                ok = true;
            } else if (c) {
                why = "operator change under another key";
            }
        } else if (k.size() == 5 && (k[0] == kSa || k[0] == kSeq)) {
            const uint32_t spi = wire::load_be32(kb + 1);
            if (k[0] == kSa) {
                if (auto c = decode_sa_change(rec, &why); c && c->sa.spi == spi) {
                    image->sas.push_back(std::move(*c));
                    ok = true;
                } else if (c) {
                    why = "SA change under another SPI";
                }
            } else if (auto r = decode_seq(rec, &why)) {
                image->seqs[spi] = *r;
                ok = true;
            }
        } else {
            why = "a key of no table";
        }
        if (!ok) {
            ++image->damaged;
            if (image->damage.size() < kMaxDamageMessages) image->damage.push_back(why);
            bad.push_back(k.ToString());
        }
    }
    const rocksdb::Status s = it->status();
    it.reset();
    if (!s.ok()) {
        if (s.IsCorruption()) *damaged = true;
        else *error = path_ + ": cannot read: " + s.ToString();
        return false;
    }
    if (bad.empty()) return true;
    // Damaged records go (they were counted and reported): a restart does not count them again.
    rocksdb::WriteBatch wb;
    for (const std::string& k : bad) wb.Delete(k);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (auto w = db_->Write(wo, &wb); !w.ok()) {
        *error = path_ + ": cannot remove damaged records: " + w.ToString();
        return false;
    }
    return true;
}

std::optional<StateBackend::CommitError> RocksState::commit(const StateBatch& b)
{
    // After a failed write RocksDB refuses every write until resumed (a full disk may have room again).
    if (failed_) {
        if (auto r = db_->Resume(); !r.ok() && !r.IsNotSupported()) {
            const bool full = r.IsNoSpace() || r.ToString().find("No space") != std::string::npos;
            return CommitError{path_ + ": cannot resume writing: " + r.ToString(), full};
        }
    }
    rocksdb::WriteBatch& wb = batch_;
    wb.Clear(); // its buffer is kept from one commit to the next
    char k6[17];
    for (const auto& [hoa, rec] : b.bindings) {
        k6[0] = kBinding;
        std::memcpy(k6 + 1, hoa.bytes.data(), 16);
        if (rec) wb.Put(rocksdb::Slice(k6, sizeof k6), rocksdb::Slice(reinterpret_cast<const char*>(rec->data()), rec->size()));
        else wb.Delete(rocksdb::Slice(k6, sizeof k6));
    }
    for (const auto& [hoa, rec] : b.mrs) wb.Put(key6(kMr, hoa), rocksdb::Slice(reinterpret_cast<const char*>(rec.data()), rec.size()));
    for (const auto& [spi, rec] : b.sas) wb.Put(key_spi(kSa, spi), rocksdb::Slice(reinterpret_cast<const char*>(rec.data()), rec.size()));
    for (const auto& [spi, rec] : b.seqs) wb.Put(key_spi(kSeq, spi), rocksdb::Slice(reinterpret_cast<const char*>(rec.data()), rec.size()));
    rocksdb::WriteOptions wo;
    wo.sync = true; // durable when Write returns: the BAs of these changes may leave
    const rocksdb::Status s = db_->Write(wo, &wb);
    // The batch's copy of SA records is key material: cleared before it is freed.
    if (!b.sas.empty()) {
        std::string& rep = const_cast<std::string&>(wb.Data());
        secure_wipe(rep.data(), rep.size());
    }
    if (s.ok()) {
        failed_ = false;
        return std::nullopt;
    }
    failed_ = true;
    const bool full = s.IsNoSpace() || s.ToString().find("No space") != std::string::npos;
    return CommitError{path_ + ": cannot write: " + s.ToString(), full};
}

// What RocksDB's repair recovers of a damaged store moved aside: every record it can read, decoded as a
// load does. Nothing when repair fails.
void read_what_repair_recovers(const std::string& aside, StateImage* into)
{
    rocksdb::Options o = db_options();
    o.create_if_missing = false;
    if (!rocksdb::RepairDB(aside, o).ok()) return;
    rocksdb::DB* raw = nullptr;
    if (!rocksdb::DB::OpenForReadOnly(o, aside, &raw).ok()) return;
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const rocksdb::Slice k = it->key(), v = it->value();
        const std::span<const uint8_t> rec(reinterpret_cast<const uint8_t*>(v.data()), v.size());
        if (k.size() == 17 && k[0] == kBinding) {
            if (auto b = decode_binding(rec, nullptr); b && std::memcmp(b->binding.hoa.bytes.data(), k.data() + 1, 16) == 0)
                into->bindings.push_back(std::move(*b));
        } else if (k.size() == 17 && k[0] == kMr) {
            if (auto c = decode_mr_change(rec, nullptr)) into->mrs.push_back(std::move(*c));
        } else if (k.size() == 5 && k[0] == kSa) {
            if (auto c = decode_sa_change(rec, nullptr)) into->sas.push_back(std::move(*c));
        } else if (k.size() == 5 && k[0] == kSeq) {
            if (auto r = decode_seq(rec, nullptr)) into->seqs[wire::load_be32(reinterpret_cast<const uint8_t*>(k.data() + 1))] = *r;
        }
    }
}

// Adds to `into` (repair's) what the load read before the damage showed, over repair's record of the
// same key: checked by its checksums and the newest of each key, where repair may have only an older
// one or, as it drops a table with one bad block whole, none.
void keep_what_was_read(StateImage&& read, StateImage* into)
{
    std::unordered_map<Ipv6Addr, std::size_t, Ipv6Hash> binding_at, mr_at;
    std::unordered_map<uint32_t, std::size_t> sa_at;
    for (std::size_t i = 0; i < into->bindings.size(); ++i) binding_at[into->bindings[i].binding.hoa] = i;
    for (std::size_t i = 0; i < into->mrs.size(); ++i) mr_at[into->mrs[i].mr.hoa] = i;
    for (std::size_t i = 0; i < into->sas.size(); ++i) sa_at[into->sas[i].sa.spi] = i;
    auto keep = [](auto& vec, auto& at, const auto& key, auto&& rec) {
        if (auto it = at.find(key); it != at.end()) vec[it->second] = std::move(rec);
        else vec.push_back(std::move(rec));
    };
    for (StoredBinding& b : read.bindings) keep(into->bindings, binding_at, b.binding.hoa, std::move(b));
    for (MrChange& c : read.mrs) keep(into->mrs, mr_at, c.mr.hoa, std::move(c));
    for (SaChange& c : read.sas) keep(into->sas, sa_at, c.sa.spi, std::move(c));
    for (auto& [spi, r] : read.seqs) into->seqs[spi] = r;
}

// What repair recovers of the database moved aside, and what was read before the damage showed.
StateImage RocksState::recover(const std::string& aside, StateImage&& read)
{
    StateImage salvaged;
    read_what_repair_recovers(aside, &salvaged);
    keep_what_was_read(std::move(read), &salvaged);
    return salvaged;
}

} // namespace

std::unique_ptr<StateBackend> open_rocksdb_state(const std::string& dir, bool refuse_damaged, StateImage* image,
                                                 std::string* error)
{
    const uint64_t t0 = steady_ms();
    const int fd = open_dir_and_lock(dir, error);
    if (fd < 0) return nullptr;
    return open_or_salvage(std::make_unique<RocksState>(dir, fd), refuse_damaged,
                           {"move it away", "the database itself is damaged"}, t0, image, error);
}

} // namespace nemo::control
