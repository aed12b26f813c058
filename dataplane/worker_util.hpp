// Small helpers the worker's files share: the frame's bytes.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <span>

namespace nemo::dp {

inline uint8_t* data(rte_mbuf* m) { return rte_pktmbuf_mtod(m, uint8_t*); }
inline std::span<const uint8_t> bytes(rte_mbuf* m)
{
    return {rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)};
}

} // namespace nemo::dp
