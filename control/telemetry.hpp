// The control plane's counters and binding summary through DPDK's telemetry socket, readable with
// dpdk-telemetry.py: /nemo/stats, /nemo/bindings, /nemo/dataplane, /nemo/state. rte_telemetry calls back from its own thread, so the
// callbacks read only atomics.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "binding_cache.hpp"
#include "state_store.hpp"
#include "stats.hpp"

namespace nemo::control {

// Registers the commands once per process; later calls re-point them at `stats` and `cache`.
// `cache` and `stats` must outlive the registration or be replaced by another call.
bool register_telemetry(const Stats* stats, const BindingCache* cache);
// /nemo/state: the store's status (null: backend none). Replaced or cleared before the store goes.
void set_telemetry_store(const StateStore* store);
void unregister_telemetry(); // points the callbacks at nothing (they then answer empty)
// /nemo/dataplane: counters the data plane keeps (per-lcore sums); the function must be thread-safe.
void set_telemetry_extra(std::function<std::vector<std::pair<std::string, uint64_t>>()> f);

} // namespace nemo::control
