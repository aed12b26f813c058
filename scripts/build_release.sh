#!/usr/bin/env bash
# The release build the benchmarks run from (build-release, -O3, no tests): installs what is missing,
# configures it once, then builds the targets given.
#
#   scripts/build_release.sh bench/esp_bench [more targets]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=build-release
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release -Dtests=disabled >/dev/null
ninja -C "$build" "$@" >/dev/null
