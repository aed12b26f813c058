#include "state_store.hpp"

#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "state_etcd.hpp"
#include "state_rocksdb.hpp"
#include "log.hpp"
#include "state_sqlite.hpp"

namespace nemo::control {

uint64_t wall_seconds() { return static_cast<uint64_t>(std::time(nullptr)); }

uint64_t wall_ms()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

namespace {
uint64_t steady_us()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}
} // namespace

const char* backend_name(StateConfig::Backend b)
{
    switch (b) {
    case StateConfig::Backend::none: return "none";
    case StateConfig::Backend::rocksdb: return "rocksdb";
    case StateConfig::Backend::sqlite: return "sqlite";
    case StateConfig::Backend::etcd: return "etcd";
    }
    return "?";
}

void StateBatch::merge(StateBatch&& later)
{
    // The common case, a writer that kept up: nothing to merge into, so the maps change hands.
    if (empty()) {
        std::swap(*this, later);
        later = StateBatch{};
        return;
    }
    for (auto& [k, v] : later.bindings) {
        // A later change decided on the earlier one (`own`) is written against the earlier one's base.
        auto lb = later.binding_base.find(k);
        const bool had = bindings.count(k) != 0;
        if (lb != later.binding_base.end()) {
            if (!(had && lb->second.kind == CasBase::Kind::own)) binding_base[k] = lb->second;
        } else {
            binding_base.erase(k); // unconditional
        }
        bindings[k] = std::move(v);
    }
    for (auto& [k, v] : later.mrs) mrs[k] = std::move(v);
    for (auto& [k, v] : later.sas) sas[k] = std::move(v);
    for (auto& [k, v] : later.seqs) seqs[k] = std::move(v);
    later = StateBatch{};
}

StateBatch batch_of(const StateImage& im)
{
    StateBatch b;
    for (const StoredBinding& s : im.bindings) b.bindings[s.binding.hoa] = encode_binding(s);
    for (const MrChange& c : im.mrs) b.mrs[c.mr.hoa] = encode_mr_change(c);
    for (const SaChange& c : im.sas) b.sas[c.sa.spi] = encode_sa_change(c);
    for (const auto& [spi, r] : im.seqs) b.seqs[spi] = encode_seq(r);
    return b;
}

std::unique_ptr<StateStore> StateStore::open(const StateConfig& cfg, StateImage* image, std::string* error)
{
    if (cfg.backend == StateConfig::Backend::none) return nullptr;
    std::unique_ptr<StateBackend> backend;
    switch (cfg.backend) {
    case StateConfig::Backend::sqlite: backend = open_sqlite_state(cfg.dir, cfg.refuse_damaged, image, error); break;
    case StateConfig::Backend::etcd: backend = open_etcd_state(cfg, image, error); break;
    default: backend = open_rocksdb_state(cfg.dir, cfg.refuse_damaged, image, error); break;
    }
    if (!backend) return nullptr;
    return std::make_unique<StateStore>(std::move(backend));
}

StateStore::StateStore(std::unique_ptr<StateBackend> backend) : backend_(std::move(backend))
{
    writer_ = std::thread([this] { writer_loop(); });
    pthread_setname_np(writer_.native_handle(), "nemo-state"); // as top and ps -L show it
}

StateStore::~StateStore()
{
    flush();
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    wake_.notify_all();
    writer_.join();
}

namespace {
void stage_base(StateBatch& staged, const Ipv6Addr& hoa, CasBase base)
{
    const bool had = staged.bindings.count(hoa) != 0;
    if (base.kind == CasBase::Kind::any) {
        if (!had) staged.binding_base.erase(hoa);
        return;
    }
    // Within one turn the same rule as coalescing: a change decided on this turn's own keeps its base.
    if (had && base.kind == CasBase::Kind::own) return;
    staged.binding_base[hoa] = base;
}
} // namespace

void StateStore::put_binding(const StoredBinding& b, CasBase base)
{
    stage_base(staged_, b.binding.hoa, base);
    staged_.bindings[b.binding.hoa] = encode_binding(b);
}
void StateStore::erase_binding(const Ipv6Addr& hoa, CasBase base)
{
    stage_base(staged_, hoa, base);
    staged_.bindings[hoa] = std::nullopt;
}

void StateStore::take_settled(std::vector<CasSettled>& out)
{
    std::lock_guard lk(mu_);
    if (settled_.empty()) return;
    for (auto& s : settled_) out.push_back(std::move(s));
    settled_.clear();
}
void StateStore::put_mr(const MrChange& c) { staged_.mrs[c.mr.hoa] = encode_mr_change(c); }
void StateStore::put_sa(const SaChange& c) { staged_.sas[c.sa.spi] = encode_sa_change(c); }
void StateStore::put_seq(uint32_t spi, const SeqReservation& r) { staged_.seqs[spi] = encode_seq(r); }

void StateStore::flush()
{
    if (staged_.empty()) return;
    {
        std::lock_guard lk(mu_);
        queued_.merge(std::move(staged_));
        queued_id_ = staged_id_.load();
    }
    staged_ = StateBatch{};
    staged_id_.fetch_add(1);
    wake_.notify_one();
}

bool StateStore::sync_now(std::string* error, unsigned timeout_ms)
{
    const uint64_t want = staged_.empty() ? staged_id_.load() - 1 : staged_id_.load();
    flush();
    std::unique_lock lk(mu_);
    // A commit that fails after this point had these changes in it (or failed while they waited).
    const uint64_t failures = failures_.load();
    const bool done = done_.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] {
        return durable_.load(std::memory_order_acquire) >= want || failures_.load() > failures;
    });
    if (durable_.load(std::memory_order_acquire) >= want) return true;
    if (error) *error = done ? error_ : "the state store did not sync within " + std::to_string(timeout_ms) + " ms";
    return false;
}

void StateStore::writer_loop()
{
    std::unique_lock lk(mu_);
    for (;;) {
        // A failed commit is retried every second, or sooner with new changes.
        if (pending_.empty()) wake_.wait(lk, [&] { return stop_ || !queued_.empty(); });
        else wake_.wait_for(lk, std::chrono::seconds(1), [&] { return stop_ || !queued_.empty(); });
        if (stop_ && queued_.empty() && pending_.empty()) return;
        // Group commit: syncs at most every kMinCommitIntervalUs, so that one sync carries the changes
        // of several control-loop turns (a BA waits that much longer at most).
        if (!stop_ && last_commit_us_ != 0) {
            const uint64_t since = steady_us() - last_commit_us_;
            if (since < kMinCommitIntervalUs)
                wake_.wait_for(lk, std::chrono::microseconds(kMinCommitIntervalUs - since), [&] { return stop_; });
        }
        pending_.merge(std::move(queued_));
        queued_ = StateBatch{};
        if (queued_id_ > pending_id_) pending_id_ = queued_id_;
        lk.unlock();

        const uint64_t t0 = steady_us();
        last_commit_us_ = t0;
        const std::size_t records = pending_.size();
        CasSettled settled;
        settled.batch = pending_id_;
        auto err = backend_->commit_cas(pending_, &settled);
        const uint64_t us = steady_us() - t0;

        lk.lock();
        // Told before durable() moves: a BA that lost its compare-and-swap must not leave as accepted.
        if (!settled.empty()) settled_.push_back(std::move(settled));
        if (!err) {
            records_.fetch_add(records, std::memory_order_relaxed);
            pending_ = StateBatch{};
            syncs_.fetch_add(1, std::memory_order_relaxed);
            last_sync_us_.store(us, std::memory_order_relaxed);
            if (us > max_sync_us_.load(std::memory_order_relaxed)) max_sync_us_.store(us, std::memory_order_relaxed);
            const uint64_t ms = wall_ms();
            last_sync_ms_.store(ms, std::memory_order_relaxed);
            if (ms - second_start_ms_ >= 1000) {
                syncs_last_second_.store(second_syncs_, std::memory_order_relaxed);
                second_start_ms_ = ms;
                second_syncs_ = 0;
            }
            ++second_syncs_;
            error_.clear();
            refusing_.store(false, std::memory_order_release);
            durable_.store(pending_id_, std::memory_order_release);
        } else {
            failures_.fetch_add(1, std::memory_order_relaxed);
            error_ = err->message;
            refusing_.store(true, std::memory_order_release);
            // A stop with a store that cannot be written loses what was not durable (no BA named it):
            // said, with how much, rather than lost in silence.
            if (stop_) {
                log::printf(log::Level::err, "nemo-ha: state: stopping with %zu changes not durable: %s", pending_.size(),
                             error_.c_str());
                return;
            }
        }
        done_.notify_all();
    }
}

void StateStore::set_restore_report(const StateStatus& r)
{
    std::lock_guard lk(mu_);
    restore_ = r;
}

StateStatus StateStore::status() const
{
    StateStatus s;
    {
        std::lock_guard lk(mu_);
        s = restore_;
        s.error = error_;
    }
    s.backend = backend_->name();
    s.path = backend_->path();
    s.size_bytes = backend_->size_bytes();
    s.syncs = syncs_.load(std::memory_order_relaxed);
    s.sync_failures = failures_.load(std::memory_order_relaxed);
    s.records_written = records_.load(std::memory_order_relaxed);
    s.last_sync_wall_ms = last_sync_ms_.load(std::memory_order_relaxed);
    s.last_sync_us = last_sync_us_.load(std::memory_order_relaxed);
    s.max_sync_us = max_sync_us_.load(std::memory_order_relaxed);
    // A quiet store made no sync in the last second, whatever the last busy second counted.
    s.syncs_last_second = wall_ms() - s.last_sync_wall_ms > 2000 ? 0 : syncs_last_second_.load(std::memory_order_relaxed);
    s.staged = staged_id_.load();
    s.durable = durable();
    s.refusing = refusing();
    if (std::string why; s.error.empty() && !backend_->available(&why)) s.error = why;
    return s;
}

} // namespace nemo::control
