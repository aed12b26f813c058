#!/usr/bin/env bash
# Runs the micro-benchmarks on a release build and prints each figure with the baseline measured in the
# same run. As root it reserves 2 MiB hugepages for the control-plane benchmark (and gives them back),
# since production runs on hugepages; without them it falls back to --no-huge and says so.
#
#   scripts/bench.sh [--json DIR] [extra Google Benchmark flags]      (as root)
# --json DIR also saves each benchmark's Google Benchmark JSON there (wire.json, control.json) for
# scripts/bench_report.py. NEMO_EAL_ARGS, when set, is the control-plane benchmark's EAL (no hugepages
# are reserved then).
set -euo pipefail
cd "$(dirname "$0")/.."
json_dir=""
if [ "${1:-}" = --json ]; then json_dir=$2; shift 2; mkdir -p "$json_dir"; fi
out_flags() { [ -n "$json_dir" ] && echo "--benchmark_out=$json_dir/$1.json --benchmark_out_format=json" || true; }
scripts/build_release.sh bench/wire_bench bench/control_bench
build=build-release

echo "== wire formats (bench/wire_bench)"
"$build/bench/wire_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true $(out_flags wire) "$@" | grep -E "median|^Bench|^---"

pages_before=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
reserved=""
restore() { [ -n "$reserved" ] && [ -w /proc/sys/vm/nr_hugepages ] && echo "$pages_before" >/proc/sys/vm/nr_hugepages || true; }
trap restore EXIT
eal="--no-huge -m 4096 --no-pci --no-shconf -l 0"
want=1536 # 3 GiB: a million bindings' tables plus their provisioning
if [ -n "${NEMO_EAL_ARGS:-}" ]; then
  eal=$NEMO_EAL_ARGS
elif [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/nr_hugepages ]; then
  mkdir -p /dev/hugepages
  mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages
  reserved=1
  echo $((pages_before + want)) >/proc/sys/vm/nr_hugepages
  if [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -ge "$want" ]; then
    eal="-m 3000 --no-pci --no-shconf -l 0"
  fi
fi
echo "== control plane (bench/control_bench), EAL: $eal"
NEMO_EAL_ARGS="$eal" "$build/bench/control_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_min_time=1 $(out_flags control) "$@" | grep -E "median|^Bench|^---"
