#!/usr/bin/env bash
# Runs the nemo-ha demo on a fresh Debian 12 machine: installs what is missing, builds, then runs
# scripts/demo.py (network namespaces, nemo-ha on net_af_packet with its built-in configuration, a
# scripted mobile router). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec /usr/bin/python3 scripts/demo.py
