#include "mobility_header.hpp"

#include <cstring>

#include "bytes.hpp"
#include "checksum.hpp"
#include "proto.hpp"

namespace nemo::wire {

namespace {

constexpr std::size_t kBuFixed = 12; // header 6 + seq 2 + flags 2 + lifetime 2
constexpr std::size_t kBaFixed = 12; // header 6 + status 1 + flags 1 + seq 2 + lifetime 2
constexpr std::size_t kBeFixed = 24; // header 6 + status 1 + reserved 1 + home address 16

// Checks that the message has room for its fixed part; otherwise Header Len is at fault.
Result<MobilityOptions> options_after(const MhView& mh, std::size_t fixed, const char* what,
                                      const OptionTypes& types)
{
    if (mh.message.size() < fixed) return err(Errc::bad_length, what, 1);
    return parse_mobility_options(mh.message.subspan(fixed), fixed, types);
}

// Writes the common header, options and padding, then Header Len and the checksum.
Result<std::size_t> finish_message(std::span<uint8_t> out, uint8_t type, std::size_t fixed,
                                   const MobilityOptions& opts, const OptionTypes& types, const Ipv6Addr& src,
                                   const Ipv6Addr& dst)
{
    OptionWriter w(out, fixed);
    w.write_all(opts, types);
    w.pad_to_8();
    if (w.overflow()) return err(Errc::buffer_too_small, "mobility header");
    const std::size_t len = w.pos();
    if (len > 256 * 8) return err(Errc::bad_length, "mobility header longer than Header Len can express");
    out[0] = ipproto::no_next;
    out[1] = static_cast<uint8_t>(len / 8 - 1);
    out[2] = type;
    out[3] = 0;
    store_be16(out.data() + 4, 0);
    store_be16(out.data() + 4, mh_checksum(out.first(len), src, dst));
    return len;
}

} // namespace

Result<MhView> parse_mh(std::span<const uint8_t> bytes)
{
    if (bytes.size() < 8) return err(Errc::truncated, "mobility header");
    MhView v;
    v.payload_proto = bytes[0];
    v.header_len = bytes[1];
    v.type = bytes[2];
    v.checksum = load_be16(bytes.data() + 4);
    const std::size_t len = (std::size_t{v.header_len} + 1) * 8;
    if (len > bytes.size()) return err(Errc::truncated, "mobility header (Header Len past the packet)", 1);
    v.message = bytes.first(len);
    return v;
}

uint16_t mh_checksum(std::span<const uint8_t> message, const Ipv6Addr& src, const Ipv6Addr& dst)
{
    uint64_t sum = pseudo_header_sum_v6(src, dst, static_cast<uint32_t>(message.size()), ipproto::mobility);
    sum = sum_words(message.first(std::min<std::size_t>(4, message.size())), sum);
    if (message.size() > kMhFixedHeader) sum = sum_words(message.subspan(kMhFixedHeader), sum);
    return finish_checksum(sum);
}

bool mh_checksum_ok(const MhView& mh, const Ipv6Addr& src, const Ipv6Addr& dst)
{
    uint64_t sum = pseudo_header_sum_v6(src, dst, static_cast<uint32_t>(mh.message.size()), ipproto::mobility);
    return checksum_ok(sum_words(mh.message, sum));
}

Result<BindingUpdate> parse_binding_update(const MhView& mh, const OptionTypes& types)
{
    if (mh.type != mh_type::binding_update) return err(Errc::unknown_type, "not a binding update", 2);
    auto opts = options_after(mh, kBuFixed, "binding update shorter than its fixed part", types);
    if (!opts) return opts.error();
    const uint8_t* p = mh.message.data();
    BindingUpdate bu;
    bu.seq = load_be16(p + 6);
    bu.flags = load_be16(p + 8);
    bu.lifetime = load_be16(p + 10);
    bu.options = *opts;
    return bu;
}

Result<BindingAck> parse_binding_ack(const MhView& mh, const OptionTypes& types)
{
    if (mh.type != mh_type::binding_ack) return err(Errc::unknown_type, "not a binding acknowledgement", 2);
    auto opts = options_after(mh, kBaFixed, "binding acknowledgement shorter than its fixed part", types);
    if (!opts) return opts.error();
    const uint8_t* p = mh.message.data();
    BindingAck ba;
    ba.status = p[6];
    ba.flags = p[7];
    ba.seq = load_be16(p + 8);
    ba.lifetime = load_be16(p + 10);
    ba.options = *opts;
    return ba;
}

Result<BindingError> parse_binding_error(const MhView& mh, const OptionTypes& types)
{
    if (mh.type != mh_type::binding_error) return err(Errc::unknown_type, "not a binding error", 2);
    auto opts = options_after(mh, kBeFixed, "binding error shorter than its fixed part", types);
    if (!opts) return opts.error();
    BindingError be;
    be.status = mh.message[6];
    be.home_address = Ipv6Addr::from_bytes(mh.message.data() + 8);
    be.options = *opts;
    return be;
}

Result<std::size_t> build_binding_update(std::span<uint8_t> out, const BindingUpdate& bu, const Ipv6Addr& src,
                                         const Ipv6Addr& dst, const OptionTypes& types)
{
    if (out.size() < kBuFixed) return err(Errc::buffer_too_small, "binding update");
    store_be16(out.data() + 6, bu.seq);
    store_be16(out.data() + 8, bu.flags);
    store_be16(out.data() + 10, bu.lifetime);
    return finish_message(out, mh_type::binding_update, kBuFixed, bu.options, types, src, dst);
}

Result<std::size_t> build_binding_ack(std::span<uint8_t> out, const BindingAck& ba, const Ipv6Addr& src,
                                      const Ipv6Addr& dst, const OptionTypes& types)
{
    if (out.size() < kBaFixed) return err(Errc::buffer_too_small, "binding acknowledgement");
    out[6] = ba.status;
    out[7] = ba.flags;
    store_be16(out.data() + 8, ba.seq);
    store_be16(out.data() + 10, ba.lifetime);
    return finish_message(out, mh_type::binding_ack, kBaFixed, ba.options, types, src, dst);
}

Result<std::size_t> build_binding_error(std::span<uint8_t> out, const BindingError& be, const Ipv6Addr& src,
                                        const Ipv6Addr& dst, const OptionTypes& types)
{
    if (out.size() < kBeFixed) return err(Errc::buffer_too_small, "binding error");
    out[6] = be.status;
    out[7] = 0;
    be.home_address.to_bytes(out.data() + 8);
    return finish_message(out, mh_type::binding_error, kBeFixed, be.options, types, src, dst);
}

} // namespace nemo::wire
