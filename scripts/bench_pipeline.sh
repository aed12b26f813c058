#!/usr/bin/env bash
# The whole-pipeline benchmark matrix: one worker lcore, net_pcap (infinite_rx) into nemo-ha's worker
# and out to net_null, against a bare rx->tx forward on the same devices in the same run. Downstream
# encapsulation per method and upstream decapsulation per method, 64 and 1400 byte frames, 1 thousand and
# 1 million bindings. Prints one line per case.
#
#   sudo scripts/bench_pipeline.sh [PACKETS_PER_PCAP]     (default 32768)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=build-release
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release -Dtests=disabled >/dev/null
ninja -C "$build" bench/pipeline_bench >/dev/null
packets=${1:-32768}
dir=${TMPDIR:-/tmp}/nemo-pipeline
for routers in 1000 1000000; do
  for size in 64 1400; do
    out="$dir/r$routers"
    [ -f "$out/down-$size.pcap" ] || /usr/bin/python3 scripts/gen_traffic_pcaps.py --routers "$routers" \
      --packets "$packets" --size "$size" --out "$out" >/dev/null
  done
done
printf "%-10s %-6s %-5s %-9s %12s %12s %7s\n" direction method size bindings "forward Mpps" "nemo Mpps" ratio
for routers in 1000 1000000; do
  for size in 64 1400; do
    for case in down:ipip down:gre down:udp up:ipip up:gre up:udp; do
      dirn=${case%%:*} method=${case##*:}
      pcap="$dir/r$routers/down-$size.pcap"
      [ "$dirn" = up ] && pcap="$dir/r$routers/up-$method-$size.pcap"
      line=$("$build/bench/pipeline_bench" --pcap "$pcap" --direction "$dirn" --method "$method" \
             --bindings "$routers" --seconds 3 2>&1 | grep ratio || true)
      if [ -z "$line" ]; then echo "$dirn $method $size $routers: pipeline_bench failed"; continue; fi
      fwd=$(sed -E 's/.*bare_forward_mpps=([0-9.]+).*/\1/' <<<"$line")
      nemo=$(sed -E 's/.*nemo_mpps=([0-9.]+).*/\1/' <<<"$line")
      ratio=$(sed -E 's/.* ratio=([0-9.]+).*/\1/' <<<"$line")
      printf "%-10s %-6s %-5s %-9s %12s %12s %7s\n" "$dirn" "$method" "$size" "$routers" "$fwd" "$nemo" "$ratio"
    done
  done
done
