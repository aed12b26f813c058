#include "control_plane.hpp"

#include <chrono>

#include "cli_server.hpp"
#include "log.hpp"
#include "telemetry.hpp"

namespace nemo::control {

uint64_t monotonic_seconds()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

namespace {
uint64_t monotonic_ms()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}
std::atomic<int> instances{0};
} // namespace

ControlPlane::ControlPlane(const Config& config, std::unique_ptr<dp::BindingTables> tables)
    : config_(config), tables_(std::move(tables)), sas_(std::make_unique<dp::SaTable>(tables_->rcu(), config.allow_manual_gcm, config.sa_lanes)), cache_(*tables_),
      signaling_(config_.ha, provisioning_, cache_, stats_)
{
    tables_->attach_sas(sas_.get()); // a binding's route leads to its outbound SA by its slot
}


ControlPlane::~ControlPlane() { unregister_telemetry(); }

std::unique_ptr<ControlPlane> ControlPlane::create(const Config& config, std::string* error,
                                                   std::unique_ptr<StateStore> store, StateImage* image)
{
    dp::BindingTables::Params tp;
    tp.name = "nemo" + std::to_string(instances++);
    tp.capacity = config.binding_capacity;
    tp.home_prefix = config.ha.home_prefix;
    tp.max_prefix_lengths = config.max_prefix_lengths;
    auto tables = dp::BindingTables::create(tp, error);
    if (!tables) return nullptr;
    std::unique_ptr<ControlPlane> cp(new ControlPlane(config, std::move(tables)));
    // With a store, outbound SAs send only the sequence numbers it has reserved durably.
    if (store) cp->sas_->reserve_sequence_numbers();
    for (const MrProvision& mr : config.mrs) {
        if (auto e = cp->provisioning_.add(mr)) {
            *error = config.origin + ": provisioning.mr: " + *e;
            return nullptr;
        }
    }
    // SAs from the config and the provisioning file, published together.
    std::vector<SaConfig> sas = config.sas;
    if (!config.provisioning_file.empty()) {
        auto add_sa = [&sas, &config](const SaConfig& sa) -> std::optional<std::string> {
            if (auto e = refuse_manual_gcm(sa, config.allow_manual_gcm)) return e; // FILE:LINE first
            if (config.state.backend == StateConfig::Backend::etcd)
                return std::optional<std::string>("ESP SAs are not kept in a cluster (state.backend = etcd)");
            sas.push_back(sa);
            return std::nullopt;
        };
        if (auto e = cp->provisioning_.load_file(config.provisioning_file, add_sa)) {
            *error = *e;
            return nullptr;
        }
    }
    if (auto e = cp->sas_->add_all(sas)) {
        *error = config.origin + ": ipsec.sa " + *e;
        return nullptr;
    }
    // The transforms hold the keys now: the kept configuration's copies go.
    wipe_keys(cp->config_.sas);
    ControlPlane* self = cp.get();
    cp->cache_.set_observer([self](BindingEvent e, const Binding& b, const CareOf* before, uint64_t now) {
        if (!log::enabled(log::Level::info)) return;
        if (!self->binding_events_.take(now, self->config_.log.binding_events_per_second)) {
            self->stats_.inc(Counter::binding_events_not_logged);
            return;
        }
        log::info(format_binding_event(e, b, before, now));
    });
    if (store) {
        cp->store_ = std::move(store);
        cp->cluster_ = cp->store_->backend().cluster();
        if (cp->cluster_) {
            cp->cache_.set_cluster(cp->cluster_->instance());
            cp->signaling_.set_clustered(true);
        }
        StateImage empty;
        cp->restore_state(image ? *image : empty);
        if (cp->cluster_) cp->cluster_start();
    }
    if (!cp->ike_start(error)) return nullptr;
    register_telemetry(&cp->stats_, &cp->cache_);
    set_telemetry_store(cp->store_.get());
    return cp;
}

void ControlPlane::set_extra_stats(ExtraStats f)
{
    extra_ = std::move(f);
    set_telemetry_extra(extra_);
}

bool ControlPlane::start_cli(std::string* error)
{
    cli_ = CliServer::open(config_.cli_socket, config_.cli_group, error, CliLimits{}, &stats_);
    return cli_ != nullptr;
}

// One per accepted home registration that is new or moved since the last call: a refresh from the same
// care-of address and a de-registration tell the home link nothing new. The data plane sends each to
// all-nodes (Override set, Solicited clear, Router set for routers; RFC 4861 7.2.6 allows up to three).
std::vector<NdAnnounce> ControlPlane::take_announcements(std::size_t room)
{
    std::vector<NdAnnounce> out;
    for (const HomeRegistration& r : signaling_.take_registrations()) out.push_back(NdAnnounce{r.hoa, r.router});
    // What a restart restored goes out behind the new registrations, as far as there is room.
    while (!restored_announce_.empty() && out.size() < room) {
        out.push_back(restored_announce_.back());
        restored_announce_.pop_back();
    }
    return out;
}

void ControlPlane::poll(uint64_t now)
{
    const auto expired = cache_.expire(now);
    if (!expired.empty()) stats_.inc(Counter::bindings_expired, expired.size());
    if (auto held = binding_events_.report_due(now)) log::notice(format_events_not_logged(*held));
    cache_.reclaim();
    signaling_.update_table_gauges(); // emptied prefix tables are freed by reclaim()
    sas_->reclaim();
    if (seq_) seq_->poll(monotonic_ms());
    if (cli_) {
        cli_now_ = now;
        cli_->poll([&](const std::vector<std::string>& words) {
            CliResult r = run_command(words, now);
            return CliReply{r.ok, std::move(r.body), std::move(r.more)};
        }, monotonic_ms());
    }
    if (cluster_) cluster_poll(now);
    // The turn's changes (BUs, expiries, the CLI's) go to the writer as one batch.
    if (store_) store_->flush();
}

std::optional<std::string> ControlPlane::persist_operator_change()
{
    if (!store_) return std::nullopt;
    if (seq_) seq_->poll(monotonic_ms(), true); // an added outbound SA gets its first block in the same sync
    std::string err;
    // In a cluster the wait is short: etcd may take a while, and the control thread must go on (BAs,
    // the watch); the change is retried and the answer says it is not yet durable.
    if (store_->sync_now(&err, cluster_ ? kClusterSyncWaitMs : 10000)) {
        if (seq_) seq_->poll(monotonic_ms(), true); // that SA may send at once
        return std::nullopt;
    }
    return "the change is made but not yet durable (" + err + "); it is retried, and a restart before it succeeds undoes it";
}

} // namespace nemo::control
