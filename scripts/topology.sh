#!/usr/bin/env bash
# The demo and integration-test topology, in network namespaces of its own:
#
#   nemo-mr  (mobile router site, IPv4-only access)      nemo-ha (nemo-ha's ports)      nemo-cn (home link, CN)
#   mr0 198.51.100.10/24 (+ .20 for a simulated NAT) --- ha-acc | nemo-ha | ha-home --- cn0 2001:db8:1::cc/64
#
# The HA itself answers ARP for 198.51.100.1 and ND for 2001:db8:1::1 (see the built-in configuration);
# the CN routes the mobile network prefixes to it. scapy plays the mobile router inside nemo-mr.
#
#   scripts/topology.sh up | down | status
#
# NEMO_NS_PREFIX=x- names the namespaces x-mr, x-ha and x-cn instead (two test runs side by side).
set -euo pipefail
P=${NEMO_NS_PREFIX:-nemo-}

ns() { ip netns exec "$@"; }

down() {
  for n in ${P}mr ${P}ha ${P}cn; do ip netns del "$n" 2>/dev/null || true; done
}

up() {
  down
  for n in ${P}mr ${P}ha ${P}cn; do ip netns add "$n"; ns "$n" ip link set lo up; done
  ip link add mr0 netns ${P}mr type veth peer name ha-acc netns ${P}ha
  ip link add cn0 netns ${P}cn type veth peer name ha-home netns ${P}ha
  # The HA's side carries no kernel addresses: DPDK owns those interfaces, and the kernel stays quiet.
  ns ${P}ha sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  for i in ha-acc ha-home; do ns ${P}ha ip link set "$i" up; done
  # The access network is IPv4 only.
  ns ${P}mr sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ns ${P}mr ip addr add 198.51.100.10/24 dev mr0
  ns ${P}mr ip addr add 198.51.100.20/24 dev mr0
  ns ${P}mr ip link set mr0 up
  ns ${P}cn ip -6 addr add 2001:db8:1::cc/64 dev cn0 nodad
  ns ${P}cn ip link set cn0 up
  for p in 2001:db8:aaaa::/48 2001:db8:bbbb::/48 2001:db8:cccc::/48; do
    ns ${P}cn ip -6 route add "$p" via 2001:db8:1::1 dev cn0
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) ip netns list | grep "$P" || echo "no nemo namespaces" ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
