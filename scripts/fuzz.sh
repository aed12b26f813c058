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
ninja -C "$build" >/dev/null

mkdir -p "$build/artifacts"
status=0
for target in mobility icmpv6 ipv6 tunnel ethernet; do
  work="$build/corpus/$target"
  mkdir -p "$work"
  # UBSan reports are made fatal so that undefined behaviour fails the run like a crash does.
  if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$build/tests/fuzz/fuzz_$target" \
       -max_total_time="$seconds" -max_len=2048 -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
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
