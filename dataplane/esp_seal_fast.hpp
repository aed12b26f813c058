// The downstream fast path's ESP layout (S, S+U): the ESP packet laid out around the IPv6 packet where
// it lies in the received frame, in one step, with the burst's outer template (encap_template.hpp) in
// front of it before the crypto runs. It writes the bytes esp_seal_prepare then esp_seal_finish write
// (tests/dpdk/test_encap_template.cpp compares them for both methods, every algorithm, offload or not),
// without their two mbuf prepends, one append and the outer header built field by field: after the
// crypto, a packet sealed this way only needs sending.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <cstring>

#include "encap_template.hpp"
#include "esp.hpp"
#include "esp_transform.hpp"
#include "proto.hpp"
#include "sa_table.hpp"

namespace nemo::dp {

enum class FastSeal : uint8_t {
    queued,  // laid out, headers in place, the job set: seal it and send it
    refused, // too big for the port, or no room in the mbuf: nothing changed, the general path decides
    no_seq,  // the SA has no sequence number to give (exhausted or not reserved; counted on the SA)
};

// The ESP packet's length (header to ICV) of a job laid out for sealing: what the SA counts as bytes
// protected (esp_seal_finish counts the same before its outer headers).
inline uint32_t sealed_esp_len(const EspJob& job)
{
    return static_cast<uint32_t>(wire::kEspHeaderLen + job.t->iv_len() + job.len + job.t->icv_len());
}

// The IPv6 packet of `ip_len` bytes at `ip` (in m's single segment; what lies before it, and any link
// padding after it, goes) into the ESP tunnel of `sa`, to `peer` (and `port` for S+U), with `t` built for
// the method and outer traffic class from `tc`. Sequence number from `lane` when given. The hop limit is
// the caller's.
[[gnu::always_inline]] inline FastSeal esp_seal_fast(rte_mbuf* m, uint8_t* ip, uint32_t ip_len, const OuterTemplate& t,
                                                     SaEntry& sa, SaLane* lane, uint32_t peer, uint16_t port, uint8_t tc,
                                                     EspJob& job)
{
    const EspTransform& x = *sa.transform;
    const uint32_t pad = static_cast<uint32_t>(wire::esp_pad_len(ip_len, x.block()));
    const uint32_t plain = ip_len + pad + static_cast<uint32_t>(wire::kEspTrailerLen);
    uint8_t* esp = ip - wire::kEspHeaderLen - x.iv_len();
    const auto* buf = static_cast<const uint8_t*>(m->buf_addr);
    if (ip_len > t.room || esp - buf < t.len || ip + plain + x.icv_len() > buf + m->buf_len) [[unlikely]]
        return FastSeal::refused;
    // Taken last, as esp_seal_prepare does: a refused packet uses up no number.
    const std::optional<uint64_t> seq = lane ? sa.take_seq(*lane) : sa.take_seq();
    if (!seq) [[unlikely]]
        return FastSeal::no_seq;
    // The padding's bytes are 1, 2, ... (RFC 4303 2.4): one 16-byte store covers any padding (15 at
    // most) and lands in the ICV's space at worst, which the crypto writes.
    static constexpr uint8_t kPad[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint8_t* trailer = ip + ip_len;
    std::memcpy(trailer, kPad, 16);
    trailer[pad] = static_cast<uint8_t>(pad);
    trailer[pad + 1] = wire::ipproto::ipv6;
    wire::write_esp_header(esp, sa.cfg.spi, static_cast<uint32_t>(*seq));
    t.apply(m, esp, static_cast<uint32_t>(wire::kEspHeaderLen + x.iv_len() + plain + x.icv_len()), peer, port, tc);
    job.t = &x;
    job.esp = esp;
    job.len = plain;
    job.seq = *seq;
    job.esn = sa.cfg.esn;
    job.ok = false;
    return FastSeal::queued;
}

} // namespace nemo::dp
