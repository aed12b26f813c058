// S and S+U (draft 5.1, 7.5, 9; RFC 4303 tunnel mode, RFC 3948 for UDP): hand-keyed SAs in the home
// agent's notation (lib/sa_text: `in` protects what the router sends, `out` what the HA sends), the
// transforms of lib/esp_transform, framing by lib/esp, the anti-replay window of lib/anti_replay.
#include "mr.hpp"

#include <algorithm>

#include "esp.hpp"
#include "key_material.hpp"
#include "proto.hpp"
#include "sa_text.hpp"

namespace nemo::mr {

bool load_sas(const std::vector<std::string>& lines, std::vector<Router>& routers, std::string& err)
{
    for (const std::string& line : lines) {
        auto parsed = parse_sa(line, SaKeySource::file);
        if (auto* e = std::get_if<std::string>(&parsed)) {
            err = "--sa: " + *e;
            return false;
        }
        SaConfig& sa = std::get<SaConfig>(parsed);
        Router* r = nullptr;
        for (Router& x : routers)
            if (x.hoa == sa.hoa) r = &x;
        if (!r) {
            wipe(sa.enc_key);
            wipe(sa.auth_key);
            err = "--sa " + format_sa(sa) + ": no router has that home address";
            return false;
        }
        auto sa_obj = std::make_unique<EspSa>();
        sa_obj->spi = sa.spi;
        sa_obj->esn = sa.esn;
        sa_obj->window = ReplayWindow(sa.window, sa.esn);
        std::string why;
        sa_obj->transform = EspTransform::create(sa.algorithm, sa.enc_key, sa.auth_key, &why);
        wipe(sa.enc_key);
        wipe(sa.auth_key);
        if (!sa_obj->transform) {
            err = "--sa " + format_sa(sa) + ": " + why;
            return false;
        }
        (sa.inbound ? r->esp_tx : r->esp_rx) = std::move(sa_obj);
    }
    return true;
}

std::size_t esp_seal(EspSa& sa, ImbManager& m, std::span<const uint8_t> inner, std::span<uint8_t> out)
{
    const EspTransform& t = *sa.transform;
    if (!esp_seq_available(sa.next_seq, sa.esn)) return 0; // RFC 4303 3.3.3: never cycle
    const std::size_t pad = wire::esp_pad_len(inner.size(), t.block());
    const std::size_t plain = inner.size() + pad + wire::kEspTrailerLen;
    const std::size_t total = wire::kEspHeaderLen + t.iv_len() + plain + t.icv_len();
    if (total > out.size()) return 0;
    uint8_t* esp = out.data();
    const std::size_t at = wire::kEspHeaderLen + t.iv_len();
    std::copy(inner.begin(), inner.end(), esp + at);
    wire::write_esp_trailer(esp + at + inner.size(), pad, wire::ipproto::ipv6);
    const uint64_t seq = sa.next_seq++;
    wire::write_esp_header(esp, sa.spi, static_cast<uint32_t>(seq));
    if (!t.encrypt(m, esp, plain, seq, sa.esn)) return 0;
    return total;
}

std::span<const uint8_t> esp_open(EspSa& sa, ImbManager& m, std::span<uint8_t> esp)
{
    auto v = wire::parse_esp(esp);
    if (!v) return {};
    const EspTransform& t = *sa.transform;
    const uint64_t seq = sa.window.infer(v->seq);
    if (sa.window.check(seq) != ReplayWindow::Verdict::ok) return {}; // before the ICV (RFC 4303 3.4.3)
    const std::size_t head = wire::kEspHeaderLen + t.iv_len();
    if (esp.size() < head + t.icv_len() + wire::kEspTrailerLen) return {};
    if (!t.decrypt(m, esp.data(), esp.size(), seq, sa.esn)) return {};
    sa.window.accept(seq);
    auto tr = wire::parse_esp_trailer(esp.subspan(head, esp.size() - head - t.icv_len()));
    if (!tr || tr->next_header != wire::ipproto::ipv6) return {};
    return tr->inner;
}

} // namespace nemo::mr
