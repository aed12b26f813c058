// An RCU QSBR variable for four readers in EAL memory, freed with the fixture: what the table tests
// hand to the tables they build.
#pragma once

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <cstddef>

namespace nemo::test {

struct Rcu {
    rte_rcu_qsbr* v = nullptr;
    Rcu()
    {
        const std::size_t size = rte_rcu_qsbr_get_memsize(4);
        v = static_cast<rte_rcu_qsbr*>(rte_zmalloc("test_rcu", size, RTE_CACHE_LINE_SIZE));
        if (v) rte_rcu_qsbr_init(v, 4);
    }
    ~Rcu() { rte_free(v); }
    Rcu(const Rcu&) = delete;
    Rcu& operator=(const Rcu&) = delete;
};

} // namespace nemo::test
