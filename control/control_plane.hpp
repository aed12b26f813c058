// The control thread's state and its one loop turn: provisioning, binding cache, fast-path tables,
// signaling, counters, the CLI server and telemetry. Needs an initialised EAL.
#pragma once

#include <cstdint>
#include <cstddef>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "binding_cache.hpp"
#include "binding_tables.hpp"
#include "config.hpp"
#include "etcd_cluster.hpp"
#include "ike_psk.hpp"
#include "ike_responder.hpp"
#include "json.hpp"
#include "provisioning.hpp"
#include "sa_table.hpp"
#include "seq_reserver.hpp"
#include "signaling.hpp"
#include "state_store.hpp"
#include "stats.hpp"
#include "worker_runtime.hpp"

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
    // With a state store (opened by the caller, `image` what it held), the operator's stored changes are
    // applied over the configuration's provisioning and SAs, outbound SAs continue above their reserved
    // sequence numbers, and the stored bindings that have not expired are published and announced, all
    // before this returns (the workers are not running yet). Every later change is staged in the store.
    static std::unique_ptr<ControlPlane> create(const Config& config, std::string* error,
                                                std::unique_ptr<StateStore> store = nullptr, StateImage* image = nullptr);
    ~ControlPlane();

    bool start_cli(std::string* error);
    // One turn: expire bindings, free retired records, serve the CLI. Never blocks.
    void poll(uint64_t now);
    void handle_signal(const Punted& in, uint64_t now, std::vector<Outbound>& out)
    {
        signaling_.handle(in, now, out);
    }
    // At most `room` (restored bindings are announced a share at a time, as the home link's queue frees).
    std::vector<NdAnnounce> take_announcements(std::size_t room = SIZE_MAX);
    // Every state batch up to this one is durable (all of them without a store): a BA carrying a later
    // one (Outbound::after_batch) waits.
    uint64_t state_durable() const { return store_ ? (cluster_ ? cluster_durable_ : store_->durable()) : UINT64_MAX; }
    // Held BAs answered again since the last call (a cluster's lost compare-and-swaps): the holder
    // replaces or drops them by token.
    std::vector<BaRewrite> take_ba_rewrites() { return std::exchange(rewrites_, {}); }
    EtcdCluster* cluster() { return cluster_; }
    StateStore* store() { return store_.get(); }
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
    // How long an operator change waits for a cluster's etcd before the CLI answers (not yet durable).
    static constexpr unsigned kClusterSyncWaitMs = 1500;
    CliResult run_command(const std::vector<std::string>& words, uint64_t now);

    // Counters kept elsewhere (the data plane's, summed over lcores) that `show stats` and telemetry add.
    using ExtraStats = std::function<std::vector<std::pair<std::string, uint64_t>>()>;
    void set_extra_stats(ExtraStats f);
    std::vector<std::pair<std::string, uint64_t>> extra_stats() const { return extra_ ? extra_() : decltype(extra_())(); }
    // Each worker's runtime block (worker_runtime.hpp) for `show runtime`; must be thread-safe.
    using RuntimeStats = std::function<std::vector<dp::RuntimeSample>()>;
    void set_runtime_stats(RuntimeStats f) { runtime_ = std::move(f); }

    // ---- reload (reload.cpp) ----
    // Where a reload reads the configuration again (the daemon: the same command line and --config
    // file as at start). Only its provisioning (mr lines, the provisioning file) and SA lines are used.
    using ConfigSource = std::function<std::variant<Config, std::string>()>;
    void set_config_source(ConfigSource f) { config_source_ = std::move(f); }
    struct ReloadReport {
        bool ok = false;
        std::string error; // why it was refused (nothing changed)
        std::string origin, provisioning_file;
        std::size_t mr_added = 0, mr_removed = 0, mr_changed = 0, mr_unchanged = 0;
        std::size_t sa_added = 0, sa_removed = 0, sa_unchanged = 0;
        std::size_t bindings_removed = 0;
        std::string warning; // applied, but not yet durable (the store)
        bool restart_needed = false; // other settings differ from the running ones: applied at the next start
    };
    // Re-reads the configuration from the source and applies the difference (README, "Reload"): all of
    // it or, on any error, nothing. Logged on stderr either way; counted.
    ReloadReport reload();
    // The same with the configuration already read (tests); its keys are wiped.
    ReloadReport reload(Config fresh);

    // ---- IKEv2 (ike_glue.cpp; ike.enabled) ----
    // A datagram for the responder, and its turn each loop; what to send is appended to `out`.
    void handle_ike(ike::Datagram&& d, uint64_t now_ms, std::vector<ike::Datagram>& out);
    void ike_poll(uint64_t now_ms, std::vector<ike::Datagram>& out);
    ike::IkeResponder* ike() { return ike_.get(); }

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
    // state_restore.cpp: the image applied (see create()); the report goes to the store's status.
    void restore_state(StateImage& image);
    // An operator change staged: made durable before the CLI answers; the message when it could not be.
    std::optional<std::string> persist_operator_change();
    std::string show_state(bool json) const;
    // cluster_sync.cpp: a cluster store's turn (settled commits, the watch's events) and its view.
    void cluster_start();
    void cluster_poll(uint64_t now);
    bool apply_cluster_binding(const ClusterEvent& e, uint64_t now);
    void apply_cluster_mr(const ClusterEvent& e, uint64_t now);
    std::string show_cluster(bool json) const;
    ReloadReport apply_reload(Config& fresh);
    bool ike_start(std::string* error);
    class IkeGlue;
    struct IkeGlueDelete {
        void operator()(IkeGlue* g) const; // where IkeGlue is complete (ike_glue.cpp)
    };
    std::unique_ptr<IkeGlue, IkeGlueDelete> ike_glue_;
    std::unique_ptr<ike::IkeResponder> ike_;
    ike::PskMap ike_psks_;
    std::vector<ike::Datagram> ike_cli_out_; // what `clear ike` sends (Deletes), at the next ike_poll

    // The operator's changes (add/del mr, add/del sa) since the store began, the last per key: what a
    // start applies over the configuration (restore_state), and a reload over the files read again.
    std::map<Ipv6Addr, MrChange> operator_mrs_;
    std::map<uint32_t, bool> operator_sas_; // SPI -> added (true) or deleted
    ConfigSource config_source_;

    Config config_;
    Stats stats_;
    ProvisioningStore provisioning_;
    std::unique_ptr<dp::BindingTables> tables_;
    std::unique_ptr<dp::SaTable> sas_;
    BindingCache cache_;
    SignalingEndpoint signaling_;
    std::unique_ptr<StateStore> store_;
    EtcdCluster* cluster_ = nullptr; // the store's, when it is etcd
    uint64_t cluster_durable_ = 0;   // durable() as of the last cluster_poll, whose losses are answered
    std::vector<BaRewrite> rewrites_;
    std::vector<CasSettled> settled_;
    std::vector<ClusterEvent> cluster_events_;
    std::unordered_map<Ipv6Addr, ClusterEvent, Ipv6Hash> deferred_; // events for keys with an own change waiting
    std::unordered_set<Ipv6Addr, Ipv6Hash> resync_seen_;
    std::unordered_map<Ipv6Addr, int64_t, Ipv6Hash> mr_revisions_; // the last mr/ event applied, per entry
    bool resyncing_ = false;
    uint64_t cluster_second_ = 0;
    std::unique_ptr<SeqReserver> seq_;
    std::vector<NdAnnounce> restored_announce_; // restored bindings not yet announced
    std::unique_ptr<CliServer> cli_;
    uint64_t cli_now_ = 0; // the clock of the turn serving the CLI, for replies built over several turns
    ExtraStats extra_;
    BindingEventLimiter binding_events_;
    RuntimeStats runtime_;
    std::vector<dp::RuntimeSample> runtime_base_; // `clear runtime`: the workers' blocks are theirs to write
};

} // namespace nemo::control
