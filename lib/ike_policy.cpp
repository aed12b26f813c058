#include "ike_policy.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "hex.hpp"

namespace nemo::ike {

namespace {

std::string hex_of(const std::vector<uint8_t>& b)
{
    static const char* d = "0123456789abcdef";
    std::string s;
    for (uint8_t x : b) {
        s += d[x >> 4];
        s += d[x & 15];
    }
    return s;
}

bool ike_encr_ok(const Transform& t, const IkeAlgorithms& a)
{
    if (t.id == encr::aes_gcm_16) return (t.key_length == 128 && a.gcm128) || (t.key_length == 256 && a.gcm256);
    if (t.id == encr::aes_cbc) return t.key_length == 128 && a.cbc128_sha256;
    return false;
}

bool is_aead(uint16_t encr_id) { return encr_id == encr::aes_gcm_16; }

bool dh_ok(uint16_t g, const IkeAlgorithms& a)
{
    return std::find(a.dh_groups.begin(), a.dh_groups.end(), g) != a.dh_groups.end();
}

// The first transform of `type` in the proposal that `ok` accepts; `present` says whether the type
// appears at all.
template <class Ok>
const Transform* first_of(const Proposal& p, uint8_t type, bool* present, Ok ok)
{
    *present = false;
    for (const Transform& t : p.transforms) {
        if (t.type != type) continue;
        *present = true;
        if (ok(t)) return &t;
    }
    return nullptr;
}

} // namespace

std::optional<EspAlgorithm> esp_algorithm_of(uint16_t encr_id, uint16_t key_bits, uint16_t integ_id)
{
    if (encr_id == encr::aes_gcm_16 && integ_id == integ::none) {
        if (key_bits == 128) return EspAlgorithm::aes_gcm_128;
        if (key_bits == 256) return EspAlgorithm::aes_gcm_256;
    }
    if (encr_id == encr::aes_cbc && key_bits == 128 && integ_id == integ::hmac_sha2_256_128) return EspAlgorithm::aes_cbc_128_hmac_sha256;
    return std::nullopt;
}

std::optional<IkeChoice> choose_ike_proposal(const SaPayload& sa, const IkeAlgorithms& allowed, uint16_t ke_group)
{
    for (const Proposal& p : sa.proposals) {
        if (p.protocol != proto::ike) continue;
        bool present = false;
        const Transform* e = first_of(p, tf::encr, &present, [&](const Transform& t) { return ike_encr_ok(t, allowed); });
        if (!e) continue;
        const Transform* f = first_of(p, tf::prf, &present, [](const Transform& t) { return t.id == prf_id::hmac_sha2_256; });
        if (!f) continue;
        const Transform* d = first_of(p, tf::dh, &present, [&](const Transform& t) { return t.id == ke_group && dh_ok(t.id, allowed); });
        if (!d) d = first_of(p, tf::dh, &present, [&](const Transform& t) { return dh_ok(t.id, allowed); });
        if (!d) continue;
        IkeChoice c;
        c.proposal = p.number;
        c.encr = e->id;
        c.key_bits = *e->key_length;
        c.prf = f->id;
        c.dh = d->id;
        const Transform* i = first_of(p, tf::integ, &present, [&](const Transform& t) {
            return is_aead(e->id) ? t.id == integ::none : t.id == integ::hmac_sha2_256_128;
        });
        if (is_aead(e->id)) {
            if (present && !i) continue; // an integrity algorithm offered with an AEAD cipher only
        } else {
            if (!i) continue;
            c.integ = i->id;
        }
        return c;
    }
    return std::nullopt;
}

std::optional<EspChoice> choose_esp_proposal(const SaPayload& sa, uint16_t ke_group, const IkeAlgorithms& allowed)
{
    for (const Proposal& p : sa.proposals) {
        if (p.protocol != proto::esp || p.spi.size() != 4) continue;
        const uint32_t spi = (uint32_t{p.spi[0]} << 24) | (uint32_t{p.spi[1]} << 16) | (uint32_t{p.spi[2]} << 8) | p.spi[3];
        if (spi < 256) continue; // 1-255 are reserved by IANA, 0 is no SPI (RFC 4303 2.1)
        for (const Transform& e : p.transforms) {
            if (e.type != tf::encr || !e.key_length) continue;
            if (e.id == encr::aes_gcm_16 && !((*e.key_length == 128 && allowed.gcm128) || (*e.key_length == 256 && allowed.gcm256))) continue;
            if (e.id == encr::aes_cbc && !allowed.cbc128_sha256) continue;
            bool present = false;
            uint16_t integ_id = integ::none;
            const Transform* i = first_of(p, tf::integ, &present, [&](const Transform& t) {
                return is_aead(e.id) ? t.id == integ::none : t.id == integ::hmac_sha2_256_128;
            });
            if (!is_aead(e.id) && !i) continue;
            if (is_aead(e.id) && present && !i) continue;
            if (i) integ_id = i->id;
            auto alg = esp_algorithm_of(e.id, *e.key_length, integ_id);
            if (!alg) continue;
            // ESN: the initiator's first; no ESN transform at all means none.
            const Transform* n = first_of(p, tf::esn, &present, [](const Transform& t) { return t.id == esn::no || t.id == esn::yes; });
            if (present && !n) continue;
            // PFS: in CREATE_CHILD_SA with a KE payload the proposal must offer its group.
            uint16_t group = dh::none;
            if (ke_group != dh::none) {
                const Transform* d = first_of(p, tf::dh, &present, [&](const Transform& t) { return t.id == ke_group && dh_ok(t.id, allowed); });
                if (!d) continue;
                group = d->id;
            } else {
                // Without a KE payload a proposal that requires a group cannot be taken, unless it also
                // offers NONE or (IKE_AUTH, RFC 7296 1.2) it is one the initiator must drop anyway.
                (void)first_of(p, tf::dh, &present, [](const Transform&) { return true; });
            }
            EspChoice c;
            c.proposal = p.number;
            c.peer_spi = spi;
            c.algorithm = *alg;
            c.esn = n && n->id == esn::yes;
            c.dh = group;
            return c;
        }
    }
    return std::nullopt;
}

SaPayload answer_ike_proposal(const IkeChoice& c, std::span<const uint8_t> spi)
{
    Proposal p;
    p.number = c.proposal;
    p.protocol = proto::ike;
    p.spi.assign(spi.begin(), spi.end());
    p.transforms.push_back(Transform{tf::encr, c.encr, c.key_bits});
    p.transforms.push_back(Transform{tf::prf, c.prf, std::nullopt});
    if (c.integ != integ::none) p.transforms.push_back(Transform{tf::integ, c.integ, std::nullopt});
    p.transforms.push_back(Transform{tf::dh, c.dh, std::nullopt});
    SaPayload sa;
    sa.proposals.push_back(std::move(p));
    return sa;
}

SaPayload answer_esp_proposal(const EspChoice& c, uint32_t our_spi)
{
    Proposal p;
    p.number = c.proposal;
    p.protocol = proto::esp;
    p.spi = {static_cast<uint8_t>(our_spi >> 24), static_cast<uint8_t>(our_spi >> 16), static_cast<uint8_t>(our_spi >> 8),
             static_cast<uint8_t>(our_spi)};
    switch (c.algorithm) {
    case EspAlgorithm::aes_gcm_128: p.transforms.push_back(Transform{tf::encr, encr::aes_gcm_16, uint16_t{128}}); break;
    case EspAlgorithm::aes_gcm_256: p.transforms.push_back(Transform{tf::encr, encr::aes_gcm_16, uint16_t{256}}); break;
    case EspAlgorithm::aes_cbc_128_hmac_sha256:
        p.transforms.push_back(Transform{tf::encr, encr::aes_cbc, uint16_t{128}});
        p.transforms.push_back(Transform{tf::integ, integ::hmac_sha2_256_128, std::nullopt});
        break;
    }
    if (c.dh != dh::none) p.transforms.push_back(Transform{tf::dh, c.dh, std::nullopt});
    p.transforms.push_back(Transform{tf::esn, c.esn ? uint16_t{esn::yes} : uint16_t{esn::no}, std::nullopt});
    SaPayload sa;
    sa.proposals.push_back(std::move(p));
    return sa;
}

std::string dh_group_name(uint16_t g)
{
    switch (g) {
    case dh::ecp256: return "ecp256";
    case dh::curve25519: return "curve25519";
    case dh::modp2048: return "modp2048";
    case dh::none: return "none";
    default: return "dh" + std::to_string(g);
    }
}

std::string ike_choice_name(const IkeChoice& c)
{
    std::string s = c.encr == encr::aes_gcm_16 ? "aes-gcm16-" + std::to_string(c.key_bits) : "aes-cbc-" + std::to_string(c.key_bits);
    s += "/prf-hmac-sha256";
    if (c.integ == integ::hmac_sha2_256_128) s += "/hmac-sha256-128";
    return s + "/" + dh_group_name(c.dh);
}

// ---- traffic selectors ----

namespace {

using A16 = std::array<uint8_t, 16>;

A16 bytes16(const std::vector<uint8_t>& v)
{
    A16 a{};
    if (v.size() == 16) std::memcpy(a.data(), v.data(), 16);
    return a;
}

A16 last_of(const Prefix6& p)
{
    A16 a = p.addr.bytes;
    for (int bit = p.len; bit < 128; ++bit) a[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
    return a;
}

TrafficSelector with_range(const TrafficSelector& proto_ports, const A16& lo, const A16& hi)
{
    TrafficSelector t = proto_ports;
    t.ts_type = 8;
    t.start.assign(lo.begin(), lo.end());
    t.end.assign(hi.begin(), hi.end());
    return t;
}

bool valid_v6(const TrafficSelector& t)
{
    return t.ts_type == 8 && t.start.size() == 16 && t.end.size() == 16 && bytes16(t.start) <= bytes16(t.end) &&
           t.start_port <= t.end_port;
}

} // namespace

TrafficSelector ts_of(const Prefix6& p)
{
    TrafficSelector t;
    return with_range(t, p.addr.bytes, last_of(p));
}

std::vector<TrafficSelector> narrow_initiator_ts(std::span<const TrafficSelector> proposed, const Ipv6Addr& hoa,
                                                 std::span<const Prefix6> prefixes)
{
    std::vector<Prefix6> allowed{Prefix6::make(hoa, 128)};
    allowed.insert(allowed.end(), prefixes.begin(), prefixes.end());
    std::vector<TrafficSelector> out;
    for (const TrafficSelector& t : proposed) {
        if (!valid_v6(t)) continue;
        const A16 lo = bytes16(t.start), hi = bytes16(t.end);
        for (const Prefix6& p : allowed) {
            const A16 plo = p.addr.bytes, phi = last_of(p);
            const A16 a = std::max(lo, plo), b = std::min(hi, phi);
            if (a > b) continue;
            TrafficSelector n = with_range(t, a, b);
            if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(std::move(n));
        }
    }
    return out;
}

std::vector<TrafficSelector> narrow_responder_ts(std::span<const TrafficSelector> proposed)
{
    std::vector<TrafficSelector> out;
    for (const TrafficSelector& t : proposed)
        if (valid_v6(t) && std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
    return out;
}

std::string ts_text(const TrafficSelector& t)
{
    std::string s;
    if (t.ts_type == 8 && t.start.size() == 16 && t.end.size() == 16) {
        const A16 lo = bytes16(t.start), hi = bytes16(t.end);
        // A prefix when the range is one.
        int len = -1;
        for (int l = 0; l <= 128 && len < 0; ++l) {
            const Prefix6 p = Prefix6::make(Ipv6Addr::from_bytes(lo.data()), static_cast<uint8_t>(l));
            if (p.addr.bytes == lo && last_of(p) == hi) len = l;
        }
        s = len >= 0 ? Prefix6::make(Ipv6Addr::from_bytes(lo.data()), static_cast<uint8_t>(len)).str()
                     : Ipv6Addr::from_bytes(lo.data()).str() + "-" + Ipv6Addr::from_bytes(hi.data()).str();
    } else if (t.ts_type == 7 && t.start.size() == 4 && t.end.size() == 4) {
        s = Ipv4Addr::from_bytes(t.start.data()).str() + "-" + Ipv4Addr::from_bytes(t.end.data()).str();
    } else {
        s = "ts-type-" + std::to_string(t.ts_type);
    }
    if (t.ip_protocol != 0 || t.start_port != 0 || t.end_port != 0xFFFF)
        s += "[" + std::to_string(t.ip_protocol) + "/" + std::to_string(t.start_port) + "-" + std::to_string(t.end_port) + "]";
    return s;
}

// ---- identities ----

std::optional<std::string> canonical_id(std::string_view text)
{
    auto colon = text.find(':');
    std::string_view kind = colon == std::string_view::npos ? std::string_view{} : text.substr(0, colon);
    if (kind == "fqdn" || kind == "email" || kind == "keyid" || kind == "ip") {
        std::string_view v = text.substr(colon + 1);
        if (v.empty()) return std::nullopt;
        if (kind == "ip") {
            if (auto a = Ipv4Addr::parse(v)) return "ip:" + a->str();
            if (auto a = Ipv6Addr::parse(v)) return "ip:" + a->str();
            return std::nullopt;
        }
        if (kind == "keyid") {
            std::vector<uint8_t> b;
            if (!parse_hex(v, b)) return std::nullopt;
            return "keyid:" + hex_of(b);
        }
        return std::string(kind) + ":" + std::string(v);
    }
    if (text.empty()) return std::nullopt;
    if (auto a = Ipv4Addr::parse(text)) return "ip:" + a->str();
    if (auto a = Ipv6Addr::parse(text)) return "ip:" + a->str();
    if (text.find(':') != std::string_view::npos) return std::nullopt; // an unknown kind
    if (text.find('@') != std::string_view::npos) return "email:" + std::string(text);
    return "fqdn:" + std::string(text);
}

std::optional<std::string> canonical_id(const IdPayload& id)
{
    const auto& d = id.data;
    switch (id.id_type) {
    case id_type::ipv4:
        if (d.size() != 4) return std::nullopt;
        return "ip:" + Ipv4Addr::from_bytes(d.data()).str();
    case id_type::ipv6:
        if (d.size() != 16) return std::nullopt;
        return "ip:" + Ipv6Addr::from_bytes(d.data()).str();
    case id_type::fqdn:
    case id_type::rfc822: {
        if (d.empty()) return std::nullopt;
        for (uint8_t ch : d)
            if (ch < 0x21 || ch > 0x7E) return std::nullopt; // printable, no spaces: it is matched and shown
        return std::string(id.id_type == id_type::fqdn ? "fqdn:" : "email:") + std::string(d.begin(), d.end());
    }
    case id_type::key_id:
        if (d.empty()) return std::nullopt;
        return "keyid:" + hex_of(d);
    default: return std::nullopt;
    }
}

IdPayload id_payload(const std::string& canonical, bool responder)
{
    IdPayload id;
    id.responder = responder;
    auto colon = canonical.find(':');
    const std::string kind = canonical.substr(0, colon);
    const std::string v = canonical.substr(colon + 1);
    if (kind == "ip") {
        if (auto a = Ipv4Addr::parse(v)) {
            id.id_type = id_type::ipv4;
            id.data.resize(4);
            a->to_bytes(id.data.data());
        } else if (auto b = Ipv6Addr::parse(v)) {
            id.id_type = id_type::ipv6;
            id.data.assign(b->bytes.begin(), b->bytes.end());
        }
    } else if (kind == "keyid") {
        id.id_type = id_type::key_id;
        (void)parse_hex(v, id.data);
    } else {
        id.id_type = kind == "email" ? id_type::rfc822 : id_type::fqdn;
        id.data.assign(v.begin(), v.end());
    }
    return id;
}

} // namespace nemo::ike
