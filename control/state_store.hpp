// nemo-ha's durable state: what must survive a restart (bindings, the operator's changes, the reserved
// ESP sequence numbers), written through a database backend by a writer thread of its own.
//
// The control thread stages changes as it makes them (put_* / erase_*), all the changes of one
// control-loop turn under one batch id, and hands the batch over at the end of the turn (flush). The
// writer coalesces every batch waiting into one transaction (the latest value of each key wins) and
// commits it with one sync: group commit, so a sync's cost is shared by every BU of those turns. A BA
// that accepts, refreshes, moves or removes a binding carries the batch id of its change and leaves
// only once durable() has reached it (control_io holds it until then).
//
// When a commit fails (a full disk, an I/O error) nothing is lost: the coalesced changes stay pending
// and are retried every second and with every new batch; meanwhile refusing() is true and signaling
// answers BUs that would change a binding with BA 130 (insufficient resources).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "addr_hash.hpp"
#include "state_record.hpp"

namespace nemo::control {

// Unix seconds and milliseconds (the wall clock the records keep).
uint64_t wall_seconds();
uint64_t wall_ms();

// state.backend = etcd: the cluster's store (state_etcd.hpp).
struct EtcdStateConfig {
    std::vector<std::string> endpoints; // host:port
    std::string ca_file, cert_file, key_file;
    std::string cluster = "default";    // keys under /nemo-ha/<cluster>/
    std::string instance;               // this instance's name in the cluster (default: the host name)
    unsigned max_txn_ops = 128;         // etcd's --max-txn-ops (its default 128)
    unsigned timeout_ms = 2000;         // one request to one endpoint
    bool two_in_flight = true;          // a commit of 256+ bindings as two transactions at once (false: a
                                        // benchmark's baseline; no configuration key)
};

struct StateConfig {
    enum class Backend : uint8_t { none, rocksdb, sqlite, etcd };
    Backend backend = Backend::rocksdb;
    std::string dir = "/var/lib/nemo-ha";
    bool refuse_damaged = false; // state.on_damage = refuse: a damaged store stops the start
    EtcdStateConfig etcd;
};
const char* backend_name(StateConfig::Backend b);

// What a binding's change was decided against, for a store shared by several instances (etcd): the
// change is written only if the stored binding is still that one (compare-and-swap). `any` (the
// embedded stores, and a cluster's own housekeeping) writes unconditionally; `own` means this
// instance's own earlier change, not yet committed when the decision was made (the writer knows the
// revision it got).
struct CasBase {
    enum class Kind : uint8_t { any, absent, revision, own };
    Kind kind = Kind::any;
    int64_t revision = 0;
    static CasBase absent_key() { return {Kind::absent, 0}; }
    static CasBase at(int64_t r) { return {Kind::revision, r}; }
    static CasBase own_change() { return {Kind::own, 0}; }
    bool operator==(const CasBase&) const = default;
};

// One turn's changes (or several turns' once coalesced): the latest value of each key, or its removal.
struct StateBatch {
    std::unordered_map<Ipv6Addr, std::optional<std::vector<uint8_t>>, Ipv6Hash> bindings;
    // Only for bindings staged with a base other than `any`. Coalescing keeps the first change's base
    // when a later one was decided on it (`own`).
    std::unordered_map<Ipv6Addr, CasBase, Ipv6Hash> binding_base;
    std::unordered_map<Ipv6Addr, std::vector<uint8_t>, Ipv6Hash> mrs; // MrChange records (removals too)
    std::unordered_map<uint32_t, KeyBytes> sas;                        // SaChange records: key material
    std::unordered_map<uint32_t, std::vector<uint8_t>> seqs;           // SeqReservation records

    bool empty() const { return bindings.empty() && mrs.empty() && sas.empty() && seqs.empty(); }
    std::size_t size() const { return bindings.size() + mrs.size() + sas.size() + seqs.size(); }
    // Takes every change of `later` over this one's.
    void merge(StateBatch&& later);
};

// What a cluster store's commit settled, reported to the control thread (StateStore::take_settled).
struct CasConflict {
    Ipv6Addr hoa;
    bool exists = false;                         // a value is stored (current: its record, when it decodes)
    std::optional<std::vector<uint8_t>> current; // the binding record stored now (nullopt: none, or undecodable)
    int64_t mod_revision = 0;                    // of the stored one; absent: the revision it was read at
    std::string origin;                          // the instance that wrote it
};
struct CasSettled {
    uint64_t batch = 0;   // every change of batches up to this one that is named here is settled
    // Written: the key's revision now (absent: deleted, `revision` the deletion's).
    std::vector<std::pair<Ipv6Addr, CasBase>> written;
    // Not written: another instance's change came first. The BU is answered against that one.
    std::vector<CasConflict> conflicts;
    bool empty() const { return written.empty() && conflicts.empty(); }
};

class EtcdCluster;

// What a store held when it was opened.
struct StateImage {
    std::vector<StoredBinding> bindings;
    // A cluster store's (etcd): each binding's revision and the instance that wrote it, by position.
    std::vector<int64_t> binding_revisions;
    std::vector<std::string> binding_origins;
    std::vector<MrChange> mrs;
    std::vector<SaChange> sas; // keys: the restore wipes them once the SA table has its transforms
    std::unordered_map<uint32_t, SeqReservation> seqs;
    uint64_t damaged = 0;               // records that did not decode: reported, removed, not used
    std::vector<std::string> damage;    // what was wrong, the first few
    std::string salvaged_from;          // the damaged database file kept aside, when the file itself was
    uint64_t load_ms = 0;               // how long reading took
};

// Every record of an image as one batch (a new store made of what a damaged one held).
StateBatch batch_of(const StateImage& image);

// A database under the store: called from one thread at a time (open and load on the control thread
// before the writer starts, commits on the writer).
class StateBackend {
public:
    virtual ~StateBackend() = default;
    struct CommitError {
        std::string message; // names the path
        bool full = false;   // the disk or its quota is full (ENOSPC, EDQUOT)
    };
    // Every change of the batch in one transaction, made durable (synced) before it returns. On error
    // the database is as it was before the call.
    virtual std::optional<CommitError> commit(const StateBatch& b) = 0;
    // A store shared by several instances: commits what it can of `b` (compare-and-swap on each binding's
    // base), removing from `b` what it settled (written, or lost to another instance's change, both
    // reported in *settled); what stays in `b` failed and is retried. The default: commit().
    virtual std::optional<CommitError> commit_cas(StateBatch& b, CasSettled* settled)
    {
        (void)settled;
        auto e = commit(b);
        if (!e) b = StateBatch{};
        return e;
    }
    // The cluster behind a shared store (null: none).
    virtual EtcdCluster* cluster() { return nullptr; }
    // Whether changes can be made durable now, as far as the backend can tell without a commit (a
    // cluster: some etcd member answers and names a leader); why not, when not. Any thread.
    virtual bool available(std::string* why) const
    {
        (void)why;
        return true;
    }
    virtual uint64_t size_bytes() const = 0;
    virtual const std::string& path() const = 0;
    virtual const char* name() const = 0;
};

struct StateStatus {
    std::string backend, path;
    uint64_t size_bytes = 0;
    uint64_t syncs = 0, sync_failures = 0, records_written = 0;
    uint64_t syncs_last_second = 0;  // syncs in the last whole second
    uint64_t last_sync_wall_ms = 0;  // when the last successful sync ended (Unix ms); 0: none yet
    uint64_t last_sync_us = 0;       // how long it took
    uint64_t max_sync_us = 0;
    uint64_t staged = 0, durable = 0; // batch ids
    bool refusing = false;
    std::string error; // the last commit's failure, while refusing
    // At start.
    uint64_t restored_bindings = 0, expired_while_down = 0, unprovisioned = 0, damaged = 0, not_reapplied = 0;
    uint64_t restore_ms = 0, load_ms = 0;
    std::string salvaged_from;
};

class StateStore {
public:
    // The shortest time between the starts of two commits (group commit: see writer_loop).
    static constexpr uint64_t kMinCommitIntervalUs = 2000;
    // Opens (creating when absent) the store of cfg, reads it into *image and starts the writer. Null
    // with *error (naming the path) when it cannot be used: another nemo-ha holds it, the directory is
    // not writable, it is of another version, or it is damaged and cfg.refuse_damaged.
    static std::unique_ptr<StateStore> open(const StateConfig& cfg, StateImage* image, std::string* error);
    // For tests and other backends: a store over an opened backend.
    explicit StateStore(std::unique_ptr<StateBackend> backend);
    ~StateStore(); // commits what is staged and pending (a clean stop loses nothing), stops the writer

    // ---- staging, the control thread ----
    void put_binding(const StoredBinding& b, CasBase base = {});
    void erase_binding(const Ipv6Addr& hoa, CasBase base = {});
    void put_mr(const MrChange& c);
    void put_sa(const SaChange& c);
    void put_seq(uint32_t spi, const SeqReservation& r);
    // The batch the staged changes (and those staged next) commit under.
    uint64_t staged_batch() const { return staged_id_.load(std::memory_order_relaxed); }
    bool has_staged() const { return !staged_.empty(); }
    // Hands the staged changes to the writer (nothing when none); the next ones get a new batch id.
    void flush();
    // flush(), then waits until it is durable or the commit failed (operator commands, start-up);
    // false with *error on failure (the changes stay pending and are retried).
    bool sync_now(std::string* error, unsigned timeout_ms = 10000);

    // ---- any thread ----
    uint64_t durable() const { return durable_.load(std::memory_order_acquire); }
    // A commit failed and none has succeeded since, or the backend says it cannot take changes now.
    bool refusing() const { return refusing_.load(std::memory_order_acquire) || !backend_->available(nullptr); }
    StateStatus status() const;
    // What commits settled since the last call (a cluster store's only; empty otherwise). Reported
    // before durable() moves past them.
    void take_settled(std::vector<CasSettled>& out);
    StateBackend& backend() { return *backend_; }
    // The start's figures, for status() (set once, by the restore).
    void set_restore_report(const StateStatus& r);

private:
    void writer_loop();

    std::unique_ptr<StateBackend> backend_;
    // control thread
    StateBatch staged_;
    std::atomic<uint64_t> staged_id_{1}; // written by the control thread only; status() reads it
    // shared with the writer
    mutable std::mutex mu_;
    std::condition_variable wake_, done_;
    StateBatch queued_;
    uint64_t queued_id_ = 0; // the highest batch id in queued_
    bool stop_ = false;
    std::string error_;
    StateStatus restore_;
    std::vector<CasSettled> settled_;
    // the writer's
    StateBatch pending_; // coalesced, failed at least once, retried
    uint64_t pending_id_ = 0;
    std::atomic<uint64_t> durable_{0};
    std::atomic<bool> refusing_{false};
    std::atomic<uint64_t> syncs_{0}, failures_{0}, records_{0}, last_sync_ms_{0}, last_sync_us_{0}, max_sync_us_{0};
    std::atomic<uint64_t> syncs_last_second_{0};
    uint64_t second_start_ms_ = 0, second_syncs_ = 0;
    uint64_t last_commit_us_ = 0; // when the last commit began (steady clock)
    std::thread writer_;
};

} // namespace nemo::control
