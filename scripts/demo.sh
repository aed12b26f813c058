#!/usr/bin/env bash
# Runs the nemo-ha demo on a fresh Debian 12 machine: installs what is missing, builds, then runs
# scripts/demo.py (network namespaces, nemo-ha on net_af_packet with its built-in configuration, nemo-mr
# as the mobile router, a host behind it pinging and running iperf3 to the CN over I, R, U and U behind
# an nftables NAT). Needs root. Arguments go to demo.py (--methods, --iperf-seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Until scripts/setup.sh lists them: what the demo runs besides nemo-ha and nemo-mr.
missing=()
for p in iperf3 nftables ethtool; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "demo.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec /usr/bin/python3 scripts/demo.py "$@"
