#include <gtest/gtest.h>

#include <vector>

#include "fixtures.hpp"
#include "ipv4.hpp"
#include "mh_intake.hpp"
#include "proto.hpp"

using namespace nemo;
using namespace nemo::wire;

namespace {
const Ipv6Addr kHoa = *Ipv6Addr::parse("2001:db8:1::100");
const Ipv6Addr kHa = *Ipv6Addr::parse("2001:db8:1::1");

// An IPv6 packet HoA -> HA whose payload is `mh` with a correct checksum (unless told otherwise).
std::vector<uint8_t> packet(std::vector<uint8_t> mh, bool fix_checksum = true)
{
    if (fix_checksum && mh.size() >= 6) {
        mh[4] = mh[5] = 0;
        uint16_t c = mh_checksum(mh, kHoa, kHa);
        mh[4] = static_cast<uint8_t>(c >> 8);
        mh[5] = static_cast<uint8_t>(c);
    }
    std::vector<uint8_t> p(40);
    write_ipv6_header(p.data(), Ipv6Header{0, 0, static_cast<uint16_t>(mh.size()), ipproto::mobility, 64, kHoa, kHa});
    p.insert(p.end(), mh.begin(), mh.end());
    return p;
}

MhIntake take(const std::vector<uint8_t>& p) { return take_mobility_header(*parse_ipv6_packet(p), {}); }

std::vector<uint8_t> bu_bytes(uint8_t type = mh_type::binding_update)
{
    std::vector<uint8_t> mh = {59, 1, type, 0, 0, 0, 0, 1, 0xC0, 0, 0, 10, 1, 2, 0, 0};
    return mh;
}
} // namespace

TEST(MhIntake, WellFormedBuProcessed)
{
    auto r = take(packet(bu_bytes()));
    ASSERT_EQ(r.action, MhAction::process_bu);
    EXPECT_EQ(r.bu.seq, 1);
    EXPECT_EQ(r.bu.lifetime, 10);
}

TEST(MhIntake, BadChecksumDroppedSilently)
{
    auto p = packet(bu_bytes());
    p[40 + 5] ^= 1;
    auto r = take(p);
    EXPECT_EQ(r.action, MhAction::drop);
    EXPECT_EQ(r.reason, MhDropReason::bad_checksum);
}

TEST(MhIntake, PayloadProtoNot59IsParameterProblemAtIt)
{
    auto mh = bu_bytes();
    mh[0] = 6;
    auto r = take(packet(mh));
    EXPECT_EQ(r.action, MhAction::param_problem);
    EXPECT_EQ(r.pointer, 40u);
}

TEST(MhIntake, HeaderLenTooSmallIsParameterProblemAtHeaderLen)
{
    std::vector<uint8_t> mh = {59, 0, mh_type::binding_update, 0, 0, 0, 0, 1};
    auto r = take(packet(mh));
    EXPECT_EQ(r.action, MhAction::param_problem);
    EXPECT_EQ(r.pointer, 41u);
}

TEST(MhIntake, PointerCountsExtensionHeaders)
{
    // The same with a Home Address option in front: the pointer moves by 24 and the checksum uses the HoA.
    auto mh = bu_bytes();
    mh[0] = 6;
    mh[4] = mh[5] = 0;
    uint16_t c = mh_checksum(mh, kHoa, kHa);
    mh[4] = static_cast<uint8_t>(c >> 8);
    mh[5] = static_cast<uint8_t>(c);
    std::vector<uint8_t> ext(kHaoDestOptsLen);
    write_hao_dest_opts(ext.data(), ipproto::mobility, kHoa);
    ext.insert(ext.end(), mh.begin(), mh.end());
    std::vector<uint8_t> p(40);
    const auto coa = *Ipv6Addr::parse("2001:db8:ffff::5");
    write_ipv6_header(p.data(), Ipv6Header{0, 0, static_cast<uint16_t>(ext.size()), ipproto::dest_opts, 64, coa, kHa});
    p.insert(p.end(), ext.begin(), ext.end());
    auto r = take(p);
    EXPECT_EQ(r.action, MhAction::param_problem);
    EXPECT_EQ(r.pointer, 64u);
}

TEST(MhIntake, UnknownTypeGetsBindingError2)
{
    for (uint8_t type : {uint8_t{1}, uint8_t{2}, uint8_t{8}, uint8_t{200}}) {
        auto r = take(packet(bu_bytes(type)));
        EXPECT_EQ(r.action, MhAction::binding_error) << int(type);
        EXPECT_EQ(r.be_status, 2);
    }
}

TEST(MhIntake, MessagesForMobileNodesDropped)
{
    for (uint8_t type : {uint8_t{0}, uint8_t{3}, uint8_t{4}, uint8_t{6}, uint8_t{7}}) {
        auto mh = bu_bytes(type);
        mh[1] = 2;
        mh.resize(24, 0);
        auto r = take(packet(mh));
        EXPECT_EQ(r.action, MhAction::drop) << int(type);
        EXPECT_EQ(r.reason, MhDropReason::not_for_ha);
    }
}

TEST(MhIntake, MalformedOptionDropped)
{
    auto mh = bu_bytes();
    mh[12] = 18; // the IPv4 CoA option with length 2: malformed
    mh[13] = 2;
    auto r = take(packet(mh));
    EXPECT_EQ(r.action, MhAction::drop);
    EXPECT_EQ(r.reason, MhDropReason::bad_option);
}

TEST(MhIntake, TruncatedDropped)
{
    auto mh = bu_bytes();
    mh[1] = 5; // claims 48 octets
    auto r = take(packet(mh, false));
    EXPECT_EQ(r.action, MhAction::drop);
    EXPECT_EQ(r.reason, MhDropReason::malformed);
}

TEST(MhIntake, ScapyBuilt)
{
    auto v4 = parse_ipv4(nemo::test::scapy_packet("bu_v4coa_ipip"));
    auto r = take_mobility_header(*parse_ipv6_packet(v4->payload), {});
    ASSERT_EQ(r.action, MhAction::process_bu);
    EXPECT_EQ(r.bu.seq, 1000);
    auto bad = parse_ipv6_packet(nemo::test::scapy_packet("bu_bad_checksum"));
    EXPECT_EQ(take_mobility_header(*bad, {}).reason, MhDropReason::bad_checksum);
}
