#include "forward_table.hpp"

#include <nmmintrin.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <sys/mman.h>

#include <bit>
#include <cerrno>
#include <cstring>

namespace nemo::dp {

namespace {
constexpr std::size_t kHugePage = 2u << 20;
}

std::unique_ptr<ForwardTable> ForwardTable::create(uint32_t max_keys, rte_rcu_qsbr* rcu, std::string* error)
{
    std::unique_ptr<ForwardTable> t(new ForwardTable);
    // At least two slots per key: a lookup seldom reads a second bucket.
    const uint32_t buckets = std::bit_ceil(std::max(max_keys, 8u));
    if (buckets == 0 || buckets > (1u << 30)) {
        *error = "forwarding table of " + std::to_string(max_keys) + " keys is too large";
        return nullptr;
    }
    t->bytes_ = std::size_t{buckets} * sizeof(Bucket);
    if (rte_eal_has_hugepages()) {
        t->buckets_ = static_cast<Bucket*>(rte_zmalloc_socket("nemo_fwd", t->bytes_, 64, static_cast<int>(rte_socket_id())));
        t->rte_memory_ = t->buckets_ != nullptr;
    }
    if (!t->buckets_) {
        // Rounded to huge pages, so that transparent huge pages can back all of it.
        t->bytes_ = (t->bytes_ + kHugePage - 1) / kHugePage * kHugePage;
        void* p = mmap(nullptr, t->bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            *error = "cannot map " + std::to_string(t->bytes_) + " bytes for a forwarding table";
            return nullptr;
        }
        madvise(p, t->bytes_, MADV_HUGEPAGE);
        // Faulted in now, not by the first packets; and when memory is short, a clear error now rather
        // than the OOM killer later (MADV_POPULATE_WRITE fails with ENOMEM; kernels before 5.14 do not
        // know it, and get the pages touched instead).
        if (madvise(p, t->bytes_, MADV_POPULATE_WRITE) != 0) {
            if (errno != EINVAL) {
                munmap(p, t->bytes_);
                *error = "cannot get " + std::to_string(t->bytes_ >> 20) + " MiB for a forwarding table of " +
                         std::to_string(max_keys) + " keys (lower ha.binding_capacity)";
                return nullptr;
            }
            std::memset(p, 0, t->bytes_);
        }
        t->buckets_ = static_cast<Bucket*>(p);
    }
    t->mask_ = buckets - 1;
    t->max_keys_ = max_keys;
    t->rcu_ = rcu;
    return t;
}

ForwardTable::~ForwardTable()
{
    if (rte_memory_) rte_free(buckets_);
    else if (buckets_) munmap(buckets_, bytes_);
}

int64_t ForwardTable::find(const Key& k, uint32_t h) const
{
    const uint32_t probes = max_probe_.load(std::memory_order_acquire);
    for (uint32_t i = 0; i <= probes; ++i) {
        const uint32_t bi = (h + i) & mask_;
        for (unsigned j = 0; j < kWays; ++j) {
            const Entry& e = buckets_[bi].e[j];
            // Acquire: a live word makes its key (written before it) visible.
            const uint64_t w = e.word.load(std::memory_order_acquire);
            if (w == Route::kEmpty) return -1; // no key was ever placed past an empty slot
            if (!Route::live_word(w) || e.key[0] != k.w[0] || e.key[1] != k.w[1]) continue;
            return int64_t{bi} * kWays + j;
        }
    }
    return -1;
}

std::optional<uint32_t> ForwardTable::distance(const Key& k) const
{
    const uint32_t h = hash(k);
    const int64_t at = find(k, h);
    if (at < 0) return std::nullopt;
    return (static_cast<uint32_t>(at / kWays) - h) & mask_;
}

bool ForwardTable::set(const Key& k, uint64_t word, const FastBinding* rec)
{
    const uint32_t h = hash(k);
    if (const int64_t at = find(k, h); at >= 0) {
        Entry& e = entry(static_cast<uint32_t>(at));
        // Record first: a reader that sees the new word and follows the pointer finds the new record.
        e.rec.store(rec, std::memory_order_release);
        e.word.store(word, std::memory_order_release);
        return true;
    }
    if (live_ >= max_keys_) return false;
    // The first empty slot, or deleted one past its grace period, on the key's probe path. The table is
    // at most half full of live keys, so this ends; deleted slots still in their grace period are
    // bounded by what one grace period can delete.
    for (uint32_t i = 0; i <= mask_; ++i) {
        const uint32_t bi = (h + i) & mask_;
        for (unsigned j = 0; j < kWays; ++j) {
            Entry& e = buckets_[bi].e[j];
            const uint64_t w = e.word.load(std::memory_order_relaxed);
            if (w != Route::kEmpty && w != Route::kTombFree) continue;
            if (w == Route::kTombFree) --tombs_;
            e.key[0] = k.w[0];
            e.key[1] = k.w[1];
            e.rec.store(rec, std::memory_order_relaxed);
            if (i > max_probe_.load(std::memory_order_relaxed)) max_probe_.store(i, std::memory_order_release);
            e.word.store(word, std::memory_order_release); // publishes the key and record above
            ++live_;
            return true;
        }
    }
    return false;
}

bool ForwardTable::erase(const Key& k)
{
    const int64_t at = find(k, hash(k));
    if (at < 0) return false;
    Entry& e = entry(static_cast<uint32_t>(at));
    e.word.store(Route::kTombPending, std::memory_order_release);
    e.rec.store(nullptr, std::memory_order_release);
    ++tombs_;
    pending_.push_back({rte_rcu_qsbr_start(rcu_), static_cast<uint32_t>(at)});
    --live_;
    return true;
}

std::size_t ForwardTable::reclaim()
{
    std::size_t done = 0;
    const uint32_t slots = (mask_ + 1) * kWays;
    while (done < pending_.size() && rte_rcu_qsbr_check(rcu_, pending_[done].token, false) == 1) {
        uint32_t slot = pending_[done].slot;
        entry(slot).word.store(Route::kTombFree, std::memory_order_relaxed);
        // Probes run over slots in order and stop at an empty one. A slot only becomes empty here, so
        // when the next one is empty it always was: no key lies beyond, and the free slots that end
        // here can be empty again. Lookups of absent keys then stop early instead of running over
        // every slot that ever held a key.
        if (entry((slot + 1) % slots).word.load(std::memory_order_relaxed) == Route::kEmpty) {
            while (entry(slot).word.load(std::memory_order_relaxed) == Route::kTombFree) {
                entry(slot).word.store(Route::kEmpty, std::memory_order_release);
                --tombs_;
                slot = (slot + slots - 1) % slots;
            }
        }
        ++done;
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(done));
    return pending_.size();
}

} // namespace nemo::dp
