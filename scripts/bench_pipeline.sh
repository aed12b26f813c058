#!/usr/bin/env bash
# The whole-pipeline benchmark matrix: one worker lcore, net_pcap (infinite_rx) into nemo-ha's worker
# and out to net_null, against a bare rx->tx forward on the same devices in the same run. Downstream
# encapsulation per method and upstream decapsulation per method, 64 and 1400 byte frames, 1 thousand and
# 1 million bindings; downstream ESP (S with AES-GCM-128 and with AES-128-CBC + HMAC-SHA-256, S+U with
# AES-GCM-128) with 1 thousand bindings, each with its own SA. Prints one line per case; "touch" is the
# ratio of the bare forward plus one table cache line read a packet (what any binding-aware forwarder
# pays at least) to the bare forward.
#
#   scripts/bench_pipeline.sh [PACKETS_PER_PCAP]     (as root; default 32768)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build_release.sh bench/pipeline_bench
build=build-release
packets=${1:-32768}
dir=${TMPDIR:-/tmp}/nemo-pipeline
for routers in 1000 1000000; do
  for size in 64 1400; do
    out="$dir/r$routers"
    [ -f "$out/down-$size.pcap" ] || /usr/bin/python3 scripts/gen_traffic_pcaps.py --routers "$routers" \
      --packets "$packets" --size "$size" --out "$out" >/dev/null
  done
done
printf "%-10s %-32s %-5s %-9s %12s %12s %7s %7s\n" direction method size bindings "forward Mpps" "nemo Mpps" ratio touch
run() { # direction, method, size, routers[, ESP algorithm]
  local dirn=$1 method=$2 size=$3 routers=$4 alg=${5:-}
  local pcap="$dir/r$routers/down-$size.pcap" extra=() label=$method
  [ "$dirn" = up ] && pcap="$dir/r$routers/up-$method-$size.pcap"
  [ -n "$alg" ] && extra=(--esp-alg "$alg") && label="$method/$alg"
  local out line touch
  out=$("$build/bench/pipeline_bench" --pcap "$pcap" --direction "$dirn" --method "$method" \
         --bindings "$routers" --seconds 3 "${extra[@]}" 2>&1 || true)
  line=$(grep " ratio=" <<<"$out" || true)
  touch=$(sed -nE 's/.*touch_ratio=([0-9.]+).*/\1/p' <<<"$out")
  if [ -z "$line" ]; then echo "$dirn $label $size $routers: pipeline_bench failed"; return; fi
  local fwd nemo ratio
  fwd=$(sed -E 's/.*bare_forward_mpps=([0-9.]+).*/\1/' <<<"$line")
  nemo=$(sed -E 's/.*nemo_mpps=([0-9.]+).*/\1/' <<<"$line")
  ratio=$(sed -E 's/.* ratio=([0-9.]+).*/\1/' <<<"$line")
  printf "%-10s %-32s %-5s %-9s %12s %12s %7s %7s\n" "$dirn" "$label" "$size" "$routers" "$fwd" "$nemo" "$ratio" "${touch:--}"
}
for routers in 1000 1000000; do
  for size in 64 1400; do
    for case in down:ipip down:gre down:udp up:ipip up:gre up:udp; do
      run "${case%%:*}" "${case##*:}" "$size" "$routers"
    done
  done
done
for size in 64 1400; do
  run down esp "$size" 1000 aes-gcm-128
  run down esp "$size" 1000 aes-cbc-128-hmac-sha256
  run down esp-udp "$size" 1000 aes-gcm-128
done
