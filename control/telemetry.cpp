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

void unregister_telemetry()
{
    {
        const std::lock_guard lock(g_extra_mu);
        g_extra = nullptr;
    }
    g_stats.store(nullptr, std::memory_order_release);
    g_cache.store(nullptr, std::memory_order_release);
}

} // namespace nemo::control
