#include "ike_responder.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "ike_cert.hpp"
#include "json.hpp"
#include "log.hpp"

namespace nemo::ike {

namespace {

constexpr std::size_t kNonceLen = 32;
constexpr uint64_t kScanEveryMs = 200;        // timers are looked at this often
constexpr uint64_t kCookieRotateMs = 60'000;  // a new cookie secret this often (the previous one still valid)
constexpr uint64_t kOutboundSwitchMs = 1000;  // a rekeyed CHILD_SA's outbound SA is used after this at the latest

const char* const kCounterNames[] = {
#define NEMO_IKE_NAME(id, help) #id,
    NEMO_IKE_COUNTERS(NEMO_IKE_NAME)
#undef NEMO_IKE_NAME
};

const char* const kCounterHelp[] = {
#define NEMO_IKE_HELP(id, help) help,
    NEMO_IKE_COUNTERS(NEMO_IKE_HELP)
#undef NEMO_IKE_HELP
};

struct Gauge {
    const char* name;
    const char* help;
};
constexpr Gauge kGauges[] = {
    {"ike_sas", "IKE SAs established"},
    {"ike_sas_half_open", "IKE SAs not yet authenticated"},
    {"ike_child_sas", "CHILD_SAs of the IKE SAs"},
    {"ike_init_queued", "IKE_SA_INITs waiting for their Diffie-Hellman"},
};

std::vector<uint8_t> be16(uint16_t v) { return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}; }
std::vector<uint8_t> be32(uint32_t v)
{
    return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}
uint32_t load32(const std::vector<uint8_t>& b)
{
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

NotifyPayload note(uint16_t type, std::vector<uint8_t> data = {})
{
    NotifyPayload n;
    n.type = type;
    n.data = std::move(data);
    return n;
}

// IDx' of RFC 7296 2.15: the ID payload's body after its generic header.
std::vector<uint8_t> id_body(const IdPayload& id)
{
    std::vector<uint8_t> b;
    b.reserve(4 + id.data.size());
    b.push_back(id.id_type);
    for (int i = 0; i < 3; ++i) b.push_back(0);
    for (uint8_t x : id.data) b.push_back(x);
    return b;
}

IkeCipher cipher_of(const IkeChoice& c)
{
    if (c.encr == encr::aes_gcm_16) return c.key_bits == 256 ? IkeCipher::aes_gcm16_256 : IkeCipher::aes_gcm16_128;
    return IkeCipher::aes_cbc_128_hmac_sha256;
}

std::string spi_hex(uint64_t v)
{
    char b[20];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
    return b;
}
std::string spi32_hex(uint32_t v)
{
    char b[12];
    std::snprintf(b, sizeof b, "0x%08x", v);
    return b;
}

const IdPayload* find_id(const std::vector<Payload>& ps, bool responder)
{
    for (const Payload& p : ps)
        if (auto* id = std::get_if<IdPayload>(&p); id && id->responder == responder) return id;
    return nullptr;
}

const TsPayload* find_ts(const std::vector<Payload>& ps, bool responder)
{
    for (const Payload& p : ps)
        if (auto* t = std::get_if<TsPayload>(&p); t && t->responder == responder) return t;
    return nullptr;
}

const SkPayload* find_sk(const Message& m)
{
    return m.payloads.empty() ? nullptr : std::get_if<SkPayload>(&m.payloads.back());
}

std::optional<DhGroup> dh_group_of(uint16_t g)
{
    switch (g) {
    case dh::ecp256: return DhGroup::ecp256;
    case dh::curve25519: return DhGroup::curve25519;
    case dh::modp2048: return DhGroup::modp2048;
    default: return std::nullopt;
    }
}

} // namespace

std::string_view ike_stat_help(std::string_view name)
{
    for (const Gauge& g : kGauges)
        if (name == g.name) return g.help;
    for (std::size_t i = 0; i < static_cast<std::size_t>(IkeCounter::count_); ++i)
        if (name.size() == 4 + std::strlen(kCounterNames[i]) && name.substr(0, 4) == "ike_" && name.substr(4) == kCounterNames[i])
            return kCounterHelp[i];
    return "";
}

bool ike_stat_is_gauge(std::string_view name)
{
    for (const Gauge& g : kGauges)
        if (name == g.name) return true;
    return false;
}

IkeResponder::IkeResponder(IkeConfig cfg, IkeHost& host) : cfg_(std::move(cfg)), host_(host) {}
IkeResponder::~IkeResponder() = default;

// ---- framing ----

Datagram IkeResponder::to_peer(const IkeSa& sa, std::vector<uint8_t> bytes) const
{
    return Datagram{sa.peer, sa.peer_port, sa.local_port, std::move(bytes), sa.link_mac};
}

Datagram IkeResponder::plain_answer(const Datagram& in, const Header& h, const Payloads& p)
{
    Header r;
    r.spi_i = h.spi_i;
    r.spi_r = 0;
    r.exchange = Exchange::ike_sa_init;
    r.flags = hdr_flag::response;
    r.message_id = h.message_id;
    return Datagram{in.peer, in.peer_port, in.local_port, build_message(r, p), in.link_mac};
}

std::vector<uint8_t> IkeResponder::seal(const IkeSa& sa, Exchange x, bool response, uint32_t id, const Payloads& p) const
{
    Header h;
    h.spi_i = sa.spi_i;
    h.spi_r = sa.spi_r;
    h.next_payload = static_cast<uint8_t>(PayloadType::sk);
    h.exchange = x;
    // The home agent is never the original initiator (it answers; an IKE rekey it answers makes the
    // peer the initiator of the new SA too, RFC 7296 2.18).
    h.flags = response ? hdr_flag::response : 0;
    h.message_id = id;
    uint8_t hdr[kHeaderLen];
    write_header(h, hdr);
    uint8_t first = 0;
    std::vector<uint8_t> inner = p.empty() ? std::vector<uint8_t>{} : encode_payloads(p, &first);
    // The peer is the original initiator: we send with the responder's keys.
    return seal_sk(sa.cipher, sa.keys.sk_er, sa.keys.sk_ar, {hdr, kHeaderLen}, first, inner);
}

NotifyPayload IkeResponder::nat_notify(uint16_t type, uint64_t spi_i, uint64_t spi_r, Ipv4Addr addr, uint16_t port) const
{
    uint8_t ip[4];
    addr.to_bytes(ip);
    auto h = nat_detection_hash(spi_i, spi_r, {ip, 4}, port);
    return note(type, std::vector<uint8_t>(h.begin(), h.end()));
}

// ---- reception ----

void IkeResponder::handle(Datagram&& in, uint64_t now_ms, std::vector<Datagram>& out)
{
    inc(IkeCounter::rx);
    auto h = parse_header(in.bytes);
    if (!h || (h->version >> 4) != 2) {
        inc(IkeCounter::invalid_syntax);
        return;
    }
    if (h->exchange == Exchange::ike_sa_init && !(h->flags & hdr_flag::response)) {
        // A repeated IKE_SA_INIT is answered at once from the cache (no public-key work).
        auto it = by_init_.find({h->spi_i, in.peer.value, in.peer_port});
        if (it != by_init_.end()) {
            auto sa = sas_.find(it->second);
            if (sa != sas_.end() && sa->second->init_request == in.bytes) {
                inc(IkeCounter::retransmit_answered);
                inc(IkeCounter::tx);
                out.push_back(Datagram{in.peer, in.peer_port, in.local_port, sa->second->init_response, in.link_mac});
            }
            return;
        }
        if (init_queue_.size() >= cfg_.init_queue_max) {
            inc(IkeCounter::init_queue_full);
            return;
        }
        init_queue_.push_back(Queued{std::move(in), now_ms});
        return;
    }
    auto found = sas_.find(h->spi_r);
    if (found == sas_.end() || found->second->spi_i != h->spi_i) {
        inc(IkeCounter::unknown_spi);
        return;
    }
    IkeSa& sa = *found->second;
    const bool response = (h->flags & hdr_flag::response) != 0;
    if (!response && sa.have_response && h->message_id == sa.last_response_id && h->message_id + 1 == sa.next_in) {
        inc(IkeCounter::retransmit_answered);
        inc(IkeCounter::tx);
        out.push_back(Datagram{in.peer, in.peer_port, in.local_port, sa.last_response, in.link_mac});
        return;
    }
    if (!response && h->message_id != sa.next_in) {
        inc(IkeCounter::bad_message_id);
        return;
    }
    if (response && (!sa.pending || sa.pending->id != h->message_id)) {
        inc(IkeCounter::bad_message_id);
        return;
    }
    auto parsed = parse_message(in.bytes);
    auto* m = std::get_if<Message>(&parsed);
    const SkPayload* sk = m ? find_sk(*m) : nullptr;
    if (!sk) {
        inc(IkeCounter::invalid_syntax);
        return;
    }
    auto plain = open_sk(sa.cipher, sa.keys.sk_ei, sa.keys.sk_ai, in.bytes, sk->offset);
    if (!plain) {
        inc(IkeCounter::icv_failed);
        return;
    }
    auto inner = parse_payloads(sk->first_inner, *plain);
    secure_wipe(plain->data(), plain->size());
    if (auto* e = std::get_if<ParseError>(&inner)) {
        // Authenticated, so answered (RFC 7296 2.21.2, 2.5); an IKE_AUTH that does not parse ends the SA.
        const bool critical = e->kind == ParseError::Kind::unsupported_critical;
        inc(critical ? IkeCounter::unsupported_critical : IkeCounter::invalid_syntax);
        if (response) return;
        Payloads p{critical ? note(notify::unsupported_critical_payload, {e->payload}) : note(notify::invalid_syntax)};
        sa.last_response = seal(sa, h->exchange, true, h->message_id, p);
        sa.last_response_id = h->message_id;
        sa.have_response = true;
        ++sa.next_in;
        inc(IkeCounter::tx);
        out.push_back(Datagram{in.peer, in.peer_port, in.local_port, sa.last_response, in.link_mac});
        if (sa.state == IkeSa::State::half_open) drop_sa(sa.spi_r);
        return;
    }
    sa.heard_ms = now_ms;
    sa.link_mac = in.link_mac;
    // NAT traversal: the initiator floats to 4500 (RFC 7296 2.23) and a NAT may change its mapping; an
    // authenticated message from elsewhere moves the SA there when a NAT was detected (MOBIKE moves it
    // with UPDATE_SA_ADDRESSES instead).
    if (in.local_port == kNatTPort && sa.local_port != kNatTPort) {
        sa.local_port = kNatTPort;
        sa.peer = in.peer;
        sa.peer_port = in.peer_port;
        inc(IkeCounter::nat_float);
    } else if (sa.nat_peer && (in.peer != sa.peer || in.peer_port != sa.peer_port) && !sa.mobike) {
        sa.peer = in.peer;
        sa.peer_port = in.peer_port;
    }
    auto& payloads = std::get<std::vector<Payload>>(inner);
    if (response) on_response(sa, *h, payloads, now_ms);
    else on_request(sa, in, *h, payloads, now_ms, out);
}

void IkeResponder::on_request(IkeSa& sa, const Datagram& in, const Header& h, Payloads& in_payloads, uint64_t now_ms,
                              std::vector<Datagram>& out)
{
    bool drop = false;
    Payloads answer;
    switch (h.exchange) {
    case Exchange::ike_auth:
        if (sa.state != IkeSa::State::half_open || h.message_id != 1) {
            inc(IkeCounter::invalid_syntax);
            answer = {note(notify::invalid_syntax)};
            break;
        }
        answer = on_auth(sa, in_payloads, now_ms, &drop);
        break;
    case Exchange::create_child_sa:
        if (sa.state != IkeSa::State::established) {
            inc(IkeCounter::invalid_syntax);
            return;
        }
        answer = on_create_child(sa, in_payloads, now_ms);
        break;
    case Exchange::informational:
        if (sa.state != IkeSa::State::established) {
            inc(IkeCounter::invalid_syntax);
            return;
        }
        answer = on_informational(sa, in, in_payloads, now_ms, &drop);
        break;
    default: inc(IkeCounter::invalid_syntax); return;
    }
    sa.last_response = seal(sa, h.exchange, true, h.message_id, answer);
    sa.last_response_id = h.message_id;
    sa.have_response = true;
    ++sa.next_in;
    inc(IkeCounter::tx);
    // To where the request came from (RFC 7296 2.11), not the SA's address: a MOBIKE path probe comes
    // from the router's new address before UPDATE_SA_ADDRESSES moves the SA there (RFC 4555 3.5).
    out.push_back(Datagram{in.peer, in.peer_port, in.local_port, sa.last_response, in.link_mac});
    if (drop) drop_sa(sa.spi_r);
}

void IkeResponder::on_response(IkeSa& sa, const Header&, const Payloads& answer, uint64_t now_ms)
{
    const IkeSa::Pending p = std::move(*sa.pending);
    sa.pending.reset();
    ++sa.next_out;
    switch (p.kind) {
    case IkeSa::Pending::Kind::delete_ike: drop_sa(sa.spi_r); break;
    case IkeSa::Pending::Kind::rekey_child: finish_rekey(sa, p, answer, now_ms); break;
    case IkeSa::Pending::Kind::delete_child: {
        // A child a rekey of ours replaced: its inbound SA goes now that the peer knows.
        auto it = std::find_if(sa.children.begin(), sa.children.end(), [&](const ChildSa& c) { return c.spi_in == p.child_spi; });
        if (it != sa.children.end()) {
            std::vector<uint32_t> gone{it->spi_in};
            if (it->out_installed) gone.push_back(it->spi_out);
            (void)host_.change_sas(gone, {});
            sa.children.erase(it);
            inc(IkeCounter::child_deleted);
        }
        break;
    }
    case IkeSa::Pending::Kind::liveness: break;
    }
}

// Ours when the router has not rekeyed: at 90 % of ike.child_lifetime_s, or with 7/8 of the outbound
// SA's sequence numbers used (RFC 4303 3.3.3: it must be replaced before it cycles).
bool IkeResponder::rekey_due(const ChildSa& c, uint64_t now_ms) const
{
    if (c.out_waiting || c.retiring || !c.out_installed || now_ms < c.rekey_after_ms) return false;
    if (cfg_.child_lifetime_s && now_ms - c.created_ms >= uint64_t{cfg_.child_lifetime_s} * 900) return true;
    const uint64_t last = esp_last_seq(c.esn);
    return host_.outbound_seq_used(c.spi_out) >= last - last / 8;
}

void IkeResponder::start_rekey(IkeSa& sa, ChildSa& c, uint64_t now_ms, std::vector<Datagram>& out)
{
    const uint32_t spi = fresh_spi();
    KeyBytes ni(kNonceLen);
    random_bytes(ni);
    NotifyPayload rekey = note(notify::rekey_sa);
    rekey.protocol = proto::esp;
    rekey.spi = be32(c.spi_in); // the SA we receive with, as its rekey names it (2.8)
    EspChoice same;
    same.algorithm = c.algorithm;
    same.esn = c.esn;
    Payloads p{rekey, answer_esp_proposal(same, spi), NoncePayload{std::vector<uint8_t>(ni.begin(), ni.end())},
               // We initiate this exchange: TSi is our side, TSr the router's.
               TsPayload{false, c.tsr}, TsPayload{true, c.tsi}};
    send_request(sa, IkeSa::Pending::Kind::rekey_child, p, c.spi_in, now_ms, out, Exchange::create_child_sa);
    sa.pending->new_spi = spi;
    sa.pending->nonce = std::move(ni);
    inc(IkeCounter::rekeys_started);
}

void IkeResponder::finish_rekey(IkeSa& sa, const IkeSa::Pending& p, const Payloads& answer, uint64_t now_ms)
{
    auto old = std::find_if(sa.children.begin(), sa.children.end(), [&](const ChildSa& c) { return c.spi_in == p.child_spi; });
    if (old == sa.children.end()) return; // deleted meanwhile
    const auto* sa_p = find<SaPayload>(answer);
    const auto* nonce = find<NoncePayload>(answer);
    const Proposal* prop = sa_p && sa_p->proposals.size() == 1 ? &sa_p->proposals[0] : nullptr;
    auto choice = sa_p ? choose_esp_proposal(*sa_p, dh::none, cfg_.algorithms) : std::nullopt;
    if (!prop || !nonce || !choice || choice->algorithm != old->algorithm || choice->esn != old->esn) {
        // Refused (a collision with the router's own rekey, TEMPORARY_FAILURE, ...): later again.
        inc(IkeCounter::rekeys_refused);
        old->rekey_after_ms = now_ms + 10'000;
        return;
    }
    ChildSa child;
    child.spi_in = p.new_spi;
    child.spi_out = choice->peer_spi;
    child.algorithm = old->algorithm;
    child.esn = old->esn;
    child.tsi = old->tsi;
    child.tsr = old->tsr;
    child.created_ms = now_ms;
    // KEYMAT's first keys are for what the exchange's initiator (we) sends (2.17).
    auto [in, out] = child_sas(sa, child, {}, p.nonce, nonce->data, true);
    // The router answered, so it has the keys: the new outbound SA replaces the old one at once; the
    // old inbound one stays until our Delete is answered.
    std::vector<uint32_t> gone;
    if (old->out_installed) gone.push_back(old->spi_out);
    if (auto e = host_.change_sas(gone, std::vector<SaConfig>{std::move(in), std::move(out)})) {
        inc(IkeCounter::child_refused);
        log::printf(log::Level::warning, "nemo-ha: ike: %s: our rekeyed CHILD_SA was refused by the SA table: %s", sa.id.c_str(), e->c_str());
        old->rekey_after_ms = now_ms + 10'000;
        return;
    }
    old->out_installed = false;
    old->retiring = true;
    inc(IkeCounter::child_installed);
    inc(IkeCounter::child_rekeyed);
    sa.children.push_back(std::move(child));
}

// ---- IKE_SA_INIT ----

void IkeResponder::on_init(const Datagram& in, const Message& m, uint64_t now_ms, std::vector<Datagram>& out)
{
    const Header& h = m.header;
    if (h.spi_r != 0 || h.message_id != 0 || !(h.flags & hdr_flag::initiator)) {
        inc(IkeCounter::invalid_syntax);
        return;
    }
    auto answer = [&](Payloads p) {
        inc(IkeCounter::tx);
        out.push_back(plain_answer(in, h, p));
    };
    const auto* sa_p = find<SaPayload>(m.payloads);
    const auto* ke = find<KePayload>(m.payloads);
    const auto* nonce = find<NoncePayload>(m.payloads);
    if (!sa_p || !ke || !nonce || nonce->data.size() < 16 || nonce->data.size() > 256) {
        inc(IkeCounter::invalid_syntax);
        return;
    }
    if (half_open_ >= cfg_.half_open_max || sas_.size() >= cfg_.max_ike_sas) {
        inc(IkeCounter::half_open_full);
        return;
    }
    uint8_t ip[4];
    in.peer.to_bytes(ip);
    if (half_open_ >= cfg_.cookie_threshold) {
        const NotifyPayload* c = find_notify(m.payloads, notify::cookie);
        if (!c) {
            inc(IkeCounter::cookies_sent);
            answer({note(notify::cookie, cookies_.make(nonce->data, {ip, 4}, h.spi_i))});
            return;
        }
        if (!cookies_.valid(c->data, nonce->data, {ip, 4}, h.spi_i)) {
            inc(IkeCounter::cookie_bad);
            return;
        }
    }
    auto choice = choose_ike_proposal(*sa_p, cfg_.algorithms, ke->group);
    if (!choice) {
        inc(IkeCounter::no_proposal_chosen);
        answer({note(notify::no_proposal_chosen)});
        return;
    }
    if (ke->group != choice->dh) {
        inc(IkeCounter::invalid_ke);
        answer({note(notify::invalid_ke_payload, be16(choice->dh))});
        return;
    }
    std::string err;
    auto key = DhKey::generate(*dh_group_of(choice->dh), &err);
    std::optional<KeyBytes> g_ir = key ? key->shared_secret(ke->data) : std::nullopt;
    if (!g_ir) {
        inc(IkeCounter::bad_ke);
        answer({note(notify::invalid_syntax)});
        return;
    }
    auto sa = std::make_unique<IkeSa>();
    sa->spi_i = h.spi_i;
    sa->spi_r = fresh_ike_spi();
    sa->peer = in.peer;
    sa->peer_port = in.peer_port;
    sa->local_port = in.local_port;
    sa->choice = *choice;
    sa->cipher = cipher_of(*choice);
    sa->ni.assign(nonce->data.begin(), nonce->data.end());
    sa->nr.resize(kNonceLen);
    random_bytes(sa->nr);
    // NAT detection (RFC 7296 2.23): the request's hashes are over SPIr = 0.
    bool peer_sent_nat = false, src_match = false, dst_match = false;
    {
        uint8_t local[4];
        cfg_.local.to_bytes(local);
        const auto src = nat_detection_hash(h.spi_i, 0, {ip, 4}, in.peer_port);
        const auto dst = nat_detection_hash(h.spi_i, 0, {local, 4}, in.local_port);
        for (const Payload& p : m.payloads) {
            auto* n = std::get_if<NotifyPayload>(&p);
            if (!n) continue;
            if (n->type == notify::nat_detection_source_ip) {
                peer_sent_nat = true;
                src_match |= n->data.size() == src.size() && std::equal(src.begin(), src.end(), n->data.begin());
            } else if (n->type == notify::nat_detection_destination_ip) {
                peer_sent_nat = true;
                dst_match |= n->data.size() == dst.size() && std::equal(dst.begin(), dst.end(), n->data.begin());
            }
        }
    }
    sa->nat_peer = peer_sent_nat && !src_match;
    sa->nat_local = peer_sent_nat && !dst_match;
    sa->keys = derive_ike_keys(sa->cipher, sa->ni, sa->nr, *g_ir, sa->spi_i, sa->spi_r);
    Payloads p;
    p.push_back(answer_ike_proposal(*choice));
    p.push_back(KePayload{choice->dh, key->public_value()});
    p.push_back(NoncePayload{std::vector<uint8_t>(sa->nr.begin(), sa->nr.end())});
    if (peer_sent_nat) {
        p.push_back(nat_notify(notify::nat_detection_source_ip, sa->spi_i, sa->spi_r, cfg_.local, in.local_port));
        p.push_back(nat_notify(notify::nat_detection_destination_ip, sa->spi_i, sa->spi_r, in.peer, in.peer_port));
    }
    if (cfg_.certs) {
        // Asked for, a router sends its certificate (RFC 7296 3.7); RFC 7427's signatures with SHA-256.
        p.push_back(CertReqPayload{4, cfg_.certs->certreq_data()});
        if (const NotifyPayload* n = find_notify(m.payloads, notify::signature_hash_algorithms)) {
            for (std::size_t i = 0; i + 1 < n->data.size(); i += 2)
                if (n->data[i] == 0 && n->data[i + 1] == 2) sa->peer_sig_hash = true; // SHA2-256 (RFC 7427 7)
            if (sa->peer_sig_hash) p.push_back(note(notify::signature_hash_algorithms, {0, 2}));
        }
    }
    Header r;
    r.spi_i = sa->spi_i;
    r.spi_r = sa->spi_r;
    r.exchange = Exchange::ike_sa_init;
    r.flags = hdr_flag::response;
    sa->init_request = in.bytes;
    sa->init_response = build_message(r, p);
    sa->created_ms = sa->heard_ms = now_ms;
    inc(IkeCounter::tx);
    sa->link_mac = in.link_mac;
    out.push_back(Datagram{in.peer, in.peer_port, in.local_port, sa->init_response, in.link_mac});
    by_init_[{h.spi_i, in.peer.value, in.peer_port}] = sa->spi_r;
    ++half_open_;
    const uint64_t spi_r = sa->spi_r;
    sas_.emplace(spi_r, std::move(sa));
}

// ---- IKE_AUTH ----

IkeResponder::Payloads IkeResponder::on_auth(IkeSa& sa, const Payloads& in, uint64_t now_ms, bool* drop_sa_after)
{
    auto fail = [&](IkeCounter c, uint16_t type) {
        inc(c);
        *drop_sa_after = true;
        return Payloads{note(type)};
    };
    const IdPayload* idi = find_id(in, false);
    const auto* auth = find<AuthPayload>(in);
    if (!idi || !auth) return fail(IkeCounter::invalid_syntax, notify::invalid_syntax);
    auto id = canonical_id(*idi);
    std::optional<IkePeer> peer = id ? host_.peer(*id) : std::nullopt;
    if (!peer) return fail(IkeCounter::unknown_identity, notify::authentication_failed);
    const bool by_cert = auth->method != auth_method::psk;
    {
        const KeyBytes mac = signed_octets_mac(sa.keys.sk_pi, id_body(*idi));
        const std::vector<uint8_t> octets = signed_octets(sa.init_request, sa.nr, mac);
        if (!by_cert) {
            if (peer->psk.empty()) return fail(IkeCounter::auth_unsupported, notify::authentication_failed);
            const KeyBytes want = psk_auth(peer->psk, octets);
            if (!psk_auth_equal(want, auth->data)) {
                log::printf(log::Level::warning, "nemo-ha: ike: %s (%s): authentication failed", id->c_str(), sa.peer.str().c_str());
                return fail(IkeCounter::auth_failed, notify::authentication_failed);
            }
        } else {
            // A certificate (RFC 7296 2.15, 3.6): the chain to the operator's CA, the identity among the
            // certificate's subjectAltNames, the signature over the same octets with its key.
            if (!cfg_.certs) return fail(IkeCounter::auth_unsupported, notify::authentication_failed);
            std::vector<std::vector<uint8_t>> certs;
            for (const Payload& p : in)
                if (auto* c = std::get_if<CertPayload>(&p); c && c->encoding == 4) certs.push_back(c->data);
            if (certs.empty()) return fail(IkeCounter::auth_failed, notify::authentication_failed);
            auto v = cfg_.certs->verify(certs[0], std::span<const std::vector<uint8_t>>(certs).subspan(1));
            if (auto* e = std::get_if<std::string>(&v)) {
                log::printf(log::Level::warning, "nemo-ha: ike: %s (%s): certificate refused: %s", id->c_str(), sa.peer.str().c_str(), e->c_str());
                return fail(IkeCounter::cert_untrusted, notify::authentication_failed);
            }
            const auto& names = std::get<CertStore::Verified>(v).alt_names;
            if (std::find(names.begin(), names.end(), *id) == names.end()) {
                log::printf(log::Level::warning, "nemo-ha: ike: %s (%s): not among the certificate's names", id->c_str(), sa.peer.str().c_str());
                return fail(IkeCounter::auth_failed, notify::authentication_failed);
            }
            if (!verify_auth(certs[0], auth->method, auth->data, octets)) {
                log::printf(log::Level::warning, "nemo-ha: ike: %s (%s): signature does not verify", id->c_str(), sa.peer.str().c_str());
                return fail(IkeCounter::auth_failed, notify::authentication_failed);
            }
        }
    }
    // Authenticated.
    sa.state = IkeSa::State::established;
    sa.established_ms = now_ms;
    sa.id = *id;
    sa.hoa = peer->hoa;
    sa.mobike = find_notify(in, notify::mobike_supported) != nullptr;
    --half_open_;
    for (auto it = by_init_.begin(); it != by_init_.end();) it = it->second == sa.spi_r ? by_init_.erase(it) : std::next(it);
    inc(IkeCounter::established);
    log::printf(log::Level::info, "nemo-ha: ike: %s authenticated from %s:%u for %s (%s)", sa.id.c_str(), sa.peer.str().c_str(),
                sa.peer_port, sa.hoa.str().c_str(), ike_choice_name(sa.choice).c_str());
    if (find_notify(in, notify::initial_contact)) {
        std::vector<uint64_t> older;
        for (const auto& [spi, other] : sas_)
            if (spi != sa.spi_r && other->state == IkeSa::State::established && other->id == sa.id) older.push_back(spi);
        for (uint64_t spi : older) drop_sa(spi);
        if (!older.empty()) inc(IkeCounter::initial_contact, older.size());
    }
    Payloads out;
    IdPayload idr = id_payload(cfg_.id, true);
    {
        const KeyBytes mac = signed_octets_mac(sa.keys.sk_pr, id_body(idr));
        const std::vector<uint8_t> octets = signed_octets(sa.init_response, sa.ni, mac);
        out.push_back(std::move(idr));
        if (!by_cert) {
            const KeyBytes mine = psk_auth(peer->psk, octets);
            out.push_back(AuthPayload{auth_method::psk, std::vector<uint8_t>(mine.begin(), mine.end())});
        } else {
            // Answered in kind: a certificate of ours, signed with RFC 7427's method when the peer said it
            // takes it (SIGNATURE_HASH_ALGORITHMS), else with the classic method the peer used.
            uint8_t method = sa.peer_sig_hash ? kAuthDigitalSig : auth->method;
            std::string err;
            std::vector<uint8_t> sig = cfg_.certs->sign(method, octets, &err);
            if (sig.empty() && method != kAuthDigitalSig) sig = cfg_.certs->sign(method = kAuthDigitalSig, octets, &err);
            if (sig.empty()) {
                log::printf(log::Level::warning, "nemo-ha: ike: cannot sign for %s: %s", sa.id.c_str(), err.c_str());
                *drop_sa_after = true;
                return {note(notify::authentication_failed)};
            }
            out.push_back(CertPayload{4, cfg_.certs->own_cert_der()});
            out.push_back(AuthPayload{method, std::move(sig)});
        }
    }
    sa.init_request.clear();
    sa.init_request.shrink_to_fit();
    sa.init_response.clear();
    sa.init_response.shrink_to_fit();
    if (sa.mobike) out.push_back(note(notify::mobike_supported));

    // The CHILD_SA that comes with IKE_AUTH (none with RFC 6023's childless IKE_AUTH).
    const auto* child_sa = find<SaPayload>(in);
    const TsPayload* tsi = find_ts(in, false);
    const TsPayload* tsr = find_ts(in, true);
    if (!child_sa || !tsi || !tsr) return out;
    auto choice = choose_esp_proposal(*child_sa, dh::none, cfg_.algorithms);
    if (!choice) {
        inc(IkeCounter::no_proposal_chosen);
        out.push_back(note(notify::no_proposal_chosen));
        return out;
    }
    ChildSa child;
    child.tsi = narrow_initiator_ts(tsi->selectors, peer->hoa, peer->prefixes);
    child.tsr = narrow_responder_ts(tsr->selectors);
    if (child.tsi.empty() || child.tsr.empty()) {
        inc(IkeCounter::ts_unacceptable);
        out.push_back(note(notify::ts_unacceptable));
        return out;
    }
    child.spi_in = fresh_spi();
    child.spi_out = choice->peer_spi;
    child.algorithm = choice->algorithm;
    child.esn = choice->esn;
    child.created_ms = now_ms;
    uint16_t why = 0;
    if (!install_child(sa, child, {}, sa.ni, sa.nr, {}, &why)) {
        out.push_back(note(why));
        return out;
    }
    // install_child moved `child` into sa.children: the selectors are read from there.
    out.push_back(answer_esp_proposal(*choice, sa.children.back().spi_in));
    out.push_back(TsPayload{false, sa.children.back().tsi});
    out.push_back(TsPayload{true, sa.children.back().tsr});
    return out;
}

// ---- CHILD_SAs ----

// A CHILD_SA's two SAs for the SA table from KEYMAT = prf+(SK_d, [g^ir |] Ni | Nr): its first keys
// protect what the exchange's initiator sends (RFC 7296 2.17), ours when `we_initiated`.
std::pair<SaConfig, SaConfig> IkeResponder::child_sas(const IkeSa& sa, const ChildSa& child, std::span<const uint8_t> g_ir,
                                                      std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                                                      bool we_initiated) const
{
    const std::size_t enc = esp_enc_key_len(child.algorithm), integ = esp_auth_key_len(child.algorithm);
    const KeyBytes keymat = child_keymat(sa.keys.sk_d, g_ir, ni, nr, 2 * (enc + integ));
    SaConfig in, out;
    in.inbound = true;
    in.spi = child.spi_in;
    out.inbound = false;
    out.spi = child.spi_out;
    for (SaConfig* c : {&in, &out}) {
        c->hoa = sa.hoa;
        c->algorithm = child.algorithm;
        c->esn = child.esn;
        c->window = cfg_.replay_window;
        c->negotiated = true;
    }
    const uint8_t* first = keymat.data();
    const uint8_t* second = first + enc + integ;
    SaConfig& a = we_initiated ? out : in;
    SaConfig& b = we_initiated ? in : out;
    a.enc_key.assign(first, first + enc);
    a.auth_key.assign(first + enc, first + enc + integ);
    b.enc_key.assign(second, second + enc);
    b.auth_key.assign(second + enc, second + enc + integ);
    return {std::move(in), std::move(out)};
}

bool IkeResponder::install_child(IkeSa& sa, ChildSa& child, std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                                 std::span<const uint8_t> nr, std::vector<uint32_t> gone, uint16_t* notify_type)
{
    // KEYMAT: the initiator's outbound (our inbound) encryption and integrity keys, then ours (2.17).
    auto [in, out] = child_sas(sa, child, g_ir, ni, nr, false);
    // One outbound SA per home address: a negotiated one of another CHILD_SA (this router's earlier IKE
    // SA, or the child a rekey replaces) gives way; a typed one does not.
    bool negotiated = false;
    const bool waiting = !gone.empty(); // a rekey: the old outbound SA stays in use a little longer
    if (auto cur = host_.outbound_spi(sa.hoa, &negotiated); cur && std::find(gone.begin(), gone.end(), *cur) == gone.end()) {
        if (!negotiated) {
            inc(IkeCounter::child_refused);
            log::printf(log::Level::warning, "nemo-ha: ike: %s: %s has an outbound SA typed by hand: no CHILD_SA negotiated",
                        sa.id.c_str(), sa.hoa.str().c_str());
            *notify_type = notify::no_additional_sas;
            return false;
        }
        if (!waiting) gone.push_back(*cur);
        for (auto& [spi, other] : sas_)
            for (ChildSa& c : other->children)
                if (c.spi_out == *cur) c.out_installed = false;
    }
    std::vector<SaConfig> add{std::move(in)};
    if (!waiting) add.push_back(std::move(out));
    if (auto e = host_.change_sas(waiting ? std::vector<uint32_t>{} : gone, add)) {
        inc(IkeCounter::child_refused);
        log::printf(log::Level::warning, "nemo-ha: ike: %s: the CHILD_SA was refused by the SA table: %s", sa.id.c_str(), e->c_str());
        *notify_type = notify::no_additional_sas;
        return false;
    }
    if (waiting) {
        child.out_installed = false;
        child.out_waiting = std::move(out);
        child.replaces = gone;
    }
    inc(IkeCounter::child_installed);
    sa.children.push_back(std::move(child));
    return true;
}

IkeResponder::Payloads IkeResponder::on_create_child(IkeSa& sa, const Payloads& in, uint64_t now_ms)
{
    const auto* sa_p = find<SaPayload>(in);
    const auto* nonce = find<NoncePayload>(in);
    const auto* ke = find<KePayload>(in);
    if (!sa_p || !nonce || nonce->data.size() < 16 || nonce->data.size() > 256) {
        inc(IkeCounter::invalid_syntax);
        return {note(notify::invalid_syntax)};
    }
    for (const Proposal& p : sa_p->proposals)
        if (p.protocol == proto::ike) return rekey_ike(sa, *sa_p, in, now_ms);
    const TsPayload* tsi = find_ts(in, false);
    const TsPayload* tsr = find_ts(in, true);
    if (!tsi || !tsr) {
        inc(IkeCounter::invalid_syntax);
        return {note(notify::invalid_syntax)};
    }
    // A rekey names the CHILD_SA by the SPI its initiator receives with: our outbound SPI (2.8).
    ChildSa* old = nullptr;
    if (const NotifyPayload* r = find_notify(in, notify::rekey_sa)) {
        if (r->spi.size() == 4) {
            const uint32_t spi = load32(r->spi);
            for (ChildSa& c : sa.children)
                if (c.spi_out == spi) old = &c;
        }
        if (!old) {
            NotifyPayload n = note(notify::child_sa_not_found);
            n.protocol = proto::esp;
            n.spi = r->spi;
            return {n};
        }
    }
    auto choice = choose_esp_proposal(*sa_p, ke ? ke->group : uint16_t{dh::none}, cfg_.algorithms);
    if (!choice) {
        inc(IkeCounter::no_proposal_chosen);
        return {note(notify::no_proposal_chosen)};
    }
    std::unique_ptr<DhKey> key;
    std::optional<KeyBytes> g_ir;
    if (ke) {
        // A KE of group NONE leaves the choice without a group (no PFS): nothing to do a DH with.
        const auto group = dh_group_of(choice->dh);
        std::string err;
        if (group) key = DhKey::generate(*group, &err);
        g_ir = key ? key->shared_secret(ke->data) : std::nullopt;
        if (!g_ir) {
            inc(IkeCounter::bad_ke);
            return {note(notify::invalid_syntax)};
        }
    }
    std::optional<IkePeer> peer = host_.peer(sa.id);
    if (!peer || peer->hoa != sa.hoa) { // unprovisioned since (or moved): no more SAs for it
        inc(IkeCounter::ts_unacceptable);
        return {note(notify::ts_unacceptable)};
    }
    ChildSa child;
    child.tsi = narrow_initiator_ts(tsi->selectors, sa.hoa, peer->prefixes);
    child.tsr = narrow_responder_ts(tsr->selectors);
    if (child.tsi.empty() || child.tsr.empty()) {
        inc(IkeCounter::ts_unacceptable);
        return {note(notify::ts_unacceptable)};
    }
    KeyBytes nr(kNonceLen);
    random_bytes(nr);
    child.spi_in = fresh_spi();
    child.spi_out = choice->peer_spi;
    child.algorithm = choice->algorithm;
    child.esn = choice->esn;
    child.pfs_group = choice->dh;
    child.created_ms = now_ms;
    std::vector<uint32_t> gone;
    if (old && old->out_installed) gone.push_back(old->spi_out);
    const uint32_t old_out = old ? old->spi_out : 0;
    uint16_t why = 0;
    const std::span<const uint8_t> gir = g_ir ? std::span<const uint8_t>(*g_ir) : std::span<const uint8_t>{};
    if (!install_child(sa, child, gir, nonce->data, nr, gone, &why)) return {note(why)};
    if (old_out) inc(IkeCounter::child_rekeyed);
    Payloads out;
    out.push_back(answer_esp_proposal(*choice, sa.children.back().spi_in));
    out.push_back(NoncePayload{std::vector<uint8_t>(nr.begin(), nr.end())});
    if (key) out.push_back(KePayload{choice->dh, key->public_value()});
    out.push_back(TsPayload{false, sa.children.back().tsi});
    out.push_back(TsPayload{true, sa.children.back().tsr});
    return out;
}

IkeResponder::Payloads IkeResponder::rekey_ike(IkeSa& sa, const SaPayload& sa_payload, const Payloads& in, uint64_t now_ms)
{
    const auto* ke = find<KePayload>(in);
    const auto* nonce = find<NoncePayload>(in);
    if (!ke) {
        inc(IkeCounter::invalid_syntax);
        return {note(notify::invalid_syntax)};
    }
    auto choice = choose_ike_proposal(sa_payload, cfg_.algorithms, ke->group);
    const Proposal* prop = nullptr;
    for (const Proposal& p : sa_payload.proposals)
        if (choice && p.number == choice->proposal && p.protocol == proto::ike) prop = &p;
    if (!choice || !prop || prop->spi.size() != 8) {
        inc(IkeCounter::no_proposal_chosen);
        return {note(notify::no_proposal_chosen)};
    }
    if (ke->group != choice->dh) {
        inc(IkeCounter::invalid_ke);
        return {note(notify::invalid_ke_payload, be16(choice->dh))};
    }
    std::string err;
    auto key = DhKey::generate(*dh_group_of(choice->dh), &err);
    std::optional<KeyBytes> g_ir = key ? key->shared_secret(ke->data) : std::nullopt;
    if (!g_ir) {
        inc(IkeCounter::bad_ke);
        return {note(notify::invalid_syntax)};
    }
    auto n = std::make_unique<IkeSa>();
    uint64_t spi_i = 0;
    for (uint8_t b : prop->spi) spi_i = (spi_i << 8) | b;
    n->spi_i = spi_i;
    n->spi_r = fresh_ike_spi();
    n->state = IkeSa::State::established;
    n->peer = sa.peer;
    n->peer_port = sa.peer_port;
    n->local_port = sa.local_port;
    n->link_mac = sa.link_mac;
    n->nat_peer = sa.nat_peer;
    n->nat_local = sa.nat_local;
    n->mobike = sa.mobike;
    n->choice = *choice;
    n->cipher = cipher_of(*choice);
    n->ni.assign(nonce->data.begin(), nonce->data.end());
    n->nr.resize(kNonceLen);
    random_bytes(n->nr);
    n->keys = derive_rekeyed_ike_keys(n->cipher, sa.keys.sk_d, *g_ir, n->ni, n->nr, n->spi_i, n->spi_r);
    n->id = sa.id;
    n->hoa = sa.hoa;
    n->children = std::move(sa.children); // the CHILD_SAs move to the new IKE SA (2.18)
    sa.children.clear();
    n->next_in = 0; // message IDs start again (2.18)
    n->next_out = 0;
    n->created_ms = sa.created_ms;
    n->established_ms = now_ms;
    n->heard_ms = now_ms;
    n->rekeys = sa.rekeys + 1;
    std::vector<uint8_t> spi_bytes(8);
    for (int i = 0; i < 8; ++i) spi_bytes[i] = static_cast<uint8_t>(n->spi_r >> (56 - 8 * i));
    Payloads out;
    out.push_back(answer_ike_proposal(*choice, spi_bytes));
    out.push_back(NoncePayload{std::vector<uint8_t>(n->nr.begin(), n->nr.end())});
    out.push_back(KePayload{choice->dh, key->public_value()});
    inc(IkeCounter::rekeyed);
    const uint64_t id = n->spi_r;
    sas_.emplace(id, std::move(n));
    return out;
}

// ---- INFORMATIONAL ----

IkeResponder::Payloads IkeResponder::on_informational(IkeSa& sa, const Datagram& in, const Payloads& in_payloads, uint64_t now_ms,
                                                      bool* drop_sa_after)
{
    (void)now_ms;
    Payloads out;
    std::vector<std::vector<uint8_t>> ours;
    for (const Payload& p : in_payloads) {
        const auto* d = std::get_if<DeletePayload>(&p);
        if (!d) continue;
        if (d->protocol == proto::ike) {
            // The answer to the IKE SA's delete is empty (1.4.1); everything of it goes.
            inc(IkeCounter::deleted);
            *drop_sa_after = true;
            return {};
        }
        if (d->protocol != proto::esp) continue;
        std::vector<uint32_t> gone;
        for (const auto& spi_bytes : d->spis) {
            if (spi_bytes.size() != 4) continue;
            const uint32_t spi = load32(spi_bytes);
            auto it = std::find_if(sa.children.begin(), sa.children.end(), [&](const ChildSa& c) { return c.spi_out == spi; });
            if (it == sa.children.end()) continue;
            // A child whose rekey is waiting to send on its new outbound SA starts now.
            for (ChildSa& c : sa.children)
                if (c.out_waiting && std::find(c.replaces.begin(), c.replaces.end(), spi) != c.replaces.end()) c.switch_now = true;
            gone.push_back(it->spi_in);
            if (it->out_installed) gone.push_back(it->spi_out);
            ours.push_back(be32(it->spi_in));
            sa.children.erase(it);
            inc(IkeCounter::child_deleted);
        }
        switch_outbound(sa, 0, &gone);
        if (!gone.empty()) (void)host_.change_sas(gone, {});
    }
    if (!ours.empty()) out.push_back(DeletePayload{proto::esp, 4, std::move(ours)});
    if (find_notify(in_payloads, notify::update_sa_addresses) && sa.mobike) {
        // MOBIKE (RFC 4555 3.5): the IKE SA moves to where this came from; the ESP SAs' outer addresses
        // follow the binding's care-of address, which the router's BU changes.
        sa.peer = in.peer;
        sa.peer_port = in.peer_port;
        sa.local_port = in.local_port;
        inc(IkeCounter::mobike_updates);
        log::printf(log::Level::info, "nemo-ha: ike: %s moved to %s:%u (MOBIKE)", sa.id.c_str(), sa.peer.str().c_str(), sa.peer_port);
        out.push_back(nat_notify(notify::nat_detection_source_ip, sa.spi_i, sa.spi_r, cfg_.local, in.local_port));
        out.push_back(nat_notify(notify::nat_detection_destination_ip, sa.spi_i, sa.spi_r, in.peer, in.peer_port));
    }
    // RFC 4555 3.5: a COOKIE2 is copied to the response (charon closes the IKE SA on a mismatch).
    if (const NotifyPayload* c2 = find_notify(in_payloads, notify::cookie2)) out.push_back(note(notify::cookie2, c2->data));
    return out;
}

// Rekeyed CHILD_SAs whose new outbound SA waits: installed in place of the old one once the peer sent
// on the new inbound SA (it has the new keys), deleted the old one, or after kOutboundSwitchMs. With
// `gone` the removals go there (one SA table change for the caller); without, they are made here.
void IkeResponder::switch_outbound(IkeSa& sa, uint64_t now_ms, std::vector<uint32_t>* gone)
{
    for (ChildSa& c : sa.children) {
        if (!c.out_waiting) continue;
        const bool due = c.switch_now || (now_ms && (now_ms - c.created_ms >= kOutboundSwitchMs || host_.inbound_packets(c.spi_in) > 0));
        if (!due) continue;
        std::vector<uint32_t> remove, callers;
        for (uint32_t spi : c.replaces) {
            bool negotiated = false;
            if (auto cur = host_.outbound_spi(sa.hoa, &negotiated); cur && *cur == spi) remove.push_back(spi);
        }
        if (gone) {
            // The caller removes what it removes in the same change as these.
            for (uint32_t spi : *gone) remove.erase(std::remove(remove.begin(), remove.end(), spi), remove.end());
            remove.insert(remove.end(), gone->begin(), gone->end());
            callers = std::move(*gone);
            gone->clear();
        }
        std::vector<SaConfig> add{std::move(*c.out_waiting)};
        c.out_waiting.reset();
        c.switch_now = false;
        c.replaces.clear();
        if (auto e = host_.change_sas(remove, add)) {
            inc(IkeCounter::child_refused);
            log::printf(log::Level::warning, "nemo-ha: ike: %s: the rekeyed outbound SA was refused: %s", sa.id.c_str(), e->c_str());
            // The table refuses a change as a whole: what the caller removes (a deleted child's SAs)
            // still goes, without this outbound SA (a newer child's holds the home address).
            if (!callers.empty()) (void)host_.change_sas(callers, {});
            continue;
        }
        c.out_installed = true;
        // The children whose outbound SAs this removed no longer have one: their delete must not name
        // it again (the SA table refuses a change that removes an SPI it does not hold, and the old
        // inbound SA would stay).
        for (ChildSa& o : sa.children)
            if (&o != &c && std::find(remove.begin(), remove.end(), o.spi_out) != remove.end()) o.out_installed = false;
    }
}

// ---- our requests, timers ----

void IkeResponder::send_request(IkeSa& sa, IkeSa::Pending::Kind kind, const Payloads& p, uint32_t child_spi, uint64_t now_ms,
                                std::vector<Datagram>& out, Exchange x)
{
    IkeSa::Pending pend{kind, sa.next_out, seal(sa, x, false, sa.next_out, p), now_ms + 1000, 0, child_spi, 0, {}};
    inc(IkeCounter::tx);
    out.push_back(to_peer(sa, pend.bytes));
    sa.pending = std::move(pend);
}

void IkeResponder::poll(uint64_t now_ms, std::vector<Datagram>& out)
{
    // At most inits_per_turn, and no more than init_budget_us of them: a BU that arrived meanwhile waits for
    // one budget at most, whatever the flood (bench_ike_flood.py measures it).
    const auto began = std::chrono::steady_clock::now();
    for (uint32_t n = 0; n < cfg_.inits_per_turn && !init_queue_.empty(); ++n) {
        if (n && cfg_.init_budget_us && std::chrono::steady_clock::now() - began >= std::chrono::microseconds(cfg_.init_budget_us)) break;
        Queued q = std::move(init_queue_.front());
        init_queue_.pop_front();
        auto parsed = parse_message(q.d.bytes);
        if (auto* e = std::get_if<ParseError>(&parsed)) {
            inc(e->kind == ParseError::Kind::unsupported_critical ? IkeCounter::unsupported_critical : IkeCounter::invalid_syntax);
            continue;
        }
        on_init(q.d, std::get<Message>(parsed), now_ms, out);
    }
    if (now_ms - cookie_rotated_ms_ >= kCookieRotateMs) {
        cookies_.rotate();
        cookie_rotated_ms_ = now_ms;
    }
    if (now_ms - scanned_ms_ < kScanEveryMs) return;
    scanned_ms_ = now_ms;
    std::vector<uint64_t> drop;
    for (auto& [spi, p] : sas_) {
        IkeSa& sa = *p;
        if (sa.state == IkeSa::State::half_open) {
            if (now_ms - sa.created_ms >= uint64_t{cfg_.half_open_timeout_s} * 1000) {
                inc(IkeCounter::half_open_expired);
                drop.push_back(spi);
            }
            continue;
        }
        switch_outbound(sa, now_ms, nullptr);
        if (sa.pending) {
            if (now_ms < sa.pending->next_ms) continue;
            if (sa.pending->tries >= cfg_.retransmits) {
                if (sa.pending->kind != IkeSa::Pending::Kind::delete_ike) {
                    inc(IkeCounter::dead_peers);
                    log::printf(log::Level::warning, "nemo-ha: ike: %s at %s stopped answering: its SAs are removed", sa.id.c_str(),
                                sa.peer.str().c_str());
                }
                drop.push_back(spi);
                continue;
            }
            ++sa.pending->tries;
            sa.pending->next_ms = now_ms + (1000ull << sa.pending->tries);
            inc(IkeCounter::tx);
            out.push_back(to_peer(sa, sa.pending->bytes));
            continue;
        }
        // ESP from the peer is as good as an answer (RFC 7296 2.4: only a peer silent on every SA is checked).
        uint64_t heard = 0;
        for (const ChildSa& c : sa.children) heard += host_.inbound_packets(c.spi_in);
        if (heard != sa.esp_heard) {
            sa.esp_heard = heard;
            sa.heard_ms = now_ms;
        }
        if (cfg_.child_lifetime_s) {
            auto old = std::find_if(sa.children.begin(), sa.children.end(), [&](const ChildSa& c) {
                return now_ms - c.created_ms >= uint64_t{cfg_.child_lifetime_s} * 1000 && !c.out_waiting;
            });
            if (old != sa.children.end()) {
                inc(IkeCounter::child_expired);
                const uint32_t in_spi = old->spi_in;
                std::vector<uint32_t> gone{old->spi_in};
                if (old->out_installed) gone.push_back(old->spi_out);
                (void)host_.change_sas(gone, {});
                sa.children.erase(old);
                inc(IkeCounter::child_deleted);
                send_request(sa, IkeSa::Pending::Kind::delete_child, {DeletePayload{proto::esp, 4, {be32(in_spi)}}}, in_spi, now_ms, out);
                continue;
            }
        }
        // A child a rekey of ours replaced is deleted (its inbound SA goes when the router answers).
        if (auto r = std::find_if(sa.children.begin(), sa.children.end(), [](const ChildSa& c) { return c.retiring; }); r != sa.children.end()) {
            send_request(sa, IkeSa::Pending::Kind::delete_child, {DeletePayload{proto::esp, 4, {be32(r->spi_in)}}}, r->spi_in, now_ms, out);
            r->retiring = false; // asked once; the answer removes it, no answer ends the IKE SA
            continue;
        }
        if (auto r = std::find_if(sa.children.begin(), sa.children.end(), [&](const ChildSa& c) { return rekey_due(c, now_ms); });
            r != sa.children.end()) {
            start_rekey(sa, *r, now_ms, out);
            continue;
        }
        if (cfg_.dpd_s && now_ms - sa.heard_ms >= uint64_t{cfg_.dpd_s} * 1000) {
            inc(IkeCounter::liveness_sent);
            send_request(sa, IkeSa::Pending::Kind::liveness, {}, 0, now_ms, out);
        }
    }
    for (uint64_t spi : drop) drop_sa(spi);
}

void IkeResponder::remove_children(IkeSa& sa)
{
    std::vector<uint32_t> gone;
    for (const ChildSa& c : sa.children) {
        gone.push_back(c.spi_in);
        if (c.out_installed) gone.push_back(c.spi_out);
    }
    if (!sa.children.empty()) inc(IkeCounter::child_deleted, sa.children.size());
    sa.children.clear();
    if (!gone.empty()) (void)host_.change_sas(gone, {});
}

void IkeResponder::drop_sa(uint64_t spi_r)
{
    auto it = sas_.find(spi_r);
    if (it == sas_.end()) return;
    IkeSa& sa = *it->second;
    remove_children(sa);
    if (sa.state == IkeSa::State::half_open) --half_open_;
    for (auto b = by_init_.begin(); b != by_init_.end();) b = b->second == spi_r ? by_init_.erase(b) : std::next(b);
    sas_.erase(it);
}

uint32_t IkeResponder::fresh_spi() const
{
    for (;;) {
        uint32_t spi;
        random_bytes({reinterpret_cast<uint8_t*>(&spi), sizeof spi});
        if (spi >= 256 && !host_.spi_taken(spi)) return spi;
    }
}

uint64_t IkeResponder::fresh_ike_spi() const
{
    for (;;) {
        const uint64_t spi = random_spi();
        if (!sas_.contains(spi)) return spi;
    }
}

std::size_t IkeResponder::clear(std::string_view which, uint64_t, std::vector<Datagram>& out)
{
    const auto canonical = canonical_id(which);
    const auto hoa = Ipv6Addr::parse(which);
    std::vector<uint64_t> hit;
    for (const auto& [spi, sa] : sas_) {
        const bool match = which == "all" || (hoa && sa->hoa == *hoa && sa->state == IkeSa::State::established) ||
                           (canonical && sa->id == *canonical) || spi_hex(spi) == which;
        if (match) hit.push_back(spi);
    }
    for (uint64_t spi : hit) {
        IkeSa& sa = *sas_.at(spi);
        if (sa.state == IkeSa::State::established) {
            // Told, then forgotten: the answer (if any) finds no SA and is counted as such.
            inc(IkeCounter::tx);
            out.push_back(to_peer(sa, seal(sa, Exchange::informational, false, sa.next_out, {DeletePayload{proto::ike, 0, {}}})));
        }
        inc(IkeCounter::deleted);
        drop_sa(spi);
    }
    return hit.size();
}

// ---- the operator's view ----

std::vector<std::pair<std::string, uint64_t>> IkeResponder::stats() const
{
    std::vector<std::pair<std::string, uint64_t>> v;
    for (std::size_t i = 0; i < static_cast<std::size_t>(IkeCounter::count_); ++i) v.emplace_back(std::string("ike_") + kCounterNames[i], counters_[i]);
    std::size_t children = 0;
    for (const auto& [spi, sa] : sas_) children += sa->children.size();
    v.emplace_back("ike_sas", sas_.size() - half_open_);
    v.emplace_back("ike_sas_half_open", half_open_);
    v.emplace_back("ike_child_sas", children);
    v.emplace_back("ike_init_queued", init_queue_.size());
    return v;
}

std::string IkeResponder::show(std::string_view which, bool json, uint64_t now_ms) const
{
    const auto canonical = which.empty() ? std::nullopt : canonical_id(which);
    const auto hoa = which.empty() ? std::nullopt : Ipv6Addr::parse(which);
    std::vector<const IkeSa*> list;
    for (const auto& [spi, sa] : sas_) {
        if (!which.empty() && !(hoa && sa->hoa == *hoa) && !(canonical && sa->id == *canonical) && spi_hex(spi) != which) continue;
        list.push_back(sa.get());
    }
    std::sort(list.begin(), list.end(), [](const IkeSa* a, const IkeSa* b) { return a->spi_r < b->spi_r; });
    auto age = [&](uint64_t t) { return t ? (now_ms - t) / 1000 : 0; };
    if (json) {
        control::Json j;
        j.begin_array();
        for (const IkeSa* sa : list) {
            j.begin_object();
            j.field("state", sa->state == IkeSa::State::established ? "established" : "half-open");
            j.field("id", sa->id);
            j.field("hoa", sa->state == IkeSa::State::established ? sa->hoa.str() : std::string());
            j.field("peer", sa->peer.str());
            j.field("peer_port", uint64_t{sa->peer_port});
            j.field("local_port", uint64_t{sa->local_port});
            j.field("spi_i", spi_hex(sa->spi_i));
            j.field("spi_r", spi_hex(sa->spi_r));
            j.field("algorithms", ike_choice_name(sa->choice));
            j.field("nat_peer", sa->nat_peer);
            j.field("nat_local", sa->nat_local);
            j.field("mobike", sa->mobike);
            j.field("age_s", age(sa->created_ms));
            j.field("established_s", age(sa->established_ms));
            j.field("idle_s", age(sa->heard_ms));
            j.field("ike_rekeys", uint64_t{sa->rekeys});
            j.key("children").begin_array();
            for (const ChildSa& c : sa->children) {
                j.begin_object();
                j.field("spi_in", spi32_hex(c.spi_in));
                j.field("spi_out", spi32_hex(c.spi_out));
                j.field("algorithm", std::string(esp_algorithm_name(c.algorithm)));
                j.field("esn", c.esn);
                j.field("pfs", dh_group_name(c.pfs_group));
                j.field("outbound", c.out_installed ? "installed" : (c.out_waiting ? "waiting" : "replaced"));
                j.field("age_s", age(c.created_ms));
                j.field("packets_in", host_.inbound_packets(c.spi_in));
                j.key("ts_i").begin_array();
                for (const TrafficSelector& t : c.tsi) j.value(ts_text(t));
                j.end_array();
                j.key("ts_r").begin_array();
                for (const TrafficSelector& t : c.tsr) j.value(ts_text(t));
                j.end_array();
                j.end_object();
            }
            j.end_array();
            j.end_object();
        }
        j.end_array();
        return j.str();
    }
    std::string s;
    char line[512];
    for (const IkeSa* sa : list) {
        std::snprintf(line, sizeof line, "%s %s/%s %s peer %s:%u (port %u%s%s) id %s hoa %s age %llus idle %llus rekeys %u\n",
                      sa->state == IkeSa::State::established ? "ESTABLISHED" : "HALF-OPEN", spi_hex(sa->spi_i).c_str(),
                      spi_hex(sa->spi_r).c_str(), ike_choice_name(sa->choice).c_str(), sa->peer.str().c_str(), sa->peer_port,
                      sa->local_port, sa->nat_peer ? ", peer behind NAT" : "", sa->mobike ? ", mobike" : "",
                      sa->id.empty() ? "-" : sa->id.c_str(), sa->state == IkeSa::State::established ? sa->hoa.str().c_str() : "-",
                      static_cast<unsigned long long>(age(sa->created_ms)), static_cast<unsigned long long>(age(sa->heard_ms)), sa->rekeys);
        s += line;
        for (const ChildSa& c : sa->children) {
            std::string ts;
            for (const TrafficSelector& t : c.tsi) ts += (ts.empty() ? "" : ",") + ts_text(t);
            ts += " <-> ";
            bool first = true;
            for (const TrafficSelector& t : c.tsr) ts += (first ? "" : ",") + ts_text(t), first = false;
            std::snprintf(line, sizeof line, "  child in %s out %s %.*s%s pfs %s outbound %s age %llus packets in %llu: %s\n",
                          spi32_hex(c.spi_in).c_str(), spi32_hex(c.spi_out).c_str(),
                          static_cast<int>(esp_algorithm_name(c.algorithm).size()), esp_algorithm_name(c.algorithm).data(),
                          c.esn ? " esn" : "", dh_group_name(c.pfs_group).c_str(),
                          c.out_installed ? "installed" : (c.out_waiting ? "waiting" : "replaced"),
                          static_cast<unsigned long long>(age(c.created_ms)),
                          static_cast<unsigned long long>(host_.inbound_packets(c.spi_in)), ts.c_str());
            s += line;
        }
    }
    if (list.empty()) s = which.empty() ? "no IKE SAs\n" : "no IKE SA matches\n";
    return s;
}

} // namespace nemo::ike
