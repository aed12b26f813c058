// Touches every page of a mempool once at start-up, so that the first packets do not pay page faults
// (with --no-huge, EAL memory is faulted in 4 KiB at a time on first use).
#pragma once

#include <rte_mempool.h>

#include <cstring>

namespace nemo::dp {

inline void prefault_mempool(rte_mempool* mp)
{
    rte_mempool_mem_iter(
        mp,
        [](rte_mempool*, void*, rte_mempool_memhdr* memhdr, unsigned) {
            auto* p = static_cast<volatile char*>(memhdr->addr);
            for (size_t off = 0; off < memhdr->len; off += 4096) p[off] = p[off];
        },
        nullptr);
}

} // namespace nemo::dp
