#!/usr/bin/env bash
# Side-by-side benchmarks of BatteryLens against the Python peers, in one run.
# Usage: Benchmarks/run.sh [SIZE_MB]   (default 1024: a 1 GiB float32 volume)
# Creates Benchmarks/.venv (ignored by git) with the peers from PyPI, builds lens-bench in
# release, times both on the same inputs, prints ratios, and appends them to RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
SIZE_MB="${1:-1024}"
source prepare.sh numpy tifffile h5py
DATA=data
[ -f "$DATA/volume.tif" ] && [ -f "$DATA/volume.h5" ] || $PY peers/io_fft.py make "$DATA" "$SIZE_MB"

results=()
compare() {  # name, our JSON, peer JSON
  local ours="$2" peer="$3"
  local line
  line=$($PY - "$1" "$ours" "$peer" <<'PY'
import json, sys
name, ours, peer = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
ratio = peer["seconds"] / ours["seconds"]
print(f"| {name} | {ours['seconds']*1e3:.1f} ms | {peer['seconds']*1e3:.1f} ms ({peer['peer']}) | {ratio:.2f}× |")
PY
)
  echo "$line"
  results+=("$line")
}

compare "read 1 GiB float32 multi-page TIFF" "$($BENCH read $DATA/volume.tif 3)" "$($PY peers/io_fft.py read $DATA/volume.tif 3)"
compare "read 1 GiB float32 HDF5 dataset" "$($BENCH read $DATA/volume.h5:/data 3)" "$($PY peers/io_fft.py read $DATA/volume.h5:/data 3)"
compare "FFT r2c float32, 2048 rows × 4096" "$($BENCH fft-batch 2048 4096 5)" "$($PY peers/io_fft.py fft-batch 2048 4096 5)"

{
  echo
  echo "## $(date -u +%Y-%m-%d) — $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "| case | BatteryLens | peer | speed-up (peer time / ours) |"
  echo "|---|---|---|---|"
  printf '%s\n' "${results[@]}"
} >> RESULTS.md
echo "appended to Benchmarks/RESULTS.md"
