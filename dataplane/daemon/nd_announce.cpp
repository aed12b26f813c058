// Unsolicited proxy Neighbor Advertisements: the frame, and ControlIo's queue of repeats.
#include "nd_announce.hpp"

#include <rte_mbuf.h>

#include <algorithm>

#include "control_io.hpp"
#include "ethernet.hpp"
#include "icmpv6.hpp"
#include "ipv6.hpp"
#include "proto.hpp"

namespace nemo::dp {

using namespace wire;

std::size_t build_unsolicited_na(std::span<uint8_t> out, const MacAddr& src_mac, const Ipv6Addr& src, const Ipv6Addr& target,
                                 bool router)
{
    if (out.size() < kNaAnnounceFrameLen) return 0;
    const auto flags = static_cast<uint8_t>(na_flag::O | (router ? na_flag::R : 0));
    auto len = build_neighbor_advert(out.subspan(kEtherHeaderLen + kIpv6HeaderLen, 32), NeighborMessage{flags, target, src_mac},
                                     src, kAllNodes);
    if (!len) return 0;
    write_ipv6_header(out.data() + kEtherHeaderLen,
                      Ipv6Header{0, 0, static_cast<uint16_t>(*len), ipproto::icmpv6, 255, src, kAllNodes});
    write_ether_header(out.data(), MacAddr::ipv6_multicast(kAllNodes), src_mac, ethertype::ipv6);
    return kEtherHeaderLen + kIpv6HeaderLen + *len;
}

void ControlIo::queue_announcement(const control::NdAnnounce& a, uint64_t now_ms)
{
    // A new registration of an address still being announced starts its three again.
    auto it = std::find_if(announcing_.begin(), announcing_.end(), [&](const Announcing& x) { return x.what.target == a.target; });
    if (it != announcing_.end()) {
        *it = Announcing{a, now_ms, 0};
        return;
    }
    if (announcing_.size() >= kMaxAnnouncing) {
        na_dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    announcing_.push_back({a, now_ms, 0});
}

void ControlIo::announce(uint64_t now_ms)
{
    if (announcing_.empty()) return; // the usual turn
    // RFC 4861 7.2.4 / 7.2.6: the source is an address of the interface; a link-local one where we have it.
    Ipv6Addr src = cfg_.self.ipv6;
    for (const Ipv6Addr& a : cfg_.ha_ipv6)
        if (a.is_link_local()) {
            src = a;
            break;
        }
    for (Announcing& x : announcing_) {
        if (x.next_ms > now_ms) continue;
        rte_mbuf* m = rte_pktmbuf_alloc(cfg_.pool);
        auto* p = m ? reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kNaAnnounceFrameLen)) : nullptr;
        if (!p || build_unsolicited_na({p, kNaAnnounceFrameLen}, cfg_.home.mac, src, x.what.target, x.what.router) == 0) {
            no_mbuf_.fetch_add(1, std::memory_order_relaxed);
            rte_pktmbuf_free(m);
        } else {
            send_frame(m, cfg_.home.port);
            na_sent_.fetch_add(1, std::memory_order_relaxed);
        }
        ++x.sent; // one lost for want of an mbuf counts: the next still waits its second
        x.next_ms = now_ms + kNaAnnounceIntervalMs;
    }
    std::erase_if(announcing_, [](const Announcing& x) { return x.sent >= kNaAnnounceCount; });
}

} // namespace nemo::dp
