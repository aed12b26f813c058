#include "binding_tables.hpp"
#include "sa_table.hpp"

#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include <emmintrin.h>

#include <algorithm>
#include <cstring>

namespace nemo::dp {

namespace {

using Key16 = ForwardTable::Key;

// Byte masks for every prefix length, so that masking a key is two 64-bit ANDs.
struct Masks {
    Key16 m[129];
    Masks()
    {
        for (int len = 0; len <= 128; ++len) {
            uint8_t b[16] = {};
            for (int i = 0; i < 16; ++i) {
                const int bits = std::clamp(len - i * 8, 0, 8);
                b[i] = static_cast<uint8_t>(0xFF00 >> bits);
            }
            std::memcpy(m[len].w, b, 16);
        }
    }
};
const Masks kMasks;

inline Key16 masked(const uint8_t* a, unsigned len)
{
    Key16 k;
    std::memcpy(k.w, a, 16);
    k.w[0] &= kMasks.m[len].w[0];
    k.w[1] &= kMasks.m[len].w[1];
    return k;
}
inline Key16 masked(const Ipv6Addr& a, unsigned len) { return masked(a.bytes.data(), len); }

// The prefix lengths in use, read once per lookup so that one burst sees one set of tables.
struct Lengths {
    uint64_t w[3];
    explicit Lengths(const std::array<std::atomic<uint64_t>, 3>& bits)
    {
        for (int i = 0; i < 3; ++i) w[i] = bits[i].load(std::memory_order_acquire);
    }
    // The longest, or -1 when none is.
    int longest() const
    {
        for (int i = 2; i >= 0; --i)
            if (w[i]) return i * 64 + 63 - __builtin_clzll(w[i]);
        return -1;
    }
    // Calls f(len) for each, longest first, while it returns true.
    template <class F>
    void each_desc(F&& f) const
    {
        for (int i = 2; i >= 0; --i)
            for (uint64_t v = w[i]; v;) {
                const int b = 63 - __builtin_clzll(v);
                v &= ~(uint64_t{1} << b);
                if (!f(static_cast<unsigned>(i * 64 + b))) return;
            }
    }
};

} // namespace

std::unique_ptr<BindingTables> BindingTables::create(const Params& params, std::string* error)
{
    std::unique_ptr<BindingTables> t(new BindingTables(params));
    if (params.home_prefix) {
        const Key16 m = kMasks.m[params.home_prefix->len];
        t->home_mask_[0] = m.w[0];
        t->home_mask_[1] = m.w[1];
        const Key16 v = masked(params.home_prefix->addr, params.home_prefix->len);
        t->home_value_[0] = v.w[0];
        t->home_value_[1] = v.w[1];
    }
    const std::size_t sz = rte_rcu_qsbr_get_memsize(params.max_readers);
    t->rcu_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc((params.name + "_rcu").c_str(), sz, RTE_CACHE_LINE_SIZE));
    if (!t->rcu_ || rte_rcu_qsbr_init(t->rcu_, params.max_readers) != 0) {
        *error = "cannot set up the RCU variable for " + std::to_string(params.max_readers) + " readers";
        return nullptr;
    }
    t->home_ = ForwardTable::create(params.capacity, t->rcu_, error);
    if (!t->home_) return nullptr;
    t->slots_.resize(params.capacity);
    return t;
}

BindingTables::~BindingTables()
{
    for (Slot& s : slots_) delete s.rec;
    for (Retired& r : retired_) delete r.rec;
    home_.reset();
    for (auto& t : down_) t.reset();
    rte_free(rcu_);
}

bool BindingTables::register_reader(unsigned reader_id) const
{
    if (rte_rcu_qsbr_thread_register(rcu_, reader_id) != 0) return false;
    rte_rcu_qsbr_thread_online(rcu_, reader_id);
    return true;
}

void BindingTables::unregister_reader(unsigned reader_id) const
{
    rte_rcu_qsbr_thread_offline(rcu_, reader_id);
    rte_rcu_qsbr_thread_unregister(rcu_, reader_id);
}

void BindingTables::quiescent(unsigned reader_id) const { rte_rcu_qsbr_quiescent(rcu_, reader_id); }

Route BindingTables::route(const Ipv6Addr& dst) const
{
    const uint8_t* p = dst.bytes.data();
    Route r;
    route_bulk(&p, 1, &r);
    return r;
}

void BindingTables::lookup_downstream_bulk(const Ipv6Addr* const* dsts, unsigned n, const FastBinding** out) const
{
    Route routes[kMaxBulk];
    n = std::min(n, kMaxBulk);
    route_bulk(dsts, n, routes);
    for (unsigned i = 0; i < n; ++i) out[i] = routes[i].live() ? routes[i].rec : nullptr;
}

namespace {
// Looks up the keys whose bit is set in `pending` (keys[i] for destination i) in one table: every first
// bucket is asked for before the first is read. Clears the bits it finds.
void lookup_pending(const ForwardTable& t, const Key16* keys, uint64_t& pending, Route* out)
{
    uint32_t h[64];
    for (uint64_t p = pending; p; p &= p - 1) {
        const unsigned i = static_cast<unsigned>(__builtin_ctzll(p));
        h[i] = ForwardTable::hash(keys[i]);
        rte_prefetch0(t.bucket_of(h[i]));
    }
    for (uint64_t p = pending; p; p &= p - 1) {
        const unsigned i = static_cast<unsigned>(__builtin_ctzll(p));
        if (t.lookup(keys[i], h[i], out[i])) {
            pending &= ~(uint64_t{1} << i);
            if (out[i].needs_record() && out[i].rec) rte_prefetch0(out[i].rec);
        }
    }
}
} // namespace

// Every key is first looked up in one table, in two passes over the burst (hash and prefetch, then
// probe): the home addresses' for a destination on the home prefix (or for all, without a home prefix),
// the longest prefix length's for the others. Only what that misses walks the shorter lengths (and,
// without a home prefix, the home misses all lengths), key by key as lookup_pending does.
void BindingTables::route_bulk(const uint8_t* const* addrs, unsigned n, Route* out, unsigned at) const
{
    n = std::min(n, kMaxBulk);
    const Lengths lengths(lengths_);
    const int longest = lengths.longest();
    const ForwardTable* first_prefix = longest >= 0 ? down_[static_cast<unsigned>(longest)].get() : nullptr;
    const bool split = params_.home_prefix.has_value();
    Key16 keys[kMaxBulk];
    uint32_t h[kMaxBulk];
    const ForwardTable* table[kMaxBulk];
    uint64_t home = 0;
    // In SSE registers: the home prefix test and the key's mask are one AND and one compare each.
    const __m128i home_mask = _mm_loadu_si128(reinterpret_cast<const __m128i*>(home_mask_));
    const __m128i home_value = _mm_loadu_si128(reinterpret_cast<const __m128i*>(home_value_));
    const __m128i prefix_mask = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kMasks.m[std::max(longest, 0)].w));
    for (unsigned i = 0; i < n; ++i) {
        const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(addrs[i] + at));
        const bool on_home =
            !split || _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(d, home_mask), home_value)) == 0xFFFF;
        home |= uint64_t{on_home} << i;
        table[i] = on_home ? home_.get() : first_prefix;
        const __m128i k = on_home ? d : _mm_and_si128(d, prefix_mask);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(keys[i].w), k);
        h[i] = ForwardTable::hash(keys[i]);
        if (table[i]) rte_prefetch0(table[i]->bucket_of(h[i]));
    }
    uint64_t from_longest = 0, after_longest = 0; // misses still to look up in the prefix tables
    for (unsigned i = 0; i < n; ++i) {
        if (table[i] && table[i]->lookup(keys[i], h[i], out[i])) {
            // Records, where the method needs one, are spread over memory: asked for before the caller
            // reads the first.
            if (out[i].needs_record() && out[i].rec) rte_prefetch0(out[i].rec);
            continue;
        }
        out[i] = Route{};
        const uint64_t bit = uint64_t{1} << i;
        if (!(home & bit)) after_longest |= bit; // missed the longest length, or no length is in use
        else if (!split) from_longest |= bit;    // a home miss without a home prefix: every length
    }
    if (!(from_longest | after_longest) || longest < 0) return;
    uint64_t pending = from_longest;
    lengths.each_desc([&](unsigned len) {
        if (static_cast<int>(len) != longest) { // past the longest: its misses join
            pending |= after_longest;
            after_longest = 0;
        }
        for (uint64_t p = pending; p; p &= p - 1) {
            const unsigned i = static_cast<unsigned>(__builtin_ctzll(p));
            keys[i] = masked(addrs[i] + at, len);
        }
        if (pending) lookup_pending(*down_[len], keys, pending, out);
        return (pending | after_longest) != 0;
    });
}

void BindingTables::match_upstream_bulk(const Ipv6Addr* const* inner_srcs, const Ipv4Addr* outer_srcs,
                                        const uint16_t* outer_sports, TunnelMethod via, unsigned n,
                                        const FastBinding** out) const
{
    Route routes[kMaxBulk];
    n = std::min(n, kMaxBulk);
    route_bulk(inner_srcs, n, routes);
    for (unsigned i = 0; i < n; ++i)
        out[i] = came_through(routes[i], via, outer_srcs[i], outer_sports ? outer_sports[i] : 0) ? routes[i].rec : nullptr;
}

std::size_t BindingTables::table_bytes_outside_dpdk() const
{
    std::size_t b = home_->in_dpdk_heap() ? 0 : home_->bytes();
    for (const auto& t : down_)
        if (t && !t->in_dpdk_heap()) b += t->bytes();
    return b;
}

std::size_t BindingTables::prefix_tables() const
{
    return static_cast<std::size_t>(std::count_if(down_.begin(), down_.end(), [](const auto& t) { return t != nullptr; }));
}

std::size_t BindingTables::prefix_table_bytes() const
{
    std::size_t b = 0;
    for (const auto& t : down_)
        if (t) b += t->bytes();
    return b;
}

void BindingTables::free_empty_tables(const std::array<bool, 129>* keep)
{
    for (unsigned len = 0; len <= 128; ++len) {
        if (keep && (*keep)[len]) continue;
        // Readers reach a table only through its length's bit, cleared before the token was taken.
        if (empty_since_[len] && rte_rcu_qsbr_check(rcu_, *empty_since_[len], false) == 1) {
            down_[len].reset();
            empty_since_[len].reset();
        }
    }
}

ForwardTable* BindingTables::table_for(uint8_t len, std::string* error)
{
    if (!down_[len]) {
        down_[len] = ForwardTable::create(prefix_keys(), rcu_, error);
        // Empty until its first key is counted: freed like any emptied table if that never happens.
        if (down_[len]) empty_since_[len] = rte_rcu_qsbr_start(rcu_);
    }
    return down_[len].get();
}

void BindingTables::count_length(uint8_t len, int delta)
{
    const uint64_t bit = uint64_t{1} << (len % 64);
    if (delta > 0 && length_keys_[len]++ == 0) {
        empty_since_[len].reset(); // in use again: kept
        lengths_[len / 64].fetch_or(bit, std::memory_order_release);
    }
    if (delta < 0 && --length_keys_[len] == 0) {
        lengths_[len / 64].fetch_and(~bit, std::memory_order_release);
        empty_since_[len] = rte_rcu_qsbr_start(rcu_);
    }
}

void BindingTables::retire(FastBinding* rec)
{
    if (rec) retired_.push_back({rte_rcu_qsbr_start(rcu_), rec});
}

std::size_t BindingTables::reclaim()
{
    home_->reclaim();
    free_empty_tables();
    for (auto& t : down_)
        if (t) t->reclaim();
    std::size_t done = 0;
    // Tokens grow monotonically: once one is not yet safe, none after it is.
    while (done < retired_.size() && rte_rcu_qsbr_check(rcu_, retired_[done].token, false) == 1) {
        retired_[done].rec->seal = 0; // a reader that still held it would see a broken seal
        delete retired_[done].rec;
        ++done;
    }
    retired_.erase(retired_.begin(), retired_.begin() + static_cast<long>(done));
    return retired_.size();
}

BindingTables::PublishError BindingTables::publish(uint32_t id, const Binding& b, std::string* error)
{
    if (id >= slots_.size()) {
        *error = "binding slot " + std::to_string(id) + " beyond capacity";
        return PublishError::bad_slot;
    }
    Slot& s = slots_[id];
    const bool had_hoa = s.rec != nullptr;
    const bool same_hoa = had_hoa && s.hoa == b.hoa;

    std::vector<Prefix6> keys;
    keys.reserve(b.prefixes.size());
    for (const Prefix6& p : b.prefixes)
        if (std::find(keys.begin(), keys.end(), p) == keys.end()) keys.push_back(p);
    auto in_old = [&](const Prefix6& k) { return std::find(s.keys.begin(), s.keys.end(), k) != s.keys.end(); };
    auto owned_by_other = [&](const ForwardTable* t, const Key16& key) {
        Route r;
        return t && t->lookup(key, r) && r.rec && r.rec->id != id;
    };

    // Refuse keys that another slot owns before touching anything. Keys this slot already holds are
    // its own: a refresh checks nothing.
    const Key16 hoa_key = masked(b.hoa, 128);
    if (!same_hoa && owned_by_other(home_.get(), hoa_key)) {
        *error = b.hoa.str() + " already has another binding";
        return PublishError::conflict;
    }
    for (const Prefix6& k : keys) {
        if (in_old(k)) continue;
        const Key16 kk = masked(k.addr, k.len);
        if (owned_by_other(down_[k.len].get(), kk)) {
            *error = k.str() + " is already forwarded to another binding";
            return PublishError::conflict;
        }
    }
    // Lengths without a table would each make one: within the bound, counting emptied tables not yet
    // freed (their memory is still held).
    std::array<bool, 129> used{};
    for (const Prefix6& k : keys) used[k.len] = true;
    auto missing = [&] {
        std::size_t n = 0;
        for (unsigned len = 0; len <= 128; ++len) n += used[len] && !down_[len];
        return n;
    };
    if (missing()) free_empty_tables(&used); // an emptied table of a length wanted here is kept, not made again
    if (const std::size_t n = missing(); n && prefix_tables() + n > params_.max_prefix_lengths) {
        std::string in_use;
        for (unsigned len = 0; len <= 128; ++len)
            if (down_[len]) in_use += " /" + std::to_string(len);
        *error = "prefix lengths are limited to " + std::to_string(params_.max_prefix_lengths) +
                 " (ha.max_prefix_lengths; tables for" + in_use + ")";
        return PublishError::too_many_lengths;
    }

    auto* rec = new FastBinding;
    rec->id = id;
    rec->generation = ++generation_;
    rec->method = b.coa.method;
    rec->behind_nat = b.coa.behind_nat;
    rec->proxy_nd = b.proxy_nd;
    rec->router = b.mobile_router;
    rec->peer_port = b.coa.peer_port;
    rec->peer = b.coa.peer;
    rec->hoa = b.hoa;
    rec->coa6 = b.coa.v6;
    rec->seal = FastBinding::seal_of(id, rec->generation);

    // The cover first: a reader that finds a key must also find its /48 covered.
    cover_add(b.hoa, 128);
    for (const Prefix6& k : keys) cover_add(k.addr, k.len);

    // Every key is re-pointed at the new record; on failure, what was written so far is undone.
    std::vector<Prefix6> added;
    bool hoa_added = false;
    auto undo = [&]() {
        for (const Prefix6& k : added) {
            const Key16 kk = masked(k.addr, k.len);
            if (in_old(k)) {
                down_[k.len]->set(kk, route_word(*s.rec), s.rec);
            } else {
                down_[k.len]->erase(kk);
                count_length(k.len, -1);
            }
        }
        if (hoa_added) {
            if (same_hoa) home_->set(hoa_key, route_word(*s.rec), s.rec);
            else home_->erase(hoa_key);
        }
        retire(rec); // readers may have seen it
        cover_remove(b.hoa, 128);
        for (const Prefix6& k : keys) cover_remove(k.addr, k.len);
    };
    if (!home_->set(hoa_key, route_word(*rec), rec)) {
        *error = "home address table is full";
        undo();
        return PublishError::full;
    }
    hoa_added = true;
    for (const Prefix6& k : keys) {
        ForwardTable* t = table_for(k.len, error);
        const Key16 kk = masked(k.addr, k.len);
        if (!t || !t->set(kk, route_word(*rec), rec)) {
            if (t) *error = "forwarding table for /" + std::to_string(k.len) + " is full";
            undo();
            return PublishError::full;
        }
        added.push_back(k);
        if (!in_old(k)) count_length(k.len, +1);
    }

    // Withdraw what the slot no longer covers.
    if (had_hoa && !same_hoa) {
        const Key16 old_key = masked(s.hoa, 128);
        home_->erase(old_key);
    }
    for (const Prefix6& k : s.keys) {
        if (std::find(keys.begin(), keys.end(), k) != keys.end()) continue;
        const Key16 kk = masked(k.addr, k.len);
        down_[k.len]->erase(kk);
        count_length(k.len, -1);
    }

    if (had_hoa) {
        cover_remove(s.hoa, 128);
        for (const Prefix6& k : s.keys) cover_remove(k.addr, k.len);
    }
    if (!s.rec) ++published_count_;
    retire(s.rec);
    s.rec = rec;
    s.hoa = b.hoa;
    if (sas_) sas_->bind_slot(id, &b.hoa);
    s.keys = std::move(keys);
    return PublishError::none;
}

void BindingTables::attach_sas(SaTable* sas)
{
    sas_ = sas;
    if (!sas_) return;
    sas_->attach_slots(params_.capacity);
    for (uint32_t id = 0; id < slots_.size(); ++id)
        if (slots_[id].rec) sas_->bind_slot(id, &slots_[id].hoa);
}

void BindingTables::withdraw(uint32_t id)
{
    if (id >= slots_.size() || !slots_[id].rec) return;
    Slot& s = slots_[id];
    const Key16 hoa_key = masked(s.hoa, 128);
    home_->erase(hoa_key);
    for (const Prefix6& k : s.keys) {
        const Key16 kk = masked(k.addr, k.len);
        down_[k.len]->erase(kk);
        count_length(k.len, -1);
    }
    cover_remove(s.hoa, 128);
    for (const Prefix6& k : s.keys) cover_remove(k.addr, k.len);
    retire(s.rec);
    s = Slot{};
    --published_count_;
    if (sas_) sas_->bind_slot(id, nullptr);
}

void BindingTables::cover_add(const Ipv6Addr& a, uint8_t len)
{
    if (len < 48) {
        if (short_keys_++ == 0) cover_all_.store(true, std::memory_order_release);
        return;
    }
    const uint32_t i = cover_index(a);
    if (cover_count_[i]++ == 0) cover_[i >> 6].fetch_or(uint64_t{1} << (i & 63), std::memory_order_release);
}

void BindingTables::cover_remove(const Ipv6Addr& a, uint8_t len)
{
    if (len < 48) {
        if (--short_keys_ == 0) cover_all_.store(false, std::memory_order_release);
        return;
    }
    const uint32_t i = cover_index(a);
    if (--cover_count_[i] == 0) cover_[i >> 6].fetch_and(~(uint64_t{1} << (i & 63)), std::memory_order_release);
}

} // namespace nemo::dp
