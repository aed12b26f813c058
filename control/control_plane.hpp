// The control thread's state and its one loop turn: provisioning, binding cache, fast-path tables,
// signaling, counters, the CLI server and telemetry. Needs an initialised EAL.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "binding_cache.hpp"
#include "binding_tables.hpp"
#include "config.hpp"
#include "json.hpp"
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
    // A large reply (`show bindings`) sets `more`: the rest, a bounded part per call (see CliReply);
    // callers call it until it returns false.
    struct CliResult {
        CliResult() = default;
        CliResult(bool is_ok, std::string text) : ok(is_ok), body(std::move(text)) {}
        bool ok = true;
        std::string body;
        std::function<bool(std::string& out)> more;
    };
    // Bindings built per part of `show bindings`: what one control-loop turn may build for it.
    static constexpr std::size_t kCliPageBindings = 256;
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

    // Where a `show bindings` listing stands between its pages.
    struct BindingListing {
        std::string kind, arg; // the filter, if any
        uint64_t limit = 0;
        uint64_t shown = 0;
        bool json = false;
        bool started = false;
        std::optional<Ipv6Addr> after; // the last home address listed
        std::vector<std::size_t> widths;
        Json j;
    };
    bool bindings_page(BindingListing& listing, std::string& out);

    Config config_;
    Stats stats_;
    ProvisioningStore provisioning_;
    std::unique_ptr<dp::BindingTables> tables_;
    std::unique_ptr<dp::SaTable> sas_;
    BindingCache cache_;
    SignalingEndpoint signaling_;
    std::unique_ptr<CliServer> cli_;
    uint64_t cli_now_ = 0; // the clock of the turn serving the CLI, for replies built over several turns
    ExtraStats extra_;
};

} // namespace nemo::control
