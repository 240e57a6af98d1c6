#!/usr/bin/env bash
# Fourier gridding (recon --algorithm gridrec) against BatteryLens's own back projector and
# against algotom's direct Fourier inversion (DFI, the Python peer of the same family) on the
# disc phantom: 512² × 720 and 2048² × 1500 angles, 16 slices each (the back projector's full
# width on 2 cores: 8 slices per core), in one run.
# Usage: Benchmarks/run_gridrec.sh
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy algotom
small=$($BENCH gridrec 512 720 16 2)
small_peer=$($PY peers/dfi_bench.py 512 720 16 2)
large=$($BENCH gridrec 2048 1500 16 1)
large_peer=$($PY peers/dfi_bench.py 2048 1500 16 1)
echo "$small"; echo "$small_peer"; echo "$large"; echo "$large_peer"
{
  echo
  echo "## $(date -u +%Y-%m-%d) — gridrec vs back projection, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_gridrec.sh\`: 16 slices of the disc phantom, Shepp–Logan, both on 2 cores."
  echo
  echo "| case | back projection (FBP) | gridding | gridding vs FBP | RMS difference | algotom DFI | gridding vs DFI | FBP vs DFI |"
  echo "|---|---|---|---|---|---|---|---|"
  python3 - "$small" "$small_peer" "$large" "$large_peer" <<'PY'
import json, sys
args = sys.argv[1:]
for ours, peer in zip(args[0::2], args[1::2]):
    d, p = json.loads(ours), json.loads(peer)
    dfi = p['dfi_seconds']
    print(f"| {d['case']} | {d['fbp_seconds']:.2f} s | {d['gridrec_seconds']:.2f} s | {d['speedup']:.2f}× | {d['rms_difference']:.2e} | {dfi:.2f} s ({p['peer']}) | {dfi / d['gridrec_seconds']:.1f}× | {dfi / d['fbp_seconds']:.1f}× |")
PY
} | tee -a RESULTS.md
