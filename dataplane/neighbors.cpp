#include "neighbors.hpp"

#include "lf_hash.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_ring.h>
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

std::unique_ptr<Neighbors> Neighbors::create(const std::string& name, uint32_t capacity, std::string* error)
{
    std::unique_ptr<Neighbors> n(new Neighbors);
    n->v4_ = create_lf_hash(name + "_n4", capacity, 4, error);
    n->v6_ = n->v4_ ? create_lf_hash(name + "_n6", capacity, 16, error) : nullptr;
    if (!n->v6_) return nullptr;
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

// rte_hash_crc reads the key in 8-byte words: keys go through an aligned copy.
struct alignas(8) Key6 {
    uint8_t b[16];
    explicit Key6(const Ipv6Addr& a) { std::memcpy(b, a.bytes.data(), 16); }
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

void Neighbors::set(Ipv4Addr a, const MacAddr& mac, bool is_static)
{
    if (!is_static && static_v4_.count(a.value)) return;
    if (is_static) static_v4_.insert(a.value);
    rte_hash_add_key_data(v4_, &a.value, pack(mac));
}

void Neighbors::set(const Ipv6Addr& a, const MacAddr& mac, bool is_static)
{
    if (!is_static && static_v6_.count(a)) return;
    if (is_static) static_v6_.insert(a);
    const Key6 k(a);
    rte_hash_add_key_data(v6_, &k, pack(mac));
}

bool Neighbors::next_request(ResolveRequest& r) { return rte_ring_sc_dequeue_elem(requests_, &r, sizeof r) == 0; }


} // namespace nemo::dp
