#!/usr/bin/env bash
# Operando diffraction: sequential whole-pattern refinement of the phantom series (two
# hexagonal phases, 8 reflections each, 1801 points per pattern) by `batterylens diffraction
# series` against the same model scripted with lmfit (peers/diffraction_bench.py), in one run.
# Usage: Benchmarks/run_diffraction.sh [PATTERNS]   (default 200)
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy h5py lmfit
patterns=${1:-200}
(cd .. && swift build -c release --product batterylens >/dev/null)
BL=../.build/release/batterylens
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
$BL phantom xrd --out "$work/p" --patterns "$patterns" >/dev/null
best=""
for _ in 1 2 3; do
  rm -rf "$work/r"
  s=$( { /usr/bin/time -f %e $BL diffraction series "$work/p/patterns.h5" --phases "$work/p/phases.json" --out "$work/r" --summary "$work/r.json" --quiet >/dev/null; } 2>&1 | tail -1)
  if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; fi
done
ours_rms=$(python3 - "$work" <<'PY'
import csv, json, sys, math
w = sys.argv[1]
t = json.load(open(f"{w}/p/truth.json"))["second_phase_fraction"]
rows = list(csv.DictReader(open(f"{w}/r/results.csv")))
print(math.sqrt(sum((float(r["fraction_delithiated"]) - f) ** 2 for r, f in zip(rows, t)) / len(t)))
PY
)
peer=$($PY peers/diffraction_bench.py "$work/p" | tail -1)
echo "ours: $best s, fraction RMS error $ours_rms"; echo "$peer"
{
  echo
  echo "## $(date -u +%Y-%m-%d) — operando diffraction refinement, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_diffraction.sh\`: the diffraction phantom ($patterns patterns × 1801 points, two hexagonal phases × 8 reflections), each pattern refined whole from the previous one. BatteryLens: the whole command (read, refine, write CSV and figures), best of 3; the peer: the same model in lmfit, fits only."
  echo
  echo "| case | BatteryLens | peer | speed-up | fraction RMS error (ours / peer) |"
  echo "|---|---|---|---|---|"
  python3 - "$best" "$ours_rms" "$peer" "$patterns" <<'PY'
import json, sys
s, rms, p, n = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
print(f"| sequential refinement, {n} patterns | {s:.2f} s | {p['seconds']:.1f} s ({p['peer']}) | {p['seconds'] / s:.1f}× | {rms:.4f} / {p['fraction_rms_error']:.4f} |")
PY
} | tee -a RESULTS.md
