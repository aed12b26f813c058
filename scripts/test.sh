#!/usr/bin/env bash
# Every test of nemo-ha, from a fresh Debian 12 machine: installs what is missing, builds with warnings
# as errors, runs the unit, wire and integration tests, runs them again under ASan/UBSan, and fuzzes each
# parser family for a bounded time. Ends with one line: "N passed, N failed".
#
#   scripts/test.sh            (as root; FUZZ_SECONDS=N to change the 20 s per fuzz target)
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || exit 1

passed=0
failed=0

# Adds the results of one `meson test` run (its testlog.json) to the totals.
count_meson() {
  local log="$1/meson-logs/testlog.json"
  [ -f "$log" ] || { failed=$((failed + 1)); return; }
  local p f
  p=$(grep -c '"result": "OK"' "$log" || true)
  f=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
  passed=$((passed + p))
  failed=$((failed + f))
}

run_suite() { # build-dir, meson setup arguments...
  local dir=$1
  shift
  echo "== $dir: configure and build"
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
  fi
  if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
    grep -E "error|FAILED" -A5 "$dir.build.log" | head -60
    failed=$((failed + 1))
    return
  fi
  echo "== $dir: meson test"
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs --num-processes 2 | grep -vE '^(Expected Fail|Unexpected Pass|Skipped|Timeout):'
  count_meson "$dir"
}

run_suite build
# The same tests with AddressSanitizer and UndefinedBehaviorSanitizer; benchmarks are not built there.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=disabled

echo "== fuzz: ${FUZZ_SECONDS:-20}s per target"
while read -r line; do
  echo "$line"
  case "$line" in
    *": ok,"*) passed=$((passed + 1)) ;;
    *FAILED*) failed=$((failed + 1)) ;;
  esac
done < <(scripts/fuzz.sh "${FUZZ_SECONDS:-20}" 2>&1)

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
