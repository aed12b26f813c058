#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, ASan and UBSan, and runs each one for a bounded time from the
# committed seed corpus (tests/fuzz/seeds). A crash, leak or sanitizer report fails the run and leaves
# the reproducer in build-fuzz/artifacts/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
build=build-fuzz
if [ ! -f "$build/build.ninja" ]; then
  CXX=clang++ CXX_LD=lld meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized -Dwerror=true >/dev/null 2>&1 ||
  CXX=clang++ meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized -Dwerror=true >/dev/null
fi
if ! ninja -C "$build" >"$build.build.log" 2>&1; then
  echo "fuzz build: FAILED (log: $build.build.log)"
  grep -E "error|FAILED" -A5 "$build.build.log" | head -40
  exit 1
fi

mkdir -p "$build/artifacts"
status=0
targets="mobility icmpv6 ipv6 tunnel ethernet ike ike_responder"
# The worker target (the data plane on DPDK, runs of frames per input) is built where DPDK is found.
[ -x "$build/tests/fuzz/fuzz_worker" ] && targets="$targets worker"
for target in $targets; do
  work="$build/corpus/$target"
  mkdir -p "$work"
  max_len=2048 rss=1024
  [ "$target" = worker ] && max_len=8192 rss=2048
  # UBSan reports are made fatal so that undefined behaviour fails the run like a crash does.
  if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$build/tests/fuzz/fuzz_$target" \
       -max_total_time="$seconds" -max_len="$max_len" -timeout=5 -rss_limit_mb="$rss" -print_final_stats=1 \
       -artifact_prefix="$build/artifacts/$target-" "$work" "tests/fuzz/seeds/$target" \
       >"$build/fuzz_$target.log" 2>&1; then
    runs=$(grep -m1 'stat::number_of_executed_units' "$build/fuzz_$target.log" | awk '{print $2}')
    echo "fuzz $target: ok, ${runs:-?} inputs in ${seconds}s"
  else
    echo "fuzz $target: FAILED (log: $build/fuzz_$target.log)"
    tail -30 "$build/fuzz_$target.log"
    status=1
  fi
done
exit $status
