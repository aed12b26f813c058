#include "telemetry.hpp"

#include <rte_telemetry.h>

#include <atomic>
#include <mutex>
#include <string>

namespace nemo::control {

namespace {

std::atomic<const Stats*> g_stats{nullptr};
std::atomic<const BindingCache*> g_cache{nullptr};
std::atomic<bool> g_registered{false};
// The data plane's counters: set by the control plane that owns them, read by the telemetry thread.
std::mutex g_extra_mu;
std::function<std::vector<std::pair<std::string, uint64_t>>()> g_extra;
// The state store: held under its mutex while read, so that a control plane going away waits.
std::mutex g_store_mu;
const StateStore* g_store = nullptr;
std::atomic<bool> g_store_registered{false};

int state_cb(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const std::lock_guard lock(g_store_mu);
    if (!g_store) {
        rte_tel_data_add_dict_string(d, "backend", "none");
        return 0;
    }
    const StateStatus st = g_store->status();
    rte_tel_data_add_dict_string(d, "backend", st.backend.c_str());
    rte_tel_data_add_dict_string(d, "path", st.path.c_str());
    rte_tel_data_add_dict_string(d, "error", st.error.c_str());
    for (auto [k, v] : {std::pair{"size_bytes", st.size_bytes}, {"syncs", st.syncs}, {"syncs_last_second", st.syncs_last_second},
                        {"sync_failures", st.sync_failures}, {"records_written", st.records_written},
                        {"last_sync_unix_ms", st.last_sync_wall_ms}, {"last_sync_us", st.last_sync_us},
                        {"max_sync_us", st.max_sync_us}, {"refusing", uint64_t{st.refusing}},
                        {"restored_bindings", st.restored_bindings}, {"expired_while_down", st.expired_while_down},
                        {"unprovisioned", st.unprovisioned}, {"damaged", st.damaged}, {"not_reapplied", st.not_reapplied},
                        {"load_ms", st.load_ms}, {"restore_ms", st.restore_ms}})
        rte_tel_data_add_dict_u64(d, k, v);
    return 0;
}

int dataplane_cb(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const std::lock_guard lock(g_extra_mu);
    if (!g_extra) return 0;
    for (const auto& [name, value] : g_extra()) rte_tel_data_add_dict_u64(d, name.c_str(), value);
    return 0;
}

int stats_cb(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const Stats* s = g_stats.load(std::memory_order_acquire);
    if (!s) return 0;
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        const auto c = static_cast<Counter>(i);
        const std::string name(counter_name(c));
        rte_tel_data_add_dict_u64(d, name.c_str(), s->get(c));
    }
    return 0;
}

int bindings_cb(const char*, const char*, rte_tel_data* d)
{
    rte_tel_data_start_dict(d);
    const BindingCache* c = g_cache.load(std::memory_order_acquire);
    if (!c) return 0;
    const BindingSummary s = c->summary();
    rte_tel_data_add_dict_u64(d, "bindings", s.total);
    rte_tel_data_add_dict_u64(d, "capacity", c->capacity());
    rte_tel_data_add_dict_u64(d, "mobile_routers", s.mobile_routers);
    rte_tel_data_add_dict_u64(d, "behind_nat", s.behind_nat);
    rte_tel_data_add_dict_u64(d, "prefixes", s.prefixes);
    for (int m = 0; m < kTunnelMethodCount; ++m) {
        // Telemetry names take letters, digits and '_' only: esp-udp becomes esp_udp.
        std::string key = "method_" + std::string(method_name(static_cast<TunnelMethod>(m)));
        for (char& ch : key)
            if (ch == '-') ch = '_';
        rte_tel_data_add_dict_u64(d, key.c_str(), s.by_method[m]);
    }
    return 0;
}

} // namespace

bool register_telemetry(const Stats* stats, const BindingCache* cache)
{
    g_stats.store(stats, std::memory_order_release);
    g_cache.store(cache, std::memory_order_release);
    if (g_registered.exchange(true)) return true;
    return rte_telemetry_register_cmd("/nemo/stats", stats_cb, "nemo-ha counters (RFC 4295/5488 names). No parameters") == 0 &&
           rte_telemetry_register_cmd("/nemo/bindings", bindings_cb, "nemo-ha binding summary. No parameters") == 0;
}

void set_telemetry_extra(std::function<std::vector<std::pair<std::string, uint64_t>>()> f)
{
    // unregister_telemetry() clears it before what it reads goes away.
    {
        const std::lock_guard lock(g_extra_mu);
        g_extra = std::move(f);
    }
    static std::atomic<bool> registered{false};
    if (!registered.exchange(true))
        rte_telemetry_register_cmd("/nemo/dataplane", dataplane_cb, "nemo-ha data-plane counters. No parameters");
}

void set_telemetry_store(const StateStore* store)
{
    {
        const std::lock_guard lock(g_store_mu);
        g_store = store;
    }
    if (!g_store_registered.exchange(true))
        rte_telemetry_register_cmd("/nemo/state", state_cb, "nemo-ha state store: backend, syncs, restore. No parameters");
}

void unregister_telemetry()
{
    {
        const std::lock_guard lock(g_store_mu);
        g_store = nullptr;
    }
    {
        const std::lock_guard lock(g_extra_mu);
        g_extra = nullptr;
    }
    g_stats.store(nullptr, std::memory_order_release);
    g_cache.store(nullptr, std::memory_order_release);
}

} // namespace nemo::control
