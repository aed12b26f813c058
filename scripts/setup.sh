#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking nemo-ha needs.
# Idempotent: when everything is present it prints nothing and touches nothing. Packages given as
# arguments are installed too (scripts/bench_peers.sh asks for dpdk-doc, whose example sources it builds).
#
#   scripts/setup.sh [more packages]
set -euo pipefail

PACKAGES=(
  build-essential pkg-config meson ninja-build
  clang libclang-rt-14-dev
  dpdk dpdk-dev libdpdk-dev
  libipsec-mb-dev
  libboost-program-options-dev
  googletest libgtest-dev libgmock-dev
  libbenchmark-dev
  python3-scapy python3-cryptography
  tshark
  iproute2 procps iputils-ping
  libpcap-dev
  librocksdb-dev libsqlite3-dev zlib1g-dev
  liblmdb-dev
  libsystemd-dev libmicrohttpd-dev
  prometheus
  python3-matplotlib
  dpkg-dev binutils groff-base man-db systemd
  etcd-server etcd-client libcurl4-openssl-dev nlohmann-json3-dev libssl-dev
  iperf3 nftables ethtool conntrack
  strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins
  libstrongswan-extra-plugins strongswan-pki
  "$@"
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
