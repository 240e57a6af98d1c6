#!/usr/bin/env bash
# Rigid 3D registration against spam's registerMultiscale (rigid) on the same volumes: an
# electrode phantom of N³ and a copy moved by a known rigid transform (2–3 voxel shift, 1.4°
# about a tilted axis), 1 % noise on both, at 128³, 256³ and 512³, in one run. Accuracy is the
# largest distance between where the fitted and the true transform send the volume's corners.
# Usage: Benchmarks/run_register.sh
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy spam
rows=()
for n in 128 256 512; do
  dir=$(mktemp -d)
  ours=$($BENCH register "$n" "$dir")
  peer=$($PY peers/register_bench.py "$dir")
  rm -rf "$dir"
  echo "$ours"; echo "$peer"
  rows+=("$($PY - "$ours" "$peer" <<'PY'
import json, sys
o, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"| {o['case']} | {o['seconds']:.2f} s, corner error {o['corner_error_voxels']:.4f} voxel | {p['seconds']:.2f} s, corner error {p['corner_error_voxels']:.4f} voxel ({p['peer']}) | {p['seconds'] / o['seconds']:.1f}× |")
PY
)")
done
{
  echo
  echo "## $(date -u +%Y-%m-%d) — rigid registration, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_register.sh\`: electrode phantom vs a rigidly moved, noisy copy."
  echo
  echo "| case | BatteryLens | spam | speed-up |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee -a RESULTS.md
