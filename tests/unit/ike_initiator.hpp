// A small IKEv2 initiator (RFC 7296) for tests, the benchmark and the fuzz target: the mobile router's
// side of IKE_SA_INIT, IKE_AUTH with a PSK and one CHILD_SA, CREATE_CHILD_SA (a CHILD_SA rekey, an IKE SA
// rekey) and INFORMATIONAL, built only from the codec (lib/ike_message) and the crypto
// (control/ike/ike_crypto), so that it shares no state-machine code with the responder under test. It
// verifies the responder's AUTH and keeps every key it derived, so that a test can compare them with what
// the responder installs. Nothing here prints a key.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "esp_transform.hpp"
#include "ike_crypto.hpp"
#include "ike_message.hpp"
#include "ike_policy.hpp"
#include "ike_responder.hpp"
#include "key_material.hpp"

namespace nemo::ike::test {

// One CHILD_SA as the initiator sees it: `spi_i` is the initiator's inbound SPI (the responder's
// outbound), `spi_r` the responder's inbound. KEYMAT order (2.17): i->r keys first, then r->i.
struct InitiatorChild {
    uint32_t spi_i = 0, spi_r = 0;
    EspAlgorithm algorithm = EspAlgorithm::aes_gcm_128;
    bool esn = false;
    KeyBytes enc_ir, auth_ir, enc_ri, auth_ri;
};

inline std::vector<uint8_t> be32_bytes(uint32_t v)
{
    return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}
inline uint32_t be32_value(const std::vector<uint8_t>& b)
{
    return b.size() != 4 ? 0 : (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}
inline std::vector<uint8_t> be64_bytes(uint64_t v)
{
    std::vector<uint8_t> b(8);
    for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
    return b;
}

inline TrafficSelector ts_range(const Ipv6Addr& lo, const Ipv6Addr& hi, uint8_t proto = 0, uint16_t p0 = 0, uint16_t p1 = 0xFFFF)
{
    TrafficSelector t;
    t.ts_type = kTsIpv6Range;
    t.ip_protocol = proto;
    t.start_port = p0;
    t.end_port = p1;
    t.start.assign(lo.bytes.begin(), lo.bytes.end());
    t.end.assign(hi.bytes.begin(), hi.bytes.end());
    return t;
}
inline TrafficSelector ts_any6() { return ts_range(*Ipv6Addr::parse("::"), *Ipv6Addr::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")); }

inline Proposal ike_proposal(uint8_t number, uint16_t encr_id, uint16_t bits, std::vector<uint16_t> groups,
                             uint16_t integ_id = integ::none, std::vector<uint8_t> spi = {})
{
    Proposal p;
    p.number = number;
    p.protocol = proto::ike;
    p.spi = std::move(spi);
    p.transforms.push_back(Transform{tf::encr, encr_id, bits});
    p.transforms.push_back(Transform{tf::prf, prf_id::hmac_sha2_256, std::nullopt});
    if (integ_id != integ::none) p.transforms.push_back(Transform{tf::integ, integ_id, std::nullopt});
    for (uint16_t g : groups) p.transforms.push_back(Transform{tf::dh, g, std::nullopt});
    return p;
}

inline Proposal esp_proposal(uint8_t number, uint32_t spi, uint16_t encr_id = encr::aes_gcm_16, uint16_t bits = 128,
                             uint16_t integ_id = integ::none, std::vector<uint16_t> esns = {esn::no}, std::vector<uint16_t> groups = {})
{
    Proposal p;
    p.number = number;
    p.protocol = proto::esp;
    p.spi = be32_bytes(spi);
    p.transforms.push_back(Transform{tf::encr, encr_id, bits});
    if (integ_id != integ::none) p.transforms.push_back(Transform{tf::integ, integ_id, std::nullopt});
    for (uint16_t g : groups) p.transforms.push_back(Transform{tf::dh, g, std::nullopt});
    for (uint16_t e : esns) p.transforms.push_back(Transform{tf::esn, e, std::nullopt});
    return p;
}

class Initiator {
public:
    // What the tests may set before IKE_SA_INIT.
    std::string id = "fqdn:mr1.example.net";
    KeyBytes psk;
    Ipv4Addr addr = Ipv4Addr{0xC6336401}; // 198.51.100.1
    uint16_t port = kIkePort;
    uint16_t local_port = kIkePort; // the responder's port we send to
    std::string responder_id;        // the IDr expected in AUTH (canonical); empty: any
    IkeCipher cipher = IkeCipher::aes_gcm16_128;
    std::vector<uint16_t> offer_groups{dh::ecp256};
    uint16_t ke_group = dh::ecp256;
    std::vector<Payload> init_extra; // e.g. a COOKIE notify, NAT detection
    std::optional<SaPayload> init_sa; // instead of the one from `cipher` and `offer_groups`

    // What was negotiated and derived.
    uint64_t spi_i = 0, spi_r = 0;
    std::unique_ptr<DhKey> dh;
    KeyBytes ni, nr;
    IkeKeys keys;
    std::vector<uint8_t> init_request, init_response;
    uint32_t next_id = 0;  // of our next request
    std::vector<InitiatorChild> children;
    uint16_t last_notify = 0;             // the first error notify (type < 16384) of the last response, or 0
    std::vector<uint8_t> last_notify_data;
    std::vector<Payload> last_payloads;   // the last response's (decrypted) payloads
    bool auth_verified = false;

    Initiator() : spi_i(random_spi()) { psk = KeyBytes{'s', 'e', 'c', 'r', 'e', 't', '-', 'p', 's', 'k', '-', '0', '1'}; }

    Datagram dgram(std::vector<uint8_t> bytes) const { return Datagram{addr, port, local_port, std::move(bytes), MacAddr{}}; }

    SaPayload default_ike_sa() const
    {
        SaPayload sa;
        if (cipher == IkeCipher::aes_cbc_128_hmac_sha256)
            sa.proposals.push_back(ike_proposal(1, encr::aes_cbc, 128, offer_groups, integ::hmac_sha2_256_128));
        else sa.proposals.push_back(ike_proposal(1, encr::aes_gcm_16, cipher == IkeCipher::aes_gcm16_256 ? 256 : 128, offer_groups));
        return sa;
    }

    // IKE_SA_INIT request (message ID 0). A new DH key and nonce each time.
    Datagram init()
    {
        std::string err;
        dh = DhKey::generate(static_cast<DhGroup>(ke_group), &err);
        ni.assign(32, 0);
        random_bytes(ni);
        std::vector<Payload> p;
        p.push_back(init_sa ? *init_sa : default_ike_sa());
        p.push_back(KePayload{ke_group, dh ? dh->public_value() : std::vector<uint8_t>(64, 1)});
        p.push_back(NoncePayload{std::vector<uint8_t>(ni.begin(), ni.end())});
        for (const Payload& x : init_extra) p.push_back(x);
        Header h;
        h.spi_i = spi_i;
        h.exchange = Exchange::ike_sa_init;
        h.flags = hdr_flag::initiator;
        init_request = build_message(h, p);
        next_id = 1;
        return dgram(init_request);
    }

    // The IKE_SA_INIT response: true when it established keys; a notify (COOKIE, INVALID_KE,
    // NO_PROPOSAL_CHOSEN) leaves last_notify set and false.
    bool on_init(const Datagram& d)
    {
        last_notify = 0;
        auto parsed = parse_message(d.bytes);
        auto* m = std::get_if<Message>(&parsed);
        if (!m || m->header.spi_i != spi_i || !(m->header.flags & hdr_flag::response)) return false;
        last_payloads = m->payloads;
        note_errors(m->payloads);
        if (const NotifyPayload* c = find_notify(m->payloads, notify::cookie)) {
            last_notify = notify::cookie;
            last_notify_data = c->data;
            return false;
        }
        const auto* ke = find<KePayload>(m->payloads);
        const auto* nonce = find<NoncePayload>(m->payloads);
        const auto* sa = find<SaPayload>(m->payloads);
        if (!ke || !nonce || !sa || !dh || m->header.spi_r == 0) return false;
        auto g = dh->shared_secret(ke->data);
        if (!g) return false;
        spi_r = m->header.spi_r;
        nr.assign(nonce->data.begin(), nonce->data.end());
        init_response = d.bytes;
        keys = derive_ike_keys(cipher, ni, nr, *g, spi_i, spi_r);
        return true;
    }

    // The cookie dance (2.6): the same request again with the COOKIE first.
    void use_cookie(std::vector<uint8_t> cookie)
    {
        NotifyPayload n;
        n.type = notify::cookie;
        n.data = std::move(cookie);
        init_extra.insert(init_extra.begin(), n);
    }

    IdPayload idi() const { return id_payload(id, false); }

    // IKE_AUTH request with a PSK AUTH and a CHILD_SA (ESP proposal `child_sa`, selectors `tsi`/`tsr`).
    Datagram auth(std::vector<TrafficSelector> tsi, std::vector<TrafficSelector> tsr, std::optional<SaPayload> child_sa = {},
                  std::vector<Payload> extra = {}, bool with_child = true)
    {
        pending_child_spi_ = fresh_child_spi();
        IdPayload i = idi();
        std::vector<Payload> p;
        p.push_back(i);
        const KeyBytes mac = signed_octets_mac(keys.sk_pi, id_body(i));
        const auto octets = signed_octets(init_request, nr, mac);
        const KeyBytes a = psk_auth(psk, octets);
        p.push_back(AuthPayload{auth_method::psk, std::vector<uint8_t>(a.begin(), a.end())});
        for (Payload& x : extra) p.push_back(std::move(x));
        if (with_child) {
            if (!child_sa) {
                child_sa.emplace();
                child_sa->proposals.push_back(esp_proposal(1, pending_child_spi_));
            } else if (!child_sa->proposals.empty()) pending_child_spi_ = be32_value(child_sa->proposals[0].spi);
            p.push_back(*child_sa);
            p.push_back(TsPayload{false, std::move(tsi)});
            p.push_back(TsPayload{true, std::move(tsr)});
        }
        return request(Exchange::ike_auth, p);
    }

    // The IKE_AUTH response: true when the responder's AUTH verifies (and a CHILD_SA, if one came, has
    // its keys in `children`).
    bool on_auth(const Datagram& d)
    {
        auth_verified = false;
        auto p = open(d);
        if (!p) return false;
        const IdPayload* idr = nullptr;
        for (const Payload& x : *p)
            if (auto* i = std::get_if<IdPayload>(&x); i && i->responder) idr = i;
        const auto* a = find<AuthPayload>(*p);
        if (!idr || !a) return false;
        if (!responder_id.empty() && canonical_id(*idr) != responder_id) return false;
        const KeyBytes mac = signed_octets_mac(keys.sk_pr, id_body(*idr));
        const auto octets = signed_octets(init_response, ni, mac);
        const KeyBytes want = psk_auth(psk, octets);
        if (a->method != auth_method::psk || !psk_auth_equal(want, a->data)) return false;
        auth_verified = true;
        take_child(*p, {}, ni, nr);
        return true;
    }

    // CREATE_CHILD_SA rekeying the child whose responder-outbound SPI is `old_child_spi` (REKEY_SA names the
    // SPI the sender of the notify receives with, 2.8). Without PFS.
    Datagram rekey_child(uint32_t old_child_spi, std::vector<TrafficSelector> tsi, std::vector<TrafficSelector> tsr)
    {
        pending_child_spi_ = fresh_child_spi();
        child_ni_.assign(32, 0);
        random_bytes(child_ni_);
        std::vector<Payload> p;
        NotifyPayload r;
        r.protocol = proto::esp;
        r.spi = be32_bytes(old_child_spi);
        r.type = notify::rekey_sa;
        p.push_back(r);
        SaPayload sa;
        sa.proposals.push_back(esp_proposal(1, pending_child_spi_));
        p.push_back(sa);
        p.push_back(NoncePayload{std::vector<uint8_t>(child_ni_.begin(), child_ni_.end())});
        p.push_back(TsPayload{false, std::move(tsi)});
        p.push_back(TsPayload{true, std::move(tsr)});
        return request(Exchange::create_child_sa, p);
    }
    bool on_rekey_child(const Datagram& d)
    {
        auto p = open(d);
        if (!p) return false;
        const auto* n = find<NoncePayload>(*p);
        if (!n) return false;
        return take_child(*p, {}, child_ni_, n->data);
    }

    // CREATE_CHILD_SA rekeying the IKE SA itself (2.18): a new SPIi, KE and nonce.
    Datagram rekey_ike()
    {
        new_spi_i_ = random_spi();
        std::string err;
        new_dh_ = DhKey::generate(static_cast<DhGroup>(ke_group), &err);
        child_ni_.assign(32, 0);
        random_bytes(child_ni_);
        SaPayload sa = default_ike_sa();
        sa.proposals[0].spi = be64_bytes(new_spi_i_);
        std::vector<Payload> p;
        p.push_back(sa);
        p.push_back(NoncePayload{std::vector<uint8_t>(child_ni_.begin(), child_ni_.end())});
        p.push_back(KePayload{ke_group, new_dh_->public_value()});
        return request(Exchange::create_child_sa, p);
    }
    // The rekey's answer: the new IKE SA's keys. The old SA's keys are kept in `old_keys` (its delete
    // goes out under them: old_request()).
    bool on_rekey_ike(const Datagram& d)
    {
        auto p = open(d);
        if (!p) return false;
        const auto* sa = find<SaPayload>(*p);
        const auto* n = find<NoncePayload>(*p);
        const auto* ke = find<KePayload>(*p);
        if (!sa || !n || !ke || sa->proposals.size() != 1 || sa->proposals[0].spi.size() != 8) return false;
        auto g = new_dh_->shared_secret(ke->data);
        if (!g) return false;
        uint64_t r = 0;
        for (uint8_t b : sa->proposals[0].spi) r = (r << 8) | b;
        old_keys = keys;
        old_spi_i = spi_i;
        old_spi_r = spi_r;
        old_next_id = next_id;
        keys = derive_rekeyed_ike_keys(cipher, old_keys.sk_d, *g, child_ni_, n->data, new_spi_i_, r);
        spi_i = new_spi_i_;
        spi_r = r;
        next_id = 0;
        return true;
    }
    // A request on the old IKE SA after a rekey (its Delete).
    Datagram old_request(Exchange x, const std::vector<Payload>& p)
    {
        std::swap(keys, old_keys);
        std::swap(spi_i, old_spi_i);
        std::swap(spi_r, old_spi_r);
        std::swap(next_id, old_next_id);
        Datagram d = request(x, p);
        std::swap(keys, old_keys);
        std::swap(spi_i, old_spi_i);
        std::swap(spi_r, old_spi_r);
        std::swap(next_id, old_next_id);
        return d;
    }
    IkeKeys old_keys;
    uint64_t old_spi_i = 0, old_spi_r = 0;
    uint32_t old_next_id = 0;

    static DeletePayload delete_esp(uint32_t spi)
    {
        DeletePayload d;
        d.protocol = proto::esp;
        d.spi_size = 4;
        d.spis.push_back(be32_bytes(spi));
        return d;
    }
    static DeletePayload delete_ike()
    {
        DeletePayload d;
        d.protocol = proto::ike;
        d.spi_size = 0;
        return d;
    }

    // Any encrypted request of ours (message ID next_id, then one more).
    Datagram request(Exchange x, const std::vector<Payload>& p) { return dgram(seal_msg(x, hdr_flag::initiator, next_id++, p)); }
    // Our answer to the responder's request `req` (liveness, its deletes).
    Datagram answer(const Datagram& req, const std::vector<Payload>& p)
    {
        auto h = parse_header(req.bytes);
        return dgram(seal_msg(h ? h->exchange : Exchange::informational, hdr_flag::initiator | hdr_flag::response,
                              h ? h->message_id : 0, p));
    }

    // An encrypted message from the responder, decrypted and parsed (nothing when it does not verify).
    std::optional<std::vector<Payload>> open(const Datagram& d)
    {
        last_notify = 0;
        auto parsed = parse_message(d.bytes);
        auto* m = std::get_if<Message>(&parsed);
        if (!m || m->header.spi_i != spi_i || m->header.spi_r != spi_r || m->payloads.empty()) return std::nullopt;
        auto* sk = std::get_if<SkPayload>(&m->payloads.back());
        if (!sk) return std::nullopt;
        auto plain = open_sk(cipher, keys.sk_er, keys.sk_ar, d.bytes, sk->offset);
        if (!plain) return std::nullopt;
        auto inner = parse_payloads(sk->first_inner, *plain);
        auto* ps = std::get_if<std::vector<Payload>>(&inner);
        if (!ps) return std::nullopt;
        last_payloads = *ps;
        note_errors(*ps);
        return *ps;
    }

    static std::vector<uint8_t> id_body(const IdPayload& id)
    {
        std::vector<uint8_t> b{id.id_type, 0, 0, 0};
        b.insert(b.end(), id.data.begin(), id.data.end());
        return b;
    }

private:
    uint32_t pending_child_spi_ = 0;
    KeyBytes child_ni_;
    uint64_t new_spi_i_ = 0;
    std::unique_ptr<DhKey> new_dh_;

    uint32_t fresh_child_spi() const
    {
        for (;;) {
            uint8_t b[4];
            random_bytes(b);
            const uint32_t s = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
            if (s >= 256) return s;
        }
    }

    void note_errors(const std::vector<Payload>& ps)
    {
        for (const Payload& x : ps)
            if (auto* n = std::get_if<NotifyPayload>(&x); n && n->type < 16384 && last_notify == 0) {
                last_notify = n->type;
                last_notify_data = n->data;
            }
    }

    std::vector<uint8_t> seal_msg(Exchange x, uint8_t flags, uint32_t message_id, const std::vector<Payload>& p) const
    {
        Header h;
        h.spi_i = spi_i;
        h.spi_r = spi_r;
        h.next_payload = static_cast<uint8_t>(PayloadType::sk);
        h.exchange = x;
        h.flags = flags;
        h.message_id = message_id;
        uint8_t hdr[kHeaderLen];
        write_header(h, hdr);
        uint8_t first = 0;
        std::vector<uint8_t> inner = p.empty() ? std::vector<uint8_t>{} : encode_payloads(p, &first);
        return seal_sk(cipher, keys.sk_ei, keys.sk_ai, {hdr, kHeaderLen}, first, inner);
    }

    // The CHILD_SA of a response (SA payload with the responder's SPI): its keys from KEYMAT.
    bool take_child(const std::vector<Payload>& p, std::span<const uint8_t> g_ir, std::span<const uint8_t> n_i,
                    std::span<const uint8_t> n_r)
    {
        const auto* sa = find<SaPayload>(p);
        if (!sa || sa->proposals.size() != 1 || sa->proposals[0].protocol != proto::esp) return false;
        const Proposal& pr = sa->proposals[0];
        uint16_t e = 0, bits = 0, i = integ::none;
        bool esn_on = false;
        for (const Transform& t : pr.transforms) {
            if (t.type == tf::encr) e = t.id, bits = t.key_length.value_or(0);
            if (t.type == tf::integ) i = t.id;
            if (t.type == tf::esn) esn_on = t.id == esn::yes;
        }
        auto alg = esp_algorithm_of(e, bits, i);
        if (!alg) return false;
        InitiatorChild c;
        c.spi_i = pending_child_spi_;
        c.spi_r = be32_value(pr.spi);
        c.algorithm = *alg;
        c.esn = esn_on;
        const std::size_t enc = esp_enc_key_len(*alg), au = esp_auth_key_len(*alg);
        const KeyBytes km = child_keymat(keys.sk_d, g_ir, n_i, n_r, 2 * (enc + au));
        auto at = km.begin();
        c.enc_ir.assign(at, at + static_cast<std::ptrdiff_t>(enc));
        at += static_cast<std::ptrdiff_t>(enc);
        c.auth_ir.assign(at, at + static_cast<std::ptrdiff_t>(au));
        at += static_cast<std::ptrdiff_t>(au);
        c.enc_ri.assign(at, at + static_cast<std::ptrdiff_t>(enc));
        at += static_cast<std::ptrdiff_t>(enc);
        c.auth_ri.assign(at, at + static_cast<std::ptrdiff_t>(au));
        children.push_back(std::move(c));
        return true;
    }
};

} // namespace nemo::ike::test
