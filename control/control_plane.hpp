// The control thread's state and its one loop turn: provisioning, binding cache, fast-path tables,
// signaling, counters, the CLI server and telemetry. Needs an initialised EAL.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "binding_cache.hpp"
#include "binding_tables.hpp"
#include "config.hpp"
#include "provisioning.hpp"
#include "sa_table.hpp"
#include "signaling.hpp"
#include "stats.hpp"

namespace nemo::control {

class CliServer;

// Seconds on a monotonic clock: binding times and expiry use it.
uint64_t monotonic_seconds();

// An unsolicited Neighbor Advertisement the home link should hear (RFC 6275 10.4.1, RFC 3963 6.2).
struct NdAnnounce {
    Ipv6Addr target;
    bool router = false;
};

class ControlPlane {
public:
    // Loads provisioning (config lines and the provisioning file) and creates the tables. The CLI socket
    // is opened by start_cli(). Null with *error on failure.
    static std::unique_ptr<ControlPlane> create(const Config& config, std::string* error);
    ~ControlPlane();

    bool start_cli(std::string* error);
    // One turn: expire bindings, free retired records, serve the CLI. Never blocks.
    void poll(uint64_t now);
    void handle_signal(const Punted& in, uint64_t now, std::vector<Outbound>& out)
    {
        signaling_.handle(in, now, out);
    }
    std::vector<NdAnnounce> take_announcements();
    // Runs one CLI command (the words after `nemo-hactl`); the server and the tests call it.
    struct CliResult {
        bool ok = true;
        std::string body;
    };
    CliResult run_command(const std::vector<std::string>& words, uint64_t now);

    // Counters kept elsewhere (the data plane's, summed over lcores) that `show stats` and telemetry add.
    using ExtraStats = std::function<std::vector<std::pair<std::string, uint64_t>>()>;
    void set_extra_stats(ExtraStats f);
    std::vector<std::pair<std::string, uint64_t>> extra_stats() const { return extra_ ? extra_() : decltype(extra_())(); }

    const Config& config() const { return config_; }
    HaParams& params() { return config_.ha; }
    Stats& stats() { return stats_; }
    BindingCache& cache() { return cache_; }
    dp::BindingTables& tables() { return *tables_; }
    ProvisioningStore& provisioning() { return provisioning_; }
    dp::SaTable& sas() { return *sas_; }

private:
    ControlPlane(const Config& config, std::unique_ptr<dp::BindingTables> tables);

    Config config_;
    Stats stats_;
    ProvisioningStore provisioning_;
    std::unique_ptr<dp::BindingTables> tables_;
    std::unique_ptr<dp::SaTable> sas_;
    BindingCache cache_;
    SignalingEndpoint signaling_;
    std::unique_ptr<CliServer> cli_;
    ExtraStats extra_;
};

} // namespace nemo::control
