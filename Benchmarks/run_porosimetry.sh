#!/usr/bin/env bash
# Simulated mercury intrusion against PoreSpy's porosimetry on the whole MATBOX pore phase
# (251×301×301), same defaults, in one run; the largest saturation difference over the radii.
# Usage: Benchmarks/run_porosimetry.sh
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy tifffile porespy==3.2.0
data=../../shared/data/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif
ours=$($BENCH porosimetry "$data")
peer=$($PY peers/porosimetry_bench.py "$data")
echo "$ours"; echo "$peer"
{
  echo
  echo "## $(date -u +%Y-%m-%d) — porosimetry, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_porosimetry.sh\`: MATBOX NMC cathode pore phase, all faces as inlets."
  echo
  echo "| case | BatteryLens | PoreSpy | speed-up | largest saturation difference |"
  echo "|---|---|---|---|---|"
  python3 - "$ours" "$peer" <<'PY'
import json, sys
o, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
diff = max(abs(a - b) for a, b in zip(o["saturation"], p["saturation"])) if len(o["saturation"]) == len(p["saturation"]) else float("nan")
print(f"| {o['case']} | {o['seconds']:.1f} s | {p['seconds']:.1f} s ({p['peer']}) | {p['seconds'] / o['seconds']:.1f}× | {diff:.4f} |")
PY
} | tee -a RESULTS.md
