// A restart: what the state store held, applied to a control plane before its workers forward. In this
// order: the operator's changes over the configuration's provisioning and SAs (a restart must not undo
// what an operator did), the outbound SAs' sequence numbers above their last reservation, then every
// binding that has not expired, published with its remaining lifetime and queued for announcement.
#include <chrono>
#include <cstdio>

#include "control_plane.hpp"
#include "log.hpp"

namespace nemo::control {

namespace {
uint64_t steady_ms()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}
} // namespace

void ControlPlane::restore_state(StateImage& image)
{
    const uint64_t t0 = steady_ms();
    StateStatus report;
    report.load_ms = image.load_ms;
    report.damaged = image.damaged;
    report.salvaged_from = image.salvaged_from;
    for (const std::string& d : image.damage) log::printf(log::Level::warning, "nemo-ha: %s: damaged record: %s", store_->status().path.c_str(), d.c_str());
    if (!image.salvaged_from.empty())
        log::printf(log::Level::warning, "nemo-ha: %s: damaged; what could be read was restored, the damaged file kept as %s",
                     store_->status().path.c_str(), image.salvaged_from.c_str());

    auto not_reapplied = [&](const std::string& what, const std::string& why) {
        ++report.not_reapplied;
        log::printf(log::Level::warning, "nemo-ha: state: %s not applied again: %s", what.c_str(), why.c_str());
    };
    // What a reload applies over the files again (operator_mrs_, operator_sas_): the changes this start
    // applied, not those it could not (still stored, tried again at the next start). A change that did
    // not apply here would otherwise refuse every reload, and `del mr` could not take it back.
    // Removals first: an added entry may hold the prefixes of one removed.
    for (const MrChange& c : image.mrs)
        if (!c.added) {
            provisioning_.remove(c.mr.hoa);
            operator_mrs_[c.mr.hoa] = c;
        }
    for (const MrChange& c : image.mrs) {
        if (!c.added) continue;
        if (!config_.ha.home_prefix.contains(c.mr.hoa)) {
            not_reapplied("add mr " + c.mr.hoa.str(), "not on the home prefix " + config_.ha.home_prefix.str());
            continue;
        }
        if (auto e = provisioning_.add(c.mr, true)) not_reapplied("add mr " + c.mr.hoa.str(), *e);
        else operator_mrs_[c.mr.hoa] = c;
    }
    for (const SaChange& c : image.sas)
        if (!c.added) {
            sas_->remove(c.sa.spi);
            operator_sas_[c.sa.spi] = false;
        }
    for (SaChange& c : image.sas) {
        if (c.added) {
            if (auto e = refuse_manual_gcm(c.sa, config_.allow_manual_gcm)) {
                not_reapplied("add sa " + std::to_string(c.sa.spi), *e);
            } else {
                sas_->remove(c.sa.spi); // the stored one replaces the configuration's
                if (auto e2 = sas_->add(c.sa)) not_reapplied("add sa " + std::to_string(c.sa.spi), *e2);
                else operator_sas_[c.sa.spi] = true;
            }
        }
        wipe(c.sa.enc_key);
        wipe(c.sa.auth_key);
    }
    image.sas.clear();

    seq_ = std::make_unique<SeqReserver>(*sas_, *store_);
    std::string err;
    if (!seq_->start(image.seqs, steady_ms(), &err))
        log::printf(log::Level::err, "nemo-ha: state: outbound SAs send nothing until their sequence numbers are reserved: %s", err.c_str());

    const uint64_t now = monotonic_seconds();
    const uint64_t wall = wall_seconds();
    // A cluster's bindings are not this instance's to remove: etcd's lease ends an expired one, and
    // another instance may serve one this one does not.
    const bool shared = cluster_ != nullptr;
    for (std::size_t i = 0; i < image.bindings.size(); ++i) {
        const Binding& b = image.bindings[i].binding;
        const int64_t rev = shared && i < image.binding_revisions.size() ? image.binding_revisions[i] : 0;
        if (b.expires <= wall) {
            ++report.expired_while_down;
            if (!shared) store_->erase_binding(b.hoa);
            else cache_.note_stored(b.hoa, rev); // still in etcd until its lease ends
            continue;
        }
        std::string why;
        if (!provisioning_.find(b.hoa) || !cache_.restore(binding_to_mono(b, now, wall), now, &why)) {
            ++report.unprovisioned;
            if (!shared) store_->erase_binding(b.hoa);
            else cache_.note_stored(b.hoa, rev);
            continue;
        }
        if (shared) cache_.set_revision(b.hoa, rev, i < image.binding_origins.size() ? image.binding_origins[i] : "");
        ++report.restored_bindings;
        if (b.proxy_nd) restored_announce_.push_back(NdAnnounce{b.hoa, b.mobile_router});
    }
    image.bindings.clear();
    signaling_.update_table_gauges();
    stats_.inc(Counter::state_bindings_restored, report.restored_bindings);
    stats_.inc(Counter::state_bindings_expired_while_down, report.expired_while_down);
    stats_.inc(Counter::state_bindings_unprovisioned, report.unprovisioned);
    stats_.inc(Counter::state_records_damaged, report.damaged);
    stats_.inc(Counter::state_changes_not_reapplied, report.not_reapplied);
    // From here on every change is staged.
    cache_.set_store(store_.get(), [sas = sas_.get()](const Ipv6Addr& hoa) {
        const dp::SaEntry* sa = sas->outbound_for(hoa);
        return sa ? sa->cfg.spi : 0u;
    });
    signaling_.set_store(store_.get());
    store_->flush(); // the removals of what expired or is no longer served
    report.restore_ms = steady_ms() - t0;
    store_->set_restore_report(report);
}

} // namespace nemo::control
