#!/usr/bin/env bash
# FDK (cone beam) against our parallel-beam FBP on the same phantom, through `recon`, in one run.
# No CPU peer exists to time FDK against: ASTRA's FDK_CUDA and TIGRE's FDK need a CUDA GPU, and
# TomoPy has no cone beam. The ratio to our own FBP (SIMD over 8 slices) shows what the cone
# weighting and the per-voxel ray magnification cost; throughput is voxel·angle updates per second.
# Usage: Benchmarks/run_fdk.sh [SIZE]   (electrode phantom SIZE³, default 256; 720 angles over 360°)
set -euo pipefail
cd "$(dirname "$0")"
n="${1:-256}"
lens=../.build/release/batterylens
[ -x "$lens" ] || (cd .. && swift build -c release --product batterylens >/dev/null)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
angles=720
cols=$((n * 7 / 4)); rows=$((n * 5 / 4)); pcols=$((n * 3 / 2))
sod=$(echo "scale=4; $n / 256" | bc)
sdd=$(echo "scale=4; $sod * 10" | bc)
$lens phantom electrode --out "$work/e" --size "$n" --quiet
$lens phantom projections "$work/e/attenuation.tif" --out "$work/cone.h5" --angles $angles --range-deg 360 --cone "$sod:$sdd" \
    --columns $cols --rows $rows --photons 0 --quiet
$lens phantom projections "$work/e/attenuation.tif" --out "$work/parallel.h5" --angles $angles --range-deg 360 --columns $pcols --photons 0 --quiet
t0=$(date +%s.%N); $lens recon "$work/cone.h5" --out "$work/fdk.tif" --center $(echo "($cols - 1) / 2" | bc -l) --quiet; t1=$(date +%s.%N)
$lens recon "$work/parallel.h5" --out "$work/fbp.tif" --center $(echo "($pcols - 1) / 2" | bc -l) --quiet; t2=$(date +%s.%N)
fdk=$(echo "$t1 - $t0" | bc); fbp=$(echo "$t2 - $t1" | bc)
updates_fdk=$(echo "$rows * $cols * $cols * $angles / $fdk / 1000000000" | bc -l)
updates_fbp=$(echo "$n * $pcols * $pcols * $angles / $fbp / 1000000000" | bc -l)
{
  echo
  echo "## $(date -u +%Y-%m-%d) — FDK (cone beam) vs our parallel-beam FBP, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  echo "\`Benchmarks/run_fdk.sh $n\`: electrode phantom $n³, $angles angles over 360°, the whole \`recon\` command (read, flat field, filter, back project, write), centre given."
  echo
  echo "| case | volume | time | G voxel·angle updates/s |"
  echo "|---|---|---|---|"
  printf '| FDK, cone beam (SOD %s mm, magnification 10) | %d×%d×%d | %.1f s | %.2f |\n' "$sod" "$rows" "$cols" "$cols" "$fdk" "$updates_fdk"
  printf '| FBP, parallel beam | %d×%d×%d | %.1f s | %.2f |\n' "$n" "$pcols" "$pcols" "$fbp" "$updates_fbp"
  echo
  echo "No CPU peer: ASTRA's FDK_CUDA and TIGRE's FDK need a CUDA GPU; TomoPy has no cone beam."
} | tee -a RESULTS.md
