#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "mobility_header.hpp"

using namespace nemo;
using namespace nemo::wire;

namespace {

const Ipv6Addr kHoa = *Ipv6Addr::parse("2001:db8:1::100");
const Ipv6Addr kHa = *Ipv6Addr::parse("2001:db8:1::1");

BindingUpdate sample_bu()
{
    BindingUpdate bu;
    bu.seq = 0xBEEF;
    bu.flags = bu_flag::A | bu_flag::H | bu_flag::R;
    bu.lifetime = 150;
    bu.options.ipv4_coa = Ipv4CoaOption{v4flag::U, 5555, *Ipv4Addr::parse("198.51.100.10")};
    bu.options.add_prefix(*Prefix6::parse("2001:db8:aaaa::/48"));
    bu.options.add_prefix(*Prefix6::parse("2001:db8:bbbb:1::/64"));
    return bu;
}

// Offsets at which options of `type` start, walking the option area of a built message.
std::vector<std::size_t> option_offsets(std::span<const uint8_t> msg, std::size_t start, uint8_t type)
{
    std::vector<std::size_t> at;
    for (std::size_t i = start; i < msg.size();) {
        if (msg[i] == mopt::pad1) {
            ++i;
            continue;
        }
        if (msg[i] == type) at.push_back(i);
        i += 2 + msg[i + 1];
    }
    return at;
}

} // namespace

TEST(MobilityHeader, BindingUpdateRoundTrip)
{
    std::array<uint8_t, 256> buf{};
    const BindingUpdate bu = sample_bu();
    auto len = build_binding_update(buf, bu, kHoa, kHa);
    ASSERT_TRUE(len) << len.error().message();
    EXPECT_EQ(*len % 8, 0u);
    EXPECT_EQ(buf[0], 59);
    EXPECT_EQ((buf[1] + 1u) * 8, *len);

    auto mh = parse_mh({buf.data(), *len});
    ASSERT_TRUE(mh);
    EXPECT_EQ(mh->type, mh_type::binding_update);
    EXPECT_TRUE(mh_checksum_ok(*mh, kHoa, kHa));
    // Another destination (a swapped pair would sum the same) must not verify.
    EXPECT_FALSE(mh_checksum_ok(*mh, kHoa, *Ipv6Addr::parse("2001:db8:1::2")));

    auto out = parse_binding_update(*mh);
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_EQ(out->seq, 0xBEEF);
    EXPECT_TRUE(out->has(bu_flag::A));
    EXPECT_TRUE(out->has(bu_flag::H));
    EXPECT_TRUE(out->has(bu_flag::R));
    EXPECT_FALSE(out->has(bu_flag::K));
    EXPECT_EQ(out->lifetime_seconds(), 600u);
    ASSERT_TRUE(out->options.ipv4_coa);
    EXPECT_EQ(*out->options.ipv4_coa, *bu.options.ipv4_coa);
    ASSERT_EQ(out->options.mnp_count, 2);
    EXPECT_EQ(out->options.mobile_network_prefixes()[0].str(), "2001:db8:aaaa::/48");
    EXPECT_EQ(out->options.mobile_network_prefixes()[1].str(), "2001:db8:bbbb:1::/64");
    EXPECT_FALSE(out->options.alternate_coa);
}

TEST(MobilityHeader, BuilderAlignsEveryOption)
{
    std::array<uint8_t, 512> buf{};
    BindingUpdate bu = sample_bu();
    bu.options.alternate_coa = *Ipv6Addr::parse("2001:db8:ffff::5");
    bu.options.refresh_interval = 30;
    bu.options.nat_detection = NatDetectionOption{true, 20};
    bu.options.dsmip_ipv4_coa = *Ipv4Addr::parse("198.51.100.10");
    auto len = build_binding_update(buf, bu, kHoa, kHa);
    ASSERT_TRUE(len);
    std::span<const uint8_t> msg(buf.data(), *len);
    for (auto at : option_offsets(msg, 12, 18)) EXPECT_EQ(at % 4, 2u) << "IPv4 CoA option 4n+2";
    for (auto at : option_offsets(msg, 12, mopt::mobile_network_prefix)) EXPECT_EQ(at % 8, 4u) << "MNP 8n+4";
    for (auto at : option_offsets(msg, 12, mopt::alternate_coa)) EXPECT_EQ(at % 8, 6u) << "Alt CoA 8n+6";
    for (auto at : option_offsets(msg, 12, mopt::binding_refresh_advice)) EXPECT_EQ(at % 2, 0u);
    for (auto at : option_offsets(msg, 12, mopt::nat_detection)) EXPECT_EQ(at % 4, 0u);
    for (auto at : option_offsets(msg, 12, mopt::dsmip_ipv4_coa)) EXPECT_EQ(at % 4, 0u);
    EXPECT_EQ(option_offsets(msg, 12, mopt::mobile_network_prefix).size(), 2u);

    auto out = parse_binding_update(*parse_mh(msg));
    ASSERT_TRUE(out);
    EXPECT_EQ(*out->options.alternate_coa, *bu.options.alternate_coa);
    EXPECT_EQ(*out->options.refresh_interval, 30);
    EXPECT_EQ(*out->options.nat_detection, *bu.options.nat_detection);
    EXPECT_EQ(*out->options.dsmip_ipv4_coa, *bu.options.dsmip_ipv4_coa);
}

TEST(MobilityHeader, ConfigurableIpv4CoaType)
{
    std::array<uint8_t, 256> buf{};
    OptionTypes types{.ipv4_coa = 200};
    auto len = build_binding_update(buf, sample_bu(), kHoa, kHa, types);
    ASSERT_TRUE(len);
    EXPECT_EQ(option_offsets({buf.data(), *len}, 12, 200).size(), 1u);
    // Read with the default type, the option is unknown and skipped.
    auto as_default = parse_binding_update(*parse_mh({buf.data(), *len}));
    ASSERT_TRUE(as_default);
    EXPECT_FALSE(as_default->options.ipv4_coa);
    EXPECT_EQ(as_default->options.skipped, 1);
    auto as_configured = parse_binding_update(*parse_mh({buf.data(), *len}), types);
    ASSERT_TRUE(as_configured);
    EXPECT_TRUE(as_configured->options.ipv4_coa);
}

TEST(MobilityHeader, BindingAckRoundTrip)
{
    std::array<uint8_t, 128> buf{};
    BindingAck ba;
    ba.status = 144;
    ba.flags = ba_flag::R;
    ba.seq = 1000;
    ba.lifetime = 0;
    ba.options.ipv4_coa = Ipv4CoaOption{v4flag::I | v4flag::U, 0, *Ipv4Addr::parse("198.51.100.10")};
    auto len = build_binding_ack(buf, ba, kHa, kHoa);
    ASSERT_TRUE(len);
    auto mh = parse_mh({buf.data(), *len});
    ASSERT_TRUE(mh);
    EXPECT_TRUE(mh_checksum_ok(*mh, kHa, kHoa));
    auto out = parse_binding_ack(*mh);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->status, 144);
    EXPECT_TRUE(out->has(ba_flag::R));
    EXPECT_FALSE(out->has(ba_flag::K));
    EXPECT_EQ(out->seq, 1000);
    EXPECT_EQ(*out->options.ipv4_coa, *ba.options.ipv4_coa);
}

TEST(MobilityHeader, BindingErrorRoundTrip)
{
    std::array<uint8_t, 64> buf{};
    BindingError be{be_status::unrecognized_mh_type, kHoa, {}};
    auto len = build_binding_error(buf, be, kHa, kHoa);
    ASSERT_TRUE(len);
    EXPECT_EQ(*len, 24u);
    auto out = parse_binding_error(*parse_mh({buf.data(), *len}));
    ASSERT_TRUE(out);
    EXPECT_EQ(out->status, 2);
    EXPECT_EQ(out->home_address, kHoa);
}

TEST(MobilityHeader, BuilderReportsSmallBuffer)
{
    std::array<uint8_t, 40> small{};
    auto r = build_binding_update(small, sample_bu(), kHoa, kHa);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::buffer_too_small);
    std::array<uint8_t, 8> tiny{};
    EXPECT_EQ(build_binding_ack(tiny, BindingAck{}, kHa, kHoa).error().code, Errc::buffer_too_small);
    EXPECT_EQ(build_binding_error(tiny, BindingError{}, kHa, kHoa).error().code, Errc::buffer_too_small);
}

TEST(MobilityHeader, ParseErrors)
{
    std::array<uint8_t, 256> buf{};
    auto len = *build_binding_update(buf, sample_bu(), kHoa, kHa);
    std::span<const uint8_t> msg(buf.data(), len);

    EXPECT_EQ(parse_mh(msg.first(7)).error().code, Errc::truncated);
    // Header Len claims more than the buffer holds.
    EXPECT_EQ(parse_mh(msg.first(len - 8)).error().code, Errc::truncated);
    EXPECT_EQ(parse_mh(msg.first(len - 8)).error().offset, 1u);
    // Wrong message type for the parser.
    EXPECT_EQ(parse_binding_ack(*parse_mh(msg)).error().code, Errc::unknown_type);

    // Header Len 0: 8 octets cannot hold a BU's fixed part; the error points at Header Len.
    std::array<uint8_t, 8> short_bu = {59, 0, mh_type::binding_update, 0, 0, 0, 0, 0};
    auto r = parse_binding_update(*parse_mh(short_bu));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::bad_length);
    EXPECT_EQ(r.error().offset, 1u);
    std::array<uint8_t, 16> short_be = {59, 1, mh_type::binding_error};
    EXPECT_EQ(parse_binding_error(*parse_mh(short_be)).error().code, Errc::bad_length);
}

TEST(MobilityHeader, PayloadAfterMessageIsNotPartOfIt)
{
    std::array<uint8_t, 256> buf{};
    auto len = *build_binding_ack(buf, BindingAck{}, kHa, kHoa);
    auto mh = parse_mh({buf.data(), len + 20});
    ASSERT_TRUE(mh);
    EXPECT_EQ(mh->message.size(), len);
}

namespace {
Result<MobilityOptions> parse_opts(std::vector<uint8_t> area) { return parse_mobility_options(area, 12); }
} // namespace

TEST(MobilityOptions, PaddingAndUnknownSkipped)
{
    auto r = parse_opts({0, 1, 2, 0, 0, 77, 3, 1, 2, 3, 0});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->skipped, 1);
    EXPECT_EQ(r->mnp_count, 0);
}

TEST(MobilityOptions, Errors)
{
    // Type with no room for its length octet.
    EXPECT_EQ(parse_opts({1}).error().code, Errc::truncated);
    // Option longer than the area.
    auto t = parse_opts({0, 6, 18, 0});
    EXPECT_EQ(t.error().code, Errc::truncated);
    EXPECT_EQ(t.error().offset, 12u + 2);
    // The draft's option with length 6 is malformed (NOTES.md: only 8).
    auto bl = parse_opts({18, 6, 0x80, 0, 0, 0, 1, 2});
    EXPECT_EQ(bl.error().code, Errc::bad_length);
    EXPECT_EQ(bl.error().offset, 13u);
    EXPECT_EQ(parse_opts({3, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).error().code, Errc::bad_length);
    EXPECT_EQ(parse_opts({6, 17, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).error().code, Errc::bad_length);
    EXPECT_EQ(parse_opts({2, 1, 0}).error().code, Errc::bad_length);
    EXPECT_EQ(parse_opts({31, 4, 0, 0, 0, 0}).error().code, Errc::bad_length);
    EXPECT_EQ(parse_opts({32, 4, 0, 0, 0, 0}).error().code, Errc::bad_length);
    // Two IPv4 CoA options.
    std::vector<uint8_t> two = {18, 8, 0x80, 0, 0, 0, 1, 2, 3, 4, 18, 8, 0x80, 0, 0, 0, 1, 2, 3, 4};
    EXPECT_EQ(parse_opts(two).error().code, Errc::bad_value);
    // Prefix length 0 and 129.
    std::vector<uint8_t> mnp(20, 0);
    mnp[0] = 6;
    mnp[1] = 18;
    EXPECT_EQ(parse_opts(mnp).error().code, Errc::bad_value);
    mnp[3] = 129;
    EXPECT_EQ(parse_opts(mnp).error().code, Errc::bad_value);
    mnp[3] = 64;
    EXPECT_TRUE(parse_opts(mnp));
}

TEST(MobilityOptions, ReservedFlagBitsIgnored)
{
    auto r = parse_opts({18, 8, 0x9F, 0xFF, 0x12, 0x34, 198, 51, 100, 10});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->ipv4_coa->flags, v4flag::I | v4flag::U);
    EXPECT_EQ(r->ipv4_coa->port, 0x1234);
    EXPECT_EQ(r->ipv4_coa->coa.str(), "198.51.100.10");
}

TEST(MobilityOptions, TooManyPrefixes)
{
    std::vector<uint8_t> area;
    for (std::size_t i = 0; i <= kMaxMobileNetworkPrefixes; ++i) {
        std::vector<uint8_t> mnp(20, 0);
        mnp[0] = 6;
        mnp[1] = 18;
        mnp[3] = 64;
        mnp[4] = 0x20;
        mnp[5] = static_cast<uint8_t>(i);
        area.insert(area.end(), mnp.begin(), mnp.end());
    }
    auto r = parse_opts(area);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::bad_value);
    area.resize(area.size() - 20);
    auto ok = parse_opts(area);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->mnp_count, kMaxMobileNetworkPrefixes);
}
