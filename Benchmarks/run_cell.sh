#!/usr/bin/env bash
# Cylindrical-cell inspection of the real UCL lab-CT stack (100 slices of 728², the top of a
# wound cell) against the same inspection scripted with scikit-image and SciPy
# (peers/cell_bench.py), in one run. BatteryLens is timed as the command a user runs (reading
# the TIFF folder, writing the unrolled volume, the layer mask, the tables and a figure); the
# peer reads the same folder and writes nothing.
# Usage: Benchmarks/run_cell.sh
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy tifffile scipy scikit-image==0.26.0
data=../../shared/data/microstructure/cylindrical_cell_labxct/cell_vol
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd .. && swift build -c release --product batterylens >/dev/null)
start=$(date +%s.%N)
../.build/release/batterylens cell "$data" --out "$out/cell" --summary "$out/cell.json" --quiet >/dev/null
ours=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
peer=$($PY peers/cell_bench.py "$data")
echo "BatteryLens $ours s"; echo "$peer"
{
  echo
  echo "## $(date -u +%Y-%m-%d) — cylindrical-cell inspection, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_cell.sh\`: \`cylindrical_cell_labxct/cell_vol\`, 100 slices of 728²."
  echo
  echo "| case | BatteryLens | scikit-image + SciPy | speed-up | turns / pitch / thickness (median over slices with a winding) |"
  echo "|---|---|---|---|---|"
  python3 - "$ours" "$peer" "$out/cell.json" <<'PY'
import json, sys
ours, p, s = float(sys.argv[1]), json.loads(sys.argv[2]), json.load(open(sys.argv[3]))
print(f"| can, unrolling, layers, 100 slices | {ours:.1f} s ({s['slices_with_winding']} slices with a winding) | {p['seconds']:.1f} s ({p['with_winding']}) | {p['seconds'] / ours:.1f}× "
      f"| ours {s['turns']:.2f} / {s['pitch']:.2f} / {s['layer_thickness']:.2f} px, peer {p['turns']:.2f} / {p['pitch']:.2f} / {p['thickness']:.2f} px |")
PY
} | tee -a RESULTS.md
