#!/usr/bin/env bash
# ESP throughput on one core, nemo-ha's transform (bench/esp_bench.cpp) against dpdk-test-crypto-perf on
# the same algorithm through DPDK's intel-ipsec-mb crypto PMD, in the same run. Prints both.
#
#   sudo scripts/bench_esp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=build-release
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release -Dtests=disabled >/dev/null
ninja -C "$build" bench/esp_bench >/dev/null

echo "== nemo-ha transform (one packet at a time, as the worker runs it)"
"$build/bench/esp_bench" --benchmark_min_time=1 2>/dev/null | grep -E "^BM_"

eal="--no-huge -m 1024 --no-pci --no-shconf -l 0-1 --file-prefix=crypto-perf --log-level=lib.eal:error"
perf() { # device, then crypto-perf options
  local dev=$1 sizes=$2
  shift 2
  dpdk-test-crypto-perf $eal --vdev "$dev" -- --ptest throughput --devtype "$dev" --total-ops 2000000 \
    --burst-sz 32 --buffer-sz "$sizes" --silent "$@" 2>/dev/null | grep -E "^ +[0-9]+ +[0-9]+ +[0-9]+" || true
}
echo "== dpdk-test-crypto-perf, crypto_aesni_gcm, AES-GCM-128 encrypt (lcore, buf size, burst, enq, deq, fail, Mops, Gbps, cycles/buf)"
perf crypto_aesni_gcm 64,512,1420 --optype aead --aead-algo aes-gcm --aead-op encrypt --aead-key-sz 16 --aead-iv-sz 12 \
  --aead-aad-sz 8 --digest-sz 16
echo "== dpdk-test-crypto-perf, crypto_aesni_mb, AES-128-CBC + HMAC-SHA-256-128 encrypt (CBC wants multiples of 16)"
perf crypto_aesni_mb 64,512,1424 --optype cipher-then-auth --cipher-algo aes-cbc --cipher-op encrypt --cipher-key-sz 16 \
  --cipher-iv-sz 16 --auth-algo sha2-256-hmac --auth-op generate --auth-key-sz 32 --digest-sz 16
