#include "mobility_options.hpp"

#include <cstring>

#include "bytes.hpp"

namespace nemo::wire {

namespace {

// Length (excluding type and length octets) each fixed-size option must have.
constexpr uint8_t kLenRefreshAdvice = 2;
constexpr uint8_t kLenAltCoa = 16;
constexpr uint8_t kLenMnp = 18;
constexpr uint8_t kLenIpv4Coa = 8;
constexpr uint8_t kLenDsmipCoa = 6;
constexpr uint8_t kLenNatDetection = 6;

} // namespace

Result<MobilityOptions> parse_mobility_options(std::span<const uint8_t> area, std::size_t offset,
                                               const OptionTypes& types)
{
    MobilityOptions out;
    std::size_t i = 0;
    while (i < area.size()) {
        const uint8_t type = area[i];
        const std::size_t at = offset + i;
        if (type == mopt::pad1) {
            ++i;
            continue;
        }
        if (i + 2 > area.size()) return err(Errc::truncated, "mobility option header", at);
        const uint8_t len = area[i + 1];
        if (i + 2 + len > area.size()) return err(Errc::truncated, "mobility option", at + 1);
        const uint8_t* d = area.data() + i + 2;
        auto need_len = [&](uint8_t want) { return len == want; };

        if (type == types.ipv4_coa) {
            if (!need_len(kLenIpv4Coa)) return err(Errc::bad_length, "IPv4 care-of address option", at + 1);
            if (out.ipv4_coa) return err(Errc::bad_value, "duplicate IPv4 care-of address option", at);
            out.ipv4_coa = Ipv4CoaOption{static_cast<uint16_t>(load_be16(d) & v4flag::all), load_be16(d + 2),
                                         Ipv4Addr::from_bytes(d + 4)};
        } else if (type == mopt::padn) {
            // contents ignored on receipt
        } else if (type == mopt::binding_refresh_advice) {
            if (!need_len(kLenRefreshAdvice)) return err(Errc::bad_length, "binding refresh advice option", at + 1);
            if (out.refresh_interval) return err(Errc::bad_value, "duplicate binding refresh advice option", at);
            out.refresh_interval = load_be16(d);
        } else if (type == mopt::alternate_coa) {
            if (!need_len(kLenAltCoa)) return err(Errc::bad_length, "alternate care-of address option", at + 1);
            if (out.alternate_coa) return err(Errc::bad_value, "duplicate alternate care-of address option", at);
            out.alternate_coa = Ipv6Addr::from_bytes(d);
        } else if (type == mopt::mobile_network_prefix) {
            if (!need_len(kLenMnp)) return err(Errc::bad_length, "mobile network prefix option", at + 1);
            const uint8_t plen = d[1];
            if (plen == 0 || plen > 128) return err(Errc::bad_value, "mobile network prefix length", at + 3);
            if (!out.add_prefix(Prefix6::make(Ipv6Addr::from_bytes(d + 2), plen)))
                return err(Errc::bad_value, "too many mobile network prefixes", at);
        } else if (type == mopt::dsmip_ipv4_coa) {
            if (!need_len(kLenDsmipCoa)) return err(Errc::bad_length, "RFC 5555 IPv4 care-of address option", at + 1);
            if (out.dsmip_ipv4_coa) return err(Errc::bad_value, "duplicate RFC 5555 IPv4 care-of address option", at);
            out.dsmip_ipv4_coa = Ipv4Addr::from_bytes(d + 2);
        } else if (type == mopt::nat_detection) {
            if (!need_len(kLenNatDetection)) return err(Errc::bad_length, "NAT detection option", at + 1);
            if (out.nat_detection) return err(Errc::bad_value, "duplicate NAT detection option", at);
            out.nat_detection = NatDetectionOption{(d[0] & 0x80) != 0, load_be32(d + 2)};
        } else {
            ++out.skipped;
        }
        i += 2 + std::size_t{len};
    }
    return out;
}

void OptionWriter::pad(std::size_t n)
{
    if (n == 0 || overflow_) return;
    if (pos_ + n > buf_.size()) {
        overflow_ = true;
        return;
    }
    if (n == 1) {
        buf_[pos_] = mopt::pad1;
    } else {
        buf_[pos_] = mopt::padn;
        buf_[pos_ + 1] = static_cast<uint8_t>(n - 2);
        std::memset(buf_.data() + pos_ + 2, 0, n - 2);
    }
    pos_ += n;
}

void OptionWriter::option(uint8_t type, std::span<const uint8_t> data, unsigned x, unsigned y)
{
    pad((y + x - pos_ % x) % x);
    if (overflow_) return;
    if (pos_ + 2 + data.size() > buf_.size()) {
        overflow_ = true;
        return;
    }
    buf_[pos_] = type;
    buf_[pos_ + 1] = static_cast<uint8_t>(data.size());
    if (!data.empty()) std::memcpy(buf_.data() + pos_ + 2, data.data(), data.size());
    pos_ += 2 + data.size();
}

void OptionWriter::pad_to_8() { pad((8 - pos_ % 8) % 8); }

void OptionWriter::write_all(const MobilityOptions& opts, const OptionTypes& types)
{
    if (opts.refresh_interval) {
        uint8_t d[kLenRefreshAdvice];
        store_be16(d, *opts.refresh_interval);
        option(mopt::binding_refresh_advice, d, 2, 0);
    }
    if (opts.alternate_coa) option(mopt::alternate_coa, opts.alternate_coa->bytes, 8, 6);
    if (opts.ipv4_coa) {
        uint8_t d[kLenIpv4Coa];
        store_be16(d, static_cast<uint16_t>(opts.ipv4_coa->flags & v4flag::all));
        store_be16(d + 2, opts.ipv4_coa->port);
        opts.ipv4_coa->coa.to_bytes(d + 4);
        option(types.ipv4_coa, d, 4, 2);
    }
    if (opts.dsmip_ipv4_coa) {
        uint8_t d[kLenDsmipCoa] = {};
        opts.dsmip_ipv4_coa->to_bytes(d + 2);
        option(mopt::dsmip_ipv4_coa, d, 4, 0);
    }
    if (opts.nat_detection) {
        uint8_t d[kLenNatDetection] = {};
        d[0] = opts.nat_detection->udp_required ? 0x80 : 0;
        store_be32(d + 2, opts.nat_detection->refresh_time);
        option(mopt::nat_detection, d, 4, 0);
    }
    for (const Prefix6& p : opts.mobile_network_prefixes()) {
        uint8_t d[kLenMnp] = {};
        d[1] = p.len;
        p.addr.to_bytes(d + 2);
        option(mopt::mobile_network_prefix, d, 8, 4);
    }
}

} // namespace nemo::wire
