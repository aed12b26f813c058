#include "control_plane.hpp"

#include <chrono>

#include "cli_server.hpp"
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
    : config_(config), tables_(std::move(tables)), sas_(std::make_unique<dp::SaTable>(tables_->rcu())), cache_(*tables_),
      signaling_(config_.ha, provisioning_, cache_, stats_)
{
}

ControlPlane::~ControlPlane() { unregister_telemetry(); }

std::unique_ptr<ControlPlane> ControlPlane::create(const Config& config, std::string* error)
{
    dp::BindingTables::Params tp;
    tp.name = "nemo" + std::to_string(instances++);
    tp.capacity = config.binding_capacity;
    tp.home_prefix = config.ha.home_prefix;
    auto tables = dp::BindingTables::create(tp, error);
    if (!tables) return nullptr;
    std::unique_ptr<ControlPlane> cp(new ControlPlane(config, std::move(tables)));
    for (const MrProvision& mr : config.mrs) {
        if (auto e = cp->provisioning_.add(mr)) {
            *error = config.origin + ": provisioning.mr: " + *e;
            return nullptr;
        }
    }
    // SAs from the config and the provisioning file, published together.
    std::vector<SaConfig> sas = config.sas;
    if (!config.provisioning_file.empty()) {
        auto add_sa = [&sas](const SaConfig& sa) -> std::optional<std::string> {
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
    register_telemetry(&cp->stats_, &cp->cache_);
    return cp;
}

// Placeholder so that the data plane links: the queueing of announcements is another change's (issue 10).
std::vector<NdAnnounce> ControlPlane::take_announcements() { return {}; }

void ControlPlane::set_extra_stats(ExtraStats f)
{
    extra_ = std::move(f);
    set_telemetry_extra(extra_);
}

bool ControlPlane::start_cli(std::string* error)
{
    cli_ = CliServer::open(config_.cli_socket, error);
    return cli_ != nullptr;
}

void ControlPlane::poll(uint64_t now)
{
    const auto expired = cache_.expire(now);
    if (!expired.empty()) stats_.inc(Counter::bindings_expired, expired.size());
    cache_.reclaim();
    sas_->reclaim();
    if (cli_) {
        cli_->poll([&](const std::vector<std::string>& words) {
            CliResult r = run_command(words, now);
            return std::pair<bool, std::string>{r.ok, std::move(r.body)};
        }, monotonic_ms());
    }
}

} // namespace nemo::control
