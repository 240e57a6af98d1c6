#!/usr/bin/env bash
# SNOW pore-network extraction against PoreSpy's snow2 on the whole MATBOX pore phase
# (251×301×301), same settings (σ 0.4, r_max 4, no boundary pores), in one run.
# Usage: Benchmarks/run_network.sh
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy tifffile porespy==3.2.0
data=../../shared/data/microstructure/matbox_nmc-1-cal_generatedCBD_bridge.tif
ours=$($BENCH network "$data")
peer=$($PY peers/snow_reference.py "$data" --bench | tail -1)
echo "$ours"; echo "$peer"
{
  echo
  echo "## $(date -u +%Y-%m-%d) — SNOW network extraction, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_network.sh\`: MATBOX NMC cathode pore phase. PoreSpy serial = \`snow2(..., boundary_width=0, parallel_kw=None)\`; PoreSpy default = its chunked watershed (which crops the image to 250×300×300 here). BatteryLens: best of 3."
  echo
  echo "| case | BatteryLens | PoreSpy serial | PoreSpy default | speed-up vs faster | pores (ours / PoreSpy serial) | throats (ours / PoreSpy serial) |"
  echo "|---|---|---|---|---|---|---|"
  python3 - "$ours" "$peer" <<'PY'
import json, sys
o, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
fast = min(p["seconds_serial"], p["seconds_default"])
print(f"| {o['case']} | {o['seconds']:.2f} s | {p['seconds_serial']:.1f} s | {p['seconds_default']:.1f} s | {fast / o['seconds']:.1f}× | {o['pores']:.0f} / {p['pores']} | {o['throats']:.0f} / {p['throats']} |")
PY
} | tee -a RESULTS.md
