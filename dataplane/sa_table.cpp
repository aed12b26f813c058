#include "sa_table.hpp"

#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <cstdio>

namespace nemo::dp {

namespace {
constexpr const char* kNames[] = {
#define NEMO_SA_NAME(id, help) #id,
    NEMO_SA_COUNTERS(NEMO_SA_NAME)
#undef NEMO_SA_NAME
};
} // namespace

const char* sa_counter_name(SaCounter c) { return kNames[static_cast<std::size_t>(c)]; }

SaTable::~SaTable()
{
    delete current_.load();
    for (auto& r : retired_) delete r.snapshot;
}

SaEntry* SaTable::inbound(uint32_t spi) const
{
    SaEntry* e = current_.load(std::memory_order_acquire)->find(spi);
    return e && e->cfg.inbound ? e : nullptr;
}

void SaTable::Snapshot::index()
{
    uint32_t cells = 16;
    while (cells < 2 * by_spi.size()) cells *= 2;
    spi_cells.assign(cells, {0, nullptr});
    spi_mask = cells - 1;
    for (const auto& [spi, e] : by_spi) {
        uint32_t i = spi_hash(spi) & spi_mask;
        while (spi_cells[i].second) i = (i + 1) & spi_mask;
        spi_cells[i] = {spi, e};
    }
}

void SaTable::attach_slots(uint32_t capacity)
{
    by_slot_.reset(new std::atomic<SaEntry*>[capacity]);
    for (uint32_t i = 0; i < capacity; ++i) by_slot_[i].store(nullptr, std::memory_order_relaxed);
    hoa_of_slot_.assign(capacity, Ipv6Addr{});
    slot_of_.clear();
    n_slots_ = capacity;
}

void SaTable::bind_slot(uint32_t slot, const Ipv6Addr* hoa)
{
    if (slot >= n_slots_) return;
    if (const Ipv6Addr& had = hoa_of_slot_[slot]; had != Ipv6Addr{}) slot_of_.erase(had);
    hoa_of_slot_[slot] = hoa ? *hoa : Ipv6Addr{};
    SaEntry* sa = nullptr;
    if (hoa) {
        slot_of_[*hoa] = slot;
        sa = outbound_for(*hoa);
    }
    by_slot_[slot].store(sa, std::memory_order_release);
}

void SaTable::point_slots(const std::vector<SaEntry*>& entries, bool present)
{
    for (SaEntry* e : entries) {
        if (e->cfg.inbound) continue;
        auto it = slot_of_.find(e->cfg.hoa);
        if (it != slot_of_.end()) by_slot_[it->second].store(present ? e : nullptr, std::memory_order_release);
    }
}

SaEntry* SaTable::any(uint32_t spi) const { return current_.load(std::memory_order_acquire)->find(spi); }

SaEntry* SaTable::outbound_for(const Ipv6Addr& hoa) const
{
    const Snapshot* s = current_.load(std::memory_order_acquire);
    auto it = s->outbound_by_hoa.find(hoa);
    return it == s->outbound_by_hoa.end() ? nullptr : it->second;
}

std::optional<std::string> SaTable::add(const SaConfig& sa) { return add_all({&sa, 1}); }

std::optional<std::string> SaTable::add_all(std::span<const SaConfig> sas) { return change({}, sas); }

std::optional<std::string> SaTable::change(std::span<const uint32_t> gone_spis, std::span<const SaConfig> sas)
{
    const Snapshot* cur = current_.load(std::memory_order_relaxed);
    auto next = std::make_unique<Snapshot>(*cur);
    KeyOwners owners = key_owner_;
    std::vector<SaEntry*> gone;
    // Keys of the SAs this change removes: one of them under a new SPI would start its sequence numbers
    // at 1 again under the same key (a GCM nonce repeated), so it is refused like a key two SAs share.
    KeyOwners retiring;
    for (uint32_t spi : gone_spis) {
        auto it = next->by_spi.find(spi);
        if (it == next->by_spi.end()) return "no SA with SPI " + std::to_string(spi);
        gone.push_back(it->second);
        if (!it->second->cfg.inbound) next->outbound_by_hoa.erase(it->second->cfg.hoa);
        for (const KeyId& id : it->second->transform->key_ids()) {
            owners.erase(id);
            retiring.emplace(id, spi);
        }
        next->by_spi.erase(it);
    }
    std::vector<std::unique_ptr<SaEntry>> made;
    made.reserve(sas.size());
    for (const SaConfig& sa : sas) {
        // In a batch, a refusal names its SA (keys hidden).
        auto refuse = [&](const std::string& why) { return (sas.size() > 1 ? format_sa(sa) + ": " : std::string()) + why; };
        if (next->by_spi.count(sa.spi)) return refuse("SPI " + std::to_string(sa.spi) + " is in use");
        if (!sa.inbound && next->outbound_by_hoa.count(sa.hoa))
            return refuse(sa.hoa.str() + " already has an outbound SA (delete it first)");
        if (auto e = refuse_manual_gcm(sa, allow_manual_gcm_ || sa.negotiated)) return refuse(*e);
        std::string err;
        auto t = EspTransform::create(sa.algorithm, sa.enc_key, sa.auth_key, &err);
        if (!t) return refuse(err);
        for (const KeyId& id : t->key_ids()) {
            if (auto r = retiring.find(id); r != retiring.end()) {
                char spi[16];
                std::snprintf(spi, sizeof spi, "0x%x", r->second);
                return refuse(std::string("has the key of the SA of SPI ") + spi +
                              " it replaces: a rekey needs new keys (its sequence numbers would start at 1 again under the "
                              "same key; " + kSharedKeyRule + ")");
            }
            auto [it, fresh] = owners.emplace(id, sa.spi);
            if (!fresh) {
                char spi[16];
                std::snprintf(spi, sizeof spi, "0x%x", it->second);
                return refuse(std::string("shares key material with the SA of SPI ") + spi + ": " + kSharedKeyRule);
            }
        }
        made.push_back(std::make_unique<SaEntry>(sa, std::move(t), reserved_seq_ && !sa.inbound && !sa.negotiated, lanes_));
        next->by_spi[sa.spi] = made.back().get();
        if (!sa.inbound) next->outbound_by_hoa[sa.hoa] = made.back().get();
    }
    // All or nothing: nothing is published unless every SA was accepted. The slots of removed SAs let
    // go of them before the snapshot that retires them is published; those of new ones point at them.
    point_slots(gone, false);
    std::vector<SaEntry*> fresh;
    for (auto& e : made) {
        fresh.push_back(e.get());
        owned_.push_back(std::move(e));
    }
    key_owner_ = std::move(owners);
    publish(std::move(next), nullptr);
    point_slots(fresh, true);
    // The removed entries wait for the same grace period as the snapshot that last held them.
    const uint64_t token = retired_.back().token;
    for (SaEntry* g : gone) {
        auto it = std::find_if(owned_.begin(), owned_.end(), [&](const auto& e) { return e.get() == g; });
        retired_.push_back(Retired{token, nullptr, std::move(*it)});
        owned_.erase(it);
    }
    return std::nullopt;
}

bool SaTable::remove(uint32_t spi)
{
    const Snapshot* cur = current_.load(std::memory_order_relaxed);
    auto it = cur->by_spi.find(spi);
    if (it == cur->by_spi.end()) return false;
    SaEntry* gone = it->second;
    auto next = std::make_unique<Snapshot>(*cur);
    next->by_spi.erase(spi);
    if (!gone->cfg.inbound) next->outbound_by_hoa.erase(gone->cfg.hoa);
    // Its keys may be given again, to a new SA: with GCM only under the lab switch (the nonces restart).
    for (const KeyId& id : gone->transform->key_ids()) key_owner_.erase(id);
    point_slots({gone}, false);
    publish(std::move(next), gone);
    return true;
}

void SaTable::publish(std::unique_ptr<Snapshot> next, SaEntry* gone)
{
    next->index();
    Snapshot* old = current_.exchange(next.release(), std::memory_order_acq_rel);
    Retired r{rte_rcu_qsbr_start(rcu_), old, nullptr};
    if (gone) {
        auto it = std::find_if(owned_.begin(), owned_.end(), [&](const auto& e) { return e.get() == gone; });
        r.entry = std::move(*it);
        owned_.erase(it);
    }
    retired_.push_back(std::move(r));
}

void SaTable::reclaim()
{
    std::size_t done = 0;
    while (done < retired_.size() && rte_rcu_qsbr_check(rcu_, retired_[done].token, false) == 1) {
        delete retired_[done].snapshot;
        ++done;
    }
    retired_.erase(retired_.begin(), retired_.begin() + static_cast<long>(done));
}

std::vector<const SaEntry*> SaTable::list() const
{
    std::vector<const SaEntry*> out;
    for (const auto& e : owned_) out.push_back(e.get());
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->cfg.spi < b->cfg.spi; });
    return out;
}

std::vector<SaEntry*> SaTable::outbound() const
{
    std::vector<SaEntry*> out;
    for (const auto& e : owned_)
        if (!e->cfg.inbound) out.push_back(e.get());
    return out;
}

} // namespace nemo::dp
