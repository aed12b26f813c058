#include "state_record.hpp"

#include <zlib.h>

#include "bytes.hpp"

namespace nemo {

namespace {

using wire::load_be16;
using wire::load_be32;
using wire::load_be64;

// Record kinds, the byte after the format: a record read under the wrong key is refused too.
enum : uint8_t { kKindBinding = 1, kKindMr = 2, kKindSa = 3, kKindSeq = 4 };
constexpr std::size_t kCrcLen = 4;
constexpr std::size_t kTypicalRecord = 160;

template <class Buf>
class Writer {
public:
    explicit Writer(uint8_t kind)
    {
        b_.reserve(kTypicalRecord); // one allocation for a binding with a few prefixes
        u8(kStateRecordFormat);
        u8(kind);
    }
    void u8(uint8_t v) { b_.push_back(v); }
    void u16(uint16_t v)
    {
        u8(static_cast<uint8_t>(v >> 8));
        u8(static_cast<uint8_t>(v));
    }
    void u32(uint32_t v)
    {
        u16(static_cast<uint16_t>(v >> 16));
        u16(static_cast<uint16_t>(v));
    }
    void u64(uint64_t v)
    {
        u32(static_cast<uint32_t>(v >> 32));
        u32(static_cast<uint32_t>(v));
    }
    void v6(const Ipv6Addr& a) { b_.insert(b_.end(), a.bytes.begin(), a.bytes.end()); }
    void v4(Ipv4Addr a) { u32(a.value); }
    void bytes(std::span<const uint8_t> s)
    {
        u16(static_cast<uint16_t>(s.size()));
        b_.insert(b_.end(), s.begin(), s.end());
    }
    // A 32-bit count: an implicit-mode binding has all its router's provisioned prefixes, which have no
    // small bound (a one-byte count dropped those past 255 without a word).
    void prefixes(const std::vector<Prefix6>& ps)
    {
        u32(static_cast<uint32_t>(ps.size()));
        for (const Prefix6& p : ps) {
            v6(p.addr);
            u8(p.len);
        }
    }
    Buf finish()
    {
        const uint32_t crc = static_cast<uint32_t>(crc32(0, b_.data(), static_cast<uInt>(b_.size())));
        u32(crc);
        return std::move(b_);
    }

private:
    Buf b_;
};

// Reads a record whose CRC and header were checked; every read is bounds-checked and a short record
// only sets failed().
class Reader {
public:
    explicit Reader(std::span<const uint8_t> body) : b_(body) {}
    bool failed() const { return failed_; }
    bool at_end() const { return pos_ == b_.size(); }
    const uint8_t* take(std::size_t n)
    {
        if (failed_ || b_.size() - pos_ < n) {
            failed_ = true;
            return nullptr;
        }
        const uint8_t* p = b_.data() + pos_;
        pos_ += n;
        return p;
    }
    uint8_t u8()
    {
        const uint8_t* p = take(1);
        return p ? *p : 0;
    }
    uint16_t u16()
    {
        const uint8_t* p = take(2);
        return p ? load_be16(p) : 0;
    }
    uint32_t u32()
    {
        const uint8_t* p = take(4);
        return p ? load_be32(p) : 0;
    }
    uint64_t u64()
    {
        const uint8_t* p = take(8);
        return p ? load_be64(p) : 0;
    }
    Ipv6Addr v6()
    {
        const uint8_t* p = take(16);
        return p ? Ipv6Addr::from_bytes(p) : Ipv6Addr{};
    }
    Ipv4Addr v4() { return Ipv4Addr{u32()}; }
    template <class Buf>
    void bytes(Buf& out)
    {
        const uint16_t n = u16();
        const uint8_t* p = take(n);
        if (p) out.assign(p, p + n);
    }
    // Prefixes as Writer::prefixes wrote them, into *out; false (with *why) for one that is not a prefix.
    // A count past the record's end stops at its end, and leaves failed() set.
    bool prefixes(std::vector<Prefix6>* out, std::string* why)
    {
        const uint32_t n = u32();
        for (uint32_t i = 0; i < n && !failed(); ++i) {
            const Ipv6Addr a = v6();
            const uint8_t len = u8();
            if (len > 128 || Prefix6::make(a, len).addr != a) {
                if (why) *why = "a prefix with host bits set or longer than 128";
                return false;
            }
            out->push_back(Prefix6{a, len});
        }
        return true;
    }

private:
    std::span<const uint8_t> b_;
    std::size_t pos_ = 0;
    bool failed_ = false;
};

// The body of a record of `kind` (format and kind skipped, CRC removed), or nullopt with *why.
std::optional<Reader> open_record(std::span<const uint8_t> rec, uint8_t kind, std::string* why)
{
    auto fail = [why](const char* m) -> std::optional<Reader> {
        if (why) *why = m;
        return std::nullopt;
    };
    if (rec.size() < 2 + kCrcLen) return fail("truncated record");
    const std::size_t body = rec.size() - kCrcLen;
    const uint32_t want = load_be32(rec.data() + body);
    if (static_cast<uint32_t>(crc32(0, rec.data(), static_cast<uInt>(body))) != want) return fail("checksum mismatch");
    if (rec[0] != kStateRecordFormat) return fail("record of an unknown format");
    if (rec[1] != kind) return fail("record of another kind");
    return Reader(rec.subspan(2, body - 2));
}

template <class T>
std::optional<T> finish(Reader& r, T value, std::string* why)
{
    if (r.failed() || !r.at_end()) {
        if (why) *why = r.failed() ? "truncated record" : "trailing bytes in record";
        return std::nullopt;
    }
    return value;
}

enum : uint8_t { kFlagRouter = 1, kFlagProxyNd = 2, kFlagNat = 4 };

} // namespace

std::vector<uint8_t> encode_binding(const StoredBinding& s)
{
    const Binding& b = s.binding;
    Writer<std::vector<uint8_t>> w(kKindBinding);
    w.v6(b.hoa);
    w.u8(static_cast<uint8_t>(b.coa.method));
    w.u8(static_cast<uint8_t>((b.mobile_router ? kFlagRouter : 0) | (b.proxy_nd ? kFlagProxyNd : 0) |
                              (b.coa.behind_nat ? kFlagNat : 0)));
    w.v6(b.coa.v6);
    w.v4(b.coa.v4);
    w.u16(b.coa.v4_port);
    w.v4(b.coa.peer);
    w.u16(b.coa.peer_port);
    w.u16(b.seq);
    w.u32(b.lifetime);
    w.u64(b.created);
    w.u64(b.updated);
    w.u64(b.expires);
    w.u32(s.sa_out_spi);
    w.prefixes(b.prefixes);
    return w.finish();
}

std::optional<StoredBinding> decode_binding(std::span<const uint8_t> rec, std::string* why)
{
    auto r = open_record(rec, kKindBinding, why);
    if (!r) return std::nullopt;
    StoredBinding s;
    Binding& b = s.binding;
    b.hoa = r->v6();
    const uint8_t method = r->u8();
    const uint8_t flags = r->u8();
    b.coa.v6 = r->v6();
    b.coa.v4 = r->v4();
    b.coa.v4_port = r->u16();
    b.coa.peer = r->v4();
    b.coa.peer_port = r->u16();
    b.seq = r->u16();
    b.lifetime = r->u32();
    b.created = r->u64();
    b.updated = r->u64();
    b.expires = r->u64();
    s.sa_out_spi = r->u32();
    if (!r->prefixes(&b.prefixes, why)) return std::nullopt;
    if (method >= kTunnelMethodCount || (flags & ~(kFlagRouter | kFlagProxyNd | kFlagNat)) != 0) {
        if (why) *why = "unknown tunnel method or flags";
        return std::nullopt;
    }
    b.coa.method = static_cast<TunnelMethod>(method);
    b.mobile_router = (flags & kFlagRouter) != 0;
    b.proxy_nd = (flags & kFlagProxyNd) != 0;
    b.coa.behind_nat = (flags & kFlagNat) != 0;
    return finish(*r, std::move(s), why);
}

std::vector<uint8_t> encode_mr_change(const MrChange& c)
{
    Writer<std::vector<uint8_t>> w(kKindMr);
    w.u8(c.added ? 1 : 0);
    w.v6(c.mr.hoa);
    // Bit 1 (added with IKEv2) says an IKE identity follows the prefixes; records written before have
    // 0 or 1 here and end after the prefixes.
    w.u8(static_cast<uint8_t>((c.mr.mobile_router ? 1 : 0) | (c.mr.ike_id.empty() ? 0 : 2)));
    w.u16(static_cast<uint16_t>(c.mr.methods));
    w.prefixes(c.mr.prefixes);
    if (!c.mr.ike_id.empty()) w.bytes({reinterpret_cast<const uint8_t*>(c.mr.ike_id.data()), c.mr.ike_id.size()});
    return w.finish();
}

std::optional<MrChange> decode_mr_change(std::span<const uint8_t> rec, std::string* why)
{
    auto r = open_record(rec, kKindMr, why);
    if (!r) return std::nullopt;
    MrChange c;
    const uint8_t added = r->u8();
    c.mr.hoa = r->v6();
    const uint8_t router = r->u8();
    const uint16_t methods = r->u16();
    if (!r->prefixes(&c.mr.prefixes, why)) return std::nullopt;
    if (router & 2) {
        r->bytes(c.mr.ike_id);
        if (c.mr.ike_id.empty() && !r->failed()) {
            if (why) *why = "an empty IKE identity";
            return std::nullopt;
        }
    }
    if (added > 1 || router > 3 || (methods >> kTunnelMethodCount) != 0) {
        if (why) *why = "unknown flags";
        return std::nullopt;
    }
    c.added = added == 1;
    c.mr.mobile_router = (router & 1) != 0;
    c.mr.methods = static_cast<MethodSet>(methods);
    return finish(*r, std::move(c), why);
}

KeyBytes encode_sa_change(const SaChange& c)
{
    Writer<KeyBytes> w(kKindSa);
    w.u8(c.added ? 1 : 0);
    w.u32(c.sa.spi);
    w.u8(c.sa.inbound ? 1 : 0);
    w.v6(c.sa.hoa);
    w.u8(static_cast<uint8_t>(c.sa.algorithm));
    w.bytes(c.sa.enc_key);
    w.bytes(c.sa.auth_key);
    w.u8(c.sa.esn ? 1 : 0);
    w.u32(c.sa.window);
    w.u64(c.sa.life_bytes);
    w.u64(c.sa.life_packets);
    return w.finish();
}

std::optional<SaChange> decode_sa_change(std::span<const uint8_t> rec, std::string* why)
{
    auto r = open_record(rec, kKindSa, why);
    if (!r) return std::nullopt;
    SaChange c;
    const uint8_t added = r->u8();
    c.sa.spi = r->u32();
    const uint8_t inbound = r->u8();
    c.sa.hoa = r->v6();
    const uint8_t alg = r->u8();
    r->bytes(c.sa.enc_key);
    r->bytes(c.sa.auth_key);
    const uint8_t esn = r->u8();
    c.sa.window = r->u32();
    c.sa.life_bytes = r->u64();
    c.sa.life_packets = r->u64();
    if (added > 1 || inbound > 1 || esn > 1 || alg > static_cast<uint8_t>(EspAlgorithm::aes_cbc_128_hmac_sha256)) {
        if (why) *why = "unknown flags or algorithm";
        return std::nullopt;
    }
    c.added = added == 1;
    c.sa.inbound = inbound == 1;
    c.sa.esn = esn == 1;
    c.sa.algorithm = static_cast<EspAlgorithm>(alg);
    return finish(*r, std::move(c), why);
}

std::vector<uint8_t> encode_seq(const SeqReservation& s)
{
    Writer<std::vector<uint8_t>> w(kKindSeq);
    w.u64(s.key);
    w.u64(s.reserved);
    return w.finish();
}

std::optional<SeqReservation> decode_seq(std::span<const uint8_t> rec, std::string* why)
{
    auto r = open_record(rec, kKindSeq, why);
    if (!r) return std::nullopt;
    SeqReservation s;
    s.key = r->u64();
    s.reserved = r->u64();
    return finish(*r, s, why);
}

namespace {
// A time on one clock moved to the other: the same distance from now. 0 (unset) stays 0.
uint64_t shift(uint64_t t, uint64_t from_now, uint64_t to_now)
{
    if (t == 0) return 0;
    if (t >= from_now) return to_now + (t - from_now);
    const uint64_t ago = from_now - t;
    return ago < to_now ? to_now - ago : 1;
}
} // namespace

Binding binding_to_wall(const Binding& b, uint64_t now_mono, uint64_t now_wall)
{
    Binding w = b;
    w.created = shift(b.created, now_mono, now_wall);
    w.updated = shift(b.updated, now_mono, now_wall);
    w.expires = shift(b.expires, now_mono, now_wall);
    return w;
}

Binding binding_to_mono(const Binding& b, uint64_t now_mono, uint64_t now_wall)
{
    Binding m = b;
    m.created = shift(b.created, now_wall, now_mono);
    m.updated = shift(b.updated, now_wall, now_mono);
    m.expires = shift(b.expires, now_wall, now_mono);
    return m;
}

} // namespace nemo
