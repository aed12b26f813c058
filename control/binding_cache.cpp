#include "binding_cache.hpp"

#include "mobility_header.hpp"

namespace nemo::control {

BindingCache::BindingCache(dp::BindingTables& tables) : tables_(tables)
{
    free_slots_.reserve(tables.capacity());
    for (uint32_t s = tables.capacity(); s-- > 0;) free_slots_.push_back(s);
}

const BindingEntry* BindingCache::find(const Ipv6Addr& hoa) const
{
    auto it = entries_.find(hoa);
    return it == entries_.end() ? nullptr : &it->second;
}

std::optional<BindingCache::Refusal> BindingCache::apply(const BuDecision& d, uint64_t now, std::string* why)
{
    if (d.change == BindingChangeKind::remove) {
        auto it = entries_.find(d.binding.hoa);
        if (it != entries_.end()) {
            remove(it);
            tell(BindingEvent::deregistered, d.binding, nullptr, now);
        }
        stage_removal(d.binding.hoa);
        return std::nullopt;
    }
    if (d.change != BindingChangeKind::upsert) return std::nullopt;

    auto it = entries_.find(d.binding.hoa);
    const bool is_new = it == entries_.end();
    if (is_new && free_slots_.empty()) {
        *why = "binding cache full (" + std::to_string(tables_.capacity()) + " bindings)";
        return Refusal{wire::ba_status::insufficient_resources, dp::BindingTables::PublishError::full};
    }
    const uint32_t slot = is_new ? free_slots_.back() : it->second.slot;
    using PE = dp::BindingTables::PublishError;
    switch (const PE e = tables_.publish(slot, d.binding, why)) {
    case PE::none: break;
    case PE::conflict:
    case PE::too_many_lengths: return Refusal{wire::ba_status::invalid_prefix, e};
    default: return Refusal{wire::ba_status::insufficient_resources, e};
    }
    BindingEvent event = BindingEvent::created;
    std::optional<CareOf> before;
    if (is_new) {
        free_slots_.pop_back();
        it = entries_.emplace(d.binding.hoa, BindingEntry{d.binding, slot, 0}).first;
    } else {
        account(it->second.binding, -1);
        if (it->second.binding.coa != d.binding.coa) {
            event = BindingEvent::moved;
            before = it->second.binding.coa;
        } else {
            event = BindingEvent::refreshed;
        }
        it->second.binding = d.binding;
    }
    account(d.binding, +1);
    ++it->second.registrations;
    it->second.last_status = d.ba.status;
    expiry_.schedule(d.binding.hoa, d.binding.expires, now);
    stage(d.binding, now);
    tell(event, d.binding, before ? &*before : nullptr, now);
    return std::nullopt;
}

void BindingCache::stage(const Binding& b, uint64_t now)
{
    if (!store_) return;
    store_->put_binding(StoredBinding{binding_to_wall(b, now, wall_seconds()), sa_of_ ? sa_of_(b.hoa) : 0});
}

bool BindingCache::restore(const Binding& b, uint64_t now, std::string* why)
{
    BuDecision d;
    d.outcome = BuOutcome::accepted;
    d.change = BindingChangeKind::upsert;
    d.binding = b;
    StateStore* store = std::exchange(store_, nullptr); // what is restored is in the store already
    restoring_ = true; // and is no event: the start's "state: restored N bindings" line counts them
    const auto refused = apply(d, now, why);
    restoring_ = false;
    store_ = store;
    return !refused;
}

void BindingCache::remove(std::unordered_map<Ipv6Addr, BindingEntry, Ipv6Hash>::iterator it)
{
    tables_.withdraw(it->second.slot);
    account(it->second.binding, -1);
    free_slots_.push_back(it->second.slot);
    entries_.erase(it);
}

std::vector<Binding> BindingCache::expire(uint64_t now)
{
    std::vector<Binding> gone;
    expiry_.advance(now, [&](const Ipv6Addr& hoa, uint64_t second) {
        auto it = entries_.find(hoa);
        // Skip what was refreshed, re-registered or removed since it was scheduled.
        if (it == entries_.end() || it->second.binding.expires != second) return;
        gone.push_back(it->second.binding);
        remove(it);
        stage_removal(hoa);
        tell(BindingEvent::expired, gone.back(), nullptr, now);
    });
    return gone;
}

void BindingCache::note_rejection(const Ipv6Addr& hoa, uint8_t status)
{
    auto it = entries_.find(hoa);
    if (it == entries_.end()) return;
    ++it->second.rejections;
    it->second.last_status = status;
}

bool BindingCache::clear(const Ipv6Addr& hoa, uint64_t now)
{
    auto it = entries_.find(hoa);
    if (it == entries_.end()) return false;
    const Binding gone = it->second.binding;
    remove(it);
    stage_removal(hoa);
    tell(BindingEvent::cleared, gone, nullptr, now);
    return true;
}

void BindingCache::account(const Binding& b, int sign)
{
    auto add = [sign](std::atomic<std::size_t>& c, std::size_t n) {
        if (sign > 0) c.fetch_add(n, std::memory_order_relaxed);
        else c.fetch_sub(n, std::memory_order_relaxed);
    };
    add(counts_.total, 1);
    add(counts_.mobile_routers, b.mobile_router ? 1 : 0);
    add(counts_.behind_nat, b.coa.behind_nat ? 1 : 0);
    add(counts_.prefixes, b.prefixes.size());
    add(counts_.by_method[static_cast<int>(b.coa.method)], 1);
}

BindingSummary BindingCache::summary() const
{
    BindingSummary s;
    s.total = counts_.total.load(std::memory_order_relaxed);
    s.mobile_routers = counts_.mobile_routers.load(std::memory_order_relaxed);
    s.behind_nat = counts_.behind_nat.load(std::memory_order_relaxed);
    s.prefixes = counts_.prefixes.load(std::memory_order_relaxed);
    for (int m = 0; m < kTunnelMethodCount; ++m) s.by_method[m] = counts_.by_method[m].load(std::memory_order_relaxed);
    return s;
}

} // namespace nemo::control
