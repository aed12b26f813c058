// The IKEv2 responder (control/ike) inside the control plane: its view of the SA table and of the
// provisioning (which identity may have SAs for which home address), its start, and its turn.
#include "cli_server.hpp"
#include "control_plane.hpp"
#include "ike_cert.hpp"
#include "ike_psk.hpp"
#include "log.hpp"

namespace nemo::control {

class ControlPlane::IkeGlue : public ike::IkeHost {
public:
    explicit IkeGlue(ControlPlane& cp) : cp_(cp) {}

    std::optional<std::string> change_sas(std::span<const uint32_t> gone, std::span<const SaConfig> add) override
    {
        return cp_.sas_->change(gone, add);
    }
    bool spi_taken(uint32_t spi) const override { return cp_.sas_->any(spi) != nullptr; }
    std::optional<uint32_t> outbound_spi(const Ipv6Addr& hoa, bool* negotiated) const override
    {
        const dp::SaEntry* e = cp_.sas_->outbound_for(hoa);
        if (!e) return std::nullopt;
        *negotiated = e->cfg.negotiated;
        return e->cfg.spi;
    }
    uint64_t inbound_packets(uint32_t spi) const override
    {
        const dp::SaEntry* e = cp_.sas_->inbound(spi);
        return e ? e->get(dp::SaCounter::packets) : 0;
    }
    uint64_t outbound_seq_used(uint32_t spi) const override
    {
        const dp::SaEntry* e = cp_.sas_->any(spi);
        return e && !e->cfg.inbound ? e->next_seq.load(std::memory_order_relaxed) - 1 : 0;
    }
    // The provisioning says which home address an identity has (mr ... ike-id=); the PSK file its key.
    // Looked up at each authentication and CHILD_SA: a router unprovisioned since gets no more SAs.
    std::optional<ike::IkePeer> peer(const std::string& id) const override
    {
        std::optional<ike::IkePeer> found;
        cp_.provisioning_.for_each([&](const MrProvision& mr) {
            if (found || mr.ike_id != id) return;
            found = ike::IkePeer{id, mr.hoa, mr.prefixes, {}};
        });
        if (!found) return std::nullopt;
        if (auto it = cp_.ike_psks_.find(id); it != cp_.ike_psks_.end()) found->psk = it->second;
        return found;
    }

private:
    ControlPlane& cp_;
};

bool ControlPlane::ike_start(std::string* error)
{
    const IkeSettings& k = config_.ike;
    if (!k.enabled) return true;
    if (!k.psk_file.empty()) {
        auto psks = ike::load_psk_file(k.psk_file);
        if (auto* e = std::get_if<std::string>(&psks)) {
            *error = *e;
            return false;
        }
        ike_psks_.swap(std::get<ike::PskMap>(psks));
    }
    ike::IkeConfig ic;
    if (!k.ca_file.empty()) {
        std::string err;
        std::shared_ptr<const ike::CertStore> certs = ike::CertStore::load(k.ca_file, k.cert_file, k.key_file, &err);
        if (!certs) {
            *error = "ike: " + err;
            return false;
        }
        ic.certs = std::move(certs);
    }
    ic.local = config_.ha.ipv4_addresses.empty() ? Ipv4Addr{} : config_.ha.ipv4_addresses.front();
    ic.id = k.id.empty() ? "ip:" + ic.local.str() : k.id;
    ic.dpd_s = k.dpd_s;
    ic.retransmits = k.retransmits;
    ic.child_lifetime_s = k.child_lifetime_s;
    ic.half_open_max = k.half_open_max;
    ic.cookie_threshold = k.cookie_threshold;
    ic.inits_per_turn = k.inits_per_turn;
    ike_glue_.reset(new IkeGlue(*this));
    ike_ = std::make_unique<ike::IkeResponder>(std::move(ic), *ike_glue_);
    log::printf(log::Level::notice, "nemo-ha: ike: answering as %s, %zu pre-shared keys, certificates %s", ike_->config().id.c_str(),
                ike_psks_.size(), ike_->config().certs ? "accepted" : "not configured");
    return true;
}

void ControlPlane::handle_ike(ike::Datagram&& d, uint64_t now_ms, std::vector<ike::Datagram>& out)
{
    if (ike_) ike_->handle(std::move(d), now_ms, out);
}

void ControlPlane::ike_poll(uint64_t now_ms, std::vector<ike::Datagram>& out)
{
    if (!ike_) return;
    for (auto& d : ike_cli_out_) out.push_back(std::move(d));
    ike_cli_out_.clear();
    ike_->poll(now_ms, out);
}

void ControlPlane::IkeGlueDelete::operator()(IkeGlue* g) const { delete g; }

} // namespace nemo::control
