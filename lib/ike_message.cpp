#include "ike_message.hpp"

#include <limits>

#include "bytes.hpp"

namespace nemo::ike {

using wire::load_be16;
using wire::load_be32;
using wire::load_be64;
using wire::store_be16;
using wire::store_be32;

namespace {

using Kind = ParseError::Kind;
using Bytes = std::span<const uint8_t>;

ParseError fail(Kind k, uint8_t payload, const char* what) { return ParseError{k, payload, what}; }

std::vector<uint8_t> copy(Bytes b) { return {b.begin(), b.end()}; }

// Each parse_* below gets the payload's body (after its generic header) and either fills `out` or
// returns the reason it refused it. `t` is the payload's type, for the error.
using Refusal = std::optional<ParseError>;

// Transform attributes (RFC 7296 3.3.5): only Key Length (14, TV) means anything to IKEv2; every
// other attribute, TV or TLV, is skipped, but its length still has to fit.
Refusal parse_attributes(Bytes a, Transform& out)
{
    std::size_t i = 0;
    while (i < a.size()) {
        if (a.size() - i < 4) return fail(Kind::malformed, uint8_t(PayloadType::sa), "transform attribute truncated");
        const uint16_t word = load_be16(&a[i]);
        const bool tv = (word & 0x8000) != 0;
        const uint16_t type = word & 0x7FFF;
        if (tv) {
            if (type == kAttrKeyLength) out.key_length = load_be16(&a[i + 2]);
            i += 4;
            continue;
        }
        const std::size_t len = load_be16(&a[i + 2]);
        if (a.size() - i - 4 < len) return fail(Kind::malformed, uint8_t(PayloadType::sa), "transform attribute length");
        i += 4 + len;
    }
    return std::nullopt;
}

// Transforms fill the rest of a proposal exactly; the Last Substructure field (0 last, 3 more) has to
// agree with where the proposal ends and with its Number of Transforms.
Refusal parse_transforms(Bytes b, unsigned count, Proposal& out)
{
    constexpr uint8_t t = uint8_t(PayloadType::sa);
    std::size_t i = 0;
    for (unsigned n = 0; n < count; ++n) {
        if (b.size() - i < kTransformHeaderLen) return fail(Kind::malformed, t, "transform truncated");
        const uint8_t last = b[i];
        const std::size_t len = load_be16(&b[i + 2]);
        if (len < kTransformHeaderLen || len > b.size() - i) return fail(Kind::malformed, t, "transform length");
        const bool final = n + 1 == count;
        if (last != (final ? 0 : 3)) return fail(Kind::malformed, t, "transform last-substructure field");
        Transform tr;
        tr.type = b[i + 4];
        tr.id = load_be16(&b[i + 6]);
        if (Refusal r = parse_attributes(b.subspan(i + kTransformHeaderLen, len - kTransformHeaderLen), tr)) return r;
        out.transforms.push_back(tr);
        i += len;
    }
    if (i != b.size()) return fail(Kind::malformed, t, "proposal length disagrees with its transforms");
    return std::nullopt;
}

// RFC 7296 3.3.1: proposals, each with its own length; numbered from 1, each one more than the last.
Refusal parse_sa(Bytes b, SaPayload& out)
{
    constexpr uint8_t t = uint8_t(PayloadType::sa);
    if (b.empty()) return fail(Kind::malformed, t, "SA payload without proposals");
    std::size_t i = 0;
    bool more = true;
    while (more) {
        if (b.size() - i < kProposalHeaderLen) return fail(Kind::malformed, t, "proposal truncated");
        const uint8_t last = b[i];
        if (last != 0 && last != 2) return fail(Kind::malformed, t, "proposal last-substructure field");
        more = last == 2;
        const std::size_t len = load_be16(&b[i + 2]);
        if (len < kProposalHeaderLen || len > b.size() - i) return fail(Kind::malformed, t, "proposal length");
        Proposal p;
        p.number = b[i + 4];
        p.protocol = b[i + 5];
        const std::size_t spi_size = b[i + 6];
        const unsigned count = b[i + 7];
        if (p.number != out.proposals.size() + 1) return fail(Kind::malformed, t, "proposal numbers out of order");
        if (spi_size > len - kProposalHeaderLen) return fail(Kind::malformed, t, "proposal SPI size");
        const Bytes body = b.subspan(i + kProposalHeaderLen, len - kProposalHeaderLen);
        p.spi = copy(body.first(spi_size));
        if (Refusal r = parse_transforms(body.subspan(spi_size), count, p)) return r;
        out.proposals.push_back(std::move(p));
        i += len;
        if (more && i == b.size()) return fail(Kind::malformed, t, "proposal says more follow, none does");
    }
    if (i != b.size()) return fail(Kind::malformed, t, "bytes after the last proposal");
    return std::nullopt;
}

// RFC 7296 3.13.1: Number of TSs, 3 reserved, then selectors of a length fixed by their type.
Refusal parse_ts(uint8_t t, Bytes b, TsPayload& out)
{
    if (b.size() < 4) return fail(Kind::malformed, t, "TS payload truncated");
    const unsigned count = b[0];
    std::size_t i = 4;
    for (unsigned n = 0; n < count; ++n) {
        if (b.size() - i < 4) return fail(Kind::malformed, t, "traffic selector truncated");
        TrafficSelector s;
        s.ts_type = b[i];
        s.ip_protocol = b[i + 1];
        const std::size_t len = load_be16(&b[i + 2]);
        std::size_t want = 0;
        if (s.ts_type == kTsIpv4Range) want = kTsIpv4Len;
        else if (s.ts_type == kTsIpv6Range) want = kTsIpv6Len;
        else return fail(Kind::malformed, t, "traffic selector type");
        if (len != want) return fail(Kind::malformed, t, "traffic selector length");
        if (b.size() - i < len) return fail(Kind::malformed, t, "traffic selector truncated");
        s.start_port = load_be16(&b[i + 4]);
        s.end_port = load_be16(&b[i + 6]);
        const std::size_t alen = (len - kTsHeaderLen) / 2;
        s.start = copy(b.subspan(i + kTsHeaderLen, alen));
        s.end = copy(b.subspan(i + kTsHeaderLen + alen, alen));
        out.selectors.push_back(std::move(s));
        i += len;
    }
    if (i != b.size()) return fail(Kind::malformed, t, "TS payload length disagrees with its selectors");
    return std::nullopt;
}

// RFC 7296 3.11: the SPI count times the SPI size is the rest of the body. A size of 0 with SPIs in
// it would make one empty entry per count with nothing in the input to pay for it: refused.
Refusal parse_delete(Bytes b, DeletePayload& out)
{
    constexpr uint8_t t = uint8_t(PayloadType::del);
    if (b.size() < 4) return fail(Kind::malformed, t, "Delete payload truncated");
    out.protocol = b[0];
    out.spi_size = b[1];
    const std::size_t count = load_be16(&b[2]);
    const Bytes spis = b.subspan(4);
    if (out.spi_size == 0) {
        if (count != 0 || !spis.empty()) return fail(Kind::malformed, t, "Delete payload SPIs of size 0");
        return std::nullopt;
    }
    if (spis.size() != count * out.spi_size) return fail(Kind::malformed, t, "Delete payload SPI count");
    for (std::size_t i = 0; i < spis.size(); i += out.spi_size) out.spis.push_back(copy(spis.subspan(i, out.spi_size)));
    return std::nullopt;
}

// RFC 7296 3.15: attributes are TLV only (R bit, 15-bit type, length, value).
Refusal parse_cp(Bytes b, CpPayload& out)
{
    constexpr uint8_t t = uint8_t(PayloadType::cp);
    if (b.size() < 4) return fail(Kind::malformed, t, "CP payload truncated");
    out.cfg_type = b[0];
    std::size_t i = 4;
    while (i < b.size()) {
        if (b.size() - i < 4) return fail(Kind::malformed, t, "configuration attribute truncated");
        const uint16_t type = load_be16(&b[i]) & 0x7FFF;
        const std::size_t len = load_be16(&b[i + 2]);
        if (b.size() - i - 4 < len) return fail(Kind::malformed, t, "configuration attribute length");
        out.attributes.emplace_back(type, copy(b.subspan(i + 4, len)));
        i += 4 + len;
    }
    return std::nullopt;
}

// One payload's body into its structure; nullopt for a type this parser does not know.
std::optional<std::variant<Payload, ParseError>> parse_body(uint8_t type, Bytes b)
{
    auto refuse = [type](const char* what) { return fail(Kind::malformed, type, what); };
    switch (static_cast<PayloadType>(type)) {
    case PayloadType::sa: {
        SaPayload p;
        if (Refusal r = parse_sa(b, p)) return *r;
        return Payload{std::move(p)};
    }
    case PayloadType::ke: {
        if (b.size() < 4) return refuse("KE payload truncated");
        return Payload{KePayload{load_be16(&b[0]), copy(b.subspan(4))}};
    }
    case PayloadType::idi:
    case PayloadType::idr: {
        if (b.size() < 4) return refuse("ID payload truncated");
        return Payload{IdPayload{type == uint8_t(PayloadType::idr), b[0], copy(b.subspan(4))}};
    }
    case PayloadType::cert: {
        if (b.empty()) return refuse("CERT payload truncated");
        return Payload{CertPayload{b[0], copy(b.subspan(1))}};
    }
    case PayloadType::certreq: {
        if (b.empty()) return refuse("CERTREQ payload truncated");
        return Payload{CertReqPayload{b[0], copy(b.subspan(1))}};
    }
    case PayloadType::auth: {
        if (b.size() < 4) return refuse("AUTH payload truncated");
        return Payload{AuthPayload{b[0], copy(b.subspan(4))}};
    }
    case PayloadType::nonce: {
        if (b.size() < kNonceMin || b.size() > kNonceMax) return refuse("Nonce length outside 16..256");
        return Payload{NoncePayload{copy(b)}};
    }
    case PayloadType::notify: {
        if (b.size() < 4) return refuse("Notify payload truncated");
        const std::size_t spi_size = b[1];
        if (spi_size > b.size() - 4) return refuse("Notify SPI size");
        return Payload{NotifyPayload{b[0], copy(b.subspan(4, spi_size)), load_be16(&b[2]), copy(b.subspan(4 + spi_size))}};
    }
    case PayloadType::del: {
        DeletePayload p;
        if (Refusal r = parse_delete(b, p)) return *r;
        return Payload{std::move(p)};
    }
    case PayloadType::vendor: return Payload{VendorPayload{copy(b)}};
    case PayloadType::tsi:
    case PayloadType::tsr: {
        TsPayload p;
        p.responder = type == uint8_t(PayloadType::tsr);
        if (Refusal r = parse_ts(type, b, p)) return *r;
        return Payload{std::move(p)};
    }
    case PayloadType::cp: {
        CpPayload p;
        if (Refusal r = parse_cp(b, p)) return *r;
        return Payload{std::move(p)};
    }
    // EAP is a type RFC 7296 defines (so its critical bit is ignored), but its contents are EAP's
    // business: kept whole.
    case PayloadType::eap: return Payload{UnknownPayload{type, false, copy(b)}};
    default: return std::nullopt;
    }
}

// The chain walk shared by parse_message and parse_payloads; `base` is where `bytes` starts in the
// message, for SkPayload::offset.
std::variant<std::vector<Payload>, ParseError> parse_chain(uint8_t first, Bytes bytes, std::size_t base)
{
    std::vector<Payload> out;
    uint8_t type = first;
    std::size_t i = 0;
    while (type != uint8_t(PayloadType::none)) {
        if (bytes.size() - i < kGenericHeaderLen) return fail(Kind::truncated, type, "payload header truncated");
        const uint8_t next = bytes[i];
        const bool critical = (bytes[i + 1] & 0x80) != 0;
        const std::size_t len = load_be16(&bytes[i + 2]);
        if (len < kGenericHeaderLen) return fail(Kind::bad_length, type, "payload length below its header");
        if (len > bytes.size() - i) return fail(Kind::bad_length, type, "payload length beyond the message");
        const Bytes body = bytes.subspan(i + kGenericHeaderLen, len - kGenericHeaderLen);
        if (type == uint8_t(PayloadType::sk)) {
            // Its Next Payload names the first payload inside the ciphertext, not one after it.
            if (i + len != bytes.size()) return fail(Kind::sk_not_last, type, "SK payload is not the last");
            out.emplace_back(SkPayload{next, base + i, copy(body)});
            return out;
        }
        auto parsed = parse_body(type, body);
        if (!parsed) {
            if (critical) return fail(Kind::unsupported_critical, type, "unknown payload type with the critical bit");
            out.emplace_back(UnknownPayload{type, false, copy(body)});  // skipped, kept for the caller
        } else if (auto* e = std::get_if<ParseError>(&*parsed)) {
            return std::move(*e);
        } else {
            out.push_back(std::move(std::get<Payload>(*parsed)));
        }
        i += len;
        type = next;
    }
    if (i != bytes.size()) return fail(Kind::bad_length, 0, "bytes after the last payload");
    return out;
}

void put(std::vector<uint8_t>& o, std::span<const uint8_t> b) { o.insert(o.end(), b.begin(), b.end()); }
void put8(std::vector<uint8_t>& o, uint8_t v) { o.push_back(v); }
void put16(std::vector<uint8_t>& o, uint16_t v)
{
    o.push_back(static_cast<uint8_t>(v >> 8));
    o.push_back(static_cast<uint8_t>(v));
}
void put_zero(std::vector<uint8_t>& o, std::size_t n) { o.insert(o.end(), n, 0); }

// A substructure whose length field sits at `at` (2 bytes) and counts from `start`: patched once
// written; false if it does not fit 16 bits.
bool patch_length(std::vector<uint8_t>& o, std::size_t at, std::size_t start)
{
    const std::size_t len = o.size() - start;
    if (len > std::numeric_limits<uint16_t>::max()) return false;
    store_be16(&o[at], static_cast<uint16_t>(len));
    return true;
}

bool encode_sa(const SaPayload& sa, std::vector<uint8_t>& o)
{
    for (std::size_t pi = 0; pi < sa.proposals.size(); ++pi) {
        const Proposal& p = sa.proposals[pi];
        if (p.spi.size() > 255 || p.transforms.size() > 255) return false;
        const std::size_t start = o.size();
        put8(o, pi + 1 == sa.proposals.size() ? 0 : 2);
        put8(o, 0);
        put16(o, 0);
        put8(o, p.number);
        put8(o, p.protocol);
        put8(o, static_cast<uint8_t>(p.spi.size()));
        put8(o, static_cast<uint8_t>(p.transforms.size()));
        put(o, p.spi);
        for (std::size_t ti = 0; ti < p.transforms.size(); ++ti) {
            const Transform& t = p.transforms[ti];
            const std::size_t tstart = o.size();
            put8(o, ti + 1 == p.transforms.size() ? 0 : 3);
            put8(o, 0);
            put16(o, 0);
            put8(o, t.type);
            put8(o, 0);
            put16(o, t.id);
            if (t.key_length) {
                put16(o, 0x8000 | kAttrKeyLength);
                put16(o, *t.key_length);
            }
            if (!patch_length(o, tstart + 2, tstart)) return false;
        }
        if (!patch_length(o, start + 2, start)) return false;
    }
    return true;
}

// One payload's body (after the generic header) appended to `o`; false if a count does not fit.
bool encode_body(const Payload& payload, std::vector<uint8_t>& o)
{
    struct Visitor {
        std::vector<uint8_t>& o;
        bool operator()(const SaPayload& p) { return encode_sa(p, o); }
        bool operator()(const KePayload& p)
        {
            put16(o, p.group);
            put16(o, 0);
            put(o, p.data);
            return true;
        }
        bool operator()(const IdPayload& p)
        {
            put8(o, p.id_type);
            put_zero(o, 3);
            put(o, p.data);
            return true;
        }
        bool operator()(const CertPayload& p)
        {
            put8(o, p.encoding);
            put(o, p.data);
            return true;
        }
        bool operator()(const CertReqPayload& p)
        {
            put8(o, p.encoding);
            put(o, p.data);
            return true;
        }
        bool operator()(const AuthPayload& p)
        {
            put8(o, p.method);
            put_zero(o, 3);
            put(o, p.data);
            return true;
        }
        bool operator()(const NoncePayload& p)
        {
            put(o, p.data);
            return true;
        }
        bool operator()(const NotifyPayload& p)
        {
            if (p.spi.size() > 255) return false;
            put8(o, p.protocol);
            put8(o, static_cast<uint8_t>(p.spi.size()));
            put16(o, p.type);
            put(o, p.spi);
            put(o, p.data);
            return true;
        }
        bool operator()(const DeletePayload& p)
        {
            if (p.spis.size() > 0xFFFF) return false;
            put8(o, p.protocol);
            put8(o, p.spi_size);
            put16(o, static_cast<uint16_t>(p.spis.size()));
            for (const auto& s : p.spis) put(o, s);
            return true;
        }
        bool operator()(const VendorPayload& p)
        {
            put(o, p.data);
            return true;
        }
        bool operator()(const TsPayload& p)
        {
            if (p.selectors.size() > 255) return false;
            put8(o, static_cast<uint8_t>(p.selectors.size()));
            put_zero(o, 3);
            for (const TrafficSelector& s : p.selectors) {
                const std::size_t start = o.size();
                put8(o, s.ts_type);
                put8(o, s.ip_protocol);
                put16(o, 0);
                put16(o, s.start_port);
                put16(o, s.end_port);
                put(o, s.start);
                put(o, s.end);
                if (!patch_length(o, start + 2, start)) return false;
            }
            return true;
        }
        bool operator()(const CpPayload& p)
        {
            put8(o, p.cfg_type);
            put_zero(o, 3);
            for (const auto& [type, value] : p.attributes) {
                if (value.size() > 0xFFFF) return false;
                put16(o, type & 0x7FFF);
                put16(o, static_cast<uint16_t>(value.size()));
                put(o, value);
            }
            return true;
        }
        bool operator()(const SkPayload& p)
        {
            put(o, p.body);
            return true;
        }
        bool operator()(const UnknownPayload& p)
        {
            put(o, p.body);
            return true;
        }
    };
    return std::visit(Visitor{o}, payload);
}

} // namespace

PayloadType payload_type(const Payload& p)
{
    struct Visitor {
        PayloadType operator()(const SaPayload&) const { return PayloadType::sa; }
        PayloadType operator()(const KePayload&) const { return PayloadType::ke; }
        PayloadType operator()(const IdPayload& i) const { return i.responder ? PayloadType::idr : PayloadType::idi; }
        PayloadType operator()(const CertPayload&) const { return PayloadType::cert; }
        PayloadType operator()(const CertReqPayload&) const { return PayloadType::certreq; }
        PayloadType operator()(const AuthPayload&) const { return PayloadType::auth; }
        PayloadType operator()(const NoncePayload&) const { return PayloadType::nonce; }
        PayloadType operator()(const NotifyPayload&) const { return PayloadType::notify; }
        PayloadType operator()(const DeletePayload&) const { return PayloadType::del; }
        PayloadType operator()(const VendorPayload&) const { return PayloadType::vendor; }
        PayloadType operator()(const TsPayload& t) const { return t.responder ? PayloadType::tsr : PayloadType::tsi; }
        PayloadType operator()(const CpPayload&) const { return PayloadType::cp; }
        PayloadType operator()(const SkPayload&) const { return PayloadType::sk; }
        PayloadType operator()(const UnknownPayload& u) const { return static_cast<PayloadType>(u.type); }
    };
    return std::visit(Visitor{}, p);
}

std::vector<PayloadType> payload_types(const std::vector<Payload>& ps)
{
    std::vector<PayloadType> out;
    out.reserve(ps.size());
    for (const Payload& p : ps) out.push_back(payload_type(p));
    return out;
}

const char* kind_name(ParseError::Kind k)
{
    switch (k) {
    case Kind::truncated: return "truncated";
    case Kind::bad_length: return "bad_length";
    case Kind::bad_version: return "bad_version";
    case Kind::unsupported_critical: return "unsupported_critical";
    case Kind::malformed: return "malformed";
    case Kind::sk_not_last: return "sk_not_last";
    }
    return "?";
}

std::optional<Header> parse_header(std::span<const uint8_t> msg)
{
    if (msg.size() < kHeaderLen) return std::nullopt;
    Header h;
    h.spi_i = load_be64(&msg[0]);
    h.spi_r = load_be64(&msg[8]);
    h.next_payload = msg[16];
    h.version = msg[17];
    h.exchange = static_cast<Exchange>(msg[18]);
    h.flags = msg[19];
    h.message_id = load_be32(&msg[20]);
    h.length = load_be32(&msg[24]);
    return h;
}

std::variant<Message, ParseError> parse_message(std::span<const uint8_t> msg)
{
    const std::optional<Header> h = parse_header(msg);
    if (!h) return fail(Kind::truncated, 0, "IKE header truncated");
    if (h->length != msg.size()) return fail(Kind::bad_length, 0, "IKE header length is not the message size");
    // RFC 7296 3.1: a major version other than 2 is answered with INVALID_MAJOR_VERSION, so it is a
    // kind of its own; the minor version is ignored.
    if ((h->version >> 4) != 2) return fail(Kind::bad_version, 0, "IKE major version is not 2");
    auto chain = parse_chain(h->next_payload, msg.subspan(kHeaderLen), kHeaderLen);
    if (auto* e = std::get_if<ParseError>(&chain)) return std::move(*e);
    return Message{*h, std::move(std::get<std::vector<Payload>>(chain))};
}

std::variant<std::vector<Payload>, ParseError> parse_payloads(uint8_t first, std::span<const uint8_t> bytes)
{
    return parse_chain(first, bytes, 0);
}

std::vector<uint8_t> encode_payloads(std::span<const Payload> payloads, uint8_t* first)
{
    std::vector<uint8_t> o;
    if (first) *first = payloads.empty() ? 0 : static_cast<uint8_t>(payload_type(payloads[0]));
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        const Payload& p = payloads[i];
        const std::size_t start = o.size();
        uint8_t next = i + 1 < payloads.size() ? static_cast<uint8_t>(payload_type(payloads[i + 1])) : 0;
        bool critical = false;
        if (const auto* sk = std::get_if<SkPayload>(&p)) next = sk->first_inner;
        if (const auto* u = std::get_if<UnknownPayload>(&p)) critical = u->critical;
        put_zero(o, kGenericHeaderLen);
        o[start] = next;
        o[start + 1] = critical ? 0x80 : 0;
        if (!encode_body(p, o) || !patch_length(o, start + 2, start)) {
            if (first) *first = 0;
            return {};
        }
    }
    return o;
}

std::vector<uint8_t> build_message(Header h, std::span<const Payload> payloads)
{
    uint8_t first = 0;
    std::vector<uint8_t> chain = encode_payloads(payloads, &first);
    if (chain.empty() && !payloads.empty()) return {};
    if (chain.size() > std::numeric_limits<uint32_t>::max() - kHeaderLen) return {};
    h.next_payload = first;
    h.length = static_cast<uint32_t>(kHeaderLen + chain.size());
    std::vector<uint8_t> out(kHeaderLen);
    write_header(h, out.data());
    out.insert(out.end(), chain.begin(), chain.end());
    return out;
}

void write_header(const Header& h, uint8_t* out28)
{
    store_be32(out28, static_cast<uint32_t>(h.spi_i >> 32));
    store_be32(out28 + 4, static_cast<uint32_t>(h.spi_i));
    store_be32(out28 + 8, static_cast<uint32_t>(h.spi_r >> 32));
    store_be32(out28 + 12, static_cast<uint32_t>(h.spi_r));
    out28[16] = h.next_payload;
    out28[17] = h.version;
    out28[18] = static_cast<uint8_t>(h.exchange);
    out28[19] = h.flags;
    store_be32(out28 + 20, h.message_id);
    store_be32(out28 + 24, h.length);
}

void write_generic_header(uint8_t next, bool critical, uint16_t length, uint8_t* out4)
{
    out4[0] = next;
    out4[1] = critical ? 0x80 : 0;
    store_be16(out4 + 2, length);
}

const NotifyPayload* find_notify(const std::vector<Payload>& ps, uint16_t type)
{
    for (const Payload& p : ps)
        if (const auto* n = std::get_if<NotifyPayload>(&p); n && n->type == type) return n;
    return nullptr;
}

} // namespace nemo::ike
