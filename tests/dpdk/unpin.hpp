// rte_eal_init pins the main thread to lcore 0 and threads inherit that: a test's reader thread calls
// this, or it would share the writer's core and only run when the writer is preempted.
#pragma once

#include <pthread.h>
#include <sched.h>

inline void unpin_from_main_lcore()
{
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
    pthread_setaffinity_np(pthread_self(), sizeof all, &all);
}
