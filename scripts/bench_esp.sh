#!/usr/bin/env bash
# ESP throughput on one core: nemo-ha's transform in bursts of 32 (bench/esp_bench.cpp, as the worker
# hands them over) against dpdk-test-crypto-perf on the same algorithm, direction and size through DPDK's
# intel-ipsec-mb crypto PMDs (crypto_aesni_gcm, crypto_aesni_mb; bursts of 32), in the same run. Prints
# a table with the ratio nemo-ha / crypto-perf (millions of packets per second).
#
#   scripts/bench_esp.sh [--json DIR]         (root, for crypto-perf's EAL)
# --json DIR also writes DIR/esp.json (esp_bench's Google Benchmark JSON) and DIR/crypto_perf.json
# (crypto-perf's figures in the same layout: CryptoPerf/ALGORITHM/encrypt|decrypt/SIZE, items_per_second)
# for scripts/bench_report.py.
set -euo pipefail
cd "$(dirname "$0")/.."
json_dir=""
if [ "${1:-}" = --json ]; then json_dir=$2; shift 2; mkdir -p "$json_dir"; fi
scripts/build_release.sh bench/esp_bench
build=build-release
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$build/bench/esp_bench" --benchmark_min_time=1 --benchmark_format=json 2>/dev/null >"$out/nemo.json"

eal="--no-huge -m 1024 --no-pci --no-shconf -l 0-1 --file-prefix=crypto-perf --log-level=lib.eal:error"
perf() { # name, device, sizes, crypto-perf options: prints "name size Mops" per size
  local name=$1 dev=$2 sizes=$3
  shift 3
  dpdk-test-crypto-perf $eal --vdev "$dev" -- --ptest throughput --devtype "$dev" --total-ops 2000000 \
    --burst-sz 32 --buffer-sz "$sizes" --silent "$@" 2>/dev/null |
    awk -v n="$name" '/^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+/ { print n, $2, $8 }' || true
}
vectors() { # a crypto-perf test-vector file for CBC + HMAC-SHA-256 with a plaintext of $1 bytes
  /usr/bin/python3 - "$1" <<'PY'
import sys
def blob(n, seed):
    b = [(seed + i * 13) & 0xFF for i in range(n)]
    return ",\n".join(", ".join(f"0x{x:02x}" for x in b[i:i + 16]) for i in range(0, n, 16))
n = int(sys.argv[1])
for name, length, seed in (("plaintext", n, 1), ("ciphertext", n, 2), ("cipher_key", 16, 3), ("auth_key", 32, 4),
                           ("cipher_iv", 16, 5)):
    print(f"{name} =\n{blob(length, seed)}")
print(f"\n[cbc_hmac]\ndigest =\n{blob(16, 6)}")
PY
}
gcm="--optype aead --aead-algo aes-gcm --aead-key-sz 16 --aead-iv-sz 12 --aead-aad-sz 8 --digest-sz 16"
cbc="--cipher-algo aes-cbc --cipher-key-sz 16 --cipher-iv-sz 16 --auth-algo sha2-256-hmac --auth-key-sz 32 --digest-sz 16"
{
  perf gcm128-enc crypto_aesni_gcm 64,512,1420 $gcm --aead-op encrypt
  perf gcm128-dec crypto_aesni_gcm 64,512,1420 $gcm --aead-op decrypt
  perf gcm256-enc crypto_aesni_gcm 64,512,1420 ${gcm/--aead-key-sz 16/--aead-key-sz 32} --aead-op encrypt
  # CBC takes whole blocks: 1424 stands for 1420.
  perf cbc-enc crypto_aesni_mb 64,512,1424 --optype cipher-then-auth $cbc --cipher-op encrypt --auth-op generate
  # Verification wants a test-vector file in crypto-perf (its throughput test does not check the
  # outcome, so the bytes need not be a real vector): one per size.
  for size in 64 512 1424; do
    vectors "$size" >"$out/cbc$size.data"
    perf cbc-dec crypto_aesni_mb "$size" --optype auth-then-cipher $cbc --cipher-op decrypt --auth-op verify \
      --test-file "$out/cbc$size.data" --test-name cbc_hmac
  done
} >"$out/perf.txt"

/usr/bin/python3 - "$out/nemo.json" "$out/perf.txt" "$json_dir" <<'PY'
import json, os, shutil, sys
nemo = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    _, alg, size = b["name"].split("/")[:3]
    kind = "enc" if "Encrypt" in b["name"] else "dec"
    nemo[(int(alg), kind, int(size))] = b["items_per_second"] / 1e6
perf = {}
for line in open(sys.argv[2]):
    name, size, mops = line.split()
    perf[(name, 1420 if size == "1424" else int(size))] = float(mops)
rows = [("AES-GCM-128", 0, "gcm128"), ("AES-GCM-256", 1, "gcm256"), ("AES-128-CBC + HMAC-SHA-256-128", 2, "cbc")]
print("| algorithm | direction | payload | nemo-ha (Mpps) | crypto-perf (Mops) | ratio |")
print("|---|---|---|---|---|---|")
for label, alg, key in rows:
    for kind in ("enc", "dec"):
        for size in (64, 512, 1420):
            ours = nemo.get((alg, kind, size))
            theirs = perf.get((f"{key}-{kind}", size))
            if ours is None or theirs is None:
                continue
            print(f"| {label} | {'encrypt' if kind == 'enc' else 'decrypt'} | {size} B | {ours:.2f} | {theirs:.2f} | "
                  f"**{ours / theirs:.2f}** |")
if sys.argv[3]:
    shutil.copy(sys.argv[1], os.path.join(sys.argv[3], "esp.json"))
    algs = {"gcm128": "aes-gcm-128", "gcm256": "aes-gcm-256", "cbc": "aes-cbc-128-hmac-sha256"}
    ctx = json.load(open(sys.argv[1]))["context"]
    ctx = {**ctx, "executable": "dpdk-test-crypto-perf", "script": "scripts/bench_esp.sh"}
    runs = [{"name": f"CryptoPerf/{algs[k.rsplit('-', 1)[0]]}/{'encrypt' if k.endswith('enc') else 'decrypt'}/{size}",
             "run_type": "iteration", "iterations": 1, "items_per_second": mops * 1e6,
             "crypto_perf_buffer": 1424 if size == 1420 and k.startswith("cbc") else size}
            for (k, size), mops in sorted(perf.items())]
    for r in runs:
        r["run_name"] = r["name"]
    json.dump({"context": ctx, "benchmarks": runs}, open(os.path.join(sys.argv[3], "crypto_perf.json"), "w"), indent=1)
PY
