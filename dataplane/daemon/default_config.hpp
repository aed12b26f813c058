// The built-in configuration: the demo topology that scripts/demo.sh builds in network namespaces
// (scripts/topology.sh). `nemo-ha` without --config runs it.
#pragma once

namespace nemo {

inline constexpr const char* kDefaultConfig = R"(# nemo-ha built-in demo configuration
[ha]
ipv6 = 2001:db8:1::1
ipv4 = 198.51.100.1
home_prefix = 2001:db8:1::/64
methods = ipv6,ipip,gre,udp
max_lifetime = 600
# The demo's mobile routers have no IPsec yet: accept unprotected signaling (a lab setting).
allow_unprotected_signaling = yes

[cli]
socket = /run/nemo-ha/demo.sock

[state]
# The demo's own store: a second run restores the bindings of the first.
dir = /var/lib/nemo-ha-demo

[provisioning]
mr = 2001:db8:1::100 router prefixes=2001:db8:aaaa::/48,2001:db8:bbbb::/48
mr = 2001:db8:1::200 router prefixes=2001:db8:cccc::/48
mr = 2001:db8:1::300 host

[eal]
args = --no-huge -m 256 --no-pci --no-shconf -l 0-1 --file-prefix=nemo-ha-demo --log-level=lib.eal:error --vdev=net_af_packet0,iface=ha-acc,qpairs=1 --vdev=net_af_packet1,iface=ha-home,qpairs=1

[access]
port = net_af_packet0

[home]
port = net_af_packet1
)";

} // namespace nemo
