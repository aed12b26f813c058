#!/usr/bin/env bash
# A soak of nemo-mr --routers N against nemo-ha in the demo's namespaces (scripts/topology.sh, prefix
# NEMO_NS_PREFIX, default soak-): N routers provisioned (home addresses 2001:db8:1::1:0 + i, prefixes
# 2001:db8:4000::/64 + i), registered by one nemo-mr process over UDP, refreshed every LIFETIME x
# REFRESH % seconds, for SECONDS seconds. Prints how long registering them all took, the BU rate the
# home agent saw over the soak (nemo-hactl's bus_received and bus_accepted), BAs that never left and
# the processes' CPU time: what limits the rate. Everything is removed at the end.
#
#   scripts/soak_mr.sh [N=1000] [SECONDS=60] [LIFETIME=20] [REFRESH=50] [START_RATE=0]   (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000} seconds=${2:-60} lifetime=${3:-20} refresh=${4:-50} start_rate=${5:-0}
export NEMO_NS_PREFIX=${NEMO_NS_PREFIX:-soak-}
P=$NEMO_NS_PREFIX
scripts/setup.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build dataplane/daemon/nemo-ha control/nemo-hactl control/mr/nemo-mr >/dev/null
tmp=$(mktemp -d /tmp/nemo-soak.XXXXXX)
ha_pid="" mr_pid=""
cleanup() {
  [ -n "$mr_pid" ] && kill -TERM "$mr_pid" 2>/dev/null && wait "$mr_pid" 2>/dev/null
  [ -n "$ha_pid" ] && kill -TERM "$ha_pid" 2>/dev/null && wait "$ha_pid" 2>/dev/null
  scripts/topology.sh down
  rm -rf "$tmp"
}
trap cleanup EXIT
scripts/topology.sh up
/usr/bin/python3 - "$n" > "$tmp/routers.txt" <<'EOF'
import ipaddress, sys
n = int(sys.argv[1])
hoa = ipaddress.IPv6Address("2001:db8:1::1:0")
net = ipaddress.IPv6Network("2001:db8:4000::/64")
for i in range(n):
    p = ipaddress.IPv6Network((int(net.network_address) + (i << 64), 64))
    print(f"{hoa + i} router prefixes={p}")
EOF
chmod 600 "$tmp/routers.txt"
ctl() { build/control/nemo-hactl -s "$tmp/ha.sock" "$@"; }
stat() { ctl --json show stats | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['counters'].get('$1', 0))"; }
ip netns exec "${P}ha" build/dataplane/daemon/nemo-ha --cli.socket="$tmp/ha.sock" --state.dir="$tmp/state" \
  --provisioning.file="$tmp/routers.txt" --ha.binding_capacity=$((n + 100)) \
  "--eal.args=--no-huge -m 512 --no-pci --no-shconf -l 0-1 --file-prefix=${P}ha --log-level=lib.eal:error --vdev=net_af_packet0,iface=ha-acc,qpairs=1 --vdev=net_af_packet1,iface=ha-home,qpairs=1" \
  --log.binding_events_per_second=0 >"$tmp/ha.log" 2>&1 &
ha_pid=$!
for _ in $(seq 100); do ctl show version >/dev/null 2>&1 && break; sleep 0.1; done
t0=$(date +%s.%N)
ip netns exec "${P}mr" build/control/mr/nemo-mr --interface mr0 --home-address 2001:db8:1::1:0 --prefix 2001:db8:4000::/64 \
  --ha6 2001:db8:1::1 --ha4 198.51.100.1 --methods udp --routers "$n" --start-rate "$start_rate" \
  --lifetime "$lifetime" --refresh-percent "$refresh" --socket "$tmp/mr.sock" --state-file "$tmp/mr.seq" >"$tmp/mr.log" 2>&1 &
mr_pid=$!
registered=0
for _ in $(seq 600); do
  registered=$(ctl --json show bindings summary | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('bindings', 0))")
  [ "$registered" -ge "$n" ] && break
  sleep 0.1
done
t1=$(date +%s.%N)
echo "registered $registered of $n routers in $(/usr/bin/python3 -c "print(round($t1 - $t0, 2))") s (start rate $start_rate/s; 0: all at once)"
r0=$(stat mip6HaBUsRecd) a0=$(stat mip6HaBUsAccepted)
s0=$(date +%s.%N)
sleep "$seconds"
s1=$(date +%s.%N)
r1=$(stat mip6HaBUsRecd) a1=$(stat mip6HaBUsAccepted)
total=$(ctl --json show bindings summary | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('bindings', 0))")
/usr/bin/python3 - "$r0" "$r1" "$a0" "$a1" "$s0" "$s1" "$n" "$lifetime" "$refresh" "$total" <<'EOF'
import sys
r0, r1, a0, a1 = map(int, sys.argv[1:5]); s0, s1 = map(float, sys.argv[5:7]); n, life, pct, total = map(int, sys.argv[7:11])
dt = s1 - s0
print(f"soak {dt:.0f} s: {(r1 - r0) / dt:.1f} BUs/s received, {(a1 - a0) / dt:.1f} accepted "
      f"(expected {n / (life * pct / 100):.1f}/s: {n} routers refreshing every {life * pct / 100:.0f} s); bindings at the end {total}")
EOF
for k in control_inject_full control_inject_deferred control_ba_withheld drop_malformed; do
  printf '%s=%s ' "$k" "$(ctl --json show stats | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print({**d['counters'], **d['dataplane']}.get('$k', 0))")"
done
echo
for p in "$ha_pid" "$mr_pid"; do
  ps -o comm=,times= -p "$p" | awk '{printf "%s: %s s of CPU\n", $1, $2}'
done
