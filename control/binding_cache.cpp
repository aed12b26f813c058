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
        const CasBase base = base_of(d.binding.hoa, it == entries_.end() ? nullptr : &it->second);
        if (it != entries_.end()) {
            remove(it);
            tell(BindingEvent::deregistered, d.binding, nullptr, now);
        }
        stage_removal(d.binding.hoa, base);
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
    const CasBase base = base_of(d.binding.hoa, is_new ? nullptr : &it->second);
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
        ++origin_counts_[0];
    } else {
        set_origin(it->second, 0);
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
    if (store_) {
        store_->put_binding(StoredBinding{binding_to_wall(d.binding, now, wall_seconds()), sa_of_ ? sa_of_(d.binding.hoa) : 0}, base);
        if (clustered_) {
            it->second.pending_batch = store_->staged_batch();
            expired_rev_.erase(d.binding.hoa);
            deleted_rev_.erase(d.binding.hoa);
        }
    }
    tell(event, d.binding, before ? &*before : nullptr, now);
    return std::nullopt;
}

CasBase BindingCache::base_of(const Ipv6Addr& hoa, const BindingEntry* e) const
{
    if (!clustered_) return {};
    if (e) {
        if (e->pending_batch != 0) return CasBase::own_change();
        return e->rev > 0 ? CasBase::at(e->rev) : CasBase::absent_key();
    }
    if (tombs_.count(hoa)) return CasBase::own_change();
    if (auto x = expired_rev_.find(hoa); x != expired_rev_.end()) return CasBase::at(x->second);
    return CasBase::absent_key();
}

void BindingCache::stage_removal(const Ipv6Addr& hoa, CasBase base)
{
    if (!store_) return;
    store_->erase_binding(hoa, base);
    if (clustered_) {
        tombs_[hoa] = store_->staged_batch();
        expired_rev_.erase(hoa);
    }
}

void BindingCache::set_cluster(const std::string& self)
{
    clustered_ = true;
    origins_[0] = self;
}

uint32_t BindingCache::origin_index(const std::string& name)
{
    for (uint32_t i = 0; i < origins_.size(); ++i)
        if (origins_[i] == name) return i;
    origins_.push_back(name); // instance names: a handful (bounded by what etcd's members/ holds)
    origin_counts_.push_back(0);
    return static_cast<uint32_t>(origins_.size() - 1);
}

void BindingCache::set_origin(BindingEntry& e, uint32_t origin)
{
    --origin_counts_[e.origin];
    ++origin_counts_[origin];
    e.origin = origin;
}

void BindingCache::settle_written(const Ipv6Addr& hoa, CasBase now, uint64_t batch)
{
    if (auto t = tombs_.find(hoa); t != tombs_.end() && t->second <= batch) tombs_.erase(t);
    auto it = entries_.find(hoa);
    if (it == entries_.end()) {
        // A settled removal: a put older than it (a watch running late) must not bring it back.
        if (now.kind == CasBase::Kind::absent && now.revision > 0) deleted_rev_[hoa] = now.revision;
        return;
    }
    BindingEntry& e = it->second;
    if (e.pending_batch == 0 || e.pending_batch > batch) return; // a later change of its own still waits
    e.pending_batch = 0;
    if (now.kind == CasBase::Kind::revision) e.rev = now.revision;
}

bool BindingCache::change_pending_after(const Ipv6Addr& hoa, uint64_t batch) const
{
    if (auto t = tombs_.find(hoa); t != tombs_.end() && t->second > batch) return true;
    auto it = entries_.find(hoa);
    return it != entries_.end() && it->second.pending_batch > batch;
}

void BindingCache::drop_unusable(const Ipv6Addr& hoa, int64_t rev)
{
    if (auto it = entries_.find(hoa); it != entries_.end()) remove(it);
    deleted_rev_.erase(hoa);
    expired_rev_[hoa] = rev;
}

bool BindingCache::change_pending(const Ipv6Addr& hoa) const
{
    if (tombs_.count(hoa)) return true;
    auto it = entries_.find(hoa);
    return it != entries_.end() && it->second.pending_batch != 0;
}

int64_t BindingCache::known_revision(const Ipv6Addr& hoa) const
{
    if (auto it = entries_.find(hoa); it != entries_.end()) return it->second.rev;
    int64_t r = 0;
    if (auto x = expired_rev_.find(hoa); x != expired_rev_.end()) r = x->second;
    if (auto d = deleted_rev_.find(hoa); d != deleted_rev_.end() && d->second > r) r = d->second;
    return r;
}

void BindingCache::set_revision(const Ipv6Addr& hoa, int64_t rev, const std::string& origin)
{
    auto it = entries_.find(hoa);
    if (it == entries_.end()) return;
    it->second.rev = rev;
    set_origin(it->second, origin_index(origin));
}

bool BindingCache::apply_remote(const Ipv6Addr& hoa, const std::optional<Binding>& b, int64_t rev, const std::string& origin,
                                uint64_t now, std::string* why)
{
    auto it = entries_.find(hoa);
    expired_rev_.erase(hoa);
    deleted_rev_.erase(hoa);
    if (!b || b->expires <= now) {
        if (it != entries_.end()) remove(it);
        if (b) expired_rev_[hoa] = rev; // over, but etcd has not dropped it yet
        else if (rev > 0) deleted_rev_[hoa] = rev;
        return true;
    }
    BuDecision d;
    d.outcome = BuOutcome::accepted;
    d.change = BindingChangeKind::upsert;
    d.binding = *b;
    StateStore* store = std::exchange(store_, nullptr); // it is in the store already
    restoring_ = true;
    const auto refused = apply(d, now, why);
    restoring_ = false;
    store_ = store;
    if (refused) {
        // The binding it replaces is superseded: forwarding to its care-of address would be wrong.
        if (auto old = entries_.find(hoa); old != entries_.end()) remove(old);
        expired_rev_[hoa] = rev;
        return false;
    }
    BindingEntry& e = entries_.find(hoa)->second;
    e.rev = rev;
    e.pending_batch = 0;
    set_origin(e, origin_index(origin));
    return true;
}

std::vector<std::pair<std::string, uint64_t>> BindingCache::bindings_by_origin() const
{
    std::vector<std::pair<std::string, uint64_t>> out;
    for (std::size_t i = 0; i < origins_.size(); ++i)
        if (origin_counts_[i] != 0 || i == 0) out.emplace_back(origins_[i], origin_counts_[i]);
    return out;
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
    --origin_counts_[it->second.origin];
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
        // In a cluster etcd's lease removes it (every instance expires it on its own clock meanwhile).
        const int64_t rev = it->second.rev;
        const bool cluster_keeps = clustered_ && it->second.pending_batch == 0;
        const CasBase base = base_of(hoa, &it->second);
        remove(it);
        if (cluster_keeps) {
            if (rev > 0) expired_rev_[hoa] = rev;
        } else {
            stage_removal(hoa, base);
        }
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
    const CasBase base = base_of(hoa, &it->second);
    remove(it);
    stage_removal(hoa, base);
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
