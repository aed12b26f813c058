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
    void stage(const Binding& b, uint64_t now);
    void tell(BindingEvent e, const Binding& b, const CareOf* before, uint64_t now)
    {
        if (observer_ && !restoring_) observer_(e, b, before, now);
    }
    void stage_removal(const Ipv6Addr& hoa)
    {
        if (store_) store_->erase_binding(hoa);
    }

    dp::BindingTables& tables_;
    std::unordered_map<Ipv6Addr, BindingEntry, Ipv6Hash> entries_;
    ExpiryWheel expiry_;
    std::vector<uint32_t> free_slots_;
    StateStore* store_ = nullptr;
    std::function<uint32_t(const Ipv6Addr&)> sa_of_;
    Observer observer_;
    bool restoring_ = false;
    struct {
        std::atomic<std::size_t> total{0}, mobile_routers{0}, behind_nat{0}, prefixes{0};
        std::atomic<std::size_t> by_method[kTunnelMethodCount] = {};
    } counts_;
};

} // namespace nemo::control
