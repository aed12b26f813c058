// The binding cache: the control plane's authoritative state of every binding, their expiry, and the
// publication of each change to the workers' tables.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "addr_hash.hpp"
#include "binding.hpp"
#include "binding_log.hpp"
#include "binding_tables.hpp"
#include "bu_decision.hpp"
#include "expiry_wheel.hpp"
#include "state_store.hpp"

namespace nemo::control {

struct BindingEntry {
    Binding binding;
    uint32_t slot = 0;          // the binding's slot in the fast-path tables
    uint64_t registrations = 0; // accepted BUs for it (the first included)
    uint64_t rejections = 0;    // BUs for it answered with a rejection while it lived
    uint8_t last_status = 0;    // the status of the last BA sent for it
    // A cluster store's (state.backend = etcd): the stored binding's revision (0: not stored yet), the
    // batch of this instance's own change not yet settled (0: none), and which instance wrote it
    // (BindingCache::origin_name; 0: this one).
    int64_t rev = 0;
    uint64_t pending_batch = 0;
    uint32_t origin = 0;
};

struct BindingSummary {
    std::size_t total = 0;
    std::size_t mobile_routers = 0;
    std::size_t behind_nat = 0;
    std::size_t prefixes = 0;
    std::size_t by_method[kTunnelMethodCount] = {};
};

class BindingCache {
public:
    explicit BindingCache(dp::BindingTables& tables);

    const BindingEntry* find(const Ipv6Addr& hoa) const;
    std::size_t size() const { return entries_.size(); }
    std::size_t capacity() const { return tables_.capacity(); }

    // Applies an accepted decision (upsert or remove). When the forwarding tables refuse an upsert, the
    // binding stays as it was and the status to answer instead is returned (130 full; 141 a prefix
    // already forwarded elsewhere, or a prefix length beyond ha.max_prefix_lengths: RFC 3963 6.2, the
    // forwarding cannot be set up), with the reason in *why. `now` is the clock expire() is given.
    struct Refusal {
        uint8_t status = 0;
        dp::BindingTables::PublishError cause = dp::BindingTables::PublishError::full;
    };
    std::optional<Refusal> apply(const BuDecision& d, uint64_t now, std::string* why);

    // Every change from now on is staged in `store` (null: none); `sa_of` names the outbound SA of a
    // home address (0: none), kept with the binding.
    void set_store(StateStore* store, std::function<uint32_t(const Ipv6Addr&)> sa_of)
    {
        store_ = store;
        sa_of_ = std::move(sa_of);
    }
    // Told of every change as it is made (the log's binding events): the binding as it is now (as it
    // was, for a removal), the care-of address it moved from (moved only) and `now`. Not for restore().
    using Observer = std::function<void(BindingEvent, const Binding&, const CareOf* before, uint64_t now)>;
    void set_observer(Observer o) { observer_ = std::move(o); }

    // Publishes a binding read back from the store (its times on `now`'s clock). The tables may refuse it
    // (capacity or prefix lengths lowered since): false with *why.
    bool restore(const Binding& b, uint64_t now, std::string* why);

    // ---- a cluster store (state.backend = etcd; cluster_sync.cpp) ----
    // From now on each change is staged with what it was decided against (CasBase), an expiry is left
    // to etcd's lease, and `self` names this instance (origin 0).
    void set_cluster(const std::string& self);
    bool clustered() const { return clustered_; }
    // This instance's change of `hoa` up to `batch` was written (`now`: its revision, or absent).
    void settle_written(const Ipv6Addr& hoa, CasBase now, uint64_t batch);
    // Whether a change of this instance to `hoa` waits to be settled (a watch event then waits too).
    bool change_pending(const Ipv6Addr& hoa) const;
    // Whether one staged after `batch` waits (a loss of `batch` is then that later change's to report).
    bool change_pending_after(const Ipv6Addr& hoa, uint64_t batch) const;
    // The stored binding of `hoa` at `rev` cannot be used here (it does not decode, or this instance
    // does not serve it): the local one goes, and the next change is compared against `rev`.
    void drop_unusable(const Ipv6Addr& hoa, int64_t rev);
    // A binding stored at `rev` that this instance did not publish (expired, not provisioned): the next
    // change is compared against it.
    void note_stored(const Ipv6Addr& hoa, int64_t rev) { expired_rev_[hoa] = rev; }
    // Another instance's binding (times on `now`'s clock; nullopt: none) at revision `rev`, published
    // (or withdrawn) here without being staged. The tables may refuse it: false with *why.
    bool apply_remote(const Ipv6Addr& hoa, const std::optional<Binding>& b, int64_t rev, const std::string& origin,
                      uint64_t now, std::string* why);
    // The revision this instance knows `hoa` at (an expired binding's too, until etcd drops it); 0: none.
    int64_t known_revision(const Ipv6Addr& hoa) const;
    void set_revision(const Ipv6Addr& hoa, int64_t rev, const std::string& origin);
    const std::string& origin_name(uint32_t origin) const { return origins_[origin]; }
    // Bindings per writing instance.
    std::vector<std::pair<std::string, uint64_t>> bindings_by_origin() const;
    uint64_t bindings_of_self() const { return origin_counts_.empty() ? 0 : origin_counts_[0]; }

    // Records a rejected BU against the binding of `hoa`, if it has one.
    void note_rejection(const Ipv6Addr& hoa, uint8_t status);

    // Removes bindings whose lifetime ended at or before `now`; returns them.
    std::vector<Binding> expire(uint64_t now);
    // Removes one binding (operator's `clear binding`, `del mr`); `now` for the event's remaining lifetime.
    bool clear(const Ipv6Addr& hoa, uint64_t now);
    // Frees table records (and emptied prefix tables) whose grace period is over.
    void reclaim() { tables_.reclaim(); }
    std::size_t prefix_tables() const { return tables_.prefix_tables(); }
    std::size_t prefix_table_bytes() const { return tables_.prefix_table_bytes(); }

    // Kept up to date with every change; safe to call from another thread (rte_telemetry's).
    BindingSummary summary() const;
    template <class F>
    void for_each(F&& f) const
    {
        for (const auto& [hoa, e] : entries_) f(e);
    }

private:
    void remove(std::unordered_map<Ipv6Addr, BindingEntry, Ipv6Hash>::iterator it);
    void account(const Binding& b, int sign);
    void tell(BindingEvent e, const Binding& b, const CareOf* before, uint64_t now)
    {
        if (observer_ && !restoring_) observer_(e, b, before, now);
    }
    void stage_removal(const Ipv6Addr& hoa, CasBase base);
    CasBase base_of(const Ipv6Addr& hoa, const BindingEntry* e) const;
    uint32_t origin_index(const std::string& name);
    void set_origin(BindingEntry& e, uint32_t origin);

    dp::BindingTables& tables_;
    std::unordered_map<Ipv6Addr, BindingEntry, Ipv6Hash> entries_;
    ExpiryWheel expiry_;
    std::vector<uint32_t> free_slots_;
    StateStore* store_ = nullptr;
    std::function<uint32_t(const Ipv6Addr&)> sa_of_;
    Observer observer_;
    bool restoring_ = false;
    bool clustered_ = false;
    std::unordered_map<Ipv6Addr, uint64_t, Ipv6Hash> tombs_;       // own removals not yet settled: batch
    std::unordered_map<Ipv6Addr, int64_t, Ipv6Hash> expired_rev_;  // expired here, maybe still in etcd
    std::unordered_map<Ipv6Addr, int64_t, Ipv6Hash> deleted_rev_;  // known absent as of this revision
    std::vector<std::string> origins_{std::string()};
    std::vector<uint64_t> origin_counts_{0};
    struct {
        std::atomic<std::size_t> total{0}, mobile_routers{0}, behind_nat{0}, prefixes{0};
        std::atomic<std::size_t> by_method[kTunnelMethodCount] = {};
    } counts_;
};

} // namespace nemo::control
