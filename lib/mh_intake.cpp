#include "mh_intake.hpp"

#include "proto.hpp"

namespace nemo {

using namespace wire;

const char* mh_drop_reason_name(MhDropReason r)
{
    switch (r) {
    case MhDropReason::none: return "none";
    case MhDropReason::malformed: return "malformed";
    case MhDropReason::bad_checksum: return "bad-checksum";
    case MhDropReason::bad_option: return "bad-option";
    case MhDropReason::not_for_ha: return "not-for-ha";
    }
    return "unknown";
}

MhIntake take_mobility_header(const Ipv6Packet& ip, const OptionTypes& types)
{
    MhIntake out;
    auto mh = parse_mh(ip.upper);
    if (!mh) {
        out.reason = MhDropReason::malformed; // shorter than 8 octets, or Header Len past the packet
        return out;
    }
    // The checksum comes first: a corrupted message earns no answer of any kind (RFC 6275 9.2).
    if (!mh_checksum_ok(*mh, ip.checksum_src(), ip.checksum_dst())) {
        out.reason = MhDropReason::bad_checksum;
        return out;
    }
    if (mh->payload_proto != ipproto::no_next) {
        out.action = MhAction::param_problem;
        out.pointer = static_cast<uint32_t>(ip.upper_offset);
        return out;
    }
    switch (mh->type) {
    case mh_type::binding_update: {
        auto bu = parse_binding_update(*mh, types);
        if (!bu) {
            if (bu.error().code == Errc::bad_length && bu.error().offset == 1) {
                out.action = MhAction::param_problem; // Header Len too small for a BU
                out.pointer = static_cast<uint32_t>(ip.upper_offset + 1);
            } else {
                out.reason = MhDropReason::bad_option;
            }
            return out;
        }
        out.action = MhAction::process_bu;
        out.bu = *bu;
        return out;
    }
    case mh_type::binding_refresh_request:
    case mh_type::home_test:
    case mh_type::care_of_test:
    case mh_type::binding_ack:
    case mh_type::binding_error:
        out.reason = MhDropReason::not_for_ha;
        return out;
    default:
        // HoTI/CoTI (this node offers no correspondent registration) and every unknown type.
        out.action = MhAction::binding_error;
        out.be_status = be_status::unrecognized_mh_type;
        return out;
    }
}

} // namespace nemo
