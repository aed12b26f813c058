#!/usr/bin/env bash
# The durable state store's figures on a release build: BU -> BA with the store on and off (alternated,
# in the same run), the time to open a store and build the control plane, bytes on disk per binding
# (bench/state_bench), then the real daemon's restart with N stored bindings: the daemon's own
# "forwarding N ms after start" and the wall time from exec to that line, with state.backend = none as
# the baseline of the same run. Stores go to a directory under /var/tmp (the real disk), removed after.
# EAL --no-huge throughout. Medians and ranges over REPS alternated repetitions (default 3).
#
#   scripts/bench_state.sh [--json DIR] [state_bench flags]     (as root)
#   REPS=5 DAEMON_SIZES="100000 1000000" SKIP_BENCH=1 scripts/bench_state.sh
# state_bench flags: Google Benchmark's, and --writer-cpu C (the store's writer pinned to CPU C, to tell
# its CPU time from the control thread's), --iterations / --iterations-big / --turns (bench/state_bench.cpp).
# --json DIR keeps state_bench's Google Benchmark JSON as DIR/state.json (for scripts/bench_report.py).
set -euo pipefail
cd "$(dirname "$0")/.."
json_dir=""
if [ "${1:-}" = --json ]; then json_dir=$2; shift 2; mkdir -p "$json_dir"; fi
scripts/build_release.sh bench/state_bench dataplane/daemon/nemo-ha
build=build-release
reps=${REPS:-3}
sizes=${DAEMON_SIZES:-"100000 1000000"}
tmp=$(mktemp -d /var/tmp/nemo-state-bench.XXXXXX)
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -z "${SKIP_BENCH:-}" ]; then
  eal="--no-huge -m 4096 --no-pci --no-shconf -l 0"
  echo "== state store (bench/state_bench), EAL: $eal, store in $tmp; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  NEMO_EAL_ARGS="$eal" "$build/bench/state_bench" --dir "$tmp" --reps "$reps" \
    --benchmark_out="$tmp/state.json" --benchmark_out_format=json "$@"
  [ -z "$json_dir" ] || cp "$tmp/state.json" "$json_dir/state.json"
  python3 - "$tmp/state.json" <<'EOF'
import json, re, statistics, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
groups = {}
for r in runs:
    m = re.match(r"(.*)/store:(on|off)/rep:(\d+)", r["name"])
    if not m or r.get("error_occurred"):
        if r.get("error_occurred"): print("ERROR", r["name"], r.get("error_message"))
        continue
    groups.setdefault(m.group(1), {}).setdefault(m.group(2), {})[int(m.group(3))] = r
def mr(vals, fmt="{:.0f}"):
    return f"{fmt.format(statistics.median(vals))} [{fmt.format(min(vals))}-{fmt.format(max(vals))}]"
print("\nmedian [range] over alternated repetitions")
for case, g in groups.items():
    on, off = g.get("on", {}), g.get("off", {})
    if case.startswith("BuToBa"):
        print(f"\n{case}")
        print("  BU/s store off  ", mr([r["BU_per_s"] for r in off.values()]))
        print("  BU/s store on   ", mr([r["BU_per_s"] for r in on.values()]))
        ratios = [on[k]["BU_per_s"] / off[k]["BU_per_s"] for k in on if k in off]
        print("  on/off (paired) ", mr(ratios, "{:.3f}"))
        for c in ("drain_share", "poll_share", "main_run_share", "main_runq_share"):
            print(f"  {c:17}", "on", mr([r[c] for r in on.values()], "{:.3f}"), " off", mr([r[c] for r in off.values()], "{:.3f}"))
        for c, f in (("syncs_per_s", "{:.0f}"), ("records_per_sync", "{:.0f}"), ("BUs_per_sync", "{:.0f}"),
                     ("mean_sync_us", "{:.0f}"), ("max_sync_us", "{:.0f}"), ("most_held", "{:.0f}"), ("writer_busy", "{:.2f}"), ("writer_cpu_share", "{:.2f}"), ("writer_runq_share", "{:.2f}"),
                     ("written_B_per_BU", "{:.0f}"), ("disk_B_per_BU", "{:.0f}"), ("read_B_per_BU", "{:.0f}"), ("db_MB", "{:.1f}")):
            print(f"  {c:17}", mr([r[c] for r in on.values()], f))
    else:
        print(f"\n{case} (ms)")
        print("  create, no store       ", mr([r["real_time"] for r in off.values()]))
        print("  open + create, store   ", mr([r["real_time"] for r in on.values()]))
        ratios = [on[k]["real_time"] / off[k]["real_time"] for k in on if k in off]
        print("  store/no store (paired)", mr(ratios, "{:.2f}"))
        for c, f in (("open_ms", "{:.0f}"), ("load_ms", "{:.0f}"), ("restore_ms", "{:.0f}"),
                     ("bytes_per_binding", "{:.1f}"), ("disk_bytes_per_binding", "{:.1f}")):
            print(f"  {c:23}", mr([r[c] for r in on.values()], f))
EOF
fi

# ---- the daemon ----
conf="$tmp/nemo-ha.conf"
cat >"$conf" <<'EOF'
[ha]
ipv6 = 2001:db8:1::1
ipv4 = 192.0.2.1
home_prefix = 2001:db8:1::/64
allow_unprotected_signaling = yes
[access]
port = net_null0
[home]
port = net_null1
EOF
daemon_eal="--no-huge -m 2048 --no-pci --no-shconf -l 0-1 --file-prefix=nemo-state-bench --log-level=lib.eal:error --vdev=net_null0 --vdev=net_null1"

# Starts the daemon with the given options, waits for its "forwarding" line, stops it with SIGTERM. The
# daemon logs on stderr: tee keeps a copy for the error messages and hands the lines to the loop.
# Prints: forwarding_ms wall_ms stop_ms restored restored_ms
run_daemon() {
  local t0 t1 t2 t3 line fwd="" restored="-" restored_ms="-" rc=0
  t0=$(date +%s%N)
  coproc DAEMON { exec "$build/dataplane/daemon/nemo-ha" --config "$conf" --eal.args="$daemon_eal" --cli.socket="$tmp/cli.sock" "$@" 2> >(tee -a "$tmp/daemon.err"); }
  daemon_pid=$DAEMON_PID
  while IFS= read -r line <&"${DAEMON[0]}"; do
    if [[ $line =~ restored\ ([0-9]+)\ bindings\ from\ .*\ in\ ([0-9]+)\ ms ]]; then
      restored=${BASH_REMATCH[1]}
      restored_ms=${BASH_REMATCH[2]}
    fi
    if [[ $line =~ forwarding\ ([0-9]+)\ ms\ after\ start ]]; then
      t1=$(date +%s%N)
      fwd=${BASH_REMATCH[1]}
      break
    fi
  done
  if [ -z "$fwd" ]; then
    wait "$daemon_pid" || true
    daemon_pid=""
    echo "the daemon did not start:" >&2
    tail -5 "$tmp/daemon.err" >&2
    return 1
  fi
  t2=$(date +%s%N)
  kill -TERM "$daemon_pid"
  wait "$daemon_pid" || rc=$?
  t3=$(date +%s%N)
  daemon_pid=""
  [ "$rc" -eq 0 ] || { echo "the daemon exited with $rc" >&2; tail -5 "$tmp/daemon.err" >&2; return 1; }
  echo "$fwd $(((t1 - t0) / 1000000)) $(((t3 - t2) / 1000000)) $restored $restored_ms"
}

# Drops the store's files from the page cache (those files only): a start after a reboot reads them cold.
evict() { python3 -c 'import os,sys
for d in sys.argv[1:]:
    for root, _, files in os.walk(d):
        for f in files:
            fd = os.open(os.path.join(root, f), os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$@"; }

results="$tmp/daemon.txt"
: >"$results"
for n in $sizes; do
  store="$tmp/daemon-$n"
  routers="$tmp/routers-$n.txt"
  echo "== daemon restart with $n bindings (EAL: $daemon_eal); load average $(cut -d' ' -f1-3 /proc/loadavg)"
  NEMO_EAL_ARGS="--no-huge -m 4096 --no-pci --no-shconf -l 0" "$build/bench/state_bench" --make-store "$store" --routers "$n" --provisioning "$routers"
  common=(--provisioning.file="$routers" --ha.binding_capacity=$((n + n / 16 + 16)))
  for ((r = 0; r < reps; r++)); do
    if ((r % 2 == 0)); then order="on off"; else order="off on"; fi
    for mode in $order; do
      if [ "$mode" = on ]; then out=$(run_daemon "${common[@]}" --state.dir="$store")
      else out=$(run_daemon "${common[@]}" --state.backend=none); fi
      echo "  rep $r store $mode: forwarding_ms wall_ms stop_ms restored restored_ms = $out"
      echo "$n $mode $r $out" >>"$results"
    done
  done
  evict "$store"
  out=$(run_daemon "${common[@]}" --state.dir="$store")
  echo "  cold store file: forwarding_ms wall_ms stop_ms restored restored_ms = $out"
  echo "$n cold 0 $out" >>"$results"
  rm -rf "$store" "$routers"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, mode, rep, fwd, wall, stop, restored, rms = line.split()
    rows.setdefault((int(n), mode), []).append((int(rep), int(fwd), int(wall), int(stop), restored, rms))
def mr(vals, fmt="{:.0f}"):
    return f"{fmt.format(statistics.median(vals))} [{fmt.format(min(vals))}-{fmt.format(max(vals))}]"
print("\ndaemon restart, median [range] (ms)")
for n in sorted({k[0] for k in rows}):
    on, off, cold = rows.get((n, "on"), []), rows.get((n, "off"), []), rows.get((n, "cold"), [])
    print(f"\n{n} bindings, {n} routers provisioned from the file")
    for name, rs in (("store none", off), ("store on", on), ("store on, file cold", cold)):
        if not rs: continue
        print(f"  {name:20} forwarding {mr([r[1] for r in rs])}  exec->line {mr([r[2] for r in rs])}  SIGTERM->exit {mr([r[3] for r in rs])}"
              + (f"  restored {rs[0][4]} in {mr([int(r[5]) for r in rs])}" if rs[0][4] != "-" else ""))
    if on and off:
        offd = {r[0]: r for r in off}
        print("  on/none exec->line (paired)", mr([r[2] / offd[r[0]][2] for r in on if r[0] in offd], "{:.2f}"))
EOF
