// The cluster's keys and value envelope (lib/cluster_record): what every instance reads of what another
// wrote, so a mistake here splits the cluster.
#include <gtest/gtest.h>

#include "cluster_record.hpp"

namespace nemo {
namespace {

Ipv6Addr a6(const char* s) { return *Ipv6Addr::parse(s); }

TEST(ClusterRecord, NamesAreCheckedForWhatAKeyMayHold)
{
    EXPECT_FALSE(cluster_name_problem("ha-1.east_2"));
    EXPECT_TRUE(cluster_name_problem(""));
    EXPECT_TRUE(cluster_name_problem("a/b")); // would escape the prefix
    EXPECT_TRUE(cluster_name_problem("a b"));
    EXPECT_TRUE(cluster_name_problem(std::string(kMaxInstanceName + 1, 'x')));
    EXPECT_FALSE(cluster_name_problem(std::string(kMaxInstanceName, 'x')));
}

TEST(ClusterRecord, KeysRoundTripAndOnlyOursParse)
{
    const std::string p = cluster_prefix("east");
    EXPECT_EQ(p, "/nemo-ha/east/");
    const Ipv6Addr hoa = a6("2001:db8:1::100");
    EXPECT_EQ(cluster_binding_key(p, hoa), "/nemo-ha/east/b/2001:db8:1::100");
    auto k = parse_cluster_key(p, cluster_binding_key(p, hoa));
    EXPECT_EQ(k.kind, ClusterKey::binding);
    EXPECT_EQ(k.hoa, hoa);
    k = parse_cluster_key(p, cluster_mr_key(p, hoa));
    EXPECT_EQ(k.kind, ClusterKey::mr);
    EXPECT_EQ(k.hoa, hoa);
    k = parse_cluster_key(p, cluster_member_key(p, "ha2"));
    EXPECT_EQ(k.kind, ClusterKey::member);
    EXPECT_EQ(k.name, "ha2");
    // Another cluster's key, a non-canonical address (two keys for one binding), junk: not ours.
    EXPECT_EQ(parse_cluster_key(p, cluster_binding_key(cluster_prefix("west"), hoa)).kind, ClusterKey::other);
    EXPECT_EQ(parse_cluster_key(p, "/nemo-ha/east/b/2001:0db8:1::100").kind, ClusterKey::other);
    EXPECT_EQ(parse_cluster_key(p, "/nemo-ha/east/b/not-an-address").kind, ClusterKey::other);
    EXPECT_EQ(parse_cluster_key(p, "/nemo-ha/east/x/2001:db8:1::100").kind, ClusterKey::other);
    EXPECT_EQ(parse_cluster_key(p, "/nemo-ha/east/members/a/b").kind, ClusterKey::other);
}

TEST(ClusterRecord, EnvelopeRoundTrips)
{
    const std::vector<uint8_t> rec = {1, 2, 3, 0, 255};
    const std::string v = encode_cluster_value(0x0102030405060708ULL, "ha-3", rec);
    std::string why;
    auto e = decode_cluster_value(v, &why);
    ASSERT_TRUE(e) << why;
    EXPECT_EQ(e->written_ms, 0x0102030405060708ULL);
    EXPECT_EQ(e->origin, "ha-3");
    EXPECT_EQ(e->record, rec);
}

TEST(ClusterRecord, DamagedEnvelopesAreRefusedWithAReason)
{
    const std::vector<uint8_t> rec = {9, 9};
    const std::string v = encode_cluster_value(5, "ha", rec);
    std::string why;
    for (std::size_t n = 0; n < 13; ++n) { // every cut inside the header and the origin
        why.clear();
        EXPECT_FALSE(decode_cluster_value(v.substr(0, n), &why)) << n;
        EXPECT_FALSE(why.empty());
    }
    std::string bad = v;
    bad[0] = 'X';
    EXPECT_FALSE(decode_cluster_value(bad, &why));
    bad = v;
    bad[1] = 2; // a version this build does not know
    EXPECT_FALSE(decode_cluster_value(bad, &why));
    bad = v;
    bad[10] = 100; // origin longer than the value
    EXPECT_FALSE(decode_cluster_value(bad, &why));
    bad = v;
    bad[11] = '/'; // an origin no instance may have
    EXPECT_FALSE(decode_cluster_value(bad, &why));
}

TEST(ClusterRecord, LeaseOutlivesTheBindingBySecondNeverLessThanTwo)
{
    EXPECT_EQ(binding_lease_ttl(1000, 900), 101);
    EXPECT_EQ(binding_lease_ttl(1000, 999), 2);
    EXPECT_EQ(binding_lease_ttl(1000, 1000), 2);
    EXPECT_EQ(binding_lease_ttl(1000, 5000), 2); // already over: etcd still needs a TTL
}

} // namespace
} // namespace nemo
