// A reload (SIGHUP, `nemo-hactl reload`): the provisioning (mr lines, the provisioning file) and the SA
// lines read again and the difference applied, on the control thread, between two loop turns, so that
// no BU is decided against half of it and the workers see each table change whole.
//
// What a reload builds is what a start would build from the same files: the files are the new base and
// the operator's changes (add/del mr, add/del sa, the last per key, as the state store keeps them) are
// applied over it again, as restore_state does at a start; so a reload and a restart agree. Then:
//  - anything wrong (a line that does not parse, an overlap, a method ha.methods lacks, a home address
//    off the home prefix, an SA refused, an SA changed under its SPI, a file the operator's changes no
//    longer fit) refuses the reload whole: nothing changes, and the message says what and where;
//  - mobile nodes unchanged and SAs unchanged are not touched (bindings, table entries, sequence
//    numbers, replay windows and counters stay as they are);
//  - SAs removed and added are swapped in one snapshot (SaTable::change), the provisioning in one move;
//  - bindings of removed mobile nodes, and of changed ones they no longer fit, are removed and counted.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <unordered_map>
#include <variant>

#include "control_plane.hpp"
#include "log.hpp"
#include "provision_diff.hpp"
#include "provision_text.hpp"

namespace nemo::control {

namespace {
// The settings a reload does not apply, as `show config` renders them: all but the origin line, the
// [provisioning] section and the SA count.
std::string settings_of(const Config& c)
{
    std::string out;
    bool in_provisioning = false;
    std::size_t n = 0;
    const std::string text = render_config(c);
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t eol = std::min(text.find('\n', at), text.size());
        const std::string line = text.substr(at, eol - at);
        at = eol + 1;
        if (n++ == 0) continue;
        if (line.starts_with("[")) in_provisioning = line == "[provisioning]";
        if (in_provisioning || line.find("SA(s) configured") != std::string::npos) continue;
        out += line + "\n";
    }
    return out;
}

// The SA lines just read hold keys: wiped on every way out.
struct WipeSas {
    std::vector<SaConfig>& v;
    ~WipeSas() { wipe_keys(v); }
};
} // namespace

ControlPlane::ReloadReport ControlPlane::reload()
{
    if (!config_source_) {
        ReloadReport r;
        r.error = "this nemo-ha has no configuration to read again";
        stats_.inc(Counter::reloads_refused);
        log::printf(log::Level::warning, "nemo-ha: reload refused: %s", r.error.c_str());
        return r;
    }
    auto refused = [this](std::string error) {
        ReloadReport r;
        r.error = std::move(error);
        stats_.inc(Counter::reloads_refused);
        log::printf(log::Level::warning, "nemo-ha: reload refused, nothing changed: %s", r.error.c_str());
        return r;
    };
    // Reading and parsing allocate as the files ask (read_file caps their size): an exception there
    // refuses the reload instead of ending a nemo-ha that forwards. Nothing has been applied yet.
    std::variant<Config, std::string> fresh;
    try {
        fresh = config_source_();
    } catch (const std::exception& ex) {
        return refused(std::string("cannot read the configuration again: ") + ex.what());
    }
    if (auto* e = std::get_if<std::string>(&fresh)) return refused(*e);
    return reload(std::move(std::get<Config>(fresh)));
}

ControlPlane::ReloadReport ControlPlane::reload(Config fresh)
{
    WipeSas wipe_fresh{fresh.sas};
    ReloadReport r = apply_reload(fresh);
    if (r.ok) {
        stats_.inc(Counter::reloads);
        stats_.inc(Counter::reload_bindings_removed, r.bindings_removed);
        log::printf(log::Level::notice, "nemo-ha: reloaded %s%s%s: mobile nodes %zu added, %zu removed, %zu changed, %zu unchanged; SAs %zu "
                     "added, %zu removed, %zu unchanged; %zu binding(s) removed%s%s%s",
                     r.origin.c_str(), r.provisioning_file.empty() ? "" : " and ", r.provisioning_file.c_str(), r.mr_added,
                     r.mr_removed, r.mr_changed, r.mr_unchanged, r.sa_added, r.sa_removed, r.sa_unchanged, r.bindings_removed,
                     r.restart_needed ? "; other settings changed, which apply at the next restart" : "",
                     r.warning.empty() ? "" : "; ", r.warning.c_str());
    } else {
        stats_.inc(Counter::reloads_refused);
        log::printf(log::Level::warning, "nemo-ha: reload refused, nothing changed: %s", r.error.c_str());
    }
    return r;
}

ControlPlane::ReloadReport ControlPlane::apply_reload(Config& fresh)
{
    ReloadReport r;
    r.origin = fresh.origin;
    r.provisioning_file = fresh.provisioning_file;
    auto refuse = [&r](std::string e) {
        r.error = std::move(e);
        return r;
    };

    // 1. The new base, read as a start reads it (ControlPlane::create, check_provisioning_file). What
    // cannot change without a restart (ha.*, the SA table's GCM switch) is the running configuration's.
    ProvisioningStore next;
    for (const MrProvision& mr : fresh.mrs)
        if (auto e = next.add(mr)) return refuse(fresh.origin + ": provisioning.mr: " + *e);
    std::vector<SaConfig> file_sas;
    WipeSas wipe_file{file_sas};
    if (!fresh.provisioning_file.empty()) {
        auto add_sa = [&](const SaConfig& sa) -> std::optional<std::string> {
            if (auto e = refuse_manual_gcm(sa, config_.allow_manual_gcm)) return e;
            if (cluster_) return std::optional<std::string>("ESP SAs are not kept in a cluster (state.backend = etcd)");
            file_sas.push_back(sa);
            return std::nullopt;
        };
        if (auto e = next.load_file(fresh.provisioning_file, add_sa)) return refuse(*e);
    }
    std::optional<std::string> bad;
    next.for_each([&](const MrProvision& mr) {
        if (bad) return;
        if (!config_.ha.home_prefix.contains(mr.hoa)) bad = mr.hoa.str() + " is not on the home prefix " + config_.ha.home_prefix.str();
        else if (auto e = methods_not_enabled(mr, config_.ha.methods)) bad = *e;
    });
    if (bad) return refuse((fresh.provisioning_file.empty() ? fresh.origin : fresh.provisioning_file) + ": " + *bad);

    // 2. The operator's changes over it, as at a start; one that no longer fits refuses the reload
    // (at a start it is counted as not applied again; here it is in force and stays so).
    for (const auto& [hoa, c] : operator_mrs_)
        if (!c.added) next.remove(hoa);
    for (const auto& [hoa, c] : operator_mrs_)
        if (c.added)
            if (auto e = next.add(c.mr, true))
                return refuse("the operator's add mr " + hoa.str() + " no longer fits the files: " + *e +
                              " (del mr it, or change the files)");

    // 3. SAs: those of the operator (added or deleted) are theirs, whatever the files say; the others
    // are compared by their keys' fingerprints.
    std::vector<SaConfig> new_sas;
    WipeSas wipe_new{new_sas};
    for (auto* from : {&fresh.sas, &file_sas})
        for (SaConfig& sa : *from)
            if (!operator_sas_.count(sa.spi)) new_sas.push_back(sa);
    std::vector<SaDigest> after, before;
    std::unordered_map<uint32_t, bool> spis;
    for (const SaConfig& sa : new_sas) {
        // As at a start (SaTable::add_all): one SA per SPI, one outbound SA per home address.
        if (!spis.emplace(sa.spi, true).second) return refuse(fresh.origin + ": " + format_sa(sa) + ": SPI " + std::to_string(sa.spi) + " is in use");
        std::string err;
        auto t = EspTransform::create(sa.algorithm, sa.enc_key, sa.auth_key, &err);
        if (!t) return refuse(fresh.origin + ": " + format_sa(sa) + ": " + err);
        after.push_back(sa_digest(sa, t->key_ids()));
    }
    for (const dp::SaEntry* e : sas_->list())
        if (!operator_sas_.count(e->cfg.spi) && !e->cfg.negotiated) before.push_back(sa_digest(e->cfg, e->transform->key_ids()));
    const SaChangeSet sd = diff_sas(before, after);
    if (!sd.changed.empty()) {
        const uint32_t spi = sd.changed.front();
        auto of = [spi](const std::vector<SaDigest>& v) {
            return *std::find_if(v.begin(), v.end(), [spi](const SaDigest& d) { return d.spi == spi; });
        };
        return refuse(sa_change_error(of(before), of(after)));
    }

    // 4. Mobile nodes.
    std::vector<MrProvision> old_mrs, new_mrs;
    provisioning_.for_each([&](const MrProvision& mr) { old_mrs.push_back(mr); });
    next.for_each([&](const MrProvision& mr) { new_mrs.push_back(mr); });
    const MrChangeSet md = diff_provisioning(old_mrs, new_mrs);

    // 5. Applied: the SAs first, the one step that can still fail (a key another SA holds, a transform
    // intel-ipsec-mb refuses), and all or nothing.
    std::vector<SaConfig> added;
    WipeSas wipe_added{added};
    for (const SaConfig& sa : new_sas)
        if (std::binary_search(sd.added.begin(), sd.added.end(), sa.spi)) added.push_back(sa);
    if (!sd.added.empty() || !sd.removed.empty())
        if (auto e = sas_->change(sd.removed, added)) return refuse(fresh.origin + ": ipsec.sa " + *e);
    provisioning_ = std::move(next);
    const uint64_t now = monotonic_seconds(); // the removals' events say how long each binding had left
    auto drop_binding = [&](const Ipv6Addr& hoa) {
        if (cache_.clear(hoa, now)) ++r.bindings_removed;
    };
    for (const Ipv6Addr& hoa : md.removed) drop_binding(hoa);
    for (const MrProvision& mr : md.changed)
        if (const BindingEntry* e = cache_.find(mr.hoa); e && !binding_fits(e->binding, mr, config_.ha.methods)) drop_binding(mr.hoa);
    signaling_.update_table_gauges();

    r.restart_needed = settings_of(fresh) != settings_of(config_);
    config_.mrs = fresh.mrs;
    config_.provisioning_file = fresh.provisioning_file;
    r.ok = true;
    r.mr_added = md.added.size();
    r.mr_removed = md.removed.size();
    r.mr_changed = md.changed.size();
    r.mr_unchanged = md.unchanged;
    r.sa_added = sd.added.size();
    r.sa_removed = sd.removed.size();
    r.sa_unchanged = sd.unchanged;
    // The removed bindings' records go, and added outbound SAs get their first sequence numbers, in one sync.
    if (auto e = persist_operator_change()) r.warning = *e;
    return r;
}

} // namespace nemo::control
