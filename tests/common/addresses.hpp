// The addresses every test scenario uses (the same plan as scripts/gen_wire_fixtures.py): a mobile
// router at home address ::100 of the home prefix 2001:db8:1::/64, the home agent at ::1 and 192.0.2.1.
#pragma once

#include "addr.hpp"

namespace nemo::test {

inline const Prefix6 kHomePrefix = *Prefix6::parse("2001:db8:1::/64");
inline const Ipv6Addr kHoa = *Ipv6Addr::parse("2001:db8:1::100");
inline const Ipv6Addr kHa6 = *Ipv6Addr::parse("2001:db8:1::1");
inline const Ipv6Addr kCoa6 = *Ipv6Addr::parse("2001:db8:ffff::5");
inline const Ipv6Addr kCn = *Ipv6Addr::parse("2001:db8:cccc::1");
inline const Ipv4Addr kHa4 = *Ipv4Addr::parse("192.0.2.1");
inline const Ipv4Addr kCoa4 = *Ipv4Addr::parse("198.51.100.10");
inline const Ipv4Addr kNat4 = *Ipv4Addr::parse("203.0.113.7");
inline const Prefix6 kMnpA = *Prefix6::parse("2001:db8:aaaa::/48");
inline const Prefix6 kMnpB = *Prefix6::parse("2001:db8:bbbb::/48");

} // namespace nemo::test
