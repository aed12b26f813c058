#!/usr/bin/env bash
# BU -> BA per second through etcd (state.backend = etcd) against the embedded store (RocksDB), in the
# same run, alternated (bench/state_bench: BuToBa/routers:N/store:etcd|embedded/rep:R). The etcd this
# script starts is Debian's /usr/bin/etcd on loopback ports with its data directory on the real disk
# (/var/tmp), one member (MEMBERS=1, the default) or three (MEMBERS=3, each with a directory of its
# own on the same disk), with --max-txn-ops raised to the transaction size given to nemo-ha. Everything
# it starts is stopped and removed at the end. Medians and ranges over REPS repetitions (default 5).
#
#   scripts/bench_state_etcd.sh [--json DIR] [state_bench flags]     (as root)
#   MEMBERS=3 TXN_OPS=1024 ROUTERS=1000,100000 REPS=5 scripts/bench_state_etcd.sh
set -euo pipefail
cd "$(dirname "$0")/.."
json_dir=""
if [ "${1:-}" = --json ]; then json_dir=$2; shift 2; mkdir -p "$json_dir"; fi
scripts/build_release.sh bench/state_bench
build=build-release
reps=${REPS:-5}
members=${MEMBERS:-1}
txn_ops=${TXN_OPS:-1024}
routers=${ROUTERS:-1000,100000}
base_port=${BASE_PORT:-24479}
tmp=$(mktemp -d /var/tmp/nemo-etcd-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cluster="" endpoints=""
for ((i = 0; i < members; i++)); do
  cluster+="${cluster:+,}m$i=http://127.0.0.1:$((base_port + 2 * i + 1))"
  endpoints+="${endpoints:+,}127.0.0.1:$((base_port + 2 * i))"
done
for ((i = 0; i < members; i++)); do
  /usr/bin/etcd --name "m$i" --data-dir "$tmp/m$i" \
    --listen-client-urls "http://127.0.0.1:$((base_port + 2 * i))" --advertise-client-urls "http://127.0.0.1:$((base_port + 2 * i))" \
    --listen-peer-urls "http://127.0.0.1:$((base_port + 2 * i + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((base_port + 2 * i + 1))" \
    --initial-cluster "$cluster" --initial-cluster-state new --max-txn-ops "$txn_ops" --quota-backend-bytes $((8 << 30)) \
    --log-level warn >"$tmp/m$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 100); do
  ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null || { echo "etcd did not come up"; cat "$tmp"/m*.log; exit 1; }

eal="--no-huge -m 4096 --no-pci --no-shconf -l 0"
echo "== BU -> BA through etcd ($members member(s), $endpoints, --max-txn-ops $txn_ops, data in $tmp) against RocksDB;" \
     "routers $routers; load average $(cut -d' ' -f1-3 /proc/loadavg)"
NEMO_EAL_ARGS="$eal" "$build/bench/state_bench" --dir "$tmp" --reps "$reps" --etcd "$endpoints" --etcd-txn-ops "$txn_ops" \
  --etcd-routers "$routers" --benchmark_filter='store:(etcd|etcd1|embedded)' \
  --benchmark_out="$tmp/etcd.json" --benchmark_out_format=json "$@" >/dev/null
[ -z "$json_dir" ] || cp "$tmp/etcd.json" "$json_dir/state_etcd_m${members}_routers${routers//,/-}.json"
python3 - "$tmp/etcd.json" <<'EOF'
import json, re, statistics, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
groups = {}
for r in runs:
    m = re.match(r"BuToBa/routers:(\d+)/store:(etcd1|etcd|embedded)/rep:(\d+)", r["name"])
    if not m:
        continue
    if r.get("error_occurred"):
        print("ERROR", r["name"], r.get("error_message"))
        continue
    groups.setdefault(int(m.group(1)), {}).setdefault(m.group(2), {})[int(m.group(3))] = r
def mr(vals, fmt="{:.0f}"):
    return (fmt + " [" + fmt + " .. " + fmt + "]").format(statistics.median(vals), min(vals), max(vals))
for n, g in sorted(groups.items()):
    e, b, one = g.get("etcd", {}), g.get("embedded", {}), g.get("etcd1", {})
    reps = sorted(set(e) & set(b))
    if not reps:
        continue
    print(f"routers {n}:")
    print("  BU/s through etcd      ", mr([e[k]["BU_per_s"] for k in reps]))
    print("  BU/s embedded (RocksDB)", mr([b[k]["BU_per_s"] for k in reps]))
    print("  etcd / embedded        ", mr([e[k]["BU_per_s"] / b[k]["BU_per_s"] for k in reps], "{:.3f}"))
    both = sorted(set(e) & set(one))
    if both:
        print("  BU/s etcd, one transaction at a time", mr([one[k]["BU_per_s"] for k in both]))
        print("  two at once / one at a time", mr([e[k]["BU_per_s"] / one[k]["BU_per_s"] for k in both], "{:.3f}"))
    print("  records per commit     ", mr([e[k]["records_per_sync"] for k in reps]))
    print("  etcd records/s         ", mr([e[k]["records_per_sync"] * e[k]["syncs_per_s"] for k in reps]))
    print("  mean commit (ms)       ", mr([e[k]["mean_sync_us"] / 1e3 for k in reps], "{:.1f}"))
    print("  control thread runnable but waiting for a CPU (share)", mr([e[k]["main_runq_share"] for k in reps], "{:.2f}"))
EOF
