#!/usr/bin/env bash
# TXM-XANES per-pixel analysis against (a) Larch's functions looped over pixels and (b) a
# vectorized NumPy implementation of the same steps (peers/xanes_bench.py), on a 256² × 63
# stack and a 63 × 128³ stack of volumes.
# Usage: Benchmarks/run_xanes.sh [2d] [3d]   (default: both)
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy xraylarch
mkdir -p data
for which in "${@:-2d 3d}"; do
  for w in $which; do
    if [ "$w" = 2d ]; then name=xanes2d; shape=256x256; else name=xanes3d; shape=128x128x128; fi
    [ -f "data/${name}_intensity.npy" ] || $PY peers/xanes_bench.py make data "$name" "$shape"
    ours=$($BENCH xanes data "$name")
    peers=$(cd peers && ../$PY xanes_bench.py bench ../data "$name" 400)
    echo "$ours"; echo "$peers"
    $PY - "$ours" "$peers" <<'PY'
import json, sys
ours = [json.loads(l) for l in sys.argv[1].splitlines() if l.startswith("{")][0]
for p in (json.loads(l) for l in sys.argv[2].splitlines() if l.startswith("{")):
    if "seconds" not in p: print(f"| {p['op']} | {ours['seconds']:.2f} s | {p['peer']}: {p.get('error')} | — |"); continue
    print(f"| {p['op']} ({int(p['pixels'])} pixels) | {ours['seconds']:.2f} s (peak {ours['peak_memory_mib']:.0f} MiB) | {p['seconds']:.2f} s ({p['peer']}) | {p['seconds']/ours['seconds']:.1f}× |")
PY
  done
done
