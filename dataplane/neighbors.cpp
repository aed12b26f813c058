#include "neighbors.hpp"

#include "lf_hash.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring_elem.h>

#include <cstring>

namespace nemo::dp {

namespace {

// The MAC travels as the hash's data value itself, tagged so that it is never a null pointer.
constexpr uint64_t kTag = uint64_t{1} << 63;

void* pack(const MacAddr& m)
{
    uint64_t w = kTag;
    for (int i = 0; i < 6; ++i) w |= uint64_t{m.bytes[i]} << (8 * (5 - i));
    return reinterpret_cast<void*>(w);
}

MacAddr unpack(void* data)
{
    const auto w = reinterpret_cast<uint64_t>(data);
    MacAddr m;
    for (int i = 0; i < 6; ++i) m.bytes[i] = static_cast<uint8_t>(w >> (8 * (5 - i)));
    return m;
}

} // namespace

std::unique_ptr<Neighbors> Neighbors::create(const std::string& name, uint32_t capacity, std::string* error,
                                             rte_rcu_qsbr* rcu)
{
    std::unique_ptr<Neighbors> n(new Neighbors);
    n->capacity_ = capacity;
    // Room beyond the learned entries: static ones, cuckoo headroom, and keys waiting for their grace
    // period after removal.
    const uint32_t slots = capacity + capacity / 4 + 64;
    n->v4_ = create_lf_hash(name + "_n4", slots, 4, error);
    n->v6_ = n->v4_ ? create_lf_hash(name + "_n6", slots, 16, error) : nullptr;
    if (!n->v6_) return nullptr;
    n->rcu_ = rcu;
    n->requests_ = rte_ring_create_elem((name + "_nreq").c_str(), sizeof(ResolveRequest), 1024,
                                        static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
    if (!n->requests_) {
        *error = "neighbour request ring: " + std::string(rte_strerror(rte_errno));
        return nullptr;
    }
    return n;
}

Neighbors::~Neighbors()
{
    if (v4_) rte_hash_free(v4_);
    if (v6_) rte_hash_free(v6_);
    if (requests_) rte_ring_free(requests_);
}

std::optional<MacAddr> Neighbors::lookup(Ipv4Addr a) const
{
    void* d = nullptr;
    if (rte_hash_lookup_data(v4_, &a.value, &d) < 0) return std::nullopt;
    return unpack(d);
}

// rte_hash_crc reads the key in 8- and 4-byte words: keys go through an aligned copy (a NeighborKey's
// address bytes follow its family byte, at an odd offset).
struct alignas(8) Key6 {
    uint8_t b[16];
    explicit Key6(const uint8_t* a) { std::memcpy(b, a, 16); }
    explicit Key6(const Ipv6Addr& a) : Key6(a.bytes.data()) {}
};

std::optional<MacAddr> Neighbors::lookup(const Ipv6Addr& a) const
{
    void* d = nullptr;
    const Key6 k(a);
    if (rte_hash_lookup_data(v6_, &k, &d) < 0) return std::nullopt;
    return unpack(d);
}

void Neighbors::request(Ipv4Addr a) const
{
    ResolveRequest r{4, {}, {}};
    std::memcpy(r.addr, &a.value, 4);
    rte_ring_mp_enqueue_elem(requests_, &r, sizeof r); // a full ring just means it is already asked
}

void Neighbors::request(const Ipv6Addr& a) const
{
    ResolveRequest r{6, {}, {}};
    std::memcpy(r.addr, a.bytes.data(), 16);
    rte_ring_mp_enqueue_elem(requests_, &r, sizeof r);
}

bool Neighbors::hash_add(const NeighborKey& k, const MacAddr& mac)
{
    const Key6 aligned(k.b.data()); // the IPv4 key is its first four bytes
    const bool ok = rte_hash_add_key_data(k.family == 4 ? v4_ : v6_, &aligned, pack(mac)) == 0;
    if (ok) changes_.fetch_add(1, std::memory_order_release);
    return ok;
}

void Neighbors::hash_del(const NeighborKey& k)
{
    rte_hash* h = k.family == 4 ? v4_ : v6_;
    const Key6 aligned(k.b.data());
    const int32_t pos = rte_hash_del_key(h, &aligned);
    if (pos < 0) return;
    changes_.fetch_add(1, std::memory_order_release);
    // A lock-free table keeps a removed key's slot until told: a worker may still be comparing it. The
    // slot is freed once every worker has passed a quiescent state (at once without concurrent readers).
    if (rcu_) retired_.push_back({rte_rcu_qsbr_start(rcu_), h, pos});
    else rte_hash_free_key_with_position(h, pos);
}

void Neighbors::reclaim()
{
    while (!retired_.empty() && rte_rcu_qsbr_check(rcu_, retired_.front().token, false) == 1) {
        rte_hash_free_key_with_position(retired_.front().hash, retired_.front().pos);
        retired_.pop_front();
    }
}

void Neighbors::set_key(const NeighborKey& k, const MacAddr& mac, bool is_static)
{
    if (!is_static) {
        learn(k, mac, NeighborOrigin::reply, last_now_);
        return;
    }
    if (auto it = entries_.find(k); it != entries_.end()) remove(it, false);
    statics_[k] = mac;
    hash_add(k, mac);
}

void Neighbors::set(Ipv4Addr a, const MacAddr& mac, bool is_static) { set_key(NeighborKey::of(a), mac, is_static); }

void Neighbors::set(const Ipv6Addr& a, const MacAddr& mac, bool is_static) { set_key(NeighborKey::of(a), mac, is_static); }

std::optional<MacAddr> Neighbors::known(const NeighborKey& k) const
{
    if (auto it = statics_.find(k); it != statics_.end()) return it->second;
    if (auto it = entries_.find(k); it != entries_.end()) return it->second.mac;
    return std::nullopt;
}

void Neighbors::move_to(Entry& e, const NeighborKey& k, List l, uint64_t since)
{
    lists_[e.list].erase(e.pos);
    e.list = l;
    e.since = since;
    e.pos = lists_[l].insert(lists_[l].end(), k);
}

void Neighbors::remove(std::unordered_map<NeighborKey, Entry, NeighborKeyHash>::iterator it, bool from_hash)
{
    if (from_hash) hash_del(it->first);
    lists_[it->second.list].erase(it->second.pos);
    entries_.erase(it);
}

bool Neighbors::evict_one(std::initializer_list<List> from)
{
    for (List l : from) {
        // Pinned entries are skipped, not moved: there are as many as configured gateways.
        for (const NeighborKey& k : lists_[l]) {
            auto it = entries_.find(k);
            if (it->second.pinned) continue;
            remove(it, true);
            evicted_.fetch_add(1, std::memory_order_relaxed);
            return true;
        }
    }
    return false;
}

LearnResult Neighbors::learn(const NeighborKey& k, const MacAddr& mac, NeighborOrigin origin, uint64_t now, bool pinned)
{
    if (statics_.count(k)) return LearnResult::is_static;
    const List fresh = origin == NeighborOrigin::reply ? kReply : kSolicitation;
    if (auto it = entries_.find(k); it != entries_.end()) {
        Entry& e = it->second;
        // An answer to our request keeps its rank: a later solicitation from the same host does not
        // make it the first to go when the table fills.
        const List l = e.list == kReply && origin == NeighborOrigin::solicitation ? kReply : fresh;
        if (!(e.mac == mac)) {
            if (!hash_add(k, mac)) return LearnResult::table_full; // an update in place: cannot fail in practice
            e.mac = mac;
        }
        e.pinned = e.pinned || pinned;
        move_to(e, k, l, now);
        return LearnResult::refreshed;
    }
    reclaim();
    if (entries_.size() >= capacity_) {
        const bool room = origin == NeighborOrigin::reply ? evict_one({kProbing, kSolicitation, kReply})
                                                          : evict_one({kProbing, kSolicitation});
        if (!room) {
            refused_full_.fetch_add(1, std::memory_order_relaxed);
            return LearnResult::table_full;
        }
    }
    if (!hash_add(k, mac)) {
        refused_full_.fetch_add(1, std::memory_order_relaxed); // the hash's buckets, or slots in their grace period
        return LearnResult::table_full;
    }
    Entry e{mac, now, fresh, pinned, {}};
    e.pos = lists_[fresh].insert(lists_[fresh].end(), k);
    entries_.emplace(k, e);
    return LearnResult::added;
}

void Neighbors::expire(uint64_t now, uint32_t max_age_s, uint32_t probe_s, std::vector<NeighborKey>& probe)
{
    last_now_ = now;
    reclaim();
    // Each list is in the order of its `since`: only the front can be due.
    while (!lists_[kProbing].empty()) {
        auto it = entries_.find(lists_[kProbing].front());
        if (it->second.since + probe_s > now) break;
        remove(it, true);
        expired_.fetch_add(1, std::memory_order_relaxed);
    }
    for (List l : {kReply, kSolicitation}) {
        while (!lists_[l].empty()) {
            const NeighborKey k = lists_[l].front();
            Entry& e = entries_.find(k)->second;
            if (e.since + max_age_s > now) break;
            move_to(e, k, kProbing, now);
            probe.push_back(k);
        }
    }
}

bool Neighbors::next_request(ResolveRequest& r) { return rte_ring_sc_dequeue_elem(requests_, &r, sizeof r) == 0; }

} // namespace nemo::dp
