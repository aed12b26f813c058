#!/usr/bin/env bash
# nemo-ha's pipeline against DPDK's reference applications (issue 16): dpdk-ipsec-secgw for ESP (outbound
# and inbound, AES-GCM-128 and AES-128-CBC + HMAC-SHA-256, 1 and 1000 routers, 64 and 1400 byte frames,
# each crypto mode the PMDs offer) and dpdk-l3fwd for plain IPv6 forwarding (LPM and EM, 1000 and
# 1 000 000 routes) next to nemo-ha's IPv6-in-IPv4 encapsulation of the same frames. Same devices and
# lcores for all: net_pcap (infinite_rx) in, net_null out, EAL --no-huge --no-pci --no-shconf -l 0-1,
# the forwarding on lcore 1. Peer and nemo-ha runs alternate, REPS times. See bench/peers/README.md.
#
#   scripts/bench_peers.sh [--quick] [--out DIR]          (as root)
#   REPS=5 MEASURE_S=3 WARM_S=1 PACKETS=32768 ESP_PACKETS=8192 scripts/bench_peers.sh --out DIR
#   CASES="esp l3fwd" ESP_ROUTERS="1 1000" L3FWD_ROUTERS="1000 1000000" SIZES="64 1400"
#   L3FWD_SIZES="64" L3FWD_LOOKUPS="lpm em" L3FWD_METHODS="ipip gre udp" SECGW_MODES="la-gcm la-mb cpu-gcm cpu-mb"
#   SECGW_GCM_MODES="la-gcm cpu-gcm" ESP_DIRECTIONS="out in" NEMO_PIPELINE_BENCH=path
#
# The peers print no rates: a peer's rate is what net_null sent (ethdev telemetry, /ethdev/stats,1) over
# MEASURE_S seconds, sampled WARM_S seconds after net_null's opackets start rising. A peer run counts
# only if net_null sent at least 99% of what net_pcap received in that window (a misconfigured policy
# drops everything, fast) and, for lookaside crypto, the crypto device dequeued as many. nemo-ha's rate
# is pipeline_bench's nemo_mpps (its own MEASURE_S seconds); bare_forward and touch are its baselines.
# Every benchmark process runs under flock /tmp/nemo-bench.lock. Writes DIR/peers.tsv (one line per
# run) and DIR/summary.tsv (one line per case and peer mode).
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."
repo=$PWD
work=${TMPDIR:-/tmp}/nemo-peers
lock=/tmp/nemo-bench.lock
nemo_bin=${NEMO_PIPELINE_BENCH:-/work/main/build-release/bench/pipeline_bench}

# ---- one peer run, under the lock: start the app, sample its counters, stop it ----------------------
if [ "${1:-}" = --peer-run ]; then # --peer-run LOG PREFIX TIMEOUT -- APP ARGS...
  log=$2 prefix=$3 timeout_s=$4; shift 5
  sock=/var/run/dpdk/$prefix/dpdk_telemetry.v2
  rm -f "$sock"
  stdbuf -oL "$@" >"$log" 2>&1 &
  app=$!
  rc=0
  /usr/bin/python3 "$work/sample.py" "$sock" "${WARM_S:-1}" "${MEASURE_S:-3}" "$timeout_s" "$app" || rc=$?
  kill -INT "$app" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$app" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$app" 2>/dev/null || true
  wait "$app" 2>/dev/null || true
  exit $rc
fi

quick=0 out=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--quick] [--out DIR]" >&2; exit 2 ;;
  esac
done
if [ $quick = 1 ]; then
  : "${REPS:=1}" "${MEASURE_S:=1}" "${ESP_ROUTERS:=1000}" "${L3FWD_ROUTERS:=1000}" "${SIZES:=64}"
  : "${PACKETS:=8192}" "${ESP_PACKETS:=2048}"
fi
reps=${REPS:-5}
export MEASURE_S=${MEASURE_S:-3} WARM_S=${WARM_S:-1}
packets=${PACKETS:-32768}
esp_packets=${ESP_PACKETS:-8192}
cases_sel=${CASES:-"esp l3fwd"}
esp_routers=${ESP_ROUTERS:-"1 1000"}
l3fwd_routers=${L3FWD_ROUTERS:-"1000 1000000"}
sizes=${SIZES:-"64 1400"}
l3fwd_sizes=${L3FWD_SIZES:-64}
secgw_modes=${SECGW_MODES:-"la-gcm la-mb cpu-gcm cpu-mb"}
out=${out:-$work/results}
"$repo/scripts/setup.sh" dpdk-doc
mkdir -p "$out" "$work/build" "$work/traffic" "$work/cfg" "$work/logs"
[ -x "$nemo_bin" ] || { echo "no pipeline_bench at $nemo_bin (NEMO_PIPELINE_BENCH)" >&2; exit 1; }

# ---- the peers: copied from dpdk-doc's sources, patched, built with their Makefiles -----------------
# Patches (sed, in the copy only): the main lcore, which polls no queue, gets no tx queue (net_pcap
# has one); no checksum rx offload asked for (net_pcap has none; the apps do not depend on it); l3fwd's
# LPM6 rule table holds 2M rules (1024) and its mbuf pool has at least 98304 mbufs (8192; net_pcap's
# infinite_rx keeps the whole pcap in mbufs). l3fwd's EM hash is 4M entries already. And the main
# lcore, once it has found it has nothing to do, sleeps until SIGINT instead of spinning in
# rte_eal_mp_wait_lcore (pipeline_bench's main thread sleeps too; a spinning core 0 pushes the shared
# machine's other work onto core 1, the forwarding core).
build_peer() { # name
  local app=$1 src=/usr/share/dpdk/examples/$1 dst=$work/build/$1
  [ -d "$src" ] || { echo "missing $src (dpdk-doc's example sources)" >&2; exit 1; }
  if [ -x "$dst/build/$app" ] && [ "$dst/.stamp" -nt "$self" ]; then return; fi
  rm -rf "$dst" "$work/build/common"
  cp -r "$src" "$dst"
  cp -r /usr/share/dpdk/examples/common "$work/build/common"
  local main=$dst/main.c
  [ "$app" = ipsec-secgw ] && main=$dst/ipsec-secgw.c
  sed -i -e 's/^\(\s*nb_tx_queue = nb_lcores\);/\1 - (lcore_conf[rte_get_main_lcore()].nb_rx_queue == 0);/' \
    -e 's/^\(\s*n_tx_queue = nb_lcores\);/\1 - (lcore_conf[rte_get_main_lcore()].n_rx_queue == 0);/' \
    -e '/init one TX queue per \(lcore\|couple\)/,/continue;/ s/rte_lcore_is_enabled(lcore_id) == 0/& || (lcore_id == rte_get_main_lcore() \&\& lcore_conf[lcore_id].NRXQ == 0)/' \
    -e '/^static struct rte_eth_conf port_conf = {/,/^};/ s/\.offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,/.offloads = 0,/' \
    -e 's/^\(\s*rte_eal_mp_remote_launch(.*, CALL_MAIN);\)$/\1 while (!force_quit) usleep(100000);/' "$main"
  if [ "$app" = ipsec-secgw ]; then sed -i 's/NRXQ/nb_rx_queue/' "$main"; else sed -i 's/NRXQ/n_rx_queue/' "$main"; fi
  if [ "$app" = l3fwd ]; then
    sed -i 's/(unsigned)8192)/(unsigned)98304)/' "$main"
    sed -i -E 's/^(#define IPV6_L3FWD_LPM_MAX_RULES\s+)1024$/\1(1 << 21)/' "$dst/l3fwd_lpm.c"
    grep -q 'IPV6_L3FWD_LPM_MAX_RULES\s*(1 << 21)' "$dst/l3fwd_lpm.c" || { echo "l3fwd: LPM6 patch did not apply" >&2; exit 1; }
  fi
  [ "$(diff "$src/$(basename "$main")" "$main" | grep -c '^>')" -ge 4 ] && grep -q 'CALL_MAIN); while (!force_quit)' "$main" || { echo "$app: patches did not apply" >&2; exit 1; }
  echo "building $app in $dst" >&2
  make -C "$dst" -j2 >"$dst/make.log" 2>&1 || { tail -20 "$dst/make.log" >&2; exit 1; }
  touch "$dst/.stamp"
}
[[ " $cases_sel " == *" esp "* ]] && build_peer ipsec-secgw
[[ " $cases_sel " == *" l3fwd "* ]] && build_peer l3fwd
secgw=$work/build/ipsec-secgw/build/ipsec-secgw
l3fwd=$work/build/l3fwd/build/l3fwd

# ---- the telemetry sampler --------------------------------------------------------------------------
cat >"$work/sample.py" <<'PY'
# sample.py SOCKET WARM_S MEASURE_S TIMEOUT_S PID: waits for the app's telemetry socket and for net_null's
# (port 1) opackets to rise, waits WARM_S, then samples ports 0 and 1 (and crypto device 0 when there is
# one) MEASURE_S apart. Prints one JSON line.
import json, os, socket, sys, time
sock_path, warm, secs, timeout, pid = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
t_end = time.monotonic() + timeout
def alive():
    try: os.kill(pid, 0); return True
    except OSError: return False
def fail(msg, **kw):
    print(json.dumps(dict(error=msg, **kw))); sys.exit(1)
s = None
while time.monotonic() < t_end and alive():
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sock_path); s.recv(4096); break
    except OSError:
        s = None; time.sleep(0.2)
if s is None: fail("no telemetry socket (the app exited or never started)")
def q(c):
    s.send(c.encode()); return json.loads(s.recv(1 << 20).decode())[c.split(",")[0]]
cdev = bool(q("/cryptodev/list"))
def st():
    t = time.monotonic(); a = q("/ethdev/stats,0"); b = q("/ethdev/stats,1")
    c = q("/cryptodev/stats,0") if cdev else {}
    return t, a, b, c
t, a, b, c = st(); first = b["opackets"]
while time.monotonic() < t_end and b["opackets"] == first and alive():
    time.sleep(0.2); t, a, b, c = st()
if b["opackets"] == first: fail("net_null's opackets do not rise", rx=a, tx=b)
time.sleep(warm)
t0, a0, b0, c0 = st(); time.sleep(secs); t1, a1, b1, c1 = st()
d = lambda x, y, k: y[k] - x[k]
o = {"mpps": d(b0, b1, "opackets") / (t1 - t0) / 1e6, "seconds": round(t1 - t0, 3),
     "rx_ipackets": d(a0, a1, "ipackets"), "tx_opackets": d(b0, b1, "opackets"),
     "tx_oerrors": d(b0, b1, "oerrors"), "rx_imissed": d(a0, a1, "imissed"), "port0_opackets": d(a0, a1, "opackets")}
if cdev: o["crypto_dequeued"] = d(c0, c1, "dequeued_count")
print(json.dumps(o))
PY

# ---- traffic and configurations ---------------------------------------------------------------------
traffic() { # routers size [esp alg] -> the pcap path
  local r=$1 s=$2 dir=$work/traffic/p$packets-e$esp_packets/r$1 # cached per pcap length
  case ${3:-} in
    "") [ -f "$dir/down-$s.pcap" ] || /usr/bin/python3 scripts/gen_traffic_pcaps.py --routers "$r" --packets "$packets" \
          --size "$s" --out "$dir" >&2; echo "$dir/down-$s.pcap" ;;
    fixed) [ -f "$dir/down-fixed-$s.pcap" ] || /usr/bin/python3 bench/peers/gen_peer_configs.py em-pcap --routers "$r" \
          --packets "$packets" --size "$s" --out "$dir"; echo "$dir/down-fixed-$s.pcap" ;;
    *) [ -f "$dir/up-esp-$3-$s.pcap" ] || /usr/bin/python3 scripts/gen_esp_pcaps.py --routers "$r" \
          --packets "$esp_packets" --size "$s" --alg "$3" --out "$dir" >&2; echo "$dir/up-esp-$3-$s.pcap" ;;
  esac
}
secgw_cfg() { # direction alg type routers
  local f=$work/cfg/secgw-$1-$2-$3-r$4.cfg
  [ -f "$f" ] || /usr/bin/python3 bench/peers/gen_peer_configs.py secgw --direction "$1" --alg "$2" --type "$3" \
    --routers "$4" --out "$f"
  echo "$f"
}
l3fwd_cfg() { # lpm|em routers
  local d=$work/cfg/l3fwd-$1-r$2
  [ -f "$d/$1-v6.cfg" ] || /usr/bin/python3 bench/peers/gen_peer_configs.py "l3fwd-$1" --routers "$2" --out "$d"
  echo "$d"
}

eal() { # memory MB, pcap, extra vdevs...
  local mem=$1 pcap=$2; shift 2
  echo "--no-huge -m $mem --no-pci --no-shconf -l 0-1 --file-prefix=nemo-peer --log-level=lib.eal:error" \
    "--vdev=net_pcap0,rx_pcap=$pcap,infinite_rx=1 --vdev=net_null0,no-rx=1 $*"
}

runs=$out/peers.tsv
printf "rep\tcase\tside\tmode\tmpps\tbare_forward_mpps\ttouch_forward_mpps\tnote\n" >"$runs"
started=$(date -u +%Y-%m-%dT%H:%M:%S+00:00)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

peer() { # rep case mode timeout app args... : one measured peer run, a line in peers.tsv
  local rep=$1 case=$2 mode=$3 timeout_s=$4; shift 4
  local log=$work/logs/${case//\//_}-$mode.log res mpps note
  res=$(flock "$lock" "$self" --peer-run "$log" nemo-peer "$timeout_s" -- "$@" || true)
  mpps=$(/usr/bin/python3 - "$res" "$mode" <<'PY'
import json, sys
try:
    r = json.loads(sys.argv[1].strip().splitlines()[-1])
except Exception:
    print("-\tno result"); sys.exit()
if "error" in r:
    print("-\t" + r["error"]); sys.exit()
rx, tx = r["rx_ipackets"], r["tx_opackets"]
notes = [f"rx={rx} tx={tx}"]
ok = rx > 0 and tx >= 0.99 * rx
if "crypto_dequeued" in r:  # lookaside: every packet through the device; cpu-crypto: none
    notes.append(f"crypto_dev_ops={r['crypto_dequeued']}")
    if sys.argv[2].startswith("la-"):
        ok = ok and r["crypto_dequeued"] >= 0.99 * tx
print((f"{r['mpps']:.3f}" if ok else "-") + "\t" + ("" if ok else "REJECTED (drops or no crypto) ") + " ".join(notes))
PY
)
  printf "%s\t%s\tpeer\t%s\t%s\t-\t-\t%s\n" "$rep" "$case" "$mode" "${mpps%%$'\t'*}" "${mpps#*$'\t'}" >>"$runs"
  echo "  rep $rep $case peer $mode: ${mpps%%$'\t'*} Mpps (${mpps#*$'\t'})" >&2
}
nemo() { # rep case pipeline_bench args...
  local rep=$1 case=$2; shift 2
  local o rc=0 line
  o=$(flock "$lock" "$nemo_bin" --seconds "$MEASURE_S" "$@" 2>&1) || rc=$?
  line=$(grep " ratio=" <<<"$o" || true)
  if [ -z "$line" ]; then
    local why="pipeline_bench rc=$rc"
    [ $rc = 2 ] && why="not supported by this pipeline_bench"
    printf "%s\t%s\tnemo\tnemo\t-\t-\t-\t%s\n" "$rep" "$case" "$why" >>"$runs"
    echo "  rep $rep $case nemo: $why" >&2
    return
  fi
  local fwd nm touch
  fwd=$(sed -E 's/.*bare_forward_mpps=([0-9.]+).*/\1/' <<<"$line")
  nm=$(sed -E 's/.*nemo_mpps=([0-9.]+).*/\1/' <<<"$line")
  touch=$(sed -nE 's/.*touch_forward_mpps=([0-9.]+).*/\1/p' <<<"$o")
  printf "%s\t%s\tnemo\tnemo\t%s\t%s\t%s\t%s\n" "$rep" "$case" "$nm" "$fwd" "${touch:--}" \
    "$(sed -E 's/.* ratio=[0-9.]+ //' <<<"$line")" >>"$runs"
  echo "  rep $rep $case nemo: $nm Mpps (bare $fwd, touch ${touch:--})" >&2
}

mode_dev() { # secgw mode -> crypto vdev, type
  case $1 in
    la-gcm) echo "crypto_aesni_gcm0 lookaside" ;;
    la-mb) echo "crypto_aesni_mb0 lookaside" ;;
    cpu-gcm) echo "crypto_aesni_gcm0 cpu-crypto" ;;
    cpu-mb) echo "crypto_aesni_mb0 cpu-crypto" ;;
  esac
}

# Make the inputs before the first measurement (the ESP pcaps take a while: scapy), the inbound ones
# only when inbound is measured.
esp_directions=${ESP_DIRECTIONS:-out in}
for s in $sizes; do
  if [[ " $cases_sel " == *" esp "* ]]; then
    for r in $esp_routers; do
      traffic "$r" "$s" >/dev/null
      [[ " $esp_directions " == *" in "* ]] || continue
      for alg in aes-gcm-128 aes-cbc-128-hmac-sha256; do traffic "$r" "$s" "$alg" >/dev/null; done
    done
  fi
done
if [[ " $cases_sel " == *" l3fwd "* ]]; then
  for r in $l3fwd_routers; do
    for s in $l3fwd_sizes; do traffic "$r" "$s" >/dev/null; traffic "$r" "$s" fixed >/dev/null; done
    l3fwd_cfg lpm "$r" >/dev/null; l3fwd_cfg em "$r" >/dev/null
  done
fi

# Outbound ESP is checked once per algorithm and crypto mode before the measurements: the same secgw
# configuration with port 1 a net_pcap writing a file in place of net_null, its first packets decrypted
# with the outbound SAs (bench/peers/gen_peer_configs.py check-esp-out). (Inbound needs no such check:
# a packet that does not authenticate under the configured SA is dropped, and drops reject a run.)
if [[ " $cases_sel " == *" esp "* ]] && [ "${VERIFY:-1}" = 1 ]; then
  r=${esp_routers##* } s=${sizes%% *}
  for alg in aes-gcm-128 aes-cbc-128-hmac-sha256; do
    for mode in la-mb cpu-mb; do
      [[ " $secgw_modes " == *" $mode "* ]] || continue
      read -r vdev typ <<<"$(mode_dev "$mode")"
      cap=$work/verify-$alg-$mode.pcap
      rm -f "$cap"
      v=$(MEASURE_S=0.3 WARM_S=0 flock "$lock" "$self" --peer-run "$work/logs/verify-$alg-$mode.log" nemo-peer 60 -- \
        "$secgw" --no-huge -m 1024 --no-pci --no-shconf -l 0-1 --file-prefix=nemo-peer --log-level=lib.eal:error \
        "--vdev=net_pcap0,rx_pcap=$(traffic "$r" "$s"),infinite_rx=1" "--vdev=net_pcap1,tx_pcap=$cap" "--vdev=$vdev" -- \
        -p 0x3 -l -w 0 -s 65536 --config "(0,0,1),(1,0,1)" -f "$(secgw_cfg out "$alg" "$typ" "$r")" || true)
      if /usr/bin/python3 bench/peers/gen_peer_configs.py check-esp-out --routers "$r" --alg "$alg" --pcap "$cap" >&2; then
        echo "verified: secgw outbound $alg $mode, $r routers" >&2
      else
        echo "secgw outbound $alg $mode: its output does not decrypt with the SAs ($v)" >&2; exit 1
      fi
      rm -f "$cap"
    done
  done
fi

for ((rep = 0; rep < reps; rep++)); do
  echo "rep $rep of $reps" >&2
  if [[ " $cases_sel " == *" esp "* ]]; then
    for r in $esp_routers; do
      for s in $sizes; do
        for alg in aes-gcm-128 aes-cbc-128-hmac-sha256; do
          for d in $esp_directions; do
            case=esp-$d/$alg/$s/r$r
            if [ $d = out ]; then pcap=$(traffic "$r" "$s"); unprot=0x2; else pcap=$(traffic "$r" "$s" "$alg"); unprot=0x1; fi
            for mode in $secgw_modes; do
              [ "$alg" != aes-gcm-128 ] && [[ $mode == *-gcm ]] && continue # aesni_gcm: AES-GCM only
              # SECGW_GCM_MODES: the modes for AES-GCM alone (aesni_mb's rarely win there).
              [ "$alg" = aes-gcm-128 ] && [[ " ${SECGW_GCM_MODES:-$secgw_modes} " != *" $mode "* ]] && continue
              read -r vdev typ <<<"$(mode_dev "$mode")"
              cfg=$(secgw_cfg "$d" "$alg" "$typ" "$r")
              # -u: outbound needs no unprotected port (secgw refuses one without inbound SAs).
              uopt=(); [ $d = in ] && uopt=(-u "$unprot")
              # shellcheck disable=SC2046
              peer "$rep" "$case" "$mode" 60 "$secgw" $(eal 1024 "$pcap" "--vdev=$vdev") -- -p 0x3 "${uopt[@]}" \
                -l -w 0 -s 65536 --config "(0,0,1),(1,0,1)" -f "$cfg"
            done
            if [ $d = out ]; then
              nemo "$rep" "$case" --pcap "$pcap" --direction down --method esp --bindings "$r" --esp-alg "$alg"
            else
              nemo "$rep" "$case" --pcap "$pcap" --direction up --method esp --bindings "$r" --esp-alg "$alg"
            fi
          done
        done
      done
    done
  fi
  if [[ " $cases_sel " == *" l3fwd "* ]]; then
    for r in $l3fwd_routers; do
      mem=2048; [ "$r" -gt 100000 ] && mem=4096
      for s in $l3fwd_sizes; do
        for lk in ${L3FWD_LOOKUPS:-lpm em}; do
          case=l3fwd-$lk/$s/r$r
          # EM fills only the IPv6 hash with --ipv6 (without it, only the IPv4 one: every packet misses).
          v6opt=()
          if [ $lk = lpm ]; then pcap=$(traffic "$r" "$s"); flag=-L; else pcap=$(traffic "$r" "$s" fixed); flag=-E; v6opt=(--ipv6); fi
          cfgd=$(l3fwd_cfg "$lk" "$r")
          # GRE and UDP beside IPv6-in-IPv4 against LPM (L3FWD_METHODS; at a million routes IPv6-in-IPv4
          # only unless set): a case each, the peer run again in each, so it alternates with every method.
          methods=ipip
          if [ $lk = lpm ]; then methods=${L3FWD_METHODS:-"ipip gre udp"}; [ "$r" -gt 100000 ] && methods=${L3FWD_METHODS:-ipip}; fi
          for m in $methods; do
            mcase=$case; [ "$m" != ipip ] && mcase=$case/$m
            # shellcheck disable=SC2046
            peer "$rep" "$mcase" "$lk" 180 "$l3fwd" $(eal "$mem" "$pcap") -- -p 0x3 "$flag" "${v6opt[@]}" --parse-ptype \
              --config "(0,0,1),(1,0,1)" --rule_ipv4="$cfgd/$lk-v4.cfg" --rule_ipv6="$cfgd/$lk-v6.cfg"
            nemo "$rep" "$mcase" --pcap "$pcap" --direction down --method "$m" --bindings "$r"
          done
        done
      done
    done
  fi
done

# ---- the summary ------------------------------------------------------------------------------------
/usr/bin/python3 - "$runs" "$out/summary.tsv" "$started" "$load_start" "$MEASURE_S" <<'PY'
import collections, statistics, sys
runs, summary, started, load_start, measure_s = sys.argv[1:]
vals = collections.defaultdict(list)
ctx = collections.defaultdict(lambda: ([], []))
order = []
peer_modes = collections.defaultdict(list)
for line in open(runs).read().splitlines()[1:]:
    rep, case, side, mode, mpps, fwd, touch, note = line.split("\t")
    if case not in order: order.append(case)
    if side == "peer" and mode not in peer_modes[case]: peer_modes[case].append(mode)
    if mpps != "-": vals[(case, side, mode)].append(float(mpps))
    if side == "nemo" and fwd != "-":
        ctx[case][0].append(float(fwd))
        if touch != "-": ctx[case][1].append(float(touch))
def fmt(v):
    return f"{statistics.median(v):.3f} [{min(v):.3f}-{max(v):.3f}]" if v else "-"
def med(v):
    return statistics.median(v) if v else None
rows = []
hdr = ["case", "peer_mode", "n_peer", "peer_mpps", "n_nemo", "nemo_mpps", "ratio_nemo_peer", "bare_forward_mpps", "touch_forward_mpps"]
for case in order:
    modes = peer_modes[case]
    nv = vals[(case, "nemo", "nemo")]
    best = max((m for m in modes if vals[(case, "peer", m)]), key=lambda m: med(vals[(case, "peer", m)]), default=None)
    for m in modes + (["best:" + best] if best and len(modes) > 1 else []):
        pv = vals[(case, "peer", m.split(":")[-1])]
        ratio = f"{med(nv) / med(pv):.3f}" if nv and pv else "-"
        rows.append([case, m, str(len(pv)), fmt(pv), str(len(nv)), fmt(nv), ratio, fmt(ctx[case][0]), fmt(ctx[case][1])])
with open(summary, "w") as f:
    f.write(f"# started {started}, load average at start {load_start}, MEASURE_S={measure_s}; Mpps: median [min-max]\n")
    f.write("\t".join(hdr) + "\n")
    for r in rows: f.write("\t".join(r) + "\n")
w = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
for r in [hdr] + rows:
    print("  ".join(x.ljust(w[i]) for i, x in enumerate(r)).rstrip())
print(f"load average at start {load_start}, at end {' '.join(open('/proc/loadavg').read().split()[:3])}; wrote {summary}")
PY
