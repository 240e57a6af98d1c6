#!/usr/bin/env bash
# Filtered back projection against scikit-image `iradon` and ASTRA's CPU FBP (linear
# projector), Shepp–Logan, on the same disc phantom (peers/fbp_reference.py), in one run.
# Usage: Benchmarks/run_fbp.sh [SCRATCH_DIR]   (the 2048² streaming case writes a 12 GiB scan there)
#
# Cases: 512² × 720 angles and 2048² × 1500 angles. BatteryLens reconstructs 16 slices per call
# (its back projector works on 8 slices at once, one group per core); the peers reconstruct one slice at a time
# (neither has a batched CPU path), so their time per slice is measured on fewer slices and
# the ratio is taken per voxel (voxels/s), every slice being the same work. Then the streaming
# engine (`recon`'s): the whole 512³ × 720 volume, and 32 slices of a 2048² × 1500 scan
# (12 GiB of uint16) with its peak memory — a full 2048³ run holds the same slabs.
set -euo pipefail
cd "$(dirname "$0")"
SCRATCH="${1:-$(pwd)/data}"
mkdir -p "$SCRATCH"
source prepare.sh numpy scikit-image astra-toolbox

rows=()
case_fbp() {  # size angles our-slices peer-slices
  local ours peers
  ours=$($BENCH fbp "$1" "$2" "$3" 1)
  peers=$($PY peers/fbp_reference.py bench "$1" "$2" "$4" 1)
  echo "$ours"; echo "$peers"
  while IFS= read -r line; do rows+=("$line"); done < <($PY - "$ours" "$peers" <<'PY'
import json, sys
ours = json.loads(sys.argv[1])
for line in sys.argv[2].splitlines():
    peer = json.loads(line)
    ratio = ours["voxels_per_second"] / peer["voxels_per_second"]
    print(f"| {ours['case']} | {ours['voxels_per_second']/1e6:.2f} Mvoxel/s ({ours['voxel_angle_updates_per_second']/1e9:.2f} G updates/s, "
          f"{100*ours['bandwidth_fraction']:.2f} % of copy bandwidth) | {peer['voxels_per_second']/1e6:.3f} Mvoxel/s ({peer['peer']}, {peer['slices']} slice(s)) | {ratio:.1f}× |")
PY
)
}
case_fbp 512 720 16 2
case_fbp 2048 1500 16 1
stream512=$($BENCH stream-recon "$SCRATCH" 512 720 0 512)
stream2048=$($BENCH stream-recon "$SCRATCH" 2048 1500 0 32)
echo "$stream512"; echo "$stream2048"

{
  echo
  echo "## $(date -u +%Y-%m-%d) — FBP, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "| case | BatteryLens | peer | speed-up (ours / peer, per voxel) |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "| streamed reconstruction (HDF5 in, HDF5 out) | scan | write scan | reconstruct | voxels/s | slabs | peak memory |"
  echo "|---|---|---|---|---|---|---|"
  for s in "$stream512" "$stream2048"; do
    $PY - "$s" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| {r['case']} | {r['scan_gib']:.1f} GiB | {r['write_scan_seconds']:.0f} s | {r['recon_seconds']:.0f} s | "
      f"{r['voxels_per_second']/1e6:.2f} M | {int(r['slabs'])} × {int(r['slab_rows'])} rows | {r['peak_resident_gib']:.2f} GiB |")
PY
  done
} >> RESULTS.md
echo "appended to Benchmarks/RESULTS.md"
