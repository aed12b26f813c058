#!/usr/bin/env bash
# The whole-pipeline benchmark matrix: one worker lcore, net_pcap (infinite_rx) into nemo-ha's worker
# and out to net_null, against a bare rx->tx forward on the same devices in the same run. Downstream
# encapsulation per method and upstream decapsulation per method, 64 and 1400 byte frames, 1 thousand and
# 1 million bindings; downstream ESP (S with AES-GCM-128 and with AES-128-CBC + HMAC-SHA-256, S+U with
# AES-GCM-128) with 1 thousand bindings, each with its own SA. Prints one line per case; "touch" is the
# ratio of the bare forward plus one table cache line read a packet (what any binding-aware forwarder
# pays at least) to the bare forward.
#
#   scripts/bench_pipeline.sh [--json DIR] [PACKETS_PER_PCAP]     (as root; default 32768)
#   REPS=2 MEASURE_S=1 ROUTERS=1000 SIZES="64 512 1400" scripts/bench_pipeline.sh --json DIR
# --json DIR also writes DIR/pipeline.json, one entry per case and repetition in Google Benchmark's JSON
# layout (for scripts/bench_report.py). REPS runs the whole matrix that many times; MEASURE_S is the
# seconds of each of the three measurements (3); ROUTERS and SIZES choose the matrix.
set -euo pipefail
cd "$(dirname "$0")/.."
json_dir=""
if [ "${1:-}" = --json ]; then json_dir=$2; shift 2; mkdir -p "$json_dir"; fi
scripts/build_release.sh bench/pipeline_bench
build=build-release
packets=${1:-32768}
reps=${REPS:-1}
measure_s=${MEASURE_S:-3}
routers_list=${ROUTERS:-"1000 1000000"}
sizes=${SIZES:-"64 1400"}
dir=${TMPDIR:-/tmp}/nemo-pipeline
cases=$(mktemp)
trap 'rm -f "$cases"' EXIT
started=$(date -u +%Y-%m-%dT%H:%M:%S+00:00)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for routers in $routers_list; do
  for size in $sizes; do
    out="$dir/r$routers"
    [ -f "$out/down-$size.pcap" ] || /usr/bin/python3 scripts/gen_traffic_pcaps.py --routers "$routers" \
      --packets "$packets" --size "$size" --out "$out" >/dev/null
  done
done
printf "%-10s %-32s %-5s %-9s %12s %12s %7s %7s\n" direction method size bindings "forward Mpps" "nemo Mpps" ratio touch
rep=0
run() { # direction, method, size, routers[, ESP algorithm]
  local dirn=$1 method=$2 size=$3 routers=$4 alg=${5:-}
  local pcap="$dir/r$routers/down-$size.pcap" extra=() label=$method
  [ "$dirn" = up ] && pcap="$dir/r$routers/up-$method-$size.pcap"
  [ -n "$alg" ] && extra=(--esp-alg "$alg") && label="$method/$alg"
  local out line touch
  out=$("$build/bench/pipeline_bench" --pcap "$pcap" --direction "$dirn" --method "$method" \
         --bindings "$routers" --seconds "$measure_s" "${extra[@]}" 2>&1 || true)
  line=$(grep " ratio=" <<<"$out" || true)
  touch=$(sed -nE 's/.*touch_ratio=([0-9.]+).*/\1/p' <<<"$out")
  if [ -z "$line" ]; then echo "$dirn $label $size $routers: pipeline_bench failed"; return; fi
  local fwd nemo ratio
  fwd=$(sed -E 's/.*bare_forward_mpps=([0-9.]+).*/\1/' <<<"$line")
  nemo=$(sed -E 's/.*nemo_mpps=([0-9.]+).*/\1/' <<<"$line")
  ratio=$(sed -E 's/.* ratio=([0-9.]+).*/\1/' <<<"$line")
  printf "%-10s %-32s %-5s %-9s %12s %12s %7s %7s\n" "$dirn" "$label" "$size" "$routers" "$fwd" "$nemo" "$ratio" "${touch:--}"
  echo "$rep $dirn $label $size $routers $fwd $nemo $(sed -nE 's/.*touch_forward_mpps=([0-9.]+).*/\1/p' <<<"$out")" >>"$cases"
}
for ((rep = 0; rep < reps; rep++)); do
  for routers in $routers_list; do
    for size in $sizes; do
      for case in down:ipip down:gre down:udp up:ipip up:gre up:udp; do
        run "${case%%:*}" "${case##*:}" "$size" "$routers"
      done
    done
  done
  # ESP with a thousand bindings (each its own SA), when the matrix has them.
  [[ " $routers_list " == *" 1000 "* ]] || continue
  for size in $sizes; do
    run down esp "$size" 1000 aes-gcm-128
    run down esp "$size" 1000 aes-cbc-128-hmac-sha256
    run down esp-udp "$size" 1000 aes-gcm-128
  done
done
[ -n "$json_dir" ] || exit 0
/usr/bin/python3 - "$cases" "$json_dir/pipeline.json" "$started" "$load_start" "$measure_s" "$packets" <<'PY'
import json, os, platform, sys
cases, out, started, load_start, measure_s, packets = sys.argv[1:]
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
context = {"date": started, "host_name": platform.node(), "executable": "build-release/bench/pipeline_bench",
           "num_cpus": os.cpu_count(), "cpu_model": model, "nemo_build": "release (build-release, -O3)",
           "load_avg": [float(x) for x in load_start.split()],
           "load_avg_end": [float(x) for x in open("/proc/loadavg").read().split()[:3]],
           "seconds_per_measurement": float(measure_s), "packets_per_pcap": int(packets),
           "script": "scripts/bench_pipeline.sh"}
benchmarks = []
for line in open(cases):
    f = line.split()
    rep, dirn, label, size, routers, fwd, nemo = f[:7]
    method, _, alg = label.partition("/")  # esp/aes-gcm-128: the method and its algorithm
    name = f"Pipeline/direction:{dirn}/method:{method}{f'/esp_alg:{alg}' if alg else ''}/size:{size}/bindings:{routers}"
    b = {"name": f"{name}/rep:{rep}", "run_name": name, "run_type": "iteration", "repetition_index": int(rep),
         "threads": 1, "iterations": 1, "bare_forward_mpps": float(fwd), "nemo_mpps": float(nemo)}
    if len(f) > 7:
        b["touch_forward_mpps"] = float(f[7])
    benchmarks.append(b)
json.dump({"context": context, "benchmarks": benchmarks}, open(out, "w"), indent=1)
print(f"wrote {out} ({len(benchmarks)} cases)")
PY
