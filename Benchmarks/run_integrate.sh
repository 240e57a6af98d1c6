#!/usr/bin/env bash
# Azimuthal integration of area-detector frames: `batterylens diffraction integrate` against
# pyFAI's integrate1d (no pixel splitting, same corrections) on the diffraction phantom's
# frames, in one run.
# Usage: Benchmarks/run_integrate.sh [FRAMES] [SIZE]   (default 60 frames of 1024²)
set -euo pipefail
cd "$(dirname "$0")"
source prepare.sh numpy h5py pyFAI
frames=${1:-60}; size=${2:-1024}; bins=$((size * 4))
(cd .. && swift build -c release --product batterylens >/dev/null)
BL=../.build/release/batterylens
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
$BL phantom xrd --out "$work/p" --patterns "$frames" --detector "$size" >/dev/null
best=""
for _ in 1 2 3; do
  rm -f "$work/s.h5"
  s=$( { /usr/bin/time -f %e $BL diffraction integrate "$work/p/frames.h5" --poni "$work/p/detector.poni" --polarization 0.95 --bins $bins --out "$work/s.h5" --quiet >/dev/null; } 2>&1 | tail -1)
  if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; fi
done
peer=$($PY peers/pyfai_bench.py "$work/p" "$work/s.h5" $bins 2>/dev/null | tail -1)
echo "ours: $best s"; echo "$peer"
{
  echo
  echo "## $(date -u +%Y-%m-%d) — azimuthal integration, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_integrate.sh\`: the diffraction phantom's frames (${frames} × ${size}², float32 in HDF5), ${bins} bins of 2θ, solid angle and polarization 0.95, no pixel splitting. Both from reading the file: BatteryLens the whole command (best of 3, writing the series), pyFAI in memory."
  echo
  echo "| case | BatteryLens | peer | speed-up | largest / median relative difference |"
  echo "|---|---|---|---|---|"
  python3 - "$best" "$peer" "$frames" "$size" <<'PY'
import json, sys
s, p = float(sys.argv[1]), json.loads(sys.argv[2])
print(f"| {sys.argv[3]} frames of {sys.argv[4]}² | {s:.2f} s | {p['seconds']:.2f} s ({p['peer']}) | {p['seconds'] / s:.2f}× | {p['largest_relative_difference']:.1e} / {p['median_relative_difference']:.1e} |")
PY
} | tee -a RESULTS.md
